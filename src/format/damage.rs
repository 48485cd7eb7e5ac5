//! What a reader skipped to read the rest of a damaged recording: how many lines,
//! where, and why, said in one line.

use std::fmt;

/// The damaged lines a reader skipped ([`super::TickReader::skip_damaged`]): a tick
/// with a damaged line is dropped whole, and reading goes on at the next tick.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// Lines skipped in all.
    pub lines: usize,
    /// Runs of consecutive lines skipped.
    pub places: usize,
    /// The first run: its first and last line (1-based).
    pub first: (usize, usize),
    /// Why the first run was skipped: `line 44: expected a parent pid at "abc"`
    /// (printable, as every read error is).
    pub why: String,
    /// The last run, which later lines may extend.
    last: (usize, usize),
}

impl Skipped {
    /// Adds lines `from..=to` to what `skipped` holds, joining the last run if they
    /// follow it; `why` says what was wrong with them (kept for the first run only).
    pub(crate) fn add(skipped: &mut Option<Skipped>, from: usize, to: usize, why: String) {
        match skipped {
            None => {
                *skipped = Some(Skipped {
                    lines: to + 1 - from,
                    places: 1,
                    first: (from, to),
                    why,
                    last: (from, to),
                })
            }
            Some(s) if from <= s.last.1 + 1 => s.extend(to),
            Some(s) => {
                s.lines += to + 1 - from;
                s.places += 1;
                s.last = (from, to);
            }
        }
    }

    /// Line `to` is skipped too, after the last run.
    pub(crate) fn extend(&mut self, to: usize) {
        if to > self.last.1 {
            self.lines += to - self.last.1;
            if self.first == self.last {
                self.first.1 = to;
            }
            self.last.1 = to;
        }
    }
}

/// `line 40` or `lines 40-52`.
fn run(r: (usize, usize)) -> String {
    if r.0 == r.1 {
        format!("line {}", r.0)
    } else {
        format!("lines {}-{}", r.0, r.1)
    }
}

impl fmt::Display for Skipped {
    /// `skipped 13 damaged lines (lines 40-52; line 44: expected ...)`, with `in 3
    /// places` and `first` when there is more than one run.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let lines = crate::human::plural(self.lines, "damaged line", "damaged lines");
        if self.places == 1 && self.lines == 1 {
            write!(f, "skipped {lines} ({})", self.why)
        } else if self.places == 1 {
            write!(f, "skipped {lines} ({}; {})", run(self.first), self.why)
        } else {
            write!(
                f,
                "skipped {lines} in {} places (first {}; {})",
                self.places,
                run(self.first),
                self.why
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_join_when_they_follow_and_are_counted_apart_when_not() {
        let mut s = None;
        Skipped::add(&mut s, 44, 44, "line 44: expected x".into());
        assert_eq!(
            s.as_ref().unwrap().to_string(),
            "skipped 1 damaged line (line 44: expected x)"
        );
        Skipped::add(&mut s, 45, 46, "not kept".into());
        s.as_mut().unwrap().extend(52);
        assert_eq!(
            s.as_ref().unwrap().to_string(),
            "skipped 9 damaged lines (lines 44-52; line 44: expected x)"
        );
        Skipped::add(&mut s, 90, 90, "not kept".into());
        Skipped::add(&mut s, 91, 93, "not kept".into());
        let s = s.unwrap();
        assert_eq!((s.lines, s.places, s.first), (13, 2, (44, 52)));
        assert_eq!(
            s.to_string(),
            "skipped 13 damaged lines in 2 places (first lines 44-52; line 44: expected x)"
        );
    }
}
