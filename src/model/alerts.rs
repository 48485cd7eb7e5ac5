//! Leaks that are not reparented: a parent piling up children, a process holding
//! memory while doing nothing, and an RSS low-water mark that keeps rising. Pure logic
//! over the ticks the tracker produces.

use std::collections::VecDeque;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::Tick;
use crate::sample::{IdMap, IdSet, Identity};
use crate::text::human_kb;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// A parent whose number of children keeps rising while the older ones stay.
    Accumulating,
    /// No CPU used for a long time while holding real memory.
    Idle,
    /// The RSS low-water mark rises window after window instead of returning.
    RssRatchet,
}

impl AlertKind {
    pub const ALL: [AlertKind; 3] = [
        AlertKind::Accumulating,
        AlertKind::Idle,
        AlertKind::RssRatchet,
    ];

    pub fn name(self) -> &'static str {
        match self {
            AlertKind::Accumulating => "accumulating",
            AlertKind::Idle => "idle",
            AlertKind::RssRatchet => "rss_ratchet",
        }
    }

    pub fn from_name(s: &str) -> Option<AlertKind> {
        Self::ALL.into_iter().find(|k| k.name() == s)
    }
}

impl fmt::Display for AlertKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One alert standing at one tick.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Alert {
    pub kind: AlertKind,
    pub pid: u32,
    pub start: u64,
    /// The tick at which the condition first held (it has held ever since).
    pub since_tick: u32,
    /// One line with the numbers behind it.
    pub reason: String,
}

/// Thresholds; the defaults are the documented ones.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertConfig {
    pub accumulate_window: usize,
    pub accumulate_min: usize,
    pub idle_after_ms: u64,
    pub idle_min_rss_kb: u64,
    pub ratchet_windows: usize,
    pub ratchet_window_ticks: usize,
    pub ratchet_min_growth_pct: f64,
}

impl Default for AlertConfig {
    fn default() -> Self {
        AlertConfig {
            accumulate_window: 30,
            accumulate_min: 5,
            idle_after_ms: 60_000,
            idle_min_rss_kb: 100 * 1024,
            ratchet_windows: 5,
            ratchet_window_ticks: 10,
            ratchet_min_growth_pct: 5.0,
        }
    }
}

/// What is remembered of each process between ticks.
#[derive(Default)]
struct Track {
    /// Ticks it has been seen at.
    seen: usize,
    /// Its children at each of the last `accumulate_window` ticks.
    children: VecDeque<Vec<Identity>>,
    /// CPU time last seen, and the wall time it last changed.
    cpu_ms: u64,
    cpu_changed_ms: u64,
    /// RSS at each of the last `ratchet_windows * ratchet_window_ticks` ticks.
    rss: VecDeque<u64>,
}

#[derive(Default)]
pub struct AlertDetector {
    config: AlertConfig,
    tracks: IdMap<Identity, Track>,
    since: IdMap<(AlertKind, Identity), u32>,
}

impl AlertDetector {
    pub fn new(config: AlertConfig) -> Self {
        AlertDetector {
            config,
            tracks: IdMap::default(),
            since: IdMap::default(),
        }
    }

    /// The alerts standing at `tick`, in a stable order.
    pub fn observe(&mut self, tick: &Tick) -> Vec<Alert> {
        let c = &self.config;
        let id = super::ProcRow::id;
        // Defunct rows (zombies) have exited: no alert of these counts them.
        let living: Vec<&super::ProcRow> =
            tick.processes.iter().filter(|p| p.state != 'Z').collect();
        let by_pid: IdMap<u32, Identity> = living.iter().map(|p| (p.pid, id(p))).collect();
        let mut kids: IdMap<Identity, Vec<Identity>> = IdMap::default();
        for p in living.iter().copied() {
            if let Some(parent) = by_pid.get(&p.ppid) {
                kids.entry(*parent).or_default().push(id(p));
            }
        }
        let alive: IdSet<Identity> = living.iter().map(|p| id(p)).collect();
        self.tracks.retain(|k, _| alive.contains(k));

        let mut found: Vec<(AlertKind, Identity, String)> = Vec::new();
        for p in living.iter().copied() {
            let me = id(p);
            let fresh = !self.tracks.contains_key(&me);
            let t = self.tracks.entry(me).or_default();
            t.seen += 1;
            if fresh || p.cpu_ms != t.cpu_ms {
                t.cpu_ms = p.cpu_ms;
                t.cpu_changed_ms = tick.time_ms;
            }
            let mut children = kids.remove(&me).unwrap_or_default();
            children.sort();
            push_capped(&mut t.children, children, c.accumulate_window);
            // A process's first window is its start-up (read mid-exec, its RSS can be
            // 0): ratchets are counted from the end of it.
            if p.state != 'Z' && t.seen > c.ratchet_window_ticks {
                push_capped(
                    &mut t.rss,
                    p.rss_kb,
                    c.ratchet_windows * c.ratchet_window_ticks,
                );
            }
            if let Some(why) = accumulating(&t.children, c) {
                found.push((AlertKind::Accumulating, me, why));
            }
            let idle_ms = tick.time_ms.saturating_sub(t.cpu_changed_ms);
            if p.state != 'Z'
                && !fresh
                && idle_ms >= c.idle_after_ms
                && p.rss_kb >= c.idle_min_rss_kb
            {
                found.push((
                    AlertKind::Idle,
                    me,
                    format!(
                        "no CPU used for {}s while holding {}",
                        idle_ms / 1000,
                        human_kb(p.rss_kb)
                    ),
                ));
            }
            if let Some(why) = ratchet(&t.rss, c) {
                found.push((AlertKind::RssRatchet, me, why));
            }
        }
        let standing: IdSet<(AlertKind, Identity)> =
            found.iter().map(|(k, id, _)| (*k, *id)).collect();
        self.since.retain(|key, _| standing.contains(key));
        let mut alerts: Vec<Alert> = found
            .into_iter()
            .map(|(kind, id, reason)| Alert {
                kind,
                pid: id.pid,
                start: id.start,
                since_tick: *self.since.entry((kind, id)).or_insert(tick.tick),
                reason,
            })
            .collect();
        alerts.sort_by_key(|a| (a.kind, a.pid, a.start));
        alerts
    }
}

fn push_capped<T>(q: &mut VecDeque<T>, value: T, cap: usize) {
    q.push_back(value);
    while q.len() > cap.max(1) {
        q.pop_front();
    }
}

/// Parts a window of [`accumulating`] is cut into: a pool starting its workers
/// raises the count at one or two part boundaries, a leak at every one.
pub const ACCUMULATE_PARTS: usize = 5;

/// Over a full window cut into five parts: the children that stay through a whole
/// part grow in number part after part, by at least `accumulate_min` in all, and
/// most of those of the first part are still there. Children that come and go (a
/// build's jobs, a pool recycling its workers) never stay through a part; a pool that
/// starts its workers, even in batches, rises at one or two parts only; whatever runs
/// alongside a leak does not hide it.
fn accumulating(window: &VecDeque<Vec<Identity>>, c: &AlertConfig) -> Option<String> {
    let len = window.len();
    // The last part's stayers are among the children now: fewer children than the
    // minimum cannot hold a rise by it (most processes have none at all).
    if len < c.accumulate_window.max(ACCUMULATE_PARTS) || window[len - 1].len() < c.accumulate_min {
        return None;
    }
    // A process cannot leave and come back as itself: a child present at both ends of
    // a part was there all through it.
    let stayed: [usize; ACCUMULATE_PARTS] = std::array::from_fn(|k| {
        let from = k * len / ACCUMULATE_PARTS;
        let to = (k + 1) * len / ACCUMULATE_PARTS - 1;
        common(&window[from], &window[to])
    });
    let rising = stayed.windows(2).all(|w| w[1] > w[0]);
    let (first, last) = (stayed[0], stayed[ACCUMULATE_PARTS - 1]);
    // Of the first part's stayers, those still there at the end stayed throughout.
    let kept = common(&window[0], &window[len - 1]) * 2 >= first;
    (rising && kept && last >= first + c.accumulate_min).then(|| {
        format!(
            "children that stay rose from {first} to {last} over {len} ticks ({} children now)",
            window[len - 1].len()
        )
    })
}

/// How many of two sorted lists' elements they share.
fn common(a: &[Identity], b: &[Identity]) -> usize {
    let (mut i, mut j, mut n) = (0, 0, 0);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                n += 1;
                i += 1;
                j += 1;
            }
        }
    }
    n
}

/// With `ratchet_windows` full windows: each window's minimum RSS is above the one
/// before, and the last is more than `ratchet_min_growth_pct` above the first.
fn ratchet(rss: &VecDeque<u64>, c: &AlertConfig) -> Option<String> {
    let size = c.ratchet_window_ticks.max(1);
    if c.ratchet_windows < 2 || rss.len() < c.ratchet_windows * size {
        return None;
    }
    let mins: Vec<u64> = rss
        .iter()
        .copied()
        .collect::<Vec<_>>()
        .chunks(size)
        .map(|w| w.iter().copied().min().unwrap_or(0))
        .collect();
    let rising = mins.windows(2).all(|w| w[1] > w[0]);
    let (first, last) = (mins[0], mins[mins.len() - 1]);
    let growth = (last as f64 - first as f64) * 100.0 / (first.max(1) as f64);
    (rising && growth > c.ratchet_min_growth_pct).then(|| {
        format!(
            "RSS low-water mark rose in each of {} windows of {} ticks: {} to {} (+{growth:.0}%)",
            mins.len(),
            size,
            human_kb(first),
            human_kb(last)
        )
    })
}

#[cfg(test)]
mod tests;
