//! Issue 13 against the fake host: `--follow` moves the root only to a plausible
//! restart (fault 4), and other leaktops are never members, whatever their name.

use crate::fakes;

use std::time::Duration;

use fakes::host::{FakeHost, Proc, exe_of_name};
use leaktop::model::{Event, Tick};
use leaktop::monitor::Monitor;

const LEAKTOP: u32 = 9000;

fn attach(fake: &FakeHost, root: u32, follow: Option<&str>) -> Monitor {
    Monitor::attach_on(
        fake.host(),
        Box::new(fake.sampler()),
        root,
        Duration::from_secs(1),
        Vec::new(),
    )
    .unwrap()
    .following(follow.map(str::to_string))
}

fn step(fake: &FakeHost, m: &mut Monitor) -> Tick {
    fake.advance(Duration::from_secs(1));
    m.step().unwrap()
}

fn pids(tick: &Tick) -> Vec<u32> {
    tick.processes.iter().map(|p| p.pid).collect()
}

fn restarted_to(tick: &Tick) -> Option<u32> {
    tick.events.iter().find_map(|e| match e {
        Event::RootRestarted { pid, .. } => Some(*pid),
        _ => None,
    })
}

#[test]
fn follow_skips_every_process_that_only_mentions_the_pattern() {
    let fake = FakeHost::new(LEAKTOP);
    fake.add(Proc::new(50, 1, "sh").cmd("sh supervise.sh"));
    fake.add(Proc::new(60, 1, "bash"));
    fake.add(
        Proc::new(100, 50, "python3")
            .cmd("python3 -m cced serve")
            .start(1000),
    );
    let mut m = attach(&fake, 100, Some("cced"));
    assert_eq!(pids(&step(&fake, &mut m)), [100]);

    // The daemon crashes; during the supervisor's back-off the user looks for it.
    fake.exit(100, 1);
    fake.add(
        Proc::new(200, 60, "watch")
            .cmd("watch pgrep -af cced")
            .start(1100),
    );
    fake.add(Proc::new(201, 60, "grep").cmd("grep cced").start(1101));
    fake.add(
        Proc::new(202, 60, "sh")
            .cmd("sh -c while :; do sleep 0.1; done cced")
            .start(1102),
    );
    // Another leaktop, under a name of its choosing.
    fake.add(
        Proc::new(203, 60, "cced-watch")
            .cmd("cced-watch")
            .exe(Some(exe_of_name("leaktop")))
            .start(1103),
    );
    // The same interpreter, started by the user's shell: not the supervisor's.
    fake.add(
        Proc::new(204, 60, "python3")
            .cmd("python3 tail.py cced.log")
            .start(1104),
    );
    let tick = step(&fake, &mut m);
    assert!(!tick.root_alive, "{tick:?}");
    assert_eq!(restarted_to(&tick), None, "{tick:?}");
    assert_eq!(m.tracker().root().pid, 100);

    // The supervisor forks; its child is still the supervisor's shell (the exec has
    // not happened yet), then becomes the daemon.
    fake.add(Proc::new(300, 50, "sh").cmd("sh supervise.sh").start(1200));
    let tick = step(&fake, &mut m);
    assert_eq!(restarted_to(&tick), None, "{tick:?}");
    fake.add(
        Proc::new(300, 50, "python3")
            .cmd("python3 -m cced serve")
            .start(1200),
    );
    let tick = step(&fake, &mut m);
    assert_eq!(restarted_to(&tick), Some(300), "{tick:?}");
    assert!(tick.root_alive);
    let restart = m.last_restart().unwrap();
    assert_eq!((restart.pid, restart.previous), (300, 100));
    assert!(
        restart.rule.contains("same executable as root 100")
            && restart.rule.contains("child of 50, the old root's parent"),
        "{}",
        restart.rule
    );
    for decoy in [200, 201, 202, 203, 204] {
        assert!(!pids(&tick).contains(&decoy), "{decoy}: {tick:?}");
    }
}

#[test]
fn once_the_supervisor_is_gone_a_restart_from_elsewhere_is_followed() {
    let fake = FakeHost::new(LEAKTOP);
    fake.add(Proc::new(50, 1, "sh"));
    fake.add(Proc::new(60, 1, "bash"));
    fake.add(Proc::new(100, 50, "node").cmd("node mcp.js").start(1000));
    let mut m = attach(&fake, 100, Some("mcp"));
    step(&fake, &mut m);
    fake.exit(100, 1);
    fake.exit(50, 1);
    fake.add(Proc::new(210, 60, "node").cmd("node mcp.js").start(1100));
    let tick = step(&fake, &mut m);
    assert_eq!(restarted_to(&tick), Some(210), "{tick:?}");
    let rule = &m.last_restart().unwrap().rule;
    assert!(rule.contains("parent 50 is gone"), "{rule}");
}

#[test]
fn an_executable_unreadable_falls_back_to_argv0() {
    let fake = FakeHost::new(LEAKTOP);
    fake.add(Proc::new(50, 1, "sh"));
    fake.add(
        Proc::new(100, 50, "node")
            .cmd("/usr/bin/node mcp.js")
            .exe(None)
            .start(1000),
    );
    let mut m = attach(&fake, 100, Some("mcp"));
    step(&fake, &mut m);
    fake.exit(100, 1);
    fake.add(
        Proc::new(220, 50, "vim")
            .cmd("vim mcp.js")
            .exe(None)
            .start(1100),
    );
    fake.add(
        Proc::new(221, 50, "node")
            .cmd("node mcp.js")
            .exe(None)
            .start(1101),
    );
    let tick = step(&fake, &mut m);
    assert_eq!(restarted_to(&tick), Some(221), "{tick:?}");
    assert!(
        m.last_restart()
            .unwrap()
            .rule
            .contains("argv[0] is \"node\"")
    );
}

#[test]
fn another_leaktop_is_never_a_member_whatever_its_name() {
    let fake = FakeHost::new(LEAKTOP);
    fake.add(Proc::new(50, 1, "bash"));
    fake.add(Proc::new(100, 50, "sh").start(1000));
    // A second recorder of the root, started by the root's own script.
    fake.add(
        Proc::new(110, 100, "leaktop")
            .cmd("leaktop record --pid 100")
            .start(1010),
    );
    // The same, renamed: the executable gives it away.
    fake.add(
        Proc::new(111, 100, "python3")
            .cmd("python3 server.py")
            .exe(Some(exe_of_name("leaktop")))
            .start(1011),
    );
    // A process that only calls itself leaktop is family like any other.
    fake.add(
        Proc::new(120, 100, "leaktop")
            .cmd("leaktop")
            .exe(Some((8, 4242)))
            .start(1020),
    );
    // A shell that will exec leaktop once forked.
    fake.add(Proc::new(130, 100, "sh").start(1030));
    let mut m = attach(&fake, 100, None);
    let tick = step(&fake, &mut m);
    assert_eq!(pids(&tick), [100, 120, 130], "{tick:?}");

    fake.add(
        Proc::new(130, 100, "leaktop")
            .cmd("leaktop record --pid 100")
            .start(1030),
    );
    let tick = step(&fake, &mut m);
    assert_eq!(pids(&tick), [100, 120], "{tick:?}");
    // Dropped, not exited: it never was family.
    assert!(tick.events.is_empty(), "{:?}", tick.events);
    // Nor is the group it leads: what it double-forks there is no escaped member.
    fake.add(Proc::new(140, 1, "sleep").group(130, 130).start(1040));
    let tick = step(&fake, &mut m);
    assert_eq!(pids(&tick), [100, 120], "{tick:?}");
    // And when the root exits, the recorders are not its leaked survivors.
    fake.exit(100, 0);
    fake.advance(Duration::from_secs(5));
    let tick = step(&fake, &mut m);
    assert_eq!(pids(&tick), [120], "{tick:?}");
}

#[test]
fn the_demo_s_leaktop_helpers_stay_members_of_a_leaktop_root() {
    let fake = FakeHost::new(LEAKTOP);
    fake.add(
        Proc::new(100, LEAKTOP, "leaktop")
            .cmd("leaktop demo-server")
            .start(1000),
    );
    fake.add(
        Proc::new(110, 100, "leaktop")
            .cmd("leaktop demo-session")
            .start(1010),
    );
    let mut m = attach(&fake, 100, None);
    assert_eq!(pids(&step(&fake, &mut m)), [100, 110]);
}

/// Root 100, `python3 /srv/app.py serve`, a child of init, followed by "app" and
/// sampled once.
fn app_under_init() -> (FakeHost, Monitor) {
    let fake = FakeHost::new(LEAKTOP);
    fake.add(
        Proc::new(100, 1, "python3")
            .cmd("python3 /srv/app.py serve")
            .start(1000),
    );
    let mut m = attach(&fake, 100, Some("app"));
    assert_eq!(pids(&step(&fake, &mut m)), [100]);
    (fake, m)
}

/// Issue 27, fault 6: with init as the supervisor, an orphaned look-alike (the same
/// interpreter, the pattern among its arguments, there while the old root lived)
/// shows as the root exits; it must not become the new root, and the real restart
/// (the old root's script again) that comes a tick later is followed.
#[test]
fn an_orphaned_look_alike_does_not_hijack_a_restart_by_init() {
    let (fake, mut m) = app_under_init();

    // A worker of the old generation, double-forked away to init, first seen at the
    // root's last live tick.
    fake.add(
        Proc::new(180, 1, "python3")
            .cmd("python3 -c import app; app.worker()")
            .start(1090),
    );
    let tick = step(&fake, &mut m);
    assert!(tick.root_alive, "{tick:?}");
    // The root exits; init restarts it after a back-off.
    fake.exit(100, 1);
    let tick = step(&fake, &mut m);
    assert!(!tick.root_alive, "{tick:?}");
    assert_eq!(
        restarted_to(&tick),
        None,
        "the look-alike was taken: {tick:?}"
    );
    fake.add(
        Proc::new(300, 1, "python3")
            .cmd("python3 /srv/app.py serve")
            .start(1300),
    );
    let tick = step(&fake, &mut m);
    assert_eq!(restarted_to(&tick), Some(300), "{tick:?}");
    assert_eq!(m.tracker().root().pid, 300);
    let rule = &m.last_restart().unwrap().rule;
    assert!(rule.contains("the same command line"), "{rule}");
}

/// A look-alike that arrives with the real restart, both new and both init's
/// children: the one running the old root's script wins.
#[test]
fn the_restart_running_the_old_script_beats_a_look_alike_seen_with_it() {
    let (fake, mut m) = app_under_init();
    fake.exit(100, 1);
    // The look-alike is older (and has the lower pid): today's tie-breakers pick it.
    fake.add(
        Proc::new(180, 1, "python3")
            .cmd("python3 -c import app; app.worker()")
            .start(1100),
    );
    fake.add(
        Proc::new(300, 1, "python3")
            .cmd("python3 /srv/app.py serve")
            .start(1200),
    );
    let tick = step(&fake, &mut m);
    assert_eq!(restarted_to(&tick), Some(300), "{tick:?}");
}

/// With nothing better, a restart whose arguments differ (a new flag) is still
/// followed, once its patience (5 s at most here) has passed.
#[test]
fn a_restart_with_other_arguments_is_followed_when_nothing_better_shows() {
    let (fake, mut m) = app_under_init();
    fake.exit(100, 1);
    fake.add(
        Proc::new(300, 1, "python3")
            .cmd("python3 /srv/app.py serve --safe-mode")
            .start(1200),
    );
    let mut followed = None;
    for _ in 0..8 {
        followed = followed.or(restarted_to(&step(&fake, &mut m)));
    }
    assert_eq!(followed, Some(300));
    assert!(m.last_restart().unwrap().rule.contains("arguments differ"));
}
