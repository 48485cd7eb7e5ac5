//! `--follow`: keeping the marks of the living root, gathering the processes first
//! seen after it exited, and taking the plausible restart among them as the new root
//! (the rule itself is pure: [`crate::model::restart`]).

use super::Monitor;
use crate::model::restart::{
    Candidate, Rank, Restart, args_of, argv0_base, is_sure, plausible_restart,
};
use crate::sample::{Command, ProcSample};

/// How long after the root was last seen alive a restart that is not sure waits for
/// a better one, at least: supervisors back off for a second or a few (systemd's
/// `RestartSec` defaults to 100 ms), and an orphaned look-alike shows at once.
const PATIENCE_MS: u64 = 5000;

impl Monitor {
    /// How long a restart that is not sure ([`is_sure`]) waits, in ms:
    /// [`PATIENCE_MS`] or two intervals, whichever is longer. The candidates gathered
    /// after the root exited are kept this long and an interval more.
    fn patience_ms(&self) -> u64 {
        (2 * self.header.interval_ms).max(PATIENCE_MS)
    }

    /// `--follow`: remembers this tick's newcomers that are not of the family. While
    /// the root lives only the latest tick's are kept (the root's last live tick
    /// bounds its successor's first sighting); once it has exited they gather, each
    /// kept a few ticks, long enough to see a forked child `exec` into the daemon.
    pub(super) fn note_fresh(&mut self, now_ms: u64) {
        let keep_ms =
            (3 * self.header.interval_ms).max(self.patience_ms() + self.header.interval_ms);
        if self.tracker.root_alive() {
            self.fresh.clear();
        } else {
            self.fresh
                .retain(|&(_, seen)| seen.saturating_add(keep_ms) >= now_ms);
        }
        let me = self.host.own_pid();
        let root_start = self.tracker.root().start;
        let alive = self.tracker.root_alive();
        for s in &self.samples {
            let family = self.tracker.member(s.pid).is_some_and(|m| m.id == s.id());
            // Older than the root: no restart of it (at the first tick, most of the
            // machine). The sampler hands each newcomer over once, but `run` adds
            // leaktop's children again.
            if s.pid != me
                && s.start >= root_start
                && !family
                && !s.has_exited()
                && (alive || self.fresh.iter().all(|(id, _)| *id != s.id()))
            {
                self.fresh.push((s.id(), now_ms));
            }
        }
    }

    /// Keeps the living root's marks up to date at `now_ms`: when it was last seen,
    /// its parent, and what it runs after an `exec`.
    pub(super) fn mark_root(&mut self, now_ms: u64) {
        let root = self.tracker.root();
        let Some(m) = self.tracker.member(root.pid) else {
            return;
        };
        self.marks.seen_ms = now_ms;
        self.marks.parent = m.last.ppid;
        if m.comm != self.marks.comm {
            self.marks.comm = m.comm;
            self.marks.argv0 = argv0_base(&m.command);
            self.marks.args = args_of(&m.command);
            self.marks.exe = self.host.exe_id(root.pid);
        }
    }

    /// Looks among the processes first seen since the root's last live tick for its
    /// successor at `now_ms`: a plausible restart (see [`plausible_restart`]) that
    /// matches the pattern and is neither of the family nor a leaktop. The best is
    /// taken at once if it is sure ([`is_sure`]: the old root's command line, and not
    /// there while it lived); a lesser one only once [`Monitor::patience_ms`] has
    /// passed since the old root's last live tick, time for the real restart to show.
    pub(super) fn take_over(&mut self, pattern: &str, now_ms: u64) {
        let old = self.tracker.root();
        let supervisor_alive =
            self.marks.parent > 1 && self.sampler.probe(self.marks.parent).is_some();
        let mut best: Option<(Rank, ProcSample, Command, String)> = None;
        for &(id, seen_ms) in &self.fresh {
            let Some(s) = self.sampler.probe(id.pid) else {
                continue;
            };
            if s.start != id.start
                || s.start < old.start
                || s.has_exited()
                || self.tracker.is_excluded(id)
                || self.tracker.member(id.pid).is_some_and(|m| m.id == id)
            {
                continue;
            }
            let Some(command) = self.sampler.command(id) else {
                continue;
            };
            if !command.matches(pattern) {
                continue;
            }
            let exe = self.host.exe_id(id.pid);
            if exe.is_some() && exe == self.leaktop_exe {
                continue;
            }
            let candidate = Candidate {
                ppid: s.ppid,
                exe,
                argv0: argv0_base(&command),
                args: args_of(&command),
                old_generation: seen_ms <= self.marks.seen_ms,
            };
            let Some((rank, rule)) =
                plausible_restart(&self.marks, old.pid, supervisor_alive, &candidate)
            else {
                continue;
            };
            let better = best
                .as_ref()
                .is_none_or(|(r, b, ..)| (rank, s.start, s.pid) < (*r, b.start, b.pid));
            if better {
                best = Some((rank, s, command, rule));
            }
        }
        let Some((rank, s, command, rule)) = best else {
            return;
        };
        if !is_sure(rank) && now_ms < self.marks.seen_ms.saturating_add(self.patience_ms()) {
            return;
        }
        let sampler = &mut self.sampler;
        self.tracker
            .follow(s, command, &self.samples, &mut |id| sampler.command(id));
        if self.tracker.root() == s.id() {
            self.restart = Some(Restart {
                pid: s.pid,
                previous: old.pid,
                rule,
            });
            self.fresh.clear();
            self.mark_root(now_ms);
        }
    }
}
