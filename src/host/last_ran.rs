//! How long ago a process last ran on a CPU, from the scheduler's own record.
//!
//! `/proc/PID/task/TID/sched` (kernels built with `CONFIG_SCHED_DEBUG`, as Debian's,
//! Ubuntu's and Fedora's are) gives each thread's `se.exec_start`: the time it was last
//! running, on the clock of the run queue of the CPU it ran on (`processor`, field 39
//! of `/proc/PID/task/TID/stat`). Those clocks leave out time spent in interrupts and
//! stolen by a hypervisor, each CPU its own share, so two CPUs' clocks drift apart by
//! seconds over hours of uptime (9.4 s after 5.8 h on a 2-core VM). So each thread is
//! compared with the clock of its own CPU, read by running leaktop's thread there for a
//! moment (`sched_setaffinity`) and reading its own `se.exec_start`; a thread on a CPU
//! leaktop may not run on is left out. What the clocks leave out makes the figure a
//! lower bound: it is never larger than the time the process really spent off every
//! CPU (callers also cap it at the process's age).

use std::collections::BTreeMap;

use crate::sample::Identity;

/// One thread's last run: the CPU and `se.exec_start` in ns of that CPU's clock; 0
/// for a thread that is runnable now (state `R`, or moved and not yet run).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThreadRun {
    pub cpu: usize,
    pub at_ns: u64,
}

/// `se.exec_start` from a `sched` file, in ns: the kernel prints ms with six decimals
/// (`se.exec_start   :   20848452.348269`). `None` if absent or malformed.
pub fn exec_start_ns(sched: &str) -> Option<u64> {
    let line = sched.lines().find(|l| {
        l.split(':')
            .next()
            .is_some_and(|k| k.trim() == "se.exec_start")
    })?;
    let value = line.split(':').nth(1)?.trim();
    let (ms, frac) = value.split_once('.').unwrap_or((value, ""));
    let ms: u64 = ms.parse().ok()?;
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let frac = &frac[..frac.len().min(6)];
    let ns: u64 = format!("{frac:0<6}").parse().ok()?;
    ms.checked_mul(1_000_000)?.checked_add(ns)
}

/// The idle time in ms of a process whose threads last ran at `runs`, given the clock
/// now (ns) of each CPU leaktop could run on. The process is idle since its most recent
/// thread stopped: the smallest idle of its threads. A thread with `at_ns` 0 is
/// runnable and has not run since it was created or moved to another CPU (the kernel
/// clears the field then): idle 0. A thread on a CPU whose clock is unknown is left
/// out: another CPU's clock can be seconds off. `None` if no thread is left.
pub fn idle_ms(runs: &[ThreadRun], clocks: &BTreeMap<usize, u64>) -> Option<u64> {
    runs.iter()
        .filter_map(|r| {
            if r.at_ns == 0 {
                return Some(0);
            }
            Some(clocks.get(&r.cpu)?.saturating_sub(r.at_ns) / 1_000_000)
        })
        .min()
}

/// Every thread's last run of the process `id`, read only if the process at `id.pid`
/// is `id` (same start time). Every read goes through the directory handle opened
/// for that check, so a pid reused meanwhile is never read. `None` when unknown: gone,
/// reused pid, unreadable, or a kernel without `/proc/PID/sched`.
pub fn read_runs(id: Identity) -> Option<Vec<ThreadRun>> {
    use std::io::Read;
    let proc = super::linux::open_checked(id)?;
    let mut runs = Vec::new();
    let mut sched = String::new();
    // A thread that ended meanwhile is simply left out.
    for task in proc.tasks().ok()?.flatten() {
        let cpu_of = |task: &procfs::process::Task| {
            task.stat()
                .ok()
                .and_then(|s| Some((usize::try_from(s.processor?).ok()?, s.state)))
        };
        // The CPU is read again after `sched`: a thread that ran on another one in
        // between is read once more, then left out.
        for _ in 0..2 {
            let Some((cpu, state)) = cpu_of(&task) else {
                break;
            };
            if state == 'R' {
                // Running or waiting to: not idle, whichever CPU's clock is known.
                runs.push(ThreadRun { cpu, at_ns: 0 });
                break;
            }
            sched.clear();
            let read = proc
                .open_relative(format!("task/{}/sched", task.tid))
                .ok()
                .and_then(|mut f| f.read_to_string(&mut sched).ok());
            let Some(at_ns) = read.and_then(|_| exec_start_ns(&sched)) else {
                break;
            };
            if cpu_of(&task).is_some_and(|(again, _)| again == cpu) {
                runs.push(ThreadRun { cpu, at_ns });
                break;
            }
        }
    }
    (!runs.is_empty()).then_some(runs)
}

/// leaktop's own thread's `se.exec_start` in ns: while it runs, its CPU's clock now
/// (stale by at most the scheduler tick).
fn own_clock() -> Option<u64> {
    exec_start_ns(&std::fs::read_to_string("/proc/thread-self/sched").ok()?)
}

/// The clock now of each CPU in `cpus` that leaktop may run on (its affinity; a
/// cpuset or `taskset` can leave some out). Moves leaktop's calling thread to each CPU
/// in turn and back to its own affinity: a few µs per CPU.
pub fn clocks(cpus: impl IntoIterator<Item = usize>) -> BTreeMap<usize, u64> {
    use rustix::thread::{CpuSet, sched_getaffinity, sched_getcpu, sched_setaffinity};
    let mut out = BTreeMap::new();
    let Ok(original) = sched_getaffinity(None) else {
        return out;
    };
    for cpu in cpus {
        if cpu >= CpuSet::MAX_CPU || !original.is_set(cpu) {
            continue;
        }
        let mut one = CpuSet::new();
        one.set(cpu);
        if sched_setaffinity(None, &one).is_err() {
            continue;
        }
        if sched_getcpu() == cpu
            && let Some(now) = own_clock()
        {
            out.insert(cpu, now);
        }
    }
    let _ = sched_setaffinity(None, &original);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exec_start_is_read_in_ns() {
        let sched = "sleep (28725, #threads: 1)\n---\nse.exec_start                                :      20848452.348269\nse.vruntime   :  1.000000\n";
        assert_eq!(exec_start_ns(sched), Some(20_848_452_348_269));
        assert_eq!(exec_start_ns("se.exec_start : 12\n"), Some(12_000_000));
        assert_eq!(exec_start_ns("se.exec_start : 12.5\n"), Some(12_500_000));
        assert_eq!(exec_start_ns("se.vruntime : 12.5\n"), None);
        assert_eq!(exec_start_ns("se.exec_start : 1x.5\n"), None);
        assert_eq!(exec_start_ns("se.exec_start : 1.5x\n"), None);
        assert_eq!(exec_start_ns("se.exec_start : 1.1234567x\n"), None);
        assert_eq!(
            exec_start_ns("se.exec_start : 1.1234567\n"),
            Some(1_123_456)
        );
    }

    #[test]
    fn idle_is_since_the_latest_thread_on_its_own_cpus_clock() {
        let ms = 1_000_000;
        // CPU 1's clock is 9 s behind CPU 0's.
        let clocks = BTreeMap::from([(0, 100_000 * ms), (1, 91_000 * ms)]);
        let runs = [
            ThreadRun {
                cpu: 0,
                at_ns: 40_000 * ms,
            },
            ThreadRun {
                cpu: 1,
                at_ns: 90_000 * ms,
            },
        ];
        assert_eq!(idle_ms(&runs, &clocks), Some(1_000));
        // A CPU leaktop may not run on: unknown, not another CPU's guess.
        let other = [ThreadRun {
            cpu: 5,
            at_ns: 95_000 * ms,
        }];
        assert_eq!(idle_ms(&other, &clocks), None);
        let mixed = [runs[0], other[0]];
        assert_eq!(idle_ms(&mixed, &clocks), Some(60_000));
        assert_eq!(idle_ms(&[], &clocks), None);
        // exec_start 0: moved to another CPU (or new) and waiting to run there.
        let moved = [runs[0], ThreadRun { cpu: 5, at_ns: 0 }];
        assert_eq!(idle_ms(&moved, &clocks), Some(0));
        assert_eq!(idle_ms(&moved, &BTreeMap::new()), Some(0));
    }

    #[test]
    fn a_sleeping_child_has_been_idle_since_it_slept() {
        use std::time::{Duration, Instant};
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let pid = child.id();
        let proc = procfs::process::Process::new(pid as i32).unwrap();
        // From the moment it is seen asleep, it runs no more.
        let deadline = Instant::now() + Duration::from_secs(10);
        while proc.stat().unwrap().state != 'S' && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        let asleep = Instant::now();
        std::thread::sleep(Duration::from_millis(1200));
        let start = proc.stat().unwrap().starttime;
        let runs = read_runs(Identity { pid, start });
        let elapsed = asleep.elapsed();
        let reused = read_runs(Identity {
            pid,
            start: start + 1,
        });
        let _ = child.kill();
        let _ = child.wait();
        assert!(reused.is_none(), "another start time is another process");
        let Some(runs) = runs else {
            eprintln!("skipped: no /proc/PID/sched (CONFIG_SCHED_DEBUG)");
            return;
        };
        let clocks = clocks(runs.iter().map(|r| r.cpu));
        let idle = idle_ms(&runs, &clocks).unwrap();
        // A lower bound by design (interrupts and steal left out): allow 10% for them.
        let least = elapsed.as_millis() as u64 * 9 / 10;
        assert!(
            (least..30_000).contains(&idle),
            "{idle} ms idle, asleep for {elapsed:?}"
        );
    }
}
