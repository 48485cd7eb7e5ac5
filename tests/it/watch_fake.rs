//! `leaktop watch` on the fake host: orphanings from the connector's events, from
//! pidfds and from scans alone; the journal read back by a restarted watcher and by
//! `orphans`; `[[ignore]]` rules; kill policies that wait their duration, end only
//! strong groups they name, never a weak, ignored or unnamed one, nor a pid reused
//! during the kill; `--dry-run`. In fake time: minutes in milliseconds.

use crate::fakes;
use crate::orphans_fake::{self, machine};

use std::path::Path;
use std::time::Duration;

use fakes::host::{FakeHost, Proc};
use leaktop::actions::known::Known;
use leaktop::actions::orphans::Output;
use leaktop::actions::watch::{Io, Options, run_on};
use leaktop::format::Width;
use leaktop::host::{Exit, Signal};
use leaktop::model::allow::AllowRule;
use leaktop::model::watch::policy::{Action, KillWith, Policy};
use leaktop::model::watch::record::{FateKind, Record};
use leaktop::sample::events::{EventRequest, NoEvents, Source};
use serde_json::Value;

const SEC: Duration = Duration::from_secs(1);

fn options(journal: &Path) -> Options {
    Options {
        journal: journal.to_path_buf(),
        journal_max: 1 << 20,
        interval: SEC,
        older_than: 2 * SEC,
        policies: Vec::new(),
        allowed: Vec::new(),
        config: None,
        dry_run: false,
        metrics: None,
        textfile: None,
        quiet: false,
        request: EventRequest::default(),
    }
}

/// Runs the watcher until the fake clock reads `until` (from the host's start); its
/// records (standard output, parsed) and what it said on stderr.
fn watch_until(fake: &FakeHost, opts: &Options, until: Duration) -> (Vec<Record>, String) {
    let mut out = String::new();
    let mut said = String::new();
    let stop = || (fake.elapsed() >= until).then(|| "the test's end".to_string());
    {
        let mut write = |s: &str| {
            out.push_str(s);
            Ok(())
        };
        let mut say = |s: &str| said.push_str(s);
        let mut io = Io {
            out: &mut write,
            say: &mut say,
            stop: &stop,
        };
        run_on(fake.host(), opts, &mut io).unwrap();
    }
    let records = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    (records, said)
}

fn orphanings(records: &[Record]) -> Vec<&leaktop::model::watch::record::Orphaning> {
    records
        .iter()
        .filter_map(|r| match r {
            Record::Orphaned(o) => Some(o),
            _ => None,
        })
        .collect()
}

/// A process of the fake's table: pid, parent, name, (group, session), command line.
fn proc(pid: u32, ppid: u32, comm: &str, (pgrp, sid): (u32, u32), cmd: &str) -> Proc {
    Proc::new(pid, ppid, comm).group(pgrp, sid).cmd(cmd)
}

/// A job (300, its own group in the live shell 500's session) with a tracker (301)
/// and a forkserver (302) whose worker (303) holds 200 MiB.
fn job(fake: &FakeHost) {
    fake.add(Proc::new(500, 1, "bash").group(500, 500));
    fake.add(proc(
        300,
        500,
        "python3",
        (300, 500),
        "python3 serve.py --port 8080",
    ));
    fake.add(proc(
        301,
        300,
        "python3",
        (300, 500),
        "python3 -c from multiprocessing.resource_tracker import main",
    ));
    fake.add(proc(
        302,
        300,
        "python3",
        (300, 500),
        "python3 -c from multiprocessing.forkserver import main",
    ));
    fake.add(
        Proc::new(303, 302, "python3")
            .group(300, 500)
            .rss_mb(200)
            .mem_mb(150, 140, 0)
            .cmd("python3 -c from multiprocessing.forkserver import main"),
    );
}

#[test]
fn a_killed_job_is_recorded_with_what_died_how_and_what_it_left() {
    let fake = FakeHost::new(50);
    job(&fake);
    fake.end_after(300, 5 * SEC, Exit::Signaled(9));
    let dir = tempfile::tempdir().unwrap();
    let (records, said) = watch_until(&fake, &options(dir.path()), 10 * SEC);
    assert!(said.contains("with connector events"), "{said}");
    let Record::Start(start) = &records[0] else {
        panic!("{records:?}")
    };
    assert_eq!(
        (start.source.as_str(), start.scope.as_str()),
        ("connector", "uid:1000")
    );
    let o = orphanings(&records);
    assert_eq!(o.len(), 1, "{records:?}");
    let o = o[0];
    assert!(o.exact);
    assert_eq!(o.died.pid, 300);
    assert_eq!(o.died.cmd.as_deref(), Some("python3 serve.py --port 8080"));
    assert_eq!(o.died.how.unwrap().signal, Some(9));
    let left: Vec<(u32, bool, u32)> = o
        .left
        .iter()
        .map(|l| (l.pid, l.adopted, l.ppid_was))
        .collect();
    assert_eq!(
        left,
        [(301, true, 300), (302, true, 300), (303, false, 302)]
    );
    assert!(o.left.iter().all(|l| l.pgid == 300 && l.sid == 500));
    assert_eq!(o.left[2].pss_kb, Some(150 * 1024));
    assert_eq!(
        o.left[2].cmd.as_deref(),
        Some("python3 -c from multiprocessing.forkserver import main")
    );
    // The journal holds the same records.
    let mut journaled = Vec::new();
    leaktop::format::journal::read(dir.path(), &mut |r| journaled.push(r), &mut |w| {
        panic!("{w}")
    });
    assert_eq!(journaled, records);
    assert!(matches!(records.last(), Some(Record::Stop(_))));
}

#[test]
fn the_story_makes_the_group_strong_and_first_in_orphans() {
    let fake = FakeHost::new(50);
    job(&fake);
    // A bigger group without a story, listed first by memory alone.
    fake.add(
        Proc::new(700, 500, "node")
            .group(700, 500)
            .rss_mb(900)
            .cmd("node big.js"),
    );
    fake.add(
        Proc::new(701, 1, "node")
            .group(700, 500)
            .rss_mb(900)
            .cmd("node big.js --child"),
    );
    fake.exit(700, 0);
    fake.end_after(300, 5 * SEC, Exit::Signaled(9));
    let dir = tempfile::tempdir().unwrap();
    watch_until(&fake, &options(dir.path()), 10 * SEC);
    let opts = leaktop::actions::orphans::Options {
        known: Known {
            journals: vec![dir.path().to_path_buf()],
            ..Known::default()
        },
        ..orphans_fake::options(Output::Json)
    };
    let r = orphans_fake::run(&fake, &opts, None);
    r.result.as_ref().unwrap();
    let v: Value = serde_json::from_str(&r.out).unwrap();
    let ids: Vec<&str> = v["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["pg-300", "pg-700"], "{v}");
    let g = &v["groups"][0];
    assert_eq!(g["strength"], "strong");
    assert_eq!(g["evidence"][0]["kind"], "watched");
    let text = g["evidence"][0]["text"].as_str().unwrap();
    assert!(
        text.starts_with(
            "orphaned 5s ago when `python3 serve.py --port 8080` (pid 300) was killed by SIGKILL; left 3 processes behind, "
        ),
        "{text}"
    );
    assert_eq!(g["story"]["died_pid"], 300);
    assert_eq!(g["story"]["how"]["signal"], 9);
    assert_eq!(v["groups"][1]["strength"], "weak", "{v}");
    assert_eq!(v["watcher"]["pid"], 50, "{v}");
    // The table says it too, first.
    let table = orphans_fake::run(
        &fake,
        &leaktop::actions::orphans::Options {
            output: Output::Table(Width::Cut(160)),
            ..opts
        },
        None,
    );
    let first_group = table.out.split("\n\n").next().unwrap();
    assert!(first_group.starts_with("pg-300  STRONG"), "{}", table.out);
    assert!(
        first_group.contains("\n  + orphaned 5s ago when `python3 serve.py"),
        "{}",
        table.out
    );
    assert!(table.said.contains("watcher"), "{}", table.said);
}

#[test]
fn a_restarted_watcher_resumes_the_fates_of_what_was_left() {
    let fake = FakeHost::new(50);
    job(&fake);
    fake.end_after(300, 2 * SEC, Exit::Code(1));
    let dir = tempfile::tempdir().unwrap();
    let (first, _) = watch_until(&fake, &options(dir.path()), 4 * SEC);
    assert_eq!(orphanings(&first).len(), 1);
    // While no watcher runs, the tracker exits; once one runs again, the worker is
    // killed by someone.
    fake.exit(301, 0);
    fake.end_after(303, 3 * SEC, Exit::Signaled(15));
    let (second, _) = watch_until(&fake, &options(dir.path()), 10 * SEC);
    let Record::Start(start) = &second[0] else {
        panic!()
    };
    assert_eq!(start.resumed, 2, "302 and 303 still live: {start:?}");
    // Orphaned at 2 s, killed at 7 s.
    let fates: Vec<(u32, FateKind, Option<u8>, u64)> = second
        .iter()
        .filter_map(|r| match r {
            Record::Fate(f) => Some((f.pid, f.fate, f.how.and_then(|h| h.signal), f.after_ms())),
            _ => None,
        })
        .collect();
    assert_eq!(
        fates,
        [(303, FateKind::Signaled, Some(15), 5000)],
        "{second:?}"
    );
    assert!(
        orphanings(&second).is_empty(),
        "nothing recorded twice: {second:?}"
    );
}

#[test]
fn without_the_connector_pidfds_see_the_exit_and_scans_see_the_rest() {
    for (source, exact, how_known) in [(Source::Pidfd, true, false), (Source::Ticks, false, false)]
    {
        let fake = FakeHost::new(50);
        fake.set_events(source, Some(NoEvents::NotPermitted));
        job(&fake);
        fake.end_after(300, 5 * SEC, Exit::Signaled(9));
        let dir = tempfile::tempdir().unwrap();
        let (records, said) = watch_until(&fake, &options(dir.path()), 10 * SEC);
        assert!(said.contains("no connector: not permitted"), "{said}");
        let o = orphanings(&records);
        assert_eq!(o.len(), 1, "{source:?}: {records:?}");
        assert_eq!(o[0].exact, exact, "{source:?}");
        assert_eq!(o[0].died.how.is_some(), how_known, "{source:?}");
        assert_eq!(
            o[0].died.cmd.as_deref(),
            Some("python3 serve.py --port 8080")
        );
        let pids: Vec<u32> = o[0].left.iter().map(|l| l.pid).collect();
        assert_eq!(pids, [301, 302, 303], "{source:?}");
        if !exact {
            assert!(o[0].since_ms.is_some_and(|s| s < o[0].time_ms));
        }
    }
}

/// The machine of `orphans_fake` (a weak pool pg-600 under the live shell, a strong
/// MCP server pg-700), with a weak MCP server (pg-800: its shell lives), a strong one
/// an `[[ignore]]` rule names (pg-900), and a strong group no policy names (pg-1000).
fn policy_machine() -> FakeHost {
    let fake = machine();
    fake.add(proc(
        801,
        1,
        "node",
        (800, 500),
        "node mcp-server.js --weak",
    ));
    fake.add(proc(
        901,
        1,
        "node",
        (900, 890),
        "node mcp-server.js keep-me",
    ));
    fake.add(proc(1001, 1, "python3", (1000, 990), "python3 other.py"));
    fake
}

fn kill_policy(after: Duration) -> Policy {
    Policy {
        name: "mcp".into(),
        rule: AllowRule::command("mcp-server"),
        action: Action::Kill {
            signal: KillWith::Term,
            grace_ms: 1000,
        },
        after_ms: after.as_millis() as u64,
    }
}

fn policy_options(dir: &Path) -> Options {
    Options {
        policies: vec![kill_policy(30 * SEC)],
        allowed: vec![AllowRule::command("keep-me")],
        ..options(dir)
    }
}

fn policy_records(records: &[Record]) -> Vec<(String, String)> {
    records
        .iter()
        .filter_map(|r| match r {
            Record::Policy(p) => Some((p.group.clone(), p.outcome.clone())),
            _ => None,
        })
        .collect()
}

#[test]
fn a_kill_policy_waits_its_duration_then_ends_only_the_strong_group_it_names() {
    let fake = policy_machine();
    let dir = tempfile::tempdir().unwrap();
    let opts = policy_options(dir.path());
    let (early, _) = watch_until(&fake, &opts, 20 * SEC);
    assert!(fake.signals().is_empty(), "{:?}", fake.signals());
    assert!(policy_records(&early).is_empty(), "{early:?}");
    let (late, _) = watch_until(&fake, &opts, 60 * SEC);
    let mut done = policy_records(&late);
    done.sort();
    assert_eq!(done.len(), 2, "{done:?}");
    assert_eq!(done[0].0, "pg-700");
    assert!(
        done[0].1.starts_with("ended 2 of 2 processes with SIGTERM"),
        "{done:?}"
    );
    assert_eq!(done[1].0, "pg-800");
    assert!(
        done[1].1.starts_with("not ended: weak evidence"),
        "{done:?}"
    );
    for pid in [701, 702] {
        assert!(fake.signals_to(pid).contains(&Signal::TERM), "{pid}");
        assert!(!fake.alive(pid));
    }
    for pid in [601, 602, 603, 801, 901, 1001] {
        assert!(
            fake.signals_to(pid).is_empty(),
            "{pid}: {:?}",
            fake.signals_to(pid)
        );
        assert!(fake.alive(pid));
    }
}

#[test]
fn dry_run_says_what_a_kill_policy_would_do_and_does_nothing() {
    let fake = policy_machine();
    let dir = tempfile::tempdir().unwrap();
    let opts = Options {
        dry_run: true,
        ..policy_options(dir.path())
    };
    let (records, _) = watch_until(&fake, &opts, 40 * SEC);
    assert!(fake.signals().is_empty(), "{:?}", fake.signals());
    let done = policy_records(&records);
    assert!(
        done.contains(&(
            "pg-700".into(),
            "would end 2 processes (RSS 20 MiB) with SIGTERM, then SIGKILL after 1s".into()
        )),
        "{done:?}"
    );
}

#[test]
fn a_pid_reused_during_a_policy_kill_is_never_signalled() {
    let fake = policy_machine();
    let dir = tempfile::tempdir().unwrap();
    let opts = Options {
        policies: vec![kill_policy(Duration::ZERO)],
        ..policy_options(dir.path())
    };
    // The kill freezes 701 first; meanwhile 702 exits and an innocent process gets
    // its pid.
    let hold = fake.hold_signal(Signal::STOP);
    let watcher = {
        let fake = fake.clone();
        std::thread::spawn(move || watch_until(&fake, &opts, 10 * SEC))
    };
    assert!(
        hold.wait_reached(Duration::from_secs(30)),
        "the kill never began"
    );
    fake.exit(702, 0);
    let innocent = fake.add(Proc::new(702, 1, "innocent").start(999_999));
    hold.release();
    let (records, _) = watcher.join().unwrap();
    assert!(
        fake.attempts()
            .iter()
            .all(|(id, _, result)| *id != innocent || result.is_err()),
        "{:?}",
        fake.attempts()
    );
    assert!(
        fake.signals_to(702).iter().all(|s| *s == Signal::STOP),
        "{:?}",
        fake.signals_to(702)
    );
    assert!(fake.alive(702));
    assert!(!fake.alive(701));
    assert!(policy_records(&records).iter().any(|(g, _)| g == "pg-700"));
}

#[test]
fn an_ignore_rule_hides_an_intended_job_and_keeps_the_kill_off_it() {
    let fake = machine();
    // An [[ignore]] rule is an --allow rule from the file.
    let opts = leaktop::actions::orphans::Options {
        scan: leaktop::actions::orphans::ScanOptions {
            allowed: vec![AllowRule::command("mcp-server")],
            ..orphans_fake::options(Output::Json).scan
        },
        ..orphans_fake::options(Output::Json)
    };
    let r = orphans_fake::run(&fake, &opts, None);
    let v: Value = serde_json::from_str(&r.out).unwrap();
    let ids: Vec<&str> = v["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["pg-600"], "{v}");
    // Listed with --all, said to be allowed, weak: --kill leaves it unless named.
    let all = leaktop::actions::orphans::Options {
        scan: leaktop::actions::orphans::ScanOptions {
            all: true,
            ..opts.scan.clone()
        },
        kill: orphans_fake::kill(true),
        output: Output::Table(Width::Cut(160)),
        ..opts.clone()
    };
    let r = orphans_fake::run(&fake, &all, None);
    assert!(
        r.out
            .contains("meant to outlive its parent: allowed by command=mcp-server"),
        "{}",
        r.out
    );
    assert!(r.said.contains("(weak evidence)"), "{}", r.said);
    assert!(!r.out.contains("ended "), "{}", r.out);
    assert!(fake.signals_to(701).is_empty());
}

#[test]
fn the_textfile_counts_groups_and_orphanings_by_what_died_and_no_pids() {
    let fake = FakeHost::new(50);
    job(&fake);
    fake.end_after(300, 2 * SEC, Exit::Signaled(9));
    let dir = tempfile::tempdir().unwrap();
    let textfile = tempfile::tempdir().unwrap();
    let opts = Options {
        textfile: Some(textfile.path().to_path_buf()),
        ..options(dir.path())
    };
    watch_until(&fake, &opts, 6 * SEC);
    let names: Vec<String> = std::fs::read_dir(textfile.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        ["leaktop.prom"],
        "written whole, no temporary file left"
    );
    let text = std::fs::read_to_string(textfile.path().join("leaktop.prom")).unwrap();
    for line in [
        "leaktop_orphan_groups{origin=\"python3\"} 1",
        "leaktop_orphanings_total{origin=\"python3\"} 1",
        "leaktop_watch_source{source=\"connector\"} 1",
    ] {
        assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
    }
    assert!(
        !text.contains("pid=\"") && !text.contains("# EOF"),
        "{text}"
    );
}
