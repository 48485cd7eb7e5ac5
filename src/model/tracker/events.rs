//! Process events between two ticks, fed to the tracker as they happen.
//!
//! The ticks read what is left in `/proc`; events say what happened in between
//! ([`crate::sample::events`]). The rules:
//!
//! - **A fork from the family is family.** A process forked by a member, or by a
//!   process so forked, is recorded at once. The next tick reads it by pid (see
//!   [`Tracker::members_to_sample`]) and admits it whatever it did meanwhile: still
//!   under its parent, it is a member; adopted elsewhere (its parent exited), it is an
//!   *escaped* member, with evidence that says what was seen: "forked by 4122 at
//!   12:03:07.120, called setsid at 12:03:07.121, adopted by pid 1 when 4122 exited at
//!   12:03:07.125" (the adopter is what the tick read; times are UTC). This catches
//!   the escape that leaves no trace in `/proc` (out of a root that leads neither its
//!   group nor its session, or adopted by a subreaper ancestor), and the orphan
//!   adopted by a subreaper inside the family (tini under `leaktop run`: the
//!   component of a launcher killed between two ticks looks like tini's own child).
//! - **A parent's exit orphans its member children when it happens.** [`Noted`]
//!   names them at once (a view may show them orphaned before the next tick); the
//!   tick that sees them reparented dates the orphaning from the exit, so the leak
//!   grace counts from the real moment. An orphaning the tick does not confirm (the
//!   process exited too, or the parent's other threads live on) is forgotten: events
//!   alone never make a leak.
//! - **Lost events mark the window.** After a [`ProcEvent::Lost`] nothing recorded in
//!   that window admits anyone (a lost exit could have let a pid pass to an
//!   outsider); the tick says so ([`Tracker::events_lost`]), and an escape judged at
//!   that tick says in its evidence that it rests on a window with losses.
//! - **Bounded.** At most [`MAX_OBSERVED`] happenings are kept per window (the rest
//!   are counted), and at most [`MAX_BORN`] processes wait for a tick (past that, the
//!   window is marked as a loss).

use std::fmt;

use crate::model::Event;
use crate::sample::events::{Ended, ProcEvent};
use crate::sample::{Comm, Command, IdMap, Identity, ProcSample};

use super::{Member, Tracker};

/// The most family happenings kept per window between two ticks.
pub const MAX_OBSERVED: usize = 1024;
/// The most processes forked from the family that wait for the next tick.
pub const MAX_BORN: usize = 65_536;
/// The most short lives ([`Event::ShortLived`]) written per tick; the rest are
/// counted in one [`Event::ShortLivedMore`].
pub const MAX_SHORT_LISTED: usize = 32;

/// When an event happened, on the tracker's clocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct At {
    /// ms since the recording began (the clock of [`Tracker::update_at`]).
    pub elapsed_ms: u64,
    /// Wall time, ms since the Unix epoch (for evidence a person reads).
    pub wall_ms: u64,
}

impl At {
    /// The moment `ago_ns` ns before `now`: an event's time from its age on its
    /// source's clock (`clock_ns() - at_ns`). Never before the recording began.
    pub fn ago(now: At, ago_ns: u64) -> At {
        let ago_ms = ago_ns / 1_000_000;
        At {
            elapsed_ms: now.elapsed_ms.saturating_sub(ago_ms),
            wall_ms: now.wall_ms.saturating_sub(ago_ms),
        }
    }
}

/// What [`Tracker::observe`] made of an event, for the caller to act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Noted {
    /// Nothing of the family's.
    Nothing,
    /// Recorded: the family forked, exec'd, called `setsid` or exited.
    Recorded,
    /// These members' parent exited now: they are orphans (shown so before the next
    /// tick; their verdict still waits for the leak grace).
    Orphaned(Vec<u32>),
    /// Events were lost: the window is marked; read `/proc` again now (a tick).
    Rescan,
}

/// The events lost in one window between two ticks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Loss {
    /// Events known lost (sequence gaps: at least this many).
    pub counted: u64,
    /// Losses of an unknown size (`ENOBUFS`).
    pub uncounted: u32,
}

impl fmt::Display for Loss {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.counted, self.uncounted) {
            (0, _) => f.write_str("events lost: an unknown number"),
            (n, 0) => write!(f, "events lost: {n}"),
            (n, _) => write!(f, "events lost: at least {n}"),
        }
    }
}

/// What happened to a process of the family between two ticks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Happened {
    /// It was forked by `parent` (a member, or a process forked from the family).
    Forked { parent: u32 },
    /// It exec'd another program.
    Exec,
    /// It called `setsid`.
    Setsid,
    /// It exited, `how` where the source knows.
    Exited { how: Option<Ended> },
}

/// One happening, as an event told it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Observed {
    pub at: At,
    pub pid: u32,
    pub what: Happened,
}

/// A process forked from the family since the last tick.
#[derive(Debug, Clone, Copy)]
struct Story {
    parent: u32,
    forked: At,
    setsid: Option<At>,
    exited: Option<At>,
    /// It exec'd; its name after its last rename, where told.
    exec: bool,
    comm: Option<Comm>,
    /// How it ended, where told.
    how: Option<Ended>,
    /// No loss since it was recorded: its fork and its fate are known.
    trusted: bool,
    /// Ticks that did not find it (it waits for one more).
    unseen: u8,
}

/// What the events told since the last tick, and what the last tick's window held.
#[derive(Debug, Default)]
pub(super) struct Seen {
    born: IdMap<u32, Story>,
    /// Members that exited since the last tick (their pid may be anyone's now).
    exits: IdMap<u32, At>,
    /// Members whose parent exited since the last tick: pid -> (parent, when).
    orphaned: IdMap<u32, (u32, At)>,
    loss: Option<Loss>,
    log: Vec<Observed>,
    left_out: u64,
    last_loss: Option<Loss>,
    last_log: Vec<Observed>,
    last_left_out: u64,
}

impl Seen {
    fn note(&mut self, at: At, pid: u32, what: Happened) {
        if self.log.len() < MAX_OBSERVED {
            self.log.push(Observed { at, pid, what });
        } else {
            self.left_out += 1;
        }
    }

    fn lose(&mut self, count: Option<u64>) {
        let loss = self.loss.get_or_insert_with(Loss::default);
        match count {
            Some(n) => loss.counted = loss.counted.saturating_add(n),
            None => loss.uncounted = loss.uncounted.saturating_add(1),
        }
        for story in self.born.values_mut() {
            story.trusted = false;
        }
    }

    /// When the member `pid` was orphaned by its parent's exit, if an event told.
    pub(super) fn orphaned_at(&self, pid: u32, parent: u32) -> Option<u64> {
        self.orphaned
            .get(&pid)
            .filter(|(p, _)| *p == parent)
            .map(|(_, at)| at.elapsed_ms)
    }

    /// When the member `pid` exited, if an event told.
    pub(super) fn exited_at(&self, pid: u32) -> Option<u64> {
        self.exits.get(&pid).map(|at| at.elapsed_ms)
    }

    /// When `pid`, a member or a process forked from the family, exited since the
    /// last tick, if an event told.
    fn exit_of(&self, pid: u32) -> Option<At> {
        self.born
            .get(&pid)
            .and_then(|s| s.exited)
            .or_else(|| self.exits.get(&pid).copied())
    }

    /// The loss in the window being closed, for evidence judged at this tick.
    pub(super) fn window_loss(&self) -> Option<Loss> {
        self.loss
    }

    /// Appends the pids forked from the family that the next tick must read, with
    /// start 0 (unknown: whatever process holds the pid is read).
    pub(super) fn to_sample(&self, out: &mut Vec<Identity>) {
        out.extend(
            self.born
                .iter()
                .filter(|(_, s)| s.exited.is_none())
                .map(|(&pid, _)| Identity { pid, start: 0 }),
        );
    }

    /// Ends the window at a tick: what it held becomes the last window's; processes
    /// forked from the family that the tick did not find wait one more tick, unless
    /// the window lost events. Those that exited unread are written whole to `events`
    /// ([`Event::ShortLived`], the first [`MAX_SHORT_LISTED`] by fork time, the rest
    /// counted); those the tick read (admitted, or found as members) are forgotten.
    pub(super) fn close_window(
        &mut self,
        admitted: &[u32],
        live: &IdMap<u32, Member>,
        events: &mut Vec<Event>,
    ) {
        self.last_loss = self.loss.take();
        self.last_log = std::mem::take(&mut self.log);
        self.last_left_out = std::mem::take(&mut self.left_out);
        for pid in admitted {
            self.born.remove(pid);
        }
        self.born.retain(|pid, _| !live.contains_key(pid));
        short_lives(&self.born, events);
        self.born.retain(|_, s| {
            s.unseen += 1;
            s.trusted && s.exited.is_none() && s.unseen < 2
        });
        self.exits.clear();
        self.orphaned.clear();
    }
}

/// Appends the lives of the processes in `born` that exited: listed up to
/// [`MAX_SHORT_LISTED`] (first forked first), the rest counted.
fn short_lives(born: &IdMap<u32, Story>, events: &mut Vec<Event>) {
    let mut ended: Vec<(u32, &Story)> = born
        .iter()
        .filter(|(_, s)| s.exited.is_some())
        .map(|(&pid, s)| (pid, s))
        .collect();
    if ended.is_empty() {
        return;
    }
    ended.sort_unstable_by_key(|(pid, s)| (s.forked.elapsed_ms, *pid));
    let split = ended.len().min(MAX_SHORT_LISTED);
    for &(pid, s) in &ended[..split] {
        let (code, signal) = ending(s.how);
        events.push(Event::ShortLived {
            pid,
            ppid: s.parent,
            life_ms: s
                .exited
                .map_or(0, |e| e.elapsed_ms.saturating_sub(s.forked.elapsed_ms)),
            exec: s.exec,
            comm: s
                .comm
                .map(|c| String::from_utf8_lossy(c.as_bytes()).into_owned()),
            code,
            signal,
        });
    }
    let rest = &ended[split..];
    if !rest.is_empty() {
        let endings = rest.iter().map(|(_, s)| ending(s.how));
        events.push(Event::ShortLivedMore {
            count: rest.len() as u64,
            failed: endings
                .clone()
                .filter(|(c, _)| c.is_some_and(|c| c != 0))
                .count() as u64,
            signaled: endings.filter(|(_, sig)| sig.is_some()).count() as u64,
        });
    }
}

/// An ending as (exit code, signal), where known.
fn ending(how: Option<Ended>) -> (Option<u8>, Option<u8>) {
    match how {
        Some(Ended::Code(c)) => (Some(c), None),
        Some(Ended::Signaled { signal, .. }) => (None, Some(signal)),
        None => (None, None),
    }
}

impl Tracker {
    /// Feeds one event that happened between two ticks, at `at`; see the module's
    /// documentation for what each one does. Events go in the order the source gave
    /// them; ones the last tick already reflects change nothing.
    ///
    /// Before [`Tracker::update_at`], feed every event the source holds *after* the
    /// tick's sample was read: the sample may show a pid already passed from a process
    /// forked from the family to another one, and only the exit event, queued by then,
    /// says so. (The kernel queues a process's exit event before its pid can be
    /// reused, but for a process reaped at once, such as a child of a parent that
    /// ignores `SIGCHLD`; reusing that pid in the microseconds between takes the pid
    /// counter wrapping around.)
    pub fn observe(&mut self, at: At, event: &ProcEvent) -> Noted {
        match *event {
            ProcEvent::Fork { parent, child } if child.is_process() => {
                self.observe_fork(at, parent.tgid, child.pid)
            }
            ProcEvent::Exit { task, how, .. } if task.is_process() => {
                self.observe_exit(at, task.pid, how)
            }
            ProcEvent::Setsid { task } => {
                let pid = task.tgid;
                if let Some(s) = self.seen.born.get_mut(&pid) {
                    s.setsid.get_or_insert(at);
                } else if !self.is_live_member(pid) {
                    return Noted::Nothing;
                }
                self.seen.note(at, pid, Happened::Setsid);
                Noted::Recorded
            }
            ProcEvent::Exec { task } => {
                let pid = task.tgid;
                if let Some(s) = self.seen.born.get_mut(&pid) {
                    s.exec = true;
                } else if !self.is_live_member(pid) {
                    return Noted::Nothing;
                }
                self.seen.note(at, pid, Happened::Exec);
                Noted::Recorded
            }
            // A rename (`PR_SET_NAME`; an exec sends no comm event): the name its life
            // is told by.
            ProcEvent::Comm { task, comm } if task.is_process() => {
                match self.seen.born.get_mut(&task.pid) {
                    Some(s) => {
                        s.comm = Some(comm);
                        Noted::Recorded
                    }
                    None => Noted::Nothing,
                }
            }
            ProcEvent::Lost { count } => {
                self.seen.lose(count);
                Noted::Rescan
            }
            _ => Noted::Nothing,
        }
    }

    /// A member as the events know it: live at the last tick and not exited since.
    fn is_live_member(&self, pid: u32) -> bool {
        self.live.contains_key(&pid) && !self.seen.exits.contains_key(&pid)
    }

    /// Whether `pid` is family by the events: a member, or forked from one since the
    /// last tick and still running.
    fn is_family_now(&self, pid: u32) -> bool {
        self.is_live_member(pid) || self.seen.born.get(&pid).is_some_and(|s| s.exited.is_none())
    }

    fn observe_fork(&mut self, at: At, parent: u32, child: u32) -> Noted {
        if !self.is_family_now(parent) || Some(child) == self.watcher {
            return Noted::Nothing;
        }
        // Already read by the tick (the event came after it).
        if self.is_live_member(child) {
            return Noted::Nothing;
        }
        if self.seen.born.len() >= MAX_BORN && !self.seen.born.contains_key(&child) {
            self.seen.lose(Some(1));
            return Noted::Rescan;
        }
        let trusted = self.seen.loss.is_none();
        self.seen.born.insert(
            child,
            Story {
                parent,
                forked: at,
                setsid: None,
                exited: None,
                exec: false,
                comm: None,
                how: None,
                trusted,
                unseen: 0,
            },
        );
        self.seen.note(at, child, Happened::Forked { parent });
        Noted::Recorded
    }

    fn observe_exit(&mut self, at: At, pid: u32, how: Option<Ended>) -> Noted {
        // A process forked since the last tick has no member children (a tick made
        // them members), only children forked since, which look up its exit.
        if let Some(s) = self.seen.born.get_mut(&pid)
            && s.exited.is_none()
        {
            s.exited = Some(at);
            s.how = how;
            self.seen.note(at, pid, Happened::Exited { how });
            return Noted::Recorded;
        }
        if !self.is_live_member(pid) {
            return Noted::Nothing;
        }
        self.seen.exits.insert(pid, at);
        self.seen.note(at, pid, Happened::Exited { how });
        let orphans: Vec<u32> = self
            .live
            .values()
            .filter(|m| m.last.ppid == pid && m.id != self.root && m.reparented.is_none())
            .filter(|m| !self.seen.exits.contains_key(&m.id.pid))
            .map(|m| m.id.pid)
            .collect();
        if orphans.is_empty() {
            return Noted::Recorded;
        }
        for &o in &orphans {
            self.seen.orphaned.entry(o).or_insert((pid, at));
        }
        Noted::Orphaned(orphans)
    }

    /// The events lost in the window the last update closed, if any: the tick rests
    /// on a partial account of what happened before it.
    pub fn events_lost(&self) -> Option<Loss> {
        self.seen.last_loss
    }

    /// What the events told of the family in the window the last update closed, in
    /// order (at most [`MAX_OBSERVED`]), and how many more happenings were left out.
    pub fn observed(&self) -> (&[Observed], u64) {
        (&self.seen.last_log, self.seen.last_left_out)
    }

    /// Members orphaned by their parent's exit since the last tick, and when (ms since
    /// the recording began): not yet confirmed by a tick.
    pub fn orphaned_since_tick(&self) -> impl Iterator<Item = (u32, u64)> + '_ {
        self.seen
            .orphaned
            .iter()
            .map(|(&pid, (_, at))| (pid, at.elapsed_ms))
    }

    /// Admits the processes forked from the family since the last tick that this tick
    /// read: members under a member, escaped members elsewhere. Nothing when the
    /// window lost events. Returns the pids admitted.
    pub(super) fn admit_born(
        &mut self,
        samples: &[ProcSample],
        describe: &mut dyn FnMut(Identity) -> Option<Command>,
    ) -> Vec<u32> {
        let mut admitted = Vec::new();
        if self.seen.born.is_empty() || self.seen.loss.is_some() {
            return admitted;
        }
        let mut found: Vec<&ProcSample> = samples
            .iter()
            .filter(|s| {
                self.seen
                    .born
                    .get(&s.pid)
                    .is_some_and(|b| b.trusted && b.exited.is_none())
            })
            .filter(|s| self.live.get(&s.pid).is_none_or(|m| m.id.start != s.start))
            .filter(|s| Some(s.pid) != self.watcher && !s.has_exited())
            .filter(|s| !self.excluded.contains(&s.id()) && s.start >= self.root.start)
            .collect();
        found.sort_by_key(|s| (s.start, s.pid));
        // Parents first: a child waits while its forking parent is still to admit.
        let mut last_pass = false;
        loop {
            let before = found.len();
            found.retain(|&&s| {
                let story = self.seen.born[&s.pid];
                let parent_waits = !last_pass
                    && !self.live.contains_key(&story.parent)
                    && self.seen.born.contains_key(&story.parent)
                    && samples.iter().any(|p| p.pid == story.parent);
                if parent_waits {
                    return true;
                }
                // Adopted by anyone but the parent that forked it: orphaned before a
                // tick saw it, whether by an outsider or by a subreaper inside the
                // family (tini under `run`, whose adoption /proc cannot tell from its
                // own child).
                let evidence = (s.ppid != story.parent).then(|| self.born_evidence(s.pid, s.ppid));
                if evidence.is_some() {
                    self.adopters.insert(s.ppid);
                }
                let escaped = evidence.is_some();
                let command = describe(s.id()).unwrap_or_else(|| super::fallback_command(&s));
                self.admit(s, command, evidence, self.tick);
                // Orphaned when its parent exited, not when the tick found it.
                if let (true, Some(exit), Some(m)) = (
                    escaped,
                    self.seen.exit_of(story.parent),
                    self.live.get_mut(&s.pid),
                ) {
                    m.orphaned_ms = Some(exit.elapsed_ms.min(self.now_ms));
                }
                admitted.push(s.pid);
                false
            });
            if found.is_empty() || (found.len() == before && last_pass) {
                break;
            }
            last_pass = found.len() == before;
        }
        admitted
    }

    /// What the events saw of `pid`'s escape, now that it is a child of `ppid`.
    fn born_evidence(&self, pid: u32, ppid: u32) -> String {
        let born = &self.seen.born;
        let s = born[&pid];
        let mut first = vec![format!("forked by {} at {}", s.parent, clock(s.forked))];
        if let Some(at) = s.setsid {
            first.push(format!("called setsid at {}", clock(at)));
        }
        first.push(match self.seen.exit_of(s.parent) {
            Some(at) => format!(
                "adopted by pid {ppid} when {} exited at {}",
                s.parent,
                clock(at)
            ),
            None => format!("now a child of pid {ppid}"),
        });
        let mut chain = vec![first.join(", ")];
        let mut cur = s.parent;
        for _ in 0..8 {
            let Some(a) = born.get(&cur) else { break };
            let mut link = format!("{cur} was forked by {} at {}", a.parent, clock(a.forked));
            if let Some(at) = a.setsid {
                link.push_str(&format!(" and called setsid at {}", clock(at)));
            }
            chain.push(link);
            cur = a.parent;
        }
        format!("{} (process events, UTC)", chain.join("; "))
    }
}

/// The time of day of `at` (UTC), `HH:MM:SS.mmm`.
fn clock(at: At) -> String {
    let ms = at.wall_ms % 86_400_000;
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        ms / 3_600_000,
        ms / 60_000 % 60,
        ms / 1000 % 60,
        ms % 1000
    )
}

#[cfg(test)]
mod tests;
