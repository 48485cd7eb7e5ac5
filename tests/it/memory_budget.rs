//! The monitor's rationing of `smaps_rollup` reads (PSS, USS, swap) on the fake host:
//! leaked processes first, the others round-robin, within a tenth of the interval.

use crate::fakes;

use std::time::Duration;

use fakes::host::{FakeHost, Proc};
use leaktop::model::Tick;
use leaktop::monitor::Monitor;

pub(crate) const ROOT: u32 = 4100;

fn family(fake: &FakeHost, workers: u32) {
    fake.add(Proc::new(ROOT, 1, "pool").mem_mb(50, 40, 0));
    for pid in ROOT + 1..=ROOT + workers {
        fake.add(Proc::new(pid, ROOT, "worker").rss_mb(200).mem_mb(30, 2, 1));
    }
}

/// A monitor of the family at [`ROOT`] on `fake`, at a 1 s interval.
pub(crate) fn monitor(fake: &FakeHost) -> Monitor {
    Monitor::attach_on(
        fake.host(),
        Box::new(fake.sampler()),
        ROOT,
        Duration::from_secs(1),
        Vec::new(),
    )
    .unwrap()
}

fn measured(tick: &Tick) -> usize {
    tick.processes.iter().filter(|p| p.pss_kb.is_some()).count()
}

#[test]
fn a_cheap_family_is_measured_whole_every_tick() {
    let fake = FakeHost::new(500);
    family(&fake, 6);
    let mut m = monitor(&fake);
    let tick = m.step().unwrap();
    assert_eq!(measured(&tick), 7);
    let w = tick.processes.iter().find(|p| p.pid == ROOT + 1).unwrap();
    assert_eq!(
        (w.pss_kb, w.uss_kb, w.swap_kb, w.mem_tick),
        (Some(30 * 1024), Some(2 * 1024), Some(1024), Some(1))
    );
}

#[test]
fn reads_stay_within_a_tenth_of_the_interval_reach_everyone_in_turn_then_rest() {
    let fake = FakeHost::new(500);
    family(&fake, 12);
    let mut m = monitor(&fake);
    // Every call leaktop makes costs 30 ms: a 100 ms budget affords two or three reads.
    fake.set_call_cost(Duration::from_millis(30));
    let mut last = None;
    let mut per_tick = Vec::new();
    for _ in 1..=10 {
        let before = fake.memory_reads().len();
        let tick = m.step().unwrap();
        per_tick.push(fake.memory_reads().len() - before);
        // What was read once stays known, with the tick it was read at.
        for p in &tick.processes {
            if let Some(at) = p.mem_tick {
                assert!(at <= tick.tick);
                assert!(p.pss_kb.is_some());
            }
        }
        last = Some(tick);
        fake.advance(Duration::from_secs(1));
    }
    assert!(
        per_tick.iter().all(|&n| n <= 3) && per_tick[0] >= 1,
        "reads per tick for a 100 ms budget at 30 ms each: {per_tick:?}"
    );
    assert_eq!(
        measured(&last.unwrap()),
        13,
        "round-robin reaches every member"
    );
    // Sleepers whose RSS does not move are not read again until their figures age.
    assert_eq!(per_tick[8..], [0, 0], "{per_tick:?}");
}

#[test]
fn leaked_processes_are_read_first_and_unreadable_ones_stay_unknown() {
    let fake = FakeHost::new(500);
    fake.add(Proc::new(ROOT, 1, "pool"));
    fake.add(Proc::new(ROOT + 1, ROOT, "forkserver").mem_mb(5, 5, 0));
    for pid in ROOT + 2..ROOT + 8 {
        fake.add(Proc::new(pid, ROOT + 1, "live").mem_mb(30, 2, 0));
    }
    // A parent whose workers it leaks when it dies.
    fake.add(Proc::new(ROOT + 9, ROOT, "parent").mem_mb(5, 5, 0));
    for pid in ROOT + 10..ROOT + 13 {
        fake.add(Proc::new(pid, ROOT + 9, "worker").mem_mb(30, 2, 0));
    }
    // Another user's process: its smaps_rollup cannot be read.
    fake.add(Proc::new(ROOT + 13, ROOT + 9, "worker"));
    let mut m = monitor(&fake);
    m.step().unwrap();
    fake.exit(ROOT + 9, 0);
    // Now reads are dear: two or three a tick.
    fake.set_call_cost(Duration::from_millis(30));
    let leaked: Vec<u32> = (ROOT + 10..ROOT + 14).collect();
    let mut tick = m.step().unwrap();
    for _ in 0..5 {
        if tick.leaked_count() > 0 {
            break;
        }
        fake.advance(Duration::from_secs(1));
        let before = fake.memory_reads().len();
        tick = m.step().unwrap();
        if tick.leaked_count() > 0 {
            // Newly leaked: read first, before any other member.
            let reads = &fake.memory_reads()[before..];
            assert!(!reads.is_empty());
            assert!(reads.iter().all(|id| leaked.contains(&id.pid)), "{reads:?}");
        }
    }
    assert_eq!(tick.leaked_count(), 4, "{tick:?}");
    // Until every leaked process is read, and then some.
    for _ in 0..3 {
        fake.advance(Duration::from_secs(1));
        tick = m.step().unwrap();
    }
    let unreadable = tick.processes.iter().find(|p| p.pid == ROOT + 13).unwrap();
    assert_eq!(unreadable.pss_kb, None, "unknown is None, never 0");
    let sum = tick.leaked_pss_kb();
    assert_eq!((sum.kb, sum.unknown), (3 * 30 * 1024, 1));
}

/// The pids whose memory one step read.
fn reads_of_step(fake: &FakeHost, m: &mut Monitor) -> (Tick, Vec<u32>) {
    let before = fake.memory_reads().len();
    let tick = m.step().unwrap();
    let mut pids: Vec<u32> = fake.memory_reads()[before..]
        .iter()
        .map(|id| id.pid)
        .collect();
    pids.sort_unstable();
    (tick, pids)
}

#[test]
fn pss_is_read_again_only_where_rss_moved_or_a_process_sharing_pages_forked_or_exited() {
    let fake = FakeHost::new(500);
    // Two pools of two workers each, forked from the root.
    let (a, b) = (ROOT + 1, ROOT + 4);
    fake.add(Proc::new(ROOT, 1, "server").mem_mb(50, 40, 0));
    for (pool, workers) in [(a, [a + 1, a + 2]), (b, [b + 1, b + 2])] {
        fake.add(Proc::new(pool, ROOT, "pool").mem_mb(40, 10, 0));
        for w in workers {
            fake.add(Proc::new(w, pool, "worker").rss_mb(200).mem_mb(30, 2, 0));
        }
    }
    let mut m = monitor(&fake);
    let (_, read) = reads_of_step(&fake, &mut m);
    assert_eq!(read.len(), 7, "everyone at first: {read:?}");
    fake.advance(Duration::from_secs(1));
    let (tick, read) = reads_of_step(&fake, &mut m);
    assert!(read.is_empty(), "nothing changed, nothing read: {read:?}");
    // Carried figures say when they were read.
    assert!(
        tick.processes.iter().all(|p| p.mem_tick == Some(1)),
        "{tick:#?}"
    );
    // A worker of pool a exits: its pool and its sibling, not pool b.
    fake.exit(a + 1, 0);
    fake.advance(Duration::from_secs(1));
    assert_eq!(reads_of_step(&fake, &mut m).1, [a, a + 2]);
    // Pool b forks: the pool, its workers and the new one.
    let child = fake.fork(b);
    fake.add(fake.get(child).unwrap().mem_mb(30, 2, 0));
    fake.advance(Duration::from_secs(1));
    assert_eq!(reads_of_step(&fake, &mut m).1, [b, b + 1, b + 2, child]);
    fake.advance(Duration::from_secs(1));
    assert!(reads_of_step(&fake, &mut m).1.is_empty());
    // One worker's RSS moves: that worker alone.
    fake.add(fake.get(b + 1).unwrap().rss_mb(300));
    fake.advance(Duration::from_secs(1));
    let (tick, read) = reads_of_step(&fake, &mut m);
    assert_eq!(read, [b + 1]);
    let at = |pid| {
        tick.processes
            .iter()
            .find(|p| p.pid == pid)
            .unwrap()
            .mem_tick
    };
    assert_eq!((at(b + 1), at(ROOT)), (Some(tick.tick), Some(1)));
}
