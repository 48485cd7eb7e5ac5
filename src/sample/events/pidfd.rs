//! Exit notifications from pidfds: one `pidfd_open` per watched process, then `poll`
//! for readable, which the kernel signals when that process exits. Unprivileged (any
//! process leaktop can see), exact for the processes watched, blind to forks.
//!
//! Where the kernel has `PIDFD_GET_INFO` (6.13+; the exit status since 6.15), a
//! process seen exiting is asked for its parent and, once reaped, how it ended;
//! elsewhere both stay unknown.

use std::os::fd::OwnedFd;
use std::time::Duration;

use rustix::event::{PollFd, PollFlags, poll};
use rustix::io::Errno;
use rustix::process::{Pid, PidfdFlags, pidfd_open};

use super::{Ended, EventError, EventSource, NoEvents, ProcEvent, Source, Stamped, Task};
use crate::sample::procfs::ProcfsSampler;
use crate::sample::{IdMap, Identity, Sampler};

/// The most processes watched at once: each costs a descriptor. Past it, the rest are
/// left to the ticks ([`PidfdWatcher::unwatched`] counts them).
pub const MAX_WATCHED: usize = 4096;

/// What `PIDFD_GET_INFO` told of a process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PidfdInfo {
    /// Its parent (`PIDFD_INFO_PID`: while it is not reaped).
    pub ppid: Option<u32>,
    /// How it ended (`PIDFD_INFO_EXIT`: once reaped, Linux 6.15+).
    pub ended: Option<Ended>,
}

/// `struct pidfd_info`'s first version (`PIDFD_INFO_SIZE_VER0`), in bytes.
const INFO_SIZE: usize = 64;
const INFO_PID: u64 = 1 << 0;
const INFO_EXIT: u64 = 1 << 3;

/// Reads the `struct pidfd_info` the kernel filled (host byte order):
/// `mask` u64 at 0, `cgroupid` u64 at 8, `pid`, `tgid`, `ppid` u32 at 16, 20, 24,
/// eight credential u32s from 28, `exit_code` i32 at 60.
pub fn parse_info(b: &[u8; INFO_SIZE]) -> PidfdInfo {
    let u32_at = |at: usize| u32::from_ne_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]);
    let mut mask = [0u8; 8];
    mask.copy_from_slice(&b[0..8]);
    let mask = u64::from_ne_bytes(mask);
    PidfdInfo {
        ppid: (mask & INFO_PID != 0).then(|| u32_at(24)),
        ended: (mask & INFO_EXIT != 0)
            .then(|| Ended::from_wait_status(u32_at(60)))
            .flatten(),
    }
}

/// Asks the kernel about the process behind `fd`; `None` where it has no
/// `PIDFD_GET_INFO` (before 6.13) or refuses.
pub fn info(fd: &OwnedFd) -> Option<PidfdInfo> {
    use rustix::ioctl::{Updater, ioctl, opcode};
    // PIDFD_GET_INFO: _IOWR(PIDFS_IOCTL_MAGIC 0xFF, 11, struct pidfd_info).
    const GET_INFO: rustix::ioctl::Opcode = opcode::read_write::<[u8; INFO_SIZE]>(0xFF, 11);
    let mut buf = [0u8; INFO_SIZE];
    // The request mask: the parent and the exit status.
    buf[..8].copy_from_slice(&(INFO_PID | INFO_EXIT).to_ne_bytes());
    // SAFETY: the opcode encodes a read-write of exactly `INFO_SIZE` bytes, the size
    // of `buf`; the kernel reads and writes at most that many (`_IOC_SIZE` of the
    // opcode), and `buf` outlives the call.
    #[allow(unsafe_code)]
    let done = unsafe { ioctl(fd, Updater::<GET_INFO, [u8; INFO_SIZE]>::new(&mut buf)) };
    done.ok().map(|()| parse_info(&buf))
}

/// Watches processes' exits through pidfds.
pub struct PidfdWatcher {
    watched: IdMap<u32, (Identity, OwnedFd)>,
    why: Option<NoEvents>,
    unwatched: usize,
    probe: ProcfsSampler,
}

impl PidfdWatcher {
    /// A watcher, or `None` where this kernel has no pidfds (before 5.3). `why`: the
    /// reason the connector is not used.
    pub fn new(why: Option<NoEvents>) -> Option<PidfdWatcher> {
        let me = Pid::from_raw(std::process::id() as i32)?;
        pidfd_open(me, PidfdFlags::empty()).ok()?;
        Some(PidfdWatcher {
            watched: IdMap::default(),
            why,
            unwatched: 0,
            probe: ProcfsSampler::new(),
        })
    }

    /// How many processes asked for at the last [`EventSource::watch`] are not
    /// watched (past [`MAX_WATCHED`], or out of descriptors): their exits wait for a
    /// tick.
    pub fn unwatched(&self) -> usize {
        self.unwatched
    }

    /// How many processes are watched now.
    pub fn watching(&self) -> usize {
        self.watched.len()
    }

    fn open(&mut self, id: Identity) -> Result<Option<OwnedFd>, Errno> {
        let Some(pid) = Pid::from_raw(id.pid as i32) else {
            return Ok(None);
        };
        let fd = match pidfd_open(pid, PidfdFlags::empty()) {
            Ok(fd) => fd,
            Err(Errno::SRCH) => return Ok(None),
            Err(e) => return Err(e),
        };
        // The pidfd holds whatever has the pid now: only the process meant is watched.
        Ok(self
            .probe
            .probe(id.pid)
            .filter(|s| s.start == id.start)
            .map(|_| fd))
    }
}

impl EventSource for PidfdWatcher {
    fn source(&self) -> Source {
        Source::Pidfd
    }

    fn fallback_reason(&self) -> Option<&NoEvents> {
        self.why.as_ref()
    }

    fn watch(&mut self, ids: &[Identity]) {
        let wanted: IdMap<u32, Identity> = ids.iter().map(|id| (id.pid, *id)).collect();
        self.watched
            .retain(|pid, (id, _)| wanted.get(pid) == Some(id));
        self.unwatched = 0;
        for id in ids {
            if self.watched.contains_key(&id.pid) {
                continue;
            }
            if self.watched.len() >= MAX_WATCHED {
                self.unwatched += 1;
                continue;
            }
            match self.open(*id) {
                Ok(Some(fd)) => {
                    self.watched.insert(id.pid, (*id, fd));
                }
                Ok(None) => {}
                Err(_) => self.unwatched += 1,
            }
        }
    }

    fn wait(&mut self, timeout: Duration, out: &mut Vec<Stamped>) -> Result<(), EventError> {
        let timeout = rustix::time::Timespec::try_from(timeout).unwrap_or(rustix::time::Timespec {
            tv_sec: i64::MAX,
            tv_nsec: 0,
        });
        let pids: Vec<u32> = self.watched.keys().copied().collect();
        let mut fds: Vec<PollFd<'_>> = pids
            .iter()
            .map(|pid| PollFd::new(&self.watched[pid].1, PollFlags::IN))
            .collect();
        match poll(&mut fds, Some(&timeout)) {
            Ok(0) | Err(Errno::INTR) => return Ok(()),
            Ok(_) => {}
            Err(e) => return Err(EventError::Socket(e.into())),
        }
        let exited: Vec<u32> = pids
            .iter()
            .zip(&fds)
            .filter(|(_, fd)| !fd.revents().is_empty())
            .map(|(pid, _)| *pid)
            .collect();
        drop(fds);
        let at_ns = super::monotonic_ns();
        for pid in exited {
            let Some((_, fd)) = self.watched.remove(&pid) else {
                continue;
            };
            let known = info(&fd).unwrap_or_default();
            out.push(Stamped {
                at_ns,
                event: ProcEvent::Exit {
                    task: Task::process(pid),
                    parent: known.ppid.filter(|&p| p != 0).map(Task::process),
                    how: known.ended,
                },
            });
        }
        Ok(())
    }

    fn clock_ns(&self) -> u64 {
        super::monotonic_ns()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info_bytes(mask: u64, ppid: u32, exit_code: u32) -> [u8; INFO_SIZE] {
        let mut b = [0u8; INFO_SIZE];
        b[0..8].copy_from_slice(&mask.to_ne_bytes());
        b[24..28].copy_from_slice(&ppid.to_ne_bytes());
        b[60..64].copy_from_slice(&exit_code.to_ne_bytes());
        b
    }

    #[test]
    fn the_info_gives_only_what_its_mask_says() {
        assert_eq!(
            parse_info(&info_bytes(INFO_PID | 2 | 4, 77, 0)),
            PidfdInfo {
                ppid: Some(77),
                ended: None
            }
        );
        // After the reap: no pid fields, the exit status (7 << 8).
        assert_eq!(
            parse_info(&info_bytes(4 | INFO_EXIT, 0, 1792)),
            PidfdInfo {
                ppid: None,
                ended: Some(Ended::Code(7))
            }
        );
        assert_eq!(parse_info(&info_bytes(0, 5, 5)), PidfdInfo::default());
    }

    #[test]
    fn its_own_pidfd_tells_its_parent_where_the_kernel_can() {
        let fd = pidfd_open(rustix::process::getpid(), PidfdFlags::empty()).unwrap();
        // Before 6.13 there is no PIDFD_GET_INFO: unknown, never a wrong parent.
        if let Some(info) = info(&fd) {
            assert_eq!(info.ppid, Some(std::os::unix::process::parent_id()));
            assert_eq!(info.ended, None);
        }
    }
}
