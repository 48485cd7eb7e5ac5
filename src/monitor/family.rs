//! Who belongs to the family beyond what the tracker infers: the orphans leaktop
//! adopted as a subreaper, and never another leaktop.

use super::Monitor;

impl Monitor {
    /// Makes sure every child of leaktop is sampled. As the family's subreaper leaktop
    /// is the parent of every orphan it made, so the kernel's own list of its children
    /// catches any that pid discovery could have missed between two ticks.
    pub(super) fn add_adopted(&mut self) {
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

    /// Tells the tracker which of this tick's processes are other leaktops (by their
    /// executable, not their name): newcomers that could join the family, and members
    /// that have just exec'd (a shell that forked and then ran leaktop).
    pub(super) fn exclude_leaktops(&mut self) {
        let Some(leaktop) = self.leaktop_exe else {
            return;
        };
        let me = self.host.own_pid();
        let root = self.tracker.root();
        for s in &self.samples {
            if s.pid == me || s.start < root.start || s.id() == root || s.has_exited() {
                continue;
            }
            let check = match self.tracker.member(s.pid) {
                Some(m) if m.id == s.id() => m.comm != s.comm,
                _ => !self.tracker.is_excluded(s.id()),
            };
            if check && self.host.exe_id(s.pid) == Some(leaktop) {
                self.tracker.exclude(s.id());
            }
        }
    }
}
