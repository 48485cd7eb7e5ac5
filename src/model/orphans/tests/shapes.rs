//! Shapes the classifier was blind to or buried: a helper left by a job that lives
//! on, and workers by design whose parent is gone.

use super::*;

/// A `World` whose command lines are given by pid.
struct Named(World, IdMap<u32, &'static str>);

impl Lookup for Named {
    fn command(&mut self, id: Identity) -> Option<Command> {
        let cmd = self.1.get(&id.pid).copied().unwrap_or("sleep 3600");
        Some(Command {
            name: cmd.split(' ').next().unwrap_or("").into(),
            cmd: cmd.into(),
        })
    }
    fn facts(&mut self, id: Identity) -> Option<ProcFacts> {
        self.0.facts(id)
    }
    fn service_main_pid(&mut self, unit: &str) -> Option<u32> {
        self.0.service_main_pid(unit)
    }
}

#[test]
fn a_helper_whose_job_lives_on_is_weak_in_the_jobs_group() {
    // Service 300 (its own group and session) ran `sh -c "helper & exit 0"` twice: the
    // helpers 311 and 321 are under init, in the service's group.
    let scan = vec![
        init(),
        p(300, 1, 300, 300, "service"),
        p(311, 1, 300, 300, "helper"),
        p(321, 1, 300, 300, "helper"),
        p(322, 321, 300, 300, "helper-child"),
    ];
    let got = classify(&scan, &ctx(), &mut World::default());
    assert_eq!(ids(&got), ["pg-300"]);
    let g = &got.groups[0];
    assert!(!g.strong(), "a script's deliberate `cmd &` looks the same");
    assert_eq!(g.evidence[0].kind, "job_lives_on");
    assert!(
        g.evidence[0].text.contains("300 (service)"),
        "{:?}",
        g.evidence
    );
    let mut got_pids = pids(g);
    got_pids.sort();
    assert_eq!(got_pids, [311, 321, 322], "never the service itself");
}

#[test]
fn a_job_that_lives_on_is_no_evidence_where_it_is_not_the_case() {
    for (scan, why) in [
        // The adopter leads the group (a subreaper's own job).
        (vec![init(), p(311, 1, 1, 1, "x")], "init leads it"),
        // It leads its own group.
        (
            vec![init(), p(311, 1, 311, 300, "x"), p(300, 1, 300, 300, "s")],
            "own group",
        ),
        // The leader is a zombie.
        (
            {
                let mut z = p(300, 1, 300, 300, "s");
                z.state = b'Z';
                vec![init(), z, p(311, 1, 300, 300, "x")]
            },
            "zombie leader: its gone-leader evidence instead",
        ),
    ] {
        let got = classify(&scan, &ctx(), &mut World::default());
        assert!(
            got.groups
                .iter()
                .all(|g| g.evidence.iter().all(|e| e.kind != "job_lives_on")),
            "{why}: {got:?}"
        );
    }
    // A daemon by design in a container's session 0 whose group's leader lives: its
    // job may have meant it. Listed only with --all.
    let scan = vec![init(), p(300, 1, 300, 0, "s"), p(311, 1, 300, 0, "d")];
    let mut world = World::default();
    world.facts.insert(311, daemon_facts());
    assert!(classify(&scan, &ctx(), &mut world).groups.is_empty());
    let all = Context { all: true, ..ctx() };
    assert_eq!(ids(&classify(&scan, &all, &mut world)), ["pg-300"]);
}

#[test]
fn workers_by_design_are_listed_labelled_and_ranked_never_strong() {
    // A forkserver pool of a daemon with its streams on /dev/null (daemon-like, no
    // holder), and a bigger ordinary background job of a live shell.
    let scan = vec![
        init(),
        p(500, 1, 500, 500, "bash"),
        p(601, 1, 600, 600, "python3"),
        p(602, 1, 600, 600, "python3"),
        p(603, 602, 600, 600, "python3"),
        {
            let mut big = p(701, 1, 700, 500, "sleep");
            big.rss_kb = 10_000_000;
            big
        },
    ];
    let mut world = World::default();
    world.facts.insert(601, daemon_facts());
    world.facts.insert(602, daemon_facts());
    let commands: IdMap<u32, &str> = [
        (
            601,
            "python3 -c from multiprocessing.resource_tracker import main;main(5)",
        ),
        (
            602,
            "python3 -c from multiprocessing.forkserver import main; main(8, 9)",
        ),
        (
            603,
            "python3 -c from multiprocessing.forkserver import main; main(8, 9)",
        ),
    ]
    .into_iter()
    .collect();
    let mut named = Named(world, commands);
    let got = classify(&scan, &ctx(), &mut named);
    assert_eq!(
        ids(&got),
        ["pg-600", "pg-700"],
        "the workers first: {got:?}"
    );
    let pool = &got.groups[0];
    assert!(pool.workers());
    assert!(
        !pool.strong(),
        "a command line can be forged: {:?}",
        pool.evidence
    );
    assert!(
        pool.evidence
            .iter()
            .any(|e| e.kind == "worker_by_design" && e.text.contains("resource tracker")),
        "{:?}",
        pool.evidence
    );
    // The same daemon without the workers' command lines is a daemon by design.
    let mut plain = Named(World::default(), IdMap::default());
    plain.0.facts.insert(601, daemon_facts());
    plain.0.facts.insert(602, daemon_facts());
    assert_eq!(ids(&classify(&scan, &ctx(), &mut plain)), ["pg-700"]);
}

#[test]
fn worker_shapes() {
    let is = |cmd: &str| {
        worker_evidence(&Command {
            name: String::new(),
            cmd: cmd.into(),
        })
        .is_some()
    };
    for yes in [
        "python3 -c from multiprocessing.spawn import spawn_main; spawn_main(tracker_fd=5, pipe_handle=7) --multiprocessing-fork",
        "/usr/bin/python3 -m joblib.externals.loky.backend.popen_loky_posix --process-name LokyProcess-1 --pipe 12",
        "/venv/bin/python /venv/bin/celery -A proj worker -l info",
        "gunicorn: worker [app:wsgi]",
        "python -m ipykernel_launcher -f /run/user/1000/jupyter/runtime/kernel-3f.json",
    ] {
        assert!(is(yes), "{yes}");
    }
    for no in [
        "sleep 3600",
        "node server.js",
        "celery beat",
        "gunicorn: master [app]",
    ] {
        assert!(!is(no), "{no}");
    }
}

/// tini (PID 1 or a subreaper, a system file of that name) with its own child, a
/// supervisor 10 (its own group, as tini starts it) and the supervisor's tree, and two
/// components 20 and 30 a killed launcher left, which tini adopted: in a group of
/// their own, in the supervisor's session.
fn under_tini(tini: u32) -> (Vec<ProcSample>, World) {
    let mut scan = vec![
        p(tini, 0, tini, tini, "tini"),
        p(tini + 10, tini, tini + 10, tini, "supervisor"),
        p(tini + 11, tini + 10, tini + 10, tini, "launcher"),
        p(tini + 12, tini + 11, tini + 10, tini, "component"),
        p(tini + 20, tini, tini + 20, tini, "component"),
        p(tini + 30, tini, tini + 30, tini, "component"),
    ];
    if tini != 1 {
        scan[0].ppid = 1;
        scan.insert(0, init());
    }
    let mut world = World::default();
    world.exes.insert(tini, system_exe("/sbin/tini"));
    (scan, world)
}

#[test]
fn a_one_child_inits_own_child_is_never_grouped_with_what_it_adopted() {
    for tini in [1, 100] {
        let (scan, mut world) = under_tini(tini);
        let all = Context { all: true, ..ctx() };
        let got = classify(&scan, &all, &mut world);
        // The components, each group of them only them; tini's own tree at most in
        // tini's own group (tini under init is itself adopted, listed with --all).
        let mut adopted = Vec::new();
        for g in &got.groups {
            let members = pids(g);
            if members.contains(&tini) {
                assert!(
                    !members.contains(&(tini + 20)) && !members.contains(&(tini + 30)),
                    "{:?}",
                    got.groups
                );
                continue;
            }
            for own in [10, 11, 12] {
                assert!(
                    !members.contains(&(tini + own)),
                    "tini {tini}'s own tree is no orphan: {:?}",
                    got.groups
                );
            }
            adopted.extend(members);
        }
        adopted.sort();
        assert_eq!(adopted, [tini + 20, tini + 30], "tini {tini}");
        // Without --all neither is listed, and a kill can name no group holding it.
        let got = classify(&scan, &ctx(), &mut world);
        assert!(
            got.groups.iter().flat_map(pids).all(|pid| pid != tini + 10),
            "{:?}",
            got.groups
        );
    }
}

#[test]
fn only_a_one_child_init_known_by_its_executable_has_an_own_child() {
    // A python3 calling itself tini, and systemd (many children of its own), as PID 1:
    // their oldest child is judged as any other.
    for (comm, exe) in [("tini", "/usr/bin/python3"), ("init", "/sbin/init")] {
        let (mut scan, mut world) = under_tini(1);
        scan[0].comm = Comm::new(comm.as_bytes());
        world.exes.insert(1, system_exe(exe));
        let all = Context { all: true, ..ctx() };
        let got = classify(&scan, &all, &mut world);
        assert!(
            got.groups.iter().flat_map(pids).any(|pid| pid == 11),
            "{comm} at {exe}: {:?}",
            got.groups
        );
    }
}
