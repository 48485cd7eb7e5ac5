//! `leaktop run` where the platform has no subreaper (macOS), played on the fake host,
//! whose `become_subreaper` is the trait's default (`Ok(false)`): CMD's orphan goes to
//! init, and is still reported leaked because a tick saw it in CMD's family first.
//! This binary holds this one test: `run` installs signal handlers in its process.

use crate::fakes;

use std::time::{Duration, Instant};

use fakes::host::{FakeHost, Proc};
use leaktop::actions::run::{RunOptions, run_on};
use leaktop::model::AlertConfig;
use leaktop::sample::Backend;

#[test]
fn without_a_subreaper_an_orphan_seen_in_the_family_is_reported_leaked() {
    // A hung run must fail the test, not hang it.
    std::thread::spawn(|| {
        std::thread::sleep(Duration::from_secs(120));
        eprintln!("the run did not end within 120 s");
        std::process::abort();
    });
    let fake = FakeHost::new(500);
    fake.add(Proc::new(400, 1, "sshd"));
    // Every call leaktop makes moves the fake clock, so the leak grace passes.
    fake.set_call_cost(Duration::from_millis(5));
    let driver = std::thread::spawn({
        let fake = fake.clone();
        move || {
            let begun = Instant::now();
            let cmd = loop {
                let started = fake
                    .processes()
                    .into_iter()
                    .find(|p| p.ppid == 500 && p.comm == "make");
                if let Some(p) = started {
                    break p.pid;
                }
                assert!(
                    begun.elapsed() < Duration::from_secs(60),
                    "CMD never started"
                );
                std::thread::sleep(Duration::from_millis(5));
            };
            let worker = fake.fork(cmd);
            // Ticks see the worker as CMD's child before CMD exits: a few samples
            // taken after the fork, however slowly a busy machine runs them.
            let forked_at = fake.samples_taken();
            while fake.samples_taken() < forked_at + 3 {
                assert!(
                    begun.elapsed() < Duration::from_secs(60),
                    "the run stopped sampling"
                );
                std::thread::sleep(Duration::from_millis(5));
            }
            fake.exit(cmd, 0);
            worker
        }
    });
    let outcome = run_on(
        fake.host(),
        &RunOptions {
            command: vec!["make".into()],
            interval: Duration::from_millis(10),
            settle: Duration::from_millis(50),
            check: true,
            kill_leaks: false,
            grace: Duration::from_secs(1),
            record: None,
            format: None,
            backend: Backend::Procfs,
            tui: None,
            alerts: AlertConfig::default(),
            fail_on: Vec::new(),
            fail_after: Duration::ZERO,
            leak_grace: Duration::from_millis(20),
            metrics: None,
            summarize: false,
        },
    )
    .expect("run");
    let worker = driver.join().unwrap();
    let orphan = fake.get(worker).expect("the worker lives on");
    assert_eq!(orphan.ppid, 1, "no subreaper: the orphan went to init");
    assert_eq!(outcome.cmd_code, 0);
    assert_eq!(outcome.leaked, 1);
    assert!(outcome.fails_check, "--check fails on the leak (exit 3)");
}
