//! The portable backend, built on the `sysinfo` crate (default off Linux).
//!
//! sysinfo refreshes every process on each call, so this backend costs more than
//! procfs; it filters its output to the same contract (members plus new processes).

use std::collections::HashSet;

use sysinfo::{Pid, ProcessRefreshKind, ProcessStatus, ProcessesToUpdate, System, UpdateKind};

use super::{Comm, Command, Identity, ProcSample, SampleError, Sampler};

pub struct SysinfoSampler {
    system: Option<System>,
    seen: HashSet<Identity>,
}

impl Default for SysinfoSampler {
    fn default() -> Self {
        Self::new()
    }
}

impl SysinfoSampler {
    pub fn new() -> Self {
        SysinfoSampler {
            system: sysinfo::IS_SUPPORTED_SYSTEM.then(System::new),
            seen: HashSet::new(),
        }
    }

    fn refresh(&mut self, which: ProcessesToUpdate<'_>, cmd: bool) -> Option<&System> {
        let system = self.system.as_mut()?;
        // Without tasks: on Linux sysinfo otherwise lists every thread as a child of its
        // process, holding the whole process's RSS (a Python parent with a pool of
        // threads showed as 7 processes and 218 MiB where /proc has 4 and 171 MiB).
        let mut kind = ProcessRefreshKind::nothing()
            .with_memory()
            .with_cpu()
            .without_tasks();
        if cmd {
            kind = kind.with_cmd(UpdateKind::Always);
        }
        system.refresh_processes_specifics(which, true, kind);
        Some(system)
    }
}

fn state_letter(status: ProcessStatus) -> u8 {
    match status {
        ProcessStatus::Run => b'R',
        ProcessStatus::Sleep => b'S',
        ProcessStatus::Idle => b'I',
        ProcessStatus::Stop => b'T',
        ProcessStatus::Tracing => b't',
        ProcessStatus::Zombie => b'Z',
        ProcessStatus::Dead => b'X',
        ProcessStatus::UninterruptibleDiskSleep => b'D',
        ProcessStatus::Parked => b'P',
        ProcessStatus::Wakekill => b'K',
        ProcessStatus::Waking => b'W',
        _ => b'?',
    }
}

fn to_sample(process: &sysinfo::Process) -> ProcSample {
    let pid = process.pid().as_u32();
    let session = process.session_id().map_or(0, Pid::as_u32);
    ProcSample {
        pid,
        ppid: process.parent().map_or(0, Pid::as_u32),
        state: state_letter(process.status()),
        rss_kb: process.memory() / 1024,
        // sysinfo exposes no process group; the session stands in for it.
        pgrp: session,
        session,
        start: process.start_time(),
        cpu_ms: process.accumulated_cpu_time(),
        comm: Comm::new(process.name().as_encoded_bytes()),
    }
}

impl Sampler for SysinfoSampler {
    fn sample(
        &mut self,
        members: &[Identity],
        out: &mut Vec<ProcSample>,
    ) -> Result<(), SampleError> {
        let seen = std::mem::take(&mut self.seen);
        let system = self
            .refresh(ProcessesToUpdate::All, false)
            .ok_or(SampleError::Unsupported("sysinfo"))?;
        let wanted: HashSet<u32> = members.iter().map(|m| m.pid).collect();
        let mut now_seen = HashSet::with_capacity(seen.len());
        for process in system.processes().values() {
            let sample = to_sample(process);
            if wanted.contains(&sample.pid) || !seen.contains(&sample.id()) {
                out.push(sample);
            }
            now_seen.insert(sample.id());
        }
        self.seen = now_seen;
        Ok(())
    }

    fn command(&mut self, id: Identity) -> Option<Command> {
        let pid = Pid::from_u32(id.pid);
        let system = self.refresh(ProcessesToUpdate::Some(&[pid]), true)?;
        let process = system.process(pid)?;
        if process.start_time() != id.start {
            return None;
        }
        let name = process.name().to_string_lossy();
        let name = crate::human::kept(&name, crate::human::NAME_MAX_BYTES).into_owned();
        let args: Vec<String> = process
            .cmd()
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let cmd = if args.is_empty() {
            format!("[{name}]")
        } else {
            super::kept_command(&args.join(" "))
        };
        Some(Command { name, cmd })
    }

    fn start_clock(&self) -> Option<super::StartClock> {
        // sysinfo reports start times in seconds since the epoch.
        Some(super::StartClock {
            boot_ms: 0,
            per_sec: 1,
        })
    }

    fn probe(&mut self, pid: u32) -> Option<ProcSample> {
        let pid = Pid::from_u32(pid);
        let system = self.refresh(ProcessesToUpdate::Some(&[pid]), false)?;
        system.process(pid).map(to_sample)
    }
}
