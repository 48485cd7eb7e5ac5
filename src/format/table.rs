//! Tables for people within a width: what `run`'s report, `orphans` and `report` print
//! on a terminal. Columns are as wide as their widest cell; the last column (a
//! command line) takes what is left of the line and is cut there with `…`
//! ([`crate::human::fit`]); the figures are cut only where they alone are wider
//! than the line. In a pipe the width is [`Width::Whole`] and nothing is cut.

use std::borrow::Cow;

use crate::human::{columns, fit};

/// How wide lines for people may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Width {
    /// Whole lines: a pipe or a CI log without `COLUMNS`, or `--wide`.
    #[default]
    Whole,
    /// At most this many terminal columns: the terminal's width, or `COLUMNS`.
    Cut(usize),
}

impl Width {
    /// `line` within the width, cut with `…` where it is longer.
    pub fn line(self, line: &str) -> Cow<'_, str> {
        match self {
            Width::Cut(w) if columns(line) > w => Cow::Owned(fit(line, w)),
            _ => Cow::Borrowed(line),
        }
    }

    /// `text` within what is left of the line once `used` columns are taken, but in
    /// at least `least` columns.
    pub fn rest(self, text: &str, used: usize, least: usize) -> Cow<'_, str> {
        match self {
            Width::Cut(w) => Width::Cut(w.saturating_sub(used).max(least)).line(text),
            Width::Whole => Cow::Borrowed(text),
        }
    }
}

impl Width {
    /// `text` (prose: evidence, a note) as lines within the width, the first begun
    /// with `first`, the others with `rest`, broken between words; a word wider than
    /// a line is cut with `…`. Whole, or where it fits, it is one line as it was.
    /// Each line ends with a newline.
    pub fn wrap(self, text: &str, first: &str, rest: &str) -> String {
        let whole = format!("{first}{text}");
        let w = match self {
            Width::Cut(w) if columns(&whole) > w => w,
            _ => return whole + "\n",
        };
        let mut out = String::new();
        let mut line = first.to_string();
        let mut empty = true;
        // Each word with the spaces before it: kept within a line (a report's aligned
        // `brief:     40`), dropped where the line breaks.
        let mut rest_of = text;
        while !rest_of.is_empty() {
            let word_at = rest_of.len() - rest_of.trim_start_matches(' ').len();
            let (spaces, after) = rest_of.split_at(word_at);
            let word_len = after.find(' ').unwrap_or(after.len());
            let (word, next) = after.split_at(word_len);
            rest_of = next;
            if word.is_empty() {
                break;
            }
            if !empty && columns(&line) + spaces.len() + columns(word) > w {
                push_line(&mut out, &line);
                line = rest.to_string();
                empty = true;
            }
            // Spaces that begin the text are its own indent: kept.
            if !empty || rest_of.len() + word.len() + spaces.len() == text.len() {
                line.push_str(spaces);
            }
            let room = w.saturating_sub(columns(&line)).max(1);
            line.push_str(&Width::Cut(room).line(word));
            empty = false;
        }
        push_line(&mut out, &line);
        out
    }
}

impl Width {
    /// Each line of `text` (messages: `leaktop: ended 5 leaked processes, …`) within
    /// the width: one that is longer wrapped between words ([`Width::wrap`]), its
    /// continuation indented by two. Whole, `text` as it is.
    pub fn lines(self, text: &str) -> Cow<'_, str> {
        let Width::Cut(w) = self else {
            return Cow::Borrowed(text);
        };
        if text.lines().all(|l| columns(l) <= w) {
            return Cow::Borrowed(text);
        }
        let mut out = String::with_capacity(text.len() + 16);
        for line in text.lines() {
            out.push_str(&self.wrap(line, "", "  "));
        }
        if !text.ends_with('\n') {
            out.pop();
        }
        Cow::Owned(out)
    }
}

/// The fewest columns the last column is given beside the others; with less room it
/// goes on a line of its own below its row.
pub const LAST_AT_LEAST: usize = 16;

/// How a column's cells line up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    Left,
    Right,
}

/// One line of a table.
enum Entry {
    /// Cells under the columns, and the last column's text.
    Row(Vec<String>, String),
    /// A line of its own (a heading between rows).
    Text(String),
    /// A remark under the row before it, from where the last column starts.
    Note(String),
}

/// A table of columns and a last, free column (a command line): built row by row,
/// then written within a [`Width`].
pub struct Table {
    indent: usize,
    heads: Vec<(&'static str, Align)>,
    last: &'static str,
    entries: Vec<Entry>,
}

impl Table {
    /// A table indented by `indent` spaces with these column heads, and `last` the
    /// last column's head.
    pub fn new(indent: usize, heads: Vec<(&'static str, Align)>, last: &'static str) -> Table {
        Table {
            indent,
            heads,
            last,
            entries: Vec::new(),
        }
    }

    /// A row: one cell per column, then the last column's text.
    pub fn row(&mut self, cells: Vec<String>, last: String) {
        debug_assert_eq!(cells.len(), self.heads.len());
        self.entries.push(Entry::Row(cells, last));
    }

    /// A line of its own, unindented: a heading between rows.
    pub fn text(&mut self, line: String) {
        self.entries.push(Entry::Text(line));
    }

    /// A remark under the last row, starting where its last column does (where it
    /// fits there; else four columns in, wrapped between words).
    pub fn note(&mut self, note: String) {
        self.entries
            .push(Entry::Note(note.trim_start().to_string()));
    }

    /// Each column's width: its head's or its widest cell's.
    fn widths(&self) -> Vec<usize> {
        let mut widths: Vec<usize> = self.heads.iter().map(|(h, _)| columns(h)).collect();
        for e in &self.entries {
            if let Entry::Row(cells, _) = e {
                for (w, c) in widths.iter_mut().zip(cells) {
                    *w = (*w).max(columns(c));
                }
            }
        }
        widths
    }

    /// The cells, padded and one space apart, then two spaces before the last column.
    fn cells(&self, widths: &[usize], cells: &[&str]) -> String {
        let mut line = " ".repeat(self.indent);
        for ((cell, w), (_, align)) in cells.iter().zip(widths).zip(&self.heads) {
            let pad = " ".repeat(w.saturating_sub(columns(cell)));
            match align {
                Align::Left => {
                    line.push_str(cell);
                    line.push_str(&pad);
                }
                Align::Right => {
                    line.push_str(&pad);
                    line.push_str(cell);
                }
            }
            line.push(' ');
        }
        line.push(' ');
        line
    }

    /// The table, the heads first, each line within `width`: the last column cut to
    /// what is left of its line, or, with fewer than [`LAST_AT_LEAST`] columns left,
    /// on a line of its own below, indented by four more. Nothing is written for a
    /// table without rows.
    pub fn write(&self, width: Width, out: &mut String) {
        if !self.entries.iter().any(|e| matches!(e, Entry::Row(..))) {
            return;
        }
        let widths = self.widths();
        let heads: Vec<&str> = self.heads.iter().map(|(h, _)| *h).collect();
        let head = self.cells(&widths, &heads);
        let used = columns(&head);
        let beside = match width {
            Width::Cut(w) => w.saturating_sub(used) >= LAST_AT_LEAST,
            Width::Whole => true,
        };
        let below = " ".repeat(self.indent + 4);
        let (last_head, margin) = if beside {
            (self.last, head.as_str())
        } else {
            ("", below.as_str())
        };
        // Figures are never cut (a cut number reads as another number): where they
        // alone are wider than the width, their lines run past it.
        if beside {
            push_line(out, &width.line(&format!("{head}{last_head}")));
        } else {
            push_line(out, &head);
        }
        for e in &self.entries {
            match e {
                Entry::Row(cells, last) => {
                    let cells: Vec<&str> = cells.iter().map(String::as_str).collect();
                    let line = self.cells(&widths, &cells);
                    if beside {
                        let last = width.rest(last, used, LAST_AT_LEAST);
                        push_line(out, &format!("{line}{last}"));
                    } else {
                        push_line(out, &line);
                        let last = width.rest(last, below.len(), 1);
                        push_line(out, &format!("{below}{last}"));
                    }
                }
                Entry::Text(text) => push_line(out, &width.line(text)),
                Entry::Note(note) => {
                    let at = " ".repeat(columns(margin));
                    let fits = match width {
                        Width::Cut(w) => columns(&at) + columns(note) <= w,
                        Width::Whole => true,
                    };
                    let at = if fits { &at } else { &below };
                    out.push_str(&width.wrap(note, at, at));
                }
            }
        }
    }
}

/// `line` without its trailing spaces, and a newline.
fn push_line(out: &mut String, line: &str) {
    out.push_str(line.trim_end_matches(' '));
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> Table {
        let mut t = Table::new(
            2,
            vec![("PID", Align::Right), ("HOW", Align::Left)],
            "COMMAND",
        );
        t.text("leaked at tick 3".into());
        t.row(
            vec!["41".into(), "escaped".into()],
            "python3 -c from multiprocessing.forkserver import main".into(),
        );
        t.note("  <- adopted by the subreaper".into());
        t.row(vec!["4242".into(), "日本".into()], "sleep 300".into());
        t
    }

    fn written(t: &Table, width: Width) -> String {
        let mut out = String::new();
        t.write(width, &mut out);
        out
    }

    #[test]
    fn lines_wrap_only_where_longer_than_the_width() {
        let text = "leaktop: short\nleaktop: ended 5 leaked processes, ~94 MiB freed\n";
        assert_eq!(Width::Whole.lines(text), text);
        assert_eq!(Width::Cut(80).lines(text), text);
        assert_eq!(
            Width::Cut(30).lines(text),
            "leaktop: short\nleaktop: ended 5 leaked\n  processes, ~94 MiB freed\n"
        );
    }

    #[test]
    fn prose_wraps_between_words_within_the_width() {
        let text = "its process group 4545's leader is gone, but session 18943 is held";
        assert_eq!(
            Width::Whole.wrap(text, "  ? ", "    "),
            format!("  ? {text}\n")
        );
        let wrapped = Width::Cut(30).wrap(text, "  ? ", "    ");
        assert_eq!(
            wrapped,
            "  ? its process group 4545's\n    leader is gone, but\n    session 18943 is held\n"
        );
        let long = Width::Cut(12).wrap("a verylongwordindeed b", "", "  ");
        assert_eq!(long, "a\n  verylongw…\n  b\n");
        // Spaces within a line are kept; those at a break are not.
        assert_eq!(
            Width::Cut(20).wrap("brief:     40 short-lived processes", "", "  "),
            "brief:     40\n  short-lived\n  processes\n"
        );
        for line in long.lines() {
            assert!(columns(line) <= 12, "{line:?}");
        }
    }

    #[test]
    fn columns_fit_their_cells_and_the_command_takes_the_rest() {
        let whole = written(&table(), Width::Whole);
        assert_eq!(
            whole,
            "   PID HOW      COMMAND\n\
             leaked at tick 3\n    \
             41 escaped  python3 -c from multiprocessing.forkserver import main\n                \
             <- adopted by the subreaper\n  \
             4242 日本     sleep 300\n"
        );
        let cut = written(&table(), Width::Cut(40));
        for line in cut.lines() {
            assert!(columns(line) <= 40, "{line:?}");
        }
        assert!(
            cut.contains("    41 escaped  python3 -c from multipr…\n"),
            "{cut}"
        );
        assert!(cut.contains("  4242 日本     sleep 300\n"), "{cut}");
        // Too narrow for the command beside the figures: below them, still cut.
        let narrow = written(&table(), Width::Cut(24));
        for line in narrow.lines() {
            assert!(columns(line) <= 24, "{line:?}");
        }
        assert!(
            narrow.contains("    41 escaped\n      python3 -c from m…\n      <- adopted by the\n      subreaper\n"),
            "{narrow}"
        );
        assert!(!narrow.contains("COMMAND"), "{narrow}");
        // Narrower than the figures: they run past the width, never cut (the break-it
        // review read "175…" for 175 KiB).
        let tiny = written(&table(), Width::Cut(8));
        assert!(tiny.contains("    41 escaped\n"), "{tiny}");
        assert!(tiny.contains("  4242 日本\n"), "{tiny}");
        assert!(tiny.contains("   PID HOW\n"), "{tiny}");
        // No rows, no table.
        let mut empty = Table::new(0, vec![("PID", Align::Right)], "COMMAND");
        empty.text("heading".into());
        assert_eq!(written(&empty, Width::Cut(80)), "");
    }
}
