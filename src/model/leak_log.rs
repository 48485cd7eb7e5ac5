//! What leaked during a run, including what leaked and then exited before the run
//! ended: a leak that ended before `run` did is still a leak (issue 26, fault 4).
//! Pure: fed the ticks, in order.

use super::{Event, ProcRow, Tick};
use crate::sample::{IdMap, Identity};

/// At most this many leaks that exited are kept with their rows; the rest are counted.
pub const KEPT: usize = 1000;

/// A process that was leaked and exited before the end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExitedLeak {
    /// Its last row while it lived.
    pub row: ProcRow,
    /// How long it lived on after it was first seen orphaned (reparented, escaped, or
    /// outliving the root), in ms, to the tick that saw it gone.
    pub after_ms: u64,
}

/// The leaks of a run, as the ticks tell them.
#[derive(Debug, Default)]
pub struct LeakLog {
    /// When each live member was first seen orphaned (ms since the run began).
    orphaned_at: IdMap<Identity, u64>,
    /// The live leaked members, by their last row.
    leaked: IdMap<Identity, ProcRow>,
    exited: Vec<ExitedLeak>,
    /// Leaks that exited beyond [`KEPT`].
    more: usize,
}

impl LeakLog {
    pub fn new() -> Self {
        Self::default()
    }

    /// Folds in one tick.
    pub fn add(&mut self, tick: &Tick) {
        for p in &tick.processes {
            let orphaned = p.reparented_from.is_some() || p.escaped || !tick.root_alive;
            if orphaned && p.state != 'Z' {
                self.orphaned_at.entry(p.id()).or_insert(tick.elapsed_ms);
            }
            if p.leaked && p.state != 'Z' {
                self.leaked.insert(p.id(), p.clone());
            }
        }
        for e in &tick.events {
            let Event::Exited { pid, start } = *e else {
                continue;
            };
            let id = Identity { pid, start };
            let since = self.orphaned_at.remove(&id);
            let Some(row) = self.leaked.remove(&id) else {
                continue;
            };
            if self.exited.len() >= KEPT {
                self.more += 1;
                continue;
            }
            self.exited.push(ExitedLeak {
                row,
                after_ms: tick
                    .elapsed_ms
                    .saturating_sub(since.unwrap_or(tick.elapsed_ms)),
            });
        }
    }

    /// The leaks that exited, in the order they did ([`KEPT`] at most).
    pub fn exited(&self) -> &[ExitedLeak] {
        &self.exited
    }

    /// How many leaks exited in all.
    pub fn exited_count(&self) -> usize {
        self.exited.len() + self.more
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tick(
        n: u32,
        elapsed_ms: u64,
        root_alive: bool,
        rows: Vec<ProcRow>,
        events: Vec<Event>,
    ) -> Tick {
        Tick {
            tick: n,
            elapsed_ms,
            time_ms: 0,
            root_alive,
            processes: rows,
            events,
            alerts: Vec::new(),
        }
    }

    fn row(pid: u32, leaked: bool) -> ProcRow {
        ProcRow {
            leaked,
            leaked_since: leaked.then_some(3),
            ..ProcRow::for_test(pid, 1)
        }
    }

    #[test]
    fn a_leak_that_exits_is_kept_with_how_long_it_lived_on() {
        let mut log = LeakLog::new();
        log.add(&tick(
            1,
            0,
            true,
            vec![row(10, false), row(11, false)],
            vec![],
        ));
        // The root exits at 1 s; 11 lives on, leaked at 2 s, exits at 6.1 s.
        log.add(&tick(2, 1000, false, vec![row(11, false)], vec![]));
        log.add(&tick(3, 2000, false, vec![row(11, true)], vec![]));
        assert!(log.exited().is_empty());
        let gone = Event::Exited { pid: 11, start: 11 };
        log.add(&tick(4, 6100, false, vec![], vec![gone]));
        assert_eq!(log.exited_count(), 1);
        assert_eq!(log.exited()[0].row.pid, 11);
        assert_eq!(log.exited()[0].after_ms, 5100);
    }

    #[test]
    fn an_orphan_that_exits_unleaked_is_no_leak() {
        let mut log = LeakLog::new();
        log.add(&tick(1, 0, false, vec![row(11, false)], vec![]));
        let gone = Event::Exited { pid: 11, start: 11 };
        log.add(&tick(2, 500, false, vec![], vec![gone]));
        assert_eq!(log.exited_count(), 0);
        assert!(log.orphaned_at.is_empty(), "nothing kept of what left");
    }
}
