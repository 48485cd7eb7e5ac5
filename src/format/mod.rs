//! Recording formats: the tick-log text format and NDJSON, each with its writer and
//! parser side by side. Both carry exactly the same data, so conversion is lossless.

mod escape;
pub mod ndjson;
pub mod text;

use std::path::Path;

use crate::model::{Header, Tick};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
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

    /// Detects the format from a file's content, not its name.
    pub fn detect(content: &str) -> Format {
        if content.trim_start().starts_with('{') {
            Format::Ndjson
        } else {
            Format::Text
        }
    }

    pub fn write_header(self, header: &Header, out: &mut String) {
        match self {
            Format::Text => text::write_header(header, out),
            Format::Ndjson => ndjson::write_header(header, out),
        }
    }

    pub fn write_tick(self, tick: &Tick, out: &mut String) {
        match self {
            Format::Text => text::write_tick(tick, out),
            Format::Ndjson => ndjson::write_tick(tick, out),
        }
    }

    pub fn parse(self, content: &str) -> Result<Recording, ParseError> {
        match self {
            Format::Text => text::parse(content),
            Format::Ndjson => ndjson::parse(content),
        }
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

impl Recording {
    pub fn write(&self, format: Format) -> String {
        let mut out = String::new();
        format.write_header(&self.header, &mut out);
        for tick in &self.ticks {
            format.write_tick(tick, &mut out);
        }
        out
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{line}: expected {expected}")]
pub struct ParseError {
    pub line: usize,
    pub expected: String,
}

impl ParseError {
    pub fn new(line: usize, expected: impl Into<String>) -> Self {
        ParseError {
            line,
            expected: expected.into(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: the file is not text (a tick-log is UTF-8)")]
    Binary { path: String },
    #[error("{path}:{source}")]
    Parse {
        path: String,
        #[source]
        source: ParseError,
    },
}

/// Reads a recording in either format, detected from its content.
pub fn read(path: &Path) -> Result<Recording, ReadError> {
    let name = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|source| ReadError::Io {
        path: name.clone(),
        source,
    })?;
    let content = String::from_utf8(bytes).map_err(|_| ReadError::Binary { path: name.clone() })?;
    if content.contains('\0') {
        return Err(ReadError::Binary { path: name });
    }
    Format::detect(&content)
        .parse(&content)
        .map_err(|source| ReadError::Parse { path: name, source })
}

/// The checks both parsers make on a tick's declared totals and its order.
pub(crate) struct TickChecks {
    pub count: usize,
    pub total_rss_kb: u64,
    pub leaked_count: usize,
    pub leaked_rss_kb: u64,
}

impl TickChecks {
    /// `None` when the declared totals match the rows.
    pub fn mismatch(&self, tick: &Tick) -> Option<String> {
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
                "tick {} to hold the {} processes ({} KiB, {} leaked) its header declares, found {} ({} KiB, {} leaked)",
                tick.tick, declared.0, declared.1, declared.2, actual.0, actual.1, actual.2
            )
        })
    }
}

/// Checks that ticks come in order; returns the error text if not.
pub(crate) fn order_error(prev: Option<&Tick>, tick: &Tick) -> Option<String> {
    let prev = prev?;
    if tick.tick <= prev.tick {
        Some(format!(
            "tick number above {} (found tick {})",
            prev.tick, tick.tick
        ))
    } else if tick.elapsed_ms < prev.elapsed_ms {
        Some(format!(
            "elapsed time at least {} ms at tick {}",
            prev.elapsed_ms, tick.tick
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

/// A size for people, next to the exact KiB figure.
pub fn human_kb(kb: u64) -> String {
    humansize::format_size(kb.saturating_mul(1024), humansize::BINARY)
}

/// The command line as shown next to a process's name: argv[0] cut to its base name,
/// and dropped entirely when it is the name itself, so the arguments that tell
/// processes apart (`-c from multiprocessing.forkserver ...`) stay on screen.
pub fn command_tail(name: &str, cmd: &str) -> String {
    let (argv0, rest) = cmd.split_once(' ').unwrap_or((cmd, ""));
    let base = argv0.rsplit('/').next().unwrap_or(argv0);
    if cmd.is_empty() || cmd == name {
        String::new()
    } else if base == name {
        rest.to_string()
    } else if rest.is_empty() {
        base.to_string()
    } else {
        format!("{base} {rest}")
    }
}

#[cfg(test)]
mod fuzz;
#[cfg(test)]
pub(crate) mod sample_data;
