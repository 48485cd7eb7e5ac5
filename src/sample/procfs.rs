//! The Linux backend: reads `/proc/PID/stat` directly.
//!
//! Members' `stat` files are held open across ticks and re-read with `pread`: that
//! costs about a third of open+read+close, and a held descriptor of a process that has
//! exited fails with ESRCH even if its pid is reused, so identity is checked for free.
//!
//! New processes are found without listing `/proc` every tick (a listing costs about
//! 0.5 µs per entry, more than sampling the family once thousands of unrelated
//! processes run): the last pid the kernel handed out, from `/proc/loadavg`, bounds the
//! pids created since the previous tick, and only those are read. A listing is still
//! made when that range is large, when pids wrapped around, and every
//! [`FULL_SCAN_EVERY`] ticks as a safety net.

use std::os::fd::OwnedFd;

use rustix::fs::{Dir, Mode, OFlags};
use rustix::process::{Resource, Rlimit};

use super::stat::{self, Units};
use super::{Command, IdMap, IdSet, Identity, ProcSample, SampleError, Sampler};

/// Descriptors kept free for everything else leaktop opens.
const FD_HEADROOM: u64 = 256;
/// No point holding more descriptors than this even where the limit allows it.
const FD_CEILING: u64 = 65_536;
/// Ticks between two listings of `/proc` when pid ranges would do.
pub const FULL_SCAN_EVERY: u32 = 60;
/// The most recently allocated pids of a range that are not found yet are read again
/// next tick: a pid is handed out before its process can be opened in `/proc`.
const RETRY_NEWEST: u32 = 64;

/// How this tick finds the processes created since the previous one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Discovery {
    /// Read just the pids handed out since the previous tick: `first..=last`.
    Range { first: u32, last: u32 },
    /// List `/proc`; the pids handed out since the previous tick, if known, are new
    /// even where the previous listing had them (the pid was reused).
    Full { allocated: Option<(u32, u32)> },
}

/// Chooses how to discover, from the last pid handed out at the previous tick and now.
/// `known` is how many processes the previous listing found (a listing costs about
/// as much per entry as reading one new pid costs per 16).
fn plan(previous: Option<u32>, last: Option<u32>, known: usize, since_full: u32) -> Discovery {
    let (Some(previous), Some(last)) = (previous, last) else {
        return Discovery::Full { allocated: None };
    };
    if last < previous {
        // Wrapped past pid_max: everything above `previous` and up to `last`.
        return Discovery::Full {
            allocated: Some((previous.saturating_add(1), last)),
        };
    }
    let created = last - previous;
    let worth_reading = u32::try_from(known / 16).unwrap_or(u32::MAX).max(32);
    if created > worth_reading || since_full >= FULL_SCAN_EVERY {
        return Discovery::Full {
            // An empty range must not read as a wrapped one (first > last).
            allocated: (created > 0).then_some((previous + 1, last)),
        };
    }
    Discovery::Range {
        first: previous + 1,
        last,
    }
}

/// Whether `pid` was handed out in `allocated` (which wraps when first > last).
fn in_allocated(pid: u32, allocated: Option<(u32, u32)>) -> bool {
    match allocated {
        None => false,
        Some((first, last)) if first <= last => (first..=last).contains(&pid),
        Some((first, last)) => pid >= first || pid <= last,
    }
}

pub struct ProcfsSampler {
    units: Units,
    /// Open `stat` descriptors of members, by pid, with the start time they belong to.
    held: IdMap<u32, (u64, OwnedFd)>,
    /// Descriptors opened while discovering new pids, kept for one tick in case the
    /// caller makes them members.
    pending: IdMap<u32, OwnedFd>,
    fd_budget: usize,
    prev_pids: Vec<u32>,
    cur_pids: Vec<u32>,
    sampled: Vec<u32>,
    /// Member pids whose process was found gone this tick.
    vacated: Vec<u32>,
    buf: Vec<u8>,
    /// `/proc/loadavg`, held open: its last field is the last pid handed out.
    loadavg: Option<OwnedFd>,
    last_pid: Option<u32>,
    ticks_since_full: u32,
    /// Recently allocated pids not found yet, to read again next tick.
    retry: Vec<u32>,
    full_scans: u64,
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
            held: IdMap::default(),
            pending: IdMap::default(),
            fd_budget: raise_fd_limit().saturating_sub(FD_HEADROOM) as usize,
            prev_pids: Vec::new(),
            cur_pids: Vec::new(),
            sampled: Vec::new(),
            vacated: Vec::new(),
            buf: vec![0; 1024],
            loadavg: rustix::fs::open(
                "/proc/loadavg",
                OFlags::RDONLY | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .ok(),
            last_pid: None,
            ticks_since_full: 0,
            retry: Vec::new(),
            full_scans: 0,
        }
    }

    /// How many times `/proc` was listed (for tests and benchmarks).
    pub fn full_scans(&self) -> u64 {
        self.full_scans
    }

    /// The last pid the kernel handed out, from `/proc/loadavg`.
    fn read_last_pid(&mut self) -> Option<u32> {
        let fd = self.loadavg.as_ref()?;
        let n = rustix::io::pread(fd, &mut self.buf[..], 0).ok()?;
        use ::procfs::FromRead;
        Some(
            ::procfs::LoadAverage::from_read(&self.buf[..n])
                .ok()?
                .latest_pid,
        )
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

    /// Reads a newly found pid unless it is a member already sampled this tick or a
    /// thread; keeps its descriptor for one tick in case it becomes a member.
    fn read_newcomer(&mut self, pid: u32, out: &mut Vec<ProcSample>) -> Newcomer {
        if self.sampled.binary_search(&pid).is_ok() {
            return Newcomer::Process;
        }
        let Some(fd) = self.open_stat(pid) else {
            return Newcomer::Missing;
        };
        let Ok(n) = rustix::io::pread(&fd, &mut self.buf[..], 0) else {
            return Newcomer::Missing;
        };
        if stat::is_thread(&self.buf[..n]) {
            return Newcomer::Thread;
        }
        let Some(sample) = stat::parse(&self.buf[..n], self.units) else {
            return Newcomer::Missing;
        };
        if self.held_count() < self.fd_budget {
            self.pending.insert(pid, fd);
        }
        out.push(sample);
        Newcomer::Process
    }

    /// Reads the pids handed out since the previous tick, the retries, and the pids of
    /// members found gone (allocation only runs backwards on a wrap, which lists
    /// `/proc`, or when someone writes `ns_last_pid`, as checkpoint/restore tools do).
    fn discover_range(&mut self, first: u32, last: u32, out: &mut Vec<ProcSample>) {
        let mut extra = std::mem::take(&mut self.retry);
        extra.extend(&self.vacated);
        extra.retain(|p| !(first..=last).contains(p));
        extra.sort_unstable();
        extra.dedup();
        let newest = last.saturating_sub(RETRY_NEWEST).max(first);
        for (pid, from_range) in extra
            .iter()
            .map(|&p| (p, false))
            .chain((first..=last).map(|p| (p, true)))
        {
            match self.read_newcomer(pid, out) {
                Newcomer::Process => {
                    if let Err(at) = self.prev_pids.binary_search(&pid) {
                        self.prev_pids.insert(at, pid);
                    }
                }
                // Retried once: by the next tick it has been listable for a while.
                Newcomer::Missing if from_range && pid >= newest => self.retry.push(pid),
                Newcomer::Missing | Newcomer::Thread => {}
            }
        }
    }

    /// Lists `/proc` and reads every pid that is new to the previous listing, was
    /// handed out since the previous tick, or belonged to a member now gone.
    fn discover_full(
        &mut self,
        allocated: Option<(u32, u32)>,
        last: Option<u32>,
        out: &mut Vec<ProcSample>,
    ) -> Result<(), SampleError> {
        self.list_pids()?;
        self.full_scans += 1;
        let cur = std::mem::take(&mut self.cur_pids);
        let prev_pids = std::mem::take(&mut self.prev_pids);
        let mut prev = prev_pids.iter().peekable();
        for &pid in &cur {
            while prev.next_if(|&&p| p < pid).is_some() {}
            let known = prev.next_if_eq(&&pid).is_some()
                && self.vacated.binary_search(&pid).is_err()
                && !in_allocated(pid, allocated);
            if !known {
                self.read_newcomer(pid, out);
            }
        }
        // Pids handed out just now whose process was not listable yet.
        self.retry.clear();
        if let (Some(last), Some(_)) = (last, allocated) {
            let newest = last.saturating_sub(RETRY_NEWEST).max(1)..=last;
            self.retry.extend(
                newest
                    .filter(|&p| in_allocated(p, allocated))
                    .filter(|p| cur.binary_search(p).is_err()),
            );
        }
        self.prev_pids = cur;
        // Reuse the old list's allocation for the next listing.
        self.cur_pids = prev_pids;
        Ok(())
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
        // Read before the members, so nothing created while they are read is missed.
        let last = self.read_last_pid();
        self.sampled.clear();
        self.vacated.clear();
        for &id in members {
            self.sample_member(id, out);
        }
        // Members that left the list (exited, or dropped by the caller) release their fd.
        if self.held.len() > members.len() {
            let keep: IdSet<u32> = members.iter().map(|m| m.pid).collect();
            self.held.retain(|pid, _| keep.contains(pid));
        }
        self.pending.clear();
        self.sampled.sort_unstable();
        self.vacated.sort_unstable();

        let plan = plan(
            self.last_pid,
            last,
            self.prev_pids.len(),
            self.ticks_since_full,
        );
        match plan {
            Discovery::Range { first, last } => {
                self.ticks_since_full += 1;
                self.discover_range(first, last, out);
            }
            Discovery::Full { allocated } => {
                self.ticks_since_full = 0;
                self.discover_full(allocated, last, out)?;
            }
        }
        self.last_pid = last;
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

enum Newcomer {
    Process,
    Thread,
    Missing,
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
    ::procfs::boot_time_secs().ok().map(|s| s * 1000)
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
        let _cursor = pid_cursor();
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

    #[test]
    fn discovery_plan() {
        use Discovery::{Full, Range};
        assert_eq!(plan(None, Some(500), 0, 0), Full { allocated: None });
        assert_eq!(plan(Some(500), None, 100, 0), Full { allocated: None });
        assert_eq!(
            plan(Some(500), Some(500), 100, 5),
            Range {
                first: 501,
                last: 500
            }
        );
        assert_eq!(
            plan(Some(500), Some(510), 100, 5),
            Range {
                first: 501,
                last: 510
            }
        );
        // More new pids than a listing costs to read: list.
        assert_eq!(
            plan(Some(500), Some(600), 100, 5),
            Full {
                allocated: Some((501, 600))
            }
        );
        assert_eq!(
            plan(Some(500), Some(600), 3200, 5),
            Range {
                first: 501,
                last: 600
            }
        );
        // Wrapped around pid_max.
        assert_eq!(
            plan(Some(32_000), Some(310), 100, 5),
            Full {
                allocated: Some((32_001, 310))
            }
        );
        // The periodic safety net; when nothing was created, nothing counts as new.
        assert_eq!(
            plan(Some(500), Some(501), 100, FULL_SCAN_EVERY),
            Full {
                allocated: Some((501, 501))
            }
        );
        assert_eq!(
            plan(Some(500), Some(500), 100, FULL_SCAN_EVERY),
            Full { allocated: None }
        );
        assert!(in_allocated(32_500, Some((32_001, 310))));
        assert!(in_allocated(7, Some((32_001, 310))));
        assert!(!in_allocated(400, Some((32_001, 310))));
        assert!(!in_allocated(400, None));
    }

    /// Held by the tests that read the kernel's pid cursor and by the one that rewinds
    /// it (ns_last_pid): a rewind looks like a wrap-around and forces a listing.
    static PID_CURSOR: std::sync::Mutex<()> = std::sync::Mutex::new(());

    fn pid_cursor() -> std::sync::MutexGuard<'static, ()> {
        PID_CURSOR
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn sleeper() -> std::process::Child {
        std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap()
    }

    /// Kills and reaps on drop, even when an assertion fails.
    struct Reaped(Vec<std::process::Child>);

    impl Drop for Reaped {
        fn drop(&mut self) {
            for c in &mut self.0 {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }

    #[test]
    fn new_children_are_found_from_the_pid_range_without_listing_proc() {
        let _cursor = pid_cursor();
        let mut sampler = ProcfsSampler::new();
        let me = sampler.probe(std::process::id()).unwrap().id();
        let mut out = Vec::new();
        sampler.sample(&[me], &mut out).unwrap();
        assert_eq!(sampler.full_scans(), 1, "the first tick lists /proc");
        let mut found = std::collections::HashSet::new();
        let mut children = Reaped(Vec::new());
        for _ in 0..5 {
            children.0.extend((0..4).map(|_| sleeper()));
            out.clear();
            sampler.sample(&[me], &mut out).unwrap();
            found.extend(out.iter().filter(|s| s.ppid == me.pid).map(|s| s.pid));
        }
        for c in &children.0 {
            assert!(found.contains(&c.id()), "child {} missed", c.id());
        }
        // Unless the machine forked in bursts meanwhile, no tick listed /proc again.
        assert!(
            sampler.full_scans() <= 2,
            "{} listings",
            sampler.full_scans()
        );
    }

    #[test]
    fn a_periodic_listing_rereads_nothing_already_known() {
        let _cursor = pid_cursor();
        let mut sampler = ProcfsSampler::new();
        let me = sampler.probe(std::process::id()).unwrap().id();
        let mut out = Vec::new();
        sampler.sample(&[me], &mut out).unwrap();
        let mut fewest = out.len();
        // The fewest over several listings: a burst elsewhere on the machine can make
        // any one of them read a range of new pids.
        for _ in 0..3 * FULL_SCAN_EVERY + 3 {
            out.clear();
            sampler.sample(&[me], &mut out).unwrap();
            if sampler.ticks_since_full == 0 {
                fewest = fewest.min(out.len());
            }
        }
        assert!(sampler.full_scans() >= 3, "periodic listings happened");
        // This process, and whatever the machine started meanwhile: not everything.
        assert!(fewest < 8, "a listing re-read {fewest} processes");
    }

    #[test]
    fn threads_are_not_reported_as_processes() {
        let mut sampler = ProcfsSampler::new();
        let me = sampler.probe(std::process::id()).unwrap().id();
        let mut out = Vec::new();
        sampler.sample(&[me], &mut out).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            tx.send(rustix::thread::gettid().as_raw_nonzero().get() as u32)
                .unwrap();
            let _ = done_rx.recv();
        });
        let tid = rx.recv().unwrap();
        out.clear();
        sampler.sample(&[me], &mut out).unwrap();
        drop(done_tx);
        thread.join().unwrap();
        assert!(
            out.iter().all(|s| s.pid != tid),
            "thread {tid} reported as a process"
        );
    }

    #[test]
    fn a_fork_burst_between_ticks_misses_no_survivor() {
        let _cursor = pid_cursor();
        let mut sampler = ProcfsSampler::new();
        let me = sampler.probe(std::process::id()).unwrap().id();
        let mut out = Vec::new();
        sampler.sample(&[me], &mut out).unwrap();
        // Hundreds of short-lived processes around a few that stay.
        let mut stay = Reaped(Vec::new());
        for i in 0..200 {
            let _ = std::process::Command::new("true").status();
            if i % 50 == 0 {
                stay.0.push(sleeper());
            }
        }
        out.clear();
        sampler.sample(&[me], &mut out).unwrap();
        for c in &stay.0 {
            assert!(out.iter().any(|s| s.pid == c.id()), "{} missed", c.id());
        }
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

    /// After a wrap-around the kernel hands out pids densely, reusing those freed a
    /// moment ago: a pid the previous listing knew as an outsider may belong to a
    /// newcomer by the next tick, and must be read again. `gap` pids are handed out
    /// between the ticks: few are read as a range, many make the tick list `/proc`.
    fn outsiders_pid_reused_is_read_again(gap: u32) {
        let _cursor = pid_cursor();
        let base = std::fs::read_to_string("/proc/loadavg")
            .ok()
            .and_then(|l| l.trim().rsplit(' ').next()?.parse::<u32>().ok())
            .unwrap();
        let pid = base + gap + 100;
        let Some(outsider) = spawn_with_pid(pid) else {
            eprintln!("skipped: cannot steer pid allocation (needs root and ns_last_pid)");
            return;
        };
        let mut outsider = Reaped(vec![outsider]);
        let mut sampler = ProcfsSampler::new();
        let me = sampler.probe(std::process::id()).unwrap().id();
        let old = sampler.probe(pid).unwrap();
        std::fs::write("/proc/sys/kernel/ns_last_pid", (pid - gap).to_string()).unwrap();
        let mut out = Vec::new();
        sampler.sample(&[me], &mut out).unwrap();
        assert!(sampler.prev_pids.contains(&pid), "the outsider was listed");
        let _ = outsider.0[0].kill();
        let _ = outsider.0[0].wait();
        std::thread::sleep(std::time::Duration::from_millis(30));
        let Some(newcomer) = spawn_with_pid(pid) else {
            eprintln!("skipped: pid {pid} was taken meanwhile");
            return;
        };
        outsider.0.push(newcomer);
        out.clear();
        sampler.sample(&[me], &mut out).unwrap();
        let seen: Vec<_> = out.iter().filter(|s| s.pid == pid).collect();
        assert_eq!(
            seen.len(),
            1,
            "newcomer on reused pid {pid} missed: {seen:?}"
        );
        assert_ne!(seen[0].start, old.start);
        assert_eq!(seen[0].ppid, me.pid);
    }

    #[test]
    fn an_outsiders_pid_reused_between_ticks_is_read_from_the_range() {
        outsiders_pid_reused_is_read_again(8);
    }

    #[test]
    fn an_outsiders_pid_reused_between_ticks_is_read_by_a_listing() {
        outsiders_pid_reused_is_read_again(2_000);
    }

    #[test]
    fn a_members_pid_reused_between_ticks_is_seen_as_the_new_process() {
        let _cursor = pid_cursor();
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
