//! What leaktop reads of a process beyond its [`ProcSample`](super::ProcSample): its
//! memory by kind (`/proc/PID/smaps_rollup`) and the facts `leaktop orphans` judges
//! by. Plain data: the host reads them, the model and the formats use them.

use serde::Serialize;

/// The environment variable `leaktop run` sets in CMD's environment: `<pid>.<start>`
/// of the `leaktop run` process, inherited by everything CMD starts.
pub const RUN_MARKER: &str = "LEAKTOP_RUN";

/// Where a system's own executables live: a subreaper's must be in one of these
/// (`/` for WSL's `/init`, `/dev` and `/run` for the inits container engines mount).
const SYSTEM_DIRS: [&str; 11] = [
    "/",
    "/sbin",
    "/bin",
    "/usr/sbin",
    "/usr/bin",
    "/usr/local/sbin",
    "/usr/local/bin",
    "/lib/systemd",
    "/usr/lib/systemd",
    "/dev",
    "/run",
];

/// The file a process runs: the target of `/proc/PID/exe` and its owner and mode
/// (`stat` of that link, which reaches the file even in another mount namespace).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExeFile {
    /// The path as the process's own mount namespace names it, without the kernel's
    /// ` (deleted)` suffix.
    pub path: String,
    /// The file's owner (uid).
    pub owner: u32,
    /// Its permission bits (`st_mode & 0o7777`).
    pub mode: u32,
}

impl ExeFile {
    /// The file's own name: the path's last component.
    pub fn name(&self) -> &str {
        self.path.rsplit('/').next().unwrap_or("")
    }

    /// A system executable: owned by root, writable by no one else, in one of the
    /// system's directories. No user can make one; a user can only name a process.
    pub fn is_system(&self) -> bool {
        let dir = match self.path.rsplit_once('/') {
            Some(("", _)) => "/",
            Some((dir, _)) => dir,
            None => return false,
        };
        self.owner == 0 && self.mode & 0o022 == 0 && SYSTEM_DIRS.contains(&dir)
    }
}

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
    /// A pipe someone still reads, or whose reader is unknown.
    Pipe,
    /// A socket: a live peer, another kind, or unknown.
    Socket,
    /// Standard output or error only: a pipe no process reads any more, or a
    /// connected Unix stream socket whose peer was closed (Node's `pipe` stdio). The
    /// process that read it is gone.
    Unread,
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
