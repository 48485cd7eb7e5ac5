//! The journal of `leaktop watch`: NDJSON files in one directory, bounded in size,
//! written so a crash loses at most the last batch, read back as a stream.
//!
//! - Files are `journal-NNNNNNNN.ndjson`, numbered in order; each starts with a header
//!   line (`{"type":"journal","version":1,...}`) that says it is leaktop's, then one
//!   [`Record`] a line. A watcher never appends to a file it did not create: each
//!   start begins a new file.
//! - **Bounded**: a file is closed at an eighth of the cap ([`Writer::file_cap`]);
//!   before a new one is opened the oldest files are removed until the rest and a
//!   full new file fit within the cap. The directory never holds more than the cap.
//! - **Durable**: each batch goes to the file in one `write` as soon as it is made (a
//!   SIGKILL loses nothing written), and [`Writer::flush`] with `sync` makes it
//!   durable (`fdatasync`): a power cut loses at most what came since.
//! - **Read back** one line at a time ([`read`]), each line at most
//!   [`MAX_LINE_BYTES`]: a file whose first line is not the header is skipped with a
//!   warning (foreign); a line that is not a record is skipped and counted (corrupt),
//!   with one warning per file; a last line without its line end (a write cut short)
//!   is left out; a record of a type this leaktop does not know is skipped quietly.

use std::fs::File;
use std::io::{BufReader, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::lines::{LineError, Lines};
use crate::human::shown_path;
use crate::model::watch::record::Record;

/// The longest journal line read: a record lists at most 64 processes with their
/// command lines (1 KiB each), far below this.
pub const MAX_LINE_BYTES: usize = 1 << 20;
/// The smallest cap accepted: room for a few files of records.
pub const MIN_CAP: u64 = 256 << 10;
/// The default cap: 64 MiB.
pub const DEFAULT_CAP: u64 = 64 << 20;
/// The watcher's pid file, beside the journal files.
pub const PID_FILE: &str = "watcher.pid";

const PREFIX: &str = "journal-";
const SUFFIX: &str = ".ndjson";
const VERSION: u32 = 1;

/// The first line of every journal file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct FileHeader {
    #[serde(rename = "type")]
    kind: String,
    version: u32,
    created_ms: u64,
    host: String,
}

/// Why the journal cannot be written.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("cannot use the journal directory {}: {}", shown_path(.0), crate::human::io_message(.1))]
    Dir(PathBuf, #[source] std::io::Error),
    #[error("cannot write the journal file {}: {}", shown_path(.0), crate::human::io_message(.1))]
    Write(PathBuf, #[source] std::io::Error),
}

/// The number of a journal file from its name, if it is one.
fn seq_of(name: &str) -> Option<u64> {
    let n = name.strip_prefix(PREFIX)?.strip_suffix(SUFFIX)?;
    (n.len() == 8 && n.bytes().all(|b| b.is_ascii_digit()))
        .then(|| n.parse().ok())
        .flatten()
}

/// The journal files of `dir`, oldest first, with their sizes in bytes. A directory
/// that does not exist has none.
pub fn files(dir: &Path) -> std::io::Result<Vec<(u64, PathBuf, u64)>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(seq) = name.to_str().and_then(seq_of) else {
            continue;
        };
        let Ok(meta) = entry.metadata() else { continue };
        if meta.is_file() {
            out.push((seq, entry.path(), meta.len()));
        }
    }
    out.sort_unstable_by_key(|(seq, _, _)| *seq);
    Ok(out)
}

/// The highest number any entry of `dir` is named with (a file, or something else in
/// the way of the name), 0 if none: new files are numbered past it.
fn highest_name(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|e| e.file_name().to_str().and_then(seq_of))
                .max()
                .unwrap_or(0)
        })
        .unwrap_or(0)
}

/// Whether the file at `path` is a journal file leaktop wrote: its first line is a
/// journal header, or it is empty (a watcher killed between creating it and writing
/// the header). Only these are ever rotated away.
fn written_by_us(path: &Path) -> bool {
    let Ok(file) = File::open(path) else {
        return false;
    };
    let mut lines = Lines::new(BufReader::new(file), 64 << 10);
    match lines.next_line() {
        None => true,
        Some(Ok(line)) if !line.cut => {
            serde_json::from_str::<FileHeader>(line.text).is_ok_and(|h| h.kind == "journal")
        }
        Some(_) => false,
    }
}

/// Makes a new journal file at a path (and refuses one that exists).
pub type CreateFile = Box<dyn Fn(&Path) -> std::io::Result<File> + Send>;

/// Appends records to the journal; see the module's documentation.
pub struct Writer {
    dir: PathBuf,
    cap: u64,
    file_cap: u64,
    host: String,
    /// Files of the journal, oldest first: (number, path, size). The last is the
    /// current one once `current` is open.
    files: Vec<(u64, PathBuf, u64)>,
    current: Option<File>,
    /// The batch being made.
    batch: String,
    create: CreateFile,
    /// The number the next file is made with: past every name in the directory.
    next: u64,
    /// Records dropped because a line alone was larger than a file may be.
    pub dropped: u64,
}

/// How many taken names (something in the way, made since the directory was read)
/// a rotation steps over before it gives up.
const NAME_TRIES: u64 = 16;

impl Writer {
    /// The journal in `dir` (created, with its parents, if missing), bounded by
    /// `cap` bytes; new files are made with `create` (which must refuse an existing
    /// file: [`crate::host::Create::New`]). Nothing is written until a flush.
    pub fn open(
        dir: &Path,
        cap: u64,
        host: &str,
        create: CreateFile,
    ) -> Result<Writer, JournalError> {
        let err = |e| JournalError::Dir(dir.to_path_buf(), e);
        make_dir(dir).map_err(err)?;
        // A file that only has a journal's name (another program's, or leaktop's own
        // that it cannot read) is read past with a warning and never removed.
        let files: Vec<_> = files(dir)
            .map_err(err)?
            .into_iter()
            .filter(|(_, path, _)| written_by_us(path))
            .collect();
        let next = highest_name(dir).max(files.last().map_or(0, |f| f.0)) + 1;
        let cap = cap.max(MIN_CAP);
        Ok(Writer {
            dir: dir.to_path_buf(),
            cap,
            file_cap: (cap / 8).max(32 << 10),
            host: host.to_string(),
            files,
            current: None,
            batch: String::new(),
            create,
            next,
            dropped: 0,
        })
    }

    /// The size at which a file is closed: an eighth of the cap.
    pub fn file_cap(&self) -> u64 {
        self.file_cap
    }

    /// The journal's files and their sizes now, in bytes.
    pub fn bytes(&self) -> u64 {
        self.files.iter().map(|f| f.2).sum()
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Adds `record` to the batch.
    pub fn push(&mut self, record: &Record) {
        if let Ok(line) = serde_json::to_string(record) {
            self.batch.push_str(&line);
            self.batch.push('\n');
        }
    }

    /// Writes the batch (in one `write` per file), rotating files and removing the
    /// oldest as the cap requires; with `sync`, makes it durable. On an error the
    /// batch is dropped (memory stays bounded) and the error returned.
    pub fn flush(&mut self, sync: bool, now_ms: u64) -> Result<(), JournalError> {
        let batch = std::mem::take(&mut self.batch);
        let mut buf = String::new();
        for line in batch.split_inclusive('\n') {
            let len = line.len() as u64;
            if len > self.file_cap / 2 {
                self.dropped += 1;
                continue;
            }
            let size = self.files.last().map_or(0, |f| f.2) + buf.len() as u64;
            if self.current.is_none() || size + len > self.file_cap {
                self.write_current(&buf)?;
                buf.clear();
                self.rotate(now_ms)?;
            }
            buf.push_str(line);
        }
        self.write_current(&buf)?;
        if sync && let (Some(f), Some(last)) = (&self.current, self.files.last()) {
            f.sync_data()
                .map_err(|e| JournalError::Write(last.1.clone(), e))?;
        }
        Ok(())
    }

    fn write_current(&mut self, buf: &str) -> Result<(), JournalError> {
        if buf.is_empty() {
            return Ok(());
        }
        let (Some(f), Some(last)) = (&mut self.current, self.files.last_mut()) else {
            return Ok(());
        };
        f.write_all(buf.as_bytes())
            .map_err(|e| JournalError::Write(last.1.clone(), e))?;
        last.2 += buf.len() as u64;
        Ok(())
    }

    /// Closes the current file, removes the oldest until a full new file fits, and
    /// opens the next with its header.
    fn rotate(&mut self, now_ms: u64) -> Result<(), JournalError> {
        self.current = None;
        while !self.files.is_empty() && self.bytes() + self.file_cap > self.cap {
            let (_, path, _) = self.files.remove(0);
            if let Err(e) = std::fs::remove_file(&path)
                && e.kind() != std::io::ErrorKind::NotFound
            {
                return Err(JournalError::Write(path, e));
            }
        }
        let (seq, path, mut file) = self.create_next()?;
        let header = FileHeader {
            kind: "journal".into(),
            version: VERSION,
            created_ms: now_ms,
            host: self.host.clone(),
        };
        let mut line = serde_json::to_string(&header).unwrap_or_default();
        line.push('\n');
        file.write_all(line.as_bytes())
            .map_err(|e| JournalError::Write(path.clone(), e))?;
        self.files.push((seq, path, line.len() as u64));
        self.current = Some(file);
        Ok(())
    }

    /// Creates the next journal file, stepping over names something else took.
    fn create_next(&mut self) -> Result<(u64, PathBuf, File), JournalError> {
        let mut tries = 0;
        loop {
            let seq = self.next;
            self.next += 1;
            let path = self.dir.join(format!("{PREFIX}{seq:08}{SUFFIX}"));
            match (self.create)(&path) {
                Ok(file) => return Ok((seq, path, file)),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && tries < NAME_TRIES => {
                    tries += 1;
                }
                Err(e) => return Err(JournalError::Write(path, e)),
            }
        }
    }
}

/// Creates `dir` and its parents, `rwxr-xr-x` (a system journal holds command lines,
/// which `/proc` shows every user anyway, and no environment).
fn make_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(dir)
    }
    #[cfg(not(unix))]
    {
        std::fs::create_dir_all(dir)
    }
}

/// What reading a journal met besides records.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadSummary {
    /// Journal files read.
    pub files: usize,
    /// Records handed out.
    pub records: u64,
    /// Lines that were not records (damaged), skipped.
    pub corrupt: u64,
    /// Records of types this leaktop does not know, skipped.
    pub unknown: u64,
    /// Files skipped whole: not leaktop journals, or unreadable.
    pub skipped_files: usize,
    /// Last lines cut short (a write interrupted), left out.
    pub cut: usize,
}

/// Reads every journal file of `dir`, oldest first, handing each record to `visit`
/// and each problem to `warn` (one line, naming the file). Never fails: an unreadable
/// directory or file is a warning. Memory stays at one line.
pub fn read(
    dir: &Path,
    visit: &mut dyn FnMut(Record),
    warn: &mut dyn FnMut(String),
) -> ReadSummary {
    let mut summary = ReadSummary::default();
    let list = match files(dir) {
        Ok(l) => l,
        Err(e) => {
            warn(format!(
                "cannot read the journal directory {}: {}",
                shown_path(dir),
                crate::human::io_message(&e)
            ));
            return summary;
        }
    };
    for (_, path, _) in list {
        read_file(&path, &mut summary, visit, warn);
    }
    summary
}

fn read_file(
    path: &Path,
    summary: &mut ReadSummary,
    visit: &mut dyn FnMut(Record),
    warn: &mut dyn FnMut(String),
) {
    let shown = shown_path(path);
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) => {
            summary.skipped_files += 1;
            warn(format!(
                "skipping {shown}: {}",
                crate::human::io_message(&e)
            ));
            return;
        }
    };
    let mut lines = Lines::new(BufReader::new(file), MAX_LINE_BYTES);
    let mut corrupt = 0u64;
    let mut first = true;
    while let Some(line) = lines.next_line() {
        let line = match line {
            Ok(l) => l,
            Err(e) => {
                summary.corrupt += 1;
                warn(format!(
                    "{shown}: {}; the rest of the file is skipped",
                    line_problem(&e)
                ));
                break;
            }
        };
        if line.cut {
            summary.cut += 1;
            break;
        }
        if first {
            first = false;
            let ours = serde_json::from_str::<FileHeader>(line.text)
                .is_ok_and(|h| h.kind == "journal" && h.version == VERSION);
            if !ours {
                summary.skipped_files += 1;
                warn(format!(
                    "skipping {shown}: not a leaktop journal (its first line is no journal header)"
                ));
                return;
            }
            summary.files += 1;
            continue;
        }
        if line.text.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Record>(line.text) {
            Ok(r) => {
                summary.records += 1;
                visit(r);
            }
            Err(_) if known_type(line.text) == Some(false) => summary.unknown += 1,
            Err(_) => corrupt += 1,
        }
    }
    if first && lines.count() == 0 {
        // An empty file: a watcher killed before its first write.
        return;
    }
    if corrupt > 0 {
        summary.corrupt += corrupt;
        warn(format!(
            "{shown}: {} damaged (not a journal record), skipped",
            crate::human::plural(corrupt as usize, "line", "lines")
        ));
    }
}

/// Whether a line is a JSON object of a record type this leaktop knows (`Some(true)`),
/// of another type (`Some(false)`: written by a later version), or no such object.
fn known_type(text: &str) -> Option<bool> {
    #[derive(Deserialize)]
    struct Typed {
        #[serde(rename = "type")]
        kind: String,
    }
    let t: Typed = serde_json::from_str(text).ok()?;
    Some(matches!(
        t.kind.as_str(),
        "start" | "orphaned" | "fate" | "policy" | "lost" | "stop"
    ))
}

fn line_problem(e: &LineError) -> String {
    match e {
        LineError::Io(e) => crate::human::io_message(e),
        LineError::TooLong { line, limit } => {
            format!("line {line} is longer than {limit} bytes")
        }
        LineError::Binary { line } => format!("line {line} is not text"),
        LineError::CrOnly { line } => format!("line {line} ends with a carriage return"),
    }
}

/// Who is watching: the pid file a running watcher keeps beside its journal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WatcherFile {
    pub pid: u32,
    /// Its start time (clock ticks since boot): a pid alone could be anyone's now.
    pub start: u64,
    /// When it started watching, ms since the Unix epoch.
    pub since_ms: u64,
    /// Its event source (`connector`, `pidfd`, `ticks`).
    pub source: String,
    /// `machine` or `uid:N`.
    pub scope: String,
}

impl WatcherFile {
    /// Writes the pid file into `dir` atomically (a temporary file, then a rename).
    pub fn write(&self, dir: &Path) -> std::io::Result<()> {
        let tmp = dir.join(format!(".{PID_FILE}.{}", self.pid));
        let path = dir.join(PID_FILE);
        let mut text = serde_json::to_string(self).unwrap_or_default();
        text.push('\n');
        std::fs::write(&tmp, text)?;
        std::fs::rename(&tmp, &path)
    }

    /// The pid file of `dir`, if there is one and it is one.
    pub fn read(dir: &Path) -> Option<WatcherFile> {
        let text = std::fs::read_to_string(dir.join(PID_FILE)).ok()?;
        serde_json::from_str(text.trim()).ok()
    }
}

#[cfg(test)]
mod tests;
