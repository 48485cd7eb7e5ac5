//! Leaf helpers for text that people read: control characters escaped, sizes, ages
//! and counts. Every layer uses them (`sample`, `model`, `format`, `ui`, `report`), so
//! they depend on nothing of leaktop's.

use std::borrow::Cow;
use std::fmt::Write;
use std::path::Path;

/// Text from a process or a file as leaktop keeps it: control characters (an escape
/// sequence in a command line would drive the terminal it is shown on) written as
/// `\n`, `\t`, `\xNN`, and the bidirectional controls (a right-to-left override
/// makes `evil\u{202e}gpj.sh` read as `evilhs.jpg`) as `\uNNNN`.
pub fn printable(s: &str) -> Cow<'_, str> {
    if !s.chars().any(is_hidden) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        push_shown(&mut out, c);
    }
    Cow::Owned(out)
}

/// The bidirectional formatting characters: the Arabic letter mark (U+061C), the
/// left-to-right and right-to-left marks (U+200E, U+200F), the embeddings and
/// overrides (U+202A-U+202E) and the isolates (U+2066-U+2069). Shown raw, they
/// reorder the text around them.
pub fn is_bidi(c: char) -> bool {
    matches!(c, '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// A character leaktop never shows raw: a control character (C0, DEL, C1) or a
/// bidirectional control ([`is_bidi`]).
pub fn is_hidden(c: char) -> bool {
    c.is_control() || is_bidi(c)
}

/// Pushes `c`, a control character as `\\n`, `\\t` or `\\xNN`, a bidirectional
/// control as `\\uNNNN`.
pub(crate) fn push_shown(out: &mut String, c: char) {
    match c {
        '\n' => out.push_str("\\n"),
        '\t' => out.push_str("\\t"),
        // Unicode's control characters are C0, DEL and C1: all below 0x100.
        c if c.is_control() => {
            let _ = write!(out, "\\x{:02x}", c as u32);
        }
        // The bidirectional controls are all below 0x10000.
        c if is_bidi(c) => {
            let _ = write!(out, "\\u{:04x}", c as u32);
        }
        c => out.push(c),
    }
}

/// The most bytes of a command line leaktop keeps, marker included ([`capped`]): a
/// process can have megabytes of arguments (`ulimit -s unlimited`), and every tick of
/// a recording carries its command line. `ps` traditionally showed 4 KiB.
pub const COMMAND_MAX_BYTES: usize = 4096;
/// The most bytes of a process or host name leaktop keeps ([`capped`]).
pub const NAME_MAX_BYTES: usize = 256;
/// The most bytes of a note leaktop writes about a process: an escape's evidence, an
/// alert's reason ([`capped`]).
pub const NOTE_MAX_BYTES: usize = 1024;

/// `s` within `max` bytes (at least 64): unchanged if it fits, else its head and its
/// tail (where a script's name or a Java main class is) around a marker that says how
/// much was cut: `head…[cut 5767168 of 5771264 bytes]…tail`. Capping again changes
/// nothing.
pub fn capped(s: &str, max: usize) -> Cow<'_, str> {
    if s.len() <= max {
        return Cow::Borrowed(s);
    }
    Cow::Owned(cut(s, max, |out, c| out.push(c)))
}

/// `s` as leaktop keeps text from a process: [`printable`], and within `max` bytes as
/// [`capped`] cuts it, the marker counting the bytes of `s` (5.5 MB of `\x01`
/// arguments are 22 MB once shown escaped, and said to be 5.5 MB).
pub fn kept(s: &str, max: usize) -> Cow<'_, str> {
    let shown = printable(s);
    if shown.len() <= max {
        return shown;
    }
    Cow::Owned(cut(s, max, push_shown))
}

/// `s`'s head and tail, each character written by `push`, around the marker, in
/// `max` bytes (at least 64).
fn cut(s: &str, max: usize, push: fn(&mut String, char)) -> String {
    let room = max.max(64) - CUT_MARKER_BYTES;
    let mut head = String::new();
    let mut one = String::new();
    let mut head_end = 0;
    for (i, c) in s.char_indices() {
        one.clear();
        push(&mut one, c);
        if head.len() + one.len() > room * 3 / 4 {
            break;
        }
        head.push_str(&one);
        head_end = i + c.len_utf8();
    }
    let mut tail: Vec<String> = Vec::new();
    let (mut tail_len, mut tail_start) = (0, s.len());
    for (i, c) in s[head_end..].char_indices().rev() {
        one.clear();
        push(&mut one, c);
        if head.len() + tail_len + one.len() > room {
            break;
        }
        tail_len += one.len();
        tail.push(one.clone());
        tail_start = head_end + i;
    }
    let mut out = head;
    out.push_str(&format!(
        "…[cut {} of {} bytes]…",
        tail_start - head_end,
        s.len()
    ));
    tail.iter().rev().for_each(|piece| out.push_str(piece));
    out
}

/// The longest `…[cut N of M bytes]…`, N and M of 20 digits.
const CUT_MARKER_BYTES: usize = "…[cut  of  bytes]…".len() + 40;

/// Whether `s` was cut by [`capped`]: the bytes cut, and how long it was.
pub fn cut_from(s: &str) -> Option<(u64, u64)> {
    let (_, rest) = s.rsplit_once("…[cut ")?;
    let (figures, _) = rest.split_once(" bytes]…")?;
    let (cut, of) = figures.split_once(" of ")?;
    Some((cut.parse().ok()?, of.parse().ok()?))
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
    shown_kb(kb).to_string()
}

/// [`human_kb`] as a `Display`, to write into a line without a `String` of its own.
pub fn shown_kb(kb: u64) -> impl std::fmt::Display {
    humansize::SizeFormatter::new(kb.saturating_mul(1024), humansize::BINARY)
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

/// How many terminal columns `text` takes: each character's display width (a CJK
/// ideograph or an emoji 2, a combining accent 0, a control character 0), summed as
/// a terminal that uses `wcwidth` places them. Text from a process is [`printable`]
/// first, so control characters do not reach here as such.
pub fn columns(text: &str) -> usize {
    text.chars().map(char_columns).sum()
}

fn char_columns(c: char) -> usize {
    unicode_width::UnicodeWidthChar::width(c).unwrap_or(0)
}

/// `text` within `width` terminal columns ([`columns`]): unchanged if it fits, else
/// cut at a character boundary (a character is never split, and the combining marks
/// after the last character kept stay with it) with `…` (one column) where it was
/// cut. A wide character that would straddle the edge is left out whole; `width` 0
/// is the empty string, 1 the ellipsis alone.
pub fn fit(text: &str, width: usize) -> String {
    if columns(text) <= width {
        return text.to_string();
    }
    let Some(room) = width.checked_sub(1) else {
        return String::new();
    };
    let mut used = 0;
    let mut end = 0;
    for (i, c) in text.char_indices() {
        let w = char_columns(c);
        // A zero-width character belongs to the character before it: kept with it,
        // left out with it.
        if w > 0 && used + w > room {
            break;
        }
        used += w;
        end = i + c.len_utf8();
    }
    let mut cut = String::with_capacity(end + '…'.len_utf8());
    cut.push_str(&text[..end]);
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 28, item 6: the one cut every width-aware table uses.
    #[test]
    fn fit_cuts_at_display_columns_with_an_ellipsis_never_inside_a_character() {
        // Exactly fitting, and one over.
        assert_eq!(fit("abcdef", 6), "abcdef");
        assert_eq!(fit("abcdefg", 6), "abcde…");
        assert_eq!(fit("", 0), "");
        // Narrower than the ellipsis, or just as wide.
        assert_eq!(fit("abc", 0), "");
        assert_eq!(fit("abc", 1), "…");
        assert_eq!(fit("a", 1), "a");
        // Wide characters take two columns: counted so, and never split.
        assert_eq!(columns("日本語"), 6);
        assert_eq!(fit("日本語", 6), "日本語");
        assert_eq!(fit("日本語テキスト", 6), "日本…");
        // The edge falls inside a wide character: it is left out whole.
        assert_eq!(fit("a日本語テキスト", 6), "a日本…");
        assert_eq!(columns(&fit("a日本語テキスト", 6)), 6);
        assert_eq!(columns(&fit("日本語テキスト", 5)), 5);
        assert_eq!(fit("日本語テキスト", 2), "…");
        // Combining marks take no column and stay with their character.
        let accents = "e\u{301}e\u{301}e\u{301}e\u{301}";
        assert_eq!(columns(accents), 4);
        assert_eq!(fit(accents, 4), accents);
        assert_eq!(fit(accents, 3), "e\u{301}e\u{301}…");
        // Whatever the text and the width: within the width, a prefix of the text.
        for text in ["python3 -c from multiprocessing", "ü日x\u{301}🦀 a", "☃☃☃"] {
            for width in 0..40 {
                let cut = fit(text, width);
                assert!(columns(&cut) <= width, "{text:?} {width}: {cut:?}");
                let kept = cut.strip_suffix('…').unwrap_or(&cut);
                assert!(text.starts_with(kept), "{text:?} {width}: {cut:?}");
            }
        }
    }

    /// Issue 27, fault 2: what a command line is cut to, and the marker that says so.
    #[test]
    fn capped_keeps_head_and_tail_within_the_cap_and_says_how_much_was_cut() {
        assert!(matches!(capped("short", 64), Cow::Borrowed("short")));
        let long = format!(
            "java -cp {} com.example.Main --port 80",
            "a.jar:".repeat(2000)
        );
        let cut = capped(&long, COMMAND_MAX_BYTES);
        assert!(cut.len() <= COMMAND_MAX_BYTES, "{}", cut.len());
        assert!(cut.starts_with("java -cp a.jar:"), "{cut}");
        assert!(cut.ends_with("com.example.Main --port 80"), "{cut}");
        let (gone, of) = cut_from(&cut).unwrap();
        assert_eq!(of, long.len() as u64);
        // What is left of it is what was not cut, and the marker.
        let marker = format!("…[cut {gone} of {of} bytes]…");
        assert_eq!(cut.len(), (of - gone) as usize + marker.len());
        assert!(
            matches!(capped(&cut, COMMAND_MAX_BYTES), Cow::Borrowed(_)),
            "again"
        );
        assert_eq!(cut_from("no marker"), None);
        // Shown escaped, counted as it was: 5.5 MB of \x01 are 22 MB once escaped.
        let ctl = "\u{1}".repeat(5_500_000);
        let cut = kept(&ctl, COMMAND_MAX_BYTES);
        assert!(cut.len() <= COMMAND_MAX_BYTES && cut.starts_with("\\x01\\x01"));
        assert!(!cut.contains('\u{1}'));
        let (gone, of) = cut_from(&cut).unwrap();
        assert_eq!(of, 5_500_000);
        assert_eq!(
            cut.len(),
            4 * (of - gone) as usize + format!("…[cut {gone} of {of} bytes]…").len()
        );
        assert!(
            matches!(kept(&cut, COMMAND_MAX_BYTES), Cow::Borrowed(_)),
            "again"
        );
        // Never inside a character, whatever the cap.
        let wide = "☃".repeat(5000);
        for max in [64, 65, 66, 100, 4096] {
            let cut = capped(&wide, max);
            assert!(cut.len() <= max, "{max}: {}", cut.len());
            let (gone, of) = cut_from(&cut).unwrap();
            assert_eq!(of, wide.len() as u64);
            assert_eq!(gone % 3, 0, "{max}");
        }
    }
}
