//! What leaktop writes, its readers read: real processes with huge command lines and
//! misleading names recorded and read back by every reader (issue 27).

use crate::common;

use std::path::Path;

use common::{Family, leaktop};

/// `leaktop ARGS`: exit code, stdout, stderr.
fn run(args: &[&str]) -> (i32, Vec<u8>, String) {
    let out = leaktop().args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        out.stdout,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A family whose root (python) starts ten children with 1.8 MB command lines (15
/// arguments of 120 KB: the kernel takes at most 128 KiB per argument), one with 5.5
/// MB of `\x01` arguments under an unlimited stack (as any user may set), and one run
/// through a link named with a right-to-left override. It prints `ready` once they
/// have all started.
const HUGE: &str = r#"
import os, resource, subprocess, sys, time
kids = []
for i in range(10):
    kids.append(subprocess.Popen(["sh", "-c", "sleep 300; :", "big"] + [chr(97 + i) * 120000] * 15))
def unlimited():
    resource.setrlimit(resource.RLIMIT_STACK, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
kids.append(subprocess.Popen(["sh", "-c", "sleep 300; :", "ctl"] + ["\x01" * 120000] * 46, preexec_fn=unlimited))
link = os.path.join(sys.argv[1], "x\u202egpj.sh")
os.symlink("/bin/sleep", link)
kids.append(subprocess.Popen([link, "300"]))
time.sleep(0.5)
assert all(k.poll() is None for k in kids), [k.poll() for k in kids]
print("ready", flush=True)
time.sleep(300)
"#;

/// Records `pid` for three ticks into `out`.
fn record(pid: u32, out: &Path) {
    let (code, _, err) = run(&[
        "record",
        "--quiet",
        "--pid",
        &pid.to_string(),
        "--interval",
        "200ms",
        "--ticks",
        "3",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "record: {err}");
}

/// Issue 27, faults 2 and 10: ten processes with 1.8 MB command lines made an 18 MB
/// NDJSON tick line and one with 5.5 MB of `\x01` a 27.5 MB text line, over the
/// readers' 16 MiB: the whole recording was "not a leaktop recording". And a
/// right-to-left override in a name went into the tick-log raw. Now command lines are
/// kept to 4 KiB, head and tail around a marker saying what was cut; every reader
/// reads what was written; the override is escaped.
#[test]
fn huge_command_lines_and_a_bidi_name_record_and_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let mut family = Family::spawn("python3", &["-c", HUGE, dir.path().to_str().unwrap()]);
    assert_eq!(family.read_line(), "ready");
    for name in ["huge.ndjson", "huge.ticklog"] {
        let out = dir.path().join(name);
        record(family.pid(), &out);
        let written = std::fs::read(&out).unwrap();
        let longest = written.split(|&b| b == b'\n').map(<[u8]>::len).max();
        assert!(
            longest.unwrap_or(0) < 1 << 20,
            "{name}: a line of {longest:?} bytes"
        );
        let text = String::from_utf8_lossy(&written);
        assert!(
            !text.contains('\u{202e}'),
            "{name}: the override went in raw"
        );
        assert!(text.contains("x\\\\u202egpj"), "{name}");

        let rec = leaktop::format::read(&out).unwrap_or_else(|e| panic!("{name}: {e}"));
        let last = rec.ticks.last().unwrap();
        let cut: Vec<_> = last
            .processes
            .iter()
            .filter_map(|p| leaktop::human::cut_from(&p.cmd).map(|c| (p, c)))
            .collect();
        assert_eq!(cut.len(), 11, "{name}: {:?}", last.processes);
        // The marker counts the bytes of the command line, not of its escaped form.
        assert!(
            cut.iter()
                .any(|(p, (_, of))| p.cmd.contains("ctl \\x01\\x01")
                    && (5_520_000..5_530_000).contains(of)),
            "{name}: {cut:?}"
        );
        for (p, (gone, of)) in cut {
            assert!(p.cmd.len() <= leaktop::human::COMMAND_MAX_BYTES, "{name}");
            assert!(
                p.cmd.starts_with("sh -c sleep 300; : "),
                "{name}: {}",
                p.cmd
            );
            assert!(of > 1_800_000 && gone > of - 4096, "{name}: {gone} of {of}");
        }
        let path = out.to_str().unwrap();
        let svg = dir.path().join(format!("{name}.svg"));
        for args in [
            &[][..],
            &["--json"],
            &["--convert", "text"],
            &["--convert", "ndjson"],
            &["--tick", "2"],
            &["--svg", svg.to_str().unwrap()],
        ] {
            let (code, out, err) = run(&[&["report", path][..], args].concat());
            assert_eq!(code, 0, "report {name} {args:?}: {err}");
            assert!(
                !err.contains("warning") && !err.contains("error"),
                "report {name} {args:?}: {err}"
            );
            assert!(!out.is_empty(), "report {name} {args:?}");
            let shown = String::from_utf8_lossy(&out);
            assert!(!shown.contains('\u{202e}'), "report {name} {args:?}");
        }
    }
}

fn asset(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("assets")
        .join(name)
}

/// Issue 27, fault 3: one damaged line in the middle made `report` and `--convert`
/// refuse the whole file, while `replay` showed the ticks before it. Now every reader
/// reads every other tick, says in one line on stderr which lines it skipped and
/// why, and exits 0; `--strict` refuses, as before.
#[test]
fn one_damaged_line_costs_one_tick_in_every_reader() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(asset("forkserver-pool.ticklog")).unwrap();
    let nd = std::fs::read_to_string(asset("forkserver-pool.ndjson")).unwrap();
    // A row of tick 20 in the text (its PPID unreadable), and tick 20's NDJSON line
    // cut in half.
    let tick20 = text.find("\ntick 20 ").unwrap() + 1;
    let row = tick20 + text[tick20..].find('\n').unwrap() + 1;
    let damaged_text = format!(
        "{}PPID{}",
        &text[..row],
        &text[row..].replacen("PPID=", "=", 1)
    );
    let line20 = nd.lines().nth(20).unwrap();
    assert!(line20.starts_with("{\"type\":\"tick\",\"tick\":20,"));
    let damaged_nd = nd.replacen(line20, &line20[..line20.len() / 2], 1);
    let row_line = text[..row].lines().count() + 1;
    for (name, body, lines) in [
        (
            "damaged.ticklog",
            damaged_text,
            format!("lines {}-", row_line - 1),
        ),
        (
            "damaged.ndjson",
            damaged_nd,
            "(line 21: expected a tick object".to_string(),
        ),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, &body).unwrap();
        let path = path.to_str().unwrap();
        let svg = dir.path().join(format!("{name}.svg"));
        for args in [
            &[][..],
            &["--json"],
            &["--tick", "30"],
            &["--svg", svg.to_str().unwrap()],
            &["--convert", "ndjson"],
            &["--convert", "text"],
        ] {
            let (code, out, err) = run(&[&["report", path][..], args].concat());
            assert_eq!(code, 0, "{name} {args:?}: {err}");
            let warning: Vec<&str> = err
                .lines()
                .filter(|l| !l.contains("wrote the chart"))
                .collect();
            assert_eq!(warning.len(), 1, "{name} {args:?}: {err}");
            assert!(
                warning[0].starts_with(&format!("leaktop: warning: {path}: skipped "))
                    && warning[0].contains(&lines)
                    && warning[0].contains(if args.first() == Some(&"--tick") {
                        "; read the 29 other ticks"
                    } else {
                        " the 39 other ticks"
                    }),
                "{name} {args:?}: {err}"
            );
            if args.first() == Some(&"--json") {
                let got: serde_json::Value = serde_json::from_slice(&out).unwrap();
                assert_eq!(got["ticks"], 39, "{name}");
            }
            if args.first() == Some(&"--convert") {
                let shown = String::from_utf8(out).unwrap();
                let ticks = shown
                    .lines()
                    .filter(|l| l.starts_with("tick ") || l.starts_with("{\"type\":\"tick\""))
                    .count();
                assert_eq!(ticks, 39, "{name} {args:?}");
                assert!(!shown.contains("tick 20 ") && !shown.contains("\"tick\":20,"));
            }
        }
        let (code, out, err) = run(&["report", path, "--strict"]);
        assert_eq!(code, 1, "{name}: {err}");
        assert!(
            out.is_empty() && err.starts_with("leaktop: error: "),
            "{name}: {err}"
        );
        // Tick 20 itself is not there to show; the warning says why.
        let (code, _, err) = run(&["report", path, "--tick", "20"]);
        assert_eq!(code, 1, "{name}: {err}");
        assert!(
            err.contains("skipped") && err.contains("tick 20 is not in"),
            "{name}: {err}"
        );
    }
}
