//! `leaktop run`'s verdicts and summary (issue 26): a leak that exited before the run
//! did, a linger by design that is no leak.

use crate::common;

use common::Tag;

struct Outcome {
    code: Option<i32>,
    stderr: String,
}

fn run(tag: &Tag, args: &[&str]) -> Outcome {
    let out = tag
        .command(env!("CARGO_BIN_EXE_leaktop"))
        .arg("run")
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run leaktop");
    Outcome {
        code: out.status.code(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// CMD leaves a helper behind that lives on for 3 s after its parent (as a helper
/// holding a Go `CommandContext`'s pipe after the timeout killed its parent), and CMD
/// waits for it: by the end nothing of the family is alive.
const LEAK_THEN_EXIT: &str = "(sleep 3 >/dev/null 2>&1 &); sleep 4";

#[test]
fn a_leak_that_exited_before_the_run_did_is_still_a_leak() {
    let tag = Tag::new();
    let o = run(
        &tag,
        &[
            "--check",
            "--leak-grace",
            "1s",
            "--",
            "sh",
            "-c",
            LEAK_THEN_EXIT,
        ],
    );
    assert_eq!(o.code, Some(3), "{}", o.stderr);
    assert!(o.stderr.contains("1 process leaked"), "{}", o.stderr);
    assert!(
        o.stderr.contains("leaked, then exited after"),
        "{}",
        o.stderr
    );
    assert!(o.stderr.contains("sleep 3"), "{}", o.stderr);
    assert!(!o.stderr.contains("(not a leak)"), "{}", o.stderr);
    // Without --check the exit code is CMD's, the report the same.
    let o = run(
        &tag,
        &["--leak-grace", "1s", "--", "sh", "-c", LEAK_THEN_EXIT],
    );
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    assert!(
        o.stderr.contains("leaked, then exited after"),
        "{}",
        o.stderr
    );
}
