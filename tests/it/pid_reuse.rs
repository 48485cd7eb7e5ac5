//! Steering the kernel's pid allocator (`ns_last_pid`, root only) to hand a dead
//! member's pid to an outsider. Tests that steer it run one at a time: under a mutex
//! ([`common::steering_pids`]) here, in a test group of one thread under nextest.

use crate::common;

use std::time::Duration;

use common::{Family, Recorder, alive, wait_until};
use leaktop::format::{self, Recording};

fn read(path: &std::path::Path) -> Recording {
    format::read(path).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn unrelated_process_given_a_dead_members_pid_is_not_a_member() {
    let _allocator = common::steering_pids();
    if std::fs::write("/proc/sys/kernel/ns_last_pid", "300").is_err() {
        eprintln!("skipped: steering pid reuse needs root (ns_last_pid)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut tree = Family::spawn("sh", &["-c", "sleep 0.4 & echo $!; wait; sleep 30"]);
    let child: u32 = tree.read_line().parse().unwrap();
    let out = dir.path().join("reuse.ticklog");
    let rec = Recorder::start(tree.pid(), &out, &["--interval", "100ms"]);
    assert!(wait_until(common::PATIENCE, || !alive(child)));
    std::thread::sleep(Duration::from_millis(30));
    // Hand the dead child's pid to a process outside the family.
    let mut impostor = None;
    for _ in 0..50 {
        std::fs::write("/proc/sys/kernel/ns_last_pid", (child - 1).to_string()).unwrap();
        let mut c = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        if c.id() == child {
            impostor = Some(c);
            break;
        }
        let _ = c.kill();
        let _ = c.wait();
    }
    let mut impostor = impostor.expect("could not reuse the pid");
    let before = read(&out).ticks.len();
    rec.wait_ticks(before + 3);
    drop(rec);
    let _ = impostor.kill();
    let _ = impostor.wait();

    let recording = read(&out);
    let starts: std::collections::HashSet<u64> = recording
        .ticks
        .iter()
        .flat_map(|t| {
            t.processes
                .iter()
                .filter(|p| p.pid == child)
                .map(|p| p.start)
        })
        .collect();
    assert_eq!(
        starts.len(),
        1,
        "only the original child ever carried pid {child}: {starts:?}"
    );
    assert!(recording.ticks.iter().all(|t| t.leaked_count() == 0));
    let last = recording.ticks.last().unwrap();
    assert!(
        !last.processes.iter().any(|p| p.pid == child),
        "the impostor is not listed"
    );
}
