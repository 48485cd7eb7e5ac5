//! Leaf helpers for text that people read: control characters escaped, sizes, ages
//! and counts. Every layer uses them (`sample`, `model`, `format`, `ui`, `report`), so
//! they depend on nothing of leaktop's.

use std::borrow::Cow;
use std::fmt::Write;
use std::path::Path;

/// Text from a process or a file as leaktop keeps it: control characters (an escape
/// sequence in a command line would drive the terminal it is shown on) written as
/// `\n`, `\t`, `\xNN`.
pub fn printable(s: &str) -> Cow<'_, str> {
    if !s.chars().any(char::is_control) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        push_shown(&mut out, c);
    }
    Cow::Owned(out)
}

/// Pushes `c`, a control character as `\\n`, `\\t` or `\\xNN`.
pub(crate) fn push_shown(out: &mut String, c: char) {
    match c {
        '\n' => out.push_str("\\n"),
        '\t' => out.push_str("\\t"),
        // Unicode's control characters are C0, DEL and C1: all below 0x100.
        c if c.is_control() => {
            let _ = write!(out, "\\x{:02x}", c as u32);
        }
        c => out.push(c),
    }
}

/// A file name as shown in messages: control characters in it escaped, so a crafted
/// name cannot drive the terminal the message reaches.
pub fn shown_path(path: &Path) -> String {
    printable(&path.display().to_string()).into_owned()
}

/// An I/O error as a person reads it: `No space left on device`, without the
/// `(os error 28)` that follows in its `Display`.
pub fn io_message(e: &std::io::Error) -> String {
    let shown = e.to_string();
    match shown.rfind(" (os error ") {
        Some(at) if shown.ends_with(')') => shown[..at].to_string(),
        _ => shown,
    }
}

/// A size for people, next to the exact KiB figure.
pub fn human_kb(kb: u64) -> String {
    humansize::format_size(kb.saturating_mul(1024), humansize::BINARY)
}

/// `12s`, `4m12s`, `2h05m`, `3d04h`.
pub fn age(ms: u64) -> String {
    let s = ms / 1000;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        3600..86400 => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d{:02}h", s / 86400, s % 86400 / 3600),
    }
}

/// `41.0s` under a minute, else as [`age`].
pub fn elapsed(ms: u64) -> String {
    if ms < 60_000 {
        format!("{:.1}s", ms as f64 / 1000.0)
    } else {
        age(ms)
    }
}

/// `text` cut to `width` characters, with `…` where it was cut.
pub fn fit(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_string();
    }
    let mut cut: String = text.chars().take(width.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// `1 process`, `2 processes`.
pub fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// A size in KiB from `100MB`, `512MiB`, `1.5G`, `4096KiB`. KB, MB and GB count in
/// 1024s like KiB, MiB and GiB: leaktop shows RSS in binary units, and `100MB` typed
/// after reading "100.00 MiB" in the view must mean that.
pub fn parse_size_kb(s: &str) -> Result<u64, String> {
    const SIZES: parse_size::Config = parse_size::Config::new().with_binary();
    let t = s.trim();
    if t.starts_with('-') {
        return Err(format!(
            "'{s}' is negative: a size is 0 or more, like 100MB"
        ));
    }
    // parse-size reads a bare number as bytes; here it is more likely meant as MB.
    if !t.ends_with(|c: char| c.is_ascii_alphabetic()) {
        return Err(format!("'{s}' needs a unit, like {t}MB"));
    }
    match SIZES.parse_size(t) {
        Ok(bytes) => Ok(bytes / 1024),
        Err(parse_size::Error::PosOverflow) => Err(format!("'{s}' is too large")),
        Err(_) => Err(format!(
            "'{s}' is not a size like 100MB or 2GiB (units B, KB, MB, GB, TB)"
        )),
    }
}
