//! Ending process trees safely.
//!
//! Each target is pinned with a pidfd and re-identified (pid + start time) *after* the
//! pidfd is open, so the signal can only reach the process that was meant. Trees are
//! frozen with SIGSTOP top-down and re-enumerated until no new child appears, so nothing
//! forks away mid-kill; then the signal goes out, the trees are resumed, and survivors
//! of the grace period may get SIGKILL. PID 1, leaktop and its ancestors are never
//! signalled.

use std::collections::HashSet;
use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};

use rustix::process::{Pid, PidfdFlags, Signal, pidfd_open, pidfd_send_signal};

use crate::sample::procfs::ProcfsSampler;
use crate::sample::{Identity, ProcSample, Sampler};

/// The signals a user may choose to end a tree with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KillSignal {
    Term,
    Int,
    Hup,
    Kill,
}

impl KillSignal {
    pub const ALL: [KillSignal; 4] = [
        KillSignal::Term,
        KillSignal::Int,
        KillSignal::Hup,
        KillSignal::Kill,
    ];

    pub fn name(self) -> &'static str {
        match self {
            KillSignal::Term => "SIGTERM",
            KillSignal::Int => "SIGINT",
            KillSignal::Hup => "SIGHUP",
            KillSignal::Kill => "SIGKILL",
        }
    }

    pub fn signal(self) -> Signal {
        match self {
            KillSignal::Term => Signal::TERM,
            KillSignal::Int => Signal::INT,
            KillSignal::Hup => Signal::HUP,
            KillSignal::Kill => Signal::KILL,
        }
    }

    /// The next one in [`KillSignal::ALL`], wrapping around.
    pub fn next(self) -> KillSignal {
        let i = Self::ALL.iter().position(|&s| s == self).unwrap_or(0);
        Self::ALL[(i + 1) % Self::ALL.len()]
    }

    pub fn prev(self) -> KillSignal {
        let i = Self::ALL.iter().position(|&s| s == self).unwrap_or(0);
        Self::ALL[(i + Self::ALL.len() - 1) % Self::ALL.len()]
    }
}

/// A process to end, as the caller last saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target {
    pub id: Identity,
    pub rss_kb: u64,
}

#[derive(Debug, Default)]
pub struct KillReport {
    pub ended: Vec<Identity>,
    pub survived: Vec<Identity>,
    /// Never signalled, with the reason (gone, pid reused, protected, no permission).
    pub skipped: Vec<(Identity, String)>,
    pub freed_rss_kb: u64,
}

struct Pinned {
    id: Identity,
    rss_kb: u64,
    fd: OwnedFd,
}

/// Sends `signal` to the targets and every child they have at the moment of the kill,
/// waits up to `grace`, then (with `escalate`) SIGKILLs survivors and waits again.
pub fn kill_trees(
    targets: &[Target],
    signal: Signal,
    grace: Duration,
    escalate: bool,
) -> KillReport {
    let mut report = KillReport::default();
    let mut sampler = ProcfsSampler::new();
    let protected = protected_pids(&mut sampler);
    let mut pinned: Vec<Pinned> = Vec::new();
    let mut seen: HashSet<u32> = HashSet::new();
    let mut pending: Vec<Target> = targets.to_vec();
    // Freeze top-down and follow new children until the set stops growing.
    while !pending.is_empty() {
        for t in std::mem::take(&mut pending) {
            if !seen.insert(t.id.pid) {
                continue;
            }
            match pin(t, &protected, &mut sampler) {
                Ok(p) => match pidfd_send_signal(&p.fd, Signal::STOP) {
                    Err(rustix::io::Errno::PERM) => report
                        .skipped
                        .push((t.id, "permission denied (another user's process?)".into())),
                    _ => pinned.push(p),
                },
                Err(why) => report.skipped.push((t.id, why)),
            }
        }
        let parents: HashSet<u32> = pinned.iter().map(|p| p.id.pid).collect();
        pending = all_processes()
            .into_iter()
            .filter(|s| parents.contains(&s.ppid) && !seen.contains(&s.pid))
            .map(|s| Target {
                id: s.id(),
                rss_kb: s.rss_kb,
            })
            .collect();
    }
    for p in &pinned {
        let _ = pidfd_send_signal(&p.fd, signal);
    }
    for p in &pinned {
        let _ = pidfd_send_signal(&p.fd, Signal::CONT);
    }
    let mut alive = wait_for_exit(pinned, grace, &mut report, &mut sampler);
    if escalate && !alive.is_empty() {
        for p in &alive {
            let _ = pidfd_send_signal(&p.fd, Signal::KILL);
        }
        alive = wait_for_exit(alive, Duration::from_secs(2), &mut report, &mut sampler);
    }
    report.survived = alive.iter().map(|p| p.id).collect();
    report
}

fn pin(t: Target, protected: &HashSet<u32>, sampler: &mut ProcfsSampler) -> Result<Pinned, String> {
    if protected.contains(&t.id.pid) {
        return Err("protected: init, leaktop itself or one of its ancestors".into());
    }
    let pid = Pid::from_raw(t.id.pid as i32).ok_or("not a valid pid")?;
    let fd = pidfd_open(pid, PidfdFlags::empty())
        .map_err(|e| format!("gone or not accessible ({e})"))?;
    // The pidfd now pins whatever holds the pid: check it is still the same process.
    match sampler.probe(t.id.pid) {
        Some(s) if s.start == t.id.start => Ok(Pinned {
            id: t.id,
            rss_kb: t.rss_kb,
            fd,
        }),
        Some(_) => Err("pid reused by another process; not signalled".into()),
        None => Err("already gone".into()),
    }
}

fn wait_for_exit(
    mut alive: Vec<Pinned>,
    limit: Duration,
    report: &mut KillReport,
    sampler: &mut ProcfsSampler,
) -> Vec<Pinned> {
    let end = Instant::now() + limit;
    loop {
        reap_adopted();
        alive.retain(|p| {
            // Gone once reaped, a zombie until then: either way it has ended.
            let gone = sampler
                .probe(p.id.pid)
                .is_none_or(|s| s.start != p.id.start || s.state == b'Z');
            if gone {
                report.ended.push(p.id);
                report.freed_rss_kb += p.rss_kb;
            }
            !gone
        });
        if alive.is_empty() || Instant::now() >= end {
            return alive;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Reaps any exited children (leaktop adopts orphans when it is a subreaper).
pub fn reap_adopted() {
    while let Ok(Some(_)) = rustix::process::wait(rustix::process::WaitOptions::NOHANG) {}
}

fn all_processes() -> Vec<ProcSample> {
    crate::sample::scan(&mut ProcfsSampler::new()).unwrap_or_default()
}

/// The pids a kill never signals: PID 1, leaktop and every ancestor of leaktop.
pub fn protected() -> HashSet<u32> {
    protected_pids(&mut ProcfsSampler::new())
}

fn protected_pids(sampler: &mut ProcfsSampler) -> HashSet<u32> {
    let mut set: HashSet<u32> = [0, 1].into_iter().collect();
    let mut pid = std::process::id();
    while pid > 1 && set.insert(pid) {
        match sampler.probe(pid) {
            Some(s) => pid = s.ppid,
            None => break,
        }
    }
    set
}
