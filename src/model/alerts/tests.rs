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
    assert!(
        out[39][0].reason.contains("rose from 11 to 40"),
        "{}",
        out[39][0].reason
    );
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
    let out = run(AlertConfig::default(), 60, ratchet);
    assert!(out[48].is_empty(), "5 windows are not full yet");
    assert_eq!(kinds(&out[49]), [(AlertKind::RssRatchet, 1)]);
    assert!(
        out[49][0].reason.contains("50 MiB to 66 MiB"),
        "{}",
        out[49][0].reason
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
fn kinds_round_trip_their_names() {
    for k in AlertKind::ALL {
        assert_eq!(AlertKind::from_name(k.name()), Some(k));
    }
    assert_eq!(AlertKind::from_name("leaky"), None);
}
