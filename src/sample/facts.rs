//! What leaktop reads of a process beyond its [`ProcSample`](super::ProcSample): its
//! memory by kind (`/proc/PID/smaps_rollup`) and the facts `leaktop orphans` judges
//! by. Plain data: the host reads them, the model and the formats use them.

use serde::Serialize;

/// The environment variable `leaktop run` sets in CMD's environment: `<pid>.<start>`
/// of the `leaktop run` process, inherited by everything CMD starts.
pub const RUN_MARKER: &str = "LEAKTOP_RUN";

/// What a standard stream (fd 0, 1 or 2) is connected to: the target of
/// `/proc/PID/fd/N`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StdioKind {
    /// A terminal (`/dev/pts/*`, `/dev/tty*`, `/dev/console`).
    Terminal,
    /// `/dev/null`.
    Null,
    /// A regular file (a log).
    File,
    Pipe,
    Socket,
    /// The descriptor is closed.
    Closed,
    /// Anything else (another device, an anonymous inode).
    Other,
}

impl StdioKind {
    /// Where a daemon by design points its streams: nowhere a reader waits.
    pub fn detached(self) -> bool {
        matches!(self, StdioKind::Null | StdioKind::File | StdioKind::Closed)
    }
}

/// Facts about one process beyond its sample, read only for candidates (see
/// `Host::facts`). `None` in a field: unreadable (another user's
/// process), never a stand-in for "none".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProcFacts {
    /// The controlling terminal's device number (`tty_nr` of `/proc/PID/stat`);
    /// `Some(0)`: none.
    pub tty_nr: Option<u32>,
    /// Standard input, output and error.
    pub stdio: Option<[StdioKind; 3]>,
    /// The cgroup (v2 path of `/proc/PID/cgroup`, or v1's `name=systemd`).
    pub cgroup: Option<String>,
    /// `LEAKTOP_RUN` from `/proc/PID/environ`: `<pid>.<start>` of the `leaktop run`
    /// that started it. `Some("")`: readable, no marker.
    pub run_marker: Option<String>,
    /// The real user id (`Uid:` of `/proc/PID/status`).
    pub uid: Option<u32>,
    /// `PF_EXITING` in the flags of `/proc/PID/stat`: on its way out.
    pub exiting: bool,
    /// Some of the above could not be read: permission denied.
    pub denied: bool,
}

/// What one process's memory costs, from `/proc/PID/smaps_rollup`, in KiB.
///
/// RSS (from `stat`) counts every resident page in full in every process that maps
/// it; these figures share pages out fairly or leave them out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Memory {
    /// Proportional set size (`Pss:`, KiB): each resident page divided by the number
    /// of processes mapping it. Killing every sharer frees about the sum of their PSS.
    pub pss_kb: u64,
    /// Unique set size (`Private_Clean:` + `Private_Dirty:`, KiB): the pages only this
    /// process maps, the least that killing it frees.
    pub uss_kb: u64,
    /// Swapped-out anonymous memory (`Swap:`, KiB), which RSS does not count.
    pub swap_kb: u64,
    /// The PSS told apart by kind, where the kernel gives it.
    pub parts: PssParts,
}

/// A process's PSS told apart by the kind of page, in KiB, from the `Pss_Anon:`,
/// `Pss_File:`, `Pss_Shmem:` (Linux 5.7+) and `SwapPss:` (4.3+) lines of
/// `/proc/PID/smaps_rollup`. Each is `None` where the kernel does not write it:
/// unknown, never 0.
///
/// `Pss` is `anon + file + shmem`; swap is outside it. Killing every sharer gives back
/// its anonymous, shared-memory and swapped shares; the file-backed share is page
/// cache, which stays cached (reclaimable) after the processes end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PssParts {
    /// Anonymous pages' PSS (`Pss_Anon:`, KiB): heap, stacks, copy-on-write copies.
    pub anon_kb: Option<u64>,
    /// File-backed pages' PSS (`Pss_File:`, KiB): page cache, stays after a kill.
    pub file_kb: Option<u64>,
    /// Shared memory's PSS (`Pss_Shmem:`, KiB): tmpfs, `memfd`, SysV shm.
    pub shmem_kb: Option<u64>,
    /// Swapped-out pages' proportional share (`SwapPss:`, KiB).
    pub swap_pss_kb: Option<u64>,
}
