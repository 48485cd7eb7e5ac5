//! What a recording says, in figures: span, distinct processes, peaks, every leaked
//! process with when and from where, the largest growers, and the root's fate.

use std::collections::HashMap;

use serde::Serialize;

use crate::format::Recording;
use crate::model::Alert;
use crate::sample::Identity;

/// Largest RSS growers listed.
const GROWERS: usize = 5;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub root_pid: u32,
    pub root_cmd: String,
    /// The tick at which the root was first seen gone, if it was.
    pub root_exited_tick: Option<u32>,
    pub ticks: usize,
    pub first_tick: u32,
    pub last_tick: u32,
    pub span_ms: u64,
    /// Processes by identity (pid + start time), not by pid.
    pub distinct_processes: usize,
    pub peak_total_rss_kb: u64,
    pub peak_tick: u32,
    pub peak_leaked_rss_kb: u64,
    pub peak_leaked_tick: u32,
    pub leaked: Vec<Leaked>,
    pub growers: Vec<Grower>,
    /// Every alert raised, once per kind and process, with the tick it was first raised.
    pub alerts: Vec<Alert>,
    /// An incomplete last tick was dropped.
    pub truncated: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Leaked {
    pub pid: u32,
    pub start: u64,
    pub name: String,
    pub cmd: String,
    /// The parent it was reparented away from (none if it escaped or outlived the root).
    pub reparented_from: Option<u32>,
    pub escaped: bool,
    /// Its parent when it was marked, if that parent was leaked too (it leaked with
    /// the tree it belongs to).
    pub under: Option<u32>,
    /// The tick at which it was first marked leaked.
    pub tick: u32,
    pub rss_kb_then: u64,
    pub rss_kb_last: u64,
    pub last_seen_tick: u32,
    pub alive_at_end: bool,
}

impl Leaked {
    /// How it came to be leaked, in a few words.
    pub fn how(&self) -> String {
        match (self.reparented_from, self.escaped, self.under) {
            (Some(from), _, _) => format!("reparented from {from}"),
            (None, true, _) => "escaped".into(),
            (None, false, Some(parent)) => format!("under leaked {parent}"),
            (None, false, None) => "outlived the root".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Grower {
    pub pid: u32,
    pub start: u64,
    pub name: String,
    pub rss_kb_first: u64,
    pub rss_kb_peak: u64,
    pub growth_kb: u64,
}

/// One process's story across the recording.
struct Life {
    name: String,
    cmd: String,
    first_rss: u64,
    peak_rss: u64,
    last_rss: u64,
    last_tick: u32,
    last_state: char,
    leak: Option<LeakStart>,
}

/// A process at the tick it was first seen leaked.
struct LeakStart {
    tick: u32,
    rss_kb: u64,
    reparented_from: Option<u32>,
    escaped: bool,
    under: Option<u32>,
}

pub fn summarize(rec: &Recording) -> Summary {
    let mut lives: HashMap<Identity, Life> = HashMap::new();
    let mut order: Vec<Identity> = Vec::new();
    let (mut peak, mut peak_tick, mut peak_leaked, mut peak_leaked_tick) = (0, 0, 0, 0);
    let mut root_exited_tick = None;
    let mut alerts: Vec<Alert> = Vec::new();
    for tick in &rec.ticks {
        for a in &tick.alerts {
            let key = (a.kind, a.pid, a.start);
            match alerts.iter_mut().find(|b| (b.kind, b.pid, b.start) == key) {
                // The latest reason has the largest numbers; the first tick stays.
                Some(b) => b.reason = a.reason.clone(),
                None => alerts.push(a.clone()),
            }
        }
        let total = tick.total_rss_kb();
        if total > peak || peak_tick == 0 {
            (peak, peak_tick) = (total, tick.tick);
        }
        let leaked = tick.leaked_rss_kb();
        if leaked > peak_leaked || peak_leaked_tick == 0 {
            (peak_leaked, peak_leaked_tick) = (leaked, tick.tick);
        }
        if !tick.root_alive && root_exited_tick.is_none() {
            root_exited_tick = Some(tick.tick);
        }
        let leaked_pids: std::collections::HashSet<u32> = tick
            .processes
            .iter()
            .filter(|p| p.leaked)
            .map(|p| p.pid)
            .collect();
        for p in &tick.processes {
            let id = Identity {
                pid: p.pid,
                start: p.start,
            };
            let life = lives.entry(id).or_insert_with(|| {
                order.push(id);
                Life {
                    name: p.name.clone(),
                    cmd: p.cmd.clone(),
                    first_rss: p.rss_kb,
                    peak_rss: 0,
                    last_rss: 0,
                    last_tick: 0,
                    last_state: p.state,
                    leak: None,
                }
            });
            life.peak_rss = life.peak_rss.max(p.rss_kb);
            // An exiting process (a zombie, or one whose memory is already gone) reads
            // 0: its last RSS is the one it had alive.
            if p.state != 'Z' && p.rss_kb > 0 {
                life.last_rss = p.rss_kb;
            }
            life.last_tick = tick.tick;
            life.last_state = p.state;
            if p.leaked && life.leak.is_none() {
                let since = p.leaked_since.unwrap_or(tick.tick);
                let under = leaked_pids.contains(&p.ppid).then_some(p.ppid);
                life.leak = Some(LeakStart {
                    tick: since,
                    rss_kb: p.rss_kb,
                    reparented_from: p.reparented_from,
                    escaped: p.escaped,
                    under,
                });
            }
        }
    }
    let last_tick = rec.ticks.last().map_or(0, |t| t.tick);
    let leaked = order
        .iter()
        .filter_map(|id| {
            let life = &lives[id];
            let start = life.leak.as_ref()?;
            Some(Leaked {
                pid: id.pid,
                start: id.start,
                name: life.name.clone(),
                cmd: life.cmd.clone(),
                reparented_from: start.reparented_from,
                escaped: start.escaped,
                under: start.under,
                tick: start.tick,
                rss_kb_then: start.rss_kb,
                rss_kb_last: life.last_rss,
                last_seen_tick: life.last_tick,
                alive_at_end: life.last_tick == last_tick && life.last_state != 'Z',
            })
        })
        .collect();
    let mut growers: Vec<Grower> = order
        .iter()
        .map(|id| {
            let life = &lives[id];
            Grower {
                pid: id.pid,
                start: id.start,
                name: life.name.clone(),
                rss_kb_first: life.first_rss,
                rss_kb_peak: life.peak_rss,
                growth_kb: life.peak_rss - life.first_rss,
            }
        })
        .filter(|g| g.growth_kb > 0)
        .collect();
    growers.sort_by(|a, b| b.growth_kb.cmp(&a.growth_kb).then(a.pid.cmp(&b.pid)));
    growers.truncate(GROWERS);
    Summary {
        root_pid: rec.header.root_pid,
        root_cmd: rec.header.root_cmd.clone(),
        root_exited_tick,
        ticks: rec.ticks.len(),
        first_tick: rec.ticks.first().map_or(0, |t| t.tick),
        last_tick,
        span_ms: match (rec.ticks.first(), rec.ticks.last()) {
            (Some(a), Some(b)) => b.elapsed_ms - a.elapsed_ms,
            _ => 0,
        },
        distinct_processes: lives.len(),
        peak_total_rss_kb: peak,
        peak_tick,
        peak_leaked_rss_kb: peak_leaked,
        peak_leaked_tick,
        leaked,
        growers,
        alerts,
        truncated: rec.truncated.is_some(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::sample_data;

    #[test]
    fn figures_of_the_sample_recording() {
        let s = summarize(&sample_data::recording());
        assert_eq!(s.ticks, 3);
        assert_eq!(s.distinct_processes, 6);
        assert_eq!(s.root_exited_tick, Some(2));
        assert_eq!(s.peak_tick, 1);
        assert_eq!(s.span_ms, 2001);
        let leaked: Vec<(u32, Option<u32>, bool)> = s
            .leaked
            .iter()
            .map(|l| (l.pid, l.reparented_from, l.alive_at_end))
            .collect();
        assert_eq!(
            leaked,
            [
                (214862, Some(213019), true),
                (214863, Some(213019), true),
                (214864, None, true),
                (214865, None, false),
                (215000, None, true),
            ]
        );
        assert!(s.leaked.iter().all(|l| l.tick == 2));
    }
}
