//! The signal policy of the view: TERM, INT and HUP end it as `q` does; the other
//! signals whose default is to end a process end it too, then leaktop dies of them
//! once the terminal is restored.

use std::io;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::mpsc::Sender;

use signal_hook::consts::signal as sig;

use super::Msg;
use crate::host::{Host, Listening};

/// Why the view ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// The user quit (`q`, Ctrl-C).
    Quit,
    /// The user pressed `q` in a view opened from the picker: back to it.
    Back,
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

    /// Dies of [`Ending::fatal_signal`], if any, with its default action, through
    /// `host`. Call it once the terminal is restored and nothing else needs doing.
    pub fn reraise(self, host: &dyn Host) {
        if let Some(signal) = self.fatal_signal() {
            host.die_of(signal);
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

/// Dies of the fatal signal a view ended on, if one was deferred ([`Ending::defer`]),
/// through `host`: call it once the cleaning up is done.
pub fn reraise_deferred(host: &dyn Host) {
    let signal = DEFERRED.swap(0, Ordering::Relaxed);
    if signal != 0 {
        Ending::Signal(signal).reraise(host);
    }
}

/// Sends [`QUIT_SIGNALS`] and [`FATAL_SIGNALS`] as [`Msg::Signal`] instead of letting
/// them end leaktop on the alternate screen, until the listener is closed.
pub(super) fn forward_signals(host: &dyn Host, tx: Sender<Msg>) -> io::Result<Listening> {
    let signals: Vec<i32> = QUIT_SIGNALS.iter().chain(&FATAL_SIGNALS).copied().collect();
    host.listen_signals(
        &signals,
        Box::new(move |signal, _| tx.send(Msg::Signal(signal)).is_ok()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

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
        // Deferring a quit keeps nothing to die of.
        for s in QUIT_SIGNALS {
            Ending::Signal(s).defer();
        }
        Ending::Quit.defer();
        assert_eq!(DEFERRED.load(Ordering::Relaxed), 0);
    }
}
