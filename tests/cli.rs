//! The command line's contract: help, errors, exit codes.

mod common;

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

#[test]
fn pid_and_name_conflict_and_bad_values_are_usage_errors() {
    let (code, _, err) = run(&["--pid", "1", "--name", "x"]);
    assert_eq!(code, 2, "{err}");
    let (code, _, err) = run(&["--pid", "soon"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("soon"), "{err}");
    let (code, _, err) = run(&["demo", "--interval", "0s"]);
    assert_eq!(code, 2, "{err}");
    let (code, _, err) = run(&["replay", "/nonexistent/leak.ticklog"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("/nonexistent/leak.ticklog"), "{err}");
}

#[test]
fn help_explains_the_view_and_its_examples() {
    let (code, out, _) = run(&["--help"]);
    assert_eq!(code, 0);
    for needle in ["leaktop demo", "--pid", "--name", "--color", "Exit codes"] {
        assert!(out.contains(needle), "--help lacks {needle}:\n{out}");
    }
}
