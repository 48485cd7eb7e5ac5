//! The event loop: owns the terminal, runs sampling and kills on their own threads so
//! the screen never waits for them, and always gives the terminal back (on quit, on a
//! panic, on SIGTERM/SIGHUP).

use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Sender};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime};

use ratatui::DefaultTerminal;
use ratatui::crossterm::event::{self, Event, KeyEvent};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};

use super::app::{App, Effect};
use super::picker::{Picker, PickerOutcome};
use super::render;
use crate::actions::kill::{self, KillReport};
use crate::format::Format;
use crate::model::Tick;
use crate::monitor::Monitor;

/// What the view samples from.
pub trait TickSource: Send {
    fn step(&mut self) -> Result<Tick, String>;
    /// Why there is nothing more to sample after the last step, if so.
    fn finished(&self) -> Option<String>;
}

impl TickSource for Monitor {
    fn step(&mut self) -> Result<Tick, String> {
        Monitor::step(self).map_err(|e| e.to_string())
    }

    fn finished(&self) -> Option<String> {
        (!self.tracker().any_alive()).then(|| "every process of the family has exited".into())
    }
}

/// A monitor run by a subreaper: reaps the orphans it adopted before each sample.
pub struct Reaping(pub Monitor);

impl TickSource for Reaping {
    fn step(&mut self) -> Result<Tick, String> {
        crate::host::real().reap();
        TickSource::step(&mut self.0)
    }

    fn finished(&self) -> Option<String> {
        self.0.finished()
    }
}

enum Msg {
    Key(KeyEvent),
    Redraw,
    Tick(Tick),
    Finished(String),
    Killed(KillReport),
    Signal,
}

/// The terminal in raw mode on the alternate screen; restored when dropped.
pub struct Tui {
    terminal: DefaultTerminal,
}

impl Tui {
    pub fn open() -> io::Result<Tui> {
        // ratatui also restores the terminal from its panic hook.
        Ok(Tui {
            terminal: ratatui::try_init()?,
        })
    }

    /// Lets the user choose a root; `None` if they quit (or a stop signal arrives).
    pub fn pick(&mut self, mut picker: Picker) -> io::Result<Option<u32>> {
        let (tx, rx) = mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let input = spawn_input(tx.clone(), stop.clone());
        let signals = forward_signals(tx)?;
        let result = (|| loop {
            self.terminal.draw(|f| picker.render(f))?;
            match rx.recv() {
                Ok(Msg::Key(key)) => match picker.handle_key(key) {
                    PickerOutcome::Continue => {}
                    PickerOutcome::Pick(pid) => return Ok(Some(pid)),
                    PickerOutcome::Quit => return Ok(None),
                },
                Ok(Msg::Signal) | Err(_) => return Ok(None),
                Ok(_) => {}
            }
        })();
        signals.close();
        stop_input(input, &stop);
        result
    }

    /// Runs the view until the user quits (or a stop signal arrives) and returns its
    /// final state. With a `source`, a thread samples it every `interval`.
    pub fn run(
        &mut self,
        mut app: App,
        source: Option<Box<dyn TickSource>>,
        interval: Duration,
    ) -> io::Result<App> {
        let (tx, rx) = mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let paused = Arc::new(AtomicBool::new(false));
        let input = spawn_input(tx.clone(), stop.clone());
        let sampler =
            source.map(|s| spawn_sampler(s, interval, tx.clone(), stop.clone(), paused.clone()));
        let signals = forward_signals(tx.clone())?;
        let mut killer: Option<JoinHandle<()>> = None;

        let result = (|| -> io::Result<()> {
            self.terminal.draw(|f| render::render(f, &app))?;
            while let Ok(first) = rx.recv() {
                // Apply everything queued before drawing once.
                let mut quit = false;
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
                        Msg::Signal => Some(Effect::Quit),
                    };
                    match effect {
                        None => {}
                        Some(Effect::Quit) => quit = true,
                        Some(Effect::SetPaused(p)) => {
                            paused.store(p, Ordering::Relaxed);
                            if let Some(s) = &sampler {
                                s.thread().unpark();
                            }
                        }
                        Some(Effect::Export) => {
                            let result = export(&app);
                            app.exported(result);
                        }
                        Some(Effect::Kill {
                            targets,
                            signal,
                            grace,
                        }) => {
                            if let Some(done) = killer.take() {
                                let _ = done.join();
                            }
                            let tx = tx.clone();
                            killer = Some(thread::spawn(move || {
                                let host = crate::host::real();
                                let report = kill::kill_trees(
                                    host.as_ref(),
                                    &targets,
                                    signal.signal(),
                                    grace,
                                    false,
                                );
                                let _ = tx.send(Msg::Killed(report));
                            }));
                        }
                    }
                }
                if quit {
                    break;
                }
                self.terminal.draw(|f| render::render(f, &app))?;
            }
            Ok(())
        })();

        stop.store(true, Ordering::Relaxed);
        signals.close();
        if let Some(s) = sampler {
            s.thread().unpark();
            let _ = s.join();
        }
        // A kill in flight has frozen processes that it must resume: let it finish.
        if let Some(k) = killer {
            let _ = k.join();
        }
        stop_input(input, &stop);
        result.map(|()| app)
    }
}

impl Drop for Tui {
    fn drop(&mut self) {
        let _ = self.terminal.show_cursor();
        ratatui::restore();
    }
}

fn spawn_input(tx: Sender<Msg>, stop: Arc<AtomicBool>) -> JoinHandle<()> {
    thread::spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            match event::poll(Duration::from_millis(100)) {
                Ok(true) => {}
                Ok(false) => continue,
                Err(_) => break,
            }
            let msg = match event::read() {
                Ok(Event::Key(key)) => Msg::Key(key),
                Ok(Event::Resize(..)) => Msg::Redraw,
                Ok(_) => continue,
                Err(_) => break,
            };
            if tx.send(msg).is_err() {
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

fn spawn_sampler(
    mut source: Box<dyn TickSource>,
    interval: Duration,
    tx: Sender<Msg>,
    stop: Arc<AtomicBool>,
    paused: Arc<AtomicBool>,
) -> JoinHandle<()> {
    thread::spawn(move || {
        let mut next = Instant::now();
        while !stop.load(Ordering::Relaxed) {
            if !paused.load(Ordering::Relaxed) {
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
    })
}

fn forward_signals(tx: Sender<Msg>) -> io::Result<signal_hook::iterator::Handle> {
    let mut signals = signal_hook::iterator::Signals::new([SIGTERM, SIGHUP, SIGINT])?;
    let handle = signals.handle();
    thread::spawn(move || {
        for _ in signals.forever() {
            if tx.send(Msg::Signal).is_err() {
                break;
            }
        }
    });
    Ok(handle)
}

/// Writes the timeline so far to `leaktop-ROOT-YYYYMMDD-HHMMSS.ticklog` in the current
/// directory.
fn export(app: &App) -> Result<(PathBuf, usize), String> {
    let stamp: String = humantime::format_rfc3339_seconds(SystemTime::now())
        .to_string()
        .chars()
        .filter(|c| c.is_ascii_digit() || *c == 'T')
        .map(|c| if c == 'T' { '-' } else { c })
        .collect();
    let name = format!("leaktop-{}-{stamp}.ticklog", app.header.root_pid);
    let mut out = String::new();
    Format::Text.write_header(&app.header, &mut out);
    for tick in app.history.iter() {
        Format::Text.write_tick(&tick, &mut out);
    }
    // The working directory first; where it is not writable (/, a read-only mount),
    // the temporary directory rather than nothing.
    let here = std::env::current_dir().unwrap_or_default().join(&name);
    let there = std::env::temp_dir().join(&name);
    std::fs::write(&here, &out)
        .map(|()| here.clone())
        .or_else(|first| {
            std::fs::write(&there, &out)
                .map(|()| there.clone())
                .map_err(|_| format!("{}: {first}", here.display()))
        })
        .map(|path| (path, app.history.len()))
}
