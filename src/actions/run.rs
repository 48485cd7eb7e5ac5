//! `leaktop run -- CMD`: launch a command under a child subreaper and catch everything
//! it leaves behind.
//!
//! As a subreaper, leaktop adopts every process orphaned anywhere under CMD, however
//! fast it forks or whether it calls `setsid`, so nothing escapes to init. leaktop
//! reaps what it adopts, forwards INT/TERM/HUP sent to it by other processes (a
//! terminal's Ctrl-C already reaches CMD, which shares leaktop's process group), and
//! sets PR_SET_PDEATHSIG so CMD gets SIGTERM if leaktop itself is SIGKILLed.

use std::ffi::OsString;
use std::io;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal, WaitOptions};
use signal_hook::consts::{SIGCHLD, SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::SignalsInfo;
use signal_hook::iterator::exfiltrator::WithOrigin;

use super::kill::{self, KillReport, Target};
use crate::format::{Format, human_kb, plural, text};
use crate::model::{Alert, AlertConfig};
use crate::model::{AlertKind, ProcRow, Tick, layout};
use crate::monitor::{AttachError, Monitor};
use crate::record::{RecordError, TickSink};
use crate::sample::{Backend, Identity};
use crate::say;
use crate::ui::app::{App, Source, ViewOptions};
use crate::ui::terminal::{TickSource, Tui};

pub struct RunOptions {
    pub command: Vec<OsString>,
    pub interval: Duration,
    pub settle: Duration,
    pub check: bool,
    pub kill_leaks: bool,
    pub grace: Duration,
    pub record: Option<PathBuf>,
    pub format: Option<Format>,
    pub backend: Backend,
    /// Show the interactive view instead of passing the terminal through to CMD.
    pub tui: Option<ViewOptions>,
    pub alerts: AlertConfig,
    /// With `check`: also fail (exit 3) if any of these alerts was raised.
    pub fail_on: Vec<AlertKind>,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("no command given: put it after --, e.g. leaktop run -- make test")]
    NoCommand,
    #[error("cannot run '{0}': command not found")]
    NotFound(String),
    #[error("cannot run '{0}': permission denied (not executable?)")]
    NotExecutable(String),
    #[error("cannot run '{0}': {1}")]
    Spawn(String, io::Error),
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
    #[error("terminal: {0}")]
    View(io::Error),
    #[error("--tui needs a terminal; without it leaktop run passes the terminal through to CMD")]
    NoTerminal,
}

impl RunError {
    /// The exit code a shell would use for the same failure.
    pub fn exit_code(&self) -> u8 {
        match self {
            RunError::NoCommand | RunError::NotFound(_) => 127,
            RunError::NotExecutable(_) => 126,
            _ => 1,
        }
    }
}

/// Exit code when `--check` finds leaks.
pub const EXIT_LEAKED: u8 = 3;

pub struct RunOutcome {
    /// CMD's exit code (128 + signal if a signal killed it).
    pub cmd_code: u8,
    pub leaked: usize,
    pub exit_code: u8,
}

pub fn run(opts: &RunOptions) -> Result<RunOutcome, RunError> {
    let program = opts.command.first().ok_or(RunError::NoCommand)?;
    if opts.tui.is_some() {
        crate::ui::require_terminal("").map_err(|_| RunError::NoTerminal)?;
    }
    let name = program.to_string_lossy().into_owned();
    let me = std::process::id();
    // A recording that cannot be written is known before anything is started.
    let mut sink = match &opts.record {
        Some(path) => {
            let format = opts.format.unwrap_or_else(|| Format::from_path(path));
            Some(TickSink::create(Some(path), format)?)
        }
        None => None,
    };
    rustix::process::set_child_subreaper(Pid::from_raw(me as i32))
        .map_err(|e| RunError::Subreaper(e.into()))?;
    let mut signals = SignalsInfo::<WithOrigin>::new([SIGINT, SIGTERM, SIGHUP, SIGCHLD])
        .map_err(RunError::Signals)?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for info in signals.forever() {
            // Only signals another process sent are forwarded; the terminal's already
            // reached CMD through the process group.
            if tx.send((info.signal, info.process.is_some())).is_err() {
                break;
            }
        }
    });

    let mut command = std::process::Command::new(program);
    command.args(&opts.command[1..]);
    if opts.tui.is_some() {
        // The view owns the terminal; CMD's output would tear it.
        command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
    }
    let parent = Pid::from_raw(me as i32);
    // SAFETY: between fork and exec the closure makes only async-signal-safe calls
    // (prctl, getppid).
    unsafe {
        command.pre_exec(move || {
            rustix::process::set_parent_process_death_signal(Some(Signal::TERM))?;
            // leaktop died before the prctl took effect: no signal will ever come.
            if rustix::process::getppid() != parent {
                return Err(io::Error::other(
                    "leaktop exited while starting the command",
                ));
            }
            Ok(())
        });
    }
    let child = command.spawn().map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => RunError::NotFound(name.clone()),
        io::ErrorKind::PermissionDenied => RunError::NotExecutable(name.clone()),
        _ => RunError::Spawn(name.clone(), e),
    })?;
    let root = child.id();
    // std's Child would reap through waitpid(root); leaktop reaps everything itself.
    drop(child);

    let monitor = Monitor::attach(root, opts.backend, opts.interval, vec![me])?
        .with_alerts(opts.alerts.clone());
    if let Some(sink) = sink.as_mut() {
        sink.header(monitor.header())?;
    }
    let session = Arc::new(Mutex::new(Session {
        monitor,
        sink,
        root,
        cmd_status: None,
        exited_at: None,
        error: None,
        raised: Vec::new(),
    }));
    if let Some(view) = &opts.tui {
        show_view(&session, view, opts.interval)?;
    }
    let mut session = match Arc::try_unwrap(session) {
        Ok(m) => m.into_inner().unwrap_or_else(|e| e.into_inner()),
        Err(_) => unreachable!("the view's sampler thread has ended"),
    };
    if let Some(e) = session.error.take() {
        return Err(e);
    }
    let last = drive(&mut session, opts, &rx)?;

    let leaked: Vec<ProcRow> = last.processes.into_iter().filter(|p| p.leaked).collect();
    let cmd_code = session.cmd_status.unwrap_or(1);
    if !leaked.is_empty() {
        say(&leak_report(&opts.command, cmd_code, &leaked, me));
    }
    if opts.kill_leaks && !leaked.is_empty() {
        // Top-down, so parents are frozen before their children.
        let targets: Vec<Target> = layout::tree_order(&leaked)
            .map(|i| Target {
                id: Identity {
                    pid: leaked[i].pid,
                    start: leaked[i].start,
                },
                rss_kb: leaked[i].rss_kb,
            })
            .collect();
        let report = kill::kill_trees(&targets, Signal::TERM, opts.grace, true);
        say(&kill_summary(&report));
    }
    kill::reap_adopted();
    for a in &session.raised {
        say(&format!(
            "leaktop: alert {} {} from tick {}: {}\n",
            a.kind, a.pid, a.since_tick, a.reason
        ));
    }
    let failing_alert = session
        .raised
        .iter()
        .any(|a| opts.fail_on.contains(&a.kind));
    let exit_code = if opts.check && (!leaked.is_empty() || failing_alert) {
        EXIT_LEAKED
    } else {
        cmd_code
    };
    Ok(RunOutcome {
        cmd_code,
        leaked: leaked.len(),
        exit_code,
    })
}

/// CMD and everything leaktop knows about it while it runs.
struct Session {
    monitor: Monitor,
    sink: Option<TickSink>,
    root: u32,
    /// CMD's exit code once it has exited.
    cmd_status: Option<u8>,
    exited_at: Option<Instant>,
    /// A failure inside the view's sampler, reported once the view closes.
    error: Option<RunError>,
    /// Every alert raised during the run, as first raised.
    raised: Vec<Alert>,
}

impl Session {
    fn step(&mut self) -> Result<Tick, RunError> {
        let tick = self.monitor.step()?;
        if let Some(sink) = self.sink.as_mut() {
            sink.tick(&tick)?;
        }
        for a in &tick.alerts {
            let seen = self
                .raised
                .iter()
                .any(|r| (r.kind, r.pid, r.start) == (a.kind, a.pid, a.start));
            if !seen {
                self.raised.push(a.clone());
            }
        }
        self.reap();
        Ok(tick)
    }

    fn reap(&mut self) {
        reap(self.root, &mut self.cmd_status);
        if self.cmd_status.is_some() && self.exited_at.is_none() {
            self.exited_at = Some(Instant::now());
        }
    }
}

/// Samples until CMD has exited and the settle time has passed; returns the last tick.
fn drive(
    session: &mut Session,
    opts: &RunOptions,
    rx: &mpsc::Receiver<(i32, bool)>,
) -> Result<Tick, RunError> {
    let mut next = Instant::now();
    // Set by INT, TERM or HUP once CMD has exited: report now, not after --settle.
    let mut hurried = false;
    loop {
        let tick = session.step()?;
        if let Some(at) = session.exited_at
            && (hurried || at.elapsed() >= opts.settle)
            && !tick.root_alive
        {
            return Ok(tick);
        }
        next += opts.interval;
        if let Some(at) = session.exited_at {
            next = next.min(at + opts.settle);
        }
        // Wait for the next tick; a child's exit or a signal wakes the loop early.
        loop {
            let now = Instant::now();
            if now >= next {
                break;
            }
            match rx.recv_timeout(next - now) {
                Ok((SIGCHLD, _)) => {
                    let before = session.exited_at;
                    session.reap();
                    if before.is_none() && session.exited_at.is_some() {
                        next = Instant::now();
                    }
                }
                Ok((sig, true)) if session.cmd_status.is_none() => forward(session.root, sig),
                Ok((SIGINT | SIGTERM | SIGHUP, _)) if session.cmd_status.is_some() => {
                    hurried = true;
                    next = Instant::now();
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
    }
}

/// Shows CMD's family in the interactive view until the user closes it; CMD, if still
/// running then, gets SIGTERM (closing the view ends the run).
fn show_view(
    session: &Arc<Mutex<Session>>,
    view: &ViewOptions,
    interval: Duration,
) -> Result<(), RunError> {
    let header = lock(session).monitor.header().clone();
    let start_clock = lock(session).monitor.start_clock();
    let app = App::new(
        header,
        Source::Live,
        ViewOptions {
            start_clock,
            protected: kill::protected(),
            ..view.clone()
        },
    );
    let mut tui = Tui::open().map_err(RunError::View)?;
    tui.run(
        app,
        Some(Box::new(SharedSession(session.clone()))),
        interval,
    )
    .map_err(RunError::View)?;
    drop(tui);
    let s = lock(session);
    if s.cmd_status.is_none() {
        forward(s.root, SIGTERM);
    }
    Ok(())
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
}

/// Reaps every exited child; notes CMD's own status when it comes.
fn reap(root: u32, status: &mut Option<u8>) {
    while let Ok(Some((pid, wait))) = rustix::process::wait(WaitOptions::NOHANG) {
        if pid.as_raw_nonzero().get() as u32 == root {
            let code = match (wait.exit_status(), wait.terminating_signal()) {
                (Some(code), _) => code as u8,
                (None, Some(sig)) => 128u8.saturating_add(sig as u8),
                _ => 1,
            };
            *status = Some(code);
        }
    }
}

fn forward(root: u32, sig: i32) {
    let signal = match sig {
        SIGINT => Signal::INT,
        SIGTERM => Signal::TERM,
        SIGHUP => Signal::HUP,
        _ => return,
    };
    if let Some(pid) = Pid::from_raw(root as i32) {
        let _ = rustix::process::kill_process(pid, signal);
    }
}

/// What stayed behind, as a tree in the tick-log style.
fn leak_report(command: &[OsString], cmd_code: u8, leaked: &[ProcRow], me: u32) -> String {
    let shown: Vec<String> = command
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let rss: u64 = leaked.iter().map(|p| p.rss_kb).sum();
    let mut out = format!(
        "leaktop: `{}` exited with code {cmd_code}; {} leaked, holding {}:\n",
        shown.join(" "),
        plural(leaked.len(), "process", "processes"),
        human_kb(rss)
    );
    text::write_tree(leaked, &mut out, &|p| {
        if p.escaped && p.ppid == me {
            "  <- caught by the subreaper"
        } else {
            ""
        }
    });
    out
}

/// Pids listed by the summary before "…".
const PIDS_LISTED: usize = 12;

fn kill_summary(r: &KillReport) -> String {
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
        "leaktop: ended {}, freed {}",
        plural(r.ended.len(), "leaked process", "leaked processes"),
        human_kb(r.freed_rss_kb)
    );
    if !r.ended.is_empty() {
        s.push_str(&format!(": {}", pids(&r.ended)));
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
