//! An orphaning the lineage told ([`Death`]), read from `/proc` into its record: the
//! children that live on under another parent, the trees under them, and what each
//! one is (group, session, cgroup, command, RSS, PSS), within a budget of reads.

use std::time::{Duration, Instant};

use crate::host::Host;
use crate::model::watch::lineage::{Death, Details, Lineage};
use crate::model::watch::record::{Died, Left, MAX_LEFT, Orphaning, bounded};
use crate::sample::{IdMap, Identity, ProcSample, Sampler};

/// The most processes whose command, facts and PSS are read per second: past it an
/// orphaning is recorded with what its `stat` says (a fork storm costs a bounded
/// amount of reading, and its records say less).
pub const DETAILED_PER_SEC: u32 = 200;

/// A per-second allowance of detailed reads.
#[derive(Debug)]
pub struct Budget {
    left: u32,
    since: Option<Instant>,
}

impl Budget {
    pub fn new() -> Budget {
        Budget {
            left: DETAILED_PER_SEC,
            since: None,
        }
    }

    /// Takes one read if the second's allowance has some left.
    pub fn take(&mut self, now: Instant) -> bool {
        match self.since {
            Some(s) if now.duration_since(s) < Duration::from_secs(1) => {}
            _ => {
                self.since = Some(now);
                self.left = DETAILED_PER_SEC;
            }
        }
        if self.left == 0 {
            return false;
        }
        self.left -= 1;
        true
    }
}

impl Default for Budget {
    fn default() -> Self {
        Budget::new()
    }
}

/// What became of an orphaning the lineage told.
#[derive(Debug)]
pub enum Outcome {
    Recorded(Box<Orphaning>),
    /// Its children are still under the dead pid: its other threads live on.
    Held,
    /// Nothing to record.
    Nothing,
}

/// What the records are read with.
pub struct Reader<'a> {
    pub host: &'a dyn Host,
    pub sampler: &'a mut (dyn Sampler + Send),
    pub budget: &'a mut Budget,
}

impl Reader<'_> {
    /// Reads what a parent is, while it lives, into the table.
    pub fn details(&mut self, lineage: &mut Lineage, pid: u32) {
        let Some(s) = self.host.probe(pid).filter(|s| !s.has_exited()) else {
            return;
        };
        let id = s.id();
        let cmd = self
            .sampler
            .command(id)
            .map(|c| bounded(&c.cmd))
            .unwrap_or_default();
        let details = Details {
            cmd,
            exe: self.host.exe_path(id).map(|e| bounded(&e)),
            uid: self.host.uid(id),
        };
        lineage.set_details(&s, details);
    }

    /// The record of `death`; [`Outcome::Held`] while a child is still under the
    /// dead pid (the process's other threads live on and hold it: its main thread
    /// exited first); [`Outcome::Nothing`] if no child lives on, or, with `scope`,
    /// none of them is that user's. `now` is the scan that told it, if a scan did.
    pub fn orphaning(
        &mut self,
        death: &Death,
        lineage: &mut Lineage,
        now: Option<&IdMap<u32, ProcSample>>,
        scope: Option<u32>,
        source: &str,
        at_ms: u64,
    ) -> Outcome {
        let mut adopted: Vec<ProcSample> = Vec::new();
        for &(pid, start) in &death.children {
            let Some(s) = read(self.host, now, pid) else {
                continue;
            };
            let orphan = if death.confirmed {
                start.is_none_or(|st| st == s.start) && !s.has_exited()
            } else {
                lineage.confirm(death.died.pid, start, &s, at_ms)
            };
            if orphan {
                adopted.push(s);
            }
        }
        if adopted.is_empty() {
            return if self.held(death, now) {
                Outcome::Held
            } else {
                Outcome::Nothing
            };
        }
        if let Some(uid) = scope
            && !adopted.iter().any(|s| self.host.uid(s.id()) == Some(uid))
        {
            return Outcome::Nothing;
        }
        adopted.sort_by_key(|s| (s.start, s.pid));
        adopted.truncate(MAX_LEFT);
        let roots: Vec<u32> = adopted.iter().map(|s| s.pid).collect();
        let below = lineage.descendants(&roots, 4 * MAX_LEFT);
        let room = MAX_LEFT - adopted.len();
        let more = below.len().saturating_sub(room);
        let mut left: Vec<Left> = Vec::with_capacity(adopted.len() + room.min(below.len()));
        for s in &adopted {
            left.push(self.left(s, true, death.died.pid));
        }
        for pid in below.into_iter().take(room) {
            if let Some(s) = read(self.host, now, pid).filter(|s| !s.has_exited()) {
                left.push(self.left(&s, false, s.ppid));
            }
        }
        for l in &left {
            lineage.follow(l.id(), death.time_ms, death.died.pid);
        }
        let rss_kb = left.iter().map(|l| l.rss_kb).sum();
        let pss_kb = left.iter().map(|l| l.pss_kb).sum();
        Outcome::Recorded(Box::new(Orphaning {
            time_ms: death.time_ms,
            exact: death.exact,
            since_ms: death.since_ms,
            source: source.to_string(),
            died: Died {
                cmd: death.died.cmd.as_deref().map(bounded),
                ..death.died.clone()
            },
            left,
            more,
            rss_kb,
            pss_kb,
        }))
    }

    /// Whether a child of `death` is alive and still under the dead pid.
    pub fn held(&self, death: &Death, now: Option<&IdMap<u32, ProcSample>>) -> bool {
        !death.confirmed
            && death.children.iter().any(|&(pid, start)| {
                read(self.host, now, pid).is_some_and(|s| {
                    s.ppid == death.died.pid
                        && !s.has_exited()
                        && start.is_none_or(|st| st == s.start)
                })
            })
    }

    /// One process left behind; its command, uid, cgroup and PSS while the budget
    /// lasts.
    fn left(&mut self, s: &ProcSample, adopted: bool, ppid_was: u32) -> Left {
        let id: Identity = s.id();
        let detailed = self.budget.take(self.host.now());
        let facts = detailed.then(|| self.host.facts(id)).flatten();
        Left {
            pid: s.pid,
            start: s.start,
            ppid_was,
            ppid: s.ppid,
            adopted,
            pgid: s.pgrp,
            sid: s.session,
            uid: facts.as_ref().and_then(|f| f.uid),
            cgroup: facts.and_then(|f| f.cgroup).map(|c| bounded(&c)),
            comm: s.comm.to_string_lossy(),
            cmd: detailed
                .then(|| self.sampler.command(id))
                .flatten()
                .map(|c| bounded(&c.cmd)),
            rss_kb: s.rss_kb,
            pss_kb: detailed
                .then(|| self.host.memory(id))
                .flatten()
                .map(|m| m.pss_kb),
        }
    }
}

/// The process at `pid`: from the scan `now` that told the orphaning, else read now.
fn read(host: &dyn Host, now: Option<&IdMap<u32, ProcSample>>, pid: u32) -> Option<ProcSample> {
    match now {
        Some(map) => map.get(&pid).copied(),
        None => host.probe(pid),
    }
}
