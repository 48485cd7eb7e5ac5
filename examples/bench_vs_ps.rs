//! leaktop's CPU per tick next to the cost of the /proc reads themselves and next to
//! the `ps` loop the field reports polled with, measured side by side in one run.
//!
//! It spawns a family of 150 processes (a shell and 149 sleeping children) and,
//! optionally, thousands of unrelated sleepers, then runs, for the same number of
//! ticks at the same interval, each as a child process:
//!
//! - `leaktop record --pid ROOT --out /dev/null`;
//! - the naive floor: open, read and close `/proc/PID/stat` once per member per tick
//!   (the member list is given; it does no discovery at all);
//! - the `ps -eo pid,ppid,rss,stat,comm` loop.
//!
//! Each child's user+sys CPU comes from `wait4` (microseconds, and including the
//! children it reaped, i.e. every `ps`). Start-up (exec, the first full scan) is
//! included and spread over the ticks. Workloads are interleaved and repeated, and the
//! median is reported, because the machine is shared and noisy.
//!
//! Run through `scripts/bench-vs-ps.sh` (it builds leaktop in release first).

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const FAMILY: usize = 150;

struct Options {
    leaktop: String,
    ticks: u32,
    interval: Duration,
    busy: usize,
    scale: bool,
    repeat: usize,
}

fn usage() -> ! {
    eprintln!(
        "usage: bench-vs-ps --leaktop PATH [--ticks N] [--interval-ms MS] [--busy N] [--scale] [--repeat R]"
    );
    std::process::exit(2)
}

fn options() -> Options {
    let mut o = Options {
        leaktop: String::new(),
        ticks: 200,
        interval: Duration::from_millis(50),
        busy: 0,
        scale: false,
        repeat: 3,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| usage());
        match a.as_str() {
            "--leaktop" => o.leaktop = value(),
            "--ticks" => o.ticks = value().parse().unwrap_or_else(|_| usage()),
            "--interval-ms" => {
                o.interval = Duration::from_millis(value().parse().unwrap_or_else(|_| usage()));
            }
            "--busy" => o.busy = value().parse().unwrap_or_else(|_| usage()),
            "--scale" => o.scale = true,
            "--repeat" => o.repeat = value().parse().unwrap_or_else(|_| usage()),
            _ => usage(),
        }
    }
    if o.leaktop.is_empty() || o.ticks == 0 || o.repeat == 0 {
        usage();
    }
    if o.scale && o.busy == 0 {
        o.busy = 2000;
    }
    o
}

/// Processes in their own group, killed (the whole group) and reaped on drop.
struct Group(Child);

impl Group {
    fn spawn(script: &str) -> Group {
        let mut child = Command::new("sh")
            .args(["-c", script])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .process_group(0)
            .spawn()
            .expect("spawn sh");
        // The script says when everything is started.
        let mut byte = [0u8; 1];
        let _ = child.stdout.as_mut().unwrap().read(&mut byte);
        Group(child)
    }

    fn pid(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        if let Some(pgid) = rustix::process::Pid::from_raw(self.0.id() as i32) {
            let _ = rustix::process::kill_process_group(pgid, rustix::process::Signal::KILL);
        }
        let _ = self.0.wait();
    }
}

fn sleepers(n: usize) -> String {
    format!("i=0; while [ $i -lt {n} ]; do sleep 3600 & i=$((i+1)); done; echo; wait")
}

fn children_of(pid: u32) -> Vec<u32> {
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

/// Runs `command` to completion and returns its CPU (user+sys, with its reaped
/// children) in microseconds.
#[allow(
    clippy::zombie_processes,
    reason = "reaped by wait4, which also gives its CPU"
)]
fn cpu_us(mut command: Command) -> u64 {
    let child = command
        .stdin(Stdio::null())
        .spawn()
        .expect("spawn workload");
    let mut status = 0;
    // SAFETY: rusage is plain data, filled in by wait4.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = child.id() as libc::pid_t;
    // SAFETY: waits for our own child; pointers are to valid locals.
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(r, pid, "wait4: {}", std::io::Error::last_os_error());
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "workload failed: {command:?}"
    );
    let us = |t: libc::timeval| t.tv_sec as u64 * 1_000_000 + t.tv_usec as u64;
    us(usage.ru_utime) + us(usage.ru_stime)
}

/// Sleeps until the next tick of a fixed schedule.
fn pace(start: Instant, tick: u32, interval: Duration) {
    let next = start + interval * tick;
    if let Some(wait) = next.checked_duration_since(Instant::now()) {
        std::thread::sleep(wait);
    }
}

/// `__floor INTERVAL_MS TICKS PID...`: the naive floor.
fn floor(args: &[String]) {
    let interval = Duration::from_millis(args[0].parse().unwrap());
    let ticks: u32 = args[1].parse().unwrap();
    let paths: Vec<String> = args[2..]
        .iter()
        .map(|p| format!("/proc/{p}/stat"))
        .collect();
    let mut buf = Vec::with_capacity(1024);
    let start = Instant::now();
    for tick in 1..=ticks {
        for path in &paths {
            buf.clear();
            if let Ok(mut f) = std::fs::File::open(path) {
                let _ = f.read_to_end(&mut buf);
            }
        }
        std::hint::black_box(&buf);
        pace(start, tick, interval);
    }
}

/// `__ps INTERVAL_MS TICKS`: the field reports' loop.
fn ps_loop(args: &[String]) {
    let interval = Duration::from_millis(args[0].parse().unwrap());
    let ticks: u32 = args[1].parse().unwrap();
    let start = Instant::now();
    for tick in 1..=ticks {
        Command::new("ps")
            .args(["-eo", "pid,ppid,rss,stat,comm"])
            .stdout(Stdio::null())
            .status()
            .expect("run ps");
        pace(start, tick, interval);
    }
}

fn median(mut v: Vec<u64>) -> f64 {
    v.sort_unstable();
    v[v.len() / 2] as f64
}

struct Run {
    leaktop: Vec<u64>,
    floor: Vec<u64>,
    ps: Vec<u64>,
}

/// Measures the three workloads `repeat` times, interleaved, over `family`.
fn measure(o: &Options, family: &Group, with_others: bool) -> Run {
    let me = std::env::current_exe().unwrap();
    let mut members = vec![family.pid()];
    members.extend(children_of(family.pid()));
    assert_eq!(members.len(), FAMILY, "the family is up");
    let ms = o.interval.as_millis().to_string();
    let ticks = o.ticks.to_string();
    let mut run = Run {
        leaktop: Vec::new(),
        floor: Vec::new(),
        ps: Vec::new(),
    };
    for _ in 0..o.repeat {
        let mut leaktop = Command::new(&o.leaktop);
        leaktop.args(["record", "--quiet", "--out", "/dev/null"]);
        leaktop.args(["--pid", &family.pid().to_string()]);
        leaktop.args(["--interval", &format!("{ms}ms"), "--ticks", &ticks]);
        run.leaktop.push(cpu_us(leaktop));
        if with_others {
            let mut f = Command::new(&me);
            f.arg("__floor").arg(&ms).arg(&ticks);
            f.args(members.iter().map(u32::to_string));
            run.floor.push(cpu_us(f));
            let mut p = Command::new(&me);
            p.arg("__ps").arg(&ms).arg(&ticks);
            run.ps.push(cpu_us(p));
        }
    }
    run
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("__floor") => return floor(&args[2..]),
        Some("__ps") => return ps_loop(&args[2..]),
        _ => {}
    }
    let o = options();
    let family = Group::spawn(&format!(
        "for i in $(seq {}); do sleep 3600 & done; echo; wait",
        FAMILY - 1
    ));
    let per_tick = |us: f64| us / f64::from(o.ticks);

    let busy = (o.busy > 0 && !o.scale).then(|| Group::spawn(&sleepers(o.busy)));
    let procs = std::fs::read_dir("/proc")
        .map(|d| {
            d.filter(|e| {
                e.as_ref()
                    .is_ok_and(|e| e.file_name().to_string_lossy().parse::<u32>().is_ok())
            })
            .count()
        })
        .unwrap_or(0);
    println!(
        "family {FAMILY} processes, {procs} processes on the machine, {} ticks at {}ms, median of {}",
        o.ticks,
        o.interval.as_millis(),
        o.repeat
    );
    let quiet = measure(&o, &family, true);
    drop(busy);
    let (l, f, p) = (
        per_tick(median(quiet.leaktop)),
        per_tick(median(quiet.floor)),
        per_tick(median(quiet.ps)),
    );
    println!("leaktop record  {l:>9.1} µs/tick");
    println!("naive floor     {f:>9.1} µs/tick");
    println!("ps loop         {p:>9.1} µs/tick");
    println!("leaktop/floor   {:>9.3}  (target <= 1.0)", l / f);
    println!("leaktop/ps      {:>9.3}  (target <= 0.1)", l / p);

    if o.scale {
        let others = Group::spawn(&sleepers(o.busy));
        let busy = measure(&o, &family, false);
        drop(others);
        let b = per_tick(median(busy.leaktop));
        println!(
            "leaktop record with {} unrelated sleepers  {b:>9.1} µs/tick",
            o.busy
        );
        println!("busy/quiet      {:>9.3}  (target <= 1.5)", b / l);
    }
}
