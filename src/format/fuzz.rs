//! Property tests of both parsers and of their errors: no input makes them panic,
//! whatever they accept writes back to something they read the same way, and no
//! error message carries a control character, whatever the file or its name holds.
//! And of the writers: whatever a tick holds (huge command lines, control and
//! bidirectional characters, many processes), what they write reads back.

use proptest::prelude::*;

use super::{Format, MAX_LINE_BYTES, Recording, TickReader, shown_path};
use crate::model::{Alert, AlertKind, Event, ProcRow, Tick};

/// Inputs per property (6 properties): 1,000 by default so `cargo test` stays quick;
/// `PROPTEST_CASES=200000 cargo test --release --lib fuzz` for a long run.
fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000)
}

/// A message a terminal can show as it is: no C0, DEL or C1 control character, and no
/// bidirectional control.
fn assert_printable(message: &str) {
    assert!(
        !message.chars().any(crate::human::is_hidden),
        "a control character in {message:?}"
    );
}

fn check(content: &str) {
    for format in [Format::Text, Format::Ndjson, Format::detect(content)] {
        match format.parse(content) {
            Ok(rec) => {
                // Whatever is accepted is written in a form that reads back to itself.
                let written = rec.write(format);
                let again = format.parse(&written).expect("re-read what was accepted");
                assert_eq!(again.write(format), written);
            }
            Err(e) => assert_printable(&e.to_string()),
        }
    }
    check_stream(content.as_bytes(), "recording");
}

/// Reads `bytes` as a file named `name` is read: the format detected, lines limited
/// (to 512 bytes, so that limit is reached too); every tick and every error checked.
fn check_stream(bytes: &[u8], name: &str) {
    let shown = shown_path(std::path::Path::new(name));
    match TickReader::with_line_limit(bytes, &shown, None, 512) {
        Ok(reader) => {
            assert_printable(&reader.header().root_cmd);
            for tick in reader {
                match tick {
                    Ok(t) => t.processes.iter().for_each(|p| assert_printable(&p.cmd)),
                    Err(e) => assert_printable(&e.to_string()),
                }
            }
        }
        Err(e) => assert_printable(&e.to_string()),
    }
}

/// A valid recording in `format`, edited: a cut, an insertion, a duplicated or
/// dropped line.
fn mutated(format: Format) -> impl Strategy<Value = String> {
    let base = crate::testkit::forkserver_recording().write(format);
    let len = base.len();
    (0..len, 0..len, "[ -~\n\t{}\"\\\\:=()0-9]{0,12}", 0u8..4).prop_map(
        move |(a, b, insert, how)| {
            let (a, b) = (a.min(b), a.max(b));
            let at = |i: usize| {
                (0..=i)
                    .rev()
                    .find(|&j| base.is_char_boundary(j))
                    .unwrap_or(0)
            };
            let (a, b) = (at(a), at(b));
            match how {
                0 => format!("{}{}", &base[..a], &base[b..]),
                1 => format!("{}{insert}{}", &base[..a], &base[a..]),
                2 => {
                    let lines: Vec<&str> = base.lines().collect();
                    let i = a % lines.len();
                    let mut out: Vec<&str> = lines.clone();
                    out.insert(i, lines[i]);
                    out.join("\n") + "\n"
                }
                _ => base[..a].to_string(),
            }
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn arbitrary_text_never_panics(s in "\\PC{0,400}") {
        check(&s);
    }

    #[test]
    fn arbitrary_lines_shaped_like_ticklogs_never_panic(
        s in "(# leaktop-ticklog v1\n|tick [0-9]{1,3} \\+[0-9.]{1,6}s [ -~]{0,60}\n|[0-9]{1,6} [a-z]{1,5} PPID=[0-9]{1,5} [ -~]{0,80}\n|\\* [a-z-]{1,12} [ -~]{0,40}\n|\\{[ -~]{0,80}\\}\n|\n){0,20}"
    ) {
        check(&s);
    }

    #[test]
    fn edited_text_recordings_never_panic(s in mutated(Format::Text)) {
        check(&s);
    }

    #[test]
    fn edited_ndjson_recordings_never_panic(s in mutated(Format::Ndjson)) {
        check(&s);
    }

    /// Bytes that need not be text, under a name that need not be printable.
    #[test]
    fn arbitrary_bytes_and_names_give_printable_errors(
        bytes in proptest::collection::vec(any::<u8>(), 0..600),
        name in "[\\x00-\\x1f\\x7f-\\u{9f}a-z./]{0,12}",
    ) {
        check_stream(&bytes, &name);
    }

    /// NDJSON lines whose strings hold escaped control characters, where serde
    /// quotes them back in its messages (unknown variants and fields, bad types).
    #[test]
    fn json_with_escaped_controls_gives_printable_errors(
        s in "(\\{\"type\":\"(header|tick|[a-z]{0,3}(\\\\u00[019][0-9a-f]|\\\\u007f|\\\\n|\\\\t){1,3})\"(,\"([a-z_]{1,8}|\\\\u001b\\[2J)\":(1|\"\\\\u0007x\"|\\[\\]|null|true)){0,3}\\}\n|\n){1,4}"
    ) {
        check(&s);
    }
}

/// A tick numbered `n` of one process per `(name, cmd)`, pids from `first`, each with
/// an escape event and an alert of every kind whose texts are `note`, every optional
/// figure at its largest; and the exits of the `exits` processes before them.
fn tick_of(n: u32, first: u32, texts: &[(String, String)], note: &str, exits: u32) -> Tick {
    let processes: Vec<ProcRow> = texts
        .iter()
        .zip(first..)
        .map(|((name, cmd), pid)| ProcRow {
            pid,
            ppid: u32::MAX,
            state: 'S',
            rss_kb: u64::from(pid),
            start: u64::MAX - u64::from(pid),
            cpu_ms: u64::MAX / 1000,
            name: name.clone(),
            cmd: cmd.clone(),
            leaked: true,
            reparented_from: Some(u32::MAX),
            escaped: true,
            leaked_since: Some(n),
            pss_kb: Some(u64::MAX),
            uss_kb: Some(u64::MAX),
            swap_kb: Some(u64::MAX),
            mem_tick: Some(n),
            gpu_kb: Some(u64::MAX),
        })
        .collect();
    let mut events = Vec::new();
    let mut alerts = Vec::new();
    for p in &processes {
        let (pid, start) = (p.pid, p.start);
        events.push(Event::Spawned {
            pid,
            start,
            ppid: u32::MAX,
        });
        events.push(Event::Reparented {
            pid,
            start,
            from: u32::MAX,
            to: u32::MAX,
        });
        events.push(Event::Escaped {
            pid,
            start,
            ppid: u32::MAX,
            evidence: note.into(),
        });
        for kind in AlertKind::ALL {
            alerts.push(Alert {
                kind,
                pid,
                start,
                since_tick: n,
                reason: note.into(),
            });
        }
    }
    for pid in first.saturating_sub(exits)..first {
        let start = u64::MAX - u64::from(pid);
        events.push(Event::Exited { pid, start });
        events.push(Event::OrphanExited {
            pid,
            start,
            after_ms: u64::MAX,
        });
        events.push(Event::ShortLived {
            pid,
            ppid: u32::MAX,
            life_ms: u64::MAX,
            exec: true,
            comm: Some("cc1 plus".into()),
            code: Some(u8::MAX),
            signal: Some(u8::MAX),
        });
    }
    events.push(Event::ShortLivedMore {
        count: u64::MAX,
        failed: u64::MAX,
        signaled: u64::MAX,
    });
    Tick {
        events,
        alerts,
        ..crate::testkit::tick(n, processes)
    }
}

/// What reading back what was written gives: each text cut to its cap (the writer),
/// then made printable and cut again (the reader), rows in start order (as NDJSON is
/// read back).
fn as_read(rec: &Recording) -> Recording {
    let mut rec = rec.clone();
    super::each_header_text(&mut rec.header, super::cap);
    for t in &mut rec.ticks {
        super::each_tick_text(t, super::cap);
        t.processes.sort_by_key(|r| (r.start, r.pid));
    }
    rec.keep_printable();
    rec
}

/// Writes `rec` in both formats and reads it back with the readers' own limits: every
/// tick comes back, as [`as_read`] says; no text line is over 64 KiB.
fn round_trip(rec: &Recording) {
    let want = as_read(rec);
    for format in [Format::Text, Format::Ndjson] {
        let written = rec.write(format);
        if format == Format::Text {
            let longest = written.lines().map(str::len).max().unwrap_or(0);
            assert!(longest <= 64 << 10, "a text line of {longest} bytes");
        }
        let mut back = TickReader::new(written.as_bytes(), "w", None)
            .and_then(TickReader::into_recording)
            .unwrap_or_else(|e| panic!("{format:?}: {e}"));
        for t in &mut back.ticks {
            t.processes.sort_by_key(|r| (r.start, r.pid));
        }
        assert_eq!(back.header, want.header, "{format:?}");
        assert_eq!(back.ticks.len(), want.ticks.len(), "{format:?}");
        for (b, w) in back.ticks.iter().zip(&want.ticks) {
            assert_eq!(b, w, "{format:?}");
        }
    }
}

fn recording_of(ticks: Vec<Tick>) -> Recording {
    let mut rec = crate::testkit::forkserver_recording();
    rec.ticks = ticks;
    rec
}

/// Issue 27, fault 2: 4,000 processes whose 5.5 MB command lines of `\x01` are kept
/// as 4 KiB (`\x01` shown as four characters, whose backslash JSON doubles) write an
/// NDJSON tick line of 20 MB: past the 16 MiB every line used to be held to, it reads
/// back.
#[test]
fn a_tick_line_past_16_mib_reads_back() {
    let cmd = crate::sample::join_cmdline(&vec![1u8; 5_500_000]);
    assert!(cmd.len() <= crate::human::COMMAND_MAX_BYTES);
    let texts = vec![("worker".to_string(), cmd); 4000];
    let mut tick = tick_of(1, 10, &texts, "n", 0);
    tick.events.clear();
    tick.alerts.clear();
    let rec = recording_of(vec![tick]);
    let line = rec.write(Format::Ndjson);
    assert!(line.lines().nth(1).unwrap().len() > MAX_LINE_BYTES);
    round_trip(&rec);
}

/// The worst a process can add to a tick's NDJSON line (every character of its name,
/// command line and notes escaped as `\u00NN`, every figure at its largest, an
/// escape, all four alerts, and its exit at the next tick) is within the allowance
/// the reader gives per process.
#[test]
fn the_worst_process_fits_the_allowance() {
    let texts = vec![("\u{1}".repeat(5000), "\u{1}".repeat(50_000)); 3];
    let note = "\u{1}".repeat(5000);
    let rec = recording_of(vec![
        tick_of(1, 10, &texts, &note, 0),
        tick_of(2, 13, &texts, &note, 3),
    ]);
    let written = rec.write(Format::Ndjson);
    let line = written.lines().nth(2).unwrap().len();
    // Within the allowance of its own three processes, the exits of the three before
    // included.
    let allowed = 3 * super::ndjson::PROCESS_MAX_BYTES;
    assert!(line <= allowed, "{line} bytes for 3 processes");
    // The line limit is just the header's: the ticks read by their allowance alone.
    let header = written.lines().next().unwrap().len();
    let back = TickReader::with_line_limit(written.as_bytes(), "w", None, header)
        .and_then(TickReader::into_recording)
        .unwrap();
    assert_eq!(back.ticks.len(), 2);
}

/// Text that makes writing hard: control and bidirectional characters, spaces and
/// backslashes (escaped), multi-byte characters (cut between), up to `max` of them.
fn awkward(max: usize) -> impl Strategy<Value = String> {
    let chars = "[\\x00-\\x1f\\x7f-\\u{9f}\\u{61c}\\u{200e}\\u{200f}\\u{202a}-\\u{202e}\\u{2066}-\\u{2069} a-z\\\\é☃{}\"]";
    (
        proptest::string::string_regex(&format!("{chars}{{0,{}}}", max.min(300))).unwrap(),
        0..=max,
    )
        .prop_map(|(s, len)| {
            // Long texts repeat a short one: the regex engine is slow on long ones.
            let mut out = s.clone();
            while !s.is_empty() && out.len() < len {
                out.push_str(&s);
            }
            out
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases((cases() / 20).max(10)))]

    /// Issue 27, fault 2: what the writer writes, the reader reads, whatever the
    /// processes are called, however long their command lines and however many.
    #[test]
    fn whatever_is_written_reads_back(
        texts in proptest::collection::vec((awkward(300), awkward(20_000)), 1..30),
        huge in proptest::option::of(awkward(3_000_000)),
        note in awkward(3000),
        root_cmd in awkward(10_000),
        host in awkward(500),
    ) {
        let mut texts = texts;
        if let Some(h) = huge {
            texts[0].1 = h;
        }
        let n = texts.len() as u32;
        let mut rec = recording_of(vec![
            tick_of(1, 10, &texts, &note, 0),
            tick_of(2, 10 + n, &texts, &note, n),
            tick_of(3, 10 + 2 * n, &texts[..1], &note, n),
        ]);
        rec.header.root_cmd = root_cmd;
        rec.header.host = host;
        round_trip(&rec);
    }
}
