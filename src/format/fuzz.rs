//! Property tests of both parsers: no input makes them panic, and whatever they accept
//! writes back to something they read the same way.

use proptest::prelude::*;

use super::{Format, sample_data};

/// Inputs per property (4 properties): 1,000 by default so `cargo test` stays quick;
/// `PROPTEST_CASES=50000 cargo test --release --lib fuzz` for a long run.
fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000)
}

fn check(content: &str) {
    for format in [Format::Text, Format::Ndjson, Format::detect(content)] {
        if let Ok(rec) = format.parse(content) {
            // Whatever is accepted is written in a form that reads back to itself.
            let written = rec.write(format);
            let again = format.parse(&written).expect("re-read what was accepted");
            assert_eq!(again.write(format), written);
        }
    }
}

/// A valid recording in `format`, edited: a cut, an insertion, a duplicated or
/// dropped line.
fn mutated(format: Format) -> impl Strategy<Value = String> {
    let base = sample_data::recording().write(format);
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
}
