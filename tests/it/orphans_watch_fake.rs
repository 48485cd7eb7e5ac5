//! `orphans --watch` on the fake host's process events: a new group is found by the
//! scan its parent's exit starts and reported `--older-than` after it, not at the next
//! scan at the interval; without events it waits for those scans, as before.

use std::time::Duration;

use crate::fakes::host::{FakeHost, Proc};
use crate::orphans_fake::{machine, options, run_until};
use leaktop::actions::orphans::{Options, Output};
use leaktop::host::Exit;
use leaktop::sample::events::{NoEvents, Source};
use serde_json::Value;

const INTERVAL: Duration = Duration::from_secs(60);

/// Watches `fake` for `for_s` seconds of fake time at a 60 s interval, `--older-than
/// 2s`, while job 1000's parent exits 500 ms in, leaving its worker 1001; returns when
/// (ms since the start, on the fake clock) each group was reported, and what was said.
fn watch_an_exit(fake: &FakeHost, for_s: u64) -> (Vec<(String, u64)>, String) {
    fake.add(Proc::new(1000, 500, "python3").group(1000, 500));
    fake.add(Proc::new(1001, 1000, "python3").group(1000, 500));
    // A leaf's exit, which orphans nothing.
    fake.add(Proc::new(1100, 500, "ls").group(1100, 500));
    fake.end_after(1000, Duration::from_millis(500), Exit::Code(0));
    fake.end_after(1100, Duration::from_millis(200), Exit::Code(0));
    let opts = Options {
        watch: Some(INTERVAL),
        ..options(Output::Json)
    };
    let start = fake.host().now();
    let wall0 = leaktop::host::wall_ms(fake.host().as_ref());
    let clock = fake.clone();
    let gone = move || clock.host().now().duration_since(start) >= Duration::from_secs(for_s);
    let r = run_until(fake, &opts, None, &gone);
    r.result.as_ref().unwrap();
    let reported = r
        .out
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .map(|v| {
            let id = v["id"].as_str().unwrap().to_string();
            (id, v["time_ms"].as_u64().unwrap() - wall0)
        })
        .collect();
    (reported, r.said)
}

fn when(reported: &[(String, u64)], id: &str) -> Option<u64> {
    reported.iter().find(|(i, _)| i == id).map(|(_, at)| *at)
}

#[test]
fn a_new_group_is_reported_older_than_after_its_parent_exits_with_the_connector() {
    let fake = machine();
    let (reported, said) = watch_an_exit(&fake, 10);
    let at = when(&reported, "pg-1000").expect("pg-1000 reported");
    // Found by the scan the exit started (within one 1 s wait of it), reported once
    // it had lasted --older-than: long before the next scan at the 60 s interval.
    assert!(
        (2500..=3500).contains(&at),
        "reported at {at} ms: {reported:?}"
    );
    // The groups of the first scan are reported when they have lasted it, too.
    assert_eq!(when(&reported, "pg-600"), Some(2000), "{reported:?}");
    assert_eq!(reported.len(), 3, "each group once: {reported:?}");
    assert!(
        said.contains("as parents exit (connector events)"),
        "{said}"
    );
    // Scans: the first, the parent's exit (not the leaf's), the groups' --older-than
    // (pg-600 and pg-700 at 2 s, pg-1000 about a second later).
    assert_eq!(fake.scans(), 4, "{reported:?}");
}

#[test]
fn pidfds_on_the_parents_find_the_group_as_the_connector_does() {
    let fake = machine();
    fake.set_events(Source::Pidfd, Some(NoEvents::NotPermitted));
    let (reported, said) = watch_an_exit(&fake, 10);
    let at = when(&reported, "pg-1000").expect("pg-1000 reported");
    assert!(
        (2500..=3500).contains(&at),
        "reported at {at} ms: {reported:?}"
    );
    assert!(said.contains("(pidfd events)"), "{said}");
}

#[test]
fn without_events_a_group_waits_for_the_scans_at_the_interval() {
    let fake = machine();
    fake.ticks_only();
    let (reported, said) = watch_an_exit(&fake, 130);
    // First seen by the scan at 60 s, reported by the one at 120 s, once it had
    // lasted --older-than.
    assert_eq!(when(&reported, "pg-1000"), Some(120_000), "{reported:?}");
    assert!(said.contains("every 1m"), "{said}");
}

#[test]
fn orphans_too_young_at_their_parents_exit_are_looked_at_again() {
    // Only a shell and its job, whose worker is forked as the watch starts: at its
    // parent's exit 500 ms in, it is younger than --older-than, not a candidate yet,
    // and no other group's --older-than brings a scan.
    let fake = FakeHost::new(50);
    fake.add(Proc::new(500, 1, "bash").group(500, 500));
    fake.add(Proc::new(1000, 500, "python3").group(1000, 500));
    let worker = fake.fork(1000);
    fake.end_after(1000, Duration::from_millis(500), Exit::Code(0));
    let opts = Options {
        watch: Some(INTERVAL),
        ..options(Output::Json)
    };
    let start = fake.host().now();
    let clock = fake.clone();
    let gone = move || clock.host().now().duration_since(start) >= Duration::from_secs(10);
    let r = run_until(&fake, &opts, None, &gone);
    r.result.as_ref().unwrap();
    let found = r.out.lines().any(|l| l.contains("\"pg-1000\""));
    assert!(
        found,
        "worker {worker} not reported before the 60 s scan: {}",
        r.out
    );
}
