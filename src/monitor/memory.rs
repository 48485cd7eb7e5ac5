//! The memory budget: which members' PSS, USS and swap (`smaps_rollup`, 20-300x a
//! `stat` read) are read at each tick, within a tenth of the interval, and only where
//! they can have moved since the last read ([`memory_due`], [`touched_by`]).

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use super::Monitor;
use crate::model::{Event, ProcRow, Tick};
use crate::sample::{Identity, Memory};

/// What [`Monitor`] knows of one process's memory.
#[derive(Debug, Clone, Copy)]
pub(super) struct Measured {
    /// The last successful read and the tick it was made at.
    known: Option<(Memory, u32)>,
    /// The tick of the last attempt, successful or not.
    tried: u32,
    /// The process's RSS (KiB) and leaked mark at the last attempt.
    rss_kb: u64,
    leaked: bool,
}

/// The members' memory as [`Monitor`] keeps it between ticks.
#[derive(Debug, Default)]
pub(super) struct Memories {
    measured: HashMap<Identity, Measured>,
    /// Each member's parent at the last tick (pid to ppid), where it is the parent
    /// that forked it (not an adopter): whose kin an exit touched once the exited
    /// process is gone from the rows.
    parents: HashMap<u32, u32>,
}

/// How long a process's memory figures stay fresh while nothing suggests they moved:
/// PSS also moves when a process outside the family maps or unmaps a page it shares
/// (a library), which no event tells; this bounds how old such a figure gets.
pub const MEMORY_REFRESH: Duration = Duration::from_secs(30);

/// The pids whose kin this tick's events may have moved the PSS of: a fork shares
/// the parent's pages with one more process (`Spawned`: the parent), an exit leaves
/// its pages to fewer (`Exited`: its parent at the last tick, from `parents`, and the
/// exited pid itself, whose children held its pages too), a reparent is the trace of
/// an exit (`Reparented`: the parent it had). A short life (`ShortLived`) is not one:
/// forked and gone between two ticks, it left its parent's pages shared as before.
/// An escapee is new, so read anyway.
fn touched_by(events: &[Event], parents: &HashMap<u32, u32>) -> HashSet<u32> {
    let mut touched = HashSet::new();
    for e in events {
        match *e {
            Event::Spawned { ppid, .. } => {
                touched.insert(ppid);
            }
            Event::Exited { pid, .. } => {
                touched.insert(pid);
                touched.extend(parents.get(&pid));
            }
            Event::Reparented { from, .. } => {
                touched.insert(from);
            }
            _ => {}
        }
    }
    touched
}

/// Whether `row` shares pages with a process in `touched` ([`touched_by`]): it is one,
/// the parent that forked it is one (a sibling forked or exited), or its parent at the
/// last tick (`last_ppid`) was one (its parent exited, and it was adopted since). An
/// adopter (PID 1, a subreaper) shares no image with the orphans it took in.
fn kin_of(row: &ProcRow, last_ppid: Option<u32>, touched: &HashSet<u32>) -> bool {
    touched.contains(&row.pid)
        || (forked_by_parent(row) && touched.contains(&row.ppid))
        || last_ppid.is_some_and(|p| touched.contains(&p))
}

/// Whether `row`'s parent is the process that forked it: neither adopted nor escaped.
fn forked_by_parent(row: &ProcRow) -> bool {
    row.reparented_from.is_none() && !row.escaped
}

/// Whether `row`'s memory is due a read: never read (or unreadable so far); its RSS or
/// its leaked mark changed since; a process it shares pages with forked or exited
/// (`kin_moved`: [`kin_of`]; its pages now divide among more or fewer, so PSS moves
/// with no change of RSS); or it was last tried `refresh` ticks ago or more. A leak
/// of sleeping workers is then read once, not every tick, and an exit elsewhere in the
/// family does not make everyone due.
fn memory_due(
    row: &ProcRow,
    m: Option<&Measured>,
    tick: u32,
    refresh: u32,
    kin_moved: bool,
) -> bool {
    match m {
        None => true,
        Some(m) => {
            m.known.is_none()
                || kin_moved
                || m.rss_kb != row.rss_kb
                || m.leaked != row.leaked
                || tick.saturating_sub(m.tried) >= refresh
        }
    }
}

/// The share of the interval that memory reads (`smaps_rollup`) may take: a tenth.
pub const MEMORY_BUDGET_SHARE: u32 = 10;

impl Monitor {
    /// Reads PSS/USS/swap (`Host::memory`, 20-300x a `stat` read) for as many members
    /// as a tenth of the interval allows, leaked ones first (the least recently tried
    /// first), then the focus (the view's selected subtree, likewise), then the others
    /// round-robin, the largest RSS first among equals ([`memory_order`]); of those
    /// only the ones whose figures can have moved ([`memory_due`]), at least one of
    /// them per tick. Fills every row with its last-known figures and the tick they
    /// were read at (`mem_tick`); one never read stays unknown, and so does a zombie's
    /// (state `Z`: it has exited and holds none).
    pub(super) fn measure_memory(&mut self, tick: &mut Tick) {
        if !self.measure_pss {
            return;
        }
        let interval = Duration::from_millis(self.header.interval_ms);
        let budget = interval / MEMORY_BUDGET_SHARE;
        let refresh = (MEMORY_REFRESH.as_millis() / interval.as_millis().max(1)).max(1) as u32;
        let touched = touched_by(&tick.events, &self.memory.parents);
        let Memories { measured, parents } = &self.memory;
        // A zombie has exited: its memory is gone with it, nothing to read.
        let due = tick
            .processes
            .iter()
            .filter(|r| !r.is_defunct())
            .filter(|r| {
                let kin = kin_of(r, parents.get(&r.pid).copied(), &touched);
                memory_due(r, measured.get(&r.id()), tick.tick, refresh, kin)
            });
        let order = memory_order(due, |id| measured.get(&id).map(|m| m.tried), &self.focus);
        let began = self.host.now();
        for (i, id) in order.ids.iter().enumerate() {
            if i > 0 && self.host.now().duration_since(began) >= budget {
                break;
            }
            let read = self.host.memory(*id);
            let Some(row) = tick.processes.iter().find(|r| r.id() == *id) else {
                continue;
            };
            let entry = self.memory.measured.entry(*id).or_insert(Measured {
                known: None,
                tried: tick.tick,
                rss_kb: row.rss_kb,
                leaked: row.leaked,
            });
            entry.tried = tick.tick;
            entry.rss_kb = row.rss_kb;
            entry.leaked = row.leaked;
            // A failed read (the process exiting, a lock refused) keeps what was known.
            if let Some(m) = read {
                entry.known = Some((m, tick.tick));
            }
        }
        let memory = &mut self.memory;
        memory
            .measured
            .retain(|id, _| tick.processes.iter().any(|p| p.id() == *id));
        memory.parents.clear();
        memory.parents.extend(
            (tick.processes.iter())
                .filter(|p| forked_by_parent(p))
                .map(|p| (p.pid, p.ppid)),
        );
        // A zombie holds no memory: never the figures it had alive (unknown, as for a
        // process never read; its RSS, from `stat`, says 0).
        for row in tick.processes.iter_mut().filter(|r| !r.is_defunct()) {
            if let Some(Measured {
                known: Some((m, at)),
                ..
            }) = self.memory.measured.get(&row.id())
            {
                row.pss_kb = Some(m.pss_kb);
                row.uss_kb = Some(m.uss_kb);
                row.swap_kb = Some(m.swap_kb);
                row.mem_tick = Some(*at);
            }
        }
    }
}

/// Whom to measure, in order: see [`memory_order`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemoryOrder {
    pub ids: Vec<Identity>,
    /// The first `leaked` of `ids` are the leaked processes.
    pub leaked: usize,
    /// Where the others (neither leaked nor in focus) begin in `ids`.
    pub first_other: usize,
}

/// The order in which to read members' memory this tick: the leaked processes, never
/// tried first, then the least recently tried (`tried` gives the tick of the last
/// attempt); then those in `focus` (the view's selected subtree) likewise; then the
/// others, never tried first, then the least recently tried, the largest RSS first
/// among equals: a round-robin that a budget too small for all still takes through
/// everyone in turn, the biggest first.
pub fn memory_order<'a>(
    rows: impl IntoIterator<Item = &'a ProcRow>,
    tried: impl Fn(Identity) -> Option<u32>,
    focus: &HashSet<Identity>,
) -> MemoryOrder {
    let mut leaked: Vec<(Option<u32>, Identity)> = Vec::new();
    let mut focused: Vec<(Option<u32>, Identity)> = Vec::new();
    let mut others: Vec<(Option<u32>, std::cmp::Reverse<u64>, Identity)> = Vec::new();
    for r in rows {
        if r.leaked {
            leaked.push((tried(r.id()), r.id()));
        } else if focus.contains(&r.id()) {
            focused.push((tried(r.id()), r.id()));
        } else {
            others.push((tried(r.id()), std::cmp::Reverse(r.rss_kb), r.id()));
        }
    }
    for list in [&mut leaked, &mut focused] {
        list.sort_by_key(|&(tried, id)| (tried, id.start, id.pid));
    }
    others.sort_by_key(|&(tried, rss, id)| (tried, rss, id.start, id.pid));
    let n = leaked.len();
    let mut ids: Vec<Identity> = leaked.into_iter().map(|(_, id)| id).collect();
    ids.extend(focused.into_iter().map(|(_, id)| id));
    let first_other = ids.len();
    ids.extend(others.into_iter().map(|(_, _, id)| id));
    MemoryOrder {
        ids,
        leaked: n,
        first_other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(pid: u32, leaked: bool) -> ProcRow {
        ProcRow {
            leaked,
            ..crate::testkit::row(pid, 1)
        }
    }

    #[test]
    fn memory_order_puts_leaked_first_least_recently_tried_first() {
        let rows = [
            r(10, false),
            r(11, true),
            r(12, false),
            r(13, true),
            r(14, true),
        ];
        let id = |pid: u32| Identity {
            pid,
            start: u64::from(pid),
        };
        // 11 was tried at tick 5, 13 at tick 3, 14 never.
        let tried = |i: Identity| match i.pid {
            11 => Some(5),
            13 => Some(3),
            _ => None,
        };
        let order = memory_order(&rows, tried, &HashSet::new());
        assert_eq!(order.leaked, 3);
        assert_eq!(order.ids, [id(14), id(13), id(11), id(10), id(12)]);
    }

    #[test]
    fn memory_order_takes_the_others_least_recently_tried_first_then_largest() {
        let rows = [
            ProcRow {
                rss_kb: 500,
                ..r(10, false)
            },
            ProcRow {
                rss_kb: 9000,
                ..r(11, false)
            },
            ProcRow {
                rss_kb: 3000,
                ..r(12, false)
            },
            r(13, true),
        ];
        let pids = |tried: &dyn Fn(u32) -> Option<u32>| -> Vec<u32> {
            memory_order(&rows, |i| tried(i.pid), &HashSet::new())
                .ids
                .iter()
                .map(|i| i.pid)
                .collect()
        };
        assert_eq!(
            pids(&|_| None),
            [13, 11, 12, 10],
            "never tried: largest first"
        );
        // 11 and 12 read last tick: 10 comes round before them.
        assert_eq!(
            pids(&|p| matches!(p, 11 | 12).then_some(5)),
            [13, 10, 11, 12]
        );
        assert!(memory_order(&[], |_| None, &HashSet::new()).ids.is_empty());
    }

    #[test]
    fn memory_order_puts_the_focus_after_the_leaked_and_before_the_others() {
        let rows = [
            r(10, false),
            r(11, false),
            r(12, false),
            r(13, true),
            r(14, false),
        ];
        let id = |pid: u32| Identity {
            pid,
            start: u64::from(pid),
        };
        // The selected subtree is 12 and 14; 14 was never tried, 12 at tick 4.
        let focus: HashSet<Identity> = [id(12), id(14)].into_iter().collect();
        let tried = |i: Identity| (i.pid == 12).then_some(4);
        let order = memory_order(&rows, tried, &focus);
        assert_eq!(order.ids, [id(13), id(14), id(12), id(10), id(11)]);
        assert_eq!((order.leaked, order.first_other), (1, 3));
        // A focus on a leaked process changes nothing: it comes first anyway.
        let leaked: HashSet<Identity> = [id(13)].into_iter().collect();
        assert_eq!(
            memory_order(&rows, |_| None, &leaked).ids,
            [id(13), id(10), id(11), id(12), id(14)]
        );
    }

    #[test]
    fn memory_is_read_again_only_when_it_may_have_moved() {
        let row = r(10, true);
        let m = Measured {
            known: Some((Memory::default(), 5)),
            tried: 5,
            rss_kb: row.rss_kb,
            leaked: true,
        };
        let due =
            |row: &ProcRow, m: Option<&Measured>, tick, kin| memory_due(row, m, tick, 30, kin);
        assert!(due(&row, None, 6, false), "never read");
        assert!(!due(&row, Some(&m), 6, false), "fresh and unchanged");
        assert!(due(&row, Some(&m), 35, false), "30 ticks old");
        assert!(
            due(&row, Some(&m), 6, true),
            "a process it shares pages with forked or exited"
        );
        let grown = ProcRow {
            rss_kb: 2000,
            ..row.clone()
        };
        assert!(due(&grown, Some(&m), 6, false), "its RSS changed");
        let unleaked = ProcRow {
            leaked: false,
            ..row.clone()
        };
        assert!(
            due(&unleaked, Some(&m), 6, false),
            "its leaked mark changed"
        );
        let unknown = Measured { known: None, ..m };
        assert!(due(&row, Some(&unknown), 6, false), "unknown so far");
    }

    /// A server (1) with two pools (10, 20) of two workers each (11, 12; 21, 22).
    fn pools() -> (Vec<ProcRow>, HashMap<u32, u32>) {
        let rows: Vec<ProcRow> = [
            (1, 0),
            (10, 1),
            (11, 10),
            (12, 10),
            (20, 1),
            (21, 20),
            (22, 20),
        ]
        .into_iter()
        .map(|(pid, ppid)| crate::testkit::row(pid, ppid))
        .collect();
        let parents = rows.iter().map(|r| (r.pid, r.ppid)).collect();
        (rows, parents)
    }

    /// The pids of `rows` whose kin `events` touched.
    fn kin_touched(rows: &[ProcRow], parents: &HashMap<u32, u32>, events: &[Event]) -> Vec<u32> {
        let touched = touched_by(events, parents);
        rows.iter()
            .filter(|r| kin_of(r, parents.get(&r.pid).copied(), &touched))
            .map(|r| r.pid)
            .collect()
    }

    #[test]
    fn a_fork_or_exit_touches_only_the_processes_sharing_pages_with_it() {
        let (rows, parents) = pools();
        assert!(
            kin_touched(&rows, &parents, &[]).is_empty(),
            "nothing happened"
        );
        // Worker 11 exited: its parent and its sibling; the other pool is untouched.
        let exit = Event::Exited { pid: 11, start: 11 };
        let rest: Vec<ProcRow> = rows.iter().filter(|r| r.pid != 11).cloned().collect();
        assert_eq!(kin_touched(&rest, &parents, &[exit]), [10, 12]);
        // Pool 20 forked 23: the pool, its workers and the new one.
        let mut grown = rows.clone();
        grown.push(crate::testkit::row(23, 20));
        let fork = Event::Spawned {
            pid: 23,
            start: 23,
            ppid: 20,
        };
        assert_eq!(kin_touched(&grown, &parents, &[fork]), [20, 21, 22, 23]);
        // Pool 10 exited and its workers were adopted by 1: they and the server (its
        // parent), and so the server's other child, pool 20.
        let mut adopted: Vec<ProcRow> = rows.iter().filter(|r| r.pid != 10).cloned().collect();
        for r in &mut adopted {
            if r.ppid == 10 {
                (r.ppid, r.reparented_from) = (1, Some(10));
            }
        }
        let exit = Event::Exited { pid: 10, start: 10 };
        assert_eq!(kin_touched(&adopted, &parents, &[exit]), [1, 11, 12, 20]);
        // Then orphan 11 exits: its adopter shares nothing with orphan 12.
        let orphans: Vec<ProcRow> = adopted.iter().filter(|r| r.pid != 11).cloned().collect();
        let parents: HashMap<u32, u32> = (adopted.iter())
            .filter(|r| forked_by_parent(r))
            .map(|r| (r.pid, r.ppid))
            .collect();
        let exit = Event::Exited { pid: 11, start: 11 };
        assert!(kin_touched(&orphans, &parents, &[exit]).is_empty());
        // A life that began and ended between two ticks left the pages as they were.
        let short = Event::ShortLived {
            pid: 30,
            ppid: 21,
            life_ms: 3,
            exec: false,
            comm: None,
            code: Some(0),
            signal: None,
        };
        assert!(kin_touched(&rows, &parents, &[short]).is_empty());
    }
}
