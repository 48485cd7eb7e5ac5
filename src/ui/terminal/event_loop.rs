//! [`run_loop`] (the view) and [`pick_loop`] (the picker): what each message does,
//! and how the loop ends without leaving a kill or an export half done.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{self, Receiver, Sender};
use std::thread;
use std::time::Duration;

use ratatui::Terminal;
use ratatui::backend::Backend;
use ratatui::crossterm::event::KeyEvent;

use super::Ending;
use super::export::{export_name, spawn_export, whose_dir};
use super::sampling::Sampling;
use super::workers::{Workers, scan_orphans};
use crate::actions::kill::KillReport;
use crate::host::{Host, Memory};
use crate::model::Tick;
use crate::model::orphans::OrphanGroup;
use crate::monitor::TickSource;
use crate::sample::Identity;
use crate::ui::app::{App, Effect, ExportPrompt};
use crate::ui::picker::{Picked, Picker, PickerOutcome};
use crate::ui::render;

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

/// What [`run_loop`] needs besides the app and its messages.
pub struct LoopOptions {
    /// Every effect on the machine goes through it: kills, export files (named by its
    /// wall clock), and the sampling thread's clock.
    pub host: Arc<dyn Host>,
    /// Where `e` writes (made on first use).
    pub export_dir: PathBuf,
}

impl LoopOptions {
    /// Exports go to `export_dir` (`--export-dir`), else to the XDG data directory
    /// ([`super::export::default_export_dir`]).
    pub fn new(host: Arc<dyn Host>, export_dir: Option<PathBuf>) -> LoopOptions {
        LoopOptions {
            host,
            export_dir: export_dir.unwrap_or_else(super::export::default_export_dir),
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
/// goes away ([`Msg::Closed`], every sender of `events` dropped, or a draw that fails:
/// `EIO`, `ENXIO` once a pane is closed). A lost terminal is an ordinary end
/// ([`Ending::Closed`]), never an error: the caller's duties still follow. With a `source`,
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
) -> Outcome {
    let (tx, rx) = mpsc::channel();
    relay(events, tx.clone());
    let sampling = source.map(|(source, interval)| {
        Sampling::spawn(source, interval, options.host.clone(), tx.clone())
    });
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
    if workers.busy() && ending != Ending::Closed {
        // Say why the view has not gone yet (a kill's grace can take seconds).
        app.status = Some("quitting once the kill or export under way has finished…".into());
        let _ = terminal.draw(|f| render::render(f, &app));
    }
    workers.join();
    Outcome { app, ending }
}

/// The picker on `terminal` until the user picks a process (its pid), quits, a signal
/// arrives or the terminal goes away (as for [`run_loop`], a failed draw included). If the picker wants orphan groups
/// ([`Picker::with_orphans`]), a thread scans for them at once (a scan of every
/// process takes tens of ms: the list shows meanwhile); its kill dialog's memory reads
/// and kills go through `host` on threads of their own, as the view's do, and a kill
/// in flight is finished (told to stop waiting) before this returns.
pub fn pick_loop<B: Backend>(
    terminal: &mut Terminal<B>,
    picker: &mut Picker,
    events: Receiver<Msg>,
    host: Arc<dyn Host>,
) -> (Option<Picked>, Ending) {
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
            if terminal
                .draw(|f| render::picker::render(f, picker))
                .is_err()
            {
                // The terminal has gone away (EIO, ENXIO): an ordinary end.
                return (None, Ending::Closed);
            }
            // The loop holds a sender itself: the relay says Closed instead.
            let Ok(msg) = rx.recv() else {
                return (None, Ending::Closed);
            };
            match msg {
                Msg::Key(key) => match picker.handle_key(key) {
                    PickerOutcome::Continue => {}
                    PickerOutcome::Pick(pid) => return (Some(Picked::Process(pid)), Ending::Quit),
                    PickerOutcome::Group { id, roots } => {
                        return (Some(Picked::Group { id, roots }), Ending::Quit);
                    }
                    PickerOutcome::Quit => return (None, Ending::Quit),
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
                Msg::Signal(s) => return (None, Ending::Signal(s)),
                Msg::Closed => return (None, Ending::Closed),
                _ => {}
            }
        }
    })();
    // What a kill in flight froze is resumed before it returns.
    workers.stop_kill.store(true, Ordering::Relaxed);
    workers.join();
    result
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

fn serve<B: Backend>(
    terminal: &mut Terminal<B>,
    app: &mut App,
    rx: &Receiver<Msg>,
    tx: &Sender<Msg>,
    sampling: Option<&Sampling>,
    workers: &mut Workers,
    options: &LoopOptions,
) -> Ending {
    if terminal.draw(|f| render::render(f, app)).is_err() {
        return Ending::Closed;
    }
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
                Msg::Signal(signal) => return Ending::Signal(signal),
                Msg::Closed => return Ending::Closed,
            };
            match effect {
                None => {}
                Some(Effect::Quit) => return Ending::Quit,
                Some(Effect::Back) => return Ending::Back,
                Some(Effect::SetPaused(p)) => {
                    if let Some(s) = sampling {
                        s.set_paused(p);
                    }
                }
                Some(Effect::AskExport) => {
                    // Named now, so that the file written is the one the prompt names.
                    let at = options.host.wall_clock();
                    let name = export_name(app.header.root_pid, at, 0);
                    app.ask_export(ExportPrompt {
                        path: options.export_dir.join(name),
                        whose: whose_dir(options.host.as_ref(), &options.export_dir),
                        at,
                    });
                }
                Some(Effect::Export { at }) => {
                    if let Some(done) = workers.exporter.take() {
                        let _ = done.join();
                    }
                    app.export_started(app.history.len());
                    workers.exporter = Some(spawn_export(app, options, at, tx.clone()));
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
        if terminal.draw(|f| render::render(f, app)).is_err() {
            // The terminal has gone away (EIO, ENXIO on write): the view stops drawing
            // and ends as if closed; what the caller owes still happens.
            return Ending::Closed;
        }
    }
    Ending::Closed
}
