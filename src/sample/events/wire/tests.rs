//! The wire format on byte buffers built here, field by field, as the kernel lays
//! them out (host byte order).

use super::*;

/// A `proc_event` of kind `what` from `cpu` at `at_ns`, with `data` as its union.
fn event(what: u32, cpu: u32, at_ns: u64, data: &[u32]) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend(what.to_ne_bytes());
    b.extend(cpu.to_ne_bytes());
    b.extend(at_ns.to_ne_bytes());
    for d in data {
        b.extend(d.to_ne_bytes());
    }
    // The union is 24 bytes whatever the kind.
    b.resize(b.len().max(EVENT_HEAD + 24), 0);
    b
}

/// A netlink message carrying `data` as a process-connector message.
fn message(seq: u32, ack: u32, data: &[u8]) -> Vec<u8> {
    let mut cn = Vec::new();
    cn.extend(CN_IDX_PROC.to_ne_bytes());
    cn.extend(CN_VAL_PROC.to_ne_bytes());
    cn.extend(seq.to_ne_bytes());
    cn.extend(ack.to_ne_bytes());
    cn.extend((data.len() as u16).to_ne_bytes());
    cn.extend(0u16.to_ne_bytes());
    cn.extend(data);
    netlink(NLMSG_DONE, &cn)
}

fn netlink(kind: u16, payload: &[u8]) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend(((NLMSG_HDRLEN + payload.len()) as u32).to_ne_bytes());
    b.extend(kind.to_ne_bytes());
    b.extend([0u8; 10]);
    b.extend(payload);
    while b.len() % 4 != 0 {
        b.push(0);
    }
    b
}

fn parsed(bytes: &[u8]) -> Vec<Message> {
    let mut out = Vec::new();
    parse(bytes, &mut out);
    out
}

fn only_event(bytes: &[u8]) -> ProcEvent {
    match parsed(bytes).as_slice() {
        [Message::Event { event, .. }] => event.clone(),
        other => panic!("not one event: {other:?}"),
    }
}

#[test]
fn a_fork_names_parent_and_child_with_cpu_sequence_and_time() {
    let bytes = message(
        41,
        0,
        &event(EV_FORK, 3, 123_456_789, &[4121, 4121, 4122, 4122]),
    );
    assert_eq!(
        parsed(&bytes),
        [Message::Event {
            cpu: 3,
            seq: 41,
            at_ns: 123_456_789,
            event: ProcEvent::Fork {
                parent: Task::process(4121),
                child: Task::process(4122),
            },
        }]
    );
}

#[test]
fn a_new_thread_is_a_fork_whose_child_is_no_process() {
    let e = only_event(&message(0, 0, &event(EV_FORK, 0, 1, &[1, 1, 4200, 4100])));
    let ProcEvent::Fork { child, .. } = e else {
        panic!("{e:?}")
    };
    assert!(!child.is_process());
}

#[test]
fn an_exit_gives_its_code_or_signal_and_its_parent() {
    let exit = |status: u32, parent: u32| {
        only_event(&message(
            0,
            0,
            &event(EV_EXIT, 0, 1, &[4122, 4122, status, 17, parent, parent]),
        ))
    };
    assert_eq!(
        exit(3 << 8, 4121),
        ProcEvent::Exit {
            task: Task::process(4122),
            parent: Some(Task::process(4121)),
            how: Some(Ended::Code(3)),
        }
    );
    assert_eq!(
        exit(9, 0),
        ProcEvent::Exit {
            task: Task::process(4122),
            parent: None,
            how: Some(Ended::Signaled {
                signal: 9,
                core: false
            }),
        }
    );
}

#[test]
fn exec_setsid_comm_ptrace_and_coredump_are_typed() {
    assert_eq!(
        only_event(&message(0, 0, &event(EV_EXEC, 0, 1, &[7, 7]))),
        ProcEvent::Exec {
            task: Task::process(7)
        }
    );
    assert_eq!(
        only_event(&message(0, 0, &event(EV_SID, 0, 1, &[8, 8]))),
        ProcEvent::Setsid {
            task: Task::process(8)
        }
    );
    let mut comm = event(EV_COMM, 0, 1, &[9, 9]);
    comm[EVENT_HEAD + 8..EVENT_HEAD + 13].copy_from_slice(b"sleep");
    assert_eq!(
        only_event(&message(0, 0, &comm)),
        ProcEvent::Comm {
            task: Task::process(9),
            comm: Comm::new(b"sleep"),
        }
    );
    assert_eq!(
        only_event(&message(0, 0, &event(EV_PTRACE, 0, 1, &[10, 10, 11, 11]))),
        ProcEvent::Ptrace {
            task: Task::process(10),
            tracer: Some(Task::process(11)),
        }
    );
    assert_eq!(
        only_event(&message(0, 0, &event(EV_PTRACE, 0, 1, &[10, 10, 0, 0]))),
        ProcEvent::Ptrace {
            task: Task::process(10),
            tracer: None,
        }
    );
    assert_eq!(
        only_event(&message(0, 0, &event(EV_COREDUMP, 0, 1, &[12, 12, 5, 5]))),
        ProcEvent::Coredump {
            task: Task::process(12),
            parent: Some(Task::process(5)),
        }
    );
}

#[test]
fn an_acknowledgement_carries_the_request_ack_plus_one_and_an_errno() {
    assert_eq!(
        parsed(&message(9, 78, &event(EV_NONE, 1, 5, &[0]))),
        [Message::Ack {
            cpu: 1,
            seq: 9,
            ack: 78,
            err: 0
        }]
    );
    assert!(matches!(
        parsed(&message(9, 78, &event(EV_NONE, 1, 5, &[1])))[..],
        [Message::Ack { err: 1, .. }]
    ));
}

#[test]
fn uid_gid_and_unknown_kinds_still_count_in_the_sequence() {
    for what in [EV_UID, EV_GID, 0x0100_0000] {
        assert_eq!(
            parsed(&message(5, 0, &event(what, 2, 1, &[1, 1, 0, 0]))),
            [Message::Other { cpu: 2, seq: 5 }]
        );
    }
}

#[test]
fn several_messages_in_one_datagram_are_all_read() {
    let mut bytes = message(1, 0, &event(EV_EXEC, 0, 1, &[7, 7]));
    bytes.extend(message(2, 0, &event(EV_SID, 0, 2, &[7, 7])));
    bytes.extend(netlink(NLMSG_NOOP, &[]));
    bytes.extend(netlink(NLMSG_OVERRUN, &[]));
    let m = parsed(&bytes);
    assert_eq!(m.len(), 3, "{m:?}");
    assert_eq!(m[2], Message::Overrun);
}

#[test]
fn a_netlink_error_gives_its_errno() {
    let m = parsed(&netlink(NLMSG_ERROR, &(-1i32).to_ne_bytes()));
    assert_eq!(m, [Message::NetlinkError(1)]);
}

#[test]
fn another_connector_channel_is_skipped() {
    let mut bytes = message(0, 0, &event(EV_EXEC, 0, 1, &[7, 7]));
    bytes[NLMSG_HDRLEN..NLMSG_HDRLEN + 4].copy_from_slice(&9u32.to_ne_bytes());
    assert_eq!(parsed(&bytes), []);
}

#[test]
fn every_truncation_of_every_kind_is_malformed_or_skipped_never_a_panic() {
    let kinds = [
        EV_NONE,
        EV_FORK,
        EV_EXEC,
        EV_SID,
        EV_PTRACE,
        EV_COMM,
        EV_COREDUMP,
        EV_EXIT,
        EV_UID,
    ];
    for what in kinds {
        let whole = message(3, 4, &event(what, 1, 2, &[1, 2, 3, 4, 5, 6]));
        for cut in 0..whole.len() {
            let m = parsed(&whole[..cut]);
            assert!(
                m.iter().all(|m| matches!(m, Message::Malformed(_))),
                "kind {what:#x} cut at {cut}: {m:?}"
            );
        }
        // A cn_msg that claims fewer data bytes than the kind needs.
        let mut short = event(what, 1, 2, &[1, 2]);
        short.truncate(EVENT_HEAD + 4);
        let m = parsed(&message(3, 4, &short));
        assert_eq!(m.len(), 1, "{m:?}");
        if ![EV_NONE, EV_UID].contains(&what) {
            assert!(matches!(m[0], Message::Malformed(_)), "{what:#x}: {m:?}");
        }
    }
}

#[test]
fn garbage_lengths_never_panic() {
    for len in [0u32, 1, 15, 16, 17, 1000, u32::MAX] {
        let mut b = len.to_ne_bytes().to_vec();
        b.extend([0xffu8; 40]);
        let m = parsed(&b);
        assert!(m.len() <= 2, "{len}: {m:?}");
    }
    // A cn_msg claiming 65535 data bytes.
    let mut cn = vec![0u8; CN_MSG_LEN];
    cn[0..4].copy_from_slice(&CN_IDX_PROC.to_ne_bytes());
    cn[4..8].copy_from_slice(&CN_VAL_PROC.to_ne_bytes());
    cn[16..18].copy_from_slice(&u16::MAX.to_ne_bytes());
    assert!(matches!(
        parsed(&netlink(NLMSG_DONE, &cn))[..],
        [Message::Malformed(_)]
    ));
}

#[test]
fn the_request_is_a_bare_operation_the_parser_reads_back() {
    let r = request(MCAST_LISTEN, 77);
    assert_eq!(r.len(), 40);
    assert_eq!(u32_at(&r, 0), Some(40));
    assert_eq!(u16_at(&r, 4), Some(NLMSG_DONE));
    assert_eq!(u32_at(&r, NLMSG_HDRLEN), Some(CN_IDX_PROC));
    assert_eq!(u32_at(&r, NLMSG_HDRLEN + 12), Some(77));
    assert_eq!(u16_at(&r, NLMSG_HDRLEN + 16), Some(4));
    assert_eq!(u32_at(&r, NLMSG_HDRLEN + CN_MSG_LEN), Some(MCAST_LISTEN));
    assert_eq!(request(MCAST_IGNORE, 0)[36..], MCAST_IGNORE.to_ne_bytes());
}

#[test]
fn a_gap_in_one_cpus_sequence_counts_the_messages_skipped() {
    let mut s = Sequences::default();
    assert_eq!(s.note(0, 10), 0, "the first number is the baseline");
    assert_eq!(s.note(1, 500), 0);
    assert_eq!(s.note(0, 11), 0);
    assert_eq!(s.note(1, 501), 0);
    assert_eq!(s.note(0, 15), 3, "12, 13 and 14 were skipped");
    assert_eq!(s.note(1, 502), 0, "each CPU counts on its own");
    // Out of order or repeated: nothing skipped, the baseline stays.
    assert_eq!(s.note(0, 14), 0);
    assert_eq!(s.note(0, 15), 0);
    assert_eq!(s.note(0, 16), 0);
    // The counter wraps.
    assert_eq!(s.note(2, u32::MAX), 0);
    assert_eq!(s.note(2, 0), 0);
    assert_eq!(s.note(2, 2), 1);
    // A CPU number beyond reason is not followed.
    assert_eq!(s.note(u32::MAX, 1), 0);
    assert_eq!(s.note(u32::MAX, 9), 0);
}
