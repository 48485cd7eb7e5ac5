//! `leaktop orphans` on real processes: pools really orphaned (their parent SIGKILLed
//! before leaktop starts), a daemon by design, a healthy family, a killed `leaktop
//! run`, a subreaper. Other tests on the machine leave orphans of their own: every
//! assertion looks only at the groups and pids these tests made.

use crate::common;

use std::io::BufRead;
use std::os::unix::process::CommandExt;
use std::process::Stdio;
use std::time::Duration;

use common::{Family, Signal, Tag, alive, children_of, leaktop, signal, wait_until};
use serde_json::Value;

/// `leaktop orphans --json --older-than 0s ARGS`: the parsed object.
pub(crate) fn orphans_json(args: &[&str]) -> Value {
    orphans_json_with(leaktop(), args)
}

/// [`orphans_json`] through `leaktop`, a command set up by the caller.
pub(crate) fn orphans_json_with(leaktop: std::process::Command, args: &[&str]) -> Value {
    serde_json::from_slice(&orphans_stdout(leaktop, &[&["--json"], args].concat())).unwrap()
}

/// `leaktop orphans --older-than 0s ARGS` through `leaktop`: its standard output, once
/// it succeeded.
pub(crate) fn orphans_stdout(mut leaktop: std::process::Command, args: &[&str]) -> Vec<u8> {
    let out = leaktop
        .args(["orphans", "--older-than", "0s"])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

pub(crate) fn group<'a>(v: &'a Value, id: &str) -> Option<&'a Value> {
    v["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["id"] == id)
}

pub(crate) fn group_pids(g: &Value) -> Vec<u32> {
    let mut pids: Vec<u32> = g["processes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["pid"].as_u64().unwrap() as u32)
        .collect();
    pids.sort_unstable();
    pids
}

/// Every process in the tree under `pid`, `pid` excluded.
pub(crate) fn descendants(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    let mut stack = children_of(pid);
    while let Some(p) = stack.pop() {
        out.push(p);
        stack.extend(children_of(p));
    }
    out.sort_unstable();
    out
}

/// A forkserver pool whose parent (its own process-group leader, as a shell's job)
/// is SIGKILLed: the pool's processes, now under init.
pub(crate) fn orphaned_pool(dir: &std::path::Path) -> (Family, u32, Vec<u32>) {
    let mut pool = Family::spawn_pool(dir);
    let leader = pool.pid();
    let members = descendants(leader);
    assert!(
        members.len() >= 5,
        "tracker, forkserver, 3 workers: {members:?}"
    );
    pool.kill_root();
    assert!(wait_until(common::PATIENCE, || members
        .iter()
        .all(|&m| common::ppid(m) != Some(leader))));
    (pool, leader, members)
}

#[test]
fn two_orphaned_pools_are_two_groups_and_the_kill_ends_exactly_one() {
    let dir = tempfile::tempdir().unwrap();
    let (_a, leader_a, members_a) = orphaned_pool(dir.path());
    let (_b, leader_b, members_b) = orphaned_pool(dir.path());
    // A daemon by design: double fork, setsid, stdio on /dev/null.
    let tag = Tag::new();
    let pidfile = dir.path().join("daemon.pid");
    let status = tag
        .command("python3")
        .args(["-c", DAEMON, pidfile.to_str().unwrap()])
        .stdin(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    assert!(wait_until(common::PATIENCE, || pidfile.exists()));
    let daemon: u32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // A healthy family: a live parent (its own group) and its child.
    let mut healthy = Family::spawn("python3", &["-c", HEALTHY]);
    let child: u32 = healthy.read_line().parse().unwrap();

    let v = orphans_json(&[]);
    let ga = group(&v, &format!("pg-{leader_a}")).expect("pool a is listed");
    let gb = group(&v, &format!("pg-{leader_b}")).expect("pool b is listed");
    assert_eq!(
        group_pids(ga),
        members_a,
        "exactly the tracker, forkserver, workers"
    );
    assert_eq!(group_pids(gb), members_b);
    let evidence = ga["evidence"].to_string();
    assert!(
        evidence.contains(&format!("process group {leader_a}'s leader is gone")),
        "{evidence}"
    );
    let listed: Vec<u32> = v["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(group_pids)
        .collect();
    for pid in [daemon, healthy.pid(), child] {
        assert!(alive(pid));
        assert!(!listed.contains(&pid), "{pid} is no orphan: {v}");
    }

    // --group ID --kill --yes ends exactly that group.
    let out = leaktop()
        .args(["orphans", "--older-than", "0s", "--group"])
        .arg(format!("pg-{leader_a}"))
        .args(["--kill", "--yes", "--grace", "1s"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(&format!(
            "ended pg-{leader_a}: all {} processes",
            members_a.len()
        )),
        "{stdout}"
    );
    assert!(stdout.contains("freed"), "{stdout}");
    assert!(wait_until(common::PATIENCE, || members_a
        .iter()
        .all(|&p| !alive(p))));
    assert!(
        members_b.iter().all(|&p| alive(p)),
        "the other pool survives"
    );
    assert!(alive(daemon) && alive(child));
    signal(daemon, Signal::KILL);
    let _ = healthy.root.kill();
}

/// Double fork, setsid, stdio on /dev/null; writes its pid to argv[1].
pub(crate) const DAEMON: &str = r#"
import os, sys, time
if os.fork(): os._exit(0)
os.setsid()
if os.fork(): os._exit(0)
fd = os.open("/dev/null", os.O_RDWR)
for i in range(3): os.dup2(fd, i)
open(sys.argv[1] + ".tmp", "w").write(str(os.getpid()))
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
time.sleep(3600)
"#;

/// A live parent with a child; prints the child's pid.
const HEALTHY: &str = r#"
import os, subprocess, sys, time
c = subprocess.Popen(["sleep", "3600"])
print(c.pid, flush=True)
time.sleep(3600)
"#;

#[test]
fn bad_input_is_one_line_and_signals_nothing() {
    for (args, needle) in [
        (
            &["--group", "pg-999999999"][..],
            "no orphan group 'pg-999999999'",
        ),
        (
            &["--match", "no-such-command-zq81"][..],
            "matches 'no-such-command-zq81'",
        ),
        (&["--kill"][..], "--kill needs a terminal"),
    ] {
        let out = leaktop()
            .arg("orphans")
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?}");
        assert!(err.contains(needle), "{args:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
    }
}

/// CMD under `leaktop run` starts a child that outlives it; prints the child's pid.
const RUN_CMD: &str = r#"
import os, subprocess, sys, time
c = subprocess.Popen(["sleep", "3600"])
print(c.pid, flush=True)
time.sleep(3600)
"#;

#[test]
fn survivors_of_a_killed_leaktop_run_are_attributed_to_the_run() {
    let tag = Tag::new();
    // The run's record (which vouches for the marker) is kept here.
    let runtime = tempfile::tempdir().unwrap();
    let mut run = tag
        .command(env!("CARGO_BIN_EXE_leaktop"))
        .env("XDG_RUNTIME_DIR", runtime.path())
        .args(["run", "--", "python3", "-c", RUN_CMD])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .unwrap();
    let run_pid = run.id();
    let mut line = String::new();
    std::io::BufReader::new(run.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    let survivor: u32 = line.trim().parse().unwrap();
    // leaktop itself dies; CMD gets SIGTERM (PR_SET_PDEATHSIG), its child lives on.
    signal(run_pid, Signal::KILL);
    let _ = run.wait();
    assert!(wait_until(common::PATIENCE, || common::ppid(survivor)
        .is_some_and(
            |pp| pp != run_pid && !children_of(run_pid).contains(&survivor)
        )));
    let mut reader = leaktop();
    reader.env("XDG_RUNTIME_DIR", runtime.path());
    let v = orphans_json_with(reader, &[]);
    let g = v["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| group_pids(g).contains(&survivor))
        .unwrap_or_else(|| panic!("{survivor} is listed: {v}"));
    let id = g["id"].as_str().unwrap();
    assert!(id.starts_with(&format!("run-{run_pid}.")), "{id}");
    assert_eq!(g["evidence"][0]["kind"], "run_marker", "{g}");
    assert_eq!(g["strength"], "strong");
}

/// A subreaper (PR_SET_CHILD_SUBREAPER) starts a job in its own process group that
/// forks a worker; on a line on stdin the job exits and the subreaper adopts the
/// worker. Prints "job worker".
const SUBREAPER: &str = r#"
import ctypes, os, sys, time
ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)
r, w = os.pipe()
job = os.fork()
if job == 0:
    os.setpgid(0, 0)
    worker = os.fork()
    if worker == 0:
        time.sleep(3600); os._exit(0)
    print(os.getpid(), worker, flush=True)
    os.read(r, 1)
    os._exit(0)
sys.stdin.readline()
os.write(w, b"x")
os.waitpid(job, 0)
time.sleep(3600)
"#;

#[test]
fn an_orphan_adopted_by_a_subreaper_is_found_by_watching() {
    let tag = Tag::new();
    let mut reaper = tag
        .command("python3")
        .args(["-c", SUBREAPER])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .process_group(0)
        .spawn()
        .unwrap();
    let mut line = String::new();
    let mut reaper_out = std::io::BufReader::new(reaper.stdout.take().unwrap());
    reaper_out.read_line(&mut line).unwrap();
    let mut it = line.split_whitespace().map(|p| p.parse::<u32>().unwrap());
    let (job, worker) = (it.next().unwrap(), it.next().unwrap());

    let mut watch = tag
        .command(env!("CARGO_BIN_EXE_leaktop"))
        .args([
            "orphans",
            "--watch",
            "--json",
            "--interval",
            "100ms",
            "--older-than",
            "0s",
        ])
        .args(["--group", &format!("pg-{job}")])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The watch sees the job with its worker (it says so after its first scan), then
    // the worker adopted.
    let mut said = String::new();
    std::io::BufReader::new(watch.stderr.take().unwrap())
        .read_line(&mut said)
        .unwrap();
    assert!(said.contains("watching for new orphan groups"), "{said}");
    use std::io::Write;
    reaper.stdin.as_mut().unwrap().write_all(b"go\n").unwrap();
    reaper.stdin.as_mut().unwrap().flush().unwrap();
    let reaper_pid = reaper.id();
    assert!(wait_until(common::PATIENCE, || common::ppid(worker)
        == Some(reaper_pid)));
    let mut out = std::io::BufReader::new(watch.stdout.take().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut l = String::new();
        let _ = out.read_line(&mut l);
        let _ = tx.send(l);
    });
    let got = rx.recv_timeout(common::PATIENCE);
    let _ = watch.kill();
    let _ = watch.wait();
    let _ = reaper.kill();
    let _ = reaper.wait();
    let got = got.expect("the watch reported the group");
    let g: Value = serde_json::from_str(&got).unwrap();
    assert_eq!(g["id"], format!("pg-{job}"));
    assert_eq!(group_pids(&g), [worker]);
    assert_eq!(g["processes"][0]["ppid"], reaper_pid);
}

/// A job in its own process group starts a sleeper and a busy loop, prints their
/// pids and exits: both are orphaned under init.
const IDLE_AND_BUSY: &str = r#"
import os, subprocess
os.setpgid(0, 0)
quiet = dict(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
s = subprocess.Popen(["sleep", "3600"], **quiet)
b = subprocess.Popen(["sh", "-c", "while :; do :; done"], **quiet)
print(s.pid, b.pid, flush=True)
os._exit(0)
"#;

#[test]
fn a_sleeper_is_idle_since_it_slept_and_a_busy_loop_is_not() {
    if !std::path::Path::new("/proc/self/sched").exists() {
        eprintln!("skipped: no /proc/PID/sched (CONFIG_SCHED_DEBUG)");
        return;
    }
    let tag = Tag::new();
    let out = tag
        .command("python3")
        .args(["-c", IDLE_AND_BUSY])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .unwrap();
    let line = String::from_utf8_lossy(&out.stdout);
    let pids: Vec<u32> = line
        .split_whitespace()
        .map(|p| p.parse().unwrap())
        .collect();
    let [sleeper, busy] = pids[..] else {
        panic!("two pids: {line}")
    };
    let state = |pid: u32| {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|s| {
                s.rsplit(')')
                    .next()?
                    .split_whitespace()
                    .next()
                    .map(String::from)
            })
    };
    assert!(wait_until(common::PATIENCE, || state(sleeper).as_deref() == Some("S")));
    let asleep = std::time::Instant::now();
    std::thread::sleep(Duration::from_secs(2));
    let least = asleep.elapsed().as_millis() as u64 * 9 / 10;
    // --all: with stdio on /dev/null and no shell holding the session (as on a CI
    // runner, session 0) they look like daemons by design.
    let v = orphans_json(&["--all"]);
    let process = |pid: u32| {
        v["groups"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|g| g["processes"].as_array().unwrap())
            .find(|p| p["pid"] == pid)
            .unwrap_or_else(|| panic!("{pid} is listed: {v}"))
            .clone()
    };
    let (s, b) = (process(sleeper), process(busy));
    let idle = |p: &Value| {
        p["idle_ms"]
            .as_u64()
            .unwrap_or_else(|| panic!("known: {p}"))
    };
    assert!(idle(&s) >= least, "asleep for {least} ms at least: {s}");
    assert!(
        idle(&s) <= s["age_ms"].as_u64().unwrap() + 20,
        "never idle for longer than it lived: {s}"
    );
    assert!(idle(&b) < 2_000, "a busy loop runs all the time: {b}");
    signal(busy, Signal::KILL);
    signal(sleeper, Signal::KILL);
}

/// `orphans --watch | head -1`: once the reader is gone the watch ends quietly, though
/// it may have nothing to write for hours.
#[test]
fn watch_ends_quietly_when_its_reader_goes_away() {
    let mut watch = leaktop()
        .args(["orphans", "--watch", "--interval", "1h"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    drop(watch.stdout.take());
    let ended = wait_until(common::PATIENCE, || matches!(watch.try_wait(), Ok(Some(_))));
    if !ended {
        let _ = watch.kill();
    }
    let out = watch.wait_with_output().unwrap();
    assert!(ended, "still watching a closed pipe");
    assert!(out.status.success(), "{:?}", out.status);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("error"), "{stderr}");
}

/// A job in a session of its own: it starts `argv[1]` members, each of which, on
/// SIGTERM, double-forks (a child that forks a sleeper and exits at once) and exits;
/// once they are ready it prints its pid (the members' process group and session)
/// and exits, leaving them orphaned.
const DOUBLE_FORKERS: &str = r#"
import os, subprocess, sys
os.setsid()
member = r'''
import os, signal, sys, time
def term(*_):
    if os.fork() == 0:
        if os.fork() == 0:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            time.sleep(3600)
        os._exit(0)
    os._exit(0)
signal.signal(signal.SIGTERM, term)
print("ready", flush=True)
while True:
    time.sleep(3600)
'''
members = [subprocess.Popen([sys.executable, "-c", member], stdout=subprocess.PIPE)
           for _ in range(int(sys.argv[1]))]
for m in members:
    m.stdout.readline()
print(os.getpid(), flush=True)
"#;

/// `orphans --kill` on a group whose members double-fork in their SIGTERM handler:
/// what they fork and orphan while dying is found (it can only have come from them)
/// and ended in a further round, counted, and nothing of the group lives on. Through
/// the kernel's fork events where leaktop may hear them (root), and through the
/// group's session alone (`LEAKTOP_NO_CONNECTOR`, as for any user).
#[test]
fn a_kill_ends_what_a_group_double_forks_while_dying_and_says_so() {
    for no_connector in ["0", "1"] {
        kill_double_forkers(no_connector);
    }
}

fn kill_double_forkers(no_connector: &str) {
    let tag = Tag::new();
    let mut job = tag
        .command("python3")
        .args(["-c", DOUBLE_FORKERS, "6"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(job.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    let leader: u32 = line.trim().parse().unwrap();
    let _ = job.wait();
    let members = tag.live();
    assert_eq!(members.len(), 6, "{members:?}");

    let out = leaktop()
        .env("LEAKTOP_NO_CONNECTOR", no_connector)
        .args(["orphans", "--older-than", "0s", "--group"])
        .arg(format!("pg-{leader}"))
        .args(["--kill", "--yes", "--grace", "3s"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{no_connector}: {stdout}{stderr}");
    let left = tag.live();
    assert!(
        left.is_empty(),
        "what the group forked while dying lives on: {left:?}\n{stdout}{stderr}"
    );
    assert!(
        stdout.contains(&format!("ended pg-{leader}: all 6 processes")),
        "{stdout}"
    );
    let escaped: usize = stdout
        .lines()
        .find_map(|l| {
            l.strip_prefix("ended too: ")?
                .split(' ')
                .next()?
                .parse()
                .ok()
        })
        .unwrap_or_else(|| panic!("no count of what escaped: {stdout}"));
    assert!(escaped >= 6, "one sleeper per member at least: {stdout}");
}

/// Issue 28: a one-line-per-group summary for scripts, agreeing with the JSON: 8
/// tab-separated fields, figures in KiB, and nothing on standard output but the lines
/// (the watcher note goes to stderr).
#[test]
fn the_summary_is_one_tab_separated_line_per_group_for_scripts() {
    let dir = tempfile::tempdir().unwrap();
    let (_pool, leader, members) = orphaned_pool(dir.path());
    let id = format!("pg-{leader}");
    let out = orphans_stdout(leaktop(), &["--format", "summary", "--group", &id]);
    let stdout = String::from_utf8(out).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "{stdout}");
    let fields: Vec<&str> = lines[0].split('\t').collect();
    assert_eq!(fields.len(), 8, "{stdout}");
    let v = orphans_json(&["--group", &id]);
    let g = group(&v, &id).unwrap();
    assert_eq!(fields[0], id);
    assert_eq!(fields[1], g["strength"].as_str().unwrap());
    assert_eq!(fields[2], members.len().to_string());
    // Two scans a moment apart: the same processes, figures in KiB of the same size.
    let rss: u64 = fields[3].parse().unwrap();
    let json_rss = g["rss_kb"].as_u64().unwrap();
    assert!(rss.abs_diff(json_rss) < json_rss / 4, "{rss} vs {json_rss}");
    assert!(
        fields[4] == "?" || fields[4].parse::<u64>().is_ok(),
        "{stdout}"
    );
    assert_eq!(fields[6], g["evidence"][0]["kind"].as_str().unwrap());
    assert!(fields[7].contains("multiprocessing"), "{stdout}");
}
