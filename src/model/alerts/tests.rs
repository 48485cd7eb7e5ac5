//! The detector on synthetic ticks, timed on a fake clock in milliseconds.

use super::*;
use crate::model::ProcRow;

mod shapes;

const MIB: u64 = 1024;

fn row(pid: u32, ppid: u32, rss_kb: u64, cpu_ms: u64) -> ProcRow {
    ProcRow {
        rss_kb,
        cpu_ms,
        ..crate::testkit::row(pid, ppid)
    }
}

fn zombie(pid: u32, ppid: u32) -> ProcRow {
    ProcRow {
        state: 'Z',
        rss_kb: 0,
        ..crate::testkit::row(pid, ppid)
    }
}

/// Tick `n` (1-based), `at_ms` after the first.
fn tick_at(n: u32, at_ms: u64, processes: Vec<ProcRow>) -> Tick {
    Tick {
        tick: n,
        elapsed_ms: at_ms,
        time_ms: 1_000_000 + at_ms,
        root_alive: true,
        processes,
        events: Vec::new(),
        alerts: Vec::new(),
    }
}

/// One tick a second.
fn tick(n: u32, processes: Vec<ProcRow>) -> Tick {
    tick_at(n, u64::from(n - 1) * 1000, processes)
}

fn kinds(alerts: &[Alert]) -> Vec<(AlertKind, u32)> {
    alerts.iter().map(|a| (a.kind, a.pid)).collect()
}

/// A run on the fake clock: the alerts at each tick, with the tick's time (ms).
struct Run {
    ticks: Vec<(u64, Vec<Alert>)>,
}

impl Run {
    /// `secs` seconds of ticks every `step_ms`, the family at `t` ms given by `f`.
    fn new(config: AlertConfig, step_ms: u64, secs: u64, f: impl Fn(u64) -> Vec<ProcRow>) -> Run {
        let mut d = AlertDetector::new(config);
        let ticks = (0..=secs * 1000 / step_ms)
            .map(|i| {
                let at = i * step_ms;
                (at, d.observe(&tick_at(i as u32 + 1, at, f(at))))
            })
            .collect();
        Run { ticks }
    }

    /// When (ms) an alert of `kind` first stood.
    fn first(&self, kind: AlertKind) -> Option<u64> {
        self.ticks
            .iter()
            .find(|(_, a)| a.iter().any(|a| a.kind == kind))
            .map(|(t, _)| *t)
    }

    /// The first alert of any kind, for a message.
    fn any(&self) -> Option<&(u64, Vec<Alert>)> {
        self.ticks.iter().find(|(_, a)| !a.is_empty())
    }

    /// Whether an alert of `kind` stands at every tick from `from_ms` on.
    fn stands_from(&self, kind: AlertKind, from_ms: u64) -> bool {
        self.ticks
            .iter()
            .filter(|(t, _)| *t >= from_ms)
            .all(|(_, a)| a.iter().any(|a| a.kind == kind))
    }
}

/// A busy parent (pid 1) and the children alive at `t` ms: pids from `first_pid`.
fn family(t: u64, children: impl IntoIterator<Item = u32>) -> Vec<ProcRow> {
    let mut rows = vec![row(1, 0, 20 * MIB, t / 10)];
    rows.extend(children.into_iter().map(|c| row(c, 1, 2 * MIB, 1)));
    rows
}

#[test]
fn a_child_every_ten_seconds_is_accumulating_within_four_minutes_at_any_interval() {
    for step in [200, 1000] {
        let run = Run::new(AlertConfig::default(), step, 360, |t| {
            family(t, (0..=(t / 10_000) as u32).map(|c| 100 + c))
        });
        let at = run.first(AlertKind::Accumulating).expect("flagged");
        // At least the minimum span of evidence, and within four minutes.
        assert!((120_000..=240_000).contains(&at), "{step} ms: at {at} ms");
        assert!(run.stands_from(AlertKind::Accumulating, at), "{step} ms");
        let last = &run.ticks.last().unwrap().1;
        assert_eq!(kinds(last), [(AlertKind::Accumulating, 1)]);
        assert!(
            last[0]
                .reason
                .starts_with("children that stay rose in each of 5 parts"),
            "{}",
            last[0].reason
        );
        assert!(
            last[0].reason.ends_with("(37 children now)"),
            "{}",
            last[0].reason
        );
    }
}

#[test]
fn a_child_every_two_seconds_is_accumulating_once_the_minimum_span_has_passed() {
    let run = Run::new(AlertConfig::default(), 200, 200, |t| {
        family(t, (0..=(t / 2000) as u32).map(|c| 100 + c))
    });
    let at = run.first(AlertKind::Accumulating).expect("flagged");
    assert!((120_000..=150_000).contains(&at), "at {at} ms");
}

#[test]
fn a_child_every_two_minutes_is_caught_when_the_evidence_is_clear() {
    let run = Run::new(AlertConfig::default(), 1000, 4 * 3600, |t| {
        family(t, (0..=(t / 120_000) as u32).map(|c| 100 + c))
    });
    let at = run.first(AlertKind::Accumulating).expect("flagged");
    assert!((600_000..=3_600_000).contains(&at), "at {at} ms");
}

#[test]
fn children_that_end_clear_the_alert_at_once() {
    // A child every 5 s for 4 minutes, then the parent ends them all.
    let run = Run::new(AlertConfig::default(), 1000, 300, |t| {
        let n = if t < 240_000 { (t / 5000) as u32 } else { 0 };
        family(t, (0..n).map(|c| 100 + c))
    });
    assert!(run.first(AlertKind::Accumulating).is_some());
    assert!(
        run.ticks
            .iter()
            .filter(|(t, _)| *t >= 240_000)
            .all(|(_, a)| a.is_empty())
    );
}

#[test]
fn children_held_after_the_count_stops_rising_keep_the_alert_standing() {
    // Issue 26, fault 5 (seed 001): a child every 5 s for 4 minutes, then none, all
    // of them held for 10 minutes more, then ended.
    let run = Run::new(AlertConfig::default(), 1000, 900, |t| {
        let n = if t < 240_000 {
            (t / 5000) as u32
        } else if t < 840_000 {
            48
        } else {
            0
        };
        family(t, (0..n).map(|c| 100 + c))
    });
    let at = run.first(AlertKind::Accumulating).expect("flagged");
    let held: Vec<_> = run
        .ticks
        .iter()
        .filter(|(t, _)| (at..840_000).contains(t))
        .collect();
    assert!(
        held.iter()
            .all(|(_, a)| kinds(a) == [(AlertKind::Accumulating, 1)]),
        "stands while they are held"
    );
    let since: Vec<u32> = held.iter().map(|(_, a)| a[0].since_tick).collect();
    assert!(
        since.windows(2).all(|w| w[0] == w[1]),
        "one alert, never re-raised"
    );
    let late = &held.last().unwrap().1[0].reason;
    assert!(
        late.starts_with("still holds 48 children that stay"),
        "{late}"
    );
    assert!(
        run.ticks
            .iter()
            .filter(|(t, _)| *t >= 840_000)
            .all(|(_, a)| a.is_empty()),
        "clears once they go"
    );
}

#[test]
fn replacing_every_child_at_every_tick_is_not_accumulating() {
    // The count rises, but no child lives from one tick to the next.
    let run = Run::new(AlertConfig::default(), 1000, 600, |t| {
        let n = (t / 10_000) as u32;
        family(t, (0..n).map(|c| 1_000_000 + (t / 1000) as u32 * 1000 + c))
    });
    assert!(run.any().is_none(), "{:?}", run.any());
}

/// 23 MiB that keeps 10 MiB of each 30 s cycle: 20 MiB taken in the first half of
/// the cycle, 10 given back in the second.
fn ratchet_30s(t: u64) -> u64 {
    let cycle = t / 30_000;
    let within = t % 30_000;
    23 * MIB + cycle * 10 * MIB + if within < 15_000 { 20 * MIB } else { 10 * MIB }
}

#[test]
fn ten_mib_kept_per_thirty_second_cycle_is_a_ratchet_within_four_minutes() {
    for step in [200, 1000] {
        let run = Run::new(AlertConfig::default(), step, 300, |t| {
            vec![row(1, 0, ratchet_30s(t), t / 10)]
        });
        let at = run.first(AlertKind::RssRatchet).expect("flagged");
        assert!((120_000..=240_000).contains(&at), "{step} ms: at {at} ms");
        assert!(run.stands_from(AlertKind::RssRatchet, at), "{step} ms");
        let last = &run.ticks.last().unwrap().1[0];
        assert!(
            last.reason
                .starts_with("RSS low-water mark rose in each of 5 parts of the last"),
            "{}",
            last.reason
        );
    }
}

#[test]
fn a_ratchet_every_six_seconds_is_found_after_the_minimum_span() {
    let run = Run::new(AlertConfig::default(), 200, 200, |t| {
        vec![row(1, 0, 30 * MIB + (t / 6000) * 10 * MIB, t / 10)]
    });
    let at = run.first(AlertKind::RssRatchet).expect("flagged");
    assert!((120_000..=150_000).contains(&at), "at {at} ms");
}

#[test]
fn memory_given_back_clears_a_ratchet() {
    let run = Run::new(AlertConfig::default(), 1000, 400, |t| {
        let rss = if t < 300_000 {
            ratchet_30s(t)
        } else {
            23 * MIB
        };
        vec![row(1, 0, rss, t / 10)]
    });
    assert!(run.first(AlertKind::RssRatchet).is_some());
    assert!(
        run.ticks
            .iter()
            .filter(|(t, _)| *t >= 300_000)
            .all(|(_, a)| a.is_empty())
    );
}

#[test]
fn a_shorter_span_catches_sooner_and_a_larger_growth_needs_more() {
    let fast = AlertConfig {
        ratchet_span_ms: 30_000,
        ..AlertConfig::default()
    };
    let run = Run::new(fast, 200, 100, |t| {
        vec![row(1, 0, 30 * MIB + (t / 3000) * MIB, t / 10)]
    });
    let at = run.first(AlertKind::RssRatchet).expect("flagged");
    assert!((30_000..=60_000).contains(&at), "at {at} ms");
    let greedy = AlertConfig {
        ratchet_min_growth_pct: 1000.0,
        ..AlertConfig::default()
    };
    let run = Run::new(greedy, 1000, 300, |t| {
        vec![row(1, 0, ratchet_30s(t), t / 10)]
    });
    assert_eq!(run.first(AlertKind::RssRatchet), None);
}

#[test]
fn idle_memory_holders_and_busy_or_small_ones() {
    let config = AlertConfig {
        idle_after_ms: 10_000,
        idle_min_rss_kb: 100 * 1024,
        ..AlertConfig::default()
    };
    let mut d = AlertDetector::new(config);
    let out: Vec<Vec<Alert>> = (1..=20)
        .map(|n| {
            d.observe(&tick(
                n,
                vec![
                    row(1, 0, 150 * 1024, 500),                // big and asleep: idle
                    row(2, 1, 150 * 1024, u64::from(n) * 100), // big but busy
                    row(3, 1, 10 * 1024, 500),                 // asleep but small
                ],
            ))
        })
        .collect();
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

/// A parent (pid 1) that forks a child every second which exits at once and is never
/// reaped: `n` zombies after `n` seconds.
fn zombie_pile(t: u64) -> Vec<ProcRow> {
    let mut rows = vec![row(1, 0, 20 * MIB, t / 10)];
    rows.extend((0..(t / 1000) as u32).map(|c| zombie(100 + c, 1)));
    rows
}

#[test]
fn a_parent_that_never_reaps_raises_zombies_within_seconds() {
    for step in [200, 1000] {
        let run = Run::new(AlertConfig::default(), step, 60, zombie_pile);
        let at = run.first(AlertKind::Zombies).expect("flagged");
        // Five zombies at 5 s, held for three seconds.
        assert_eq!(at, 8000, "{step} ms");
        assert!(run.stands_from(AlertKind::Zombies, at));
        let last = &run.ticks.last().unwrap().1;
        // Zombies are no children that stay: no accumulating alert.
        assert_eq!(kinds(last), [(AlertKind::Zombies, 1)], "{step} ms");
        assert_eq!(last[0].reason, "60 unreaped children (zombies) for 55s");
    }
}

#[test]
fn a_moment_with_several_zombies_is_no_alert() {
    // A parent that reaps every few seconds: 8 zombies for a second at a time.
    let run = Run::new(AlertConfig::default(), 200, 300, |t| {
        let mut rows = vec![row(1, 0, 20 * MIB, t / 10)];
        if t % 5000 < 1000 {
            rows.extend((0..8).map(|c| zombie(100_000 + (t / 5000) as u32 * 8 + c, 1)));
        }
        rows
    });
    assert!(run.any().is_none(), "{:?}", run.any());
}

#[test]
fn a_rising_count_of_zombies_raises_zombies_below_the_minimum() {
    // The rising count alone: no zombie is held long enough to raise it by itself.
    let config = AlertConfig {
        zombies_min: 1000,
        zombie_after_ms: u64::MAX,
        ..AlertConfig::default()
    };
    let run = Run::new(config, 1000, 300, |t| {
        let mut rows = vec![row(1, 0, 20 * MIB, t / 10)];
        rows.extend((0..(t / 10_000) as u32).map(|c| zombie(100 + c, 1)));
        rows
    });
    let at = run.first(AlertKind::Zombies).expect("flagged");
    assert!((120_000..=240_000).contains(&at), "at {at} ms");
    let reason = &run.ticks.last().unwrap().1[0].reason;
    assert!(
        reason.starts_with("unreaped children (zombies) rose"),
        "{reason}"
    );
}

#[test]
fn zombies_of_a_dead_parent_raise_nothing() {
    // The parent itself is a zombie: nobody is holding them.
    let run = Run::new(AlertConfig::default(), 1000, 30, |t| {
        let mut rows = vec![zombie(1, 0)];
        rows.extend((0..10).map(|c| zombie(100 + c, 1)));
        rows.push(row(2, 0, 1000, t));
        rows
    });
    assert!(run.any().is_none(), "{:?}", run.any());
}

#[test]
fn the_same_process_is_flagged_at_the_same_time_at_any_interval() {
    let at = |step| {
        Run::new(AlertConfig::default(), step, 360, |t| {
            family(t, (0..=(t / 10_000) as u32).map(|c| 100 + c))
        })
        .first(AlertKind::Accumulating)
        .unwrap()
    };
    // The views' lengths are whole numbers of intervals: the times differ by that
    // rounding, not by a factor of the interval.
    let times = [at(100), at(200), at(1000), at(2000)];
    let (min, max) = (times.iter().min().unwrap(), times.iter().max().unwrap());
    assert!(max - min <= 15_000, "{times:?}");
}

#[test]
fn kinds_round_trip_their_names() {
    for k in AlertKind::ALL {
        assert_eq!(AlertKind::from_name(k.name()), Some(k));
    }
    assert_eq!(AlertKind::from_name("leaky"), None);
    assert_eq!(
        AlertKind::names(),
        "accumulating, idle, rss_ratchet, zombies, stopped"
    );
}

/// The README's table: how long each default takes to flag the leaks it lists, at 1 s.
#[test]
fn the_readme_detection_times() {
    let child_every = |period_ms: u64, secs| {
        Run::new(AlertConfig::default(), 1000, secs, |t| {
            family(t, (0..=(t / period_ms) as u32).map(|c| 100 + c))
        })
        .first(AlertKind::Accumulating)
    };
    let ratchet_every = |period_ms: u64, mib: u64, secs| {
        Run::new(AlertConfig::default(), 1000, secs, |t| {
            let (cycle, within) = (t / period_ms, t % period_ms);
            let rss = 23 * MIB
                + cycle * mib * MIB
                + if within < period_ms / 2 {
                    2 * mib * MIB
                } else {
                    mib * MIB
                };
            vec![row(1, 0, rss, t / 10)]
        })
        .first(AlertKind::RssRatchet)
    };
    let zombie_every = |period_ms: u64, secs| {
        Run::new(AlertConfig::default(), 1000, secs, |t| {
            let mut rows = vec![row(1, 0, 20 * MIB, t / 10)];
            rows.extend((0..(t / period_ms) as u32).map(|c| zombie(100 + c, 1)));
            rows
        })
        .first(AlertKind::Zombies)
    };
    // What, when it was flagged, and the README's bound: measured 2m, 2m, 6m 56s,
    // 1h 4m, 2m, 2m 32s, 32m, 8s, 5m 3s.
    let found = [
        ("child every 2s", child_every(2000, 600), 130),
        ("child every 10s", child_every(10_000, 600), 150),
        ("child every 1m", child_every(60_000, 3600), 8 * 60),
        ("child every 10m", child_every(600_000, 6 * 3600), 70 * 60),
        ("10MB per 6s", ratchet_every(6000, 10, 600), 130),
        ("10MB per 30s", ratchet_every(30_000, 10, 600), 180),
        ("10MB per 5m", ratchet_every(300_000, 10, 4 * 3600), 35 * 60),
        ("zombie every 1s", zombie_every(1000, 60), 8),
        ("zombie every 1m", zombie_every(60_000, 3600), 5 * 60 + 10),
    ];
    for (what, at, bound_s) in found {
        let at = at.unwrap_or_else(|| panic!("{what}: never flagged"));
        // Never sooner than the minimum span of evidence (but zombies held).
        assert!(
            at >= 120_000 || what.starts_with("zombie"),
            "{what}: {}",
            span(at)
        );
        assert!(at <= bound_s * 1000, "{what}: {} > {bound_s}s", span(at));
    }
}

#[test]
fn a_small_ratchet_is_caught_once_it_has_risen_by_the_minimum() {
    // 1 MiB kept every 30 s: 8 MiB after four minutes, and the history long enough.
    let run = Run::new(AlertConfig::default(), 1000, 1200, |t| {
        let (cycle, within) = (t / 30_000, t % 30_000);
        let rss = 5 * MIB + cycle * MIB + if within < 15_000 { 2 * MIB } else { MIB };
        vec![row(1, 0, rss, t / 10)]
    });
    let at = run.first(AlertKind::RssRatchet).expect("flagged");
    assert!((240_000..=600_000).contains(&at), "at {at} ms");
}

/// A server child OOM-killed under a parent that never reaps it: one zombie, below
/// `zombies_min`, raises `zombies` once it has stayed `zombie_after_ms`; one reaped at
/// once never does.
#[test]
fn one_zombie_left_unreaped_for_long_raises_zombies() {
    let config = AlertConfig::default();
    let after = config.zombie_after_ms;
    let run = Run::new(config, 1000, 120, |t| {
        let mut rows = vec![row(1, 0, 20 * MIB, t / 10)];
        if t >= 10_000 {
            rows.push(zombie(100, 1));
        }
        rows
    });
    let at = run.first(AlertKind::Zombies).expect("flagged");
    assert!(
        (10_000 + after..=12_000 + after).contains(&at),
        "at {at} ms"
    );
    let reason = &run.ticks.last().unwrap().1[0].reason;
    assert!(
        reason.contains("child 100 exited") && reason.contains("unreaped"),
        "{reason}"
    );
    // A parent that reaps: a zombie now and then, each for a tick.
    let run = Run::new(AlertConfig::default(), 1000, 300, |t| {
        let mut rows = vec![row(1, 0, 20 * MIB, t / 10)];
        if t % 7000 == 0 {
            rows.push(zombie(100 + (t / 1000) as u32, 1));
        }
        rows
    });
    assert!(run.any().is_none(), "{:?}", run.any());
}

/// A worker left stopped (a profiler detached with a SIGSTOP pending): `stopped` once
/// it has been `T` for `stopped_after_ms`, and cleared when it is continued; a
/// debugger's tracing stop (`t`) and a short stop raise nothing.
#[test]
fn a_member_stopped_for_long_raises_stopped_until_continued() {
    let after = AlertConfig::default().stopped_after_ms;
    let state = |t: u64| match t {
        10_000..=100_000 => 'T',
        _ => 'S',
    };
    let run = Run::new(AlertConfig::default(), 1000, 120, |t| {
        vec![
            row(1, 0, 20 * MIB, t / 10),
            ProcRow {
                state: state(t),
                ..row(2, 1, 20 * MIB, 0)
            },
        ]
    });
    let at = run.first(AlertKind::Stopped).expect("flagged");
    assert_eq!(at, 10_000 + after);
    assert!(
        run.ticks
            .iter()
            .filter(|(t, _)| (at..=100_000).contains(t))
            .all(|(_, a)| kinds(a) == [(AlertKind::Stopped, 2)]),
        "it stands while stopped"
    );
    let last = &run.ticks.last().unwrap().1;
    assert!(last.is_empty(), "continued, it clears: {last:?}");
    for (state, until) in [('t', 100_000), ('T', 10_000 + after - 2000)] {
        let run = Run::new(AlertConfig::default(), 1000, 120, |t| {
            vec![
                row(1, 0, 20 * MIB, t / 10),
                ProcRow {
                    state: if (10_000..=until).contains(&t) {
                        state
                    } else {
                        'S'
                    },
                    ..row(2, 1, 20 * MIB, t / 10)
                },
            ]
        });
        assert!(
            run.first(AlertKind::Stopped).is_none(),
            "{state} until {until}"
        );
    }
}

/// One zombie held past `--zombies-min 1` is one unreaped child, not "1 unreaped
/// children" (issue 28).
#[test]
fn one_zombie_is_counted_in_the_singular() {
    let config = AlertConfig {
        zombies_min: 1,
        zombie_after_ms: u64::MAX,
        ..AlertConfig::default()
    };
    let run = Run::new(config, 1000, 10, |t| {
        let mut rows = vec![row(1, 0, 20 * MIB, t / 10)];
        rows.push(zombie(100, 1));
        rows
    });
    let last = &run.ticks.last().unwrap().1;
    assert_eq!(kinds(last), [(AlertKind::Zombies, 1)]);
    assert_eq!(last[0].reason, "1 unreaped child (zombie) for 10s");
}
