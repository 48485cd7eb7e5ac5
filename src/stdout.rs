//! Writing to standard output, and what a failure there means.
//!
//! Two rules, decided here and nowhere else:
//! - a reader that stopped reading (`leaktop report x | head`, `| true`) is not an
//!   error: the write fails with `EPIPE` (Rust leaves SIGPIPE ignored, so it is an
//!   error, not a signal) and leaktop ends quietly with exit 0, as ripgrep does;
//! - any other failure names standard output: "cannot write to standard output: No
//!   space left on device (os error 28)", not a bare OS message.
//!
//! Use [`write_all`] for whole outputs, or wrap a write's `io::Error` in [`Error`]
//! (`.map_err(stdout::Error)?`); `main` asks [`closed_pipe`] of every error it is
//! about to print.

use std::io::{self, Write};

/// A write to standard output failed.
#[derive(Debug, thiserror::Error)]
#[error("cannot write to standard output: {0}")]
pub struct Error(pub io::Error);

impl Error {
    /// The reader went away: end quietly rather than report it.
    pub fn is_closed_pipe(&self) -> bool {
        self.0.kind() == io::ErrorKind::BrokenPipe
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        Error(e)
    }
}

/// Writes all of `bytes` to standard output and flushes it.
pub fn write_all(bytes: &[u8]) -> Result<(), Error> {
    let mut out = io::stdout().lock();
    out.write_all(bytes)?;
    out.flush()?;
    Ok(())
}

/// Whether standard output is a pipe (or socket) whose reader went away, asked
/// without writing: `poll(2)` on fd 1 reports `POLLERR` (or `POLLHUP`) then. For a
/// command that may write nothing for a long time (`orphans --watch | head -1` after
/// its line), so it ends when its reader does rather than at its next write. A file,
/// a pipe still read or a terminal: `false`; a hung-up terminal: `true` (its next
/// write would fail too).
pub fn reader_gone() -> bool {
    use rustix::event::{PollFd, PollFlags, Timespec, poll};
    let stdout = io::stdout();
    let mut fds = [PollFd::new(&stdout, PollFlags::OUT)];
    let now = Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    poll(&mut fds, Some(&now))
        .is_ok_and(|n| n > 0 && fds[0].revents().intersects(PollFlags::ERR | PollFlags::HUP))
}

/// Does this error, or any error under it, say that the reader of a pipe went away?
/// Only pipes (and sockets) fail so; leaktop writes to no pipe but standard output
/// (and `--out` naming a FIFO, whose reader leaving is the same event).
pub fn closed_pipe(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(err);
    while let Some(e) = cur {
        let kind = e
            .downcast_ref::<io::Error>()
            .or_else(|| e.downcast_ref::<Error>().map(|s| &s.0))
            .map(io::Error::kind)
            // serde_json's `source()` skips the io::Error it wraps.
            .or_else(|| e.downcast_ref::<serde_json::Error>()?.io_error_kind());
        if kind == Some(io::ErrorKind::BrokenPipe) {
            return true;
        }
        cur = e.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("cannot write to {path}: {source}")]
    struct Wrapped {
        path: String,
        source: io::Error,
    }

    #[test]
    fn a_closed_pipe_is_found_under_any_wrapping_and_nothing_else_is() {
        let pipe = || io::Error::from(io::ErrorKind::BrokenPipe);
        assert!(closed_pipe(&pipe()));
        assert!(closed_pipe(&Error(pipe())));
        assert!(Error(pipe()).is_closed_pipe());
        assert!(closed_pipe(&Wrapped {
            path: "standard output".into(),
            source: pipe(),
        }));
        assert!(closed_pipe(&serde_json::Error::io(pipe())));
        let full = io::Error::from_raw_os_error(28);
        assert!(!closed_pipe(&full));
        assert!(!Error(io::Error::from_raw_os_error(28)).is_closed_pipe());
        assert_eq!(
            Error(full).to_string(),
            "cannot write to standard output: No space left on device (os error 28)"
        );
    }
}
