//! Escaping for free text in tick-log lines: a line must never contain a raw newline
//! or control byte, and a process name must never contain a space.

use std::fmt::Write;

/// Escapes `\`, control characters and (with `space`) spaces as `\\`, `\n`, `\xNN`.
pub fn escape(s: &str, space: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            ' ' if space => out.push_str("\\x20"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

/// Reverses [`escape`]; `None` on a malformed escape.
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
                let code = u32::from_str_radix(&hex, 16)
                    .ok()
                    .filter(|_| hex.len() == 2)?;
                out.push(char::from_u32(code)?);
            }
            _ => return None,
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_awkward_text() {
        for s in [
            "plain",
            "a b",
            "tab\there",
            "new\nline",
            "back\\slash",
            "\u{1}\u{7f}",
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

    #[test]
    fn malformed_escapes_are_rejected() {
        for bad in ["\\", "\\q", "\\x4", "\\xzz"] {
            assert_eq!(unescape(bad), None, "{bad}");
        }
    }
}
