//! `leaktop record --pid` (attach mode) with process events, on real processes: a
//! daemonizing escape between two 1 s ticks, out of a root that leads neither its
//! group nor its session, leaves nothing in `/proc` for a tick to see. With the
//! connector (root) the recording catches it; without (`LEAKTOP_NO_CONNECTOR=1`:
//! pidfds, which see no forks) it is the documented miss, tested as missed. The same
//! with the escapee left in a group led by a subreaper ancestor of the root (as under
//! `systemd --user` or tini): nothing in `/proc` links it to the family.

#![cfg(target_os = "linux")]

use std::io::Write;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use crate::common::{self, Reaped, Recorder, Tag};
use leaktop::format::Recording;
use leaktop::model::Event;
use leaktop::sample::ProcSample;
use leaktop::sample::events::{EventRequest, NO_CONNECTOR_VAR, Source};

/// The daemonizing escape: a subshell starts `setsid sleep 30` in the background and
/// exits at once.
const DAEMONIZE: &str = "read x; (setsid sleep 30 &) ; exec sleep 60";
/// The escape into the group the root was started in: no `setsid`.
const DOUBLE_FORK: &str = "read x; (sleep 30 &) ; exec sleep 60";

/// The escape: a root (`sh -c script`, in the test's group and session) waits for a
/// line, then its script escapes (a few ms). Recorded at 1 s ticks with `env`; returns
/// the recording once `ticks_after` ticks have followed the escape (or the escapee is
/// in it, leaked), and the escapee's pid.
fn record_an_escape(
    script: &str,
    env: &[(&str, &str)],
    ticks_after: usize,
) -> (Recording, ProcSample) {
    let escape = Escape::recorded(script, |root, out| {
        Recorder::start_with(root, out, &["--interval", "1s", "--leak-grace", "1s"], env)
    });
    let escapee = escape.escapee.pid;
    let at_escape = read(&escape.out).ticks.len();
    escape.wait_for(|r| r.ticks.len() >= at_escape + ticks_after || leaked(r, escapee));
    (read(&escape.out), escape.escapee)
}

/// An escape under a recorder: see [`record_an_escape`]. Dropped, it stops the
/// recorder and kills every process it started.
struct Escape {
    escapee: ProcSample,
    out: std::path::PathBuf,
    recorder: Recorder,
    _root: Reaped,
    _tag: Tag,
    _dir: tempfile::TempDir,
}

impl Escape {
    /// Starts the root on `script`, `record` on it (`start(root, out)`), and lets the
    /// script escape after the first tick; returns once the escapee runs.
    fn recorded(script: &str, start: impl FnOnce(u32, &Path) -> Recorder) -> Escape {
        let tag = Tag::new();
        let mut root = non_leader_root(&tag, script);
        let host = leaktop::host::real();
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("escape.ndjson");
        let recorder = start(root.id(), &out);
        recorder.wait_ticks(1);
        root.0.stdin.take().unwrap().write_all(b"go\n").unwrap();
        let mut escapee = None;
        let over = common::wait_until(Duration::from_secs(20), || {
            let live = tag.live();
            escapee = live
                .iter()
                .filter(|&&pid| pid != root.id())
                .filter_map(|&pid| host.probe(pid))
                .find(|s| s.comm.as_bytes() == b"sleep" && !live.contains(&s.ppid));
            escapee.is_some()
        });
        assert!(over, "the escape did not happen");
        Escape {
            escapee: escapee.unwrap(),
            out,
            recorder,
            _root: root,
            _tag: tag,
            _dir: dir,
        }
    }

    /// Waits until the recording, read back, is `done`.
    fn wait_for(&self, done: impl Fn(&Recording) -> bool) {
        let over = common::wait_until(Duration::from_secs(30), || {
            leaktop::format::read(&self.out).is_ok_and(|r| done(&r))
        });
        assert!(over, "the recorder stopped writing ticks");
    }
}

/// `sh -c script`, in the test's group and session (it leads neither), tagged, its
/// standard input a pipe.
fn non_leader_root(tag: &Tag, script: &str) -> Reaped {
    let root = Reaped(
        tag.command("sh")
            .args(["-c", script])
            .stdin(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let sample = leaktop::host::real().probe(root.id()).unwrap();
    assert!(
        sample.session != root.id() && sample.pgrp != root.id(),
        "the root must lead neither its group nor its session: {sample:?}"
    );
    root
}

/// The short version of `scripts/fork-storm.sh`: the root forks 600 processes as
/// fast as it can, every 60th a daemonizing escape, the others exit at once. Each
/// escapee must be leaked in the recording, or the recording must mark a loss of
/// events: never a silent miss.
#[test]
fn a_fork_storm_loses_no_escape_silently() {
    if !connector_here() {
        return;
    }
    const STORM: &str = "read x; i=0; while [ $i -lt 600 ]; do i=$((i + 1)); \
        if [ $((i % 60)) -eq 0 ]; then (setsid sleep 60 >/dev/null 2>&1 &); \
        else (:) & fi; done; wait; exec sleep 60";
    let tag = Tag::new();
    let mut root = non_leader_root(&tag, STORM);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("storm.ndjson");
    let rec = Recorder::start(root.id(), &out, &["--interval", "1s", "--leak-grace", "1s"]);
    rec.wait_ticks(1);
    root.0.stdin.take().unwrap().write_all(b"go\n").unwrap();
    let host = leaktop::host::real();
    let mut escapees = Vec::new();
    let stormed = common::wait_until(Duration::from_secs(60), || {
        escapees = tag
            .live()
            .into_iter()
            .filter_map(|pid| host.probe(pid))
            .filter(|s| s.comm.as_bytes() == b"sleep" && s.session == s.pid)
            .map(|s| s.pid)
            .collect();
        escapees.len() == 10
            && host
                .probe(root.id())
                .is_some_and(|s| s.comm.as_bytes() == b"sleep")
    });
    assert!(
        stormed,
        "the storm did not end: {} escapees",
        escapees.len()
    );
    let lost = |r: &Recording| {
        r.ticks
            .iter()
            .flat_map(|t| &t.events)
            .any(|e| matches!(e, Event::EventsLost { .. }))
    };
    let judged = common::wait_until(Duration::from_secs(30), || {
        leaktop::format::read(&out)
            .is_ok_and(|r| lost(&r) || escapees.iter().all(|&pid| leaked(&r, pid)))
    });
    drop(rec);
    let rec = read(&out);
    assert!(
        judged,
        "an escapee neither leaked nor in a window marked lost: {escapees:?} in {rec:#?}"
    );
    eprintln!(
        "escapees: {}, leaked: {}, windows marked lost: {}",
        escapees.len(),
        escapees.iter().filter(|&&pid| leaked(&rec, pid)).count(),
        rec.ticks
            .iter()
            .filter(|t| t
                .events
                .iter()
                .any(|e| matches!(e, Event::EventsLost { .. })))
            .count()
    );
}

fn read(out: &Path) -> Recording {
    leaktop::format::read(out).expect("a recording that reads back")
}

fn leaked(rec: &Recording, pid: u32) -> bool {
    rec.ticks
        .iter()
        .any(|t| t.processes.iter().any(|p| p.pid == pid && p.leaked))
}

fn row_of(rec: &Recording, pid: u32) -> bool {
    rec.ticks
        .iter()
        .any(|t| t.processes.iter().any(|p| p.pid == pid))
}

#[test]
fn attach_mode_catches_a_daemonizing_escape_between_two_ticks_with_the_connector() {
    if !connector_here() {
        return;
    }
    let (rec, escapee) = record_an_escape(DAEMONIZE, &[], 4);
    assert_eq!(
        escapee.session, escapee.pid,
        "it leads a session of its own"
    );
    assert_caught(&rec, escapee.pid, "called setsid");
}

/// The shape of `scripts/fork-storm.sh`: the escapee's output thrown away.
const DAEMONIZE_QUIETLY: &str = "read x; (setsid sleep 30 >/dev/null 2>&1 &) ; exec sleep 60";

/// Stopped within the leak grace, a recording that caught an escape must not end on
/// what reads as an all-clear ("0 leaked processes"): the escapee is there, not yet
/// judged, and the summary says so.
#[test]
fn a_recording_stopped_within_the_grace_says_the_escapee_awaits_its_verdict() {
    if !connector_here() {
        return;
    }
    let escape = Escape::recorded(DAEMONIZE_QUIETLY, |root, out| {
        Recorder::spawn(root, out, &["--interval", "1s", "--leak-grace", "10m"], &[])
    });
    let escapee = escape.escapee.pid;
    escape.wait_for(|r| {
        r.ticks
            .iter()
            .any(|t| t.processes.iter().any(|p| p.pid == escapee && p.escaped))
    });
    escape.recorder.signal(common::Signal::INT);
    let Escape { recorder, .. } = escape;
    let (code, err) = recorder.finish();
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("0 leaked processes"), "{err}");
    assert!(
        err.contains("1 orphaned or escaped process") && err.contains("within the leak grace"),
        "the summary names the escapee awaiting its verdict: {err}"
    );
}

/// The connector is what this machine allows leaktop (root, the initial namespaces).
fn connector_here() -> bool {
    let here = leaktop::sample::events::open(EventRequest::from_env_value(None));
    if here.source() != Source::Connector {
        eprintln!("skipped: no connector here ({:?})", here.fallback_reason());
        return false;
    }
    true
}

/// The recording names the connector and has `escapee` escaped and leaked, with
/// evidence from the events that says `says`.
fn assert_caught(rec: &Recording, escapee: u32, says: &str) {
    let source = rec.header.events.clone().unwrap_or_default();
    assert_eq!(source, "connector", "the recording names its source");
    let evidence = rec
        .ticks
        .iter()
        .flat_map(|t| &t.events)
        .find_map(|e| match e {
            Event::Escaped { pid, evidence, .. } if *pid == escapee => Some(evidence.clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no escape of {escapee} in {rec:#?}"));
    eprintln!("evidence: {evidence}");
    assert!(evidence.contains(says), "{evidence}");
    let row = rec
        .ticks
        .iter()
        .flat_map(|t| &t.processes)
        .rfind(|p| p.pid == escapee)
        .unwrap();
    assert!(row.escaped && row.leaked, "{row:?}");
}

/// The accepted miss (README, "What attach mode misses"): pidfds see exits, not forks.
#[test]
fn without_the_connector_attach_mode_misses_the_same_escape_as_documented() {
    let (rec, escapee) = record_an_escape(DAEMONIZE, &[(NO_CONNECTOR_VAR, "1")], 3);
    assert_eq!(
        escapee.session, escapee.pid,
        "it leads a session of its own"
    );
    assert_missed(&rec, escapee.pid);
}

/// The recording names a fallback and why, and never has `escapee`.
fn assert_missed(rec: &Recording, escapee: u32) {
    assert_missed_because(rec, escapee, NO_CONNECTOR_VAR);
}

/// As [`assert_missed`], the fallback's reason saying `why`.
fn assert_missed_because(rec: &Recording, escapee: u32, why: &str) {
    let source = rec.header.events.clone().unwrap_or_default();
    assert!(
        source.starts_with("pidfd") || source.starts_with("ticks"),
        "{source}"
    );
    assert!(source.contains(why), "says why ({why}): {source}");
    assert!(
        !row_of(rec, escapee),
        "pidfds see no forks: missed, never guessed"
    );
}

/// The escapee stays in the group of a subreaper ancestor of the root, which adopts
/// it: this process of its own, made a subreaper and the leader of its group.
fn under_a_subreaper_leading_the_group(
    env: &[(&str, &str)],
    ticks_after: usize,
) -> (Recording, u32) {
    rustix::process::set_child_subreaper(rustix::process::Pid::from_raw(std::process::id() as i32))
        .unwrap();
    rustix::process::setpgid(None, None).unwrap();
    let (rec, escapee) = record_an_escape(DOUBLE_FORK, env, ticks_after);
    let me = std::process::id();
    assert_eq!(escapee.ppid, me, "adopted by the subreaper: {escapee:?}");
    assert_eq!(escapee.pgrp, me, "in the subreaper's group: {escapee:?}");
    (rec, escapee.pid)
}

#[test]
fn an_escape_into_a_group_led_by_a_subreaper_ancestor_is_caught_with_the_connector() {
    // A subreaper adopts every concurrent test's orphans: a process of its own.
    common::isolated(
        "record_events::an_escape_into_a_group_led_by_a_subreaper_ancestor_is_caught_with_the_connector",
        || {
            if !connector_here() {
                return;
            }
            let (rec, escapee) = under_a_subreaper_leading_the_group(&[], 4);
            assert_caught(&rec, escapee, "forked by");
        },
    );
}

#[test]
fn without_the_connector_an_escape_into_a_subreapers_group_is_the_documented_miss() {
    common::isolated(
        "record_events::without_the_connector_an_escape_into_a_subreapers_group_is_the_documented_miss",
        || {
            let (rec, escapee) = under_a_subreaper_leading_the_group(&[(NO_CONNECTOR_VAR, "1")], 3);
            assert_missed(&rec, escapee);
        },
    );
}

/// A process forked and exited between two ticks is in the recording whole (its
/// parent, that it exec'd, its exit code), and `run --record` and `report` count it.
#[test]
fn run_record_and_report_count_the_short_lived_processes_no_tick_saw() {
    if !connector_here() {
        return;
    }
    let tag = Tag::new();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run.ticklog");
    let run = tag
        .command(env!("CARGO_BIN_EXE_leaktop"))
        .args(["run", "--interval", "1s", "--record"])
        .arg(&out)
        .args(["--", "sh", "-c"])
        .arg("sleep 1.5; for i in 1 2 3 4 5; do /bin/true; done; sleep 1.5")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(0), "{stderr}");
    let rec = read(&out);
    let root = rec.header.root_pid;
    let trues = rec
        .ticks
        .iter()
        .flat_map(|t| &t.events)
        .filter(|e| {
            matches!(e, Event::ShortLived { exec: true, code: Some(0), ppid, .. }
                if *ppid == root)
        })
        .count();
    // Five in a few ms, between ticks a second apart: a tick may catch one, not all.
    assert!(trues >= 3, "no short lives of true in {rec:#?}");
    assert!(
        stderr.contains("leaktop: the recording holds ") && stderr.contains("short-lived process"),
        "{stderr}"
    );
    let report = common::leaktop().arg("report").arg(&out).output().unwrap();
    let text = String::from_utf8_lossy(&report.stdout);
    assert!(
        text.contains("\nbrief:     ") && text.contains("short-lived process"),
        "{text}"
    );
}

/// Root here, or the tests that drop privileges have nothing to drop.
fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// A link to (else a copy of) leaktop in a fresh directory that anyone may enter, for
/// a user who cannot reach the build tree; the directory goes with the value.
fn leaktop_for_anyone() -> (tempfile::TempDir, std::path::PathBuf) {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let bin = dir.path().join("leaktop");
    let built = Path::new(env!("CARGO_BIN_EXE_leaktop"));
    if std::fs::hard_link(built, &bin).is_err() {
        std::fs::copy(built, &bin).unwrap();
    }
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
    (dir, bin)
}

/// The daemonizing escape recorded by leaktop run through `setpriv ARGS`, into a
/// directory anyone may write: the recording, and the escapee.
fn escape_recorded_through_setpriv(setpriv: &[&str]) -> (Recording, ProcSample) {
    use std::os::unix::fs::PermissionsExt;
    let (_bin_dir, bin) = leaktop_for_anyone();
    let escape = Escape::recorded(DAEMONIZE, |root, out| {
        let dir = out.parent().unwrap();
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        let mut command = std::process::Command::new("setpriv");
        command.args(setpriv).arg(&bin);
        common::isolate(&mut command);
        Recorder::spawn_as(
            command,
            root,
            out,
            &["--quiet", "--interval", "1s", "--leak-grace", "1s"],
        )
    });
    let at_escape = read(&escape.out).ticks.len();
    escape.wait_for(|r| r.ticks.len() >= at_escape + 3);
    (read(&escape.out), escape.escapee)
}

/// As `nobody`, leaktop may not subscribe to the connector: the header names the
/// fallback and why, and the attach-mode escape is the documented miss.
#[test]
fn as_nobody_record_names_its_fallback_and_misses_the_escape_as_documented() {
    if !is_root() {
        eprintln!("skipped: not root, nothing to drop");
        return;
    }
    let (rec, escapee) =
        escape_recorded_through_setpriv(&["--reuid=65534", "--regid=65534", "--clear-groups"]);
    assert_eq!(
        escapee.session, escapee.pid,
        "it leads a session of its own"
    );
    assert_missed_because(&rec, escapee.pid, "not permitted");
}

/// Root without `CAP_NET_ADMIN` likewise.
#[test]
fn as_root_without_net_admin_record_names_its_fallback_and_misses_the_escape() {
    if !is_root() {
        eprintln!("skipped: not root, nothing to drop");
        return;
    }
    let (rec, escapee) =
        escape_recorded_through_setpriv(&["--inh-caps=-net_admin", "--bounding-set=-net_admin"]);
    assert_eq!(
        escapee.session, escapee.pid,
        "it leads a session of its own"
    );
    assert_missed_because(&rec, escapee.pid, "not permitted");
}
