//! `leaktop record`: sample a family headlessly and write every tick as it happens.
//!
//! Each tick is formatted whole and written with one `write_all` and a flush, so a
//! recorder killed at any moment leaves a file whose complete ticks all read back.

use std::io::{self, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};

use crate::format::{Format, human_kb};
use crate::host::{Alarm, Host, Listening};
use crate::human::shown_path;
use crate::model::AlertConfig;
use crate::model::{Header, Tick};
use crate::monitor::{AttachError, Monitor};
use crate::outfile::{Interrupts, Mode, OpenError, OutFile, signal_name};
use crate::sample::{Backend, SampleError};

pub struct RecordOptions {
    pub pid: u32,
    /// `--name PATTERN --follow`: when the root exits, the next process matching the
    /// pattern becomes the root, and recording goes on until stopped.
    pub follow: Option<String>,
    pub interval: Duration,
    pub ticks: Option<u64>,
    pub duration: Option<Duration>,
    pub format: Format,
    /// `None` writes to stdout.
    pub out: Option<PathBuf>,
    pub backend: Backend,
    /// Show a live status line on stderr when it is a terminal.
    pub status: bool,
    /// Say on stderr, once each, what the recording alone does not: a root whose
    /// parent was already gone at attach, and the rule by which `--follow` chose
    /// each new root.
    pub notes: bool,
    pub alerts: AlertConfig,
    /// How long an orphan must outlive its parent to be called leaked.
    pub leak_grace: Duration,
    /// Processes meant to outlive their parent (`--allow`): never leaked.
    pub allowed: Vec<crate::model::allow::AllowRule>,
    /// Read PSS, USS and swap (`/proc/PID/smaps_rollup`) within the budget.
    pub pss: bool,
    /// `--metrics`: where each tick's figures are published.
    pub metrics: Option<std::sync::Arc<crate::metrics::MetricsState>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    Ticks,
    Duration,
    FamilyGone,
    Signal(i32),
}

impl std::fmt::Display for StopReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StopReason::Ticks => f.write_str("tick limit reached"),
            StopReason::Duration => f.write_str("duration reached"),
            StopReason::FamilyGone => f.write_str("no member of the family is alive"),
            StopReason::Signal(sig) => write!(f, "received {}", signal_name(*sig)),
        }
    }
}

pub struct Summary {
    pub ticks: u64,
    pub stop: StopReason,
    pub leaked_at_end: usize,
    /// RSS of the leaked processes at the last tick, KiB.
    pub leaked_rss_kb: u64,
    /// Orphaned or escaped members still within their leak grace at the last tick:
    /// caught, not yet judged (the recording stopped first).
    pub undecided_at_end: usize,
    /// Their RSS at the last tick, KiB.
    pub undecided_rss_kb: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error(transparent)]
    Attach(#[from] AttachError),
    #[error(transparent)]
    Open(#[from] OpenError),
    #[error("cannot write to {path}: {source}")]
    Write { path: String, source: io::Error },
    #[error(transparent)]
    Sample(#[from] SampleError),
    #[error("cannot install signal handlers: {0}")]
    Signals(io::Error),
}

/// Where ticks go: a file or stdout, each tick written whole and flushed.
pub struct TickSink {
    path: String,
    out: Out,
    format: Format,
    buf: String,
}

enum Out {
    Stdout,
    File(OutFile),
}

impl TickSink {
    /// Writes to `out`, opened before anything started ([`OutFile::open`]), emptying it
    /// now ([`OutFile::start`]): call it once the attach or spawn has worked, so a
    /// failed start never empties an old recording. `None` writes to stdout.
    pub fn start(out: Option<OutFile>, format: Format) -> Result<TickSink, RecordError> {
        let (path, out) = match out {
            Some(mut file) => {
                let path = shown_path(file.path());
                file.start().map_err(|source| RecordError::Write {
                    path: path.clone(),
                    source,
                })?;
                (path, Out::File(file))
            }
            None => ("standard output".to_string(), Out::Stdout),
        };
        Ok(TickSink {
            path,
            out,
            format,
            buf: String::with_capacity(64 * 1024),
        })
    }

    /// Writes to a file the caller has already opened (say with [`Create::New`]);
    /// `path` is only for messages.
    ///
    /// [`Create::New`]: crate::host::Create::New
    pub fn from_file(file: std::fs::File, path: &Path, format: Format) -> TickSink {
        TickSink {
            path: shown_path(path),
            out: Out::File(OutFile::adopt(file, path)),
            format,
            buf: String::with_capacity(64 * 1024),
        }
    }

    pub fn header(&mut self, header: &Header) -> Result<(), RecordError> {
        self.buf.clear();
        self.format.write_header(header, &mut self.buf);
        self.emit()
    }

    pub fn tick(&mut self, tick: &Tick) -> Result<(), RecordError> {
        self.buf.clear();
        self.format.write_tick(tick, &mut self.buf);
        self.emit()
    }

    /// Writes the buffer whole. A file leaktop created keeps what was written once
    /// its first write (the header) went out whole; before that, a failure (a full
    /// disk) leaves no file behind.
    fn emit(&mut self) -> Result<(), RecordError> {
        let bytes = self.buf.as_bytes();
        let result = match &mut self.out {
            Out::Stdout => {
                let mut out = crate::stdout::Writer::new();
                out.write_all(bytes).and_then(|()| out.flush())
            }
            Out::File(file) => file.write_all(bytes).and_then(|()| file.flush()).map(|()| {
                file.kept();
            }),
        };
        result.map_err(|source| RecordError::Write {
            path: self.path.clone(),
            source,
        })
    }
}

/// Records `opts.pid`'s family on `host` until a limit, the family's end or a stop
/// signal (INT, TERM, HUP, heard through `host` and taken after the tick under way).
pub fn record(host: Arc<dyn Host>, opts: &RecordOptions) -> Result<Summary, RecordError> {
    let stop_signals = StopSignals::listen(host.as_ref())?;
    // Opened once, before the attach: a FIFO's wait for its reader ends on a signal.
    let out = opts
        .out
        .as_deref()
        .map(|p| {
            OutFile::open(
                host.as_ref(),
                p,
                Mode::Replace,
                Some(&stop_signals.interrupts),
            )
        })
        .transpose()?;
    let sampler = host.sampler(opts.backend)?;
    let mut monitor =
        Monitor::attach_on(host.clone(), sampler, opts.pid, opts.interval, Vec::new())?
            .with_alerts(opts.alerts.clone())
            .with_leak_grace(opts.leak_grace)
            .with_allowed(opts.allowed.clone())
            .measuring_pss(opts.pss)
            .with_metrics(opts.metrics.clone())
            .following(opts.follow.clone());
    let mut sink = TickSink::start(out, opts.format)?;
    sink.header(monitor.header())?;
    if opts.notes
        && let Some(note) = monitor.orphan_root()
    {
        crate::say(&format!("leaktop: root {}: {note}\n", opts.pid));
    }

    let status = opts.status && opts.out.is_some() && io::stderr().is_terminal();
    let started = host.now();
    let mut ticks = 0u64;
    let (mut leaked_at_end, mut leaked_rss_kb): (usize, u64);
    let stop = loop {
        let tick = monitor.step()?;
        ticks += 1;
        sink.tick(&tick)?;
        if opts.notes {
            restart_note(&monitor, &tick, status);
        }
        (leaked_at_end, leaked_rss_kb) = (tick.leaked_count(), tick.leaked_rss_kb());
        if status {
            status_line(&tick);
        }

        // Following, a family that is gone waits for its next generation.
        if opts.follow.is_none() && !monitor.tracker().any_alive() {
            break StopReason::FamilyGone;
        }
        if opts.ticks.is_some_and(|n| ticks >= n) {
            break StopReason::Ticks;
        }
        let next = next_tick(started, opts.interval, host.now());
        if let Some(limit) = opts.duration
            && next.is_none_or(|next| next.duration_since(started) > limit)
        {
            break StopReason::Duration;
        }
        // Sleep until the next tick, waking at once for a stop signal. A next tick
        // beyond what an Instant can hold (not reachable with the CLI's caps) waits for
        // a signal only.
        if let Some(sig) = wait_for_tick(&mut monitor, &stop_signals, host.as_ref(), next) {
            break StopReason::Signal(sig);
        }
    };
    if status {
        crate::say("\n");
    }
    let (undecided_at_end, undecided_rss_kb) = monitor
        .tracker()
        .undecided_members()
        .fold((0, 0u64), |(n, kb), m| {
            (n + 1, kb.saturating_add(m.last.rss_kb))
        });
    Ok(Summary {
        ticks,
        stop,
        leaked_at_end,
        leaked_rss_kb,
        undecided_at_end,
        undecided_rss_kb,
    })
}

/// Says on stderr which process `--follow` took for the root's restart, and why, at
/// the tick that made it (`status`: a status line is on screen, to be cleared first).
fn restart_note(monitor: &Monitor, tick: &Tick, status: bool) {
    if let Some(r) = monitor.last_restart()
        && tick
            .events
            .iter()
            .any(|e| matches!(e, crate::model::Event::RootRestarted { pid, .. } if *pid == r.pid))
    {
        let clear = if status { "\r\x1b[K" } else { "" };
        crate::say(&format!(
            "{clear}leaktop: --follow: root {} exited; {} is its restart: {}\n",
            r.previous, r.pid, r.rule
        ));
    }
}

/// The live status line on stderr, redrawn in place.
fn status_line(tick: &Tick) {
    // Through `say`: a terminal closed under `record` must not panic it (exit 101)
    // and lose the recording's end.
    crate::say(&format!(
        "\r\x1b[Ktick {} · {} · {} · leaked {} ({})",
        tick.tick,
        crate::format::plural(tick.processes.len(), "process", "processes"),
        human_kb(tick.total_rss_kb()),
        tick.leaked_count(),
        human_kb(tick.leaked_rss_kb())
    ));
}

/// Waits until `next` (`None`: for a signal only), listening for process events where
/// the monitor can (a loss brings the tick forward: it rescans at once); the stop
/// signal that came first, if one did.
fn wait_for_tick(
    monitor: &mut Monitor,
    signals: &StopSignals,
    host: &dyn Host,
    next: Option<Instant>,
) -> Option<i32> {
    if !monitor.listens() {
        return signals.wait(host, next);
    }
    loop {
        if let Some(sig) = signals.wait(host, Some(host.now())) {
            return Some(sig);
        }
        if next.is_some_and(|next| host.now() >= next) || monitor.listen(next).rescan {
            return None;
        }
    }
}

/// `started + interval`, `started + 2 interval`, ... that is later than `now`.
///
/// A tick that ran late (a stall: the machine suspended, the recorder stopped, a slow
/// /proc) is not made up for: the points it missed are skipped, and the next tick
/// waits for the next point rather than starting at once, 0 ms after the late one.
/// `None` when that point is beyond what an `Instant` can hold.
pub(crate) fn next_tick(started: Instant, interval: Duration, now: Instant) -> Option<Instant> {
    let every = interval.as_nanos().max(1);
    let elapsed = now.saturating_duration_since(started).as_nanos();
    let offset = (elapsed / every + 1).checked_mul(every)?;
    let offset = Duration::new(
        u64::try_from(offset / 1_000_000_000).ok()?,
        (offset % 1_000_000_000) as u32,
    );
    started.checked_add(offset)
}

/// INT, TERM and HUP, heard through the host instead of ending leaktop: the recorder
/// stops at the first, once the tick under way is written.
struct StopSignals {
    heard: mpsc::Receiver<i32>,
    alarm: Alarm,
    /// Counted as they come (a wait for a FIFO's reader ends on one).
    interrupts: Interrupts,
    /// Never closed: a signal after the last tick is still taken, not fatal.
    _listening: Listening,
}

impl StopSignals {
    fn listen(host: &dyn Host) -> Result<StopSignals, RecordError> {
        let (tx, heard) = mpsc::channel();
        let alarm = Alarm::new();
        let interrupts = Interrupts::default();
        let (ring, counted) = (alarm.clone(), interrupts.clone());
        let listening = host
            .listen_signals(
                &[SIGINT, SIGTERM, SIGHUP],
                Box::new(move |sig, _| {
                    counted.note(sig);
                    let heard = tx.send(sig).is_ok();
                    ring.ring();
                    heard
                }),
            )
            .map_err(RecordError::Signals)?;
        Ok(StopSignals {
            heard,
            alarm,
            interrupts,
            _listening: listening,
        })
    }

    /// Waits on `host`'s clock until `next` (`None`: for a signal only); the stop
    /// signal that came first, if one did (one that came meanwhile counts at once).
    fn wait(&self, host: &dyn Host, next: Option<Instant>) -> Option<i32> {
        loop {
            if let Ok(sig) = self.heard.try_recv() {
                return Some(sig);
            }
            if next.is_some_and(|next| host.now() >= next) {
                return None;
            }
            host.wait(next, &self.alarm);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::next_tick;
    use std::time::{Duration, Instant};

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn ticks_on_time_follow_the_schedule() {
        let t0 = Instant::now();
        let every = 100 * MS;
        assert_eq!(next_tick(t0, every, t0), Some(t0 + every));
        // The sampling took 3 ms: the next tick is still on the grid.
        assert_eq!(next_tick(t0, every, t0 + 3 * MS), Some(t0 + 100 * MS));
        assert_eq!(next_tick(t0, every, t0 + 103 * MS), Some(t0 + 200 * MS));
    }

    #[test]
    fn a_stall_skips_the_missed_ticks_instead_of_writing_one_at_once() {
        let t0 = Instant::now();
        let every = 100 * MS;
        // The tick due at 100 ms ran until 350 ms: the ones at 200 and 300 are gone,
        // and the next is at 400, not at 350 (0 ms after the late one).
        assert_eq!(next_tick(t0, every, t0 + 350 * MS), Some(t0 + 400 * MS));
        // Exactly on a point of the schedule: that point has just been used.
        assert_eq!(next_tick(t0, every, t0 + 400 * MS), Some(t0 + 500 * MS));
        // A long stall.
        assert_eq!(
            next_tick(t0, every, t0 + Duration::from_secs(3600) + MS),
            Some(t0 + Duration::from_secs(3600) + every)
        );
    }

    #[test]
    fn the_next_tick_is_after_now_and_at_most_an_interval_away() {
        let t0 = Instant::now();
        for every_ms in [10u64, 50, 200, 1000, 3_600_000] {
            let every = Duration::from_millis(every_ms);
            for late_us in [0u64, 1, 999, 10_000, 123_457, 7_200_000_000] {
                let now = t0 + Duration::from_micros(late_us);
                let next = next_tick(t0, every, now).unwrap();
                assert!(next > now && next - now <= every, "{every_ms} {late_us}");
                assert_eq!((next - t0).as_nanos() % every.as_nanos(), 0);
            }
        }
    }

    #[test]
    fn an_unreachable_next_tick_is_none_not_a_panic() {
        let t0 = Instant::now();
        assert_eq!(next_tick(t0, Duration::MAX, t0), None);
        assert_eq!(next_tick(t0, Duration::from_secs(u64::MAX / 2), t0), None);
        // A zero interval is read as the smallest one, not a division by zero.
        assert!(next_tick(t0, Duration::ZERO, t0).is_some_and(|n| n > t0));
    }
}
