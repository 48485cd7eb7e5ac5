//! [`Tui`]: the thin crossterm shell around the loop: raw mode and the alternate
//! screen, the input thread and the signal listener. It always gives the terminal
//! back (on quit, on a panic, on a signal).

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Sender};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use ratatui::DefaultTerminal;
use ratatui::crossterm::event::{self, Event};

use super::signals::forward_signals;
use super::{Ending, LoopOptions, Msg, pick_loop, run_loop};
use crate::host::Host;
use crate::monitor::TickSource;
use crate::ui::app::App;
use crate::ui::picker::Picker;

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
    /// terminal goes away: see [`Tui::ending`]). Signals, kills and memory reads go
    /// through `host`.
    pub fn pick(&mut self, host: Arc<dyn Host>, picker: Picker) -> io::Result<Option<u32>> {
        let (tx, rx) = mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let input = spawn_input(tx.clone(), stop.clone());
        let signals = forward_signals(host.as_ref(), tx)?;
        let result = pick_loop(&mut self.terminal, picker, rx, host.clone());
        signals.close();
        stop_input(host.as_ref(), input, &stop);
        let (picked, ending) = result?;
        self.ending = Some(ending);
        Ok(picked)
    }

    /// Runs the view until the user quits (or a signal arrives, or the terminal goes
    /// away) and returns its final state. With a `source`, a thread samples it every
    /// `interval`. Signals, kills, exports and the sampling clock go through
    /// `options.host`.
    pub fn run(
        &mut self,
        options: LoopOptions,
        app: App,
        source: Option<Box<dyn TickSource>>,
        interval: Duration,
    ) -> io::Result<App> {
        let host = options.host.clone();
        let (tx, rx) = mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let input = spawn_input(tx.clone(), stop.clone());
        let signals = forward_signals(host.as_ref(), tx)?;
        let source = source.map(|s| (s, interval));
        let result = run_loop(&mut self.terminal, app, source, rx, options);
        signals.close();
        stop_input(host.as_ref(), input, &stop);
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
fn stop_input(host: &dyn Host, input: JoinHandle<()>, stop: &AtomicBool) {
    stop.store(true, Ordering::Relaxed);
    // The thread looks at `stop` every 100 ms between polls.
    let deadline = host.now() + Duration::from_millis(500);
    while !input.is_finished() && host.now() < deadline {
        host.sleep(Duration::from_millis(10));
    }
    if input.is_finished() {
        let _ = input.join();
    }
}
