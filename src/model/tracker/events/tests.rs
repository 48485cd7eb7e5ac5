//! The tracker fed with events between synthetic ticks.

use super::super::tests::{ROOT_PARENT, SHELL_GROUP, describe, feed, outsider, p, row, tracker};
use super::*;
use crate::model::Tick;
use crate::sample::events::Task;

/// 12:03:07.000 UTC on some day, ms since the epoch.
const NOON_ISH: u64 = 1_795_000_000_000 - 1_795_000_000_000 % 86_400_000 + 43_387_000;

fn at(ms: u64) -> At {
    At {
        elapsed_ms: ms,
        wall_ms: NOON_ISH + ms,
    }
}

fn fork(parent: u32, child: u32) -> ProcEvent {
    ProcEvent::Fork {
        parent: Task::process(parent),
        child: Task::process(child),
    }
}

fn exit(pid: u32) -> ProcEvent {
    ProcEvent::Exit {
        task: Task::process(pid),
        parent: None,
        how: Some(Ended::Code(0)),
    }
}

fn setsid(pid: u32) -> ProcEvent {
    ProcEvent::Setsid {
        task: Task::process(pid),
    }
}

/// A root (100) that leads neither its process group nor its session: the shell's.
fn non_leader_root() -> ProcSample {
    let mut root = p(100, ROOT_PARENT, 10);
    root.pgrp = SHELL_GROUP;
    root.session = SHELL_GROUP;
    root
}

/// A process under init in a session and group of `leader`'s (a setsid'd one).
fn setsid_child_of_init(pid: u32, start: u64, leader: u32) -> ProcSample {
    let mut s = p(pid, 1, start);
    s.pgrp = leader;
    s.session = leader;
    s
}

/// The root forks 200, which calls setsid, forks 300 and exits: a daemon's double
/// fork, all between two ticks.
fn double_fork(t: &mut Tracker) -> Vec<Noted> {
    [
        (at(100), fork(100, 200)),
        (at(101), setsid(200)),
        (at(102), fork(200, 300)),
        (at(105), exit(200)),
    ]
    .iter()
    .map(|(when, e)| t.observe(*when, e))
    .collect()
}

/// The evidence of `pid`'s escape in `tick`.
fn evidence(tick: &Tick, pid: u32) -> &str {
    tick.events
        .iter()
        .find_map(|e| match e {
            crate::model::Event::Escaped {
                pid: p, evidence, ..
            } if *p == pid => Some(evidence.as_str()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no escape of {pid}: {tick:#?}"))
}

fn update(t: &mut Tracker, elapsed_ms: u64, samples: &[ProcSample]) -> Tick {
    let mut all = samples.to_vec();
    all.push(outsider(ROOT_PARENT, 1, 1, SHELL_GROUP));
    t.update_at(elapsed_ms, &all, &mut describe);
    t.snapshot(elapsed_ms, 0)
}

#[test]
fn a_daemonizing_escape_between_two_ticks_is_caught_with_what_was_seen() {
    let root = non_leader_root();
    let daemon = setsid_child_of_init(300, 30, 200);

    // Without events it leaves no trace in /proc: the documented miss.
    let mut blind = tracker(root);
    feed(&mut blind, &[root]);
    let tick = feed(&mut blind, &[root, daemon]);
    assert!(tick.processes.iter().all(|r| r.pid != 300), "{tick:#?}");

    let mut t = tracker(root);
    feed(&mut t, &[root]);
    let noted = double_fork(&mut t);
    assert!(noted.iter().all(|n| *n == Noted::Recorded), "{noted:?}");
    let mut to_sample = Vec::new();
    t.members_to_sample(&mut to_sample);
    assert!(
        to_sample.contains(&Identity { pid: 300, start: 0 }),
        "the next tick reads it by pid: {to_sample:?}"
    );
    let tick = feed(&mut t, &[root, daemon]);
    let r = row(&tick, 300);
    assert!(r.escaped && r.leaked, "{r:?}");
    assert_eq!(
        evidence(&tick, 300),
        "forked by 200 at 12:03:07.102, adopted by pid 1 when 200 exited at 12:03:07.105; \
         200 was forked by 100 at 12:03:07.100 and called setsid at 12:03:07.101 \
         (process events, UTC)"
    );
    // What happened is on record although no tick saw 200.
    let (observed, left_out) = t.observed();
    assert_eq!(left_out, 0);
    let whats: Vec<(u32, Happened)> = observed.iter().map(|o| (o.pid, o.what)).collect();
    assert_eq!(
        whats,
        [
            (200, Happened::Forked { parent: 100 }),
            (200, Happened::Setsid),
            (300, Happened::Forked { parent: 200 }),
            (
                200,
                Happened::Exited {
                    how: Some(Ended::Code(0))
                }
            ),
        ]
    );
    assert_eq!(t.events_lost(), None);
}

#[test]
fn an_escape_adopted_by_a_subreaper_ancestor_is_caught_and_the_adopter_noted() {
    let root = non_leader_root();
    let mut t = tracker(root);
    feed(&mut t, &[root]);
    double_fork(&mut t);
    // A subreaper above the root (leaktop never knew it was one) adopts the daemon.
    let mut daemon = setsid_child_of_init(300, 30, 200);
    daemon.ppid = 40;
    let tick = feed(&mut t, &[root, outsider(40, 1, 4, 40), daemon]);
    assert!(row(&tick, 300).escaped);
    assert!(t.adopters.contains(&40), "40 is seen adopting");
}

#[test]
fn a_child_forked_by_a_member_is_a_member_whatever_its_group() {
    let root = non_leader_root();
    let mut t = tracker(root);
    feed(&mut t, &[root]);
    assert_eq!(t.observe(at(5), &fork(100, 201)), Noted::Recorded);
    let mut child = p(201, 100, 20);
    child.pgrp = 201; // a group of its own changes nothing
    let tick = feed(&mut t, &[root, child]);
    let r = row(&tick, 201);
    assert!(!r.escaped && !r.leaked);
    assert!(tick.events.contains(&crate::model::Event::Spawned {
        pid: 201,
        start: 20,
        ppid: 100
    }));
}

#[test]
fn a_parents_exit_orphans_its_member_children_when_it_happens() {
    let root = p(100, ROOT_PARENT, 10);
    let family = [root, p(101, 100, 11), p(102, 101, 12)];
    let mut late = tracker(root);
    let mut t = tracker(root);
    for t in [&mut late, &mut t] {
        t.set_leak_grace(1000);
        update(t, 0, &family);
    }
    assert_eq!(t.observe(at(200), &exit(101)), Noted::Orphaned(vec![102]));
    assert_eq!(t.orphaned_since_tick().collect::<Vec<_>>(), [(102, 200)]);
    let after = [root, p(102, 1, 12)];
    // The grace counts from the exit (200 ms), not from the tick that saw it.
    let tick = update(&mut t, 1300, &after);
    assert!(row(&tick, 102).leaked, "{tick:#?}");
    let tick = update(&mut late, 1300, &after);
    assert!(!row(&tick, 102).leaked, "without events: orphaned at 1300");
    assert_eq!(
        t.orphaned_since_tick().count(),
        0,
        "confirmed, then forgotten"
    );
}

#[test]
fn an_orphaning_the_tick_does_not_confirm_is_forgotten() {
    let root = p(100, ROOT_PARENT, 10);
    let family = [root, p(101, 100, 11), p(102, 101, 12)];
    let mut t = tracker(root);
    update(&mut t, 0, &family);
    // The main thread of 101 exited; its other threads live on: nothing moves.
    assert_eq!(t.observe(at(10), &exit(101)), Noted::Orphaned(vec![102]));
    for ms in [100, 5000] {
        let tick = update(&mut t, ms, &family);
        assert_eq!(tick.leaked_count(), 0, "{tick:#?}");
    }
}

#[test]
fn the_roots_exit_is_dated_by_its_event() {
    let root = p(100, ROOT_PARENT, 10);
    let mut t = tracker(root);
    t.set_leak_grace(500);
    update(&mut t, 0, &[root, p(101, 100, 11)]);
    t.observe(at(100), &exit(100));
    let tick = update(&mut t, 700, &[p(101, 1, 11)]);
    assert!(row(&tick, 101).leaked, "700 ms is past 100 + 500");
}

#[test]
fn lost_events_admit_nobody_and_mark_the_tick_and_its_escapes() {
    let root = non_leader_root();
    let mut t = tracker(root);
    feed(&mut t, &[root]);
    double_fork(&mut t);
    assert_eq!(
        t.observe(at(106), &ProcEvent::Lost { count: Some(3) }),
        Noted::Rescan
    );
    let tick = feed(&mut t, &[root, setsid_child_of_init(300, 30, 200)]);
    assert!(
        tick.processes.iter().all(|r| r.pid != 300),
        "a miss, not a guess"
    );
    assert_eq!(
        t.events_lost(),
        Some(Loss {
            counted: 3,
            uncounted: 0
        })
    );
    assert_eq!(t.events_lost().unwrap().to_string(), "events lost: 3");
    // The next window is clean again.
    let tick = feed(&mut t, &[root]);
    assert_eq!(t.events_lost(), None);
    assert_eq!(tick.leaked_count(), 0);

    // An escape judged from /proc in a window with losses says so.
    let root = p(100, ROOT_PARENT, 10); // leads its group: /proc evidence exists
    let mut t = tracker(root);
    feed(&mut t, &[root]);
    t.observe(at(1), &ProcEvent::Lost { count: None });
    let mut escapee = p(300, 1, 30);
    escapee.session = 999;
    let tick = feed(&mut t, &[root, escapee]);
    assert!(row(&tick, 300).escaped);
    let evidence = evidence(&tick, 300);
    assert!(
        evidence.ends_with("; judged on a window with events lost: an unknown number"),
        "{evidence}"
    );
}

#[test]
fn a_pid_that_exited_is_not_family_when_reused() {
    let root = non_leader_root();
    let mut t = tracker(root);
    feed(&mut t, &[root, p(101, 100, 11)]);
    // 200 forked and gone; an outsider's child now has the pid.
    t.observe(at(1), &fork(100, 200));
    t.observe(at(2), &exit(200));
    assert_eq!(t.observe(at(3), &fork(7, 200)), Noted::Nothing);
    // Member 101 gone; its pid reused by an outsider that forks.
    t.observe(at(4), &exit(101));
    assert_eq!(t.observe(at(5), &fork(101, 400)), Noted::Nothing);
    let tick = feed(
        &mut t,
        &[
            root,
            setsid_child_of_init(200, 40, 200),
            outsider(101, 7, 41, 7),
            setsid_child_of_init(400, 42, 400),
        ],
    );
    assert_eq!(
        tick.processes.iter().map(|r| r.pid).collect::<Vec<_>>(),
        [100]
    );
}

#[test]
fn a_short_life_is_on_record_though_no_tick_saw_it() {
    let root = p(100, ROOT_PARENT, 10);
    let mut t = tracker(root);
    feed(&mut t, &[root]);
    t.observe(at(1), &fork(100, 200));
    t.observe(
        at(2),
        &ProcEvent::Exec {
            task: Task::process(200),
        },
    );
    t.observe(
        at(3),
        &ProcEvent::Exit {
            task: Task::process(200),
            parent: None,
            how: Some(Ended::Signaled {
                signal: 9,
                core: false,
            }),
        },
    );
    t.observe(
        at(2),
        &ProcEvent::Comm {
            task: Task::process(200),
            comm: crate::sample::Comm::new(b"cc1"),
        },
    );
    let tick = feed(&mut t, &[root]);
    assert_eq!(tick.processes.len(), 1);
    assert_eq!(
        tick.events,
        [crate::model::Event::ShortLived {
            pid: 200,
            ppid: 100,
            life_ms: 2,
            exec: true,
            comm: Some("cc1".into()),
            code: None,
            signal: Some(9),
        }],
        "its whole life is in the tick"
    );
    let (observed, _) = t.observed();
    assert_eq!(observed.len(), 3);
    assert_eq!(observed[1].what, Happened::Exec);
    assert_eq!(
        observed[2].what,
        Happened::Exited {
            how: Some(Ended::Signaled {
                signal: 9,
                core: false
            })
        }
    );
    let mut to_sample = Vec::new();
    t.members_to_sample(&mut to_sample);
    assert_eq!(to_sample, [root.id()], "nothing left waiting");
}

#[test]
fn threads_and_strangers_are_nothing_to_the_family() {
    let root = p(100, ROOT_PARENT, 10);
    let mut t = tracker(root);
    feed(&mut t, &[root]);
    let thread = ProcEvent::Fork {
        parent: Task::process(100),
        child: Task {
            pid: 105,
            tgid: 100,
        },
    };
    assert_eq!(t.observe(at(1), &thread), Noted::Nothing);
    assert_eq!(t.observe(at(1), &fork(7, 8)), Noted::Nothing);
    assert_eq!(t.observe(at(1), &exit(7)), Noted::Nothing);
    assert_eq!(t.observe(at(1), &setsid(8)), Noted::Nothing);
    // The watcher is never a member, even forked by one.
    assert_eq!(t.observe(at(1), &fork(100, 60)), Noted::Nothing);
    feed(&mut t, &[root]);
    assert!(t.observed().0.is_empty());
}

#[test]
fn a_fork_storm_is_bounded_and_marked_beyond_the_bound() {
    let root = p(100, ROOT_PARENT, 10);
    let mut t = tracker(root);
    feed(&mut t, &[root]);
    let n = MAX_BORN as u32 + 1;
    let mut rescans = 0;
    for child in 1000..1000 + n {
        if t.observe(at(1), &fork(100, child)) == Noted::Rescan {
            rescans += 1;
        }
    }
    assert_eq!(rescans, 1, "the one past the bound is a loss");
    for child in 1000..1000 + n {
        t.observe(at(2), &exit(child));
    }
    let tick = feed(&mut t, &[root]);
    let listed = tick
        .events
        .iter()
        .filter(|e| matches!(e, crate::model::Event::ShortLived { .. }))
        .count();
    assert_eq!(listed, MAX_SHORT_LISTED, "a bounded number listed");
    let more = tick.events.iter().find_map(|e| match e {
        crate::model::Event::ShortLivedMore { count, failed, .. } => Some((*count, *failed)),
        _ => None,
    });
    // The one past MAX_BORN was a loss, not a life.
    let lives = u64::from(n) - 1;
    assert_eq!(
        more,
        Some((lives - MAX_SHORT_LISTED as u64, 0)),
        "the rest counted"
    );
    let (observed, left_out) = t.observed();
    assert_eq!(observed.len(), MAX_OBSERVED);
    assert_eq!(observed.len() as u64 + left_out, 2 * u64::from(n) - 2);
    assert_eq!(t.events_lost().map(|l| l.counted), Some(1));
}
