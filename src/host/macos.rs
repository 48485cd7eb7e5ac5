//! The [`Host`] of macOS: sampling through the `sysinfo` crate, `kill(2)` after a
//! re-check, no subreaper.
//!
//! What it cannot do as Linux does, and what that costs:
//!
//! - No pidfds: a handle re-identifies its process (pid and start time) right before
//!   each `kill(2)`. A process that exits, and whose pid a new process takes, between
//!   that check and the signal (microseconds) would get the signal; macOS hands out
//!   pids in turn up to 99,999, so that needs the pid counter to wrap around in
//!   between. Once a kill has frozen a process with SIGSTOP it cannot exit, so only
//!   that first SIGSTOP carries the race.
//! - Start times come in whole seconds: a pid reused within the second it was freed
//!   looks like the same process.
//! - sysinfo gives no process group: the session stands in for it (see
//!   [`crate::sample::sysinfo`]).
//! - No subreaper and no parent-death signal: an orphan goes to launchd (pid 1), and a
//!   command `leaktop run` started outlives a leaktop that was SIGKILLed.
//! - No `smaps_rollup`: PSS and USS are unknown.

use std::fs::File;
use std::io;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use rustix::process::Pid;
use sysinfo::{ProcessRefreshKind, ProcessesToUpdate, System, UpdateKind};

use super::{
    Alarm, Create, Deliver, ExeId, Exit, Host, Listening, Memory, PinError, Pinned, Signal,
    SignalError, SpawnError, SpawnSpec, Spawned,
};
use crate::sample::sysinfo::SysinfoSampler;
use crate::sample::{self, Backend, Identity, ProcFacts, ProcSample, SampleError, Sampler};

/// The real macOS host. Its sampler (for probes, scans and the re-checks before a
/// signal) sits behind a lock, so one host serves every thread.
pub struct MacosHost {
    sampler: Arc<Mutex<SysinfoSampler>>,
}

impl MacosHost {
    pub fn new() -> Self {
        MacosHost {
            sampler: Arc::new(Mutex::new(SysinfoSampler::new())),
        }
    }

    /// A handle on `id` that re-checks it before every signal.
    fn handle(&self, id: Identity) -> Rechecked {
        Rechecked {
            id,
            sampler: self.sampler.clone(),
        }
    }
}

impl Default for MacosHost {
    fn default() -> Self {
        Self::new()
    }
}

fn lock(sampler: &Mutex<SysinfoSampler>) -> MutexGuard<'_, SysinfoSampler> {
    sampler.lock().unwrap_or_else(|e| e.into_inner())
}

/// A process re-identified (pid and start time) before each `kill(2)`: the nearest
/// macOS has to a pidfd.
struct Rechecked {
    id: Identity,
    sampler: Arc<Mutex<SysinfoSampler>>,
}

impl Pinned for Rechecked {
    fn id(&self) -> Identity {
        self.id
    }

    fn signal(&self, signal: Signal) -> Result<(), SignalError> {
        match lock(&self.sampler).probe(self.id.pid) {
            Some(s) if s.start == self.id.start => {}
            // Gone, or its pid now holds another process: not signalled.
            _ => return Err(SignalError::Gone),
        }
        let pid = Pid::from_raw(self.id.pid as i32).ok_or(SignalError::Gone)?;
        rustix::process::kill_process(pid, signal).map_err(super::unix::signal_error)
    }
}

impl Host for MacosHost {
    fn sampler(&self, backend: Backend) -> Result<Box<dyn Sampler + Send>, SampleError> {
        sample::open(backend)
    }

    fn probe(&self, pid: u32) -> Option<ProcSample> {
        lock(&self.sampler).probe(pid)
    }

    fn scan(&self) -> Vec<ProcSample> {
        // A fresh sampler: the shared one remembers which pids it has seen.
        sample::scan(&mut SysinfoSampler::new()).unwrap_or_default()
    }

    /// From a scan of every process: macOS has no per-process list of children.
    fn children_of(&self, pid: u32, out: &mut Vec<u32>) {
        out.extend(
            self.scan()
                .iter()
                .filter(|s| s.ppid == pid && s.pid != pid)
                .map(|s| s.pid),
        );
    }

    fn own_pid(&self) -> u32 {
        std::process::id()
    }

    /// The device and inode of the file at the executable's path (`proc_pidpath`):
    /// a binary replaced since the process started gives the new file's.
    fn exe_id(&self, pid: u32) -> Option<ExeId> {
        if pid == 0 {
            return None;
        }
        let pid = sysinfo::Pid::from_u32(pid);
        let mut system = System::new();
        system.refresh_processes_specifics(
            ProcessesToUpdate::Some(&[pid]),
            false,
            ProcessRefreshKind::nothing().with_exe(UpdateKind::Always),
        );
        let st = rustix::fs::stat(system.process(pid)?.exe()?).ok()?;
        #[allow(clippy::unnecessary_cast)] // their types vary between targets
        Some((st.st_dev as u64, st.st_ino as u64))
    }

    /// `kill(pid, 0)`: EPERM still means a process is there.
    fn exists(&self, pid: u32) -> bool {
        let Some(pid) = Pid::from_raw(pid as i32) else {
            return false;
        };
        match rustix::process::test_kill_process(pid) {
            Ok(()) => true,
            Err(e) => e == rustix::io::Errno::PERM,
        }
    }

    /// Unknown: no `/proc/PID/fd` to read.
    fn stdio_on_terminal(&self, _pid: u32) -> Option<bool> {
        None
    }

    fn now(&self) -> Instant {
        Instant::now()
    }

    fn wall_clock(&self) -> SystemTime {
        SystemTime::now()
    }

    fn hostname(&self) -> String {
        super::unix::hostname()
    }

    fn sleep(&self, duration: Duration) {
        std::thread::sleep(duration);
    }

    fn wait(&self, deadline: Option<Instant>, alarm: &Alarm) -> bool {
        alarm.wait_until(deadline)
    }

    fn events(
        &self,
        request: crate::sample::events::EventRequest,
    ) -> Box<dyn crate::sample::events::EventSource> {
        crate::sample::events::open(request)
    }

    fn pin(&self, id: Identity) -> Result<Box<dyn Pinned>, PinError> {
        match self.probe(id.pid) {
            Some(s) if s.start == id.start => Ok(Box::new(self.handle(id))),
            Some(_) => Err(PinError::Reused),
            None => Err(PinError::Gone),
        }
    }

    fn reap(&self) -> Vec<(u32, Exit)> {
        super::unix::reap()
    }

    /// `spec.parent_death_signal` has no equivalent on macOS and is not honoured.
    fn spawn(&self, spec: &SpawnSpec) -> Result<Spawned, SpawnError> {
        let (command, name) = super::unix::command(spec)?;
        // Until leaktop reaps it, the child's pid cannot be reused: the re-check
        // before a signal to it cannot be fooled.
        let pid = super::unix::start(command, &name)?;
        let start = self.probe(pid).map_or(0, |s| s.start);
        Ok(Spawned {
            pid,
            pinned: Box::new(self.handle(Identity { pid, start })),
        })
    }

    /// macOS cannot tell who sent a signal: a SIGINT that comes while leaktop is in its
    /// terminal's foreground is taken for the terminal's Ctrl-C, which reached the
    /// whole process group already.
    fn listen_signals(&self, signals: &[i32], mut deliver: Deliver) -> io::Result<Listening> {
        let mut signals = signal_hook::iterator::Signals::new(signals)?;
        let handle = signals.handle();
        std::thread::spawn(move || {
            for signal in signals.forever() {
                let sent = signal != signal_hook::consts::SIGINT || !in_terminal_foreground();
                if !deliver(signal, sent) {
                    break;
                }
            }
        });
        Ok(Listening::new(move || handle.close()))
    }

    fn die_of(&self, signal: i32) {
        super::unix::die_of(signal);
    }

    /// macOS names a process by its executable: nothing to do.
    fn set_process_name(&self, _name: &str) {}

    fn create(&self, path: &Path, how: Create) -> io::Result<File> {
        super::unix::create(path, how)
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        std::fs::rename(from, to)
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        std::fs::remove_file(path)
    }

    /// Unknown: macOS has no `smaps_rollup`.
    fn memory(&self, _id: Identity) -> Option<Memory> {
        None
    }

    /// sysinfo's available memory (free, inactive and purgeable pages), in KiB.
    fn mem_available_kb(&self) -> Option<u64> {
        let mut system = System::new();
        system.refresh_memory();
        Some(system.available_memory() / 1024).filter(|&kb| kb > 0)
    }

    /// Unknown: macOS keeps no record of when a process last ran that leaktop reads.
    fn idle_ms(&self, ids: &[Identity]) -> Vec<Option<u64>> {
        vec![None; ids.len()]
    }

    /// Unknown: none of the `/proc` files it is read from.
    fn facts(&self, _id: Identity) -> Option<ProcFacts> {
        None
    }

    /// Unknown, as [`Host::facts`].
    fn uid(&self, _id: Identity) -> Option<u32> {
        None
    }

    /// No systemd.
    fn service_main_pid(&self, _unit: &str) -> Option<u32> {
        None
    }

    /// Not read: macOS keeps its users in Directory Services, not `/etc/passwd`.
    fn user_id(&self, _name: &str) -> Option<u32> {
        None
    }

    /// No `/proc/TID`: a thread's id is not a pid here.
    fn thread_group(&self, _pid: u32) -> Option<u32> {
        None
    }

    /// Unknown: sysinfo's start times are wall-clock seconds, not ticks since boot.
    fn now_start(&self) -> Option<u64> {
        None
    }

    /// macOS has no subreapers.
    fn become_subreaper(&self) -> io::Result<bool> {
        Ok(false)
    }
}

/// Whether leaktop's process group is the foreground group of the terminal on one of
/// its standard streams.
fn in_terminal_foreground() -> bool {
    let group = rustix::process::getpgrp();
    let foreground = |fg: rustix::io::Result<Pid>| fg.is_ok_and(|fg| fg == group);
    use rustix::termios::tcgetpgrp;
    foreground(tcgetpgrp(io::stdin()))
        || foreground(tcgetpgrp(io::stdout()))
        || foreground(tcgetpgrp(io::stderr()))
}

/// These run on Linux too: the host needs only sysinfo and `kill(2)`, so its re-check
/// is tried against real processes wherever the tests run.
#[cfg(test)]
mod tests {
    use super::*;
    use rustix::process::{WaitOptions, waitpid};

    /// A child of this test, killed and reaped by its pid when dropped unless the test
    /// reaped it (other tests' children are theirs to reap: no `waitpid(-1)` here).
    struct Child(Option<u32>);

    impl Child {
        /// Waits for the child; the signal that ended it, if one did.
        fn wait(&mut self) -> Option<i32> {
            let pid = Pid::from_raw(self.0.take()? as i32)?;
            let (_, status) = waitpid(Some(pid), WaitOptions::empty()).ok()??;
            status.terminating_signal()
        }
    }

    impl Drop for Child {
        fn drop(&mut self) {
            if let Some(pid) = self.0.and_then(|p| Pid::from_raw(p as i32)) {
                let _ = rustix::process::kill_process(pid, Signal::KILL);
                let _ = waitpid(Some(pid), WaitOptions::empty());
            }
        }
    }

    fn sleeper(host: &MacosHost) -> (Child, Box<dyn Pinned>) {
        let spawned = host
            .spawn(&SpawnSpec {
                argv: vec!["sleep".into(), "30".into()],
                null_stdio: true,
                parent_death_signal: None,
                env: Vec::new(),
            })
            .expect("spawn sleep");
        (Child(Some(spawned.pid)), spawned.pinned)
    }

    #[test]
    fn a_handle_signals_its_process_and_nothing_once_that_is_gone() {
        let host = MacosHost::new();
        let (mut child, spawned) = sleeper(&host);
        let id = spawned.id();
        assert_ne!(id.start, 0, "the child was read after it started");
        assert!(host.exists(id.pid));
        let mut children = Vec::new();
        host.children_of(host.own_pid(), &mut children);
        assert!(children.contains(&id.pid), "{children:?}");

        let other = Identity {
            pid: id.pid,
            start: id.start + 1,
        };
        assert_eq!(host.pin(other).err(), Some(PinError::Reused));
        // A handle whose process has gone and whose pid another process holds: the
        // re-check before kill(2) sends nothing.
        assert_eq!(
            host.handle(other).signal(Signal::TERM),
            Err(SignalError::Gone)
        );
        std::thread::sleep(Duration::from_millis(50));
        assert!(host.probe(id.pid).is_some_and(|s| !s.has_exited()));
        let pinned = host.pin(id).expect("pinned by pid and start time");
        assert_eq!(pinned.signal(Signal::TERM), Ok(()));
        assert_eq!(child.wait(), Some(Signal::TERM.as_raw()));

        // Reaped: the re-check finds no process with that start time and sends nothing.
        assert_eq!(pinned.signal(Signal::KILL), Err(SignalError::Gone));
        assert_eq!(spawned.signal(Signal::KILL), Err(SignalError::Gone));
        assert!(host.pin(id).is_err());
    }

    #[test]
    fn knows_its_own_executable_and_the_machines_memory() {
        let host = MacosHost::new();
        let exe = rustix::fs::stat(std::env::current_exe().unwrap()).unwrap();
        #[allow(clippy::unnecessary_cast)]
        let expected = (exe.st_dev as u64, exe.st_ino as u64);
        assert_eq!(host.exe_id(host.own_pid()), Some(expected));
        assert!(host.exists(host.own_pid()));
        assert!(host.mem_available_kb().is_some_and(|kb| kb > 0));
        assert_eq!(host.memory(host.probe(host.own_pid()).unwrap().id()), None);
    }
}
