use super::*;
use crate::model::orphans::{Evidence, Origin, Orphan, Strength};
use crate::sample::{Comm, Command, ProcSample};

fn s(pid: u32, ppid: u32, rss_kb: u64) -> ProcSample {
    ProcSample {
        pid,
        ppid,
        state: b'S',
        rss_kb,
        pgrp: pid,
        session: pid,
        start: u64::from(pid),
        cpu_ms: 0,
        comm: Comm::new(format!("p{pid}").as_bytes()),
    }
}

#[test]
fn sorted_by_subtree_rss_without_init_kernel_threads_or_self() {
    let samples = [
        s(1, 0, 10),
        s(2, 0, 0),
        s(3, 2, 0),
        s(100, 1, 5),
        s(101, 100, 50),
        s(102, 101, 50),
        s(200, 1, 80),
        s(300, 1, 1),
    ];
    let got = candidates(
        &samples,
        |p| Command {
            name: p.comm.to_string_lossy(),
            cmd: String::new(),
        },
        300,
        None,
    );
    let order: Vec<(u32, u64, usize)> = got
        .iter()
        .map(|c| (c.pid, c.subtree_rss_kb, c.subtree_len))
        .collect();
    assert_eq!(
        order,
        [(100, 105, 3), (101, 100, 2), (200, 80, 1), (102, 50, 1)]
    );
}

/// Types `text` into the picker, key by key.
fn type_in(p: &mut Picker, text: &str) {
    for c in text.chars() {
        p.handle_key(KeyEvent::from(KeyCode::Char(c)));
    }
}

fn press(p: &mut Picker, code: KeyCode) -> PickerOutcome {
    p.handle_key(KeyEvent::from(code))
}

/// Issue 28: after `/nc3`, Enter kept the filter only by watching; now Enter (or Esc)
/// keeps it and gives the keys back to the list, a second Enter watches.
#[test]
fn typing_after_a_slash_filters_enter_keeps_it_and_a_second_enter_picks() {
    let all = vec![
        Candidate {
            pid: 10,
            name: "node".into(),
            cmd: "node server.js".into(),
            subtree_rss_kb: 100,
            subtree_len: 1,
            ..Default::default()
        },
        Candidate {
            pid: 20,
            name: "python3".into(),
            cmd: "python3 -m cce serve".into(),
            subtree_rss_kb: 50,
            subtree_len: 4,
            ..Default::default()
        },
    ];
    let mut p = Picker::new(all, false);
    p.handle_key(KeyEvent::from(KeyCode::Char('/')));
    for c in "CCE".chars() {
        p.handle_key(KeyEvent::from(KeyCode::Char(c)));
    }
    assert_eq!(p.shown().len(), 1);
    assert!(matches!(
        press(&mut p, KeyCode::Enter),
        PickerOutcome::Continue
    ));
    assert_eq!((p.filter.as_str(), p.editing), ("CCE", false));
    assert!(matches!(
        press(&mut p, KeyCode::Enter),
        PickerOutcome::Pick(20)
    ));
    p.handle_key(KeyEvent::from(KeyCode::Esc));
    assert_eq!(p.shown().len(), 2);
    assert!(matches!(
        p.handle_key(KeyEvent::from(KeyCode::Esc)),
        PickerOutcome::Quit
    ));
}

#[test]
fn q_esc_and_f10_quit_and_letters_filter_only_after_a_slash() {
    let all = || {
        vec![Candidate {
            pid: 10,
            name: "quux".into(),
            cmd: "quux".into(),
            subtree_rss_kb: 100,
            subtree_len: 1,
            ..Default::default()
        }]
    };
    let quits =
        |p: &mut Picker, code| matches!(p.handle_key(KeyEvent::from(code)), PickerOutcome::Quit);
    for code in [KeyCode::Char('q'), KeyCode::Esc, KeyCode::F(10)] {
        assert!(quits(&mut Picker::new(all(), false), code), "{code:?}");
    }
    // After `/`, q is typed into the filter; Esc stops typing and keeps it, a second
    // Esc clears it; then q quits.
    let mut p = Picker::new(all(), false);
    assert!(!quits(&mut p, KeyCode::Char('/')));
    assert!(!quits(&mut p, KeyCode::Char('q')));
    assert_eq!(p.filter, "q");
    assert_eq!(p.shown().len(), 1);
    assert!(!quits(&mut p, KeyCode::Esc));
    assert_eq!((p.filter.as_str(), p.editing), ("q", false));
    assert!(!quits(&mut p, KeyCode::Esc));
    assert_eq!(p.filter, "");
    // F1 shows the keys; any key closes them without acting.
    assert!(!quits(&mut p, KeyCode::F(1)));
    assert!(p.help);
    assert!(!quits(&mut p, KeyCode::Char('q')));
    assert!(!p.help);
    assert!(quits(&mut p, KeyCode::Char('q')));
    // Without `/`, letters move or do nothing: they never filter.
    let mut p = Picker::new(all(), false);
    p.handle_key(KeyEvent::from(KeyCode::Char('x')));
    assert_eq!(p.filter, "");
}

fn group(id: &str, pids: &[u32], strength: Strength) -> OrphanGroup {
    OrphanGroup {
        id: id.into(),
        origin: Origin::Group(pids[0]),
        evidence: vec![Evidence {
            strength,
            kind: "group_leader_gone",
            text: "its leader is gone".into(),
        }],
        rss_kb: 10,
        processes: pids
            .iter()
            .map(|&pid| Orphan {
                sample: s(pid, 1, 5),
                command: Command {
                    name: "node".into(),
                    cmd: format!("node worker-{pid}.js"),
                },
                uid: None,
                adopted: true,
            })
            .collect(),
    }
}

#[test]
fn orphan_groups_come_first_filter_by_their_members_and_only_strong_ones_open_the_dialog() {
    let all: Vec<Candidate> = [10, 20]
        .map(|pid| Candidate {
            pid,
            name: "bash".into(),
            cmd: "bash".into(),
            subtree_rss_kb: 100,
            subtree_len: 1,
            ..Default::default()
        })
        .into();
    let mut p = Picker::new(all, false).with_orphans(HashSet::from([1, 50]), Duration::ZERO);
    assert!(p.wants_orphans());
    // Moved before the scan ends: the selection stays on its process.
    p.handle_key(KeyEvent::from(KeyCode::End));
    p.orphans_found(Ok(vec![
        group("pg-70", &[70, 71], Strength::Weak),
        group("pg-80", &[80, 50], Strength::Strong),
    ]));
    assert!(!p.wants_orphans());
    let first = |p: &Picker| match p.shown()[p.selected] {
        Entry::Group(g) => g.id.clone(),
        Entry::Process(p) => p.candidate.pid.to_string(),
    };
    assert_eq!(first(&p), "20");
    assert_eq!(p.shown().len(), 4);
    // A weak group: refused, with the command that names it.
    p.handle_key(KeyEvent::from(KeyCode::Home));
    assert_eq!(first(&p), "pg-70");
    assert!(matches!(
        p.handle_key(KeyEvent::from(KeyCode::Char('x'))),
        PickerOutcome::Continue
    ));
    assert!(
        p.status()
            .unwrap()
            .contains("leaktop orphans --group pg-70 --kill")
    );
    assert!(p.dialog().is_none());
    // A strong one: its dialog, leaktop (50) spared, memory asked for.
    p.handle_key(KeyEvent::from(KeyCode::Down));
    let PickerOutcome::Effect(Effect::MeasureMemory(ids)) =
        p.handle_key(KeyEvent::from(KeyCode::Char('x')))
    else {
        panic!("no dialog");
    };
    assert_eq!(ids.iter().map(|i| i.pid).collect::<Vec<_>>(), [80]);
    assert_eq!(p.dialog().unwrap().spared[0].id.pid, 50);
    assert!(matches!(
        p.handle_key(KeyEvent::from(KeyCode::Esc)),
        PickerOutcome::Continue
    ));
    assert!(p.dialog().is_none());
    // The filter finds a group by a member's command line.
    p.handle_key(KeyEvent::from(KeyCode::Char('/')));
    type_in(&mut p, "worker-71");
    assert_eq!(p.shown().len(), 1);
    // Enter keeps the filter; x then acts on the filtered selection (issue 28: it
    // was typed into the filter, "worker-71x").
    press(&mut p, KeyCode::Enter);
    assert!(matches!(
        press(&mut p, KeyCode::Char('x')),
        PickerOutcome::Continue
    ));
    assert_eq!(p.filter, "worker-71");
    assert!(p.status().unwrap().contains("--group pg-70"));
    // Enter watches the whole group: both processes it adopted.
    let PickerOutcome::Group { id, roots } = p.handle_key(KeyEvent::from(KeyCode::Enter)) else {
        panic!("the group is not watched whole");
    };
    assert_eq!(
        (id.as_str(), roots.as_slice()),
        ("pg-70", [70, 71].as_slice())
    );
}

/// A group is found by the processes it adopted, not their descendants: an
/// orphaned shell whose tree holds the process typed must not come first and take
/// Enter from it (a CI run started from a shell that has gone did just that).
#[test]
fn a_group_is_not_found_by_a_descendant_of_what_it_adopted() {
    let typed = Candidate {
        pid: 91,
        name: "sleep".into(),
        cmd: "sleep picker-typed".into(),
        subtree_rss_kb: 100,
        subtree_len: 1,
        ..Default::default()
    };
    let mut p = Picker::new(vec![typed], false).with_orphans(HashSet::from([1]), Duration::ZERO);
    let mut g = group("pg-90", &[90], Strength::Weak);
    g.processes.push(Orphan {
        sample: s(91, 90, 5),
        command: Command {
            name: "sleep".into(),
            cmd: "sleep picker-typed".into(),
        },
        uid: None,
        adopted: false,
    });
    p.orphans_found(Ok(vec![g]));
    p.handle_key(KeyEvent::from(KeyCode::Char('/')));
    type_in(&mut p, "picker-typed");
    assert_eq!(p.shown().len(), 1);
    press(&mut p, KeyCode::Enter);
    assert!(matches!(
        p.handle_key(KeyEvent::from(KeyCode::Enter)),
        PickerOutcome::Pick(91)
    ));
}

fn cand(pid: u32, ppid: u32, rss_kb: u64, family_kb: u64, name: &str) -> Candidate {
    Candidate {
        pid,
        ppid,
        name: name.into(),
        cmd: name.into(),
        rss_kb,
        subtree_rss_kb: family_kb,
        subtree_len: 1,
        cpu_ms: u64::from(1000 - pid),
        start: u64::from(pid),
        age_ms: None,
        gpu_kb: None,
    }
}

/// A shell chain (100 > 101 > 102) over a large worker (103), and a lone daemon.
fn chain() -> Vec<Candidate> {
    vec![
        cand(100, 1, 4, 904, "bash"),
        cand(101, 100, 4, 900, "bash"),
        cand(102, 101, 4, 896, "bash"),
        cand(103, 102, 892, 892, "worker"),
        cand(200, 1, 500, 500, "daemon"),
    ]
}

fn pids(p: &Picker) -> Vec<(u32, usize)> {
    p.shown()
        .iter()
        .filter_map(|e| match e {
            Entry::Process(l) => Some((l.candidate.pid, l.depth)),
            Entry::Group(_) => None,
        })
        .collect()
}

/// Issue 28: ranked by summed family RSS, the chain of shells above a big process
/// filled the top of the list. The default key is the process's own RSS; the family's
/// is one key away, and the keys go round.
#[test]
fn own_rss_first_by_default_and_the_keys_go_round() {
    let mut p = Picker::new(chain(), false);
    assert_eq!(p.sort, SortKey::Rss);
    assert_eq!(pids(&p), [(103, 0), (200, 0), (100, 0), (101, 0), (102, 0)]);
    press(&mut p, KeyCode::Char('>'));
    assert_eq!(p.sort, SortKey::FamilyRss);
    assert_eq!(pids(&p)[0], (100, 0));
    let mut seen = vec![p.sort];
    for _ in 0..5 {
        press(&mut p, KeyCode::F(6));
        seen.push(p.sort);
    }
    // Six keys, each once, round to the first.
    let distinct: HashSet<String> = seen.iter().map(|k| k.label().to_string()).collect();
    assert_eq!(distinct.len(), 6, "{seen:?}");
    assert_eq!(p.sort, SortKey::Rss, "{seen:?}");
    press(&mut p, KeyCode::Char('<'));
    assert_eq!(p.sort, SortKey::Name);
    // CPU: most first; age: oldest (smallest start) first; name: A to Z.
    p.sort = SortKey::Cpu;
    assert_eq!(pids(&p)[0].0, 100);
    p.sort = SortKey::Age;
    assert_eq!(pids(&p)[0].0, 100);
    p.sort = SortKey::Name;
    assert_eq!(pids(&p).last().unwrap().0, 103);
}

#[test]
fn the_tree_nests_children_folds_and_keeps_the_path_to_a_match() {
    let mut p = Picker::new(chain(), false);
    press(&mut p, KeyCode::Char('t'));
    // Roots by own RSS (the daemon's 500 before bash's 4), children under them.
    assert_eq!(pids(&p), [(200, 0), (100, 0), (101, 1), (102, 2), (103, 3)]);
    // The selection stayed on 103 (first in the list); Space folds the selected
    // line's subtree, again unfolds it.
    press(&mut p, KeyCode::Home);
    press(&mut p, KeyCode::Down);
    press(&mut p, KeyCode::Down);
    press(&mut p, KeyCode::Char(' '));
    assert_eq!(pids(&p), [(200, 0), (100, 0), (101, 1)]);
    assert!(matches!(p.shown()[2], Entry::Process(l) if l.folded && l.children == 1));
    press(&mut p, KeyCode::Char(' '));
    assert_eq!(pids(&p).len(), 5);
    // A filter keeps the ancestors that lead to what it matches.
    press(&mut p, KeyCode::Char('/'));
    type_in(&mut p, "worker");
    assert_eq!(pids(&p), [(100, 0), (101, 1), (102, 2), (103, 3)]);
}

/// A new sort or layout keeps the selection on the process it was on.
#[test]
fn sorting_and_the_tree_keep_the_selection_on_its_process() {
    let mut p = Picker::new(chain(), false);
    press(&mut p, KeyCode::Down); // 200, the daemon
    for code in [KeyCode::Char('>'), KeyCode::Char('t'), KeyCode::F(6)] {
        press(&mut p, code);
        let Entry::Process(l) = p.shown()[p.selected] else {
            panic!("a group");
        };
        assert_eq!(l.candidate.pid, 200, "after {code:?}");
    }
    p.select_pid(103);
    assert!(matches!(
        press(&mut p, KeyCode::Enter),
        PickerOutcome::Pick(103)
    ));
}
