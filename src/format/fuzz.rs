//! Property tests of both parsers and of their errors: no input makes them panic,
//! whatever they accept writes back to something they read the same way, and no
//! error message carries a control character, whatever the file or its name holds.

use proptest::prelude::*;

use super::{Format, TickReader, shown_path};

/// Inputs per property (6 properties): 1,000 by default so `cargo test` stays quick;
/// `PROPTEST_CASES=200000 cargo test --release --lib fuzz` for a long run.
fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000)
}

/// A message a terminal can show as it is: no C0, DEL or C1 control character.
fn assert_printable(message: &str) {
    assert!(
        !message.chars().any(char::is_control),
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
