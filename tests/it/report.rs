//! `leaktop report` on the real recording in assets/, checked against figures computed
//! here straight from the raw NDJSON, and on every kind of bad input.

use crate::common;

use std::collections::{HashMap, HashSet};
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};

use common::leaktop;
use serde_json::Value;

fn asset(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("assets")
        .join(name)
}

fn report(args: &[&str]) -> (i32, Vec<u8>, String) {
    report_in(Path::new("."), args)
}

/// `leaktop report ARGS` run in `dir`.
fn report_in(dir: &Path, args: &[&str]) -> (i32, Vec<u8>, String) {
    let out = leaktop()
        .current_dir(dir)
        .arg("report")
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        out.stdout,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn ok(args: &[&str]) -> Vec<u8> {
    let (code, out, err) = report(args);
    assert_eq!(code, 0, "leaktop report {args:?}: {err}");
    out
}

#[test]
fn text_to_ndjson_to_text_is_byte_identical() {
    let text = asset("forkserver-pool.ticklog");
    let dir = tempfile::tempdir().unwrap();
    let nd = dir.path().join("pool.ndjson");
    ok(&[
        text.to_str().unwrap(),
        "--convert",
        "ndjson",
        "--out",
        nd.to_str().unwrap(),
    ]);
    let back = ok(&[nd.to_str().unwrap(), "--convert", "text"]);
    assert_eq!(back, std::fs::read(&text).unwrap());
    // The NDJSON in assets/ is that same conversion.
    assert_eq!(
        std::fs::read(&nd).unwrap(),
        std::fs::read(asset("forkserver-pool.ndjson")).unwrap()
    );
}

/// Figures computed from the raw NDJSON lines with serde_json alone.
#[test]
fn report_json_matches_figures_computed_from_the_raw_file() {
    let raw = std::fs::read_to_string(asset("forkserver-pool.ndjson")).unwrap();
    let ticks: Vec<Value> = raw
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|v| v["type"] == "tick")
        .collect();
    let procs = |t: &Value| t["processes"].as_array().unwrap().clone();
    let mut distinct = HashSet::new();
    let (mut peak, mut peak_tick) = (0u64, 0u64);
    for t in &ticks {
        let total: u64 = procs(t).iter().map(|p| p["rss_kb"].as_u64().unwrap()).sum();
        if total > peak {
            (peak, peak_tick) = (total, t["tick"].as_u64().unwrap());
        }
        for p in procs(t) {
            distinct.insert((p["pid"].as_u64().unwrap(), p["start"].as_u64().unwrap()));
        }
    }
    // Every leaked identity: its leaked_since, reparented_from, last live RSS, and
    // whether it is in the last tick and not a zombie.
    let mut leaked: HashMap<(u64, u64), (u64, Value, u64, bool)> = HashMap::new();
    let last = ticks.last().unwrap()["tick"].as_u64().unwrap();
    for t in &ticks {
        let n = t["tick"].as_u64().unwrap();
        for p in procs(t) {
            if p["leaked"] != Value::Bool(true) {
                continue;
            }
            let id = (p["pid"].as_u64().unwrap(), p["start"].as_u64().unwrap());
            let rss = p["rss_kb"].as_u64().unwrap();
            let e = leaked.entry(id).or_insert((
                p["leaked_since"].as_u64().unwrap(),
                p["reparented_from"].clone(),
                rss,
                false,
            ));
            // RSS LAST is the last sample, 0 B included (issue 13).
            e.2 = rss;
            e.3 = n == last && p["state"] != "Z";
        }
    }

    let out = ok(&[asset("forkserver-pool.ticklog").to_str().unwrap(), "--json"]);
    let got: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(got["ticks"], ticks.len() as u64);
    assert_eq!(got["distinct_processes"], distinct.len() as u64);
    assert_eq!(got["peak_total_rss_kb"], peak);
    assert_eq!(got["peak_tick"], peak_tick);
    let list = got["leaked"].as_array().unwrap();
    assert_eq!(list.len(), leaked.len());
    assert_eq!(list.len(), 5, "tracker, forkserver and three workers");
    for l in list {
        let id = (l["pid"].as_u64().unwrap(), l["start"].as_u64().unwrap());
        let (since, from, rss_last, alive) = &leaked[&id];
        assert_eq!(l["tick"], *since, "{l}");
        assert_eq!(l["reparented_from"], *from, "{l}");
        assert_eq!(l["rss_kb_last"], *rss_last, "{l}");
        assert_eq!(l["alive_at_end"], *alive, "{l}");
    }
    assert_eq!(
        list.iter().filter(|l| l["alive_at_end"] == false).count(),
        1,
        "one worker was ended"
    );
}

#[test]
fn the_text_report_says_what_leaked_and_has_no_escape_codes() {
    let out = ok(&[asset("forkserver-pool.ticklog").to_str().unwrap()]);
    let text = String::from_utf8(out).unwrap();
    for needle in [
        "exited at tick 13",
        "5 processes",
        "reparented from",
        "largest RSS growers",
    ] {
        assert!(text.contains(needle), "lacks {needle}:\n{text}");
    }
    assert!(!text.contains('\x1b'));
}

#[test]
fn one_tick_is_a_readable_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let out = ok(&[
        asset("forkserver-pool.ticklog").to_str().unwrap(),
        "--tick",
        "14",
    ]);
    let one = dir.path().join("one.ticklog");
    std::fs::write(&one, &out).unwrap();
    let parsed = leaktop::format::read(&one).unwrap();
    let full = leaktop::format::read(&asset("forkserver-pool.ticklog")).unwrap();
    assert_eq!(parsed.ticks.len(), 1);
    assert_eq!(parsed.ticks[0], full.ticks[13]);
    let (code, _, err) = report(&[
        asset("forkserver-pool.ticklog").to_str().unwrap(),
        "--tick",
        "99",
    ]);
    assert_eq!(code, 1);
    assert!(
        err.contains("tick 99 is not in") && err.contains("1 to 40"),
        "{err}"
    );
}

#[test]
fn the_chart_is_an_svg_with_the_leak_marked() {
    let dir = tempfile::tempdir().unwrap();
    let svg = dir.path().join("leak.svg");
    ok(&[
        asset("forkserver-pool.ticklog").to_str().unwrap(),
        "--svg",
        svg.to_str().unwrap(),
    ]);
    let body = std::fs::read_to_string(&svg).unwrap();
    assert!(body.starts_with("<svg"), "{}", &body[..100.min(body.len())]);
    assert!(body.contains("tick 13: reparented from"), "leak marker");
    assert!(
        body.contains("leaked") && body.contains("total RSS"),
        "legend"
    );
    let (code, _, err) = report(&[
        asset("forkserver-pool.ticklog").to_str().unwrap(),
        "--svg",
        "/nonexistent/dir/x.svg",
    ]);
    assert_eq!(code, 1);
    assert!(err.contains("/nonexistent/dir/x.svg"), "{err}");
}

/// Bad files: a clear `FILE:LINE: expected ...` and exit 1, never a panic; a
/// truncated last tick is a warning and the complete ticks are reported.
#[test]
fn malformed_recordings_get_errors_naming_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let good = std::fs::read_to_string(asset("forkserver-pool.ticklog")).unwrap();
    let good_nd = std::fs::read_to_string(asset("forkserver-pool.ndjson")).unwrap();
    let second_tick = good.match_indices("\ntick ").nth(1).unwrap().0;
    let out_of_order = {
        let mut lines: Vec<&str> = good.lines().collect();
        let i = lines.iter().position(|l| l.starts_with("tick 2 ")).unwrap();
        let fixed = lines[i].replacen("tick 2 ", "tick 9 ", 1);
        lines[i] = &fixed;
        lines.join("\n") + "\n"
    };
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "not-a-ticklog.txt",
            b"hello world\n".to_vec(),
            ":1: expected",
        ),
        ("empty.ticklog", Vec::new(), ":1: expected"),
        (
            "v9.ticklog",
            good.replacen("leaktop-ticklog v1", "leaktop-ticklog v9", 1)
                .into_bytes(),
            ":1: expected",
        ),
        (
            "v9.ndjson",
            good_nd
                .replacen("\"version\":1", "\"version\":9", 1)
                .into_bytes(),
            ":1: expected",
        ),
        ("order.ticklog", out_of_order.into_bytes(), ": expected"),
        (
            "binary.ticklog",
            vec![0x7f, b'E', b'L', b'F', 0, 0, 0xff, 0xfe],
            ":1: expected UTF-8 text",
        ),
        (
            "invalid-utf8-inside.ticklog",
            good.replacen(" python3 PPID=", " py\u{1}thon3 PPID=", 1)
                .into_bytes()
                .into_iter()
                .map(|b| if b == 1 { 0xff } else { b })
                .collect(),
            ":8: expected UTF-8 text",
        ),
        (
            "header-only.ticklog",
            good.as_bytes()[..good.find("\ntick ").unwrap() + 1].to_vec(),
            "holds no ticks",
        ),
        (
            "two-roots.ticklog",
            good.replacen("# interval:", "# root: 1 start=1 cmd: x\n# interval:", 1)
                .into_bytes(),
            ":3: expected one '# root:' line",
        ),
        (
            "odd-escape.ticklog",
            good.replacen(" cmd: ", " cmd: \\x+1", 1).into_bytes(),
            ":2: expected the root command",
        ),
        (
            "same-pid-twice.ticklog",
            {
                let tick = &good[second_tick + 1..];
                let row = tick.lines().nth(1).unwrap();
                let dup = tick.replacen(row, &format!("{row}\n{row}"), 1);
                format!("{}{dup}", &good[..second_tick + 1]).into_bytes()
            },
            "found 4623 twice",
        ),
        (
            "state-newline.ndjson",
            good_nd
                .replacen("\"state\":\"S\"", "\"state\":\"\\n\"", 1)
                .into_bytes(),
            ":2: expected a state letter",
        ),
        (
            "leaked-later.ndjson",
            good_nd
                .replacen("\"leaked_since\":13", "\"leaked_since\":99", 1)
                .into_bytes(),
            "expected pid",
        ),
        (
            "garbage-tick.ticklog",
            format!("{}tick x\n", &good[..second_tick + 1]).into_bytes(),
            ": expected",
        ),
    ];
    // Damage after a good header and a good tick: skipped with a warning, unless
    // --strict (issue 27, fault 3).
    let after_a_tick = [
        "order.ticklog",
        "invalid-utf8-inside.ticklog",
        "same-pid-twice.ticklog",
        "state-newline.ndjson",
        "leaked-later.ndjson",
        "garbage-tick.ticklog",
    ];
    for (name, body, needle) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, body).unwrap();
        let (code, out, err) = report(&[path.to_str().unwrap(), "--strict"]);
        assert_eq!(code, 1, "{name}: {err}");
        assert!(out.is_empty(), "{name}");
        assert!(
            err.contains(path.to_str().unwrap()) && err.contains(needle),
            "{name}: {err}"
        );
        assert!(!err.contains("panicked"), "{name}: {err}");
        assert_eq!(err.lines().count(), 1, "{name}: {err}");
        assert!(
            err.matches("expected").count() <= 1,
            "{name} repeats itself: {err}"
        );
        let (code, out, lenient) = report(&[path.to_str().unwrap()]);
        if after_a_tick.contains(&name) {
            assert_eq!(code, 0, "{name}: {lenient}");
            assert!(out.starts_with(path.to_str().unwrap().as_bytes()), "{name}");
            assert!(
                lenient.starts_with(&format!("leaktop: warning: {}: skipped ", path.display()))
                    && lenient.contains(
                        needle
                            .trim_start_matches(|c: char| c == ':' || c.is_ascii_digit())
                            .trim_start()
                    )
                    && lenient.contains("; reporting the "),
                "{name}: {lenient}"
            );
            assert_eq!(lenient.lines().count(), 1, "{name}: {lenient}");
        } else {
            assert_eq!((code, lenient), (1, err), "{name}");
        }
    }

    let (code, _, err) = report(&["/dev/zero"]);
    assert_eq!(code, 1, "{err}");
    assert_eq!(
        err.trim(),
        "leaktop: error: /dev/zero: a device, not a recording"
    );

    // Cut inside a multi-byte character (the tree's `├`): a cut-off last line.
    let in_char = second_tick + good[second_tick..].find("├").unwrap() + 1;
    let path = dir.path().join("cut-in-char.ticklog");
    std::fs::write(&path, &good.as_bytes()[..in_char]).unwrap();
    let (code, _, err) = report(&[path.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("warning"), "{err}");

    // A recorder killed mid-write: the last tick is cut; the rest is reported.
    let cut = &good[..good.len() - 300];
    let path = dir.path().join("cut.ticklog");
    std::fs::write(&path, cut).unwrap();
    let (code, out, err) = report(&[path.to_str().unwrap(), "--json"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("warning") && err.contains("cut.ticklog:"),
        "{err}"
    );
    let got: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(got["ticks"], 39);
    assert_eq!(got["truncated"], true);
}

/// A command line can hold terminal escape sequences; they reach no terminal or SVG.
#[test]
fn control_characters_in_commands_are_shown_escaped() {
    let dir = tempfile::tempdir().unwrap();
    let nd = std::fs::read_to_string(asset("forkserver-pool.ndjson"))
        .unwrap()
        .replace("\"cmd\":\"", "\"cmd\":\"\\u001b]0;pwned\\u0007\\u001b[2J ")
        .replace("\"root_cmd\":\"", "\"root_cmd\":\"\\u001b[31m ");
    let path = dir.path().join("escapes.ndjson");
    std::fs::write(&path, nd).unwrap();
    let svg = dir.path().join("escapes.svg");
    let path = path.to_str().unwrap();
    let controls = |bytes: &[u8]| bytes.iter().filter(|&&b| b < 0x20 && b != b'\n').count();
    let text = ok(&[path, "--svg", svg.to_str().unwrap()]);
    assert_eq!(controls(&text), 0, "{}", String::from_utf8_lossy(&text));
    assert!(String::from_utf8_lossy(&text).contains("\\x1b[31m"));
    assert_eq!(controls(&std::fs::read(&svg).unwrap()), 0);
    let json: Value = serde_json::from_slice(&ok(&[path, "--json"])).unwrap();
    assert!(
        json["leaked"][0]["cmd"]
            .as_str()
            .unwrap()
            .starts_with("\\x1b]0;pwned\\x07\\x1b[2J ")
    );
    let converted = ok(&[path, "--convert", "text"]);
    assert_eq!(controls(&converted), 0);

    // The text format writes them escaped; read back, they stay escaped.
    let text = std::fs::read_to_string(asset("forkserver-pool.ticklog"))
        .unwrap()
        .replace(" python3 PPID=", " py\\x1b[2Jthon3 PPID=");
    let path = dir.path().join("escapes.ticklog");
    std::fs::write(&path, text).unwrap();
    let out = ok(&[path.to_str().unwrap()]);
    assert_eq!(controls(&out), 0, "{}", String::from_utf8_lossy(&out));
    assert!(String::from_utf8_lossy(&out).contains("py\\x1b[2Jthon3"));
}

/// The bidirectional controls (U+061C, U+200E, U+200F, U+202A-U+202E, U+2066-U+2069).
const BIDI: [char; 12] = [
    '\u{061c}', '\u{200e}', '\u{200f}', '\u{202a}', '\u{202b}', '\u{202c}', '\u{202d}', '\u{202e}',
    '\u{2066}', '\u{2067}', '\u{2068}', '\u{2069}',
];

/// Issue 27, fault 10: a right-to-left override in a process name (`py<RLO>3nohtyp`
/// shows as `pypython3`) and every other bidirectional control reach no report,
/// conversion, snapshot or chart raw: they are escaped as control characters are.
#[test]
fn bidi_controls_in_names_and_commands_are_shown_escaped() {
    let dir = tempfile::tempdir().unwrap();
    let all: String = BIDI.iter().collect();
    let nd = std::fs::read_to_string(asset("forkserver-pool.ndjson"))
        .unwrap()
        .replace("\"name\":\"python3\"", "\"name\":\"py\u{202e}3nohtyp\"")
        .replace("\"cmd\":\"", &format!("\"cmd\":\"{all} "));
    let text = std::fs::read_to_string(asset("forkserver-pool.ticklog"))
        .unwrap()
        .replace(" python3 PPID=", " py\u{202e}3nohtyp PPID=")
        .replace(" cmd: ", &format!(" cmd: {all} "));
    for (name, body) in [("bidi.ndjson", nd), ("bidi.ticklog", text)] {
        let path = dir.path().join(name);
        std::fs::write(&path, body).unwrap();
        let path = path.to_str().unwrap();
        let svg = dir.path().join(format!("{name}.svg"));
        let raw = |bytes: &[u8]| {
            String::from_utf8_lossy(bytes)
                .chars()
                .filter(|c| BIDI.contains(c))
                .count()
        };
        for args in [
            &["--svg", svg.to_str().unwrap()][..],
            &["--json"],
            &["--convert", "text"],
            &["--convert", "ndjson"],
            &["--tick", "14"],
        ] {
            let (code, out, err) = report(&[&[path][..], args].concat());
            assert_eq!(code, 0, "{name} {args:?}: {err}");
            assert_eq!(
                raw(&out),
                0,
                "{name} {args:?}: {}",
                String::from_utf8_lossy(&out)
            );
            // Escaped (its backslash doubled again in the tick-log and JSON).
            assert!(
                String::from_utf8_lossy(&out).contains("u202e3nohtyp"),
                "{name} {args:?}"
            );
        }
        assert_eq!(raw(&std::fs::read(&svg).unwrap()), 0, "{name}");
        let (_, out, _) = report(&[path]);
        assert!(
            String::from_utf8_lossy(&out).contains("\\u061c\\u200e\\u200f\\u202a"),
            "{}",
            String::from_utf8_lossy(&out)
        );
    }
}

/// Bytes a terminal would act on: C0 controls other than the line end, DEL, and the
/// C1 controls (as UTF-8 characters).
fn terminal_controls(bytes: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(bytes);
    text.chars()
        .filter(|&c| c != '\n' && c.is_control())
        .map(|c| format!("{:#x}", c as u32))
        .collect()
}

/// Fault 3: a crafted recording or file name must not drive the terminal through an
/// error message or the report's first line.
#[test]
fn crafted_recordings_and_file_names_reach_no_terminal_raw() {
    let dir = tempfile::tempdir().unwrap();
    let good_nd = std::fs::read_to_string(asset("forkserver-pool.ndjson")).unwrap();
    let header_end = good_nd.find('\n').unwrap() + 1;
    let cases: Vec<(String, Vec<u8>, i32)> = vec![
        // serde quotes the unknown variant.
        (
            "variant.ndjson".into(),
            b"{\"type\":\"\\u001b]0;pwned\\u0007\\u001b[2J\"}\n".to_vec(),
            1,
        ),
        // ... and an unknown field, raw in the line (JSON allows it in a key once escaped).
        (
            "field.ndjson".into(),
            format!(
                "{}{{\"type\":\"tick\",\"\\u001b[2J\\u009b\":1}}\n",
                &good_nd[..header_end]
            )
            .into_bytes(),
            1,
        ),
        // A text line with raw escape bytes where a number is expected.
        (
            "text.ticklog".into(),
            b"# leaktop-ticklog v1\n# root: \x1b[2J\x07 start=1 cmd: x\n".to_vec(),
            1,
        ),
        (
            "evil\x1b]0;pwned\x07\u{9b}name.ticklog".into(),
            b"hello\n".to_vec(),
            1,
        ),
        ("evil\x1b[2J.ndjson".into(), good_nd.clone().into_bytes(), 0),
    ];
    for (name, body, want) in cases {
        let path = dir.path().join(&name);
        std::fs::write(&path, body).unwrap();
        let out = leaktop().arg("report").arg(&path).output().unwrap();
        assert_eq!(out.status.code(), Some(want), "{name:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            terminal_controls(&out.stderr),
            Vec::<String>::new(),
            "{name:?}: {err}"
        );
        assert_eq!(
            terminal_controls(&out.stdout),
            Vec::<String>::new(),
            "{name:?}"
        );
        assert!(!err.contains("panicked"), "{err}");
        if want == 0 {
            let first = String::from_utf8_lossy(&out.stdout);
            assert!(
                first.starts_with(&format!(
                    "{}",
                    dir.path().join("evil\\x1b[2J.ndjson").display()
                )),
                "{first}"
            );
        } else {
            assert_eq!(err.lines().count(), 1, "{name:?}: {err}");
        }
    }
    // A file that is not there, by a name with escapes.
    let out = leaktop()
        .arg("report")
        .arg(dir.path().join("gone\x1b[2J"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(terminal_controls(&out.stderr), Vec::<String>::new());
    assert!(String::from_utf8_lossy(&out.stderr).contains("gone\\x1b[2J"));
}

/// Fault 12: what a reader sees when a recording is odd, and when standard output
/// fails.
#[test]
fn odd_line_ends_inconsistent_rows_and_a_full_stdout_say_what_they_are() {
    let dir = tempfile::tempdir().unwrap();
    let good = std::fs::read_to_string(asset("forkserver-pool.ticklog")).unwrap();
    let good_nd = std::fs::read_to_string(asset("forkserver-pool.ndjson")).unwrap();

    // A BOM is accepted silently, in both formats.
    for (name, body) in [("bom.ticklog", &good), ("bom.ndjson", &good_nd)] {
        let path = dir.path().join(name);
        std::fs::write(&path, format!("\u{feff}{body}")).unwrap();
        let (code, out, err) = report(&[path.to_str().unwrap(), "--json"]);
        assert_eq!((code, err.as_str()), (0, ""), "{name}");
        let got: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(got["ticks"], 40, "{name}");
    }

    // CR-only line ends are named.
    let path = dir.path().join("cr.ticklog");
    std::fs::write(&path, good.replace('\n', "\r")).unwrap();
    let (code, _, err) = report(&[path.to_str().unwrap()]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("cr.ticklog:1:") && err.contains("CR alone"),
        "{err}"
    );

    // leaked_since on a row that is not leaked: refused, as text could not carry it.
    let path = dir.path().join("since.ndjson");
    std::fs::write(
        &path,
        good_nd.replacen("\"leaked_since\":null", "\"leaked_since\":1", 1),
    )
    .unwrap();
    let (code, _, err) = report(&[path.to_str().unwrap(), "--convert", "text", "--strict"]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("since.ndjson:2: expected pid 4623 to be leaked"),
        "{err}"
    );

    // Standard output that fails is named as such.
    let full = std::fs::File::create("/dev/full").unwrap();
    for args in [&["--json"][..], &["--convert", "ndjson"], &[]] {
        let out = leaktop()
            .arg("report")
            .arg(asset("forkserver-pool.ticklog"))
            .args(args)
            .stdout(full.try_clone().unwrap())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert_eq!(
            String::from_utf8_lossy(&out.stderr).trim(),
            "leaktop: error: cannot write to standard output: No space left on device",
            "{args:?}"
        );
    }
}

/// A long line is refused at its line, before it is read whole.
#[test]
fn a_line_past_16_mib_is_refused_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let good_nd = std::fs::read_to_string(asset("forkserver-pool.ndjson")).unwrap();
    let header_end = good_nd.find('\n').unwrap() + 1;
    let path = dir.path().join("long.ndjson");
    let mut body = good_nd.as_bytes()[..header_end].to_vec();
    body.extend(std::iter::repeat_n(b' ', 17 << 20));
    body.extend_from_slice(b"\n");
    std::fs::write(&path, body).unwrap();
    let (code, _, err) = report(&[path.to_str().unwrap(), "--strict"]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("long.ndjson:2: expected a line of at most 16 MiB"),
        "{err}"
    );
    // Skipping it leaves nothing to read: still an error, that says so.
    let (code, _, err) = report(&[path.to_str().unwrap()]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("long.ndjson: not one tick could be read: skipped 1 damaged line (line 2: expected a line of at most 16 MiB"),
        "{err}"
    );
}

/// `--tick N` stops reading once it has tick N: damage after it does not matter.
#[test]
fn one_tick_is_found_without_reading_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let good = std::fs::read_to_string(asset("forkserver-pool.ticklog")).unwrap();
    let third = good.match_indices("\ntick ").nth(2).unwrap().0;
    let path = dir.path().join("damaged-later.ticklog");
    std::fs::write(&path, format!("{}tick x\n", &good[..third + 1])).unwrap();
    let out = String::from_utf8(ok(&[path.to_str().unwrap(), "--tick", "2"])).unwrap();
    assert!(out.contains("\ntick 2 +"), "{out}");
    let (code, _, err) = report(&[path.to_str().unwrap(), "--tick", "9"]);
    assert_eq!(code, 1);
    assert!(err.contains("damaged-later.ticklog:"), "{err}");
}

/// A FIFO is read as it is written; until a writer comes, leaktop says it waits.
#[test]
fn a_fifo_says_it_waits_for_a_writer() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("live.ndjson");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let mut child = leaktop()
        .arg("report")
        .arg(&fifo)
        .arg("--json")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut first = String::new();
    std::io::BufRead::read_line(&mut stderr, &mut first).unwrap();
    assert!(first.contains("is a FIFO: waiting for a writer"), "{first}");
    std::fs::write(
        &fifo,
        std::fs::read(asset("forkserver-pool.ndjson")).unwrap(),
    )
    .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let got: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(got["ticks"], 40);
}

/// `--out` may name the recording itself, a link to a file, or a device; a failed
/// conversion leaves nothing behind.
#[test]
fn convert_out_in_place_through_a_link_to_a_device_and_on_failure() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read(asset("forkserver-pool.ticklog")).unwrap();
    let nd = std::fs::read(asset("forkserver-pool.ndjson")).unwrap();
    let file = dir.path().join("pool.rec");
    std::fs::write(&file, &text).unwrap();
    let f = file.to_str().unwrap();
    ok(&[f, "--convert", "ndjson", "--out", f]);
    assert_eq!(std::fs::read(&file).unwrap(), nd, "converted in place");
    let link = dir.path().join("link.rec");
    std::os::unix::fs::symlink(&file, &link).unwrap();
    ok(&[f, "--convert", "text", "--out", link.to_str().unwrap()]);
    assert!(std::fs::symlink_metadata(&link).unwrap().is_symlink());
    assert_eq!(
        std::fs::read(&file).unwrap(),
        text,
        "written through the link"
    );
    ok(&[f, "--convert", "ndjson", "--out", "/dev/null"]);
    assert!(
        std::fs::metadata("/dev/null")
            .unwrap()
            .file_type()
            .is_char_device()
    );

    let good = String::from_utf8(text).unwrap();
    let third = good.match_indices("\ntick ").nth(2).unwrap().0;
    let bad = dir.path().join("bad.ticklog");
    std::fs::write(&bad, format!("{}tick x\n", &good[..third + 1])).unwrap();
    let out = dir.path().join("out.ndjson");
    let (code, _, err) = report(&[
        bad.to_str().unwrap(),
        "--convert",
        "ndjson",
        "--out",
        out.to_str().unwrap(),
        "--strict",
    ]);
    assert_eq!(code, 1, "{err}");
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(!out.exists() && left.len() == 3, "{left:?}");
}

/// `--svg -` writes the chart to standard output, alone, rather than to a file named
/// `-`; with another command writing there too it is refused.
#[test]
fn svg_dash_is_standard_output() {
    let dir = tempfile::tempdir().unwrap();
    let file = asset("forkserver-pool.ticklog");
    let (code, out, err) = report_in(dir.path(), &[file.to_str().unwrap(), "--svg", "-"]);
    assert_eq!(code, 0, "{err}");
    let svg = String::from_utf8(out).unwrap();
    assert!(
        svg.trim_start().starts_with("<svg") || svg.starts_with("<?xml"),
        "{svg:.80}"
    );
    assert!(
        svg.trim_end().ends_with("</svg>"),
        "only the chart on stdout"
    );
    assert!(!dir.path().join("-").exists(), "no file named -");
    let (code, _, err) = report(&[file.to_str().unwrap(), "--svg", "-", "--tick", "3"]);
    assert_eq!(code, 1);
    assert!(err.contains("both write to standard output"), "{err}");
}

/// `--svg` naming the recording itself is refused: the chart would replace the data.
#[test]
fn svg_never_writes_over_the_recording() {
    let dir = tempfile::tempdir().unwrap();
    let rec = dir.path().join("x.ticklog");
    std::fs::copy(asset("forkserver-pool.ticklog"), &rec).unwrap();
    let before = std::fs::read(&rec).unwrap();
    let (code, _, err) = report(&[rec.to_str().unwrap(), "--svg", rec.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(err.contains("would write over the recording"), "{err}");
    assert_eq!(std::fs::read(&rec).unwrap(), before);
}
