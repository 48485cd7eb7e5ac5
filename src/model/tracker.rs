//! The lineage tracker: which processes belong to the family, who their original
//! parents were, and which of them have leaked.
//!
//! - The family is the root plus every process ever seen as its descendant.
//! - A member is *reparented* when its parent changes away from the original one.
//! - A member is *leaked* when it is reparented, escaped, lies under a leaked member,
//!   or is still alive after the root exited. Leaked is sticky.
//! - A new process that was orphaned before any tick could see it is an *escaped*
//!   member when the kernel data links it to the family itself: its parent is a
//!   possible adopter (init, a declared or observed subreaper, or an ancestor of the
//!   root recorded at attach), it started no earlier than the root, and its process
//!   group or session was *created by a member*: the group's or session's leader is
//!   or was a member. A group or session that an outsider also holds (the user's
//!   shell, another element of a pipeline, the root's parent) proves nothing, and
//!   group or session 0 never counts.
//! - A process forked from the family that a tick first finds adopted by anyone but
//!   the parent that forked it (the process events saw the fork) is an escaped
//!   member too, whoever adopted it: a subreaper inside the family, such as tini
//!   under `leaktop run`, makes the orphan of a launcher killed between two ticks look
//!   like its own child in `/proc`.
//! - The price: a process that escapes between two ticks from a root that leads
//!   neither its process group nor its session leaves no evidence in `/proc`, and is
//!   not flagged in attach mode (`leaktop run` catches it: it is the subreaper).

use crate::sample::{Comm, Command, IdMap, IdSet, Identity, ProcSample};

use super::allow::{self, AllowRule, Subject};
use super::{Event, ProcRow, Tick};

mod events;
pub use events::{At, Happened, Loss, MAX_BORN, MAX_OBSERVED, MAX_SHORT_LISTED, Noted, Observed};

/// Where and when a member was reparented.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reparent {
    pub tick: u32,
    pub from: u32,
    pub to: u32,
}

#[derive(Debug, Clone)]
pub struct Member {
    pub id: Identity,
    pub command: Command,
    pub comm: Comm,
    pub original_ppid: u32,
    pub first_tick: u32,
    pub reparented: Option<Reparent>,
    /// The evidence that made this process an escaped member.
    pub escaped: Option<String>,
    pub leaked_since: Option<u32>,
    /// When (ms since the recording began) it was first seen orphaned: reparented or
    /// escaped. It is a leak once it has outlived its parent by the leak grace.
    pub orphaned_ms: Option<u64>,
    pub last: ProcSample,
    /// RSS at the previous tick, for deltas.
    pub prev_rss_kb: u64,
}

/// Facts about the world outside the family that escape detection needs.
#[derive(Debug, Clone, Default)]
pub struct Outside {
    /// The root's parent, read once at start: its group and session are not evidence.
    pub root_parent: Option<ProcSample>,
    /// The root's ancestors at attach, parent first (pid + start time): each may be a
    /// subreaper (`PR_SET_CHILD_SUBREAPER` leaves no trace in `/proc`), so each may
    /// adopt an escapee.
    pub root_ancestors: Vec<Identity>,
    /// Pids known to adopt orphans besides init (e.g. leaktop itself under `run`).
    pub subreapers: Vec<u32>,
    /// The watcher's own pid: never a member, whoever its parent is.
    pub watcher: Option<u32>,
    /// The watcher's ancestors (pid + start time), when leaktop runs inside the tree
    /// it watches: shown as members, never leaked (and never signalled: see
    /// `host::protected`).
    pub watcher_ancestors: Vec<Identity>,
}

pub struct Tracker {
    root: Identity,
    root_alive: bool,
    /// When the root was seen gone (ms since the recording began).
    root_exited_ms: Option<u64>,
    tick: u32,
    /// The time of the current tick, ms since the recording began.
    now_ms: u64,
    /// How long an orphan must outlive its parent to be a leak, in ms.
    leak_grace_ms: u64,
    live: IdMap<u32, Member>,
    /// Members that have exited and wait to be reaped (zombies): shown as defunct rows
    /// until they are gone, never leaked, never alive for the family's sake.
    defunct: IdMap<u32, Member>,
    /// Init and the pids seen adopting members, or declared to (leaktop under `run`).
    adopters: IdSet<u32>,
    declared_subreapers: IdSet<u32>,
    /// Ancestors of the root at attach: possible subreapers.
    ancestors: IdSet<u32>,
    watcher: Option<u32>,
    /// The watcher's ancestors: never leaked.
    watcher_ancestors: Vec<Identity>,
    /// Processes that are never members: other leaktops ([`Tracker::exclude`]).
    excluded: IdSet<Identity>,
    /// Members that lead a process group or a session: pid -> start time. A group or
    /// session whose id is here was created by a member.
    group_leaders: IdMap<u32, u64>,
    /// Processes already there, and no members, when leaktop attached: whatever
    /// happened to them happened unseen, so they are never judged escapees.
    before_attach: IdSet<Identity>,
    /// Members that lead a session, likewise.
    session_leaders: IdMap<u32, u64>,
    /// Process groups and sessions that an outsider holds too: no evidence.
    outsider_groups: IdSet<u32>,
    outsider_sessions: IdSet<u32>,
    events: Vec<Event>,
    ever_members: u64,
    /// Rules for processes meant to outlive their parent (`--allow`): a member one
    /// matches, and everything below it, is never leaked.
    allowed: Vec<AllowRule>,
    /// The live members the rules spared at the last tick.
    spared: IdSet<u32>,
    /// What process events told since the last tick ([`Tracker::observe`]).
    seen: events::Seen,
}

impl Tracker {
    pub fn new(root: ProcSample, command: Command, outside: Outside) -> Self {
        let mut tracker = Tracker {
            root: root.id(),
            root_alive: true,
            root_exited_ms: None,
            tick: 0,
            now_ms: 0,
            leak_grace_ms: 0,
            live: IdMap::default(),
            defunct: IdMap::default(),
            adopters: [1]
                .into_iter()
                .chain(outside.subreapers.iter().copied())
                .collect(),
            declared_subreapers: outside.subreapers.iter().copied().collect(),
            ancestors: outside
                .root_ancestors
                .iter()
                .map(|a| a.pid)
                .filter(|&p| p > 1)
                .collect(),
            watcher: outside.watcher,
            watcher_ancestors: outside.watcher_ancestors.clone(),
            excluded: IdSet::default(),
            group_leaders: IdMap::default(),
            before_attach: IdSet::default(),
            session_leaders: IdMap::default(),
            outsider_groups: outside.root_parent.map(|p| p.pgrp).into_iter().collect(),
            outsider_sessions: outside.root_parent.map(|p| p.session).into_iter().collect(),
            events: Vec::new(),
            ever_members: 0,
            allowed: Vec::new(),
            spared: IdSet::default(),
            seen: events::Seen::default(),
        };
        tracker.admit(root, command, None, 0);
        tracker
    }

    pub fn root(&self) -> Identity {
        self.root
    }

    /// How long (ms) an orphan must outlive its parent, or the family its root, before
    /// it is called leaked: workers that exit by themselves once their parent is gone
    /// (a pool seeing EOF, an orderly shutdown draining) are not leaks. 0 (the
    /// default) decides at once.
    pub fn set_leak_grace(&mut self, ms: u64) {
        self.leak_grace_ms = ms;
    }

    /// Processes meant to outlive their parent: a member one of `rules` matches by its
    /// command line, and every member below it, is never called leaked (nor waited
    /// for as an orphan within its grace). A rule on anything but the command line
    /// matches nothing here: ticks carry no executables, uids or cgroups.
    pub fn set_allowed(&mut self, rules: Vec<AllowRule>) {
        self.allowed = rules;
    }

    /// After the root exited, makes `new_root` the root (a supervisor restarted it).
    /// The old generation's survivors stay leaked; the new root's tree is live. Call it
    /// after [`Tracker::update`] with the same `samples`: the new root's children that
    /// appeared with it join the family at once.
    pub fn follow(
        &mut self,
        new_root: ProcSample,
        command: Command,
        samples: &[ProcSample],
        describe: &mut dyn FnMut(Identity) -> Option<Command>,
    ) {
        if self.root_alive {
            return;
        }
        let previous = self.root.pid;
        // The old generation's survivors stay orphans of the root that exited.
        let exited = self.root_exited_ms.unwrap_or(self.now_ms);
        for m in self.live.values_mut() {
            m.orphaned_ms.get_or_insert(exited);
        }
        self.root = new_root.id();
        self.root_alive = true;
        self.root_exited_ms = None;
        self.events.push(Event::RootRestarted {
            pid: new_root.pid,
            start: new_root.start,
            previous,
        });
        if !self.live.contains_key(&new_root.pid) {
            self.admit(new_root, command, None, self.tick);
        }
        self.discover(samples, describe);
        self.note_zombies(samples);
        self.mark_leaks();
    }

    pub fn root_alive(&self) -> bool {
        self.root_alive
    }

    pub fn tick(&self) -> u32 {
        self.tick
    }

    /// Every member still alive, root included while it lives.
    pub fn live_members(&self) -> impl Iterator<Item = &Member> {
        self.live.values()
    }

    pub fn member(&self, pid: u32) -> Option<&Member> {
        self.live.get(&pid)
    }

    /// The identities the sampler should re-read next tick: members, defunct members,
    /// and the processes events saw forked from the family since the last tick (with
    /// start 0, unknown: whatever holds the pid is read, since discovery may have
    /// reported it already as nobody's).
    pub fn members_to_sample(&self, out: &mut Vec<Identity>) {
        out.clear();
        out.extend(self.live.values().map(|m| m.id));
        out.extend(self.defunct.values().map(|m| m.id));
        self.seen.to_sample(out);
    }

    /// Whether an orphan is still within its leak grace (see
    /// [`Tracker::undecided_members`]).
    pub fn undecided(&self) -> bool {
        self.undecided_members().next().is_some()
    }

    /// The members still within their leak grace: alive, orphaned or escaped (or
    /// outliving the root), not spared by `--allow`, and not yet called leaked. A
    /// recording that stops now leaves them unjudged, never cleared.
    pub fn undecided_members(&self) -> impl Iterator<Item = &Member> {
        self.live.values().filter(|m| {
            m.leaked_since.is_none()
                && !self.spared.contains(&m.id.pid)
                && (m.orphaned_ms.is_some() || (self.root_exited_ms.is_some() && m.id != self.root))
        })
    }

    /// Whether any member still runs.
    pub fn any_alive(&self) -> bool {
        !self.live.is_empty()
    }

    /// Whether a defunct member (a zombie, exited and not yet reaped) is still shown:
    /// a view that stopped sampling now would keep its `<defunct>` row after it is
    /// reaped.
    pub fn any_defunct(&self) -> bool {
        !self.defunct.is_empty()
    }

    /// How many processes have ever belonged to the family.
    pub fn ever_members(&self) -> u64 {
        self.ever_members
    }

    /// What happened during the last update.
    pub fn events(&self) -> &[Event] {
        &self.events
    }

    /// Feeds one tick of samples at the time of the previous one (for synthetic ticks
    /// with no leak grace). `describe` reads a new member's command line.
    pub fn update(
        &mut self,
        samples: &[ProcSample],
        describe: &mut dyn FnMut(Identity) -> Option<Command>,
    ) {
        self.update_at(self.now_ms, samples, describe);
    }

    /// Feeds one tick of samples taken `elapsed_ms` after the recording began.
    pub fn update_at(
        &mut self,
        elapsed_ms: u64,
        samples: &[ProcSample],
        describe: &mut dyn FnMut(Identity) -> Option<Command>,
    ) {
        self.now_ms = self.now_ms.max(elapsed_ms);
        self.tick += 1;
        self.events.clear();
        let tick = self.tick;
        let by_pid: IdMap<u32, &ProcSample> = samples.iter().map(|s| (s.pid, s)).collect();

        self.update_members(&by_pid, describe);
        self.prune_leaders();
        let admitted = self.admit_born(samples, describe);
        self.discover(samples, describe);
        self.note_zombies(samples);
        self.mark_leaks();
        self.seen
            .close_window(&admitted, &self.live, &mut self.events);
        debug_assert!(self.live.values().all(|m| m.first_tick <= tick));
    }

    fn update_members(
        &mut self,
        by_pid: &IdMap<u32, &ProcSample>,
        describe: &mut dyn FnMut(Identity) -> Option<Command>,
    ) {
        // A defunct member stays until its parent (or init) reaps it.
        self.defunct.retain(|pid, m| {
            by_pid.get(pid).is_some_and(|s| {
                let still = s.start == m.id.start && s.state == b'Z';
                if still {
                    m.last = **s;
                }
                still
            })
        });
        let gone = self.refresh_live(by_pid, describe);
        self.retire(gone, by_pid);
    }

    /// Brings every live member up to this tick's sample (a new command after an
    /// `exec`, a reparenting, its group and session leadership); the pids of those
    /// that have exited.
    fn refresh_live(
        &mut self,
        by_pid: &IdMap<u32, &ProcSample>,
        describe: &mut dyn FnMut(Identity) -> Option<Command>,
    ) -> Vec<u32> {
        let tick = self.tick;
        let mut gone = Vec::new();
        for (pid, member) in self.live.iter_mut() {
            let is_root = member.id == self.root;
            // A zombie has exited; it only waits for its parent to reap it. Its parent
            // may die first and hand it to init, which is no leak.
            let Some(&&sample) = by_pid
                .get(pid)
                .filter(|s| s.start == member.id.start && !s.has_exited())
            else {
                gone.push(*pid);
                continue;
            };
            member.prev_rss_kb = member.last.rss_kb;
            if sample.comm != member.comm {
                // The process exec'd: its command line changed with its name.
                if let Some(command) = describe(member.id) {
                    member.command = command;
                }
                member.comm = sample.comm;
            }
            if !is_root && member.reparented.is_none() && sample.ppid != member.original_ppid {
                member.reparented = Some(Reparent {
                    tick,
                    from: member.original_ppid,
                    to: sample.ppid,
                });
                // From its parent's exit where an event told it.
                let since = self.seen.orphaned_at(*pid, member.original_ppid);
                member
                    .orphaned_ms
                    .get_or_insert(since.unwrap_or(self.now_ms).min(self.now_ms));
                self.adopters.insert(sample.ppid);
                self.events.push(Event::Reparented {
                    pid: *pid,
                    start: member.id.start,
                    from: member.original_ppid,
                    to: sample.ppid,
                });
            }
            member.last = sample;
            if sample.pid != 0 && sample.pid == sample.pgrp {
                self.group_leaders.insert(sample.pid, sample.start);
            }
            if sample.pid != 0 && sample.pid == sample.session {
                self.session_leaders.insert(sample.pid, sample.start);
            }
        }
        gone
    }

    /// Takes the members that exited this tick out of the live ones, with their
    /// events: a zombie waits among the defunct, an orphan that exited by itself is
    /// said to have, and the root's exit is noted.
    fn retire(&mut self, mut gone: Vec<u32>, by_pid: &IdMap<u32, &ProcSample>) {
        gone.sort_unstable();
        // A member that goes in the same tick as the root never outlived it.
        let root_gone_before = self.root_exited_ms;
        for pid in gone {
            let Some(member) = self.live.remove(&pid) else {
                continue;
            };
            self.events.push(Event::Exited {
                pid,
                start: member.id.start,
            });
            if let Some(&&zombie) = by_pid
                .get(&pid)
                .filter(|s| s.start == member.id.start && s.state == b'Z')
            {
                self.defunct.insert(
                    pid,
                    Member {
                        last: zombie,
                        ..member.clone()
                    },
                );
            }
            let orphaned = member
                .orphaned_ms
                .or(root_gone_before.filter(|_| member.id != self.root));
            if let Some(since) = orphaned
                && member.leaked_since.is_none()
            {
                self.events.push(Event::OrphanExited {
                    pid,
                    start: member.id.start,
                    after_ms: self.now_ms.saturating_sub(since),
                });
            }
            if member.id == self.root {
                self.root_alive = false;
                let at = self.seen.exited_at(pid).unwrap_or(self.now_ms);
                self.root_exited_ms = Some(at.min(self.now_ms));
                self.events.push(Event::RootExited {
                    pid,
                    start: member.id.start,
                });
            }
        }
    }

    /// Admits new processes: descendants of members, then escaped members. In between,
    /// processes that cannot be members mark the groups and sessions they hold, so no
    /// escape is judged on a group an outsider holds too.
    fn discover(
        &mut self,
        samples: &[ProcSample],
        describe: &mut dyn FnMut(Identity) -> Option<Command>,
    ) {
        let mut candidates: Vec<&ProcSample> = samples
            .iter()
            .filter(|s| self.live.get(&s.pid).is_none_or(|m| m.id.start != s.start))
            .filter(|s| Some(s.pid) != self.watcher && !s.has_exited())
            .filter(|s| !self.excluded.contains(&s.id()))
            .filter(|s| !self.before_attach.contains(&s.id()))
            .collect();
        // Parents start before their children; a few passes settle same-jiffy ties.
        candidates.sort_by_key(|s| (s.start, s.pid));
        self.admit_all(&mut candidates, samples, describe, false);
        let by_pid: IdMap<u32, &ProcSample> = candidates.iter().map(|s| (s.pid, *s)).collect();
        let outsiders: Vec<ProcSample> = candidates
            .iter()
            .filter(|s| !self.may_be_family(s, &by_pid))
            .map(|&&s| s)
            .collect();
        for s in &outsiders {
            self.mark_outsider(s);
        }
        // An escape is judged only on what a tick saw happen: at the first tick a
        // process under init in the root's group may be the orphan of a pipeline
        // sibling that exited before leaktop attached (no trace of it is left). Such
        // processes are neither escapees nor outsiders: they prove nothing either way.
        self.admit_all(&mut candidates, samples, describe, true);
        let first = self.tick == 1;
        for s in candidates {
            if first {
                self.before_attach.insert(s.id());
            }
            if !(first && self.may_be_family(s, &by_pid)) {
                self.mark_outsider(s);
            }
        }
    }

    /// Lists as defunct the zombies first seen already exited (forked and ended
    /// between two ticks, never reaped) whose parent is a member, as those seen alive
    /// are listed: a parent that never waits piles them up. Never members, so never
    /// leaked, never killed, never anyone's live child.
    fn note_zombies(&mut self, samples: &[ProcSample]) {
        for s in samples.iter().filter(|s| s.state == b'Z') {
            let known = self.defunct.contains_key(&s.pid)
                || self.live.get(&s.pid).is_some_and(|m| m.id.start == s.start);
            if known || !self.live.contains_key(&s.ppid) || self.excluded.contains(&s.id()) {
                continue;
            }
            self.defunct.insert(
                s.pid,
                Member {
                    id: s.id(),
                    command: fallback_command(s),
                    comm: s.comm,
                    original_ppid: s.ppid,
                    first_tick: self.tick.max(1),
                    reparented: None,
                    escaped: None,
                    leaked_since: None,
                    orphaned_ms: None,
                    last: *s,
                    prev_rss_kb: s.rss_kb,
                },
            );
        }
    }

    /// Admits the candidates whose parent is a member (and, with `escapes`, those with
    /// escape evidence), repeatedly, so that grandchildren follow their parents.
    fn admit_all(
        &mut self,
        candidates: &mut Vec<&ProcSample>,
        samples: &[ProcSample],
        describe: &mut dyn FnMut(Identity) -> Option<Command>,
        escapes: bool,
    ) {
        loop {
            let before = candidates.len();
            candidates.retain(|&&s| {
                let evidence = if self.live.contains_key(&s.ppid) {
                    None
                } else if let Some(evidence) =
                    escapes.then(|| self.escape_evidence(&s, samples)).flatten()
                {
                    Some(evidence)
                } else {
                    return true;
                };
                let command = describe(s.id()).unwrap_or_else(|| fallback_command(&s));
                self.admit(s, command, evidence, self.tick);
                false
            });
            if candidates.len() == before {
                break;
            }
        }
    }

    /// Whether a process that is no descendant of a member could still be family: it,
    /// or one of its ancestors among the new processes, could be an escapee (a possible
    /// adopter's child, started no earlier than the root).
    fn may_be_family(&self, s: &ProcSample, candidates: &IdMap<u32, &ProcSample>) -> bool {
        let mut cur = s;
        for _ in 0..=candidates.len() {
            if self.may_adopt(cur.ppid) && cur.start >= self.root.start {
                return true;
            }
            match candidates.get(&cur.ppid) {
                Some(parent) => cur = parent,
                None => return false,
            }
        }
        false
    }

    /// Whether `pid` may have adopted an escapee: init, a declared or observed adopter,
    /// or (after the first tick) an ancestor of the root. At the first tick a child of
    /// an ancestor is what it looks like: a sibling of the root, such as another
    /// element of its pipeline.
    fn may_adopt(&self, pid: u32) -> bool {
        self.adopters.contains(&pid) || (self.tick > 1 && self.ancestors.contains(&pid))
    }

    fn mark_outsider(&mut self, s: &ProcSample) {
        self.outsider_groups.insert(s.pgrp);
        self.outsider_sessions.insert(s.session);
    }

    fn escape_evidence(&self, s: &ProcSample, samples: &[ProcSample]) -> Option<String> {
        if !self.may_adopt(s.ppid) || s.start < self.root.start || s.pid == self.root.pid {
            return None;
        }
        // At the first tick only leaktop's own adoption (under `run`) is evidence seen
        // to happen; anything else was orphaned before leaktop looked.
        if self.tick == 1 && !self.declared_subreapers.contains(&s.ppid) {
            return None;
        }
        let when = if s.start == self.root.start {
            "started in the same clock tick as the root"
        } else {
            "started after the root"
        };
        // Under `leaktop run` the subreaper has no other children: whatever it adopts
        // after the root started came from the family, whatever its group.
        if self.declared_subreapers.contains(&s.ppid) {
            return Some(format!(
                "caught by the subreaper: adopted by pid {}; {when}",
                s.ppid
            ));
        }
        let parent = if s.ppid == 1 {
            "parent is init (pid 1)".to_string()
        } else if self.adopters.contains(&s.ppid) {
            format!("parent {} already adopted family members", s.ppid)
        } else {
            format!(
                "parent {} is an ancestor of the root (a possible subreaper)",
                s.ppid
            )
        };
        // A leader's pid is the group's id; the group is the member's only while no
        // other process has taken that pid since.
        let created_by_member = |id: u32, leaders: &IdMap<u32, u64>, outsiders: &IdSet<u32>| {
            id != 0
                && !outsiders.contains(&id)
                && leaders.get(&id).is_some_and(|&start| {
                    start <= s.start
                        && samples
                            .iter()
                            .find(|o| o.pid == id)
                            .is_none_or(|o| o.start == start)
                })
        };
        let mut links = Vec::new();
        if created_by_member(s.pgrp, &self.group_leaders, &self.outsider_groups) {
            links.push(format!(
                "its process group {} was created by member {}",
                s.pgrp, s.pgrp
            ));
        }
        if created_by_member(s.session, &self.session_leaders, &self.outsider_sessions) {
            links.push(format!(
                "its session {} was created by member {}",
                s.session, s.session
            ));
        }
        if links.is_empty() {
            return None;
        }
        Some(format!("{parent}; {when}; {}", links.join("; ")))
    }

    /// Notes a member that leads its process group or session (at admission, or later
    /// after a `setpgid` or `setsid`).
    fn note_leader(&mut self, s: &ProcSample) {
        if s.pid == 0 {
            return;
        }
        if s.pid == s.pgrp {
            self.group_leaders.insert(s.pid, s.start);
        }
        if s.pid == s.session {
            self.session_leaders.insert(s.pid, s.start);
        }
    }

    /// Forgets a group or session once its leader is gone and no member holds it: its
    /// id may then be any process's (pid reuse), and proves nothing.
    fn prune_leaders(&mut self) {
        let live = &self.live;
        let groups: IdSet<u32> = live.values().map(|m| m.last.pgrp).collect();
        let sessions: IdSet<u32> = live.values().map(|m| m.last.session).collect();
        let alive = |pid: &u32, start: &u64| live.get(pid).is_some_and(|m| m.id.start == *start);
        self.group_leaders
            .retain(|pid, start| alive(pid, start) || groups.contains(pid));
        self.session_leaders
            .retain(|pid, start| alive(pid, start) || sessions.contains(pid));
    }

    fn admit(&mut self, s: ProcSample, command: Command, mut escaped: Option<String>, tick: u32) {
        if let (Some(evidence), Some(loss)) = (&mut escaped, self.seen.window_loss()) {
            evidence.push_str(&format!("; judged on a window with {loss}"));
        }
        self.ever_members += 1;
        self.note_leader(&s);
        let event = match &escaped {
            Some(evidence) => Some(Event::Escaped {
                pid: s.pid,
                start: s.start,
                ppid: s.ppid,
                evidence: evidence.clone(),
            }),
            // Tick 1 is the baseline: everything there is "already running", not spawned.
            None if tick > 1 => Some(Event::Spawned {
                pid: s.pid,
                start: s.start,
                ppid: s.ppid,
            }),
            None => None,
        };
        self.events.extend(event);
        self.live.insert(
            s.pid,
            Member {
                id: s.id(),
                command,
                comm: s.comm,
                original_ppid: s.ppid,
                first_tick: tick.max(1),
                reparented: None,
                orphaned_ms: escaped.is_some().then_some(self.now_ms),
                escaped,
                leaked_since: None,
                last: s,
                prev_rss_kb: s.rss_kb,
            },
        );
    }

    fn mark_leaks(&mut self) {
        let tick = self.tick;
        self.mark_spared();
        let mut verdict: IdMap<u32, bool> =
            IdMap::with_capacity_and_hasher(self.live.len(), Default::default());
        let (now, grace) = (self.now_ms, self.leak_grace_ms);
        let ripe = |since: u64| now >= since.saturating_add(grace);
        let mut path = Vec::new();
        let pids: Vec<u32> = self.live.keys().copied().collect();
        for pid in pids {
            path.clear();
            let mut cur = pid;
            let leaked = loop {
                if let Some(&v) = verdict.get(&cur) {
                    break v;
                }
                let Some(m) = self.live.get(&cur) else {
                    break false;
                };
                path.push(cur);
                if self.spared.contains(&cur) {
                    break false;
                }
                if self.root_exited_ms.is_some_and(ripe)
                    || m.leaked_since.is_some()
                    || m.orphaned_ms.is_some_and(ripe)
                {
                    break true;
                }
                if m.id == self.root || path.len() > self.live.len() {
                    break false;
                }
                cur = m.last.ppid;
            };
            for &p in &path {
                verdict.insert(p, leaked);
            }
        }
        for (pid, member) in self.live.iter_mut() {
            if verdict.get(pid) == Some(&true)
                && member.leaked_since.is_none()
                && !self.watcher_ancestors.contains(&member.id)
            {
                member.leaked_since = Some(tick);
            }
        }
    }

    /// Finds the live members an allow rule spares: those it matches by their command
    /// line, and every member below one.
    fn mark_spared(&mut self) {
        self.spared.clear();
        if self.allowed.is_empty() {
            return;
        }
        let mut memo: IdMap<u32, bool> = IdMap::default();
        let mut path = Vec::new();
        for &pid in self.live.keys() {
            path.clear();
            let mut cur = pid;
            let spared = loop {
                if let Some(&v) = memo.get(&cur) {
                    break v;
                }
                let Some(m) = self.live.get(&cur) else {
                    break false;
                };
                path.push(cur);
                if allow::allowed(&self.allowed, &Subject::command(&m.command)).is_some() {
                    break true;
                }
                if m.id == self.root || path.len() > self.live.len() {
                    break false;
                }
                cur = m.last.ppid;
            };
            for &p in &path {
                memo.insert(p, spared);
            }
        }
        self.spared = memo
            .into_iter()
            .filter(|&(_, s)| s)
            .map(|(p, _)| p)
            .collect();
    }

    /// The tick as the formats write it.
    pub fn snapshot(&self, elapsed_ms: u64, time_ms: u64) -> Tick {
        let mut processes: Vec<ProcRow> = self.live.values().map(row).collect();
        // A zombie has exited: shown as defunct, never as leaked.
        processes.extend(self.defunct.values().map(|m| ProcRow {
            leaked: false,
            leaked_since: None,
            ..row(m)
        }));
        processes.sort_by_key(|r| (r.start, r.pid));
        Tick {
            tick: self.tick,
            elapsed_ms,
            time_ms,
            root_alive: self.root_alive,
            processes,
            events: self.events.clone(),
            alerts: Vec::new(),
        }
    }
}

/// Processes that are never members, whatever their lineage: the monitor finds
/// them (another leaktop, recognised by its executable) and says so here, keeping
/// the tracker free of the OS.
impl Tracker {
    /// `id` is never a member: not admitted from now on, and dropped (without an
    /// event: it was never family) if it had been admitted before it showed what it
    /// runs (a shell that forked and then exec'd leaktop). The root stays the root.
    pub fn exclude(&mut self, id: Identity) {
        if id == self.root {
            return;
        }
        self.excluded.insert(id);
        if self.live.get(&id.pid).is_some_and(|m| m.id == id) {
            self.live.remove(&id.pid);
            // Nor is a group or session it leads the family's.
            if self.group_leaders.get(&id.pid) == Some(&id.start) {
                self.group_leaders.remove(&id.pid);
            }
            if self.session_leaders.get(&id.pid) == Some(&id.start) {
                self.session_leaders.remove(&id.pid);
            }
        }
    }

    /// Whether `id` was excluded with [`Tracker::exclude`].
    pub fn is_excluded(&self, id: Identity) -> bool {
        self.excluded.contains(&id)
    }
}

fn row(m: &Member) -> ProcRow {
    ProcRow {
        pid: m.id.pid,
        ppid: m.last.ppid,
        state: char::from(m.last.state),
        rss_kb: m.last.rss_kb,
        start: m.id.start,
        cpu_ms: m.last.cpu_ms,
        name: m.command.name.clone(),
        cmd: m.command.cmd.clone(),
        leaked: m.leaked_since.is_some(),
        reparented_from: m.reparented.map(|r| r.from),
        escaped: m.escaped.is_some(),
        leaked_since: m.leaked_since,
        pss_kb: None,
        uss_kb: None,
        swap_kb: None,
        mem_tick: None,
        gpu_kb: None,
    }
}

fn fallback_command(s: &ProcSample) -> Command {
    let name = s.comm.to_string_lossy();
    Command {
        cmd: format!("[{name}]"),
        name,
    }
}

#[cfg(test)]
mod tests;
