//! Process events on the fake host, fed to the tracker the way the watching loops are
//! to feed them (see `common::watch`): the escape between two ticks caught with the
//! connector and missed without it, losses marking the tick, and a parent's exit seen
//! at once through the pidfd fallback, in order on the fake clock.

use std::time::Duration;

use crate::common::watch::{TICK, Watch};
use crate::fakes::host::{FakeHost, Proc};
use leaktop::model::tracker::Noted;
use leaktop::sample::events::{EventRequest, NoEvents, Source};

/// A shell (50) running the root (100) in the shell's group and session: the root
/// leads neither.
fn shell_and_root() -> FakeHost {
    let fake = FakeHost::new(500);
    fake.add(Proc::new(50, 1, "bash").start(5));
    fake.add(Proc::new(100, 50, "build").group(50, 50));
    fake
}

/// The root forks a child that calls setsid, forks the daemon and exits; the daemon's pid.
fn daemonize(fake: &FakeHost) -> u32 {
    let middle = fake.fork(100);
    fake.setsid(middle);
    let daemon = fake.fork(middle);
    fake.exit(middle, 0);
    daemon
}

#[test]
fn an_escape_between_two_ticks_is_caught_with_the_connector() {
    let fake = shell_and_root();
    let mut w = Watch::attach(fake.host(), 100, EventRequest::default());
    assert_eq!(w.events.source(), Source::Connector);
    w.step();
    fake.advance(Duration::from_millis(300));
    let daemon = daemonize(&fake);
    let tick = w.step();
    let row = tick.processes.iter().find(|r| r.pid == daemon);
    assert!(
        row.is_some_and(|r| r.escaped && r.leaked),
        "{daemon} not caught: {tick:#?}"
    );
    let evidence = format!("{:?}", tick.events);
    assert!(
        evidence.contains("called setsid") && evidence.contains("adopted by pid 1 when"),
        "{evidence}"
    );
}

#[test]
fn without_events_the_same_escape_is_the_documented_miss() {
    let fake = shell_and_root();
    fake.set_events(Source::Ticks, Some(NoEvents::NotPermitted));
    let mut w = Watch::attach(fake.host(), 100, EventRequest::default());
    assert_eq!(w.events.fallback_reason(), Some(&NoEvents::NotPermitted));
    w.step();
    let daemon = daemonize(&fake);
    let tick = w.step();
    assert!(tick.processes.iter().all(|r| r.pid != daemon), "{tick:#?}");
    assert!(fake.alive(daemon), "it runs on, unseen");
}

#[test]
fn dropped_events_mark_the_tick_and_admit_nobody() {
    let fake = shell_and_root();
    let mut w = Watch::attach(fake.host(), 100, EventRequest::default());
    w.step();
    // The exit of the middle process is dropped: its pid might be anyone's now.
    let middle = fake.fork(100);
    fake.setsid(middle);
    let daemon = fake.fork(middle);
    fake.drop_events(1);
    fake.exit(middle, 0);
    let tick = w.step();
    assert!(tick.processes.iter().all(|r| r.pid != daemon), "{tick:#?}");
    let lost = w.tracker.events_lost().expect("the tick is marked");
    assert_eq!(lost.to_string(), "events lost: 1");
    assert!(w.noted.iter().any(|(_, n)| *n == Noted::Rescan));
}

#[test]
fn with_pidfds_a_parents_exit_orphans_its_children_before_the_next_tick() {
    let fake = shell_and_root();
    fake.set_events(Source::Pidfd, Some(NoEvents::NotPermitted));
    fake.add(Proc::new(101, 100, "worker-pool").group(50, 50));
    fake.add(Proc::new(102, 101, "worker").group(50, 50));
    let mut w = Watch::attach(fake.host(), 100, EventRequest::default());
    w.step();
    w.step();
    let before = w.tracker.tick();
    fake.advance(Duration::from_millis(250));
    fake.exit(101, 0);
    let exited_ms = fake.elapsed().as_millis() as u64;
    // Between two ticks: the watcher wakes for the exit, not at the tick.
    w.take_events(TICK);
    assert_eq!(w.tracker.tick(), before, "no tick yet");
    let (at, noted) = w.noted.last().cloned().expect("the exit, seen at once");
    assert_eq!(noted, Noted::Orphaned(vec![102]));
    assert_eq!(
        w.tracker.orphaned_since_tick().collect::<Vec<_>>(),
        [(102, at)]
    );
    assert!(
        at <= exited_ms + 1,
        "seen at {at} ms, exited at {exited_ms} ms"
    );
    let tick = w.step();
    let row = tick.processes.iter().find(|r| r.pid == 102).unwrap();
    assert_eq!(row.reparented_from, Some(101));
}
