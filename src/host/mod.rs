//! The OS port: every effect leaktop has on the machine goes through a [`Host`].
//!
//! Sampling, the clocks (monotonic and wall) and waiting on them, the machine's name,
//! leaktop's own pid, pinning processes (pidfds) and signalling them, the signals
//! that reach leaktop, reaping, spawning, becoming a subreaper, and the files it
//! writes. Every method is required, so a fake chooses each answer.
//!
//! [`real`] gives the implementation for this platform, one module per OS:
//! `linux::LinuxHost` (`/proc`, pidfds) and `macos::MacosHost` (sysinfo, `kill(2)`
//! after a re-check). Only the command layer calls it, once, and passes the host
//! down. The tests have a fake (`tests/it/fakes/host.rs`) that scripts trees, exits,
//! reparentings, signal outcomes and I/O errors, and a clock that moves only when
//! told (it drives every loop that waits through [`Host::wait`]), so the paths that
//! matter most (quitting, killing, reaping, recording) run in milliseconds and
//! without luck.
//!
//! ```text
//!  cmd              builds the real Host once; hands Arc<dyn Host> down
//!  demo, ui         the view                         each line uses only the
//!  actions, ci      kill, run, orphans; CI outputs   lines below it; those
//!  record, report   recorder; summary and chart      from monitor up reach
//!  monitor          one tick per step                the machine through
//!  format, metrics  the formats; --metrics figures   the Host alone
//!  model            pure logic
//!  sample           what a process is; samplers
//!  ───────────────────────────────────────────────────────────────────────
//!  Host             LinuxHost | MacosHost | tests' FakeHost
//! ```
//!
//! `model` and `format` never see a host: they are pure, over the samples the host
//! and its samplers read.

pub mod gpu;
#[cfg(target_os = "linux")]
pub mod last_ran;
#[cfg(target_os = "linux")]
pub mod linux;
#[cfg(target_os = "linux")]
mod run_records;
// Built on Linux too for its tests: it needs only sysinfo and kill(2).
#[cfg(any(target_os = "macos", all(test, target_os = "linux")))]
#[cfg_attr(not(target_os = "macos"), allow(dead_code))]
pub mod macos;
#[cfg(unix)]
mod unix;

mod alarm;

pub use alarm::Alarm;

use std::collections::HashSet;
use std::ffi::OsString;
use std::fs::File;
use std::io;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

pub use crate::sample::ExeId;
use crate::sample::events::{EventRequest, EventSource};
pub use crate::sample::facts::{Memory, PssParts};
use crate::sample::{Backend, ExeFile, Identity, ProcFacts, ProcSample, SampleError, Sampler};

pub use rustix::process::Signal;

/// How a reaped child ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// It called `exit` with this status.
    Code(u8),
    /// A signal (its number) ended it.
    Signaled(i32),
}

/// Why a process could not be pinned; nothing was signalled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PinError {
    #[error("already gone")]
    Gone,
    #[error("pid reused by another process; not signalled")]
    Reused,
    #[error("not accessible ({0})")]
    Inaccessible(String),
}

/// Why a signal through a [`Pinned`] handle did not go out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignalError {
    #[error("permission denied (another user's process?)")]
    Denied,
    #[error("the process has exited")]
    Gone,
    #[error("{0}")]
    Other(String),
}

/// A process held by a handle that stays with it (a pidfd on Linux): a signal sent
/// through it reaches that process or nothing, even once its pid is reused.
pub trait Pinned: Send + Sync {
    /// The identity that was checked after the handle was opened.
    fn id(&self) -> Identity;
    fn signal(&self, signal: Signal) -> Result<(), SignalError>;
}

/// What [`Host::spawn`] starts.
#[derive(Debug, Clone, Default)]
pub struct SpawnSpec {
    /// The program and its arguments; the program is looked up in `PATH`.
    pub argv: Vec<OsString>,
    /// Standard input, output and error go to `/dev/null` (the view owns the terminal).
    pub null_stdio: bool,
    /// The signal the child gets when leaktop dies (`PR_SET_PDEATHSIG`), if any.
    pub parent_death_signal: Option<Signal>,
    /// Variables added to the child's environment (`leaktop run`'s `LEAKTOP_RUN`).
    pub env: Vec<(OsString, OsString)>,
}

/// Why [`Host::spawn`] failed; the exit codes follow the shell's.
#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    #[error("cannot run '{0}': command not found")]
    NotFound(String),
    #[error("cannot run '{0}': permission denied (not executable?)")]
    NotExecutable(String),
    #[error("cannot run '{0}': {1}")]
    Other(String, io::Error),
}

/// A child that [`Host::spawn`] started: its pid and a handle pinned to it. leaktop
/// reaps its own children, so the pid cannot be reused before [`Host::reap`] says the
/// child has exited.
pub struct Spawned {
    pub pid: u32,
    pub pinned: Box<dyn Pinned>,
}

/// A file leaktop keeps and rewrites in place while it runs: `leaktop run`'s record
/// (see [`Host::keep_run_record`]).
pub trait KeptFile: Send {
    /// Replaces the file's contents with `text`.
    ///
    /// # Errors
    /// The write failed (a full disk).
    fn rewrite(&mut self, text: &str) -> io::Result<()>;
    /// Removes the file.
    ///
    /// # Errors
    /// It could not be removed.
    fn remove(self: Box<Self>) -> io::Result<()>;
}

/// How [`Host::create`] opens a file for writing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Create {
    /// Create or truncate (a recording the user named).
    Truncate,
    /// Only a new file, never through a symlink (`O_CREAT|O_EXCL|O_NOFOLLOW`): for
    /// names leaktop picks itself in a directory someone else may control.
    New,
    /// Only a file that exists, opened for writing as it is (no truncation, no
    /// creation, blocking): a device `report --convert` writes to.
    Existing,
    /// An output the user named, opened for writing without truncating it (the
    /// caller empties a regular file once what it records has started) and without
    /// blocking: a FIFO with no reader fails at once with `ENXIO`, so the caller's wait
    /// for one can end on a signal. A FIFO stays non-blocking (the caller's writes wait
    /// in `poll(2)`); anything else is made blocking again.
    Open,
    /// [`Create::Open`] for appending (`O_APPEND`): the step summary of an earlier step.
    Append,
}

/// What a signal listener hears: the signal's number, and whether another process
/// sent it (rather than the kernel or the terminal: a terminal's Ctrl-C has reached
/// leaktop's whole process group already). Return `false` to stop listening.
pub type Deliver = Box<dyn FnMut(i32, bool) -> bool + Send>;

/// Signals being listened for ([`Host::listen_signals`]). Dropped without
/// [`Listening::close`], it listens until leaktop exits.
pub struct Listening {
    close: Option<Box<dyn FnOnce() + Send>>,
}

impl Listening {
    /// A listener that `close` stops.
    pub fn new(close: impl FnOnce() + Send + 'static) -> Listening {
        Listening {
            close: Some(Box::new(close)),
        }
    }

    /// Stops listening: the signals get their default action again once the listening
    /// thread has seen it.
    pub fn close(mut self) {
        if let Some(close) = self.close.take() {
            close();
        }
    }
}

/// Every OS effect leaktop has. Implementations are shared between threads. Every
/// method is required: a fake implements each one, so a test never leans on a default
/// it did not choose.
pub trait Host: Send + Sync {
    /// A sampler of `backend`'s kind.
    fn sampler(&self, backend: Backend) -> Result<Box<dyn Sampler + Send>, SampleError>;

    /// One process, or `None` if it is gone or unreadable.
    fn probe(&self, pid: u32) -> Option<ProcSample>;

    /// Every process on the machine, read once (processes that vanish mid-read are
    /// left out).
    fn scan(&self) -> Vec<ProcSample>;

    /// Appends the pids of `pid`'s children (zombies included) as the kernel lists
    /// them (`/proc/PID/task/*/children`), even where their own `/proc` entries are
    /// hidden.
    fn children_of(&self, pid: u32, out: &mut Vec<u32>);

    /// leaktop's own pid.
    fn own_pid(&self) -> u32;

    /// The executable `pid` runs, as the device and inode of the file
    /// (`/proc/PID/exe`'s target), or `None` if it is gone, a kernel thread or not
    /// readable (another user's process). Unlike a name, no process can fake it: it is
    /// how leaktop recognises another leaktop, and a restarted daemon under `--follow`.
    fn exe_id(&self, pid: u32) -> Option<ExeId>;

    /// The path of the executable the process `id` runs (the target of
    /// `/proc/PID/exe`, perhaps ending in ` (deleted)`), read only if the process at
    /// `id.pid` is `id`; `None` if gone, reused, a kernel thread or unreadable (another
    /// user's process without `CAP_SYS_PTRACE`). The default knows none.
    fn exe_path(&self, id: Identity) -> Option<String> {
        let _ = id;
        None
    }

    /// Whether any of `pid`'s standard streams (fds 0, 1, 2) is a terminal, or `None`
    /// if that cannot be read (another user's process, gone; macOS).
    fn stdio_on_terminal(&self, pid: u32) -> Option<bool>;

    /// Whether a process exists at `pid` even if it cannot be read (its `/proc` entry
    /// exists, or signal 0 reaches it).
    fn exists(&self, pid: u32) -> bool;

    /// The monotonic clock: every interval, grace and deadline is measured on it.
    fn now(&self) -> Instant;

    /// The wall clock (`SystemTime`): the times written into recordings and export
    /// names. Never used to measure a duration.
    fn wall_clock(&self) -> SystemTime;

    /// This machine's name (`uname -n`), as recordings' headers give it.
    fn hostname(&self) -> String;

    /// Waits `duration` on [`Host::now`]'s clock (the fake host moves its clock
    /// instead).
    fn sleep(&self, duration: Duration);

    /// Waits until [`Host::now`] reaches `deadline` (`None`: no deadline) or `alarm`
    /// rings, whichever comes first. `true` if the alarm rang (the ring is used up),
    /// `false` at the deadline. How every loop that samples on a schedule waits, so
    /// that the fake host's clock drives it.
    fn wait(&self, deadline: Option<Instant>, alarm: &Alarm) -> bool;

    /// The source of process events between ticks (forks, exits, `setsid`, losses):
    /// the kernel's connector where leaktop may subscribe and `request` allows it,
    /// else pidfds (exits of the processes it is told to watch), else none (ticks);
    /// see [`crate::sample::events`]. The source says which it is, and why the
    /// connector is not used.
    fn events(&self, request: EventRequest) -> Box<dyn EventSource>;

    /// Opens a handle on the process now at `id.pid`, then checks that it is `id`
    /// (same start time): only then may it be signalled.
    fn pin(&self, id: Identity) -> Result<Box<dyn Pinned>, PinError>;

    /// Collects every exited child of leaktop without blocking: (pid, how it ended).
    fn reap(&self) -> Vec<(u32, Exit)>;

    /// Starts a child process.
    fn spawn(&self, spec: &SpawnSpec) -> Result<Spawned, SpawnError>;

    /// Hands each of `signals` that reaches leaktop to `deliver`, from a thread of its
    /// own, instead of its default action, with whether another process sent it:
    /// Linux reads the sender from the signal's `siginfo`; macOS cannot, and takes a
    /// SIGINT that comes while leaktop is in its terminal's foreground for the
    /// terminal's. `Err` if the handlers cannot be installed.
    fn listen_signals(&self, signals: &[i32], deliver: Deliver) -> io::Result<Listening>;

    /// Dies of `signal` with its default action, as if it had not been caught (a view
    /// that caught SIGQUIT to restore the terminal first). Returns if the default
    /// action does not end the process (the fake host records it).
    fn die_of(&self, signal: i32);

    /// Names the calling process as `ps` and `top` show it (its `comm`) where the
    /// platform lets a process rename itself (Linux); elsewhere it keeps its
    /// executable's name.
    fn set_process_name(&self, name: &str);

    /// Opens an output file for writing; see [`Create`].
    fn create(&self, path: &Path, how: Create) -> io::Result<File>;

    /// Renames `from` to `to`, replacing it (a finished conversion over its target).
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;

    /// Removes the file at `path` (a partial output, a check's empty file).
    fn remove_file(&self, path: &Path) -> io::Result<()>;

    /// Makes the directory `path` and any missing parents, each one made with mode
    /// 0700 (the user's own data: the view's exports); one already there is fine.
    /// Errors: as `mkdir(2)`, `NotADirectory` where something else is at `path`. (The
    /// same on every Unix host.)
    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        unix::create_dir_all(path)
    }

    /// The uid owning the directory `path` (`stat(2)`, following symlinks). Errors:
    /// as `stat(2)`, `NotFound` where nothing is there yet, `NotADirectory` where
    /// something else is.
    fn owner(&self, path: &Path) -> io::Result<u32> {
        unix::owner(path)
    }

    /// This process's effective uid (`geteuid(2)`).
    fn own_uid(&self) -> u32 {
        rustix::process::geteuid().as_raw()
    }

    /// PSS, USS and swap of the process `id` (`/proc/PID/smaps_rollup`), read only if
    /// the process now at `id.pid` is `id` (same start time). `None` when unknown: gone,
    /// reused pid, permission denied (another user's process), macOS. Costs 20-300x a
    /// `stat` read and takes the target's mmap lock: callers ration it.
    fn memory(&self, id: Identity) -> Option<Memory>;

    /// How long ago, in ms, each process in `ids` last ran on any CPU (its idle time),
    /// in the order given; `None` where unknown: gone, pid reused, unreadable, or no
    /// such record here (macOS). On Linux from the scheduler (`se.exec_start` in
    /// `/proc/PID/task/TID/sched`, see `last_ran`): a lower bound, since the
    /// scheduler's clocks leave out interrupts and hypervisor steal.
    fn idle_ms(&self, ids: &[Identity]) -> Vec<Option<u64>>;

    /// The machine's `MemAvailable:` in KiB (`/proc/meminfo`), `None` if unreadable.
    /// Every process on the machine moves it: a second opinion, never relied on.
    fn mem_available_kb(&self) -> Option<u64>;

    /// What `leaktop orphans` needs of a process beyond its sample: its controlling
    /// terminal and `PF_EXITING` (`/proc/PID/stat`), standard streams
    /// (`/proc/PID/fd/{0,1,2}`), cgroup (`/proc/PID/cgroup`), `LEAKTOP_RUN` marker
    /// (`/proc/PID/environ`) and real uid (`/proc/PID/status`). `None` if the process
    /// now at `id.pid` is not `id` (gone, pid reused) or nothing is known (macOS); a
    /// field it may not read is `None` and [`ProcFacts::denied`] is set.
    fn facts(&self, id: Identity) -> Option<ProcFacts>;

    /// The real uid of the process `id` (`Uid:` in `/proc/PID/status`), read only if
    /// the process at `id.pid` is `id`: [`Host::facts`]'s uid at a fraction of its
    /// reads. `None` if gone, reused or unreadable.
    fn uid(&self, id: Identity) -> Option<u32>;

    /// The main pid of the systemd service `unit` (`MainPID`, 0 when it has none),
    /// asked of systemd only where it is PID 1; `None` elsewhere or when systemd
    /// cannot say.
    fn service_main_pid(&self, unit: &str) -> Option<u32>;

    /// The uid of the user `name` (`/etc/passwd`), or `None` if there is none (or no
    /// such file: macOS).
    fn user_id(&self, name: &str) -> Option<u32>;

    /// The process (thread group) that the task `pid` belongs to: `pid` itself for a
    /// process, another pid for one of its threads (`Tgid:` in `/proc/PID/status`;
    /// `/proc/TID` exists for every thread although no listing shows it). `None` if
    /// unknown (gone, unreadable, or no such notion here: macOS).
    fn thread_group(&self, pid: u32) -> Option<u32>;

    /// Now, in the units of [`ProcSample::start`] (procfs: clock ticks since boot,
    /// from `/proc/uptime`), to tell processes' ages; `None` if unknown.
    fn now_start(&self) -> Option<u64>;

    /// The file `id` runs ([`ExeFile`]: the target of `/proc/PID/exe`, its owner and
    /// mode), read only if the process at `id.pid` is `id`. `None` if gone, a kernel
    /// thread, or unreadable (another user's process). The default knows none.
    fn exe_file(&self, id: Identity) -> Option<ExeFile> {
        let _ = id;
        None
    }

    /// This boot's id (`/proc/sys/kernel/random/boot_id`): start times mean nothing
    /// across boots. `None` where unknown (the default).
    fn boot_id(&self) -> Option<String> {
        None
    }

    /// Keeps `leaktop run`'s record `name` (`run-<pid>.<start>`) holding `text`, for
    /// `leaktop orphans` to check the run's marker by, after the run is gone: under
    /// `$XDG_RUNTIME_DIR/leaktop/`, or `/run/leaktop/` as root, owned by this user and
    /// writable by no one else. `Ok(None)` where there is nowhere to keep it (no such
    /// directory; the default).
    ///
    /// # Errors
    /// The directory is not this user's own, or the file cannot be written.
    fn keep_run_record(&self, name: &str, text: &str) -> io::Result<Option<Box<dyn KeptFile>>> {
        let _ = (name, text);
        Ok(None)
    }

    /// The text of user `uid`'s `leaktop run` record `name`, where one is kept that
    /// `uid` owns, no one else may write and no symlink leads to; `None` otherwise
    /// (the default).
    fn run_record(&self, uid: u32, name: &str) -> Option<String> {
        let _ = (uid, name);
        None
    }

    /// The machine's GPUs ([`gpu::Gpu`]), `None` where one check at start found none:
    /// nothing is loaded or read then, and GPU memory is unknown. The default: none.
    fn gpu(&self) -> Option<&dyn gpu::Gpu> {
        None
    }

    /// Makes leaktop a child subreaper (`PR_SET_CHILD_SUBREAPER`): every process
    /// orphaned below it is then reparented to leaktop rather than to init, however
    /// fast it forks or whether it calls `setsid`. `Ok(true)` once leaktop is one,
    /// `Ok(false)` where the platform has no subreapers (macOS), `Err` if the kernel
    /// refused.
    fn become_subreaper(&self) -> io::Result<bool>;
}

/// The host of this platform. Built once, by the command layer, and passed down.
pub fn real() -> Arc<dyn Host> {
    #[cfg(target_os = "linux")]
    {
        Arc::new(linux::LinuxHost::new())
    }
    #[cfg(target_os = "macos")]
    {
        Arc::new(macos::MacosHost::new())
    }
    #[cfg(not(any(target_os = "linux", target_os = "macos")))]
    {
        compile_error!("leaktop has no Host for this platform yet")
    }
}

/// Opens `path` as the Unix hosts' [`Host::create`] does, with the same flags: for a
/// fake host that writes real files.
#[cfg(unix)]
pub fn create_file(path: &Path, how: Create) -> io::Result<File> {
    unix::create(path, how)
}

/// [`Host::create_dir_all`] as the Unix hosts do it, for a fake host that makes real
/// directories.
#[cfg(unix)]
pub fn create_dir_all(path: &Path) -> io::Result<()> {
    unix::create_dir_all(path)
}

/// [`Host::owner`] as the Unix hosts do it.
#[cfg(unix)]
pub fn owner(path: &Path) -> io::Result<u32> {
    unix::owner(path)
}

/// [`Host::wall_clock`] in ms since the Unix epoch (0 for a clock set before it), as
/// recordings write times.
pub fn wall_ms(host: &dyn Host) -> u64 {
    host.wall_clock()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The pids a kill never signals: 0, PID 1, leaktop and every ancestor of leaktop.
pub fn protected(host: &dyn Host) -> HashSet<u32> {
    let mut set: HashSet<u32> = [0, 1].into_iter().collect();
    let mut pid = host.own_pid();
    while pid > 1 && set.insert(pid) {
        match host.probe(pid) {
            Some(s) => pid = s.ppid,
            None => break,
        }
    }
    set
}

/// Processes stopped with SIGSTOP, resumed with SIGCONT when the guard goes: on the
/// normal path, on an early return and on a panic's unwind alike. Only a SIGKILL of
/// leaktop itself while the guard lives leaves them stopped (`kill -CONT` resumes
/// them); leaktop keeps that window to one enumeration of the tree.
pub struct Frozen {
    held: Vec<Box<dyn Pinned>>,
}

impl Frozen {
    pub fn new() -> Self {
        Frozen { held: Vec::new() }
    }

    /// Stops `p` and keeps it to resume later. `Err` (nothing kept) if the stop did
    /// not go out.
    pub fn freeze(&mut self, p: Box<dyn Pinned>) -> Result<(), (Box<dyn Pinned>, SignalError)> {
        match p.signal(Signal::STOP) {
            Ok(()) => {
                self.held.push(p);
                Ok(())
            }
            Err(e) => Err((p, e)),
        }
    }

    pub fn held(&self) -> &[Box<dyn Pinned>] {
        &self.held
    }

    /// Resumes every process and hands their handles back.
    pub fn thaw(mut self) -> Vec<Box<dyn Pinned>> {
        let held = std::mem::take(&mut self.held);
        for p in &held {
            let _ = p.signal(Signal::CONT);
        }
        held
    }
}

impl Default for Frozen {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for Frozen {
    fn drop(&mut self) {
        for p in &self.held {
            let _ = p.signal(Signal::CONT);
        }
    }
}
