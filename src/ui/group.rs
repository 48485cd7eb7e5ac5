//! Watching an orphan group that adopted several processes: the monitor follows one
//! root's family, so the group is watched as one monitor per adopted process, stepped
//! together, their ticks merged into one ([`merge`]). Each family keeps its own
//! verdicts: nothing is called leaked that its own monitor would not call leaked.

use std::collections::HashSet;
use std::time::Instant;

use crate::model::Tick;
use crate::monitor::TickSource;
use crate::sample::Identity;

/// Several families side by side, as one [`TickSource`].
pub struct GroupSource {
    sources: Vec<Box<dyn TickSource>>,
}

impl GroupSource {
    /// Steps every one of `sources` (one per root, the first one's clock is the
    /// tick's) at each step.
    pub fn new(sources: Vec<Box<dyn TickSource>>) -> GroupSource {
        GroupSource { sources }
    }
}

impl TickSource for GroupSource {
    /// One step of each family, merged; the first failure stops them all.
    fn step(&mut self) -> Result<Tick, String> {
        let ticks = self
            .sources
            .iter_mut()
            .map(|s| s.step())
            .collect::<Result<Vec<_>, _>>()?;
        merge(ticks).ok_or_else(|| "no family to watch".to_string())
    }

    /// Once every family has finished.
    fn finished(&self) -> Option<String> {
        let all = self.sources.iter().all(|s| s.finished().is_some());
        all.then(|| "every process of the group has exited".into())
    }

    fn focus(&mut self, ids: Vec<Identity>) {
        for s in &mut self.sources {
            s.focus(ids.clone());
        }
    }

    /// Never: the loop sleeps between steps (one source's events must not hold up
    /// another's tick).
    fn listens(&self) -> bool {
        false
    }

    fn listen(&mut self, _until: Instant) -> bool {
        false
    }
}

/// The ticks of several families taken at one step, as one: the first one's number
/// and times, every process once (the first family that lists a pid keeps it), every
/// event and alert; the root counts as alive while any family's root is. `None` for
/// no ticks.
pub fn merge(ticks: Vec<Tick>) -> Option<Tick> {
    let mut ticks = ticks.into_iter();
    let mut merged = ticks.next()?;
    let mut seen: HashSet<u32> = merged.processes.iter().map(|p| p.pid).collect();
    for t in ticks {
        merged.root_alive |= t.root_alive;
        merged
            .processes
            .extend(t.processes.into_iter().filter(|p| seen.insert(p.pid)));
        merged.events.extend(t.events);
        merged.alerts.extend(t.alerts);
    }
    Some(merged)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tick(n: u32, pids: &[u32], root_alive: bool) -> Tick {
        Tick {
            tick: n,
            elapsed_ms: u64::from(n) * 1000,
            time_ms: 0,
            root_alive,
            processes: pids
                .iter()
                .map(|&pid| crate::testkit::row(pid, 1))
                .collect(),
            events: Vec::new(),
            alerts: Vec::new(),
        }
    }

    #[test]
    fn merges_families_each_process_once_alive_while_any_root_is() {
        let got = merge(vec![tick(3, &[10, 11], false), tick(3, &[20, 11], true)]).unwrap();
        let pids: Vec<u32> = got.processes.iter().map(|p| p.pid).collect();
        assert_eq!(pids, [10, 11, 20]);
        assert!(got.root_alive);
        assert_eq!(got.tick, 3);
        assert!(merge(Vec::new()).is_none());
    }
}
