//! The process-events connector's wire format, parsed by hand from bytes.
//!
//! A datagram holds netlink messages, each 4-byte aligned:
//!
//! ```text
//! nlmsghdr (16)  len u32 | type u16 | flags u16 | seq u32 | port u32
//! cn_msg   (20)  idx u32 | val u32 | seq u32 | ack u32 | len u16 | flags u16
//! proc_event     what u32 | cpu u32 | timestamp_ns u64 | event_data (union, 24 bytes)
//! ```
//!
//! Every field is in the host's byte order (netlink is not a network protocol), read
//! here with `from_ne_bytes` at fixed offsets: no casts of buffers to structs, no
//! `unsafe`. A message too short for what it claims is [`Message::Malformed`], never a
//! panic. Layouts from the kernel's `include/uapi/linux/{netlink,connector,cn_proc}.h`.

use super::{Ended, ProcEvent, Task};
use crate::sample::Comm;

/// `CN_IDX_PROC` / `CN_VAL_PROC`: the connector's process-events channel, and the
/// netlink multicast group to bind to.
pub const CN_IDX_PROC: u32 = 1;
pub const CN_VAL_PROC: u32 = 1;
/// `PROC_CN_MCAST_LISTEN` / `PROC_CN_MCAST_IGNORE`.
pub const MCAST_LISTEN: u32 = 1;
pub const MCAST_IGNORE: u32 = 2;

const NLMSG_HDRLEN: usize = 16;
const CN_MSG_LEN: usize = 20;
/// `what`, `cpu`, `timestamp_ns`: the part of a `proc_event` before its union.
const EVENT_HEAD: usize = 16;
const NLMSG_NOOP: u16 = 1;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLMSG_OVERRUN: u16 = 4;

const EV_NONE: u32 = 0;
const EV_FORK: u32 = 0x1;
const EV_EXEC: u32 = 0x2;
const EV_UID: u32 = 0x4;
const EV_GID: u32 = 0x40;
const EV_SID: u32 = 0x80;
const EV_PTRACE: u32 = 0x100;
const EV_COMM: u32 = 0x200;
const EV_COREDUMP: u32 = 0x4000_0000;
const EV_EXIT: u32 = 0x8000_0000;

/// One message of a datagram, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// A process event, sent from `cpu` with that CPU's sequence number `seq`, at the
    /// kernel's `at_ns` (`CLOCK_MONOTONIC`).
    Event {
        cpu: u32,
        seq: u32,
        at_ns: u64,
        event: ProcEvent,
    },
    /// The answer to a `LISTEN`/`IGNORE` (ours or another listener's: it goes to the
    /// whole group): `ack` is the request's `ack` + 1, `err` an errno (0: done).
    Ack {
        cpu: u32,
        seq: u32,
        ack: u32,
        err: u32,
    },
    /// An event leaktop does not model (uid or gid changes, a kind newer than this
    /// code): it still counts in its CPU's sequence.
    Other { cpu: u32, seq: u32 },
    /// A netlink error message (`NLMSG_ERROR`) with this errno (0: an acknowledgement).
    NetlinkError(i32),
    /// The kernel says the socket overran (`NLMSG_OVERRUN`): events were lost.
    Overrun,
    /// Bytes that do not parse: what was wrong. The rest of the datagram is skipped.
    Malformed(&'static str),
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_ne_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

fn task_at(b: &[u8], at: usize) -> Option<Task> {
    Some(Task {
        pid: u32_at(b, at)?,
        tgid: u32_at(b, at + 4)?,
    })
}

/// A task that may be absent: pid 0 (the kernel leaves it so where it has none).
fn maybe_task_at(b: &[u8], at: usize) -> Option<Task> {
    task_at(b, at).filter(|t| t.pid != 0)
}

/// Parses every message of one datagram into `out`.
pub fn parse(datagram: &[u8], out: &mut Vec<Message>) {
    let mut rest = datagram;
    while !rest.is_empty() {
        let Some(len) = u32_at(rest, 0).map(|l| l as usize) else {
            out.push(Message::Malformed("a netlink header cut short"));
            return;
        };
        if len < NLMSG_HDRLEN || len > rest.len() {
            out.push(Message::Malformed("a netlink length out of bounds"));
            return;
        }
        let kind = u16_at(rest, 4).unwrap_or(0);
        let payload = &rest[NLMSG_HDRLEN..len];
        match kind {
            NLMSG_NOOP => {}
            NLMSG_ERROR => out.push(match u32_at(payload, 0) {
                // The kernel sends the negated errno.
                Some(e) => Message::NetlinkError((e as i32).saturating_neg()),
                None => Message::Malformed("a netlink error cut short"),
            }),
            NLMSG_OVERRUN => out.push(Message::Overrun),
            // The connector sends its messages as NLMSG_DONE; take any other type the
            // same way, as the kernel's own connector users do.
            _ => out.extend(connector_message(payload)),
        }
        // Messages are 4-byte aligned; the last one may lack its padding.
        let next = len.saturating_add(3) & !3;
        rest = rest.get(next..).unwrap_or(&[]);
    }
}

/// One `cn_msg`; `None` for a message of another connector channel.
fn connector_message(b: &[u8]) -> Option<Message> {
    let (Some(idx), Some(val), Some(seq), Some(ack), Some(len)) = (
        u32_at(b, 0),
        u32_at(b, 4),
        u32_at(b, 8),
        u32_at(b, 12),
        u16_at(b, 16),
    ) else {
        return Some(Message::Malformed("a connector header cut short"));
    };
    if (idx, val) != (CN_IDX_PROC, CN_VAL_PROC) {
        return None;
    }
    let Some(data) = b.get(CN_MSG_LEN..CN_MSG_LEN + usize::from(len)) else {
        return Some(Message::Malformed(
            "a connector message longer than its datagram",
        ));
    };
    Some(proc_event(data, seq, ack))
}

/// One `proc_event`.
fn proc_event(b: &[u8], seq: u32, ack: u32) -> Message {
    let (Some(what), Some(cpu), Some(at_ns)) = (u32_at(b, 0), u32_at(b, 4), u64_at(b, 8)) else {
        return Message::Malformed("a process event cut short");
    };
    let d = &b[EVENT_HEAD..];
    let event = match what {
        EV_NONE => {
            return match u32_at(d, 0) {
                Some(err) => Message::Ack { cpu, seq, ack, err },
                None => Message::Malformed("an acknowledgement cut short"),
            };
        }
        EV_FORK => task_at(d, 0)
            .zip(task_at(d, 8))
            .map(|(parent, child)| ProcEvent::Fork { parent, child }),
        EV_EXEC => task_at(d, 0).map(|task| ProcEvent::Exec { task }),
        EV_SID => task_at(d, 0).map(|task| ProcEvent::Setsid { task }),
        EV_PTRACE => task_at(d, 0)
            .zip(u32_at(d, 8))
            .map(|(task, _)| ProcEvent::Ptrace {
                task,
                // The kernel writes 0 for the tracer of a detach.
                tracer: maybe_task_at(d, 8),
            }),
        EV_COMM => task_at(d, 0).zip(d.get(8..24)).map(|(task, raw)| {
            let name = raw.split(|&c| c == 0).next().unwrap_or(raw);
            ProcEvent::Comm {
                task,
                comm: Comm::new(name),
            }
        }),
        // Kernels before 4.18 sent no parent for these two.
        EV_COREDUMP => task_at(d, 0).map(|task| ProcEvent::Coredump {
            task,
            parent: maybe_task_at(d, 8),
        }),
        EV_EXIT => task_at(d, 0)
            .zip(u32_at(d, 8))
            .map(|(task, status)| ProcEvent::Exit {
                task,
                parent: maybe_task_at(d, 16),
                how: Ended::from_wait_status(status),
            }),
        EV_UID | EV_GID => return Message::Other { cpu, seq },
        _ => return Message::Other { cpu, seq },
    };
    match event {
        Some(event) => Message::Event {
            cpu,
            seq,
            at_ns,
            event,
        },
        None => Message::Malformed("a process event shorter than its kind"),
    }
}

/// The request leaktop sends the kernel: `op` ([`MCAST_LISTEN`] or [`MCAST_IGNORE`])
/// with `ack`, which the kernel's answer carries back as `ack + 1`. A bare `op` (no
/// event filter, Linux 6.6+'s `proc_input`) asks for every event, so that every
/// CPU's sequence numbers have no gaps but losses.
pub fn request(op: u32, ack: u32) -> [u8; NLMSG_HDRLEN + CN_MSG_LEN + 4] {
    const LEN: usize = NLMSG_HDRLEN + CN_MSG_LEN + 4;
    let mut b = [0u8; LEN];
    b[0..4].copy_from_slice(&(LEN as u32).to_ne_bytes());
    b[4..6].copy_from_slice(&NLMSG_DONE.to_ne_bytes());
    // flags, seq and port stay 0: the kernel knows the sender's port.
    let c = NLMSG_HDRLEN;
    b[c..c + 4].copy_from_slice(&CN_IDX_PROC.to_ne_bytes());
    b[c + 4..c + 8].copy_from_slice(&CN_VAL_PROC.to_ne_bytes());
    b[c + 8..c + 12].copy_from_slice(&ack.to_ne_bytes());
    b[c + 12..c + 16].copy_from_slice(&ack.to_ne_bytes());
    b[c + 16..c + 18].copy_from_slice(&4u16.to_ne_bytes());
    b[c + CN_MSG_LEN..].copy_from_slice(&op.to_ne_bytes());
    b
}

/// The number of CPUs whose sequences are followed; events from a higher CPU number
/// are not checked for gaps (a machine that large is beyond this code).
const MAX_CPUS: usize = 8192;

/// Finds the gaps in each CPU's sequence numbers: the kernel numbers the messages it
/// sends from each CPU (every listener's and every kind alike), so a number skipped is
/// a message dropped (a full socket, or a failed allocation in the kernel).
#[derive(Debug, Default)]
pub struct Sequences {
    last: Vec<Option<u32>>,
}

impl Sequences {
    /// Notes message `seq` from `cpu`; returns how many of that CPU's messages were
    /// skipped since the last one seen (0 for the first one from a CPU: no baseline).
    /// A number at or below the last one (out of order, repeated) skips nothing and
    /// leaves the baseline where it was; numbers wrap around at 2^32.
    pub fn note(&mut self, cpu: u32, seq: u32) -> u64 {
        let cpu = cpu as usize;
        if cpu >= MAX_CPUS {
            return 0;
        }
        if self.last.len() <= cpu {
            self.last.resize(cpu + 1, None);
        }
        let Some(last) = self.last[cpu] else {
            self.last[cpu] = Some(seq);
            return 0;
        };
        let gap = seq.wrapping_sub(last).wrapping_sub(1);
        // Half the number space or more: an old number (out of order), not a gap.
        if gap >= 1 << 31 {
            return 0;
        }
        self.last[cpu] = Some(seq);
        u64::from(gap)
    }
}

#[cfg(test)]
mod tests;
