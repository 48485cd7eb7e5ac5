//! The tracker driven by synthetic ticks.

use super::*;

pub(super) const ROOT_PARENT: u32 = 50;
pub(super) const SHELL_GROUP: u32 = 50;
/// leaktop itself, started from the root shell it watches.
const WATCHER: u32 = 60;

pub(super) fn p(pid: u32, ppid: u32, start: u64) -> ProcSample {
    ProcSample {
        rss_kb: 1000 + u64::from(pid),
        pgrp: 100,
        session: 100,
        start,
        ..crate::testkit::sample(pid, ppid)
    }
}

/// A process of no family, in a group and session of `group`'s.
pub(super) fn outsider(pid: u32, ppid: u32, start: u64, group: u32) -> ProcSample {
    let mut s = p(pid, ppid, start);
    s.pgrp = group;
    s.session = group;
    s
}

pub(super) fn describe(id: Identity) -> Option<Command> {
    Some(Command {
        name: format!("p{}", id.pid),
        cmd: format!("/bin/p{} --start {}", id.pid, id.start),
    })
}

pub(super) fn tracker(root: ProcSample) -> Tracker {
    let mut parent = p(ROOT_PARENT, 1, 1);
    parent.pgrp = SHELL_GROUP;
    parent.session = SHELL_GROUP;
    Tracker::new(
        root,
        describe(root.id()).unwrap(),
        Outside {
            root_ancestors: vec![],
            root_parent: Some(parent),
            subreapers: vec![],
            watcher: Some(WATCHER),
            watcher_ancestors: vec![],
        },
    )
}

/// Everything on the machine: the samplers return unrelated processes too.
pub(super) fn feed(t: &mut Tracker, samples: &[ProcSample]) -> Tick {
    let mut all = samples.to_vec();
    all.push(outsider(ROOT_PARENT, 1, 1, SHELL_GROUP));
    all.push(outsider(7, 1, 2, 7));
    t.update(&all, &mut describe);
    t.snapshot(0, 0)
}

pub(super) fn row(tick: &Tick, pid: u32) -> &ProcRow {
    tick.processes
        .iter()
        .find(|r| r.pid == pid)
        .unwrap_or_else(|| panic!("{pid} not in {tick:#?}"))
}

fn pids(tick: &Tick) -> Vec<u32> {
    tick.processes.iter().map(|r| r.pid).collect()
}

fn forkserver_family() -> Vec<ProcSample> {
    vec![
        p(100, ROOT_PARENT, 10),
        p(101, 100, 11),
        p(102, 100, 12),
        p(103, 102, 13),
        p(104, 102, 14),
        p(105, 102, 15),
    ]
}

#[test]
fn forkserver_pool_leaks_when_its_parent_is_killed() {
    let family = forkserver_family();
    let mut t = tracker(family[0]);
    let first = feed(&mut t, &family);
    assert_eq!(pids(&first), [100, 101, 102, 103, 104, 105]);
    assert_eq!(first.leaked_count(), 0);
    assert!(
        first.events.is_empty(),
        "tick 1 is the baseline: {:?}",
        first.events
    );

    // kill -KILL 100: init adopts its children; the workers keep their parent 102.
    let mut after: Vec<ProcSample> = family[1..].to_vec();
    after[0].ppid = 1;
    after[1].ppid = 1;
    let second = feed(&mut t, &after);
    assert!(!second.root_alive);
    assert_eq!(second.leaked_count(), 5);
    for pid in [101, 102] {
        let r = row(&second, pid);
        assert_eq!(r.reparented_from, Some(100));
        assert_eq!(r.leaked_since, Some(2));
        assert_eq!(r.ppid, 1);
    }
    for pid in [103, 104, 105] {
        let r = row(&second, pid);
        assert!(r.leaked);
        assert_eq!(
            r.reparented_from, None,
            "workers were not reparented themselves"
        );
    }
    assert!(second.events.contains(&Event::RootExited {
        pid: 100,
        start: 10
    }));
    assert!(second.events.contains(&Event::Reparented {
        pid: 102,
        start: 12,
        from: 100,
        to: 1
    }));
}

#[test]
fn leak_under_a_living_root_is_only_the_reparented_subtree() {
    let family = forkserver_family();
    let mut t = tracker(family[0]);
    feed(&mut t, &family);
    // 102 (the forkserver) dies; its workers go to init while the root lives on.
    let mut after = vec![family[0], family[1], family[3], family[4], family[5]];
    for s in &mut after[2..] {
        s.ppid = 1;
    }
    let tick = feed(&mut t, &after);
    assert!(tick.root_alive);
    assert!(!row(&tick, 100).leaked);
    assert!(!row(&tick, 101).leaked);
    for pid in [103, 104, 105] {
        assert_eq!(row(&tick, pid).reparented_from, Some(102));
    }
    // A child born later under a leaked worker is leaked from birth.
    after.push(p(106, 103, 20));
    let tick = feed(&mut t, &after);
    let child = row(&tick, 106);
    assert!(child.leaked);
    assert_eq!(child.leaked_since, Some(3));
    assert!(tick.events.contains(&Event::Spawned {
        pid: 106,
        start: 20,
        ppid: 103
    }));
}

#[test]
fn healthy_tree_with_churn_is_never_flagged() {
    let root = p(100, ROOT_PARENT, 10);
    let mut t = tracker(root);
    let mut next_pid = 200;
    for tick in 0..200u64 {
        let mut now = vec![root];
        // A short-lived compiler child and its grandchild, reaped by the next tick.
        now.push(p(next_pid, 100, 20 + tick));
        now.push(p(next_pid + 1, next_pid, 20 + tick));
        next_pid += 2;
        let snap = feed(&mut t, &now);
        assert_eq!(snap.leaked_count(), 0, "tick {tick}: {snap:#?}");
    }
    assert_eq!(t.live_members().count(), 3);
}

#[test]
fn reused_pid_of_an_unrelated_process_is_not_a_member() {
    let family = forkserver_family();
    let mut t = tracker(family[0]);
    feed(&mut t, &family);
    // 105 exits, and an unrelated process (parent 7) gets pid 105.
    let mut now = family[..5].to_vec();
    now.push(p(105, 7, 99));
    let tick = feed(&mut t, &now);
    assert!(!pids(&tick).contains(&105));
    assert!(tick.events.contains(&Event::Exited {
        pid: 105,
        start: 15
    }));
    // The impostor stays out even as it lives on.
    let tick = feed(&mut t, &now);
    assert!(!pids(&tick).contains(&105));
}

#[test]
fn reused_pid_inside_the_family_is_a_new_member() {
    let family = forkserver_family();
    let mut t = tracker(family[0]);
    feed(&mut t, &family);
    let mut now = family[..5].to_vec();
    now.push(p(105, 100, 99));
    let tick = feed(&mut t, &now);
    let r = row(&tick, 105);
    assert_eq!(r.start, 99);
    assert!(tick.events.contains(&Event::Exited {
        pid: 105,
        start: 15
    }));
    assert!(tick.events.contains(&Event::Spawned {
        pid: 105,
        start: 99,
        ppid: 100
    }));
}

#[test]
fn root_dying_leaks_everything_still_alive() {
    let root = p(100, ROOT_PARENT, 10);
    let mut t = tracker(root);
    feed(&mut t, &[root, p(101, 100, 11), p(102, 101, 12)]);
    let tick = feed(&mut t, &[p(101, 1, 11), p(102, 101, 12)]);
    assert!(!tick.root_alive);
    assert!(tick.processes.iter().all(|r| r.leaked));
    // Once nothing is left, the family is over.
    feed(&mut t, &[]);
    assert!(!t.any_alive());
}

#[test]
fn escaped_member_is_caught_with_its_evidence() {
    let root = p(100, ROOT_PARENT, 10);
    let mut t = tracker(root);
    feed(&mut t, &[root]);
    // Double-forked between ticks: already init's child when first seen.
    let mut escapee = p(300, 1, 30);
    escapee.session = 999; // setsid'd, but kept the process group
    let mut grandchild = p(301, 300, 31);
    grandchild.session = 999;
    let tick = feed(&mut t, &[root, escapee, grandchild]);
    let r = row(&tick, 300);
    assert!(r.escaped && r.leaked);
    assert!(
        row(&tick, 301).leaked,
        "the escapee's own child is leaked too"
    );
    let evidence = tick
        .events
        .iter()
        .find_map(|e| match e {
            Event::Escaped {
                pid: 300, evidence, ..
            } => Some(evidence.clone()),
            _ => None,
        })
        .expect("escaped event");
    assert!(evidence.contains("parent is init"), "{evidence}");
    assert!(
        evidence.contains("its process group 100 was created by member 100"),
        "{evidence}"
    );
    assert!(!evidence.contains("session"), "{evidence}");
}

#[test]
fn orphans_of_the_root_parents_group_or_older_than_root_are_not_escapees() {
    let root = p(100, ROOT_PARENT, 10);
    let mut t = tracker(root);
    feed(&mut t, &[root]);
    // The user's shell backgrounds a daemon: same group and session as the shell.
    let mut shell_job = p(400, 1, 40);
    shell_job.pgrp = SHELL_GROUP;
    shell_job.session = SHELL_GROUP;
    // An init child in the family's group that predates the root.
    let older = p(401, 1, 5);
    // A stranger with its own session and group.
    let mut stranger = p(402, 1, 41);
    stranger.pgrp = 402;
    stranger.session = 402;
    let tick = feed(&mut t, &[root, shell_job, older, stranger]);
    assert_eq!(pids(&tick), [100]);
}

#[test]
fn exec_rereads_the_command_line() {
    let root = p(100, ROOT_PARENT, 10);
    let mut t = tracker(root);
    let child = p(101, 100, 11);
    feed(&mut t, &[root, child]);
    let mut execd = child;
    execd.comm = Comm::new(b"worker");
    let mut calls = 0;
    let mut all = vec![root, execd];
    all.push(outsider(7, 1, 2, 7));
    t.update(&all, &mut |id| {
        calls += 1;
        Some(Command {
            name: "worker".into(),
            cmd: format!("worker {}", id.pid),
        })
    });
    assert_eq!(calls, 1, "only the exec'd member is re-read");
    assert_eq!(t.member(101).unwrap().command.cmd, "worker 101");
}

#[test]
fn child_and_grandchild_born_in_the_same_jiffy_are_both_members() {
    let root = p(100, ROOT_PARENT, 10);
    let mut t = tracker(root);
    feed(&mut t, &[root]);
    // Same start; the grandchild's pid is lower (pid wrap) so it sorts first.
    let tick = feed(&mut t, &[root, p(500, 100, 50), p(20, 500, 50)]);
    assert_eq!(pids(&tick).len(), 3);
}

#[test]
fn declared_subreaper_adoption_counts_as_evidence() {
    let root = p(100, 4242, 10);
    let mut t = Tracker::new(
        root,
        describe(root.id()).unwrap(),
        Outside {
            root_ancestors: vec![],
            root_parent: None,
            subreapers: vec![4242],
            watcher: None,
            watcher_ancestors: vec![],
        },
    );
    feed(&mut t, &[root]);
    // Even in a group and session of its own.
    let mut adopted = p(600, 4242, 60);
    adopted.pgrp = 600;
    adopted.session = 600;
    let tick = feed(&mut t, &[root, adopted]);
    assert!(row(&tick, 600).escaped);
    assert!(
        matches!(&tick.events[0], Event::Escaped { evidence, .. } if evidence.starts_with("caught by the subreaper"))
    );
}

#[test]
fn a_zombie_root_has_exited_and_zombies_do_not_keep_the_family_alive() {
    let root = p(100, ROOT_PARENT, 10);
    let mut t = tracker(root);
    feed(&mut t, &[root, p(101, 100, 11)]);
    let mut zombie_root = root;
    zombie_root.state = b'Z';
    let tick = feed(&mut t, &[zombie_root, p(101, 1, 11)]);
    assert!(!tick.root_alive);
    assert!(tick.events.contains(&Event::RootExited {
        pid: 100,
        start: 10
    }));
    assert!(row(&tick, 101).leaked);
    let mut zombie_child = p(101, 1, 11);
    zombie_child.state = b'Z';
    feed(&mut t, &[zombie_child]);
    assert!(!t.any_alive());
}

#[test]
fn zombies_handed_to_init_by_a_dying_parent_are_exits_not_leaks() {
    // A whole tree killed at once: the children die with their parent, and init
    // adopts their corpses until it gets round to reaping them.
    let family = forkserver_family();
    let mut t = tracker(family[0]);
    feed(&mut t, &family);
    let corpses: Vec<ProcSample> = family[1..]
        .iter()
        .map(|s| ProcSample {
            ppid: 1,
            state: b'Z',
            rss_kb: 0,
            ..*s
        })
        .collect();
    let tick = feed(&mut t, &corpses);
    // Shown as defunct until reaped, never as leaked.
    assert_eq!(pids(&tick), [101, 102, 103, 104, 105], "{tick:#?}");
    assert!(tick.processes.iter().all(|r| r.state == 'Z' && !r.leaked));
    assert_eq!(tick.leaked_count(), 0);
    assert!(
        !tick
            .events
            .iter()
            .any(|e| matches!(e, Event::Reparented { .. })),
        "{:?}",
        tick.events
    );
    assert!(!t.any_alive());
    // Nor do they join again while they linger, and once reaped they are gone.
    let tick = feed(&mut t, &corpses);
    assert!(tick.processes.iter().all(|r| r.state == 'Z' && !r.leaked));
    assert!(!t.any_alive());
    assert!(t.any_defunct(), "their rows are still shown");
    assert!(feed(&mut t, &[]).processes.is_empty());
    assert!(!t.any_defunct(), "reaped: nothing is left to show");
}

#[test]
fn a_leaked_process_that_dies_is_no_longer_counted() {
    let family = forkserver_family();
    let mut t = tracker(family[0]);
    feed(&mut t, &family);
    let orphans: Vec<ProcSample> = family[1..]
        .iter()
        .map(|s| ProcSample {
            ppid: if s.ppid == 100 { 1 } else { s.ppid },
            ..*s
        })
        .collect();
    assert_eq!(feed(&mut t, &orphans).leaked_count(), 5);
    let mut killed = orphans.clone();
    for s in &mut killed[2..] {
        s.state = b'Z';
    }
    let tick = feed(&mut t, &killed);
    let alive: Vec<u32> = tick
        .processes
        .iter()
        .filter(|r| r.state != 'Z')
        .map(|r| r.pid)
        .collect();
    assert_eq!(alive, [101, 102]);
    assert_eq!(tick.leaked_count(), 2);
    // The dead ones are defunct rows until reaped, not leaks.
    assert!(
        tick.processes
            .iter()
            .filter(|r| r.state == 'Z')
            .all(|r| !r.leaked && [103, 104, 105].contains(&r.pid))
    );
}

#[test]
fn the_watcher_is_never_a_member_even_as_the_roots_child() {
    let root = p(100, ROOT_PARENT, 10);
    let mut t = tracker(root);
    let tick = feed(&mut t, &[root, p(WATCHER, 100, 11), p(101, 100, 12)]);
    assert_eq!(pids(&tick), [100, 101]);
}

#[test]
fn a_followed_restart_makes_a_new_root_and_keeps_the_old_orphans_leaked() {
    let family = forkserver_family();
    let mut t = tracker(family[0]);
    feed(&mut t, &family);
    let mut orphans: Vec<ProcSample> = family[1..].to_vec();
    orphans[0].ppid = 1;
    orphans[1].ppid = 1;
    feed(&mut t, &orphans);

    // The supervisor (the root's parent) starts generation 2, which forks a worker;
    // the monitor hands it over after the update, before the snapshot.
    let gen2 = p(200, ROOT_PARENT, 30);
    let mut now = orphans.clone();
    now.extend([gen2, p(201, 200, 31), p(ROOT_PARENT, 1, 1)]);
    t.update(&now, &mut describe);
    t.follow(gen2, describe(gen2.id()).unwrap(), &now, &mut describe);
    let tick = t.snapshot(0, 0);
    assert!(tick.root_alive);
    assert_eq!(t.root(), gen2.id());
    assert!(tick.events.contains(&Event::RootRestarted {
        pid: 200,
        start: 30,
        previous: 100
    }));
    assert!(!row(&tick, 200).leaked);
    assert!(
        !row(&tick, 201).leaked,
        "its child, seen in the same tick, joins its live tree at once"
    );

    let tick = feed(&mut t, &now);
    assert_eq!(tick.leaked_count(), 5, "{tick:#?}");
    assert!(
        !row(&tick, 201).leaked,
        "the new root's children are its live tree"
    );
    assert!(row(&tick, 102).leaked);

    // Following again while the new root lives changes nothing.
    let gen3 = p(300, ROOT_PARENT, 40);
    t.follow(gen3, describe(gen3.id()).unwrap(), &[gen3], &mut describe);
    assert_eq!(t.root(), gen2.id());
}

/// With a leak grace, an orphan that exits by itself within it is an event, never a
/// leak; one that outlives the grace is a leak from the tick the grace ends.
#[test]
fn orphans_are_leaks_only_once_they_outlive_the_grace() {
    let root = p(100, ROOT_PARENT, 10);
    let mut t = tracker(root);
    t.set_leak_grace(1000);
    let all = |t: &mut Tracker, ms: u64, samples: &[ProcSample]| {
        let mut v = samples.to_vec();
        v.push(outsider(ROOT_PARENT, 1, 1, SHELL_GROUP));
        t.update_at(ms, &v, &mut describe);
        t.snapshot(ms, 0)
    };
    all(&mut t, 0, &[root, p(101, 100, 11), p(102, 100, 12)]);
    // The root dies; both children are reparented to init.
    let tick = all(&mut t, 200, &[p(101, 1, 11), p(102, 1, 12)]);
    assert_eq!(tick.leaked_count(), 0, "within the grace: {tick:#?}");
    // 101 drains and exits 300 ms after it was orphaned.
    let tick = all(&mut t, 500, &[p(102, 1, 12)]);
    assert!(
        tick.events.contains(&Event::OrphanExited {
            pid: 101,
            start: 11,
            after_ms: 300
        }),
        "{:?}",
        tick.events
    );
    assert_eq!(tick.leaked_count(), 0);
    // 102 is still there when the grace has passed: leaked, from this tick.
    let tick = all(&mut t, 1200, &[p(102, 1, 12)]);
    assert!(row(&tick, 102).leaked);
    assert_eq!(row(&tick, 102).leaked_since, Some(t.tick()));
    assert!(!t.undecided());
}

/// leaktop run from inside the tree it watches: its parent shell is a member, shown
/// but never leaked (it outlives the root only because it runs leaktop).
#[test]
fn the_watchers_ancestors_are_members_but_never_leaked() {
    let root = p(100, ROOT_PARENT, 10);
    let shell = p(101, 100, 11);
    let other = p(102, 100, 12);
    let mut t = Tracker::new(
        root,
        describe(root.id()).unwrap(),
        Outside {
            root_parent: Some(outsider(ROOT_PARENT, 1, 1, SHELL_GROUP)),
            root_ancestors: vec![],
            subreapers: vec![],
            watcher: Some(WATCHER),
            watcher_ancestors: vec![shell.id(), root.id()],
        },
    );
    feed(&mut t, &[root, shell, other, p(WATCHER, 101, 20)]);
    // The root exits; both children are reparented to init.
    let tick = feed(&mut t, &[p(101, 1, 11), p(102, 1, 12), p(WATCHER, 101, 20)]);
    assert_eq!(pids(&tick), [101, 102]);
    assert!(!row(&tick, 101).leaked, "leaktop's own parent");
    assert!(row(&tick, 102).leaked);
}

#[test]
fn zombies_never_seen_alive_are_listed_under_their_living_parent() {
    // A parent that forks helpers which exit at once and never waits: each is a zombie
    // at the first tick that sees it.
    let root = p(100, ROOT_PARENT, 10);
    let mut t = tracker(root);
    feed(&mut t, &[root]);
    let zombie = |pid: u32, ppid: u32| ProcSample {
        state: b'Z',
        rss_kb: 0,
        ..p(pid, ppid, u64::from(pid))
    };
    let tick = feed(&mut t, &[root, zombie(101, 100), zombie(102, 100)]);
    assert_eq!(pids(&tick), [100, 101, 102], "{tick:#?}");
    for pid in [101, 102] {
        let r = row(&tick, pid);
        assert!(r.state == 'Z' && !r.leaked && r.rss_kb == 0, "{r:?}");
        assert_eq!(r.ppid, 100);
    }
    assert_eq!(tick.leaked_count(), 0);
    assert_eq!(tick.leaked_rss_kb(), 0);
    // Zombies of a process outside the family are not listed; reaped ones go.
    let tick = feed(&mut t, &[root, zombie(102, 100), zombie(300, 7)]);
    assert_eq!(pids(&tick), [100, 102]);
    // The root ending leaves nothing alive: a zombie keeps no family alive.
    let gone = ProcSample {
        state: b'Z',
        ..root
    };
    feed(&mut t, &[gone, zombie(102, 100)]);
    assert!(!t.any_alive());
}
