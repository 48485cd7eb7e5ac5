//! The classifier on synthetic scans: every rule, and what must never be listed.

use super::*;
use crate::model::run_record::RunRecord;
use crate::sample::Comm;

mod forged;
mod shapes;

const SEC: u64 = 100;
const NOW: u64 = 100_000;

fn p(pid: u32, ppid: u32, pgrp: u32, session: u32, comm: &str) -> ProcSample {
    ProcSample {
        rss_kb: 1000 * u64::from(pid % 7 + 1),
        pgrp,
        session,
        comm: Comm::new(comm.as_bytes()),
        ..crate::testkit::sample(pid, ppid)
    }
}

fn init() -> ProcSample {
    p(1, 0, 1, 1, "init")
}

/// Facts by pid; a process not in the map has a terminal-less pipe setup by default.
#[derive(Default)]
struct World {
    facts: IdMap<u32, ProcFacts>,
    units: IdMap<String, u32>,
    gone: IdSet<u32>,
    /// Every pid whose whole facts were asked for, in order.
    facts_asked: Vec<u32>,
    /// Executables by pid; none known for the others (unreadable).
    exes: IdMap<u32, ExeFile>,
    /// The run records kept, by the uid they are kept for.
    records: Vec<(u32, RunRecord)>,
}

impl Lookup for World {
    fn command(&mut self, id: Identity) -> Option<Command> {
        Some(Command {
            name: format!("p{}", id.pid),
            cmd: format!("p{} --token", id.pid),
        })
    }
    fn facts(&mut self, id: Identity) -> Option<ProcFacts> {
        self.facts_asked.push(id.pid);
        self.known(id)
    }
    fn uid(&mut self, id: Identity) -> Option<u32> {
        self.known(id)?.uid
    }
    fn service_main_pid(&mut self, unit: &str) -> Option<u32> {
        self.units.get(unit).copied()
    }
    fn exe_file(&mut self, id: Identity) -> Option<ExeFile> {
        self.exes.get(&id.pid).cloned()
    }
    fn run_record(&mut self, uid: u32, pid: u32, start: u64) -> Option<RunRecord> {
        self.records
            .iter()
            .find(|(u, r)| *u == uid && r.pid == pid && r.start == start)
            .map(|(_, r)| r.clone())
    }
}

/// A root-owned system executable at `path`.
fn system_exe(path: &str) -> ExeFile {
    ExeFile {
        path: path.into(),
        owner: 0,
        mode: 0o755,
    }
}

/// The record of a run `pid.start` by uid 1000 that ended at `end`.
fn record(pid: u32, start: u64, end: u64) -> RunRecord {
    RunRecord {
        pid,
        start,
        boot: "b00t".into(),
        exe: None,
        uid: 1000,
        end,
        ended: true,
    }
}

impl World {
    fn known(&self, id: Identity) -> Option<ProcFacts> {
        if self.gone.contains(&id.pid) {
            return None;
        }
        Some(self.facts.get(&id.pid).cloned().unwrap_or_else(piped))
    }
}

/// A worker on pipes, no terminal, no marker, no unit.
fn piped() -> ProcFacts {
    crate::testkit::facts()
}

fn daemon_facts() -> ProcFacts {
    ProcFacts {
        stdio: Some([StdioKind::Null, StdioKind::File, StdioKind::File]),
        ..piped()
    }
}

fn ctx() -> Context {
    Context {
        now_start: NOW,
        per_sec: SEC,
        older_than: 2 * SEC,
        ..Context::default()
    }
}

fn ids(c: &Classified) -> Vec<&str> {
    c.groups.iter().map(|g| g.id.as_str()).collect()
}

fn pids(g: &OrphanGroup) -> Vec<u32> {
    g.processes.iter().map(|o| o.sample.pid).collect()
}

/// A shell (500, session 500) whose job 600 (its own group) was killed: tracker 601
/// and forkserver 602 under init, workers 603-605 under the forkserver.
fn pool(job: u32, shell: u32) -> Vec<ProcSample> {
    vec![
        p(job + 1, 1, job, shell, "python3"),
        p(job + 2, 1, job, shell, "python3"),
        p(job + 3, job + 2, job, shell, "python3"),
        p(job + 4, job + 2, job, shell, "python3"),
        p(job + 5, job + 2, job, shell, "python3"),
    ]
}

#[test]
fn a_pool_whose_job_died_is_one_group_with_the_gone_leader() {
    let mut scan = vec![init(), p(400, 1, 400, 400, "sshd")];
    // The session's leader is gone too (the terminal closed).
    scan.extend(pool(600, 500));
    let got = classify(&scan, &ctx(), &mut World::default());
    assert_eq!(ids(&got), ["pg-600"]);
    let g = &got.groups[0];
    assert_eq!(pids(g), [601, 602, 603, 604, 605]);
    assert!(g.strong(), "{:?}", g.evidence);
    assert_eq!(g.evidence[0].kind, "group_leader_gone");
    assert!(g.evidence[0].text.contains("process group 600"));
    assert!(g.evidence.iter().any(|e| e.kind == "session_leader_gone"));
    assert_eq!(
        g.processes.iter().filter(|o| o.adopted).count(),
        2,
        "tracker and forkserver were adopted, the workers hang below"
    );
    assert_eq!(g.rss_kb, scan[2..].iter().map(|s| s.rss_kb).sum::<u64>());
}

#[test]
fn session_0_is_held_by_what_shares_it() {
    // CI in a VM, or a container whose init never called setsid: the session's
    // leader is outside the PID namespace, and the job runner shares session 0 with
    // the pool. A gone group leader there is a `nohup cmd &` from a live session.
    let mut scan = vec![p(1, 0, 0, 0, "process_api"), p(300, 1, 300, 0, "runner")];
    scan.extend(pool(600, 0));
    let got = classify(&scan, &ctx(), &mut World::default());
    assert_eq!(ids(&got), ["pg-600"]);
    let g = &got.groups[0];
    assert!(!g.strong(), "{:?}", g.evidence);
    assert!(
        g.evidence[0]
            .text
            .contains("session 0 is still held by live 1"),
        "{:?}",
        g.evidence
    );
    // Nothing but the pool in session 0: the job and its session are gone.
    let mut scan = vec![init()];
    scan.extend(pool(600, 0));
    let got = classify(&scan, &ctx(), &mut World::default());
    assert!(got.groups[0].strong(), "{:?}", got.groups[0].evidence);
}

#[test]
fn two_jobs_of_one_live_shell_are_two_weak_groups() {
    let mut scan = vec![
        init(),
        p(500, 400, 500, 500, "bash"),
        p(400, 1, 400, 400, "sshd"),
    ];
    scan.extend(pool(600, 500));
    scan.extend(pool(700, 500));
    // A healthy child of the live shell, in a group whose leader is gone: not adopted.
    scan.push(p(801, 500, 800, 500, "cat"));
    let got = classify(&scan, &ctx(), &mut World::default());
    let mut got_ids = ids(&got);
    got_ids.sort();
    assert_eq!(got_ids, ["pg-600", "pg-700"]);
    for g in &got.groups {
        assert!(
            !g.strong(),
            "the shell still holds the session: {:?}",
            g.evidence
        );
        assert!(g.evidence[0].text.contains("nohup"), "{:?}", g.evidence);
        assert!(g.evidence[0].text.contains("live 500 (bash)"));
        assert_eq!(g.processes.len(), 5);
    }
}

#[test]
fn a_daemon_by_design_is_not_listed_unless_all() {
    // Double fork: the setsid child (900) exited, the daemon (901) leads nothing.
    let scan = vec![
        init(),
        p(901, 1, 900, 900, "mydaemon"),
        p(902, 901, 900, 900, "worker"),
    ];
    let mut world = World::default();
    world.facts.insert(901, daemon_facts());
    assert_eq!(
        ids(&classify(&scan, &ctx(), &mut world)),
        Vec::<&str>::new()
    );
    let all = Context { all: true, ..ctx() };
    let got = classify(&scan, &all, &mut world);
    assert_eq!(ids(&got), ["pg-900"]);
    assert!(!got.groups[0].strong());
    assert!(got.groups[0].evidence[0].text.contains("daemon by design"));
}

#[test]
fn a_daemon_with_a_terminal_or_pipes_is_not_one_by_design() {
    let scan = vec![init(), p(901, 1, 900, 900, "server")];
    let mut world = World::default();
    world.facts.insert(
        901,
        ProcFacts {
            stdio: Some([StdioKind::Null, StdioKind::Pipe, StdioKind::Pipe]),
            ..piped()
        },
    );
    assert_eq!(ids(&classify(&scan, &ctx(), &mut world)), ["pg-900"]);
    assert!(classify(&scan, &ctx(), &mut world).groups[0].strong());
}

#[test]
fn unreadable_streams_are_not_taken_for_an_orphan() {
    let scan = vec![init(), p(901, 1, 900, 900, "root-daemon")];
    let mut world = World::default();
    world.facts.insert(
        901,
        ProcFacts {
            stdio: None,
            denied: true,
            ..piped()
        },
    );
    let got = classify(&scan, &ctx(), &mut world);
    assert_eq!(ids(&got), Vec::<&str>::new());
    assert_eq!(got.denied, 1, "counted, not an error");
}

#[test]
fn a_process_leading_its_own_session_has_no_evidence() {
    // A service started by init directly, and a `detached` node child.
    let scan = vec![
        init(),
        p(300, 1, 300, 300, "sshd"),
        p(301, 1, 301, 0, "agent"),
    ];
    assert!(
        classify(&scan, &ctx(), &mut World::default())
            .groups
            .is_empty()
    );
    let all = Context { all: true, ..ctx() };
    let got = classify(&scan, &all, &mut World::default());
    assert_eq!(ids(&got).len(), 2);
    assert!(
        got.groups
            .iter()
            .all(|g| g.evidence[0].kind == "no_evidence")
    );
}

#[test]
fn live_parents_zombies_exiting_young_and_kernel_threads_are_never_listed() {
    let mut zombie = p(611, 1, 610, 610, "python3");
    zombie.state = b'Z';
    let mut exiting_by_state = p(612, 1, 610, 610, "python3");
    exiting_by_state.state = b'X';
    let mut young = p(613, 1, 610, 610, "python3");
    young.start = NOW - SEC;
    let scan = vec![
        init(),
        p(2, 0, 0, 0, "kthreadd"),
        p(3, 2, 0, 0, "kworker/0:1"),
        p(500, 1, 500, 500, "server"),
        p(501, 500, 400, 400, "child"),
        zombie,
        exiting_by_state,
        young,
        p(614, 1, 610, 610, "python3"),
    ];
    let mut world = World::default();
    world.facts.insert(
        614,
        ProcFacts {
            exiting: true,
            ..piped()
        },
    );
    let got = classify(&scan, &ctx(), &mut world);
    assert_eq!(ids(&got), Vec::<&str>::new(), "{got:?}");
    // The young one is listed once the grace is shorter.
    let short = Context {
        older_than: 0,
        ..ctx()
    };
    let got = classify(&scan, &short, &mut world);
    assert_eq!(ids(&got), ["pg-610"]);
    assert_eq!(pids(&got.groups[0]), [613]);
}

#[test]
fn leaktop_and_its_ancestors_are_protected() {
    let scan = vec![init(), p(700, 1, 600, 600, "leaktop")];
    let c = Context {
        protected: [700].into_iter().collect(),
        ..ctx()
    };
    assert!(classify(&scan, &c, &mut World::default()).groups.is_empty());
}

#[test]
fn a_detached_child_whose_output_no_one_reads_is_listed_weak() {
    // A Node `detached: true` child (its own session) that kept its killed parent's
    // stdio: a socketpair or pipes whose other end no process holds any more.
    let scan = vec![init(), p(301, 1, 301, 301, "node")];
    let unread = |out, err| ProcFacts {
        stdio: Some([StdioKind::Null, out, err]),
        ..piped()
    };
    let listed = |facts: ProcFacts| {
        let mut world = World::default();
        world.facts.insert(301, facts);
        classify(&scan, &ctx(), &mut world)
    };
    for (out, err) in [
        (StdioKind::Unread, StdioKind::Unread),
        (StdioKind::Unread, StdioKind::Null),
        (StdioKind::File, StdioKind::Unread),
    ] {
        let got = listed(unread(out, err));
        assert_eq!(ids(&got), ["sid-301"], "{out:?} {err:?}");
        let g = &got.groups[0];
        assert!(!g.strong(), "weak: never killed unless named");
        assert_eq!(g.evidence[0].kind, "streams_unread");
    }
    // A reader alive on either stream, or a terminal: its job may live on.
    for (out, err) in [
        (StdioKind::Unread, StdioKind::Pipe),
        (StdioKind::Socket, StdioKind::Unread),
        (StdioKind::Unread, StdioKind::Terminal),
        (StdioKind::Null, StdioKind::Null),
    ] {
        assert!(
            listed(unread(out, err)).groups.is_empty(),
            "{out:?} {err:?}"
        );
    }
}

#[test]
fn the_run_marker_of_a_gone_run_groups_its_survivors() {
    // leaktop run 900 (start 900) was SIGKILLed; two survivors in two groups.
    let scan = vec![
        init(),
        p(500, 1, 500, 500, "bash"),
        p(951, 1, 950, 500, "node"),
        p(961, 1, 961, 961, "detached"),
        // In no session (sid 0, as under a container's runtime) and piped: its gone
        // group leader is strong evidence too, but the marker names the origin.
        p(971, 1, 900, 0, "sleep"),
    ];
    let mut world = World::default();
    world.records.push((1000, record(900, 900, 980)));
    let marked = ProcFacts {
        run_marker: Some("900.900".into()),
        ..daemon_facts()
    };
    world.facts.insert(951, marked.clone());
    world.facts.insert(961, marked);
    world.facts.insert(
        971,
        ProcFacts {
            run_marker: Some("900.900".into()),
            ..piped()
        },
    );
    let got = classify(&scan, &ctx(), &mut world);
    assert_eq!(ids(&got), ["run-900.900"]);
    let g = &got.groups[0];
    assert!(g.strong());
    let kinds: Vec<_> = g.evidence.iter().map(|e| e.kind).collect();
    assert_eq!(kinds[0], "run_marker", "{kinds:?}");
    assert!(kinds.contains(&"group_leader_gone"), "{kinds:?}");
    let mut got_pids = pids(g);
    got_pids.sort();
    assert_eq!(
        got_pids,
        [951, 961, 971],
        "the detached daemon-like child too"
    );

    // While that run lives, its marker is no evidence.
    let mut alive = scan.clone();
    alive.push(p(900, 500, 900, 500, "leaktop"));
    let got = classify(&alive, &ctx(), &mut world);
    assert!(
        got.groups.iter().all(|g| !g.id.starts_with("run-")),
        "{got:?}"
    );
}

#[test]
fn a_service_whose_main_process_is_gone_or_restarted() {
    let scan = vec![
        init(),
        p(1200, 1, 1200, 1200, "api"),
        p(1101, 1, 1101, 1101, "worker"),
        p(1301, 1, 1301, 1301, "helper"),
    ];
    let mut world = World::default();
    let in_unit = |u: &str| ProcFacts {
        cgroup: Some(format!("/system.slice/{u}")),
        ..daemon_facts()
    };
    world.facts.insert(1200, in_unit("api.service"));
    world.facts.insert(1101, in_unit("api.service"));
    world.facts.insert(1301, in_unit("gone.service"));
    world.units.insert("api.service".into(), 1200);
    world.units.insert("gone.service".into(), 0);
    let got = classify(&scan, &ctx(), &mut world);
    let mut got_ids = ids(&got);
    got_ids.sort();
    assert_eq!(got_ids, ["unit-api.service", "unit-gone.service"]);
    let api = got
        .groups
        .iter()
        .find(|g| g.id == "unit-api.service")
        .unwrap();
    assert_eq!(pids(api), [1101], "the main process itself is never listed");
    assert_eq!(api.evidence[0].kind, "unit_restarted");
    let gone = got
        .groups
        .iter()
        .find(|g| g.id == "unit-gone.service")
        .unwrap();
    assert_eq!(gone.evidence[0].kind, "unit_main_gone");

    // Without systemd as PID 1 the cgroup says nothing.
    world.units.clear();
    assert!(classify(&scan, &ctx(), &mut world).groups.is_empty());
}

#[test]
fn a_process_of_a_live_service_is_not_listed() {
    let scan = vec![
        init(),
        p(1200, 1, 1200, 1200, "api"),
        p(1301, 1, 1300, 1200, "worker"),
    ];
    let mut world = World::default();
    let facts = ProcFacts {
        cgroup: Some("/system.slice/api.service".into()),
        ..piped()
    };
    world.facts.insert(1200, facts.clone());
    world.facts.insert(1301, facts);
    world.units.insert("api.service".into(), 1200);
    let got = classify(&scan, &ctx(), &mut world);
    assert!(got.groups.is_empty(), "{got:?}");
}

#[test]
fn known_subreapers_and_seen_adopters_adopt() {
    let scan = vec![
        init(),
        p(50, 1, 50, 50, "systemd"),
        p(51, 50, 40, 40, "orphan"),
        p(60, 1, 60, 60, "myreaper"),
        p(61, 60, 45, 45, "orphan2"),
        p(70, 1, 70, 70, "bash"),
        p(71, 70, 46, 46, "child"),
    ];
    let mut world = World::default();
    world
        .exes
        .insert(50, system_exe("/usr/lib/systemd/systemd"));
    world.facts.insert(
        50,
        ProcFacts {
            cgroup: Some("/user.slice/user-1000.slice/user@1000.service/init.scope".into()),
            ..piped()
        },
    );
    let got = classify(&scan, &ctx(), &mut world);
    assert_eq!(ids(&got), ["pg-40"]);
    let c = Context {
        seen_adopting: [60].into_iter().collect(),
        ..ctx()
    };
    let got = classify(&scan, &c, &mut world);
    let mut got_ids = ids(&got);
    got_ids.sort();
    assert_eq!(got_ids, ["pg-40", "pg-45"], "bash (70) adopts nothing");
}

#[test]
fn adopters_are_seen_when_a_parent_dies_between_scans() {
    let before = vec![
        init(),
        p(60, 1, 60, 60, "reaper"),
        p(61, 60, 61, 60, "job"),
        p(62, 61, 61, 60, "w"),
    ];
    let now = vec![init(), p(60, 1, 60, 60, "reaper"), p(62, 60, 61, 60, "w")];
    assert_eq!(adopters_seen(&before, &now), [60]);
    // A pid reused by another process says nothing.
    let mut reused = now.clone();
    reused[2].start += 1;
    assert!(adopters_seen(&before, &reused).is_empty());
}

#[test]
fn vanished_candidates_are_counted_and_groups_sort_by_memory() {
    let mut scan = vec![init()];
    scan.extend(pool(600, 500));
    scan.push(p(701, 1, 700, 700, "big"));
    scan.last_mut().unwrap().rss_kb = 10_000_000;
    scan.push(p(801, 1, 800, 800, "gone"));
    let mut world = World::default();
    world.gone.insert(801);
    let got = classify(&scan, &ctx(), &mut world);
    assert_eq!(ids(&got), ["pg-700", "pg-600"]);
    assert_eq!(got.vanished, 1);
}

#[test]
fn service_paths() {
    assert_eq!(
        service_of("/system.slice/nginx.service"),
        Some("nginx.service")
    );
    assert_eq!(
        service_of("/user.slice/user-1000.slice/user@1000.service/app.slice/x.service"),
        None
    );
    assert_eq!(
        service_of("/user.slice/user-1000.slice/session-2.scope"),
        None
    );
    assert_eq!(service_of("/"), None);
}

#[test]
fn descendants_cost_a_uid_read_not_their_whole_facts() {
    // Job 600 died; its worker 601 was adopted, with a child 602 of another user.
    let scan = vec![
        init(),
        p(500, 1, 500, 500, "bash"),
        p(601, 1, 600, 600, "worker"),
        p(602, 601, 600, 600, "helper"),
    ];
    let mut world = World::default();
    world.facts.insert(
        602,
        ProcFacts {
            uid: Some(33),
            ..piped()
        },
    );
    let got = classify(&scan, &ctx(), &mut world);
    assert_eq!(ids(&got), ["pg-600"]);
    let uids: Vec<_> = got.groups[0]
        .processes
        .iter()
        .map(|o| (o.sample.pid, o.uid))
        .collect();
    assert_eq!(uids, [(601, Some(1000)), (602, Some(33))]);
    assert!(!world.facts_asked.contains(&602), "{:?}", world.facts_asked);
}

#[test]
fn a_process_a_watcher_saw_orphaned_is_listed_whatever_proc_shows() {
    // A daemon's shape (901), and a child of init that leads its own group and
    // session (961): neither is listed from /proc alone.
    let scan = vec![
        init(),
        p(901, 1, 900, 900, "mydaemon"),
        p(961, 1, 961, 961, "python3"),
    ];
    let mut world = World::default();
    world.facts.insert(901, daemon_facts());
    assert!(ids(&classify(&scan, &ctx(), &mut world)).is_empty());
    let watched = Context {
        watched: [901, 961]
            .into_iter()
            .map(|pid| Identity {
                pid,
                start: u64::from(pid),
            })
            .collect(),
        ..ctx()
    };
    let got = classify(&scan, &watched, &mut world);
    let mut got_ids = ids(&got);
    got_ids.sort();
    assert_eq!(got_ids, ["pg-900", "pg-961"]);
    // Nothing from /proc made either strong: the story, attached later, decides.
    assert!(got.groups.iter().all(|g| !g.strong()));
    // Another process at a watched pid is not watched.
    let reused = Context {
        watched: [Identity { pid: 961, start: 7 }].into_iter().collect(),
        ..ctx()
    };
    assert!(ids(&classify(&scan, &reused, &mut world)).is_empty());
}
