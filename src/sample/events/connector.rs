//! The kernel's process-events connector: a netlink socket (`NETLINK_CONNECTOR`)
//! bound to the multicast group `CN_IDX_PROC`, subscribed with `PROC_CN_MCAST_LISTEN`.
//!
//! - **Who may**: `CAP_NET_ADMIN` in the initial user and network namespaces, from the
//!   initial PID namespace. Without the capability `bind` fails with `EPERM`; in a
//!   network namespace of its own with `ECONNREFUSED`; in another PID or user
//!   namespace the kernel ignores the subscription (no acknowledgement) while events
//!   still come, naming the initial namespace's pids. leaktop checks the namespaces
//!   first (`/proc/self/ns/{pid,user}` against the kernel's fixed inodes of the
//!   initial ones) and waits for the acknowledgement; each refusal is a typed
//!   [`NoEvents`].
//! - **Losses**: a full socket drops events and the next `recv` fails with `ENOBUFS`
//!   (a [`ProcEvent::Lost`] with no count); the kernel numbers the messages of each
//!   CPU, so a gap also tells how many were dropped (a `Lost` with that count, just
//!   before the event after the gap).
//! - **Leaving**: `PROC_CN_MCAST_IGNORE` on drop, so the kernel stops formatting events
//!   for nobody.

use std::os::fd::{AsFd, OwnedFd};
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags, poll};
use rustix::io::Errno;
use rustix::net::netlink::{self, SocketAddrNetlink};
use rustix::net::{
    AddressFamily, RecvFlags, SendFlags, SocketFlags, SocketType, bind, recv, sendto, socket_with,
};

use super::wire::{self, Message, Sequences};
use super::{EventError, EventSource, NoEvents, ProcEvent, Source, Stamped};
use crate::sample::Identity;

/// The kernel's fixed inode numbers of the initial namespaces (`PROC_PID_INIT_INO`,
/// `PROC_USER_INIT_INO` in `include/linux/proc_ns.h`).
const PID_INIT_INO: u64 = 0xEFFF_FFFC;
const USER_INIT_INO: u64 = 0xEFFF_FFFD;

/// The most events one [`Connector::wait`] takes off the socket; the rest wait there
/// (the 8 MiB receive buffer holds about 100,000). Small, so that a caller that fell
/// behind in a burst works through it in batches its memory need not grow for: the
/// watcher's peak under a fork storm was 41 MiB (7x idle) with 65,536, each event
/// becoming records and journal lines before the next wait.
const MAX_PER_WAIT: usize = 2_048;

/// How to subscribe.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// How long to wait for the kernel's acknowledgement.
    pub ack_within: Duration,
    /// The socket's receive buffer in bytes (forced past `rmem_max`, which needs the
    /// `CAP_NET_ADMIN` a subscriber has anyway). A message costs the buffer about 1
    /// KiB; the kernel's default (`rmem_default`, often 208 KiB) drops events within
    /// a second of a fork storm. 0 leaves the kernel's default.
    pub recv_buffer: usize,
    /// Refuse at once in a non-initial PID or user namespace (the default). Off, the
    /// subscription is tried anyway and the kernel's silence tells: a test of the
    /// acknowledgement's wait.
    pub check_namespaces: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            ack_within: Duration::from_secs(1),
            recv_buffer: 8 << 20,
            check_namespaces: true,
        }
    }
}

/// A subscription to the process-events connector.
pub struct Connector {
    fd: OwnedFd,
    sequences: Sequences,
    /// Events that came while waiting for the acknowledgement.
    early: Vec<Stamped>,
    buf: Vec<u8>,
    parsed: Vec<Message>,
}

impl Connector {
    /// Subscribes; `Err` says why the kernel gives leaktop no events.
    pub fn subscribe(options: Options) -> Result<Connector, NoEvents> {
        if let Some(ns) = non_initial_namespace().filter(|_| options.check_namespaces) {
            return Err(NoEvents::Namespace(ns));
        }
        let fd = socket_with(
            AddressFamily::NETLINK,
            SocketType::DGRAM,
            SocketFlags::CLOEXEC,
            Some(netlink::CONNECTOR),
        )
        .map_err(refusal)?;
        if options.recv_buffer > 0
            && rustix::net::sockopt::set_socket_recv_buffer_size_force(&fd, options.recv_buffer)
                .is_err()
        {
            let _ = rustix::net::sockopt::set_socket_recv_buffer_size(&fd, options.recv_buffer);
        }
        // Port 0: the kernel picks one.
        bind(&fd, &SocketAddrNetlink::new(0, wire::CN_IDX_PROC)).map_err(refusal)?;
        let mut c = Connector {
            fd,
            sequences: Sequences::default(),
            early: Vec::new(),
            buf: vec![0; 8192],
            parsed: Vec::new(),
        };
        // A number of our own, to tell our acknowledgement from other listeners'.
        let ack = std::process::id().wrapping_mul(2_654_435_761) ^ 0x6c6b_7470;
        c.send(wire::MCAST_LISTEN, ack).map_err(refusal)?;
        c.await_ack(ack.wrapping_add(1), options.ack_within)?;
        Ok(c)
    }

    fn send(&self, op: u32, ack: u32) -> rustix::io::Result<()> {
        let kernel = SocketAddrNetlink::new(0, 0);
        sendto(
            &self.fd,
            &wire::request(op, ack),
            SendFlags::empty(),
            &kernel,
        )
        .map(|_| ())
    }

    fn await_ack(&mut self, want: u32, within: Duration) -> Result<(), NoEvents> {
        let end = Instant::now() + within;
        let mut early = Vec::new();
        loop {
            let left = end.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(NoEvents::NoAcknowledgement(within.as_millis() as u64));
            }
            if !readable(&self.fd, left).map_err(refusal)? {
                continue;
            }
            let mut answer = None;
            let drained = self.drain(&mut early, usize::MAX, &mut |ack, err| {
                if ack == want {
                    answer = Some(err);
                }
            });
            drained.map_err(|EventError::Socket(e)| NoEvents::Other(e.to_string()))?;
            match answer {
                Some(0) => {
                    self.early = early;
                    return Ok(());
                }
                Some(err) => return Err(refusal(Errno::from_raw_os_error(err as i32))),
                None => {}
            }
        }
    }

    /// Takes what waits on the socket without blocking: events (with losses) into
    /// `out`, up to `max`; acknowledgements to `on_ack` (ack, errno).
    fn drain(
        &mut self,
        out: &mut Vec<Stamped>,
        max: usize,
        on_ack: &mut dyn FnMut(u32, u32),
    ) -> Result<(), EventError> {
        let start = out.len();
        while out.len() - start < max {
            match recv(&self.fd, &mut self.buf[..], RecvFlags::DONTWAIT) {
                Ok((n, _)) => {
                    self.parsed.clear();
                    wire::parse(&self.buf[..n.min(self.buf.len())], &mut self.parsed);
                    for m in self.parsed.drain(..) {
                        take(m, &mut self.sequences, out, on_ack);
                    }
                }
                Err(Errno::AGAIN) => break,
                Err(Errno::INTR) => {}
                Err(Errno::NOBUFS) => out.push(Stamped {
                    at_ns: super::monotonic_ns(),
                    event: ProcEvent::Lost { count: None },
                }),
                Err(e) => return Err(EventError::Socket(e.into())),
            }
        }
        Ok(())
    }
}

/// Turns one parsed message into events: a gap in its CPU's numbers first.
fn take(
    m: Message,
    sequences: &mut Sequences,
    out: &mut Vec<Stamped>,
    on_ack: &mut dyn FnMut(u32, u32),
) {
    let mut gap = |cpu, seq, at_ns, out: &mut Vec<Stamped>| {
        let skipped = sequences.note(cpu, seq);
        if skipped > 0 {
            out.push(Stamped {
                at_ns,
                event: ProcEvent::Lost {
                    count: Some(skipped),
                },
            });
        }
    };
    match m {
        Message::Event {
            cpu,
            seq,
            at_ns,
            event,
        } => {
            gap(cpu, seq, at_ns, out);
            out.push(Stamped { at_ns, event });
        }
        Message::Ack { cpu, seq, ack, err } => {
            gap(cpu, seq, super::monotonic_ns(), out);
            on_ack(ack, err);
        }
        Message::Other { cpu, seq } => gap(cpu, seq, super::monotonic_ns(), out),
        Message::NetlinkError(_) => {}
        // Bytes we could not read may have been events: say so.
        Message::Overrun | Message::Malformed(_) => out.push(Stamped {
            at_ns: super::monotonic_ns(),
            event: ProcEvent::Lost { count: None },
        }),
    }
}

/// Whether `fd` became readable within `timeout` (an interruption reads as no).
fn readable(fd: &OwnedFd, timeout: Duration) -> rustix::io::Result<bool> {
    let mut fds = [PollFd::new(fd, PollFlags::IN)];
    let timeout = rustix::time::Timespec::try_from(timeout).unwrap_or(rustix::time::Timespec {
        tv_sec: i64::MAX,
        tv_nsec: 0,
    });
    match poll(&mut fds, Some(&timeout)) {
        Ok(n) => Ok(n > 0),
        Err(Errno::INTR) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Why the kernel refused, from the errno it gave.
fn refusal(e: Errno) -> NoEvents {
    match e {
        Errno::PERM | Errno::ACCESS => NoEvents::NotPermitted,
        Errno::CONNREFUSED => NoEvents::NetNamespace,
        Errno::PROTONOSUPPORT | Errno::AFNOSUPPORT => NoEvents::Unsupported,
        e => NoEvents::Other(std::io::Error::from(e).to_string()),
    }
}

/// `"pid"` or `"user"` when leaktop runs in a namespace of that kind other than the
/// initial one; `None` when both are initial or cannot be read (the missing
/// acknowledgement then tells).
fn non_initial_namespace() -> Option<&'static str> {
    let inode = |kind| {
        std::fs::read_link(format!("/proc/self/ns/{kind}"))
            .ok()
            .and_then(|t| namespace_inode(&t.to_string_lossy()))
    };
    if inode("pid").is_some_and(|i| i != PID_INIT_INO) {
        return Some("pid");
    }
    if inode("user").is_some_and(|i| i != USER_INIT_INO) {
        return Some("user");
    }
    None
}

/// The inode of a namespace link's target, `pid:[4026531836]`.
fn namespace_inode(target: &str) -> Option<u64> {
    let (_, rest) = target.split_once(":[")?;
    rest.strip_suffix(']')?.parse().ok()
}

impl EventSource for Connector {
    fn source(&self) -> Source {
        Source::Connector
    }

    fn fallback_reason(&self) -> Option<&NoEvents> {
        None
    }

    fn watch(&mut self, _ids: &[Identity]) {}

    fn wait(&mut self, timeout: Duration, out: &mut Vec<Stamped>) -> Result<(), EventError> {
        let had = out.len();
        out.append(&mut self.early);
        if out.len() == had
            && !readable(&self.fd, timeout).map_err(|e| EventError::Socket(e.into()))?
        {
            return Ok(());
        }
        self.drain(out, MAX_PER_WAIT, &mut |_, _| {})
    }

    fn clock_ns(&self) -> u64 {
        super::monotonic_ns()
    }
}

impl Drop for Connector {
    fn drop(&mut self) {
        let _ = self.send(wire::MCAST_IGNORE, 0);
    }
}

impl AsFd for Connector {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_namespace_link_gives_its_inode() {
        assert_eq!(namespace_inode("pid:[4026531836]"), Some(PID_INIT_INO));
        assert_eq!(namespace_inode("user:[4026531837]"), Some(USER_INIT_INO));
        assert_eq!(namespace_inode("pid:[12]x"), None);
        assert_eq!(namespace_inode("garbage"), None);
    }

    #[test]
    fn each_refusal_has_its_reason() {
        assert_eq!(refusal(Errno::PERM), NoEvents::NotPermitted);
        assert_eq!(refusal(Errno::CONNREFUSED), NoEvents::NetNamespace);
        assert_eq!(refusal(Errno::PROTONOSUPPORT), NoEvents::Unsupported);
        assert!(matches!(refusal(Errno::NOMEM), NoEvents::Other(_)));
    }

    #[test]
    fn a_gap_becomes_a_counted_loss_before_the_event_after_it() {
        let mut seq = Sequences::default();
        let mut out = Vec::new();
        let exec = |seq, at_ns| Message::Event {
            cpu: 0,
            seq,
            at_ns,
            event: ProcEvent::Exec {
                task: super::super::Task::process(5),
            },
        };
        take(exec(1, 10), &mut seq, &mut out, &mut |_, _| {});
        take(exec(4, 40), &mut seq, &mut out, &mut |_, _| {});
        let events: Vec<_> = out.iter().map(|s| (s.at_ns, s.event.clone())).collect();
        assert_eq!(events.len(), 3, "{events:?}");
        assert_eq!(events[1], (40, ProcEvent::Lost { count: Some(2) }));
        // An acknowledgement counts in the sequence too.
        let mut acks = Vec::new();
        take(
            Message::Ack {
                cpu: 0,
                seq: 5,
                ack: 9,
                err: 0,
            },
            &mut seq,
            &mut out,
            &mut |a, e| acks.push((a, e)),
        );
        take(exec(6, 60), &mut seq, &mut out, &mut |_, _| {});
        assert_eq!(acks, [(9, 0)]);
        assert_eq!(out.len(), 4, "no loss: the ack had number 5");
        take(Message::Malformed("x"), &mut seq, &mut out, &mut |_, _| {});
        assert_eq!(out[4].event, ProcEvent::Lost { count: None });
    }
}
