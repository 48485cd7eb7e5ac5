//! `leaktop orphans`: the classification of a synthetic machine (2,000 processes,
//! 200 of them orphan candidates in 20 dead jobs), and a real scan of this machine
//! (every process, facts of the candidates, no PSS).
//!
//! Run with `cargo bench --bench orphans`. Target: under 50 ms for the
//! classification of 2,000 processes.

use divan::Bencher;
use leaktop::actions::orphans::{ScanOptions, Scanner};
use leaktop::model::orphans::{Context, Lookup, ProcFacts, StdioKind, classify};
use leaktop::sample::{Comm, Command, Identity, ProcSample};

fn main() {
    divan::main();
}

const PROCESSES: u32 = 2000;
const CANDIDATES: u32 = 200;

/// Init, 20 live shells with 80 children each (1,600 healthy processes), and 20 dead
/// jobs that each left 10 adopted processes with 9 workers under the first
/// (200 candidates; 2,000 processes in all with init and the shells).
fn machine() -> Vec<ProcSample> {
    let mut out = Vec::with_capacity(PROCESSES as usize);
    let p = |pid: u32, ppid: u32, pgrp: u32, session: u32| ProcSample {
        pid,
        ppid,
        state: b'S',
        rss_kb: 10_000 + u64::from(pid % 97) * 100,
        pgrp,
        session,
        start: u64::from(pid),
        cpu_ms: 0,
        comm: Comm::new(b"python3"),
    };
    out.push(p(1, 0, 1, 1));
    for shell in 0..20u32 {
        let sid = 1000 + shell * 100;
        out.push(p(sid, 1, sid, sid));
        for k in 1..80u32 {
            out.push(p(sid + k, sid, sid + k, sid));
        }
    }
    let jobs = CANDIDATES / 10;
    for job in 0..jobs {
        let pgid = 10_000 + job * 100;
        // Half the jobs' shells are gone too.
        let sid = if job % 2 == 0 {
            1000 + job * 100
        } else {
            9000 + job
        };
        for k in 1..=10u32 {
            out.push(p(pgid + k, 1, pgid, sid));
        }
    }
    // Fill up to 2,000 with workers under the first adopted process of each job.
    let mut n = 0;
    while out.len() < PROCESSES as usize {
        let job = n % jobs;
        let pgid = 10_000 + job * 100;
        out.push(p(pgid + 20 + n / jobs, pgid + 1, pgid, 1000 + job * 100));
        n += 1;
    }
    out
}

struct Synthetic;

impl Lookup for Synthetic {
    fn command(&mut self, id: Identity) -> Option<Command> {
        Some(Command {
            name: "python3".into(),
            cmd: format!("python3 -m worker --shard {}", id.pid),
        })
    }
    fn facts(&mut self, _id: Identity) -> Option<ProcFacts> {
        Some(ProcFacts {
            tty_nr: Some(0),
            stdio: Some([StdioKind::Pipe; 3]),
            cgroup: Some("/user.slice/user-1000.slice/session-1.scope".into()),
            run_marker: Some(String::new()),
            uid: Some(1000),
            exiting: false,
            denied: false,
        })
    }
    fn service_main_pid(&mut self, _unit: &str) -> Option<u32> {
        None
    }
}

#[divan::bench]
fn classify_2000_processes_200_candidates(bencher: Bencher) {
    let scan = machine();
    let ctx = Context {
        now_start: 1_000_000,
        per_sec: 100,
        older_than: 200,
        ..Context::default()
    };
    let got = classify(&scan, &ctx, &mut Synthetic);
    assert_eq!(got.groups.len(), (CANDIDATES / 10) as usize);
    assert_eq!(scan.len(), PROCESSES as usize);
    bencher.bench_local(|| classify(divan::black_box(&scan), &ctx, &mut Synthetic));
}

/// The whole one-shot scan of this machine as `leaktop orphans` does it, PSS aside.
#[divan::bench(sample_count = 20)]
fn real_scan_of_this_machine(bencher: Bencher) {
    let mut scanner = Scanner::new(leaktop::host::real()).unwrap();
    let opts = ScanOptions {
        older_than: std::time::Duration::from_secs(2),
        all: false,
        measure: false,
        ..ScanOptions::default()
    };
    bencher.bench_local(|| scanner.scan(&opts));
}
