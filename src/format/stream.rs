//! A recording read as a stream: the header, then one tick at a time, from any
//! [`BufRead`]. Memory stays at one line and one tick, however long the recording.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use super::damage::Skipped;
use super::lines::{LineError, Lines, MAX_LINE_BYTES};
use super::{
    Format, ParseError, ReadError, Recording, keep_header_printable, keep_tick_printable, ndjson,
    shown_path, text,
};
use crate::model::{Header, Tick};

/// What a parser makes of a line.
pub(crate) enum Item {
    Header(Header),
    Tick(Tick),
}

/// A format's parser, fed one checked line at a time.
pub(crate) trait LineParser {
    /// Line `n` (without its line end); `cut` when it is the last line and has no
    /// line end (a write cut short). At most one item per line; the header comes
    /// before any tick.
    fn line(&mut self, n: usize, raw: &str, cut: bool) -> Result<Option<Item>, ParseError>;
    /// The end of the input: the header if it was still open, or why the file is
    /// not a recording.
    fn end(&mut self) -> Result<Option<Item>, ParseError>;
    /// The incomplete last line or tick that was dropped, once the input has ended.
    fn truncated(&mut self) -> Option<ParseError>;
    /// Lines have begun a tick that has not ended yet.
    fn in_tick(&self) -> bool {
        false
    }
    /// Goes on as if a header had just been read: for reading from a tick's start.
    fn skip_header(&mut self);
    /// After a damaged line: drops the tick open, if any, so that reading can go on
    /// at the next tick.
    fn resync(&mut self) {}
    /// Whether line `raw` may begin a tick: reading goes on there after damage.
    fn starts_tick(&self, _raw: &str) -> bool {
        true
    }
    /// How many bytes more than the line limit a line beginning with `start` may hold
    /// (see [`super::lines::Allowance`]).
    fn allowance(&self, _start: &[u8]) -> Option<usize> {
        None
    }
}

/// Where a tick is in its file: a place to read it again from, later, without the
/// ticks before it ([`TickReader::resume`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TickAt {
    /// Bytes from the start of the file to the tick's first line.
    pub offset: u64,
    /// That line's number (1-based).
    pub line: usize,
    /// The tick's length in bytes, its line ends included (0 until it is complete):
    /// read again, it is allowed that long, however long its lines.
    pub len: u64,
}

/// A new parser for `format`.
fn parser(format: Format) -> Box<dyn LineParser + Send> {
    match format {
        Format::Text => Box::new(text::Parser::default()),
        Format::Ndjson => Box::new(ndjson::Parser::default()),
    }
}

/// A recording's ticks, read one at a time: an `Iterator` of `Result<Tick, ReadError>`
/// that ends at the first error, or, with [`TickReader::skip_damaged`], skips the
/// ticks it cannot read and ends in an error only if it read none. Free text in the
/// header and ticks is kept printable ([`super::printable`]) and within its caps
/// ([`crate::human::capped`]), as in [`Recording::keep_printable`].
pub struct TickReader<R> {
    lines: Lines<R>,
    /// The file name as shown in messages (printable).
    name: String,
    format: Format,
    parser: Box<dyn LineParser + Send>,
    header: Header,
    truncated: Option<ParseError>,
    ticks: usize,
    done: bool,
    /// Where the tick the parser has open began.
    opening: Option<TickAt>,
    /// Where the tick last returned began.
    last_at: Option<TickAt>,
    /// Skip damaged ticks instead of ending at the first.
    skip: bool,
    /// What was skipped so far.
    skipped: Option<Skipped>,
    /// After damage: lines are skipped until one may begin a tick.
    resyncing: bool,
}

/// Opens a recording file for streaming. `waiting` is called with a message before
/// opening a FIFO, whose open blocks until something writes to it. Devices (whose
/// reads never end, like `/dev/zero`) are refused.
pub fn open(
    path: &Path,
    waiting: impl FnOnce(&str),
) -> Result<TickReader<BufReader<File>>, ReadError> {
    let name = shown_path(path);
    let io = |source| ReadError::Io {
        path: name.clone(),
        source,
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        let kind = std::fs::metadata(path).map_err(io)?.file_type();
        if kind.is_char_device() || kind.is_block_device() {
            return Err(ReadError::Device { path: name });
        }
        if kind.is_fifo() {
            waiting(&format!(
                "{name} is a FIFO: waiting for a writer (Ctrl-C to stop)"
            ));
        }
    }
    let file = File::open(path).map_err(io)?;
    TickReader::new(BufReader::with_capacity(64 << 10, file), &name, None)
}

impl<R: BufRead> TickReader<R> {
    /// Reads up to the end of the header. `name` is shown in messages (pass it
    /// through [`shown_path`] or [`super::printable`] first); `format`, when `None`,
    /// is detected from the first non-blank line: `{` means NDJSON.
    pub fn new(src: R, name: &str, format: Option<Format>) -> Result<Self, ReadError> {
        Self::with_line_limit(src, name, format, MAX_LINE_BYTES)
    }

    /// As [`TickReader::new`], refusing lines longer than `limit` bytes.
    pub fn with_line_limit(
        src: R,
        name: &str,
        format: Option<Format>,
        limit: usize,
    ) -> Result<Self, ReadError> {
        let mut lines = Lines::new(src, limit);
        let mut blank_first: Option<(usize, bool)> = None;
        // Blank lines before the first content say nothing about the format; only
        // the first is kept (a text parser stops at it; NDJSON skips them all).
        let first = loop {
            match lines.next_line() {
                None => break None,
                Some(Err(e)) => return Err(line_error(name, e)),
                Some(Ok(l)) if l.text.trim().is_empty() => {
                    blank_first.get_or_insert((l.n, l.cut));
                }
                Some(Ok(l)) => break Some((l.n, l.text.to_string(), l.cut)),
            }
        };
        let format = format.unwrap_or(match &first {
            Some((_, text, _)) => Format::detect(text),
            None => Format::Text,
        });
        let mut reader = TickReader {
            lines,
            name: name.to_string(),
            format,
            parser: parser(format),
            header: super::text::empty_header(),
            truncated: None,
            ticks: 0,
            done: false,
            opening: None,
            last_at: None,
            skip: false,
            skipped: None,
            resyncing: false,
        };
        // What the parser makes of a line before the header is complete.
        let header_of = |step: Result<Option<Item>, ParseError>| match step {
            Ok(Some(Item::Header(h))) => Ok(Some(h)),
            Ok(_) => Ok(None),
            Err(e) => Err(reader_parse_error(name, e)),
        };
        let mut header = None;
        if let Some((n, cut)) = blank_first {
            header = header_of(reader.parser.line(n, "", cut))?;
        }
        if let Some((n, text, cut)) = &first {
            header = header.or(header_of(reader.parser.line(*n, text, *cut))?);
        }
        // The line that ends a text header may begin the first tick.
        let mut at = reader.here();
        while header.is_none() {
            at = reader.here();
            match reader.lines.next_line() {
                Some(Ok(l)) => header = header_of(reader.parser.line(l.n, l.text, l.cut))?,
                Some(Err(e)) => return Err(line_error(name, e)),
                None => {
                    header = header_of(reader.parser.end())?;
                    reader.done = true;
                    reader.truncated = reader.parser.truncated();
                    break;
                }
            }
        }
        let Some(mut header) = header else {
            // end() returns the header or an error; neither parser does otherwise.
            return Err(reader_parse_error(
                name,
                ParseError::new(1, "a leaktop recording header"),
            ));
        };
        if reader.parser.in_tick() {
            reader.opening = Some(at);
        }
        keep_header_printable(&mut header);
        reader.header = header;
        Ok(reader)
    }

    /// A reader of the ticks from `at` on, in a file whose header and format were
    /// read before (`src` already positioned at `at.offset`). The first tick read
    /// is not checked against the one before it; its lines may be as long as the
    /// tick was when it was read before (`at.len`).
    pub fn resume(src: R, name: &str, format: Format, header: Header, at: TickAt) -> TickReader<R> {
        let mut parser = parser(format);
        parser.skip_header();
        let limit = MAX_LINE_BYTES.max(usize::try_from(at.len).unwrap_or(usize::MAX));
        TickReader {
            lines: Lines::starting_at(src, limit, at.line - 1, at.offset),
            name: name.to_string(),
            format,
            parser,
            header,
            truncated: None,
            ticks: 0,
            done: false,
            opening: None,
            last_at: None,
            skip: false,
            skipped: None,
            resyncing: false,
        }
    }

    /// With `skip`, a damaged tick (a line that does not parse, is too long, is not
    /// text; a tick out of order or inconsistent) is dropped and reading goes on at
    /// the next tick; [`TickReader::skipped`] says what was skipped. The iterator
    /// then ends in an error only when not one tick could be read
    /// ([`ReadError::NothingRead`]), or on an I/O error. A damaged header is always
    /// an error: without it nothing can be read.
    pub fn skip_damaged(mut self, skip: bool) -> Self {
        self.skip = skip;
        self
    }

    /// The damaged lines skipped so far ([`TickReader::skip_damaged`]).
    pub fn skipped(&self) -> Option<&Skipped> {
        self.skipped.as_ref()
    }

    /// Where the tick last returned by `next` began: an index of these is enough to
    /// read any tick again on demand.
    pub fn last_tick_at(&self) -> Option<TickAt> {
        self.last_at
    }

    fn here(&self) -> TickAt {
        TickAt {
            offset: self.lines.offset(),
            line: self.lines.count() + 1,
            len: 0,
        }
    }

    /// Notes the lines from `from` to the last one read as skipped for `e`, and
    /// resynchronises.
    fn damaged(&mut self, from: usize, e: &ReadError) {
        let to = self.lines.count().max(from);
        // "NAME:LINE: expected ..." without the name: "line LINE: expected ...".
        let shown = e.to_string();
        let why = shown
            .strip_prefix(&format!("{}:", self.name))
            .map_or(shown.clone(), |rest| format!("line {rest}"));
        Skipped::add(&mut self.skipped, from, to, why);
        self.parser.resync();
        self.opening = None;
        self.resyncing = true;
    }

    /// The input read from (a replay reads its ticks again through its file).
    pub fn get_ref(&self) -> &R {
        self.lines.get_ref()
    }

    /// The recording's header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The format read (given or detected).
    pub fn format(&self) -> Format {
        self.format
    }

    /// The file name as shown in messages.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Complete ticks returned so far.
    pub fn ticks_read(&self) -> usize {
        self.ticks
    }

    /// Byte offset (from the start of the input) of the next unread line.
    pub fn offset(&self) -> u64 {
        self.lines.offset()
    }

    /// Once the iterator has ended without an error: the incomplete last line or
    /// tick that was dropped (a recorder killed mid-write), if any.
    pub fn truncated(&self) -> Option<&ParseError> {
        self.truncated.as_ref()
    }

    /// Reads every remaining tick into a [`Recording`] (memory grows with the file:
    /// for tests and small recordings).
    pub fn into_recording(mut self) -> Result<Recording, ReadError> {
        let ticks = self.by_ref().collect::<Result<Vec<Tick>, ReadError>>()?;
        Ok(Recording {
            header: self.header,
            ticks,
            truncated: self.truncated,
        })
    }

    fn fail(&mut self, e: ReadError) -> Option<Result<Tick, ReadError>> {
        self.done = true;
        Some(Err(e))
    }
}

impl<R: BufRead> Iterator for TickReader<R> {
    type Item = Result<Tick, ReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.done {
            let at = self.here();
            let was_open = self.parser.in_tick();
            // Where what is dropped at a damaged line begins: the tick it is in.
            let open_at = self.opening.filter(|_| was_open).map(|o| o.line);
            let from = |line: usize| open_at.unwrap_or(line).min(line);
            let parser = &self.parser;
            let allowance = |start: &[u8]| parser.allowance(start);
            let next = self.lines.next_line_allowing(&allowance);
            let step = match next {
                Some(Ok(l)) if self.resyncing && !self.parser.starts_tick(l.text) => {
                    if let Some(s) = &mut self.skipped {
                        s.extend(l.n);
                    }
                    continue;
                }
                Some(Ok(l)) => {
                    self.resyncing = false;
                    self.parser.line(l.n, l.text, l.cut)
                }
                Some(Err(e)) => {
                    let io = matches!(e, LineError::Io(_));
                    let e = line_error(&self.name, e);
                    if self.skip && !io {
                        let from = from(e.line().unwrap_or(at.line));
                        self.damaged(from, &e);
                        continue;
                    }
                    return self.fail(e);
                }
                None => {
                    self.done = true;
                    let end = self.parser.end();
                    self.truncated = self.parser.truncated();
                    end
                }
            };
            match step {
                Ok(Some(Item::Tick(mut tick))) => {
                    let mut begun = if was_open {
                        self.opening.take().unwrap_or(at)
                    } else {
                        at
                    };
                    begun.len = self.lines.offset() - begun.offset;
                    self.last_at = Some(begun);
                    keep_tick_printable(&mut tick);
                    self.ticks += 1;
                    return Some(Ok(tick));
                }
                Ok(_) => {
                    if !was_open && self.parser.in_tick() {
                        self.opening = Some(at);
                    }
                }
                Err(e) => {
                    let line = e.line;
                    let e = reader_parse_error(&self.name, e);
                    if self.skip && !self.done {
                        self.damaged(from(line), &e);
                        continue;
                    }
                    return self.fail(e);
                }
            }
        }
        if self.skip
            && self.ticks == 0
            && let Some(skipped) = self.skipped.take()
        {
            return Some(Err(ReadError::NothingRead {
                path: self.name.clone(),
                skipped,
            }));
        }
        None
    }
}

fn reader_parse_error(name: &str, source: ParseError) -> ReadError {
    ReadError::Parse {
        path: name.to_string(),
        source,
    }
}

fn line_error(name: &str, e: LineError) -> ReadError {
    let path = name.to_string();
    match e {
        LineError::Io(source) => ReadError::Io { path, source },
        LineError::Binary { line } => ReadError::Binary { path, line },
        LineError::TooLong { line, limit } => ReadError::LineTooLong {
            path,
            line,
            limit: humansize::format_size(limit, humansize::BINARY),
        },
        LineError::CrOnly { line } => ReadError::CrOnly { path, line },
    }
}

/// Reads a recording in `format` from memory, for [`Format::parse`]: the same path as
/// a file, with line-level problems reported as parse errors.
pub(crate) fn parse_str(content: &str, format: Format) -> Result<Recording, ParseError> {
    let as_parse = |e: ReadError| match e {
        ReadError::Parse { source, .. } => source,
        other => {
            let line = other.line().unwrap_or(1);
            let shown = other.to_string();
            // "NAME:LINE: expected ..." with an empty name: keep what follows.
            let what = shown
                .split_once(": expected ")
                .map_or(shown.as_str(), |(_, w)| w)
                .to_string();
            ParseError::new(line, what)
        }
    };
    TickReader::new(content.as_bytes(), "", Some(format))
        .and_then(TickReader::into_recording)
        .map_err(as_parse)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::sample_data::recording;

    #[test]
    fn streams_the_same_ticks_as_a_whole_read() {
        for format in [Format::Text, Format::Ndjson] {
            let content = recording().write(format);
            let mut reader = TickReader::new(content.as_bytes(), "x", None).unwrap();
            assert_eq!(reader.format(), format);
            assert_eq!(reader.header(), &recording().header);
            let first = reader.next().unwrap().unwrap();
            assert_eq!(first, recording().ticks[0]);
            assert_eq!(reader.count(), recording().ticks.len() - 1);
        }
    }

    #[test]
    fn format_is_detected_from_the_first_non_blank_line() {
        let nd = format!("\n  \n{}", recording().write(Format::Ndjson));
        let reader = TickReader::new(nd.as_bytes(), "x", None).unwrap();
        assert_eq!(reader.format(), Format::Ndjson);
        assert_eq!(reader.into_recording().unwrap().ticks.len(), 3);
    }

    #[test]
    fn a_bom_is_accepted_and_cr_line_ends_are_named() {
        for format in [Format::Text, Format::Ndjson] {
            let content = format!("\u{feff}{}", recording().write(format));
            let rec = TickReader::new(content.as_bytes(), "x", None)
                .and_then(TickReader::into_recording)
                .unwrap();
            assert_eq!(rec.ticks, recording().ticks);
            let crlf = recording().write(format).replace('\n', "\r\n");
            let rec = TickReader::new(crlf.as_bytes(), "x", None)
                .and_then(TickReader::into_recording)
                .unwrap();
            assert_eq!(rec.ticks, recording().ticks);
            let cr = recording().write(format).replace('\n', "\r");
            let err = TickReader::new(cr.as_bytes(), "f", None)
                .err()
                .unwrap()
                .to_string();
            assert!(err.starts_with("f:1: ") && err.contains("CR"), "{err}");
        }
    }

    #[test]
    fn any_tick_reads_again_from_where_it_began() {
        for (format, content) in [
            (Format::Text, recording().write(Format::Text)),
            (Format::Ndjson, recording().write(Format::Ndjson)),
            // A header ended by the first tick's line, not a blank one.
            (
                Format::Text,
                recording()
                    .write(Format::Text)
                    .replacen("\n\ntick", "\ntick", 1),
            ),
        ] {
            let mut reader = TickReader::new(content.as_bytes(), "x", None).unwrap();
            let mut index = Vec::new();
            while let Some(tick) = reader.next() {
                index.push((reader.last_tick_at().unwrap(), tick.unwrap()));
            }
            assert_eq!(index.len(), 3);
            for (at, tick) in index.iter().rev() {
                let src = &content.as_bytes()[at.offset as usize..];
                let mut again = TickReader::resume(src, "x", format, reader.header().clone(), *at);
                assert_eq!(
                    again.next().unwrap().unwrap(),
                    *tick,
                    "{format:?} at {at:?}"
                );
                assert_eq!(again.last_tick_at(), Some(*at));
            }
        }
    }

    /// Reads `content` skipping damage: the tick numbers read, and what was skipped.
    fn skipping(content: &[u8], limit: usize) -> (Vec<u32>, Option<Skipped>) {
        let mut reader = TickReader::with_line_limit(content, "f", None, limit)
            .unwrap()
            .skip_damaged(true);
        let ticks = reader.by_ref().map(|t| t.unwrap().tick).collect();
        (ticks, reader.skipped().cloned())
    }

    /// Issue 27, fault 3: one damaged line in the middle made `report` and
    /// `--convert` refuse the whole file. Skipping damage, a reader drops the tick it
    /// is in, goes on at the next one, and says which lines it skipped and why.
    #[test]
    fn a_damaged_tick_is_skipped_and_the_rest_read() {
        let text = recording().write(Format::Text);
        let nd = recording().write(Format::Ndjson);
        // Tick 2 of the text format is lines 14-27; line 16 is one of its rows.
        let row = text.lines().nth(15).unwrap();
        assert!(row.contains("PPID="), "{row}");
        let cases: Vec<(&str, Vec<u8>, &str)> = vec![
            (
                "a bad row",
                text.replacen(row, &row.replacen("PPID=", "PPID=x", 1), 1)
                    .into(),
                "skipped 14 damaged lines (lines 14-27; line 16: expected a parent pid",
            ),
            (
                "not UTF-8",
                text.replacen(row, "\u{1}", 1)
                    .into_bytes()
                    .into_iter()
                    .map(|b| if b == 1 { 0xff } else { b })
                    .collect(),
                "skipped 14 damaged lines (lines 14-27; line 16: expected UTF-8 text",
            ),
            (
                "too long",
                text.replacen(row, &"x".repeat(5000), 1).into(),
                "skipped 14 damaged lines (lines 14-27; line 16: expected a line of at most 4 KiB",
            ),
            (
                "out of order",
                text.replacen("tick 2 ", "tick 1 ", 1).into(),
                "(lines 14-27; line 14: expected tick number above 1",
            ),
            (
                "a bad ndjson line",
                nd.replacen("\"tick\":2,", "\"tick\":2,,", 1).into(),
                "skipped 1 damaged line (line 3: expected a tick object",
            ),
        ];
        for (what, content, why) in cases {
            let (ticks, skipped) = skipping(&content, 4096);
            assert_eq!(ticks, [1, 3], "{what}");
            let skipped = skipped.unwrap().to_string();
            assert!(
                skipped.starts_with("skipped ") && skipped.contains(why),
                "{what}: {skipped}"
            );
            // Without skipping, the first damage ends the reading, as before.
            let mut strict = TickReader::with_line_limit(&content[..], "f", None, 4096).unwrap();
            assert_eq!(strict.next().unwrap().unwrap().tick, 1, "{what}");
            assert!(strict.next().unwrap().is_err(), "{what}");
            assert!(strict.next().is_none(), "{what}");
        }
        // Damage in two places: a row of tick 1 (lines 7-13) and the last tick's line.
        let first_row = text.lines().nth(7).unwrap();
        let twice = text
            .replacen(first_row, &first_row.replacen("PPID=", "PPID=x", 1), 1)
            .replacen("tick 3 ", "tick x ", 1);
        let (ticks, skipped) = skipping(twice.as_bytes(), 4096);
        assert_eq!(ticks, [2]);
        let skipped = skipped.unwrap();
        assert_eq!((skipped.places, skipped.first), (2, (7, 13)));
        assert_eq!(skipped.lines, 7 + 12);
    }

    /// A tick whose totals do not match its rows is found bad at its closing blank
    /// line: every line of it is counted as skipped.
    #[test]
    fn an_inconsistent_tick_is_skipped_whole() {
        let text = recording().write(Format::Text);
        let line = text.lines().find(|l| l.starts_with("tick 2 ")).unwrap();
        let broken = text.replacen(line, &line.replacen(" procs=5 ", " procs=4 ", 1), 1);
        let (ticks, skipped) = skipping(broken.as_bytes(), 4096);
        assert_eq!(ticks, [1, 3]);
        let skipped = skipped.unwrap();
        assert_eq!((skipped.lines, skipped.first), (14, (14, 27)), "{skipped}");
    }

    /// Nothing readable after a good header: an error that says what was skipped.
    #[test]
    fn a_reader_that_skipped_everything_says_so() {
        let text = recording().write(Format::Text);
        let header_end = text.find("\ntick ").unwrap() + 1;
        let broken = format!(
            "{}{}",
            &text[..header_end],
            text[header_end..].replace("tick ", "tock ")
        );
        let mut reader = TickReader::new(broken.as_bytes(), "f", None)
            .unwrap()
            .skip_damaged(true);
        let err = reader.next().unwrap().unwrap_err().to_string();
        assert!(
            err.starts_with("f: not one tick could be read: skipped ") && err.contains("(lines 7-"),
            "{err}"
        );
        assert!(reader.next().is_none());
    }

    #[test]
    fn a_huge_line_is_refused_before_it_is_held_whole() {
        let content = recording().write(Format::Ndjson);
        let mut lines: Vec<String> = content.lines().map(String::from).collect();
        lines[2] = format!("{{\"type\":\"tick\",\"pad\":\"{}\"}}", "x".repeat(5000));
        let big = lines.join("\n") + "\n";
        let mut reader = TickReader::with_line_limit(big.as_bytes(), "f", None, 4096).unwrap();
        assert!(reader.next().unwrap().is_ok());
        let err = reader.next().unwrap().unwrap_err().to_string();
        assert!(
            err.starts_with("f:3: ") && err.contains("at most 4 KiB"),
            "{err}"
        );
        assert!(reader.next().is_none());
    }
}
