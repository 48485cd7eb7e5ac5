//! `leaktop run` of a one-child init (issue 26, fault 2): tini as CMD, PID 1 of a PID
//! namespace of its own as in a container, a supervisor below it. The supervisor's
//! launcher is SIGKILLed, tini adopts its component, which lives on, and the
//! supervisor starts another: the component is an orphan under a live parent, a leak,
//! though leaktop (the subreaper) never adopts it and, when the launcher dies between
//! two ticks, never sees it reparented (only the process events saw its fork).
//! tini's own child (the supervisor) and its healthy tree are never called leaked.
//!
//! The container is stopped as `docker kill` does (SIGKILL to its PID 1, which ends
//! everything in it), so nothing is left alive at the end: what `run` says comes
//! from what it saw during the run. Skipped with a note where no PID namespace can
//! be made.

use crate::common;
use crate::orphans_tini::{TINI, only_child};

use std::io::Read;
use std::process::Stdio;

use common::{Tag, children_of, ppid, wait_until};
use serde_json::Value;

/// The supervisor (`$0`: a FIFO to read a line from before it starts launchers, once
/// a tick has seen it, so that the events know it as family). The first launcher
/// starts its component and is SIGKILLed at once (between two ticks); the test kills
/// the second from outside once a tick has seen it; the third stays.
const SUPERVISOR: &str =
    "read _ < \"$0\"; sh -c 'sleep 3600 & kill -9 $$'; while :; do sh -c 'sleep 3600 & wait'; done";

/// The ticks of an ndjson recording written so far.
fn ticks(path: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["type"] == "tick")
        .collect()
}

/// Whether the last tick recorded so far shows `pid`.
fn seen(record: &std::path::Path, pid: u32) -> bool {
    ticks(record).last().is_some_and(|t| {
        t["processes"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|p| p["pid"] == pid)
    })
}

fn leaked_in(tick: &Value) -> Vec<u32> {
    tick["processes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| p["leaked"] == true)
        .map(|p| p["pid"].as_u64().unwrap() as u32)
        .collect()
}

#[test]
fn run_of_tini_calls_the_components_it_adopted_leaked_and_its_own_tree_not() {
    let Some(how) = common::unshare_pid() else {
        eprintln!("skipped: needs a PID namespace of its own (unshare)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("tini.py");
    std::fs::write(&script, TINI).unwrap();
    let record = dir.path().join("run.ndjson");
    let json = dir.path().join("run.json");
    let go = dir.path().join("go");
    crate::outputs::mkfifo(&go);
    let python = std::fs::canonicalize("/usr/bin/python3").unwrap();
    let tag = Tag::new();
    let mut run = tag
        .command(env!("CARGO_BIN_EXE_leaktop"))
        .args(["run", "--check", "--leak-grace", "1s", "--record"])
        .arg(&record)
        .arg("--json")
        .arg(&json)
        .args(["--", "unshare"])
        .args(how)
        .arg(&python)
        .arg(&script)
        .args(["sh", "-c", SUPERVISOR])
        .arg(&go)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let unshare = only_child(run.id());
    let tini = only_child(unshare);
    let supervisor = only_child(tini);
    assert!(
        wait_until(common::PATIENCE, || seen(&record, supervisor)),
        "a tick saw the supervisor {supervisor}"
    );
    std::fs::write(&go, "go\n").unwrap();
    // The first component, adopted as soon as it started.
    let mut kids = Vec::new();
    assert!(
        wait_until(common::PATIENCE, || {
            kids = children_of(tini);
            kids.len() == 2
        }),
        "tini {tini} has the supervisor and one adopted component: {kids:?}"
    );
    let first = kids.into_iter().find(|&k| k != supervisor).unwrap();
    // The second launcher, once a tick has seen it run with its component, is killed
    // from outside, its component adopted.
    let launcher = only_child(supervisor);
    let second = only_child(launcher);
    assert!(
        wait_until(common::PATIENCE, || seen(&record, second)),
        "a tick saw the component {second}"
    );
    common::signal(launcher, rustix::process::Signal::KILL);
    assert!(wait_until(common::PATIENCE, || ppid(second) == Some(tini)));
    let adopted = [first, second];
    let launcher = only_child(supervisor);
    let component = only_child(launcher);
    let healthy = [tini, supervisor, launcher, component];

    // Both called leaked once their grace passed, while tini and its tree run on.
    let events = std::fs::read_to_string(&record)
        .unwrap_or_default()
        .contains("\"events\":\"connector\"");
    // Without fork events the first component, whose launcher no tick saw, is what
    // it looks like in /proc: tini's child (a documented miss).
    let expected: &[u32] = if events { &adopted } else { &adopted[1..] };
    let mut last = Vec::new();
    assert!(
        wait_until(common::PATIENCE, || {
            last = ticks(&record).last().map(leaked_in).unwrap_or_default();
            expected.iter().all(|p| last.contains(p))
        }),
        "{adopted:?} leaked (events: {events}); last tick's leaked: {last:?}"
    );
    if !events {
        eprintln!("note: no process events here; the first component is not checked");
    }
    // `docker kill`: the namespace ends with its PID 1.
    common::signal(tini, rustix::process::Signal::KILL);
    let mut stderr = String::new();
    run.stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let status = run.wait().unwrap();

    for tick in ticks(&record) {
        for pid in leaked_in(&tick) {
            assert!(
                !healthy.contains(&pid),
                "{pid} of tini's own tree {healthy:?} is never leaked: tick {}",
                tick["tick"]
            );
        }
    }
    assert_eq!(status.code(), Some(3), "{stderr}");
    // The run's report: the components, leaked and exited before the end, and nothing
    // of tini's own tree.
    let report: Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let leaked: Vec<(u32, bool)> = report["leaked"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (l["pid"].as_u64().unwrap() as u32, l["alive_at_end"] == true))
        .collect();
    for pid in expected {
        assert!(
            leaked.contains(&(*pid, false)),
            "{pid} leaked, then exited: {leaked:?}\n{stderr}"
        );
    }
    for pid in healthy {
        assert!(
            leaked.iter().all(|&(p, _)| p != pid),
            "{pid} of tini's own tree is not in the report: {leaked:?}"
        );
    }
    assert!(stderr.contains("leaked, then exited after"), "{stderr}");
    // The recording says what was seen: the fork by the launcher, tini's adoption
    // when the launcher exited.
    if events {
        let text = std::fs::read_to_string(&record).unwrap();
        assert!(
            text.contains(&format!("adopted by pid {tini} when")),
            "the evidence names tini's adoption: {text}"
        );
    }
}
