//! Issue 28, item 6: `run`'s report, `orphans` and `report` on real forkserver pools,
//! in a pipe: within 80 columns with `COLUMNS=80`, the command lines cut with `…`;
//! whole without `COLUMNS`, and whole with `--wide` whatever `COLUMNS` says.

use crate::common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use common::{Signal, Tag, leaktop};
use leaktop::human::columns;

/// How each case is run: `COLUMNS`, and `--wide`.
const CASES: [(Option<&str>, bool); 3] = [(Some("80"), false), (None, false), (Some("80"), true)];

/// The forkserver's command line ends `…'site-packages']})`: whole, it ends a line.
fn is_whole_forkserver(line: &str) -> bool {
    line.contains("from multiprocessing.forkserver import main; main(") && line.ends_with("]})")
}

/// Checks `text`, a command's output under `(columns, wide)`: within 80 columns and
/// the forkserver cut where `COLUMNS=80` without `--wide`, else its whole command line.
fn check(text: &str, (columns_var, wide): (Option<&str>, bool)) {
    if columns_var.is_some() && !wide {
        for line in text.lines() {
            assert!(
                columns(line) <= 80,
                "{} columns: {line:?}\n{text}",
                columns(line)
            );
        }
        assert!(
            text.lines()
                .any(|l| l.contains("python3 -B -") && l.ends_with('…')),
            "no command cut with …:\n{text}"
        );
        assert!(!text.lines().any(is_whole_forkserver), "{text}");
    } else {
        assert!(
            text.lines().any(is_whole_forkserver),
            "no whole forkserver line:\n{text}"
        );
        assert!(
            text.lines().any(|l| columns(l) > 200),
            "whole lines are long:\n{text}"
        );
    }
}

/// `cmd` with `COLUMNS` set or not, and `--wide` or not, after the subcommand's args.
fn with(mut cmd: Command, (columns_var, wide): (Option<&str>, bool)) -> Command {
    if let Some(c) = columns_var {
        cmd.env("COLUMNS", c);
    }
    if wide {
        cmd.arg("--wide");
    }
    cmd
}

/// `leaktop run` of [`common::POOL`] whose parent is SIGKILLed once its workers are
/// up, as the field report's was: the report on stderr.
fn run_killed_pool(script: &Path, case: (Option<&str>, bool)) -> String {
    let tag = Tag::new();
    let mut cmd = tag.command(env!("CARGO_BIN_EXE_leaktop"));
    cmd.args(["run", "--kill-leaks", "--grace", "1s"]);
    let mut run = with(cmd, case)
        .args(["--", "python3", "-W", "ignore"])
        .arg(script)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(run.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let parent: u32 = line.trim().parse().unwrap();
    common::signal(parent, Signal::KILL);
    let out = run.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(tag.live().is_empty(), "left behind: {:?}", tag.live());
    stderr
}

#[test]
fn run_reports_a_forkserver_pool_within_80_columns_or_whole() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("pool.py");
    std::fs::write(&script, common::POOL).unwrap();
    for case in CASES {
        let stderr = run_killed_pool(&script, case);
        assert!(stderr.contains("processes leaked"), "{case:?}: {stderr}");
        check(&stderr, case);
    }
}

#[test]
fn orphans_lists_a_forkserver_pool_within_80_columns_or_whole() {
    let dir = tempfile::tempdir().unwrap();
    let (_pool, leader, _) = crate::orphans::orphaned_pool(dir.path());
    for case in CASES {
        let mut cmd = leaktop();
        cmd.args(["orphans", "--older-than", "0s", "--group"])
            .arg(format!("pg-{leader}"));
        let out = with(cmd, case).stdin(Stdio::null()).output().unwrap();
        assert!(out.status.success(), "{case:?}: {out:?}");
        check(&String::from_utf8_lossy(&out.stdout), case);
    }
    // The kill's result (MemAvailable's long line) within the width too.
    let out = leaktop()
        .env("COLUMNS", "80")
        .args([
            "orphans",
            "--older-than",
            "0s",
            "--kill",
            "--yes",
            "--group",
        ])
        .arg(format!("pg-{leader}"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("ended pg-"), "{text}");
    for line in text.lines() {
        assert!(columns(line) <= 80, "{line:?}\n{text}");
    }
}

#[test]
fn report_summarises_a_forkserver_recording_within_80_columns_or_whole() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/forkserver-pool.ticklog");
    for case in CASES {
        let mut cmd = leaktop();
        cmd.arg("report").arg(&file);
        let out = with(cmd, case).output().unwrap();
        assert!(out.status.success(), "{case:?}: {out:?}");
        check(&String::from_utf8_lossy(&out.stdout), case);
    }
    // A nonsense width (COLUMNS=1) is taken as the narrowest useful one: words are
    // still there, not a column of "…".
    let out = leaktop()
        .env("COLUMNS", "1")
        .arg("report")
        .arg(&file)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("exited at") && text.contains("tick 13"),
        "{text}"
    );
    // JSON is never cut.
    let mut cmd = leaktop();
    cmd.env("COLUMNS", "80")
        .arg("report")
        .arg(&file)
        .arg("--json");
    let json = cmd.output().unwrap().stdout;
    let v: serde_json::Value = serde_json::from_slice(&json).unwrap();
    assert!(
        v["leaked"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| is_whole_forkserver(l["cmd"].as_str().unwrap())),
        "{v}"
    );
}
