//! `leaktop run` against real commands.

use crate::common;

use common::Tag;

struct Outcome {
    code: Option<i32>,
    stderr: String,
    stdout: String,
}

fn run(tag: &Tag, args: &[&str]) -> Outcome {
    let out = tag
        .command(env!("CARGO_BIN_EXE_leaktop"))
        .arg("run")
        .args(args)
        .output()
        .expect("run leaktop");
    Outcome {
        code: out.status.code(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
    }
}

/// `leaktop run ARGS` started, its stderr piped, for tests that act while it runs.
fn start(tag: &Tag, args: &[&str]) -> std::process::Child {
    tag.command(env!("CARGO_BIN_EXE_leaktop"))
        .arg("run")
        .args(args)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start leaktop run")
}

fn sleeps(tag: &Tag) -> usize {
    tag.live()
        .iter()
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/comm")).is_ok_and(|c| c.starts_with(b"sleep"))
        })
        .count()
}

/// Waits until `leaktop run` (pid `leaktop`) is settling: CMD, an `sh`, has exited and
/// been reaped, and the `sleep` it leaked is leaktop's. A signal sent then reaches
/// leaktop while it settles, never CMD, however slowly a busy machine runs them.
fn wait_until_settling(leaktop: u32) {
    let comm = |pid: &u32| std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
    let settling = common::wait_until(std::time::Duration::from_secs(60), || {
        // Zombies too: CMD exited but not reaped is not settling yet.
        let mut children = Vec::new();
        leaktop::sample::children_of(leaktop, &mut children);
        let names: Vec<String> = children.iter().map(comm).collect();
        names.iter().any(|c| c.trim() == "sleep") && names.iter().all(|c| c.trim() != "sh")
    });
    assert!(settling, "CMD did not exit, or leaked nothing");
}

/// Leaked sleeps must not hold the test's output pipes open, or `output()` would wait.
const SETSID_LEAK: &str = "(setsid sleep 300 >/dev/null 2>&1 &); sleep 0.5";

#[test]
fn setsid_escapee_fails_the_check_and_is_caught_by_the_subreaper() {
    let tag = Tag::new();
    let out = run(&tag, &["--check", "--", "sh", "-c", SETSID_LEAK]);
    assert_eq!(out.code, Some(3), "{}", out.stderr);
    assert!(out.stderr.contains("1 process leaked"), "{}", out.stderr);
    // Caught before a sample saw its parent, or (a busy machine samples the subshell
    // first) adopted from it: either way the subreaper holds it, and says so.
    // The table's row for it, the remark under it (a pipe: whole lines).
    let (row, remark) = out
        .stderr
        .split_once("  sleep 300\n")
        .unwrap_or_else(|| panic!("{}", out.stderr));
    assert!(row.contains(" S "), "{}", out.stderr);
    assert!(
        remark
            .trim_start()
            .starts_with("<- caught by the subreaper (PPID ")
            || remark
                .trim_start()
                .starts_with("<- adopted by the subreaper (PPID "),
        "{}",
        out.stderr
    );
    // Issue 28: a verdict a CI log can be read by: FAIL and why, CMD's exit code and
    // time in seconds, leaktop's own exit code.
    let verdict = out.stderr.lines().last().unwrap_or_default();
    assert!(
        verdict.starts_with("leaktop: FAIL: `sh -c (setsid sleep 300")
            && verdict.contains(" exited 0 after ")
            && verdict.contains(" s; 1 process leaked (")
            && verdict.ends_with("; exit 3"),
        "{}",
        out.stderr
    );
    assert_eq!(sleeps(&tag), 1, "the leak is real and still there");
}

#[test]
fn kill_leaks_leaves_no_sleep_behind() {
    let tag = Tag::new();
    let out = run(
        &tag,
        &[
            "--check",
            "--kill-leaks",
            "--grace",
            "1s",
            "--",
            "sh",
            "-c",
            SETSID_LEAK,
        ],
    );
    assert_eq!(out.code, Some(3), "{}", out.stderr);
    assert!(
        out.stderr.contains("ended 1 leaked process"),
        "{}",
        out.stderr
    );
    assert_eq!(sleeps(&tag), 0, "{}", out.stderr);
}

#[test]
fn escapee_of_a_command_that_exits_within_milliseconds_is_reported() {
    let tag = Tag::new();
    // Forks, double-forks and exits at once: no tick can see the intermediate.
    let out = run(
        &tag,
        &[
            "--check",
            "--",
            "sh",
            "-c",
            "(sleep 300 >/dev/null 2>&1 &); exit 0",
        ],
    );
    assert_eq!(out.code, Some(3), "{}", out.stderr);
    assert!(out.stderr.contains("  sleep 300\n"), "{}", out.stderr);
}

#[test]
fn a_clean_command_exits_zero_with_no_report() {
    let tag = Tag::new();
    let out = run(&tag, &["--check", "--", "sh", "-c", "sleep 0.2; echo done"]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(out.stderr, "");
    assert_eq!(
        out.stdout, "done\n",
        "CMD's stdout passes through untouched"
    );
}

#[test]
fn exit_code_passes_through_without_check() {
    let tag = Tag::new();
    assert_eq!(run(&tag, &["--", "sh", "-c", "exit 7"]).code, Some(7));
    // Even when something leaked.
    let out = run(
        &tag,
        &[
            "--",
            "sh",
            "-c",
            "(setsid sleep 300 >/dev/null 2>&1 &); sleep 0.3; exit 5",
        ],
    );
    assert_eq!(out.code, Some(5), "{}", out.stderr);
    assert!(out.stderr.contains("exited with code 5"), "{}", out.stderr);
}

#[test]
fn node_detached_unrefd_children_are_caught() {
    let tag = Tag::new();
    let script = "const cp = require('child_process'); \
                  for (let i = 0; i < 2; i++) cp.spawn('sleep', ['300'], {detached: true, stdio: 'ignore'}).unref();";
    let out = run(&tag, &["--check", "--", "node", "-e", script]);
    assert_eq!(out.code, Some(3), "{}", out.stderr);
    assert!(out.stderr.contains("2 processes leaked"), "{}", out.stderr);
}

#[test]
fn a_command_that_cannot_run_gets_a_shells_exit_code() {
    let tag = Tag::new();
    let out = run(&tag, &["--", "no-such-command-leaktop"]);
    assert_eq!(out.code, Some(127));
    assert_eq!(
        out.stderr.trim(),
        "leaktop: error: cannot run 'no-such-command-leaktop': command not found"
    );
    let dir = tempfile::tempdir().unwrap();
    let plain = dir.path().join("not-a-program");
    std::fs::write(&plain, "data").unwrap();
    let out = run(&tag, &["--", plain.to_str().unwrap()]);
    assert_eq!(out.code, Some(126), "{}", out.stderr);
    assert!(out.stderr.contains("permission denied"), "{}", out.stderr);
    let out = run(&tag, &[]);
    assert_eq!(out.code, Some(127), "{}", out.stderr);
    assert!(out.stderr.contains("no command given"));
}

#[test]
fn run_records_the_whole_run() {
    let tag = Tag::new();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run.ndjson");
    let out = run(
        &tag,
        &[
            "--record",
            path.to_str().unwrap(),
            "--",
            "sh",
            "-c",
            SETSID_LEAK,
        ],
    );
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let rec = leaktop::format::read(&path).unwrap();
    let last = rec.ticks.last().unwrap();
    assert!(!last.root_alive);
    assert!(
        last.processes
            .iter()
            .any(|p| p.escaped && p.cmd == "sleep 300")
    );
}

#[test]
fn an_unwritable_recording_is_refused_before_anything_starts() {
    let tag = Tag::new();
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("started");
    let script = format!("touch {}", marker.display());
    let out = run(
        &tag,
        &[
            "--record",
            "/nonexistent/dir/run.ticklog",
            "--",
            "sh",
            "-c",
            &script,
        ],
    );
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert!(
        out.stderr.contains("/nonexistent/dir/run.ticklog"),
        "{}",
        out.stderr
    );
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert!(!marker.exists(), "the command was started");
}

#[test]
fn a_signal_while_settling_reports_at_once() {
    let tag = Tag::new();
    let mut child = start(
        &tag,
        &["--check", "--settle", "60s", "--", "sh", "-c", SETSID_LEAK],
    );
    wait_until_settling(child.id());
    common::signal(child.id(), common::Signal::INT);
    let done = common::wait_until(std::time::Duration::from_secs(30), || {
        matches!(child.try_wait(), Ok(Some(_)))
    });
    if !done {
        let _ = child.kill();
    }
    let out = child.wait_with_output().unwrap();
    assert!(done, "still settling after SIGINT");
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("1 process leaked"));
}

#[test]
fn a_closed_stderr_does_not_stop_kill_leaks() {
    let tag = Tag::new();
    let mut child = start(
        &tag,
        &[
            "--check",
            "--kill-leaks",
            "--grace",
            "1s",
            "--",
            "sh",
            "-c",
            SETSID_LEAK,
        ],
    );
    // Nobody reads leaktop's report.
    drop(child.stderr.take());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(3));
    assert_eq!(sleeps(&tag), 0, "the leak was not ended");
}

/// Leaked processes that fight back: one forks a child as it handles SIGTERM, the
/// other ignores SIGTERM and forks every 50 ms. Both are left by a command that exits.
const FORKING_LEAKS: &str = r#"
import os, signal, sys, time
def leave(body):
    if os.fork() == 0:
        os.setsid()
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        if os.fork() == 0:
            body()
        os._exit(0)
def forks_on_term():
    def handler(*_):
        if os.fork() == 0:
            time.sleep(300)
        os._exit(0)
    signal.signal(signal.SIGTERM, handler)
    time.sleep(300)
def keeps_forking():
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    while True:
        if os.fork() == 0:
            time.sleep(300)
            os._exit(0)
        time.sleep(0.05)
leave(forks_on_term)
leave(keeps_forking)
time.sleep(0.5)
"#;

/// Issue 17, fault 2: the SIGKILL round hit only the processes pinned at the start,
/// and `--kill-leaks` said "ended 21" while 40 lived on under PID 1. Every process
/// the leaks forked while dying must be gone when leaktop says so.
#[test]
fn kill_leaks_ends_what_the_leaks_fork_while_they_die() {
    let tag = Tag::new();
    let out = run(
        &tag,
        &[
            "--check",
            "--kill-leaks",
            "--grace",
            "500ms",
            "--",
            "python3",
            "-c",
            FORKING_LEAKS,
        ],
    );
    assert_eq!(out.code, Some(3), "{}", out.stderr);
    assert!(out.stderr.contains("ended "), "{}", out.stderr);
    assert!(!out.stderr.contains("survived"), "{}", out.stderr);
    assert!(
        common::wait_until(std::time::Duration::from_secs(30), || tag.live().is_empty()),
        "alive after leaktop said it ended them: {:?}\n{}",
        tag.live(),
        out.stderr
    );
}

/// Issue 17, fault 5: a run whose command cannot start must leave an existing
/// recording as it was (it used to be truncated before the spawn).
#[test]
fn a_command_that_cannot_start_leaves_the_old_recording_alone() {
    let tag = Tag::new();
    let dir = tempfile::tempdir().unwrap();
    let old = dir.path().join("old.ticklog");
    std::fs::write(&old, "yesterday's recording\n").unwrap();
    let out = run(
        &tag,
        &[
            "--record",
            old.to_str().unwrap(),
            "--",
            "/nonexistent/command",
        ],
    );
    assert_eq!(out.code, Some(127), "{}", out.stderr);
    assert_eq!(
        std::fs::read_to_string(&old).unwrap(),
        "yesterday's recording\n"
    );
    // A recording that cannot be created is still known before anything starts.
    let out = run(
        &tag,
        &["--record", "/nonexistent/dir/x.ticklog", "--", "true"],
    );
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert!(
        out.stderr.contains("/nonexistent/dir/x.ticklog"),
        "{}",
        out.stderr
    );
}

/// Issue 17, fault 6: a recording that cannot be written (a full disk) used to end
/// leaktop with exit 1, CMD dying by the parent-death signal and its leaks left under
/// PID 1 unreported. The recording stops; supervision, the report and the kill go on.
#[test]
fn a_full_disk_stops_the_recording_not_the_run() {
    let tag = Tag::new();
    let out = run(
        &tag,
        &[
            "--check",
            "--kill-leaks",
            "--grace",
            "1s",
            "--record",
            "/dev/full",
            "--",
            "sh",
            "-c",
            SETSID_LEAK,
        ],
    );
    assert_eq!(out.code, Some(3), "{}", out.stderr);
    assert!(
        out.stderr.contains("No space left on device"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("supervising goes on"), "{}", out.stderr);
    assert!(out.stderr.contains("1 process leaked"), "{}", out.stderr);
    assert!(
        out.stderr.contains("the recording is incomplete"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("ended 1 leaked process"),
        "{}",
        out.stderr
    );
    assert_eq!(sleeps(&tag), 0, "{}", out.stderr);
}

/// A run that leaked nothing but could not write its recording does not pass: the
/// output asked for is incomplete (exit 1, said once, at the end).
#[test]
fn a_recording_that_could_not_be_written_fails_a_clean_run() {
    let tag = Tag::new();
    let out = run(&tag, &["--record", "/dev/full", "--", "true"]);
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    let last = out.stderr.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("leaktop: error: the recording is incomplete: "),
        "{}",
        out.stderr
    );
}

/// An empty directory mounted over `/proc/PID`, unmounted on drop (before the tag's
/// cleanup, which must see the process to end it).
struct Hidden(String);

impl Hidden {
    /// `None` where this user may not mount (the test then has nothing to show).
    fn hide(pid: u32, empty: &std::path::Path) -> Option<Hidden> {
        let target = format!("/proc/{pid}");
        let ok = std::process::Command::new("mount")
            .args(["--bind", empty.to_str().unwrap(), &target])
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then_some(Hidden(target))
    }
}

impl Drop for Hidden {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

/// Issue 17, fault 9: a process orphaned under CMD whose `/proc` entry is hidden (here
/// by a mount over it, as `hidepid=2` hides another user's) was silently missing from
/// the report, and `--check` passed. leaktop knows it from the kernel's list of its
/// own children: it is named, and the check fails.
#[test]
fn an_adopted_child_hidden_from_proc_is_named_and_fails_the_check() {
    let tag = Tag::new();
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("pid");
    let go = dir.path().join("go");
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    // The leak starts after leaktop's first tick, and the next tick comes only when
    // CMD exits (--interval 1h): the mount is in place before leaktop can see it.
    let script = format!(
        "sleep 0.5; sleep 300 >/dev/null 2>&1 & echo $! > {}; while [ ! -e {} ]; do sleep 0.05; done",
        pidfile.display(),
        go.display()
    );
    let child = start(
        &tag,
        &[
            "--check",
            "--interval",
            "1h",
            "--settle",
            "300ms",
            "--",
            "sh",
            "-c",
            &script,
        ],
    );
    assert!(
        common::wait_until(common::PATIENCE, || {
            std::fs::read_to_string(&pidfile).is_ok_and(|s| s.ends_with('\n'))
        }),
        "the script never started its sleep"
    );
    let pid: u32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let Some(_hidden) = Hidden::hide(pid, &empty) else {
        eprintln!("skipped: mounting over /proc/{pid} needs CAP_SYS_ADMIN");
        std::fs::write(&go, "").unwrap();
        let _ = child.wait_with_output();
        return;
    };
    std::fs::write(&go, "").unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("cannot be read") && stderr.contains(&pid.to_string()),
        "{stderr}"
    );
}

/// An orphan that exits by itself within the leak grace is no leak: `--check` passes,
/// and the summary says it happened.
#[test]
fn an_orphan_that_exits_within_the_grace_is_counted_not_leaked() {
    let tag = Tag::new();
    let out = run(
        &tag,
        &[
            "--check",
            "--",
            "sh",
            "-c",
            "(sleep 0.3 >/dev/null 2>&1 &); true",
        ],
    );
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(
        out.stderr
            .contains("1 process was orphaned during the run and exited by itself"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("leaked"), "{}", out.stderr);
}

/// A wrapper that starts a helper and then `exec`s leaktop hands the helper down as
/// leaktop's child: it was never CMD's, so it is neither reported nor ended.
#[test]
fn a_child_leaktop_had_before_cmd_started_is_not_cmds_leak() {
    let tag = Tag::new();
    let script = format!(
        "sleep 1001 >/dev/null 2>&1 & exec {} run --kill-leaks --grace 1s -- sh -c '(sleep 300 >/dev/null 2>&1 &)'",
        env!("CARGO_BIN_EXE_leaktop")
    );
    let out = tag.command("sh").args(["-c", &script]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("1 process leaked"), "{stderr}");
    assert!(stderr.contains("ended 1 leaked process"), "{stderr}");
    let helper = tag.live().into_iter().any(|pid| {
        std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| c == b"sleep\x001001\x00")
    });
    assert!(helper, "the wrapper's helper was killed: {stderr}");
}

/// With --leak-grace longer than --settle, run samples at its interval until the
/// grace has passed; it used to spin (tens of thousands of ticks a second).
#[test]
fn a_long_leak_grace_waits_at_the_interval() {
    let tag = Tag::new();
    let dir = tempfile::tempdir().unwrap();
    let rec = dir.path().join("grace.ticklog");
    let out = run(
        &tag,
        &[
            "--check",
            "--leak-grace",
            "2s",
            "--record",
            rec.to_str().unwrap(),
            "--",
            "sh",
            "-c",
            "(sleep 300 >/dev/null 2>&1 &)",
        ],
    );
    assert_eq!(out.code, Some(3), "{}", out.stderr);
    let ticks = std::fs::read_to_string(&rec)
        .unwrap()
        .lines()
        .filter(|l| l.starts_with("tick "))
        .count();
    // About 2 s at 200 ms, with room for a slow machine; a spin writes thousands.
    assert!((5..40).contains(&ticks), "{ticks} ticks");
}

/// A signal that cuts the settle short still reports what CMD left alive, even an
/// orphan within its leak grace: under run, CMD has exited and it lives on.
#[test]
fn a_signal_during_the_settle_still_reports_the_orphan() {
    let tag = Tag::new();
    let child = start(
        &tag,
        &[
            "--check",
            "--settle",
            "5s",
            "--",
            "sh",
            "-c",
            "sleep 300 >/dev/null 2>&1 & exit 0",
        ],
    );
    wait_until_settling(child.id());
    common::signal(child.id(), common::Signal::TERM);
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("1 process leaked"), "{stderr}");
}

/// CMD's arguments are shown in the leak report with control characters escaped: a
/// crafted argument must not drive the terminal that reads leaktop's stderr.
#[test]
fn the_leak_report_escapes_control_characters_in_cmd() {
    let tag = Tag::new();
    let out = run(
        &tag,
        &[
            "--",
            "sh",
            "-c",
            "(setsid sleep 300 >/dev/null 2>&1 &); sleep 0.3 #\u{1b}]0;PWNED\u{7}\u{1b}[2J",
        ],
    );
    assert!(out.stderr.contains("1 process leaked"), "{}", out.stderr);
    assert!(!out.stderr.contains('\u{1b}'), "{:?}", out.stderr);
    assert!(out.stderr.contains("\\x1b]0;PWNED"), "{}", out.stderr);
}
