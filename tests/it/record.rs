//! `leaktop record` against real process trees.

use crate::common;

use std::time::Duration;

use common::{Family, Recorder, Signal, leaktop, wait_until};
use leaktop::format::{self, Recording};
use leaktop::model::Tick;

fn read(path: &std::path::Path) -> Recording {
    format::read(path).unwrap_or_else(|e| panic!("{e}"))
}

fn first_tick_after_root_died(rec: &Recording) -> &Tick {
    rec.ticks
        .iter()
        .find(|t| !t.root_alive)
        .expect("a tick after the root died")
}

#[test]
fn forkserver_pool_orphaned_by_sigkill_is_reported_as_leaked_in_both_formats() {
    let dir = tempfile::tempdir().unwrap();
    let mut pool = Family::spawn_pool(dir.path());
    let root = pool.pid();
    let text = Recorder::start(
        root,
        &dir.path().join("pool.ticklog"),
        &["--interval", "200ms", "--leak-grace", "1s"],
    );
    let ndjson = Recorder::start(
        root,
        &dir.path().join("pool.ndjson"),
        &["--interval", "200ms", "--leak-grace", "1s"],
    );
    text.wait_ticks(2);
    ndjson.wait_ticks(2);

    pool.kill_root();
    // The recorders keep going while the orphans live; give them the leak grace (1 s
    // at 200 ms) and two more ticks.
    let before = read(&text.out).ticks.len();
    text.wait_ticks(before + 8);
    ndjson.wait_ticks(before + 8);
    text.signal(Signal::INT);
    ndjson.signal(Signal::INT);
    assert_eq!(text.finish().0, Some(0));
    assert_eq!(ndjson.finish().0, Some(0));

    let dir_path = dir.path();
    for (name, rec) in [
        ("text", read(&dir_path.join("pool.ticklog"))),
        ("ndjson", read(&dir_path.join("pool.ndjson"))),
    ] {
        let baseline = &rec.ticks[0];
        assert!(baseline.root_alive, "{name}");
        assert_eq!(
            baseline.leaked_count(),
            0,
            "{name}: nothing leaks while the root lives"
        );
        let children: Vec<_> = baseline
            .processes
            .iter()
            .filter(|p| p.ppid == root)
            .collect();
        let helper = |needle: &str| {
            children
                .iter()
                .find(|p| p.cmd.contains(needle))
                .unwrap_or_else(|| panic!("{name}: no {needle} child in {baseline:#?}"))
                .pid
        };
        let tracker = helper("resource_tracker");
        let forkserver = helper("forkserver");
        let workers: Vec<u32> = baseline
            .processes
            .iter()
            .filter(|p| p.ppid == forkserver)
            .map(|p| p.pid)
            .collect();
        assert_eq!(workers.len(), 3, "{name}: three pool workers");

        // Within one tick of the kill everything left is seen reparented, and is leaked
        // once it has outlived its parent by the leak grace (1 s), not before.
        let died = first_tick_after_root_died(&rec);
        for pid in [tracker, forkserver] {
            let row = died.processes.iter().find(|p| p.pid == pid).unwrap();
            assert_eq!(row.reparented_from, Some(root), "{name}: {row:?}");
            assert!(!row.leaked, "{name}: leaked within the grace: {row:?}");
        }
        let after = rec
            .ticks
            .iter()
            .find(|t| t.leaked_count() > 0)
            .expect("a tick with the leak");
        let waited = after.elapsed_ms - died.elapsed_ms;
        // With process events the grace counts from the exit itself, which can come up
        // to one interval (200 ms) before the tick that saw it.
        assert!(
            (1000 - 200..1000 + 3 * 200).contains(&waited),
            "{name}: leaked {waited} ms after the root died"
        );
        assert!(
            died.events.iter().any(
                |e| matches!(e, leaktop::model::Event::RootExited { pid, .. } if *pid == root)
            )
        );
        for pid in [tracker, forkserver] {
            let row = after
                .processes
                .iter()
                .find(|p| p.pid == pid)
                .expect("helper still alive");
            assert_eq!(row.reparented_from, Some(root), "{name}: {pid}");
            assert!(row.leaked && row.ppid != root, "{name}: {row:?}");
        }
        for pid in &workers {
            let row = after
                .processes
                .iter()
                .find(|p| p.pid == *pid)
                .expect("worker still alive");
            assert!(row.leaked, "{name}: worker {pid} leaked");
            assert!(
                row.rss_kb > 20 * 1024,
                "{name}: worker holds its 20 MB: {row:?}"
            );
        }
    }

    // The NDJSON carries the documented keys, read independently of leaktop's parser.
    let raw = std::fs::read_to_string(dir_path.join("pool.ndjson")).unwrap();
    let last: serde_json::Value = serde_json::from_str(raw.lines().last().unwrap()).unwrap();
    assert_eq!(last["type"], "tick");
    assert_eq!(last["root_alive"], false);
    let leaked = last["processes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["leaked"] == true)
        .count();
    assert_eq!(leaked, 5, "tracker, forkserver and three workers: {last}");
    assert_eq!(last["leaked_count"], 5);
}

#[test]
fn healthy_tree_whose_children_exit_is_never_flagged_and_recording_ends_with_it() {
    let dir = tempfile::tempdir().unwrap();
    let script = "echo go; sleep 0.6; for i in 1 2 3 4 5 6 7 8; do (sleep 0.1; true) & sleep 0.05; done; wait; sleep 0.3";
    let mut tree = Family::spawn("sh", &["-c", script]);
    assert_eq!(tree.read_line(), "go");
    let out = dir.path().join("healthy.ticklog");
    let rec = Recorder::start(tree.pid(), &out, &["--interval", "50ms"]);
    let (code, err) = rec.finish();
    assert_eq!(code, Some(0), "{err}");
    let rec = read(&out);
    assert!(rec.ticks.len() > 5);
    let spawned: usize = rec
        .ticks
        .iter()
        .flat_map(|t| &t.events)
        .filter(|e| matches!(e, leaktop::model::Event::Spawned { .. }))
        .count();
    assert!(
        spawned >= 8,
        "the children were seen ({spawned} spawned events)"
    );
    for tick in &rec.ticks {
        assert!(
            tick.processes.iter().all(|p| !p.leaked),
            "tick {} flagged a healthy process: {tick:#?}",
            tick.tick
        );
    }
    drop(tree);
}

#[test]
fn double_forked_escapee_orphaned_between_ticks_is_caught_with_evidence() {
    let dir = tempfile::tempdir().unwrap();
    // The subshell forks `sleep` and exits at once: init adopts it before any tick.
    let mut tree = Family::spawn(
        "sh",
        &["-c", "echo go; sleep 0.5; ( sleep 300 & ); sleep 30"],
    );
    assert_eq!(tree.read_line(), "go");
    let out = dir.path().join("escape.ndjson");
    let rec = Recorder::start(tree.pid(), &out, &["--interval", "400ms"]);
    let found = wait_until(Duration::from_secs(10), || {
        format::read(&out).is_ok_and(|r| {
            r.ticks
                .last()
                .is_some_and(|t| t.processes.iter().any(|p| p.escaped && p.leaked))
        })
    });
    drop(rec);
    assert!(
        found,
        "no escaped member in {}",
        std::fs::read_to_string(&out).unwrap()
    );
    let recording = read(&out);
    let tick = recording
        .ticks
        .iter()
        .find(|t| t.processes.iter().any(|p| p.escaped))
        .unwrap();
    let escapee = tick.processes.iter().find(|p| p.escaped).unwrap();
    assert!(escapee.cmd.starts_with("sleep 300"), "{escapee:?}");
    let evidence = tick
        .events
        .iter()
        .find_map(|e| match e {
            leaktop::model::Event::Escaped { pid, evidence, .. } if *pid == escapee.pid => {
                Some(evidence.clone())
            }
            _ => None,
        })
        .expect("escaped event with evidence");
    // From /proc (the group the root created), or from process events (the fork).
    assert!(
        evidence.contains(&format!("process group {}", tree.pid()))
            || evidence.contains(&format!("was forked by {}", tree.pid())),
        "{evidence}"
    );
    assert!(tree.tagged_pids().contains(&escapee.pid));
}

#[test]
fn sigint_stops_after_a_whole_tick_and_sigkilled_output_reads_back() {
    let dir = tempfile::tempdir().unwrap();
    let tree = Family::spawn("sleep", &["60"]);
    for (sig, out) in [
        (Signal::INT, "int.ticklog"),
        (Signal::TERM, "term.ndjson"),
        (Signal::KILL, "kill.ticklog"),
    ] {
        let out = dir.path().join(out);
        let rec = Recorder::start(tree.pid(), &out, &["--interval", "20ms"]);
        rec.wait_ticks(5);
        rec.signal(sig);
        let (code, err) = rec.finish();
        let recording = read(&out);
        assert!(recording.ticks.len() >= 5, "{sig:?}");
        if sig == Signal::KILL {
            assert_eq!(code, None, "killed by a signal");
        } else {
            assert_eq!(code, Some(0), "{sig:?}: {err}");
            assert!(
                recording.truncated.is_none(),
                "{sig:?}: clean stop leaves no partial tick"
            );
            let raw = std::fs::read_to_string(&out).unwrap();
            assert!(raw.ends_with('\n'));
        }
    }
}

#[test]
fn sysinfo_backend_sees_the_same_leak() {
    let dir = tempfile::tempdir().unwrap();
    // The foreground sleep outlives any wait here: a loaded machine must not see it exit.
    let mut tree = Family::spawn("sh", &["-c", "sleep 300 & sleep 300 & echo go; sleep 300"]);
    assert_eq!(tree.read_line(), "go");
    let out = dir.path().join("sysinfo.ticklog");
    let rec = Recorder::start(
        tree.pid(),
        &out,
        &[
            "--interval",
            "200ms",
            "--backend",
            "sysinfo",
            "--leak-grace",
            "1s",
        ],
    );
    rec.wait_ticks(2);
    tree.kill_root();
    let n = read(&out).ticks.len();
    // The leak grace (1 s at 200 ms), and two more ticks.
    rec.wait_ticks(n + 8);
    drop(rec);
    let last = read(&out).ticks.pop().unwrap();
    assert!(!last.root_alive);
    // Both background sleeps and the shell's foreground `sleep 30`.
    assert_eq!(last.leaked_count(), 3, "{last:#?}");
    assert!(
        last.processes
            .iter()
            .all(|p| p.reparented_from == Some(tree.pid()))
    );
}

#[test]
fn bad_input_gets_one_clear_line_and_a_nonzero_exit() {
    let dir = tempfile::tempdir().unwrap();
    let cases: Vec<(Vec<String>, i32, &str)> = vec![
        (
            vec!["--pid".into(), "4194303".into()],
            1,
            "no process with PID 4194303",
        ),
        (
            vec!["--pid".into(), "1".into(), "--interval".into(), "0s".into()],
            2,
            "--interval 0s is too short (at least 10ms",
        ),
        (
            vec![
                "--pid".into(),
                "1".into(),
                "--interval".into(),
                "fast".into(),
            ],
            2,
            "--interval fast is not a duration",
        ),
        (
            vec!["--pid".into(), "abc".into()],
            2,
            "--pid abc is not a process id",
        ),
        (
            vec![
                "--pid".into(),
                "1".into(),
                "--out".into(),
                dir.path().join("missing/dir/x.log").display().to_string(),
            ],
            1,
            "cannot create",
        ),
        (
            vec![
                "--pid".into(),
                "1".into(),
                "--out".into(),
                "/dev/full".into(),
            ],
            1,
            "cannot write to /dev/full: No space left on device",
        ),
    ];
    for (args, code, needle) in cases {
        let out = leaktop().arg("record").args(&args).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        if code == 1 {
            assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
            assert!(err.starts_with("leaktop: error: "), "{err}");
        }
    }
}

#[test]
fn record_by_name_follows_a_restarted_daemon_and_keeps_its_orphans() {
    let dir = tempfile::tempdir().unwrap();
    let name = format!("leakd-rec-{}", std::process::id());
    // Each generation leaves a sleep behind and exits after 0.8 s; a supervisor
    // starts the next one. Twelve generations (about 10 s) leave room for a recorder
    // that attaches late on a loaded machine to see at least two restarts in its 4 s.
    let daemon = dir.path().join(format!("{name}.sh"));
    std::fs::write(&daemon, "sleep 3002 &\nsleep 0.8\n").unwrap();
    let supervisor = dir.path().join("supervise.sh");
    std::fs::write(
        &supervisor,
        format!(
            "for i in 1 2 3 4 5 6 7 8 9 10 11 12; do sh {}; done; sleep 30\n",
            daemon.display()
        ),
    )
    .unwrap();
    let mut sup = Family::spawn("sh", &[supervisor.to_str().unwrap()]);
    assert!(wait_until(Duration::from_secs(5), || {
        sup.tagged_pids().iter().any(|&pid| {
            std::fs::read_to_string(format!("/proc/{pid}/cmdline")).is_ok_and(|c| c.contains(&name))
        })
    }));
    let out = dir.path().join("follow.ticklog");
    let rec = leaktop()
        .args([
            "record",
            "--quiet",
            "--name",
            &name,
            "--follow",
            "--interval",
            "100ms",
            "--leak-grace",
            "1s",
        ])
        .args(["--duration", "4s", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        rec.status.success(),
        "{}",
        String::from_utf8_lossy(&rec.stderr)
    );
    let rec = read(&out);
    let restarts = rec
        .ticks
        .iter()
        .flat_map(|t| &t.events)
        .filter(|e| matches!(e, leaktop::model::Event::RootRestarted { .. }))
        .count();
    assert!(restarts >= 2, "{restarts} restarts followed");
    let last = rec.ticks.last().unwrap();
    let orphans = last
        .processes
        .iter()
        .filter(|p| p.leaked && p.cmd == "sleep 3002")
        .count();
    assert!(
        orphans >= 2,
        "old generations' sleeps: {:#?}",
        last.processes
    );
    assert!(
        rec.ticks.len() >= 20,
        "recording went on past the first root's exit: {} ticks",
        rec.ticks.len()
    );
    sup.kill_root();
}

/// Issue 17, fault 5: `record --out F` for a pid that does not exist used to
/// truncate F before finding out.
#[test]
fn a_failed_attach_leaves_the_old_recording_alone() {
    let dir = tempfile::tempdir().unwrap();
    let old = dir.path().join("old.ticklog");
    std::fs::write(&old, "yesterday's recording\n").unwrap();
    let out = leaktop()
        .args(["record", "--pid", "4000000", "--out"])
        .arg(&old)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("4000000"));
    assert_eq!(
        std::fs::read_to_string(&old).unwrap(),
        "yesterday's recording\n"
    );
    // Nor does a failed attach leave a new, empty file behind.
    let new = dir.path().join("new.ticklog");
    let out = leaktop()
        .args(["record", "--pid", "4000000", "--out"])
        .arg(&new)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(!new.exists());
}
