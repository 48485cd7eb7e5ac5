//! `leaktop run` played on the fake host, with and without a subreaper. The test moves
//! the fake clock from one of `run`'s ticks to the next ([`FakeHost::wake_next`]), so
//! it knows what each tick can have seen.
//!
//! - Without one (macOS; the fake's `become_subreaper` says `Ok(false)` unless told
//!   otherwise), CMD's orphan goes to init, and is reported leaked only if a tick saw
//!   it in CMD's family first: one made and orphaned between two ticks is not seen.
//! - As the subreaper (Linux), leaktop adopts the orphan, however fast, and reports it.

use crate::fakes;

use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use fakes::host::{FakeHost, Proc};
use leaktop::actions::run::{RunOptions, RunOutcome, run_on};
use leaktop::model::AlertConfig;
use leaktop::sample::Backend;

const ME: u32 = 500;
const LIMIT: Duration = Duration::from_secs(10);
const INTERVAL: Duration = Duration::from_millis(10);

/// `run --check -- make`, ticking every 10 ms, deciding 50 ms after CMD exits.
fn options() -> RunOptions {
    RunOptions {
        command: vec!["make".into()],
        interval: INTERVAL,
        settle: Duration::from_millis(50),
        check: true,
        kill_leaks: false,
        quiet: false,
        grace: Duration::from_secs(1),
        record: None,
        format: None,
        backend: Backend::Procfs,
        width: leaktop::format::Width::Whole,
        tui: None,
        alerts: AlertConfig::default(),
        fail_on: Vec::new(),
        fail_after: Duration::ZERO,
        leak_grace: Duration::from_millis(20),
        allowed: Vec::new(),
        metrics: None,
        summarize: false,
    }
}

/// [`options`] run on `fake`, on a thread of its own.
fn start(fake: &FakeHost) -> JoinHandle<RunOutcome> {
    let host = fake.host();
    thread::spawn(move || run_on(host, &options()).expect("run"))
}

/// A machine with an sshd, and leaktop at [`ME`].
fn machine() -> FakeHost {
    let fake = FakeHost::new(ME);
    fake.ticks_only();
    fake.add(Proc::new(400, 1, "sshd"));
    fake
}

/// CMD's pid, once `run` has started it and is waiting for its second tick.
fn cmd_started(fake: &FakeHost) -> u32 {
    let begun = Instant::now();
    loop {
        let started = fake
            .processes()
            .into_iter()
            .find(|p| p.ppid == ME && p.comm == "make");
        if let Some(p) = started
            && fake.waiting().iter().any(Option::is_some)
        {
            return p.pid;
        }
        assert!(begun.elapsed() < LIMIT, "CMD never started");
        thread::sleep(Duration::from_millis(1));
    }
}

/// Moves the clock from tick to tick until the run has ended; its outcome.
fn finish(fake: &FakeHost, run: JoinHandle<RunOutcome>) -> RunOutcome {
    let begun = Instant::now();
    while !run.is_finished() {
        assert!(
            begun.elapsed() < LIMIT,
            "the run did not end: {:?}",
            fake.log()
        );
        fake.wake_next(Duration::from_millis(10));
    }
    run.join().expect("the run panicked")
}

#[test]
fn without_a_subreaper_an_orphan_seen_in_the_family_is_reported_leaked() {
    let fake = machine();
    let run = start(&fake);
    let cmd = cmd_started(&fake);
    let worker = fake.fork(cmd);
    // Twenty ticks, 10 ms apart, see the worker as CMD's child before CMD exits.
    for _ in 0..20 {
        fake.wake_next(LIMIT).expect("run waits for its next tick");
    }
    fake.exit(cmd, 0);
    let outcome = finish(&fake, run);
    let orphan = fake.get(worker).expect("the worker lives on");
    assert_eq!(orphan.ppid, 1, "no subreaper: the orphan went to init");
    assert_eq!(outcome.cmd_code, 0);
    assert_eq!(outcome.leaked, 1);
    assert!(outcome.fails_check, "--check fails on the leak (exit 3)");
}

#[test]
fn without_a_subreaper_an_orphan_made_between_two_ticks_is_not_seen() {
    let fake = machine();
    let run = start(&fake);
    let cmd = cmd_started(&fake);
    // Forked and orphaned between the first tick and the second: to init, unseen.
    let worker = fake.fork(cmd);
    fake.exit(cmd, 0);
    let outcome = finish(&fake, run);
    assert_eq!(fake.get(worker).expect("the worker lives on").ppid, 1);
    assert_eq!(outcome.leaked, 0, "{:?}", outcome.leaked_rows);
    assert!(
        !outcome.fails_check && outcome.cmd_code == 0,
        "CMD's own code (0): nothing was seen to leak"
    );
}

#[test]
fn as_the_subreaper_an_orphan_made_between_two_ticks_is_adopted_and_reported() {
    let fake = machine();
    fake.support_subreaper(Ok(true));
    let run = start(&fake);
    let cmd = cmd_started(&fake);
    // The same orphan, made between two ticks: leaktop adopts it.
    let worker = fake.fork(cmd);
    fake.exit(cmd, 0);
    assert_eq!(
        fake.get(worker).unwrap().ppid,
        ME,
        "the subreaper adopted the orphan"
    );
    let outcome = finish(&fake, run);
    assert_eq!(outcome.cmd_code, 0);
    assert_eq!(outcome.leaked, 1);
    let leaked: Vec<u32> = outcome.leaked_rows.iter().map(|r| r.pid).collect();
    assert_eq!(leaked, [worker]);
    assert!(outcome.hidden.is_empty());
    assert!(outcome.fails_check, "--check fails on the leak (exit 3)");
    assert!(
        fake.alive(worker),
        "without --kill-leaks it is left running"
    );
}

#[test]
fn a_subreaper_the_kernel_refuses_fails_the_run_before_cmd_starts() {
    let fake = machine();
    fake.support_subreaper(Err(std::io::ErrorKind::PermissionDenied));
    let err = run_on(fake.host(), &options())
        .err()
        .expect("the run fails");
    assert!(
        err.to_string()
            .starts_with("cannot become a child subreaper:"),
        "{err}"
    );
    assert!(fake.spawns().is_empty(), "CMD never started");
}
