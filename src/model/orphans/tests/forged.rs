//! Evidence anyone could forge: a `LEAKTOP_RUN` marker without a record that vouches
//! for it, and a parent that merely names itself after a subreaper.

use super::*;

/// A daemon by design (900 double-forked into 901) carrying `marker`.
fn marked_daemon(marker: &str) -> (Vec<ProcSample>, World) {
    let scan = vec![init(), p(901, 1, 900, 900, "mydaemon")];
    let mut world = World::default();
    world.facts.insert(
        901,
        ProcFacts {
            run_marker: Some(marker.into()),
            ..daemon_facts()
        },
    );
    (scan, world)
}

fn marker_evidence(g: &OrphanGroup) -> &Evidence {
    g.evidence
        .iter()
        .find(|e| e.kind == "run_marker")
        .unwrap_or_else(|| panic!("{:?}", g.evidence))
}

#[test]
fn a_marker_nothing_vouches_for_overrides_nothing() {
    // Each: a marker and a record that does not vouch for it.
    // (A marker naming a live process, as `1.1` may, is no evidence at all: while the
    // run it names lives, nothing is known.)
    type Case<'a> = (&'a str, Option<(u32, RunRecord)>, &'a str);
    let cases: [Case; 5] = [
        ("garbage", None, "not a run's"),
        (
            "5.5",
            None,
            "no record of leaktop run 5.5 kept for uid 1000",
        ),
        (
            "800.800",
            Some((33, record(800, 800, 990))),
            "no record of leaktop run 800.800 kept for uid 1000",
        ),
        (
            "800.800",
            Some((1000, record(800, 800, 850))),
            "was not running when this process started",
        ),
        (
            "800.800",
            Some((
                1000,
                RunRecord {
                    uid: 33,
                    ..record(800, 800, 990)
                },
            )),
            "is not uid 1000's",
        ),
    ];
    for (marker, kept, why) in cases {
        let (scan, mut world) = marked_daemon(marker);
        world.records.extend(kept);
        let got = classify(&scan, &ctx(), &mut world);
        assert!(
            got.groups.is_empty(),
            "{marker}: a daemon by design: {got:?}"
        );
        let all = Context { all: true, ..ctx() };
        let got = classify(&scan, &all, &mut world);
        assert_eq!(ids(&got), ["pg-900"], "{marker}: named by its own group");
        let g = &got.groups[0];
        assert!(!g.strong(), "{marker}: {:?}", g.evidence);
        let e = marker_evidence(g);
        assert_eq!(e.strength, Strength::Weak);
        assert!(e.text.contains("unverified"), "{}", e.text);
        assert!(e.text.contains(why), "{marker}: {}", e.text);
        assert!(!e.text.contains("garbage"), "anyone's text is not echoed");
    }
}

#[test]
fn a_vouched_marker_names_its_run_even_for_a_daemon() {
    let (scan, mut world) = marked_daemon("800.800");
    world.records.push((1000, record(800, 800, 990)));
    let got = classify(&scan, &ctx(), &mut world);
    assert_eq!(ids(&got), ["run-800.800"]);
    assert!(got.groups[0].strong());
    assert!(
        marker_evidence(&got.groups[0])
            .text
            .contains("its record vouches for it")
    );
    // A record of a run killed without an end: its last heartbeat and two more.
    let (scan, mut world) = marked_daemon("800.800");
    world.records.push((
        1000,
        RunRecord {
            ended: false,
            ..record(800, 800, 901 - 2 * SEC)
        },
    ));
    assert_eq!(ids(&classify(&scan, &ctx(), &mut world)), ["run-800.800"]);
    world.records[0].1.end -= 1;
    assert!(classify(&scan, &ctx(), &mut world).groups.is_empty());
}

#[test]
fn an_unverified_marker_is_shown_beside_real_evidence() {
    // A pool whose job died (strong by its gone leaders) that carries garbage.
    let mut scan = vec![init()];
    scan.extend(pool(600, 500));
    let mut world = World::default();
    world.facts.insert(
        601,
        ProcFacts {
            run_marker: Some("5.5".into()),
            ..piped()
        },
    );
    let got = classify(&scan, &ctx(), &mut world);
    assert_eq!(ids(&got), ["pg-600"]);
    assert!(got.groups[0].strong());
    assert_eq!(marker_evidence(&got.groups[0]).strength, Strength::Weak);
}

/// Parent 50 called `comm`, running `exe`, with child 51 whose group leader (40) is
/// gone and whose session no one else holds, and its own first child 49 (tini and its
/// kind exit when the one child they started exits: they always have it).
fn named_parent(comm: &str, exe: Option<ExeFile>) -> (Vec<ProcSample>, World) {
    let scan = vec![
        init(),
        p(50, 1, 50, 50, comm),
        p(49, 50, 49, 49, "own"),
        p(51, 50, 40, 40, "child"),
    ];
    let mut world = World::default();
    if let Some(exe) = exe {
        world.exes.insert(50, exe);
    }
    (scan, world)
}

#[test]
fn a_name_alone_adopts_nothing() {
    let user_file = |path: &str| ExeFile {
        owner: 1000,
        ..system_exe(path)
    };
    let writable = |path: &str| ExeFile {
        mode: 0o777,
        ..system_exe(path)
    };
    for (comm, exe) in [
        // python3 that renamed itself
        ("init", Some(system_exe("/usr/bin/python3"))),
        ("tini", Some(system_exe("/usr/bin/python3"))),
        // a user's own binary called init, or a root-owned one out of place
        ("init", Some(user_file("/usr/local/bin/init"))),
        ("init", Some(system_exe("/home/me/bin/init"))),
        ("dumb-init", Some(writable("/usr/bin/dumb-init"))),
        // a real systemd that manages no user's services
        ("systemd", Some(system_exe("/usr/lib/systemd/systemd"))),
        // unreadable, and not root's
        ("init", None),
    ] {
        let (scan, mut world) = named_parent(comm, exe.clone());
        let got = classify(&scan, &ctx(), &mut world);
        assert!(got.groups.is_empty(), "{comm} {exe:?}: {got:?}");
        let all = Context { all: true, ..ctx() };
        let got = classify(&scan, &all, &mut world);
        assert!(
            got.groups
                .iter()
                .flat_map(|g| &g.processes)
                .all(|o| o.sample.pid != 51 || !o.adopted),
            "{comm} {exe:?}: {got:?}"
        );
    }
}

#[test]
fn a_subreaper_is_known_by_its_executable() {
    for (comm, exe) in [
        ("init", "/init"),
        ("tini", "/sbin/tini"),
        ("tini", "/usr/bin/tini-static"),
        ("docker-init", "/dev/init"),
        ("catatonit", "/usr/libexec/podman/catatonit"),
    ] {
        let (scan, mut world) = named_parent(comm, Some(system_exe(exe)));
        let got = classify(&scan, &ctx(), &mut world);
        let expected: &[&str] = if exe.starts_with("/usr/libexec") {
            &[] // not a system directory leaktop knows
        } else {
            &["pg-40"]
        };
        assert_eq!(ids(&got), expected, "{comm} at {exe}");
    }
    // A systemd user manager, by its arguments.
    let (scan, world) = named_parent("systemd", Some(system_exe("/lib/systemd/systemd")));
    let mut args = world;
    args.facts.insert(50, piped());
    struct Args(World);
    impl Lookup for Args {
        fn command(&mut self, id: Identity) -> Option<Command> {
            Some(Command {
                name: "systemd".into(),
                cmd: if id.pid == 50 {
                    "/lib/systemd/systemd --user".into()
                } else {
                    format!("p{}", id.pid)
                },
            })
        }
        fn facts(&mut self, id: Identity) -> Option<ProcFacts> {
            self.0.facts(id)
        }
        fn service_main_pid(&mut self, unit: &str) -> Option<u32> {
            self.0.service_main_pid(unit)
        }
        fn exe_file(&mut self, id: Identity) -> Option<ExeFile> {
            self.0.exe_file(id)
        }
    }
    assert!(classify(&scan, &ctx(), &mut args).groups.is_empty());
    let mut args = Args(args);
    assert_eq!(ids(&classify(&scan, &ctx(), &mut args)), ["pg-40"]);
    // Root's process whose executable cannot be read: no user can start one.
    let (scan, mut world) = named_parent("tini", None);
    world.facts.insert(
        50,
        ProcFacts {
            uid: Some(0),
            ..piped()
        },
    );
    assert_eq!(ids(&classify(&scan, &ctx(), &mut world)), ["pg-40"]);
}
