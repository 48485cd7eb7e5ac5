//! leaktop's CPU per tick, measured side by side in one run against two references:
//!
//! - the **naive floor**: the cost of the `/proc` reads themselves. Every tick it opens,
//!   reads (one `read` into a reused buffer) and closes `/proc/PID/stat` once per family
//!   member. It is handed the member list and does no discovery at all, so it is what
//!   any `/proc` sampler must at least pay; `leaktop/floor <= 1.0` means leaktop's
//!   discovery, tracking and output cost no more than that naive reading alone.
//! - the **`ps` loop**: what the field reports' authors polled with, running
//!   `ps -eo pid,ppid,rss,stat,comm` every tick (output to /dev/null) and waiting for it.
//!
//! The family is 150 processes: an `sh` (the root) and its 149 `sleep 3600` children, in
//! a process group of their own. `--busy N` adds N unrelated `sleep 3600` processes (a
//! separate `sh` and group, not in the family), which leaktop must not pay for; the
//! issue's scale case is 2,000 of them. With `--scale`, leaktop is measured both without
//! them (quiet) and with them (busy), and the floor and `ps` in the quiet setting only.
//!
//! With `--pool-mb MB` the family is what PSS is for: a Python parent holding MB
//! (every page touched) forks 149 workers that share it copy-on-write and exits 2 s
//! into the workload, leaving them leaked (the harness, a subreaper, adopts them).
//! leaktop then reads their PSS within a tenth of the interval, leaked first, and is
//! measured a second time with `--no-pss`; a fresh pool is made for each workload.
//!
//! Each workload runs as a child process for the same number of ticks at the same
//! interval, so for roughly the same wall time. Its CPU is user+sys from the `rusage`
//! that `wait4` returns for it: exact to the microsecond (clock-tick counters such as
//! `/proc/PID/stat`'s are 10 ms coarse), and including the CPU of every child it waited
//! for, i.e. every `ps` of the `ps` loop. rustix has neither `wait4` nor `getrusage`,
//! hence `libc` (a dev-dependency). Start-up (exec, dynamic linking, leaktop's first full
//! scan) is included and amortised over the ticks; use enough ticks for it not to
//! matter. The workloads are interleaved (leaktop, floor, ps, leaktop, ...) and repeated
//! (`--repeat`), and the medians are reported, because the machine may be shared and
//! noisy; the ratios are ratios of the medians.
//!
//! Every process spawned here is killed (SIGKILL to its process group) and reaped on
//! exit, on a panic (drop guards; the release profile unwinds) and on SIGINT, SIGTERM
//! or SIGHUP (a signal thread). The harness is a child subreaper, so it reaps the
//! sleepers itself rather than leaving that to whatever PID 1 is.
//!
//! Run it through `scripts/bench-vs-ps.sh`, which builds leaktop in release first:
//!
//! ```text
//! scripts/bench-vs-ps.sh [--ticks N] [--interval-ms MS] [--repeat R] [--busy N] [--scale]
//!                        [--pool-mb MB]
//! ```

// An example may unwrap: a failure there is the report.
#![allow(clippy::unwrap_used)]

use std::io::{IsTerminal, Read};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use clap::Parser;
use rustix::process::{Pid, Signal, WaitId, WaitIdOptions};

/// The family: the root `sh` and its `sleep` children.
const FAMILY: usize = 150;
/// Unrelated sleepers with `--scale` when `--busy` is not given.
const SCALE_BUSY: usize = 2000;

/// leaktop's CPU per tick next to the naive /proc floor and a `ps` loop.
#[derive(Parser)]
#[command(name = "bench-vs-ps")]
struct Options {
    /// The leaktop binary to measure.
    #[arg(long)]
    leaktop: PathBuf,
    /// Ticks per workload.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..))]
    ticks: u32,
    /// Milliseconds between ticks.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u64).range(1..))]
    interval_ms: u64,
    /// Unrelated `sleep 3600` processes on the machine during the measurement
    /// (with --scale: during the busy one only; default then 2000).
    #[arg(long)]
    busy: Option<usize>,
    /// Measure leaktop also with --busy unrelated sleepers and report busy/quiet.
    #[arg(long)]
    scale: bool,
    /// Measurements per workload; the median is reported.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    repeat: u32,
    /// The family is a leaked pool instead of sleepers: a parent holding this many MB
    /// (every page touched) forks 149 workers that share it copy-on-write, and exits
    /// 2 s into each workload, so leaktop sees the workers leaked and reads their PSS
    /// (smaps_rollup of a 200 MB mapping costs milliseconds). leaktop is then also
    /// measured with `--no-pss`.
    #[arg(long, value_name = "MB")]
    pool_mb: Option<u64>,
    /// Instead of the comparison above: what PSS costs, side by side. `leaktop record`
    /// with PSS on, with `--no-pss`, and the held-descriptor floor (each member's
    /// `stat` opened once and read with `pread` every tick), each quiet and with
    /// --busy unrelated sleepers (default 2000) on the machine.
    #[arg(long, conflicts_with_all = ["pool_mb", "scale"])]
    pss_cost: bool,
}

// ---- Cleanup: every process spawned here dies with the harness ----------------------

/// Process groups alive, for the signal thread. Held while spawning, so a signal cannot
/// fall between a spawn and its registration.
static GROUPS: Mutex<Vec<Pid>> = Mutex::new(Vec::new());
/// The workload running now (a process group of its own), for the signal thread.
static WORKLOAD: Mutex<Option<Pid>> = Mutex::new(None);
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Kills the group (SIGKILL) and reaps all its members that are our children.
fn kill_and_reap(pgid: Pid) {
    let _ = rustix::process::kill_process_group(pgid, Signal::KILL);
    // Until ECHILD: none of them is our child any more. As a subreaper we inherit the
    // sleepers when their `sh` dies, before its own exit can be waited for.
    let blocking = rustix::process::WaitOptions::empty();
    while let Ok(Some(_)) = rustix::process::waitpgid(pgid, blocking) {}
}

/// On SIGINT, SIGTERM or SIGHUP: kill the workload and every group, reap, and exit.
fn kill_all_on_signals() {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let mut signals =
        signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP]).expect("signal handler");
    std::thread::spawn(move || {
        if let Some(signal) = signals.forever().next() {
            INTERRUPTED.store(true, Ordering::SeqCst);
            if let Some(pgid) = *lock(&WORKLOAD) {
                kill_and_reap(pgid);
            }
            let groups = lock(&GROUPS);
            for &pgid in groups.iter() {
                let _ = rustix::process::kill_process_group(pgid, Signal::KILL);
            }
            for &pgid in groups.iter() {
                kill_and_reap(pgid);
            }
            eprintln!("bench-vs-ps: interrupted; every process it started is killed");
            std::process::exit(128 + signal);
        }
    });
}

/// Once interrupted, the main thread only waits for the signal thread to exit.
fn stop_if_interrupted() {
    if INTERRUPTED.load(Ordering::SeqCst) {
        loop {
            std::thread::park();
        }
    }
}

/// An `sh` with `n` `sleep 3600` children, in a process group of its own, killed (the
/// whole group) and reaped on drop.
struct Sleepers {
    sh: Child,
    pgid: Pid,
}

impl Sleepers {
    fn spawn(n: usize) -> Sleepers {
        let script = format!("i=0; while [ $i -lt {n} ]; do sleep 3600 & i=$((i+1)); done; wait");
        let mut groups = lock(&GROUPS);
        let sh = Command::new("sh")
            .args(["-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("spawn sh");
        let pgid = Pid::from_raw(sh.id() as i32).expect("a child's pid is positive");
        groups.push(pgid);
        drop(groups);
        let mut sleepers = Sleepers { sh, pgid };
        sleepers.wait_until_up(n);
        sleepers
    }

    /// Waits until the `sh` has `n` children and all of them are `sleep` (exec'd).
    fn wait_until_up(&mut self, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            stop_if_interrupted();
            if let Ok(Some(status)) = self.sh.try_wait() {
                panic!("the sleepers' sh exited early: {status}");
            }
            let children = self.children();
            if children.len() == n && children.iter().all(|&pid| comm(pid) == "sleep") {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "only {} of {n} sleepers up after 2 minutes",
                children.len()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn pid(&self) -> u32 {
        self.sh.id()
    }

    fn children(&self) -> Vec<u32> {
        let pid = self.pid();
        std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
            .unwrap_or_default()
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect()
    }
}

/// A Python parent that holds `mb` MB, forks `n` workers sharing it copy-on-write and
/// exits after `linger_s` seconds; its `sh` then becomes `sleep 3600` (the root).
const POOL: &str = r#"
import os, sys, time
n, mb, linger = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
blob = bytearray(mb * 1024 * 1024)
blob[::4096] = b"\x01" * len(range(0, len(blob), 4096))
for _ in range(n):
    if os.fork() == 0:
        time.sleep(3600)
        os._exit(0)
time.sleep(linger)
os._exit(0)
"#;

impl Sleepers {
    /// The pool family ([`POOL`]): the root `sh` (later `sleep`), the parent, and
    /// `n` workers, returned once all `n` are forked.
    fn spawn_pool(n: usize, mb: u64, linger_s: f64) -> Sleepers {
        let script = format!("python3 -c \"$0\" {n} {mb} {linger_s}; exec sleep 3600");
        let mut groups = lock(&GROUPS);
        let sh = Command::new("sh")
            .args(["-c", &script, POOL])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("spawn sh");
        let pgid = Pid::from_raw(sh.id() as i32).expect("a child's pid is positive");
        groups.push(pgid);
        drop(groups);
        let sleepers = Sleepers { sh, pgid };
        let deadline = Instant::now() + Duration::from_secs(120);
        while sleepers.group().len() < n + 2 {
            stop_if_interrupted();
            assert!(Instant::now() < deadline, "the pool did not come up");
            std::thread::sleep(Duration::from_millis(20));
        }
        sleepers
    }

    /// Every process in the family's process group, the root first.
    fn group(&self) -> Vec<u32> {
        let pgid = self.pgid.as_raw_nonzero().get() as u32;
        let mut pids: Vec<u32> = std::fs::read_dir("/proc")
            .into_iter()
            .flatten()
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
            .filter(|&pid| {
                std::fs::read_to_string(format!("/proc/{pid}/stat"))
                    .ok()
                    .and_then(|s| {
                        let fields: Vec<&str> = s.rsplit_once(')')?.1.split_whitespace().collect();
                        fields.get(2)?.parse::<u32>().ok()
                    })
                    == Some(pgid)
            })
            .collect();
        pids.sort_unstable_by_key(|&p| (p != pgid, p));
        pids
    }
}

impl Drop for Sleepers {
    fn drop(&mut self) {
        kill_and_reap(self.pgid); // The `sh` included.
        lock(&GROUPS).retain(|&g| g != self.pgid);
    }
}

fn comm(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .unwrap_or_default()
        .trim_end()
        .to_owned()
}

// ---- Measuring ----------------------------------------------------------------------

struct Cost {
    /// User+sys CPU, with the children it waited for, in microseconds.
    cpu_us: u64,
    wall: Duration,
}

/// Runs `command` to completion, in a process group of its own, and returns its cost.
#[allow(
    clippy::zombie_processes,
    reason = "reaped by wait4, which also gives its CPU"
)]
// wait4 (the child's own CPU time and peak RSS) has no safe wrapper in the dependencies.
#[allow(unsafe_code)]
fn run(command: &mut Command) -> Cost {
    let start = Instant::now();
    let mut workload = lock(&WORKLOAD);
    let child = command
        .stdin(Stdio::null())
        .process_group(0)
        .spawn()
        .expect("spawn workload");
    let pid = Pid::from_raw(child.id() as i32).expect("a child's pid is positive");
    *workload = Some(pid);
    drop(workload);
    // Wait without reaping, then forget it, then reap: the signal thread never signals
    // a pid that may have been reused.
    let waited = rustix::process::waitid(
        WaitId::Pid(pid),
        WaitIdOptions::EXITED | WaitIdOptions::NOWAIT,
    );
    *lock(&WORKLOAD) = None;
    // The signal thread kills (and may reap) it: then nothing here is meaningful.
    stop_if_interrupted();
    waited.expect("waitid");
    let mut status = 0;
    // SAFETY: rusage is plain data, filled in by wait4.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: reaps our own child, which has exited; the pointers are to valid locals.
    let reaped = unsafe { libc::wait4(pid.as_raw_nonzero().get(), &mut status, 0, &mut usage) };
    let wall = start.elapsed();
    assert_eq!(
        reaped,
        pid.as_raw_nonzero().get(),
        "wait4: {}",
        std::io::Error::last_os_error()
    );
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "workload failed ({status:#x}): {command:?}"
    );
    let us = |t: libc::timeval| t.tv_sec as u64 * 1_000_000 + t.tv_usec as u64;
    Cost {
        cpu_us: us(usage.ru_utime) + us(usage.ru_stime),
        wall,
    }
}

/// Sleeps until the start of tick `tick + 1` on a fixed schedule (no drift; an overrun
/// tick is followed at once by the next).
fn pace(start: Instant, tick: u32, interval: Duration) {
    let next = start + interval * tick;
    if let Some(wait) = next.checked_duration_since(Instant::now()) {
        std::thread::sleep(wait);
    }
}

/// `__floor INTERVAL_MS TICKS PID...`: the naive floor, over the members it is given.
fn floor(args: &[String]) {
    let interval = Duration::from_millis(args[0].parse().expect("interval"));
    let ticks: u32 = args[1].parse().expect("ticks");
    let paths: Vec<String> = args[2..]
        .iter()
        .map(|p| format!("/proc/{p}/stat"))
        .collect();
    let mut buf = [0u8; 4096];
    let start = Instant::now();
    for tick in 1..=ticks {
        for path in &paths {
            if let Ok(mut f) = std::fs::File::open(path) {
                let n = f.read(&mut buf).unwrap_or(0);
                std::hint::black_box(&buf[..n]);
            }
        }
        pace(start, tick, interval);
    }
}

/// `__held INTERVAL_MS TICKS PID...`: the held-descriptor floor: each member's
/// `/proc/PID/stat` opened once, then read with `pread` every tick, nothing else.
fn held_floor(args: &[String]) {
    use std::os::unix::fs::FileExt;
    let interval = Duration::from_millis(args[0].parse().expect("interval"));
    let ticks: u32 = args[1].parse().expect("ticks");
    let files: Vec<std::fs::File> = args[2..]
        .iter()
        .filter_map(|p| std::fs::File::open(format!("/proc/{p}/stat")).ok())
        .collect();
    let mut buf = [0u8; 4096];
    let start = Instant::now();
    for tick in 1..=ticks {
        for f in &files {
            let n = f.read_at(&mut buf, 0).unwrap_or(0);
            std::hint::black_box(&buf[..n]);
        }
        pace(start, tick, interval);
    }
}

/// `__ps INTERVAL_MS TICKS`: the field reports' loop.
fn ps_loop(args: &[String]) {
    let interval = Duration::from_millis(args[0].parse().expect("interval"));
    let ticks: u32 = args[1].parse().expect("ticks");
    let start = Instant::now();
    for tick in 1..=ticks {
        let status = Command::new("ps")
            .args(["-eo", "pid,ppid,rss,stat,comm"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .status()
            .expect("run ps");
        assert!(status.success(), "ps: {status}");
        pace(start, tick, interval);
    }
}

/// The measurements of one workload, one per repeat.
#[derive(Default)]
struct Samples(Vec<Cost>);

impl Samples {
    fn median_cpu_us(&self) -> f64 {
        let mut v: Vec<u64> = self.0.iter().map(|c| c.cpu_us).collect();
        v.sort_unstable();
        let mid = v.len() / 2;
        if v.len() % 2 == 1 {
            v[mid] as f64
        } else {
            (v[mid - 1] + v[mid]) as f64 / 2.0
        }
    }

    fn push(&mut self, cost: Cost) {
        self.0.push(cost);
    }

    fn max_wall(&self) -> Duration {
        self.0.iter().map(|c| c.wall).max().unwrap_or_default()
    }
}

struct Workloads<'a> {
    o: &'a Options,
    me: PathBuf,
}

/// The family a workload watches: its root and members (as pid strings), and, when it
/// owns them, the processes (killed on drop).
struct Family {
    _guard: std::rc::Rc<Sleepers>,
    root: String,
    members: Vec<String>,
}

impl Family {
    fn sleepers() -> Family {
        let sleepers = Sleepers::spawn(FAMILY - 1);
        let mut members = vec![sleepers.pid()];
        members.extend(sleepers.children());
        assert_eq!(members.len(), FAMILY, "the family is up");
        Family {
            root: sleepers.pid().to_string(),
            members: members.iter().map(u32::to_string).collect(),
            _guard: std::rc::Rc::new(sleepers),
        }
    }

    fn pool(mb: u64) -> Family {
        let pool = Sleepers::spawn_pool(FAMILY - 1, mb, 2.0);
        Family {
            root: pool.pid().to_string(),
            members: pool.group().iter().map(u32::to_string).collect(),
            _guard: std::rc::Rc::new(pool),
        }
    }

    /// The same processes, shared.
    fn clone_view(&self) -> Family {
        Family {
            _guard: self._guard.clone(),
            root: self.root.clone(),
            members: self.members.clone(),
        }
    }
}

impl Workloads<'_> {
    fn leaktop(&self, family: &Family, extra: &[&str]) -> Cost {
        let mut c = Command::new(&self.o.leaktop);
        c.args([
            "record",
            "--pid",
            &family.root,
            "--quiet",
            "--out",
            "/dev/null",
        ]);
        c.args(["--interval", &format!("{}ms", self.o.interval_ms)]);
        c.args(["--ticks", &self.o.ticks.to_string()]);
        c.args(extra);
        run(&mut c)
    }

    /// The naive floor (`__floor`) or the held-descriptor one (`__held`).
    fn floor_of(&self, which: &str, family: &Family) -> Cost {
        let mut c = Command::new(&self.me);
        c.arg(which)
            .arg(self.o.interval_ms.to_string())
            .arg(self.o.ticks.to_string());
        c.args(&family.members);
        run(&mut c)
    }

    fn floor(&self, family: &Family) -> Cost {
        self.floor_of("__floor", family)
    }

    fn held_floor(&self, family: &Family) -> Cost {
        self.floor_of("__held", family)
    }

    fn ps(&self) -> Cost {
        let mut c = Command::new(&self.me);
        c.arg("__ps")
            .arg(self.o.interval_ms.to_string())
            .arg(self.o.ticks.to_string());
        run(&mut c)
    }
}

fn processes_on_the_machine() -> usize {
    std::fs::read_dir("/proc")
        .map(|d| {
            d.filter_map(Result::ok)
                .filter(|e| e.file_name().to_string_lossy().parse::<u32>().is_ok())
                .count()
        })
        .unwrap_or(0)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("__floor") => return floor(&args[2..]),
        Some("__ps") => return ps_loop(&args[2..]),
        Some("__held") => return held_floor(&args[2..]),
        _ => {}
    }
    let o = Options::parse();
    let busy = o.busy.unwrap_or(if o.scale { SCALE_BUSY } else { 0 });
    kill_all_on_signals();
    leaktop::host::real().become_subreaper().expect("subreaper");

    let w = Workloads {
        o: &o,
        me: std::env::current_exe().expect("current_exe"),
    };
    if o.pss_cost {
        return pss_cost(&w, o.busy.unwrap_or(SCALE_BUSY));
    }
    // The sleepers stay up for the whole measurement; a pool is fresh for each
    // workload, since its workers are leaked only to a leaktop that saw them orphaned.
    let family = || match o.pool_mb {
        Some(mb) => Family::pool(mb),
        None => Family::sleepers(),
    };
    let shared = o.pool_mb.is_none().then(family);
    let fresh = || match &shared {
        Some(f) => f.clone_view(),
        None => family(),
    };
    // Without --scale, --busy sleepers stay up for the whole measurement.
    let _busy = (busy > 0 && !o.scale).then(|| Sleepers::spawn(busy));

    let what = match o.pool_mb {
        Some(mb) => format!("a leaked pool of {} workers sharing {mb} MB", FAMILY - 1),
        None => format!("sh + {} sleepers", FAMILY - 1),
    };
    println!(
        "family {FAMILY} processes ({what}), {busy} unrelated sleepers{}, {} ticks at {}ms, median of {}",
        if o.scale { " (busy setting only)" } else { "" },
        o.ticks,
        o.interval_ms,
        o.repeat,
    );
    println!(
        "({} processes on the machine; CPU = user+sys from wait4, start-up included)",
        processes_on_the_machine()
    );

    // Interleaved, so that slow drifts of the machine's load affect all alike.
    let progress = |what: &str| {
        if std::io::stderr().is_terminal() {
            eprint!("\r\x1b[K{what}");
        }
    };
    let mut leaktop = Samples::default();
    let mut floor = Samples::default();
    let mut ps = Samples::default();
    let mut leaktop_busy = Samples::default();
    let mut leaktop_no_pss = Samples::default();
    for round in 1..=o.repeat {
        let of = o.repeat;
        progress(&format!("round {round}/{of}: leaktop"));
        leaktop.push(w.leaktop(&fresh(), &[]));
        if o.pool_mb.is_some() {
            progress(&format!("round {round}/{of}: leaktop --no-pss"));
            leaktop_no_pss.push(w.leaktop(&fresh(), &["--no-pss"]));
        }
        progress(&format!("round {round}/{of}: naive floor"));
        floor.push(w.floor(&fresh()));
        progress(&format!("round {round}/{of}: ps loop"));
        ps.push(w.ps());
        if o.scale {
            progress(&format!("round {round}/{of}: starting {busy} sleepers"));
            let others = Sleepers::spawn(busy);
            progress(&format!("round {round}/{of}: leaktop with {busy} sleepers"));
            leaktop_busy.push(w.leaktop(&fresh(), &[]));
            drop(others);
        }
    }
    progress("");

    let ticks = f64::from(o.ticks);
    let per_tick = |s: &Samples| s.median_cpu_us() / ticks;
    let (l, f, p) = (per_tick(&leaktop), per_tick(&floor), per_tick(&ps));
    let line = |name: &str, s: &Samples| {
        let spread = if s.0.len() > 1 {
            let (min, max) = s.0.iter().fold((u64::MAX, 0), |(lo, hi), c| {
                (lo.min(c.cpu_us), hi.max(c.cpu_us))
            });
            format!("  [{:.1} .. {:.1}]", min as f64 / ticks, max as f64 / ticks)
        } else {
            String::new()
        };
        println!("{name:<22}{:>9.1} µs/tick{spread}", per_tick(s));
    };
    let ratio = |name: &str, r: f64, target: f64| {
        let verdict = if r <= target { "ok" } else { "MISSED" };
        println!("{name:<22}{r:>9.3}  (target <= {target:.1}) {verdict}");
    };
    line("leaktop record", &leaktop);
    if o.pool_mb.is_some() {
        line("leaktop --no-pss", &leaktop_no_pss);
    }
    line("naive floor", &floor);
    line("ps loop", &ps);
    if o.scale {
        line("leaktop record (busy)", &leaktop_busy);
    }
    ratio("leaktop/floor", l / f, 1.0);
    ratio("leaktop/ps", l / p, 0.1);
    if o.scale {
        ratio("busy/quiet", per_tick(&leaktop_busy) / l, 1.5);
    }
    if o.pool_mb.is_some() {
        let n = per_tick(&leaktop_no_pss);
        println!(
            "{:<22}{:>9.3}  (PSS reads: {:.1} µs/tick, within a tenth of the interval)",
            "pss on/off",
            l / n,
            l - n
        );
        ratio("leaktop --no-pss/floor", n / f, 1.0);
    }

    // Each workload should take about ticks x interval; say so when one overran.
    let planned = Duration::from_millis(o.interval_ms) * o.ticks;
    for (name, s) in [
        ("leaktop", &leaktop),
        ("floor", &floor),
        ("ps", &ps),
        ("leaktop busy", &leaktop_busy),
    ] {
        let wall = s.max_wall();
        if wall > planned.mul_f64(1.2) + Duration::from_millis(200) {
            println!(
                "note: {name} took up to {:.1}s of wall time for {:.1}s of ticks",
                wall.as_secs_f64(),
                planned.as_secs_f64()
            );
        }
    }
}

/// `--pss-cost`: `record` with PSS on, `--no-pss` and the held-descriptor floor over
/// the sleepers' family, interleaved, quiet and then with `busy` unrelated sleepers
/// up, each round; medians and the ratios the issue sets targets for.
fn pss_cost(w: &Workloads, busy: usize) {
    let o = w.o;
    let family = Family::sleepers();
    println!(
        "family {FAMILY} processes (sh + {} sleepers), {busy} unrelated sleepers in the busy \
         setting, {} ticks at {}ms, median of {}",
        FAMILY - 1,
        o.ticks,
        o.interval_ms,
        o.repeat
    );
    println!(
        "({} processes on the machine; CPU = user+sys from wait4, start-up included)",
        processes_on_the_machine()
    );
    // quiet: pss, no-pss, held; busy: the same.
    let mut s: [[Samples; 3]; 2] = Default::default();
    for round in 1..=o.repeat {
        for (setting, samples) in s.iter_mut().enumerate() {
            let _others = (setting == 1).then(|| {
                eprintln!("round {round}/{}: starting {busy} sleepers", o.repeat);
                Sleepers::spawn(busy)
            });
            eprintln!("round {round}/{}: {}", o.repeat, ["quiet", "busy"][setting]);
            samples[0].push(w.leaktop(&family, &[]));
            samples[1].push(w.leaktop(&family, &["--no-pss"]));
            samples[2].push(w.held_floor(&family));
        }
    }
    let ticks = f64::from(o.ticks);
    let per_tick = |x: &Samples| x.median_cpu_us() / ticks;
    for (setting, samples) in s.iter().enumerate() {
        for (name, x) in ["record (PSS on)", "record --no-pss", "held floor"]
            .iter()
            .zip(samples)
        {
            let (min, max) = x.0.iter().fold((u64::MAX, 0), |(lo, hi), c| {
                (lo.min(c.cpu_us), hi.max(c.cpu_us))
            });
            println!(
                "{:<6}{name:<17}{:>9.1} µs/tick  [{:.1} .. {:.1}]",
                ["quiet", "busy"][setting],
                per_tick(x),
                min as f64 / ticks,
                max as f64 / ticks
            );
        }
    }
    let ratio = |name: &str, r: f64, target: f64| {
        let verdict = if r <= target { "ok" } else { "MISSED" };
        println!("{name:<28}{r:>7.3}  (target <= {target:.2}) {verdict}");
    };
    for (setting, samples) in s.iter().enumerate() {
        let [pss, no_pss, held] = samples.each_ref().map(per_tick);
        let name = ["quiet", "busy"][setting];
        ratio(&format!("{name} pss/no-pss"), pss / no_pss, 1.25);
        ratio(&format!("{name} no-pss/held floor"), no_pss / held, 1.6);
    }
    let [quiet, busy] = s.each_ref().map(|x| x.each_ref().map(per_tick));
    ratio("busy/quiet (PSS on)", busy[0] / quiet[0], 1.1);
    ratio("busy/quiet (--no-pss)", busy[1] / quiet[1], 1.1);
}
