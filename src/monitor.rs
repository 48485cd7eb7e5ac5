//! The sampling loop's core: a sampler, a tracker and a clock, one tick per `step`.
//! Shared by `record`, the TUI and `run`.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::host::{ExeId, Host, Memory};
use crate::model::alerts::{AlertConfig, AlertDetector};
use crate::model::tracker::Outside;
use crate::model::{Event, Header, ProcRow, Tick, Tracker};
use crate::sample::{
    self, Backend, Comm, Command, Identity, ProcSample, SampleError, Sampler, StartClock,
};

mod gpu;

/// The default leak grace: an orphan that exits by itself within a second (a pool's
/// worker seeing EOF, a shutdown draining) is not a leak.
pub const LEAK_GRACE: Duration = Duration::from_secs(1);

#[derive(Debug, thiserror::Error)]
pub enum AttachError {
    #[error("no process with PID {0}")]
    NoSuchProcess(u32),
    #[error("PID {0} exists but its /proc entry cannot be read (permission denied?)")]
    Unreadable(u32),
    #[error("{tid} is a thread of process {pid}, not a process: watch --pid {pid}")]
    Thread { tid: u32, pid: u32 },
    #[error(transparent)]
    Sample(#[from] SampleError),
}

pub struct Monitor {
    host: Arc<dyn Host>,
    sampler: Box<dyn Sampler + Send>,
    tracker: Tracker,
    header: Header,
    started: Instant,
    members: Vec<Identity>,
    samples: Vec<ProcSample>,
    alerts: AlertDetector,
    /// `--follow`: when the root exits, a new process matching this takes over.
    follow: Option<String>,
    /// leaktop is the family's subreaper (`run`, `demo`): its children are members.
    adopter: bool,
    adopted: Vec<u32>,
    /// leaktop's own executable: a process running it is another leaktop, never a
    /// member. `None` when the root runs it too (the demo's helpers are leaktop).
    leaktop_exe: Option<ExeId>,
    /// What the root runs and who its parent is, kept while it lives, for `--follow`.
    marks: RootMarks,
    /// `--follow`: processes first seen at the root's last live tick or later, not of
    /// the family: the candidates for its restart (pid + start, first seen at ms).
    fresh: Vec<(Identity, u64)>,
    /// The last restart `--follow` made, and the rule that chose it.
    restart: Option<Restart>,
    /// The root was an orphan at attach, and it is not a daemon by design.
    orphan_root: Option<String>,
    /// Last-known PSS/USS/swap of the members, with when they were read.
    memory: HashMap<Identity, Measured>,
    /// Read PSS/USS/swap at all (`record --no-pss` turns it off).
    measure_pss: bool,
    /// `--metrics`: where each tick's figures are published.
    metrics: Option<crate::metrics::TickPublisher>,
    /// The processes the user is looking at (the view's selected subtree): measured
    /// right after the leaked ones.
    focus: HashSet<Identity>,
    /// GPU memory of the members ([`gpu`]).
    gpu: gpu::GpuWatch,
}

/// What a restarted root must share with the root that exited (see
/// [`plausible_restart`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RootMarks {
    /// The root's executable, if it could be read.
    pub exe: Option<ExeId>,
    /// The base name of the root's argv[0].
    pub argv0: String,
    /// The root's name when `exe` and `argv0` were read: a new name means an `exec`.
    pub comm: Comm,
    /// The root's parent at its last live tick: the supervisor, if it has one.
    pub parent: u32,
}

/// A root that `--follow` moved, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restart {
    /// The new root.
    pub pid: u32,
    /// The root that had exited.
    pub previous: u32,
    /// The rule that made it a plausible restart, in words.
    pub rule: String,
}

/// What [`Monitor`] knows of one process's memory.
#[derive(Debug, Clone, Copy)]
struct Measured {
    /// The last successful read and the tick it was made at.
    known: Option<(Memory, u32)>,
    /// The tick of the last attempt, successful or not.
    tried: u32,
    /// The process's RSS (KiB) and leaked mark at the last attempt.
    rss_kb: u64,
    leaked: bool,
}

/// How long a process's memory figures stay fresh while nothing suggests they moved.
pub const MEMORY_REFRESH: Duration = Duration::from_secs(30);

/// Whether `row`'s memory is due a read: never read (or unreadable so far); its RSS or
/// its leaked mark changed since; a member exited this tick (its shared pages now
/// divide among fewer: PSS moves with no change of RSS); or it was last tried
/// `refresh` ticks ago or more. A leak of sleeping workers is then read once, not
/// every tick.
fn memory_due(row: &ProcRow, m: Option<&Measured>, tick: u32, refresh: u32, exits: bool) -> bool {
    match m {
        None => true,
        Some(m) => {
            m.known.is_none()
                || exits
                || m.rss_kb != row.rss_kb
                || m.leaked != row.leaked
                || tick.saturating_sub(m.tried) >= refresh
        }
    }
}

/// The share of the interval that memory reads (`smaps_rollup`) may take: a tenth.
pub const MEMORY_BUDGET_SHARE: u32 = 10;

impl Monitor {
    /// Starts watching `pid` and the family it grows. `subreapers` are pids known to
    /// adopt orphans (leaktop itself under `run`).
    pub fn attach(
        pid: u32,
        backend: Backend,
        interval: Duration,
        subreapers: Vec<u32>,
    ) -> Result<Self, AttachError> {
        Self::attach_with(sample::open(backend)?, pid, interval, subreapers)
    }

    /// [`Monitor::attach`] with a sampler of the caller's.
    pub fn attach_with(
        sampler: Box<dyn Sampler + Send>,
        pid: u32,
        interval: Duration,
        subreapers: Vec<u32>,
    ) -> Result<Self, AttachError> {
        Self::attach_on(crate::host::real(), sampler, pid, interval, subreapers)
    }

    /// [`Monitor::attach`] on a host and with a sampler of the caller's. leaktop's own
    /// pid and the kernel's list of its children come from `host`.
    pub fn attach_on(
        host: Arc<dyn Host>,
        mut sampler: Box<dyn Sampler + Send>,
        pid: u32,
        interval: Duration,
        subreapers: Vec<u32>,
    ) -> Result<Self, AttachError> {
        if let Some(process) = host.thread_group(pid)
            && process != pid
        {
            return Err(AttachError::Thread {
                tid: pid,
                pid: process,
            });
        }
        let root = match sampler.probe(pid) {
            Some(root) if pid != 0 => root,
            _ if host.exists(pid) => return Err(AttachError::Unreadable(pid)),
            _ => return Err(AttachError::NoSuchProcess(pid)),
        };
        let command = settled_command(sampler.as_mut(), root.id());
        let me = host.own_pid();
        let marks = RootMarks {
            exe: host.exe_id(pid),
            argv0: argv0_base(&command),
            comm: root.comm,
            parent: root.ppid,
        };
        // A root that runs leaktop (the demo's server) keeps its leaktop children.
        let leaktop_exe = host.exe_id(me).filter(|&exe| marks.exe != Some(exe));
        let orphan_root = (pid != 1)
            .then(|| orphan_note(&root, host.as_ref()))
            .flatten();
        let adopter = subreapers.contains(&me);
        let root_parent = sampler.probe(root.ppid);
        let root_ancestors = ancestors(sampler.as_mut(), root.ppid);
        let header = Header {
            root_pid: pid,
            root_start: root.start,
            root_cmd: command.cmd.clone(),
            interval_ms: interval.as_millis() as u64,
            started_ms: now_ms(),
            host: host_name(),
        };
        let tracker = Tracker::new(
            root,
            command,
            Outside {
                root_parent,
                root_ancestors,
                subreapers,
                watcher: Some(me),
                watcher_ancestors: match sampler.probe(me) {
                    Some(s) => ancestors(sampler.as_mut(), s.ppid),
                    None => Vec::new(),
                },
            },
        );
        let started = host.now();
        Ok(Monitor {
            host,
            sampler,
            tracker,
            header,
            started,
            members: Vec::new(),
            samples: Vec::new(),
            alerts: AlertDetector::new(AlertConfig::default()),
            follow: None,
            adopter,
            adopted: Vec::new(),
            leaktop_exe,
            marks,
            fresh: Vec::new(),
            restart: None,
            orphan_root,
            memory: HashMap::new(),
            measure_pss: true,
            metrics: None,
            focus: HashSet::new(),
            gpu: gpu::GpuWatch::default(),
        }
        .with_leak_grace(LEAK_GRACE))
    }

    pub fn header(&self) -> &Header {
        &self.header
    }

    /// Processes that are never members, whatever their parent: under `run`, the
    /// children leaktop already had before CMD started (inherited through `exec`).
    pub fn excluding(mut self, ids: &[Identity]) -> Self {
        for &id in ids {
            self.tracker.exclude(id);
        }
        self
    }

    /// Alert thresholds other than the defaults.
    pub fn with_alerts(mut self, config: AlertConfig) -> Self {
        self.alerts = AlertDetector::new(config);
        self
    }

    /// How long an orphan must outlive its parent (or the family its root) before it is
    /// called leaked; never less than one interval. The default is [`LEAK_GRACE`].
    pub fn with_leak_grace(mut self, grace: Duration) -> Self {
        let interval = Duration::from_millis(self.header.interval_ms);
        self.tracker
            .set_leak_grace(grace.max(interval).as_millis() as u64);
        self
    }

    /// Whether to read PSS, USS and swap (`/proc/PID/smaps_rollup`) within the budget;
    /// on by default. Off, those figures stay unknown (`None`), never 0.
    pub fn measuring_pss(mut self, on: bool) -> Self {
        self.measure_pss = on;
        self
    }

    /// Keeps watching across restarts: once the root has exited, a plausible restart
    /// of it (see [`plausible_restart`]) whose command matches `pattern` becomes the
    /// root.
    pub fn following(mut self, pattern: Option<String>) -> Self {
        self.follow = pattern;
        self
    }

    /// How start times map to wall time (for process ages).
    pub fn start_clock(&self) -> Option<StartClock> {
        self.sampler.start_clock()
    }

    pub fn tracker(&self) -> &Tracker {
        &self.tracker
    }

    /// The last restart `--follow` made and the rule that chose the new root; the
    /// step that made it returns a tick with its `RootRestarted` event.
    pub fn last_restart(&self) -> Option<&Restart> {
        self.restart.as_ref()
    }

    /// Set when the root's parent was gone at attach: it had been adopted by PID 1
    /// and is not a daemon by design (see [`orphan_note`]). Says so in words.
    pub fn orphan_root(&self) -> Option<&str> {
        self.orphan_root.as_deref()
    }

    /// Publishes every tick's figures to `state` (`--metrics`), with the wall time its
    /// sampling took.
    pub fn with_metrics(mut self, state: Option<Arc<crate::metrics::MetricsState>>) -> Self {
        self.metrics = state.map(crate::metrics::TickPublisher::new);
        self
    }

    /// The processes whose PSS/USS to read right after the leaked ones' (the view's
    /// selected subtree); replaces the ones set before.
    pub fn set_focus(&mut self, ids: impl IntoIterator<Item = Identity>) {
        self.focus.clear();
        self.focus.extend(ids);
    }

    /// Samples once and returns the new tick.
    pub fn step(&mut self) -> Result<Tick, SampleError> {
        let began = self.host.now();
        self.tracker.members_to_sample(&mut self.members);
        self.samples.clear();
        self.sampler.sample(&self.members, &mut self.samples)?;
        if self.adopter {
            self.add_adopted();
        }
        self.exclude_leaktops();
        let sampler = &mut self.sampler;
        let elapsed = self.host.now().duration_since(self.started).as_millis() as u64;
        self.tracker
            .update_at(elapsed, &self.samples, &mut |id| sampler.command(id));
        if let Some(pattern) = self.follow.clone() {
            self.note_fresh(elapsed);
            if self.tracker.root_alive() {
                self.mark_root();
            } else {
                self.take_over(&pattern);
            }
        }
        let mut tick = self.tracker.snapshot(elapsed, now_ms());
        self.measure_memory(&mut tick);
        self.gpu
            .fill(self.host.as_ref(), &mut tick, self.header.interval_ms);
        tick.alerts = self.alerts.observe(&tick);
        if let Some(metrics) = &mut self.metrics {
            let took = self.host.now().saturating_duration_since(began);
            metrics.publish(&self.header, &tick, took);
        }
        Ok(tick)
    }
}

impl Monitor {
    /// Reads PSS/USS/swap (`Host::memory`, 20-300x a `stat` read) for as many members
    /// as a tenth of the interval allows, leaked ones first (the least recently tried
    /// first), then the focus (the view's selected subtree, likewise), then the others
    /// round-robin, the largest RSS first among equals ([`memory_order`]); at least
    /// one per tick. Fills every row with
    /// its last-known figures and the tick they were read at.
    fn measure_memory(&mut self, tick: &mut Tick) {
        if !self.measure_pss {
            return;
        }
        let interval = Duration::from_millis(self.header.interval_ms);
        let budget = interval / MEMORY_BUDGET_SHARE;
        let refresh = (MEMORY_REFRESH.as_millis() / interval.as_millis().max(1)).max(1) as u32;
        let exits = tick
            .events
            .iter()
            .any(|e| matches!(e, Event::Exited { .. }));
        let memory = &self.memory;
        let due = tick
            .processes
            .iter()
            .filter(|r| memory_due(r, memory.get(&r.id()), tick.tick, refresh, exits));
        let order = memory_order(due, |id| memory.get(&id).map(|m| m.tried), &self.focus);
        let began = self.host.now();
        for (i, id) in order.ids.iter().enumerate() {
            if i > 0 && self.host.now().duration_since(began) >= budget {
                break;
            }
            let read = self.host.memory(*id);
            let Some(row) = tick.processes.iter().find(|r| r.id() == *id) else {
                continue;
            };
            let entry = self.memory.entry(*id).or_insert(Measured {
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
        self.memory
            .retain(|id, _| tick.processes.iter().any(|p| p.id() == *id));
        for row in &mut tick.processes {
            if let Some(Measured {
                known: Some((m, at)),
                ..
            }) = self.memory.get(&row.id())
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

impl Monitor {
    /// Makes sure every child of leaktop is sampled. As the family's subreaper leaktop
    /// is the parent of every orphan it made, so the kernel's own list of its children
    /// catches any that pid discovery could have missed between two ticks.
    fn add_adopted(&mut self) {
        self.adopted.clear();
        self.host
            .children_of(self.host.own_pid(), &mut self.adopted);
        for &pid in &self.adopted {
            // Members are sampled already; a newcomer only once.
            if self.tracker.member(pid).is_none()
                && self.samples.iter().all(|s| s.pid != pid)
                && let Some(s) = self.sampler.probe(pid)
            {
                self.samples.push(s);
            }
        }
    }

    /// Tells the tracker which of this tick's processes are other leaktops (by their
    /// executable, not their name): newcomers that could join the family, and members
    /// that have just exec'd (a shell that forked and then ran leaktop).
    fn exclude_leaktops(&mut self) {
        let Some(leaktop) = self.leaktop_exe else {
            return;
        };
        let me = self.host.own_pid();
        let root = self.tracker.root();
        for s in &self.samples {
            if s.pid == me || s.start < root.start || s.id() == root || s.has_exited() {
                continue;
            }
            let check = match self.tracker.member(s.pid) {
                Some(m) if m.id == s.id() => m.comm != s.comm,
                _ => !self.tracker.is_excluded(s.id()),
            };
            if check && self.host.exe_id(s.pid) == Some(leaktop) {
                self.tracker.exclude(s.id());
            }
        }
    }

    /// `--follow`: remembers this tick's newcomers that are not of the family. While
    /// the root lives only the latest tick's are kept (the root's last live tick
    /// bounds its successor's first sighting); once it has exited they gather, each
    /// kept a few ticks, long enough to see a forked child `exec` into the daemon.
    fn note_fresh(&mut self, now_ms: u64) {
        let keep_ms = (3 * self.header.interval_ms).max(1000);
        if self.tracker.root_alive() {
            self.fresh.clear();
        } else {
            self.fresh
                .retain(|&(_, seen)| seen.saturating_add(keep_ms) >= now_ms);
        }
        let me = self.host.own_pid();
        let root_start = self.tracker.root().start;
        let alive = self.tracker.root_alive();
        for s in &self.samples {
            let family = self.tracker.member(s.pid).is_some_and(|m| m.id == s.id());
            // Older than the root: no restart of it (at the first tick, most of the
            // machine). The sampler hands each newcomer over once, but `run` adds
            // leaktop's children again.
            if s.pid != me
                && s.start >= root_start
                && !family
                && !s.has_exited()
                && (alive || self.fresh.iter().all(|(id, _)| *id != s.id()))
            {
                self.fresh.push((s.id(), now_ms));
            }
        }
    }

    /// Keeps the living root's marks up to date: its parent, and what it runs after
    /// an `exec`.
    fn mark_root(&mut self) {
        let root = self.tracker.root();
        let Some(m) = self.tracker.member(root.pid) else {
            return;
        };
        self.marks.parent = m.last.ppid;
        if m.comm != self.marks.comm {
            self.marks.comm = m.comm;
            self.marks.argv0 = argv0_base(&m.command);
            self.marks.exe = self.host.exe_id(root.pid);
        }
    }

    /// Looks among the processes first seen since the root's last live tick for its
    /// successor: a plausible restart (see [`plausible_restart`]) that matches the
    /// pattern and is neither of the old generation nor a leaktop.
    fn take_over(&mut self, pattern: &str) {
        let old = self.tracker.root();
        let supervisor_alive =
            self.marks.parent > 1 && self.sampler.probe(self.marks.parent).is_some();
        let mut best: Option<(Rank, ProcSample, Command, String)> = None;
        for &(id, _) in &self.fresh {
            let Some(s) = self.sampler.probe(id.pid) else {
                continue;
            };
            if s.start != id.start
                || s.start < old.start
                || s.has_exited()
                || self.tracker.is_excluded(id)
                || self.tracker.member(id.pid).is_some_and(|m| m.id == id)
            {
                continue;
            }
            let Some(command) = self.sampler.command(id) else {
                continue;
            };
            if !command.matches(pattern) {
                continue;
            }
            let exe = self.host.exe_id(id.pid);
            if exe.is_some() && exe == self.leaktop_exe {
                continue;
            }
            let candidate = Candidate {
                ppid: s.ppid,
                exe,
                argv0: argv0_base(&command),
            };
            let Some((rank, rule)) =
                plausible_restart(&self.marks, old.pid, supervisor_alive, &candidate)
            else {
                continue;
            };
            let better = best
                .as_ref()
                .is_none_or(|(r, b, ..)| (rank, s.start, s.pid) < (*r, b.start, b.pid));
            if better {
                best = Some((rank, s, command, rule));
            }
        }
        let Some((_, s, command, rule)) = best else {
            return;
        };
        let sampler = &mut self.sampler;
        self.tracker
            .follow(s, command, &self.samples, &mut |id| sampler.command(id));
        if self.tracker.root() == s.id() {
            self.restart = Some(Restart {
                pid: s.pid,
                previous: old.pid,
                rule,
            });
            self.fresh.clear();
            self.mark_root();
        }
    }
}

/// What [`plausible_restart`] looks at in a candidate for the new root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// Its parent.
    pub ppid: u32,
    /// Its executable, if it could be read.
    pub exe: Option<ExeId>,
    /// The base name of its argv[0].
    pub argv0: String,
}

/// How good a plausible restart is; smaller is better: a child of the old root's
/// parent (its supervisor) first, then the same executable over the same argv[0].
pub type Rank = (bool, bool);

/// Whether `c` is a plausible restart of the root that exited (`old`, whose marks are
/// `marks`), and if so how good a one and by which rule, in words. A plausible
/// restart runs the same executable as the old root (the file's device and inode), or
/// has the same argv[0] base name (an executable that cannot be read, or a binary
/// upgraded in place): a process that only mentions the pattern among its arguments
/// (`grep PATTERN`, an editor on a file so named, `watch pgrep -af PATTERN`) runs
/// something else. While the old root's parent (not init) is still alive, it is the
/// supervisor that restarts it, and only its children qualify.
pub fn plausible_restart(
    marks: &RootMarks,
    old: u32,
    supervisor_alive: bool,
    c: &Candidate,
) -> Option<(Rank, String)> {
    let same_exe = c.exe.is_some() && c.exe == marks.exe;
    let same_argv0 = !c.argv0.is_empty() && c.argv0 == marks.argv0;
    let what = if same_exe {
        format!("runs the same executable as root {old}")
    } else if same_argv0 && (c.exe.is_none() || marks.exe.is_none()) {
        format!(
            "its argv[0] is {:?} as root {old}'s was (the executable cannot be read)",
            c.argv0
        )
    } else if same_argv0 {
        // Both executables were read and differ: an upgraded binary, say.
        format!(
            "its argv[0] is {:?} as root {old}'s was (another executable file)",
            c.argv0
        )
    } else {
        return None;
    };
    let supervised = marks.parent > 1 && c.ppid == marks.parent;
    if !supervised && marks.parent > 1 && supervisor_alive {
        return None;
    }
    let whose = if supervised {
        format!(
            "a child of {}, the old root's parent (its supervisor)",
            c.ppid
        )
    } else {
        format!(
            "a child of {}; the old root's parent {} is gone or is init",
            c.ppid, marks.parent
        )
    };
    Some(((!supervised, !same_exe), format!("{what}; {whose}")))
}

/// The base name of a command's argv[0] (`/usr/bin/python3 -m x` → `python3`), or its
/// name when it has no command line.
pub fn argv0_base(command: &Command) -> String {
    if command.is_bare() {
        return command.name.clone();
    }
    let argv0 = command.cmd.split(' ').next().unwrap_or_default();
    argv0.rsplit('/').next().unwrap_or_default().to_string()
}

/// Why a root is called an orphan at attach, in words, or `None`: its parent is init
/// (PID 1 of its namespace) and it did not make itself a daemon on purpose (the
/// leader of its own session with its standard streams off any terminal). A
/// supervisor's service, a double-forked daemon and a `setsid` job are not orphans.
pub fn orphan_note(root: &ProcSample, host: &dyn Host) -> Option<String> {
    if root.ppid != 1 {
        return None;
    }
    let daemon = root.pid == root.session && host.stdio_on_terminal(root.pid) != Some(true);
    (!daemon).then(|| "root's parent is gone: adopted by PID 1".to_string())
}

/// `pid` and its ancestors up to init, parent first (pid + start time).
fn ancestors(sampler: &mut dyn Sampler, mut pid: u32) -> Vec<Identity> {
    let mut chain: Vec<Identity> = Vec::new();
    while pid > 0 && chain.iter().all(|a| a.pid != pid) {
        let Some(s) = sampler.probe(pid) else { break };
        chain.push(s.id());
        if pid == 1 {
            break;
        }
        pid = s.ppid;
    }
    chain
}

/// The root's command line. A root that `run` or `demo` has just spawned may still be
/// inside `exec`, with no command line yet (it would read as `[leaktop]`): give it a
/// few milliseconds to finish.
fn settled_command(sampler: &mut dyn Sampler, id: Identity) -> Command {
    let mut command = sampler.command(id).unwrap_or_default();
    for _ in 0..20 {
        if !command.is_bare() {
            break;
        }
        std::thread::sleep(Duration::from_millis(1));
        match sampler.command(id) {
            Some(c) => command = c,
            None => break,
        }
    }
    command
}

/// `--name PATTERN`: the oldest process whose command matches, if any.
pub fn find_by_name(backend: Backend, pattern: &str) -> Result<Option<u32>, SampleError> {
    Ok(find_all_by_name(backend, pattern)?.picked())
}

/// `--name PATTERN`: every process whose command matches, oldest first.
pub fn find_all_by_name(backend: Backend, pattern: &str) -> Result<NameMatches, SampleError> {
    let mut sampler = sample::open(backend)?;
    let all = sample::scan(sampler.as_mut())?;
    let command = |s: &ProcSample| sampler.command(s.id()).unwrap_or_default();
    Ok(all_matching(&all, command, pattern, std::process::id()))
}

/// What `--name PATTERN` found: the matching processes, oldest first, and the pids
/// of the descendants of the oldest among all processes.
#[derive(Debug, Clone, Default)]
pub struct NameMatches {
    /// The `--name` pattern.
    pub pattern: String,
    /// Oldest first (start time, then pid).
    pub matches: Vec<(ProcSample, Command)>,
    /// How many of the later matches are descendants of the first.
    pub under_first: usize,
}

impl NameMatches {
    /// The process `--name` watches: the oldest match.
    pub fn picked(&self) -> Option<u32> {
        self.matches.first().map(|(s, _)| s.pid)
    }

    /// The pids of every match, oldest first.
    pub fn pids(&self) -> Vec<u32> {
        self.matches.iter().map(|(s, _)| s.pid).collect()
    }

    /// With several matches, one line saying how many, which one is watched and why;
    /// `None` with one match or none.
    pub fn choice(&self) -> Option<String> {
        let [(first, command), rest @ ..] = self.matches.as_slice() else {
            return None;
        };
        if rest.is_empty() {
            return None;
        }
        let shown: Vec<String> = rest
            .iter()
            .take(5)
            .map(|(s, _)| s.pid.to_string())
            .collect();
        let more = if rest.len() > 5 {
            format!(" and {} more", rest.len() - 5)
        } else {
            String::new()
        };
        let why = if self.under_first == rest.len() {
            "the oldest; the others are its descendants, in its family".to_string()
        } else if self.under_first > 0 {
            format!(
                "the oldest; {} of the others are its descendants, the rest are not watched",
                self.under_first
            )
        } else {
            "the oldest; the others are not watched".to_string()
        };
        let cmd: String = command.cmd.chars().take(60).collect();
        Some(format!(
            "--name '{}' matches {} processes: watching {} ({cmd}), {why} ({}{more}); use --pid to choose another",
            self.pattern,
            self.matches.len(),
            first.pid,
            shown.join(", "),
        ))
    }
}

/// Every process whose name or command line contains `pattern`, oldest first, other
/// than leaktop itself and its ancestors (whose command lines contain the pattern
/// too).
pub fn all_matching(
    samples: &[ProcSample],
    mut command: impl FnMut(&ProcSample) -> Command,
    pattern: &str,
    me: u32,
) -> NameMatches {
    let by_pid: HashMap<u32, &ProcSample> = samples.iter().map(|s| (s.pid, s)).collect();
    let mut mine = vec![me];
    let mut p = me;
    while let Some(s) = by_pid.get(&p) {
        if s.ppid == 0 || mine.contains(&s.ppid) {
            break;
        }
        mine.push(s.ppid);
        p = s.ppid;
    }
    let mut matches: Vec<(ProcSample, Command)> = samples
        .iter()
        .filter(|s| !mine.contains(&s.pid) && !s.has_exited() && s.pid > 1)
        .filter_map(|s| {
            let c = command(s);
            c.matches(pattern).then_some((*s, c))
        })
        .collect();
    matches.sort_by_key(|(s, _)| (s.start, s.pid));
    let under_first = match matches.first() {
        Some((first, _)) => matches[1..]
            .iter()
            .filter(|(s, _)| {
                let mut p = s.ppid;
                for _ in 0..samples.len() {
                    if p == first.pid {
                        return true;
                    }
                    match by_pid.get(&p) {
                        Some(a) if p > 1 => p = a.ppid,
                        _ => return false,
                    }
                }
                false
            })
            .count(),
        None => 0,
    };
    NameMatches {
        pattern: pattern.to_string(),
        matches,
        under_first,
    }
}

/// The oldest process whose name or command line contains `pattern`, other than
/// leaktop itself and its ancestors (whose command lines contain the pattern too).
pub fn oldest_matching(
    samples: &[ProcSample],
    command: impl FnMut(&ProcSample) -> Command,
    pattern: &str,
    me: u32,
) -> Option<u32> {
    all_matching(samples, command, pattern, me).picked()
}

/// Wall time, ms since the Unix epoch.
pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// This machine's name (`uname -n`).
pub(crate) fn host_name() -> String {
    #[cfg(unix)]
    {
        rustix::system::uname()
            .nodename()
            .to_string_lossy()
            .into_owned()
    }
    #[cfg(not(unix))]
    {
        std::env::var("COMPUTERNAME").unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::{Comm, Command};

    fn s(pid: u32, ppid: u32, start: u64) -> ProcSample {
        ProcSample {
            pid,
            ppid,
            state: b'S',
            rss_kb: 0,
            pgrp: pid,
            session: pid,
            start,
            cpu_ms: 0,
            comm: Comm::new(format!("p{pid}").as_bytes()),
        }
    }

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
            |row: &ProcRow, m: Option<&Measured>, tick, exits| memory_due(row, m, tick, 30, exits);
        assert!(due(&row, None, 6, false), "never read");
        assert!(!due(&row, Some(&m), 6, false), "fresh and unchanged");
        assert!(due(&row, Some(&m), 35, false), "30 ticks old");
        assert!(
            due(&row, Some(&m), 6, true),
            "a member exited: PSS shares moved"
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

    #[test]
    fn oldest_match_skips_leaktop_and_its_ancestors() {
        let mut samples = vec![
            s(10, 1, 10),
            s(20, 10, 20),
            s(30, 1, 30),
            s(40, 1, 40),
            s(50, 1, 50),
        ];
        samples[2].start = 5; // 30 is the oldest but one
        samples[4].start = 1; // 50, another leaktop watching "serve", is the oldest
        let cmd = |p: &ProcSample| Command {
            name: if p.pid == 50 {
                "leaktop".into()
            } else {
                format!("p{}", p.pid)
            },
            cmd: match p.pid {
                10 => "sh -c leaktop --name serve".into(),
                20 | 50 => "leaktop --name serve".into(),
                _ => format!("cce serve {}", p.pid),
            },
        };
        assert_eq!(oldest_matching(&samples, cmd, "serve", 20), Some(30));
        assert_eq!(oldest_matching(&samples, cmd, "nothing", 20), None);
    }

    fn marks() -> RootMarks {
        RootMarks {
            exe: Some((8, 1001)),
            argv0: "python3".into(),
            comm: Comm::new(b"python3"),
            parent: 50,
        }
    }

    fn cand(ppid: u32, exe: Option<ExeId>, argv0: &str) -> Candidate {
        Candidate {
            ppid,
            exe,
            argv0: argv0.into(),
        }
    }

    #[test]
    fn a_restart_runs_what_the_old_root_ran() {
        // Issue 13, fault 4: `watch pgrep -af serve`, `grep serve`, `tail -f log |
        // grep serve`, `vim serve.log` and another leaktop all mention the pattern in
        // their arguments; none of them runs the daemon's executable.
        for (exe, argv0) in [
            ((8, 2001), "watch"),
            ((8, 2002), "grep"),
            ((8, 2003), "vim"),
            ((8, 2004), "leaktop"),
            ((8, 2005), "sh"),
        ] {
            assert_eq!(
                plausible_restart(&marks(), 100, true, &cand(50, Some(exe), argv0)),
                None,
                "{argv0}"
            );
        }
        let (rank, rule) =
            plausible_restart(&marks(), 100, true, &cand(50, Some((8, 1001)), "python3"))
                .expect("the supervisor's new python3 is a restart");
        assert_eq!(rank, (false, false));
        assert!(rule.contains("same executable as root 100"), "{rule}");
        assert!(
            rule.contains("child of 50, the old root's parent"),
            "{rule}"
        );
    }

    #[test]
    fn a_child_of_the_supervisor_and_the_same_file_rank_first() {
        let m = marks();
        let supervised = plausible_restart(&m, 100, true, &cand(50, Some((8, 1001)), "python3"));
        // While the supervisor lives, a python3 started elsewhere is not its restart.
        assert_eq!(
            plausible_restart(&m, 100, true, &cand(77, Some((8, 1001)), "python3")),
            None
        );
        let elsewhere = plausible_restart(&m, 100, false, &cand(77, Some((8, 1001)), "python3"));
        let unreadable = plausible_restart(&m, 100, true, &cand(50, None, "python3"));
        let upgraded = plausible_restart(&m, 100, true, &cand(50, Some((8, 9999)), "python3"));
        let (a, b, c, d) = (
            supervised.unwrap(),
            elsewhere.unwrap(),
            unreadable.unwrap(),
            upgraded.unwrap(),
        );
        assert!(a.0 < c.0 && c.0 < b.0, "{a:?} {b:?} {c:?}");
        assert!(b.1.contains("parent 50 is gone"), "{}", b.1);
        assert!(c.1.contains("cannot be read"), "{}", c.1);
        assert!(d.1.contains("another executable file"), "{}", d.1);
        // Init is no supervisor: its children get no preference.
        let orphan = RootMarks {
            parent: 1,
            ..marks()
        };
        let r =
            plausible_restart(&orphan, 100, true, &cand(1, Some((8, 1001)), "python3")).unwrap();
        assert_eq!(r.0, (true, false));
    }

    #[test]
    fn argv0_is_the_base_name_of_the_first_word() {
        let c = |name: &str, cmd: &str| Command {
            name: name.into(),
            cmd: cmd.into(),
        };
        assert_eq!(
            argv0_base(&c("python3", "/usr/bin/python3 -m cce serve")),
            "python3"
        );
        assert_eq!(
            argv0_base(&c("sh", "sh -c while :; do sleep 1; done serve")),
            "sh"
        );
        assert_eq!(argv0_base(&c("kworker/0", "[kworker/0]")), "kworker/0");
    }

    #[test]
    fn several_matches_are_counted_and_the_choice_explained() {
        let mut samples = vec![s(10, 1, 10), s(11, 10, 11), s(30, 1, 30), s(40, 2, 40)];
        samples[3].start = 5; // 40 is the oldest, and no relation of the others
        let cmd = |p: &ProcSample| Command {
            name: "python3".into(),
            cmd: format!("python3 -m cce serve {}", p.pid),
        };
        let found = all_matching(&samples, cmd, "cce serve", 999);
        assert_eq!(found.pids(), [40, 10, 11, 30]);
        assert_eq!(found.picked(), Some(40));
        let line = found.choice().unwrap();
        assert!(line.contains("matches 4 processes"), "{line}");
        assert!(
            line.contains("watching 40 (python3 -m cce serve 40), the oldest"),
            "{line}"
        );
        assert!(line.contains("(10, 11, 30)"), "{line}");
        assert!(line.contains("use --pid"), "{line}");
        // A daemon and its own workers: they are in its family, and it says so.
        let family = all_matching(&samples[..2], cmd, "cce serve", 999);
        let line = family.choice().unwrap();
        assert!(line.contains("the others are its descendants"), "{line}");
        // One match: nothing to say.
        assert_eq!(
            all_matching(&samples[..1], cmd, "cce serve", 999).choice(),
            None
        );
    }
}
