//! Sampling: reading the processes of interest from the OS, one tick at a time.
//!
//! A [`Sampler`] returns plain [`ProcSample`]s and knows nothing of families or leaks;
//! the caller tells it which processes are members so it can avoid re-reading the rest.

pub mod events;
pub mod facts;
pub mod gpu;
#[cfg(target_os = "linux")]
pub mod procfs;
pub mod stat;
pub mod sysinfo;
#[cfg(target_os = "linux")]
pub mod unread;

use std::fmt;

pub use facts::{ExeFile, Memory, ProcFacts, PssParts, StdioKind};

/// An executable file: its device and inode (as `Host::exe_id` reads them).
pub type ExeId = (u64, u64);

/// A process is a pid *and* the time it started: a reused pid is a different process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Identity {
    pub pid: u32,
    /// Backend-specific start time (procfs: clock ticks since boot).
    pub start: u64,
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (start {})", self.pid, self.start)
    }
}

/// Maps and sets keyed by pids and identities, which every tick builds and probes:
/// the keys are small integers that need no defence against collision attacks, and
/// SipHash showed in profiles of a tick, so they use rustc's FxHash.
pub type IdMap<K, V> = rustc_hash::FxHashMap<K, V>;
pub type IdSet<K> = rustc_hash::FxHashSet<K>;

/// The short process name (`comm`), stored inline so a sample never allocates.
#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub struct Comm {
    len: u8,
    bytes: [u8; 16],
}

impl Comm {
    pub fn new(name: &[u8]) -> Self {
        let len = name.len().min(16);
        let mut bytes = [0; 16];
        bytes[..len].copy_from_slice(&name[..len]);
        Comm {
            len: len as u8,
            bytes,
        }
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len as usize]
    }

    /// The name as text, control characters escaped ([`crate::human::printable`]).
    pub fn to_string_lossy(&self) -> String {
        crate::human::printable(&String::from_utf8_lossy(self.as_bytes())).into_owned()
    }
}

impl fmt::Debug for Comm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(self.as_bytes()))
    }
}

/// One process as seen at one tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcSample {
    pub pid: u32,
    pub ppid: u32,
    /// Scheduler state letter as in /proc (`R`, `S`, `D`, `Z`, `T`, ...); `X` also for
    /// a process the kernel is tearing down (`PF_EXITING` in the stat flags).
    pub state: u8,
    pub rss_kb: u64,
    pub pgrp: u32,
    pub session: u32,
    pub start: u64,
    /// User + system CPU time in milliseconds.
    pub cpu_ms: u64,
    pub comm: Comm,
}

impl ProcSample {
    pub fn id(&self) -> Identity {
        Identity {
            pid: self.pid,
            start: self.start,
        }
    }
    /// A zombie, or a process on its way out: it has exited and holds nothing.
    pub fn has_exited(&self) -> bool {
        matches!(self.state, b'Z' | b'X')
    }
}

/// The full command line of a process, read once per identity (and again after `exec`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Command {
    pub name: String,
    pub cmd: String,
}

impl Command {
    /// Whether `--name PATTERN` picks this process: a plain substring of its command
    /// line or name. Never a leaktop, nor what started one with this very option (a
    /// shell, `tmux new`, `sudo`), whose command line holds the pattern too. Command
    /// lines are kept with control characters escaped, so the pattern is matched in
    /// that form too: a real tab in it matches a real tab in the command line.
    pub fn matches(&self, pattern: &str) -> bool {
        let pattern = crate::human::printable(pattern);
        let pattern = pattern.as_ref();
        let runs_leaktop = self.name == "leaktop"
            || (self.cmd.contains("leaktop")
                && ["--name ", "--name=", "-n "].iter().any(|flag| {
                    ["", "'", "\""]
                        .iter()
                        .any(|q| self.cmd.contains(&format!("{flag}{q}{pattern}")))
                }));
        !runs_leaktop && (self.cmd.contains(pattern) || self.name.contains(pattern))
    }

    /// Whether the command line was empty and only the name stood in for it: a kernel
    /// thread, a zombie, or a process caught in the middle of `exec`.
    pub fn is_bare(&self) -> bool {
        self.cmd.len() == self.name.len() + 2
            && self.cmd.starts_with('[')
            && self.cmd.ends_with(']')
            && self.cmd[1..self.cmd.len() - 1] == self.name
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SampleError {
    #[error("cannot list processes: {0}")]
    List(#[source] std::io::Error),
    #[error("the {0} backend is not available on this platform")]
    Unsupported(&'static str),
}

/// A source of process samples.
pub trait Sampler {
    /// Appends to `out` a sample of every process in `members` that is still alive
    /// (a pid now held by a different process is returned as that process), plus
    /// every process that appeared since the previous call. Processes that vanish
    /// or deny access mid-read are skipped, never reported as errors.
    fn sample(
        &mut self,
        members: &[Identity],
        out: &mut Vec<ProcSample>,
    ) -> Result<(), SampleError>;

    /// Reads one process's full command line, or `None` if it is gone or unreadable.
    fn command(&mut self, id: Identity) -> Option<Command>;

    /// Reads a single process (used to validate a root before sampling starts).
    fn probe(&mut self, pid: u32) -> Option<ProcSample>;

    /// How this backend's start times map to wall time, if it knows.
    fn start_clock(&self) -> Option<StartClock> {
        None
    }
}

/// Turns a backend's process start time into wall time: `boot_ms + start * 1000 / per_sec`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StartClock {
    /// When the start-time clock was zero, in milliseconds since the Unix epoch.
    pub boot_ms: u64,
    /// Start-time units per second.
    pub per_sec: u64,
}

impl StartClock {
    /// Milliseconds since the Unix epoch at which a process with this start time began.
    pub fn started_ms(&self, start: u64) -> u64 {
        self.boot_ms + start.saturating_mul(1000) / self.per_sec.max(1)
    }
}

/// Which sampler to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Read /proc directly (Linux only; the default there).
    Procfs,
    /// The portable `sysinfo` crate (the default elsewhere).
    Sysinfo,
}

impl Default for Backend {
    fn default() -> Self {
        if cfg!(target_os = "linux") {
            Backend::Procfs
        } else {
            Backend::Sysinfo
        }
    }
}

/// Every process on the machine, read once.
pub fn scan(sampler: &mut dyn Sampler) -> Result<Vec<ProcSample>, SampleError> {
    let mut all = Vec::new();
    sampler.sample(&[], &mut all)?;
    Ok(all)
}

/// Appends the pids of `pid`'s children (zombies included), whichever of its threads
/// forked them, as the kernel lists them in `/proc/PID/task/*/children` (nothing
/// where it does not).
pub fn children_of(pid: u32, out: &mut Vec<u32>) {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return;
    };
    for task in tasks.flatten() {
        if let Ok(list) = std::fs::read_to_string(task.path().join("children")) {
            out.extend(
                list.split_ascii_whitespace()
                    .filter_map(|p| p.parse::<u32>().ok()),
            );
        }
    }
}

pub fn open(backend: Backend) -> Result<Box<dyn Sampler + Send>, SampleError> {
    match backend {
        #[cfg(target_os = "linux")]
        Backend::Procfs => Ok(Box::new(procfs::ProcfsSampler::new())),
        #[cfg(not(target_os = "linux"))]
        Backend::Procfs => Err(SampleError::Unsupported("procfs")),
        Backend::Sysinfo => Ok(Box::new(sysinfo::SysinfoSampler::new())),
    }
}

/// Joins a NUL-separated `/proc/PID/cmdline` into one printable line of at most
/// [`crate::human::COMMAND_MAX_BYTES`] (its head and tail, and how much was cut).
pub fn join_cmdline(raw: &[u8]) -> String {
    let trimmed = raw.strip_suffix(&[0]).unwrap_or(raw);
    let joined: Vec<u8> = trimmed
        .iter()
        .map(|&b| if b == 0 { b' ' } else { b })
        .collect();
    kept_command(&String::from_utf8_lossy(&joined))
}

/// A command line as leaktop keeps it: printable and within
/// [`crate::human::COMMAND_MAX_BYTES`] ([`crate::human::kept`]).
pub fn kept_command(cmd: &str) -> String {
    crate::human::kept(cmd, crate::human::COMMAND_MAX_BYTES).into_owned()
}

#[cfg(test)]
mod tests {
    use super::Command;

    #[test]
    fn a_bare_command_is_only_the_bracketed_name() {
        let cmd = |name: &str, cmd: &str| Command {
            name: name.into(),
            cmd: cmd.into(),
        };
        assert!(cmd("leaktop", "[leaktop]").is_bare());
        assert!(cmd("kworker/0:1", "[kworker/0:1]").is_bare());
        assert!(!cmd("leaktop", "leaktop demo").is_bare());
        assert!(!cmd("sh", "[sh] -c x").is_bare());
        assert!(!cmd("a", "[b]").is_bare());
    }

    #[test]
    fn a_name_pattern_never_picks_leaktop_or_what_started_it() {
        let cmd = |name: &str, cmd: &str| Command {
            name: name.into(),
            cmd: cmd.into(),
        };
        assert!(cmd("python3", "python3 -m cce serve").matches("cce serve"));
        assert!(!cmd("leaktop", "leaktop --name 'cce serve'").matches("cce serve"));
        assert!(!cmd("tmux: client", "tmux new leaktop --name cce").matches("cce"));
        assert!(!cmd("sh", "sh -c leaktop --name 'cce serve' --follow").matches("cce serve"));
        assert!(!cmd("sudo", "sudo leaktop -n cce").matches("cce"));
        // A pattern with a real tab matches the tab the command line keeps escaped
        // (the break-it review: `--match $'worker\tA'` found nothing).
        let tabbed = Command {
            name: "python3".into(),
            cmd: super::kept_command("python3 worker\tA"),
        };
        assert!(tabbed.matches("worker\tA"));
        assert!(!tabbed.matches("worker A"));
        // A process that merely mentions leaktop is fair game.
        assert!(cmd("server", "/src/leaktop/target/debug/server --port 1").matches("server"));
        assert!(cmd("sh", "sh -c leaktop demo").matches("leaktop demo"));
    }
}
