//! The Linux backend: reads `/proc/PID/stat` directly.
//!
//! Members' `stat` files are held open across ticks and re-read with `pread`: that
//! costs about a third of open+read+close, and a held descriptor of a process that has
//! exited fails with ESRCH even if its pid is reused, so identity is checked for free.

use std::collections::HashMap;
use std::os::fd::OwnedFd;

use rustix::fs::{Dir, Mode, OFlags};
use rustix::process::{Resource, Rlimit};

use super::stat::{self, Units};
use super::{Command, Identity, ProcSample, SampleError, Sampler};

/// Descriptors kept free for everything else leaktop opens.
const FD_HEADROOM: u64 = 256;
/// No point holding more descriptors than this even where the limit allows it.
const FD_CEILING: u64 = 65_536;

pub struct ProcfsSampler {
    units: Units,
    /// Open `stat` descriptors of members, by pid, with the start time they belong to.
    held: HashMap<u32, (u64, OwnedFd)>,
    /// Descriptors opened while discovering new pids, kept for one tick in case the
    /// caller makes them members.
    pending: HashMap<u32, OwnedFd>,
    fd_budget: usize,
    prev_pids: Vec<u32>,
    cur_pids: Vec<u32>,
    sampled: Vec<u32>,
    /// Member pids whose process was found gone this tick.
    vacated: Vec<u32>,
    buf: Vec<u8>,
}

impl Default for ProcfsSampler {
    fn default() -> Self {
        Self::new()
    }
}

impl ProcfsSampler {
    pub fn new() -> Self {
        let units = Units {
            page_kb: (rustix::param::page_size() / 1024) as u64,
            ticks_per_sec: rustix::param::clock_ticks_per_second(),
        };
        ProcfsSampler {
            units,
            held: HashMap::new(),
            pending: HashMap::new(),
            fd_budget: raise_fd_limit().saturating_sub(FD_HEADROOM) as usize,
            prev_pids: Vec::new(),
            cur_pids: Vec::new(),
            sampled: Vec::new(),
            vacated: Vec::new(),
            buf: vec![0; 1024],
        }
    }

    /// How many descriptors may be held open at once.
    pub fn fd_budget(&self) -> usize {
        self.fd_budget
    }

    fn held_count(&self) -> usize {
        self.held.len() + self.pending.len()
    }

    fn read_fd(&mut self, fd: &OwnedFd) -> Option<ProcSample> {
        let n = rustix::io::pread(fd, &mut self.buf[..], 0).ok()?;
        stat::parse(&self.buf[..n], self.units)
    }

    fn open_stat(&self, pid: u32) -> Option<OwnedFd> {
        let mut path = itoa_path(pid);
        path.extend_from_slice(b"/stat\0");
        let path = std::ffi::CStr::from_bytes_with_nul(&path).ok()?;
        rustix::fs::open(path, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty()).ok()
    }

    /// Reads a pid through a fresh descriptor; returns the descriptor for reuse.
    fn read_new(&mut self, pid: u32) -> Option<(ProcSample, OwnedFd)> {
        let fd = self.open_stat(pid)?;
        let sample = self.read_fd(&fd)?;
        Some((sample, fd))
    }

    fn list_pids(&mut self) -> Result<(), SampleError> {
        self.cur_pids.clear();
        let dirfd = rustix::fs::open(
            "/proc",
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| SampleError::List(e.into()))?;
        let dir = Dir::read_from(&dirfd).map_err(|e| SampleError::List(e.into()))?;
        for entry in dir {
            let Ok(entry) = entry else { continue };
            if let Some(pid) = parse_pid(entry.file_name().to_bytes()) {
                self.cur_pids.push(pid);
            }
        }
        self.cur_pids.sort_unstable();
        Ok(())
    }

    fn sample_member(&mut self, id: Identity, out: &mut Vec<ProcSample>) {
        let held = self
            .held
            .remove(&id.pid)
            .filter(|(start, _)| *start == id.start);
        let was_held = held.is_some();
        let fd = match held {
            Some((_, fd)) => Some(fd),
            None => self
                .pending
                .remove(&id.pid)
                .or_else(|| self.open_stat(id.pid)),
        };
        let Some((sample, fd)) = fd.and_then(|fd| Some((self.read_fd(&fd)?, fd))) else {
            // The process is gone; its pid may already belong to a newcomer, which
            // discovery must look at even though the pid is not new.
            self.vacated.push(id.pid);
            return;
        };
        // A held descriptor can only read its own process; a fresh one may have
        // found a newcomer on a reused pid, which the caller sorts out.
        if sample.start == id.start && (was_held || self.held_count() < self.fd_budget) {
            self.held.insert(id.pid, (sample.start, fd));
        }
        out.push(sample);
        self.sampled.push(id.pid);
    }
}

impl Sampler for ProcfsSampler {
    fn sample(
        &mut self,
        members: &[Identity],
        out: &mut Vec<ProcSample>,
    ) -> Result<(), SampleError> {
        self.list_pids()?;
        self.sampled.clear();
        self.vacated.clear();
        for &id in members {
            self.sample_member(id, out);
        }
        // Members that left the list (exited, or dropped by the caller) release their fd.
        if self.held.len() > members.len() {
            let keep: std::collections::HashSet<u32> = members.iter().map(|m| m.pid).collect();
            self.held.retain(|pid, _| keep.contains(pid));
        }
        self.pending.clear();
        self.sampled.sort_unstable();
        self.vacated.sort_unstable();

        let cur = std::mem::take(&mut self.cur_pids);
        let prev_pids = std::mem::take(&mut self.prev_pids);
        let mut prev = prev_pids.iter().peekable();
        for &pid in &cur {
            while prev.next_if(|&&p| p < pid).is_some() {}
            let known =
                prev.next_if_eq(&&pid).is_some() && self.vacated.binary_search(&pid).is_err();
            if known || self.sampled.binary_search(&pid).is_ok() {
                continue;
            }
            if let Some((sample, fd)) = self.read_new(pid) {
                if self.held_count() < self.fd_budget {
                    self.pending.insert(pid, fd);
                }
                out.push(sample);
            }
        }
        self.prev_pids = cur;
        // Reuse the old list's allocation for the next readdir.
        self.cur_pids = prev_pids;
        Ok(())
    }

    fn command(&mut self, id: Identity) -> Option<Command> {
        let sample = self.probe(id.pid)?;
        if sample.start != id.start {
            return None;
        }
        let raw = std::fs::read(format!("/proc/{}/cmdline", id.pid)).unwrap_or_default();
        let name = sample.comm.to_string_lossy();
        let cmd = if raw.is_empty() {
            format!("[{name}]")
        } else {
            super::join_cmdline(&raw)
        };
        Some(Command { name, cmd })
    }

    fn start_clock(&self) -> Option<super::StartClock> {
        Some(super::StartClock {
            boot_ms: boot_time_ms()?,
            per_sec: self.units.ticks_per_sec,
        })
    }

    fn probe(&mut self, pid: u32) -> Option<ProcSample> {
        self.read_new(pid).map(|(sample, _)| sample)
    }
}

fn parse_pid(name: &[u8]) -> Option<u32> {
    if name.is_empty() || !name.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(name).ok()?.parse().ok()
}

fn itoa_path(pid: u32) -> Vec<u8> {
    let mut path = Vec::with_capacity(24);
    path.extend_from_slice(b"/proc/");
    let mut digits = [0u8; 10];
    let mut n = pid;
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    path.extend_from_slice(&digits[i..]);
    path
}

/// Raises the soft descriptor limit toward the hard one; returns the soft limit in force.
fn raise_fd_limit() -> u64 {
    let limit = rustix::process::getrlimit(Resource::Nofile);
    let soft = limit.current.unwrap_or(FD_CEILING);
    let hard = limit.maximum.unwrap_or(FD_CEILING).min(FD_CEILING);
    if hard > soft {
        let raised = Rlimit {
            current: Some(hard),
            maximum: limit.maximum,
        };
        if rustix::process::setrlimit(Resource::Nofile, raised).is_ok() {
            return hard;
        }
    }
    soft
}

/// The boot time from `/proc/stat` (`btime`, whole seconds).
fn boot_time_ms() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().find(|l| l.starts_with("btime "))?;
    line[6..].trim().parse::<u64>().ok().map(|s| s * 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_proc_paths() {
        assert_eq!(itoa_path(0), b"/proc/0");
        assert_eq!(itoa_path(4_194_304), b"/proc/4194304");
    }

    #[test]
    fn reads_itself_and_finds_its_child() {
        let mut sampler = ProcfsSampler::new();
        let me = sampler.probe(std::process::id()).expect("own stat");
        let mut out = Vec::new();
        sampler.sample(&[me.id()], &mut out).unwrap();
        assert!(out.iter().any(|s| s.pid == me.pid));
        let count_first = out.len();
        assert!(count_first > 1, "first tick sees every process");

        let mut child = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .unwrap();
        out.clear();
        sampler.sample(&[me.id()], &mut out).unwrap();
        let _ = child.kill();
        let _ = child.wait();
        let found = out
            .iter()
            .find(|s| s.pid == child.id())
            .expect("new child sampled");
        assert_eq!(found.ppid, me.pid);
        assert!(
            out.len() < count_first,
            "unrelated known pids are not re-read"
        );
    }

    /// Forces the kernel to hand an exited member's pid to a new process.
    fn spawn_with_pid(pid: u32) -> Option<std::process::Child> {
        for _ in 0..20 {
            std::fs::write("/proc/sys/kernel/ns_last_pid", (pid - 1).to_string()).ok()?;
            let mut child = std::process::Command::new("sleep").arg("5").spawn().ok()?;
            if child.id() == pid {
                return Some(child);
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        None
    }

    #[test]
    fn a_members_pid_reused_between_ticks_is_seen_as_the_new_process() {
        let mut sampler = ProcfsSampler::new();
        let mut first = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .unwrap();
        let pid = first.id();
        let member = sampler.probe(pid).unwrap().id();
        let mut out = Vec::new();
        sampler.sample(&[member], &mut out).unwrap();
        first.kill().unwrap();
        first.wait().unwrap();
        // Start times have clock-tick (10 ms) resolution: a pid reused within the same
        // tick is indistinguishable, which outside forced allocation cannot happen.
        std::thread::sleep(std::time::Duration::from_millis(30));
        let Some(mut second) = spawn_with_pid(pid) else {
            eprintln!("skipped: cannot steer pid allocation (needs root and ns_last_pid)");
            return;
        };
        out.clear();
        sampler.sample(&[member], &mut out).unwrap();
        let _ = second.kill();
        let _ = second.wait();
        let seen: Vec<_> = out.iter().filter(|s| s.pid == pid).collect();
        assert_eq!(seen.len(), 1, "{seen:?}");
        assert_ne!(
            seen[0].start, member.start,
            "the newcomer, not the dead member"
        );
    }
}
