//! The timeline the interactive view keeps: every tick so far, compactly, and the RSS
//! series the chart draws from.
//!
//! A day at 1 s of a 150-process family is 13 million process samples; kept as whole
//! [`Tick`]s that is gigabytes. Here a tick costs a few bytes per process: what changed
//! since the tick before (RSS and CPU as varint deltas; parent, state and leak marks
//! only when they change), with a keyframe every [`KEYFRAME_EVERY`] ticks so that any
//! tick decodes from at most that many. Names and command lines are stored once per
//! process. The newest two ticks are also kept whole: the live view decodes nothing.
//!
//! One thing is not kept per tick: an alert's reason text is the one from the tick it
//! was first raised (the newest tick has its own).
//!
//! A replay keeps less: its ticks are in their file already, so the history holds
//! where each one is ([`Recorded`]) and reads any tick again on demand; its memory
//! grows with the ticks, not with the processes they hold.

mod codec;
mod recorded;
#[cfg(test)]
mod tests;

pub use recorded::{Index, Recorded};

use std::collections::HashMap;

use crate::model::{Alert, AlertKind, Event, ProcRow, Tick};
use crate::sample::Identity;

/// Ticks between two keyframes (a tick encoded without reference to the one before).
pub const KEYFRAME_EVERY: usize = 64;
/// How many process rows a process's RSS series may decode (about 1.5 ms): within
/// it the series has every tick; beyond, the keyframes and the ticks since the last
/// one, so that moving the selection stays quick on a big family with a long history.
const SERIES_ROW_BUDGET: usize = 200_000;

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

/// What happened at a tick worth jumping to (`n`/`N` in the view): a bit set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Landmark(u8);

impl Landmark {
    /// A process was first seen leaked.
    pub const LEAK: Landmark = Landmark(1);
    /// An alert was raised that did not stand at the tick before.
    pub const ALERT: Landmark = Landmark(2);
    /// A new root took over (`--follow`).
    pub const RESTART: Landmark = Landmark(4);
    /// The root exited, or an orphan exited by itself within the leak grace. (The
    /// healthy churn of short-lived children is not a landmark: it would be every tick.)
    pub const EXIT: Landmark = Landmark(8);

    pub fn contains(self, other: Landmark) -> bool {
        self.0 & other.0 == other.0 && other.0 != 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// What happened, in words: `leak, alert`.
    pub fn describe(self) -> String {
        [
            (Landmark::LEAK, "leak"),
            (Landmark::ALERT, "alert"),
            (Landmark::RESTART, "restart"),
            (Landmark::EXIT, "exit"),
        ]
        .iter()
        .filter(|(l, _)| self.contains(*l))
        .map(|(_, name)| *name)
        .collect::<Vec<_>>()
        .join(", ")
    }
}

impl std::ops::BitOrAssign for Landmark {
    fn bitor_assign(&mut self, other: Landmark) {
        self.0 |= other.0;
    }
}

/// Cloned whole for work off the UI thread (an export writes from a copy).
#[derive(Default, Clone)]
pub struct History {
    frames: Vec<Frame>,
    /// Every frame's rows, encoded, back to back.
    data: Vec<u8>,
    procs: Vec<ProcInfo>,
    ids: HashMap<Identity, u32>,
    totals: Vec<Totals>,
    restarts: Vec<Restart>,
    /// The frames with a [`Landmark`], ascending (few are), for `n`/`N` to find by
    /// binary search however long the history.
    landmarks: Vec<(usize, Landmark)>,
    /// The frames that have events (few do), by frame index.
    events: Vec<(usize, Box<[Event]>)>,
    /// Every alert raised, once, with the reason it was first stored with.
    alert_table: Vec<Alert>,
    alert_ids: HashMap<AlertKey, u32>,
    /// Runs of frames with the same standing alerts: (first frame, alert indexes).
    alert_runs: Vec<(usize, Box<[u32]>)>,
    /// The newest tick's rows, the base of the next tick's changes.
    last_rows: Vec<(u32, Values)>,
    newest: Option<Tick>,
    before_newest: Option<Tick>,
    /// A replay's file: its ticks are read from there, not encoded here.
    recorded: Option<Recorded>,
}

impl std::fmt::Debug for History {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("History")
            .field("ticks", &self.frames.len())
            .field("processes", &self.procs.len())
            .field("bytes", &self.data.len())
            .field("capacity", &self.data.capacity())
            .field("event_frames", &self.events.len())
            .field("alert_runs", &self.alert_runs.len())
            .field("landmarks", &self.landmarks.len())
            .finish()
    }
}

/// What never changes for a process (a new entry is made if it execs).
#[derive(Debug, Clone)]
struct ProcInfo {
    pid: u32,
    start: u64,
    name: Box<str>,
    cmd: Box<str>,
}

#[derive(Debug, Clone)]
struct Frame {
    tick: u32,
    root_alive: bool,
    elapsed_ms: u64,
    time_ms: u64,
    /// Where this frame's rows start in `data`.
    offset: usize,
}

/// What may change for a process from one tick to the next.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Values {
    rss_kb: u64,
    cpu_ms: u64,
    marks: Marks,
}

/// The fields that seldom change: marks, and the last-known memory figures (read
/// again only now and then).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Marks {
    ppid: u32,
    state: char,
    leaked: bool,
    escaped: bool,
    reparented_from: Option<u32>,
    leaked_since: Option<u32>,
    pss_kb: Option<u64>,
    uss_kb: Option<u64>,
    swap_kb: Option<u64>,
    mem_tick: Option<u32>,
    gpu_kb: Option<u64>,
}

impl Values {
    fn of(p: &ProcRow) -> Values {
        Values {
            rss_kb: p.rss_kb,
            cpu_ms: p.cpu_ms,
            marks: Marks {
                ppid: p.ppid,
                state: p.state,
                leaked: p.leaked,
                escaped: p.escaped,
                reparented_from: p.reparented_from,
                leaked_since: p.leaked_since,
                pss_kb: p.pss_kb,
                uss_kb: p.uss_kb,
                swap_kb: p.swap_kb,
                mem_tick: p.mem_tick,
                gpu_kb: p.gpu_kb,
            },
        }
    }
}

impl Marks {
    fn encode(&self, out: &mut Vec<u8>) {
        codec::put(out, u128::from(self.ppid));
        codec::put(out, u128::from(u32::from(self.state)));
        out.push(
            u8::from(self.leaked)
                | u8::from(self.escaped) << 1
                | u8::from(self.reparented_from.is_some()) << 2
                | u8::from(self.leaked_since.is_some()) << 3
                | u8::from(self.pss_kb.is_some()) << 4
                | u8::from(self.uss_kb.is_some()) << 5
                | u8::from(self.swap_kb.is_some()) << 6
                | u8::from(self.mem_tick.is_some()) << 7,
        );
        for v in [self.reparented_from, self.leaked_since]
            .into_iter()
            .flatten()
        {
            codec::put(out, u128::from(v));
        }
        for v in [self.pss_kb, self.uss_kb, self.swap_kb]
            .into_iter()
            .flatten()
        {
            codec::put(out, u128::from(v));
        }
        if let Some(t) = self.mem_tick {
            codec::put(out, u128::from(t));
        }
        // The flag byte is full: GPU memory as one number, 0 for unknown, KiB + 1.
        codec::put(out, self.gpu_kb.map_or(0, |kb| u128::from(kb) + 1));
    }

    fn decode(r: &mut codec::Reader) -> Marks {
        let ppid = r.get() as u32;
        let state = char::from_u32(r.get() as u32).unwrap_or('?');
        let bits = r.byte();
        let mut opt = |bit: u8| (bits & bit != 0).then(|| r.get());
        let reparented_from = opt(4).map(|v| v as u32);
        let leaked_since = opt(8).map(|v| v as u32);
        let pss_kb = opt(16).map(|v| v as u64);
        let uss_kb = opt(32).map(|v| v as u64);
        let swap_kb = opt(64).map(|v| v as u64);
        let mem_tick = opt(128).map(|v| v as u32);
        let gpu_kb = r.get().checked_sub(1).map(|v| v as u64);
        Marks {
            ppid,
            state,
            leaked: bits & 1 != 0,
            escaped: bits & 2 != 0,
            reparented_from,
            leaked_since,
            pss_kb,
            uss_kb,
            swap_kb,
            mem_tick,
            gpu_kb,
        }
    }
}

/// A frame's first byte.
const SAME_MEMBERS: u8 = 1;
/// Every RSS change in the frame is a whole number of 4 KiB pages (as from `/proc`)
/// and is stored in pages.
const IN_PAGES: u8 = 2;
/// A bitmap of the rows whose CPU time changed follows.
const CPU_BITMAP: u8 = 4;
/// A bitmap of the rows whose parent, state or leak marks changed follows.
const MARKS_BITMAP: u8 = 8;

fn bitmap(out: &mut Vec<u8>, bits: impl Iterator<Item = bool>) {
    let mut byte = 0u8;
    let mut n = 0;
    for bit in bits {
        byte |= u8::from(bit) << (n % 8);
        n += 1;
        if n % 8 == 0 {
            out.push(byte);
            byte = 0;
        }
    }
    if n % 8 != 0 {
        out.push(byte);
    }
}

fn read_bitmap(r: &mut codec::Reader, n: usize) -> Vec<bool> {
    let bytes: Vec<u8> = (0..n.div_ceil(8)).map(|_| r.byte()).collect();
    (0..n).map(|k| bytes[k / 8] & (1 << (k % 8)) != 0).collect()
}

impl History {
    /// The history of a replay: each tick pushed is read again from `recorded` when
    /// wanted (its place must be in the index first), not kept.
    pub fn recorded(recorded: Recorded) -> History {
        History {
            recorded: Some(recorded),
            ..History::default()
        }
    }

    pub fn push(&mut self, tick: Tick) {
        grow_gently(&mut self.totals, 1);
        self.totals.push(Totals {
            tick: tick.tick,
            total_rss_kb: tick.total_rss_kb(),
            leaked_rss_kb: tick.leaked_rss_kb(),
        });
        for e in &tick.events {
            if let Event::RootRestarted { pid, previous, .. } = *e {
                self.restarts.push(Restart {
                    index: self.frames.len(),
                    tick: tick.tick,
                    pid,
                    previous,
                });
            }
        }
        let mut landmark = self.landmark_of(&tick);
        let alerts_known = self.alert_table.len();
        if self.recorded.is_some() {
            for a in &tick.alerts {
                self.alert_index(a);
            }
            grow_gently(&mut self.frames, 1);
            self.frames.push(Frame {
                tick: tick.tick,
                root_alive: tick.root_alive,
                elapsed_ms: tick.elapsed_ms,
                time_ms: tick.time_ms,
                offset: 0,
            });
        } else {
            self.encode(&tick);
        }
        if self.alert_table.len() > alerts_known {
            landmark |= Landmark::ALERT;
        }
        if !landmark.is_empty() {
            self.landmarks.push((self.frames.len() - 1, landmark));
        }
        self.before_newest = self.newest.replace(tick);
    }

    /// The landmark of `tick`, the next to be pushed, but for alerts (known once it
    /// is encoded): its new leaks, restarts and exits.
    fn landmark_of(&self, tick: &Tick) -> Landmark {
        let mut landmark = Landmark::default();
        let was_leaked = |p: &ProcRow| {
            self.newest.as_ref().is_some_and(|n| {
                n.processes
                    .iter()
                    .any(|q| q.leaked && q.pid == p.pid && q.start == p.start)
            })
        };
        let new_leak = tick.processes.iter().any(|p| {
            p.leaked
                && match p.leaked_since {
                    Some(since) => since == tick.tick,
                    None => !was_leaked(p),
                }
        });
        if new_leak {
            landmark |= Landmark::LEAK;
        }
        for e in &tick.events {
            match e {
                Event::RootRestarted { .. } => landmark |= Landmark::RESTART,
                Event::RootExited { .. } | Event::OrphanExited { .. } => landmark |= Landmark::EXIT,
                _ => {}
            }
        }
        landmark
    }

    /// The nearest landmark after history `index` (`forward`) or before it, with its
    /// index. A binary search: as quick on a day's history as on a minute's.
    pub fn landmark_from(&self, index: usize, forward: bool) -> Option<(usize, Landmark)> {
        let at = self.landmarks.partition_point(|l| l.0 <= index);
        if forward {
            self.landmarks.get(at).copied()
        } else {
            let before = self.landmarks.partition_point(|l| l.0 < index);
            before.checked_sub(1).map(|i| self.landmarks[i])
        }
    }

    /// Every landmark so far: `(history index, what)`, ascending.
    pub fn landmarks(&self) -> &[(usize, Landmark)] {
        &self.landmarks
    }

    fn encode(&mut self, tick: &Tick) {
        let keyframe = self.frames.len().is_multiple_of(KEYFRAME_EVERY);
        let rows: Vec<(u32, Values)> = tick
            .processes
            .iter()
            .map(|p| (self.intern(p), Values::of(p)))
            .collect();
        let same_members = !keyframe
            && rows.len() == self.last_rows.len()
            && rows.iter().zip(&self.last_rows).all(|(a, b)| a.0 == b.0);
        let offset = self.data.len();
        grow_gently(&mut self.data, 64 * 1024);
        grow_gently(&mut self.frames, 1);
        let before: HashMap<u32, Values> = if same_members || keyframe {
            HashMap::new()
        } else {
            self.last_rows.iter().copied().collect()
        };
        let bases: Vec<Values> = rows
            .iter()
            .enumerate()
            .map(|(k, (index, _))| {
                if keyframe {
                    Values::default()
                } else if same_members {
                    self.last_rows[k].1
                } else {
                    before.get(index).copied().unwrap_or_default()
                }
            })
            .collect();
        let changes = || rows.iter().map(|r| r.1).zip(bases.iter().copied());
        let rss_change = |(v, b): (Values, Values)| i128::from(v.rss_kb) - i128::from(b.rss_kb);
        let in_pages = changes().all(|c| rss_change(c) % 4 == 0);
        let cpu_changed = changes().any(|(v, b)| v.cpu_ms != b.cpu_ms);
        let marks_changed = changes().any(|(v, b)| v.marks != b.marks);

        let out = &mut self.data;
        out.push(
            [
                (same_members, SAME_MEMBERS),
                (in_pages, IN_PAGES),
                (cpu_changed, CPU_BITMAP),
                (marks_changed, MARKS_BITMAP),
            ]
            .iter()
            .filter(|(on, _)| *on)
            .fold(0, |head, (_, bit)| head | bit),
        );
        if !same_members {
            codec::put(out, rows.len() as u128);
            for (index, _) in &rows {
                codec::put(out, u128::from(*index));
            }
        }
        if cpu_changed {
            bitmap(out, changes().map(|(v, b)| v.cpu_ms != b.cpu_ms));
        }
        if marks_changed {
            bitmap(out, changes().map(|(v, b)| v.marks != b.marks));
        }
        let unit = if in_pages { 4 } else { 1 };
        for (v, b) in changes() {
            codec::put(out, codec::zigzag(rss_change((v, b)) / unit));
            if v.cpu_ms != b.cpu_ms {
                codec::put_delta(out, b.cpu_ms, v.cpu_ms);
            }
            if v.marks != b.marks {
                v.marks.encode(out);
            }
        }
        self.last_rows = rows;

        let f = self.frames.len();
        if !tick.events.is_empty() {
            self.events
                .push((f, tick.events.clone().into_boxed_slice()));
        }
        let standing: Vec<u32> = tick.alerts.iter().map(|a| self.alert_index(a)).collect();
        if self.alert_runs.last().map_or(&[][..], |r| &r.1[..]) != standing.as_slice() {
            self.alert_runs.push((f, standing.into_boxed_slice()));
        }
        self.frames.push(Frame {
            tick: tick.tick,
            root_alive: tick.root_alive,
            elapsed_ms: tick.elapsed_ms,
            time_ms: tick.time_ms,
            offset,
        });
    }

    fn alert_index(&mut self, a: &Alert) -> u32 {
        *self.alert_ids.entry(key(a)).or_insert_with(|| {
            self.alert_table.push(a.clone());
            (self.alert_table.len() - 1) as u32
        })
    }

    /// The index of this process's static facts, added if new (or if it exec'd).
    fn intern(&mut self, p: &ProcRow) -> u32 {
        let id = p.id();
        if let Some(&i) = self.ids.get(&id) {
            let known = &self.procs[i as usize];
            if *known.name == p.name && *known.cmd == p.cmd {
                return i;
            }
        }
        let i = self.procs.len() as u32;
        self.procs.push(ProcInfo {
            pid: p.pid,
            start: p.start,
            name: p.name.as_str().into(),
            cmd: p.cmd.as_str().into(),
        });
        self.ids.insert(id, i);
        i
    }

    pub fn len(&self) -> usize {
        self.frames.len()
    }

    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    pub fn newest(&self) -> Option<&Tick> {
        self.newest.as_ref()
    }

    /// The tick at `index`, decoded (the newest two are cloned).
    pub fn get(&self, index: usize) -> Option<Tick> {
        if index + 1 == self.len() {
            return self.newest.clone();
        }
        self.decode(index, false).0
    }

    /// The tick at `index` and the one before it, decoded in one pass.
    pub fn pair(&self, index: usize) -> (Option<Tick>, Option<Tick>) {
        if index + 1 == self.len() {
            return (self.newest.clone(), self.before_newest.clone());
        }
        self.decode(index, true)
    }

    /// Decodes from the keyframe at or before the first tick wanted up to `index`.
    fn decode(&self, index: usize, with_before: bool) -> (Option<Tick>, Option<Tick>) {
        if index >= self.len() {
            return (None, None);
        }
        if let Some(r) = &self.recorded {
            let before = index.checked_sub(1).filter(|_| with_before);
            return (r.read(index), before.and_then(|i| r.read(i)));
        }
        let first = if with_before {
            index.saturating_sub(1)
        } else {
            index
        };
        let mut rows = Vec::new();
        let mut before = None;
        for f in first - first % KEYFRAME_EVERY..=index {
            self.decode_frame(f, &mut rows);
            if with_before && f + 1 == index {
                before = Some(self.tick_of(f, &rows));
            }
        }
        (Some(self.tick_of(index, &rows)), before)
    }

    /// Every tick in order, decoded one after the other (a replay's read again from
    /// its file, but for any it can no longer read).
    pub fn iter(&self) -> impl Iterator<Item = Tick> + '_ {
        let mut rows = Vec::new();
        (0..self.len()).filter_map(move |f| match &self.recorded {
            Some(r) => r.read(f),
            None => {
                self.decode_frame(f, &mut rows);
                Some(self.tick_of(f, &rows))
            }
        })
    }

    /// Replaces `rows` (frame `f - 1`'s rows, ignored at a keyframe) with frame `f`'s.
    fn decode_frame(&self, f: usize, rows: &mut Vec<(u32, Values)>) {
        let keyframe = f.is_multiple_of(KEYFRAME_EVERY);
        let mut r = codec::Reader::new(&self.data, self.frames[f].offset);
        let head = r.byte();
        if head & SAME_MEMBERS == 0 {
            let before: HashMap<u32, Values> = if keyframe {
                HashMap::new()
            } else {
                rows.drain(..).collect()
            };
            let n = r.get() as usize;
            let members: Vec<u32> = (0..n).map(|_| r.get() as u32).collect();
            rows.clear();
            rows.extend(
                members
                    .into_iter()
                    .map(|i| (i, before.get(&i).copied().unwrap_or_default())),
            );
        }
        let n = rows.len();
        let cpu = (head & CPU_BITMAP != 0).then(|| read_bitmap(&mut r, n));
        let marks = (head & MARKS_BITMAP != 0).then(|| read_bitmap(&mut r, n));
        let unit = if head & IN_PAGES != 0 { 4 } else { 1 };
        for (k, (_, v)) in rows.iter_mut().enumerate() {
            let d = codec::unzigzag(r.get()) * unit;
            v.rss_kb = (i128::from(v.rss_kb) + d) as u64;
            if cpu.as_ref().is_some_and(|c| c[k]) {
                v.cpu_ms = r.delta(v.cpu_ms);
            }
            if marks.as_ref().is_some_and(|m| m[k]) {
                v.marks = Marks::decode(&mut r);
            }
        }
    }

    fn tick_of(&self, f: usize, rows: &[(u32, Values)]) -> Tick {
        let frame = &self.frames[f];
        Tick {
            tick: frame.tick,
            elapsed_ms: frame.elapsed_ms,
            time_ms: frame.time_ms,
            root_alive: frame.root_alive,
            processes: rows.iter().map(|(i, v)| self.row(*i, v)).collect(),
            events: self
                .events
                .binary_search_by_key(&f, |e| e.0)
                .map_or_else(|_| Vec::new(), |i| self.events[i].1.to_vec()),
            alerts: match self.alert_runs.partition_point(|r| r.0 <= f) {
                0 => Vec::new(),
                i => self.alert_runs[i - 1]
                    .1
                    .iter()
                    .map(|&a| self.alert_table[a as usize].clone())
                    .collect(),
            },
        }
    }

    fn row(&self, index: u32, v: &Values) -> ProcRow {
        let info = &self.procs[index as usize];
        ProcRow {
            pid: info.pid,
            ppid: v.marks.ppid,
            state: v.marks.state,
            rss_kb: v.rss_kb,
            start: info.start,
            cpu_ms: v.cpu_ms,
            name: info.name.to_string(),
            cmd: info.cmd.to_string(),
            leaked: v.marks.leaked,
            reparented_from: v.marks.reparented_from,
            escaped: v.marks.escaped,
            leaked_since: v.marks.leaked_since,
            pss_kb: v.marks.pss_kb,
            uss_kb: v.marks.uss_kb,
            swap_kb: v.marks.swap_kb,
            mem_tick: v.marks.mem_tick,
            gpu_kb: v.marks.gpu_kb,
        }
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

    /// One process's RSS at the ticks it was alive: `(tick, rss_kb)`. Every tick while
    /// that decodes at most [`SERIES_ROW_BUDGET`] rows; beyond, every keyframe and every
    /// tick since the last one. A replay reads the ticks around history index `near`
    /// (where the process is shown) and a few beyond ([`Recorded::rss_of`]).
    pub fn rss_of(&self, id: Identity, near: usize) -> Vec<(u32, u64)> {
        if let Some(r) = &self.recorded {
            return r.rss_of(id, near, self.len());
        }
        let is_it = |i: u32| {
            let p = &self.procs[i as usize];
            p.pid == id.pid && p.start == id.start
        };
        let mut series = Vec::new();
        let mut rows = Vec::new();
        let mut take = |f: usize, rows: &[(u32, Values)]| {
            if let Some((_, v)) = rows.iter().find(|(i, _)| is_it(*i)) {
                series.push((self.frames[f].tick, v.rss_kb));
            }
        };
        let len = self.len();
        let rows_per_tick = self.last_rows.len().max(1);
        let every_tick_from = if len.saturating_mul(rows_per_tick) <= SERIES_ROW_BUDGET {
            0
        } else {
            let last_key = (len - 1) - (len - 1) % KEYFRAME_EVERY;
            for f in (0..last_key).step_by(KEYFRAME_EVERY) {
                self.decode_frame(f, &mut rows);
                take(f, &rows);
            }
            last_key
        };
        for f in every_tick_from..len {
            self.decode_frame(f, &mut rows);
            take(f, &rows);
        }
        series
    }

    /// Bytes held on the heap, roughly (for the long-run memory test).
    pub fn heap_bytes(&self) -> usize {
        use std::mem::size_of;
        let procs: usize = self.procs.iter().map(|p| p.name.len() + p.cmd.len()).sum();
        let extras: usize = self
            .events
            .iter()
            .map(|e| e.1.len() * size_of::<Event>())
            .chain(self.alert_runs.iter().map(|r| 24 + r.1.len() * 4))
            .chain(
                self.alert_table
                    .iter()
                    .map(|a| size_of::<Alert>() + a.reason.len() + 24),
            )
            .sum();
        self.data.capacity()
            + self.frames.capacity() * size_of::<Frame>()
            + self.procs.capacity() * size_of::<ProcInfo>()
            + procs
            + extras
            + self.ids.capacity() * (size_of::<Identity>() + size_of::<u32>() + 8)
            + self.totals.capacity() * size_of::<Totals>()
            + self.landmarks.capacity() * size_of::<(usize, Landmark)>()
            + self.recorded.as_ref().map_or(0, Recorded::heap_bytes)
    }

    /// Processes whose names and command lines are held: every distinct one (by
    /// identity and command) in a live history, none in a replay's.
    pub fn processes_held(&self) -> usize {
        self.procs.len()
    }
}

/// Makes room for `need` more by an eighth of what is held, not by doubling: these
/// vectors grow for as long as the view runs.
fn grow_gently<T>(v: &mut Vec<T>, need: usize) {
    if v.capacity() - v.len() < need {
        v.reserve_exact(
            (v.len() / 8)
                .max(need)
                .max(4096 / std::mem::size_of::<T>().max(1)),
        );
    }
}

/// What an alert is about; its reason's numbers move every tick.
type AlertKey = (AlertKind, u32, u64, u32);

fn key(a: &Alert) -> AlertKey {
    (a.kind, a.pid, a.start, a.since_tick)
}
