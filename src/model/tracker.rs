//! The lineage tracker: which processes belong to the family, who their original
//! parents were, and which of them have leaked.
//!
//! - The family is the root plus every process ever seen as its descendant.
//! - A member is *reparented* when its parent changes away from the original one.
//! - A member is *leaked* when it is reparented, escaped, lies under a leaked member,
//!   or is still alive after the root exited. Leaked is sticky.
//! - A new process that was orphaned before any tick could see it is an *escaped*
//!   member when the kernel data says so: its parent is an adopter (init, a subreaper,
//!   or a pid that already adopted members), it started after the root, and it shares
//!   a process group or session with a member that the root's own parent does not have.

use crate::sample::{Comm, Command, IdMap, IdSet, Identity, ProcSample};

use super::{Event, ProcRow, Tick};

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
    pub last: ProcSample,
    /// RSS at the previous tick, for deltas.
    pub prev_rss_kb: u64,
}

/// Facts about the world outside the family that escape detection needs.
#[derive(Debug, Clone, Default)]
pub struct Outside {
    /// The root's parent, read once at start: its group and session are not evidence.
    pub root_parent: Option<ProcSample>,
    /// Pids known to adopt orphans besides init (e.g. leaktop itself under `run`).
    pub subreapers: Vec<u32>,
    /// The watcher's own pid: never a member, whoever its parent is.
    pub watcher: Option<u32>,
}

pub struct Tracker {
    root: Identity,
    root_alive: bool,
    tick: u32,
    live: IdMap<u32, Member>,
    adopters: IdSet<u32>,
    declared_subreapers: IdSet<u32>,
    watcher: Option<u32>,
    outsider_groups: [Option<u32>; 2],
    /// pgrp -> a member that had it; session -> a member that had it.
    member_groups: IdMap<u32, u32>,
    member_sessions: IdMap<u32, u32>,
    events: Vec<Event>,
    ever_members: u64,
}

impl Tracker {
    pub fn new(root: ProcSample, command: Command, outside: Outside) -> Self {
        let mut tracker = Tracker {
            root: root.id(),
            root_alive: true,
            tick: 0,
            live: IdMap::default(),
            adopters: [1]
                .into_iter()
                .chain(outside.subreapers.iter().copied())
                .collect(),
            declared_subreapers: outside.subreapers.iter().copied().collect(),
            watcher: outside.watcher,
            outsider_groups: [
                outside.root_parent.map(|p| p.pgrp),
                outside.root_parent.map(|p| p.session),
            ],
            member_groups: IdMap::default(),
            member_sessions: IdMap::default(),
            events: Vec::new(),
            ever_members: 0,
        };
        tracker.admit(root, command, None, 0);
        tracker
    }

    pub fn root(&self) -> Identity {
        self.root
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
        self.root = new_root.id();
        self.root_alive = true;
        self.events.push(Event::RootRestarted {
            pid: new_root.pid,
            start: new_root.start,
            previous,
        });
        if !self.live.contains_key(&new_root.pid) {
            self.admit(new_root, command, None, self.tick);
        }
        self.discover(samples, describe);
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

    /// The identities the sampler should re-read next tick.
    pub fn members_to_sample(&self, out: &mut Vec<Identity>) {
        out.clear();
        out.extend(self.live.values().map(|m| m.id));
    }

    /// Whether any member still runs.
    pub fn any_alive(&self) -> bool {
        !self.live.is_empty()
    }

    /// How many processes have ever belonged to the family.
    pub fn ever_members(&self) -> u64 {
        self.ever_members
    }

    /// What happened during the last update.
    pub fn events(&self) -> &[Event] {
        &self.events
    }

    /// Feeds one tick of samples. `describe` reads a new member's command line.
    pub fn update(
        &mut self,
        samples: &[ProcSample],
        describe: &mut dyn FnMut(Identity) -> Option<Command>,
    ) {
        self.tick += 1;
        self.events.clear();
        let tick = self.tick;
        let by_pid: IdMap<u32, &ProcSample> = samples.iter().map(|s| (s.pid, s)).collect();

        self.update_members(&by_pid, describe);
        self.discover(samples, describe);
        self.mark_leaks();
        debug_assert!(self.live.values().all(|m| m.first_tick <= tick));
    }

    fn update_members(
        &mut self,
        by_pid: &IdMap<u32, &ProcSample>,
        describe: &mut dyn FnMut(Identity) -> Option<Command>,
    ) {
        let tick = self.tick;
        let mut gone = Vec::new();
        for (pid, member) in self.live.iter_mut() {
            let is_root = member.id == self.root;
            // A zombie has exited; it only waits for its parent to reap it. Its parent
            // may die first and hand it to init, which is no leak.
            let Some(&&sample) = by_pid
                .get(pid)
                .filter(|s| s.start == member.id.start && !is_zombie(s))
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
                self.adopters.insert(sample.ppid);
                self.events.push(Event::Reparented {
                    pid: *pid,
                    start: member.id.start,
                    from: member.original_ppid,
                    to: sample.ppid,
                });
            }
            member.last = sample;
        }
        gone.sort_unstable();
        for pid in gone {
            let Some(member) = self.live.remove(&pid) else {
                continue;
            };
            self.events.push(Event::Exited {
                pid,
                start: member.id.start,
            });
            if member.id == self.root {
                self.root_alive = false;
                self.events.push(Event::RootExited {
                    pid,
                    start: member.id.start,
                });
            }
        }
    }

    /// Admits new processes: descendants of members, then escaped members.
    fn discover(
        &mut self,
        samples: &[ProcSample],
        describe: &mut dyn FnMut(Identity) -> Option<Command>,
    ) {
        let mut candidates: Vec<&ProcSample> = samples
            .iter()
            .filter(|s| self.live.get(&s.pid).is_none_or(|m| m.id.start != s.start))
            .filter(|s| Some(s.pid) != self.watcher && !is_zombie(s))
            .collect();
        // Parents start before their children; a few passes settle same-jiffy ties.
        candidates.sort_by_key(|s| (s.start, s.pid));
        loop {
            let before = candidates.len();
            candidates.retain(|&&s| {
                if self.live.contains_key(&s.ppid) {
                    let command = describe(s.id()).unwrap_or_else(|| fallback_command(&s));
                    self.admit(s, command, None, self.tick);
                    false
                } else if let Some(evidence) = self.escape_evidence(&s) {
                    let command = describe(s.id()).unwrap_or_else(|| fallback_command(&s));
                    self.admit(s, command, Some(evidence), self.tick);
                    false
                } else {
                    true
                }
            });
            if candidates.len() == before {
                break;
            }
        }
    }

    fn escape_evidence(&self, s: &ProcSample) -> Option<String> {
        if !self.adopters.contains(&s.ppid) || s.start < self.root.start || s.pid == self.root.pid {
            return None;
        }
        // Under `leaktop run` the subreaper has no other children: whatever it adopts
        // after the root started came from the family, whatever its group.
        if self.declared_subreapers.contains(&s.ppid) {
            return Some(format!(
                "caught by the subreaper: adopted by pid {}; started after the root",
                s.ppid
            ));
        }
        let parent = if s.ppid == 1 {
            "parent is init (pid 1)".to_string()
        } else {
            format!("parent {} already adopted family members", s.ppid)
        };
        let shared = |map: &IdMap<u32, u32>, key: u32, outsider: Option<u32>, what: &str| {
            map.get(&key)
                .filter(|_| outsider != Some(key))
                .map(|member| format!("shares {what} {key} with member {member}"))
        };
        let group = shared(
            &self.member_groups,
            s.pgrp,
            self.outsider_groups[0],
            "process group",
        );
        let session = shared(
            &self.member_sessions,
            s.session,
            self.outsider_groups[1],
            "session",
        );
        let shared: Vec<String> = group.into_iter().chain(session).collect();
        if shared.is_empty() {
            return None;
        }
        Some(format!(
            "{parent}; started after the root; {}",
            shared.join("; ")
        ))
    }

    fn admit(&mut self, s: ProcSample, command: Command, escaped: Option<String>, tick: u32) {
        self.ever_members += 1;
        self.member_groups.entry(s.pgrp).or_insert(s.pid);
        self.member_sessions.entry(s.session).or_insert(s.pid);
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
                escaped,
                leaked_since: None,
                last: s,
                prev_rss_kb: s.rss_kb,
            },
        );
    }

    fn mark_leaks(&mut self) {
        let tick = self.tick;
        let mut verdict: IdMap<u32, bool> =
            IdMap::with_capacity_and_hasher(self.live.len(), Default::default());
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
                if !self.root_alive
                    || m.leaked_since.is_some()
                    || m.reparented.is_some()
                    || m.escaped.is_some()
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
            if verdict.get(pid) == Some(&true) && member.leaked_since.is_none() {
                member.leaked_since = Some(tick);
            }
        }
    }

    /// The tick as the formats write it.
    pub fn snapshot(&self, elapsed_ms: u64, time_ms: u64) -> Tick {
        let mut processes: Vec<ProcRow> = self.live.values().map(row).collect();
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
    }
}

fn is_zombie(s: &ProcSample) -> bool {
    matches!(s.state, b'Z' | b'X')
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
