//! The figures `GET /metrics` serves: one snapshot, replaced whole at every tick.
//!
//! The sampler computes a tick's figures outside any lock and swaps them in; the
//! server clones the last snapshot under the same lock (a few dozen bytes) and encodes
//! it after letting go. Neither ever waits for the other's work.
//!
//! `orphans --watch` (which watches orphan groups, not one family) sets its own two
//! figures with [`MetricsState::set_orphans`]; a command publishes only the figures
//! it has, and the server shows only those.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crate::model::{AlertKind, Header, Tick};
use crate::sample::{IdSet, Identity};

/// Everything the server shows, as of the last publication.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Figures {
    /// The watched family's figures; `None` before its first tick (and always under
    /// `orphans --watch`).
    pub family: Option<FamilyFigures>,
    /// `orphans --watch`: the orphan groups on the machine; `None` elsewhere.
    pub orphans: Option<OrphanFigures>,
    /// `leaktop watch`: orphan groups by origin, orphanings, policy actions.
    pub watch: Option<super::watch::WatchFigures>,
}

/// One family's figures at its last tick. Counts are processes; memory is bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct FamilyFigures {
    /// The root's command name (its `comm`, `/proc/PID/stat`), the `root` label: a
    /// name, never a pid, so a restart does not start a new series.
    pub root: String,
    /// Members at the tick, leaked ones included (`leaktop_family_processes`).
    pub processes: u64,
    /// Members marked leaked (`leaktop_leaked_processes`).
    pub leaked: u64,
    /// The leaked members' RSS summed, bytes (`/proc/PID/stat`).
    pub leaked_rss_bytes: u64,
    /// The leaked members' last-known PSS summed, bytes (`smaps_rollup`); `None`
    /// while any leaked member's PSS is unknown: a partial sum would read as a fall.
    pub leaked_pss_bytes: Option<u64>,
    /// The leaked members' GPU memory summed, bytes (`leaktop_leaked_gpu_memory_bytes`:
    /// NVML, DRM fdinfo); `None` while any leaked member's is unknown, and where no
    /// GPU was found: the series is then left out, never shown as 0.
    pub leaked_gpu_bytes: Option<u64>,
    /// Members that escaped the family (`leaktop_escaped_processes`).
    pub escaped: u64,
    /// Standing alerts by kind: every kind the model knows, 0 when none stands.
    pub alerts: BTreeMap<AlertKind, u64>,
    /// Processes newly marked leaked since leaktop started (`leaktop_leaks_total`).
    pub leaks_total: u64,
    /// Whether the root was alive at the tick (`leaktop_root_up`).
    pub root_up: bool,
    /// Wall time the last tick's sampling took, seconds (`leaktop_tick_seconds`).
    pub tick_seconds: f64,
}

/// What `orphans --watch` reports: orphan groups on the machine and their memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrphanFigures {
    /// Orphan groups standing (`leaktop_orphan_groups`).
    pub groups: u64,
    /// Their memory summed, bytes (`leaktop_orphaned_memory_bytes`); `None` when
    /// unknown (the series is then left out, never shown as 0).
    pub memory_bytes: Option<u64>,
    /// Their GPU memory summed, bytes (`leaktop_orphaned_gpu_memory_bytes`); `None`
    /// when unknown or no GPU was found (the series is then left out).
    pub gpu_bytes: Option<u64>,
}

/// The snapshot shared by the sampler (writer) and the server (reader).
#[derive(Debug, Default)]
pub struct MetricsState {
    figures: Mutex<Figures>,
}

impl MetricsState {
    pub fn new() -> Arc<MetricsState> {
        Arc::new(MetricsState::default())
    }

    /// A copy of the last published figures (the lock is held for the copy only).
    pub fn snapshot(&self) -> Figures {
        self.lock().clone()
    }

    /// Replaces the family's figures (see [`TickPublisher`]).
    pub fn set_family(&self, family: FamilyFigures) {
        self.lock().family = Some(family);
    }

    /// Replaces the orphan figures: the API `orphans --watch` publishes through, once
    /// per scan of the machine.
    pub fn set_orphans(&self, orphans: OrphanFigures) {
        self.lock().orphans = Some(orphans);
    }

    /// Replaces the watcher's figures, once per scan of `leaktop watch`.
    pub fn set_watch(&self, watch: super::watch::WatchFigures) {
        self.lock().watch = Some(watch);
    }

    fn lock(&self) -> MutexGuard<'_, Figures> {
        // A panic elsewhere while holding the lock leaves whole figures behind: the
        // swap is one assignment.
        self.figures.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Turns a family's ticks into [`FamilyFigures`] and publishes them; owned by the
/// sampling loop. Its memory is bounded by the family: it remembers the leaked
/// processes of the last tick only, to count each leak once.
#[derive(Debug)]
pub struct TickPublisher {
    state: Arc<MetricsState>,
    /// The processes leaked at the last tick, and at the one before (scratch).
    leaked: IdSet<Identity>,
    previous: IdSet<Identity>,
    leaks_total: u64,
    root: Option<String>,
}

impl TickPublisher {
    pub fn new(state: Arc<MetricsState>) -> TickPublisher {
        TickPublisher {
            state,
            leaked: IdSet::default(),
            previous: IdSet::default(),
            leaks_total: 0,
            root: None,
        }
    }

    /// Publishes `tick`'s figures; `sampling` is the wall time the tick took to sample.
    pub fn publish(&mut self, header: &Header, tick: &Tick, sampling: Duration) {
        let figures = self.figures(header, tick, sampling);
        self.state.set_family(figures);
    }

    /// The figures of `tick`, counting the processes leaked since the last tick.
    pub fn figures(&mut self, header: &Header, tick: &Tick, sampling: Duration) -> FamilyFigures {
        if let Some(root) = tick.processes.iter().find(|p| p.pid == header.root_pid) {
            self.root = Some(root.name.clone());
        }
        let root = self
            .root
            .get_or_insert_with(|| command_name(&header.root_cmd))
            .clone();
        // The processes leaked at the last tick and at this one (two sets swapped, so a
        // tick allocates nothing once they have grown): one not leaked at the last
        // tick is a new leak, each counted once.
        std::mem::swap(&mut self.leaked, &mut self.previous);
        self.leaked.clear();
        for p in tick.processes.iter().filter(|p| p.leaked) {
            let id = p.id();
            if self.leaked.insert(id) && !self.previous.contains(&id) {
                self.leaks_total += 1;
            }
        }
        let mut alerts: BTreeMap<AlertKind, u64> = AlertKind::ALL.iter().map(|&k| (k, 0)).collect();
        for a in &tick.alerts {
            *alerts.entry(a.kind).or_default() += 1;
        }
        let pss = tick.leaked_pss_kb();
        let gpu = tick.leaked_gpu_kb();
        FamilyFigures {
            root,
            processes: tick.processes.len() as u64,
            leaked: tick.leaked_count() as u64,
            leaked_rss_bytes: tick.leaked_rss_kb().saturating_mul(1024),
            leaked_pss_bytes: (pss.unknown == 0).then(|| pss.kb.saturating_mul(1024)),
            leaked_gpu_bytes: (gpu.unknown == 0
                && tick.processes.iter().any(|p| p.gpu_kb.is_some()))
            .then(|| gpu.kb.saturating_mul(1024)),
            escaped: tick.processes.iter().filter(|p| p.escaped).count() as u64,
            alerts,
            leaks_total: self.leaks_total,
            root_up: tick.root_alive,
            tick_seconds: sampling.as_secs_f64(),
        }
    }
}

/// The base name of a command line's first word: `/usr/bin/python3 -m x` → `python3`.
fn command_name(cmd: &str) -> String {
    let first = cmd.split_whitespace().next().unwrap_or("");
    first.rsplit('/').next().unwrap_or(first).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Alert, ProcRow};

    fn header() -> Header {
        Header {
            root_pid: 10,
            root_start: 10,
            root_cmd: "/usr/bin/serve --port 1".into(),
            interval_ms: 1000,
            started_ms: 0,
            host: "h".into(),
            events: None,
            start_clock: None,
        }
    }

    fn tick(n: u32, rows: Vec<ProcRow>, alerts: Vec<Alert>) -> Tick {
        Tick {
            tick: n,
            elapsed_ms: u64::from(n) * 1000,
            time_ms: 0,
            root_alive: rows.iter().any(|r| r.pid == 10),
            processes: rows,
            events: Vec::new(),
            alerts,
        }
    }

    fn leaked(pid: u32, rss_kb: u64, pss_kb: Option<u64>) -> ProcRow {
        ProcRow {
            leaked: true,
            rss_kb,
            pss_kb,
            reparented_from: Some(10),
            ppid: 1,
            ..crate::testkit::row(pid, 1)
        }
    }

    #[test]
    fn a_tick_becomes_figures_in_base_units() {
        let mut p = TickPublisher::new(MetricsState::new());
        let mut root = crate::testkit::row(10, 1);
        root.name = "serve".into();
        let mut escaped = crate::testkit::row(12, 1);
        escaped.escaped = true;
        let alert = Alert {
            kind: AlertKind::Idle,
            pid: 11,
            start: 11,
            since_tick: 1,
            reason: "r".into(),
        };
        let t = tick(
            1,
            vec![root, leaked(11, 2048, Some(1024)), escaped],
            vec![alert],
        );
        let f = p.figures(&header(), &t, Duration::from_millis(3));
        assert_eq!(f.root, "serve");
        assert_eq!((f.processes, f.leaked, f.escaped), (3, 1, 1));
        assert_eq!(f.leaked_rss_bytes, 2048 * 1024);
        assert_eq!(f.leaked_pss_bytes, Some(1024 * 1024));
        assert_eq!(f.leaks_total, 1);
        assert!(f.root_up);
        assert!((f.tick_seconds - 0.003).abs() < 1e-9);
        // Every kind the model knows is there, standing or not.
        assert_eq!(f.alerts.len(), AlertKind::ALL.len());
        assert_eq!(f.alerts[&AlertKind::Idle], 1);
        assert_eq!(f.alerts[&AlertKind::Accumulating], 0);
    }

    #[test]
    fn leaked_gpu_memory_is_published_only_where_known_for_every_leaked_process() {
        let mut p = TickPublisher::new(MetricsState::new());
        let h = header();
        // No GPU figure at all (no GPU found): no series.
        let none = vec![leaked(11, 100, None), leaked(12, 100, None)];
        let f = p.figures(&h, &tick(1, none.clone(), vec![]), Duration::ZERO);
        assert_eq!(f.leaked_gpu_bytes, None);
        // One known, one unknown: no series, not a partial sum.
        let mut some = none;
        some[0].gpu_kb = Some(2048);
        let f = p.figures(&h, &tick(2, some.clone(), vec![]), Duration::ZERO);
        assert_eq!(f.leaked_gpu_bytes, None);
        some[1].gpu_kb = Some(0);
        let f = p.figures(&h, &tick(3, some, vec![]), Duration::ZERO);
        assert_eq!(f.leaked_gpu_bytes, Some(2048 * 1024));
    }

    #[test]
    fn each_leak_counts_once_and_unknown_pss_is_not_zero() {
        let mut p = TickPublisher::new(MetricsState::new());
        let h = header();
        let f = p.figures(
            &h,
            &tick(1, vec![leaked(11, 100, None)], vec![]),
            Duration::ZERO,
        );
        assert_eq!((f.leaks_total, f.leaked_pss_bytes), (1, None));
        // The root gone, its name stays the command's.
        assert_eq!(f.root, "serve");
        assert!(!f.root_up);
        let both = vec![leaked(11, 100, Some(1)), leaked(12, 100, Some(2))];
        let f = p.figures(&h, &tick(2, both.clone(), vec![]), Duration::ZERO);
        assert_eq!((f.leaks_total, f.leaked_pss_bytes), (2, Some(3 * 1024)));
        let f = p.figures(&h, &tick(3, both, vec![]), Duration::ZERO);
        assert_eq!(f.leaks_total, 2);
        // 11 exits; a new process with its pid (another start time) is a new leak.
        let mut reused = leaked(11, 100, Some(1));
        reused.start = 999;
        let f = p.figures(&h, &tick(4, vec![reused], vec![]), Duration::ZERO);
        assert_eq!((f.leaked, f.leaks_total), (1, 3));
    }

    #[test]
    fn orphan_figures_and_family_figures_are_published_apart() {
        let state = MetricsState::new();
        assert_eq!(state.snapshot(), Figures::default());
        state.set_orphans(OrphanFigures {
            groups: 2,
            memory_bytes: Some(4096),
            gpu_bytes: None,
        });
        let mut p = TickPublisher::new(state.clone());
        p.publish(&header(), &tick(1, vec![], vec![]), Duration::ZERO);
        let s = state.snapshot();
        assert_eq!(s.orphans.map(|o| o.groups), Some(2));
        assert_eq!(s.family.map(|f| f.processes), Some(0));
    }
}
