//! What one tick of a recording holds; both formats write and read exactly this.

use serde::{Deserialize, Serialize};

pub const FORMAT_NAME: &str = "leaktop-ticklog";
pub const FORMAT_VERSION: u32 = 1;

/// Facts about a recording that hold for all its ticks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub root_pid: u32,
    pub root_start: u64,
    pub root_cmd: String,
    pub interval_ms: u64,
    /// Wall time of the start, milliseconds since the Unix epoch.
    pub started_ms: u64,
    pub host: String,
    /// Where process events came from between ticks ([`crate::sample::events::Source`]'s
    /// name, then why the connector was not used, if it was not: `"pidfd (connector:
    /// not permitted: …)"`); `None` in recordings made before leaktop had events.
    pub events: Option<String>,
    /// How the rows' start times (`ProcRow::start`, clock ticks since boot on Linux)
    /// map to wall time: the boot time and the ticks per second of the machine that
    /// was sampled, so that a replay can say each process's AGE. `None` in recordings
    /// made before it was written, or where the backend does not know: AGE unknown.
    pub start_clock: Option<crate::sample::StartClock>,
}

/// One process in one tick.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcRow {
    pub pid: u32,
    pub ppid: u32,
    pub state: char,
    pub rss_kb: u64,
    pub start: u64,
    pub cpu_ms: u64,
    pub name: String,
    pub cmd: String,
    pub leaked: bool,
    /// The original parent, if this process was reparented away from it.
    pub reparented_from: Option<u32>,
    pub escaped: bool,
    /// The tick at which this process was first seen as leaked.
    pub leaked_since: Option<u32>,
    /// Proportional set size in KiB (`Pss:` of `/proc/PID/smaps_rollup`): shared pages
    /// divided among their sharers. The last known value, measured at `mem_tick`;
    /// `None`: not measured yet or unreadable (never 0 for unknown).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pss_kb: Option<u64>,
    /// Unique set size in KiB (`Private_Clean:` + `Private_Dirty:` of
    /// `smaps_rollup`): what only this process maps. Last known, as `pss_kb`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uss_kb: Option<u64>,
    /// Swapped-out memory in KiB (`Swap:` of `smaps_rollup`). Last known, as `pss_kb`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub swap_kb: Option<u64>,
    /// The tick at which `pss_kb`, `uss_kb` and `swap_kb` were measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mem_tick: Option<u32>,
    /// GPU memory in KiB charged to it that ending it returns (NVML's
    /// `usedGpuMemory`, its DRM clients' private memory from `/proc/PID/fdinfo`; see
    /// [`crate::model::gpu`]). `None`: unknown, not read, or no GPU found (never 0
    /// for unknown); recordings before it have none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu_kb: Option<u64>,
}

impl ProcRow {
    /// The process this row is of: its pid and start time.
    pub fn id(&self) -> crate::sample::Identity {
        crate::sample::Identity {
            pid: self.pid,
            start: self.start,
        }
    }

    /// Whether this is a defunct row: a zombie (state `Z`), exited and waiting for
    /// its parent to reap it. It holds no memory and ending it frees nothing.
    pub fn is_defunct(&self) -> bool {
        self.state == 'Z'
    }

    /// Drops the memory figures (PSS, USS, swap, GPU) of a defunct row: the ones it
    /// had alive are no longer held (older recordings carried them); they
    /// read as unknown, beside the RSS of 0 its `stat` gives.
    pub fn forget_memory_if_defunct(&mut self) {
        if self.is_defunct() {
            (self.pss_kb, self.uss_kb, self.swap_kb, self.mem_tick) = (None, None, None, None);
            self.gpu_kb = None;
        }
    }
}

/// Something that happened between the previous tick and this one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Event {
    Spawned {
        pid: u32,
        start: u64,
        ppid: u32,
    },
    Exited {
        pid: u32,
        start: u64,
    },
    Reparented {
        pid: u32,
        start: u64,
        from: u32,
        to: u32,
    },
    Escaped {
        pid: u32,
        start: u64,
        ppid: u32,
        evidence: String,
    },
    RootExited {
        pid: u32,
        start: u64,
    },
    /// A new process took over as the root (`--follow`) after `previous` exited.
    RootRestarted {
        pid: u32,
        start: u64,
        previous: u32,
    },
    /// An orphan (or a member outliving the root) exited by itself within the leak
    /// grace, `after_ms` after it was first seen orphaned: not a leak.
    OrphanExited {
        pid: u32,
        start: u64,
        after_ms: u64,
    },
    /// Process events were lost in the window before this tick: at least `counted`
    /// (gaps in the kernel's sequence numbers) and `uncounted` losses of unknown size
    /// (`ENOBUFS`); `/proc` was read again at once. What the tick judged rests on a
    /// partial account of that window (see [`crate::model::tracker::Loss`]).
    EventsLost {
        counted: u64,
        uncounted: u32,
    },
    /// A process forked from the family since the last tick that exited before this
    /// one read it: its whole life, as process events told it (recordings made with
    /// the connector). At most [`crate::model::tracker::MAX_SHORT_LISTED`] a tick, the
    /// rest in [`Event::ShortLivedMore`].
    ShortLived {
        pid: u32,
        /// The process that forked it.
        ppid: u32,
        /// Fork to exit, ms.
        life_ms: u64,
        /// It exec'd another program.
        exec: bool,
        /// Its name as it last renamed itself (`prctl(PR_SET_NAME)`: the connector's
        /// comm event; an exec sends none), 15 bytes at most; `None` where no event told.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        comm: Option<String>,
        /// Its exit status (`exit(code)`), where known.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        code: Option<u8>,
        /// The signal that killed it, where one did.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        signal: Option<u8>,
    },
    /// Short-lived processes beyond the ones listed at this tick, counted: `count` in
    /// all, `failed` of them exited with a non-zero code, `signaled` were killed by a
    /// signal (the rest exited with 0, or how is unknown).
    ShortLivedMore {
        count: u64,
        failed: u64,
        signaled: u64,
    },
}

/// The state of the family at one tick.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tick {
    /// 1-based.
    pub tick: u32,
    pub elapsed_ms: u64,
    /// Wall time, milliseconds since the Unix epoch.
    pub time_ms: u64,
    pub root_alive: bool,
    pub processes: Vec<ProcRow>,
    pub events: Vec<Event>,
    /// Alerts standing at this tick (see [`super::alerts`]).
    pub alerts: Vec<super::Alert>,
}

impl Tick {
    // Saturating: the figures of a file leaktop did not write can be anything.
    pub fn total_rss_kb(&self) -> u64 {
        self.processes
            .iter()
            .fold(0, |sum, p| sum.saturating_add(p.rss_kb))
    }

    pub fn leaked_count(&self) -> usize {
        self.processes.iter().filter(|p| p.leaked).count()
    }

    pub fn leaked_rss_kb(&self) -> u64 {
        self.processes
            .iter()
            .filter(|p| p.leaked)
            .fold(0, |sum, p| sum.saturating_add(p.rss_kb))
    }

    /// The leaked processes' last-known PSS summed (KiB), and how many of them have no
    /// known PSS (left out of the sum): about what killing them all would free.
    pub fn leaked_pss_kb(&self) -> MemSum {
        MemSum::of(self.processes.iter().filter(|p| p.leaked), |p| p.pss_kb)
    }

    /// As [`Tick::leaked_pss_kb`], of USS (KiB): the least that killing them frees.
    pub fn leaked_uss_kb(&self) -> MemSum {
        MemSum::of(self.processes.iter().filter(|p| p.leaked), |p| p.uss_kb)
    }

    /// As [`Tick::leaked_pss_kb`], of swap (KiB).
    pub fn leaked_swap_kb(&self) -> MemSum {
        MemSum::of(self.processes.iter().filter(|p| p.leaked), |p| p.swap_kb)
    }

    /// As [`Tick::leaked_pss_kb`], of GPU memory (KiB, [`ProcRow::gpu_kb`]): what the
    /// GPU gets back when they are killed. A DRM client that several of them share is
    /// in each one's figure, so there the sum overstates.
    pub fn leaked_gpu_kb(&self) -> MemSum {
        MemSum::of(self.processes.iter().filter(|p| p.leaked), |p| p.gpu_kb)
    }
}

/// Short-lived processes counted over ticks ([`Event::ShortLived`] and
/// [`Event::ShortLivedMore`]): forked from the family and exited between two ticks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct ShortLives {
    /// How many, listed or counted.
    pub count: u64,
    /// Of them, how many exited with a non-zero code.
    pub failed: u64,
    /// Of them, how many a signal killed.
    pub signaled: u64,
}

impl ShortLives {
    /// Adds the short lives of `tick`.
    pub fn add(&mut self, tick: &Tick) {
        for e in &tick.events {
            let (count, failed, signaled) = match e {
                Event::ShortLived { code, signal, .. } => (
                    1,
                    u64::from(code.is_some_and(|c| c != 0)),
                    u64::from(signal.is_some()),
                ),
                Event::ShortLivedMore {
                    count,
                    failed,
                    signaled,
                } => (*count, *failed, *signaled),
                _ => continue,
            };
            self.count = self.count.saturating_add(count);
            self.failed = self.failed.saturating_add(failed);
            self.signaled = self.signaled.saturating_add(signaled);
        }
    }
}

impl std::fmt::Display for ShortLives {
    /// "1204 short-lived processes (forked and exited between two ticks; 3 failed, 1
    /// killed by a signal)".
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = crate::human::plural(
            self.count as usize,
            "short-lived process",
            "short-lived processes",
        );
        write!(
            f,
            "{n} (forked and exited between two ticks; {} failed, {} killed by a signal)",
            self.failed, self.signaled
        )
    }
}

/// A sum of last-known memory figures (KiB) and how many processes' figure is
/// unknown, so "unknown" never reads as 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MemSum {
    /// The sum of the known figures, KiB.
    pub kb: u64,
    /// The processes whose figure is unknown (not in `kb`).
    pub unknown: usize,
}

impl MemSum {
    pub fn of<'a>(
        rows: impl Iterator<Item = &'a ProcRow>,
        figure: impl Fn(&ProcRow) -> Option<u64>,
    ) -> MemSum {
        rows.fold(MemSum::default(), |mut sum, p| {
            sum.add(figure(p));
            sum
        })
    }

    /// Adds one process's figure (KiB), or counts it unknown.
    pub fn add(&mut self, kb: Option<u64>) {
        match kb {
            Some(kb) => self.kb = self.kb.saturating_add(kb),
            None => self.unknown += 1,
        }
    }

    /// Adds another sum (a further round of a kill).
    pub fn merge(&mut self, other: MemSum) {
        self.kb = self.kb.saturating_add(other.kb);
        self.unknown += other.unknown;
    }

    /// The sum, or `None` when every figure in it is unknown (or there were none).
    pub fn known(&self) -> Option<u64> {
        (self.kb > 0 || self.unknown == 0).then_some(self.kb)
    }
}
