//! `run --check` for CI: --junit, --json, and GitHub Actions annotations and step
//! summary, from real runs that really leak.

use crate::common;

use std::path::Path;
use std::process::Output;

use common::Tag;
use quick_junit::{Report, TestCaseStatus};

/// `leaktop run ARGS -- sh -c SCRIPT` with `env`, its processes tagged so that whatever
/// it leaks is killed when `tag` is dropped.
fn run(tag: &Tag, args: &[&str], script: &str, env: &[(&str, &Path)]) -> Output {
    let mut c = tag.command(env!("CARGO_BIN_EXE_leaktop"));
    c.env_remove("GITHUB_ACTIONS")
        .env_remove("GITHUB_STEP_SUMMARY");
    for (k, v) in env {
        c.env(k, v);
    }
    c.args(["run", "--interval", "100ms", "--settle", "300ms"])
        .args(args)
        .args(["--", "sh", "-c", script])
        .output()
        .unwrap()
}

fn junit(path: &Path) -> Report {
    let xml = std::fs::read_to_string(path).unwrap();
    Report::deserialize_from_str(&xml).unwrap_or_else(|e| panic!("{e}: {xml}"))
}

#[test]
fn a_leak_is_a_failing_junit_case_an_annotation_a_summary_row_and_json() {
    let dir = tempfile::tempdir().unwrap();
    let (xml, json, md) = (
        dir.path().join("leaks.xml"),
        dir.path().join("run.json"),
        dir.path().join("summary.md"),
    );
    std::fs::write(&md, "# earlier step\n").unwrap();
    let tag = Tag::new();
    let out = run(
        &tag,
        &[
            "--check",
            "--junit",
            xml.to_str().unwrap(),
            "--json",
            json.to_str().unwrap(),
        ],
        // A sleeper and a subshell holding one more, off the test's pipes (which
        // `output()` reads to their end).
        "sleep 60 >/dev/null 2>&1 & (sleep 61 & wait) >/dev/null 2>&1 & echo started",
        &[
            ("GITHUB_ACTIONS", Path::new("true")),
            ("GITHUB_STEP_SUMMARY", &md),
        ],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    let leaked = tag.live();
    assert_eq!(leaked.len(), 3, "{stderr}");

    // JUnit: a failing case per leaked tree, naming the process and holding the tree.
    let report = junit(&xml);
    let cases = &report.test_suites[0].test_cases;
    assert_eq!(cases.len(), 2, "{cases:#?}");
    for case in cases {
        let TestCaseStatus::NonSuccess {
            message,
            description,
            ..
        } = &case.status
        else {
            panic!("{case:?} passed");
        };
        let (message, tree) = (
            message.as_ref().unwrap().as_str(),
            description.as_ref().unwrap().as_str(),
        );
        assert!(case.name.as_str().starts_with("leaked "), "{:?}", case.name);
        // Reparented if a tick saw them under the shell before it exited, escaped
        // (caught by the subreaper) if not: either is how they leaked.
        assert!(
            message.contains("escaped the family") || message.contains("reparented from"),
            "{message}"
        );
        assert!(tree.contains("LEAKED") && tree.contains("RSS="), "{tree}");
    }
    let names: Vec<&str> = cases.iter().map(|c| c.name.as_str()).collect();
    for pid in &leaked {
        let listed = cases.iter().any(|c| {
            let TestCaseStatus::NonSuccess { description, .. } = &c.status else {
                return false;
            };
            description.as_ref().is_some_and(|d| {
                d.as_str().contains(&format!("{pid} sleep"))
                    || d.as_str().contains(&format!("{pid} sh"))
            })
        });
        assert!(listed, "{pid} not in {names:?}");
    }
    assert!(names.iter().any(|n| n.ends_with(" sleep")), "{names:?}");

    // GitHub: one ::error per tree on stdout (after CMD's own output), newlines escaped.
    let stdout = String::from_utf8_lossy(&out.stdout);
    let errors: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("::error title=leaktop::leaked "))
        .collect();
    assert_eq!(errors.len(), 2, "{stdout}");
    assert!(errors.iter().all(|l| l.contains("%0A")), "{stdout}");
    assert!(stdout.starts_with("started\n"), "{stdout}");
    // The step summary is appended to, with a row per tree.
    let summary = std::fs::read_to_string(&md).unwrap();
    assert!(
        summary.starts_with("# earlier step\n### leaktop: `sh -c sleep 60 >/dev/null"),
        "{summary}"
    );
    assert!(
        summary.contains("3 processes leaked in 2 trees"),
        "{summary}"
    );
    // Escaped or reparented, as in the JUnit cases: a row per tree either way.
    let rows = summary
        .lines()
        .filter(|l| l.contains("| escaped the family |") || l.contains("| reparented from "))
        .count();
    assert_eq!(rows, 2, "{summary}");

    // --json: the shape `report --json` writes.
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let pids: Vec<u64> = json["leaked"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["pid"].as_u64().unwrap())
        .collect();
    let mut expected: Vec<u64> = leaked.iter().map(|&p| u64::from(p)).collect();
    expected.sort_unstable();
    let mut pids_sorted = pids.clone();
    pids_sorted.sort_unstable();
    assert_eq!(pids_sorted, expected);
    for key in [
        "root_pid",
        "ticks",
        "peak_leaked_rss_kb",
        "growers",
        "alerts",
    ] {
        assert!(json.get(key).is_some(), "{key} missing: {json}");
    }
}

#[test]
fn a_clean_run_is_one_passing_case_and_fail_on_kinds_are_cases() {
    let dir = tempfile::tempdir().unwrap();
    let xml = dir.path().join("clean.xml");
    let md = dir.path().join("summary.md");
    let tag = Tag::new();
    let out = run(
        &tag,
        &[
            "--check",
            "--fail-on",
            "idle,accumulating",
            "--junit",
            xml.to_str().unwrap(),
        ],
        "true",
        &[
            ("GITHUB_ACTIONS", Path::new("true")),
            ("GITHUB_STEP_SUMMARY", &md),
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = junit(&xml);
    let names: Vec<&str> = report.test_suites[0]
        .test_cases
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(
        names,
        ["no leaked processes", "alert accumulating", "alert idle"]
    );
    assert!(
        report.test_suites[0]
            .test_cases
            .iter()
            .all(|c| matches!(c.status, TestCaseStatus::Success { .. }))
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains("::"));
    let summary = std::fs::read_to_string(&md).unwrap();
    assert!(summary.contains("no processes leaked"), "{summary}");
}

#[test]
fn more_than_ten_trees_make_nine_annotations_and_one_saying_how_many_more() {
    let tag = Tag::new();
    let out = run(
        &tag,
        &["--check"],
        "for i in 1 2 3 4 5 6 7 8 9 10 11 12; do sleep 60 >/dev/null 2>&1 & done",
        &[("GITHUB_ACTIONS", Path::new("true"))],
    );
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(tag.live().len(), 12);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("::error"))
        .collect();
    assert_eq!(lines.len(), 10, "{stdout}");
    assert!(lines[9].contains("and 3 more findings"), "{}", lines[9]);
    // Without --check a leak is reported, as a warning: the job does not fail on it.
    let out = run(
        &tag,
        &[],
        "sleep 60 >/dev/null 2>&1 &",
        &[("GITHUB_ACTIONS", Path::new("true"))],
    );
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("::warning title=leaktop::leaked "));
}

#[test]
fn an_unwritable_report_is_one_line_before_cmd_runs() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("ran");
    let tag = Tag::new();
    for flag in ["--junit", "--json"] {
        let out = run(
            &tag,
            &["--check", flag, "/nonexistent/dir/out"],
            &format!("touch {}", marker.display()),
            &[],
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert_eq!(
            err,
            "leaktop: error: cannot write /nonexistent/dir/out: No such file or directory\n"
        );
        assert!(!marker.exists(), "{flag}: CMD ran");
    }
}
