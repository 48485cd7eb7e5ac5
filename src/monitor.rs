//! The sampling loop's core: a sampler, a tracker and a clock, one tick per `step`.
//! Shared by `record`, the TUI and `run`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::host::Host;
use crate::model::alerts::{AlertConfig, AlertDetector};
use crate::model::tracker::Outside;
use crate::model::{Header, Tick, Tracker};
use crate::sample::{
    self, Backend, Command, Identity, ProcSample, SampleError, Sampler, StartClock,
};

/// The default leak grace: an orphan that exits by itself within a second (a pool's
/// worker seeing EOF, a shutdown draining) is not a leak.
pub const LEAK_GRACE: Duration = Duration::from_secs(1);

#[derive(Debug, thiserror::Error)]
pub enum AttachError {
    #[error("no process with PID {0}")]
    NoSuchProcess(u32),
    #[error("PID {0} exists but its /proc entry cannot be read (permission denied?)")]
    Unreadable(u32),
    #[error(transparent)]
    Sample(#[from] SampleError),
}

pub struct Monitor {
    host: Arc<dyn Host>,
    sampler: Box<dyn Sampler + Send>,
    tracker: Tracker,
    header: Header,
    started: Instant,
    members: Vec<Identity>,
    samples: Vec<ProcSample>,
    alerts: AlertDetector,
    /// `--follow`: when the root exits, a new process matching this takes over.
    follow: Option<String>,
    /// leaktop is the family's subreaper (`run`, `demo`): its children are members.
    adopter: bool,
    adopted: Vec<u32>,
}

impl Monitor {
    /// Starts watching `pid` and the family it grows. `subreapers` are pids known to
    /// adopt orphans (leaktop itself under `run`).
    pub fn attach(
        pid: u32,
        backend: Backend,
        interval: Duration,
        subreapers: Vec<u32>,
    ) -> Result<Self, AttachError> {
        Self::attach_with(sample::open(backend)?, pid, interval, subreapers)
    }

    /// [`Monitor::attach`] with a sampler of the caller's.
    pub fn attach_with(
        sampler: Box<dyn Sampler + Send>,
        pid: u32,
        interval: Duration,
        subreapers: Vec<u32>,
    ) -> Result<Self, AttachError> {
        Self::attach_on(crate::host::real(), sampler, pid, interval, subreapers)
    }

    /// [`Monitor::attach`] on a host and with a sampler of the caller's. leaktop's own
    /// pid and the kernel's list of its children come from `host`.
    pub fn attach_on(
        host: Arc<dyn Host>,
        mut sampler: Box<dyn Sampler + Send>,
        pid: u32,
        interval: Duration,
        subreapers: Vec<u32>,
    ) -> Result<Self, AttachError> {
        let root = match sampler.probe(pid) {
            Some(root) if pid != 0 => root,
            _ if host.exists(pid) => return Err(AttachError::Unreadable(pid)),
            _ => return Err(AttachError::NoSuchProcess(pid)),
        };
        let command = settled_command(sampler.as_mut(), root.id());
        let me = host.own_pid();
        let adopter = subreapers.contains(&me);
        let root_parent = sampler.probe(root.ppid);
        let root_ancestors = ancestors(sampler.as_mut(), root.ppid);
        let header = Header {
            root_pid: pid,
            root_start: root.start,
            root_cmd: command.cmd.clone(),
            interval_ms: interval.as_millis() as u64,
            started_ms: now_ms(),
            host: host_name(),
        };
        let tracker = Tracker::new(
            root,
            command,
            Outside {
                root_parent,
                root_ancestors,
                subreapers,
                watcher: Some(me),
            },
        );
        let started = host.now();
        Ok(Monitor {
            host,
            sampler,
            tracker,
            header,
            started,
            members: Vec::new(),
            samples: Vec::new(),
            alerts: AlertDetector::new(AlertConfig::default()),
            follow: None,
            adopter,
            adopted: Vec::new(),
        }
        .with_leak_grace(LEAK_GRACE))
    }

    pub fn header(&self) -> &Header {
        &self.header
    }

    /// Alert thresholds other than the defaults.
    pub fn with_alerts(mut self, config: AlertConfig) -> Self {
        self.alerts = AlertDetector::new(config);
        self
    }

    /// How long an orphan must outlive its parent (or the family its root) before it is
    /// called leaked; never less than one interval. The default is [`LEAK_GRACE`].
    pub fn with_leak_grace(mut self, grace: Duration) -> Self {
        let interval = Duration::from_millis(self.header.interval_ms);
        self.tracker
            .set_leak_grace(grace.max(interval).as_millis() as u64);
        self
    }

    /// Keeps watching across restarts: once the root has exited, the first new process
    /// whose command matches `pattern` becomes the root.
    pub fn following(mut self, pattern: Option<String>) -> Self {
        self.follow = pattern;
        self
    }

    /// How start times map to wall time (for process ages).
    pub fn start_clock(&self) -> Option<StartClock> {
        self.sampler.start_clock()
    }

    pub fn tracker(&self) -> &Tracker {
        &self.tracker
    }

    /// Samples once and returns the new tick.
    pub fn step(&mut self) -> Result<Tick, SampleError> {
        self.tracker.members_to_sample(&mut self.members);
        self.samples.clear();
        self.sampler.sample(&self.members, &mut self.samples)?;
        if self.adopter {
            self.add_adopted();
        }
        let sampler = &mut self.sampler;
        let elapsed = self.host.now().duration_since(self.started).as_millis() as u64;
        self.tracker
            .update_at(elapsed, &self.samples, &mut |id| sampler.command(id));
        if let Some(pattern) = &self.follow
            && !self.tracker.root_alive()
        {
            self.take_over(&pattern.clone());
        }
        let mut tick = self.tracker.snapshot(elapsed, now_ms());
        tick.alerts = self.alerts.observe(&tick);
        Ok(tick)
    }
}

impl Monitor {
    /// Makes sure every child of leaktop is sampled. As the family's subreaper leaktop
    /// is the parent of every orphan it made, so the kernel's own list of its children
    /// catches any that pid discovery could have missed between two ticks.
    fn add_adopted(&mut self) {
        self.adopted.clear();
        self.host
            .children_of(self.host.own_pid(), &mut self.adopted);
        for &pid in &self.adopted {
            // Members are sampled already; a newcomer only once.
            if self.tracker.member(pid).is_none()
                && self.samples.iter().all(|s| s.pid != pid)
                && let Some(s) = self.sampler.probe(pid)
            {
                self.samples.push(s);
            }
        }
    }

    /// Looks among the processes new this tick for the root's successor: the oldest
    /// one that matches and is not of the old generation.
    fn take_over(&mut self, pattern: &str) {
        let me = self.host.own_pid();
        let old = self.tracker.root();
        let mut candidates: Vec<ProcSample> = self
            .samples
            .iter()
            .filter(|s| s.pid != me && s.start >= old.start && !s.has_exited())
            .filter(|s| self.tracker.member(s.pid).is_none_or(|m| m.id != s.id()))
            .copied()
            .collect();
        candidates.sort_by_key(|s| (s.start, s.pid));
        for s in candidates {
            if let Some(command) = self.sampler.command(s.id())
                && command.matches(pattern)
            {
                let sampler = &mut self.sampler;
                self.tracker
                    .follow(s, command, &self.samples, &mut |id| sampler.command(id));
                return;
            }
        }
    }
}

/// `pid` and its ancestors up to init, parent first (pid + start time).
fn ancestors(sampler: &mut dyn Sampler, mut pid: u32) -> Vec<Identity> {
    let mut chain: Vec<Identity> = Vec::new();
    while pid > 0 && chain.iter().all(|a| a.pid != pid) {
        let Some(s) = sampler.probe(pid) else { break };
        chain.push(s.id());
        if pid == 1 {
            break;
        }
        pid = s.ppid;
    }
    chain
}

/// The root's command line. A root that `run` or `demo` has just spawned may still be
/// inside `exec`, with no command line yet (it would read as `[leaktop]`): give it a
/// few milliseconds to finish.
fn settled_command(sampler: &mut dyn Sampler, id: Identity) -> Command {
    let mut command = sampler.command(id).unwrap_or_default();
    for _ in 0..20 {
        if !command.is_bare() {
            break;
        }
        std::thread::sleep(Duration::from_millis(1));
        match sampler.command(id) {
            Some(c) => command = c,
            None => break,
        }
    }
    command
}

/// `--name PATTERN`: the oldest process whose command matches, if any.
pub fn find_by_name(backend: Backend, pattern: &str) -> Result<Option<u32>, SampleError> {
    let mut sampler = sample::open(backend)?;
    let all = sample::scan(sampler.as_mut())?;
    let command = |s: &ProcSample| sampler.command(s.id()).unwrap_or_default();
    Ok(oldest_matching(&all, command, pattern, std::process::id()))
}

/// The oldest process whose name or command line contains `pattern`, other than
/// leaktop itself and its ancestors (whose command lines contain the pattern too).
pub fn oldest_matching(
    samples: &[ProcSample],
    mut command: impl FnMut(&ProcSample) -> Command,
    pattern: &str,
    me: u32,
) -> Option<u32> {
    let by_pid: HashMap<u32, &ProcSample> = samples.iter().map(|s| (s.pid, s)).collect();
    let mut mine = vec![me];
    let mut p = me;
    while let Some(s) = by_pid.get(&p) {
        if s.ppid == 0 || mine.contains(&s.ppid) {
            break;
        }
        mine.push(s.ppid);
        p = s.ppid;
    }
    samples
        .iter()
        .filter(|s| !mine.contains(&s.pid) && !s.has_exited() && s.pid > 1)
        .filter(|s| command(s).matches(pattern))
        .min_by_key(|s| (s.start, s.pid))
        .map(|s| s.pid)
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn host_name() -> String {
    #[cfg(unix)]
    {
        rustix::system::uname()
            .nodename()
            .to_string_lossy()
            .into_owned()
    }
    #[cfg(not(unix))]
    {
        std::env::var("COMPUTERNAME").unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::{Comm, Command};

    fn s(pid: u32, ppid: u32, start: u64) -> ProcSample {
        ProcSample {
            pid,
            ppid,
            state: b'S',
            rss_kb: 0,
            pgrp: pid,
            session: pid,
            start,
            cpu_ms: 0,
            comm: Comm::new(format!("p{pid}").as_bytes()),
        }
    }

    #[test]
    fn oldest_match_skips_leaktop_and_its_ancestors() {
        let mut samples = vec![
            s(10, 1, 10),
            s(20, 10, 20),
            s(30, 1, 30),
            s(40, 1, 40),
            s(50, 1, 50),
        ];
        samples[2].start = 5; // 30 is the oldest but one
        samples[4].start = 1; // 50, another leaktop watching "serve", is the oldest
        let cmd = |p: &ProcSample| Command {
            name: if p.pid == 50 {
                "leaktop".into()
            } else {
                format!("p{}", p.pid)
            },
            cmd: match p.pid {
                10 => "sh -c leaktop --name serve".into(),
                20 | 50 => "leaktop --name serve".into(),
                _ => format!("cce serve {}", p.pid),
            },
        };
        assert_eq!(oldest_matching(&samples, cmd, "serve", 20), Some(30));
        assert_eq!(oldest_matching(&samples, cmd, "nothing", 20), None);
    }
}
