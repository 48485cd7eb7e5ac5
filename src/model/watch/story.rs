//! The stories a watcher recorded, told where `leaktop orphans` lists a group: "orphaned
//! 2h13m ago when `cce serve --project-dir …` (pid 213019) was killed by SIGKILL;
//! left 5 processes behind, PSS 4.9 GiB then".
//!
//! [`Stories`] keeps, for each process an `orphaned` record listed, what that record
//! said in brief; [`attach`] adds it to the group that holds the process as its
//! `watched` evidence. How sure it is follows from how the process died:
//!
//! - **strong**: killed by a signal (but SIGHUP), or exited with a code other than 0:
//!   the job crashed or was killed, and what it left behind was not meant to stay;
//! - **weak**: exited with code 0 (a daemon's double fork and a script's deliberate
//!   `cmd &` look the same), killed by SIGHUP (a closing terminal ends its shell so,
//!   and `nohup` jobs outlive it on purpose), or how it ended is unknown.
//!
//! Groups with strong watched evidence come first in the list.

use crate::human::{age, fit, human_kb, plural, printable};
use crate::model::orphans::{Classified, Evidence, OrphanGroup, Strength};
use crate::sample::{IdMap, Identity};

use super::record::{How, Orphaning};

/// The `kind` of watched evidence.
pub const WATCHED: &str = "watched";

/// One orphaning in brief.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Story {
    /// When it happened (wall ms), exactly or between `since_ms` and it.
    pub time_ms: u64,
    pub exact: bool,
    pub since_ms: Option<u64>,
    pub died_pid: u32,
    /// The dead process's name (`comm`; empty where unknown).
    pub died_name: String,
    /// The dead process's command line (or its name, where the line was not read).
    pub died_cmd: String,
    pub how: Option<How>,
    /// Processes it left behind, and their RSS and PSS then (KiB).
    pub left: usize,
    pub rss_kb: u64,
    pub pss_kb: Option<u64>,
    /// Which source saw it.
    pub source: String,
}

impl Story {
    /// The story of one record.
    pub fn of(o: &Orphaning) -> Story {
        let died_cmd = match &o.died.cmd {
            Some(cmd) if !cmd.is_empty() => fit(cmd, 80),
            _ if !o.died.comm.is_empty() => format!("[{}]", o.died.comm),
            _ => "a process not seen before it died".to_string(),
        };
        Story {
            time_ms: o.time_ms,
            exact: o.exact,
            since_ms: o.since_ms,
            died_pid: o.died.pid,
            died_name: o.died.comm.clone(),
            died_cmd,
            how: o.died.how,
            left: o.left.len() + o.more,
            rss_kb: o.rss_kb,
            pss_kb: o.pss_kb,
            source: o.source.clone(),
        }
    }

    /// Strong when the process was killed (but by SIGHUP) or failed; see the module's
    /// documentation.
    pub fn strength(&self) -> Strength {
        match self.how {
            Some(How {
                signal: Some(s), ..
            }) if s != 1 => Strength::Strong,
            Some(How {
                exit_code: Some(c), ..
            }) if c != 0 => Strength::Strong,
            _ => Strength::Weak,
        }
    }

    /// The story in a sentence, as of `now_ms`.
    pub fn text(&self, now_ms: u64) -> String {
        let ago = age(now_ms.saturating_sub(self.time_ms));
        let when = match (self.exact, self.since_ms) {
            (true, _) => format!("orphaned {ago} ago"),
            (false, Some(since)) => format!(
                "orphaned between {} and {ago} ago",
                age(now_ms.saturating_sub(since))
            ),
            (false, None) => format!("orphaned at most {ago} ago"),
        };
        let how = match &self.how {
            Some(h) => h.words(),
            None => format!("exited (how, unknown: seen by {})", self.source),
        };
        let pss = self.pss_kb.map_or_else(
            || format!("RSS {}", human_kb(self.rss_kb)),
            |kb| format!("PSS {}", human_kb(kb)),
        );
        let mut s = format!(
            "{when} when `{}` (pid {}) {how}; left {} behind, {pss} then",
            printable(&self.died_cmd),
            self.died_pid,
            plural(self.left, "process", "processes"),
        );
        match self.how {
            Some(How {
                exit_code: Some(0), ..
            }) => s.push_str(" (a normal exit: a daemon's double fork or a deliberate `cmd &` looks the same)"),
            Some(How { signal: Some(1), .. }) => {
                s.push_str(" (a closing terminal ends its shell with SIGHUP; `nohup` jobs outlive it on purpose)")
            }
            _ => {}
        }
        s
    }
}

/// Stories by the processes they left behind.
#[derive(Debug, Clone, Default)]
pub struct Stories {
    by_process: IdMap<Identity, std::sync::Arc<Story>>,
}

impl Stories {
    pub fn new() -> Stories {
        Stories::default()
    }

    /// Adds the story of `o` for each process it lists that `keep` accepts (the
    /// living, for a reader; bounded by them). A later story of the same process
    /// replaces an earlier one only if the earlier is not strong.
    pub fn add(&mut self, o: &Orphaning, keep: &mut dyn FnMut(Identity) -> bool) {
        let mut story = None;
        for l in &o.left {
            let id = l.id();
            if !keep(id) {
                continue;
            }
            let s = story
                .get_or_insert_with(|| std::sync::Arc::new(Story::of(o)))
                .clone();
            match self.by_process.get(&id) {
                Some(old) if old.strength() == Strength::Strong => {}
                _ => {
                    self.by_process.insert(id, s);
                }
            }
        }
    }

    /// Forgets a process (it ended).
    pub fn forget(&mut self, id: Identity) {
        self.by_process.remove(&id);
    }

    /// Keeps only the processes `keep` accepts.
    pub fn retain(&mut self, keep: &mut dyn FnMut(Identity) -> bool) {
        self.by_process.retain(|id, _| keep(*id));
    }

    pub fn get(&self, id: Identity) -> Option<&Story> {
        self.by_process.get(&id).map(|s| s.as_ref())
    }

    /// Processes with a story.
    pub fn len(&self) -> usize {
        self.by_process.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_process.is_empty()
    }

    /// The identities with a story.
    pub fn ids(&self) -> impl Iterator<Item = Identity> + '_ {
        self.by_process.keys().copied()
    }

    /// The identities whose story is strong (their parent was killed or failed):
    /// evidence enough to list them whatever `/proc` shows. A weak story (a normal
    /// exit) is how every double-forking daemon starts, so it only adds to a group
    /// listed on other evidence.
    pub fn strong_ids(&self) -> impl Iterator<Item = Identity> + '_ {
        self.by_process
            .iter()
            .filter(|(_, s)| s.strength() == Strength::Strong)
            .map(|(&id, _)| id)
    }

    /// The story of a group: that of its earliest orphaning among its processes.
    pub fn of_group(&self, g: &OrphanGroup) -> Option<&Story> {
        g.processes
            .iter()
            .filter_map(|o| self.get(o.sample.id()))
            .min_by_key(|s| (s.time_ms, s.died_pid))
    }
}

/// Whether a group has watched evidence, and strong.
pub fn watched_strong(g: &OrphanGroup) -> bool {
    g.evidence
        .iter()
        .any(|e| e.kind == WATCHED && e.strength == Strength::Strong)
}

/// Adds each group's story as its `watched` evidence (first among evidence of its
/// strength), and puts the groups with strong watched evidence first, keeping the
/// order otherwise.
pub fn attach(classified: &mut Classified, stories: &Stories, now_ms: u64) {
    if stories.is_empty() {
        return;
    }
    for g in &mut classified.groups {
        let Some(story) = stories.of_group(g) else {
            continue;
        };
        let e = Evidence {
            strength: story.strength(),
            kind: WATCHED,
            text: story.text(now_ms),
        };
        let at = g
            .evidence
            .iter()
            .position(|x| x.strength <= e.strength)
            .unwrap_or(g.evidence.len());
        g.evidence.insert(at, e);
    }
    classified.groups.sort_by_key(|g| !watched_strong(g));
}

#[cfg(test)]
mod tests;
