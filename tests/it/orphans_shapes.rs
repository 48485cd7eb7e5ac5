//! `leaktop orphans` on shapes it used to be blind to or bury (issue 26, faults 1 and
//! 3): a helper a live service left through `sh -c "helper & exit 0"`, a pool whose
//! parent was killed inside a pane's `bash -c` that lives on, a `--match` that only
//! `--all` would satisfy, and a `--kill` that ends nothing. Other tests leave orphans
//! of their own: every assertion looks only at the groups and pids these tests made.

use crate::common;

use std::os::unix::process::CommandExt;
use std::process::Stdio;
use std::time::Duration;

use crate::orphans::DAEMON;
use common::{Tag, alive, children_of, leaktop, ppid, wait_until};
use serde_json::Value;

/// `cmd`, set to start in a session (and process group) of its own.
fn in_a_new_session(cmd: &mut std::process::Command) -> &mut std::process::Command {
    // SAFETY: setsid is async-signal-safe.
    #[allow(unsafe_code)]
    unsafe {
        cmd.pre_exec(|| {
            rustix::process::setsid()?;
            Ok(())
        })
    }
}

/// `leaktop orphans --json --older-than 0s ARGS`: the parsed object, or the failure's
/// stderr.
fn orphans(args: &[&str]) -> Result<Value, String> {
    let out = leaktop()
        .args(["orphans", "--json", "--older-than", "0s", "--no-pss"])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    Ok(serde_json::from_slice(&out.stdout).unwrap())
}

/// The group holding `pid`, if any.
fn group_of(v: &Value, pid: u32) -> Option<&Value> {
    v["groups"].as_array().unwrap().iter().find(|g| {
        g["processes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["pid"] == pid)
    })
}

fn kinds(g: &Value) -> Vec<&str> {
    g["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect()
}

/// A service (its own process group and session) that runs a helper per request through a shell
/// that returns at once, as `subprocess.run(["sh", "-c", "helper & exit 0"])` does;
/// prints the helper's pid and lives on.
const SERVICE: &str = r#"
import subprocess, sys, time
out = subprocess.run(["sh", "-c", "python3 -c 'import time; b = bytearray(30 << 20); time.sleep(3600)' >/dev/null 2>&1 & echo $!; exit 0"],
                     capture_output=True, text=True).stdout
print(out.strip(), flush=True)
time.sleep(3600)
"#;

#[test]
fn a_helper_a_live_service_left_behind_is_listed_weak() {
    let tag = Tag::new();
    // Its own session, as a supervisor starts a service: the tests' session may be led
    // outside this PID namespace (session 0 under CI here), and there a detached
    // helper in a live group is taken for a daemon by design (listed with `--all`).
    let mut service = tag.command("python3");
    service
        .args(["-c", SERVICE])
        .stdin(Stdio::null())
        .stdout(Stdio::piped());
    let mut service = in_a_new_session(&mut service).spawn().unwrap();
    let service_pid = service.id();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(service.stdout.as_mut().unwrap()),
        &mut line,
    )
    .unwrap();
    let helper: u32 = line.trim().parse().unwrap();
    assert!(wait_until(Duration::from_secs(5), || ppid(helper)
        .is_some_and(
            |p| p != service_pid && !children_of(service_pid).contains(&helper)
        )));
    let v = orphans(&[]).unwrap();
    let g = group_of(&v, helper).unwrap_or_else(|| panic!("{helper} is listed: {v}"));
    assert_eq!(g["id"], format!("pg-{service_pid}"), "{g}");
    assert_eq!(g["strength"], "weak", "the service may have meant it: {g}");
    assert!(kinds(g).contains(&"job_lives_on"), "{g}");
    let listed: Vec<u64> = g["processes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["pid"].as_u64().unwrap())
        .collect();
    assert_eq!(
        listed,
        [u64::from(helper)],
        "the service itself is no orphan"
    );
    // Named, it is ended; the service lives on.
    let group = format!("pg-{service_pid}");
    crate::orphans::orphans_stdout(
        leaktop(),
        &[
            "--no-pss", "--group", &group, "--kill", "--yes", "--grace", "1s",
        ],
    );
    assert!(wait_until(Duration::from_secs(5), || !alive(helper)));
    assert!(alive(service_pid));
    let _ = service.kill();
    let _ = service.wait();
}

/// A pane's shell: `bash -c "python3 pool.py; sleep 3600"`, leading its own session
/// and group, as a terminal multiplexer starts it.
fn pane_with_a_pool(tag: &Tag, dir: &std::path::Path) -> (std::process::Child, u32, u32) {
    let script = dir.join("pool.py");
    std::fs::write(&script, common::POOL).unwrap();
    let mut pane = tag.command("bash");
    pane.args(["-c", &format!("python3 {}; sleep 3600", script.display())])
        .stdin(Stdio::null())
        .stdout(Stdio::piped());
    let mut pane = in_a_new_session(&mut pane).spawn().unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(pane.stdout.as_mut().unwrap()),
        &mut line,
    )
    .unwrap();
    let pool: u32 = line.trim().parse().unwrap();
    let shell = pane.id();
    (pane, shell, pool)
}

#[test]
fn a_pool_killed_inside_a_live_panes_shell_is_listed_labelled_and_found_by_match() {
    let dir = tempfile::tempdir().unwrap();
    let tag = Tag::new();
    let (mut pane, shell, pool) = pane_with_a_pool(&tag, dir.path());
    let mut members = Vec::new();
    let mut stack = children_of(pool);
    while let Some(p) = stack.pop() {
        members.push(p);
        stack.extend(children_of(p));
    }
    assert!(
        members.len() >= 5,
        "tracker, forkserver, 3 workers: {members:?}"
    );
    common::signal(pool, common::Signal::KILL);
    assert!(wait_until(Duration::from_secs(5), || members
        .iter()
        .all(|&m| ppid(m) != Some(pool))));
    assert!(alive(shell), "the pane's shell lives on");

    let v = orphans(&[]).unwrap();
    let g = group_of(&v, members[0]).unwrap_or_else(|| panic!("the pool is listed: {v}"));
    assert_eq!(g["id"], format!("pg-{shell}"), "{g}");
    assert_eq!(g["strength"], "weak", "{g}");
    let k = kinds(g);
    assert!(
        k.contains(&"job_lives_on") && k.contains(&"worker_by_design"),
        "{g}"
    );
    let mut listed: Vec<u32> = g["processes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["pid"].as_u64().unwrap() as u32)
        .collect();
    listed.sort_unstable();
    members.sort_unstable();
    assert_eq!(listed, members, "exactly the pool, not the shell");
    let v = orphans(&["--match", "multiprocessing"]).unwrap();
    assert!(group_of(&v, members[0]).is_some(), "{v}");
    // Ranked with the workers: above every group not labelled so.
    let all = orphans(&[]).unwrap();
    let groups = all["groups"].as_array().unwrap();
    let at = groups.iter().position(|x| x["id"] == g["id"]).unwrap();
    assert!(
        groups[..at]
            .iter()
            .all(|x| kinds(x).contains(&"worker_by_design")),
        "{all}"
    );
    let _ = pane.kill();
    let _ = pane.wait();
}

#[test]
fn a_match_only_all_would_find_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let tag = Tag::new();
    let pidfile = dir.path().join("daemon.pid");
    let unique = format!("zq-daemon-{}", std::process::id());
    let status = tag
        .command("python3")
        .args(["-c", DAEMON, pidfile.to_str().unwrap(), &unique])
        .stdin(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    assert!(wait_until(Duration::from_secs(5), || pidfile.exists()));
    let daemon: u32 = std::fs::read_to_string(&pidfile).unwrap().parse().unwrap();
    let err = orphans(&["--match", &unique]).unwrap_err();
    assert!(err.contains(&format!("matches '{unique}'")), "{err}");
    assert!(err.contains("with --all, 1 group does"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    let v = orphans(&["--match", &unique, "--all"]).unwrap();
    assert!(group_of(&v, daemon).is_some(), "{v}");
    common::signal(daemon, common::Signal::KILL);
}

/// `orphans --kill --yes` where every selected group is weak: nothing is signalled,
/// and the command says so and fails instead of exiting 0 in silence.
#[test]
fn a_kill_that_ends_nothing_says_so_and_fails() {
    use crate::fakes::host::{FakeHost, Proc};
    use leaktop::actions::orphans::{
        Filter, Io, KillOptions, Options, OrphansError, Output, ScanOptions, run_on,
    };
    let fake = FakeHost::new(50);
    fake.add(Proc::new(500, 1, "bash").group(500, 500));
    for pid in [601, 602] {
        fake.add(Proc::new(pid, 1, "python3").group(600, 500));
    }
    let opts = Options {
        scan: ScanOptions {
            older_than: Duration::from_secs(2),
            all: false,
            measure: false,
            ..ScanOptions::default()
        },
        filter: Filter::default(),
        output: Output::Table(leaktop::format::Width::Cut(120)),
        kill: Some(KillOptions {
            signal: leaktop::host::Signal::TERM,
            signal_name: "SIGTERM",
            grace: Duration::from_secs(3),
            yes: true,
        }),
        watch: None,
        count: None,
        metrics: None,
        known: leaktop::actions::known::Known::default(),
    };
    let (mut out, mut said) = (String::new(), String::new());
    let mut write = |s: &str| {
        out.push_str(s);
        Ok(())
    };
    let mut say = |s: &str| said.push_str(s);
    let mut io = Io {
        out: &mut write,
        ask: None,
        say: &mut say,
        reader_gone: &|| false,
    };
    let result = run_on(fake.host(), &opts, &mut io);
    let e = result.unwrap_err();
    assert!(matches!(e, OrphansError::NothingEnded(..)), "{e}");
    let e = e.to_string();
    assert!(
        e.starts_with("nothing ended: pg-600 has weak evidence only"),
        "{e}"
    );
    assert!(e.contains("--group"), "{e}");
    assert!(said.contains("not ending pg-600"), "{said}");
    assert!(out.contains("pg-600  WEAK"), "{out}");
    assert!(fake.signals().is_empty());
}

/// A parent that starts a `detached: true` child with its stdout and stderr piped to
/// itself (a socketpair, as Node's `pipe` stdio is), prints the child's pid, and
/// waits.
const NODE_PARENT: &str = "const c = require('child_process').spawn(process.execPath, \
     ['-e', 'setInterval(() => {}, 1000)'], { detached: true, stdio: ['ignore', 'pipe', 'pipe'] }); \
     console.log(c.pid); setInterval(() => {}, 1000);";

/// The same where Node is missing: a child in a session of its own, its stdout and
/// stderr pipes its parent reads.
const PYTHON_PARENT: &str = "import subprocess, sys, time\n\
     c = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(3600)'], \
     start_new_session=True, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)\n\
     print(c.pid, flush=True)\n\
     time.sleep(3600)\n";

#[test]
fn a_detached_child_that_kept_its_killed_parents_pipes_is_listed_without_all() {
    let tag = Tag::new();
    let node = std::process::Command::new("node")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    let (program, flag, script) = if node {
        ("node", "-e", NODE_PARENT)
    } else {
        eprintln!("note: no node here; python3's pipes stand in for Node's socketpair");
        ("python3", "-c", PYTHON_PARENT)
    };
    let mut parent = tag
        .command(program)
        .args([flag, script])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(parent.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    let child: u32 = line.trim().parse().unwrap();
    let parent_pid = parent.id();
    let _ = parent.kill();
    let _ = parent.wait();
    assert!(wait_until(common::PATIENCE, || ppid(child)
        .is_some_and(|p| p != parent_pid)));
    assert!(alive(child));

    let v = orphans(&[]).unwrap();
    let g = group_of(&v, child)
        .unwrap_or_else(|| panic!("{child} ({program}) is listed without --all: {v}"));
    assert_eq!(g["processes"].as_array().unwrap().len(), 1, "{g}");
    assert!(kinds(g).contains(&"streams_unread"), "{g}");
    assert_eq!(g["strength"], "weak", "never killed unless named: {g}");
    // --all lists it the same.
    let v = orphans(&["--all"]).unwrap();
    let g = group_of(&v, child).unwrap_or_else(|| panic!("listed with --all: {v}"));
    assert!(kinds(g).contains(&"streams_unread"), "{g}");
}
