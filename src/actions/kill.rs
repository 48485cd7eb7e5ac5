//! Ending process trees safely.
//!
//! Each target is pinned with a pidfd and re-identified (pid + start time) *after* the
//! pidfd is open, so the signal can only reach the process that was meant. Trees are
//! frozen with SIGSTOP top-down and re-enumerated until no new child appears, so nothing
//! forks away mid-kill; then the signal goes out, the trees are resumed, and survivors
//! of the grace period may get SIGKILL. PID 1, leaktop and its ancestors are never
//! signalled.
//!
//! Children that appear while the signal is being handled (a process that forks on
//! SIGTERM, or keeps forking and ignores it) are followed at every poll of the grace
//! period and get the same signal; before SIGKILL the survivors are frozen and
//! re-enumerated again, so the SIGKILL round reaches every child they have by then.
//! A child whose parent forks it and exits between two polls (20 ms) is reparented
//! beyond reach of this enumeration; under `leaktop run` the subreaper adopts it and
//! `run` ends it in a further round.
//!
//! Every effect goes through a [`Host`], so this runs on the fake host in tests.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::host::{self, Frozen, Host, Pinned, Signal, SignalError};
use crate::model::{MemSum, ProcRow};
use crate::sample::{Identity, ProcSample};

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
    /// RSS in KiB when the caller last sampled it (shared pages counted in full).
    pub rss_kb: u64,
    /// Last-known PSS in KiB (`Pss:` of `/proc/PID/smaps_rollup`); `None`: unknown.
    pub pss_kb: Option<u64>,
    /// Last-known USS in KiB (`Private_Clean:` + `Private_Dirty:`); `None`: unknown.
    pub uss_kb: Option<u64>,
}

impl Target {
    /// A process as a tick shows it.
    pub fn row(row: &ProcRow) -> Target {
        Target {
            id: row.id(),
            rss_kb: row.rss_kb,
            pss_kb: row.pss_kb,
            uss_kb: row.uss_kb,
        }
    }

    /// A process as a sample shows it.
    pub fn sample(sample: &ProcSample) -> Target {
        Target {
            id: sample.id(),
            rss_kb: sample.rss_kb,
            pss_kb: None,
            uss_kb: None,
        }
    }
}

#[derive(Debug, Default)]
pub struct KillReport {
    /// Every process that ended, the targets and the children found on the way.
    pub ended: Vec<Identity>,
    pub survived: Vec<Identity>,
    /// Never signalled, with the reason (gone, pid reused, protected, no permission).
    pub skipped: Vec<(Identity, String)>,
    /// Summed RSS in KiB of the ended processes, as last sampled: counts shared pages
    /// once per process, so it overstates what came back.
    pub freed_rss_kb: u64,
    /// Summed last-known PSS in KiB of the ended processes, and how many had none:
    /// what came back when they were all the sharers of their pages (a pool killed
    /// whole).
    pub freed_pss: MemSum,
    /// Summed last-known USS in KiB of the ended processes: the least that came back.
    pub freed_uss: MemSum,
    /// How much the machine's `MemAvailable` (KiB) rose from before the kill to after
    /// it (negative: fell). Every process on the machine moves it: a second opinion,
    /// shown and never relied on. `None` if it could not be read.
    pub mem_available_change_kb: Option<i64>,
}

/// How long the SIGKILL round waits for the processes to go.
const KILL_WAIT: Duration = Duration::from_secs(2);
/// Time between two looks at the processes being ended.
const POLL: Duration = Duration::from_millis(20);

/// Sends `signal` to the targets and every child they have at the moment of the kill
/// (and every child that appears while they handle it), waits up to `grace`, then
/// (with `escalate`) SIGKILLs survivors and waits up to 2 s more.
pub fn kill_trees(
    host: &dyn Host,
    targets: &[Target],
    signal: Signal,
    grace: Duration,
    escalate: bool,
) -> KillReport {
    kill_trees_until(
        host,
        targets,
        signal,
        grace,
        escalate,
        &AtomicBool::new(false),
    )
}

/// [`kill_trees`] that stops waiting once `stop` is set (the view quitting): the
/// signal still goes out to every target and the trees are resumed before it returns,
/// but the grace period is not waited out, nothing is escalated, and whatever is still
/// alive is reported as a survivor.
pub fn kill_trees_until(
    host: &dyn Host,
    targets: &[Target],
    signal: Signal,
    grace: Duration,
    escalate: bool,
    stop: &AtomicBool,
) -> KillReport {
    let mut kill = Kill {
        host,
        protected: host::protected(host),
        seen: HashSet::new(),
        report: KillReport::default(),
        known: targets.to_vec(),
        stop,
    };
    let available_before = host.mem_available_kb();
    let frozen = kill.freeze_trees(targets.iter().map(|t| t.id).collect(), Frozen::new());
    for p in frozen.held() {
        let _ = p.signal(signal);
    }
    let mut alive = kill.wait_for_exit(frozen.thaw(), grace, signal);
    if escalate && !alive.is_empty() && !stop.load(Ordering::Relaxed) {
        // Freeze what is left and what it forked since, then SIGKILL it all at once.
        let mut frozen = Frozen::new();
        for pin in alive {
            let id = pin.id();
            match frozen.freeze(pin) {
                Ok(()) => {}
                Err((_, SignalError::Gone)) => kill.ended(id),
                Err((_, e)) => kill.report.skipped.push((id, e.to_string())),
            }
        }
        let frozen = kill.freeze_children(frozen);
        for p in frozen.held() {
            let _ = p.signal(Signal::KILL);
        }
        alive = kill.wait_for_exit(frozen.thaw(), KILL_WAIT, Signal::KILL);
    }
    kill.report.survived = alive.iter().map(|p| p.id()).collect();
    if available_before.is_some() && !kill.report.ended.is_empty() && !stop.load(Ordering::Relaxed)
    {
        kill.report.mem_available_change_kb = available_before
            .zip(settled_available(host))
            .map(|(before, after)| after as i64 - before as i64);
    }
    kill.report
}

/// `MemAvailable` once it stops moving (less than 1 MiB between two polls, at most
/// half a second): a process counts as ended once it is exiting, while the kernel may
/// still be freeing its pages.
fn settled_available(host: &dyn Host) -> Option<u64> {
    let mut last = host.mem_available_kb()?;
    for _ in 0..25 {
        host.sleep(POLL);
        let now = host.mem_available_kb()?;
        if now.abs_diff(last) < 1024 {
            return Some(now);
        }
        last = now;
    }
    Some(last)
}

/// One kill in progress.
struct Kill<'a> {
    host: &'a dyn Host,
    protected: HashSet<u32>,
    /// Every pid already pinned or refused, so nothing is signalled twice.
    seen: HashSet<u32>,
    report: KillReport,
    /// What the caller (or a scan, for children found on the way: RSS only) last knew
    /// of each process's memory.
    known: Vec<Target>,
    /// Set: stop waiting for the processes to end.
    stop: &'a AtomicBool,
}

impl Kill<'_> {
    /// Pins and stops `ids`, then their children, top-down, until no new child
    /// appears.
    fn freeze_trees(&mut self, ids: Vec<Identity>, mut frozen: Frozen) -> Frozen {
        for id in ids {
            self.freeze_one(id, &mut frozen);
        }
        self.freeze_children(frozen)
    }

    fn freeze_children(&mut self, mut frozen: Frozen) -> Frozen {
        loop {
            let new = self.new_children(frozen.held().iter().map(|p| p.id().pid));
            if new.is_empty() {
                return frozen;
            }
            for id in new {
                self.freeze_one(id, &mut frozen);
            }
        }
    }

    fn freeze_one(&mut self, id: Identity, frozen: &mut Frozen) {
        if !self.seen.insert(id.pid) {
            return;
        }
        match self.pin(id) {
            Ok(pin) => {
                if let Err((_, e)) = frozen.freeze(pin) {
                    match e {
                        SignalError::Gone => self.ended(id),
                        e => self.report.skipped.push((id, e.to_string())),
                    }
                }
            }
            Err(why) => self.report.skipped.push((id, why)),
        }
    }

    fn pin(&self, id: Identity) -> Result<Box<dyn Pinned>, String> {
        if self.protected.contains(&id.pid) {
            return Err("protected: init, leaktop itself or one of its ancestors".into());
        }
        self.host.pin(id).map_err(|e| e.to_string())
    }

    /// The children of `parents` not seen before, with their identities (and their
    /// RSS noted for the report).
    fn new_children(&mut self, parents: impl Iterator<Item = u32>) -> Vec<Identity> {
        let mut pids = Vec::new();
        for parent in parents {
            self.host.children_of(parent, &mut pids);
        }
        pids.retain(|p| !self.seen.contains(p));
        pids.sort_unstable();
        pids.dedup();
        let mut ids = Vec::new();
        for pid in pids {
            match self.host.probe(pid) {
                Some(s) if !s.has_exited() => {
                    self.known.push(Target::sample(&s));
                    ids.push(s.id());
                }
                _ => {}
            }
        }
        ids
    }

    fn known(&self, id: Identity) -> Option<&Target> {
        self.known.iter().rev().find(|t| t.id == id)
    }

    fn ended(&mut self, id: Identity) {
        let known = self.known(id).copied();
        self.report.freed_rss_kb += known.map_or(0, |t| t.rss_kb);
        self.report.freed_pss.add(known.and_then(|t| t.pss_kb));
        self.report.freed_uss.add(known.and_then(|t| t.uss_kb));
        self.report.ended.push(id);
    }

    /// Polls until every held process has ended or `limit` has passed; children that
    /// appear meanwhile are pinned and sent `signal` too.
    fn wait_for_exit(
        &mut self,
        mut alive: Vec<Box<dyn Pinned>>,
        limit: Duration,
        signal: Signal,
    ) -> Vec<Box<dyn Pinned>> {
        let end = self.host.now() + limit.min(Duration::from_secs(3600));
        loop {
            let new = self.new_children(alive.iter().map(|p| p.id().pid));
            for id in new {
                if !self.seen.insert(id.pid) {
                    continue;
                }
                match self.pin(id) {
                    Ok(pin) => match pin.signal(signal) {
                        Ok(()) => {
                            let _ = pin.signal(Signal::CONT);
                            alive.push(pin);
                        }
                        Err(SignalError::Gone) => self.ended(id),
                        Err(e) => self.report.skipped.push((id, e.to_string())),
                    },
                    Err(why) => self.report.skipped.push((id, why)),
                }
            }
            let host = self.host;
            let mut gone = Vec::new();
            alive.retain(|p| {
                let id = p.id();
                // Gone once reaped, a zombie until then: either way it has ended.
                let ended = host
                    .probe(id.pid)
                    .is_none_or(|s| s.start != id.start || s.has_exited());
                if ended {
                    gone.push(id);
                }
                !ended
            });
            for id in gone {
                self.ended(id);
            }
            if alive.is_empty() || self.host.now() >= end || self.stop.load(Ordering::Relaxed) {
                return alive;
            }
            self.host.sleep(POLL);
        }
    }
}
