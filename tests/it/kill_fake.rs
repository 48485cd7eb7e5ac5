//! The safe kill against the fake host: what it must never signal, and the trees it
//! must end whole, with a clock that makes a 3 s grace take microseconds.

use crate::fakes;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Duration;

use fakes::host::{FakeHost, Proc, Reaction};
use leaktop::actions::kill::{KillReport, kill_owned, kill_trees};
use leaktop::host::{Frozen, Signal};
use leaktop::sample::events::{NoEvents, Source};

const GRACE: Duration = Duration::from_secs(3);

/// The living processes that got SIGSTOP and no SIGCONT after it: left frozen.
fn left_frozen(fake: &FakeHost) -> Vec<u32> {
    let mut last: std::collections::BTreeMap<u32, Signal> = Default::default();
    for (pid, s) in fake.signals() {
        if s == Signal::STOP || s == Signal::CONT {
            last.insert(pid, s);
        }
    }
    let mut frozen: Vec<u32> = last
        .into_iter()
        .filter(|&(pid, s)| s == Signal::STOP && fake.alive(pid))
        .map(|(pid, _)| pid)
        .collect();
    frozen.extend(fake.stopped());
    frozen.sort_unstable();
    frozen.dedup();
    frozen
}

fn skipped(report: &KillReport) -> Vec<u32> {
    let mut pids: Vec<u32> = report.skipped.iter().map(|(id, _)| id.pid).collect();
    pids.sort_unstable();
    pids
}

#[test]
fn init_leaktop_and_its_ancestors_are_never_signalled() {
    // init 1 ─ sh 300 ─┬─ bash 400 ─ leaktop 500
    //                  └─ worker 310
    //        ─ server 200 ─ child 210
    let fake = FakeHost::new(500);
    fake.add(Proc::new(300, 1, "sh"));
    fake.add(Proc::new(310, 300, "worker"));
    fake.add(Proc::new(400, 300, "bash"));
    fake.add(Proc::new(500, 400, "leaktop"));
    fake.add(Proc::new(200, 1, "server"));
    fake.add(Proc::new(210, 200, "child"));
    let targets = [1, 300, 400, 500, 200].map(|pid| fake.target(pid));

    let report = kill_trees(fake.host().as_ref(), &targets, Signal::TERM, GRACE, true);

    let signalled: std::collections::BTreeSet<u32> =
        fake.signals().iter().map(|(pid, _)| *pid).collect();
    assert_eq!(signalled, [200, 210].into(), "{:?}", fake.signals());
    let tried: std::collections::BTreeSet<u32> =
        fake.attempts().iter().map(|(id, ..)| id.pid).collect();
    assert_eq!(tried, [200, 210].into(), "{:?}", fake.attempts());
    assert_eq!(skipped(&report), [1, 300, 400, 500], "{report:?}");
    assert!(
        report
            .skipped
            .iter()
            .all(|(_, why)| why.contains("protected")),
        "{report:?}"
    );
    for pid in [1, 300, 310, 400, 500] {
        assert!(fake.alive(pid), "{pid} must be untouched");
    }
    assert!(!fake.alive(200) && !fake.alive(210));
    assert_eq!(left_frozen(&fake), Vec::<u32>::new());
}

#[test]
fn a_reused_pid_is_never_signalled() {
    let fake = FakeHost::new(500);
    fake.add(Proc::new(600, 1, "old"));
    fake.add(Proc::new(601, 600, "old-child"));
    let stale = fake.target(600);
    // 600 exits; its pid goes to an unrelated process (a later start time), which has
    // a child of its own.
    fake.exit(600, 0);
    fake.add(Proc::new(600, 1, "new").start(99_999));
    fake.add(Proc::new(602, 600, "new-child"));

    let report = kill_trees(fake.host().as_ref(), &[stale], Signal::KILL, GRACE, true);

    assert!(fake.attempts().is_empty(), "nothing may even be tried");
    assert!(
        fake.alive(600) && fake.alive(602),
        "the new process is left alone"
    );
    assert_eq!(skipped(&report), [600], "{report:?}");
    assert!(report.skipped[0].1.contains("reused"), "{report:?}");
    assert!(report.ended.is_empty() && report.survived.is_empty());
}

#[test]
fn a_child_forked_on_term_is_killed_too() {
    let fake = FakeHost::new(500);
    // A daemon whose TERM handler starts a helper and takes 100 ms to exit.
    fake.add(Proc::new(700, 1, "daemon").on(
        Signal::TERM,
        Reaction::Fork(Box::new(Reaction::DieAfter(Duration::from_millis(100)))),
    ));

    let report = kill_trees(
        fake.host().as_ref(),
        &[fake.target(700)],
        Signal::TERM,
        GRACE,
        false,
    );

    let helpers = fake.descendants(700);
    assert_eq!(helpers.len(), 1, "the handler forked one helper");
    let helper = helpers[0];
    // (The CONT that follows finds it gone.)
    assert_eq!(fake.signals_to(helper), [Signal::TERM]);
    assert!(
        !fake.alive(700) && !fake.alive(helper),
        "{:?}",
        fake.processes()
    );
    assert_eq!(report.ended.len(), 2, "{report:?}");
    assert!(report.survived.is_empty(), "{report:?}");
    assert!(fake.elapsed() < GRACE, "done once both had gone");
}

#[test]
fn a_term_ignoring_process_that_keeps_forking_is_killed_whole_with_escalate() {
    let fake = FakeHost::new(500);
    // Every call leaktop makes takes 1 ms, and the process forks every 10 ms while it
    // runs: children appear between any two steps of the kill, the SIGKILL round too.
    fake.set_call_cost(Duration::from_millis(1));
    fake.add(
        Proc::new(800, 1, "spawner")
            .on(Signal::TERM, Reaction::Ignore)
            .forks_every(Duration::from_millis(10)),
    );

    let no_escalation = kill_trees(
        fake.host().as_ref(),
        &[fake.target(800)],
        Signal::TERM,
        Duration::from_millis(200),
        false,
    );
    assert_eq!(
        no_escalation
            .survived
            .iter()
            .map(|id| id.pid)
            .collect::<Vec<_>>(),
        [800],
        "TERM alone leaves it: {no_escalation:?}"
    );
    assert!(fake.alive(800));
    assert_eq!(left_frozen(&fake), Vec::<u32>::new(), "nothing left frozen");

    let report = kill_trees(
        fake.host().as_ref(),
        &[fake.target(800)],
        Signal::TERM,
        GRACE,
        true,
    );

    let family = fake.descendants(800);
    assert!(family.len() > 100, "it forked all along: {}", family.len());
    let alive: Vec<u32> = std::iter::once(800)
        .chain(family)
        .filter(|&pid| fake.alive(pid))
        .collect();
    assert_eq!(
        alive,
        Vec::<u32>::new(),
        "every process of the family must be gone"
    );
    assert!(report.survived.is_empty(), "{report:?}");
    assert!(fake.signals_to(800).contains(&Signal::KILL));
    assert_eq!(left_frozen(&fake), Vec::<u32>::new(), "nothing left frozen");
}

#[test]
fn a_tree_that_survives_the_grace_is_resumed_not_left_frozen() {
    let fake = FakeHost::new(500);
    fake.add(Proc::new(900, 1, "stubborn").on(Signal::TERM, Reaction::Ignore));
    fake.add(Proc::new(901, 900, "stubborn-child").on(Signal::TERM, Reaction::Ignore));
    let report = kill_trees(
        fake.host().as_ref(),
        &[fake.target(900)],
        Signal::TERM,
        GRACE,
        false,
    );
    let survived: Vec<u32> = report.survived.iter().map(|id| id.pid).collect();
    assert_eq!(survived, [900, 901], "{report:?}");
    for pid in [900, 901] {
        assert_eq!(
            fake.signals_to(pid),
            [Signal::STOP, Signal::TERM, Signal::CONT]
        );
    }
    assert_eq!(left_frozen(&fake), Vec::<u32>::new());
    // The grace was waited in fake time, in polls.
    assert!(fake.elapsed() >= GRACE, "{:?}", fake.elapsed());
}

#[test]
fn frozen_resumes_what_it_stopped_when_a_panic_unwinds() {
    let fake = FakeHost::new(500);
    let a = fake.add(Proc::new(1000, 1, "a"));
    let b = fake.add(Proc::new(1001, 1000, "b"));
    let host = fake.host();
    let result = catch_unwind(AssertUnwindSafe(|| {
        let mut frozen = Frozen::new();
        for id in [a, b] {
            assert!(frozen.freeze(host.pin(id).unwrap()).is_ok());
        }
        assert_eq!(fake.stopped(), [1000, 1001]);
        panic!("a bug mid-kill");
    }));
    assert!(result.is_err());
    for pid in [1000, 1001] {
        assert_eq!(fake.signals_to(pid), [Signal::STOP, Signal::CONT]);
    }
    assert_eq!(fake.stopped(), Vec::<u32>::new());
}

#[test]
fn what_a_kill_frees_is_the_pss_of_what_ended_with_the_private_floor() {
    let fake = FakeHost::new(500);
    // A pool whose workers share their parent's pages: 200 MiB RSS each, 30 MiB PSS.
    fake.add(Proc::new(1100, 1, "pool").rss_mb(210).mem_mb(40, 10, 0));
    for pid in 1101..=1103 {
        fake.add(Proc::new(pid, 1100, "worker").rss_mb(200).mem_mb(30, 2, 0));
    }
    // One the caller has no PSS for (another user's, or not measured yet).
    fake.add(Proc::new(1104, 1100, "worker").rss_mb(200));
    let targets: Vec<_> = (1100..=1104).map(|pid| fake.target(pid)).collect();
    let report = kill_trees(fake.host().as_ref(), &targets, Signal::TERM, GRACE, true);
    assert_eq!(report.ended.len(), 5, "{report:?}");
    assert_eq!(report.freed_rss_kb, (210 + 4 * 200) * 1024);
    assert_eq!(
        (report.freed_pss.kb, report.freed_pss.unknown),
        ((40 + 3 * 30) * 1024, 1)
    );
    assert_eq!(
        (report.freed_uss.kb, report.freed_uss.unknown),
        ((10 + 3 * 2) * 1024, 1)
    );
    assert_eq!(
        leaktop::format::freed::freed_text(report.freed_rss_kb, report.freed_pss, report.freed_uss),
        "~130 MiB freed (PSS) + 1 process of unknown PSS; at least 16 MiB private; RSS 1010 MiB"
    );
}

/// A kill told to stop waiting (the view quitting) still signals and resumes the whole
/// tree, but waits out no grace and escalates nothing: the TERM-ignoring child is left
/// running, not frozen, and reported as a survivor.
#[test]
fn a_stopped_kill_signals_resumes_and_returns_without_waiting() {
    let fake = FakeHost::new(500);
    fake.add(Proc::new(100, 1, "server"));
    fake.add(Proc::new(101, 100, "stubborn").on(Signal::TERM, Reaction::Ignore));
    let stop = std::sync::atomic::AtomicBool::new(true);
    let before = fake.elapsed();
    let report = leaktop::actions::kill::kill_trees_until(
        fake.host().as_ref(),
        &[fake.target(100)],
        Signal::TERM,
        GRACE,
        true,
        &stop,
    );
    assert!(!fake.alive(100));
    assert!(fake.alive(101));
    assert_eq!(
        fake.signals_to(101),
        [Signal::STOP, Signal::TERM, Signal::CONT]
    );
    assert!(left_frozen(&fake).is_empty(), "{:?}", fake.signals());
    assert_eq!(
        report.survived.iter().map(|i| i.pid).collect::<Vec<_>>(),
        [101]
    );
    assert!(fake.elapsed() - before < Duration::from_secs(1), "waited");
}

/// A target in a session a live shell shares, whose SIGTERM handler double-forks:
/// the grandchild is orphaned before any child list shows it. Where forks can be
/// watched (root), the fork events tie it to the target: it is ended and counted;
/// the shell is never signalled.
#[test]
fn fork_events_follow_a_double_fork_where_the_session_is_shared() {
    let fake = FakeHost::new(500);
    fake.add(Proc::new(600, 1, "bash").group(600, 600));
    fake.add(
        Proc::new(700, 1, "daemon")
            .group(700, 600)
            .on(Signal::TERM, Reaction::DoubleFork(Box::new(Reaction::Die))),
    );
    let target = fake.target(700);
    let report = kill_owned(fake.host().as_ref(), &[target], Signal::TERM, GRACE);
    let escaped: Vec<u32> = report.escaped.iter().map(|id| id.pid).collect();
    assert_eq!(escaped.len(), 1, "the grandchild: {report:?}");
    assert!(!fake.alive(escaped[0]), "{:?}", fake.processes());
    assert!(report.ended.contains(&report.escaped[0]));
    assert!(
        report
            .lineage
            .iter()
            .any(|(p, from)| p.pid == escaped[0] && from.pid == 700),
        "{report:?}"
    );
    assert!(report.not_ended(&[target.id]).is_empty());
    assert!(report.untied.is_empty(), "{report:?}");
    assert!(
        fake.signals_to(600).is_empty(),
        "the shell is never signalled"
    );
}

/// Without fork events and in a shared session, the same grandchild cannot be tied
/// to the target: it is never signalled, and reported as untied.
#[test]
fn without_fork_events_a_newcomer_to_a_shared_session_is_untied_and_never_signalled() {
    let fake = FakeHost::new(500);
    fake.set_events(Source::Ticks, Some(NoEvents::NotPermitted));
    fake.add(Proc::new(600, 1, "bash").group(600, 600));
    fake.add(
        Proc::new(700, 1, "daemon")
            .group(700, 600)
            .on(Signal::TERM, Reaction::DoubleFork(Box::new(Reaction::Die))),
    );
    let report = kill_owned(
        fake.host().as_ref(),
        &[fake.target(700)],
        Signal::TERM,
        GRACE,
    );
    assert!(report.escaped.is_empty(), "{report:?}");
    assert_eq!(report.untied.len(), 1, "{report:?}");
    let grandchild = report.untied[0].pid;
    assert!(fake.alive(grandchild));
    assert!(fake.signals_to(grandchild).is_empty());
    assert!(fake.signals_to(600).is_empty());
}

/// A pid the fork events saw exit may name another process afterwards: what that
/// one forks is not the kill's, however it came by the pid.
#[test]
fn a_fork_by_a_pid_that_exited_and_was_reused_is_not_taken_for_the_kills() {
    let fake = FakeHost::new(500);
    fake.add(Proc::new(600, 1, "bash").group(600, 600));
    fake.add(Proc::new(700, 1, "daemon").group(700, 600));
    // Held before the trees are resumed: the target is frozen, its TERM pending.
    let hold = fake.hold_signal(Signal::CONT);
    let host = fake.host();
    let target = fake.target(700);
    let kill =
        std::thread::spawn(move || kill_owned(host.as_ref(), &[target], Signal::TERM, GRACE));
    assert!(hold.wait_reached(Duration::from_secs(10)));
    // The target forks a child that exits; a stranger in another session takes the
    // child's pid and forks in its turn.
    let child = fake.fork(700);
    fake.exit(child, 0);
    fake.add(Proc::new(child, 1, "stranger").group(child, child));
    let strangers_child = fake.fork(child);
    // So does the target itself: it exits, and its pid goes to another stranger.
    fake.exit(700, 0);
    fake.add(
        Proc::new(700, 1, "stranger")
            .group(700, 700)
            .start(9_999_999),
    );
    let second_strangers_child = fake.fork(700);
    hold.release();
    let report = kill.join().unwrap();
    let strangers: Vec<_> = [child, strangers_child, 700, second_strangers_child]
        .map(|pid| fake.get(pid).unwrap().id())
        .into();
    for id in &strangers {
        assert!(fake.alive(id.pid), "{id}: {report:?}");
        let reached: Vec<_> = fake
            .attempts()
            .into_iter()
            .filter(|(to, _, r)| to == id && r.is_ok())
            .collect();
        assert!(reached.is_empty(), "{id}: {reached:?}");
    }
    assert!(report.escaped.is_empty(), "{report:?}");
    assert!(report.lineage.is_empty(), "{report:?}");
}
