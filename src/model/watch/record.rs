//! What `leaktop watch` records, one JSON object per line on standard output and in
//! its journal (see `docs/watch.md` for the fields). Every record has a `type` and a
//! `time_ms` (wall time, ms since the Unix epoch); a reader skips types it does not
//! know, so records can be added later.
//!
//! - `start` / `stop`: a watcher began (its event source and what it guarantees) or
//!   ended;
//! - `orphaned`: a process died and left live processes behind: what died, how and
//!   when, and what it left (each process with its parent before, group, session,
//!   cgroup, command, RSS, PSS);
//! - `fate`: what became of a process left behind: it exited by itself, a signal
//!   ended it, a policy ended it, or it was gone at a scan;
//! - `policy`: what a `[[policy]]` did, or would do under `--dry-run`;
//! - `lost`: the kernel dropped events (what happened then is read from `/proc` at
//!   once).

use serde::{Deserialize, Serialize};

use crate::sample::Identity;
use crate::sample::events::Ended;

/// One line of the journal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Record {
    Start(Start),
    Orphaned(Orphaning),
    Fate(Fate),
    Policy(PolicyRecord),
    Lost(LostRecord),
    Stop(Stop),
}

impl Record {
    /// When it happened, ms since the Unix epoch.
    pub fn time_ms(&self) -> u64 {
        match self {
            Record::Start(r) => r.time_ms,
            Record::Orphaned(r) => r.time_ms,
            Record::Fate(r) => r.time_ms,
            Record::Policy(r) => r.time_ms,
            Record::Lost(r) => r.time_ms,
            Record::Stop(r) => r.time_ms,
        }
    }
}

/// A watcher began.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Start {
    pub time_ms: u64,
    /// The watcher's pid and start time (clock ticks since boot).
    pub pid: u32,
    pub start: u64,
    pub version: String,
    /// `connector`, `pidfd` or `ticks`.
    pub source: String,
    /// What that source guarantees, in a sentence.
    pub guarantees: String,
    /// Why the connector is not the source, if it is not.
    #[serde(default)]
    pub fallback: Option<String>,
    /// The whole machine (`machine`, as root) or one user's processes (`uid:N`).
    pub scope: String,
    /// The configuration file used, if any.
    #[serde(default)]
    pub config: Option<String>,
    /// Stories read back from the journal whose processes are still alive.
    #[serde(default)]
    pub resumed: usize,
}

/// A watcher ended (a SIGKILL or a power cut leaves none).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stop {
    pub time_ms: u64,
    pub pid: u32,
    /// Why: `signal SIGTERM`, `events failed: ...`.
    pub why: String,
}

/// How a process ended, as its wait status tells; JSON `{"exit_code": 1}` or
/// `{"signal": 9, "signal_name": "SIGKILL", "core": false}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct How {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<u8>,
    /// Written for people and log pipelines; a reader names the signal itself.
    #[serde(default, skip_deserializing, skip_serializing_if = "Option::is_none")]
    pub signal_name: Option<&'static str>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub core: bool,
}

impl How {
    pub fn from_ended(e: Ended) -> How {
        match e {
            Ended::Code(c) => How {
                exit_code: Some(c),
                signal: None,
                signal_name: None,
                core: false,
            },
            Ended::Signaled { signal, core } => How {
                exit_code: None,
                signal: Some(signal),
                signal_name: signal_name(signal),
                core,
            },
        }
    }

    /// `killed by SIGKILL`, `exited with code 1`, `killed by SIGSEGV (core dumped)`.
    pub fn words(&self) -> String {
        match (self.exit_code, self.signal) {
            (Some(c), _) => format!("exited with code {c}"),
            (None, Some(s)) => {
                let name = self
                    .signal_name
                    .or_else(|| signal_name(s))
                    .map_or_else(|| format!("signal {s}"), str::to_string);
                let core = if self.core { " (core dumped)" } else { "" };
                format!("was killed by {name}{core}")
            }
            (None, None) => "ended".to_string(),
        }
    }
}

/// The name of a signal on Linux (`SIGKILL`), for the common ones.
pub fn signal_name(signal: u8) -> Option<&'static str> {
    Some(match signal {
        1 => "SIGHUP",
        2 => "SIGINT",
        3 => "SIGQUIT",
        4 => "SIGILL",
        5 => "SIGTRAP",
        6 => "SIGABRT",
        7 => "SIGBUS",
        8 => "SIGFPE",
        9 => "SIGKILL",
        10 => "SIGUSR1",
        11 => "SIGSEGV",
        12 => "SIGUSR2",
        13 => "SIGPIPE",
        14 => "SIGALRM",
        15 => "SIGTERM",
        24 => "SIGXCPU",
        25 => "SIGXFSZ",
        31 => "SIGSYS",
        _ => return None,
    })
}

/// A process that died leaving live processes behind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Died {
    pub pid: u32,
    /// Its start time (clock ticks since boot), where it was read before it died.
    #[serde(default)]
    pub start: Option<u64>,
    /// Its name (`comm`).
    pub comm: String,
    /// Its command line, where it was read before it died (at most
    /// [`MAX_TEXT`] bytes).
    #[serde(default)]
    pub cmd: Option<String>,
    /// Its executable (`/proc/PID/exe`), where it was read.
    #[serde(default)]
    pub exe: Option<String>,
    #[serde(default)]
    pub uid: Option<u32>,
    /// How it ended, where the events told (the connector always does; a pidfd on
    /// Linux 6.15+ once it was reaped).
    #[serde(default)]
    pub how: Option<How>,
}

/// One process left behind, as read right after the orphaning.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Left {
    pub pid: u32,
    pub start: u64,
    /// Its parent before: the process that died for the adopted ones, a process
    /// left behind for the others.
    pub ppid_was: u32,
    /// Its parent now: the adopter (PID 1, a subreaper) for the adopted ones.
    pub ppid: u32,
    /// It was the dead process's child (adopted); else a descendant of one.
    pub adopted: bool,
    pub pgid: u32,
    pub sid: u32,
    #[serde(default)]
    pub uid: Option<u32>,
    #[serde(default)]
    pub cgroup: Option<String>,
    pub comm: String,
    #[serde(default)]
    pub cmd: Option<String>,
    /// Resident memory (`/proc/PID/stat`), KiB.
    pub rss_kb: u64,
    /// Proportional set size (`/proc/PID/smaps_rollup`), KiB, where read.
    #[serde(default)]
    pub pss_kb: Option<u64>,
}

impl Left {
    pub fn id(&self) -> Identity {
        Identity {
            pid: self.pid,
            start: self.start,
        }
    }
}

/// An orphaning: what died, how and when, and what it left behind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Orphaning {
    /// When the process died: the event's time (`exact`), else when a scan noticed.
    pub time_ms: u64,
    /// `time_ms` is the event's (true), or the orphaning happened between
    /// `since_ms` and `time_ms` (false: between two scans).
    pub exact: bool,
    #[serde(default)]
    pub since_ms: Option<u64>,
    /// The event source that saw it: `connector`, `pidfd`, `ticks` (a scan).
    pub source: String,
    pub died: Died,
    /// The processes left behind, adopted ones first (at most [`MAX_LEFT`]).
    pub left: Vec<Left>,
    /// Processes left behind but not listed (past [`MAX_LEFT`]).
    #[serde(default)]
    pub more: usize,
    /// Their RSS summed, KiB.
    pub rss_kb: u64,
    /// Their PSS summed, KiB; `None` unless read for every one listed.
    #[serde(default)]
    pub pss_kb: Option<u64>,
}

/// The most processes one `orphaned` record lists.
pub const MAX_LEFT: usize = 64;
/// The most bytes of a command line or path a record keeps.
pub const MAX_TEXT: usize = 1024;

/// `text` within [`MAX_TEXT`] bytes: its head and tail around a marker that says how
/// much was cut ([`crate::human::capped`]).
pub fn bounded(text: &str) -> String {
    crate::human::capped(text, MAX_TEXT).into_owned()
}

/// What became of a process left behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FateKind {
    /// It exited by itself (`exit`).
    Exited,
    /// A signal ended it (someone, or something, sent it).
    Signaled,
    /// A `[[policy]]` ended it.
    EndedByPolicy,
    /// It was gone at a scan; how, unknown.
    Gone,
}

/// The fate of one process left behind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fate {
    pub time_ms: u64,
    pub pid: u32,
    pub start: u64,
    /// The orphaning it came from: when, and the pid that died.
    pub orphaned_ms: u64,
    pub died_pid: u32,
    pub fate: FateKind,
    #[serde(default)]
    pub how: Option<How>,
    /// The policy that ended it, for `ended_by_policy`.
    #[serde(default)]
    pub policy: Option<String>,
}

impl Fate {
    /// How long it outlived its parent, ms.
    pub fn after_ms(&self) -> u64 {
        self.time_ms.saturating_sub(self.orphaned_ms)
    }
}

/// What a policy did about a group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyRecord {
    pub time_ms: u64,
    pub policy: String,
    /// `report` or `kill`.
    pub action: String,
    /// The group's id (`pg-4242`).
    pub group: String,
    pub processes: usize,
    pub rss_kb: u64,
    /// What happened: `reported`, `would kill`, `ended 5 of 5`, `not ended: weak
    /// evidence`.
    pub outcome: String,
    #[serde(default)]
    pub dry_run: bool,
}

/// Events the kernel dropped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LostRecord {
    pub time_ms: u64,
    /// At least this many, where counted.
    #[serde(default)]
    pub count: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn how_in_words_and_json() {
        let killed = How::from_ended(Ended::Signaled {
            signal: 9,
            core: false,
        });
        assert_eq!(killed.words(), "was killed by SIGKILL");
        assert_eq!(
            serde_json::to_string(&killed).unwrap(),
            r#"{"signal":9,"signal_name":"SIGKILL"}"#
        );
        let code = How::from_ended(Ended::Code(1));
        assert_eq!(code.words(), "exited with code 1");
        assert_eq!(serde_json::to_string(&code).unwrap(), r#"{"exit_code":1}"#);
        let segv = How::from_ended(Ended::Signaled {
            signal: 11,
            core: true,
        });
        assert_eq!(segv.words(), "was killed by SIGSEGV (core dumped)");
        let odd = How::from_ended(Ended::Signaled {
            signal: 40,
            core: false,
        });
        assert_eq!(odd.words(), "was killed by signal 40");
    }

    #[test]
    fn long_text_is_cut_on_a_character_boundary() {
        let long = "é".repeat(MAX_TEXT);
        let cut = bounded(&long);
        assert!(cut.len() <= MAX_TEXT);
        assert!(cut.contains("…[cut "), "{cut}");
        assert_eq!(bounded("short"), "short");
    }

    #[test]
    fn records_round_trip_and_unknown_types_are_refused() {
        let r = Record::Lost(LostRecord {
            time_ms: 5,
            count: Some(3),
        });
        let line = serde_json::to_string(&r).unwrap();
        assert_eq!(line, r#"{"type":"lost","time_ms":5,"count":3}"#);
        assert_eq!(serde_json::from_str::<Record>(&line).unwrap(), r);
        assert!(serde_json::from_str::<Record>(r#"{"type":"later","time_ms":1}"#).is_err());
    }
}
