//! Attaching to a root: checking it is a readable process, reading what it runs, and
//! what lies outside its family (its parent and ancestors, leaktop's own).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use super::{LEAK_GRACE, Monitor};
use crate::host::Host;
use crate::model::alerts::{AlertConfig, AlertDetector};
use crate::model::restart::{RootMarks, args_of, argv0_base};
use crate::model::tracker::Outside;
use crate::model::{Header, Tracker};
use crate::sample::events::EventRequest;
use crate::sample::{Command, Identity, ProcSample, SampleError, Sampler};

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

impl Monitor {
    /// Starts watching `pid` and the family it grows, sampled with `sampler` (one of
    /// `host`'s kind, or a test's). `subreapers` are pids known to adopt orphans
    /// (leaktop itself under `run`). leaktop's own pid, the kernel's list of its
    /// children, the clocks and the machine's name come from `host`.
    pub fn attach_on(
        host: Arc<dyn Host>,
        mut sampler: Box<dyn Sampler + Send>,
        pid: u32,
        interval: Duration,
        subreapers: Vec<u32>,
    ) -> Result<Self, AttachError> {
        let root = root_of(host.as_ref(), sampler.as_mut(), pid)?;
        let command = settled_command(host.as_ref(), sampler.as_mut(), root.id());
        let me = host.own_pid();
        let marks = RootMarks {
            exe: host.exe_id(pid),
            argv0: argv0_base(&command),
            comm: root.comm,
            parent: root.ppid,
            args: args_of(&command),
            seen_ms: 0,
        };
        // A root that runs leaktop (the demo's server) keeps its leaktop children.
        let leaktop_exe = host.exe_id(me).filter(|&exe| marks.exe != Some(exe));
        let orphan_root = (pid != 1)
            .then(|| orphan_note(&root, host.as_ref()))
            .flatten();
        let adopter = subreapers.contains(&me);
        // Opened before anything of the family is read again: what it does from now
        // on is heard, not inferred.
        let events = host.events(EventRequest::from_env());
        let header = Header {
            root_pid: pid,
            root_start: root.start,
            root_cmd: command.cmd.clone(),
            interval_ms: interval.as_millis() as u64,
            started_ms: crate::host::wall_ms(host.as_ref()),
            host: host.hostname(),
            events: Some(super::listen::describe(events.as_ref())),
            start_clock: sampler.start_clock(),
        };
        let outside = outside(sampler.as_mut(), &root, subreapers, me);
        let tracker = Tracker::new(root, command, outside);
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
            memory: Default::default(),
            measure_pss: true,
            metrics: None,
            focus: HashSet::new(),
            gpu: super::gpu::GpuWatch::default(),
            events,
            heard: Vec::new(),
            watched: Vec::new(),
            events_failed: None,
        }
        .with_leak_grace(LEAK_GRACE))
    }
}

/// The process at `pid`, once it is known to be one that can be watched: not a thread
/// of another, and readable.
fn root_of(
    host: &dyn Host,
    sampler: &mut dyn Sampler,
    pid: u32,
) -> Result<ProcSample, AttachError> {
    if let Some(process) = host.thread_group(pid)
        && process != pid
    {
        return Err(AttachError::Thread {
            tid: pid,
            pid: process,
        });
    }
    match sampler.probe(pid) {
        Some(root) if pid != 0 => Ok(root),
        _ if host.exists(pid) => Err(AttachError::Unreadable(pid)),
        _ => Err(AttachError::NoSuchProcess(pid)),
    }
}

/// What lies outside `root`'s family, as the tracker needs it: its parent and
/// ancestors, the known subreapers, and leaktop (`me`) with its own ancestors.
fn outside(sampler: &mut dyn Sampler, root: &ProcSample, subreapers: Vec<u32>, me: u32) -> Outside {
    Outside {
        root_parent: sampler.probe(root.ppid),
        root_ancestors: ancestors(sampler, root.ppid),
        subreapers,
        watcher: Some(me),
        watcher_ancestors: match sampler.probe(me) {
            Some(s) => ancestors(sampler, s.ppid),
            None => Vec::new(),
        },
    }
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
fn settled_command(host: &dyn Host, sampler: &mut dyn Sampler, id: Identity) -> Command {
    let mut command = sampler.command(id).unwrap_or_default();
    for _ in 0..20 {
        if !command.is_bare() {
            break;
        }
        host.sleep(Duration::from_millis(1));
        match sampler.command(id) {
            Some(c) => command = c,
            None => break,
        }
    }
    command
}
