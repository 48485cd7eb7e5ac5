//! The safe kill against real processes.

#![cfg(target_os = "linux")]

use crate::common;

use std::time::Duration;

use common::{Tag, alive, children_of, wait_until};
use leaktop::actions::kill::{Target, kill_trees};
use leaktop::host::real as host;
use leaktop::sample::{Sampler, procfs::ProcfsSampler};
use rustix::process::Signal;

fn target(pid: u32) -> Target {
    let s = ProcfsSampler::new().probe(pid).expect("process exists");
    Target {
        id: s.id(),
        rss_kb: s.rss_kb,
        pss_kb: None,
        uss_kb: None,
    }
}

#[test]
fn kills_the_whole_tree_including_children_it_was_not_told_about_and_spares_a_decoy() {
    let tag = Tag::new();
    // A parent with three sleeping children; the kill is given only the parent.
    let mut tree = tag
        .command("sh")
        .args(["-c", "sleep 300 & sleep 300 & sleep 300 & wait"])
        .spawn()
        .unwrap();
    let mut decoy = tag.command("sleep").arg("300").spawn().unwrap();
    assert!(wait_until(common::PATIENCE, || children_of(tree.id())
        .len()
        == 3));
    let kids = children_of(tree.id());

    let report = kill_trees(
        host().as_ref(),
        &[target(tree.id())],
        Signal::TERM,
        Duration::from_secs(2),
        true,
    );
    let _ = tree.wait();
    assert_eq!(report.ended.len(), 4, "{report:?}");
    assert!(report.survived.is_empty(), "{report:?}");
    for kid in kids {
        assert!(
            wait_until(common::PATIENCE, || !alive(kid)),
            "child {kid} survived"
        );
    }
    assert!(
        alive(decoy.id()),
        "the same-named process outside the family survives"
    );
    let _ = decoy.kill();
    let _ = decoy.wait();
}

#[test]
fn a_process_that_ignores_term_gets_kill_after_the_grace() {
    let tag = Tag::new();
    let mut stubborn = tag
        .command("sh")
        .args([
            "-c",
            "trap '' TERM; echo ready; while :; do sleep 0.05; done",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(stubborn.stdout.as_mut().unwrap()),
        &mut line,
    )
    .unwrap();
    let no_escalation = kill_trees(
        host().as_ref(),
        &[target(stubborn.id())],
        Signal::TERM,
        Duration::from_millis(300),
        false,
    );
    // The shell survives, and so may the `sleep` it has running (which inherits the
    // ignored TERM); the ones that ended meanwhile were followed and counted.
    assert!(
        no_escalation
            .survived
            .iter()
            .any(|id| id.pid == stubborn.id()),
        "TERM is ignored: {no_escalation:?}"
    );
    let report = kill_trees(
        host().as_ref(),
        &[target(stubborn.id())],
        Signal::TERM,
        Duration::from_millis(300),
        true,
    );
    let _ = stubborn.wait();
    assert!(report.survived.is_empty(), "{report:?}");
}

#[test]
fn never_signals_its_own_ancestors_or_a_reused_identity() {
    let me = ProcfsSampler::new().probe(std::process::id()).unwrap();
    let parent = target(me.ppid);
    let report = kill_trees(
        host().as_ref(),
        &[parent, target(1)],
        Signal::TERM,
        Duration::from_millis(100),
        false,
    );
    assert!(report.ended.is_empty());
    assert_eq!(report.skipped.len(), 2, "{report:?}");
    assert!(
        report
            .skipped
            .iter()
            .all(|(_, why)| why.starts_with("protected"))
    );

    let tag = Tag::new();
    let mut victim = tag.command("sleep").arg("300").spawn().unwrap();
    let mut stale = target(victim.id());
    stale.id.start += 1; // what a reused pid looks like: same pid, another start time
    let report = kill_trees(
        host().as_ref(),
        &[stale],
        Signal::KILL,
        Duration::from_millis(100),
        false,
    );
    assert!(report.skipped[0].1.contains("pid reused"), "{report:?}");
    assert!(
        alive(victim.id()),
        "a process whose identity changed is never signalled"
    );
    let _ = victim.kill();
    let _ = victim.wait();
}
