//! `leaktop record` on the fake host: the recorder runs on a thread of its own and the
//! test moves the fake clock from one of its ticks to the next
//! ([`FakeHost::wake_next`]), raises its stop signals ([`FakeHost::raise`]) and reads
//! back what it wrote. The order of events is asserted on the fake clock, never on
//! wall-clock time.

use crate::fakes;

use std::path::{Path, PathBuf};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use fakes::host::{FakeHost, Proc, WALL_START};
use leaktop::format::Format;
use leaktop::host::Create;
use leaktop::model::AlertConfig;
use leaktop::record::{RecordError, RecordOptions, StopReason, Summary, record};
use leaktop::sample::Backend;
use signal_hook::consts::signal::{SIGHUP, SIGINT, SIGTERM};

const LIMIT: Duration = Duration::from_secs(10);
const SECOND: Duration = Duration::from_secs(1);

/// A daemon (100) with a session (110) whose worker (111) it will leak; leaktop is 50.
/// Ticks only: these tests move the clock from one of the recorder's waits to the next
/// (a source of events waits in slices of its own: see `record_with_events_fake`).
fn family() -> FakeHost {
    let fake = FakeHost::new(50);
    fake.ticks_only();
    fake.add(Proc::new(100, 1, "cced").cmd("cced serve"));
    fake.add(Proc::new(110, 100, "session").cmd("cced session 1"));
    fake.add(Proc::new(111, 110, "worker").cmd("cced worker").rss_mb(64));
    fake
}

/// `record --pid 100 --interval 1s --out OUT` (text, quiet), with `limits` applied.
fn options(out: &Path, limits: impl FnOnce(&mut RecordOptions)) -> RecordOptions {
    let mut opts = RecordOptions {
        pid: 100,
        follow: None,
        interval: SECOND,
        ticks: None,
        duration: None,
        format: Format::Text,
        out: Some(out.to_path_buf()),
        backend: Backend::Procfs,
        status: false,
        notes: false,
        alerts: AlertConfig::default(),
        leak_grace: SECOND,
        allowed: Vec::new(),
        pss: true,
        metrics: None,
    };
    limits(&mut opts);
    opts
}

/// The recorder on its own thread, on `fake`.
fn start(fake: &FakeHost, opts: RecordOptions) -> JoinHandle<Result<Summary, RecordError>> {
    let host = fake.host();
    thread::spawn(move || record(host, &opts))
}

/// Moves the clock from tick to tick until the recorder has stopped; its summary.
fn finish(fake: &FakeHost, recorder: JoinHandle<Result<Summary, RecordError>>) -> Summary {
    let begun = Instant::now();
    while !recorder.is_finished() {
        assert!(
            begun.elapsed() < LIMIT,
            "record did not stop: {:?}",
            fake.log()
        );
        fake.wake_next(Duration::from_millis(10));
    }
    recorder
        .join()
        .expect("the recorder panicked")
        .expect("record")
}

/// The fake times at which the recorder sampled, in order.
fn sampled_at(fake: &FakeHost) -> Vec<Duration> {
    fake.log()
        .into_iter()
        .filter(|(_, what)| what == "sample")
        .map(|(at, _)| at)
        .collect()
}

fn out_file() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("serve.ticklog");
    (dir, out)
}

#[test]
fn ticks_follow_the_fake_clock_and_carry_its_wall_time_and_hostname() {
    let (_dir, out) = out_file();
    let fake = family();
    fake.set_hostname("buildbox");
    let summary = finish(&fake, start(&fake, options(&out, |o| o.ticks = Some(3))));
    assert_eq!(summary.ticks, 3);
    assert_eq!(summary.stop, StopReason::Ticks);
    assert_eq!(sampled_at(&fake), [Duration::ZERO, SECOND, 2 * SECOND]);
    // The file is made once, before the attach, through the host.
    assert_eq!(fake.creates(), [(out.clone(), Create::New)]);
    assert!(fake.removals().is_empty());
    let rec = leaktop::format::read(&out).unwrap();
    assert_eq!(rec.header.host, "buildbox");
    assert_eq!(rec.header.started_ms, WALL_START);
    assert_eq!(rec.header.interval_ms, 1000);
    let times: Vec<(u64, u64)> = rec
        .ticks
        .iter()
        .map(|t| (t.elapsed_ms, t.time_ms))
        .collect();
    assert_eq!(
        times,
        [
            (0, WALL_START),
            (1000, WALL_START + 1000),
            (2000, WALL_START + 2000)
        ]
    );
}

#[test]
fn a_stop_signal_ends_the_wait_at_once_after_a_whole_tick() {
    for signal in [SIGINT, SIGTERM, SIGHUP] {
        let (_dir, out) = out_file();
        let fake = family();
        let recorder = start(&fake, options(&out, |_| {}));
        // The recorder takes its second tick and waits for its third, at 2 s.
        assert_eq!(fake.tick(LIMIT), Some(2 * SECOND));
        assert_eq!(fake.listening(), [vec![SIGINT, SIGTERM, SIGHUP]]);
        assert_eq!(fake.raise(signal, true), 1, "the recorder hears {signal}");
        let summary = finish(&fake, recorder);
        assert_eq!(summary.stop, StopReason::Signal(signal));
        assert_eq!(summary.ticks, 2);
        // It stopped at 1 s, when the signal came, without waiting for the next tick.
        let stopped = fake.log().last().cloned().unwrap();
        assert_eq!(stopped, (SECOND, format!("raise {signal}")));
        assert_eq!(sampled_at(&fake), [Duration::ZERO, SECOND]);
        assert_eq!(leaktop::format::read(&out).unwrap().ticks.len(), 2);
    }
}

#[test]
fn the_recording_ends_with_the_family_and_reports_what_it_leaked() {
    let (_dir, out) = out_file();
    let fake = family();
    let recorder = start(&fake, options(&out, |_| {}));
    assert_eq!(fake.tick(LIMIT), Some(2 * SECOND));
    // The session exits, leaving its worker to init: leaked a second later.
    fake.exit(110, 0);
    for _ in 0..3 {
        fake.tick(LIMIT).unwrap();
    }
    // Then the daemon and the worker go.
    fake.exit(100, 0);
    fake.exit(111, 0);
    let summary = finish(&fake, recorder);
    assert_eq!(summary.stop, StopReason::FamilyGone);
    assert_eq!(summary.ticks, 6);
    assert_eq!(summary.leaked_at_end, 0, "the leaked worker has exited");
    let rec = leaktop::format::read(&out).unwrap();
    let leaked_at = rec
        .ticks
        .iter()
        .find(|t| t.leaked_count() > 0)
        .map(|t| (t.tick, t.elapsed_ms));
    assert_eq!(
        leaked_at,
        Some((4, 3000)),
        "a second after the session's exit"
    );
}

#[test]
fn a_duration_stops_before_a_tick_beyond_it() {
    let (_dir, out) = out_file();
    let fake = family();
    let opts = options(&out, |o| o.duration = Some(Duration::from_millis(2500)));
    let summary = finish(&fake, start(&fake, opts));
    assert_eq!(summary.stop, StopReason::Duration);
    assert_eq!(sampled_at(&fake), [Duration::ZERO, SECOND, 2 * SECOND]);
}

#[test]
fn a_stalled_tick_skips_the_ticks_it_missed_instead_of_catching_up() {
    let (_dir, out) = out_file();
    let fake = family();
    let recorder = start(&fake, options(&out, |o| o.ticks = Some(3)));
    // The machine stalls 2.5 s while the recorder waits for its tick at 1 s: it
    // samples late, at 2.5 s, and its next tick is at 3 s on the schedule, not at
    // 3.5 s nor at once to make up for the one at 2 s.
    assert_eq!(fake.await_wait(LIMIT), Some(SECOND));
    fake.advance(Duration::from_millis(2500));
    let summary = finish(&fake, recorder);
    assert_eq!(summary.ticks, 3);
    assert_eq!(
        sampled_at(&fake),
        [Duration::ZERO, Duration::from_millis(2500), 3 * SECOND]
    );
}

#[test]
fn a_failed_attach_leaves_an_existing_recording_untouched() {
    let (_dir, out) = out_file();
    std::fs::write(&out, "yesterday's recording\n").unwrap();
    let fake = family();
    let err = record(fake.host(), &options(&out, |o| o.pid = 999))
        .err()
        .expect("no process 999");
    assert!(matches!(err, RecordError::Attach(_)), "{err}");
    assert_eq!(err.to_string(), "no process with PID 999");
    // Opened for writing without truncation (it exists), never emptied.
    assert_eq!(
        fake.creates(),
        [(out.clone(), Create::New), (out.clone(), Create::Open)]
    );
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        "yesterday's recording\n"
    );
    assert_eq!(fake.samples_taken(), 0);
}

#[test]
fn an_output_that_cannot_be_created_is_named_before_anything_is_sampled() {
    let (_dir, out) = out_file();
    let fake = family();
    fake.fail_next_create(std::io::ErrorKind::PermissionDenied);
    let err = record(fake.host(), &options(&out, |_| {}))
        .err()
        .expect("cannot create");
    assert!(
        err.to_string()
            .starts_with(&format!("cannot create {}:", out.display())),
        "{err}"
    );
    assert_eq!(fake.samples_taken(), 0);
    // The stop signals are heard first: a wait for a FIFO's reader ends on one.
    assert_eq!(fake.listening(), [vec![SIGINT, SIGTERM, SIGHUP]]);
}

/// Issue 26, fault 9: a zombie has exited and holds no memory; its defunct row carried
/// the PSS, USS and swap it had alive (RSS 0 beside PSS 40 MiB), and `report --tick`
/// showed them as held.
#[test]
fn a_defunct_row_carries_no_memory_it_had_alive() {
    let (_dir, out) = out_file();
    let fake = family();
    fake.add(
        Proc::new(111, 110, "worker")
            .cmd("cced worker")
            .rss_mb(64)
            .mem_mb(40, 30, 2),
    );
    let recorder = start(&fake, options(&out, |o| o.ticks = Some(3)));
    // Two ticks read it alive; then it exits and its parent never reaps it.
    assert_eq!(fake.tick(LIMIT), Some(2 * SECOND));
    fake.add(
        Proc::new(111, 110, "worker")
            .cmd("cced worker")
            .rss_mb(0)
            .state(b'Z'),
    );
    finish(&fake, recorder);
    let rec = leaktop::format::read(&out).unwrap();
    let worker = |t: usize| {
        rec.ticks[t]
            .processes
            .iter()
            .find(|p| p.pid == 111)
            .unwrap()
    };
    assert_eq!(worker(1).pss_kb, Some(40 << 10), "measured alive");
    let zombie = worker(2);
    assert_eq!(zombie.state, 'Z');
    assert_eq!(
        (
            zombie.pss_kb,
            zombie.uss_kb,
            zombie.swap_kb,
            zombie.mem_tick
        ),
        (None, None, None, None),
        "a zombie holds no memory: {zombie:?}"
    );
    // `report --tick` of that tick shows none either, nor of a recording made before,
    // which kept the zombie's figures from when it was alive.
    let mut older = rec.clone();
    let row = older.ticks[2]
        .processes
        .iter_mut()
        .find(|p| p.pid == 111)
        .unwrap();
    (row.pss_kb, row.uss_kb, row.mem_tick) = (Some(40 << 10), Some(30 << 10), Some(1));
    let old_file = out.with_extension("ndjson");
    let mut text = String::new();
    Format::Ndjson.write_header(&older.header, &mut text);
    for t in &older.ticks {
        Format::Ndjson.write_tick(t, &mut text);
    }
    std::fs::write(&old_file, text).unwrap();
    for file in [&out, &old_file] {
        let shown = crate::common::leaktop()
            .args(["report", "--tick", "3"])
            .arg(file)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&shown.stdout);
        let line = text
            .lines()
            .find(|l| l.contains(" 111 worker "))
            .unwrap_or_else(|| panic!("the zombie's row: {text}"));
        assert!(line.contains("state=Z"), "{line}");
        assert!(!line.contains("PSS=") && !line.contains("USS="), "{line}");
    }
}
