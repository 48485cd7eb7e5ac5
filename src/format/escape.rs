//! Escaping for free text in tick-log lines: a line must never contain a raw newline,
//! control byte or bidirectional control, and a process name must never contain a space.

use crate::human::{is_bidi, push_shown};

/// Escapes `\`, control characters, bidirectional controls and (with `space`) spaces
/// as `\\`, `\n`, `\xNN`, `\uNNNN`.
pub fn escape(s: &str, space: bool) -> String {
    let mut out = String::with_capacity(s.len());
    escape_into(&mut out, s, space);
    out
}

/// [`escape`], appended to `out` (the tick-log's hot path: no allocation, and text
/// that needs no escape, the common case, is copied whole).
pub fn escape_into(out: &mut String, s: &str, space: bool) {
    let plain = |b: u8| (b'!'..=b'~').contains(&b) && b != b'\\' || (b == b' ' && !space);
    if s.bytes().all(plain) {
        out.push_str(s);
        return;
    }
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            ' ' if space => out.push_str("\\x20"),
            c => push_shown(out, c),
        }
    }
}

/// Reverses [`escape`]; `None` on a malformed escape, or one [`escape`] would not
/// have written (so what is read writes back byte for byte).
pub fn unescape(s: &str) -> Option<String> {
    if !s.contains('\\') {
        return Some(s.to_string());
    }
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next()? {
            '\\' => out.push('\\'),
            'n' => out.push('\n'),
            't' => out.push('\t'),
            'x' => {
                let hex: String = chars.by_ref().take(2).collect();
                if hex.len() != 2 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return None;
                }
                let c = char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?;
                if !(c.is_control() || c == ' ') || matches!(c, '\n' | '\t') {
                    return None;
                }
                out.push(c);
            }
            'u' => {
                let hex: String = chars.by_ref().take(4).collect();
                if hex.len() != 4 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return None;
                }
                let c = char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?;
                if !is_bidi(c) {
                    return None;
                }
                out.push(c);
            }
            _ => return None,
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::human::printable;
    use std::borrow::Cow;

    #[test]
    fn round_trips_awkward_text() {
        for s in [
            "plain",
            "a b",
            "tab\there",
            "new\nline",
            "back\\slash",
            "\u{1}\u{7f}\u{85}",
            "ünï ☃",
            "",
        ] {
            for space in [false, true] {
                let e = escape(s, space);
                assert!(!e.contains('\n'));
                if space {
                    assert!(!e.contains(' '));
                }
                assert_eq!(unescape(&e).as_deref(), Some(s));
            }
        }
    }

    /// Issue 27, fault 10: a right-to-left override in a name reordered what followed
    /// it wherever the name was shown.
    #[test]
    fn bidi_controls_are_escaped_and_read_back() {
        let name = "evil\u{202e}gpj.sh";
        assert_eq!(printable(name), "evil\\u202egpj.sh");
        for c in [
            '\u{061c}', '\u{200e}', '\u{200f}', '\u{202a}', '\u{202b}', '\u{202c}', '\u{202d}',
            '\u{202e}', '\u{2066}', '\u{2067}', '\u{2068}', '\u{2069}',
        ] {
            let s = format!("a{c}b");
            let shown = printable(&s);
            assert!(!shown.contains(c), "{c:?} shown raw");
            assert_eq!(shown, format!("a\\u{:04x}b", c as u32));
            let e = escape(&s, true);
            assert!(!e.contains(c));
            assert_eq!(unescape(&e).as_deref(), Some(s.as_str()));
        }
        // Other format characters (a zero-width joiner in an emoji) stay as they are.
        assert!(matches!(printable("a\u{200d}b"), Cow::Borrowed(_)));
    }

    #[test]
    fn malformed_escapes_are_rejected() {
        for bad in [
            "\\", "\\q", "\\x4", "\\xzz", "\\x+1", "\\x41", "\\x0a", "\\u202", "\\u0041",
            "\\u200d", "\\u+202",
        ] {
            assert_eq!(unescape(bad), None, "{bad}");
        }
    }

    #[test]
    fn printable_text_has_no_control_characters() {
        assert!(matches!(printable("cce serve ☃"), Cow::Borrowed(_)));
        assert_eq!(
            printable("a\u{1b}[2J\u{7}\tb\nc\u{9b}"),
            "a\\x1b[2J\\x07\\tb\\nc\\x9b"
        );
        assert!(
            !printable("\u{1b}]0;pwned\u{7}")
                .chars()
                .any(char::is_control)
        );
    }
}
