//! [`Tui`]: the thin crossterm shell around the loop: raw mode and the alternate
//! screen, the input thread and the signal listener. It always gives the terminal
//! back (on quit, on a panic, on a signal), and a terminal that has gone away (its
//! pane closed: SIGHUP, then `EIO` or `ENXIO` on every write) is an ordinary end: the
//! restore is tried, its failure is not reported anywhere (there is nowhere to report
//! it) and nothing panics, so the caller's duties (`run`'s kill, report and files)
//! still happen.

use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Once};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use ratatui::crossterm::event::{self, Event};
use ratatui::crossterm::terminal::{EnterAlternateScreen, enable_raw_mode};
use ratatui::crossterm::{cursor, execute};

use super::signals::forward_signals;
use super::{Ending, LoopOptions, Msg, pick_loop, run_loop};
use crate::host::Host;
use crate::monitor::TickSource;
use crate::ui::app::App;
use crate::ui::picker::{Picked, Picker};

/// The terminal in raw mode on the alternate screen; restored when dropped.
pub struct Tui {
    terminal: Terminal<CrosstermBackend<TtyOut>>,
    ending: Option<Ending>,
}

impl Tui {
    /// Puts the terminal in raw mode on the alternate screen.
    /// Errors: the terminal cannot be put in raw mode or written to (what it had
    /// changed is put back first).
    pub fn open() -> io::Result<Tui> {
        // Not `ratatui::try_init`: its panic hook and `ratatui::restore` print a failed
        // restore with `eprintln!`, which panics on a terminal that has gone away, a
        // panic in a panic (abort, exit 134).
        restore_on_panic();
        let opened = enable_raw_mode()
            .and_then(|()| execute!(io::stdout(), EnterAlternateScreen))
            .and_then(|()| Terminal::new(CrosstermBackend::new(TtyOut::default())));
        match opened {
            Ok(terminal) => Ok(Tui {
                terminal,
                ending: None,
            }),
            Err(e) => {
                restore_quietly();
                Err(e)
            }
        }
    }

    /// How the last [`Tui::pick`] or [`Tui::run`] ended, if it has. Once the `Tui` is
    /// dropped (the terminal restored), [`Ending::reraise`] dies of a fatal signal.
    pub fn ending(&self) -> Option<Ending> {
        self.ending
    }

    /// Lets the user choose a root; `None` if they quit (or a signal arrives, or the
    /// terminal goes away: see [`Tui::ending`]). Signals, kills and memory reads go
    /// through `host`.
    pub fn pick(&mut self, host: Arc<dyn Host>, picker: &mut Picker) -> io::Result<Option<Picked>> {
        let (tx, rx) = mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let input = spawn_input(tx.clone(), stop.clone());
        let signals = forward_signals(host.as_ref(), tx)?;
        let (picked, ending) = pick_loop(&mut self.terminal, picker, rx, host.clone());
        signals.close();
        stop_input(host.as_ref(), input, &stop);
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
        let outcome = run_loop(&mut self.terminal, app, source, rx, options);
        signals.close();
        stop_input(host.as_ref(), input, &stop);
        self.ending = Some(outcome.ending);
        Ok(outcome.app)
    }
}

impl Drop for Tui {
    fn drop(&mut self) {
        // Through the view's own writer first: a view that ended on SIGHUP before any
        // draw failed learns here that its terminal is gone, so that the `Terminal`'s
        // `Drop`, which shows the cursor again, writes nowhere instead of failing.
        let _ = self.terminal.show_cursor();
        restore_quietly();
    }
}

/// Standard output as the view draws on it. Once a write or flush fails for good (the
/// terminal has gone away: `EIO`, `ENXIO`), that failure is returned (the view ends on
/// it) and every later write and flush is dropped as done: ratatui's own clean-up
/// (its `Terminal`'s `Drop` shows the cursor again) reports a failure with
/// `eprintln!`, which panics on a terminal that is gone.
#[derive(Default)]
struct TtyOut {
    lost: bool,
}

impl TtyOut {
    fn watch<T>(&mut self, result: io::Result<T>) -> io::Result<T> {
        if let Err(e) = &result
            && e.kind() != io::ErrorKind::Interrupted
        {
            self.lost = true;
        }
        result
    }
}

impl Write for TtyOut {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.lost {
            return Ok(buf.len());
        }
        let written = io::stdout().write(buf);
        self.watch(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.lost {
            return Ok(());
        }
        let flushed = io::stdout().flush();
        self.watch(flushed)
    }
}

/// Leaves raw mode and the alternate screen and shows the cursor, each tried even if
/// another failed, none reported: on a terminal that has gone away they all fail, and
/// there is nowhere to say so.
fn restore_quietly() {
    let _ = ratatui::crossterm::terminal::disable_raw_mode();
    let _ = execute!(
        io::stdout(),
        ratatui::crossterm::terminal::LeaveAlternateScreen
    );
    let _ = execute!(io::stdout(), cursor::Show);
}

/// Installs, once, a panic hook that restores the terminal (quietly) before the
/// previous hook reports the panic.
fn restore_on_panic() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore_quietly();
            previous(info);
        }));
    });
}

/// Reads the terminal until `stop`; a read that fails (the terminal has gone) is
/// said as [`Msg::Closed`]. Beside it, [`watch_hangup`] says so too.
fn spawn_input(tx: Sender<Msg>, stop: Arc<AtomicBool>) -> JoinHandle<()> {
    watch_hangup(tx.clone(), stop.clone());
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

/// How often [`watch_hangup`] looks at the terminal.
const HANGUP_POLL: Duration = Duration::from_millis(200);

/// Says [`Msg::Closed`] once the terminal has hung up (its pane or window closed),
/// looking every [`HANGUP_POLL`] until `stop`. The input thread cannot: crossterm
/// re-reads EOF forever inside `event::poll` (crossterm#793); no SIGHUP comes when
/// the session's leader outlives the terminal (a shell that traps HUP, a wrapper);
/// and a screen that does not change (the picker) draws nothing that could fail.
/// Ends within [`HANGUP_POLL`] of `stop`.
fn watch_hangup(tx: Sender<Msg>, stop: Arc<AtomicBool>) {
    thread::spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            if crate::stdout::reader_gone() {
                let _ = tx.send(Msg::Closed);
                return;
            }
            thread::sleep(HANGUP_POLL);
        }
    });
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
