//! The lineage of every process the watcher can see, kept from scans of `/proc` and
//! the process events between them, and the orphanings it tells.
//!
//! - A **scan** ([`Lineage::scan`]) replaces the table with what `/proc` shows and
//!   notices what happened since the last one: a process whose parent changed while
//!   its old parent is gone was orphaned (when, between the two scans; how, unknown);
//!   a followed orphan that is gone met its fate (how, unknown).
//! - An **event** ([`Lineage::observe`]) tells it as it happens: a fork adds the child
//!   under its parent; an exit of a process with children is an orphaning (when and
//!   how, exact), which the caller confirms by reading the children
//!   ([`Lineage::confirm`]): only a child that lives on under another parent is an
//!   orphan. An exec forgets what was read of the process's command; a loss asks for
//!   a scan.
//! - The commands of processes are read only for **parents** (a process is asked
//!   about when it first has a child: [`Seen::NewParent`]), so the table costs a few
//!   dozen bytes a process and a command line per parent.
//! - **Bounded**: at most [`MAX_KNOWN`] processes (forks past that are dropped and a
//!   scan is asked for) and [`MAX_FOLLOWED`] orphans followed for their fate.
//!
//! Pure: the caller reads `/proc` and hands the results in.

use std::sync::Arc;

use super::record::{Died, FateKind, How};
use crate::sample::events::{Ended, ProcEvent};
use crate::sample::{Comm, IdMap, Identity, ProcSample};

/// The most processes the table holds (`pid_max` is 4 Mi at most; a machine with
/// this many live processes is past what a watcher can follow).
pub const MAX_KNOWN: usize = 1 << 18;
/// The most orphans followed for their fate at once.
pub const MAX_FOLLOWED: usize = 1 << 16;

/// What was read of a parent's command, once, while it lived.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Details {
    /// The command line (at most [`super::record::MAX_TEXT`] bytes).
    pub cmd: String,
    /// The executable (`/proc/PID/exe`), where readable.
    pub exe: Option<String>,
    /// The real uid, where readable.
    pub uid: Option<u32>,
}

/// One process as the table knows it.
#[derive(Debug, Clone)]
pub struct Known {
    /// Its start time; `None` for one forked since the last scan and not read yet.
    pub start: Option<u64>,
    pub ppid: u32,
    pub pgrp: u32,
    pub session: u32,
    pub comm: Comm,
    pub details: Option<Arc<Details>>,
    /// When it was last seen alive (wall ms): a scan or an event.
    pub seen_ms: u64,
}

impl Known {
    /// What `/proc` says of a process at `at_ms`, with what was read of it before.
    fn of(s: &ProcSample, details: Option<Arc<Details>>, at_ms: u64) -> Known {
        Known {
            start: Some(s.start),
            ppid: s.ppid,
            pgrp: s.pgrp,
            session: s.session,
            comm: s.comm,
            details,
            seen_ms: at_ms,
        }
    }
}

/// An orphan followed until it ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Followed {
    pub id: Identity,
    /// When it was orphaned (wall ms), and the pid that died.
    pub orphaned_ms: u64,
    pub died_pid: u32,
}

/// A process that died with children.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Death {
    pub died: Died,
    /// When it died (exact), or when a scan noticed (between `since_ms` and this).
    pub time_ms: u64,
    pub exact: bool,
    pub since_ms: Option<u64>,
    /// Its children as the table knew them (start `None`: forked since the last scan).
    pub children: Vec<(u32, Option<u64>)>,
    /// Children a scan found already under their new parent (confirmed).
    pub confirmed: bool,
}

/// What an event or a scan told, for the caller to act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen {
    /// This process has a child and nothing was read of its command yet: read it now,
    /// while it lives ([`Lineage::set_details`]).
    NewParent(u32),
    /// A process died with children: confirm each ([`Lineage::confirm`]).
    Orphaning(Death),
    /// A followed orphan ended.
    Fate {
        followed: Followed,
        time_ms: u64,
        fate: FateKind,
        how: Option<How>,
    },
    /// A thread of `tgid` exited after its main thread did, while children the
    /// process had are still to be told orphaned: the process may be gone now (its
    /// children reparented), which an orphaning held back waits for.
    ThreadExit {
        tgid: u32,
        time_ms: u64,
        how: Option<How>,
    },
    /// Events were lost, or the table is full: scan now.
    Rescan,
}

/// The table; see the module's documentation.
#[derive(Debug, Default)]
pub struct Lineage {
    procs: IdMap<u32, Known>,
    /// How many children each pid has in the table.
    kids: IdMap<u32, u32>,
    followed: IdMap<u32, Followed>,
    /// Orphans not followed because [`MAX_FOLLOWED`] were.
    pub unfollowed: u64,
}

impl Lineage {
    pub fn new() -> Lineage {
        Lineage::default()
    }

    /// Processes in the table.
    pub fn len(&self) -> usize {
        self.procs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.procs.is_empty()
    }

    pub fn get(&self, pid: u32) -> Option<&Known> {
        self.procs.get(&pid)
    }

    /// Orphans followed now.
    pub fn followed(&self) -> impl Iterator<Item = &Followed> {
        self.followed.values()
    }

    /// Processes with children in the table, and every followed orphan: the
    /// processes whose exits matter (what a pidfd source watches), those of `uid`
    /// only where given (a parent's uid is known once its details are read).
    pub fn worth_watching(&self, uid: Option<u32>, out: &mut Vec<Identity>) {
        for (&pid, &n) in &self.kids {
            if n == 0 {
                continue;
            }
            let Some(k) = self.procs.get(&pid) else {
                continue;
            };
            let mine = uid.is_none_or(|u| k.details.as_ref().and_then(|d| d.uid) == Some(u));
            if let (Some(start), true) = (k.start, mine) {
                out.push(Identity { pid, start });
            }
        }
        out.extend(self.followed.values().map(|f| f.id));
    }

    /// Records what was read of `pid` while it lived (its start, name and command),
    /// if it is still the process the table knows: same start, where known.
    pub fn set_details(&mut self, now: &ProcSample, details: Details) {
        if let Some(k) = self.procs.get_mut(&now.pid)
            && k.start.is_none_or(|s| s == now.start)
        {
            k.start = Some(now.start);
            k.comm = now.comm;
            k.details = Some(Arc::new(details));
        }
    }

    /// Follows `id`, orphaned by `died_pid` at `orphaned_ms`, until it ends.
    pub fn follow(&mut self, id: Identity, orphaned_ms: u64, died_pid: u32) {
        if self.followed.len() >= MAX_FOLLOWED && !self.followed.contains_key(&id.pid) {
            self.unfollowed += 1;
            return;
        }
        self.followed.insert(
            id.pid,
            Followed {
                id,
                orphaned_ms,
                died_pid,
            },
        );
    }

    /// Stops following `pid` (a policy ended it: its fate is recorded already).
    pub fn unfollow(&mut self, pid: u32) -> Option<Followed> {
        self.followed.remove(&pid)
    }

    /// A child of an orphaning read after its parent died: the table takes what
    /// `/proc` says now. Returns whether it is an orphan: alive, the process the
    /// table knew (same start, where known), and under another parent than `died`.
    pub fn confirm(
        &mut self,
        died: u32,
        known_start: Option<u64>,
        now: &ProcSample,
        at_ms: u64,
    ) -> bool {
        let same = known_start.is_none_or(|s| s == now.start);
        if !same || now.has_exited() {
            return false;
        }
        self.put(now, at_ms);
        now.ppid != died
    }

    /// Every process under `roots` (their descendants in the table, `roots`
    /// excluded), at most `cap`, parents before children.
    pub fn descendants(&self, roots: &[u32], cap: usize) -> Vec<u32> {
        let mut index: IdMap<u32, Vec<u32>> = IdMap::default();
        for (&pid, k) in &self.procs {
            if k.ppid != pid {
                index.entry(k.ppid).or_default().push(pid);
            }
        }
        for children in index.values_mut() {
            children.sort_unstable_by_key(|c| (self.procs[c].start, *c));
        }
        let mut out = Vec::new();
        let mut queue: std::collections::VecDeque<u32> = roots.iter().copied().collect();
        let mut seen: crate::sample::IdSet<u32> = roots.iter().copied().collect();
        while let Some(pid) = queue.pop_front() {
            for &c in index.get(&pid).into_iter().flatten() {
                if out.len() >= cap {
                    return out;
                }
                if seen.insert(c) {
                    out.push(c);
                    queue.push_back(c);
                }
            }
        }
        out
    }

    /// Feeds one event that happened at `at_ms` (wall ms); appends what it told.
    pub fn observe(&mut self, at_ms: u64, event: &ProcEvent, out: &mut Vec<Seen>) {
        match *event {
            ProcEvent::Fork { parent, child } if child.is_process() => {
                self.fork(at_ms, parent.tgid, child.pid, out)
            }
            ProcEvent::Exit { task, how, .. } if task.is_process() => {
                self.exit(at_ms, task.pid, how, out)
            }
            // A thread outliving its process's main thread keeps the children: the
            // process ends with its last thread.
            ProcEvent::Exit { task, how, .. }
                if !self.procs.contains_key(&task.tgid)
                    && self.kids.get(&task.tgid).is_some_and(|&n| n > 0) =>
            {
                out.push(Seen::ThreadExit {
                    tgid: task.tgid,
                    time_ms: at_ms,
                    how: how.map(How::from_ended),
                })
            }
            ProcEvent::Exec { task } => {
                if let Some(k) = self.procs.get_mut(&task.tgid) {
                    // Another program now: what was read of it is stale.
                    k.details = None;
                    k.seen_ms = at_ms;
                    if self.kids.get(&task.tgid).is_some_and(|&n| n > 0) {
                        out.push(Seen::NewParent(task.tgid));
                    }
                }
            }
            ProcEvent::Setsid { task } => {
                if let Some(k) = self.procs.get_mut(&task.tgid) {
                    k.pgrp = task.tgid;
                    k.session = task.tgid;
                }
            }
            ProcEvent::Comm { task, comm } if task.is_process() => {
                if let Some(k) = self.procs.get_mut(&task.tgid) {
                    k.comm = comm;
                }
            }
            ProcEvent::Lost { .. } => out.push(Seen::Rescan),
            _ => {}
        }
    }

    fn fork(&mut self, at_ms: u64, parent: u32, child: u32, out: &mut Vec<Seen>) {
        if self.procs.len() >= MAX_KNOWN && !self.procs.contains_key(&child) {
            out.push(Seen::Rescan);
            return;
        }
        let (pgrp, session, comm, needs) = match self.procs.get(&parent) {
            Some(p) => (p.pgrp, p.session, p.comm, p.details.is_none()),
            None => (0, 0, Comm::default(), true),
        };
        self.insert(
            child,
            Known {
                start: None,
                ppid: parent,
                pgrp,
                session,
                comm,
                details: None,
                seen_ms: at_ms,
            },
        );
        if needs && self.kids.get(&parent).copied() == Some(1) {
            out.push(Seen::NewParent(parent));
        }
    }

    fn exit(&mut self, at_ms: u64, pid: u32, how: Option<Ended>, out: &mut Vec<Seen>) {
        if let Some(f) = self.followed.remove(&pid) {
            let fate = match how {
                Some(Ended::Code(_)) => FateKind::Exited,
                Some(Ended::Signaled { .. }) => FateKind::Signaled,
                None => FateKind::Gone,
            };
            out.push(Seen::Fate {
                followed: f,
                time_ms: at_ms,
                fate,
                how: how.map(How::from_ended),
            });
        }
        let Some(known) = self.remove(pid) else {
            return;
        };
        if self.kids.get(&pid).copied().unwrap_or(0) == 0 {
            return;
        }
        let children: Vec<(u32, Option<u64>)> = self
            .procs
            .iter()
            .filter(|(_, k)| k.ppid == pid)
            .map(|(&c, k)| (c, k.start))
            .collect();
        out.push(Seen::Orphaning(Death {
            died: died_of(pid, &known, how.map(How::from_ended)),
            time_ms: at_ms,
            exact: true,
            since_ms: None,
            children,
            confirmed: false,
        }));
    }

    /// Fates of the followed orphans a scan at `now_ms` no longer finds (`present`: its
    /// living processes by pid): gone, how unknown.
    fn gone_followed(
        &mut self,
        now_ms: u64,
        present: &IdMap<u32, &ProcSample>,
        out: &mut Vec<Seen>,
    ) {
        let mut ended: Vec<u32> = self
            .followed
            .values()
            .filter(|f| present.get(&f.id.pid).is_none_or(|s| s.start != f.id.start))
            .map(|f| f.id.pid)
            .collect();
        ended.sort_unstable();
        for pid in ended {
            if let Some(f) = self.followed.remove(&pid) {
                out.push(Seen::Fate {
                    followed: f,
                    time_ms: now_ms,
                    fate: FateKind::Gone,
                    how: None,
                });
            }
        }
    }

    /// Replaces the table with a whole scan of `/proc` taken at `now_ms`, and appends
    /// what happened since the last one that no event told: orphanings (confirmed:
    /// the children are under their new parent already), fates of followed orphans,
    /// and parents whose command was never read.
    pub fn scan(&mut self, now_ms: u64, samples: &[ProcSample], out: &mut Vec<Seen>) {
        let present: IdMap<u32, &ProcSample> = samples
            .iter()
            .filter(|s| !s.has_exited())
            .map(|s| (s.pid, s))
            .collect();
        let first = self.procs.is_empty();
        // The same process: same start, or a start not read yet (forked since).
        let same = |k: &Known, s: &ProcSample| k.start.is_none_or(|st| st == s.start);
        let gone = |pid: u32, procs: &IdMap<u32, Known>| {
            let k = procs.get(&pid);
            present
                .get(&pid)
                .is_none_or(|s| k.is_some_and(|k| !same(k, s)))
        };
        // Orphanings: a process whose parent changed while its old parent is gone.
        let mut orphaned: IdMap<u32, Vec<(u32, Option<u64>)>> = IdMap::default();
        if !first {
            for s in present.values() {
                if let Some(k) = self.procs.get(&s.pid)
                    && same(k, s)
                    && k.ppid != s.ppid
                    && k.ppid > 1
                    && gone(k.ppid, &self.procs)
                {
                    orphaned
                        .entry(k.ppid)
                        .or_default()
                        .push((s.pid, Some(s.start)));
                }
            }
        }
        let mut deaths: Vec<Seen> = orphaned
            .into_iter()
            .map(|(ppid, mut children)| {
                children.sort_unstable();
                let (died, since) = match self.procs.get(&ppid) {
                    Some(k) => (died_of(ppid, k, None), Some(k.seen_ms)),
                    None => (
                        Died {
                            pid: ppid,
                            start: None,
                            comm: String::new(),
                            cmd: None,
                            exe: None,
                            uid: None,
                            how: None,
                        },
                        None,
                    ),
                };
                Seen::Orphaning(Death {
                    died,
                    time_ms: now_ms,
                    exact: false,
                    since_ms: since,
                    children,
                    confirmed: true,
                })
            })
            .collect();
        deaths.sort_by_key(|d| match d {
            Seen::Orphaning(d) => d.died.pid,
            _ => 0,
        });
        out.extend(deaths);
        self.gone_followed(now_ms, &present, out);
        // The new table, keeping what was read of processes that are the same.
        let mut procs: IdMap<u32, Known> = IdMap::default();
        let mut kids: IdMap<u32, u32> = IdMap::default();
        for s in present.values().take(MAX_KNOWN) {
            let details = self
                .procs
                .get(&s.pid)
                .filter(|k| same(k, s) && k.comm == s.comm)
                .and_then(|k| k.details.clone());
            procs.insert(s.pid, Known::of(s, details, now_ms));
            if s.ppid != s.pid {
                *kids.entry(s.ppid).or_default() += 1;
            }
        }
        self.procs = procs;
        self.kids = kids;
        let mut parents: Vec<u32> = self
            .kids
            .keys()
            .copied()
            .filter(|p| self.procs.get(p).is_some_and(|k| k.details.is_none()))
            .collect();
        parents.sort_unstable();
        out.extend(parents.into_iter().map(Seen::NewParent));
    }

    /// Puts what `/proc` says of one process into the table.
    fn put(&mut self, s: &ProcSample, at_ms: u64) {
        let details = self
            .procs
            .get(&s.pid)
            .filter(|k| k.start.is_none_or(|st| st == s.start))
            .and_then(|k| k.details.clone());
        self.insert(s.pid, Known::of(s, details, at_ms));
    }

    fn insert(&mut self, pid: u32, k: Known) {
        self.remove(pid);
        if k.ppid != pid {
            *self.kids.entry(k.ppid).or_default() += 1;
        }
        self.procs.insert(pid, k);
    }

    fn remove(&mut self, pid: u32) -> Option<Known> {
        let k = self.procs.remove(&pid)?;
        if let Some(n) = self.kids.get_mut(&k.ppid) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.kids.remove(&k.ppid);
            }
        }
        Some(k)
    }
}

/// What the table knew of `pid`, which died (`how`, where known).
fn died_of(pid: u32, k: &Known, how: Option<How>) -> Died {
    Died {
        pid,
        start: k.start,
        comm: k.comm.to_string_lossy(),
        cmd: k.details.as_ref().map(|d| d.cmd.clone()),
        exe: k.details.as_ref().and_then(|d| d.exe.clone()),
        uid: k.details.as_ref().and_then(|d| d.uid),
        how,
    }
}

#[cfg(test)]
mod tests;
