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
use crate::human::{human_kb, plural};
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
    /// `/proc/PID/stat`): at least `zombies_min` of them, one for `zombie_after_ms`,
    /// or more and more.
    Zombies,
    /// A process stopped by a signal (state `T` in `/proc/PID/stat`) for
    /// `stopped_after_ms`: a profiler that detached with a SIGSTOP pending, a job
    /// stopped and forgotten. (A debugger's tracing stop, `t`, is not counted.)
    Stopped,
}

impl AlertKind {
    pub const ALL: [AlertKind; 5] = [
        AlertKind::Accumulating,
        AlertKind::Idle,
        AlertKind::RssRatchet,
        AlertKind::Zombies,
        AlertKind::Stopped,
    ];

    pub fn name(self) -> &'static str {
        match self {
            AlertKind::Accumulating => "accumulating",
            AlertKind::Idle => "idle",
            AlertKind::RssRatchet => "rss_ratchet",
            AlertKind::Zombies => "zombies",
            AlertKind::Stopped => "stopped",
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
    /// How long (ms) one zombie may stay unreaped under a live parent before it
    /// raises `zombies` by itself (a parent that reaps does so within milliseconds).
    pub zombie_after_ms: u64,
    /// How long (ms) a process may stay stopped (state `T`) before it is `stopped`.
    pub stopped_after_ms: u64,
}

impl Default for AlertConfig {
    fn default() -> Self {
        AlertConfig::DEFAULT
    }
}

impl AlertConfig {
    /// The thresholds `--help` states as the defaults (see the README's table).
    pub const DEFAULT: AlertConfig = AlertConfig {
        accumulate_span_ms: 120_000,
        accumulate_min: 5,
        idle_after_ms: 60_000,
        idle_min_rss_kb: 100 * 1024,
        ratchet_windows: 5,
        ratchet_span_ms: 120_000,
        ratchet_min_growth_pct: 5.0,
        ratchet_min_rise_kb: 8 * 1024,
        zombies_min: 5,
        zombie_after_ms: DEFAULT_LONG_MS,
        stopped_after_ms: DEFAULT_LONG_MS,
    };
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

/// The default of `zombie_after_ms` and `stopped_after_ms`: one minute. A healthy
/// machine shows neither for so long (measured: see `--zombie-after` in `--help`).
pub const DEFAULT_LONG_MS: u64 = 60_000;

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
    /// Of those, how many were there at the tick before too, and how many in all.
    stay: u64,
    count: usize,
    /// First seen at this tick: no history to judge yet.
    fresh: bool,
    /// Since when (elapsed ms) it has been stopped (state `T`).
    stopped_since_ms: Option<u64>,
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
    /// When (elapsed ms) each zombie now seen was first seen defunct.
    zombie_seen: IdMap<Identity, u64>,
}

impl AlertDetector {
    pub fn new(config: AlertConfig) -> Self {
        AlertDetector {
            rules: Some(config.rules()),
            config,
            tracks: IdMap::default(),
            since: IdMap::default(),
            zombie_seen: IdMap::default(),
        }
    }

    /// The alerts standing at `tick`, in a stable order. Trends are timed by
    /// `tick.elapsed_ms`, idleness by `tick.time_ms`.
    pub fn observe(&mut self, tick: &Tick) -> Vec<Alert> {
        let rules = *self.rules.get_or_insert_with(|| self.config.rules());
        let mut kin = Kin::of(tick);
        self.tracks.retain(|k, _| kin.alive.contains(k));
        self.note_zombies(tick);
        let mut found: Vec<(AlertKind, Identity, String)> = Vec::new();
        for p in kin.living.iter().copied() {
            let me = p.id();
            let (mut children, zombies) = kin.kids.remove(&me).unwrap_or_default();
            children.sort_unstable();
            let oldest_zombie = self.oldest_zombie(&zombies, tick.elapsed_ms);
            let t = self.tracks.entry(me).or_insert_with(|| Track::new(p, tick));
            let fresh = t.fresh;
            let seen = Seen {
                p,
                tick,
                zombies: zombies.len() as u64,
                oldest_zombie,
            };
            let mut raise = |kind, reason| found.push((kind, me, reason));
            t.observe(&seen, children, &rules);
            t.accumulating(&self.config, &mut raise);
            t.idle(&seen, &self.config, &mut raise);
            t.ratchet(&seen, &mut raise);
            t.zombies(&seen, &self.config, &mut raise);
            t.stopped(&seen, &self.config, &mut raise);
            if fresh {
                t.fresh = false;
            }
        }
        self.stamp(found, tick.tick)
    }

    /// Remembers when each zombie was first seen defunct; forgets the reaped.
    fn note_zombies(&mut self, tick: &Tick) {
        let defunct: IdSet<Identity> = tick
            .processes
            .iter()
            .filter(|p| p.state == 'Z')
            .map(super::ProcRow::id)
            .collect();
        self.zombie_seen.retain(|k, _| defunct.contains(k));
        for z in defunct {
            self.zombie_seen.entry(z).or_insert(tick.elapsed_ms);
        }
    }

    /// How long (ms) the oldest of `zombies` has been seen defunct, and its pid.
    fn oldest_zombie(&self, zombies: &[Identity], now_ms: u64) -> Option<(u64, u32)> {
        zombies
            .iter()
            .filter_map(|z| Some((now_ms.saturating_sub(*self.zombie_seen.get(z)?), z.pid)))
            .max()
    }

    /// The alerts found, each stamped with the tick it has stood since.
    fn stamp(&mut self, found: Vec<(AlertKind, Identity, String)>, tick: u32) -> Vec<Alert> {
        let standing: IdSet<(AlertKind, Identity)> =
            found.iter().map(|(k, id, _)| (*k, *id)).collect();
        self.since.retain(|key, _| standing.contains(key));
        let mut alerts: Vec<Alert> = found
            .into_iter()
            .map(|(kind, id, reason)| Alert {
                kind,
                pid: id.pid,
                start: id.start,
                since_tick: *self.since.entry((kind, id)).or_insert(tick),
                reason,
            })
            .collect();
        alerts.sort_by_key(|a| (a.kind, a.pid, a.start));
        alerts
    }
}

/// One tick's processes as the detector reads them. Defunct rows (zombies) have
/// exited: they are nobody's live children, never idle or ratcheting; they count only
/// as their parent's zombies.
struct Kin<'t> {
    living: Vec<&'t super::ProcRow>,
    alive: IdSet<Identity>,
    /// Each living parent's live children, and its zombies.
    kids: IdMap<Identity, (Vec<Identity>, Vec<Identity>)>,
}

impl<'t> Kin<'t> {
    fn of(tick: &'t Tick) -> Self {
        let living: Vec<&super::ProcRow> =
            tick.processes.iter().filter(|p| p.state != 'Z').collect();
        let by_pid: IdMap<u32, Identity> = living.iter().map(|p| (p.pid, p.id())).collect();
        let mut kids: IdMap<Identity, (Vec<Identity>, Vec<Identity>)> = IdMap::default();
        for p in &tick.processes {
            if let Some(parent) = by_pid.get(&p.ppid) {
                let (children, zombies) = kids.entry(*parent).or_default();
                if p.state == 'Z' {
                    zombies.push(p.id());
                } else {
                    children.push(p.id());
                }
            }
        }
        let alive = living.iter().map(|p| p.id()).collect();
        Kin {
            living,
            alive,
            kids,
        }
    }
}

/// One living process at one tick, as its track's checks read it.
struct Seen<'a> {
    p: &'a super::ProcRow,
    tick: &'a Tick,
    /// Its zombie children.
    zombies: u64,
    /// How long (ms) its oldest zombie child has been defunct, and that child's pid.
    oldest_zombie: Option<(u64, u32)>,
}

impl Seen<'_> {
    fn rss(&self) -> u64 {
        if self.p.rss_kb == 0 {
            NONE
        } else {
            self.p.rss_kb
        }
    }
}

impl Track {
    fn new(p: &super::ProcRow, tick: &Tick) -> Track {
        let rss = if p.rss_kb == 0 { NONE } else { p.rss_kb };
        Track {
            summary: Summary::new(tick.elapsed_ms, [NONE, rss, 0]),
            children: Vec::new(),
            stay: 0,
            count: 0,
            cpu_ms: p.cpu_ms,
            cpu_changed_ms: tick.time_ms,
            zombies_since_ms: None,
            stopped_since_ms: None,
            accumulated: None,
            fresh: true,
        }
    }

    /// Adds this tick to the history: children that stay (there at the last tick and
    /// at this one: a pool that recycles its workers, or a build's short jobs, keep
    /// few of them), RSS, zombies; and when CPU time last moved.
    fn observe(&mut self, s: &Seen<'_>, children: Vec<Identity>, rules: &[Rule; SERIES]) {
        self.stay = common(&self.children, &children) as u64;
        self.count = children.len();
        self.children = children;
        if self.fresh {
            self.summary = Summary::new(s.tick.elapsed_ms, [NONE, s.rss(), s.zombies]);
        } else {
            let values = [self.stay, s.rss(), s.zombies];
            self.summary.add(s.tick.elapsed_ms, values, rules);
        }
        if s.p.cpu_ms != self.cpu_ms {
            self.cpu_ms = s.p.cpu_ms;
            self.cpu_changed_ms = s.tick.time_ms;
        }
    }

    /// A trend that stands while what rose is still held: a parent that ends its
    /// children, or memory given back, clears it at once.
    fn holding(&self, series: usize, value: u64) -> Option<Trend> {
        self.summary.trend(series).filter(|tr| value >= tr.last)
    }

    /// `accumulating`: children that stay rose; it stands while the parent still
    /// holds what it accumulated.
    fn accumulating(&mut self, c: &AlertConfig, raise: &mut Raise<'_>) {
        let (stay, count) = (self.stay, self.count);
        if let Some(tr) = self.holding(CHILDREN, stay) {
            let (from, most) = self.accumulated.get_or_insert((tr.first, tr.last));
            *from = (*from).min(tr.first);
            *most = (*most).max(tr.last);
            raise(
                AlertKind::Accumulating,
                format!(
                    "children that stay rose in each of {} parts of the last {}: from {} to {} ({} now)",
                    tr.segments,
                    span(tr.span_ms),
                    tr.first,
                    tr.last,
                    plural(count, "child", "children")
                ),
            );
        } else if let Some((from, most)) = self.accumulated {
            if stay >= from.saturating_add(c.accumulate_min.max(1) as u64) {
                raise(
                    AlertKind::Accumulating,
                    format!(
                        "still holds {} that stay, accumulated from {from} (at most {most}); the count stopped rising ({} now)",
                        plural(stay as usize, "child", "children"),
                        plural(count, "child", "children")
                    ),
                );
            } else {
                self.accumulated = None;
            }
        }
    }

    /// `idle`: no CPU used for long while holding real memory.
    fn idle(&self, s: &Seen<'_>, c: &AlertConfig, raise: &mut Raise<'_>) {
        let idle_ms = s.tick.time_ms.saturating_sub(self.cpu_changed_ms);
        if !self.fresh && idle_ms >= c.idle_after_ms && s.p.rss_kb >= c.idle_min_rss_kb {
            raise(
                AlertKind::Idle,
                format!(
                    "no CPU used for {}s while holding {}",
                    idle_ms / 1000,
                    human_kb(s.p.rss_kb)
                ),
            );
        }
    }

    /// `rss_ratchet`: the RSS low-water mark rises and is still held.
    fn ratchet(&self, s: &Seen<'_>, raise: &mut Raise<'_>) {
        if let Some(tr) = self.holding(RSS, s.rss()) {
            raise(AlertKind::RssRatchet, ratchet_reason(&tr));
        }
    }

    /// `zombies`: many held for [`ZOMBIES_HOLD_MS`], one held for `zombie_after_ms`,
    /// or a count that keeps rising.
    fn zombies(&mut self, s: &Seen<'_>, c: &AlertConfig, raise: &mut Raise<'_>) {
        let (now, zombies) = (s.tick.elapsed_ms, s.zombies);
        let many = zombies >= c.zombies_min.max(1) as u64;
        let since = if many {
            *self.zombies_since_ms.get_or_insert(now)
        } else {
            self.zombies_since_ms = None;
            now
        };
        if many && now - since >= ZOMBIES_HOLD_MS {
            raise(
                AlertKind::Zombies,
                format!(
                    "{} for {}",
                    plural(
                        zombies as usize,
                        "unreaped child (zombie)",
                        "unreaped children (zombies)"
                    ),
                    span(now - since)
                ),
            );
        } else if let Some((age, pid)) =
            s.oldest_zombie.filter(|(age, _)| *age >= c.zombie_after_ms)
        {
            raise(
                AlertKind::Zombies,
                format!(
                    "child {pid} exited {} ago and is still unreaped ({} now): nothing waits for it",
                    span(age),
                    plural(zombies as usize, "zombie", "zombies")
                ),
            );
        } else if let Some(tr) = self.holding(ZOMBIES, zombies) {
            raise(
                AlertKind::Zombies,
                format!(
                    "unreaped children (zombies) rose in each of {} parts of the last {}: from {} to {} ({zombies} now)",
                    tr.segments,
                    span(tr.span_ms),
                    tr.first,
                    tr.last
                ),
            );
        }
    }

    /// `stopped`: stopped by a signal (state `T`; not a debugger's `t`) for at least
    /// `stopped_after_ms`.
    fn stopped(&mut self, s: &Seen<'_>, c: &AlertConfig, raise: &mut Raise<'_>) {
        let now = s.tick.elapsed_ms;
        if s.p.state != 'T' {
            self.stopped_since_ms = None;
            return;
        }
        let since = *self.stopped_since_ms.get_or_insert(now);
        if now - since >= c.stopped_after_ms {
            raise(
                AlertKind::Stopped,
                format!(
                    "stopped (state T, by a signal) for {}: it does no work until it is sent SIGCONT",
                    span(now - since)
                ),
            );
        }
    }
}

/// Where a check puts what it raises: the kind and its reason.
type Raise<'r> = dyn FnMut(AlertKind, String) + 'r;

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
