//! The event loop, and the terminal it runs in.
//!
//! [`run_loop`] is the view itself, generic over ratatui's [`Backend`]: it consumes
//! [`Msg`]s from a channel (keys, ticks, signals, the terminal going away, and the
//! results of its own workers), draws, and carries out the app's [`Effect`]s through a
//! [`Host`]: kills and exports run on threads of their own so the screen never waits
//! for them. [`Tui`] is the thin crossterm shell around it: raw mode and the alternate
//! screen, the input thread and the signal thread; it always gives the terminal back (on
//! quit, on a panic, on a signal). The tests run [`run_loop`] on a `TestBackend` with
//! a fake host and messages of their own.
//!
//! ```text
//!  input thread ──┐                              ┌──► kill worker ───┐
//!  signal thread ─┴─► events ─► relay ─┐         ├──► export worker ─┤
//!       (or a test)                    ▼         │                   │
//!                                   run_loop ────┴──► sampling ──────┤
//!                                      ▲                             │
//!                                      └─────────────────────────────┘
//!                                       Killed, ExportProgress, Exported, Tick, Finished
//! ```

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime};

use ratatui::backend::Backend;
use ratatui::crossterm::event::{self, Event, KeyEvent};
use ratatui::{DefaultTerminal, Terminal};
use signal_hook::consts::signal as sig;

use super::app::{App, Effect};
use super::history::History;
use super::picker::{Picker, PickerOutcome};
use super::render;
use crate::actions::kill::{self, KillReport};
use crate::format::Format;
use crate::host::{Create, Host, Memory};
use crate::model::orphans::OrphanGroup;
use crate::model::{Header, Tick};
use crate::monitor::Monitor;
use crate::record::TickSink;
use crate::sample::Identity;

/// What the view samples from.
pub trait TickSource: Send {
    /// Samples once: the next tick, or why sampling failed (it then stops).
    fn step(&mut self) -> Result<Tick, String>;
    /// Why there is nothing more to sample after the last step, if so.
    fn finished(&self) -> Option<String>;
    /// The processes the user is looking at (the selected subtree), whose PSS/USS a
    /// monitor reads right after the leaked ones'. Ignored by default.
    fn focus(&mut self, _ids: Vec<Identity>) {}
}

impl TickSource for Monitor {
    fn step(&mut self) -> Result<Tick, String> {
        Monitor::step(self).map_err(|e| e.to_string())
    }

    fn focus(&mut self, ids: Vec<Identity>) {
        self.set_focus(ids);
    }

    fn finished(&self) -> Option<String> {
        (!self.tracker().any_alive()).then(|| "every process of the family has exited".into())
    }
}

/// A monitor run by a subreaper: reaps the orphans it adopted before each sample.
pub struct Reaping {
    monitor: Monitor,
    host: Arc<dyn Host>,
}

impl Reaping {
    /// Reaps through `host` (leaktop's own children) before each step of `monitor`.
    pub fn new(monitor: Monitor, host: Arc<dyn Host>) -> Reaping {
        Reaping { monitor, host }
    }
}

impl TickSource for Reaping {
    fn step(&mut self) -> Result<Tick, String> {
        self.host.reap();
        TickSource::step(&mut self.monitor)
    }

    fn finished(&self) -> Option<String> {
        self.monitor.finished()
    }

    fn focus(&mut self, ids: Vec<Identity>) {
        self.monitor.set_focus(ids);
    }
}

/// Everything the event loop reacts to.
#[derive(Debug)]
pub enum Msg {
    /// A key was pressed.
    Key(KeyEvent),
    /// The terminal changed size: draw again.
    Redraw,
    /// A new sample (the sampling thread of a [`TickSource`] sends these).
    Tick(Tick),
    /// Sampling has stopped for good, and why.
    Finished(String),
    /// A signal arrived (its number): the view ends, see [`Ending`].
    Signal(i32),
    /// The terminal is gone (reading it failed): the view ends. The loop also ends
    /// this way when every sender of its channel has gone.
    Closed,
    /// A kill has finished (sent by the loop's own kill worker).
    Killed(KillReport),
    /// The memory reads a kill dialog asked for (sent by the loop's own worker).
    Measured(Vec<(Identity, Option<Memory>)>),
    /// An export has written `done` of `total` ticks (sent by the export worker).
    ExportProgress { done: usize, total: usize },
    /// An export has finished: the file and the ticks in it, or why it failed.
    Exported(Result<(PathBuf, usize), String>),
    /// The picker's orphan scan: the groups, largest first, or why it failed (sent
    /// by the picker loop's own worker).
    Orphans(Result<Vec<OrphanGroup>, String>),
}

/// Why the view ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// The user quit (`q`, Ctrl-C).
    Quit,
    /// A signal arrived (its number).
    Signal(i32),
    /// The terminal went away: reading input failed, or its channel closed.
    Closed,
}

/// The signals that end the view like `q` does; leaktop then exits as usual (0).
pub const QUIT_SIGNALS: [i32; 3] = [sig::SIGTERM, sig::SIGINT, sig::SIGHUP];

/// The other signals whose default action ends a process: the view ends, the terminal
/// is restored, and then leaktop dies of the signal as it would have without a view
/// ([`Ending::reraise`]), so whoever sent it sees the death (and the core, for QUIT)
/// they asked for. Without this they would end leaktop on the alternate screen in raw
/// mode. The signals of faults (SEGV, BUS, ILL, FPE, ABRT, TRAP) are left alone; a
/// panic restores the terminal from its hook.
pub const FATAL_SIGNALS: [i32; 10] = [
    sig::SIGQUIT,
    sig::SIGUSR1,
    sig::SIGUSR2,
    sig::SIGALRM,
    sig::SIGVTALRM,
    sig::SIGPROF,
    sig::SIGXCPU,
    sig::SIGXFSZ,
    sig::SIGIO,
    sig::SIGSYS,
];

impl Ending {
    /// The signal leaktop must still die of once the terminal is restored: one of
    /// [`FATAL_SIGNALS`]. TERM, INT and HUP are taken as a quit.
    pub fn fatal_signal(self) -> Option<i32> {
        match self {
            Ending::Signal(s) if !QUIT_SIGNALS.contains(&s) => Some(s),
            _ => None,
        }
    }

    /// Dies of [`Ending::fatal_signal`], if any, with its default action. Call it once
    /// the terminal is restored and nothing else needs doing.
    pub fn reraise(self) {
        if let Some(signal) = self.fatal_signal() {
            let _ = signal_hook::low_level::emulate_default_handler(signal);
        }
    }

    /// Keeps [`Ending::fatal_signal`] for [`reraise_deferred`]: for a caller that has
    /// cleaning up to do first (`demo` ends its helpers, `run` its command).
    pub fn defer(self) {
        if let Some(signal) = self.fatal_signal() {
            DEFERRED.store(signal, Ordering::Relaxed);
        }
    }
}

/// A fatal signal that ended a view, kept by [`Ending::defer`] (0: none).
static DEFERRED: AtomicI32 = AtomicI32::new(0);

/// Dies of the fatal signal a view ended on, if one was deferred ([`Ending::defer`]):
/// call it once the cleaning up is done.
pub fn reraise_deferred() {
    let signal = DEFERRED.swap(0, Ordering::Relaxed);
    if signal != 0 {
        Ending::Signal(signal).reraise();
    }
}

/// What [`run_loop`] needs besides the app and its messages.
pub struct LoopOptions {
    /// Every effect on the machine (kills, export files) goes through it.
    pub host: Arc<dyn Host>,
    /// Where `e` writes, the first directory where a file can be created.
    pub export_dirs: Vec<PathBuf>,
    /// The wall clock that names exports (tests fix it).
    pub wall_clock: fn() -> SystemTime,
}

impl LoopOptions {
    /// Exports go to the working directory, else to the temporary directory (where the
    /// working directory is not writable: /, a read-only mount).
    pub fn new(host: Arc<dyn Host>) -> LoopOptions {
        let mut export_dirs: Vec<PathBuf> = std::env::current_dir().into_iter().collect();
        export_dirs.push(std::env::temp_dir());
        LoopOptions {
            host,
            export_dirs,
            wall_clock: SystemTime::now,
        }
    }
}

/// How the view ended, and its final state.
pub struct Outcome {
    /// The view's state when it ended (its history, a kill dialog's tally, …).
    pub app: App,
    pub ending: Ending,
}

/// Runs the view on `terminal` until the user quits, a signal arrives or the terminal
/// goes away ([`Msg::Closed`], or every sender of `events` dropped). With a `source`,
/// a thread samples it every interval (the thread is stopped and joined before this
/// returns); ticks may also come straight from `events`. It returns only once the kill
/// or export in flight has finished: a kill has frozen processes that it must resume
/// (it is told to stop waiting out its grace, so that is prompt), and an export is not
/// left half-written.
pub fn run_loop<B: Backend>(
    terminal: &mut Terminal<B>,
    mut app: App,
    source: Option<(Box<dyn TickSource>, Duration)>,
    events: Receiver<Msg>,
    options: LoopOptions,
) -> Result<Outcome, B::Error> {
    let (tx, rx) = mpsc::channel();
    relay(events, tx.clone());
    let sampling = source.map(|(source, interval)| Sampling::spawn(source, interval, tx.clone()));
    let mut workers = Workers::default();
    let ending = serve(
        terminal,
        &mut app,
        &rx,
        &tx,
        sampling.as_ref(),
        &mut workers,
        &options,
    );
    if let Some(s) = sampling {
        s.stop();
    }
    // A kill in flight stops waiting out its grace: its signal has gone out (or goes
    // out once the freeze is done), and what it froze is resumed before it returns.
    workers.stop_kill.store(true, Ordering::Relaxed);
    if workers.busy() && ending.is_ok() {
        // Say why the view has not gone yet (a kill's grace can take seconds).
        app.status = Some("quitting once the kill or export under way has finished…".into());
        let _ = terminal.draw(|f| render::render(f, &app));
    }
    workers.join();
    ending.map(|ending| Outcome { app, ending })
}

/// The picker on `terminal` until the user picks a process (its pid), quits, a signal
/// arrives or the terminal goes away. If the picker wants orphan groups
/// ([`Picker::with_orphans`]), a thread scans for them at once (a scan of every
/// process takes tens of ms: the list shows meanwhile); its kill dialog's memory reads
/// and kills go through `host` on threads of their own, as the view's do, and a kill
/// in flight is finished (told to stop waiting) before this returns.
pub fn pick_loop<B: Backend>(
    terminal: &mut Terminal<B>,
    mut picker: Picker,
    events: Receiver<Msg>,
    host: Arc<dyn Host>,
) -> Result<(Option<u32>, Ending), B::Error> {
    let (tx, rx) = mpsc::channel();
    relay(events, tx.clone());
    if picker.wants_orphans() {
        let (host, tx) = (host.clone(), tx.clone());
        thread::spawn(move || {
            let _ = tx.send(Msg::Orphans(scan_orphans(host)));
        });
    }
    let mut workers = Workers::default();
    let result = (|| {
        loop {
            terminal.draw(|f| picker.render(f))?;
            // The loop holds a sender itself: the relay says Closed instead.
            let Ok(msg) = rx.recv() else {
                return Ok((None, Ending::Closed));
            };
            match msg {
                Msg::Key(key) => match picker.handle_key(key) {
                    PickerOutcome::Continue => {}
                    PickerOutcome::Pick(pid) => return Ok((Some(pid), Ending::Quit)),
                    PickerOutcome::Quit => return Ok((None, Ending::Quit)),
                    PickerOutcome::Effect(Effect::MeasureMemory(ids)) => {
                        workers.measure(ids, &host, &tx)
                    }
                    PickerOutcome::Effect(Effect::Kill {
                        targets,
                        signal,
                        grace,
                    }) => workers.kill(targets, signal, grace, &host, &tx),
                    PickerOutcome::Effect(_) => {}
                },
                Msg::Orphans(found) => picker.orphans_found(found),
                Msg::Measured(read) => picker.memory_measured(read),
                Msg::Killed(report) => picker.kill_finished(report),
                Msg::Signal(s) => return Ok((None, Ending::Signal(s))),
                Msg::Closed => return Ok((None, Ending::Closed)),
                _ => {}
            }
        }
    })();
    // What a kill in flight froze is resumed before it returns.
    workers.stop_kill.store(true, Ordering::Relaxed);
    workers.join();
    result
}

/// One orphan scan, as `leaktop orphans` does it by default (grace 2 s, daemons by
/// design left out), without memory reads (the kill dialog reads its own).
fn scan_orphans(host: Arc<dyn Host>) -> Result<Vec<OrphanGroup>, String> {
    let mut scanner = crate::actions::orphans::Scanner::new(host).map_err(|e| e.to_string())?;
    let opts = crate::actions::orphans::ScanOptions {
        older_than: Duration::from_secs(2),
        all: false,
        measure: false,
        allowed: Vec::new(),
    };
    Ok(scanner.scan(&opts).classified.groups)
}

/// Moves `events` into the loop's own channel, then says [`Msg::Closed`] once every
/// sender of `events` has gone. Ends with the loop (its channel closed) or then.
fn relay(events: Receiver<Msg>, tx: Sender<Msg>) {
    thread::spawn(move || {
        for msg in events {
            if tx.send(msg).is_err() {
                return;
            }
        }
        let _ = tx.send(Msg::Closed);
    });
}

/// The kill and the export in flight, if any.
#[derive(Default)]
struct Workers {
    killer: Option<JoinHandle<()>>,
    exporter: Option<JoinHandle<()>>,
    /// The memory reads of a kill dialog (short: joined, not waited for by name).
    measurer: Option<JoinHandle<()>>,
    /// Set when the view ends: the kill stops waiting for its processes to end.
    stop_kill: Arc<AtomicBool>,
}

impl Workers {
    fn busy(&self) -> bool {
        [&self.killer, &self.exporter]
            .into_iter()
            .flatten()
            .any(|w| !w.is_finished())
    }

    /// Reads `ids`' memory on a thread of its own; answers with [`Msg::Measured`].
    fn measure(&mut self, ids: Vec<Identity>, host: &Arc<dyn Host>, tx: &Sender<Msg>) {
        if let Some(done) = self.measurer.take() {
            let _ = done.join();
        }
        let tx = tx.clone();
        let host = host.clone();
        self.measurer = Some(thread::spawn(move || {
            let read = ids.into_iter().map(|id| (id, host.memory(id))).collect();
            let _ = tx.send(Msg::Measured(read));
        }));
    }

    /// Runs the safe kill on a thread of its own; answers with [`Msg::Killed`].
    fn kill(
        &mut self,
        targets: Vec<kill::Target>,
        signal: kill::KillSignal,
        grace: Duration,
        host: &Arc<dyn Host>,
        tx: &Sender<Msg>,
    ) {
        // The dialog asks for the next kill only after the last one's report.
        if let Some(done) = self.killer.take() {
            let _ = done.join();
        }
        let tx = tx.clone();
        let host = host.clone();
        let stop = self.stop_kill.clone();
        self.killer = Some(thread::spawn(move || {
            let report = kill::kill_trees_until(
                host.as_ref(),
                &targets,
                signal.signal(),
                grace,
                false,
                &stop,
            );
            let _ = tx.send(Msg::Killed(report));
        }));
    }

    fn join(&mut self) {
        for worker in [
            self.killer.take(),
            self.exporter.take(),
            self.measurer.take(),
        ]
        .into_iter()
        .flatten()
        {
            let _ = worker.join();
        }
    }
}

fn serve<B: Backend>(
    terminal: &mut Terminal<B>,
    app: &mut App,
    rx: &Receiver<Msg>,
    tx: &Sender<Msg>,
    sampling: Option<&Sampling>,
    workers: &mut Workers,
    options: &LoopOptions,
) -> Result<Ending, B::Error> {
    terminal.draw(|f| render::render(f, app))?;
    // What the focus was last worked out from: the selection and the history's length.
    let mut focused: Option<(Option<Identity>, usize)> = None;
    // The loop holds a sender itself, so this never ends by disconnection: the relay
    // says Closed instead.
    while let Ok(first) = rx.recv() {
        // Apply everything queued before drawing once.
        for msg in std::iter::once(first).chain(rx.try_iter()) {
            let effect = match msg {
                Msg::Key(key) => app.handle_key(key),
                Msg::Redraw => None,
                Msg::Tick(tick) => {
                    app.push_tick(tick);
                    None
                }
                Msg::Finished(why) => {
                    app.finish(why);
                    None
                }
                Msg::Killed(report) => {
                    app.kill_finished(report);
                    None
                }
                Msg::Measured(read) => {
                    app.memory_measured(read);
                    None
                }
                Msg::ExportProgress { done, total } => {
                    app.export_progress(done, total);
                    None
                }
                Msg::Exported(result) => {
                    app.exported(result);
                    None
                }
                Msg::Orphans(_) => None,
                Msg::Signal(signal) => return Ok(Ending::Signal(signal)),
                Msg::Closed => return Ok(Ending::Closed),
            };
            match effect {
                None => {}
                Some(Effect::Quit) => return Ok(Ending::Quit),
                Some(Effect::SetPaused(p)) => {
                    if let Some(s) = sampling {
                        s.set_paused(p);
                    }
                }
                Some(Effect::Export) => {
                    if let Some(done) = workers.exporter.take() {
                        let _ = done.join();
                    }
                    app.export_started(app.history.len());
                    workers.exporter = Some(spawn_export(app, options, tx.clone()));
                }
                Some(Effect::MeasureMemory(ids)) => workers.measure(ids, &options.host, tx),
                Some(Effect::Kill {
                    targets,
                    signal,
                    grace,
                }) => workers.kill(targets, signal, grace, &options.host, tx),
            }
        }
        if let Some(s) = sampling {
            let now = Some((app.selected, app.history.len()));
            if focused != now {
                focused = now;
                s.set_focus(app.focus());
            }
        }
        terminal.draw(|f| render::render(f, app))?;
    }
    Ok(Ending::Closed)
}

/// The sampling thread: steps a [`TickSource`] every interval and sends each tick as
/// [`Msg::Tick`] (and [`Msg::Finished`] once there is nothing more to sample).
struct Sampling {
    thread: JoinHandle<()>,
    stop: Arc<AtomicBool>,
    paused: Arc<AtomicBool>,
    /// A new focus for the source, taken before its next step.
    focus: Arc<Mutex<Option<Vec<Identity>>>>,
}

impl Sampling {
    /// Starts sampling `source` at once, then every `interval`.
    fn spawn(mut source: Box<dyn TickSource>, interval: Duration, tx: Sender<Msg>) -> Sampling {
        let stop = Arc::new(AtomicBool::new(false));
        let paused = Arc::new(AtomicBool::new(false));
        let focus: Arc<Mutex<Option<Vec<Identity>>>> = Arc::default();
        let (stop_flag, paused_flag, focus_slot) = (stop.clone(), paused.clone(), focus.clone());
        let thread = thread::spawn(move || {
            let (stop, paused) = (stop_flag, paused_flag);
            let mut next = Instant::now();
            while !stop.load(Ordering::Relaxed) {
                if !paused.load(Ordering::Relaxed) {
                    let new_focus = focus_slot.lock().ok().and_then(|mut f| f.take());
                    if let Some(ids) = new_focus {
                        source.focus(ids);
                    }
                    match source.step() {
                        Ok(tick) => {
                            if tx.send(Msg::Tick(tick)).is_err() {
                                return;
                            }
                        }
                        Err(e) => {
                            let _ = tx.send(Msg::Finished(format!("sampling failed: {e}")));
                            return;
                        }
                    }
                    if let Some(why) = source.finished() {
                        let _ = tx.send(Msg::Finished(why));
                        return;
                    }
                }
                // A late tick is not made up for: the schedule skips ahead.
                next = (next + interval).max(Instant::now());
                while !stop.load(Ordering::Relaxed) {
                    let now = Instant::now();
                    if now >= next {
                        break;
                    }
                    // Unparked early on pause/resume and on stop.
                    thread::park_timeout(next - now);
                    if paused.load(Ordering::Relaxed) {
                        break;
                    }
                }
                while paused.load(Ordering::Relaxed) && !stop.load(Ordering::Relaxed) {
                    thread::park_timeout(Duration::from_millis(500));
                    next = Instant::now();
                }
            }
        });
        Sampling {
            thread,
            stop,
            paused,
            focus,
        }
    }

    /// Hands the source a new focus before its next step ([`TickSource::focus`]).
    fn set_focus(&self, ids: Vec<Identity>) {
        if let Ok(mut slot) = self.focus.lock() {
            *slot = Some(ids);
        }
    }

    /// Pauses or resumes sampling.
    fn set_paused(&self, paused: bool) {
        self.paused.store(paused, Ordering::Relaxed);
        self.thread.thread().unpark();
    }

    /// Stops sampling and waits for the thread (for the step under way, if any).
    fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.thread().unpark();
        let _ = self.thread.join();
    }
}

/// The terminal in raw mode on the alternate screen; restored when dropped.
pub struct Tui {
    terminal: DefaultTerminal,
    ending: Option<Ending>,
}

impl Tui {
    /// Puts the terminal in raw mode on the alternate screen.
    pub fn open() -> io::Result<Tui> {
        // ratatui also restores the terminal from its panic hook.
        Ok(Tui {
            terminal: ratatui::try_init()?,
            ending: None,
        })
    }

    /// How the last [`Tui::pick`] or [`Tui::run`] ended, if it has. Once the `Tui` is
    /// dropped (the terminal restored), [`Ending::reraise`] dies of a fatal signal.
    pub fn ending(&self) -> Option<Ending> {
        self.ending
    }

    /// Lets the user choose a root; `None` if they quit (or a signal arrives, or the
    /// terminal goes away: see [`Tui::ending`]).
    pub fn pick(&mut self, picker: Picker) -> io::Result<Option<u32>> {
        let (tx, rx) = mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let input = spawn_input(tx.clone(), stop.clone());
        let signals = forward_signals(tx)?;
        let result = pick_loop(&mut self.terminal, picker, rx, crate::host::real());
        signals.close();
        stop_input(input, &stop);
        let (picked, ending) = result?;
        self.ending = Some(ending);
        Ok(picked)
    }

    /// Runs the view until the user quits (or a signal arrives, or the terminal goes
    /// away) and returns its final state. With a `source`, a thread samples it every
    /// `interval`. Kills and exports go through the real host.
    pub fn run(
        &mut self,
        app: App,
        source: Option<Box<dyn TickSource>>,
        interval: Duration,
    ) -> io::Result<App> {
        self.run_on(LoopOptions::new(crate::host::real()), app, source, interval)
    }

    /// [`Tui::run`] with the caller's host and export places.
    pub fn run_on(
        &mut self,
        options: LoopOptions,
        app: App,
        source: Option<Box<dyn TickSource>>,
        interval: Duration,
    ) -> io::Result<App> {
        let (tx, rx) = mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let input = spawn_input(tx.clone(), stop.clone());
        let signals = forward_signals(tx)?;
        let source = source.map(|s| (s, interval));
        let result = run_loop(&mut self.terminal, app, source, rx, options);
        signals.close();
        stop_input(input, &stop);
        let outcome = result?;
        self.ending = Some(outcome.ending);
        Ok(outcome.app)
    }
}

impl Drop for Tui {
    fn drop(&mut self) {
        let _ = self.terminal.show_cursor();
        ratatui::restore();
    }
}

/// Reads the terminal until `stop`; a read that fails (the terminal has gone) is
/// said as [`Msg::Closed`].
fn spawn_input(tx: Sender<Msg>, stop: Arc<AtomicBool>) -> JoinHandle<()> {
    thread::spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            let msg = match event::poll(Duration::from_millis(100)) {
                Ok(false) => continue,
                Ok(true) => match event::read() {
                    Ok(Event::Key(key)) => Msg::Key(key),
                    Ok(Event::Resize(..)) => Msg::Redraw,
                    Ok(_) => continue,
                    Err(_) => Msg::Closed,
                },
                Err(_) => Msg::Closed,
            };
            let closed = matches!(msg, Msg::Closed);
            if tx.send(msg).is_err() || closed {
                break;
            }
        }
    })
}

/// Stops the input thread and waits for it, but not for long: on a terminal that has
/// gone away (SIGHUP) crossterm 0.29 re-reads EOF forever inside `event::poll`
/// (crossterm#793), and waiting for it would keep leaktop alive, spinning, after its
/// terminal closed. Such a thread is left to end with the process.
fn stop_input(input: JoinHandle<()>, stop: &AtomicBool) {
    stop.store(true, Ordering::Relaxed);
    // The thread looks at `stop` every 100 ms between polls.
    let deadline = Instant::now() + Duration::from_millis(500);
    while !input.is_finished() && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(10));
    }
    if input.is_finished() {
        let _ = input.join();
    }
}

/// Sends [`QUIT_SIGNALS`] and [`FATAL_SIGNALS`] as [`Msg::Signal`] instead of letting
/// them end leaktop on the alternate screen.
fn forward_signals(tx: Sender<Msg>) -> io::Result<signal_hook::iterator::Handle> {
    let mut signals =
        signal_hook::iterator::Signals::new(QUIT_SIGNALS.iter().chain(&FATAL_SIGNALS))?;
    let handle = signals.handle();
    thread::spawn(move || {
        for signal in signals.forever() {
            if tx.send(Msg::Signal(signal)).is_err() {
                break;
            }
        }
    });
    Ok(handle)
}

/// Names a file of the timeline ends up with are tried (`-1` … `-999`) in one directory
/// before the next.
const EXPORT_NAMES: u32 = 1000;
/// An export says how far it has got every this many ticks.
const EXPORT_PROGRESS_EVERY: usize = 1000;

/// The `n`th name an export of `root`'s timeline made at `time` may take:
/// `leaktop-ROOT-YYYYMMDD-HHMMSS.ticklog`, then `…-1.ticklog`, `…-2.ticklog`, ….
pub fn export_name(root: u32, time: SystemTime, n: u32) -> String {
    let stamp: String = humantime::format_rfc3339_seconds(time)
        .to_string()
        .chars()
        .filter(|c| c.is_ascii_digit() || *c == 'T')
        .map(|c| if c == 'T' { '-' } else { c })
        .collect();
    match n {
        0 => format!("leaktop-{root}-{stamp}.ticklog"),
        n => format!("leaktop-{root}-{stamp}-{n}.ticklog"),
    }
}

/// Creates a new file in the first of `dirs` where one can be made, with `create`
/// (which must make only a new file and never follow a symlink: [`Create::New`]),
/// trying `name(0)`, `name(1)`, … while the name is taken. A taken name, a symlink
/// planted there included, is never a reason to fail. The error is the first
/// directory's.
pub fn create_export(
    dirs: &[PathBuf],
    name: impl Fn(u32) -> String,
    mut create: impl FnMut(&Path) -> io::Result<File>,
) -> Result<(PathBuf, File), String> {
    let mut first: Option<String> = None;
    for dir in dirs {
        for n in 0..EXPORT_NAMES {
            let path = dir.join(name(n));
            match create(&path) {
                Ok(file) => return Ok((path, file)),
                Err(e) if taken(&e) => {
                    if n + 1 == EXPORT_NAMES {
                        first.get_or_insert_with(|| {
                            format!("{}: every name is taken", dir.display())
                        });
                    }
                }
                Err(e) => {
                    first.get_or_insert_with(|| format!("{}: {e}", path.display()));
                    break;
                }
            }
        }
    }
    Err(first.unwrap_or_else(|| "nowhere to write".into()))
}

/// Whether a create failed only because something is at the name already (a file, a
/// directory, or a symlink, which `O_NOFOLLOW` refuses with `ELOOP` where `O_EXCL`
/// does not say `EEXIST` first).
fn taken(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::AlreadyExists
        || e.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error())
}

/// Starts writing the timeline so far on a worker thread; progress and the result come
/// back as messages.
fn spawn_export(app: &App, options: &LoopOptions, tx: Sender<Msg>) -> JoinHandle<()> {
    // A copy of the compact history: the UI goes on while it is written.
    let history = app.history.clone();
    let header = app.header.clone();
    let host = options.host.clone();
    let dirs = options.export_dirs.clone();
    let time = (options.wall_clock)();
    thread::spawn(move || {
        let root = header.root_pid;
        let result = create_export(
            &dirs,
            |n| export_name(root, time, n),
            |p| host.create(p, Create::New),
        )
        .and_then(|(path, file)| {
            let progress = |done, total| {
                let _ = tx.send(Msg::ExportProgress { done, total });
            };
            write_export(file, &path, &header, &history, progress).map(|n| (path, n))
        });
        let _ = tx.send(Msg::Exported(result));
    })
}

/// Writes the header and every tick of `history`, one write per tick, saying how far
/// it has got every [`EXPORT_PROGRESS_EVERY`] ticks. Returns the ticks written.
fn write_export(
    file: File,
    path: &Path,
    header: &Header,
    history: &History,
    mut progress: impl FnMut(usize, usize),
) -> Result<usize, String> {
    let mut sink = TickSink::from_file(file, path, Format::Text);
    sink.header(header).map_err(|e| e.to_string())?;
    let total = history.len();
    for (i, tick) in history.iter().enumerate() {
        sink.tick(&tick).map_err(|e| e.to_string())?;
        if (i + 1) % EXPORT_PROGRESS_EVERY == 0 && i + 1 < total {
            progress(i + 1, total);
        }
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn export_names_carry_the_root_the_time_and_a_counter() {
        // 2026-11-29 20:13:09 UTC
        let t = at(1_795_983_189);
        assert_eq!(
            export_name(4100, t, 0),
            "leaktop-4100-20261129-201309.ticklog"
        );
        assert_eq!(
            export_name(4100, t, 2),
            "leaktop-4100-20261129-201309-2.ticklog"
        );
    }

    #[test]
    fn a_taken_name_moves_on_to_the_next_and_another_error_to_the_next_directory() {
        let dirs = [PathBuf::from("/ro"), PathBuf::from("/here")];
        let mut tried = Vec::new();
        let made = create_export(
            &dirs,
            |n| format!("x-{n}"),
            |p| {
                tried.push(p.to_path_buf());
                match p.to_str().unwrap() {
                    "/ro/x-0" => Err(io::ErrorKind::PermissionDenied.into()),
                    "/here/x-0" => Err(io::ErrorKind::AlreadyExists.into()),
                    "/here/x-1" => Err(io::Error::from_raw_os_error(
                        rustix::io::Errno::LOOP.raw_os_error(),
                    )),
                    _ => tempfile::tempfile(),
                }
            },
        );
        let (path, _) = made.unwrap();
        assert_eq!(path, PathBuf::from("/here/x-2"));
        assert_eq!(
            tried,
            ["/ro/x-0", "/here/x-0", "/here/x-1", "/here/x-2"].map(PathBuf::from)
        );
    }

    #[test]
    fn when_nothing_can_be_made_the_first_directorys_error_is_told() {
        let dirs = [PathBuf::from("/a"), PathBuf::from("/b")];
        let err = create_export(
            &dirs,
            |n| format!("x-{n}"),
            |p| {
                if p.starts_with("/a") {
                    Err(io::ErrorKind::AlreadyExists.into())
                } else {
                    Err(io::ErrorKind::PermissionDenied.into())
                }
            },
        )
        .unwrap_err();
        assert_eq!(err, "/a: every name is taken");
    }

    #[test]
    fn only_the_signals_leaktop_does_not_take_as_quit_are_reraised() {
        for s in QUIT_SIGNALS {
            assert_eq!(Ending::Signal(s).fatal_signal(), None);
        }
        for s in FATAL_SIGNALS {
            assert_eq!(Ending::Signal(s).fatal_signal(), Some(s));
        }
        assert_eq!(Ending::Quit.fatal_signal(), None);
        assert_eq!(Ending::Closed.fatal_signal(), None);
        // Deferring a quit keeps nothing (else this test process would die of it).
        for s in QUIT_SIGNALS {
            Ending::Signal(s).defer();
        }
        Ending::Quit.defer();
        reraise_deferred();
    }
}
