//! Leaks that are not reparented: a parent piling up children or zombies, a process
//! holding memory while doing nothing, and an RSS low-water mark that keeps rising.
//! Pure logic over the ticks the tracker produces.
//!
//! Trends are judged in time, not ticks, over each process's whole history at several
//! timescales at once ([`trend`]): a child every 2 s and one every 2 minutes are both
//! caught once the evidence is clear, and the verdict does not depend on the interval.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::Tick;
use crate::human::human_kb;
use crate::sample::{IdMap, IdSet, Identity};

pub mod trend;

use trend::{NONE, Rule, SERIES, Summary, Trend};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// A parent whose number of children keeps rising while the older ones stay.
    Accumulating,
    /// No CPU used for a long time while holding real memory.
    Idle,
    /// The RSS low-water mark rises window after window instead of returning.
    RssRatchet,
    /// A live parent holding unreaped children (zombies, state `Z` in
    /// `/proc/PID/stat`): at least `zombies_min` of them, or more and more.
    Zombies,
}

impl AlertKind {
    pub const ALL: [AlertKind; 4] = [
        AlertKind::Accumulating,
        AlertKind::Idle,
        AlertKind::RssRatchet,
        AlertKind::Zombies,
    ];

    pub fn name(self) -> &'static str {
        match self {
            AlertKind::Accumulating => "accumulating",
            AlertKind::Idle => "idle",
            AlertKind::RssRatchet => "rss_ratchet",
            AlertKind::Zombies => "zombies",
        }
    }

    pub fn from_name(s: &str) -> Option<AlertKind> {
        Self::ALL.into_iter().find(|k| k.name() == s)
    }

    /// Every kind's name, comma-separated, for messages.
    pub fn names() -> String {
        Self::ALL.map(AlertKind::name).join(", ")
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

/// Thresholds; the defaults are the documented ones. Every window is a duration, so a
/// verdict does not depend on the interval.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertConfig {
    /// The shortest span (ms) over which the children a parent keeps must rise, in
    /// each of five parts, to be `accumulating` (also the shortest for a rising count
    /// of zombies).
    pub accumulate_span_ms: u64,
    /// How many more children the last part holds than the first, at least.
    pub accumulate_min: usize,
    /// How long (ms) a process must use no CPU to be `idle`...
    pub idle_after_ms: u64,
    /// ...while holding at least this RSS (KiB).
    pub idle_min_rss_kb: u64,
    /// Parts (2 to 16) the span of an `rss_ratchet` is cut into; the RSS minimum must
    /// rise from each to the next.
    pub ratchet_windows: usize,
    /// The shortest span (ms) over which the RSS low-water mark must rise.
    pub ratchet_span_ms: u64,
    /// How much the last part's minimum must exceed the first's, in percent...
    pub ratchet_min_growth_pct: f64,
    /// ...and in KiB: a small process whose RSS creeps up by a few pages as it works (make
    /// keeping a record of every target built) is no leak worth a word, and a real one
    /// passes this once the history is long enough.
    pub ratchet_min_rise_kb: u64,
    /// Unreaped children a live parent must hold (for [`ZOMBIES_HOLD_MS`]) to raise
    /// `zombies`.
    pub zombies_min: usize,
}

impl Default for AlertConfig {
    fn default() -> Self {
        AlertConfig {
            accumulate_span_ms: 120_000,
            accumulate_min: 5,
            idle_after_ms: 60_000,
            idle_min_rss_kb: 100 * 1024,
            ratchet_windows: 5,
            ratchet_span_ms: 120_000,
            ratchet_min_growth_pct: 5.0,
            ratchet_min_rise_kb: 8 * 1024,
            zombies_min: 5,
        }
    }
}

impl AlertConfig {
    /// The trend rules of the series a [`Summary`] keeps, in [`CHILDREN`], [`RSS`],
    /// [`ZOMBIES`] order.
    fn rules(&self) -> [Rule; SERIES] {
        [
            Rule {
                min_span_ms: self.accumulate_span_ms,
                segments: ACCUMULATE_PARTS,
                min_rise: self.accumulate_min as u64,
                min_growth_pct: 0.0,
            },
            Rule {
                min_span_ms: self.ratchet_span_ms,
                segments: self.ratchet_windows.clamp(2, trend::LEVEL_BUCKETS),
                min_rise: self.ratchet_min_rise_kb.max(1),
                min_growth_pct: self.ratchet_min_growth_pct,
            },
            Rule {
                min_span_ms: self.accumulate_span_ms,
                segments: ACCUMULATE_PARTS,
                min_rise: 1,
                min_growth_pct: 0.0,
            },
        ]
    }
}

/// Parts a span of [`AlertKind::Accumulating`] is cut into: a pool starting its
/// workers raises the count in one or two of them, a leak in every one.
pub const ACCUMULATE_PARTS: usize = 5;

/// How long (ms) a parent must hold `zombies_min` zombies without a break: a parent
/// that reaps finds its children's exits within milliseconds, so a moment with several
/// is chance, and three seconds of them is not.
pub const ZOMBIES_HOLD_MS: u64 = 3000;

/// The series each process's [`Summary`] keeps: its children that stay (live at this
/// tick and the one before), its RSS (KiB), its zombie children.
const CHILDREN: usize = 0;
const RSS: usize = 1;
const ZOMBIES: usize = 2;

/// What is remembered of each process between ticks: fixed in size but for the
/// summary's one level per doubling of the process's age.
struct Track {
    summary: Summary,
    /// Its live children at the last tick, sorted.
    children: Vec<Identity>,
    /// CPU time last seen, and the wall time it last changed.
    cpu_ms: u64,
    cpu_changed_ms: u64,
    /// Since when (elapsed ms) it has held at least `zombies_min` zombies.
    zombies_since_ms: Option<u64>,
    /// Once `accumulating` was raised: the count of children that stay it rose from,
    /// and the most it reached. The alert stands while the parent still holds what
    /// it accumulated (at least `accumulate_min` above where it rose from), risen or
    /// not: the children are still held.
    accumulated: Option<(u64, u64)>,
}

/// Judges each tick's processes against their history: one track per living
/// process (fixed size, but for one summary level per doubling of its age), dropped
/// when it ends.
#[derive(Default)]
pub struct AlertDetector {
    config: AlertConfig,
    rules: Option<[Rule; SERIES]>,
    tracks: IdMap<Identity, Track>,
    since: IdMap<(AlertKind, Identity), u32>,
}

impl AlertDetector {
    pub fn new(config: AlertConfig) -> Self {
        AlertDetector {
            rules: Some(config.rules()),
            config,
            tracks: IdMap::default(),
            since: IdMap::default(),
        }
    }

    /// The alerts standing at `tick`, in a stable order. Trends are timed by
    /// `tick.elapsed_ms`, idleness by `tick.time_ms`.
    pub fn observe(&mut self, tick: &Tick) -> Vec<Alert> {
        let c = &self.config;
        let rules = *self.rules.get_or_insert_with(|| c.rules());
        let id = super::ProcRow::id;
        // Defunct rows (zombies) have exited: they are nobody's live children, never
        // idle or ratcheting; they count only as their parent's zombies.
        let living: Vec<&super::ProcRow> =
            tick.processes.iter().filter(|p| p.state != 'Z').collect();
        let by_pid: IdMap<u32, Identity> = living.iter().map(|p| (p.pid, id(p))).collect();
        // Each living parent's live children, and its count of zombies.
        let mut kids: IdMap<Identity, (Vec<Identity>, u64)> = IdMap::default();
        for p in &tick.processes {
            if let Some(parent) = by_pid.get(&p.ppid) {
                let (children, zombies) = kids.entry(*parent).or_default();
                if p.state == 'Z' {
                    *zombies += 1;
                } else {
                    children.push(id(p));
                }
            }
        }
        let alive: IdSet<Identity> = living.iter().map(|p| id(p)).collect();
        self.tracks.retain(|k, _| alive.contains(k));

        let now = tick.elapsed_ms;
        let mut found: Vec<(AlertKind, Identity, String)> = Vec::new();
        for p in living.iter().copied() {
            let me = id(p);
            let (mut children, zombies) = kids.remove(&me).unwrap_or_default();
            children.sort_unstable();
            let rss = if p.rss_kb == 0 { NONE } else { p.rss_kb };
            let mut fresh = false;
            let t = self.tracks.entry(me).or_insert_with(|| {
                fresh = true;
                Track {
                    summary: Summary::new(now, [NONE, rss, zombies]),
                    children: Vec::new(),
                    cpu_ms: p.cpu_ms,
                    cpu_changed_ms: tick.time_ms,
                    zombies_since_ms: None,
                    accumulated: None,
                }
            });
            // Children that stay: there at the last tick and at this one. A pool that
            // recycles its workers, or a build's short jobs, keep few of them.
            let stay = common(&t.children, &children) as u64;
            let count = children.len();
            t.children = children;
            let values = [stay, rss, zombies];
            if !fresh {
                t.summary.add(now, values, &rules);
            }
            if p.cpu_ms != t.cpu_ms {
                t.cpu_ms = p.cpu_ms;
                t.cpu_changed_ms = tick.time_ms;
            }
            // A trend stands while what rose is still held: a parent that ends its
            // children, or memory given back, clears it at once.
            let holding = |s: usize| t.summary.trend(s).filter(|tr| values[s] >= tr.last);
            if let Some(tr) = holding(CHILDREN) {
                let (from, most) = t.accumulated.get_or_insert((tr.first, tr.last));
                *from = (*from).min(tr.first);
                *most = (*most).max(tr.last);
                found.push((
                    AlertKind::Accumulating,
                    me,
                    format!(
                        "children that stay rose in each of {} parts of the last {}: from {} to {} ({count} children now)",
                        tr.segments,
                        span(tr.span_ms),
                        tr.first,
                        tr.last
                    ),
                ));
            } else if let Some((from, most)) = t.accumulated {
                if stay >= from.saturating_add(c.accumulate_min.max(1) as u64) {
                    found.push((
                        AlertKind::Accumulating,
                        me,
                        format!(
                            "still holds {stay} children that stay, accumulated from {from} (at most {most}); the count stopped rising ({count} children now)"
                        ),
                    ));
                } else {
                    t.accumulated = None;
                }
            }
            let idle_ms = tick.time_ms.saturating_sub(t.cpu_changed_ms);
            if !fresh && idle_ms >= c.idle_after_ms && p.rss_kb >= c.idle_min_rss_kb {
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
            if let Some(tr) = holding(RSS) {
                found.push((AlertKind::RssRatchet, me, ratchet_reason(&tr)));
            }
            let many = zombies >= c.zombies_min.max(1) as u64;
            let since = if many {
                *t.zombies_since_ms.get_or_insert(now)
            } else {
                t.zombies_since_ms = None;
                now
            };
            if many && now - since >= ZOMBIES_HOLD_MS {
                found.push((
                    AlertKind::Zombies,
                    me,
                    format!(
                        "{zombies} unreaped children (zombies) for {}",
                        span(now - since)
                    ),
                ));
            } else if let Some(tr) = holding(ZOMBIES) {
                found.push((
                    AlertKind::Zombies,
                    me,
                    format!(
                        "unreaped children (zombies) rose in each of {} parts of the last {}: from {} to {} ({zombies} now)",
                        tr.segments,
                        span(tr.span_ms),
                        tr.first,
                        tr.last
                    ),
                ));
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

fn ratchet_reason(tr: &Trend) -> String {
    let growth = (tr.last - tr.first) as f64 * 100.0 / (tr.first.max(1) as f64);
    format!(
        "RSS low-water mark rose in each of {} parts of the last {}: {} to {} (+{growth:.0}%)",
        tr.segments,
        span(tr.span_ms),
        human_kb(tr.first),
        human_kb(tr.last)
    )
}

/// A span in whole seconds, as `2m 8s`.
fn span(ms: u64) -> String {
    humantime::format_duration(std::time::Duration::from_secs(ms / 1000)).to_string()
}

#[cfg(test)]
mod tests;
