//! Process events as they happen, between two ticks: forks, execs, exits, `setsid`s,
//! and the losses that make the stream incomplete.
//!
//! Three sources, best first, each behind [`EventSource`] (what each guarantees is
//! [`Source::guarantees`]):
//!
//! - **connector** ([`connector`], Linux, root): the kernel's process-events connector
//!   (netlink `NETLINK_CONNECTOR`, group `CN_IDX_PROC`). Every fork, exec, exit and
//!   `setsid` on the machine, with the kernel's timestamp. It can drop events under a
//!   burst; each drop is reported as [`ProcEvent::Lost`], never silent.
//! - **pidfd** ([`pidfd`], Linux 5.3+, unprivileged): an exit notification for each
//!   watched process (`pidfd_open`, then `poll` for readable). No forks, no `setsid`.
//! - **ticks** ([`Ticks`], anywhere): no events; only what each tick reads is known.
//!
//! The wire format of the connector is parsed by [`wire`], by hand and without any
//! `unsafe`, so malformed or short messages are reported, never a panic.

#[cfg(target_os = "linux")]
pub mod connector;
#[cfg(target_os = "linux")]
pub mod pidfd;
pub mod wire;

use std::ffi::OsStr;
use std::fmt;
use std::time::Duration;

use super::{Comm, Identity};

/// One task (a thread, or a process's main thread) as the kernel names it: its own id
/// (`pid`) and the id of its process (`tgid`, thread group id). A process is the task
/// whose `pid == tgid`; the pids elsewhere in leaktop (`/proc/PID`) are tgids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Task {
    pub pid: u32,
    pub tgid: u32,
}

impl Task {
    /// A process's main thread: `pid == tgid`.
    pub fn process(pid: u32) -> Task {
        Task { pid, tgid: pid }
    }

    /// Whether this is a process's main thread (a fork of it is a new process, an
    /// exit of it is the process's exit) rather than another of its threads.
    pub fn is_process(&self) -> bool {
        self.pid == self.tgid
    }
}

/// How a process ended, from its wait status (`exit_code` in the kernel's events,
/// `PIDFD_INFO_EXIT`): `status >> 8` after a plain exit, the signal in its low 7 bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// It called `exit` with this status.
    Code(u8),
    /// A signal (its number) killed it; `core`: it dumped core.
    Signaled { signal: u8, core: bool },
}

impl Ended {
    /// Decodes a wait status; `None` for one that is no ending (a stop: `0x7f` in the
    /// low bits).
    pub fn from_wait_status(status: u32) -> Option<Ended> {
        match status & 0x7f {
            0 => Some(Ended::Code((status >> 8) as u8)),
            0x7f => None,
            signal => Some(Ended::Signaled {
                signal: signal as u8,
                core: status & 0x80 != 0,
            }),
        }
    }
}

impl fmt::Display for Ended {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ended::Code(c) => write!(f, "exit code {c}"),
            Ended::Signaled { signal, core } => {
                write!(f, "signal {signal}")?;
                if *core {
                    f.write_str(" (core dumped)")?;
                }
                Ok(())
            }
        }
    }
}

/// Something that happened to a process, as an event source saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProcEvent {
    /// `parent` made `child`: a new process when `child.is_process()`, else a new
    /// thread of an existing one. `parent` is the child's real parent at the fork
    /// (with `CLONE_PARENT`, the forking process's own parent).
    Fork { parent: Task, child: Task },
    /// `task` called `execve` (its process now runs another program).
    Exec { task: Task },
    /// `task` exited. `parent`: its real parent at the time, where known; `how`: its
    /// wait status decoded, where known (the pidfd source knows it only once the
    /// process was reaped, on Linux 6.15+).
    Exit {
        task: Task,
        parent: Option<Task>,
        how: Option<Ended>,
    },
    /// `task`'s process called `setsid`: it now leads a new session and process group.
    Setsid { task: Task },
    /// `task` renamed itself (`prctl(PR_SET_NAME)`, or a write to `comm`).
    Comm { task: Task, comm: Comm },
    /// `task` was attached to by `tracer` (`Some`), or detached (`None`).
    Ptrace { task: Task, tracer: Option<Task> },
    /// `task` dumped core; `parent`, where known.
    Coredump { task: Task, parent: Option<Task> },
    /// Events were dropped before this point: `count` of them where a sequence gap
    /// tells (at least that many), `None` where only the kernel's `ENOBUFS` tells that
    /// some were. Whatever happened in that window must be read from `/proc` again.
    Lost { count: Option<u64> },
}

/// An event and when it happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stamped {
    /// The source's clock ([`EventSource::clock_ns`], `CLOCK_MONOTONIC` on Linux) in
    /// ns. The connector: the kernel's timestamp of the event. The pidfd source: when
    /// `poll` saw the exit (an upper bound). A loss: when it was noticed.
    pub at_ns: u64,
    pub event: ProcEvent,
}

/// Which source feeds the events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The kernel's process-events connector.
    Connector,
    /// One pidfd per watched process.
    Pidfd,
    /// None: only the ticks.
    Ticks,
}

impl Source {
    /// The short name the header, the recording and `--help` use.
    pub fn name(self) -> &'static str {
        match self {
            Source::Connector => "connector",
            Source::Pidfd => "pidfd",
            Source::Ticks => "ticks",
        }
    }

    /// What this source guarantees, in a sentence.
    pub fn guarantees(self) -> &'static str {
        match self {
            Source::Connector => {
                "every fork, exec, exit and setsid on the machine as it happens, with the \
                 kernel's time; a burst the kernel drops is reported as lost, never silent"
            }
            Source::Pidfd => {
                "the exit of each watched process as it happens; forks and setsid are seen \
                 only at the next tick, so a process that forks and exits between two ticks \
                 is missed"
            }
            Source::Ticks => {
                "only what each tick reads: a process that forks and exits between two ticks \
                 is missed"
            }
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why the connector gives no events here (the source falls back to pidfds or ticks).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoEvents {
    /// [`NO_CONNECTOR_VAR`] (or an option) turned it off.
    #[error("turned off ({NO_CONNECTOR_VAR})")]
    Disabled,
    /// `bind` or the subscription gave `EPERM`: it needs `CAP_NET_ADMIN`.
    #[error("not permitted: subscribing needs CAP_NET_ADMIN (root)")]
    NotPermitted,
    /// `ECONNREFUSED`: leaktop runs in a network namespace of its own.
    #[error("refused: leaktop runs in a network namespace of its own")]
    NetNamespace,
    /// leaktop runs in a PID (`"pid"`) or user (`"user"`) namespace other than the
    /// initial one: the kernel ignores its subscription, and events name processes
    /// by the initial namespace's pids, not the ones leaktop sees.
    #[error("leaktop runs in a {0} namespace of its own")]
    Namespace(&'static str),
    /// The kernel did not acknowledge the subscription within this many ms.
    #[error("the kernel did not acknowledge the subscription within {0} ms")]
    NoAcknowledgement(u64),
    /// The kernel has no process-events connector (`CONFIG_PROC_EVENTS`), or this is
    /// not Linux.
    #[error("this kernel has no process-events connector")]
    Unsupported,
    /// Any other failure, as the OS said it.
    #[error("{0}")]
    Other(String),
}

/// Why an event source stopped giving events.
#[derive(Debug, thiserror::Error)]
pub enum EventError {
    /// Reading the connector's socket failed with something other than a loss or an
    /// interruption; the source gives no more events (fall back to ticks).
    #[error("the process-events socket failed: {0}")]
    Socket(#[source] std::io::Error),
}

/// The environment variable that keeps leaktop off the connector when set to anything
/// but empty or `0`: pidfds or ticks then, as for a user without `CAP_NET_ADMIN`.
pub const NO_CONNECTOR_VAR: &str = "LEAKTOP_NO_CONNECTOR";

/// What the caller wants of `Host::events`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventRequest {
    /// Try the connector (else go straight to pidfds).
    pub connector: bool,
    /// How long to wait for the kernel to acknowledge the subscription.
    pub ack_within: Duration,
}

impl Default for EventRequest {
    fn default() -> Self {
        EventRequest {
            connector: true,
            ack_within: Duration::from_secs(1),
        }
    }
}

impl EventRequest {
    /// The default, with the connector off where [`NO_CONNECTOR_VAR`] says so.
    pub fn from_env() -> EventRequest {
        Self::from_env_value(std::env::var_os(NO_CONNECTOR_VAR).as_deref())
    }

    /// As [`EventRequest::from_env`], given the variable's value.
    pub fn from_env_value(value: Option<&OsStr>) -> EventRequest {
        let off = value.is_some_and(|v| !v.is_empty() && v != "0");
        EventRequest {
            connector: !off,
            ..EventRequest::default()
        }
    }
}

/// A source of [`ProcEvent`]s; see the module's documentation.
pub trait EventSource: Send {
    /// Which source this is.
    fn source(&self) -> Source;

    /// Why the connector is not the source, if it is not.
    fn fallback_reason(&self) -> Option<&NoEvents>;

    /// The processes whose exits to watch (the pidfd source opens one pidfd per new
    /// identity and closes the others; the connector sees every process anyway, and
    /// the ticks see none). A pid now held by another process is not watched.
    fn watch(&mut self, ids: &[Identity]);

    /// Waits up to `timeout` for events and appends them to `out` in the order the
    /// source got them; returns at once when some were waiting. `Err` when the source
    /// broke for good.
    fn wait(&mut self, timeout: Duration, out: &mut Vec<Stamped>) -> Result<(), EventError>;

    /// Now, on the clock of [`Stamped::at_ns`] (ns): how long ago an event happened is
    /// `clock_ns() - at_ns`.
    fn clock_ns(&self) -> u64;
}

/// The source that gives no events: it only waits.
pub struct Ticks {
    why: Option<NoEvents>,
}

impl Ticks {
    /// A source of no events, with the reason the connector is not used.
    pub fn new(why: Option<NoEvents>) -> Ticks {
        Ticks { why }
    }
}

impl EventSource for Ticks {
    fn source(&self) -> Source {
        Source::Ticks
    }

    fn fallback_reason(&self) -> Option<&NoEvents> {
        self.why.as_ref()
    }

    fn watch(&mut self, _ids: &[Identity]) {}

    fn wait(&mut self, timeout: Duration, _out: &mut Vec<Stamped>) -> Result<(), EventError> {
        std::thread::sleep(timeout);
        Ok(())
    }

    fn clock_ns(&self) -> u64 {
        monotonic_ns()
    }
}

/// `CLOCK_MONOTONIC` in ns: the kernel's clock for process events (`ktime_get_ns`).
pub fn monotonic_ns() -> u64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    (t.tv_sec as u64)
        .saturating_mul(1_000_000_000)
        .saturating_add(t.tv_nsec as u64)
}

/// The best source this machine allows for `request`: the connector, else pidfds, else
/// ticks; the reason the connector is not used travels with the fallback.
#[cfg(target_os = "linux")]
pub fn open(request: EventRequest) -> Box<dyn EventSource> {
    let why = if request.connector {
        match connector::Connector::subscribe(connector::Options {
            ack_within: request.ack_within,
            ..connector::Options::default()
        }) {
            Ok(c) => return Box::new(c),
            Err(why) => why,
        }
    } else {
        NoEvents::Disabled
    };
    match pidfd::PidfdWatcher::new(Some(why.clone())) {
        Some(w) => Box::new(w),
        None => Box::new(Ticks::new(Some(why))),
    }
}

/// The best source this machine allows: ticks (no events outside Linux yet).
#[cfg(not(target_os = "linux"))]
pub fn open(_request: EventRequest) -> Box<dyn EventSource> {
    Box::new(Ticks::new(Some(NoEvents::Unsupported)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wait_status_decodes_to_a_code_or_a_signal() {
        assert_eq!(Ended::from_wait_status(7 << 8), Some(Ended::Code(7)));
        assert_eq!(Ended::from_wait_status(0), Some(Ended::Code(0)));
        assert_eq!(
            Ended::from_wait_status(9),
            Some(Ended::Signaled {
                signal: 9,
                core: false
            })
        );
        assert_eq!(
            Ended::from_wait_status(0x80 | 11),
            Some(Ended::Signaled {
                signal: 11,
                core: true
            })
        );
        // A stop is no ending.
        assert_eq!(Ended::from_wait_status((19 << 8) | 0x7f), None);
    }

    #[test]
    fn the_variable_turns_the_connector_off_unless_empty_or_zero() {
        let on = |v: Option<&str>| EventRequest::from_env_value(v.map(OsStr::new)).connector;
        assert!(on(None));
        assert!(on(Some("")));
        assert!(on(Some("0")));
        assert!(!on(Some("1")));
        assert!(!on(Some("yes")));
    }

    #[test]
    fn each_source_has_a_name_and_says_what_it_guarantees() {
        for s in [Source::Connector, Source::Pidfd, Source::Ticks] {
            assert!(!s.name().is_empty());
            assert!(s.guarantees().len() > 30, "{s}");
        }
        assert!(Source::Ticks.guarantees().contains("missed"));
    }
}
