//! The compact history gives back exactly the ticks it was given.

use super::*;
use crate::model::AlertKind;

fn row(pid: u32, ppid: u32, rss_kb: u64) -> ProcRow {
    ProcRow {
        pid,
        ppid,
        state: 'S',
        rss_kb,
        start: u64::from(pid) * 3,
        cpu_ms: 0,
        name: format!("p{pid}"),
        cmd: format!("/usr/bin/p{pid} --serve"),
        leaked: false,
        reparented_from: None,
        escaped: false,
        leaked_since: None,
        pss_kb: None,
        uss_kb: None,
        swap_kb: None,
        mem_tick: None,
        gpu_kb: None,
    }
}

/// A family that grows, loses members, leaks, execs, raises alerts and restarts, with
/// RSS and CPU moving every tick.
fn ticks(n: u32) -> Vec<Tick> {
    (1..=n)
        .map(|t| {
            let mut processes: Vec<ProcRow> = (0..12)
                .filter(|k| (t + k) % 17 != 0) // members come and go
                .map(|k| {
                    let pid = 100 + k;
                    let mut p = row(pid, if k == 0 { 1 } else { 100 }, 0);
                    p.rss_kb = 10_000 + u64::from((t * 37 + k * 11) % 900) * 4;
                    p.cpu_ms = u64::from(t / (k + 1)) * 10;
                    p.state = if (t + k) % 5 == 0 { 'R' } else { 'S' };
                    if k == 3 && t > 40 {
                        p.ppid = 1;
                        p.leaked = true;
                        p.reparented_from = Some(100);
                        p.leaked_since = Some(41);
                    }
                    if k == 4 && t > 70 {
                        p.name = "python3".into();
                        p.cmd = format!("python3 worker.py {k}");
                    }
                    p
                })
                .collect();
            processes.sort_by_key(|p| (p.start, p.pid));
            let mut events = Vec::new();
            if t == 41 {
                events.push(Event::Reparented {
                    pid: 103,
                    start: 309,
                    from: 100,
                    to: 1,
                });
            }
            if t == 90 {
                events.push(Event::RootRestarted {
                    pid: 100,
                    start: 300,
                    previous: 99,
                });
            }
            let alerts = if t > 50 {
                vec![Alert {
                    kind: AlertKind::Idle,
                    pid: 105,
                    start: 315,
                    since_tick: 51,
                    reason: format!("no CPU used for {t}s"),
                }]
            } else {
                Vec::new()
            };
            Tick {
                tick: t,
                elapsed_ms: u64::from(t) * 1000,
                time_ms: 1_795_000_000_000 + u64::from(t) * 1000,
                root_alive: t % 31 != 0,
                processes,
                events,
                alerts,
            }
        })
        .collect()
}

fn history(ticks: &[Tick]) -> History {
    let mut h = History::default();
    for t in ticks {
        h.push(t.clone());
    }
    h
}

/// Alerts keep the reason of the tick they were first raised at.
fn expected(ticks: &[Tick], i: usize) -> Tick {
    let mut t = ticks[i].clone();
    if i + 1 < ticks.len() {
        for a in &mut t.alerts {
            let first = ticks
                .iter()
                .flat_map(|t| &t.alerts)
                .find(|b| key(b) == key(a))
                .unwrap();
            a.reason = first.reason.clone();
        }
    }
    t
}

#[test]
fn every_tick_decodes_to_what_was_pushed() {
    let ticks = ticks(200);
    let h = history(&ticks);
    assert_eq!(h.len(), 200);
    for i in 0..ticks.len() {
        let (tick, prev) = h.pair(i);
        assert_eq!(tick.as_ref(), Some(&expected(&ticks, i)), "tick {}", i + 1);
        let want_prev = i.checked_sub(1).map(|p| expected(&ticks, p));
        // The newest tick's predecessor is kept whole, with its own reason text.
        let want_prev = if i + 1 == ticks.len() {
            Some(ticks[i - 1].clone())
        } else {
            want_prev
        };
        assert_eq!(prev, want_prev, "before tick {}", i + 1);
    }
    let all: Vec<Tick> = h.iter().collect();
    for (i, t) in all.iter().enumerate() {
        let mut want = expected(&ticks, i);
        want.alerts = t.alerts.clone();
        assert_eq!(*t, want, "iter at tick {}", i + 1);
    }
    assert_eq!(h.get(200), None);
    assert_eq!(h.restarts().len(), 1);
}

#[test]
fn rss_series_of_a_process() {
    let ticks = ticks(150);
    let h = history(&ticks);
    let id = Identity {
        pid: 103,
        start: 309,
    };
    let want: Vec<(u32, u64)> = ticks
        .iter()
        .filter_map(|t| {
            let p = t.processes.iter().find(|p| p.pid == 103)?;
            Some((t.tick, p.rss_kb))
        })
        .collect();
    assert_eq!(h.rss_of(id, 0), want);
}

#[test]
fn a_long_history_costs_about_two_bytes_per_process_and_tick() {
    // 150 processes whose RSS moves by up to ±256 KiB (in pages, as from /proc) every
    // tick and two thirds of which use CPU, for an hour.
    let mut h = History::default();
    let mut rss: Vec<u64> = (0..150).map(|k| 50_000 + k * 1000).collect();
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    let n = 3600;
    for t in 1..=n {
        let processes = rss
            .iter_mut()
            .enumerate()
            .map(|(k, r)| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                *r = (*r + (seed % 129) * 4).saturating_sub(256).max(1000);
                let mut p = row(1000 + k as u32, 999, *r);
                p.cpu_ms = u64::from(t) * 10 * (k as u64 % 3);
                p
            })
            .collect();
        h.push(Tick {
            tick: t,
            elapsed_ms: u64::from(t) * 1000,
            time_ms: u64::from(t) * 1000,
            root_alive: true,
            processes,
            events: Vec::new(),
            alerts: Vec::new(),
        });
    }
    let samples = f64::from(n) * 150.0;
    let encoded = h.data.len() as f64 / samples;
    assert!(
        encoded < 2.0,
        "{encoded:.2} encoded bytes per process and tick"
    );
    // Whole ticks would cost over 100 bytes per process and tick.
    let held = h.heap_bytes() as f64 / samples;
    assert!(held < 3.0, "{held:.2} bytes held per process and tick");
    let newest = h.newest().unwrap();
    assert_eq!(h.get(h.len() - 1).as_ref(), Some(newest));
    assert_eq!(h.get(1234).unwrap().processes.len(), 150);
}

/// Every field of a row comes back as it went in, the memory figures included (PSS,
/// USS, swap and when they were measured, GPU memory): stepping back, or exporting from the view,
/// must not lose them.
#[test]
fn rows_come_back_whole_memory_included() {
    let rec = crate::format::sample_data::recording();
    assert!(
        rec.ticks
            .iter()
            .flat_map(|t| &t.processes)
            .any(|p| p.pss_kb.is_some() && p.mem_tick.is_some() && p.gpu_kb.is_some()),
        "the sample has measured rows, GPU memory too"
    );
    let mut h = History::default();
    for t in &rec.ticks {
        h.push(t.clone());
    }
    for (i, t) in rec.ticks.iter().enumerate() {
        assert_eq!(h.get(i).as_ref(), Some(t), "tick {}", t.tick);
    }
}

/// The ticks `n`/`N` stop at: the leak at 41 (once, though the process comes and goes
/// afterwards), the alert raised at 51, the restart at 90; the root's exits are not
/// events of this family (`root_alive` alone flips), nor is ordinary churn.
#[test]
fn landmarks_are_the_ticks_where_something_happened() {
    let mut ticks = ticks(200);
    ticks[119].events.push(Event::OrphanExited {
        pid: 103,
        start: 309,
        after_ms: 500,
    });
    let h = history(&ticks);
    let found: Vec<(u32, String)> = h
        .landmarks()
        .iter()
        .map(|&(i, l)| (ticks[i].tick, l.describe()))
        .collect();
    assert_eq!(
        found,
        [
            (41, "leak".to_string()),
            (51, "alert".to_string()),
            (90, "restart".to_string()),
            (120, "exit".to_string()),
        ]
    );
    // From anywhere, the next and the previous one.
    assert_eq!(h.landmark_from(0, true).map(|l| l.0), Some(40));
    assert_eq!(h.landmark_from(40, true).map(|l| l.0), Some(50));
    assert_eq!(h.landmark_from(60, true).map(|l| l.0), Some(89));
    assert_eq!(h.landmark_from(119, true), None);
    assert_eq!(h.landmark_from(199, false).map(|l| l.0), Some(119));
    assert_eq!(h.landmark_from(50, false).map(|l| l.0), Some(40));
    assert_eq!(h.landmark_from(40, false), None);
}

/// `ticks` written to a file in `format`, then loaded as a replay loads them: each
/// tick's place indexed before the history gets it.
fn replayed(ticks: &[Tick], format: crate::format::Format) -> (History, tempfile::TempPath) {
    let mut rec = crate::format::sample_data::recording();
    rec.ticks = ticks.to_vec();
    let mut file = tempfile::NamedTempFile::new().unwrap();
    std::io::Write::write_all(&mut file, rec.write(format).as_bytes()).unwrap();
    let path = file.into_temp_path();
    let mut reader = crate::format::open(&path, |_| {}).unwrap();
    let recorded = Recorded::new(
        std::fs::File::open(&path).unwrap(),
        "f",
        reader.format(),
        reader.header().clone(),
    );
    let index = recorded.index();
    let mut h = History::recorded(recorded);
    while let Some(tick) = reader.next() {
        index.push(reader.last_tick_at().unwrap());
        h.push(tick.unwrap());
    }
    (h, path)
}

/// Rows in start order, as NDJSON reads them back (text keeps tree order).
fn by_start(mut t: Tick) -> Tick {
    t.processes.sort_by_key(|r| (r.start, r.pid));
    t
}

/// Issue 27, fault 7: a replay kept every tick it loaded, names and command lines of
/// every process included: two million short-lived ones took 845 MB. Its history now
/// reads ticks again from the file, and gives back exactly what was recorded.
#[test]
fn a_replay_reads_its_ticks_again_from_the_file() {
    let ticks = ticks(200);
    for format in [crate::format::Format::Text, crate::format::Format::Ndjson] {
        let (h, _file) = replayed(&ticks, format);
        assert_eq!(h.len(), 200);
        for i in [0, 1, 63, 64, 120, 198, 199] {
            let (tick, prev) = h.pair(i);
            assert_eq!(tick.map(by_start), Some(ticks[i].clone()), "{format:?} {i}");
            let want = i.checked_sub(1).map(|p| ticks[p].clone());
            assert_eq!(prev.map(by_start), want, "{format:?} {i}");
        }
        let all: Vec<Tick> = h.iter().map(by_start).collect();
        assert_eq!(all, ticks, "{format:?}");
        // The same landmarks and series as a history that keeps everything.
        let kept = history(&ticks);
        assert_eq!(h.landmarks(), kept.landmarks(), "{format:?}");
        let id = Identity {
            pid: 103,
            start: 309,
        };
        assert_eq!(h.rss_of(id, 100), kept.rss_of(id, 0), "{format:?}");
        assert_eq!(h.processes_held(), 0);
    }
}

/// The short version of scripts/wide-recording.sh: 40,000 distinct short-lived
/// processes. A live history holds each one's name and command line; a replay's
/// holds none, and a few dozen bytes per tick.
#[test]
fn a_wide_replay_holds_no_process() {
    let ticks: Vec<Tick> = (1..=1000u32)
        .map(|t| {
            let processes = (0..40)
                .map(|k| {
                    let mut p = row(t * 40 + k, 1, 4096);
                    p.cmd = format!("/usr/bin/worker --job {} --queue default", p.pid);
                    p
                })
                .collect();
            Tick::for_test(t, processes)
        })
        .collect();
    let kept = history(&ticks);
    assert_eq!(kept.processes_held(), 40_000);
    let (h, _file) = replayed(&ticks, crate::format::Format::Ndjson);
    assert_eq!(h.processes_held(), 0);
    // The two newest ticks whole, then what each tick costs.
    let newest = 2 * 40 * (std::mem::size_of::<ProcRow>() + 64);
    let per_tick = (h.heap_bytes().saturating_sub(newest)) / 1000;
    assert!(per_tick < 160, "{per_tick} bytes per tick");
    assert!(h.heap_bytes() < kept.heap_bytes() / 4);
    assert_eq!(h.get(500).map(by_start), Some(ticks[500].clone()));
}

/// In a long replay, a process's series reads the ticks around where it is shown
/// (all of a short life), and a few samples of a long one.
#[test]
fn a_replay_series_reads_around_the_process() {
    let ticks: Vec<Tick> = (1..=2000u32)
        .map(|t| {
            let mut processes = vec![row(7, 1, 1000 + u64::from(t) * 4)];
            if (900..=1000).contains(&t) {
                processes.push(row(8, 7, 2000 + u64::from(t) * 4));
            }
            Tick::for_test(t, processes)
        })
        .collect();
    let (h, _file) = replayed(&ticks, crate::format::Format::Ndjson);
    let short = Identity { pid: 8, start: 24 };
    let want: Vec<(u32, u64)> = (900..=1000).map(|t| (t, 2000 + u64::from(t) * 4)).collect();
    assert_eq!(h.rss_of(short, 949), want);
    let long = h.rss_of(Identity { pid: 7, start: 21 }, 949);
    assert!(long.len() < 300 && long.len() > 200, "{}", long.len());
    assert!(long.first().unwrap().0 < 50 && long.last().unwrap().0 > 1950);
    assert!(long.windows(2).all(|w| w[0].0 < w[1].0));
}
