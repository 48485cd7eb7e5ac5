//! The [`Host`] of Linux: `/proc`, pidfds, `waitid`, `prctl`.

use std::fs::File;
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use rustix::process::{Pid, PidfdFlags, pidfd_open, pidfd_send_signal};

use super::{
    Alarm, Create, Deliver, Exit, Host, Listening, Memory, PinError, Pinned, PssParts, Signal,
    SignalError, SpawnError, SpawnSpec, Spawned,
};
use crate::sample::events::{EventRequest, EventSource};
use crate::sample::facts::{ProcFacts, RUN_MARKER, StdioKind};
use crate::sample::procfs::ProcfsSampler;
use crate::sample::unread;
use crate::sample::{self, Backend, Identity, ProcSample, SampleError, Sampler};

/// The real Linux host. Its own sampler (for probes and scans) sits behind a lock, so
/// one host serves every thread.
pub struct LinuxHost {
    sampler: Mutex<ProcfsSampler>,
    gpu: super::gpu::linux::LazyGpu,
}

impl LinuxHost {
    pub fn new() -> Self {
        Self::with_gpu_nodes(super::gpu::linux::GpuNodes::default())
    }

    /// A host that takes `nodes` for the GPU's device nodes and NVML library (tests
    /// stand a character device and a stub library in for them).
    pub fn with_gpu_nodes(nodes: super::gpu::linux::GpuNodes) -> Self {
        LinuxHost {
            sampler: Mutex::new(ProcfsSampler::new()),
            gpu: super::gpu::linux::LazyGpu::new(nodes),
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
        pidfd_send_signal(&self.fd, signal).map_err(super::unix::signal_error)
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

    fn exe_path(&self, id: Identity) -> Option<String> {
        let exe = open_checked(id)?.exe().ok()?;
        Some(exe.to_string_lossy().into_owned())
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

    fn events(&self, request: EventRequest) -> Box<dyn EventSource> {
        sample::events::open(request)
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
        super::unix::reap()
    }

    fn gpu(&self) -> Option<&dyn super::gpu::Gpu> {
        self.gpu.get()
    }

    fn become_subreaper(&self) -> io::Result<bool> {
        let me = Pid::from_raw(std::process::id() as i32);
        rustix::process::set_child_subreaper(me)?;
        Ok(true)
    }

    fn spawn(&self, spec: &SpawnSpec) -> Result<Spawned, SpawnError> {
        let (mut command, name) = super::unix::command(spec)?;
        if let Some(signal) = spec.parent_death_signal {
            let parent = Pid::from_raw(std::process::id() as i32);
            // SAFETY: the closure runs in the forked child of a threaded process,
            // between fork and exec, where another thread may have held the allocator's
            // lock: it makes only async-signal-safe calls (prctl, getppid) and allocates
            // nothing. Its errors are bare errnos (an io::Error of a raw OS error holds
            // no heap), which is all std passes back to the parent anyway: the parent
            // names them ([`child_error`]).
            #[allow(unsafe_code)]
            unsafe {
                command.pre_exec(move || {
                    rustix::process::set_parent_process_death_signal(Some(signal))?;
                    // leaktop died before the prctl took effect: no signal would come.
                    if rustix::process::getppid() != parent {
                        return Err(io::Error::from_raw_os_error(PARENT_GONE.raw_os_error()));
                    }
                    Ok(())
                });
            }
        }
        // leaktop reaps its own children, so the pid stays CMD's: the pidfd opened
        // now is CMD's.
        let pid = super::unix::start(command, &name).map_err(child_error)?;
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

    /// The sender comes from each signal's `siginfo`.
    fn listen_signals(&self, signals: &[i32], mut deliver: Deliver) -> io::Result<Listening> {
        use signal_hook::iterator::SignalsInfo;
        use signal_hook::iterator::exfiltrator::WithOrigin;
        let mut signals = SignalsInfo::<WithOrigin>::new(signals)?;
        let handle = signals.handle();
        std::thread::spawn(move || {
            for info in signals.forever() {
                if !deliver(info.signal, info.process.is_some()) {
                    break;
                }
            }
        });
        Ok(Listening::new(move || handle.close()))
    }

    fn die_of(&self, signal: i32) {
        super::unix::die_of(signal);
    }

    /// `PR_SET_NAME`, at most 15 bytes.
    fn set_process_name(&self, name: &str) {
        if let Ok(c) = std::ffi::CString::new(name) {
            let _ = rustix::thread::set_name(&c);
        }
    }

    fn create(&self, path: &Path, how: Create) -> io::Result<File> {
        super::unix::create(path, how)
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        std::fs::rename(from, to)
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        std::fs::remove_file(path)
    }

    fn memory(&self, id: Identity) -> Option<Memory> {
        read_memory(id)
    }

    fn mem_available_kb(&self) -> Option<u64> {
        use procfs::Current;
        // procfs gives bytes.
        Some(procfs::Meminfo::current().ok()?.mem_available? / 1024)
    }

    fn facts(&self, id: Identity) -> Option<ProcFacts> {
        read_facts(id)
    }

    fn uid(&self, id: Identity) -> Option<u32> {
        Some(open_checked(id)?.status().ok()?.ruid)
    }

    fn idle_ms(&self, ids: &[Identity]) -> Vec<Option<u64>> {
        use super::last_ran;
        let runs: Vec<_> = ids.iter().map(|id| last_ran::read_runs(*id)).collect();
        let cpus: std::collections::BTreeSet<usize> =
            runs.iter().flatten().flatten().map(|r| r.cpu).collect();
        if cpus.is_empty() {
            return vec![None; ids.len()];
        }
        let clocks = last_ran::clocks(cpus);
        runs.iter()
            .map(|r| last_ran::idle_ms(r.as_deref()?, &clocks))
            .collect()
    }

    fn service_main_pid(&self, unit: &str) -> Option<u32> {
        service_main_pid(unit)
    }

    fn thread_group(&self, pid: u32) -> Option<u32> {
        let status = procfs::process::Process::new(i32::try_from(pid).ok()?)
            .ok()?
            .status()
            .ok()?;
        u32::try_from(status.tgid).ok()
    }

    fn now_start(&self) -> Option<u64> {
        let uptime = std::fs::read_to_string("/proc/uptime").ok()?;
        let secs: f64 = uptime.split_whitespace().next()?.parse().ok()?;
        Some((secs * rustix::param::clock_ticks_per_second() as f64) as u64)
    }

    fn exe_file(&self, id: Identity) -> Option<crate::sample::ExeFile> {
        read_exe_file(id)
    }

    fn boot_id(&self) -> Option<String> {
        let id = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
        Some(id.trim().to_string()).filter(|id| !id.is_empty())
    }

    fn keep_run_record(
        &self,
        name: &str,
        text: &str,
    ) -> io::Result<Option<Box<dyn super::KeptFile>>> {
        super::run_records::keep(name, text)
    }

    fn run_record(&self, uid: u32, name: &str) -> Option<String> {
        super::run_records::read(uid, name)
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
/// The errno the child of [`Host::spawn`] exits its pre-exec step with when leaktop
/// died before the child's parent-death signal was set (ESRCH, "no such process":
/// neither `prctl` nor `execve` fails with it).
const PARENT_GONE: rustix::io::Errno = rustix::io::Errno::SRCH;

/// A failed start of CMD as the parent names it: the pre-exec step's [`PARENT_GONE`]
/// said in words, any other error as it came.
fn child_error(e: SpawnError) -> SpawnError {
    match e {
        SpawnError::Other(name, e) if e.raw_os_error() == Some(PARENT_GONE.raw_os_error()) => {
            SpawnError::Other(
                name,
                io::Error::other("leaktop exited while starting the command"),
            )
        }
        e => e,
    }
}

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
                // Output no one reads any more: its reader is gone.
                FDTarget::Pipe(_)
                    if fd > 0 && unread::pipe_unread(id.pid, fd as u32) == Some(true) =>
                {
                    StdioKind::Unread
                }
                FDTarget::Socket(ino)
                    if fd > 0
                        && u32::try_from(ino).ok().and_then(unread::socket_unread)
                            == Some(true) =>
                {
                    StdioKind::Unread
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
                env.get(std::ffi::OsStr::new(RUN_MARKER))
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

/// The file `id` runs: `/proc/PID/exe`'s target, and its owner and mode through the
/// link (which reaches the file in any mount namespace), checked to be `id`'s after.
fn read_exe_file(id: Identity) -> Option<crate::sample::ExeFile> {
    let proc = open_checked(id)?;
    let path = proc.exe().ok()?.to_string_lossy().into_owned();
    let path = path.strip_suffix(" (deleted)").unwrap_or(&path).to_string();
    let st = rustix::fs::stat(format!("/proc/{}/exe", id.pid)).ok()?;
    // The pid may have been reused between the two reads.
    (proc.stat().ok()?.starttime == id.start).then_some(crate::sample::ExeFile {
        path,
        owner: st.st_uid,
        mode: st.st_mode & 0o7777,
    })
}

/// `MainPID` of `unit` from `systemctl show`, only where systemd is PID 1.
fn service_main_pid(unit: &str) -> Option<u32> {
    let init = std::fs::read_to_string("/proc/1/comm").ok()?;
    if init.trim_end() != "systemd" || unit.starts_with('-') {
        return None;
    }
    let out = std::process::Command::new("systemctl")
        .args(["show", "--property=MainPID", "--value", "--", unit])
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    String::from_utf8_lossy(&out.stdout).trim().parse().ok()
}

/// Opens `/proc/PID` as a directory (procfs's `Process`), checks through it that the
/// process is `id` (its `stat` start time), then reads `smaps_rollup` through the same
/// directory: a pid reused after the check would be a new directory, so the figures
/// are `id`'s or nothing.
fn read_memory(id: Identity) -> Option<Memory> {
    memory_of(&open_checked(id)?.smaps_rollup().ok()?)
}

/// The `/proc/PID` directory of the process `id`, opened and then checked to be `id`
/// (same start time). Reads through it reach only that process, even if the pid is
/// reused meanwhile. `None` if gone, reused or unreadable.
pub(super) fn open_checked(id: Identity) -> Option<procfs::process::Process> {
    let process = procfs::process::Process::new(i32::try_from(id.pid).ok()?).ok()?;
    (process.stat().ok()?.starttime == id.start).then_some(process)
}

/// PSS (`Pss:`), USS (`Private_Clean:` + `Private_Dirty:`) and swap (`Swap:`) from a
/// parsed `smaps_rollup`, in KiB (procfs gives bytes), with the PSS told apart
/// (`Pss_Anon:`, `Pss_File:`, `Pss_Shmem:`, `SwapPss:`) where the kernel writes those
/// lines (`None` where not). `None` if it has no `Pss:` line (an empty read: a kernel
/// thread, or a process that has exited).
fn memory_of(rollup: &procfs::process::SmapsRollup) -> Option<Memory> {
    let fields = &rollup.memory_map_rollup.0.first()?.extension.map;
    let given = |key: &str| fields.get(key).map(|bytes| bytes / 1024);
    let kb = |key: &str| given(key).unwrap_or(0);
    fields.contains_key("Pss").then(|| Memory {
        pss_kb: kb("Pss"),
        uss_kb: kb("Private_Clean").saturating_add(kb("Private_Dirty")),
        swap_kb: kb("Swap"),
        parts: PssParts {
            anon_kb: given("Pss_Anon"),
            file_kb: given("Pss_File"),
            shmem_kb: given("Pss_Shmem"),
            swap_pss_kb: given("SwapPss"),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use procfs::FromBufRead;
    use procfs::process::SmapsRollup;

    /// std passes only a pre-exec step's errno back from the child: leaktop's own
    /// reason is told by its errno, in words, not as "No such process (os error 3)";
    /// anything else is left as it came.
    #[test]
    fn the_childs_errno_is_named_in_the_parent() {
        let from_child = |errno: rustix::io::Errno| {
            child_error(SpawnError::Other(
                "make".into(),
                io::Error::from_raw_os_error(errno.raw_os_error()),
            ))
            .to_string()
        };
        assert_eq!(
            from_child(PARENT_GONE),
            "cannot run 'make': leaktop exited while starting the command"
        );
        assert_eq!(
            from_child(rustix::io::Errno::INVAL),
            "cannot run 'make': Invalid argument (os error 22)"
        );
        assert!(matches!(
            child_error(SpawnError::NotFound("make".into())),
            SpawnError::NotFound(_)
        ));
    }

    /// As Linux 6.6 writes it for a Python worker forked from a parent holding 200 MB.
    const ROLLUP: &str = "\
55d0c5a6b000-7ffd1e3f1000 ---p 00000000 00:00 0                          [rollup]
Rss:              208420 kB
Pss:               30112 kB
Pss_Dirty:         29870 kB
Pss_Anon:          29850 kB
Pss_File:            262 kB
Pss_Shmem:             0 kB
Shared_Clean:       3012 kB
Shared_Dirty:     204800 kB
Private_Clean:       120 kB
Private_Dirty:       488 kB
Referenced:       208420 kB
Anonymous:        205288 kB
LazyFree:              0 kB
AnonHugePages:         0 kB
ShmemPmdMapped:        0 kB
FilePmdMapped:         0 kB
Shared_Hugetlb:        0 kB
Private_Hugetlb:       0 kB
Swap:               1536 kB
SwapPss:             219 kB
Locked:                0 kB
";

    fn rollup(text: &str) -> Option<Memory> {
        memory_of(&SmapsRollup::from_buf_read(text.as_bytes()).ok()?)
    }

    #[test]
    fn smaps_rollup_gives_pss_private_and_swap() {
        assert_eq!(
            rollup(ROLLUP),
            Some(Memory {
                pss_kb: 30112,
                uss_kb: 120 + 488,
                swap_kb: 1536,
                parts: PssParts {
                    anon_kb: Some(29850),
                    file_kb: Some(262),
                    shmem_kb: Some(0),
                    swap_pss_kb: Some(219),
                },
            })
        );
    }

    /// As Linux 4.19 writes it: `SwapPss:` but no `Pss_Anon:`/`Pss_File:`/`Pss_Shmem:`.
    const ROLLUP_4_19: &str = "\
00400000-7ffc8a3f2000 ---p 00000000 00:00 0                              [rollup]
Rss:               12044 kB
Pss:                4410 kB
Shared_Clean:       8012 kB
Shared_Dirty:          0 kB
Private_Clean:       320 kB
Private_Dirty:      3712 kB
Referenced:        12044 kB
Anonymous:          3712 kB
LazyFree:              0 kB
AnonHugePages:         0 kB
ShmemPmdMapped:        0 kB
Shared_Hugetlb:        0 kB
Private_Hugetlb:       0 kB
Swap:                 64 kB
SwapPss:              32 kB
Locked:                0 kB
";

    #[test]
    fn an_older_kernel_without_the_split_leaves_it_unknown_not_zero() {
        let m = rollup(ROLLUP_4_19).expect("Pss is there");
        assert_eq!((m.pss_kb, m.uss_kb, m.swap_kb), (4410, 320 + 3712, 64));
        assert_eq!(
            m.parts,
            PssParts {
                anon_kb: None,
                file_kb: None,
                shmem_kb: None,
                swap_pss_kb: Some(32),
            }
        );
    }

    #[test]
    fn its_own_split_adds_up_to_its_pss() {
        let host = LinuxHost::new();
        let me = host.probe(std::process::id()).expect("reads itself");
        let m = host.memory(me.id()).expect("its own smaps_rollup");
        // This kernel writes the split (5.7+); one without it gives `None`, tested above.
        let (Some(anon), Some(file), Some(shmem)) =
            (m.parts.anon_kb, m.parts.file_kb, m.parts.shmem_kb)
        else {
            eprintln!("this kernel does not give the PSS apart; skipped");
            return;
        };
        // Each line is rounded down on its own: a few KiB apart at most.
        let sum = anon + file + shmem;
        assert!(m.pss_kb.abs_diff(sum) <= 4, "{sum} vs Pss {}", m.pss_kb);
        assert!(anon > 0, "a running test has a heap");
    }

    #[test]
    fn an_empty_rollup_is_unknown_not_zero() {
        assert_eq!(rollup(""), None);
        // A kernel thread's rollup has the header line only.
        assert_eq!(
            rollup("00000000-00000000 ---p 00000000 00:00 0  [rollup]\n"),
            None
        );
    }

    #[test]
    fn mem_available_is_read_and_below_the_total() {
        use procfs::Current;
        let total_kb = procfs::Meminfo::current().unwrap().mem_total / 1024;
        let available = LinuxHost::new().mem_available_kb().expect("MemAvailable");
        assert!(
            available > 0 && available < total_kb,
            "{available} of {total_kb} KiB"
        );
    }

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
