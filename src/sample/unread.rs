//! Whether anyone still reads a standard stream: a pipe whose read end no process
//! holds, or a connected Unix stream socket whose peer was closed (Node's `pipe`
//! stdio is a socketpair). The process that read it is gone; whatever writes there
//! is heard by no one.
//!
//! - A pipe: `/proc/PID/fd/N` reopened for writing (an anonymous pipe's open never
//!   waits for a partner) polls `POLLERR` when the pipe has no reader left; the
//!   descriptor is closed at once, nothing written.
//! - A socket: the kernel's `sock_diag` netlink interface (`NETLINK_SOCK_DIAG`,
//!   `unix_diag`) asked about the one inode with `UDIAG_SHOW_PEER`: a connected
//!   stream socket whose peer inode reads 0 lost its peer. Layouts from the kernel's
//!   `include/uapi/linux/{netlink,sock_diag,unix_diag}.h`.

use std::os::fd::AsFd;

use rustix::event::{PollFd, PollFlags};
use rustix::fs::{Mode, OFlags};
use rustix::net::netlink::{self, SocketAddrNetlink};
use rustix::net::{AddressFamily, RecvFlags, SendFlags, SocketFlags, SocketType};

/// `SOCK_DIAG_BY_FAMILY`: the request's netlink message type.
const SOCK_DIAG_BY_FAMILY: u16 = 20;
const NLM_F_REQUEST: u16 = 1;
const NLMSG_HDRLEN: usize = 16;
/// `UDIAG_SHOW_PEER`: ask for the peer's inode.
const UDIAG_SHOW_PEER: u32 = 0x4;
/// The `UNIX_DIAG_PEER` attribute: the peer's inode, a `u32`.
const UNIX_DIAG_PEER: u16 = 2;
const AF_UNIX: u8 = 1;
const SOCK_STREAM: u8 = 1;
const SOCK_SEQPACKET: u8 = 5;
/// `TCP_ESTABLISHED`, as `unix_diag` reports a connected socket.
const ESTABLISHED: u8 = 1;
/// `sizeof(struct unix_diag_msg)`.
const DIAG_MSG_LEN: usize = 16;

/// Whether the pipe at `/proc/PID/fd/FD` has no reader: `Some(true)` none, `Some(false)`
/// one at least, `None` unknown (gone, not a pipe, or not ours to open).
pub fn pipe_unread(pid: u32, fd: u32) -> Option<bool> {
    let path = format!("/proc/{pid}/fd/{fd}");
    let flags = OFlags::WRONLY | OFlags::NONBLOCK | OFlags::CLOEXEC | OFlags::NOCTTY;
    let reopened = rustix::fs::open(path.as_str(), flags, Mode::empty()).ok()?;
    // A pipe's writer polls POLLERR once no reader is left (Linux: a FIFO's too).
    let mut fds = [PollFd::new(&reopened, PollFlags::OUT)];
    let zero = rustix::event::Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    match rustix::event::poll(&mut fds, Some(&zero)) {
        Ok(_) => Some(fds[0].revents().contains(PollFlags::ERR)),
        Err(_) => None,
    }
}

/// Whether the Unix socket of inode `ino` is a connected stream socket whose peer was
/// closed: `Some(true)`, `Some(false)` a live peer or another kind of socket, `None`
/// unknown (no `unix_diag` here, or no such Unix socket: TCP, another namespace's).
pub fn socket_unread(ino: u32) -> Option<bool> {
    let fd = rustix::net::socket_with(
        AddressFamily::NETLINK,
        SocketType::DGRAM,
        SocketFlags::CLOEXEC,
        Some(netlink::SOCK_DIAG),
    )
    .ok()?;
    let kernel = SocketAddrNetlink::new(0, 0);
    rustix::net::sendto(fd.as_fd(), &request(ino), SendFlags::empty(), &kernel).ok()?;
    // The kernel answers a single-inode request before `sendto` returns.
    let mut buf = [0u8; 1024];
    let (n, _) = rustix::net::recv(fd.as_fd(), &mut buf[..], RecvFlags::DONTWAIT).ok()?;
    parse(buf.get(..n)?, ino)
}

/// The `SOCK_DIAG_BY_FAMILY` request for the Unix socket of inode `ino`, any state,
/// with its peer: a netlink header and a `struct unix_diag_req`.
pub fn request(ino: u32) -> [u8; 40] {
    let mut b = [0u8; 40];
    b[0..4].copy_from_slice(&40u32.to_ne_bytes());
    b[4..6].copy_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
    b[6..8].copy_from_slice(&NLM_F_REQUEST.to_ne_bytes());
    b[8..12].copy_from_slice(&1u32.to_ne_bytes());
    // unix_diag_req: family, protocol, pad, states, ino, show, cookie (none: ~0).
    b[16] = AF_UNIX;
    b[20..24].copy_from_slice(&u32::MAX.to_ne_bytes());
    b[24..28].copy_from_slice(&ino.to_ne_bytes());
    b[28..32].copy_from_slice(&UDIAG_SHOW_PEER.to_ne_bytes());
    b[32..40].copy_from_slice(&[0xff; 8]);
    b
}

/// Reads the answer to [`request`]: see [`socket_unread`]. `None` for an error
/// message, a malformed answer or one about another inode.
pub fn parse(answer: &[u8], ino: u32) -> Option<bool> {
    let u32_at = |b: &[u8], at: usize| -> Option<u32> {
        Some(u32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
    };
    let u16_at = |b: &[u8], at: usize| -> Option<u16> {
        Some(u16::from_ne_bytes(b.get(at..at + 2)?.try_into().ok()?))
    };
    let len = u32_at(answer, 0)? as usize;
    if len > answer.len() || len < NLMSG_HDRLEN + DIAG_MSG_LEN {
        return None;
    }
    if u16_at(answer, 4)? != SOCK_DIAG_BY_FAMILY {
        return None; // NLMSG_ERROR (no such socket) or anything else
    }
    let msg = &answer[NLMSG_HDRLEN..len];
    let (kind, state) = (msg[1], msg[2]);
    if u32_at(msg, 4)? != ino {
        return None;
    }
    let connected_stream = matches!(kind, SOCK_STREAM | SOCK_SEQPACKET) && state == ESTABLISHED;
    let mut attrs = &msg[DIAG_MSG_LEN..];
    let mut peer = None;
    while attrs.len() >= 4 {
        let alen = u16_at(attrs, 0)? as usize;
        if alen < 4 || alen > attrs.len() {
            return None;
        }
        if u16_at(attrs, 2)? == UNIX_DIAG_PEER {
            peer = u32_at(attrs, 4);
        }
        attrs = attrs.get((alen + 3) & !3..).unwrap_or(&[]);
    }
    Some(connected_stream && peer == Some(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NLMSG_ERROR: u16 = 2;

    /// An answer about `ino`: a netlink header, a `unix_diag_msg` of `kind` in
    /// `state`, and a peer attribute where `peer` is given.
    fn answer(ino: u32, kind: u8, state: u8, peer: Option<u32>) -> Vec<u8> {
        let mut msg = vec![AF_UNIX, kind, state, 0];
        msg.extend(ino.to_ne_bytes());
        msg.extend([0xff; 8]);
        if let Some(p) = peer {
            msg.extend(8u16.to_ne_bytes());
            msg.extend(UNIX_DIAG_PEER.to_ne_bytes());
            msg.extend(p.to_ne_bytes());
        }
        let mut b = ((NLMSG_HDRLEN + msg.len()) as u32).to_ne_bytes().to_vec();
        b.extend(SOCK_DIAG_BY_FAMILY.to_ne_bytes());
        b.extend([0; 10]);
        b.extend(msg);
        b
    }

    #[test]
    fn a_connected_stream_socket_whose_peer_reads_zero_is_unread() {
        assert_eq!(
            parse(&answer(7, SOCK_STREAM, ESTABLISHED, Some(0)), 7),
            Some(true)
        );
        assert_eq!(
            parse(&answer(7, SOCK_STREAM, ESTABLISHED, Some(9)), 7),
            Some(false)
        );
        // A listening socket has no peer; a datagram socket's peer is no reader.
        assert_eq!(parse(&answer(7, SOCK_STREAM, 10, None), 7), Some(false));
        assert_eq!(parse(&answer(7, 2, ESTABLISHED, Some(0)), 7), Some(false));
    }

    #[test]
    fn errors_other_inodes_and_short_answers_are_unknown() {
        assert_eq!(
            parse(&answer(8, SOCK_STREAM, ESTABLISHED, Some(0)), 7),
            None
        );
        let a = answer(7, SOCK_STREAM, ESTABLISHED, Some(0));
        assert_eq!(parse(&a[..20], 7), None);
        let mut err = a.clone();
        err[4..6].copy_from_slice(&NLMSG_ERROR.to_ne_bytes());
        assert_eq!(parse(&err, 7), None);
    }

    #[test]
    fn the_request_asks_for_one_inode_and_its_peer() {
        let r = request(0x1234);
        assert_eq!(u32::from_ne_bytes(r[0..4].try_into().unwrap()), 40);
        assert_eq!(u32::from_ne_bytes(r[24..28].try_into().unwrap()), 0x1234);
        assert_eq!(r[16], AF_UNIX);
    }

    #[test]
    fn a_socketpair_whose_other_end_is_closed_is_unread_and_a_pipe_without_reader_too() {
        use std::os::fd::AsRawFd;
        let (a, b) = rustix::net::socketpair(
            AddressFamily::UNIX,
            SocketType::STREAM,
            SocketFlags::CLOEXEC,
            None,
        )
        .unwrap();
        let ino = |fd: &std::os::fd::OwnedFd| rustix::fs::fstat(fd).unwrap().st_ino as u32;
        let me = std::process::id();
        if socket_unread(ino(&a)).is_none() {
            eprintln!("note: no unix_diag here; the socket half is not checked");
        } else {
            assert_eq!(socket_unread(ino(&a)), Some(false));
            drop(b);
            assert_eq!(socket_unread(ino(&a)), Some(true));
        }
        let (r, w) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).unwrap();
        assert_eq!(pipe_unread(me, w.as_raw_fd() as u32), Some(false));
        drop(r);
        assert_eq!(pipe_unread(me, w.as_raw_fd() as u32), Some(true));
    }
}
