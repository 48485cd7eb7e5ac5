//! The timeline the interactive view keeps: every tick so far, and the RSS series the
//! chart draws from.

use crate::model::Tick;
use crate::sample::Identity;

/// One point of the family's RSS over time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Totals {
    pub tick: u32,
    pub total_rss_kb: u64,
    pub leaked_rss_kb: u64,
}

#[derive(Debug, Default)]
pub struct History {
    ticks: Vec<Tick>,
    totals: Vec<Totals>,
}

impl History {
    pub fn push(&mut self, tick: Tick) {
        self.totals.push(Totals {
            tick: tick.tick,
            total_rss_kb: tick.total_rss_kb(),
            leaked_rss_kb: tick.leaked_rss_kb(),
        });
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
