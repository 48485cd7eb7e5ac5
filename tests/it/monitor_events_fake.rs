//! The monitor (the core of `record`, `run` and the view) with process events on the
//! fake host: the source named in the header, an escape between two ticks caught, a
//! loss marking the tick, and a member's parent exit heard as an orphaning before the
//! next tick, in order on the fake clock.

use std::time::Duration;

use crate::fakes::host::{FakeHost, Proc};
use leaktop::model::Event;
use leaktop::monitor::Monitor;
use leaktop::sample::Backend;
use leaktop::sample::events::{NoEvents, Source};

const TICK: Duration = Duration::from_secs(1);

/// A shell (50) running the root (100) in the shell's group and session (the root
/// leads neither), with a pool (101) and its worker (102).
fn family() -> FakeHost {
    let fake = FakeHost::new(500);
    fake.add(Proc::new(50, 1, "bash").start(5));
    fake.add(Proc::new(100, 50, "build").group(50, 50));
    fake.add(Proc::new(101, 100, "worker-pool").group(50, 50));
    fake.add(Proc::new(102, 101, "worker").group(50, 50));
    fake
}

fn attach(fake: &FakeHost) -> Monitor {
    let host = fake.host();
    let sampler = host.sampler(Backend::Procfs).unwrap();
    Monitor::attach_on(host, sampler, 100, TICK, Vec::new()).unwrap()
}

#[test]
fn the_header_names_the_source_and_why_the_connector_is_not_it() {
    let fake = family();
    assert_eq!(attach(&fake).header().events.as_deref(), Some("connector"));
    fake.set_events(Source::Pidfd, Some(NoEvents::NotPermitted));
    let monitor = attach(&fake);
    let named = monitor.header().events.clone().unwrap();
    assert!(
        named.starts_with("pidfd (connector: not permitted"),
        "{named}"
    );
    assert!(monitor.listens());
    fake.ticks_only();
    assert!(!attach(&fake).listens());
}

#[test]
fn an_escape_between_two_ticks_is_caught_by_the_monitor() {
    let fake = family();
    let mut monitor = attach(&fake);
    monitor.step().unwrap();
    fake.advance(Duration::from_millis(300));
    let middle = fake.fork(100);
    fake.setsid(middle);
    let daemon = fake.fork(middle);
    fake.exit(middle, 0);
    fake.advance(TICK - Duration::from_millis(300));
    let tick = monitor.step().unwrap();
    let row = tick.processes.iter().find(|r| r.pid == daemon);
    assert!(
        row.is_some_and(|r| r.escaped),
        "{daemon} not caught: {tick:#?}"
    );
    assert!(
        tick.events
            .iter()
            .any(|e| matches!(e, Event::Escaped { pid, evidence, .. } if *pid == daemon && evidence.contains("called setsid"))),
        "{:#?}",
        tick.events
    );
}

#[test]
fn a_loss_marks_the_tick_and_only_that_tick() {
    let fake = family();
    let mut monitor = attach(&fake);
    monitor.step().unwrap();
    fake.drop_events(1);
    let child = fake.fork(100);
    fake.lose_events();
    let tick = monitor.step().unwrap();
    let lost: Vec<&Event> = tick
        .events
        .iter()
        .filter(|e| matches!(e, Event::EventsLost { .. }))
        .collect();
    assert_eq!(
        lost,
        [&Event::EventsLost {
            counted: 1,
            uncounted: 1
        }],
        "{child}"
    );
    fake.advance(TICK);
    let next = monitor.step().unwrap();
    assert!(
        !next
            .events
            .iter()
            .any(|e| matches!(e, Event::EventsLost { .. })),
        "{next:#?}"
    );
}

#[test]
fn a_loss_between_ticks_brings_the_tick_forward() {
    let fake = family();
    let mut monitor = attach(&fake);
    monitor.step().unwrap();
    fake.lose_events();
    let host = fake.host();
    let next = host.now() + TICK;
    assert!(monitor.listen(Some(next)).rescan, "rescan at once");
    assert!(host.now() < next);
}

#[test]
fn a_members_parent_exit_is_heard_as_an_orphaning_before_the_next_tick() {
    for source in [Source::Connector, Source::Pidfd] {
        let fake = family();
        if source != Source::Connector {
            fake.set_events(source, Some(NoEvents::NotPermitted));
        }
        let host = fake.host();
        let attached = fake.elapsed();
        let mut monitor = attach(&fake);
        monitor.step().unwrap();
        let ticks = monitor.tracker().tick();
        let next = host.now() + TICK;
        fake.advance(Duration::from_millis(250));
        fake.exit(101, 0);
        let exited_ms = (fake.elapsed() - attached).as_millis() as u64;
        let mut heard = monitor.listen(Some(next));
        while heard.orphaned.is_empty() && host.now() < next {
            heard = monitor.listen(Some(next));
        }
        assert_eq!(heard.orphaned, [102], "{source}");
        // Heard before the next tick, and dated from the exit.
        assert!(host.now() < next, "{source}");
        assert_eq!(monitor.tracker().tick(), ticks, "{source}: no tick yet");
        let dated: Vec<(u32, u64)> = monitor.tracker().orphaned_since_tick().collect();
        assert!(
            dated
                .iter()
                .any(|&(pid, at)| pid == 102 && at <= exited_ms + 1),
            "{source}: {dated:?}, exited at {exited_ms} ms"
        );
    }
}

#[test]
fn the_view_steps_at_once_when_a_members_parent_exits_and_shows_the_orphan() {
    use leaktop::monitor::TickSource;
    let fake = family();
    let host = fake.host();
    let mut monitor = attach(&fake);
    TickSource::step(&mut monitor).unwrap();
    let next = host.now() + TICK;
    fake.advance(Duration::from_millis(250));
    fake.exit(101, 0);
    let mut step_now = TickSource::listen(&mut monitor, next);
    while !step_now && host.now() < next {
        step_now = TickSource::listen(&mut monitor, next);
    }
    assert!(step_now, "the orphaning brings the step forward");
    assert!(host.now() < next);
    let tick = TickSource::step(&mut monitor).unwrap();
    let orphan = tick.processes.iter().find(|r| r.pid == 102).unwrap();
    assert_eq!(orphan.reparented_from, Some(101), "{tick:#?}");
    assert!(!orphan.leaked, "its verdict waits for the leak grace");
}
