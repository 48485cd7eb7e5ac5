//! Alerts for leaks under live parents, on real processes recorded by `leaktop record`.

mod common;

use common::{Reaped, Tag, leaktop};
use leaktop::format::{self, Recording};
use leaktop::model::AlertKind;

/// Records `pid` for `ticks` ticks at 100 ms with `extra` flags and reads it back.
fn record(pid: u32, ticks: u32, extra: &[&str]) -> Recording {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("alerts.ticklog");
    let status = leaktop()
        .args(["record", "--quiet", "--interval", "100ms"])
        .args(["--ticks", &ticks.to_string(), "--pid", &pid.to_string()])
        .arg("--out")
        .arg(&out)
        .args(extra)
        .status()
        .unwrap();
    assert!(status.success());
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(text.contains("! alert") || !text.is_empty());
    format::read(&out).unwrap()
}

fn raised(rec: &Recording, kind: AlertKind) -> Vec<(u32, u32, String)> {
    let mut out: Vec<(u32, u32, String)> = Vec::new();
    for t in &rec.ticks {
        for a in t.alerts.iter().filter(|a| a.kind == kind) {
            if !out.iter().any(|(pid, _, _)| *pid == a.pid) {
                out.push((a.pid, a.since_tick, a.reason.clone()));
            }
        }
    }
    out
}

fn spawn(tag: &Tag, program: &str, args: &[&str]) -> Reaped {
    Reaped(tag.command(program).args(args).spawn().unwrap())
}

#[test]
fn a_parent_that_never_reaps_is_accumulating() {
    let tag = Tag::new();
    let parent = spawn(
        &tag,
        "sh",
        &["-c", "while :; do sleep 300 & sleep 0.2; done"],
    );
    let rec = record(
        parent.id(),
        30,
        &["--accumulate-window", "10", "--accumulate-min", "3"],
    );
    let found = raised(&rec, AlertKind::Accumulating);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].0, parent.id());
    assert!(
        found[0].1 >= 10 && found[0].1 <= 20,
        "within the window: {found:?}"
    );
}

#[test]
fn a_process_holding_memory_asleep_is_idle() {
    let tag = Tag::new();
    let mut holder = Reaped(
        tag.command("python3")
            .args([
                "-c",
                "import time; b = b'x' * (150 * 1024 * 1024); print('ready', flush=True); time.sleep(300)",
            ])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap(),
    );
    // Wait until it holds its memory.
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(holder.0.stdout.as_mut().unwrap()),
        &mut line,
    )
    .unwrap();
    assert_eq!(line.trim(), "ready");
    let rec = record(
        holder.id(),
        40,
        &["--idle-after", "1s", "--idle-min-rss", "100MB"],
    );
    let found = raised(&rec, AlertKind::Idle);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].0, holder.id());
    assert!(found[0].2.contains("while holding 1"), "{found:?}");
}

#[test]
fn growing_by_more_than_it_frees_is_an_rss_ratchet() {
    let tag = Tag::new();
    // Each 0.3 s cycle takes 10 MB and gives back only 6.
    let script = "import time\nkeep = []\nwhile True:\n    tmp = b'x' * (10 << 20)\n    keep.append(b'y' * (4 << 20))\n    time.sleep(0.15)\n    del tmp\n    time.sleep(0.15)\n";
    let grower = spawn(&tag, "python3", &["-c", script]);
    let rec = record(
        grower.id(),
        50,
        &["--ratchet-windows", "4", "--ratchet-window-ticks", "5"],
    );
    let found = raised(&rec, AlertKind::RssRatchet);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].0, grower.id());
}

#[test]
fn a_healthy_build_and_a_steady_server_raise_nothing() {
    let tag = Tag::new();
    // A parallel build: hundreds of short children, always reaped.
    let build = spawn(
        &tag,
        "sh",
        &[
            "-c",
            "for i in $(seq 400); do sleep 0.02 & sleep 0.03 & true & wait; done",
        ],
    );
    // A server that allocates and frees the same amount every cycle.
    let server = spawn(
        &tag,
        "python3",
        &[
            "-c",
            "import time\nwhile True:\n    tmp = b'x' * (10 << 20)\n    time.sleep(0.15)\n    del tmp\n    time.sleep(0.15)\n",
        ],
    );
    let flags = [
        "--accumulate-window",
        "10",
        "--accumulate-min",
        "3",
        "--ratchet-windows",
        "4",
        "--ratchet-window-ticks",
        "5",
        "--idle-after",
        "2s",
    ];
    for pid in [build.id(), server.id()] {
        let rec = record(pid, 40, &flags);
        let all: Vec<_> = rec.ticks.iter().flat_map(|t| t.alerts.clone()).collect();
        assert!(all.is_empty(), "pid {pid}: {all:?}");
    }
}

/// `run --check --fail-on` turns a named alert into exit 3; without it, the same run
/// passes.
#[test]
fn run_fails_on_the_named_alert_kinds() {
    let tag = Tag::new();
    let args = [
        "run",
        "--check",
        "--interval",
        "100ms",
        "--idle-after",
        "500ms",
        "--idle-min-rss",
        "100MB",
    ];
    let cmd = "import time; b = b'x' * (150 * 1024 * 1024); time.sleep(1.5)";
    let out = tag
        .command(env!("CARGO_BIN_EXE_leaktop"))
        .args(args)
        .args(["--fail-on", "idle,accumulating", "--", "python3", "-c", cmd])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains("alert idle"), "{err}");
    let out = tag
        .command(env!("CARGO_BIN_EXE_leaktop"))
        .args(args)
        .args(["--fail-on", "rss_ratchet", "--", "python3", "-c", cmd])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = leaktop()
        .args(["run", "--fail-on", "idle", "--", "true"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "--fail-on needs --check");
}
