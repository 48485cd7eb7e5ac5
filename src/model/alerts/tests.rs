use super::*;
use crate::model::ProcRow;

fn row(pid: u32, ppid: u32, rss_kb: u64, cpu_ms: u64) -> ProcRow {
    ProcRow {
        pid,
        ppid,
        state: 'S',
        rss_kb,
        start: u64::from(pid),
        cpu_ms,
        name: format!("p{pid}"),
        cmd: String::new(),
        leaked: false,
        reparented_from: None,
        escaped: false,
        leaked_since: None,
        pss_kb: None,
        uss_kb: None,
        swap_kb: None,
        mem_tick: None,
    }
}

fn tick(n: u32, processes: Vec<ProcRow>) -> Tick {
    Tick {
        tick: n,
        elapsed_ms: u64::from(n - 1) * 1000,
        time_ms: 1_000_000 + u64::from(n - 1) * 1000,
        root_alive: true,
        processes,
        events: Vec::new(),
        alerts: Vec::new(),
    }
}

fn kinds(alerts: &[Alert]) -> Vec<(AlertKind, u32)> {
    alerts.iter().map(|a| (a.kind, a.pid)).collect()
}

/// Runs `ticks` ticks built by `f`, returning the alerts of each.
fn run(config: AlertConfig, ticks: u32, f: impl Fn(u32) -> Vec<ProcRow>) -> Vec<Vec<Alert>> {
    let mut d = AlertDetector::new(config);
    (1..=ticks).map(|n| d.observe(&tick(n, f(n)))).collect()
}

#[test]
fn a_parent_that_never_ends_its_children_is_accumulating() {
    // One more child every tick, none ending; the parent keeps busy (no idle alert).
    let out = run(AlertConfig::default(), 40, |n| {
        let mut rows = vec![row(1, 0, 1000, u64::from(n) * 10)];
        rows.extend((0..n).map(|c| row(100 + c, 1, 500, u64::from(n) * 10)));
        rows
    });
    assert!(
        out[28].is_empty(),
        "the window is not full yet: {:?}",
        out[28]
    );
    assert_eq!(kinds(&out[29]), [(AlertKind::Accumulating, 1)]);
    assert_eq!(out[39][0].since_tick, 30, "since stays where it began");
    assert_eq!(
        out[39][0].reason,
        "children that stay rose from 11 to 35 over 30 ticks (40 children now)"
    );
}

#[test]
fn a_burst_of_jobs_or_a_pool_starting_up_is_not() {
    // make -j8: nothing, then eight jobs at once, each replaced as it ends.
    let build = run(AlertConfig::default(), 60, |n| {
        let mut rows = vec![row(1, 0, 1000, u64::from(n) * 10)];
        if n > 12 {
            rows.extend((0..8).map(|c| row(100_000 + 8 * (n / 2) + c, 1, 500, 1)));
        }
        rows
    });
    assert!(
        build.iter().all(Vec::is_empty),
        "{:?}",
        build.iter().find(|a| !a.is_empty())
    );
    // Pools that start eight long-lived workers: over a few ticks, or in two batches.
    for batches in [[15, 16, 17, 18], [15, 15, 25, 25]] {
        let pool = run(AlertConfig::default(), 60, |n| {
            let mut rows = vec![row(1, 0, 1000, u64::from(n) * 10)];
            let started = 2 * batches.iter().filter(|&&b| n >= b).count() as u32;
            rows.extend((0..started).map(|c| row(100 + c, 1, 500, 1)));
            rows
        });
        assert!(
            pool.iter().all(Vec::is_empty),
            "{batches:?}: {:?}",
            pool.iter().find(|a| !a.is_empty())
        );
    }
}

#[test]
fn a_leak_among_short_helpers_stands_without_flickering() {
    // One child kept every other tick; short helpers come and go around them.
    let out = run(AlertConfig::default(), 80, |n| {
        let mut rows = vec![row(1, 0, 1000, u64::from(n) * 10)];
        rows.extend((0..n / 2).map(|c| row(100 + c, 1, 500, 1)));
        if n % 2 == 0 {
            rows.extend((0..4).map(|c| row(10_000 * n + c, 1, 500, 1)));
        }
        rows
    });
    let first = out.iter().position(|a| !a.is_empty()).expect("flagged");
    assert!(first < 40, "flagged at tick {}", first + 1);
    for (i, alerts) in out.iter().enumerate().skip(first) {
        assert_eq!(
            kinds(alerts),
            [(AlertKind::Accumulating, 1)],
            "tick {}",
            i + 1
        );
        assert_eq!(alerts[0].since_tick as usize, first + 1, "tick {}", i + 1);
    }
}

#[test]
fn a_parent_that_reaps_its_children_is_not() {
    // A build: children come and go by the hundred, the count rises and falls.
    let out = run(AlertConfig::default(), 60, |n| {
        let mut rows = vec![row(1, 0, 1000, u64::from(n) * 10)];
        let live = 3 + (n % 7);
        rows.extend((0..live).map(|c| row(1000 * n + c, 1, 500, u64::from(n))));
        rows
    });
    assert!(
        out.iter().all(Vec::is_empty),
        "{:?}",
        out.iter().find(|a| !a.is_empty())
    );
}

#[test]
fn replacing_old_children_with_new_ones_is_not_accumulating() {
    // The count rises, but the children of the window's start have ended: a pool
    // that recycles its workers while growing is not piling them up.
    let out = run(AlertConfig::default(), 40, |n| {
        let mut rows = vec![row(1, 0, 1000, u64::from(n) * 10)];
        rows.extend((0..n).map(|c| row(10_000 * n + c, 1, 500, u64::from(n))));
        rows
    });
    assert!(out.iter().all(Vec::is_empty));
}

#[test]
fn idle_memory_holders_and_busy_or_small_ones() {
    let config = AlertConfig {
        idle_after_ms: 10_000,
        idle_min_rss_kb: 100 * 1024,
        ..AlertConfig::default()
    };
    let out = run(config, 20, |n| {
        vec![
            row(1, 0, 150 * 1024, 500),                // big and asleep: idle
            row(2, 1, 150 * 1024, u64::from(n) * 100), // big but busy
            row(3, 1, 10 * 1024, 500),                 // asleep but small
        ]
    });
    assert!(out[9].is_empty(), "10 s have not passed yet");
    assert_eq!(kinds(&out[10]), [(AlertKind::Idle, 1)]);
    assert!(
        out[10][0]
            .reason
            .contains("no CPU used for 10s while holding 150 MiB"),
        "{}",
        out[10][0].reason
    );

    // It ends as soon as the process uses CPU again.
    let mut d = AlertDetector::new(AlertConfig {
        idle_after_ms: 2_000,
        ..AlertConfig::default()
    });
    for n in 1..=3 {
        d.observe(&tick(n, vec![row(1, 0, 200 * 1024, 5)]));
    }
    assert_eq!(d.observe(&tick(4, vec![row(1, 0, 200 * 1024, 5)])).len(), 1);
    assert!(
        d.observe(&tick(5, vec![row(1, 0, 200 * 1024, 6)]))
            .is_empty()
    );
}

#[test]
fn a_rising_low_water_mark_is_a_ratchet_a_steady_sawtooth_is_not() {
    // Each 10-tick cycle grows by 10 MiB and frees only 6.
    let ratchet = |n: u32| {
        let cycle = u64::from((n - 1) / 10);
        let within = u64::from((n - 1) % 10);
        let base = 50 * 1024 + cycle * 4 * 1024;
        vec![row(1, 0, base + within * 1024, u64::from(n))]
    };
    // The first window is start-up; five more must be full.
    let out = run(AlertConfig::default(), 70, ratchet);
    assert!(out[58].is_empty(), "5 windows are not full yet");
    assert_eq!(kinds(&out[59]), [(AlertKind::RssRatchet, 1)]);
    assert!(
        out[59][0].reason.contains("54 MiB to 70 MiB"),
        "{}",
        out[59][0].reason
    );

    // Grows by 10 MiB per cycle and frees it all: a steady server.
    let steady = |n: u32| {
        vec![row(
            1,
            0,
            50 * 1024 + u64::from((n - 1) % 10) * 1024,
            u64::from(n),
        )]
    };
    assert!(
        run(AlertConfig::default(), 100, steady)
            .iter()
            .all(Vec::is_empty)
    );
}

#[test]
fn a_process_starting_from_nothing_is_no_ratchet() {
    // Read mid-exec at 0 B, then a server that warms up and holds steady.
    let out = run(AlertConfig::default(), 100, |n| {
        let rss = match n {
            1 => 0,
            2..10 => u64::from(n) * 4 * 1024,
            _ => 60 * 1024 + u64::from(n % 3) * 100,
        };
        vec![row(1, 0, rss, u64::from(n))]
    });
    assert!(
        out.iter().all(Vec::is_empty),
        "{:?}",
        out.iter().find(|a| !a.is_empty())
    );
}

#[test]
fn kinds_round_trip_their_names() {
    for k in AlertKind::ALL {
        assert_eq!(AlertKind::from_name(k.name()), Some(k));
    }
    assert_eq!(AlertKind::from_name("leaky"), None);
}
