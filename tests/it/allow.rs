//! `--allow PATTERN`, "meant to outlive its parent" (issue 26, fault 8): a deploy
//! script's deliberate `nohup app &` and a classic double-forking daemon are flagged
//! in `run` and attach when undeclared (they did outlive their root), and silent in
//! `run`, attach and `orphans` once declared.

use crate::common;

use std::process::Stdio;
use std::time::Duration;

use crate::orphans::DAEMON;
use common::{Recorder, Tag, wait_until};
use serde_json::Value;

/// The pids of live processes whose command line contains `needle`.
fn pids_running(needle: &str) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| {
            let pid: u32 = e.file_name().to_str()?.parse().ok()?;
            let cmd = std::fs::read(e.path().join("cmdline")).ok()?;
            let has = cmd.windows(needle.len()).any(|w| w == needle.as_bytes());
            (has && common::alive(pid) && !String::from_utf8_lossy(&cmd).contains("leaktop"))
                .then_some(pid)
        })
        .collect()
}

/// A deploy script that restarts the app with `nohup … &` and exits.
fn deploy(app: &str) -> String {
    format!("nohup python3 -c 'import time; time.sleep(300)' {app} >/dev/null 2>&1 &\nsleep 0.3")
}

fn run(tag: &Tag, args: &[&str]) -> (Option<i32>, String) {
    let out = tag
        .command(env!("CARGO_BIN_EXE_leaktop"))
        .args(["run", "--check", "--leak-grace", "1s"])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn run_flags_an_undeclared_daemon_and_spares_a_declared_one() {
    let tag = Tag::new();
    let dir = tempfile::tempdir().unwrap();
    let unique = std::process::id();
    let app = format!("deployapp-{unique}");
    let daemon = format!("classicd-{unique}");
    // The daemon writes its pid to a file named after it.
    let pidfile = dir.path().join(&daemon);
    let pidfile = pidfile.to_str().unwrap();
    for (cmd, name) in [
        (vec!["sh", "-c", &deploy(&app)], app.as_str()),
        (vec!["python3", "-c", DAEMON, pidfile], daemon.as_str()),
    ] {
        let mut args = vec!["--"];
        args.extend(cmd.iter().copied());
        let (code, err) = run(&tag, &args);
        assert_eq!(code, Some(3), "undeclared, {name} outlived its root: {err}");
        assert!(err.contains(name), "{err}");
        for pid in pids_running(name) {
            common::signal(pid, common::Signal::KILL);
        }
        let mut args = vec!["--allow", name, "--"];
        args.extend(cmd.iter().copied());
        let (code, err) = run(&tag, &args);
        assert_eq!(code, Some(0), "declared, {name} is meant to stay: {err}");
        assert!(!err.contains("leaked"), "{err}");
        assert_eq!(pids_running(name).len(), 1, "{name} lives on");
    }
    // Once run is gone, `orphans` honours the same rule.
    let orphans = crate::orphans::orphans_json;
    let listed = |v: &Value, pid: u32| -> Option<Value> {
        v["groups"].as_array().unwrap().iter().find_map(|g| {
            g["processes"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["pid"] == pid)
                .then(|| g.clone())
        })
    };
    for name in [&app, &daemon] {
        let pid = pids_running(name)[0];
        let v = orphans(&["--all", "--allow", name]);
        let g = listed(&v, pid).unwrap_or_else(|| panic!("--all lists {name}: {v}"));
        assert_eq!(g["strength"], "weak", "{g}");
        assert_eq!(g["evidence"][0]["kind"], "allowed", "{g}");
        let v = orphans(&["--allow", name]);
        assert!(listed(&v, pid).is_none(), "{name} is not listed: {v}");
    }
}

#[test]
fn attach_flags_an_undeclared_nohup_and_spares_a_declared_one() {
    let dir = tempfile::tempdir().unwrap();
    let app = format!("attachapp-{}", std::process::id());
    let script = format!("echo go; sleep 0.5; {}; sleep 0.2", deploy(&app));
    for allow in [false, true] {
        let mut root = common::Family::spawn("sh", &["-c", &script]);
        assert_eq!(root.read_line(), "go");
        let out = dir.path().join(format!("{allow}.ndjson"));
        let mut extra = vec![
            "--interval",
            "100ms",
            "--leak-grace",
            "1s",
            "--duration",
            "4s",
        ];
        if allow {
            extra.extend(["--allow", &app]);
        }
        let rec = Recorder::start(root.pid(), &out, &extra);
        assert!(wait_until(Duration::from_secs(10), || pids_running(&app)
            .len()
            == 1));
        let (code, err) = rec.finish();
        assert_eq!(code, Some(0), "{err}");
        let recording = leaktop::format::read(&out).unwrap();
        let app_leaked = recording
            .ticks
            .iter()
            .any(|t| t.processes.iter().any(|p| p.leaked && p.cmd.contains(&app)));
        assert_eq!(app_leaked, !allow, "allowed: {allow}");
        for pid in pids_running(&app) {
            common::signal(pid, common::Signal::KILL);
        }
        root.kill_root();
    }
}
