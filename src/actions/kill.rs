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
//!
//! A child whose parent forks it and exits between two polls (20 ms: a double fork in
//! a SIGTERM handler) is reparented beyond reach of the child lists. It is still
//! followed where it can be proved to descend from a target, never by guess:
//! - through the kernel's fork events ([`Host::events`], the connector: Linux as
//!   root, unless `LEAKTOP_NO_CONNECTOR` is set), which name every process forked from
//!   one of the kill's, however briefly its parent lived;
//! - by [`kill_owned`], in a session that only the kill's processes held when they
//!   were frozen: a process can join a session only by being forked inside it, so
//!   whatever appears in it later descends from them.
//!
//! Such escapees are ended in a further round, with SIGKILL (they had their chance
//! while their parents handled the signal), and counted ([`KillReport::escaped`]).
//! A newcomer to the targets' process groups that cannot be tied to them so is never
//! signalled, and is reported ([`KillReport::untied`]). Under `leaktop run` the
//! subreaper adopts every escapee and `run` ends it in a further round.
//!
//! Every effect goes through a [`Host`], so this runs on the fake host in tests.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::host::{self, Frozen, Host, Pinned, Signal, SignalError};
use crate::model::{MemSum, ProcRow};
use crate::sample::events::{EventRequest, EventSource, ProcEvent, Source, Stamped};
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
    /// Processes found outside the trees the kill held: forked while a target handled
    /// the signal and orphaned at once (a double fork), so no child list showed them;
    /// found through the kernel's fork events or in a session the targets held alone
    /// (see the module's documentation). Each is also in `ended`, `survived` or
    /// `skipped`.
    pub escaped: Vec<Identity>,
    /// Where the processes found on the way came from: (one of them, a target it
    /// descends from). One found in a session the targets held alone is listed with
    /// each target of that session.
    pub lineage: Vec<(Identity, Identity)>,
    /// Processes that appeared during the kill in a target's process group, orphaned,
    /// that could not be tied to a target (no fork event, a session others share):
    /// never signalled.
    pub untied: Vec<Identity>,
}

impl KillReport {
    /// Adds a further round's report (`run` ends what a round left in another): the
    /// lists and sums grow; the survivors are the later round's, which took the
    /// earlier one's as its targets.
    pub fn absorb(&mut self, round: KillReport) {
        self.ended.extend(round.ended);
        self.survived = round.survived;
        self.skipped.extend(round.skipped);
        self.freed_rss_kb += round.freed_rss_kb;
        self.freed_pss.merge(round.freed_pss);
        self.freed_uss.merge(round.freed_uss);
        self.mem_available_change_kb =
            match (self.mem_available_change_kb, round.mem_available_change_kb) {
                (Some(a), Some(b)) => Some(a + b),
                (a, b) => a.or(b),
            };
        self.escaped.extend(round.escaped);
        self.lineage.extend(round.lineage);
        self.untied.extend(round.untied);
    }

    /// The targets (of `targets`) with a process that did not end: the target itself,
    /// or one found on the way that descends from it (escapees included).
    pub fn not_ended(&self, targets: &[Identity]) -> Vec<Identity> {
        // Skipped as gone or its pid reused: it had ended already.
        let ended = [host::PinError::Gone, host::PinError::Reused].map(|e| e.to_string());
        let left: HashSet<Identity> = self
            .survived
            .iter()
            .chain(
                self.skipped
                    .iter()
                    .filter(|(_, why)| !ended.contains(why))
                    .map(|(id, _)| id),
            )
            .copied()
            .collect();
        let mut out: Vec<Identity> = targets
            .iter()
            .filter(|t| {
                left.contains(t)
                    || self
                        .lineage
                        .iter()
                        .any(|(p, from)| from == *t && left.contains(p))
            })
            .copied()
            .collect();
        out.dedup();
        out
    }
}

/// How long the SIGKILL round waits for the processes to go.
/// How long a kill waits, by default, for its targets to end before offering or
/// sending SIGKILL (`--grace` of the view, `orphans --kill` and `run --kill-leaks`).
pub const KILL_GRACE: Duration = Duration::from_secs(3);

const KILL_WAIT: Duration = Duration::from_secs(2);
/// Time between two looks at the processes being ended.
const POLL: Duration = Duration::from_millis(20);
/// Rounds of [`kill_owned`]: the first, then at most this many less one for escapees.
const ROUNDS: usize = 5;

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
    let mut kill = Kill::new(host, targets, stop);
    kill.round(kill.targets.clone(), signal, grace, escalate, false);
    kill.finish()
}

/// Ends the targets' trees as [`kill_trees`] does (`signal`, `grace`, then SIGKILL),
/// then, round after round with SIGKILL, what they forked and orphaned during the kill
/// that can be tied to them (see the module's documentation), until nothing of theirs
/// is left or 5 rounds have passed. What appeared in their process groups and cannot
/// be tied to them is reported, never signalled.
pub fn kill_owned(
    host: &dyn Host,
    targets: &[Target],
    signal: Signal,
    grace: Duration,
) -> KillReport {
    let stop = AtomicBool::new(false);
    let mut kill = Kill::new(host, targets, &stop);
    kill.round(kill.targets.clone(), signal, grace, true, true);
    for _ in 1..ROUNDS {
        let escapees = kill.escapees();
        if escapees.is_empty() {
            break;
        }
        // They had their chance while their parents handled the signal.
        kill.round(escapees, Signal::KILL, KILL_WAIT, false, false);
    }
    kill.report.untied = kill.untied();
    kill.finish()
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
    /// The targets each seen pid descends from (a target: itself).
    origin: HashMap<u32, Vec<Identity>>,
    /// The kernel's forks and exits since just before the first freeze (the connector
    /// only: no other source sees forks); `None` where there is none, or once some
    /// were lost.
    forks: Option<Box<dyn EventSource>>,
    /// Pids the fork events show forked from a process of the kill (or from one so
    /// forked), with their targets: not yet seen, perhaps already orphaned.
    forked: HashMap<u32, Vec<Identity>>,
    /// Pids the fork events saw exit: a later fork by that pid is another process's.
    exited: HashSet<u32>,
    /// Start time (clock ticks since boot) at which the kill began, less one tick;
    /// `None`: unknown. Nothing forked during the kill started before it.
    began: Option<u64>,
    /// Sessions only the kill's processes held at the first freeze, with the targets
    /// of each.
    owned_sessions: HashMap<u32, Vec<Identity>>,
    /// The process groups of the processes frozen at the first freeze.
    pgrps: HashSet<u32>,
    /// Everything still alive after its round's SIGKILL.
    survived: Vec<Identity>,
    /// `MemAvailable` (KiB) before the kill, where readable.
    available_before: Option<u64>,
    /// The targets, as given.
    targets: Vec<Identity>,
}

impl<'a> Kill<'a> {
    fn new(host: &'a dyn Host, targets: &[Target], stop: &'a AtomicBool) -> Kill<'a> {
        Kill {
            host,
            protected: host::protected(host),
            seen: HashSet::new(),
            report: KillReport::default(),
            known: targets.to_vec(),
            stop,
            origin: targets.iter().map(|t| (t.id.pid, vec![t.id])).collect(),
            // Before anything is frozen: no fork from then on is missed.
            forks: Some(host.events(EventRequest::from_env()))
                .filter(|e| e.source() == Source::Connector),
            forked: HashMap::new(),
            exited: HashSet::new(),
            began: host.now_start().map(|t| t.saturating_sub(1)),
            owned_sessions: HashMap::new(),
            pgrps: HashSet::new(),
            survived: Vec::new(),
            available_before: host.mem_available_kb(),
            targets: targets.iter().map(|t| t.id).collect(),
        }
    }

    /// Freezes `ids` and their trees, sends `signal`, resumes them, waits up to
    /// `grace` (following what they fork), then (with `escalate`) SIGKILLs what is
    /// left. With `sessions`, notes the sessions the frozen processes hold alone.
    fn round(
        &mut self,
        ids: Vec<Identity>,
        signal: Signal,
        grace: Duration,
        escalate: bool,
        sessions: bool,
    ) {
        let frozen = self.freeze_trees(ids, Frozen::new());
        if sessions {
            self.note_sessions(&frozen);
        }
        for p in frozen.held() {
            let _ = p.signal(signal);
        }
        let mut alive = self.wait_for_exit(frozen.thaw(), grace, signal);
        if escalate && !alive.is_empty() && !self.stop.load(Ordering::Relaxed) {
            // Freeze what is left and what it forked since, then SIGKILL it all at once.
            let mut frozen = Frozen::new();
            for pin in alive {
                let id = pin.id();
                match frozen.freeze(pin) {
                    Ok(()) => {}
                    Err((_, SignalError::Gone)) => self.ended(id),
                    Err((_, e)) => self.report.skipped.push((id, e.to_string())),
                }
            }
            let frozen = self.freeze_children(frozen);
            for p in frozen.held() {
                let _ = p.signal(Signal::KILL);
            }
            alive = self.wait_for_exit(frozen.thaw(), KILL_WAIT, Signal::KILL);
        }
        self.survived.extend(alive.iter().map(|p| p.id()));
    }

    /// The report, with the change of `MemAvailable` since the kill began.
    fn finish(mut self) -> KillReport {
        self.report.survived = std::mem::take(&mut self.survived);
        let available_before = self.available_before;
        if available_before.is_some()
            && !self.report.ended.is_empty()
            && !self.stop.load(Ordering::Relaxed)
        {
            self.report.mem_available_change_kb = available_before
                .zip(settled_available(self.host))
                .map(|(before, after)| after as i64 - before as i64);
        }
        self.report
    }

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
            let parents: Vec<Identity> = frozen.held().iter().map(|p| p.id()).collect();
            // One that ended meanwhile is found so by the wait that follows.
            let (new, _) = self.new_processes(&parents);
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

    /// The processes not seen before that descend from the kill's: the children of
    /// `parents`, and what the fork events show forked from any process of the kill
    /// (orphaned or not), with their identities, targets and RSS noted; and the
    /// parents that have ended (gone, a zombie, or their pid another process's now).
    fn new_processes(&mut self, parents: &[Identity]) -> (Vec<Identity>, Vec<Identity>) {
        let mut found: Vec<(u32, Vec<Identity>)> = Vec::new();
        let mut ended = Vec::new();
        let mut pids = Vec::new();
        for &parent in parents {
            pids.clear();
            self.host.children_of(parent.pid, &mut pids);
            // The list is the parent's only if the parent is still that process after
            // it was read: a pid listed under a reused pid is a stranger's child.
            if !self.is_alive(parent) {
                ended.push(parent);
                continue;
            }
            let from = self.origin.get(&parent.pid).cloned().unwrap_or_default();
            for &pid in &pids {
                if !self.seen.contains(&pid) && found.iter().all(|(p, _)| *p != pid) {
                    found.push((pid, from.clone()));
                }
            }
        }
        self.follow_forks();
        for (&pid, from) in &self.forked {
            if !self.seen.contains(&pid) && found.iter().all(|(p, _)| *p != pid) {
                found.push((pid, from.clone()));
            }
        }
        found.sort_unstable_by_key(|(p, _)| *p);
        let mut ids = Vec::new();
        for (pid, from) in found {
            let Some(s) = self.host.probe(pid).filter(|s| !s.has_exited()) else {
                continue;
            };
            // Its parent is none of the kill's: orphaned on the way.
            if !self.seen.contains(&s.ppid) {
                // Forked during the kill, or it is some other process now at that pid.
                if self.began.is_some_and(|b| s.start < b) {
                    continue;
                }
                self.report.escaped.push(s.id());
            }
            self.known.push(Target::sample(&s));
            self.note_origin(s.id(), from);
            ids.push(s.id());
        }
        (ids, ended)
    }

    /// Whether `id` is still running: neither gone (reaped), nor a zombie, nor its pid
    /// another process's.
    fn is_alive(&self, id: Identity) -> bool {
        self.host
            .probe(id.pid)
            .is_some_and(|s| s.start == id.start && !s.has_exited())
    }

    fn note_origin(&mut self, id: Identity, from: Vec<Identity>) {
        self.report
            .lineage
            .extend(from.iter().map(|target| (id, *target)));
        self.origin.insert(id.pid, from);
    }

    /// Reads the fork events that came since the last look: a process forked by one
    /// of the kill's (or by one so forked) is the kill's too.
    fn follow_forks(&mut self) {
        let Some(source) = self.forks.as_mut() else {
            return;
        };
        let mut events: Vec<Stamped> = Vec::new();
        // What is waiting, without waiting: the source hands it out in batches.
        loop {
            let before = events.len();
            if source.wait(Duration::ZERO, &mut events).is_err() {
                self.forks = None;
                break;
            }
            if events.len() == before {
                break;
            }
        }
        for event in events.into_iter().map(|s| s.event) {
            match event {
                ProcEvent::Fork { parent, child } if child.is_process() => {
                    let (parent, child) = (parent.tgid, child.pid);
                    if self.exited.contains(&parent) {
                        continue;
                    }
                    let from = match (self.seen.contains(&parent), self.forked.get(&parent)) {
                        (true, _) => self.origin.get(&parent).cloned(),
                        (false, Some(from)) => Some(from.clone()),
                        (false, None) => None,
                    };
                    if let Some(from) = from {
                        self.exited.remove(&child);
                        self.forked.insert(child, from);
                    }
                }
                ProcEvent::Exit { task, .. } if task.is_process() => {
                    self.exited.insert(task.pid);
                    self.forked.remove(&task.pid);
                }
                // Some were lost: a fork may have gone unseen, and an exit (so a
                // pid's reuse) too. What was read before is sound; nothing more is
                // taken from the events.
                ProcEvent::Lost { .. } => {
                    self.forks = None;
                    return;
                }
                _ => {}
            }
        }
    }

    /// Notes the sessions that only frozen processes hold (every live process in it
    /// is frozen by this kill), and the frozen processes' process groups.
    fn note_sessions(&mut self, frozen: &Frozen) {
        let held: HashSet<u32> = frozen.held().iter().map(|p| p.id().pid).collect();
        let scan = self.host.scan();
        let mut sessions: HashMap<u32, Vec<Identity>> = HashMap::new();
        for s in scan.iter().filter(|s| held.contains(&s.pid)) {
            self.pgrps.insert(s.pgrp);
            if s.session == 0 {
                continue;
            }
            let targets = sessions.entry(s.session).or_default();
            for t in self.origin.get(&s.pid).into_iter().flatten() {
                if !targets.contains(t) {
                    targets.push(*t);
                }
            }
        }
        for s in &scan {
            if !s.has_exited() && !held.contains(&s.pid) {
                sessions.remove(&s.session);
            }
        }
        self.owned_sessions = sessions;
    }

    /// What the kill has not seen yet and owns: processes the fork events show forked
    /// from its own, and live newcomers to the sessions it held alone.
    fn escapees(&mut self) -> Vec<Identity> {
        let (mut ids, _) = self.new_processes(&[]);
        if self.owned_sessions.is_empty() {
            return ids;
        }
        for s in self.host.scan() {
            if s.has_exited()
                || self.seen.contains(&s.pid)
                || ids.iter().any(|id| id.pid == s.pid)
                || self.began.is_some_and(|b| s.start < b)
            {
                continue;
            }
            let Some(from) = self.owned_sessions.get(&s.session).cloned() else {
                continue;
            };
            self.report.escaped.push(s.id());
            self.known.push(Target::sample(&s));
            self.note_origin(s.id(), from);
            ids.push(s.id());
        }
        ids
    }

    /// Live processes that started during the kill in a process group of its first
    /// freeze, and that it never took for its own.
    fn untied(&self) -> Vec<Identity> {
        let Some(began) = self.began else {
            return Vec::new();
        };
        self.host
            .scan()
            .into_iter()
            .filter(|s| {
                !s.has_exited()
                    && s.start >= began
                    && self.pgrps.contains(&s.pgrp)
                    && !self.seen.contains(&s.pid)
                    && !self.protected.contains(&s.pid)
            })
            .map(|s| s.id())
            .collect()
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
            let parents: Vec<Identity> = alive.iter().map(|p| p.id()).collect();
            // Gone once reaped, a zombie until then: either way it has ended.
            let (new, mut gone) = self.new_processes(&parents);
            alive.retain(|p| !gone.contains(&p.id()));
            let old = alive.len();
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
            // The new ones may have ended of the signal at once.
            let mut i = 0;
            alive.retain(|p| {
                i += 1;
                let ended = i > old && !self.is_alive(p.id());
                if ended {
                    gone.push(p.id());
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
