//! `leaktop orphans` on the fake host: systemd services (never on this machine's
//! real PID 1), the kill's rules (weak groups only when named, no terminal and no
//! --yes, a refused prompt), the filters, unreadable processes, `--watch` and the
//! tick-log snapshot, in milliseconds.

use crate::fakes;

use std::time::Duration;

use fakes::host::{FakeHost, Proc, Reaction};
use leaktop::actions::known::Known;
use leaktop::actions::orphans::{
    Filter, Io, KillOptions, Options, OrphansError, Output, ScanOptions, run_on,
};
use leaktop::format::{Format, Width};
use leaktop::host::Signal;
use leaktop::model::orphans::StdioKind;
use leaktop::sample::events::{NoEvents, Source};
use serde_json::Value;

const ME: u32 = 50;

/// A live shell (500) with a dead job (600) whose pool sits under init (weak: the
/// shell holds the session), and a dead terminal's job (700) whose session leader is
/// gone too (strong).
pub(crate) fn machine() -> FakeHost {
    let fake = FakeHost::new(ME);
    fake.add(Proc::new(500, 1, "bash").group(500, 500));
    for pid in [601, 602] {
        fake.add(Proc::new(pid, 1, "python3").group(600, 500).rss_mb(50));
    }
    fake.add(Proc::new(603, 602, "python3").group(600, 500).rss_mb(200));
    fake.add(
        Proc::new(701, 1, "node")
            .group(700, 690)
            .cmd("node mcp-server.js"),
    );
    fake.add(
        Proc::new(702, 701, "node")
            .group(700, 690)
            .cmd("node mcp-server.js --child"),
    );
    fake
}

pub(crate) fn options(output: Output) -> Options {
    Options {
        scan: ScanOptions {
            older_than: Duration::from_secs(2),
            all: false,
            measure: true,
            ..ScanOptions::default()
        },
        filter: Filter::default(),
        output,
        kill: None,
        watch: None,
        count: None,
        metrics: None,
        known: Known::default(),
    }
}

pub(crate) fn kill(yes: bool) -> Option<KillOptions> {
    Some(KillOptions {
        signal: Signal::TERM,
        signal_name: "SIGTERM",
        grace: Duration::from_secs(3),
        yes,
    })
}

pub(crate) struct Run {
    pub(crate) out: String,
    pub(crate) said: String,
    pub(crate) asked: Vec<String>,
    pub(crate) result: Result<(), OrphansError>,
}

pub(crate) fn run(fake: &FakeHost, opts: &Options, terminal: Option<bool>) -> Run {
    run_until(fake, opts, terminal, &|| false)
}

/// [`run`], with `reader_gone` saying when the reader of the output went away.
pub(crate) fn run_until(
    fake: &FakeHost,
    opts: &Options,
    terminal: Option<bool>,
    reader_gone: &dyn Fn() -> bool,
) -> Run {
    let mut out = String::new();
    let mut said = String::new();
    let mut asked = Vec::new();
    let mut write = |s: &str| {
        out.push_str(s);
        Ok(())
    };
    let mut say = |s: &str| said.push_str(s);
    let mut ask = |q: &str| {
        asked.push(q.to_string());
        terminal == Some(true)
    };
    let mut io = Io {
        out: &mut write,
        ask: if terminal.is_some() {
            Some(&mut ask)
        } else {
            None
        },
        say: &mut say,
        reader_gone,
    };
    let result = run_on(fake.host(), opts, &mut io);
    Run {
        out,
        said,
        asked,
        result,
    }
}

pub(crate) fn json(r: &Run) -> Value {
    serde_json::from_str(&r.out).unwrap()
}

fn ids(v: &Value) -> Vec<String> {
    v["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn groups_by_job_sorted_by_memory_with_their_evidence() {
    let fake = machine();
    let r = run(&fake, &options(Output::Json), None);
    r.result.as_ref().unwrap();
    let v = json(&r);
    assert_eq!(ids(&v), ["pg-600", "pg-700"]);
    assert_eq!(v["groups"][0]["strength"], "weak");
    assert_eq!(v["groups"][1]["strength"], "strong");
    assert_eq!(v["groups"][0]["rss_kb"], 300 * 1024);
    let pids: Vec<u64> = v["groups"][0]["processes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["pid"].as_u64().unwrap())
        .collect();
    assert_eq!(pids, [601, 602, 603]);
    for key in ["pid", "start", "ppid", "rss_kb", "cmd"] {
        assert!(v["groups"][0]["processes"][0].get(key).is_some(), "{key}");
    }
}

/// `orphans --kill --yes` (the table) on `fake`, which must succeed; with the
/// options it ran with.
fn kill_strong(fake: &FakeHost) -> (Run, Options) {
    let opts = Options {
        kill: kill(true),
        ..options(Output::Table(Width::Cut(120)))
    };
    let r = run(fake, &opts, None);
    r.result.as_ref().unwrap();
    (r, opts)
}

#[test]
fn the_kill_ends_strong_groups_and_weak_ones_only_when_named() {
    let fake = machine();
    let (r, opts) = kill_strong(&fake);
    assert!(!fake.alive(701) && !fake.alive(702), "{}", r.out);
    assert!(fake.alive(601) && fake.alive(602) && fake.alive(603));
    assert!(fake.signals_to(601).is_empty());
    assert!(
        r.said.contains("not ending pg-600 (weak evidence)"),
        "{}",
        r.said
    );
    assert!(r.out.contains("ended pg-700: all 2 processes"), "{}", r.out);

    // Named, the weak group is ended too; init and leaktop never get a signal.
    let named = Options {
        filter: Filter {
            group: Some("pg-600".into()),
            ..Filter::default()
        },
        ..opts
    };
    run(&fake, &named, None).result.unwrap();
    assert!(!fake.alive(601) && !fake.alive(602) && !fake.alive(603));
    assert!(fake.alive(500), "the shell is no orphan");
    assert!(fake.signals_to(1).is_empty() && fake.signals_to(ME).is_empty());
}

/// [`machine`] whose orphans double-fork in their SIGTERM handler, then die; forks
/// cannot be watched (no `CAP_NET_ADMIN`), so only sessions tie what they fork.
fn double_forkers() -> FakeHost {
    let fake = machine();
    fake.set_events(Source::Ticks, Some(NoEvents::NotPermitted));
    for pid in [601, 701, 702] {
        let mut p = fake.get(pid).unwrap();
        p.reactions = vec![(Signal::TERM, Reaction::DoubleFork(Box::new(Reaction::Die)))];
        fake.add(p);
    }
    fake
}

/// The live processes of `session` that are not in `before`.
fn newcomers(fake: &FakeHost, before: &[u32], session: u32) -> Vec<u32> {
    fake.processes()
        .iter()
        .filter(|p| p.session == session && !before.contains(&p.pid) && fake.alive(p.pid))
        .map(|p| p.pid)
        .collect()
}

fn pids(fake: &FakeHost) -> Vec<u32> {
    fake.processes().iter().map(|p| p.pid).collect()
}

/// pg-700's session is its own (its leader is gone): what its members double-fork
/// while they handle SIGTERM can only have come from them, and is ended in a further
/// round, counted, and the group is said to have ended only then.
#[test]
fn what_a_group_double_forks_while_dying_is_ended_when_its_session_is_its_own() {
    let fake = double_forkers();
    let before = pids(&fake);
    let (r, _) = kill_strong(&fake);
    assert!(!fake.alive(701) && !fake.alive(702), "{}", r.out);
    let escapees: Vec<u32> = fake
        .signals()
        .iter()
        .filter(|(pid, sig)| !before.contains(pid) && *sig == Signal::KILL)
        .map(|(pid, _)| *pid)
        .collect();
    assert_eq!(
        escapees.len(),
        2,
        "a grandchild each, SIGKILLed: {escapees:?}"
    );
    assert_eq!(
        newcomers(&fake, &before, 690),
        Vec::<u32>::new(),
        "{}",
        r.out
    );
    assert!(r.out.contains("ended pg-700: all 2 processes"), "{}", r.out);
    assert!(
        r.out
            .contains("ended too: 2 processes forked during the kill, 2 of them orphaned"),
        "{}",
        r.out
    );
    assert!(
        fake.signals_to(500).is_empty(),
        "the shell is never signalled"
    );
    assert!(fake.signals_to(601).is_empty(), "nor the weak group");
}

/// pg-600 shares its session with a live shell: a process that appears there during
/// the kill might be the shell's, so it is never signalled, and it is reported.
#[test]
fn a_newcomer_to_a_shared_session_is_reported_and_never_signalled() {
    let fake = double_forkers();
    let before = pids(&fake);
    let opts = Options {
        kill: kill(true),
        filter: Filter {
            group: Some("pg-600".into()),
            ..Filter::default()
        },
        ..options(Output::Table(Width::Cut(120)))
    };
    let r = run(&fake, &opts, None);
    r.result.as_ref().unwrap();
    assert!(!fake.alive(601) && !fake.alive(602) && !fake.alive(603));
    let left = newcomers(&fake, &before, 500);
    assert_eq!(
        left.len(),
        1,
        "the grandchild of 601: {:?}",
        fake.processes()
    );
    assert!(fake.signals_to(left[0]).is_empty());
    assert!(
        fake.signals_to(500).is_empty(),
        "the shell is never signalled"
    );
    // The line is wrapped to the table's 120 columns: read it whole.
    assert!(
        r.out.replace("\n  ", " ").contains(&format!(
            "not signalled: 1 process appeared in the groups' process groups during the \
             kill, but nothing ties it to the groups (their session is shared): {}",
            left[0]
        )),
        "{}",
        r.out
    );
}

#[test]
fn without_a_terminal_or_yes_or_with_a_no_nothing_is_signalled() {
    let fake = machine();
    let opts = Options {
        kill: kill(false),
        ..options(Output::Table(Width::Cut(120)))
    };
    let r = run(&fake, &opts, None);
    assert!(matches!(r.result, Err(OrphansError::NoTerminal)));
    assert_eq!(r.out, "", "nothing listed either");
    let r = run(&fake, &opts, Some(false));
    r.result.as_ref().unwrap();
    assert_eq!(r.asked.len(), 1);
    assert!(
        r.asked[0].starts_with("End pg-700 (2 processes, RSS 20 MiB) with SIGTERM"),
        "{:?}",
        r.asked
    );
    assert!(fake.signals().is_empty());
    let r = run(&fake, &opts, Some(true));
    r.result.as_ref().unwrap();
    assert!(!fake.alive(701));
}

#[test]
fn unknown_groups_and_patterns_are_errors() {
    let fake = machine();
    let mut opts = options(Output::Table(Width::Cut(120)));
    opts.filter.group = Some("pg-1234".into());
    opts.kill = kill(true);
    let r = run(&fake, &opts, None);
    let e = r.result.unwrap_err().to_string();
    assert_eq!(
        e,
        "no orphan group 'pg-1234' (the groups now: pg-600, pg-700)"
    );
    opts.filter.group = None;
    opts.filter.pattern = Some("nothing-like-it".into());
    let e = run(&fake, &opts, None).result.unwrap_err().to_string();
    assert!(e.contains("'nothing-like-it'"), "{e}");
    assert!(fake.signals().is_empty());
    // A pattern that matches names its group.
    opts.filter.pattern = Some("mcp-server".into());
    let r = run(&fake, &opts, None);
    r.result.as_ref().unwrap();
    assert!(r.out.starts_with("pg-700  STRONG"), "{}", r.out);
    assert!(!fake.alive(701) && fake.alive(601));
}

#[test]
fn user_and_size_filters() {
    let fake = machine();
    fake.add(Proc::new(801, 1, "worker").group(800, 800).uid(1001));
    fake.add_user("alice", 1001);
    let mut opts = options(Output::Json);
    opts.filter.uid = Some(1001);
    assert_eq!(ids(&json(&run(&fake, &opts, None))), ["pg-800"]);
    opts.filter.uid = None;
    opts.filter.min_rss_kb = 100 * 1024;
    assert_eq!(ids(&json(&run(&fake, &opts, None))), ["pg-600"]);
}

#[test]
fn a_systemd_service_whose_main_process_is_gone() {
    let fake = machine();
    // A worker of api.service, adopted by init, streams on the journal's socket.
    fake.add(
        Proc::new(901, 1, "api-worker")
            .group(901, 901)
            .cgroup("/system.slice/api.service")
            .stdio([StdioKind::Null, StdioKind::Socket, StdioKind::Socket]),
    );
    let r = run(&fake, &options(Output::Json), None);
    assert!(
        !ids(&json(&r)).contains(&"unit-api.service".to_string()),
        "no systemd: no evidence"
    );
    fake.set_unit_main("api.service", 0);
    let v = json(&run(&fake, &options(Output::Json), None));
    let g = v["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["id"] == "unit-api.service")
        .expect("listed");
    assert_eq!(g["strength"], "strong");
    assert_eq!(g["evidence"][0]["kind"], "unit_main_gone");
    // Its main process running again, started before it: part of a live service.
    fake.add(
        Proc::new(900, 1, "api")
            .group(900, 900)
            .cgroup("/system.slice/api.service")
            .start(1),
    );
    fake.set_unit_main("api.service", 900);
    let v = json(&run(&fake, &options(Output::Json), None));
    assert!(!ids(&v).iter().any(|i| i.starts_with("unit-")), "{v}");
}

#[test]
fn unreadable_processes_are_counted_not_errors() {
    let fake = machine();
    fake.add(Proc::new(951, 1, "root-job").group(950, 950));
    fake.deny(951);
    let r = run(&fake, &options(Output::Table(Width::Cut(120))), None);
    r.result.as_ref().unwrap();
    assert!(
        r.said
            .contains("1 process could not be read fully: permission denied"),
        "{}",
        r.said
    );
    assert!(!r.out.contains("root-job"), "{}", r.out);
}

#[test]
fn watch_reports_each_new_group_once() {
    let fake = machine();
    // The scans at the interval, without events (orphans_watch_fake has them).
    fake.ticks_only();
    let state = leaktop::metrics::MetricsState::new();
    let opts = Options {
        watch: Some(Duration::from_secs(2)),
        count: Some(4),
        metrics: Some(state.clone()),
        ..options(Output::Json)
    };
    // The pool of job 1000 is orphaned after the second scan.
    fake.add(Proc::new(1000, 500, "python3").group(1000, 500));
    fake.add(Proc::new(1001, 1000, "python3").group(1000, 500));
    // Orphaned while the watch sleeps after its first scan.
    let hold = fake.hold_sleep();
    let r = std::thread::scope(|scope| {
        let watch = scope.spawn(|| run(&fake, &opts, None));
        assert!(hold.wait_reached(Duration::from_secs(10)));
        fake.exit(1000, 0);
        hold.release();
        watch.join().unwrap()
    });
    r.result.as_ref().unwrap();
    let lines: Vec<Value> = r
        .out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let got: Vec<&str> = lines.iter().map(|v| v["id"].as_str().unwrap()).collect();
    assert!(got.starts_with(&["pg-600", "pg-700"]), "{got:?}");
    assert_eq!(
        got.iter().filter(|i| **i == "pg-1000").count(),
        1,
        "{got:?}"
    );
    assert_eq!(got.len(), 3);
    // --metrics serves the last scan's groups and their RSS.
    let rss_kb: u64 = lines.iter().map(|v| v["rss_kb"].as_u64().unwrap()).sum();
    let served = state.snapshot().orphans.expect("orphan figures published");
    assert_eq!(served.groups, 3);
    assert_eq!(served.memory_bytes, Some(rss_kb * 1024));
}

#[test]
fn watch_ends_within_a_second_of_its_reader_going_away_even_at_an_hour() {
    let fake = machine();
    fake.ticks_only();
    let mut opts = Options {
        watch: Some(Duration::from_secs(3600)),
        ..options(Output::Json)
    };
    opts.scan.older_than = Duration::ZERO;
    // The reader leaves 2.5 s (fake time) into the first hour's wait.
    let start = fake.host().now();
    let clock = fake.clone();
    let gone = move || clock.host().now().duration_since(start) >= Duration::from_millis(2500);
    let r = run_until(&fake, &opts, None, &gone);
    r.result.as_ref().unwrap();
    assert_eq!(
        r.out.lines().count(),
        2,
        "the first scan's groups: {}",
        r.out
    );
    let slept: Duration = fake.sleeps().iter().sum();
    assert_eq!(slept, Duration::from_secs(3), "{:?}", fake.sleeps());
    assert!(fake.sleeps().iter().all(|s| *s <= Duration::from_secs(1)));
}

#[test]
fn the_text_snapshot_is_a_tick_log_with_the_evidence() {
    let fake = machine();
    let r = run(&fake, &options(Output::Text), None);
    r.result.as_ref().unwrap();
    // One snapshot per group: split at the headers and parse each.
    let parts: Vec<String> = r
        .out
        .split("# leaktop-ticklog v1\n")
        .filter(|p| !p.is_empty())
        .map(|p| format!("# leaktop-ticklog v1\n{p}"))
        .collect();
    assert_eq!(parts.len(), 2);
    let rec = Format::Text.parse(&parts[1]).unwrap();
    assert_eq!(rec.header.root_pid, 701, "the oldest member is the root");
    assert_eq!(rec.ticks[0].processes.len(), 2);
    assert!(
        parts[1].contains("evidence: orphan group pg-700: its process group 700's leader is gone"),
        "{}",
        parts[1]
    );
}

#[test]
fn idle_time_is_shown_where_the_host_knows_it_and_unknown_elsewhere() {
    let fake = FakeHost::new(ME);
    fake.add(Proc::new(500, 1, "bash").group(500, 500));
    fake.add(
        Proc::new(601, 1, "worker")
            .group(600, 600)
            .last_ran(Duration::from_secs(10)),
    );
    fake.add(Proc::new(602, 601, "worker").group(600, 600));
    fake.advance(Duration::from_secs(3 * 3600 + 10));
    // Started 60 s ago (the fake counts start times from 1,000,000 at 100 a second),
    // with a last run the host dates before that: capped at its age.
    let now_start = 1_000_000 + (3 * 3600 + 10) * 100;
    fake.add(
        Proc::new(603, 601, "worker")
            .group(600, 600)
            .start(now_start - 60 * 100)
            .last_ran(Duration::ZERO),
    );
    let r = run(&fake, &options(Output::Json), None);
    r.result.as_ref().unwrap();
    let procs = &json(&r)["groups"][0]["processes"];
    assert_eq!(procs[0]["idle_ms"], 3 * 3600 * 1000, "{procs}");
    assert!(
        procs[1]["idle_ms"].is_null(),
        "unknown is null, not 0: {procs}"
    );
    assert_eq!(procs[2]["pid"], 603);
    assert_eq!(procs[2]["age_ms"], 60_000);
    assert_eq!(
        procs[2]["idle_ms"], procs[2]["age_ms"],
        "never longer than it lived"
    );

    let r = run(&fake, &options(Output::Table(Width::Cut(120))), None);
    let header = r.out.lines().find(|l| l.contains("COMMAND")).unwrap();
    assert!(header.contains("IDLE"), "{}", r.out);
    let row = |pid: &str| {
        r.out
            .lines()
            .find(|l| l.split_whitespace().next() == Some(pid))
            .unwrap()
            .to_string()
    };
    assert!(row("601").contains(" 3h00m "), "{}", r.out);
    assert!(row("602").contains(" ? "), "{}", r.out);
}
