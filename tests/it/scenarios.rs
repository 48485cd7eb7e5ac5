//! The verdict scenarios of `tests/scenarios/`: each file drives the lineage tracker
//! with synthetic ticks and names the processes it must call leaked and escaped.
//! Precision and recall of the leak verdicts against each file's ground truth are
//! printed over the whole corpus (`cargo test --test scenarios -- --nocapture`).

use std::collections::BTreeSet;
use std::path::Path;

use leaktop::model::tracker::{At, Outside, Tracker};
use leaktop::sample::events::{Ended, ProcEvent, Task};
use leaktop::sample::{Comm, Command, Identity, ProcSample};

struct Scenario {
    root: ProcSample,
    ancestors: Vec<Identity>,
    subreapers: Vec<u32>,
    /// `--allow` patterns: processes meant to outlive their parent.
    allow: Vec<String>,
    ticks: Vec<Vec<ProcSample>>,
    /// The process events seen before each tick.
    events: Vec<Vec<ProcEvent>>,
    leaked: BTreeSet<u32>,
    escaped: BTreeSet<u32>,
    truth: BTreeSet<u32>,
}

fn nums(words: &[&str], line: &str) -> Vec<u64> {
    words
        .iter()
        .map(|w| {
            w.parse()
                .unwrap_or_else(|_| panic!("'{w}' is not a number in: {line}"))
        })
        .collect()
}

fn process(words: &[&str], line: &str) -> ProcSample {
    let n = nums(&words[..5], line);
    ProcSample {
        pid: n[0] as u32,
        ppid: n[1] as u32,
        start: n[2],
        pgrp: n[3] as u32,
        session: n[4] as u32,
        state: words.get(5).map_or(b'S', |s| s.as_bytes()[0]),
        rss_kb: 1024,
        cpu_ms: 0,
        comm: Comm::new(format!("p{}", n[0]).as_bytes()),
    }
}

fn parse(text: &str) -> Scenario {
    let mut s = Scenario {
        root: process(&["0", "0", "0", "0", "0"], ""),
        ancestors: Vec::new(),
        subreapers: Vec::new(),
        allow: Vec::new(),
        ticks: Vec::new(),
        events: Vec::new(),
        leaked: BTreeSet::new(),
        escaped: BTreeSet::new(),
        truth: BTreeSet::new(),
    };
    let mut pending = Vec::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        let words: Vec<&str> = line.split_whitespace().collect();
        let set = |from: usize| -> BTreeSet<u32> {
            nums(&words[from..], line)
                .into_iter()
                .map(|p| p as u32)
                .collect()
        };
        match words.as_slice() {
            [] => {}
            ["root", rest @ ..] => s.root = process(rest, line),
            ["ancestors", list @ ..] => {
                s.ancestors = list
                    .iter()
                    .map(|a| {
                        let (pid, start) = a.split_once(':').expect("ancestor PID:START");
                        Identity {
                            pid: pid.parse().unwrap(),
                            start: start.parse().unwrap(),
                        }
                    })
                    .collect()
            }
            ["subreapers", ..] => s.subreapers = set(1).into_iter().collect(),
            ["allow", patterns @ ..] => s.allow = patterns.iter().map(|p| p.to_string()).collect(),
            ["tick"] => {
                s.ticks.push(Vec::new());
                s.events.push(std::mem::take(&mut pending));
            }
            ["event", what @ ..] => pending.push(event(what, line)),
            ["expect", "leaked", ..] => s.leaked = set(2),
            ["expect", "escaped", ..] => s.escaped = set(2),
            ["truth", "leaked", ..] => s.truth = set(2),
            _ => s
                .ticks
                .last_mut()
                .expect("a process line before the first tick")
                .push(process(&words, line)),
        }
    }
    s
}

/// `fork PARENT CHILD`, `setsid PID`, `exit PID`, `lost [COUNT]`.
fn event(words: &[&str], line: &str) -> ProcEvent {
    let pid = |i: usize| nums(&words[i..=i], line)[0] as u32;
    match words {
        ["fork", _, _] => ProcEvent::Fork {
            parent: Task::process(pid(1)),
            child: Task::process(pid(2)),
        },
        ["setsid", _] => ProcEvent::Setsid {
            task: Task::process(pid(1)),
        },
        ["exit", _] => ProcEvent::Exit {
            task: Task::process(pid(1)),
            parent: None,
            how: Some(Ended::Code(0)),
        },
        ["lost"] => ProcEvent::Lost { count: None },
        ["lost", _] => ProcEvent::Lost {
            count: Some(u64::from(pid(1))),
        },
        _ => panic!("not an event: {line}"),
    }
}

fn describe(id: Identity) -> Option<Command> {
    Some(Command {
        name: format!("p{}", id.pid),
        cmd: format!("p{}", id.pid),
    })
}

/// The leaked and escaped pids after the last tick.
fn verdicts(s: &Scenario) -> (BTreeSet<u32>, BTreeSet<u32>) {
    let mut tracker = Tracker::new(
        s.root,
        describe(s.root.id()).unwrap(),
        Outside {
            root_parent: s.ticks[0].iter().find(|p| p.pid == s.root.ppid).copied(),
            root_ancestors: s.ancestors.clone(),
            subreapers: s.subreapers.clone(),
            watcher: None,
            watcher_ancestors: vec![],
        },
    );
    tracker.set_allowed(
        s.allow
            .iter()
            .map(|p| leaktop::model::allow::AllowRule::command(p))
            .collect(),
    );
    let mut last = None;
    for (samples, events) in s.ticks.iter().zip(&s.events) {
        for e in events {
            tracker.observe(At::default(), e);
        }
        tracker.update(samples, &mut describe);
        last = Some(tracker.snapshot(0, 0));
    }
    let tick = last.expect("a scenario has ticks");
    let leaked = tick
        .processes
        .iter()
        .filter(|p| p.leaked)
        .map(|p| p.pid)
        .collect();
    let escaped = tick
        .processes
        .iter()
        .filter(|p| p.escaped)
        .map(|p| p.pid)
        .collect();
    (leaked, escaped)
}

#[test]
fn every_scenario_gets_its_verdicts() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "scn"))
        .collect();
    files.sort();
    assert!(files.len() >= 12, "the corpus is in {}", dir.display());
    let (mut tp, mut fp, mut fneg) = (0usize, 0usize, 0usize);
    let mut wrong = Vec::new();
    for file in &files {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let s = parse(&std::fs::read_to_string(file).unwrap());
        let (leaked, escaped) = verdicts(&s);
        if leaked != s.leaked || escaped != s.escaped {
            wrong.push(format!(
                "{name}: leaked {leaked:?} (expected {:?}), escaped {escaped:?} (expected {:?})",
                s.leaked, s.escaped
            ));
        }
        tp += leaked.intersection(&s.truth).count();
        fp += leaked.difference(&s.truth).count();
        fneg += s.truth.difference(&leaked).count();
    }
    let precision = tp as f64 / (tp + fp).max(1) as f64;
    let recall = tp as f64 / (tp + fneg).max(1) as f64;
    println!(
        "{} scenarios: {tp} true leaks found, {fp} false, {fneg} missed; precision {precision:.3}, recall {recall:.3}",
        files.len()
    );
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    assert_eq!(fp, 0, "a false leak is the worst bug");
}
