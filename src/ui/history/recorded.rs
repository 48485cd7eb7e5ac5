//! A replay's ticks left in their file: an index of where each tick is, and any tick
//! read again on demand. Memory grows with the ticks (a few dozen bytes each), never
//! with the processes: two million short-lived workers cost what a hundred do.

use std::fs::File;
use std::io::{BufReader, Read};
use std::sync::{Arc, Mutex, PoisonError};

use crate::format::{Format, TickAt, TickReader};
use crate::model::{Header, Tick};
use crate::sample::Identity;

/// How many ticks a process's RSS series reads around where it is shown, and how many
/// more, spread over the rest of the recording: a few hundred parses, whatever its
/// length.
const SERIES_NEAR: usize = 192;
const SERIES_SPREAD: usize = 64;
/// Ticks in a row without the process before the walk around `near` stops.
const GAP_MAX: usize = 16;

/// Where a replay's ticks are: the open file, its header and format, and the place of
/// every tick read so far, in order. Cloned, it shares the file and the index.
#[derive(Clone)]
pub struct Recorded {
    file: Arc<File>,
    /// The file's name as shown in messages.
    name: String,
    format: Format,
    header: Header,
    index: Index,
}

/// The place of every tick loaded, shared by the loader that appends to it and the
/// history that reads from it.
#[derive(Clone, Default)]
pub struct Index(Arc<Mutex<Vec<TickAt>>>);

impl Index {
    /// Notes where the next tick loaded is (before it is handed to the history).
    pub fn push(&self, at: TickAt) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(at);
    }

    fn get(&self, i: usize) -> Option<TickAt> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(i)
            .copied()
    }

    /// Bytes held (for the memory tests).
    fn heap_bytes(&self) -> usize {
        let index = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        index.capacity() * std::mem::size_of::<TickAt>()
    }
}

impl std::fmt::Debug for Recorded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorded")
            .field("name", &self.name)
            .finish()
    }
}

impl Recorded {
    /// The recording open in `file`, read before with this header and format (its
    /// messages name it `name`); no tick indexed yet.
    pub fn new(file: File, name: &str, format: Format, header: Header) -> Recorded {
        Recorded {
            file: Arc::new(file),
            name: name.to_string(),
            format,
            header,
            index: Index::default(),
        }
    }

    /// The index the loader appends to.
    pub fn index(&self) -> Index {
        self.index.clone()
    }

    pub(super) fn heap_bytes(&self) -> usize {
        self.index.heap_bytes()
    }

    /// Tick `i` of the history, read again from the file; `None` if it cannot be (the
    /// file changed under the replay).
    pub fn read(&self, i: usize) -> Option<Tick> {
        let at = self.index.get(i)?;
        let src = BufReader::with_capacity(
            64 << 10,
            ReadAt {
                file: &self.file,
                pos: at.offset,
            },
        );
        TickReader::resume(src, &self.name, self.format, self.header.clone(), at)
            .next()?
            .ok()
    }

    /// The RSS of process `id` at the ticks it was alive, `(tick, rss_kb)`: every tick
    /// of a short history; else every tick around history index `near` while it is
    /// there (up to [`SERIES_NEAR`] reads; a process is in every tick from its first
    /// to its last, a gap of a few ticks aside), and a few more spread over the rest.
    pub fn rss_of(&self, id: Identity, near: usize, len: usize) -> Vec<(u32, u64)> {
        let rss = |i: usize| {
            let tick = self.read(i)?;
            let p = tick.processes.iter().find(|p| p.id() == id)?;
            Some((tick.tick, p.rss_kb))
        };
        if len <= SERIES_NEAR + SERIES_SPREAD {
            return (0..len).filter_map(rss).collect();
        }
        let near = near.min(len - 1);
        let mut series: Vec<(u32, u64)> = rss(near).into_iter().collect();
        let (mut first, mut last) = (near, near);
        let mut reads = 1;
        for backwards in [true, false] {
            let mut missed = 0;
            while reads < SERIES_NEAR && missed < GAP_MAX {
                let i = if backwards {
                    match first.checked_sub(1) {
                        Some(i) => i,
                        None => break,
                    }
                } else if last + 1 < len {
                    last + 1
                } else {
                    break;
                };
                reads += 1;
                match rss(i) {
                    Some(point) => {
                        series.push(point);
                        missed = 0;
                    }
                    None => missed += 1,
                }
                if backwards {
                    first = i;
                } else {
                    last = i;
                }
                if backwards && reads >= SERIES_NEAR / 2 {
                    break;
                }
            }
        }
        // Beyond, a few samples: a long life drawn in outline.
        let step = len.div_ceil(SERIES_SPREAD);
        series.extend(
            (0..len)
                .step_by(step)
                .filter(|i| !(first..=last).contains(i))
                .filter_map(rss),
        );
        series.sort_unstable();
        series
    }
}

/// A reader of `file` from byte `pos` on that moves no shared file position, so
/// clones of a history read at once (an export beside the view).
struct ReadAt<'a> {
    file: &'a File,
    pos: u64,
}

impl Read for ReadAt<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        #[cfg(unix)]
        let n = std::os::unix::fs::FileExt::read_at(self.file, buf, self.pos)?;
        #[cfg(not(unix))]
        let n = {
            use std::io::{Seek, SeekFrom};
            let mut f = self.file;
            f.seek(SeekFrom::Start(self.pos))?;
            f.read(buf)?
        };
        self.pos += n as u64;
        Ok(n)
    }
}
