//! As the family's subreaper (`run`, `demo`), leaktop is the parent of every orphan
//! the family makes, and the kernel's list of its children makes each one a member
//! even where pid discovery missed it. This test makes itself a subreaper, so it
//! runs in a process of its own.

#![cfg(target_os = "linux")]

use crate::common;

use std::time::{Duration, Instant};

use common::{Reaped, Tag};
use leaktop::monitor::Monitor;
use leaktop::sample::procfs::ProcfsSampler;
use leaktop::sample::{Command, Identity, ProcSample, SampleError, Sampler};

/// A sampler whose discovery misses every new process: it reports members only.
struct MembersOnly(ProcfsSampler);

impl Sampler for MembersOnly {
    fn sample(
        &mut self,
        members: &[Identity],
        out: &mut Vec<ProcSample>,
    ) -> Result<(), SampleError> {
        self.0.sample(members, out)?;
        out.retain(|s| members.iter().any(|m| m.pid == s.pid));
        Ok(())
    }

    fn command(&mut self, id: Identity) -> Option<Command> {
        self.0.command(id)
    }

    fn probe(&mut self, pid: u32) -> Option<ProcSample> {
        self.0.probe(pid)
    }
}

/// Steps a monitor on `root` for up to two seconds; the escaped `sleep`, if it joined.
fn escapee_seen(root: u32, subreapers: Vec<u32>) -> Option<u32> {
    let sampler = Box::new(MembersOnly(ProcfsSampler::new()));
    let mut monitor = Monitor::attach_on(
        leaktop::host::real(),
        sampler,
        root,
        Duration::from_millis(50),
        subreapers,
    )
    .unwrap();
    let end = Instant::now() + Duration::from_secs(2);
    while Instant::now() < end {
        let tick = monitor.step().unwrap();
        if let Some(p) = tick
            .processes
            .iter()
            .find(|p| p.escaped && p.name == "sleep")
        {
            return Some(p.pid);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

#[test]
fn orphans_adopted_by_leaktop_join_the_family_even_where_discovery_misses_them() {
    // A subreaper adopts every concurrent test's orphans, and reap() takes any child.
    // Without the connector: its fork events would catch the escapee by themselves, and
    // this test is about what the subreaper's child list catches.
    common::isolated_under(
        &[],
        &[("LEAKTOP_NO_CONNECTOR", "1")],
        "adopted::orphans_adopted_by_leaktop_join_the_family_even_where_discovery_misses_them",
        orphans_adopted_by_leaktop_join_the_family_even_where_discovery_misses_them_alone,
    );
}

fn orphans_adopted_by_leaktop_join_the_family_even_where_discovery_misses_them_alone() {
    let me = std::process::id();
    rustix::process::set_child_subreaper(rustix::process::Pid::from_raw(me as i32)).unwrap();
    let tag = Tag::new();
    let start = || {
        Reaped(
            tag.command("sh")
                .args(["-c", "(setsid sleep 300 >/dev/null 2>&1 &); exec sleep 300"])
                .spawn()
                .unwrap(),
        )
    };

    let root = start();
    let caught = escapee_seen(root.id(), vec![me]);
    assert!(
        caught.is_some(),
        "the adopted escapee was not made a member"
    );
    assert_eq!(
        common::children_of(me)
            .into_iter()
            .filter(|&c| Some(c) == caught)
            .count(),
        1,
        "and it is this process's adopted child"
    );
    drop(root);

    // Without leaktop as the subreaper nothing stands in for the missed discovery.
    let root = start();
    assert_eq!(escapee_seen(root.id(), Vec::new()), None);
    drop(root);
    drop(tag);
    leaktop::host::real().reap();
}
