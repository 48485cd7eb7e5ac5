//! On desktops orphans go to `systemd --user`, on WSL to the session's init, in
//! containers to tini: a child subreaper above the root, not PID 1. This test
//! makes itself such a subreaper (in a process of its own) and attaches to a
//! root it started, declaring nothing: the escape must be seen all the same.

#![cfg(target_os = "linux")]

use crate::common;

use std::time::{Duration, Instant};

use common::Family;
use leaktop::model::Event;
use leaktop::monitor::Monitor;
use leaktop::sample::Backend;

#[test]
fn an_escape_adopted_by_a_session_subreaper_above_the_root_is_caught() {
    // A subreaper adopts every concurrent test's orphans, and reap() takes any child.
    common::isolated(
        "session_subreaper::an_escape_adopted_by_a_session_subreaper_above_the_root_is_caught",
        an_escape_adopted_by_a_session_subreaper_above_the_root_is_caught_alone,
    );
}

fn an_escape_adopted_by_a_session_subreaper_above_the_root_is_caught_alone() {
    let me = std::process::id();
    rustix::process::set_child_subreaper(rustix::process::Pid::from_raw(me as i32)).unwrap();
    // The root leads its process group (Family::spawn); once told (after the first
    // tick, however late that comes on a busy machine) its subshell double-forks a
    // sleep and exits at once: this process adopts the sleep.
    let dir = tempfile::tempdir().unwrap();
    let go = dir.path().join("go");
    let script = format!(
        "echo ready; while [ ! -e '{}' ]; do sleep 0.02; done; (sleep 300 >/dev/null 2>&1 &); sleep 300",
        go.display()
    );
    let mut root = Family::spawn("sh", &["-c", &script]);
    assert_eq!(root.read_line(), "ready");
    let host = leaktop::host::real();
    let sampler = host.sampler(Backend::Procfs).unwrap();
    let mut monitor = Monitor::attach_on(
        host,
        sampler,
        root.pid(),
        Duration::from_millis(100),
        vec![],
    )
    .unwrap()
    .with_leak_grace(Duration::from_secs(1));
    monitor.step().unwrap();
    std::fs::write(&go, "").unwrap();
    let end = Instant::now() + Duration::from_secs(60);
    let mut evidence = None;
    let mut leaked = None;
    while Instant::now() < end && leaked.is_none() {
        let tick = monitor.step().unwrap();
        for e in &tick.events {
            if let Event::Escaped {
                ppid,
                evidence: why,
                ..
            } = e
            {
                assert_eq!(*ppid, me, "adopted by this subreaper: {why}");
                evidence = Some(why.clone());
            }
        }
        leaked = tick
            .processes
            .iter()
            .find(|p| p.escaped && p.leaked && p.name == "sleep")
            .map(|p| p.pid);
        std::thread::sleep(Duration::from_millis(100));
    }
    let evidence = evidence.expect("the escape was not seen");
    assert!(
        leaked.is_some(),
        "seen escaping but never leaked: {evidence}"
    );
    // From /proc (the adopter and the group), or from process events (the fork and
    // the adoption they saw).
    let from_proc = evidence.contains(&format!("parent {me} is an ancestor of the root"))
        && evidence.contains(&format!(
            "its process group {} was created by member {}",
            root.pid(),
            root.pid()
        ));
    let from_events = evidence.contains(&format!("adopted by pid {me} when"))
        && evidence.contains(&format!("was forked by {}", root.pid()));
    // The fork seen as it happened, the adoption found at the next tick (a busy
    // machine delivered the parent's exit after that tick read the new parent).
    let fork_then_tick = evidence.starts_with("forked by ")
        && evidence.contains(&format!("now a child of pid {me} (process events"));
    assert!(from_proc || from_events || fork_then_tick, "{evidence}");
    drop(root);
    leaktop::host::real().reap();
}
