//! What a recording says, in figures: span, distinct processes, peaks, every leaked
//! process with when and from where, the largest growers, and the root's fate.

use std::collections::HashMap;

use serde::Serialize;

use crate::format::Recording;
use crate::model::{Alert, Header, MemSum, Tick};
use crate::sample::Identity;

/// Largest RSS growers listed.
const GROWERS: usize = 5;

/// One alert over the recording: as last raised (its reason the latest, with the
/// largest numbers), when it first rose and when it last cleared.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Raised {
    #[serde(flatten)]
    pub alert: Alert,
    /// The recording's elapsed time (ms) at the first tick it stood.
    pub rose_ms: u64,
    /// The tick and elapsed time (ms) at which it last cleared (the first tick it no
    /// longer stood); `None` while it stood at the last tick.
    pub cleared: Option<(u32, u64)>,
    /// How many times it rose (more than once where it cleared and rose again).
    pub times: u32,
}

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
    /// At the peak leaked tick: the leaked processes' last-known PSS summed (KiB), what
    /// killing them would have freed; `None` when none of them had a known PSS.
    pub peak_leaked_pss_kb: Option<u64>,
    /// At the peak leaked tick: how many leaked processes' PSS was unknown.
    pub peak_leaked_pss_unknown: usize,
    /// At the peak leaked tick: the leaked processes' last-known swap summed (KiB);
    /// `None` when none of them had a known swap (a recording from before PSS), not 0.
    pub peak_leaked_swap_kb: Option<u64>,
    /// At the peak leaked tick: the leaked processes' last-known GPU memory summed
    /// (KiB); `None` when none of them had a known figure (no GPU, or a recording from
    /// before GPU memory), not 0.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peak_leaked_gpu_kb: Option<u64>,
    /// Every process that leaked, by the tick it leaked at, then oldest first.
    pub leaked: Vec<Leaked>,
    /// Orphans that exited by themselves within the leak grace (not leaks).
    pub orphans_exited: u64,
    /// Ticks marked `events-lost` ([`crate::model::Event::EventsLost`]): windows where
    /// process events were dropped and `/proc` was read again. What was judged there
    /// rests on a partial account, and a fork escape in them may be missed.
    pub events_lost_ticks: usize,
    /// Events known lost over those ticks (sequence gaps: at least this many), and
    /// losses of unknown size (`ENOBUFS`).
    pub events_lost_counted: u64,
    pub events_lost_uncounted: u64,
    /// Processes forked from the family that exited between two ticks, told by
    /// process events (recordings made with the connector; 0 in others).
    pub short_lived: crate::model::ShortLives,
    pub growers: Vec<Grower>,
    /// Every alert raised, once per kind and process, with the tick it was first raised
    /// and when it cleared (listed by the tick first raised, then oldest process first).
    pub alerts: Vec<Raised>,
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
    /// Its last-known PSS, USS and swap in KiB (`smaps_rollup`), `None` if never
    /// measured, and the tick they were measured at.
    pub pss_kb_last: Option<u64>,
    pub uss_kb_last: Option<u64>,
    pub swap_kb_last: Option<u64>,
    pub mem_tick_last: Option<u32>,
    /// Its last-known GPU memory in KiB, `None` if never known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gpu_kb_last: Option<u64>,
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
#[derive(Clone)]
struct Life {
    name: String,
    cmd: String,
    first_rss: u64,
    peak_rss: u64,
    last_rss: u64,
    /// The figures of the last row that had any.
    last_mem: Option<LastMem>,
    /// The last known GPU memory (KiB).
    last_gpu: Option<u64>,
    last_tick: u32,
    last_state: char,
    leak: Option<LeakStart>,
}

/// A process's last-known PSS, USS and swap (KiB) and the tick they were measured at.
#[derive(Clone, Copy)]
struct LastMem {
    pss_kb: Option<u64>,
    uss_kb: Option<u64>,
    swap_kb: Option<u64>,
    at: Option<u32>,
}

/// A process at the tick it was first seen leaked.
#[derive(Clone, Copy)]
struct LeakStart {
    tick: u32,
    rss_kb: u64,
    reparented_from: Option<u32>,
    escaped: bool,
    under: Option<u32>,
}

/// A process among the largest by peak RSS, for the chart's stacked bands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Top {
    pub id: Identity,
    pub peak_rss_kb: u64,
    /// Name and command line as last seen.
    pub name: String,
    pub cmd: String,
}

/// How many of the largest processes by peak RSS are kept once they are gone: the
/// chart stacks that many ([`Summarizer::top_by_peak`] gives no more).
pub const PEAKS_KEPT: usize = super::svg::STACKED;

/// The order leaks are listed in, in every output: by the tick they leaked at, then
/// oldest first (start time, then pid). Defined here once.
fn leak_order(l: &Leaked) -> (u32, u64, u32) {
    (l.tick, l.start, l.pid)
}

/// The order alerts are listed in: by the tick first raised, then the process (start
/// time, pid), then the kind.
fn alert_order(r: &Raised) -> (u32, u64, u32, &'static str) {
    let a = &r.alert;
    (a.since_tick, a.start, a.pid, a.kind.name())
}

/// Growers, largest growth first, ties by identity.
fn grower_order(g: &Grower) -> (std::cmp::Reverse<u64>, u32, u64) {
    (std::cmp::Reverse(g.growth_kb), g.pid, g.start)
}

/// Largest peak first, ties by identity.
fn peak_order(t: &Top) -> (std::cmp::Reverse<u64>, Identity) {
    (std::cmp::Reverse(t.peak_rss_kb), t.id)
}

/// Keeps the `n` least of `list` by `key`, sorted.
fn keep_least<T, K: Ord>(list: &mut Vec<T>, n: usize, key: impl Fn(&T) -> K) {
    list.sort_by_key(|x| key(x));
    list.truncate(n);
}

/// A [`Summary`] built one tick at a time. Its state grows with what the summary
/// prints, never with the recording's length or its number of distinct processes:
/// per-process stories are kept for the processes of the latest tick, the leaked
/// ones (every one is listed), and the few largest growers and peaks among those
/// gone; every other process is only counted once it is gone. A day of ticks of the
/// same 150 processes costs what a minute does, and so do two million short-lived
/// workers of a pool.
#[derive(Default)]
pub struct Summarizer {
    /// The processes of the latest tick.
    live: HashMap<Identity, Life>,
    /// Leaked processes no longer seen.
    gone_leaked: HashMap<Identity, Life>,
    /// The largest growers among the other processes no longer seen (at most
    /// [`GROWERS`]), and the largest by peak RSS (at most [`PEAKS_KEPT`]).
    gone_growers: Vec<Grower>,
    gone_peaks: Vec<Top>,
    /// Processes seen, by identity. A process missing from a tick and seen again
    /// later (not something leaktop's recorder writes) counts again, unless it had
    /// leaked.
    distinct: usize,
    peak: (u64, u32),
    peak_leaked: (u64, u32),
    /// PSS, swap and GPU memory of the leaked processes at the peak leaked tick.
    peak_leaked_mem: (MemSum, Option<u64>, Option<u64>),
    root_exited_tick: Option<u32>,
    orphans_exited: u64,
    /// Ticks marked events-lost, and the losses they counted (known, unknown size).
    events_lost: (usize, u64, u64),
    short_lived: crate::model::ShortLives,
    alerts: Vec<Raised>,
    /// Where each alert is in `alerts`, by kind and process.
    alert_index: HashMap<(crate::model::AlertKind, u32, u64), usize>,
    /// The alerts standing at the last tick, by their place in `alerts`.
    standing: Vec<usize>,
    ticks: usize,
    /// First and last tick: (number, elapsed ms).
    first: Option<(u32, u64)>,
    last: Option<(u32, u64)>,
}

impl Summarizer {
    pub fn new() -> Summarizer {
        Summarizer::default()
    }

    /// Folds in the peaks of the next tick: of all RSS, and of the leaked processes'
    /// RSS (at a tick that had leaks, never a tick before them) with their PSS, swap
    /// and GPU memory there.
    fn fold_peaks(&mut self, tick: &Tick) {
        let total = tick.total_rss_kb();
        if total > self.peak.0 || self.peak.1 == 0 {
            self.peak = (total, tick.tick);
        }
        let leaked = tick.leaked_rss_kb();
        if tick.leaked_count() > 0 && (leaked > self.peak_leaked.0 || self.peak_leaked.1 == 0) {
            self.peak_leaked = (leaked, tick.tick);
            self.peak_leaked_mem = (
                tick.leaked_pss_kb(),
                tick.leaked_swap_kb().known(),
                tick.leaked_gpu_kb().known(),
            );
        }
    }

    /// Folds in the events of the next tick: orphans that exited by themselves,
    /// short-lived processes, events lost.
    fn fold_events(&mut self, tick: &Tick) {
        self.orphans_exited += tick
            .events
            .iter()
            .filter(|e| matches!(e, crate::model::Event::OrphanExited { .. }))
            .count() as u64;
        self.short_lived.add(tick);
        for e in &tick.events {
            if let crate::model::Event::EventsLost { counted, uncounted } = e {
                self.events_lost.0 += 1;
                self.events_lost.1 = self.events_lost.1.saturating_add(*counted);
                self.events_lost.2 = self.events_lost.2.saturating_add(u64::from(*uncounted));
            }
        }
    }

    /// Folds in the alerts of the next tick: each kept once, the latest reason (with
    /// the largest numbers) and the first tick it rose; one standing before and not now
    /// cleared at this tick.
    fn fold_alerts(&mut self, tick: &Tick) {
        let mut now = Vec::with_capacity(tick.alerts.len());
        for a in &tick.alerts {
            let at = match self.alert_index.entry((a.kind, a.pid, a.start)) {
                std::collections::hash_map::Entry::Occupied(at) => {
                    let r = &mut self.alerts[*at.get()];
                    r.alert.reason.clone_from(&a.reason);
                    if r.cleared.take().is_some() {
                        r.times += 1;
                    }
                    *at.get()
                }
                std::collections::hash_map::Entry::Vacant(slot) => {
                    slot.insert(self.alerts.len());
                    self.alerts.push(Raised {
                        alert: a.clone(),
                        rose_ms: tick.elapsed_ms,
                        cleared: None,
                        times: 1,
                    });
                    self.alerts.len() - 1
                }
            };
            now.push(at);
        }
        now.sort_unstable();
        for at in std::mem::take(&mut self.standing) {
            if now.binary_search(&at).is_err() {
                self.alerts[at].cleared = Some((tick.tick, tick.elapsed_ms));
            }
        }
        self.standing = now;
    }

    /// Folds in the next tick (ticks come in order; the order of its rows does not
    /// matter).
    pub fn add(&mut self, tick: &Tick) {
        self.ticks += 1;
        self.first.get_or_insert((tick.tick, tick.elapsed_ms));
        self.last = Some((tick.tick, tick.elapsed_ms));
        self.fold_alerts(tick);
        self.fold_peaks(tick);
        self.fold_events(tick);
        if !tick.root_alive && self.root_exited_tick.is_none() {
            self.root_exited_tick = Some(tick.tick);
        }
        let leaked_pids: std::collections::HashSet<u32> = tick
            .processes
            .iter()
            .filter(|p| p.leaked)
            .map(|p| p.pid)
            .collect();
        for p in &tick.processes {
            let id = p.id();
            if !self.live.contains_key(&id) {
                let life = self.revive(id).unwrap_or_else(|| {
                    self.distinct += 1;
                    Life {
                        name: p.name.clone(),
                        cmd: p.cmd.clone(),
                        first_rss: p.rss_kb,
                        peak_rss: 0,
                        last_rss: 0,
                        last_mem: None,
                        last_gpu: None,
                        last_tick: 0,
                        last_state: p.state,
                        leak: None,
                    }
                });
                self.live.insert(id, life);
            }
            let Some(life) = self.live.get_mut(&id) else {
                continue;
            };
            life.peak_rss = life.peak_rss.max(p.rss_kb);
            // RSS LAST is the last sample of the living process, whatever it was; a
            // zombie's 0 is no measure of it (its memory is gone with it), and its PSS
            // LAST is the one measured alive: the two figures are of the same moment.
            if p.state != 'Z' {
                life.last_rss = p.rss_kb;
            }
            if p.pss_kb.is_some() || p.uss_kb.is_some() || p.swap_kb.is_some() {
                life.last_mem = Some(LastMem {
                    pss_kb: p.pss_kb,
                    uss_kb: p.uss_kb,
                    swap_kb: p.swap_kb,
                    at: p.mem_tick,
                });
            }
            if p.gpu_kb.is_some() {
                life.last_gpu = p.gpu_kb;
            }
            // A process is named by what it runs last: a shim (pyenv's `bash .../pyenv-exec
            // python3`) that execs the interpreter is reported as the interpreter.
            if life.cmd != p.cmd {
                life.cmd.clone_from(&p.cmd);
                life.name.clone_from(&p.name);
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
        self.retire(tick.tick);
    }

    /// A process seen again after a tick without it: its story so far, if it was kept.
    /// A process not kept whole is counted again, and dropped from the gone growers
    /// and peaks so it is not listed twice.
    fn revive(&mut self, id: Identity) -> Option<Life> {
        let life = self.gone_leaked.remove(&id);
        if life.is_none() {
            self.gone_growers
                .retain(|g| (g.pid, g.start) != (id.pid, id.start));
            self.gone_peaks.retain(|t| t.id != id);
        }
        life
    }

    /// Moves the processes the tick numbered `now` did not have out of `live`: the
    /// leaked are kept whole, the others only if among the largest growers or peaks.
    fn retire(&mut self, now: u32) {
        if self.live.len() == self.live.values().filter(|l| l.last_tick == now).count() {
            return;
        }
        let gone: Vec<Identity> = self
            .live
            .iter()
            .filter(|(_, l)| l.last_tick != now)
            .map(|(id, _)| *id)
            .collect();
        for id in gone {
            let Some(life) = self.live.remove(&id) else {
                continue;
            };
            if life.leak.is_some() {
                self.gone_leaked.insert(id, life);
                continue;
            }
            if let Some(g) = grower(id, &life) {
                self.gone_growers.push(g);
            }
            self.gone_peaks.push(top(id, &life));
        }
        keep_least(&mut self.gone_growers, GROWERS, grower_order);
        keep_least(&mut self.gone_peaks, PEAKS_KEPT, peak_order);
    }

    /// Ticks folded in so far.
    pub fn ticks(&self) -> usize {
        self.ticks
    }

    /// The first and last tick numbers folded in (0 and 0 before any).
    pub fn tick_range(&self) -> (u32, u32) {
        (self.first.map_or(0, |f| f.0), self.last.map_or(0, |l| l.0))
    }

    /// Per-process stories held: the latest tick's processes, the leaked ones gone,
    /// and the few largest growers and peaks gone. Bounded by what the summary lists
    /// and the widest tick, not by the distinct processes of the recording.
    pub fn processes_kept(&self) -> usize {
        self.live.len() + self.gone_leaked.len() + self.gone_growers.len() + self.gone_peaks.len()
    }

    /// Every story still held whole, live or gone.
    fn lives(&self) -> impl Iterator<Item = (&Identity, &Life)> {
        self.live.iter().chain(&self.gone_leaked)
    }

    /// The `n` (at most [`PEAKS_KEPT`]) processes with the largest peak RSS, largest
    /// first (ties by identity).
    pub fn top_by_peak(&self, n: usize) -> Vec<Top> {
        let mut top: Vec<Top> = self
            .lives()
            .map(|(id, life)| top(*id, life))
            .chain(self.gone_peaks.iter().cloned())
            .collect();
        keep_least(&mut top, n.min(PEAKS_KEPT), peak_order);
        top
    }

    /// The summary of everything folded in. `truncated`: an incomplete last tick was
    /// dropped.
    pub fn summary(&self, header: &Header, truncated: bool) -> Summary {
        let last_tick = self.last.map_or(0, |l| l.0);
        let mut leaked: Vec<Leaked> = self
            .lives()
            .filter_map(|(id, life)| {
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
                    pss_kb_last: life.last_mem.and_then(|m| m.pss_kb),
                    uss_kb_last: life.last_mem.and_then(|m| m.uss_kb),
                    swap_kb_last: life.last_mem.and_then(|m| m.swap_kb),
                    mem_tick_last: life.last_mem.and_then(|m| m.at),
                    gpu_kb_last: life.last_gpu,
                    last_seen_tick: life.last_tick,
                    alive_at_end: life.last_tick == last_tick && life.last_state != 'Z',
                })
            })
            .collect();
        leaked.sort_by_key(leak_order);
        let mut growers: Vec<Grower> = self
            .lives()
            .filter_map(|(id, life)| grower(*id, life))
            .chain(self.gone_growers.iter().cloned())
            .collect();
        keep_least(&mut growers, GROWERS, grower_order);
        let mut alerts = self.alerts.clone();
        alerts.sort_by(|a, b| alert_order(a).cmp(&alert_order(b)));
        Summary {
            root_pid: header.root_pid,
            root_cmd: header.root_cmd.clone(),
            root_exited_tick: self.root_exited_tick,
            ticks: self.ticks,
            first_tick: self.first.map_or(0, |f| f.0),
            last_tick,
            span_ms: match (self.first, self.last) {
                (Some(a), Some(b)) => b.1.saturating_sub(a.1),
                _ => 0,
            },
            distinct_processes: self.distinct,
            peak_total_rss_kb: self.peak.0,
            peak_tick: self.peak.1,
            peak_leaked_rss_kb: self.peak_leaked.0,
            peak_leaked_tick: self.peak_leaked.1,
            peak_leaked_pss_kb: self.peak_leaked_mem.0.known(),
            peak_leaked_pss_unknown: self.peak_leaked_mem.0.unknown,
            peak_leaked_swap_kb: self.peak_leaked_mem.1,
            peak_leaked_gpu_kb: self.peak_leaked_mem.2,
            leaked,
            orphans_exited: self.orphans_exited,
            events_lost_ticks: self.events_lost.0,
            events_lost_counted: self.events_lost.1,
            events_lost_uncounted: self.events_lost.2,
            short_lived: self.short_lived,
            growers,
            alerts,
            truncated,
        }
    }
}

/// A process's growth, if it grew.
fn grower(id: Identity, life: &Life) -> Option<Grower> {
    let growth_kb = life.peak_rss.saturating_sub(life.first_rss);
    (growth_kb > 0).then(|| Grower {
        pid: id.pid,
        start: id.start,
        name: life.name.clone(),
        rss_kb_first: life.first_rss,
        rss_kb_peak: life.peak_rss,
        growth_kb,
    })
}

fn top(id: Identity, life: &Life) -> Top {
    Top {
        id,
        peak_rss_kb: life.peak_rss,
        name: life.name.clone(),
        cmd: life.cmd.clone(),
    }
}

/// The summary of a recording held in memory (see [`Summarizer`] for a stream).
pub fn summarize(rec: &Recording) -> Summary {
    let mut fold = Summarizer::new();
    for tick in &rec.ticks {
        fold.add(tick);
    }
    fold.summary(&rec.header, rec.truncated.is_some())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ProcRow, Tick};

    #[test]
    fn figures_of_the_sample_recording() {
        let s = summarize(&crate::testkit::forkserver_recording());
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
        assert_eq!(s.orphans_exited, 1);
    }

    #[test]
    fn ticks_marked_events_lost_are_counted_and_said_in_the_text() {
        let mut rec = crate::testkit::forkserver_recording();
        assert_eq!(summarize(&rec).events_lost_ticks, 0);
        let text = crate::report::write_text(&summarize(&rec), "x", crate::format::Width::Whole);
        assert!(!text.contains("events-lost"), "{text}");
        rec.ticks[1].events.push(crate::model::Event::EventsLost {
            counted: 120,
            uncounted: 0,
        });
        rec.ticks[2].events.push(crate::model::Event::EventsLost {
            counted: 3,
            uncounted: 2,
        });
        let s = summarize(&rec);
        assert_eq!(
            (
                s.events_lost_ticks,
                s.events_lost_counted,
                s.events_lost_uncounted
            ),
            (2, 123, 2)
        );
        let text = crate::report::write_text(&s, "x", crate::format::Width::Whole);
        assert!(!text.contains("short-lived"), "{text}");
        assert!(
            text.contains(
                "events:    2 ticks marked events-lost (at least 123 events, and 2 losses of \
                 unknown size); a fork escape in those windows may be missed"
            ),
            "{text}"
        );
    }

    #[test]
    fn short_lives_are_counted_listed_or_not() {
        let mut rec = crate::testkit::forkserver_recording();
        let life = |code, signal| crate::model::Event::ShortLived {
            pid: 9,
            ppid: 8,
            life_ms: 1,
            exec: true,
            comm: None,
            code,
            signal,
        };
        rec.ticks[1]
            .events
            .extend([life(Some(0), None), life(Some(2), None)]);
        rec.ticks[2].events.extend([
            life(None, Some(9)),
            crate::model::Event::ShortLivedMore {
                count: 100,
                failed: 4,
                signaled: 1,
            },
        ]);
        let s = summarize(&rec);
        assert_eq!(
            s.short_lived,
            crate::model::ShortLives {
                count: 103,
                failed: 5,
                signaled: 2
            }
        );
        let text = crate::report::write_text(&s, "x", crate::format::Width::Whole);
        assert!(
            text.contains(
                "\nbrief:     103 short-lived processes (forked and exited between two ticks; 5 \
                 failed, 2 killed by a signal)\n"
            ),
            "{text}"
        );
    }

    #[test]
    fn leaked_gpu_memory_is_reported_where_recorded_and_unknown_elsewhere() {
        let rec = crate::testkit::forkserver_recording();
        let s = summarize(&rec);
        assert_eq!(s.peak_leaked_gpu_kb, Some(2 * 1024 * 1024));
        let l = |pid| s.leaked.iter().find(|l| l.pid == pid).unwrap();
        assert_eq!(l(214864).gpu_kb_last, Some(2 * 1024 * 1024));
        assert_eq!(l(214862).gpu_kb_last, None, "unknown, not 0");
        let text = crate::report::write_text(&s, "sample.ticklog", crate::format::Width::Whole);
        assert!(text.contains(", GPU 2 GiB"), "{text}");
        assert!(text.contains("GPU LAST"), "{text}");
        // A recording without GPU memory has no GPU in its report.
        let mut old = rec.clone();
        for p in old.ticks.iter_mut().flat_map(|t| &mut t.processes) {
            p.gpu_kb = None;
        }
        let s = summarize(&old);
        assert_eq!(s.peak_leaked_gpu_kb, None);
        let text = crate::report::write_text(&s, "sample.ticklog", crate::format::Width::Whole);
        assert!(!text.contains("GPU"), "{text}");
        let json = serde_json::to_value(&s).unwrap();
        assert!(json.get("peak_leaked_gpu_kb").is_none());
    }

    #[test]
    fn leaked_memory_is_rss_and_pss_with_swap_and_unknown_kept_apart() {
        let s = summarize(&crate::testkit::forkserver_recording());
        assert_eq!(s.peak_leaked_tick, 2);
        assert_eq!(s.peak_leaked_pss_kb, Some(9_216 + 268_000));
        assert_eq!(s.peak_leaked_pss_unknown, 3);
        assert_eq!(s.peak_leaked_swap_kb, Some(512));
        let l = |pid| s.leaked.iter().find(|l| l.pid == pid).unwrap();
        assert_eq!(
            (
                l(214863).pss_kb_last,
                l(214863).swap_kb_last,
                l(214863).mem_tick_last
            ),
            (Some(9_216), Some(512), Some(1))
        );
        assert_eq!(
            l(214862).pss_kb_last,
            None,
            "never measured: unknown, not 0"
        );
        let text = crate::report::write_text(&s, "sample.ticklog", crate::format::Width::Whole);
        assert!(
            text.contains("peak leaked RSS 2.39 GiB at tick 2, PSS ~270.72 MiB + 3 processes of unknown PSS, swap 512 KiB"),
            "{text}"
        );
        assert!(
            text.contains("PSS LAST") && text.contains("SWAP LAST"),
            "{text}"
        );
    }

    #[test]
    fn a_recording_without_memory_figures_has_unknown_swap_not_zero() {
        let mut rec = crate::testkit::forkserver_recording();
        for p in rec.ticks.iter_mut().flat_map(|t| t.processes.iter_mut()) {
            (p.pss_kb, p.uss_kb, p.swap_kb, p.mem_tick) = (None, None, None, None);
        }
        let s = summarize(&rec);
        assert_eq!((s.peak_leaked_pss_kb, s.peak_leaked_swap_kb), (None, None));
        let json = serde_json::to_value(&s).unwrap();
        assert!(json["peak_leaked_swap_kb"].is_null(), "{json}");
        let text = crate::report::write_text(&s, "old.ticklog", crate::format::Width::Whole);
        assert!(!text.contains("swap") && !text.contains("SWAP"), "{text}");
    }

    /// Issue 27, fault 11: the text format lists rows in tree order and NDJSON is read
    /// back in start order, so one recording reported its leaks in two orders. The
    /// summary does not depend on the order of a tick's rows.
    #[test]
    fn the_order_of_rows_in_a_tick_changes_nothing() {
        let rec = crate::testkit::forkserver_recording();
        let mut shuffled = rec.clone();
        for t in &mut shuffled.ticks {
            t.processes.reverse();
            t.processes.rotate_left(1);
        }
        let (a, b) = (summarize(&rec), summarize(&shuffled));
        assert_eq!(a, b);
        // Leaks are listed by the tick they leaked at, then by age (start, pid).
        let key = |l: &Leaked| (l.tick, l.start, l.pid);
        assert!(a.leaked.windows(2).all(|w| key(&w[0]) < key(&w[1])));
        // And so read back from either format.
        for format in [crate::format::Format::Text, crate::format::Format::Ndjson] {
            let back = format.parse(&shuffled.write(format)).unwrap();
            assert_eq!(summarize(&back).leaked, a.leaked, "{format:?}");
        }
    }

    fn row(pid: u32, name: &str, cmd: &str, rss_kb: u64, leaked: Option<u32>) -> ProcRow {
        ProcRow {
            rss_kb,
            start: 100,
            name: name.into(),
            cmd: cmd.into(),
            leaked: leaked.is_some(),
            reparented_from: leaked.map(|_| 50),
            leaked_since: leaked,
            ..crate::testkit::row(pid, 1)
        }
    }

    fn tick(n: u32, processes: Vec<ProcRow>) -> Tick {
        Tick {
            tick: n,
            elapsed_ms: u64::from(n) * 1000,
            time_ms: 0,
            root_alive: true,
            processes,
            events: Vec::new(),
            alerts: Vec::new(),
        }
    }

    /// Issue 27, fault 7: two million short-lived workers in a 497 MB recording took
    /// `report` 1.37 GB, a story kept for every process. Now only the latest tick's
    /// processes, the leaked and the few largest growers and peaks are kept; the
    /// figures are what keeping every story gives.
    #[test]
    fn memory_follows_what_is_printed_not_the_distinct_processes() {
        const WIDTH: u32 = 40;
        const TICKS: u32 = 2_500;
        let rss = |pid: u32, age: u32| 1_000 + u64::from(age) * u64::from(pid * 7_919 % 10_007);
        let leaks = [(5_000, 100), (40_000, 1_000), (90_000, 2_250)];
        let mut fold = Summarizer::new();
        let mut most = 0;
        let mut all = HashMap::new();
        for t in 1..=TICKS {
            // Each worker lives two ticks; a new one starts every tick in every slot.
            let mut rows: Vec<ProcRow> = (0..WIDTH)
                .flat_map(|k| [(t * WIDTH + k, 0), ((t - 1) * WIDTH + k, 1)])
                .filter(|&(pid, _)| pid >= WIDTH)
                .map(|(pid, age)| row(pid, "w", &format!("w {pid}"), rss(pid, age), None))
                .collect();
            for (pid, since) in leaks.into_iter().filter(|l| l.1 + 2 <= t) {
                rows.retain(|r| r.pid != pid);
                rows.push(row(pid, "w", &format!("w {pid}"), 9_000, Some(since)));
            }
            for r in &rows {
                let e = all.entry(r.pid).or_insert((r.rss_kb, r.rss_kb));
                e.1 = e.1.max(r.rss_kb);
            }
            fold.add(&tick(t, rows));
            most = most.max(fold.processes_kept());
        }
        assert!(
            most <= 2 * WIDTH as usize + leaks.len() + GROWERS + PEAKS_KEPT,
            "{most} stories kept"
        );
        let s = fold.summary(&crate::testkit::forkserver_recording().header, false);
        assert_eq!(s.distinct_processes, all.len());
        assert!(all.len() > 99_000);
        let leaked: Vec<(u32, u32)> = s.leaked.iter().map(|l| (l.pid, l.tick)).collect();
        assert_eq!(leaked, leaks);
        // The largest growers and peaks, worked out from every process's figures.
        let mut growth: Vec<(u64, u32)> = all
            .iter()
            .map(|(&pid, &(first, peak))| (peak - first, pid))
            .filter(|g| g.0 > 0)
            .collect();
        growth.sort_by_key(|&(g, pid)| (std::cmp::Reverse(g), pid));
        let got: Vec<(u64, u32)> = s.growers.iter().map(|g| (g.growth_kb, g.pid)).collect();
        assert_eq!(got, growth[..GROWERS]);
        let mut peaks: Vec<(u64, u32)> = all.iter().map(|(&pid, &(_, p))| (p, pid)).collect();
        peaks.sort_by_key(|&(p, pid)| (std::cmp::Reverse(p), pid));
        let got: Vec<(u64, u32)> = fold
            .top_by_peak(PEAKS_KEPT)
            .iter()
            .map(|t| (t.peak_rss_kb, t.id.pid))
            .collect();
        assert_eq!(got, peaks[..PEAKS_KEPT]);
    }

    /// Issue 13, fault 5: a pyenv shim that execs the interpreter was reported by its
    /// first command line; "RSS LAST" showed 1 GB for a process last seen at 0 B; the
    /// peak of leaked RSS was "0 B at tick 1" when the leak was at tick 3.
    #[test]
    fn names_are_the_last_command_rss_last_the_last_sample_and_the_peak_a_leaked_tick() {
        let shim = "bash /root/.pyenv/libexec/pyenv-exec python3 server.py";
        let server = "python3 server.py";
        let mut fold = Summarizer::new();
        fold.add(&tick(1, vec![row(7, "bash", shim, 3_000, None)]));
        fold.add(&tick(2, vec![row(7, "python3", server, 1_000_000, None)]));
        fold.add(&tick(3, vec![row(7, "python3", server, 900_000, Some(3))]));
        fold.add(&tick(4, vec![row(7, "python3", server, 0, Some(3))]));
        let s = fold.summary(&crate::testkit::forkserver_recording().header, false);
        let leak = &s.leaked[0];
        assert_eq!((leak.name.as_str(), leak.cmd.as_str()), ("python3", server));
        assert_eq!(leak.rss_kb_last, 0);
        assert_eq!((s.peak_leaked_rss_kb, s.peak_leaked_tick), (900_000, 3));
        // A leak whose RSS reads 0 (its memory already being freed) still peaks at its
        // own tick, not at the first tick of the recording.
        let mut fold = Summarizer::new();
        fold.add(&tick(1, vec![row(7, "sleep", "sleep 9", 0, None)]));
        fold.add(&tick(2, vec![row(7, "sleep", "sleep 9", 0, Some(2))]));
        let s = fold.summary(&crate::testkit::forkserver_recording().header, false);
        assert_eq!((s.peak_leaked_rss_kb, s.peak_leaked_tick), (0, 2));
    }

    /// Issue 26, fault 9: a leaked process that died showed `RSS LAST 0 B` (its
    /// zombie's) beside the PSS measured alive, and the headline said its PSS was
    /// "what killing them frees". Both LAST figures are of the living process, and a
    /// process that no longer exists frees nothing.
    #[test]
    fn a_dead_leak_keeps_its_living_figures_and_frees_nothing() {
        let alive = |pss| ProcRow {
            pss_kb: Some(pss),
            mem_tick: Some(2),
            ..row(7, "worker", "worker", 40_000, Some(2))
        };
        let zombie = ProcRow {
            state: 'Z',
            rss_kb: 0,
            ..alive(37_000)
        };
        let mut fold = Summarizer::new();
        fold.add(&tick(1, vec![row(8, "root", "root", 1_000, None)]));
        fold.add(&tick(2, vec![alive(37_000)]));
        fold.add(&tick(3, vec![zombie]));
        fold.add(&tick(4, vec![row(8, "root", "root", 1_000, None)]));
        let s = fold.summary(&crate::testkit::forkserver_recording().header, false);
        let leak = &s.leaked[0];
        assert_eq!((leak.rss_kb_last, leak.pss_kb_last), (40_000, Some(37_000)));
        assert!(!leak.alive_at_end);
        let text = crate::report::write_text(&s, "dead.ticklog", crate::format::Width::Whole);
        assert!(
            text.contains("none is alive at the end: killing frees nothing"),
            "{text}"
        );
        assert!(!text.contains("(what killing them frees)"), "{text}");
        // Alive at the end, it is what killing it frees.
        let mut fold = Summarizer::new();
        fold.add(&tick(1, vec![alive(37_000)]));
        let s = fold.summary(&crate::testkit::forkserver_recording().header, false);
        let text = crate::report::write_text(&s, "alive.ticklog", crate::format::Width::Whole);
        assert!(
            text.contains(
                "1 still alive at the end holds PSS ~36.13 MiB (what killing them frees)"
            ),
            "{text}"
        );
    }

    /// Issue 26, fault 5: `report` listed an alert without saying it cleared. It says
    /// when each rose and cleared, in ticks and seconds, and how often it rose.
    #[test]
    fn alerts_say_when_they_rose_and_cleared() {
        let alert = |since| crate::model::Alert {
            kind: crate::model::AlertKind::Accumulating,
            pid: 7,
            start: 100,
            since_tick: since,
            reason: "children that stay rose".into(),
        };
        let mut fold = Summarizer::new();
        for n in 1..=40 {
            let mut t = tick(n, vec![row(7, "daemon", "daemon", 1_000, None)]);
            if (12..28).contains(&n) {
                t.alerts.push(alert(12));
            }
            if n >= 35 {
                t.alerts.push(alert(35));
            }
            fold.add(&t);
        }
        let s = fold.summary(&crate::testkit::forkserver_recording().header, false);
        assert_eq!(s.alerts.len(), 1);
        let r = &s.alerts[0];
        assert_eq!((r.rose_ms, r.cleared, r.times), (12_000, None, 2));
        let text = crate::report::write_text(&s, "held.ticklog", crate::format::Width::Whole);
        assert!(
            text.contains("rose at tick 12 (12.0s), standing at the end, rose 2 times"),
            "{text}"
        );
        let mut fold = Summarizer::new();
        for n in 1..=40 {
            let mut t = tick(n, vec![row(7, "daemon", "daemon", 1_000, None)]);
            if (12..28).contains(&n) {
                t.alerts.push(alert(12));
            }
            fold.add(&t);
        }
        let s = fold.summary(&crate::testkit::forkserver_recording().header, false);
        let text = crate::report::write_text(&s, "cleared.ticklog", crate::format::Width::Whole);
        assert!(
            text.contains("rose at tick 12 (12.0s), cleared at tick 28 (28.0s): "),
            "{text}"
        );
    }
}
