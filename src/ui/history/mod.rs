//! The timeline the interactive view keeps: every tick so far, and the RSS series the
//! chart draws from.

use crate::model::{Event, Tick};
use crate::sample::Identity;

/// One point of the family's RSS over time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Totals {
    pub tick: u32,
    pub total_rss_kb: u64,
    pub leaked_rss_kb: u64,
}

/// A new root taking over (`--follow`), at the history index where it happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Restart {
    pub index: usize,
    pub tick: u32,
    pub pid: u32,
    pub previous: u32,
}

#[derive(Debug, Default)]
pub struct History {
    ticks: Vec<Tick>,
    totals: Vec<Totals>,
    restarts: Vec<Restart>,
}

impl History {
    pub fn push(&mut self, tick: Tick) {
        self.totals.push(Totals {
            tick: tick.tick,
            total_rss_kb: tick.total_rss_kb(),
            leaked_rss_kb: tick.leaked_rss_kb(),
        });
        for e in &tick.events {
            if let Event::RootRestarted { pid, previous, .. } = *e {
                self.restarts.push(Restart {
                    index: self.ticks.len(),
                    tick: tick.tick,
                    pid,
                    previous,
                });
            }
        }
        self.ticks.push(tick);
    }

    pub fn len(&self) -> usize {
        self.ticks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ticks.is_empty()
    }

    pub fn get(&self, index: usize) -> Option<&Tick> {
        self.ticks.get(index)
    }

    pub fn ticks(&self) -> &[Tick] {
        &self.ticks
    }

    pub fn totals(&self) -> &[Totals] {
        &self.totals
    }

    pub fn restarts(&self) -> &[Restart] {
        &self.restarts
    }

    /// The latest restart at or before history `index`: who the root was then.
    pub fn restart_before(&self, index: usize) -> Option<&Restart> {
        self.restarts.iter().rev().find(|r| r.index <= index)
    }

    /// One process's RSS at every tick it was alive: `(tick, rss_kb)`.
    pub fn rss_of(&self, id: Identity) -> Vec<(u32, u64)> {
        self.ticks
            .iter()
            .filter_map(|t| {
                t.processes
                    .iter()
                    .find(|p| p.pid == id.pid && p.start == id.start)
                    .map(|p| (t.tick, p.rss_kb))
            })
            .collect()
    }
}
