//! Verdicts on real processes (issue 13): innocent shapes that used to be called
//! leaked, and orphans that exit by themselves within the leak grace.

use crate::common;

use common::{Family, Recorder, wait_until};
use leaktop::format::{self, Recording};

fn read(path: &std::path::Path) -> Recording {
    format::read(path).unwrap_or_else(|e| panic!("{e}"))
}

/// Every row, at any tick of `rec`, that says leaked.
fn leaked_rows(rec: &Recording) -> Vec<&leaktop::model::ProcRow> {
    rec.ticks
        .iter()
        .flat_map(|t| t.processes.iter().filter(|p| p.leaked))
        .collect()
}

/// Every pid any tick of `rec` lists.
fn listed(rec: &Recording) -> std::collections::BTreeSet<u32> {
    rec.ticks
        .iter()
        .flat_map(|t| t.processes.iter().map(|p| p.pid))
        .collect()
}

/// A script starts the root the usual way, `( server & )`, and later, the same way,
/// a sleep and a second recorder: all three are init's children in the script's
/// process group and session. Neither the sleep nor the recorder is the root's
/// family; they used to be "escaped" members (and `K` would have killed them).
#[test]
fn what_the_same_script_backgrounds_later_is_not_the_roots_family() {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("root.pid");
    let go = dir.path().join("go");
    let script = format!(
        "(sleep 301 & echo $! > {pid}); while [ ! -e {go} ]; do sleep 0.05; done; \
         (sleep 302 &); ({leaktop} record --quiet --pid $(cat {pid}) --ticks 20 --interval 100ms --out /dev/null &); \
         echo later; sleep 30",
        pid = pidfile.display(),
        go = go.display(),
        leaktop = env!("CARGO_BIN_EXE_leaktop"),
    );
    let mut script = Family::spawn("sh", &["-c", &script]);
    assert!(wait_until(common::PATIENCE, || {
        std::fs::read_to_string(&pidfile).is_ok_and(|s| s.ends_with('\n'))
    }));
    let root: u32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let out = dir.path().join("root.ndjson");
    let rec = Recorder::start(root, &out, &["--interval", "100ms", "--ticks", "15"]);
    rec.wait_ticks(2);
    std::fs::write(&go, "").unwrap();
    assert_eq!(script.read_line(), "later");
    let (code, stderr) = rec.finish();
    assert_eq!(code, Some(0), "{stderr}");
    let rec = read(&out);
    assert_eq!(rec.ticks.len(), 15);
    assert_eq!(
        listed(&rec).into_iter().collect::<Vec<_>>(),
        [root],
        "{:#?}",
        rec.ticks.last()
    );
}

/// A `multiprocessing.Pool` (fork) whose parent is SIGKILLed: its workers see EOF
/// and exit by themselves within milliseconds (a 20x margin under the 1 s grace).
/// Sampled every 20 ms, they used to be called leaked in about half the trials.
#[test]
fn pool_workers_that_exit_after_their_parent_are_not_leaks() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("pool.py");
    std::fs::write(
        &script,
        "import multiprocessing as mp, os, time\n\
         if __name__ == '__main__':\n    \
             pool = mp.get_context('fork').Pool(4)\n    \
             pool.map(abs, range(8))\n    \
             print(os.getpid(), flush=True)\n    \
             time.sleep(3600)\n",
    )
    .unwrap();
    let mut pool = Family::spawn("python3", &[script.to_str().unwrap()]);
    assert_eq!(pool.read_line(), pool.pid().to_string());
    let out = dir.path().join("pool.ndjson");
    let rec = Recorder::start(pool.pid(), &out, &["--interval", "20ms"]);
    rec.wait_ticks(3);
    assert_eq!(read(&out).ticks.last().unwrap().processes.len(), 5);
    pool.kill_root();
    // The recorder ends by itself once the family is gone.
    assert!(
        wait_until(common::PATIENCE, || pool.tagged_pids().is_empty()),
        "workers still alive: {:?}",
        pool.tagged_pids()
    );
    let (code, stderr) = rec.finish();
    assert_eq!(code, Some(0), "{stderr}");
    let rec = read(&out);
    let leaked = leaked_rows(&rec);
    assert!(leaked.is_empty(), "{leaked:#?}");
}

/// An orderly shutdown: the parent exits first and its worker drains for 300 ms (over
/// 3x under the 1 s grace) before it exits too. Not a leak.
#[test]
fn a_worker_that_drains_after_its_parent_exits_is_not_a_leak() {
    let dir = tempfile::tempdir().unwrap();
    let go = dir.path().join("go");
    let script = format!(
        "echo go; while [ ! -e {} ]; do sleep 0.02; done; (sleep 0.3; true) & exit 0",
        go.display()
    );
    let mut tree = Family::spawn("sh", &["-c", &script]);
    assert_eq!(tree.read_line(), "go");
    let out = dir.path().join("drain.ndjson");
    let rec = Recorder::start(tree.pid(), &out, &["--interval", "50ms"]);
    rec.wait_ticks(2);
    std::fs::write(&go, "").unwrap();
    let (code, stderr) = rec.finish();
    assert_eq!(code, Some(0), "{stderr}");
    let rec = read(&out);
    assert!(
        rec.ticks
            .iter()
            .any(|t| !t.processes.is_empty() && !t.root_alive),
        "the worker was never seen outliving its parent: {:#?}",
        rec.ticks
    );
    let leaked = leaked_rows(&rec);
    assert!(leaked.is_empty(), "{leaked:#?}");
}

/// `sleep 400 | sh -c '(sleep 401 &); sleep 400'` in a shell with job control: the
/// first element leads the pipeline's process group, the second joins it. Watched at
/// the first, the second's orphaned grandchild shares the group but is no member
/// (the second element, the shell's child, holds the group too). It used to be
/// flagged escaped, and K killed it.
#[test]
fn a_pipelines_other_element_leaves_no_escapee_of_the_first() {
    let dir = tempfile::tempdir().unwrap();
    let go = dir.path().join("go");
    // The shell's part: fork each element into the first one's process group.
    let shell = format!(
        r#"
import os, sys, time
def element():
    # Off the test's pipe: a child holding it would keep the test's read waiting.
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 1)
def join(pid, group):
    # As shells do, in parent and child both; the parent's call fails harmlessly
    # (EACCES) once the child has exec'd.
    try:
        os.setpgid(pid, group)
    except PermissionError:
        pass
first = os.fork()
if first == 0:
    element()
    join(0, 0)
    os.execvp("sleep", ["sleep", "400"])
join(first, first)
second = os.fork()
if second == 0:
    element()
    join(0, first)
    while not os.path.exists({go:?}):
        time.sleep(0.02)
    os.execvp("sh", ["sh", "-c", "(sleep 401 >/dev/null 2>&1 &); sleep 400"])
print(first, flush=True)
time.sleep(3600)
"#,
        go = go.to_str().unwrap()
    );
    let mut shell = Family::spawn("python3", &["-c", &shell]);
    let first: u32 = shell.read_line().parse().unwrap();
    let out = dir.path().join("pipe.ndjson");
    let rec = Recorder::start(first, &out, &["--interval", "100ms", "--ticks", "20"]);
    rec.wait_ticks(2);
    std::fs::write(&go, "").unwrap();
    let (code, stderr) = rec.finish();
    assert_eq!(code, Some(0), "{stderr}");
    let rec = read(&out);
    assert_eq!(
        listed(&rec).into_iter().collect::<Vec<_>>(),
        [first],
        "{:#?}",
        rec.ticks.last()
    );
    // The orphan exists and shares the group: the test showed what it meant to.
    let orphan = shell.tagged_pids().into_iter().find(|&p| {
        std::fs::read_to_string(format!("/proc/{p}/cmdline")).is_ok_and(|c| c == "sleep\x00401\x00")
    });
    let stat =
        std::fs::read_to_string(format!("/proc/{}/stat", orphan.expect("sleep 401"))).unwrap();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap()
        .split_whitespace()
        .collect();
    assert_eq!(fields[2], first.to_string(), "in the first element's group");
}

/// `leaktop --pid 2`: kthreadd (parent 0, process group and session 0). Init's other
/// children live in session 0 too; none of them is its family.
#[test]
fn kthreadds_family_is_its_kernel_threads_only() {
    // In a PID namespace of its own (unshare -p), pid 2 is an ordinary process.
    if std::fs::read_to_string("/proc/2/comm").map_or(true, |c| c.trim() != "kthreadd") {
        eprintln!("skipped: pid 2 is not kthreadd in this PID namespace");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("kthreadd.ndjson");
    let rec = Recorder::start(2, &out, &["--interval", "100ms", "--ticks", "5"]);
    let (code, stderr) = rec.finish();
    assert_eq!(code, Some(0), "{stderr}");
    let rec = read(&out);
    let last = rec.ticks.last().unwrap();
    assert!(
        last.processes
            .iter()
            .all(|p| (p.pid == 2 || p.ppid == 2) && !p.leaked && !p.escaped),
        "{:#?}",
        last.processes
            .iter()
            .filter(|p| p.ppid != 2)
            .collect::<Vec<_>>()
    );
}
