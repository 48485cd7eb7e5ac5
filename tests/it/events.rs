//! Process events from the kernel on real processes: the connector (root only; skipped
//! with the reason printed where the kernel refuses), the fallback forced by
//! `LEAKTOP_NO_CONNECTOR`, as `nobody` and as root without `CAP_NET_ADMIN`, and the
//! pidfd watcher.

#![cfg(target_os = "linux")]

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::common::watch::Watch;
use crate::common::{self, Reaped, Tag};
use leaktop::model::{Event, ProcRow};
use leaktop::sample::Identity;
use leaktop::sample::events::connector::{Connector, Options};
use leaktop::sample::events::pidfd::PidfdWatcher;
use leaktop::sample::events::{
    EventRequest, EventSource, NO_CONNECTOR_VAR, NoEvents, ProcEvent, Source, Stamped, Task,
};

/// A subscription, or `None` (with the reason printed) where this machine refuses
/// one for a reason of its own: no `CAP_NET_ADMIN`, a namespace, no connector.
fn subscribe_or_skip(options: Options) -> Option<Connector> {
    match Connector::subscribe(options) {
        Ok(c) => Some(c),
        Err(
            why @ (NoEvents::NotPermitted
            | NoEvents::Namespace(_)
            | NoEvents::NetNamespace
            | NoEvents::Unsupported),
        ) => {
            eprintln!("skipped: the process-events connector is not available here: {why}");
            None
        }
        Err(why) => panic!("subscribing to the process-events connector failed: {why}"),
    }
}

/// Collects events until `done` holds of them or `limit` passes; whether it held.
fn collect_until(
    source: &mut dyn EventSource,
    events: &mut Vec<Stamped>,
    limit: Duration,
    mut done: impl FnMut(&[Stamped]) -> bool,
) -> bool {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if done(events) {
            return true;
        }
        source
            .wait(Duration::from_millis(100), events)
            .expect("the event source works");
    }
    done(events)
}

/// The processes forked from `root`, directly or not, with each one's forking parent.
fn descendants(root: u32, events: &[Stamped]) -> HashMap<u32, u32> {
    let mut family = HashMap::new();
    let mut members: HashSet<u32> = [root].into();
    for s in events {
        if let ProcEvent::Fork { parent, child } = s.event
            && child.is_process()
            && members.contains(&parent.tgid)
        {
            members.insert(child.pid);
            family.insert(child.pid, parent.tgid);
        }
    }
    family
}

fn setsid_by(pid: u32, events: &[Stamped]) -> bool {
    events
        .iter()
        .any(|s| matches!(s.event, ProcEvent::Setsid { task } if task.tgid == pid))
}

fn exited(pid: u32, events: &[Stamped]) -> bool {
    events
        .iter()
        .any(|s| matches!(s.event, ProcEvent::Exit { task, .. } if task == Task::process(pid)))
}

#[test]
fn the_connector_sees_each_step_of_a_daemonizing_escape() {
    let Some(mut connector) = subscribe_or_skip(Options::default()) else {
        return;
    };
    let tag = Tag::new();
    let mut sh = tag
        .command("sh")
        .args(["-c", "(setsid sleep 30 &) ; exit 0"])
        .spawn()
        .unwrap();
    let root = sh.id();
    let mut events = Vec::new();
    // The escapee: forked below the root, called setsid, its forking parent gone.
    let escapee = |events: &[Stamped]| {
        descendants(root, events)
            .into_iter()
            .find(|&(pid, parent)| setsid_by(pid, events) && exited(parent, events))
    };
    let seen = collect_until(&mut connector, &mut events, Duration::from_secs(20), |e| {
        exited(root, e) && escapee(e).is_some()
    });
    let _ = sh.wait();
    assert!(
        seen,
        "no fork, setsid and exit of the escape among {} events: {:?}",
        events.len(),
        descendants(root, &events)
    );
    let (pid, parent) = escapee(&events).unwrap();
    // The kernel's own word: still alive, adopted away from the parent that forked it.
    let now = leaktop::host::real()
        .probe(pid)
        .expect("the escapee still runs");
    assert_ne!(now.ppid, parent, "{pid} was adopted");
    assert!(tag.live().contains(&pid), "{pid} is the escaped sleep");
    // Every event has the kernel's time; they came in order for one process.
    let at = |want: &dyn Fn(&ProcEvent) -> bool| {
        events
            .iter()
            .find(|s| want(&s.event))
            .map(|s| s.at_ns)
            .unwrap()
    };
    let forked = at(&|e| matches!(e, ProcEvent::Fork { child, .. } if child.pid == pid));
    let setsid = at(&|e| matches!(e, ProcEvent::Setsid { task } if task.tgid == pid));
    assert!(
        forked > 0 && forked <= setsid,
        "fork {forked} ns, setsid {setsid} ns"
    );
}

#[test]
fn a_loss_under_a_burst_is_reported_never_silent() {
    // The smallest buffer the kernel allows: a few messages.
    let options = Options {
        recv_buffer: 1,
        ..Options::default()
    };
    let Some(mut connector) = subscribe_or_skip(options) else {
        return;
    };
    let tag = Tag::new();
    // Hundreds of forks, execs and exits while nothing reads the socket.
    let status = tag
        .command("sh")
        .args(["-c", "for i in $(seq 300); do /bin/true; done"])
        .status()
        .unwrap();
    assert!(status.success());
    let mut events = Vec::new();
    let lost = collect_until(&mut connector, &mut events, Duration::from_secs(20), |e| {
        e.iter().any(|s| matches!(s.event, ProcEvent::Lost { .. }))
    });
    assert!(lost, "no loss reported among {} events", events.len());
}

/// What `Host::events` gives, and why not the connector.
fn real_source() -> (Source, Option<NoEvents>) {
    let source = leaktop::host::real().events(EventRequest::from_env());
    (source.source(), source.fallback_reason().cloned())
}

#[test]
fn the_variable_forces_the_fallback() {
    common::isolated_under(
        &[],
        &[(NO_CONNECTOR_VAR, "1")],
        "events::the_variable_forces_the_fallback",
        || {
            assert_eq!(real_source(), (Source::Pidfd, Some(NoEvents::Disabled)));
        },
    );
}

/// `program args` to run a test in (`setpriv`, `unshare`), or `None` (printed) where
/// this test process cannot: not root, no such program, or it fails here (a container
/// that may not make namespaces).
fn as_root_through(program: &'static str, args: &[&'static str]) -> Option<Vec<&'static str>> {
    if !rustix::process::geteuid().is_root() {
        eprintln!("skipped: {program} needs root");
        return None;
    }
    let works = std::process::Command::new(program)
        .args(args)
        .arg("true")
        .output()
        .is_ok_and(|o| o.status.success());
    if !works {
        eprintln!("skipped: {program} {} does not work here", args.join(" "));
        return None;
    }
    Some([&[program][..], args].concat())
}

#[test]
fn as_nobody_the_kernel_refuses_and_pidfds_stand_in() {
    // The test binary must be where anyone may execute it; `target/` is, on CI.
    let Some(wrapper) = as_root_through(
        "setpriv",
        &["--reuid=65534", "--regid=65534", "--clear-groups"],
    ) else {
        return;
    };
    common::isolated_under(
        &wrapper,
        &[],
        "events::as_nobody_the_kernel_refuses_and_pidfds_stand_in",
        || {
            assert_ne!(rustix::process::geteuid().as_raw(), 0);
            assert_eq!(real_source(), (Source::Pidfd, Some(NoEvents::NotPermitted)));
        },
    );
}

#[test]
fn as_root_without_cap_net_admin_the_kernel_refuses_too() {
    let Some(wrapper) = as_root_through(
        "setpriv",
        &["--bounding-set=-net_admin", "--inh-caps=-net_admin"],
    ) else {
        return;
    };
    common::isolated_under(
        &wrapper,
        &[],
        "events::as_root_without_cap_net_admin_the_kernel_refuses_too",
        || {
            assert_eq!(real_source(), (Source::Pidfd, Some(NoEvents::NotPermitted)));
        },
    );
}

#[test]
fn in_a_pid_namespace_of_its_own_the_connector_is_not_used() {
    // The kernel would take no subscription from here, and name processes by pids
    // this namespace does not use.
    let Some(wrapper) = as_root_through("unshare", &["--pid", "--fork", "--mount-proc"]) else {
        return;
    };
    common::isolated_under(
        &wrapper,
        &[],
        "events::in_a_pid_namespace_of_its_own_the_connector_is_not_used",
        || {
            assert_eq!(
                real_source(),
                (Source::Pidfd, Some(NoEvents::Namespace("pid")))
            );
            // Asked anyway, the kernel stays silent.
            let tried = Connector::subscribe(Options {
                check_namespaces: false,
                ack_within: Duration::from_millis(300),
                ..Options::default()
            });
            assert_eq!(tried.err(), Some(NoEvents::NoAcknowledgement(300)));
        },
    );
}

#[test]
fn in_a_network_namespace_of_its_own_the_kernel_refuses() {
    let Some(wrapper) = as_root_through("unshare", &["--net"]) else {
        return;
    };
    common::isolated_under(
        &wrapper,
        &[],
        "events::in_a_network_namespace_of_its_own_the_kernel_refuses",
        || {
            assert_eq!(real_source(), (Source::Pidfd, Some(NoEvents::NetNamespace)));
        },
    );
}

#[test]
fn a_pidfd_sees_a_real_exit_and_only_the_process_meant() {
    let mut watcher = PidfdWatcher::new(None).expect("pidfds (Linux 5.3+)");
    let tag = Tag::new();
    let mut child = Reaped(
        tag.command("sh")
            .args(["-c", "read x"])
            .stdin(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let pid = child.id();
    let start = leaktop::host::real().probe(pid).unwrap().start;
    // A pid now held by another process is not watched.
    watcher.watch(&[Identity {
        pid,
        start: start + 1,
    }]);
    assert_eq!(watcher.watching(), 0);
    watcher.watch(&[Identity { pid, start }]);
    assert_eq!(watcher.watching(), 1);
    let mut events = Vec::new();
    watcher.wait(Duration::ZERO, &mut events).unwrap();
    assert!(events.is_empty(), "it has not exited: {events:?}");

    // End of input: it exits by itself.
    let mut stdin = child.0.stdin.take().unwrap();
    let _ = stdin.write_all(b"\n");
    drop(stdin);
    let seen = collect_until(&mut watcher, &mut events, Duration::from_secs(20), |e| {
        exited(pid, e)
    });
    assert!(seen, "no exit of {pid}: {events:?}");
    assert_eq!(
        watcher.watching(),
        0,
        "an exited process is no longer watched"
    );
    if let ProcEvent::Exit { parent, .. } = &events[0].event {
        // Where the kernel can tell (PIDFD_GET_INFO, 6.13+), the parent is this test.
        assert!(
            parent.is_none_or(|p| p.pid == std::process::id()),
            "{parent:?}"
        );
    }
    let _ = child.0.wait();
}

/// Not a check: what the connector does under a fork burst here, printed (run with
/// `cargo test --test it events::connector_under_a_fork_burst -- --ignored --nocapture`).
#[test]
#[ignore = "a measurement, printed"]
fn connector_under_a_fork_burst() {
    for (label, recv_buffer, read_every) in [
        ("the kernel's default buffer, read at once", 0, None),
        ("leaktop's 8 MiB buffer, read at once", 8 << 20, None),
        (
            "the kernel's default buffer, read once a second",
            0,
            Some(Duration::from_secs(1)),
        ),
        (
            "leaktop's 8 MiB buffer, read once a second",
            8 << 20,
            Some(Duration::from_secs(1)),
        ),
    ] {
        let Some(mut connector) = subscribe_or_skip(Options {
            recv_buffer,
            ..Options::default()
        }) else {
            return;
        };
        let tag = Tag::new();
        let began = Instant::now();
        let mut sh = tag
            .command("sh")
            .args(["-c", "for i in $(seq 5000); do /bin/true; done"])
            .spawn()
            .unwrap();
        let root = sh.id();
        let mut events = Vec::new();
        let mut burst = None;
        // How long each event waited in the socket (its kernel time to its reading), ns.
        let mut delays = Vec::new();
        let end = began + Duration::from_secs(120);
        while Instant::now() < end
            && burst.is_none_or(|b| began.elapsed() < b + Duration::from_secs(2))
        {
            if burst.is_none() && matches!(sh.try_wait(), Ok(Some(_))) {
                burst = Some(began.elapsed());
            }
            // A tick loop that reads the events once per tick.
            if let Some(pause) = read_every {
                std::thread::sleep(pause);
            }
            let from = events.len();
            connector
                .wait(Duration::from_millis(100), &mut events)
                .unwrap();
            let now = connector.clock_ns();
            delays.extend(events[from..].iter().map(|s| now.saturating_sub(s.at_ns)));
        }
        let _ = sh.wait();
        delays.sort_unstable();
        let pct = |p: usize| {
            delays
                .get(delays.len() * p / 100)
                .map_or(0.0, |&d| d as f64 / 1e6)
        };
        let family: HashSet<u32> = descendants(root, &events).into_keys().collect();
        let count = |f: &dyn Fn(&ProcEvent) -> bool| events.iter().filter(|s| f(&s.event)).count();
        let losses: Vec<Option<u64>> = events
            .iter()
            .filter_map(|s| match s.event {
                ProcEvent::Lost { count } => Some(count),
                _ => None,
            })
            .collect();
        println!(
            "{label}: burst {:.2} s; {} events in all; the burst's forks {}, execs {}, exits {}; \
             losses reported {} (counted {}, uncounted {}); read after {:.2} ms median, \
             {:.2} ms p99",
            burst.unwrap_or_default().as_secs_f64(),
            events.len(),
            family.len(),
            count(&|e| matches!(e, ProcEvent::Exec { task } if family.contains(&task.tgid))),
            count(
                &|e| matches!(e, ProcEvent::Exit { task, .. } if task.is_process() && family.contains(&task.pid))
            ),
            losses.len(),
            losses.iter().flatten().sum::<u64>(),
            losses.iter().filter(|c| c.is_none()).count(),
            pct(50),
            pct(99),
        );
    }
}

/// A root that leads neither its group nor its session (the test's) forks a subshell
/// that starts `setsid sleep` in the background and exits: between two ticks, with
/// the source `request` gets. The source, the escapee's row at the second tick (if it
/// joined the family) and that tick's events.
fn escape_between_two_ticks(request: EventRequest) -> (Source, Option<ProcRow>, Vec<Event>) {
    let tag = Tag::new();
    let mut root = Reaped(
        tag.command("sh")
            .args(["-c", "read x; (setsid sleep 30 &) ; exec sleep 60"])
            .stdin(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let host = leaktop::host::real();
    let mut w = Watch::attach(host.clone(), root.id(), request);
    w.tick();
    w.take_events(Duration::ZERO);
    root.0.stdin.take().unwrap().write_all(b"go\n").unwrap();
    // The escape is over once the setsid'd sleep runs and its parent is gone.
    let mut escapee = None;
    let over = common::wait_until(Duration::from_secs(20), || {
        let live = tag.live();
        escapee = live.iter().copied().find(|&pid| {
            pid != root.id()
                && host.probe(pid).is_some_and(|s| {
                    s.comm.as_bytes() == b"sleep" && s.session == pid && !live.contains(&s.ppid)
                })
        });
        escapee.is_some()
    });
    assert!(over, "the escape did not happen");
    let escapee = escapee.unwrap();
    if w.events.source() == Source::Connector {
        // Its forking parent's exit event follows the reparenting closely.
        let parent = |raw: &[Stamped]| {
            raw.iter().find_map(|s| match s.event {
                ProcEvent::Fork { parent, child } if child.pid == escapee => Some(parent.tgid),
                _ => None,
            })
        };
        let end = Instant::now() + Duration::from_secs(20);
        while Instant::now() < end && !parent(&w.raw).is_some_and(|p| exited(p, &w.raw)) {
            w.take_events(Duration::from_millis(100));
        }
    } else {
        w.take_events(Duration::ZERO);
    }
    let tick = w.tick();
    let row = tick.processes.iter().find(|r| r.pid == escapee).cloned();
    (w.events.source(), row, tick.events)
}

#[test]
fn a_daemonizing_escape_between_two_ticks_is_caught_with_the_connector() {
    let (source, row, events) = escape_between_two_ticks(EventRequest::default());
    if source != Source::Connector {
        eprintln!("skipped: the process-events connector is not available here");
        return;
    }
    let row = row.expect("the escapee joined the family");
    assert!(row.escaped && row.leaked, "{row:?}");
    let evidence = events
        .iter()
        .find_map(|e| match e {
            Event::Escaped { pid, evidence, .. } if *pid == row.pid => Some(evidence.as_str()),
            _ => None,
        })
        .expect("an escape event");
    eprintln!("evidence: {evidence}");
    assert!(
        evidence.contains("called setsid") && evidence.contains("exited at"),
        "{evidence}"
    );
}

#[test]
fn without_the_connector_the_same_escape_is_the_documented_miss() {
    let request = EventRequest {
        connector: false,
        ..EventRequest::default()
    };
    let (source, row, _) = escape_between_two_ticks(request);
    assert_eq!(source, Source::Pidfd);
    assert_eq!(row, None, "pidfds see no forks: missed, not guessed");
}
