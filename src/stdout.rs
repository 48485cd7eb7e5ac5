//! Writing to standard output, and what a failure there means.
//!
//! Three rules, decided here and nowhere else:
//! - a reader that stopped reading (`leaktop report x | head`, `| true`) is not an
//!   error: the write fails with `EPIPE` (Rust leaves SIGPIPE ignored, so it is an
//!   error, not a signal) and leaktop ends quietly with exit 0, as ripgrep does;
//! - a standard output closed before leaktop started (`leaktop record >&-`) is an
//!   error at the first write, not output silently lost (see [`Writer`]);
//! - any other failure names standard output: "cannot write to standard output: No
//!   space left on device (os error 28)", not a bare OS message.
//!
//! Write through [`write_all`] for whole outputs or a [`Writer`] for streams, and wrap
//! a write's `io::Error` in [`Error`] (`.map_err(stdout::Error)?`); the command layer
//! asks [`closed_pipe`] of every error it is about to print.

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

/// Writes all of `bytes` to standard output and flushes it. Errors: the write's, and
/// "it is closed" where standard output was closed at start (see [`Writer`]).
pub fn write_all(bytes: &[u8]) -> Result<(), Error> {
    let mut out = Writer::new();
    out.write_all(bytes)?;
    out.flush()?;
    Ok(())
}

/// Standard output as leaktop writes its output there (unbuffered; wrap it in a
/// `BufWriter` for many small writes).
///
/// Where standard output was closed when leaktop started (`>&-`), the Rust runtime
/// opens `/dev/null` in its place before `main`, so every write would "succeed" into
/// nothing: the first write through a `Writer` fails instead, with "it is closed".
/// What the runtime leaves is `/dev/null` open for reading and writing, which a
/// shell's `> /dev/null` never gives (it opens for writing only), so `> /dev/null`
/// still discards output quietly.
#[derive(Debug, Default)]
pub struct Writer {
    /// Whether standard output was found open, so later writes need not ask.
    checked: bool,
}

impl Writer {
    /// A writer to standard output; nothing is asked until the first write.
    pub fn new() -> Writer {
        Writer::default()
    }

    fn check(&mut self) -> io::Result<()> {
        if !self.checked {
            if closed_at_start() {
                return Err(io::Error::other(
                    "it is closed (to discard the output, redirect it to /dev/null)",
                ));
            }
            self.checked = true;
        }
        Ok(())
    }
}

impl Write for Writer {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.check()?;
        io::stdout().write(buf)
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.check()?;
        io::stdout().lock().write_all(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        io::stdout().flush()
    }
}

/// Whether standard output was closed when leaktop started: it is the runtime's
/// stand-in, `/dev/null` open for reading and writing. Asked once.
fn closed_at_start() -> bool {
    static CLOSED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *CLOSED.get_or_init(|| {
        use rustix::fs::{FileType, OFlags, fcntl_getfl, fstat, stat};
        let out = io::stdout();
        let (Ok(fd), Ok(null)) = (fstat(&out), stat("/dev/null")) else {
            return false;
        };
        FileType::from_raw_mode(fd.st_mode) == FileType::CharacterDevice
            && fd.st_rdev == null.st_rdev
            && fcntl_getfl(&out).is_ok_and(|f| f & OFlags::RWMODE == OFlags::RDWR)
    })
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
