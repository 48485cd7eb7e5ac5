//! Choosing a root when none was given: every process, sorted by the RSS of its whole
//! subtree, narrowed by typing; with [`Picker::with_orphans`], the orphan groups
//! `leaktop orphans` finds come first, and `x` ends a strong one with the view's
//! kill dialog.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use super::app::{DialogKey, Effect, KillDialog, KillScope, Victim};
use super::render::theme::Theme;
use crate::actions::kill::KillReport;
use crate::host::Memory;
use crate::model::orphans::OrphanGroup;
use crate::sample::{Command, Identity, ProcSample};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub pid: u32,
    pub name: String,
    pub cmd: String,
    pub subtree_rss_kb: u64,
    /// The process itself and all its descendants.
    pub subtree_len: usize,
}

/// Every process worth watching, largest subtree first. Kernel threads, PID 1 (its
/// subtree is the whole machine) and `exclude` (leaktop itself) are left out.
pub fn candidates(
    samples: &[ProcSample],
    mut command: impl FnMut(&ProcSample) -> Command,
    exclude: u32,
) -> Vec<Candidate> {
    let index: HashMap<u32, usize> = samples
        .iter()
        .enumerate()
        .map(|(i, s)| (s.pid, i))
        .collect();
    let mut rss: Vec<u64> = samples.iter().map(|s| s.rss_kb).collect();
    let mut len = vec![1usize; samples.len()];
    // Add each process to all its ancestors.
    for (i, s) in samples.iter().enumerate() {
        let mut seen = 0;
        let mut p = s.ppid;
        while let Some(&a) = index.get(&p) {
            rss[a] += samples[i].rss_kb;
            len[a] += 1;
            p = samples[a].ppid;
            seen += 1;
            if seen > samples.len() {
                break; // a cycle from a torn read
            }
        }
    }
    let kernel = |s: &ProcSample| s.pid == 2 || s.ppid == 2;
    let mut out: Vec<Candidate> = samples
        .iter()
        .enumerate()
        .filter(|(_, s)| s.pid > 1 && !kernel(s) && s.pid != exclude && !s.has_exited())
        .map(|(i, s)| {
            let c = command(s);
            Candidate {
                pid: s.pid,
                name: c.name,
                cmd: c.cmd,
                subtree_rss_kb: rss[i],
                subtree_len: len[i],
            }
        })
        .collect();
    out.sort_by(|a, b| {
        b.subtree_rss_kb
            .cmp(&a.subtree_rss_kb)
            .then(a.pid.cmp(&b.pid))
    });
    out
}

/// The picker's keys, as its help lists them.
pub(crate) const PICKER_KEYS: &[(&str, &str)] = &[
    ("↑ ↓  j k", "move the selection"),
    ("PgUp PgDn", "move by a page"),
    ("Home End  g G", "to the top or bottom"),
    ("/", "filter by pid, name or command"),
    ("Enter", "watch the selected process's family"),
    ("x  F9", "kill the selected orphan group (strong evidence)"),
    ("Esc", "clear the filter; without one, quit"),
    ("q  F10  Ctrl-C", "quit"),
    ("F1  ?", "this help"),
];

pub enum PickerOutcome {
    Continue,
    Pick(u32),
    Quit,
    /// The kill dialog asks the loop for this ([`Effect::MeasureMemory`] or
    /// [`Effect::Kill`]); answer with [`Picker::memory_measured`] and
    /// [`Picker::kill_finished`].
    Effect(Effect),
}

/// A line of the list: an orphan group (listed first) or a process.
#[derive(Debug, Clone, Copy)]
pub enum Entry<'a> {
    Group(&'a OrphanGroup),
    Process(&'a Candidate),
}

/// The orphan groups the picker lists first, and how it kills them.
pub(crate) struct Orphans {
    /// `None` while the scan is under way.
    pub(crate) groups: Option<Vec<OrphanGroup>>,
    /// Why the scan failed, if it did.
    pub(crate) failed: Option<String>,
    /// Pids no kill signals (init, leaktop, its ancestors).
    protected: HashSet<u32>,
    /// How long a kill waits before it reports survivors.
    pub(crate) grace: Duration,
}

/// The picker's state, and what keys do to it; [`crate::ui::render::picker`] draws it.
pub struct Picker {
    all: Vec<Candidate>,
    pub(crate) filter: String,
    /// Typing goes into the filter (after `/`, until Enter or Esc).
    pub(crate) editing: bool,
    /// The key help is shown (F1 or `?`; any key closes it).
    pub(crate) help: bool,
    pub(crate) selected: usize,
    pub(crate) theme: Theme,
    /// What the list is for, above it.
    pub(crate) title: String,
    /// `None`: orphan groups are not looked for (the `--name` choice).
    pub(crate) orphans: Option<Orphans>,
    /// The kill dialog of an orphan group, when open.
    pub(crate) dialog: Option<KillDialog>,
    /// A one-line message for the footer (refusals, the dialog's last word).
    pub(crate) status: Option<String>,
}

impl Picker {
    pub fn new(all: Vec<Candidate>, color: bool) -> Picker {
        Picker {
            all,
            filter: String::new(),
            editing: false,
            help: false,
            selected: 0,
            theme: Theme { color },
            title: "choose the process whose family to watch (largest subtree first)".into(),
            orphans: None,
            dialog: None,
            status: None,
        }
    }

    /// Lists orphan groups first, once [`Picker::orphans_found`] hands them over;
    /// `x` ends one, sparing `protected`, waiting up to `grace` before it reports.
    pub fn with_orphans(mut self, protected: HashSet<u32>, grace: Duration) -> Picker {
        self.orphans = Some(Orphans {
            groups: None,
            failed: None,
            protected,
            grace,
        });
        self.title =
            "choose the process whose family to watch (orphan groups first, then largest subtree)"
                .into();
        self
    }

    /// Whether the picker waits for an orphan scan ([`Picker::orphans_found`]).
    pub fn wants_orphans(&self) -> bool {
        self.orphans.as_ref().is_some_and(|o| o.groups.is_none())
    }

    /// The orphan scan's groups (largest first), or why it failed.
    pub fn orphans_found(&mut self, found: Result<Vec<OrphanGroup>, String>) {
        let Some(o) = &mut self.orphans else { return };
        match found {
            Ok(groups) => o.groups = Some(groups),
            Err(why) => {
                o.groups = Some(Vec::new());
                o.failed = Some(why);
            }
        }
        // At the top, the selection lands on the first group; moved, it stays on
        // the process it was on.
        if self.selected > 0 {
            let added = self
                .shown()
                .iter()
                .filter(|e| matches!(e, Entry::Group(_)))
                .count();
            self.selected = (self.selected + added).min(self.shown().len().saturating_sub(1));
        }
    }

    /// The kill dialog, when open.
    pub fn dialog(&self) -> Option<&KillDialog> {
        self.dialog.as_ref()
    }

    /// The footer's message, if any.
    pub fn status(&self) -> Option<&str> {
        self.status.as_deref()
    }

    /// The reads of [`Effect::MeasureMemory`] for the dialog.
    pub fn memory_measured(&mut self, read: Vec<(Identity, Option<Memory>)>) {
        if let Some(d) = &mut self.dialog {
            d.memory_measured(read);
        }
    }

    /// The dialog's kill has finished: its result is shown, and what ended leaves the
    /// list (groups left empty with it).
    pub fn kill_finished(&mut self, report: KillReport) {
        let ended: HashSet<Identity> = report.ended.iter().copied().collect();
        if let Some(groups) = self.orphans.as_mut().and_then(|o| o.groups.as_mut()) {
            for g in groups.iter_mut() {
                g.processes.retain(|p| !ended.contains(&p.sample.id()));
            }
            groups.retain(|g| !g.processes.is_empty());
        }
        let pids: HashSet<u32> = ended.iter().map(|i| i.pid).collect();
        self.all.retain(|c| !pids.contains(&c.pid));
        if let Some(d) = &mut self.dialog {
            d.kill_finished(report);
        }
        self.selected = self.selected.min(self.shown().len().saturating_sub(1));
    }

    fn groups(&self) -> &[OrphanGroup] {
        self.orphans
            .as_ref()
            .and_then(|o| o.groups.as_deref())
            .unwrap_or(&[])
    }

    /// Says `title` above the list instead of the default (say, that it holds only
    /// the processes `--name` matched).
    pub fn with_title(mut self, title: String) -> Picker {
        self.title = title;
        self
    }

    /// The lines the filter lets through: orphan groups first (a group passes when
    /// its id or one of the processes it adopted does: not their descendants, or the
    /// group of an orphaned shell would come before, and take Enter from, the very
    /// process typed), then processes.
    pub fn shown(&self) -> Vec<Entry<'_>> {
        let needle = self.filter.to_lowercase();
        let passes = |pid: u32, name: &str, cmd: &str| {
            needle.is_empty()
                || pid.to_string().contains(&needle)
                || cmd.to_lowercase().contains(&needle)
                || name.to_lowercase().contains(&needle)
        };
        let groups = self.groups().iter().filter(|g| {
            g.id.contains(&needle)
                || g.processes
                    .iter()
                    .filter(|o| o.adopted)
                    .any(|o| passes(o.sample.pid, &o.command.name, &o.command.cmd))
        });
        let processes = self.all.iter().filter(|c| passes(c.pid, &c.name, &c.cmd));
        groups
            .map(Entry::Group)
            .chain(processes.map(Entry::Process))
            .collect()
    }

    /// `x` on the selected line: the kill dialog of a strong orphan group. A weak one
    /// is refused, since weak evidence is never killed unless named (`leaktop orphans
    /// --group ID --kill`); moving the selection onto a line is not naming it.
    fn open_kill(&mut self) -> PickerOutcome {
        let Some(o) = &self.orphans else {
            self.status = Some("x kills orphan groups, which this list does not show".into());
            return PickerOutcome::Continue;
        };
        if o.groups.is_none() {
            self.status = Some("still looking for orphan groups…".into());
            return PickerOutcome::Continue;
        }
        let group = match self.shown().get(self.selected) {
            Some(Entry::Group(g)) => (*g).clone(),
            Some(Entry::Process(c)) => {
                self.status = Some(format!(
                    "x here kills orphan groups; to kill {}, Enter watches it and x kills there",
                    c.pid
                ));
                return PickerOutcome::Continue;
            }
            None => return PickerOutcome::Continue,
        };
        if !group.strong() {
            self.status = Some(format!(
                "{} has weak evidence only: end it by name: leaktop orphans --group {} --kill",
                group.id, group.id
            ));
            return PickerOutcome::Continue;
        }
        let listed = group
            .processes
            .iter()
            .map(|p| Victim {
                id: p.sample.id(),
                name: p.command.name.clone(),
                cmd: p.command.cmd.clone(),
                rss_kb: p.sample.rss_kb,
                pss_kb: None,
                uss_kb: None,
                parts: Default::default(),
                gpu_kb: None,
            })
            .collect();
        match KillDialog::open(KillScope::Orphans(group.id.clone()), listed, &o.protected) {
            Ok(dialog) => {
                let measure = dialog.measure();
                self.dialog = Some(dialog);
                PickerOutcome::Effect(measure)
            }
            Err(why) => {
                self.status = Some(why);
                PickerOutcome::Continue
            }
        }
    }

    /// A key while the kill dialog is open.
    fn dialog_key(&mut self, code: KeyCode) -> PickerOutcome {
        let (Some(dialog), Some(o)) = (&mut self.dialog, &self.orphans) else {
            return PickerOutcome::Continue;
        };
        match dialog.key(code, o.grace) {
            DialogKey::Stay => PickerOutcome::Continue,
            DialogKey::Effect(Effect::Quit) => PickerOutcome::Quit,
            DialogKey::Effect(effect) => PickerOutcome::Effect(effect),
            DialogKey::Close(note) => {
                self.dialog = None;
                self.status = note.map(str::to_string);
                PickerOutcome::Continue
            }
        }
    }

    /// The keys of htop, btop and bottom: `q`, `Esc` and `F10` quit (`Esc` first
    /// clears a filter), `/` starts typing a filter (Enter watches the selected process,
    /// Esc clears it), `F1` or `?` shows the keys.
    pub fn handle_key(&mut self, key: KeyEvent) -> PickerOutcome {
        if key.kind == KeyEventKind::Release {
            return PickerOutcome::Continue;
        }
        if key.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char('c') {
            return PickerOutcome::Quit;
        }
        if self.dialog.is_some() {
            return self.dialog_key(key.code);
        }
        if self.help {
            self.help = false;
            return PickerOutcome::Continue;
        }
        self.status = None;
        let count = self.shown().len();
        let last = count.saturating_sub(1);
        match key.code {
            KeyCode::F(1) => {
                self.editing = false;
                self.help = true;
            }
            KeyCode::F(10) => return PickerOutcome::Quit,
            KeyCode::Enter => {
                match self.shown().get(self.selected) {
                    Some(Entry::Process(c)) => return PickerOutcome::Pick(c.pid),
                    // A group is watched from its oldest process.
                    Some(Entry::Group(g)) if !g.processes.is_empty() => {
                        return PickerOutcome::Pick(g.processes[0].sample.pid);
                    }
                    _ => {}
                }
                self.editing = false;
            }
            KeyCode::Up => self.selected = self.selected.saturating_sub(1),
            KeyCode::Down => self.selected = (self.selected + 1).min(last),
            KeyCode::PageUp => self.selected = self.selected.saturating_sub(10),
            KeyCode::PageDown => self.selected = (self.selected + 10).min(last),
            KeyCode::Home => self.selected = 0,
            KeyCode::End => self.selected = last,
            KeyCode::Esc if self.editing || !self.filter.is_empty() => {
                self.editing = false;
                self.filter.clear();
            }
            KeyCode::Esc => return PickerOutcome::Quit,
            KeyCode::Backspace if self.editing => {
                self.filter.pop();
            }
            KeyCode::Char(c) if self.editing => self.filter.push(c),
            KeyCode::Char('/') => self.editing = true,
            KeyCode::Char('q') => return PickerOutcome::Quit,
            KeyCode::Char('x') | KeyCode::F(9) => return self.open_kill(),
            KeyCode::Char('?') => self.help = true,
            KeyCode::Char('k') => self.selected = self.selected.saturating_sub(1),
            KeyCode::Char('j') => self.selected = (self.selected + 1).min(last),
            KeyCode::Char('g') => self.selected = 0,
            KeyCode::Char('G') => self.selected = last,
            _ => {}
        }
        self.selected = self.selected.min(self.shown().len().saturating_sub(1));
        PickerOutcome::Continue
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::orphans::{Evidence, Origin, Orphan, Strength};
    use crate::sample::Comm;

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

    #[test]
    fn typing_after_a_slash_filters_and_enter_picks() {
        let all = vec![
            Candidate {
                pid: 10,
                name: "node".into(),
                cmd: "node server.js".into(),
                subtree_rss_kb: 100,
                subtree_len: 1,
            },
            Candidate {
                pid: 20,
                name: "python3".into(),
                cmd: "python3 -m cce serve".into(),
                subtree_rss_kb: 50,
                subtree_len: 4,
            },
        ];
        let mut p = Picker::new(all, false);
        p.handle_key(KeyEvent::from(KeyCode::Char('/')));
        for c in "CCE".chars() {
            p.handle_key(KeyEvent::from(KeyCode::Char(c)));
        }
        assert_eq!(p.shown().len(), 1);
        assert!(matches!(
            p.handle_key(KeyEvent::from(KeyCode::Enter)),
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
            }]
        };
        let quits = |p: &mut Picker, code| {
            matches!(p.handle_key(KeyEvent::from(code)), PickerOutcome::Quit)
        };
        for code in [KeyCode::Char('q'), KeyCode::Esc, KeyCode::F(10)] {
            assert!(quits(&mut Picker::new(all(), false), code), "{code:?}");
        }
        // After `/`, q is typed into the filter; Esc clears it and stops typing; then
        // q quits.
        let mut p = Picker::new(all(), false);
        assert!(!quits(&mut p, KeyCode::Char('/')));
        assert!(!quits(&mut p, KeyCode::Char('q')));
        assert_eq!(p.filter, "q");
        assert_eq!(p.shown().len(), 1);
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
            Entry::Process(c) => c.pid.to_string(),
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
        for c in "worker-71".chars() {
            p.handle_key(KeyEvent::from(KeyCode::Char(c)));
        }
        assert_eq!(p.shown().len(), 1);
        assert!(matches!(
            p.handle_key(KeyEvent::from(KeyCode::Enter)),
            PickerOutcome::Pick(70)
        ));
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
        };
        let mut p =
            Picker::new(vec![typed], false).with_orphans(HashSet::from([1]), Duration::ZERO);
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
        for c in "picker-typed".chars() {
            p.handle_key(KeyEvent::from(KeyCode::Char(c)));
        }
        assert_eq!(p.shown().len(), 1);
        assert!(matches!(
            p.handle_key(KeyEvent::from(KeyCode::Enter)),
            PickerOutcome::Pick(91)
        ));
    }
}
