//! The files a user names for leaktop to write: a recording (`record --out`, `run
//! --record`), `run`'s `--junit` and `--json` reports and GitHub's step summary.
//!
//! Each is opened once, before anything starts (an attach, CMD), so a path that
//! cannot be written is known first, and a FIFO is handed to its reader once: opening
//! it to check and again to write gave the reader EOF, then blocked for ever with no
//! reader left. Nothing an existing file holds is touched until [`OutFile::start`]
//! (a failed start leaves yesterday's recording as it was), and a file leaktop created
//! but could not write whole (a full disk) is removed, not left empty.
//!
//! Every wait ends on a stop signal: the wait for a FIFO's reader polls for one every
//! 100 ms, and a FIFO stays non-blocking so that a write waiting for a stalled reader
//! does so in `poll(2)`, noticing a signal within 100 ms ([`Interrupts`]).

use std::fs::File;
use std::io::{self, Write};
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicI32, AtomicUsize, Ordering};
use std::time::Duration;

use crate::host::{Create, Host};
use crate::human::shown_path;

/// How often a wait looks for a stop signal.
const WAIT_STEP: Duration = Duration::from_millis(100);

/// How an output is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Its old content goes, at [`OutFile::start`].
    Replace,
    /// Appended to (the step summary of earlier steps).
    Append,
}

/// The stop signals (INT, TERM, HUP) that reached leaktop, counted as they come, for
/// the waits that must end on one. Clones share the count.
#[derive(Debug, Clone, Default)]
pub struct Interrupts(Arc<(AtomicUsize, AtomicI32)>);

impl Interrupts {
    /// Notes that signal `sig` arrived (from the thread that receives signals).
    pub fn note(&self, sig: i32) {
        self.0.1.store(sig, Ordering::SeqCst);
        self.0.0.fetch_add(1, Ordering::SeqCst);
    }

    /// How many have arrived so far.
    pub fn count(&self) -> usize {
        self.0.0.load(Ordering::SeqCst)
    }

    /// The last signal, if any arrived after the count was `count`.
    pub fn since(&self, count: usize) -> Option<i32> {
        (self.count() != count).then(|| self.0.1.load(Ordering::SeqCst))
    }
}

/// A signal's name as messages say it: `SIGTERM`.
pub fn signal_name(sig: i32) -> &'static str {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    match sig {
        SIGINT => "SIGINT",
        SIGTERM => "SIGTERM",
        SIGHUP => "SIGHUP",
        _ => "a signal",
    }
}

/// Writes `bytes` to `path` whole, replacing what it held ([`OutFile::open`], then
/// [`OutFile::write_whole`]): for outputs written in one go (a chart). A FIFO's reader
/// is waited for.
pub fn write_file(host: &dyn Host, path: &Path, bytes: &[u8]) -> io::Result<()> {
    let file = OutFile::open(host, path, Mode::Replace, None).map_err(|e| match e {
        OpenError::Create { source, .. } => source,
        e => io::Error::other(e.to_string()),
    })?;
    file.write_whole(bytes)
}

/// Why an output could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("cannot create {path}: {source}")]
    Create { path: String, source: io::Error },
    #[error("stopped by {signal} while waiting for a reader of {path}; nothing was written")]
    Stopped { path: String, signal: &'static str },
}

/// An output file, open and not yet written. See the module's documentation.
#[derive(Debug)]
pub struct OutFile {
    file: File,
    path: PathBuf,
    /// leaktop made it: removed on drop unless [`OutFile::kept`] was called.
    created: bool,
    kept: bool,
    /// A FIFO: non-blocking, each write waits for room in `poll(2)`.
    fifo: bool,
    interrupts: Option<Interrupts>,
}

impl OutFile {
    /// Opens `path` for writing without touching what it holds, creating it if it is
    /// missing. A FIFO with no reader is waited for (said once on stderr), until a
    /// stop signal counted in `interrupts` after this call began ends the wait with
    /// [`OpenError::Stopped`]; `None`: waits until a reader comes (a signal's default
    /// action still ends leaktop). The same `interrupts` end a later write that waits
    /// for a stalled reader.
    pub fn open(
        host: &dyn Host,
        path: &Path,
        mode: Mode,
        interrupts: Option<&Interrupts>,
    ) -> Result<OutFile, OpenError> {
        let error = |source| OpenError::Create {
            path: shown_path(path),
            source,
        };
        let at_start = interrupts.map_or(0, Interrupts::count);
        let (file, created) = match host.create(path, Create::New) {
            Ok(file) => (file, true),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                let how = match mode {
                    Mode::Replace => Create::Open,
                    Mode::Append => Create::Append,
                };
                let mut said = false;
                loop {
                    match host.create(path, how) {
                        Ok(file) => break (file, false),
                        // ENXIO: a FIFO that nobody reads yet (or a socket, which
                        // no reader will ever open).
                        Err(e)
                            if e.raw_os_error() == Some(rustix::io::Errno::NXIO.raw_os_error())
                                && is_fifo(path) =>
                        {
                            if let Some(sig) = interrupts.and_then(|i| i.since(at_start)) {
                                return Err(OpenError::Stopped {
                                    path: shown_path(path),
                                    signal: signal_name(sig),
                                });
                            }
                            if !said {
                                crate::say(&format!(
                                    "leaktop: waiting for a reader of {} (a FIFO); Ctrl-C stops\n",
                                    shown_path(path)
                                ));
                                said = true;
                            }
                            host.sleep(WAIT_STEP);
                        }
                        Err(e) => return Err(error(e)),
                    }
                }
            }
            Err(e) => return Err(error(e)),
        };
        let fifo = file.metadata().is_ok_and(|m| m.file_type().is_fifo());
        Ok(OutFile {
            file,
            path: path.to_path_buf(),
            created,
            kept: false,
            fifo,
            interrupts: interrupts.cloned(),
        })
    }

    /// A file the caller created itself (say with [`Create::New`]), kept whatever
    /// happens.
    pub fn adopt(file: File, path: &Path) -> OutFile {
        let fifo = file.metadata().is_ok_and(|m| m.file_type().is_fifo());
        OutFile {
            file,
            path: path.to_path_buf(),
            created: false,
            kept: true,
            fifo,
            interrupts: None,
        }
    }

    /// Empties an existing regular file opened with [`Mode::Replace`]: call it once
    /// what it records has started. A FIFO, a device or a new file is left as it is.
    pub fn start(&mut self) -> io::Result<()> {
        if !self.created && self.file.metadata()?.is_file() {
            self.file.set_len(0)?;
        }
        Ok(())
    }

    /// What was written so far is worth keeping (a whole header): the file stays even
    /// if a later write fails.
    pub fn kept(&mut self) {
        self.kept = true;
    }

    /// The path as given.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file's length now, in bytes (what earlier steps appended).
    pub fn len(&self) -> u64 {
        self.file.metadata().map_or(0, |m| m.len())
    }

    /// Whether it holds nothing yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Replaces what it held with `bytes`, written whole; a file leaktop created and
    /// could not write whole is removed (on drop).
    pub fn write_whole(mut self, bytes: &[u8]) -> io::Result<()> {
        self.start()?;
        self.write_all(bytes)?;
        self.flush()?;
        self.kept();
        Ok(())
    }

    /// Waits until the FIFO has room or its reader left, or a stop signal came.
    fn wait_for_room(&self, at_start: usize) -> io::Result<()> {
        use rustix::event::{PollFd, PollFlags, Timespec, poll};
        let step = Timespec {
            tv_sec: 0,
            tv_nsec: WAIT_STEP.as_nanos() as i64,
        };
        loop {
            if let Some(sig) = self.interrupts.as_ref().and_then(|i| i.since(at_start)) {
                // Not `Interrupted`, which `write_all` would retry.
                return Err(io::Error::other(format!(
                    "stopped by {} while its reader was not reading",
                    signal_name(sig)
                )));
            }
            let mut fds = [PollFd::new(&self.file, PollFlags::OUT)];
            match poll(&mut fds, Some(&step)) {
                Ok(n) if n > 0 => return Ok(()),
                Ok(_) | Err(rustix::io::Errno::INTR) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
}

impl Write for OutFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let at_start = self.interrupts.as_ref().map_or(0, Interrupts::count);
        loop {
            match self.file.write(buf) {
                Err(e) if self.fifo && e.kind() == io::ErrorKind::WouldBlock => {
                    self.wait_for_room(at_start)?;
                }
                r => return r,
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

impl Drop for OutFile {
    fn drop(&mut self) {
        if self.created && !self.kept {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

fn is_fifo(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.file_type().is_fifo())
}
