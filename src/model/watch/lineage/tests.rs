//! The lineage table on synthetic scans and events.

use super::*;
use crate::sample::events::Task;

fn p(pid: u32, ppid: u32, start: u64) -> ProcSample {
    ProcSample {
        pid,
        ppid,
        state: b'S',
        rss_kb: 1000,
        pgrp: pid,
        session: 1,
        start,
        cpu_ms: 0,
        comm: Comm::new(format!("p{pid}").as_bytes()),
    }
}

fn fork(parent: u32, child: u32) -> ProcEvent {
    ProcEvent::Fork {
        parent: Task::process(parent),
        child: Task::process(child),
    }
}

fn exit(pid: u32, how: Option<Ended>) -> ProcEvent {
    ProcEvent::Exit {
        task: Task::process(pid),
        parent: None,
        how,
    }
}

/// A table of init, 100 and its child 101, as a first scan at 1000 ms makes it.
fn family() -> (Lineage, Vec<Seen>) {
    let mut l = Lineage::new();
    let mut out = Vec::new();
    l.scan(
        1000,
        &[p(1, 0, 1), p(100, 1, 10), p(101, 100, 11)],
        &mut out,
    );
    (l, out)
}

fn deaths(seen: &[Seen]) -> Vec<&Death> {
    seen.iter()
        .filter_map(|s| match s {
            Seen::Orphaning(d) => Some(d),
            _ => None,
        })
        .collect()
}

#[test]
fn an_exit_with_children_is_an_orphaning_with_what_was_read_of_the_parent() {
    let (mut l, mut out) = family();
    assert_eq!(out, vec![Seen::NewParent(1), Seen::NewParent(100)]);
    l.set_details(
        &p(100, 1, 10),
        Details {
            cmd: "python3 pool.py".into(),
            exe: Some("/usr/bin/python3".into()),
            uid: Some(1000),
        },
    );
    out.clear();
    // A fork by 101, not yet scanned: its child's start is unknown.
    l.observe(1500, &fork(101, 102), &mut out);
    assert_eq!(out, vec![Seen::NewParent(101)]);
    out.clear();
    let killed = Some(Ended::Signaled {
        signal: 9,
        core: false,
    });
    l.observe(2000, &exit(100, killed), &mut out);
    let d = deaths(&out);
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].died.pid, 100);
    assert_eq!(d[0].died.cmd.as_deref(), Some("python3 pool.py"));
    assert_eq!(d[0].died.how.unwrap().signal, Some(9));
    assert_eq!((d[0].time_ms, d[0].exact), (2000, true));
    assert_eq!(d[0].children, vec![(101, Some(11))]);
    // Confirmed: alive, same start, under init now.
    assert!(l.confirm(100, Some(11), &p(101, 1, 11), 2001));
    // A pid now held by another process, or still under the dead pid: no orphan.
    assert!(!l.confirm(100, Some(11), &p(101, 1, 99), 2001));
    assert!(!l.confirm(100, Some(11), &p(101, 100, 11), 2001));
    // The tree under the orphan, from the events.
    assert_eq!(l.descendants(&[101], 10), vec![102]);
}

#[test]
fn an_exit_without_children_tells_nothing_and_a_followed_orphan_meets_its_fate() {
    let mut l = Lineage::new();
    let mut out = Vec::new();
    l.scan(1000, &[p(1, 0, 1), p(200, 1, 20), p(300, 1, 30)], &mut out);
    out.clear();
    l.observe(1100, &exit(200, Some(Ended::Code(0))), &mut out);
    assert!(out.is_empty(), "{out:?}");
    l.follow(
        Identity {
            pid: 300,
            start: 30,
        },
        900,
        250,
    );
    l.observe(5000, &exit(300, Some(Ended::Code(3))), &mut out);
    match &out[..] {
        [
            Seen::Fate {
                followed,
                time_ms,
                fate,
                how,
            },
        ] => {
            assert_eq!(followed.died_pid, 250);
            assert_eq!(*time_ms, 5000);
            assert_eq!(*fate, FateKind::Exited);
            assert_eq!(how.unwrap().exit_code, Some(3));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_scan_sees_what_no_event_told_between_two_scans() {
    let mut l = Lineage::new();
    let mut out = Vec::new();
    l.scan(
        1000,
        &[p(1, 0, 1), p(100, 1, 10), p(101, 100, 11), p(102, 100, 12)],
        &mut out,
    );
    l.follow(
        Identity {
            pid: 500,
            start: 50,
        },
        100,
        90,
    );
    out.clear();
    // 100 died; 101 was adopted by init, 102 exited too; 500 is gone.
    l.scan(3000, &[p(1, 0, 1), p(101, 1, 11)], &mut out);
    let d = deaths(&out);
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].died.pid, 100);
    assert_eq!(
        (d[0].exact, d[0].since_ms, d[0].time_ms),
        (false, Some(1000), 3000)
    );
    assert_eq!(d[0].children, vec![(101, Some(11))]);
    assert!(d[0].confirmed);
    assert!(out.iter().any(
        |s| matches!(s, Seen::Fate { followed, fate: FateKind::Gone, .. } if followed.id.pid == 500)
    ));
    // Nothing twice.
    out.clear();
    l.scan(4000, &[p(1, 0, 1), p(101, 1, 11)], &mut out);
    assert!(deaths(&out).is_empty(), "{out:?}");
}

#[test]
fn a_reused_pid_is_no_orphaning_and_a_confirmed_one_is_not_seen_again() {
    let (mut l, mut out) = family();
    out.clear();
    // 101 is now another process (start 99) under init: not the child that was.
    l.scan(2000, &[p(1, 0, 1), p(101, 1, 99)], &mut out);
    assert!(deaths(&out).is_empty(), "{out:?}");

    let (mut l, _) = family();
    out.clear();
    l.observe(1500, &exit(100, None), &mut out);
    assert!(l.confirm(100, Some(11), &p(101, 1, 11), 1501));
    out.clear();
    l.scan(2000, &[p(1, 0, 1), p(101, 1, 11)], &mut out);
    assert!(deaths(&out).is_empty(), "seen once, by the event: {out:?}");
}

#[test]
fn an_exec_forgets_the_command_and_setsid_moves_the_group() {
    let (mut l, mut out) = family();
    l.set_details(&p(100, 1, 10), Details::default());
    out.clear();
    l.observe(
        1100,
        &ProcEvent::Exec {
            task: Task::process(100),
        },
        &mut out,
    );
    assert_eq!(out, vec![Seen::NewParent(100)]);
    assert!(l.get(100).unwrap().details.is_none());
    l.observe(
        1200,
        &ProcEvent::Setsid {
            task: Task::process(101),
        },
        &mut out,
    );
    let k = l.get(101).unwrap();
    assert_eq!((k.pgrp, k.session), (101, 101));
    out.clear();
    l.observe(1300, &ProcEvent::Lost { count: Some(4) }, &mut out);
    assert_eq!(out, vec![Seen::Rescan]);
}

#[test]
fn the_processes_worth_watching_are_parents_and_followed_orphans() {
    let mut l = Lineage::new();
    let mut out = Vec::new();
    l.scan(
        1000,
        &[
            p(1, 0, 1),
            p(100, 1, 10),
            p(101, 100, 11),
            p(200, 1, 20),
            p(201, 200, 21),
        ],
        &mut out,
    );
    l.set_details(
        &p(100, 1, 10),
        Details {
            uid: Some(1000),
            ..Details::default()
        },
    );
    l.set_details(
        &p(200, 1, 20),
        Details {
            uid: Some(0),
            ..Details::default()
        },
    );
    l.follow(
        Identity {
            pid: 300,
            start: 30,
        },
        0,
        5,
    );
    let mut ids = Vec::new();
    l.worth_watching(Some(1000), &mut ids);
    ids.sort();
    assert_eq!(
        ids,
        vec![
            Identity {
                pid: 100,
                start: 10
            },
            Identity {
                pid: 300,
                start: 30
            }
        ]
    );
    ids.clear();
    l.worth_watching(None, &mut ids);
    assert_eq!(ids.len(), 4, "init, 100, 200 and the followed: {ids:?}");
}

#[test]
fn a_thread_outliving_the_main_one_is_told_while_children_wait() {
    let mut l = Lineage::new();
    let mut out = Vec::new();
    l.scan(
        1000,
        &[p(1, 0, 1), p(100, 1, 10), p(101, 100, 11), p(300, 1, 30)],
        &mut out,
    );
    out.clear();
    let killed = Some(Ended::Signaled {
        signal: 9,
        core: false,
    });
    l.observe(2000, &exit(100, killed), &mut out);
    assert_eq!(deaths(&out).len(), 1);
    // Its other threads hold the child: not an orphan yet.
    assert!(!l.confirm(100, Some(11), &p(101, 100, 11), 2000));
    out.clear();
    let thread = |tid: u32, tgid: u32| ProcEvent::Exit {
        task: Task { pid: tid, tgid },
        parent: None,
        how: killed,
    };
    l.observe(2100, &thread(105, 100), &mut out);
    match &out[..] {
        [
            Seen::ThreadExit {
                tgid: 100,
                time_ms: 2100,
                how,
            },
        ] => {
            assert_eq!(how.unwrap().signal, Some(9))
        }
        other => panic!("{other:?}"),
    }
    // A thread of a live process, or of one without children, tells nothing.
    out.clear();
    l.observe(2200, &thread(305, 300), &mut out);
    l.observe(2200, &thread(999, 998), &mut out);
    assert!(out.is_empty(), "{out:?}");
}
