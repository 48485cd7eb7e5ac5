//! Real processes: what a leaked pool of forked workers costs, by RSS and by PSS.

use crate::common;

use std::time::Duration;

use common::{Family, Recorder, Signal, Tag, wait_until};
use leaktop::format::read;
use leaktop::model::Tick;

/// A parent that holds 200 MB (every page touched), forks six workers that share it
/// copy-on-write, prints its pid and waits to be killed.
const SHARING_PARENT: &str = r#"
import os, sys, time
blob = bytearray(200 * 1024 * 1024)
blob[::4096] = b"\x01" * len(range(0, len(blob), 4096))
for _ in range(6):
    if os.fork() == 0:
        time.sleep(3600)
        os._exit(0)
print(os.getpid(), flush=True)
time.sleep(3600)
"#;

/// (PSS, USS) in KiB from `/proc/PID/smaps_rollup`, parsed here independently of
/// leaktop.
fn rollup(pid: u32) -> (u64, u64) {
    let text = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).unwrap();
    let field = |key: &str| -> u64 {
        text.lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or_else(|| panic!("no {key} in {text}"))
    };
    (
        field("Pss:"),
        field("Private_Clean:") + field("Private_Dirty:"),
    )
}

fn within(actual: u64, expected: u64, share: f64) -> bool {
    (actual as f64 - expected as f64).abs() <= expected as f64 * share
}

/// The first tick at which the root was gone, and the last tick if by then all six
/// workers are leaked with PSS read after the root died.
fn measured_after_death(ticks: &[Tick]) -> Option<&Tick> {
    let died = ticks.iter().find(|t| !t.root_alive)?.tick;
    let last = ticks.last()?;
    let leaked: Vec<_> = last.processes.iter().filter(|p| p.leaked).collect();
    (leaked.len() == 6 && leaked.iter().all(|p| p.mem_tick.is_some_and(|t| t > died)))
        .then_some(last)
}

#[test]
fn leaked_workers_sharing_200_mb_cost_their_pss_not_their_rss() {
    let dir = tempfile::tempdir().unwrap();
    let mut family = Family::spawn("python3", &["-c", SHARING_PARENT]);
    let root = family.pid();
    assert_eq!(family.read_line(), root.to_string());
    let workers = common::children_of(root);
    assert_eq!(workers.len(), 6, "{workers:?}");

    let out = dir.path().join("pool.ndjson");
    let rec = Recorder::start(root, &out, &["--interval", "200ms"]);
    rec.wait_ticks(2);
    common::signal(root, Signal::KILL);
    let _ = family.root.wait();
    // The leak grace is 1 s; then the workers' PSS must be read once more (it grew
    // by a sixth when their parent's share went away).
    let ok = wait_until(Duration::from_secs(30), || {
        read(&out).is_ok_and(|r| measured_after_death(&r.ticks).is_some())
    });
    let recording = read(&out).unwrap();
    assert!(
        ok,
        "no tick with the six workers leaked and measured: {:?}",
        recording.ticks.last()
    );
    let tick = measured_after_death(&recording.ticks).unwrap().clone();
    drop(rec);

    let (mut pss, mut uss) = (0, 0);
    for &pid in &workers {
        let (p, u) = rollup(pid);
        pss += p;
        uss += u;
    }
    let rec_pss = tick.leaked_pss_kb();
    let rec_uss = tick.leaked_uss_kb();
    let rss = tick.leaked_rss_kb();
    eprintln!(
        "leaked: RSS {rss} KiB, PSS {} KiB (recorded) vs {pss} KiB (read), USS {} vs {uss} KiB",
        rec_pss.kb, rec_uss.kb
    );
    assert_eq!((rec_pss.unknown, rec_uss.unknown), (0, 0));
    assert!(within(rec_pss.kb, pss, 0.10), "PSS {} vs {pss}", rec_pss.kb);
    assert!(within(rec_uss.kb, uss, 0.10), "USS {} vs {uss}", rec_uss.kb);
    // The point: 200 MB shared six ways is counted six times by RSS, once by PSS.
    assert!(
        pss >= 190 * 1024,
        "the workers share the 200 MB: PSS {pss} KiB"
    );
    assert!(rss > 4 * pss, "RSS {rss} KiB vs PSS {pss} KiB");
}

/// As [`SHARING_PARENT`], but the parent prints its workers' pids and then exits by
/// itself: a command `leaktop run` watches.
const LEAVING_PARENT: &str = r#"
import os, sys, time
blob = bytearray(200 * 1024 * 1024)
blob[::4096] = b"\x01" * len(range(0, len(blob), 4096))
pids = []
for _ in range(6):
    pid = os.fork()
    if pid == 0:
        time.sleep(3600)
        os._exit(0)
    pids.append(pid)
print(" ".join(map(str, pids)), flush=True)
time.sleep(0.6)
os._exit(0)
"#;

/// `~N.NN MiB freed (PSS)` in a line of `run --kill-leaks`, as KiB.
fn freed_pss_kb(stderr: &str) -> Option<u64> {
    let at = stderr.find(" freed (PSS)")?;
    let head = &stderr[..at];
    let figure = &head[head.rfind('~')? + 1..];
    let (n, unit) = figure.split_once(' ')?;
    let n: f64 = n.parse().ok()?;
    let scale = match unit {
        "KiB" => 1.0,
        "MiB" => 1024.0,
        "GiB" => 1024.0 * 1024.0,
        _ => return None,
    };
    Some((n * scale) as u64)
}

/// The parent pid in `/proc/PID/stat`, or `None` once it is gone.

#[test]
fn kill_leaks_says_it_freed_the_pss_of_the_pool_not_its_rss() {
    use std::io::{BufRead, BufReader, Read};
    let tag = Tag::new();
    let mut child = tag
        .command(env!("CARGO_BIN_EXE_leaktop"))
        .args([
            "run",
            "--kill-leaks",
            "--grace",
            "1s",
            "--interval",
            "200ms",
            "--",
        ])
        .args(["python3", "-c", LEAVING_PARENT])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start leaktop run");
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut stderr = child.stderr.take().unwrap();
    let mut run = common::Reaped(child);
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let workers: Vec<u32> = line
        .split_whitespace()
        .map(|p| p.parse().unwrap())
        .collect();
    assert_eq!(workers.len(), 6, "{line:?}");
    let parent = common::ppid(workers[0]).unwrap();
    // Once their parent is gone (and before the 1 s leak grace ends), what they hold.
    assert!(wait_until(Duration::from_secs(10), || {
        workers
            .iter()
            .all(|&w| common::ppid(w).is_some_and(|p| p != parent))
    }));
    let pss: u64 = workers.iter().map(|&w| rollup(w).0).sum();

    let done = wait_until(Duration::from_secs(30), || {
        matches!(run.0.try_wait(), Ok(Some(_)))
    });
    // The workers hold the stderr pipe too: make sure they are gone before reading it.
    for &w in &workers {
        common::signal(w, Signal::KILL);
    }
    let mut err = String::new();
    stderr.read_to_string(&mut err).unwrap();
    assert!(done, "leaktop run did not finish: {err}");
    eprintln!("workers' PSS {pss} KiB; leaktop said: {err}");
    assert!(err.contains("ended 6 leaked processes"), "{err}");
    let said = freed_pss_kb(&err).unwrap_or_else(|| panic!("no PSS figure: {err}"));
    assert!(
        within(said, pss, 0.25),
        "said {said} KiB freed, PSS was {pss} KiB"
    );
}

/// Another user's process: its `smaps_rollup` cannot be read, so its PSS is unknown
/// (absent), never 0. Needs root to start the two users (skipped otherwise).
#[test]
fn another_users_process_has_unknown_memory_not_zero() {
    if !rustix::process::geteuid().is_root() || !std::path::Path::new("/usr/bin/setpriv").exists() {
        eprintln!("skipped: needs root and setpriv");
        return;
    }
    let tag = Tag::new();
    let as_user = |uid: &str| {
        let mut c = tag.command("/usr/bin/setpriv");
        c.args([
            &format!("--reuid={uid}"),
            &format!("--regid={uid}"),
            "--clear-groups",
        ]);
        c
    };
    let target = common::Reaped(as_user("65534").args(["sleep", "300"]).spawn().unwrap());
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o777),
    )
    .unwrap();
    let out = dir.path().join("other.ndjson");
    let recorder = common::Reaped(
        as_user("65533")
            .arg(env!("CARGO_BIN_EXE_leaktop"))
            .args(["record", "--quiet", "--interval", "100ms", "--pid"])
            .arg(target.id().to_string())
            .arg("--out")
            .arg(&out)
            .spawn()
            .unwrap(),
    );
    assert!(wait_until(Duration::from_secs(20), || {
        read(&out).is_ok_and(|r| r.ticks.len() >= 5)
    }));
    drop(recorder);
    let rec = read(&out).unwrap();
    for t in &rec.ticks {
        let row = t.processes.iter().find(|p| p.pid == target.id()).unwrap();
        assert_eq!(
            (row.pss_kb, row.uss_kb, row.mem_tick),
            (None, None, None),
            "{row:?}"
        );
    }
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(!text.contains("\"pss_kb\""), "unknown is absent, not 0");
}

/// `record --no-pss` never reads smaps_rollup: every PSS/USS/swap figure is unknown
/// (null), never 0, while the same family recorded without it has PSS.
#[test]
fn no_pss_leaves_every_pss_figure_unknown() {
    let dir = tempfile::tempdir().unwrap();
    let mut family = Family::spawn("python3", &["-c", SHARING_PARENT]);
    let root = family.pid();
    assert_eq!(family.read_line(), root.to_string());
    let without = dir.path().join("without.ndjson");
    let with = dir.path().join("with.ndjson");
    let off = Recorder::start(root, &without, &["--interval", "100ms", "--no-pss"]);
    let on = Recorder::start(root, &with, &["--interval", "100ms"]);
    off.wait_ticks(10);
    on.wait_ticks(10);
    drop((off, on));
    let rows = |path| {
        read(path)
            .unwrap()
            .ticks
            .into_iter()
            .flat_map(|t| t.processes)
            .collect::<Vec<_>>()
    };
    let off_rows = rows(&without);
    assert!(off_rows.len() >= 70, "{} rows", off_rows.len());
    assert!(
        off_rows
            .iter()
            .all(|r| (r.pss_kb, r.uss_kb, r.swap_kb, r.mem_tick) == (None, None, None, None)),
        "a figure was read with --no-pss"
    );
    assert!(
        rows(&with)
            .iter()
            .any(|r| r.pss_kb.is_some_and(|kb| kb > 0)),
        "without --no-pss some PSS is read"
    );
    drop(family);
}

/// A parent that maps 32 MiB of shared memory (an anonymous `MAP_SHARED` mapping is
/// shmem to the kernel) and 16 MiB of its own heap, every page touched, forks one
/// child that maps the shared pages too, prints its pid once the child has, and waits
/// to be killed.
const SHMEM_PARENT: &str = r#"
import mmap, os, time
shared = mmap.mmap(-1, 32 * 1024 * 1024)
shared[::4096] = b"\x01" * len(range(0, len(shared), 4096))
own = bytearray(16 * 1024 * 1024)
own[::4096] = b"\x01" * len(range(0, len(own), 4096))
r, w = os.pipe()
if os.fork() == 0:
    # Fork copies no page tables of a shared mapping: the child maps the pages by
    # touching them.
    sum(shared[::4096])
    os.write(w, b"x")
    time.sleep(3600)
    os._exit(0)
os.read(r, 1)
print(os.getpid(), flush=True)
time.sleep(3600)
"#;

/// A kB line of `/proc/PID/smaps_rollup`, parsed here independently of leaktop.
fn rollup_line(pid: u32, key: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
}

/// The split the kill dialog builds on, read from a real process: the shared mapping
/// is shmem PSS shared out between parent and child, the heap anonymous PSS, each
/// as the kernel writes it.
#[test]
fn a_real_process_pss_is_told_apart_into_anon_file_and_shmem() {
    let mut family = Family::spawn("python3", &["-c", SHMEM_PARENT]);
    let root = family.pid();
    assert_eq!(family.read_line(), root.to_string());
    if rollup_line(root, "Pss_Shmem:").is_none() {
        eprintln!("this kernel does not tell the PSS apart (before 5.7): skipped");
        return;
    }
    let host = leaktop::host::real();
    let id = host.probe(root).expect("the parent is alive").id();
    let m = host
        .memory(id)
        .expect("our own child's smaps_rollup is readable");
    let (Some(anon), Some(file), Some(shmem)) =
        (m.parts.anon_kb, m.parts.file_kb, m.parts.shmem_kb)
    else {
        panic!("the kernel writes the split but it was not read: {m:?}");
    };
    // Half of the 32 MiB mapping, shared with the child.
    assert!(within(shmem, 16 * 1024, 0.1), "shmem PSS {shmem} KiB");
    // Its own 16 MiB heap and the interpreter's, partly shared with the child.
    assert!(anon >= 8 * 1024, "anon PSS {anon} KiB");
    assert!(
        m.pss_kb.abs_diff(anon + file + shmem) <= 4,
        "{anon} + {file} + {shmem} vs Pss {}",
        m.pss_kb
    );
    // As the test reads them itself (they may move a little between two reads).
    let theirs = rollup_line(root, "Pss_Shmem:").unwrap();
    assert!(within(shmem, theirs, 0.05), "{shmem} vs {theirs}");
    // No swap on most test machines: whatever it is, it is known.
    assert!(m.parts.swap_pss_kb.is_some(), "{m:?}");
}
