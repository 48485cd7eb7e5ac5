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
