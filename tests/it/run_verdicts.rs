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

/// A parent that starts an esbuild-like service (it pings the service through its
/// stdin; the service exits `argv[2]` seconds after the pings stop, esbuild's is about
/// 2; `argv[2..]` are its arguments), prints its pid, and exits after `argv[1]`
/// seconds.
const LINGERING_SERVICE: &str = r#"
import os, subprocess, sys, time
svc = subprocess.Popen([sys.executable, "-c", """
import sys, threading, time
last = [time.time()]
def read():
    while sys.stdin.buffer.read1(64): last[0] = time.time()
threading.Thread(target=read, daemon=True).start()
while time.time() - last[0] < float(sys.argv[1]): time.sleep(0.05)
"""] + sys.argv[2:], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
print(os.getpid(), flush=True)
end = time.time() + float(sys.argv[1])
while time.time() < end:
    svc.stdin.write(b"p"); svc.stdin.flush(); time.sleep(0.2)
os._exit(0)
"#;

#[test]
fn a_service_that_lingers_by_design_is_no_leak_in_run() {
    let tag = Tag::new();
    let o = run(
        &tag,
        &[
            "--check",
            "--",
            "python3",
            "-c",
            LINGERING_SERVICE,
            "0.5",
            "2",
        ],
    );
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    assert!(!o.stderr.contains("leaked"), "{}", o.stderr);
    assert!(
        o.stderr
            .contains("orphaned during the run and exited by itself"),
        "{}",
        o.stderr
    );
}

#[test]
fn a_service_that_lingers_by_design_is_no_leak_in_attach() {
    let dir = tempfile::tempdir().unwrap();
    let mut parent = common::Family::spawn("python3", &["-c", LINGERING_SERVICE, "1.5", "2"]);
    let pid: u32 = parent.read_line().parse().unwrap();
    let out = dir.path().join("linger.ndjson");
    let rec = common::Recorder::start(pid, &out, &["--interval", "100ms"]);
    rec.wait_ticks(2);
    // The service exits about 2 s after its parent; the recording ends with the family.
    let (code, err) = rec.finish();
    assert_eq!(code, Some(0), "{err}");
    let recording = leaktop::format::read(&out).unwrap();
    let leaked: Vec<u32> = recording
        .ticks
        .iter()
        .flat_map(|t| t.processes.iter().filter(|p| p.leaked).map(|p| p.pid))
        .collect();
    assert!(leaked.is_empty(), "the linger is no leak: {leaked:?}");
    let exited_by_itself = recording.ticks.iter().any(|t| {
        t.events
            .iter()
            .any(|e| matches!(e, leaktop::model::Event::OrphanExited { .. }))
    });
    assert!(
        exited_by_itself,
        "the service was seen orphaned and exiting"
    );
    parent.kill_root();
}

#[test]
fn a_service_that_lingers_by_design_is_not_reported_by_orphans_watch() {
    let unique = format!("linger-{}", std::process::id());
    let mut watch = common::leaktop()
        .args([
            "orphans",
            "--watch",
            "--json",
            "--interval",
            "200ms",
            "--no-pss",
        ])
        .args(["--match", &unique])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut said = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(watch.stderr.take().unwrap()),
        &mut said,
    )
    .unwrap();
    assert!(said.contains("watching"), "{said}");
    // The parent exits after 3 s (its own process group: its job is gone with it), and
    // the service, old enough to be a candidate at once, lingers for 3 s, as a
    // language server polling its client's pid every 3 s does.
    let mut parent =
        common::Family::spawn("python3", &["-c", LINGERING_SERVICE, "3", "3", &unique]);
    let _pid = parent.read_line();
    // The service's arguments hold the tag (so does the watch's, not counted).
    let watcher = watch.id().to_string();
    let service = || {
        std::fs::read_dir("/proc").unwrap().flatten().any(|e| {
            e.file_name() != watcher.as_str()
                && common::alive(
                    e.file_name()
                        .to_str()
                        .and_then(|p| p.parse().ok())
                        .unwrap_or(0),
                )
                && std::fs::read(e.path().join("cmdline"))
                    .is_ok_and(|c| c.windows(unique.len()).any(|w| w == unique.as_bytes()))
        })
    };
    assert!(common::wait_until(
        std::time::Duration::from_secs(5),
        service
    ));
    assert!(common::wait_until(
        std::time::Duration::from_secs(30),
        || !service()
    ));
    let _ = watch.kill();
    let out = watch.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "", "nothing reported");
    parent.kill_root();
}

/// `run --quiet`, as the wrapper around an interactive command (issue 28): a clean
/// run says nothing at all, even when an orphan came and went or an alert was raised
/// that fails nothing, and the exit code is CMD's.
#[test]
fn quiet_says_nothing_when_nothing_leaked() {
    let tag = Tag::new();
    for (args, code) in [
        // An orphan that exits by itself: a note without --quiet.
        (&["--", "sh", "-c", "sleep 0.3 & exit 4"][..], 4),
        // A zombie alert raised (not a --fail-on kind): a line without --quiet.
        (
            &[
                "--check",
                "--interval",
                "100ms",
                "--zombies-min",
                "1",
                "--zombie-after",
                "200ms",
                "--",
                "sh",
                "-c",
                "sleep 0.1 & exec sleep 3",
            ][..],
            0,
        ),
    ] {
        let loud = run(&tag, args);
        assert_eq!(loud.code, Some(code), "{args:?}: {}", loud.stderr);
        assert!(
            !loud.stderr.is_empty(),
            "{args:?}: without --quiet it says something"
        );
        let quiet = run(&tag, &[&["--quiet"][..], args].concat());
        assert_eq!(quiet.code, Some(code), "{args:?}: {}", quiet.stderr);
        assert_eq!(quiet.stderr, "", "{args:?}");
    }
}

/// `run --quiet --kill-leaks` with a leak: only the kill's result and the verdict, and
/// the exit code is still CMD's (or 3 with --check).
#[test]
fn quiet_says_only_the_verdict_and_the_kill_when_something_leaked() {
    let tag = Tag::new();
    for (check, code) in [(&[][..], 2), (&["--check"][..], 3)] {
        let args = [
            &["-q", "--kill-leaks", "--grace", "1s"][..],
            check,
            &["--", "sh", "-c", "(setsid sleep 300 &); exit 2"][..],
        ]
        .concat();
        let o = run(&tag, &args);
        assert_eq!(o.code, Some(code), "{args:?}: {}", o.stderr);
        let lines: Vec<&str> = o.stderr.lines().collect();
        assert_eq!(lines.len(), 2, "{args:?}: {}", o.stderr);
        assert!(
            lines[0].starts_with("leaktop: ended 1 leaked process"),
            "{}",
            o.stderr
        );
        assert!(lines[1].contains("1 process leaked"), "{}", o.stderr);
        assert!(lines[1].contains(&format!("; exit {code}")), "{}", o.stderr);
        assert!(
            common::wait_until(common::PATIENCE, || tag.live().is_empty()),
            "left behind: {:?}",
            tag.live()
        );
    }
}
