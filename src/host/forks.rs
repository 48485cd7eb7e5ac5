//! Linux's process events (the proc connector, `NETLINK_CONNECTOR` / `CN_IDX_PROC`):
//! every fork and exit on the machine, as it happens, for [`Host::watch_forks`].
//!
//! Listening needs `CAP_NET_ADMIN` (root); without it [`ProcConnector::open`] fails and
//! the kill does without. Events come on a non-blocking socket with a 4 MiB buffer
//! (more as root, `SO_RCVBUFFORCE`); an overrun (`ENOBUFS`) loses events and is said.
//!
//! Wire format (`linux/netlink.h`, `linux/connector.h`, `linux/cn_proc.h`), native
//! endian: `nlmsghdr` (16 bytes), `cn_msg` (20 bytes: idx, val, seq, ack, len, flags),
//! then `proc_event`: what (u32), cpu (u32), timestamp (u64), and the event's fields;
//! a fork's are parent pid, parent tgid, child pid, child tgid; an exit's start with
//! the process's pid and tgid.
//!
//! [`Host::watch_forks`]: super::Host::watch_forks

use std::io;
use std::os::fd::OwnedFd;

use rustix::net::netlink::{self, SocketAddrNetlink};
use rustix::net::{
    AddressFamily, RecvFlags, SendFlags, SocketFlags, SocketType, bind, recv, send, socket_with,
    sockopt,
};

use super::{ForkWatch, ProcEvent};

/// The connector's index and value for process events.
const CN_IDX_PROC: u32 = 1;
const CN_VAL_PROC: u32 = 1;
/// `PROC_CN_MCAST_LISTEN` / `_IGNORE`: the operation sent to start and stop.
const MCAST_LISTEN: u32 = 1;
const MCAST_IGNORE: u32 = 2;
/// `NLMSG_DONE`: the message type of a connector message.
const NLMSG_DONE: u16 = 3;
/// `proc_event.what` of a fork and of an exit.
const EVENT_FORK: u32 = 0x0000_0001;
const EVENT_EXIT: u32 = 0x8000_0000;
/// Offsets: the `cn_msg` after the `nlmsghdr`, the `proc_event` after the `cn_msg`,
/// its fields after what, cpu and timestamp.
const CN_MSG: usize = 16;
const EVENT: usize = CN_MSG + 20;
const FIELDS: usize = EVENT + 16;
/// The receive buffer asked for, bytes.
const RECV_BUFFER: usize = 4 << 20;

/// A subscription to the kernel's process events.
pub struct ProcConnector {
    fd: OwnedFd,
}

impl ProcConnector {
    /// Subscribes; `Err` without `CAP_NET_ADMIN` (`EPERM`) or without the connector.
    pub fn open() -> io::Result<ProcConnector> {
        let fd = socket_with(
            AddressFamily::NETLINK,
            SocketType::DGRAM,
            SocketFlags::CLOEXEC | SocketFlags::NONBLOCK,
            Some(netlink::CONNECTOR),
        )?;
        // Port 0: the kernel picks one; the group is the process events'.
        bind(&fd, &SocketAddrNetlink::new(0, CN_IDX_PROC))?;
        if sockopt::set_socket_recv_buffer_size_force(&fd, RECV_BUFFER).is_err() {
            let _ = sockopt::set_socket_recv_buffer_size(&fd, RECV_BUFFER);
        }
        let watch = ProcConnector { fd };
        watch.control(MCAST_LISTEN)?;
        Ok(watch)
    }

    /// Sends `op` (listen or ignore) to the connector.
    fn control(&self, op: u32) -> io::Result<()> {
        let mut msg = Vec::with_capacity(EVENT + 4);
        msg.extend_from_slice(&((EVENT + 4) as u32).to_ne_bytes());
        msg.extend_from_slice(&NLMSG_DONE.to_ne_bytes());
        msg.extend_from_slice(&0u16.to_ne_bytes()); // flags
        msg.extend_from_slice(&0u32.to_ne_bytes()); // seq
        msg.extend_from_slice(&0u32.to_ne_bytes()); // port: the kernel fills it in
        for word in [CN_IDX_PROC, CN_VAL_PROC, 0, 0] {
            msg.extend_from_slice(&word.to_ne_bytes());
        }
        msg.extend_from_slice(&4u16.to_ne_bytes()); // len of the payload
        msg.extend_from_slice(&0u16.to_ne_bytes()); // flags
        msg.extend_from_slice(&op.to_ne_bytes());
        send(&self.fd, &msg, SendFlags::empty())?;
        Ok(())
    }
}

impl ForkWatch for ProcConnector {
    fn drain(&mut self, out: &mut Vec<ProcEvent>) -> bool {
        let mut whole = true;
        let mut buf = [0u8; 4096];
        loop {
            match recv(&self.fd, &mut buf[..], RecvFlags::DONTWAIT) {
                Ok((n, _)) => parse(&buf[..n.min(buf.len())], out),
                Err(rustix::io::Errno::INTR) => {}
                // The buffer overran: events were lost.
                Err(rustix::io::Errno::NOBUFS) => whole = false,
                Err(_) => return whole,
            }
        }
    }
}

impl Drop for ProcConnector {
    fn drop(&mut self) {
        // The kernel counts listeners and sends events while any is left.
        let _ = self.control(MCAST_IGNORE);
    }
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// The events in one datagram (one or more netlink messages), appended to `out`.
fn parse(mut datagram: &[u8], out: &mut Vec<ProcEvent>) {
    while let Some(len) = u32_at(datagram, 0).map(|l| l as usize) {
        if len < CN_MSG || len > datagram.len() {
            return;
        }
        let msg = &datagram[..len];
        let event = (u32_at(msg, CN_MSG), u32_at(msg, EVENT));
        if event.0 == Some(CN_IDX_PROC) {
            match event.1 {
                Some(EVENT_FORK) => {
                    let f = |i: usize| u32_at(msg, FIELDS + 4 * i);
                    // Only new processes: a new thread's pid is not its tgid.
                    if let (Some(parent), Some(pid), Some(tgid)) = (f(1), f(2), f(3))
                        && pid == tgid
                    {
                        out.push(ProcEvent::Fork {
                            parent,
                            child: tgid,
                        });
                    }
                }
                Some(EVENT_EXIT) => {
                    // The process ends with its main thread (pid == tgid).
                    if let (Some(pid), Some(tgid)) = (u32_at(msg, FIELDS), u32_at(msg, FIELDS + 4))
                        && pid == tgid
                    {
                        out.push(ProcEvent::Exit { pid: tgid });
                    }
                }
                _ => {}
            }
        }
        // Messages are 4-byte aligned.
        let next = (len + 3) & !3;
        datagram = datagram.get(next..).unwrap_or_default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One connector message carrying a `proc_event` of `what` with `fields`.
    fn message(what: u32, fields: &[u32]) -> Vec<u8> {
        let mut m = Vec::new();
        let len = FIELDS + 4 * fields.len();
        m.extend_from_slice(&(len as u32).to_ne_bytes());
        m.extend_from_slice(&[0u8; 12]);
        m.extend_from_slice(&CN_IDX_PROC.to_ne_bytes());
        m.extend_from_slice(&CN_VAL_PROC.to_ne_bytes());
        m.extend_from_slice(&[0u8; 12]);
        m.extend_from_slice(&what.to_ne_bytes());
        m.extend_from_slice(&[0u8; 12]);
        for f in fields {
            m.extend_from_slice(&f.to_ne_bytes());
        }
        m
    }

    #[test]
    fn forks_and_exits_of_processes_are_read_and_threads_left_out() {
        let mut out = Vec::new();
        let mut datagram = message(EVENT_FORK, &[10, 10, 11, 11]);
        datagram.extend(message(EVENT_FORK, &[11, 10, 12, 10])); // a thread of 10
        datagram.extend(message(EVENT_EXIT, &[11, 11, 0, 17]));
        datagram.extend(message(EVENT_EXIT, &[12, 10, 0, 0])); // a thread ends
        datagram.extend(message(0, &[])); // the listen's acknowledgement
        parse(&datagram, &mut out);
        assert_eq!(
            out,
            [
                ProcEvent::Fork {
                    parent: 10,
                    child: 11
                },
                ProcEvent::Exit { pid: 11 },
            ]
        );
    }

    #[test]
    fn a_truncated_or_garbled_datagram_reads_what_it_can_and_never_panics() {
        let mut out = Vec::new();
        let whole = message(EVENT_FORK, &[10, 10, 11, 11]);
        for cut in 0..whole.len() {
            parse(&whole[..cut], &mut out);
        }
        parse(&[0xff; 64], &mut out);
        assert!(out.is_empty(), "{out:?}");
    }

    #[test]
    fn a_real_fork_is_seen_where_the_connector_may_be_heard() {
        let Ok(mut watch) = ProcConnector::open() else {
            return; // not root: nothing to hear
        };
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        let mut events = Vec::new();
        for _ in 0..200 {
            watch.drain(&mut events);
            if events.contains(&ProcEvent::Exit { pid }) {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert!(
            events.contains(&ProcEvent::Fork {
                parent: std::process::id(),
                child: pid
            }),
            "{events:?}"
        );
    }
}
