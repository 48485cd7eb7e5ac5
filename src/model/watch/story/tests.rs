//! Stories told and attached to groups.

use super::*;
use crate::model::orphans::{Origin, Orphan};
use crate::model::watch::record::{Died, Left};
use crate::sample::events::Ended;
use crate::sample::{Comm, Command, ProcSample};

fn left(pid: u32, start: u64, adopted: bool) -> Left {
    Left {
        pid,
        start,
        ppid_was: if adopted { 100 } else { pid - 1 },
        ppid: 1,
        adopted,
        pgid: 100,
        sid: 50,
        uid: Some(1000),
        cgroup: None,
        comm: "python3".into(),
        cmd: Some("python3 -c from multiprocessing.forkserver import main".into()),
        rss_kb: 20_000,
        pss_kb: Some(10_000),
    }
}

fn orphaning(how: Option<Ended>, time_ms: u64) -> Orphaning {
    Orphaning {
        time_ms,
        exact: true,
        since_ms: None,
        source: "connector".into(),
        died: Died {
            pid: 100,
            start: Some(10),
            comm: "python3".into(),
            cmd: Some("cce serve --project-dir /src".into()),
            exe: Some("/usr/bin/python3".into()),
            uid: Some(1000),
            how: how.map(How::from_ended),
        },
        left: vec![left(101, 11, true), left(102, 12, false)],
        more: 3,
        rss_kb: 40_000,
        pss_kb: Some(5 << 20),
    }
}

fn group(id: &str, pids: &[(u32, u64)], evidence: Vec<Evidence>, rss_kb: u64) -> OrphanGroup {
    OrphanGroup {
        id: id.into(),
        origin: Origin::Group(pids[0].0),
        evidence,
        rss_kb,
        processes: pids
            .iter()
            .map(|&(pid, start)| Orphan {
                sample: ProcSample {
                    pid,
                    ppid: 1,
                    state: b'S',
                    rss_kb: 1,
                    pgrp: pid,
                    session: pid,
                    start,
                    cpu_ms: 0,
                    comm: Comm::new(b"x"),
                },
                command: Command::default(),
                uid: None,
                adopted: true,
            })
            .collect(),
    }
}

fn weak(text: &str) -> Evidence {
    Evidence {
        strength: Strength::Weak,
        kind: "group_leader_gone",
        text: text.into(),
    }
}

const HOUR: u64 = 3_600_000;

#[test]
fn a_killed_job_is_a_strong_story_told_in_a_sentence() {
    let killed = Ended::Signaled {
        signal: 9,
        core: false,
    };
    let s = Story::of(&orphaning(Some(killed), 1000));
    assert_eq!(s.strength(), Strength::Strong);
    assert_eq!(
        s.text(1000 + 2 * HOUR + 13 * 60_000),
        "orphaned 2h13m ago when `cce serve --project-dir /src` (pid 100) was killed by SIGKILL; left 5 processes behind, PSS 5 GiB then"
    );
    assert_eq!(
        Story::of(&orphaning(Some(Ended::Code(1)), 0)).strength(),
        Strength::Strong
    );
}

#[test]
fn a_normal_exit_a_hangup_or_an_unknown_end_is_weak_and_says_why() {
    for (how, says) in [
        (Some(Ended::Code(0)), "double fork"),
        (
            Some(Ended::Signaled {
                signal: 1,
                core: false,
            }),
            "nohup",
        ),
        (None, "how, unknown: seen by connector"),
    ] {
        let s = Story::of(&orphaning(how, 0));
        assert_eq!(s.strength(), Strength::Weak, "{how:?}");
        assert!(s.text(60_000).contains(says), "{}", s.text(60_000));
    }
    let mut o = orphaning(None, 5_000);
    o.exact = false;
    o.since_ms = Some(1_000);
    assert!(
        Story::of(&o)
            .text(65_000)
            .starts_with("orphaned between 1m04s and 1m00s ago"),
        "{}",
        Story::of(&o).text(65_000)
    );
}

#[test]
fn the_story_becomes_the_groups_first_evidence_and_the_group_comes_first() {
    let mut stories = Stories::new();
    let killed = Some(Ended::Signaled {
        signal: 9,
        core: false,
    });
    stories.add(&orphaning(killed, 1000), &mut |_| true);
    assert_eq!(stories.len(), 2);
    let mut c = Classified {
        groups: vec![
            group(
                "pg-900",
                &[(900, 90)],
                vec![weak("big, no story")],
                9_000_000,
            ),
            group(
                "pg-100",
                &[(101, 11), (102, 12)],
                vec![weak("its group's leader is gone, but…")],
                10,
            ),
            // The same pid, another start: not the process the story is about.
            group("pg-101", &[(101, 99)], vec![weak("x")], 5),
        ],
        ..Classified::default()
    };
    attach(&mut c, &stories, 2000);
    let ids: Vec<&str> = c.groups.iter().map(|g| g.id.as_str()).collect();
    assert_eq!(ids, ["pg-100", "pg-900", "pg-101"]);
    let g = &c.groups[0];
    assert!(g.strong());
    assert_eq!(g.evidence[0].kind, WATCHED);
    assert!(g.evidence[0].text.contains("was killed by SIGKILL"));
    assert!(c.groups[1..].iter().all(|g| !g.strong()));
}

#[test]
fn a_weak_story_ranks_nothing_and_comes_after_strong_evidence() {
    let mut stories = Stories::new();
    stories.add(&orphaning(Some(Ended::Code(0)), 1000), &mut |_| true);
    let strong = Evidence {
        strength: Strength::Strong,
        kind: "session_leader_gone",
        text: "its session's leader is gone".into(),
    };
    let mut c = Classified {
        groups: vec![
            group("pg-900", &[(900, 90)], vec![weak("x")], 9_000_000),
            group("pg-100", &[(101, 11)], vec![strong, weak("w")], 10),
        ],
        ..Classified::default()
    };
    attach(&mut c, &stories, 2000);
    assert_eq!(c.groups[0].id, "pg-900");
    let kinds: Vec<&str> = c.groups[1].evidence.iter().map(|e| e.kind).collect();
    assert_eq!(kinds, ["session_leader_gone", WATCHED, "group_leader_gone"]);
}

#[test]
fn a_reader_keeps_only_the_stories_of_the_living() {
    let mut stories = Stories::new();
    stories.add(&orphaning(None, 1), &mut |id| id.pid == 102);
    assert_eq!(
        stories.ids().collect::<Vec<_>>(),
        vec![Identity {
            pid: 102,
            start: 12
        }]
    );
    // A strong story is not replaced by a later weak one.
    let mut stories = Stories::new();
    let killed = Some(Ended::Signaled {
        signal: 15,
        core: false,
    });
    stories.add(&orphaning(killed, 1), &mut |_| true);
    stories.add(&orphaning(Some(Ended::Code(0)), 2), &mut |_| true);
    let id = Identity {
        pid: 101,
        start: 11,
    };
    assert_eq!(stories.get(id).unwrap().strength(), Strength::Strong);
    stories.forget(id);
    assert!(stories.get(id).is_none());
}
