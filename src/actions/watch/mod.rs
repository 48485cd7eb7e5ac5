//! `leaktop watch` on a [`Host`]: the lineage of every process it can see, kept from
//! the event source ([`Host::events`]: the connector, else pidfds, else ticks) and
//! scans of `/proc`, and each orphaning recorded as it happens, with what became of
//! what it left. Records go to standard output (NDJSON) and to the journal; at each
//! scan the standing groups are counted for the metrics and handed to the policies.
//!
//! The loop: wait for events up to a second (the ticks' fallback waits its
//! interval), feed them to the lineage, read what they told (a parent's command
//! while it lives, an orphaning's children), scan when the interval is due (or
//! events were lost), write the batch, and sync the journal at most once a second.
//!
//! Bounded: the lineage holds what lives (and at most [`MAX_KNOWN`] processes), the
//! journal its cap, stories only of processes still alive.
//!
//! [`MAX_KNOWN`]: crate::model::watch::lineage::MAX_KNOWN

mod orphaning;
mod policies;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::actions::known;
use crate::actions::orphans::Scanner;
use crate::format::journal::{self, JournalError, WatcherFile};
use crate::host::{Create, Host};
use crate::metrics::MetricsState;
use crate::metrics::watch::WatchFigures;
use crate::model::allow::AllowRule;
use crate::model::watch::lineage::{Death, Lineage, Seen};
use crate::model::watch::policy::Policy;
use crate::model::watch::record::{Fate, LostRecord, Orphaning, Record, Start, Stop};
use crate::model::watch::story::Stories;
use crate::sample::events::{EventRequest, ProcEvent, Source, Stamped, Ticks};
use crate::sample::{Backend, IdMap, IdSet, Identity, ProcSample};

pub use orphaning::DETAILED_PER_SEC;

/// Everything `leaktop watch` was asked.
#[derive(Debug, Clone)]
pub struct Options {
    /// The journal's directory.
    pub journal: PathBuf,
    /// The journal's cap, bytes.
    pub journal_max: u64,
    /// Time between scans of `/proc` without the connector (with it: at least a
    /// minute, and at once after a loss).
    pub interval: Duration,
    /// A group must have lasted this long to be counted or handed to a policy.
    pub older_than: Duration,
    pub policies: Vec<Policy>,
    /// `[[ignore]]` and `--allow` rules: groups meant to outlive their parent, never
    /// counted nor handed to a policy.
    pub allowed: Vec<AllowRule>,
    /// The configuration file used, named in the `start` record.
    pub config: Option<PathBuf>,
    /// Policies say what they would do and do nothing.
    pub dry_run: bool,
    /// Where each scan's figures are published (`--metrics`).
    pub metrics: Option<Arc<MetricsState>>,
    /// Where `leaktop.prom` is written at each scan (`--textfile`).
    pub textfile: Option<PathBuf>,
    /// Write no NDJSON to standard output (the journal only).
    pub quiet: bool,
    /// What to ask of [`Host::events`].
    pub request: EventRequest,
}

/// Why `leaktop watch` could not start or go on.
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    #[error(
        "a watcher is already running on {} (pid {}, since {} ago)",
        crate::human::shown_path(.0), .1, .2
    )]
    AlreadyRunning(PathBuf, u32, String),
    #[error("{0}")]
    Journal(#[from] JournalError),
    #[error("cannot write the pid file in {}: {}", crate::human::shown_path(.0), crate::human::io_message(.1))]
    PidFile(PathBuf, #[source] std::io::Error),
    #[error("--textfile: cannot write {}: {}", crate::human::shown_path(.0), crate::human::io_message(.1))]
    Textfile(PathBuf, #[source] std::io::Error),
    #[error("{0}")]
    Sample(#[from] crate::sample::SampleError),
    #[error("{0}")]
    Write(#[from] crate::stdout::Error),
}

/// Where the watcher's output goes, and when it stops.
pub struct Io<'a> {
    /// Standard output: one record a line.
    pub out: &'a mut dyn FnMut(&str) -> Result<(), crate::stdout::Error>,
    /// Messages for people (stderr).
    pub say: &'a mut dyn FnMut(&str),
    /// Why to stop now (a signal's name), asked between two waits.
    pub stop: &'a dyn Fn() -> Option<String>,
}

/// The most the loop waits for events before it looks at the clock again.
const STEP: Duration = Duration::from_secs(1);
/// With the connector, the longest time between two scans.
/// The connector tells every fork and exit, and a loss starts a scan at once: the
/// scan is only a safety net, and on an idle machine of 2,000 processes it was all the
/// watcher cost (0.07 s of CPU each minute, 0.116% of a core, at 60 s).
const CONNECTOR_SCAN: Duration = Duration::from_secs(300);

/// Wall time (ms since the Unix epoch) on the host's monotonic clock: the wall time
/// at start, plus how far the host's clock moved since. A step of the system clock
/// does not reorder records, and the fake host's time moves it in the tests.
struct Clock {
    began: Instant,
    began_ms: u64,
}

impl Clock {
    fn now_ms(&self, host: &dyn Host) -> u64 {
        let moved = host.now().saturating_duration_since(self.began);
        self.began_ms
            .saturating_add(u64::try_from(moved.as_millis()).unwrap_or(u64::MAX))
    }
}

/// Runs `leaktop watch` on `host` until `io.stop` says why not. See [`Options`].
pub fn run_on(host: Arc<dyn Host>, opts: &Options, io: &mut Io) -> Result<(), WatchError> {
    let h = host.as_ref();
    let clock = Clock {
        began: h.now(),
        began_ms: crate::host::wall_ms(h),
    };
    let (own, scope) = preflight(h, opts, &clock)?;
    let create_host = host.clone();
    let mut writer = journal::Writer::open(
        &opts.journal,
        opts.journal_max,
        &h.hostname(),
        Box::new(move |p| create_host.create(p, Create::New)),
    )?;
    let mut events = h.events(opts.request);
    let source = events.source();
    let mut sampler = h.sampler(Backend::default())?;
    let mut budget = orphaning::Budget::new();
    let mut policies = policies::Policies::new(
        Scanner::new(host.clone())?,
        opts.policies.clone(),
        opts.allowed.clone(),
        opts.older_than,
        opts.dry_run,
    );

    let now_ms = clock.now_ms(h);
    let first = first_look(h, &opts.journal, now_ms, io);
    let mut seen = first.seen;
    let scope_name = scope.map_or("machine".to_string(), |u| format!("uid:{u}"));
    let pid_file = WatcherFile {
        pid: own.pid,
        start: own.start,
        since_ms: now_ms,
        source: source.name().to_string(),
        scope: scope_name.clone(),
    };
    let mut state = State::new(h, opts, source, scope, first.lineage, first.stories);
    state.batch.push(Record::Start(Start {
        fallback: events.fallback_reason().map(ToString::to_string),
        ..start_record(own, source, scope_name, opts, first.resumed, now_ms)
    }));
    {
        let mut reader = orphaning::Reader {
            host: h,
            sampler: sampler.as_mut(),
            budget: &mut budget,
        };
        let present = by_pid(&first.samples);
        state.handle(&mut reader, &mut seen, Some(&present));
        state.publish(&mut policies, first.samples, clock.now_ms(h));
    }
    // The start record is in the journal before the pid file says a watcher runs.
    state.write_or_fail(&mut writer, io, &mut None, clock.now_ms(h), true)?;
    pid_file
        .write(&opts.journal)
        .map_err(|e| WatchError::PidFile(opts.journal.clone(), e))?;
    (io.say)(&watching_line(
        scope,
        source,
        events.fallback_reason(),
        &opts.journal,
    ));
    let interval = scan_interval(opts, source);
    let mut next_scan = h.now() + interval;
    let mut last_sync: Option<Instant> = None;
    let mut got: Vec<Stamped> = Vec::new();
    let why = loop {
        state.write(&mut writer, io, &mut last_sync, clock.now_ms(h))?;
        if let Some(why) = (io.stop)() {
            break why;
        }
        let wait = next_scan.saturating_duration_since(h.now()).min(STEP);
        if !state.wait_events(&mut events, wait, &mut got, io) {
            next_scan = h.now();
        }
        let now_ms = clock.now_ms(h);
        let mut rescan = state.intake(&got, now_ms, events.clock_ns(), &mut seen);
        let mut reader = orphaning::Reader {
            host: h,
            sampler: sampler.as_mut(),
            budget: &mut budget,
        };
        rescan |= state.handle(&mut reader, &mut seen, None);
        state.retry_held(&mut reader, now_ms);
        if rescan || h.now() >= next_scan {
            state.scan(&mut reader, &mut policies, &mut seen, clock.now_ms(h));
            next_scan = h.now() + interval;
        }
    };
    state.batch.push(Record::Stop(Stop {
        time_ms: clock.now_ms(h),
        pid: own.pid,
        why: why.clone(),
    }));
    // The pid file stays: `orphans` tells a watcher that stopped from one that runs
    // by its start time, and says when the last one started.
    state.write(&mut writer, io, &mut None, clock.now_ms(h))
}

/// Samples by pid.
fn by_pid(samples: &[ProcSample]) -> IdMap<u32, ProcSample> {
    samples.iter().map(|s| (s.pid, *s)).collect()
}

/// Before anything is written: this watcher's identity and scope (`None`: the whole
/// machine, as root; else the user's uid). Errors: another watcher runs on the journal,
/// or the `--textfile` directory cannot be written (said now, not as a warning an hour
/// into a service's life; the first scan replaces the empty file written here).
fn preflight(
    h: &dyn Host,
    opts: &Options,
    clock: &Clock,
) -> Result<(Identity, Option<u32>), WatchError> {
    let own = h.probe(h.own_pid()).map_or(
        Identity {
            pid: h.own_pid(),
            start: 0,
        },
        |s| s.id(),
    );
    let scope = match h.uid(own) {
        Some(0) | None => None,
        Some(u) => Some(u),
    };
    if let Some(w) = known::watchers(h, std::slice::from_ref(&opts.journal))
        .into_iter()
        .find(|w| w.running && w.file.pid != own.pid)
    {
        let ago = crate::human::age(clock.now_ms(h).saturating_sub(w.file.since_ms));
        return Err(WatchError::AlreadyRunning(
            opts.journal.clone(),
            w.file.pid,
            ago,
        ));
    }
    if let Some(dir) = &opts.textfile {
        write_textfile(h, dir, "")
            .map_err(|e| WatchError::Textfile(dir.join("leaktop.prom"), e))?;
    }
    Ok((own, scope))
}

/// `leaktop: watching every process with connector events; journal DIR`, and why not
/// the connector where it is not used.
fn watching_line(
    scope: Option<u32>,
    source: Source,
    fallback: Option<&crate::sample::events::NoEvents>,
    journal: &std::path::Path,
) -> String {
    format!(
        "leaktop: watching {} with {} events{}; journal {}\n",
        match scope {
            None => "every process".to_string(),
            Some(u) => format!("the processes of uid {u}"),
        },
        source.name(),
        fallback.map_or(String::new(), |why| format!(" (no connector: {why})")),
        crate::human::shown_path(journal)
    )
}

/// The journal's first record of this watcher (`fallback` to be filled in): who it
/// is, where its events come from and what they guarantee, its scope and
/// configuration, and how many orphans it follows again.
fn start_record(
    own: Identity,
    source: Source,
    scope: String,
    opts: &Options,
    resumed: usize,
    now_ms: u64,
) -> Start {
    Start {
        time_ms: now_ms,
        pid: own.pid,
        start: own.start,
        version: env!("CARGO_PKG_VERSION").to_string(),
        source: source.name().to_string(),
        guarantees: source.guarantees().to_string(),
        fallback: None,
        scope,
        config: opts.config.as_ref().map(|p| p.display().to_string()),
        resumed,
    }
}

/// How often the whole of `/proc` is scanned: policies, metrics and the textfile look
/// at the groups at each `--interval`; with nothing to look at, the connector's events
/// need a scan only now and then ([`CONNECTOR_SCAN`]).
fn scan_interval(opts: &Options, source: Source) -> Duration {
    let looking = !opts.policies.is_empty() || opts.metrics.is_some() || opts.textfile.is_some();
    match source {
        Source::Connector if !looking => CONNECTOR_SCAN.max(opts.interval),
        _ => opts.interval,
    }
}

/// What the watcher starts from: its first scan, the lineage built from it, and the
/// journal read back (the stories of processes it left behind that still live, which
/// are followed again).
struct FirstLook {
    samples: Vec<ProcSample>,
    lineage: Lineage,
    stories: Stories,
    /// How many orphans are followed again.
    resumed: usize,
    /// What the first scan told.
    seen: Vec<Seen>,
}

/// The first scan at `now_ms`, and the journal in `dir` read back ([`FirstLook`]).
fn first_look(h: &dyn Host, dir: &std::path::Path, now_ms: u64, io: &mut Io) -> FirstLook {
    let samples = h.scan();
    let alive: IdMap<Identity, ()> = samples
        .iter()
        .filter(|s| !s.has_exited())
        .map(|s| (s.id(), ()))
        .collect();
    let mut stories = Stories::new();
    let resumed = read_back(dir, &alive, &mut stories, io);
    let mut lineage = Lineage::new();
    let mut seen: Vec<Seen> = Vec::new();
    lineage.scan(now_ms, &samples, &mut seen);
    for (id, at, died) in &resumed {
        lineage.follow(*id, *at, *died);
    }
    FirstLook {
        samples,
        lineage,
        stories,
        resumed: resumed.len(),
        seen,
    }
}

/// The journal read back: the stories of the processes it left behind that are
/// still `alive`, into `stories`; returns each to follow again (its identity, when it
/// was orphaned, the pid that died). Warnings (a damaged file) are said on `io`.
fn read_back(
    dir: &std::path::Path,
    alive: &IdMap<Identity, ()>,
    stories: &mut Stories,
    io: &mut Io,
) -> Vec<(Identity, u64, u32)> {
    let mut resumed: Vec<(Identity, u64, u32)> = Vec::new();
    journal::read(
        dir,
        &mut |r| match r {
            Record::Orphaned(o) => {
                stories.add(&o, &mut |id| alive.contains_key(&id));
                for l in o.left.iter().filter(|l| alive.contains_key(&l.id())) {
                    resumed.push((l.id(), o.time_ms, o.died.pid));
                }
            }
            Record::Fate(f) => {
                let id = Identity {
                    pid: f.pid,
                    start: f.start,
                };
                stories.forget(id);
                resumed.retain(|r| r.0 != id);
            }
            _ => {}
        },
        &mut |w| (io.say)(&format!("leaktop: warning: {w}\n")),
    );
    resumed
}

/// The watcher between two batches.
struct State<'a> {
    host: &'a dyn Host,
    opts: &'a Options,
    source: Source,
    scope: Option<u32>,
    lineage: Lineage,
    stories: Stories,
    figures: WatchFigures,
    origins: crate::model::watch::Origins,
    batch: Vec<Record>,
    said_journal_error: bool,
    /// Warnings for stderr, said at the next write.
    warnings: Vec<String>,
    /// Orphanings whose children are still under the dead pid (its other threads
    /// live on), and since when.
    held: Vec<Held>,
}

/// An orphaning whose children were still under the dead pid when its main thread's
/// exit was told.
struct Held {
    death: Death,
    since: Instant,
    /// When the process was first found ended with no event telling how.
    ended: Option<Instant>,
}

/// The most orphanings held at once, and for how long each.
const MAX_HELD: usize = 1024;
const HELD_FOR: Duration = Duration::from_secs(10);
/// How long the exit event of a process's last thread may trail the reparenting of
/// its children (the kernel reparents first, then sends the event).
const EVENT_LAG: Duration = Duration::from_millis(500);

impl<'a> State<'a> {
    /// The watcher's state from its first look: nothing recorded yet.
    fn new(
        host: &'a dyn Host,
        opts: &'a Options,
        source: Source,
        scope: Option<u32>,
        lineage: Lineage,
        stories: Stories,
    ) -> State<'a> {
        State {
            host,
            opts,
            source,
            scope,
            lineage,
            stories,
            figures: WatchFigures {
                source: source.name().to_string(),
                ..WatchFigures::default()
            },
            origins: crate::model::watch::Origins::default(),
            batch: Vec::new(),
            said_journal_error: false,
            warnings: Vec::new(),
            held: Vec::new(),
        }
    }

    /// Waits up to `wait` for `events` into `got` (with pidfds, on the processes worth
    /// watching now). Returns false when the source failed: it is replaced by scans at
    /// the interval from now on, and said so.
    fn wait_events(
        &mut self,
        events: &mut Box<dyn crate::sample::events::EventSource>,
        wait: Duration,
        got: &mut Vec<Stamped>,
        io: &mut Io,
    ) -> bool {
        if self.source == Source::Pidfd {
            let mut ids = Vec::new();
            self.lineage.worth_watching(self.scope, &mut ids);
            events.watch(&ids);
        }
        got.clear();
        let Err(e) = events.wait(wait, got) else {
            return true;
        };
        (io.say)(&format!(
            "leaktop: warning: {e}; scanning /proc every {} from now on\n",
            humantime::format_duration(self.opts.interval)
        ));
        *events = Box::new(Ticks::new(None));
        self.figures.source = Source::Ticks.name().to_string();
        false
    }

    /// Acts on what the lineage told; returns whether a scan is wanted now.
    fn handle(
        &mut self,
        reader: &mut orphaning::Reader,
        seen: &mut Vec<Seen>,
        present: Option<&IdMap<u32, ProcSample>>,
    ) -> bool {
        let mut rescan = false;
        for s in seen.drain(..) {
            match s {
                Seen::NewParent(pid) => reader.details(&mut self.lineage, pid),
                Seen::Rescan => rescan = true,
                Seen::Orphaning(death) => self.try_orphaning(reader, death, present),
                Seen::ThreadExit { tgid, time_ms, how } => {
                    // The process may have ended with this thread: its children are
                    // orphaned now.
                    let (now, later): (Vec<_>, Vec<_>) = std::mem::take(&mut self.held)
                        .into_iter()
                        .partition(|h| h.death.died.pid == tgid);
                    self.held = later;
                    for Held { death: mut d, .. } in now {
                        // How the main thread ended is not how the process did.
                        d.time_ms = time_ms;
                        d.died.how = how;
                        self.try_orphaning(reader, d, present);
                    }
                }
                Seen::Fate {
                    followed,
                    time_ms,
                    fate,
                    how,
                } => {
                    self.stories.forget(followed.id);
                    self.batch.push(Record::Fate(Fate {
                        time_ms,
                        pid: followed.id.pid,
                        start: followed.id.start,
                        orphaned_ms: followed.orphaned_ms,
                        died_pid: followed.died_pid,
                        fate,
                        how,
                        policy: None,
                    }));
                }
            }
        }
        rescan
    }

    /// Records `death` if its children are orphans now, or holds it while the dead
    /// process's other threads still hold them (for [`HELD_FOR`] at most).
    fn try_orphaning(
        &mut self,
        reader: &mut orphaning::Reader,
        death: Death,
        present: Option<&IdMap<u32, ProcSample>>,
    ) {
        let source = if death.exact {
            self.source.name()
        } else {
            Source::Ticks.name()
        };
        let at = death.time_ms;
        match reader.orphaning(&death, &mut self.lineage, present, self.scope, source, at) {
            orphaning::Outcome::Recorded(o) => self.record_orphaning(*o),
            orphaning::Outcome::Held if self.held.len() < MAX_HELD => self.held.push(Held {
                death,
                since: self.host.now(),
                ended: None,
            }),
            _ => {}
        }
    }

    /// Feeds the events `got` (stamped on the source's clock, which reads
    /// `events_now` at wall ms `now_ms`) to the lineage; a loss is recorded and counted.
    /// Returns whether a scan is wanted now (events were lost).
    fn intake(
        &mut self,
        got: &[Stamped],
        now_ms: u64,
        events_now: u64,
        seen: &mut Vec<Seen>,
    ) -> bool {
        let mut rescan = false;
        for s in got {
            let at = now_ms.saturating_sub(events_now.saturating_sub(s.at_ns) / 1_000_000);
            if let ProcEvent::Lost { count } = s.event {
                self.figures.events_lost += count.unwrap_or(1);
                self.batch
                    .push(Record::Lost(LostRecord { time_ms: at, count }));
                rescan = true;
            }
            self.lineage.observe(at, &s.event, seen);
        }
        rescan
    }

    /// One whole scan of `/proc` at `now_ms`: what it tells the lineage, stories of
    /// processes gone without a told fate dropped, then the figures and policies.
    fn scan(
        &mut self,
        reader: &mut orphaning::Reader,
        policies: &mut policies::Policies,
        seen: &mut Vec<Seen>,
        now_ms: u64,
    ) {
        let samples = self.host.scan();
        self.lineage.scan(now_ms, &samples, seen);
        let present = by_pid(&samples);
        // A story of a process no fate was told of (it went while the followed were
        // at their cap) goes once the process is gone.
        self.stories
            .retain(&mut |id| present.get(&id.pid).is_some_and(|s| s.start == id.start));
        self.handle(reader, seen, Some(&present));
        self.publish(policies, samples, now_ms);
    }

    /// Tries again the held orphanings whose process ended with no event telling how
    /// (an event source that tells no thread's exit), [`EVENT_LAG`] after it was found
    /// ended, so that the event of its last thread, which trails the reparenting, is
    /// told first. Such an orphaning says when it was noticed, not how the process
    /// ended. Gives up on those held too long (a scan tells them later, if they come
    /// to be).
    fn retry_held(&mut self, reader: &mut orphaning::Reader, now_ms: u64) {
        if self.held.is_empty() {
            return;
        }
        let now = self.host.now();
        for mut held in std::mem::take(&mut self.held) {
            if now.duration_since(held.since) > HELD_FOR {
                continue;
            }
            if reader.held(&held.death, None) {
                self.held.push(held);
                continue;
            }
            let since_ended = *held.ended.get_or_insert(now);
            if now.duration_since(since_ended) < EVENT_LAG {
                self.held.push(held);
                continue;
            }
            // No event told how or when the process ended: say when it was noticed.
            let mut death = held.death.clone();
            death.died.how = None;
            death.since_ms = Some(death.time_ms);
            death.time_ms = now_ms;
            death.exact = false;
            match reader.orphaning(
                &death,
                &mut self.lineage,
                None,
                self.scope,
                self.source.name(),
                now_ms,
            ) {
                orphaning::Outcome::Recorded(o) => self.record_orphaning(*o),
                orphaning::Outcome::Held => self.held.push(held),
                orphaning::Outcome::Nothing => {}
            }
        }
    }

    fn record_orphaning(&mut self, o: Orphaning) {
        let alive: IdSet<Identity> = o.left.iter().map(|l| l.id()).collect();
        self.stories.add(&o, &mut |id| alive.contains(&id));
        let origin = self.origins.label(&o.died.comm);
        *self.figures.orphanings.entry(origin).or_default() += 1;
        self.batch.push(Record::Orphaned(o));
    }

    /// One scan's figures and policies.
    fn publish(
        &mut self,
        policies: &mut policies::Policies,
        samples: Vec<ProcSample>,
        now_ms: u64,
    ) {
        let wanted = !self.opts.policies.is_empty()
            || self.opts.metrics.is_some()
            || self.opts.textfile.is_some();
        self.figures.processes = self.lineage.len() as u64;
        if !wanted {
            return;
        }
        policies.tick(
            self.host,
            &mut self.origins,
            samples,
            &self.stories,
            now_ms,
            &mut self.lineage,
            &mut self.figures,
            &mut self.batch,
        );
        if let Some(m) = &self.opts.metrics {
            m.set_watch(self.figures.clone());
        }
        if let Some(dir) = &self.opts.textfile {
            let text = crate::metrics::watch::prometheus_text(&crate::metrics::encode::encode(
                &crate::metrics::Figures {
                    watch: Some(self.figures.clone()),
                    ..crate::metrics::Figures::default()
                },
            ));
            if let Err(e) = write_textfile(self.host, dir, &text) {
                self.warnings.push(format!(
                    "cannot write {}: {}",
                    crate::human::shown_path(&dir.join("leaktop.prom")),
                    crate::human::io_message(&e)
                ));
            }
        }
    }

    /// Writes the batch: each record a line on standard output (unless quiet), and
    /// to the journal, synced at most once a second.
    fn write(
        &mut self,
        writer: &mut journal::Writer,
        io: &mut Io,
        last_sync: &mut Option<Instant>,
        now_ms: u64,
    ) -> Result<(), WatchError> {
        self.write_or_fail(writer, io, last_sync, now_ms, false)
    }

    /// As [`State::write`]; with `first`, a journal that cannot be written is the
    /// watcher's error (said before anything is printed), not a warning.
    fn write_or_fail(
        &mut self,
        writer: &mut journal::Writer,
        io: &mut Io,
        last_sync: &mut Option<Instant>,
        now_ms: u64,
        first: bool,
    ) -> Result<(), WatchError> {
        for w in self.warnings.drain(..) {
            (io.say)(&format!("leaktop: warning: {w}\n"));
        }
        if self.batch.is_empty() {
            return Ok(());
        }
        let mut lines = String::new();
        for r in self.batch.drain(..) {
            if !self.opts.quiet
                && let Ok(line) = serde_json::to_string(&r)
            {
                lines.push_str(&line);
                lines.push('\n');
            }
            writer.push(&r);
        }
        let now = self.host.now();
        let sync = last_sync.is_none_or(|t| now.duration_since(t) >= STEP);
        match writer.flush(sync, now_ms) {
            Ok(()) => {
                if sync {
                    *last_sync = Some(now);
                }
                self.said_journal_error = false;
            }
            Err(e) if first => return Err(e.into()),
            Err(e) if !self.said_journal_error => {
                (io.say)(&format!(
                    "leaktop: warning: {e}; the batch was not journaled\n"
                ));
                self.said_journal_error = true;
            }
            Err(_) => {}
        }
        if !lines.is_empty() {
            (io.out)(&lines)?;
        }
        Ok(())
    }
}

/// Writes `leaktop.prom` into `dir` atomically: a temporary file, then a rename, so
/// a collector never reads half a file.
fn write_textfile(host: &dyn Host, dir: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = dir.join(format!(".leaktop.prom.{}", host.own_pid()));
    let mut f = host.create(&tmp, Create::Truncate)?;
    f.write_all(text.as_bytes())?;
    f.sync_data()?;
    drop(f);
    std::fs::rename(&tmp, dir.join("leaktop.prom"))
}
