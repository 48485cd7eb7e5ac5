//! `leaktop run -- CMD`: launch a command under a child subreaper and catch everything
//! it leaves behind.
//!
//! As a subreaper, leaktop adopts every process orphaned anywhere under CMD, however
//! fast it forks or whether it calls `setsid`, so nothing escapes to init. leaktop
//! reaps what it adopts, forwards INT/TERM/HUP sent to it by other processes (a
//! terminal's Ctrl-C already reaches CMD, which shares leaktop's process group), and
//! sets PR_SET_PDEATHSIG so CMD gets SIGTERM if leaktop itself is SIGKILLed.
//!
//! Where the platform has no subreaper (macOS) an orphan goes to init (launchd), and
//! `run` knows it only if a tick saw it in CMD's family first; it says so in its report.

use std::ffi::OsString;
use std::io;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use signal_hook::consts::{SIGCHLD, SIGHUP, SIGINT, SIGTERM};

use super::kill::{self, KillReport, Target};
use super::run_trail::RunTrail;
use crate::exit_codes::ExitCode;
use crate::format::{Format, Width, human_kb, plural};
use crate::host::{Alarm, Exit, Host, Listening, Pinned, Signal, SpawnError, SpawnSpec, Spawned};
use crate::model::leak_log::{ExitedLeak, LeakLog};
use crate::model::{Alert, AlertConfig};
use crate::model::{AlertKind, Event, Header, ProcRow, Tick, layout};
use crate::monitor::{AttachError, Monitor, TickSource};
use crate::outfile::{Interrupts, Mode, OutFile};
use crate::record::{RecordError, TickSink};
use crate::sample::{Backend, IdMap, Identity};
use crate::say;

pub struct RunOptions {
    pub command: Vec<OsString>,
    pub interval: Duration,
    pub settle: Duration,
    pub check: bool,
    pub kill_leaks: bool,
    /// `--quiet`: nothing said while CMD runs or when nothing leaked; of the report,
    /// only the verdict, the kill's result and warnings about what was not ended.
    pub quiet: bool,
    pub grace: Duration,
    pub record: Option<PathBuf>,
    pub format: Option<Format>,
    pub backend: Backend,
    /// How wide the report on stderr may be ([`Width::Whole`] in a pipe).
    pub width: Width,
    /// Show the interactive view instead of passing the terminal through to CMD.
    pub tui: Option<Box<dyn View>>,
    pub alerts: AlertConfig,
    /// With `check`: also fail (exit 3) on any of these alerts raised at any time
    /// during the run...
    pub fail_on: Vec<AlertKind>,
    /// ...or, when not zero, only on one standing at the last tick before CMD exited
    /// or having stood this long without a break.
    pub fail_after: Duration,
    /// How long an orphan must outlive its parent to be called leaked; the run decides
    /// after the longer of this and `settle`.
    pub leak_grace: Duration,
    /// Processes meant to outlive their parent (`--allow`): never leaked.
    pub allowed: Vec<crate::model::allow::AllowRule>,
    /// `--metrics`: where each tick's figures are published.
    pub metrics: Option<Arc<crate::metrics::MetricsState>>,
    /// Fold every tick into a [`crate::report::Summary`] (`--json`): its state grows
    /// with the distinct processes of the run.
    pub summarize: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("no command given: put it after --, e.g. leaktop run -- make test")]
    NoCommand,
    #[error(transparent)]
    Spawn(#[from] SpawnError),
    #[error("cannot become a child subreaper: {0}")]
    Subreaper(io::Error),
    #[error("cannot install signal handlers: {0}")]
    Signals(io::Error),
    #[error(transparent)]
    Record(#[from] RecordError),
    #[error(transparent)]
    Attach(#[from] AttachError),
    #[error(transparent)]
    Sample(#[from] crate::sample::SampleError),
    #[error("--tui needs a terminal; without it leaktop run passes the terminal through to CMD")]
    NoTerminal,
}

/// The interactive view `run --tui` shows CMD's family in while CMD runs. `run` does
/// not know the view: the command layer hands it the interactive one (`ui`'s
/// `RunView`), which depends on `actions`, never the other way round.
pub trait View {
    /// Whether it can open (it needs a terminal on both ends): asked before CMD
    /// starts.
    fn can_open(&self) -> bool;

    /// Shows the family whose header is `header`, sampled from `source` every `interval` on `host`'s clock,
    /// until the user closes it or its terminal goes away (an ordinary end, `Ok`). A
    /// fatal signal that ended it waits for [`View::finish`]. `Err`: the terminal could
    /// not be set up; the run then ends CMD and reports as after a close.
    fn show(
        &self,
        host: Arc<dyn Host>,
        header: Header,
        source: Box<dyn TickSource>,
        interval: Duration,
    ) -> io::Result<()>;

    /// Called once the run has reported and cleaned up: dies, through `host`, of the
    /// fatal signal (SIGQUIT, SIGUSR1, ...) that ended the view, if one did.
    fn finish(&self, host: &dyn Host);
}

pub struct RunOutcome {
    /// CMD's exit code (128 + signal if a signal killed it; 1 where it is unknown).
    pub cmd_code: u8,
    /// How long CMD ran, ms (from when leaktop started it to when it was reaped);
    /// `None` where it was never reaped.
    pub cmd_ms: Option<u64>,
    pub leaked: usize,
    /// `check` was asked and fails: something leaked (or could not be read), or a
    /// `fail_on` alert stood (the command layer's exit 3).
    pub fails_check: bool,
    /// The leaked processes as reported: those alive at the end, then those that
    /// leaked and exited before it (their last rows).
    pub leaked_rows: Vec<ProcRow>,
    /// Processes adopted by leaktop whose `/proc` entry could not be read.
    pub hidden: Vec<u32>,
    /// Every alert raised during the run, as first raised.
    pub raised: Vec<Alert>,
    /// The alerts of `--fail-on` kinds that fail `--check`: standing when CMD exited,
    /// or standing for `--fail-after` at some time.
    pub failing: Vec<Alert>,
    /// The run as `report --json` summarises a recording (with `summarize`).
    pub summary: Option<crate::report::Summary>,
    /// Why `--record`'s recording stopped before the run ended (a full disk): the run
    /// went on, but the output asked for is incomplete.
    pub recording_error: Option<String>,
}

/// Rounds of `--kill-leaks`: each ends what is left under the subreaper, including
/// what the previous round's processes forked while they died.
const KILL_ROUNDS: usize = 5;

/// The value of `LEAKTOP_RUN` for a run by this leaktop: `<pid>.<start>`, which no
/// other process will have while any process carrying it lives (start times differ).
pub fn run_marker(host: &dyn Host) -> String {
    let me = host.own_pid();
    let start = host.probe(me).map_or(0, |s| s.start);
    format!("{me}.{start}")
}

/// Runs `opts.command` under leaktop on `host` (the command layer's real one, or a
/// test's fake), supervises and reports its family, and says how the run ended; in
/// its phases: [`start`] CMD under the subreaper, [`supervise`] it until it has
/// exited and the settle time is over, [`decide`] what leaked and report it,
/// [`end_leaks`] with `kill_leaks`, and [`conclude`] with the rest and the outcome.
pub fn run_on(host: Arc<dyn Host>, opts: &RunOptions) -> Result<RunOutcome, RunError> {
    let Started {
        session,
        signals,
        adopting,
    } = start(&host, opts)?;
    let (mut session, last, hurried) = supervise(host.clone(), session, opts, &signals)?;
    let found = decide(&mut session, last, hurried, adopting, opts);
    let killed = end_leaks(&session.supervisor, &found.leaked, opts);
    Ok(conclude(&host, session, found, &killed, opts))
}

/// CMD started and watched, before its first tick.
struct Started {
    session: Session,
    /// INT, TERM and HUP sent to leaktop, and SIGCHLD.
    signals: Heard,
    /// Whether leaktop is CMD's subreaper (not on macOS).
    adopting: bool,
}

/// Checks what can be checked before anything starts, then starts CMD under the
/// subreaper, attaches the monitor to it and opens the recording. Errors: no
/// command, `--tui` without a terminal; no subreaper or signal handlers, an
/// unwritable recording (nothing started); CMD that cannot start; a failed attach
/// (CMD gets SIGTERM).
fn start(host: &Arc<dyn Host>, opts: &RunOptions) -> Result<Started, RunError> {
    if opts.command.is_empty() {
        return Err(RunError::NoCommand);
    }
    if opts.tui.as_ref().is_some_and(|view| !view.can_open()) {
        return Err(RunError::NoTerminal);
    }
    let adopting = host.become_subreaper().map_err(RunError::Subreaper)?;
    // Only signals another process sent are forwarded; the terminal's already reached
    // CMD through the process group.
    let signals = Heard::listen(host.as_ref())?;
    // A recording that cannot be written is known before anything is started, and is
    // opened once (a FIFO's reader is waited for, until a signal); what an existing
    // file holds goes only once CMD runs, so a failed start leaves it as it was.
    let recording = opts
        .record
        .as_deref()
        .map(|p| OutFile::open(host.as_ref(), p, Mode::Replace, Some(&signals.interrupts)))
        .transpose()
        .map_err(RecordError::from)?;
    let (supervisor, trail) = spawn_cmd(host, opts)?;
    let monitor = match attach(host, &supervisor, adopting, opts) {
        Ok(monitor) => monitor,
        Err(e) => {
            supervisor.signal(Signal::TERM);
            return Err(e);
        }
    };
    let mut session = Session::new(monitor, supervisor, trail, opts);
    if let Some(out) = recording {
        session.open_recording(out, opts.format);
    }
    Ok(Started {
        session,
        signals,
        adopting,
    })
}

/// Starts CMD, marked for `leaktop orphans` (and the run's trail begun that vouches
/// for the marker), its parent-death signal set.
fn spawn_cmd(
    host: &Arc<dyn Host>,
    opts: &RunOptions,
) -> Result<(Supervisor, Option<RunTrail>), RunError> {
    // Children leaktop already has (a wrapper that `exec`s leaktop hands its own
    // down): they were never CMD's, so they are neither adopted nor ended.
    let mut before = Vec::new();
    host.children_of(host.own_pid(), &mut before);
    let preexisting: Vec<Identity> = before
        .into_iter()
        .filter_map(|p| host.probe(p))
        .map(|s| s.id())
        .collect();
    // The record that vouches for CMD's marker once this run is gone.
    let trail = RunTrail::begin(host.clone()).unwrap_or_else(|e| {
        // Quiet, this note would land in CMD's terminal as it starts.
        if !opts.quiet {
            say(&format!(
            "leaktop: note: this run keeps no record ({e}): `leaktop orphans` will call the marker of what it leaves unverified\n"
            ));
        }
        None
    });
    let spawned = host.spawn(&SpawnSpec {
        argv: opts.command.clone(),
        // The view owns the terminal; CMD's output would tear it.
        null_stdio: opts.tui.is_some(),
        parent_death_signal: Some(Signal::TERM),
        // A trail for `leaktop orphans`, should leaktop itself be killed.
        env: vec![(
            crate::model::orphans::RUN_MARKER.into(),
            run_marker(host.as_ref()).into(),
        )],
    })?;
    Ok((Supervisor::new(host.clone(), spawned, preexisting), trail))
}

/// The monitor of CMD's family: leaktop's own children from before CMD are not of it,
/// and, as the subreaper, leaktop is where its orphans go.
fn attach(
    host: &Arc<dyn Host>,
    supervisor: &Supervisor,
    adopting: bool,
    opts: &RunOptions,
) -> Result<Monitor, RunError> {
    let me = host.own_pid();
    let monitor = Monitor::attach_on(
        host.clone(),
        host.sampler(opts.backend)?,
        supervisor.cmd_pid,
        opts.interval,
        if adopting { vec![me] } else { Vec::new() },
    )?;
    Ok(monitor
        .excluding(&supervisor.preexisting)
        .with_alerts(opts.alerts.clone())
        .with_leak_grace(opts.leak_grace)
        .with_allowed(opts.allowed.clone())
        .with_metrics(opts.metrics.clone()))
}

/// Samples CMD's family, in the view with `tui` until the user closes it, then
/// until CMD has exited and the settle time has passed. Returns the session, the last
/// tick, and whether a signal cut the settle short.
fn supervise(
    host: Arc<dyn Host>,
    session: Session,
    opts: &RunOptions,
    signals: &Heard,
) -> Result<(Session, Tick, bool), RunError> {
    let session = Arc::new(Mutex::new(session));
    if let Some(view) = &opts.tui {
        show_view(host, &session, view.as_ref(), opts.interval);
    }
    let mut session = match Arc::try_unwrap(session) {
        Ok(m) => m.into_inner().unwrap_or_else(|e| e.into_inner()),
        Err(_) => unreachable!("the view's sampler thread has ended"),
    };
    if let Some(e) = session.error.take() {
        session.supervisor.signal(Signal::TERM);
        return Err(e);
    }
    let (last, hurried) = drive(&mut session, opts, signals)?;
    Ok((session, last, hurried))
}

/// What leaked: alive at the end, and ended before it.
struct Found {
    /// The leaked processes alive at the last tick.
    leaked: Vec<ProcRow>,
    /// Those that leaked and exited before the end (their last rows, some of them),
    /// and how many in all.
    exited: (Vec<ExitedLeak>, usize),
}

/// What leaked, from the last tick and the leak log, reported with what else the run
/// found.
fn decide(
    session: &mut Session,
    last: Tick,
    hurried: bool,
    adopting: bool,
    opts: &RunOptions,
) -> Found {
    // Hurried by a signal, an orphan still within its leak grace is left behind all
    // the same: CMD has exited, and whatever of its family lives on is a leak.
    let leaked: Vec<ProcRow> = last
        .processes
        .into_iter()
        .filter(|p| p.leaked || (hurried && p.state != 'Z'))
        .collect();
    // A leak that ended before the run did is still a leak.
    let exited = session.leaks.exited().to_vec();
    let exited_count = session.leaks.exited_count();
    // Quiet, the verdict line says it all.
    if opts.quiet {
        return Found {
            leaked,
            exited: (exited, exited_count),
        };
    }
    if !leaked.is_empty() || exited_count > 0 {
        say(&opts.width.lines(&leak_report(
            &opts.command,
            session.cmd_code(),
            &leaked,
            (&exited, exited_count),
            session.supervisor.host.own_pid(),
            opts.width,
        )));
    }
    say(&opts.width.lines(&findings_text(
        session.orphans_exited,
        (!adopting).then_some(opts.interval),
    )));
    // What the recording holds that no tick showed (process events: the connector).
    if session.sink.is_some() && session.short_lived.count > 0 {
        say(&opts.width.lines(&format!(
            "leaktop: the recording holds {}\n",
            session.short_lived
        )));
    }
    Found {
        leaked,
        exited: (exited, exited_count),
    }
}

/// With `kill_leaks`, ends what leaked and says what was freed.
fn end_leaks(supervisor: &Supervisor, leaked: &[ProcRow], opts: &RunOptions) -> KillReport {
    if !opts.kill_leaks || leaked.is_empty() {
        return KillReport::default();
    }
    let killed = kill_leaks(supervisor, leaked, opts.grace);
    say(&opts.width.lines(&kill_summary(&killed, opts.quiet)));
    killed
}

/// Reaps what is left, closes the run's trail, reports what could not be seen and
/// every alert, and makes the outcome; a fatal signal that ended the view takes
/// effect here, once all is said.
fn conclude(
    host: &Arc<dyn Host>,
    mut session: Session,
    found: Found,
    killed: &KillReport,
    opts: &RunOptions,
) -> RunOutcome {
    let Found {
        leaked,
        exited: (exited, exited_count),
    } = found;
    session.supervisor.reap();
    if let Some(trail) = session.trail.take() {
        trail.finish(!session.supervisor.adoptees().is_empty());
    }
    let hidden = session.supervisor.hidden_adoptees(&leaked, killed);
    // Quiet, an alert is said only in the verdict, and only where it fails --check.
    let raised: &[Alert] = if opts.quiet { &[] } else { &session.raised };
    say(&opts
        .width
        .lines(&ending_text(&hidden, raised, &session.since_ms)));
    let failing = session.failing(&opts.fail_on, opts.fail_after);
    if let Some(view) = &opts.tui {
        view.finish(host.as_ref());
    }
    let any_leak = !leaked.is_empty() || exited_count > 0 || !hidden.is_empty();
    let summary = session
        .summary
        .as_ref()
        .map(|s| s.summary(session.monitor.header(), false));
    let leaked_count = leaked.len() + exited_count + hidden.len();
    let mut leaked_rows = leaked;
    leaked_rows.extend(exited.into_iter().map(|e| e.row));
    let supervisor = &session.supervisor;
    let cmd_ms = supervisor.exited_at.map(|at| {
        at.saturating_duration_since(supervisor.started_at)
            .as_millis() as u64
    });
    RunOutcome {
        cmd_code: session.cmd_code(),
        cmd_ms,
        leaked: leaked_count,
        fails_check: opts.check && (any_leak || !failing.is_empty()),
        leaked_rows,
        hidden,
        recording_error: session.recording.as_ref().map(ToString::to_string),
        raised: session.raised,
        failing,
        summary,
    }
}

/// What else the run found, for stderr after the leak report: orphans that exited by
/// themselves, and (`no_subreaper`: the tick interval) what a run without a subreaper
/// cannot see. Empty when there is nothing. (An incomplete recording is the run's
/// error: [`RunOutcome::recording_error`].)
fn findings_text(orphans_exited: usize, no_subreaper: Option<Duration>) -> String {
    let mut out = String::new();
    match orphans_exited {
        0 => {}
        1 => out.push_str(
            "leaktop: 1 process was orphaned during the run and exited by itself (not a leak)\n",
        ),
        n => out.push_str(&format!(
            "leaktop: {n} processes were orphaned during the run and exited by themselves (not leaks)\n"
        )),
    }
    if let Some(interval) = no_subreaper {
        out.push_str(&format!(
            "leaktop: note: this system has no subreaper, so an orphan of CMD's goes to init: \
             one started and orphaned between two ticks ({}) was never seen in CMD's family \
             and is not reported\n",
            humantime::format_duration(interval)
        ));
    }
    out
}

/// The last lines of the run's report: adopted processes that could not be read, and
/// every alert raised. Empty when there is nothing.
fn ending_text(hidden: &[u32], raised: &[Alert], since_ms: &[Since]) -> String {
    let mut out = String::new();
    if !hidden.is_empty() {
        let pids: Vec<String> = hidden.iter().map(u32::to_string).collect();
        out.push_str(&format!(
            "leaktop: warning: {} adopted by leaktop cannot be read (its /proc entry is hidden: \
             hidepid, or a mount over /proc/PID), so it is neither reported nor ended: {}\n",
            plural(hidden.len(), "process", "processes"),
            pids.join(" ")
        ));
    }
    for (i, a) in raised.iter().enumerate() {
        let from = match since_ms.get(i) {
            Some(since) => format!("{} (tick {})", since.seconds(), a.since_tick),
            None => format!("tick {}", a.since_tick),
        };
        out.push_str(&format!(
            "leaktop: alert {} {} from {from}: {}\n",
            a.kind, a.pid, a.reason
        ));
    }
    out
}

/// When an alert's condition began, in ms since the run began: exact when it was
/// raised at the tick it began, else counted back from the tick that raised it by
/// the interval (a loaded machine can delay a tick: then approximate).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Since {
    ms: u64,
    exact: bool,
}

impl Since {
    /// At tick `since_tick`, seen from `tick` (elapsed `elapsed_ms`), ticks
    /// `interval_ms` apart.
    fn of(since_tick: u32, tick: u32, elapsed_ms: u64, interval_ms: u64) -> Since {
        let back = u64::from(tick.saturating_sub(since_tick));
        Since {
            ms: elapsed_ms.saturating_sub(back.saturating_mul(interval_ms)),
            exact: back == 0,
        }
    }

    /// `7.6 s`, or `~7.6 s` when approximate.
    fn seconds(self) -> String {
        let about = if self.exact { "" } else { "~" };
        format!("{about}{}.{} s", self.ms / 1000, self.ms % 1000 / 100)
    }
}

/// Ends the leaked trees (SIGTERM, then SIGKILL after `grace`), then, round after
/// round, with SIGKILL, whatever is still left under the subreaper: a leaked process
/// may fork while it handles SIGTERM, and an orphan of the kill is adopted by
/// leaktop, not found by the kill's enumeration.
fn kill_leaks(supervisor: &Supervisor, leaked: &[ProcRow], grace: Duration) -> KillReport {
    let host = supervisor.host.as_ref();
    // Top-down, so parents are frozen before their children.
    let mut targets: Vec<Target> = layout::tree_order(leaked)
        .map(|i| Target::row(&leaked[i]))
        .collect();
    let mut total = KillReport::default();
    let mut signal = Signal::TERM;
    for _ in 0..KILL_ROUNDS {
        let round = kill::kill_trees(host, &targets, signal, grace, true);
        // What the leaks left while they died had its chance to end cleanly: a process
        // that forks afresh on every SIGTERM would otherwise outlast every round.
        signal = Signal::KILL;
        total.absorb(round);
        supervisor.reap_now();
        targets = supervisor
            .adoptees()
            .into_iter()
            .filter(|s| !total.ended.contains(&s.id()) && !total.survived.contains(&s.id()))
            .map(|s| Target::sample(&s))
            .collect();
        if targets.is_empty() {
            break;
        }
    }
    // Whatever is still under the subreaper after the last round survived too.
    for s in supervisor.adoptees() {
        if !total.survived.contains(&s.id()) {
            total.survived.push(s.id());
        }
    }
    total
}

/// CMD as leaktop holds it: the only place that reaps, and the only way a signal
/// reaches CMD (through its pidfd, so never a process that took its pid later).
struct Supervisor {
    host: Arc<dyn Host>,
    cmd_pid: u32,
    cmd: Box<dyn Pinned>,
    /// How CMD ended, once reaped.
    exit: Option<Exit>,
    /// When leaktop started supervising CMD (just after it was spawned).
    started_at: Instant,
    exited_at: Option<Instant>,
    /// leaktop's children from before CMD started: never CMD's orphans.
    preexisting: Vec<Identity>,
}

impl Supervisor {
    fn new(host: Arc<dyn Host>, spawned: Spawned, preexisting: Vec<Identity>) -> Self {
        Supervisor {
            host: host.clone(),
            cmd_pid: spawned.pid,
            cmd: spawned.pinned,
            exit: None,
            started_at: host.now(),
            exited_at: None,
            preexisting,
        }
    }

    /// Reaps every exited child, noting CMD's status when it comes.
    fn reap(&mut self) {
        for (pid, exit) in self.host.reap() {
            if pid == self.cmd_pid && self.exit.is_none() {
                self.exit = Some(exit);
                self.exited_at = Some(self.host.now());
            }
        }
    }

    /// Reaps without noting anything: only once CMD's status is known.
    fn reap_now(&self) {
        if self.exit.is_some() {
            self.host.reap();
        }
    }

    /// Sends `signal` to CMD unless it has exited.
    fn signal(&self, signal: Signal) {
        if self.exit.is_none() {
            let _ = self.cmd.signal(signal);
        }
    }

    /// leaktop's live children other than CMD: each an orphan of CMD's family.
    fn adoptees(&self) -> Vec<crate::sample::ProcSample> {
        let mut pids = Vec::new();
        self.host.children_of(self.host.own_pid(), &mut pids);
        pids.into_iter()
            .filter(|&p| p != self.cmd_pid || self.exit.is_some())
            .filter_map(|p| self.host.probe(p))
            .filter(|s| !s.has_exited() && !self.preexisting.contains(&s.id()))
            .collect()
    }

    /// Children of leaktop the kernel lists but whose `/proc` entries cannot be read,
    /// and that are neither reported nor ended already.
    fn hidden_adoptees(&self, leaked: &[ProcRow], killed: &KillReport) -> Vec<u32> {
        let mut pids = Vec::new();
        self.host.children_of(self.host.own_pid(), &mut pids);
        pids.sort_unstable();
        pids.dedup();
        pids.into_iter()
            .filter(|&p| p != self.cmd_pid || self.exit.is_some())
            .filter(|&p| leaked.iter().all(|r| r.pid != p))
            .filter(|&p| killed.ended.iter().all(|id| id.pid != p))
            .filter(|&p| self.preexisting.iter().all(|id| id.pid != p))
            .filter(|&p| self.host.probe(p).is_none())
            .collect()
    }
}

/// CMD and everything leaktop knows about it while it runs.
struct Session {
    monitor: Monitor,
    sink: Option<TickSink>,
    /// Why the recording stopped early, if it did; supervision goes on without it.
    recording: Option<RecordError>,
    supervisor: Supervisor,
    /// Every alert raised during the run, as first raised.
    raised: Vec<Alert>,
    /// The alerts standing at the last tick at which CMD was alive.
    standing: Vec<Alert>,
    /// For each alert of `raised` (same index): when (elapsed ms) its latest streak
    /// began, and the longest it stood without a break, ms, from the tick it was
    /// raised to the last tick it stood.
    stood_ms: Vec<(u64, u64)>,
    /// For each alert of `raised` (same index): when its condition began.
    since_ms: Vec<Since>,
    /// Orphans that exited by themselves within the leak grace.
    orphans_exited: usize,
    /// Processes forked and exited between two ticks (process events).
    short_lived: crate::model::ShortLives,
    /// A failure inside the view's sampler, reported once the view closes.
    error: Option<RunError>,
    /// The view owns the terminal, or (`quiet`) CMD does: a failed recording is said
    /// only in the run's final error.
    viewing: bool,
    /// `--json`: every tick folded in.
    summary: Option<crate::report::Summarizer>,
    /// Every leak of the run, those that exited before the end included.
    leaks: LeakLog,
    /// The run's record, beating while CMD's family is watched.
    trail: Option<RunTrail>,
}

impl Session {
    fn new(
        monitor: Monitor,
        supervisor: Supervisor,
        trail: Option<RunTrail>,
        opts: &RunOptions,
    ) -> Session {
        Session {
            monitor,
            sink: None,
            recording: None,
            supervisor,
            raised: Vec::new(),
            standing: Vec::new(),
            stood_ms: Vec::new(),
            since_ms: Vec::new(),
            orphans_exited: 0,
            short_lived: crate::model::ShortLives::default(),
            error: None,
            viewing: opts.tui.is_some() || opts.quiet,
            summary: opts.summarize.then(crate::report::Summarizer::new),
            trail,
            leaks: LeakLog::new(),
        }
    }

    /// Starts the recording in the file opened for it and writes its header; a
    /// failure ends the recording, not the run.
    fn open_recording(&mut self, out: OutFile, format: Option<Format>) {
        let format = format.unwrap_or_else(|| Format::from_path(out.path()));
        match TickSink::start(Some(out), format) {
            Ok(sink) => {
                self.sink = Some(sink);
                let header = self.monitor.header().clone();
                self.record(|sink| sink.header(&header));
            }
            Err(e) => self.recording_failed(e),
        }
    }

    /// CMD's exit code as a shell gives it (128 + N for signal N); 1 where its status
    /// is not known.
    fn cmd_code(&self) -> u8 {
        ExitCode::of_command(self.supervisor.exit).code()
    }

    fn step(&mut self) -> Result<Tick, RunError> {
        let tick = self.monitor.step()?;
        if let Some(trail) = &mut self.trail {
            trail.beat();
        }
        self.record(|sink| sink.tick(&tick));
        if let Some(summary) = &mut self.summary {
            summary.add(&tick);
        }
        self.leaks.add(&tick);
        self.short_lived.add(&tick);
        self.orphans_exited += tick
            .events
            .iter()
            .filter(|e| matches!(e, Event::OrphanExited { .. }))
            .count();
        for a in &tick.alerts {
            let at = self
                .raised
                .iter()
                .position(|r| (r.kind, r.pid, r.start) == (a.kind, a.pid, a.start));
            let interval_ms = self.monitor.header().interval_ms;
            let i = at.unwrap_or_else(|| {
                self.raised.push(a.clone());
                self.stood_ms.push((tick.elapsed_ms, 0));
                self.since_ms.push(Since::of(
                    a.since_tick,
                    tick.tick,
                    tick.elapsed_ms,
                    interval_ms,
                ));
                self.raised.len() - 1
            });
            // Raised afresh at this tick (it had cleared): a new streak.
            let (from, longest) = &mut self.stood_ms[i];
            if a.since_tick == tick.tick {
                *from = tick.elapsed_ms;
            }
            *longest = (*longest).max(tick.elapsed_ms.saturating_sub(*from));
        }
        if tick.root_alive {
            self.standing.clone_from(&tick.alerts);
        }
        self.supervisor.reap();
        Ok(tick)
    }

    /// The alerts of `kinds` that fail `--check`, each once: with `after` zero, any
    /// that stood at any time during the run (one that cleared before the end is no
    /// less a finding); otherwise one standing at the last tick before CMD exited, or
    /// one that stood at least `after` without a break.
    fn failing(&self, kinds: &[AlertKind], after: Duration) -> Vec<Alert> {
        let after_ms = u64::try_from(after.as_millis()).unwrap_or(u64::MAX);
        if after_ms == 0 {
            return self
                .raised
                .iter()
                .filter(|a| kinds.contains(&a.kind))
                .cloned()
                .collect();
        }
        let mut failing: Vec<Alert> = self
            .standing
            .iter()
            .filter(|a| kinds.contains(&a.kind))
            .cloned()
            .collect();
        for (a, &(_, ms)) in self.raised.iter().zip(&self.stood_ms) {
            if kinds.contains(&a.kind) && ms >= after_ms && !failing.contains(a) {
                failing.push(a.clone());
            }
        }
        failing
    }

    /// Writes to the recording; a failure (a full disk) ends the recording, not the
    /// run: CMD and its family are still supervised and reported.
    fn record(&mut self, write: impl FnOnce(&mut TickSink) -> Result<(), RecordError>) {
        if let Some(sink) = self.sink.as_mut()
            && let Err(e) = write(sink)
        {
            self.recording_failed(e);
        }
    }

    fn recording_failed(&mut self, e: RecordError) {
        // While the view owns the terminal the message waits for the final report.
        if self.recording.is_none() && !self.viewing {
            say(&format!(
                "leaktop: error: {e}; recording stops, supervising goes on\n"
            ));
        }
        self.sink = None;
        self.recording = Some(e);
    }
}

/// The signals `run` hears (INT, TERM, HUP to forward or to hurry the report; CHLD to
/// reap at once), through the host: each rings `alarm`, which ends the wait for the
/// next tick, and INT, TERM and HUP are counted in `interrupts` first (for the wait
/// for a FIFO's reader).
struct Heard {
    rx: mpsc::Receiver<(i32, bool)>,
    alarm: Alarm,
    interrupts: Interrupts,
    /// Never closed: CMD's signals are forwarded until leaktop exits.
    _listening: Listening,
}

impl Heard {
    fn listen(host: &dyn Host) -> Result<Heard, RunError> {
        let (tx, rx) = mpsc::channel();
        let alarm = Alarm::new();
        let interrupts = Interrupts::default();
        let (ring, counted) = (alarm.clone(), interrupts.clone());
        let listening = host
            .listen_signals(
                &[SIGINT, SIGTERM, SIGHUP, SIGCHLD],
                Box::new(move |sig, sent| {
                    if matches!(sig, SIGINT | SIGTERM | SIGHUP) {
                        counted.note(sig);
                    }
                    let heard = tx.send((sig, sent)).is_ok();
                    ring.ring();
                    heard
                }),
            )
            .map_err(RunError::Signals)?;
        Ok(Heard {
            rx,
            alarm,
            interrupts,
            _listening: listening,
        })
    }
}

/// Samples until CMD has exited and the settle time has passed; returns the last tick,
/// and whether a signal cut the settle short.
fn drive(
    session: &mut Session,
    opts: &RunOptions,
    signals: &Heard,
) -> Result<(Tick, bool), RunError> {
    let host = session.supervisor.host.clone();
    let mut next = host.now();
    // Set by INT, TERM or HUP once CMD has exited: report now, not after --settle.
    let mut hurried = false;
    loop {
        let tick = session.step()?;
        let exited_at = session.supervisor.exited_at;
        if let Some(at) = exited_at
            && (hurried
                || (host.now().saturating_duration_since(at) >= opts.settle
                    && !session.monitor.tracker().undecided()))
            && !tick.root_alive
        {
            return Ok((tick, hurried));
        }
        next = after(next, opts.interval);
        // The settle's end may bring the next tick forward, never into the past: an
        // orphan still within its leak grace waits at the interval, not in a spin.
        if let Some(at) = exited_at {
            let settled = after(at, opts.settle);
            if settled > host.now() {
                next = next.min(settled);
            }
        }
        // Wait for the next tick; a child's exit or a signal wakes the loop early.
        loop {
            if host.now() >= next {
                break;
            }
            let heard = match signals.rx.try_recv() {
                Ok(heard) => heard,
                Err(mpsc::TryRecvError::Empty) => {
                    // Events between ticks where the monitor hears them (a loss:
                    // rescan now); a signal is looked for at least every slice.
                    if !session.monitor.listens() {
                        host.wait(Some(next), &signals.alarm);
                    } else if session.monitor.listen(Some(next)).rescan {
                        next = host.now();
                    }
                    continue;
                }
                Err(mpsc::TryRecvError::Disconnected) => break,
            };
            match heard {
                (SIGCHLD, _) => {
                    let before = session.supervisor.exited_at;
                    session.supervisor.reap();
                    if before.is_none() && session.supervisor.exited_at.is_some() {
                        next = host.now();
                    }
                }
                (sig, true) if session.supervisor.exit.is_none() => {
                    if let Some(signal) = forwarded(sig) {
                        session.supervisor.signal(signal);
                    }
                }
                (SIGINT | SIGTERM | SIGHUP, _) if session.supervisor.exit.is_some() => {
                    hurried = true;
                    next = host.now();
                }
                _ => {}
            }
        }
    }
}

/// `at + d`, or far in the future where that overflows the clock.
fn after(at: Instant, d: Duration) -> Instant {
    at.checked_add(d)
        .unwrap_or_else(|| at + Duration::from_secs(86_400 * 365))
}

/// Shows CMD's family in the interactive view until the user closes it; CMD, if still
/// running then, gets SIGTERM (closing the view ends the run). A view that fails (its
/// terminal gone or unusable) ends the same way, with a warning: CMD is running by
/// then, and the run still owes its report, its kill and its files.
fn show_view(
    host: Arc<dyn Host>,
    session: &Arc<Mutex<Session>>,
    view: &dyn View,
    interval: Duration,
) {
    let header = lock(session).monitor.header().clone();
    let source = Box::new(SharedSession(session.clone()));
    if let Err(e) = view.show(host, header, source, interval) {
        say(&format!(
            "leaktop: warning: the view ended: terminal: {e}\n"
        ));
    }
    let mut s = lock(session);
    s.supervisor.reap();
    s.supervisor.signal(Signal::TERM);
}

fn lock(session: &Mutex<Session>) -> std::sync::MutexGuard<'_, Session> {
    session.lock().unwrap_or_else(|e| e.into_inner())
}

/// The session as the view's sampler thread sees it.
struct SharedSession(Arc<Mutex<Session>>);

impl TickSource for SharedSession {
    fn step(&mut self) -> Result<Tick, String> {
        let mut s = lock(&self.0);
        s.step().map_err(|e| {
            let shown = e.to_string();
            s.error = Some(e);
            shown
        })
    }

    fn finished(&self) -> Option<String> {
        let s = lock(&self.0);
        (!s.monitor.tracker().any_alive())
            .then(|| "CMD and every process it started have exited".into())
    }

    fn focus(&mut self, ids: Vec<crate::sample::Identity>) {
        lock(&self.0).monitor.set_focus(ids);
    }

    fn listens(&self) -> bool {
        lock(&self.0).monitor.listens()
    }

    fn listen(&mut self, until: Instant) -> bool {
        lock(&self.0).monitor.listen(Some(until)).rescan
    }
}

/// The signals `run` passes on to CMD.
fn forwarded(sig: i32) -> Option<Signal> {
    match sig {
        SIGINT => Some(Signal::INT),
        SIGTERM => Some(Signal::TERM),
        SIGHUP => Some(Signal::HUP),
        _ => None,
    }
}

/// What stayed behind, as a table of trees within `width`
/// ([`crate::format::leaks::table`]): the leaks alive at the end, and those that leaked
/// and exited before it (`exited`: the rows kept, and how many in all), each said so.
fn leak_report(
    command: &[OsString],
    cmd_code: u8,
    leaked: &[ProcRow],
    exited: (&[ExitedLeak], usize),
    me: u32,
    width: Width,
) -> String {
    // CMD's arguments are anyone's text: control characters escaped.
    let shown: Vec<String> = command
        .iter()
        .map(|a| crate::human::printable(&a.to_string_lossy()).into_owned())
        .collect();
    let (exited, exited_count) = exited;
    let rss: u64 = leaked.iter().map(|p| p.rss_kb).sum();
    let held = match (leaked.is_empty(), exited_count) {
        (false, 0) => format!("holding {}", human_kb(rss)),
        (true, 1) => "it exited before the end".to_string(),
        (true, _) => "each exited before the end".to_string(),
        (false, n) => format!(
            "{n} of them exited before the end; the others hold {}",
            human_kb(rss)
        ),
    };
    // CMD cut to leave the line's first words beside it; the rest wraps.
    let exited_with = format!("` exited with code {cmd_code};");
    let used = "leaktop: `".len() + exited_with.len();
    let mut out = format!(
        "leaktop: `{}{exited_with} {} leaked, {held}:\n",
        width.rest(&shown.join(" "), used, 20),
        plural(leaked.len() + exited_count, "process", "processes"),
    );
    let mut rows = leaked.to_vec();
    rows.extend(exited.iter().map(|e| e.row.clone()));
    let after: IdMap<Identity, u64> = exited.iter().map(|e| (e.row.id(), e.after_ms)).collect();
    let table = crate::format::leaks::table(&rows, width, &|p| match after.get(&p.id()) {
        Some(ms) => format!(
            "  <- leaked, then exited after {:.1} s",
            *ms as f64 / 1000.0
        ),
        None if p.escaped && p.ppid == me => format!(
            "  <- caught by the subreaper (PPID {me} is leaktop): orphaned before a sample saw its parent"
        ),
        None if p.ppid == me => format!("  <- adopted by the subreaper (PPID {me} is leaktop)"),
        None => String::new(),
    });
    out.push_str(&table);
    if exited_count > exited.len() {
        out.push_str(&format!(
            "leaktop: and {} more leaked and exited before the end\n",
            exited_count - exited.len()
        ));
    }
    out
}

/// The run's verdict for a CI log, one line: pass or FAIL (under `check`) and why,
/// CMD's exit code and how long it ran (seconds), what leaked (processes and their RSS,
/// KiB summed as RSS does) and which `--fail-on` alerts stood, and leaktop's own exit
/// code. `None` where nothing leaked, no alert was raised and the check (if asked)
/// passed: a clean run says nothing, as a wrapper around an interactive command must.
/// `quiet` (`--quiet`): `None` also where alerts were raised but none fails `--check`.
///
/// `leaktop: FAIL: `npm test` exited 0 after 12.3 s; 2 processes leaked (84.1 MiB RSS); exit 3`
pub fn verdict(
    command: &[OsString],
    outcome: &RunOutcome,
    check: bool,
    quiet: bool,
) -> Option<String> {
    let leaked = outcome.leaked > 0;
    if !leaked && (quiet || outcome.raised.is_empty()) && !outcome.fails_check {
        return None;
    }
    let shown: Vec<String> = command
        .iter()
        .map(|a| crate::human::printable(&a.to_string_lossy()).into_owned())
        .collect();
    let shown = crate::human::fit(&shown.join(" "), 60);
    let ran = outcome.cmd_ms.map_or(String::new(), |ms| {
        format!(" after {:.1} s", ms as f64 / 1000.0)
    });
    let mut why = Vec::new();
    if leaked {
        let rss: u64 = outcome.leaked_rows.iter().map(|r| r.rss_kb).sum();
        why.push(format!(
            "{} leaked ({} RSS at the end)",
            plural(outcome.leaked, "process", "processes"),
            human_kb(rss)
        ));
    } else {
        why.push("nothing leaked".into());
    }
    if !outcome.failing.is_empty() {
        let mut kinds: Vec<String> = outcome.failing.iter().map(|a| a.kind.to_string()).collect();
        kinds.dedup();
        why.push(format!(
            "{} of --fail-on kinds stood ({})",
            plural(outcome.failing.len(), "alert", "alerts"),
            kinds.join(", ")
        ));
    }
    let code = if outcome.fails_check {
        crate::exit_codes::ExitCode::Leaked.code()
    } else {
        outcome.cmd_code
    };
    let head = match (check, outcome.fails_check) {
        (true, true) => "FAIL: ",
        (true, false) => "pass: ",
        (false, _) => "",
    };
    let tail = if !check && leaked {
        " (leaks change the exit code only with --check)"
    } else {
        ""
    };
    Some(format!(
        "leaktop: {head}`{shown}` exited {}{ran}; {}; exit {code}{tail}\n",
        outcome.cmd_code,
        why.join("; "),
    ))
}

/// Pids listed by the summary before "…".
const PIDS_LISTED: usize = 12;

/// What `--kill-leaks` ended and freed, then (not `quiet`) how MemAvailable moved,
/// then what survived or was not signalled.
fn kill_summary(r: &KillReport, quiet: bool) -> String {
    let pids = |ids: &[Identity]| {
        let mut shown: Vec<String> = ids
            .iter()
            .take(PIDS_LISTED)
            .map(|i| i.pid.to_string())
            .collect();
        if ids.len() > PIDS_LISTED {
            shown.push("…".into());
        }
        shown.join(" ")
    };
    let mut s = format!(
        "leaktop: ended {}, {}",
        plural(r.ended.len(), "leaked process", "leaked processes"),
        crate::format::freed::freed_text(r.freed_rss_kb, r.freed_pss, r.freed_uss)
    );
    if !r.ended.is_empty() {
        s.push_str(&format!(": {}", pids(&r.ended)));
    }
    if let Some(change) = r
        .mem_available_change_kb
        .filter(|_| !r.ended.is_empty() && !quiet)
    {
        s.push_str(&format!(
            "\nleaktop: {}",
            crate::format::freed::mem_available_text(change)
        ));
    }
    if !r.survived.is_empty() {
        s.push_str(&format!(
            "\nleaktop: {} survived SIGKILL: {}",
            r.survived.len(),
            pids(&r.survived)
        ));
    }
    for (id, why) in &r.skipped {
        s.push_str(&format!("\nleaktop: not signalled {}: {why}", id.pid));
    }
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::AlertKind;

    /// Issue 28: a CI log read "from tick 38", which says nothing without the
    /// interval.
    #[test]
    fn an_alert_line_says_when_in_seconds_and_ticks() {
        let alert = Alert {
            kind: AlertKind::Zombies,
            pid: 4082,
            start: 1,
            since_tick: 38,
            reason: "8 unreaped children".into(),
        };
        let exact = Since::of(38, 38, 7_600, 200);
        let text = ending_text(&[], std::slice::from_ref(&alert), &[exact]);
        assert_eq!(
            text,
            "leaktop: alert zombies 4082 from 7.6 s (tick 38): 8 unreaped children\n"
        );
        // Raised 5 ticks after it began: counted back, and said to be approximate.
        let back = Since::of(38, 43, 8_650, 200);
        assert_eq!(back.seconds(), "~7.6 s");
    }
}
