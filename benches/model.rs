//! The pure parts of a tick, without /proc: the tracker's update on a synthetic tick,
//! the view's history taking a tick, and parsing a large recording in both formats.
//!
//! Run with `cargo bench --bench model`.

// Benches and tests may unwrap: a failure there is the report.
#![allow(clippy::unwrap_used)]

use divan::Bencher;
use leaktop::format::{Format, Recording};
use leaktop::model::tracker::Outside;
use leaktop::model::{Header, Tick, Tracker};
use leaktop::sample::{Comm, Command, Identity, ProcSample};
use leaktop::ui::history::History;

const FAMILY: u32 = 150;

fn main() {
    divan::main();
}

fn sample(k: u32, t: u32) -> ProcSample {
    let pid = 1000 + k;
    ProcSample {
        rss_kb: 20_000 + u64::from((k * 37 + t * 11) % 500) * 4,
        pgrp: 1000,
        session: 1000,
        cpu_ms: u64::from(t) * 10 * u64::from(k % 3),
        comm: Comm::new(b"worker"),
        ..leaktop::testkit::sample(pid, if k == 0 { 1 } else { 1000 + (k - 1) / 8 })
    }
}

fn describe(id: Identity) -> Option<Command> {
    Some(Command {
        name: "worker".into(),
        cmd: format!("python3 -m worker --shard {}", id.pid),
    })
}

fn tracker() -> Tracker {
    Tracker::new(
        sample(0, 0),
        describe(sample(0, 0).id()).unwrap(),
        Outside {
            root_ancestors: vec![],
            root_parent: None,
            subreapers: Vec::new(),
            watcher: None,
            watcher_ancestors: vec![],
        },
    )
}

/// `n` ticks of a 150-process family (a tree eight wide) whose RSS moves every tick.
fn ticks(n: u32) -> Vec<Tick> {
    let mut t = tracker();
    (1..=n)
        .map(|tick| {
            let samples: Vec<ProcSample> = (0..FAMILY).map(|k| sample(k, tick)).collect();
            t.update(&samples, &mut describe);
            t.snapshot(
                u64::from(tick) * 1000,
                1_795_000_000_000 + u64::from(tick) * 1000,
            )
        })
        .collect()
}

/// One steady-state tick of the tracker: update from 150 samples, then snapshot.
#[divan::bench]
fn tracker_update_150(bencher: Bencher) {
    let mut t = tracker();
    let mut tick = 0;
    let mut samples = Vec::with_capacity(FAMILY as usize);
    bencher.bench_local(|| {
        tick += 1;
        samples.clear();
        samples.extend((0..FAMILY).map(|k| sample(k, tick)));
        t.update(&samples, &mut describe);
        t.snapshot(0, 0).processes.len()
    });
}

/// The view's history taking one more tick of 150 processes.
#[divan::bench]
fn history_push_150(bencher: Bencher) {
    let ticks = ticks(600);
    let mut history = History::default();
    let mut next = ticks.iter().cycle();
    bencher.bench_local(|| history.push(next.next().unwrap().clone()));
}

/// Decoding a past tick (the worst case: the last before a keyframe).
#[divan::bench]
fn history_decode_past_tick_150(bencher: Bencher) {
    let mut history = History::default();
    for t in ticks(600) {
        history.push(t);
    }
    bencher.bench_local(|| history.get(510).map(|t| t.processes.len()));
}

/// Parsing a recording of 600 ticks of 150 processes.
#[divan::bench(args = [Format::Text, Format::Ndjson])]
fn parse_recording_600x150(bencher: Bencher, format: Format) {
    let recording = Recording {
        header: Header {
            root_pid: 1000,
            root_start: 1000,
            root_cmd: "python3 -m worker".into(),
            interval_ms: 1000,
            started_ms: 1_795_000_000_000,
            host: "bench".into(),
            events: None,
            start_clock: None,
        },
        ticks: ticks(600),
        truncated: None,
    };
    let content = recording.write(format);
    bencher
        .counter(divan::counter::BytesCount::new(content.len()))
        .bench_local(|| format.parse(&content).map(|r| r.ticks.len()).unwrap());
}

/// The alert detector's per-tick cost: one tick of 150 processes (the root with eight
/// children, each with eight, as above) whose RSS moves every tick, after an hour of
/// ticks at 1 s so its summaries are as deep as they get in an hour.
#[divan::bench]
fn alerts_observe_150(bencher: Bencher) {
    use leaktop::model::AlertConfig;
    use leaktop::model::alerts::AlertDetector;
    let mut detector = AlertDetector::new(AlertConfig::default());
    let mut history = ticks(3600);
    for t in &history {
        detector.observe(t);
    }
    let mut n = 3600;
    bencher.bench_local(|| {
        n += 1;
        let t = &mut history[n as usize % 3600];
        t.tick = n;
        t.elapsed_ms = u64::from(n) * 1000;
        t.time_ms = 1_795_000_000_000 + u64::from(n) * 1000;
        detector.observe(t).len()
    });
}
