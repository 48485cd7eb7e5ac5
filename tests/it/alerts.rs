//! Alerts for leaks under live parents, on real processes recorded by `leaktop record`.

use crate::common;

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
        60,
        &["--accumulate-window", "3s", "--accumulate-min", "3"],
    );
    let found = raised(&rec, AlertKind::Accumulating);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].0, parent.id());
    // Not before the window's 3 s of evidence, and soon after.
    assert!(
        found[0].1 >= 30 && found[0].1 <= 50,
        "after the window: {found:?}"
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
        &[
            "--ratchet-windows",
            "4",
            "--ratchet-span",
            "2s",
            "--ratchet-min-rise",
            "4MB",
        ],
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
        "2s",
        "--accumulate-min",
        "3",
        "--ratchet-windows",
        "4",
        "--ratchet-span",
        "2s",
        "--idle-after",
        "2s",
    ];
    for pid in [build.id(), server.id()] {
        let rec = record(pid, 40, &flags);
        let all: Vec<_> = rec.ticks.iter().flat_map(|t| t.alerts.clone()).collect();
        assert!(all.is_empty(), "pid {pid}: {all:?}");
    }
}

/// `run --check --fail-on` turns a named alert raised at any time into exit 3, one
/// raised and cleared before the end included (issue 26, fault 4: idle loky workers
/// whose alert had just cleared passed the check); with `--fail-after`, only one
/// standing at the end or for that long fails it.
#[test]
fn run_fails_on_the_named_alert_kinds_raised_at_any_time() {
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
    let run = |extra: &[&str], cmd: &str| {
        let out = tag
            .command(env!("CARGO_BIN_EXE_leaktop"))
            .args(args)
            .args(extra)
            .args(["--", "python3", "-c", cmd])
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    // Idle from 0.5 s to the end (os._exit: no teardown using CPU on the way out).
    let idle_to_the_end =
        "import os, time; b = b'x' * (150 * 1024 * 1024); time.sleep(1.5); os._exit(0)";
    let (code, err) = run(&["--fail-on", "idle,accumulating"], idle_to_the_end);
    assert_eq!(code, Some(3), "{err}");
    assert!(err.contains("alert idle"), "{err}");
    let (code, err) = run(&["--fail-on", "rss_ratchet"], idle_to_the_end);
    assert_eq!(code, Some(0), "{err}");
    // Idle for about a second, then busy for a second until it exits: the alert was
    // raised and cleared, is listed, and fails the run; with --fail-after only if it
    // stood that long.
    let idle_then_busy = "import time; b = b'x' * (150 * 1024 * 1024); time.sleep(1.5)\n\
                          t = time.time()\nwhile time.time() - t < 1.0: pass";
    let (code, err) = run(&["--fail-on", "idle"], idle_then_busy);
    assert_eq!(code, Some(3), "{err}");
    assert!(err.contains("alert idle"), "{err}");
    let (code, err) = run(
        &["--fail-on", "idle", "--fail-after", "500ms"],
        idle_then_busy,
    );
    assert_eq!(code, Some(3), "{err}");
    let (code, err) = run(&["--fail-on", "idle", "--fail-after", "5s"], idle_then_busy);
    assert_eq!(code, Some(0), "{err}");

    let out = leaktop()
        .args(["run", "--fail-on", "idle", "--", "true"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "--fail-on needs --check");
    let out = leaktop()
        .args(["run", "--check", "--fail-after", "1s", "--", "true"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "--fail-after needs --fail-on");
}

/// A parent that forks a helper every second and never waits: zombies listed under
/// it, a `zombies` alert within seconds, and `run --fail-on zombies` fails.
#[test]
fn a_parent_that_never_waits_piles_up_zombies() {
    let tag = Tag::new();
    let script = "import os, time\nwhile True:\n    if os.fork() == 0:\n        os._exit(0)\n    time.sleep(1)\n";
    let parent = spawn(&tag, "python3", &["-c", script]);
    let rec = record(parent.id(), 100, &[]);
    let found = raised(&rec, AlertKind::Zombies);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].0, parent.id());
    assert!(
        found[0].2.contains("unreaped children (zombies)"),
        "{found:?}"
    );
    let last = rec.ticks.last().unwrap();
    let zombies: Vec<_> = last
        .processes
        .iter()
        .filter(|p| p.ppid == parent.id())
        .collect();
    assert!(zombies.len() >= 7, "{zombies:?}");
    assert!(
        zombies
            .iter()
            .all(|z| z.state == 'Z' && !z.leaked && z.rss_kb == 0),
        "{zombies:?}"
    );
    // Never an accumulating parent: its zombies are no live children.
    assert!(raised(&rec, AlertKind::Accumulating).is_empty());

    let ten_seconds = "import os, time\nfor _ in range(10):\n    if os.fork() == 0:\n        os._exit(0)\n    time.sleep(1)\n";
    let out = tag
        .command(env!("CARGO_BIN_EXE_leaktop"))
        .args(["run", "--check", "--fail-on", "zombies", "--"])
        .args(["python3", "-c", ten_seconds])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains("alert zombies"), "{err}");
}

/// A bare number given to the old tick options still counts ticks, with a warning
/// saying the duration it means.
#[test]
fn tick_counts_are_deprecated_but_still_mean_ticks() {
    let tag = Tag::new();
    let sleeper = spawn(&tag, "sleep", &["30"]);
    let out = leaktop()
        .args(["record", "--quiet", "--interval", "200ms", "--ticks", "2"])
        .args(["--pid", &sleeper.id().to_string(), "--out", "-"])
        .args(["--accumulate-window", "30", "--ratchet-window-ticks", "10"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("--accumulate-window 30 counts ticks, which is deprecated: at --interval 200ms it is --accumulate-window 6s"),
        "{err}"
    );
    assert!(
        err.contains("--ratchet-window-ticks is deprecated: 10 in each of 5 windows at --interval 200ms is --ratchet-span 10s"),
        "{err}"
    );
    let out = leaktop()
        .args(["record", "--ticks", "1", "--pid", &sleeper.id().to_string()])
        .args(["--ratchet-span", "1m", "--ratchet-window-ticks", "10"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "the old and the new option conflict"
    );
    let out = leaktop()
        .args(["record", "--ticks", "1", "--pid", &sleeper.id().to_string()])
        .args(["--accumulate-window", "4"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("--accumulate-window 4 is too few ticks (at least 5)"),
        "{err}"
    );
}

/// Issue 26, fault 5: a parent keeps 12 `sleep` children it never reaps or kills (13
/// with the one it waits on).
/// `accumulating` is raised while the count rises, and stands after it stops: the
/// children are still held.
#[test]
fn accumulated_children_still_held_keep_the_alert_standing() {
    let tag = Tag::new();
    let parent = spawn(
        &tag,
        "sh",
        &[
            "-c",
            "for i in 1 2 3 4 5 6 7 8 9 10 11 12; do sleep 300 & sleep 0.25; done; sleep 300",
        ],
    );
    let rec = record(
        parent.id(),
        80,
        &["--accumulate-window", "2s", "--accumulate-min", "5"],
    );
    let found = raised(&rec, AlertKind::Accumulating);
    assert_eq!(found.len(), 1, "{found:?}");
    let last = rec.ticks.last().unwrap();
    let standing: Vec<_> = last
        .alerts
        .iter()
        .filter(|a| a.kind == AlertKind::Accumulating && a.pid == parent.id())
        .collect();
    assert_eq!(
        standing.len(),
        1,
        "still held at the end: {:?}",
        last.alerts
    );
    assert!(
        standing[0].reason.starts_with("still holds 13 children"),
        "{}",
        standing[0].reason
    );
}

/// A server whose single child was killed (as by the OOM killer) and is never reaped:
/// one zombie, below `--zombies-min`, raises `zombies` once it has stayed
/// `--zombie-after` (issue 26, fault 6).
#[test]
fn one_child_killed_and_never_reaped_raises_zombies() {
    let tag = Tag::new();
    let script = "import os, signal, time\npid = os.fork()\nif pid == 0:\n    time.sleep(3600)\nos.kill(pid, signal.SIGKILL)\ntime.sleep(3600)\n";
    let parent = spawn(&tag, "python3", &["-c", script]);
    let rec = record(parent.id(), 40, &["--zombie-after", "1s"]);
    let found = raised(&rec, AlertKind::Zombies);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].0, parent.id());
    assert!(found[0].2.contains("still unreaped"), "{found:?}");
}

/// A worker left stopped (SIGSTOP, as a profiler that detached with one pending
/// leaves it) raises `stopped` once it has stayed `--stopped-after`; its busy parent
/// does not (issue 26, fault 6).
#[test]
fn a_worker_left_stopped_raises_stopped() {
    let tag = Tag::new();
    let script = "import subprocess, sys, time\np = subprocess.Popen(['sleep', '3600'])\nprint(p.pid, flush=True)\np.wait()\n";
    let mut parent = tag
        .command("python3")
        .args(["-c", script])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(parent.stdout.as_mut().unwrap()),
        &mut line,
    )
    .unwrap();
    let parent = Reaped(parent);
    let worker: u32 = line.trim().parse().unwrap();
    common::signal(worker, rustix::process::Signal::STOP);
    let rec = record(parent.id(), 40, &["--stopped-after", "1s"]);
    let found = raised(&rec, AlertKind::Stopped);
    assert_eq!(
        found.iter().map(|f| f.0).collect::<Vec<_>>(),
        [worker],
        "{found:?}"
    );
    assert!(found[0].2.contains("stopped (state T"), "{found:?}");
    common::signal(worker, rustix::process::Signal::KILL);
}
