//! The [`Host`] of Linux: `/proc`, pidfds, `waitid`, `prctl`.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Stdio;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rustix::process::{Pid, PidfdFlags, WaitOptions, pidfd_open, pidfd_send_signal};

use super::{
    Create, Exit, Host, Memory, PinError, Pinned, Signal, SignalError, SpawnError, SpawnSpec,
    Spawned,
};
use crate::model::orphans::{ProcFacts, StdioKind};
use crate::sample::procfs::ProcfsSampler;
use crate::sample::stat;
use crate::sample::{self, Backend, Identity, ProcSample, SampleError, Sampler};

/// The real Linux host. Its own sampler (for probes and scans) sits behind a lock, so
/// one host serves every thread.
pub struct LinuxHost {
    sampler: Mutex<ProcfsSampler>,
}

impl LinuxHost {
    pub fn new() -> Self {
        LinuxHost {
            sampler: Mutex::new(ProcfsSampler::new()),
        }
    }

    fn sampler_lock(&self) -> std::sync::MutexGuard<'_, ProcfsSampler> {
        self.sampler.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Default for LinuxHost {
    fn default() -> Self {
        Self::new()
    }
}

/// A pidfd and the identity checked after it was opened.
struct Pidfd {
    id: Identity,
    fd: OwnedFd,
}

impl Pinned for Pidfd {
    fn id(&self) -> Identity {
        self.id
    }

    fn signal(&self, signal: Signal) -> Result<(), SignalError> {
        pidfd_send_signal(&self.fd, signal).map_err(|e| match e {
            rustix::io::Errno::PERM => SignalError::Denied,
            rustix::io::Errno::SRCH => SignalError::Gone,
            e => SignalError::Other(e.to_string()),
        })
    }
}

impl Host for LinuxHost {
    fn sampler(&self, backend: Backend) -> Result<Box<dyn Sampler + Send>, SampleError> {
        sample::open(backend)
    }

    fn probe(&self, pid: u32) -> Option<ProcSample> {
        self.sampler_lock().probe(pid)
    }

    fn scan(&self) -> Vec<ProcSample> {
        // A fresh sampler: the shared one remembers which pids it has seen.
        sample::scan(&mut ProcfsSampler::new()).unwrap_or_default()
    }

    fn children_of(&self, pid: u32, out: &mut Vec<u32>) {
        sample::children_of(pid, out);
    }

    fn own_pid(&self) -> u32 {
        std::process::id()
    }

    fn exe_id(&self, pid: u32) -> Option<super::ExeId> {
        if pid == 0 {
            return None;
        }
        // stat follows the link to the file itself, even one deleted since (an
        // upgraded binary): its device and inode.
        let st = rustix::fs::stat(format!("/proc/{pid}/exe")).ok()?;
        #[allow(clippy::unnecessary_cast)] // their types vary between targets
        Some((st.st_dev as u64, st.st_ino as u64))
    }

    fn stdio_on_terminal(&self, pid: u32) -> Option<bool> {
        let mut on = false;
        for fd in 0..3 {
            match std::fs::read_link(format!("/proc/{pid}/fd/{fd}")) {
                Ok(target) => {
                    let t = target.to_string_lossy();
                    on |= t.starts_with("/dev/pts/") || t.starts_with("/dev/tty");
                }
                // A closed descriptor is off the terminal.
                Err(e) if e.raw_os_error() == Some(rustix::io::Errno::NOENT.raw_os_error()) => {
                    if !Path::new(&format!("/proc/{pid}")).exists() {
                        return None;
                    }
                }
                Err(_) => return None,
            }
        }
        Some(on)
    }

    fn exists(&self, pid: u32) -> bool {
        pid != 0 && Path::new(&format!("/proc/{pid}")).exists()
    }

    fn now(&self) -> Instant {
        Instant::now()
    }

    fn sleep(&self, duration: Duration) {
        std::thread::sleep(duration);
    }

    fn pin(&self, id: Identity) -> Result<Box<dyn Pinned>, PinError> {
        let pid = Pid::from_raw(id.pid as i32).ok_or(PinError::Gone)?;
        let fd = pidfd_open(pid, PidfdFlags::empty()).map_err(|e| match e {
            rustix::io::Errno::SRCH => PinError::Gone,
            e => PinError::Inaccessible(e.to_string()),
        })?;
        // The pidfd now holds whatever has the pid: check it is the process meant.
        match self.probe(id.pid) {
            Some(s) if s.start == id.start => Ok(Box::new(Pidfd { id, fd })),
            Some(_) => Err(PinError::Reused),
            None => Err(PinError::Gone),
        }
    }

    fn reap(&self) -> Vec<(u32, Exit)> {
        let mut reaped = Vec::new();
        while let Ok(Some((pid, status))) = rustix::process::wait(WaitOptions::NOHANG) {
            let exit = match (status.exit_status(), status.terminating_signal()) {
                (Some(code), _) => Exit::Code(code as u8),
                (None, Some(sig)) => Exit::Signaled(sig),
                _ => Exit::Code(1),
            };
            reaped.push((pid.as_raw_nonzero().get() as u32, exit));
        }
        reaped
    }

    fn spawn(&self, spec: &SpawnSpec) -> Result<Spawned, SpawnError> {
        let program = spec
            .argv
            .first()
            .ok_or_else(|| SpawnError::NotFound(String::new()))?;
        let name = crate::text::printable(&program.to_string_lossy()).into_owned();
        let mut command = std::process::Command::new(program);
        command.args(&spec.argv[1..]);
        command.envs(spec.env.iter().map(|(k, v)| (k, v)));
        if spec.null_stdio {
            command
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null());
        }
        if let Some(signal) = spec.parent_death_signal {
            let parent = Pid::from_raw(std::process::id() as i32);
            // SAFETY: between fork and exec the closure makes only async-signal-safe
            // calls (prctl, getppid).
            unsafe {
                command.pre_exec(move || {
                    rustix::process::set_parent_process_death_signal(Some(signal))?;
                    // leaktop died before the prctl took effect: no signal would come.
                    if rustix::process::getppid() != parent {
                        return Err(io::Error::other(
                            "leaktop exited while starting the command",
                        ));
                    }
                    Ok(())
                });
            }
        }
        let child = command.spawn().map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => SpawnError::NotFound(name.clone()),
            io::ErrorKind::PermissionDenied => SpawnError::NotExecutable(name.clone()),
            _ => SpawnError::Other(name.clone(), e),
        })?;
        let pid = child.id();
        // std's Child would reap through waitpid(pid); leaktop reaps everything itself
        // (Host::reap), so the pid stays ours, and the pidfd opened now is CMD's.
        drop(child);
        let fd = pidfd_open(
            Pid::from_raw(pid as i32).expect("a spawned child has a pid"),
            PidfdFlags::empty(),
        )
        .map_err(|e| SpawnError::Other(name, e.into()))?;
        let start = self.probe(pid).map_or(0, |s| s.start);
        Ok(Spawned {
            pid,
            pinned: Box::new(Pidfd {
                id: Identity { pid, start },
                fd,
            }),
        })
    }

    fn create(&self, path: &Path, how: Create) -> io::Result<File> {
        let mut options = OpenOptions::new();
        options.write(true);
        match how {
            Create::Truncate => {
                options.create(true).truncate(true);
            }
            Create::New => {
                options
                    .create_new(true)
                    .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32);
            }
        }
        options.open(path)
    }

    fn memory(&self, id: Identity) -> Option<Memory> {
        read_memory(id)
    }

    fn mem_available_kb(&self) -> Option<u64> {
        super::parse_mem_available(&std::fs::read_to_string("/proc/meminfo").ok()?)
    }

    fn facts(&self, id: Identity) -> Option<ProcFacts> {
        read_facts(id)
    }

    fn service_main_pid(&self, unit: &str) -> Option<u32> {
        service_main_pid(unit)
    }

    fn now_start(&self) -> Option<u64> {
        let uptime = std::fs::read_to_string("/proc/uptime").ok()?;
        let secs: f64 = uptime.split_whitespace().next()?.parse().ok()?;
        Some((secs * rustix::param::clock_ticks_per_second() as f64) as u64)
    }

    fn user_id(&self, name: &str) -> Option<u32> {
        let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
        passwd.lines().find_map(|line| {
            let mut f = line.split(':');
            (f.next()? == name).then_some(())?;
            f.nth(1)?.parse().ok()
        })
    }
}

/// Reads [`ProcFacts`] through the `procfs` crate, checking the start time first.
fn read_facts(id: Identity) -> Option<ProcFacts> {
    use procfs::process::{FDTarget, Process, StatFlags};
    let denied = |e: &procfs::ProcError| matches!(e, procfs::ProcError::PermissionDenied(_));
    let proc = Process::new(id.pid as i32).ok()?;
    let stat = proc.stat().ok()?;
    if stat.starttime != id.start {
        return None;
    }
    let mut facts = ProcFacts {
        tty_nr: u32::try_from(stat.tty_nr).ok(),
        exiting: stat
            .flags()
            .is_ok_and(|f| f.contains(StatFlags::PF_EXITING)),
        ..ProcFacts::default()
    };
    let mut stdio = [StdioKind::Other; 3];
    let mut readable = true;
    for (fd, kind) in stdio.iter_mut().enumerate() {
        *kind = match proc.fd_from_fd(fd as i32) {
            Ok(info) => match info.target {
                FDTarget::Path(path) => {
                    let p = path.to_string_lossy();
                    if p == "/dev/null" {
                        StdioKind::Null
                    } else if p.starts_with("/dev/pts/")
                        || p.starts_with("/dev/tty")
                        || p == "/dev/console"
                    {
                        StdioKind::Terminal
                    } else if p.starts_with('/') && !p.starts_with("/dev/") {
                        StdioKind::File
                    } else {
                        StdioKind::Other
                    }
                }
                FDTarget::Pipe(_) => StdioKind::Pipe,
                FDTarget::Socket(_) | FDTarget::Net(_) => StdioKind::Socket,
                _ => StdioKind::Other,
            },
            Err(procfs::ProcError::NotFound(_)) if proc.is_alive() => StdioKind::Closed,
            Err(e) => {
                facts.denied |= denied(&e);
                readable = false;
                StdioKind::Other
            }
        };
    }
    facts.stdio = readable.then_some(stdio);
    match proc.cgroups() {
        Ok(groups) => {
            let groups = groups.0;
            // The unified hierarchy, or v1's systemd one.
            facts.cgroup = groups
                .iter()
                .find(|g| g.hierarchy == 0)
                .or_else(|| {
                    groups
                        .iter()
                        .find(|g| g.controllers.iter().any(|c| c == "name=systemd"))
                })
                .map(|g| g.pathname.clone());
        }
        Err(e) => facts.denied |= denied(&e),
    }
    match proc.environ() {
        Ok(env) => {
            facts.run_marker = Some(
                env.get(std::ffi::OsStr::new(crate::model::orphans::RUN_MARKER))
                    .map(|v| v.to_string_lossy().into_owned())
                    .unwrap_or_default(),
            );
        }
        Err(e) => facts.denied |= denied(&e),
    }
    match proc.status() {
        Ok(status) => facts.uid = Some(status.ruid),
        Err(e) => facts.denied |= denied(&e),
    }
    Some(facts)
}

/// `MainPID` of `unit` from `systemctl show`, only where systemd is PID 1.
fn service_main_pid(unit: &str) -> Option<u32> {
    let init = std::fs::read_to_string("/proc/1/comm").ok()?;
    if init.trim_end() != "systemd" || unit.starts_with('-') {
        return None;
    }
    let out = std::process::Command::new("systemctl")
        .args(["show", "--property=MainPID", "--value", "--", unit])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    String::from_utf8_lossy(&out.stdout).trim().parse().ok()
}

/// Opens `/proc/PID` as a directory, checks through it that the process is `id`, then
/// reads `smaps_rollup` through the same directory: a pid reused after the check
/// would be a new directory, so the figures are `id`'s or nothing.
fn read_memory(id: Identity) -> Option<Memory> {
    use rustix::fs::{Mode, OFlags, openat};
    let flags = OFlags::RDONLY | OFlags::CLOEXEC;
    let dir = rustix::fs::open(
        format!("/proc/{}", id.pid),
        flags | OFlags::DIRECTORY,
        Mode::empty(),
    )
    .ok()?;
    let units = stat::Units {
        page_kb: (rustix::param::page_size() / 1024) as u64,
        ticks_per_sec: rustix::param::clock_ticks_per_second(),
    };
    let mut buf = vec![0u8; 4096];
    let stat_fd = openat(&dir, "stat", flags, Mode::empty()).ok()?;
    let n = rustix::io::read(&stat_fd, &mut buf[..]).ok()?;
    if stat::parse(&buf[..n], units)?.start != id.start {
        return None;
    }
    let rollup = openat(&dir, "smaps_rollup", flags, Mode::empty()).ok()?;
    let mut text = Vec::with_capacity(2048);
    loop {
        let n = rustix::io::read(&rollup, &mut buf[..]).ok()?;
        if n == 0 {
            break;
        }
        text.extend_from_slice(&buf[..n]);
    }
    super::parse_smaps_rollup(std::str::from_utf8(&text).ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_its_own_memory_and_refuses_another_start_time() {
        let host = LinuxHost::new();
        let me = host
            .probe(std::process::id())
            .expect("leaktop reads itself");
        let m = host
            .memory(me.id())
            .expect("its own smaps_rollup is readable");
        assert!(m.pss_kb > 0 && m.uss_kb > 0 && m.uss_kb <= m.pss_kb);
        let other = Identity {
            pid: me.pid,
            start: me.start + 1,
        };
        assert_eq!(host.memory(other), None, "a reused pid is not measured");
        let gone = Identity {
            pid: u32::MAX - 1,
            start: 0,
        };
        assert_eq!(host.memory(gone), None);
    }
}
