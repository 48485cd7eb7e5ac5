//! Recording formats: the tick-log text format and NDJSON, each with its writer and
//! parser side by side. Both carry exactly the same data, so conversion is lossless.
//! Beside them: `leaktop orphans`' listings ([`orphans`]), `leaktop watch`'s journal
//! ([`journal`]) and the configuration file ([`config`]).

pub mod config;
mod damage;
pub use damage::Skipped;
mod escape;
use crate::human::{COMMAND_MAX_BYTES, NAME_MAX_BYTES, NOTE_MAX_BYTES, capped};
pub use crate::human::{age, elapsed, fit, human_kb, io_message, plural, printable, shown_path};
mod lines;
pub use lines::MAX_LINE_BYTES;
pub mod freed;
pub mod journal;
pub mod leaks;
pub mod ndjson;
pub mod orphans;
pub mod stream;
pub mod table;
pub use stream::{TickAt, TickReader, open};
pub use table::Width;
pub mod text;
pub mod units;

use std::path::Path;

use crate::model::{Header, Tick};

/// How a recording is written: the tick-log text format or NDJSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// The tick-log text format (see docs/tick-log.md).
    Text,
    /// One JSON object per line.
    Ndjson,
}

impl Format {
    /// `.ndjson` and `.jsonl` mean NDJSON; anything else is text.
    pub fn from_path(path: &Path) -> Format {
        match path.extension().and_then(|e| e.to_str()) {
            Some("ndjson" | "jsonl") => Format::Ndjson,
            _ => Format::Text,
        }
    }

    /// Detects the format from a file's content (its first non-blank line is
    /// enough), not its name.
    pub fn detect(content: &str) -> Format {
        if content.trim_start().starts_with('{') {
            Format::Ndjson
        } else {
            Format::Text
        }
    }

    /// Appends the header; its free text is cut to its cap first ([`capped`]).
    pub fn write_header(self, header: &Header, out: &mut String) {
        let mut header = std::borrow::Cow::Borrowed(header);
        if !header_fits(&header) {
            each_header_text(header.to_mut(), cap);
        }
        match self {
            Format::Text => text::write_header(&header, out),
            Format::Ndjson => ndjson::write_header(&header, out),
        }
    }

    /// Appends one tick; its free text is cut to its caps first ([`capped`]), so that
    /// every line written is one a reader reads back ([`MAX_LINE_BYTES`]).
    pub fn write_tick(self, tick: &Tick, out: &mut String) {
        let mut tick = std::borrow::Cow::Borrowed(tick);
        if !tick_fits(&tick) {
            each_tick_text(tick.to_mut(), cap);
        }
        match self {
            Format::Text => text::write_tick(&tick, out),
            Format::Ndjson => ndjson::write_tick(&tick, out),
        }
    }

    /// Reads a recording; its free text is kept printable, as leaktop keeps what it
    /// reads from processes.
    /// It is read line by line as a file is ([`TickReader`]).
    pub fn parse(self, content: &str) -> Result<Recording, ParseError> {
        stream::parse_str(content, self)
    }
}

/// A whole recording read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recording {
    pub header: Header,
    pub ticks: Vec<Tick>,
    /// Set when an incomplete last tick was dropped (a recorder killed mid-write).
    pub truncated: Option<ParseError>,
}

/// A recording with a header and no tick: there is nothing to show or report.
#[derive(Debug, thiserror::Error)]
#[error("{0} holds no ticks (its recorder stopped before the first sample)")]
pub struct NoTicks(pub String);

impl Recording {
    /// Escapes control characters in every piece of free text ([`printable`]): a
    /// crafted recording must not drive the terminal that shows it.
    pub fn keep_printable(&mut self) {
        keep_header_printable(&mut self.header);
        self.ticks.iter_mut().for_each(keep_tick_printable);
    }

    pub fn write(&self, format: Format) -> String {
        let mut out = String::new();
        format.write_header(&self.header, &mut out);
        for tick in &self.ticks {
            format.write_tick(tick, &mut out);
        }
        out
    }
}

/// The header's free text made printable ([`printable`]) and cut to its caps
/// ([`capped`]).
pub(crate) fn keep_header_printable(h: &mut Header) {
    each_header_text(h, keep);
}

/// A tick's free text made printable ([`printable`]) and cut to its caps
/// ([`capped`]), as leaktop keeps what it reads from processes.
pub(crate) fn keep_tick_printable(tick: &mut Tick) {
    each_tick_text(tick, keep);
}

/// Calls `f` with every piece of a header's free text and the most bytes it may
/// hold. [`header_fits`] checks the same pieces.
fn each_header_text(h: &mut Header, mut f: impl FnMut(&mut String, usize)) {
    f(&mut h.root_cmd, COMMAND_MAX_BYTES);
    f(&mut h.host, NAME_MAX_BYTES);
}

fn header_fits(h: &Header) -> bool {
    h.root_cmd.len() <= COMMAND_MAX_BYTES && h.host.len() <= NAME_MAX_BYTES
}

/// Calls `f` with every piece of a tick's free text and the most bytes it may hold:
/// names, command lines, escape evidence and alert reasons. [`tick_fits`] checks the
/// same pieces.
fn each_tick_text(tick: &mut Tick, mut f: impl FnMut(&mut String, usize)) {
    for p in &mut tick.processes {
        f(&mut p.name, NAME_MAX_BYTES);
        f(&mut p.cmd, COMMAND_MAX_BYTES);
    }
    for e in &mut tick.events {
        if let crate::model::Event::Escaped { evidence, .. } = e {
            f(evidence, NOTE_MAX_BYTES);
        }
    }
    for a in &mut tick.alerts {
        f(&mut a.reason, NOTE_MAX_BYTES);
    }
}

fn tick_fits(tick: &Tick) -> bool {
    tick.processes
        .iter()
        .all(|p| p.name.len() <= NAME_MAX_BYTES && p.cmd.len() <= COMMAND_MAX_BYTES)
        && tick.events.iter().all(|e| match e {
            crate::model::Event::Escaped { evidence, .. } => evidence.len() <= NOTE_MAX_BYTES,
            _ => true,
        })
        && tick.alerts.iter().all(|a| a.reason.len() <= NOTE_MAX_BYTES)
}

/// `s` with its control characters escaped ([`printable`]), in place.
pub(crate) fn clean(s: &mut String) {
    if let std::borrow::Cow::Owned(shown) = printable(s) {
        *s = shown;
    }
}

/// `s` made printable within `max` bytes ([`crate::human::kept`]), in place.
fn keep(s: &mut String, max: usize) {
    if let std::borrow::Cow::Owned(kept) = crate::human::kept(s, max) {
        *s = kept;
    }
}

/// `s` cut to `max` bytes ([`capped`]), in place.
fn cap(s: &mut String, max: usize) {
    if let std::borrow::Cow::Owned(cut) = capped(s, max) {
        *s = cut;
    }
}

/// What a parser expected at a line (1-based) and did not find.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{line}: expected {expected}")]
pub struct ParseError {
    pub line: usize,
    /// Printable: it may quote the file's bytes (serde's messages do), so control
    /// characters are escaped when the error is made.
    pub expected: String,
}

impl ParseError {
    /// The one place parse errors are made: `expected` is made printable here.
    pub fn new(line: usize, expected: impl Into<String>) -> Self {
        let mut expected = expected.into();
        clean(&mut expected);
        ParseError { line, expected }
    }
}

/// Why a recording could not be read. `path` is always printable ([`shown_path`]).
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{path}: {}", io_message(source))]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}:{line}: expected UTF-8 text without NUL bytes (this is not a tick-log)")]
    Binary { path: String, line: usize },
    /// A line over [`MAX_LINE_BYTES`] (`limit`, for people).
    #[error(
        "{path}:{line}: expected a line of at most {limit}, found a longer one (this is not a leaktop recording, or it is damaged)"
    )]
    LineTooLong {
        path: String,
        line: usize,
        limit: String,
    },
    #[error(
        "{path}:{line}: expected lines ended by LF, found CR alone (convert the line ends, e.g. tr '\\r' '\\n')"
    )]
    CrOnly { path: String, line: usize },
    #[error("{path}: a device, not a recording")]
    Device { path: String },
    #[error("{path}:{source}")]
    Parse {
        path: String,
        #[source]
        source: ParseError,
    },
    /// Skipping damage ([`TickReader::skip_damaged`]), not one tick could be read.
    #[error("{path}: not one tick could be read: {skipped}")]
    NothingRead { path: String, skipped: Skipped },
}

impl ReadError {
    /// The line it is about, if it is about one.
    pub fn line(&self) -> Option<usize> {
        match self {
            ReadError::Binary { line, .. }
            | ReadError::LineTooLong { line, .. }
            | ReadError::CrOnly { line, .. } => Some(*line),
            ReadError::Parse { source, .. } => Some(source.line),
            ReadError::Io { .. } | ReadError::Device { .. } | ReadError::NothingRead { .. } => None,
        }
    }
}

/// Reads a whole recording in either format, detected from its content. Memory grows
/// with the file: to go through a long one, use [`open`] and its ticks one by one.
pub fn read(path: &Path) -> Result<Recording, ReadError> {
    open(path, |_| {})?.into_recording()
}

/// The checks both parsers make on a tick's declared totals and its order.
pub(crate) struct TickChecks {
    pub count: usize,
    pub total_rss_kb: u64,
    pub leaked_count: usize,
    pub leaked_rss_kb: u64,
}

impl TickChecks {
    /// `None` when the tick is consistent: its rows are distinct processes with a
    /// state letter, nothing leaked or raised an alert after this tick, and the
    /// declared totals match the rows.
    pub fn problem(&self, tick: &Tick) -> Option<String> {
        let mut pids: Vec<u32> = tick.processes.iter().map(|p| p.pid).collect();
        pids.sort_unstable();
        if let Some(w) = pids.windows(2).find(|w| w[0] == w[1]) {
            return Some(format!(
                "one row per pid in tick {}, found {} twice",
                tick.tick, w[0]
            ));
        }
        if let Some(p) = tick
            .processes
            .iter()
            .find(|p| !p.state.is_ascii_alphabetic())
        {
            return Some(format!(
                "a state letter for pid {}, found {:?}",
                p.pid, p.state
            ));
        }
        // The text format writes `since=` only on a leaked row: a non-leaked row with
        // one would not convert without loss, and says two things at once.
        if let Some(p) = tick
            .processes
            .iter()
            .find(|p| !p.leaked && p.leaked_since.is_some())
        {
            return Some(format!(
                "pid {} to be leaked, as its leaked_since says (or no leaked_since)",
                p.pid
            ));
        }
        let later = |since: u32| since > tick.tick;
        if let Some(p) = tick
            .processes
            .iter()
            .find(|p| p.leaked_since.is_some_and(later))
        {
            return Some(format!(
                "pid {} to have leaked by tick {}, not since a later tick",
                p.pid, tick.tick
            ));
        }
        if let Some(p) = tick
            .processes
            .iter()
            .find(|p| p.mem_tick.is_some_and(later))
        {
            return Some(format!(
                "pid {} to have its memory measured by tick {}, not at a later tick",
                p.pid, tick.tick
            ));
        }
        if let Some(a) = tick.alerts.iter().find(|a| later(a.since_tick)) {
            return Some(format!(
                "the alert on pid {} to stand since tick {} at the latest",
                a.pid, tick.tick
            ));
        }
        let actual = (
            tick.processes.len(),
            tick.total_rss_kb(),
            tick.leaked_count(),
            tick.leaked_rss_kb(),
        );
        let declared = (
            self.count,
            self.total_rss_kb,
            self.leaked_count,
            self.leaked_rss_kb,
        );
        (actual != declared).then(|| {
            format!(
                "tick {} to hold the {} ({} KiB, {} leaked) its header declares, found {} ({} KiB, {} leaked)",
                tick.tick,
                plural(declared.0, "process", "processes"),
                declared.1,
                declared.2,
                actual.0,
                actual.1,
                actual.2
            )
        })
    }
}

/// Checks that ticks come in order after the previous tick's `(number, elapsed ms)`;
/// returns the error text if not.
pub(crate) fn order_error(prev: Option<(u32, u64)>, tick: &Tick) -> Option<String> {
    let (prev_tick, prev_elapsed) = prev?;
    if tick.tick <= prev_tick {
        Some(format!(
            "tick number above {prev_tick} (found tick {})",
            tick.tick
        ))
    } else if tick.elapsed_ms < prev_elapsed {
        Some(format!(
            "elapsed time at least {prev_elapsed} ms at tick {}",
            tick.tick
        ))
    } else {
        None
    }
}

/// RFC 3339 UTC with milliseconds, as both formats write wall times.
pub(crate) fn format_time(ms: u64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms);
    humantime::format_rfc3339_millis(t).to_string()
}

pub(crate) fn parse_time(s: &str) -> Option<u64> {
    let t = humantime::parse_rfc3339(s).ok()?;
    Some(t.duration_since(std::time::UNIX_EPOCH).ok()?.as_millis() as u64)
}

/// The command line as shown next to a process's name: argv[0] cut to its base name,
/// and dropped entirely when it is the name itself, so the arguments that tell
/// processes apart (`-c from multiprocessing.forkserver ...`) stay on screen. A
/// command line leaktop had to cut ([`crate::human::capped`]) says so first:
/// `[5.50 MiB cut] python3 -c ...`, since its marker is out of sight in the middle.
pub fn command_tail(name: &str, cmd: &str) -> String {
    let (argv0, rest) = cmd.split_once(' ').unwrap_or((cmd, ""));
    let base = argv0.rsplit('/').next().unwrap_or(argv0);
    let tail = if cmd.is_empty() || cmd == name {
        String::new()
    } else if base == name {
        rest.to_string()
    } else if rest.is_empty() {
        base.to_string()
    } else {
        format!("{base} {rest}")
    };
    match crate::human::cut_from(cmd) {
        Some((cut, _)) => format!(
            "[{} cut] {tail}",
            humansize::format_size(cut, humansize::BINARY)
        ),
        None => tail,
    }
}

/// A process as a command column shows it: its name, then [`command_tail`] where that
/// says more (`python3 -c from multiprocessing.forkserver import main`).
pub fn shown_command(name: &str, cmd: &str) -> String {
    let tail = command_tail(name, cmd);
    if tail.is_empty() {
        name.to_string()
    } else {
        format!("{name} {tail}")
    }
}

#[cfg(test)]
mod fuzz;
#[cfg(test)]
mod tests {
    use super::command_tail;

    /// A command line that was cut says so first, where a narrow column shows it.
    #[test]
    fn a_cut_command_says_so_in_front() {
        assert_eq!(command_tail("python3", "/usr/bin/python3 -m x"), "-m x");
        let cut = crate::sample::join_cmdline(
            &[b"python3\0-c\0".as_slice(), &[b'x'; 5_767_168]].concat(),
        );
        let shown = command_tail("python3", &cut);
        assert!(shown.starts_with("[5.50 MiB cut] -c xxx"), "{shown}");
    }
}
