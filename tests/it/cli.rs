//! The command line's contract: help, errors, exit codes.

use crate::common;

use common::leaktop;

fn run(args: &[&str]) -> (i32, String, String) {
    let out = leaktop().args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_view_without_a_terminal_says_what_to_do_instead() {
    let (code, _, err) = run(&["--pid", "1"]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("needs a terminal") && err.contains("leaktop record"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
}

/// A usage error is one line, `leaktop: error: ...`, exit 2.
fn usage_error(args: &[&str]) -> String {
    let (code, out, err) = run(args);
    assert_eq!(code, 2, "{args:?}: {err}");
    assert!(out.is_empty(), "{args:?}: {out}");
    assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
    assert!(err.starts_with("leaktop: error: "), "{args:?}: {err}");
    assert!(!err.contains('\x1b'), "{args:?}: {err}");
    err
}

#[test]
fn pid_and_name_conflict_and_bad_values_are_usage_errors() {
    usage_error(&["--pid", "1", "--name", "x"]);
    assert!(usage_error(&["--pid", "soon"]).contains("--pid soon is not a process id"));
    assert!(usage_error(&["demo", "--interval", "0s"]).contains("--interval 0s is too short"));
    assert!(usage_error(&["record"]).contains("--pid"));
    assert!(usage_error(&["report"]).contains("<FILE>"));
    assert!(usage_error(&["record", "--pid", "1", "--bogus"]).contains("'--bogus'"));
    assert!(usage_error(&["completions", "tcsh"]).contains("'tcsh'"));
    let (code, _, err) = run(&["--pid", "4194304"]);
    assert_eq!(
        code, 1,
        "a missing pid is named before the terminal is asked for"
    );
    assert_eq!(err.trim(), "leaktop: error: no process with PID 4194304");
    let (code, _, err) = run(&["replay", "/nonexistent/leak.ticklog"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("/nonexistent/leak.ticklog"), "{err}");
}

/// An empty or blank pattern would match every process (`--name ''` watched
/// kthreadd, `orphans --match '' --kill` would end every weak group): one line naming
/// it, exit 2, before anything is sampled (issue 28).
#[test]
fn an_empty_or_blank_pattern_is_a_usage_error_naming_it() {
    let record = ["record", "--ticks", "1", "--out", "/dev/null"];
    for (blank, shown) in [("", "''"), ("  ", "'  '"), ("\t", "'\\t'")] {
        for (before, flag, why) in [
            (&[][..], "--name", "would match every process"),
            (&record[..], "--name", "would match every process"),
            (&["orphans"][..], "--match", "would match every process"),
            (&["orphans"][..], "--allow", "would allow every process"),
            (
                &["watch", "--dry-run"][..],
                "--allow",
                "would allow every process",
            ),
            (&[][..], "--allow", "would allow every process"),
        ] {
            let mut args = before.to_vec();
            args.extend([flag, blank]);
            let err = usage_error(&args);
            assert!(
                err.contains(&format!("{flag} {shown} {why}")),
                "{args:?}: {err}"
            );
        }
    }
    // A bare number for a duration is told a value that is then accepted.
    let err = usage_error(&["--interval", "0"]);
    assert!(err.contains("--interval 0 needs a unit"), "{err}");
    assert!(err.contains("at least 10ms"), "{err}");
    assert!(!err.contains("0s"), "0s is refused: {err}");
}

/// Every duration option has a cap (and --interval a floor) that its error names; none
/// of them may reach the arithmetic that panicked ("overflow when adding duration to
/// instant", exit 101). `record` is bounded by --ticks so that the old code, which
/// accepted these, ends too.
#[test]
fn durations_and_percentages_out_of_range_are_usage_errors_naming_value_and_bound() {
    let huge = "9223372036854775807s";
    let hour = "is too long (at most 1h)";
    let year = "is too long (at most 1year)";
    let short = "is too short (at least 10ms: ";
    let percent = "is not a percentage";
    let record = ["record", "--pid", "1", "--ticks", "2", "--out", "/dev/null"];
    // (the command before the option, after it, [(option, value, why)])
    type Cases<'a> = [(
        &'a [&'a str],
        &'a [&'a str],
        Vec<(&'a str, &'a str, &'a str)>,
    ); 4];
    let cases: Cases = [
        (
            &[],
            &[],
            vec![
                ("--interval", huge, hour),
                ("--grace", huge, hour),
                ("--idle-after", huge, year),
                ("--interval", "1ns", short),
                ("--interval", "9ms", short),
                ("--ratchet-min-growth", "NaN", percent),
                ("--ratchet-min-growth", "inf", percent),
                ("--ratchet-min-growth", "-5", percent),
            ],
        ),
        (
            &["demo"],
            &[],
            vec![("--interval", huge, hour), ("--grace", huge, hour)],
        ),
        (
            &record,
            &[],
            vec![
                ("--interval", huge, hour),
                ("--interval", "1ns", short),
                ("--duration", huge, year),
                ("--idle-after", huge, year),
                ("--ratchet-min-growth", "NaN", percent),
            ],
        ),
        (
            &["run"],
            &["--", "true"],
            vec![
                ("--interval", huge, hour),
                ("--settle", huge, hour),
                ("--grace", huge, hour),
                ("--idle-after", huge, year),
            ],
        ),
    ];
    for (before, after, options) in cases {
        for (flag, value, why) in options {
            let option = format!("{flag}={value}");
            let mut args = before.to_vec();
            args.push(&option);
            args.extend(after);
            let err = usage_error(&args);
            assert!(
                err.contains(&format!("{flag} {value} {why}")),
                "{args:?}: {err}"
            );
        }
    }
}

#[test]
fn a_bare_pid_and_a_typo_get_told_what_was_meant() {
    assert_eq!(
        usage_error(&["1234"]).trim(),
        "leaktop: error: '1234' is not a command; to watch pid 1234 use `leaktop --pid 1234` (see --help)"
    );
    for (args, meant) in [
        (vec!["recrod"], "did you mean 'record'?"),
        (vec!["--intervl", "1s"], "did you mean '--interval'?"),
        (
            vec!["run", "--chek", "--", "true"],
            "did you mean '--check'?",
        ),
        (vec!["--color", "nevr"], "did you mean 'never'?"),
        // Two letters swapped in a short name: clap's own measure misses these.
        (vec!["--pdi", "5"], "did you mean '--pid'?"),
        (vec!["record", "--pdi", "5"], "did you mean '--pid'?"),
        (
            vec!["run", "--chekc", "--", "true"],
            "did you mean '--check'?",
        ),
    ] {
        let err = usage_error(&args);
        assert!(err.contains(meant), "{args:?}: {err}");
    }
}

#[test]
fn help_explains_the_view_and_its_examples() {
    let (code, out, _) = run(&["--help"]);
    assert_eq!(code, 0);
    for needle in ["leaktop demo", "--pid", "--name", "--color", "Exit codes"] {
        assert!(out.contains(needle), "--help lacks {needle}:\n{out}");
    }
}

#[test]
fn no_color_output_to_a_pipe_has_no_escape_codes() {
    let tag = common::Tag::new();
    let sleeper = common::Reaped(tag.command("sleep").arg("300").spawn().unwrap());
    let out = leaktop()
        .env("NO_COLOR", "1")
        .args([
            "record",
            "--ticks",
            "2",
            "--interval",
            "50ms",
            "--out",
            "-",
            "--pid",
        ])
        .arg(sleeper.id().to_string())
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(!out.stdout.is_empty());
    assert!(!out.stdout.contains(&0x1b), "escape in stdout");
    assert!(!out.stderr.contains(&0x1b), "escape in stderr");
}

#[test]
fn version_and_man_and_completions() {
    let (code, out, _) = run(&["--version"]);
    assert_eq!(code, 0);
    assert_eq!(out.trim(), format!("leaktop {}", env!("CARGO_PKG_VERSION")));
    let (code, out, _) = run(&["man"]);
    assert_eq!(code, 0);
    assert!(out.contains(".TH leaktop 1"), "{out}");
    let (code, out, _) = run(&["completions", "fish"]);
    assert_eq!(code, 0);
    assert!(out.contains("complete -c leaktop"), "{out}");
    let (code, _, err) = run(&["completions", "tcsh"]);
    assert_eq!(code, 2);
    assert!(err.contains("tcsh"), "{err}");
}

#[test]
fn colour_goes_anywhere_but_view_options_not_before_a_subcommand() {
    let asset = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/assets/forkserver-pool.ticklog"
    );
    for args in [
        ["--color", "never", "report", asset],
        ["report", "--color", "never", asset],
    ] {
        let (code, out, err) = run(&args);
        assert_eq!(code, 0, "{args:?}: {err}");
        assert!(out.contains("leaked:"), "{out}");
    }
    let err = usage_error(&["--interval", "200ms", "report", asset]);
    assert!(
        err.contains("--interval") && err.contains("report"),
        "{err}"
    );
}

/// Runs leaktop with its standard output a pipe whose reader is already gone (as in
/// `leaktop ... | true`), so its first write fails with EPIPE. Returns the exit code
/// (`None` if a signal ended it, as SIGPIPE would if leaktop stopped ignoring it)
/// and stderr.
fn into_closed_pipe(cmd: &mut std::process::Command) -> (Option<i32>, String) {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = cmd
        .stdin(std::process::Stdio::null())
        .stdout(writer)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Ending quietly: exit 0 (not 101, not killed by SIGPIPE), nothing on stderr.
fn assert_quiet(what: &str, (code, err): (Option<i32>, String)) {
    assert_eq!(code, Some(0), "{what}: {err}");
    assert!(
        !err.contains("panicked") && !err.contains("Broken pipe") && err.is_empty(),
        "{what}: {err}"
    );
}

#[test]
fn every_command_that_prints_ends_quietly_when_its_reader_has_gone() {
    let asset = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/assets/forkserver-pool.ticklog"
    );
    let mut cases: Vec<Vec<&str>> = vec![
        vec!["--help"],
        vec!["--version"],
        vec!["record", "--help"],
        vec!["man"],
        vec!["report", asset],
        vec!["report", asset, "--json"],
        vec!["report", asset, "--tick", "3"],
        vec!["report", asset, "--convert", "ndjson"],
    ];
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        cases.push(vec!["completions", shell]);
    }
    for page in [
        "demo",
        "report",
        "replay",
        "completions",
        "man",
        "record",
        "run",
    ] {
        cases.push(vec!["man", page]);
    }
    for args in cases {
        assert_quiet(&args.join(" "), into_closed_pipe(leaktop().args(&args)));
    }
}

#[test]
fn record_to_standard_output_ends_quietly_when_its_reader_goes() {
    use std::io::Read;
    let tag = common::Tag::new();
    let sleeper = common::Reaped(tag.command("sleep").arg("300").spawn().unwrap());
    let pid = sleeper.id().to_string();
    let args = [
        "record",
        "--interval",
        "20ms",
        "--ticks",
        "500",
        "--out",
        "-",
    ];
    // Gone before the header.
    assert_quiet(
        "record, reader gone at once",
        into_closed_pipe(leaktop().args(args).args(["--pid", &pid])),
    );
    // Gone after the first ticks, as `| head -c 100`.
    let (mut reader, writer) = std::io::pipe().unwrap();
    let mut child = common::Reaped(
        leaktop()
            .args(args)
            .args(["--pid", &pid])
            .stdout(writer)
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut head = [0u8; 100];
    reader.read_exact(&mut head).unwrap();
    assert!(head.starts_with(b"# leaktop-ticklog"));
    drop(reader);
    let done = common::wait_until(common::PATIENCE, || {
        matches!(child.0.try_wait(), Ok(Some(_)))
    });
    assert!(done, "record went on writing to a closed pipe");
    let code = child.0.wait().unwrap().code();
    let mut err = String::new();
    child
        .0
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert_quiet("record, reader gone after 100 bytes", (code, err));
}

/// `leaktop ARGS > /dev/full` fails with exit 1 and one line saying standard output.
fn fails_on_a_full_stdout(args: &[&str]) {
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let out = leaktop().args(args).stdout(full).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
    assert_eq!(
        err.trim(),
        "leaktop: error: cannot write to standard output: No space left on device (os error 28)",
        "{args:?}"
    );
}

/// A full disk behind standard output is an error that says it was standard output
/// (not a bare "No space left on device", not clap_complete's panic).
#[test]
fn a_failed_write_to_standard_output_says_so() {
    for args in [vec!["man"], vec!["man", "run"], vec!["completions", "bash"]] {
        fails_on_a_full_stdout(&args);
    }
}

#[test]
fn a_bad_pid_is_named_even_when_it_looks_like_an_option() {
    for pid in ["-1", "0", "12x"] {
        for args in [vec!["--pid", pid], vec!["record", "--pid", pid]] {
            let err = usage_error(&args);
            assert!(
                err.contains(&format!("--pid {pid} is not a process id")),
                "{args:?}: {err}"
            );
        }
    }
}

/// A negative number, size or duration reaches its option's check, which names it,
/// instead of being taken for an unknown flag (`-5`, or `-1` out of `-1s`).
#[test]
fn a_negative_value_is_named_by_its_option() {
    for (args, says) in [
        (vec!["orphans", "--min-rss", "-5"], "'-5' is negative"),
        (vec!["orphans", "--min-rss", "-5MB"], "'-5MB' is negative"),
        (
            vec!["orphans", "--older-than", "-1s"],
            "--older-than -1s is not a duration",
        ),
        (
            vec!["record", "--pid", "1", "--ticks", "-3"],
            "'-3' for '--ticks <N>'",
        ),
        (
            vec!["--pid", "1", "--interval", "-2s"],
            "--interval -2s is not a duration",
        ),
    ] {
        let err = usage_error(&args);
        assert!(err.contains(says), "{args:?}: {err}");
    }
}

/// clap strips escape sequences from the word it quotes, which would show a crafted
/// argument as another word: the error shows it escaped.
#[test]
fn escape_sequences_in_a_bad_argument_are_shown_escaped() {
    for (args, shown) in [
        (vec!["rec\x1b[31mord"], "'rec\\x1b[31mord'"),
        (vec!["--nme\x1b[2J"], "'--nme\\x1b[2J'"),
        (vec!["record", "--format", "\x1b[2Jx"], "'\\x1b[2Jx'"),
    ] {
        let err = usage_error(&args);
        assert!(err.contains(shown), "{args:?}: {err}");
    }
}

/// `/proc/TID` exists for every thread: a thread id given as --pid is refused, and
/// the error names the process it belongs to.
#[test]
fn a_thread_id_is_not_taken_for_a_process() {
    let mut family = common::Family::spawn(
        "python3",
        &[
            "-c",
            "import threading, time, os\n\
             t = threading.Thread(target=time.sleep, args=(60,)); t.start()\n\
             print(t.native_id, flush=True); t.join()",
        ],
    );
    let tid = family.read_line();
    let (code, _, err) = run(&["record", "--pid", &tid, "--ticks", "1"]);
    assert_eq!(code, 1, "{err}");
    assert_eq!(
        err.trim(),
        format!(
            "leaktop: error: {tid} is a thread of process {0}, not a process: watch --pid {0}",
            family.pid()
        )
    );
}

/// leaktop with its standard output closed, as the shell's `>&-` does (the Rust
/// runtime then opens /dev/null in its place before `main`). Returns the exit code
/// and stderr.
fn with_stdout_closed(args: &[&str]) -> (Option<i32>, String) {
    let out = std::process::Command::new("sh")
        .args(["-c", r#"exec "$0" "$@" >&-"#, env!("CARGO_BIN_EXE_leaktop")])
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `leaktop record >&-` wrote its recording nowhere: one line that says so, exit 1,
/// not a silent success. The same for the other commands whose output is the point.
#[test]
fn a_closed_standard_output_is_an_error_not_a_silent_success() {
    let tag = common::Tag::new();
    let sleeper = common::Reaped(tag.command("sleep").arg("300").spawn().unwrap());
    let pid = sleeper.id().to_string();
    let asset = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/assets/forkserver-pool.ticklog"
    );
    for args in [
        vec!["record", "--pid", &pid, "--ticks", "1", "--quiet"],
        vec!["record", "--pid", &pid, "--ticks", "1", "--out", "-"],
        vec!["report", asset],
        vec!["--help"],
        vec!["--version"],
        vec!["man"],
    ] {
        let (code, err) = with_stdout_closed(&args);
        assert_eq!(code, Some(1), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(
            err.starts_with("leaktop: error: cannot write to standard output: it is closed"),
            "{args:?}: {err}"
        );
    }
    // A file named by --out is not standard output: recording goes on.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("r.ticklog");
    let out = file.to_str().unwrap();
    let (code, err) = with_stdout_closed(&["record", "--pid", &pid, "--ticks", "1", "--out", out]);
    assert_eq!(code, Some(0), "{err}");
    assert!(leaktop::format::read(&file).is_ok_and(|r| r.ticks.len() == 1));
}

/// `--help > /dev/full` printed nothing and exited 0: a help or version that could
/// not be written is an error like any other output's.
#[test]
fn help_and_version_that_cannot_be_written_are_errors() {
    for args in [
        vec!["--help"],
        vec!["--version"],
        vec!["record", "--help"],
        vec!["help"],
    ] {
        fails_on_a_full_stdout(&args);
    }
}
