//! Lines of a recording read one at a time from a [`BufRead`], each checked before a
//! parser sees it: no longer than a limit, UTF-8 without NUL bytes, ended by LF (or
//! CRLF). Memory stays at one line, however large the file.

use std::io::{BufRead, ErrorKind};

/// The longest line read by default: 16 MiB. A tick of 150 processes is about 50 KiB
/// of NDJSON; a line past this is damage, not data, and is refused before it is
/// held whole.
pub const MAX_LINE_BYTES: usize = 16 << 20;

/// Why a line cannot be handed to a parser.
#[derive(Debug)]
pub(crate) enum LineError {
    Io(std::io::Error),
    /// Over the limit, in bytes.
    TooLong {
        line: usize,
        limit: usize,
    },
    /// Not UTF-8, or a NUL byte.
    Binary {
        line: usize,
    },
    /// A carriage return inside a line: the file ends its lines with CR alone.
    CrOnly {
        line: usize,
    },
}

/// One checked line, without its line end.
pub(crate) struct Line<'a> {
    /// 1-based line number.
    pub n: usize,
    pub text: &'a str,
    /// The last line, with no line end: a write cut short.
    pub cut: bool,
}

/// How many more bytes than the limit a line may hold, given its first bytes (at
/// most [`PEEK_BYTES`]): an NDJSON tick declares its process count there.
pub(crate) type Allowance<'a> = &'a dyn Fn(&[u8]) -> Option<usize>;

/// The first bytes of a long line an [`Allowance`] is asked about.
pub(crate) const PEEK_BYTES: usize = 512;

pub(crate) struct Lines<R> {
    src: R,
    buf: Vec<u8>,
    /// Lines returned so far.
    n: usize,
    limit: usize,
    /// Bytes consumed so far: where the next line starts.
    offset: u64,
    done: bool,
}

impl<R: BufRead> Lines<R> {
    pub fn new(src: R, limit: usize) -> Lines<R> {
        Lines::starting_at(src, limit, 0, 0)
    }

    /// Lines of an input already read up to byte `offset`, after line `before`.
    pub fn starting_at(src: R, limit: usize, before: usize, offset: u64) -> Lines<R> {
        Lines {
            src,
            buf: Vec::new(),
            n: before,
            limit,
            offset,
            done: false,
        }
    }

    /// The input read from.
    pub fn get_ref(&self) -> &R {
        &self.src
    }

    /// Lines returned so far (the number of the last one).
    pub fn count(&self) -> usize {
        self.n
    }

    /// The byte offset of the next line from the start of the input.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The next line, `None` at the end of the input. After a bad line (too long,
    /// not UTF-8, a CR inside) the next call reads the line after it; after an I/O
    /// error, nothing more is read.
    pub fn next_line(&mut self) -> Option<Result<Line<'_>, LineError>> {
        self.next_line_allowing(&|_| None)
    }

    /// As [`Lines::next_line`], a line over the limit allowed `allowance` more bytes
    /// if it says so from the line's first bytes.
    pub fn next_line_allowing(
        &mut self,
        allowance: Allowance,
    ) -> Option<Result<Line<'_>, LineError>> {
        if self.done {
            return None;
        }
        self.buf.clear();
        let filled = self.fill(allowance);
        let terminated = match filled {
            Ok(Some(t)) => t,
            Ok(None) => {
                self.done = true;
                return None;
            }
            Err(LineError::Io(e)) => {
                self.done = true;
                return Some(Err(LineError::Io(e)));
            }
            Err(e) => {
                self.n += 1;
                return Some(Err(e));
            }
        };
        self.n += 1;
        let n = self.n;
        if !terminated {
            self.done = true;
        }
        let mut bytes = &self.buf[..];
        if n == 1 {
            bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
        }
        if let Some(b) = bytes.strip_suffix(b"\r") {
            bytes = b;
        }
        let text = match std::str::from_utf8(bytes) {
            Ok(t) => t,
            // A write cut short inside a character: the cut line ends before it.
            Err(e) if !terminated => {
                std::str::from_utf8(&bytes[..e.valid_up_to()]).unwrap_or_default()
            }
            Err(_) => return Some(Err(LineError::Binary { line: n })),
        };
        if text.contains('\0') {
            return Some(Err(LineError::Binary { line: n }));
        }
        if text.contains('\r') {
            return Some(Err(LineError::CrOnly { line: n }));
        }
        Some(Ok(Line {
            n,
            text,
            cut: !terminated,
        }))
    }

    /// Reads the next line into `buf`: `Some(true)` if it ended with LF, `Some(false)`
    /// for a last line without one, `None` at the end. A line over the limit (and its
    /// allowance) is refused before it is held whole, and the rest of it is skipped.
    fn fill(&mut self, allowance: Allowance) -> Result<Option<bool>, LineError> {
        let mut limit = self.limit;
        let mut asked = false;
        loop {
            let chunk = next_chunk(&mut self.src)?;
            if chunk.is_empty() {
                return Ok((!self.buf.is_empty()).then_some(false));
            }
            let (take, end) = match chunk.iter().position(|&b| b == b'\n') {
                Some(i) => (i, true),
                None => (chunk.len(), false),
            };
            if self.buf.len() + take > limit && !asked {
                asked = true;
                let mut start = self.buf[..self.buf.len().min(PEEK_BYTES)].to_vec();
                let more = PEEK_BYTES.saturating_sub(start.len()).min(take);
                start.extend_from_slice(&chunk[..more]);
                limit = limit.saturating_add(allowance(&start).unwrap_or(0));
            }
            if self.buf.len() + take > limit {
                let line = self.n + 1;
                // A file with CR line ends is one long line.
                let cr = self.buf.contains(&b'\r') || chunk[..take].contains(&b'\r');
                self.skip_rest()?;
                return Err(if cr {
                    LineError::CrOnly { line }
                } else {
                    LineError::TooLong { line, limit }
                });
            }
            self.buf.extend_from_slice(&chunk[..take]);
            let used = take + usize::from(end);
            self.src.consume(used);
            self.offset += used as u64;
            if end {
                return Ok(Some(true));
            }
        }
    }

    /// Consumes the rest of the current line, its LF included, without holding it; a
    /// line that goes on past [`SKIP_LINES`] times the limit (a stream that never ends
    /// a line: `cat /dev/zero` into a FIFO) ends the reading instead.
    fn skip_rest(&mut self) -> Result<(), LineError> {
        self.buf.clear();
        let mut skipped = 0usize;
        loop {
            if skipped > self.limit.saturating_mul(SKIP_LINES) {
                self.done = true;
                return Ok(());
            }
            let chunk = next_chunk(&mut self.src)?;
            if chunk.is_empty() {
                self.done = true;
                return Ok(());
            }
            let (used, end) = match chunk.iter().position(|&b| b == b'\n') {
                Some(i) => (i + 1, true),
                None => (chunk.len(), false),
            };
            self.src.consume(used);
            self.offset += used as u64;
            skipped += used;
            if end {
                return Ok(());
            }
        }
    }
}

/// How many limits' worth of an overlong line is skipped to find the next line.
const SKIP_LINES: usize = 16;

/// The next bytes of `src` (empty at its end), read again if interrupted.
fn next_chunk<R: BufRead>(src: &mut R) -> Result<&[u8], LineError> {
    loop {
        match src.fill_buf() {
            // Borrowed again: the borrow checker cannot see that the loop ends here.
            Ok(_) => return src.fill_buf().map_err(LineError::Io),
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(LineError::Io(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_that_never_ends_ends_the_reading() {
        // An endless source of bytes without a line end.
        let mut lines = Lines::new(std::io::BufReader::new(std::io::repeat(b'x')), 4);
        assert!(matches!(
            lines.next_line(),
            Some(Err(LineError::TooLong { line: 1, limit: 4 }))
        ));
        assert!(lines.next_line().is_none());
    }

    fn all(input: &[u8], limit: usize) -> Vec<Result<(usize, String, bool), String>> {
        let mut lines = Lines::new(input, limit);
        let mut out = Vec::new();
        while let Some(l) = lines.next_line() {
            out.push(
                l.map(|l| (l.n, l.text.to_string(), l.cut))
                    .map_err(|e| format!("{e:?}")),
            );
        }
        out
    }

    #[test]
    fn lines_are_checked_one_by_one() {
        assert_eq!(
            all(b"\xef\xbb\xbfa\r\nb\n\nc", 100),
            [
                Ok((1, "a".into(), false)),
                Ok((2, "b".into(), false)),
                Ok((3, String::new(), false)),
                Ok((4, "c".into(), true)),
            ]
        );
        // Cut inside a character: the character is dropped.
        assert_eq!(
            all("a\n├".as_bytes()[..3].as_ref(), 100)[1],
            Ok((2, String::new(), true))
        );
        assert!(
            all(b"a\n\xff\nb\n", 100)[1]
                .as_ref()
                .unwrap_err()
                .contains("Binary { line: 2 }")
        );
        assert!(all(b"a\0\n", 100)[0].is_err());
        assert!(
            all(b"a\rb\rc\r", 100)[0]
                .as_ref()
                .unwrap_err()
                .contains("CrOnly")
        );
        assert!(
            all(b"a\rb\rc\r", 3)[0]
                .as_ref()
                .unwrap_err()
                .contains("CrOnly")
        );
        let long = all(b"ok\n0123456789\n", 4);
        assert!(
            long[1]
                .as_ref()
                .unwrap_err()
                .contains("TooLong { line: 2, limit: 4 }"),
            "{long:?}"
        );
        assert_eq!(long.len(), 2, "nothing after the error");
    }

    #[test]
    fn offsets_count_consumed_bytes() {
        let mut lines = Lines::new(&b"ab\r\ncd\n"[..], 100);
        assert!(lines.next_line().is_some());
        assert_eq!(lines.offset(), 4);
        assert!(lines.next_line().is_some());
        assert_eq!(lines.offset(), 7);
    }
}
