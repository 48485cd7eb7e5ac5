//! Choosing a root when none was given: every process, as a list or a tree, sorted by
//! a key the user chooses (RSS, family RSS, CPU time, age, family size, name), narrowed
//! by a filter edited as in the view; with [`Picker::with_orphans`], the orphan groups
//! `leaktop orphans` finds come first, and `x` ends a strong one with the view's
//! kill dialog.
//!
//! - `candidates`: the processes listed and the sort keys;
//! - `lines`: the processes laid out flat or as a tree.

mod candidates;
mod lines;

use std::collections::HashSet;
use std::time::Duration;

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

pub use candidates::{Candidate, SortKey, candidates};
pub use lines::ProcLine;

/// How many processes, largest RSS first, have their GPU memory read when the picker
/// opens: more than a screen holds, and no descriptor scan of every process.
pub const GPU_ROWS: usize = 200;

/// Reads the GPU memory of the [`GPU_ROWS`] processes of `list` with the most RSS
/// (one NVML query, and a descriptor scan each: `/proc/PID/fd`, `fdinfo`); the others
/// stay unknown. Returns whether the host has a GPU at all (else nothing is read).
pub fn fill_gpu(host: &dyn crate::host::Host, list: &mut [Candidate]) -> bool {
    if host.gpu().is_none() {
        return false;
    }
    let id = |c: &Candidate| crate::sample::Identity {
        pid: c.pid,
        start: c.start,
    };
    let mut order: Vec<usize> = (0..list.len()).collect();
    order.sort_by(|&a, &b| list[b].rss_kb.cmp(&list[a].rss_kb));
    order.truncate(GPU_ROWS);
    let ids: Vec<crate::sample::Identity> = order.iter().map(|&i| id(&list[i])).collect();
    let usage = crate::monitor::gpu::read(host, &ids);
    for i in order {
        list[i].gpu_kb = usage.kb(id(&list[i]));
    }
    true
}

use super::app::{DialogKey, Effect, KillDialog, KillScope, Victim};
use super::filter::{FilterKey, filter_key};
use super::render::theme::Theme;
use crate::actions::kill::KillReport;
use crate::host::Memory;
use crate::model::orphans::OrphanGroup;
use crate::sample::Identity;

/// The picker's keys, as its help lists them.
pub const PICKER_KEYS: &[(&str, &str)] = &[
    ("↑ ↓  j k", "move the selection"),
    ("PgUp PgDn", "move by a page"),
    ("Home End  g G", "to the top or bottom"),
    ("/", "filter by pid, name or command"),
    ("  Enter  Esc", "keep the filter, back to the list"),
    ("Esc", "clear the filter; without one, quit"),
    ("< >  F6", "sort by RSS, family RSS, CPU, age, procs, name"),
    ("t  F5", "tree or list"),
    ("Space", "fold or unfold the selected subtree (tree)"),
    ("Enter", "watch the selection's family (a group: all of it)"),
    ("x  F9", "kill the selected orphan group (strong only)"),
    ("q  F10  Ctrl-C", "quit (q in a view goes back here)"),
    ("F1  ?", "this help"),
];

pub enum PickerOutcome {
    Continue,
    /// Watch this process's family.
    Pick(u32),
    /// Watch an orphan group that adopted several processes: each of `roots` (the
    /// adopted ones, oldest first) with its family, side by side.
    Group {
        id: String,
        roots: Vec<u32>,
    },
    Quit,
    /// The kill dialog asks the loop for this ([`Effect::MeasureMemory`] or
    /// [`Effect::Kill`]); answer with [`Picker::memory_measured`] and
    /// [`Picker::kill_finished`].
    Effect(Effect),
}

/// What the user chose to watch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Picked {
    /// A process, as the root of its family.
    Process(u32),
    /// An orphan group that adopted several processes: `roots`, oldest first.
    Group { id: String, roots: Vec<u32> },
}

impl Picked {
    /// The roots to watch: one process, or each adopted process of the group.
    pub fn roots(&self) -> &[u32] {
        match self {
            Picked::Process(pid) => std::slice::from_ref(pid),
            Picked::Group { roots, .. } => roots,
        }
    }
}

/// A line of the list: an orphan group (listed first) or a process.
#[derive(Debug, Clone, Copy)]
pub enum Entry<'a> {
    Group(&'a OrphanGroup),
    Process(ProcLine<'a>),
}

impl Entry<'_> {
    /// What the line is, kept across a new sort or layout: a group's id or a pid.
    fn key(&self) -> (Option<&str>, u32) {
        match self {
            Entry::Group(g) => (Some(g.id.as_str()), 0),
            Entry::Process(p) => (None, p.candidate.pid),
        }
    }
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
    /// What the processes are sorted by (`<`, `>`, F6).
    pub(crate) sort: SortKey,
    /// Laid out as a tree (`t`, F5) rather than a list.
    pub(crate) tree: bool,
    /// A GPU column: the machine has a GPU ([`fill_gpu`] read the first rows').
    pub(crate) gpu: bool,
    /// Pids whose children the tree does not list (Space).
    folded: HashSet<u32>,
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
            sort: SortKey::default(),
            tree: false,
            gpu: false,
            folded: HashSet::new(),
            theme: Theme { color },
            title: "choose the process whose family to watch".into(),
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
        self.title = "choose the process whose family to watch (orphan groups first)".into();
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

    /// With a GPU column (the machine has a GPU).
    pub fn with_gpu(mut self, gpu: bool) -> Picker {
        self.gpu = gpu;
        self
    }

    /// Sorted by `key` instead, as a tree when `tree`.
    pub fn sorted(mut self, key: SortKey, tree: bool) -> Picker {
        self.sort = key;
        self.tree = tree;
        self
    }

    /// With `filter` already set (not being typed).
    pub fn filtered(mut self, filter: String) -> Picker {
        self.filter = filter;
        self
    }

    /// The lines the filter lets through: orphan groups first (a group passes when
    /// its id or one of the processes it adopted does: not their descendants, or the
    /// group of an orphaned shell would come before, and take Enter from, the very
    /// process typed), then processes, as [`lines::lay_out`] lays them out.
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
        let processes = lines::lay_out(&self.all, self.sort, self.tree, &self.folded, |c| {
            passes(c.pid, &c.name, &c.cmd)
        });
        groups
            .map(Entry::Group)
            .chain(processes.into_iter().map(Entry::Process))
            .collect()
    }

    /// Selects `pid`'s line, if it is listed (the process watched last, on coming back).
    pub fn select_pid(&mut self, pid: u32) {
        let at = self
            .shown()
            .iter()
            .position(|e| matches!(e, Entry::Process(p) if p.candidate.pid == pid));
        if let Some(at) = at {
            self.selected = at;
        }
    }

    /// Changes the layout with `change`, the selection staying on the line it was on.
    fn relayout(&mut self, change: impl FnOnce(&mut Picker)) {
        let was = self.shown().get(self.selected).map(|e| {
            let (id, pid) = e.key();
            (id.map(str::to_string), pid)
        });
        change(self);
        if let Some((id, pid)) = was {
            let shown = self.shown();
            if let Some(at) = shown.iter().position(|e| e.key() == (id.as_deref(), pid)) {
                self.selected = at;
            }
        }
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
            Some(Entry::Process(p)) => {
                self.status = Some(format!(
                    "x here kills orphan groups; to kill {}, Enter watches it and x kills there",
                    p.candidate.pid
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
    /// clears a filter), `/` edits the filter as the view does ([`filter_key`]: Enter
    /// or Esc keeps it and gives the keys back to the list), `<`, `>` and `F6` change
    /// the sort key, `t` and `F5` switch between list and tree, Space folds, `F1` or
    /// `?` shows the keys.
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
        if key.code == KeyCode::F(1) {
            self.editing = false;
            self.help = true;
            return PickerOutcome::Continue;
        }
        if filter_key(&mut self.filter, &mut self.editing, key.code) == FilterKey::Taken {
            self.selected = self.selected.min(self.shown().len().saturating_sub(1));
            return PickerOutcome::Continue;
        }
        let count = self.shown().len();
        let last = count.saturating_sub(1);
        match key.code {
            KeyCode::F(10) => return PickerOutcome::Quit,
            KeyCode::Enter => match self.shown().get(self.selected) {
                Some(Entry::Process(p)) => return PickerOutcome::Pick(p.candidate.pid),
                Some(Entry::Group(g)) => return watch_group(g),
                _ => {}
            },
            KeyCode::Up | KeyCode::Char('k') => self.selected = self.selected.saturating_sub(1),
            KeyCode::Down | KeyCode::Char('j') => self.selected = (self.selected + 1).min(last),
            KeyCode::PageUp => self.selected = self.selected.saturating_sub(10),
            KeyCode::PageDown => self.selected = (self.selected + 10).min(last),
            KeyCode::Home | KeyCode::Char('g') => self.selected = 0,
            KeyCode::End | KeyCode::Char('G') => self.selected = last,
            KeyCode::Esc | KeyCode::Char('q') => return PickerOutcome::Quit,
            KeyCode::Char('x') | KeyCode::F(9) => return self.open_kill(),
            KeyCode::Char('?') => self.help = true,
            KeyCode::Char('>') | KeyCode::F(6) => self.relayout(|p| p.sort = p.sort.step(1)),
            KeyCode::Char('<') => self.relayout(|p| p.sort = p.sort.step(-1)),
            KeyCode::Char('t') | KeyCode::F(5) => self.relayout(|p| p.tree = !p.tree),
            KeyCode::Char(' ') if self.tree => {
                let pid = match self.shown().get(self.selected) {
                    Some(Entry::Process(p)) if p.children > 0 || p.folded => Some(p.candidate.pid),
                    _ => None,
                };
                if let Some(pid) = pid
                    && !self.folded.remove(&pid)
                {
                    self.folded.insert(pid);
                }
            }
            _ => {}
        }
        self.selected = self.selected.min(self.shown().len().saturating_sub(1));
        PickerOutcome::Continue
    }
}

/// Enter on an orphan group watches all of it: the processes it adopted are the tops
/// of its trees (the rest descend from them), so one adopted process is watched as a
/// root, several as roots side by side.
fn watch_group(g: &OrphanGroup) -> PickerOutcome {
    let mut roots: Vec<u32> = g
        .processes
        .iter()
        .filter(|p| p.adopted)
        .map(|p| p.sample.pid)
        .collect();
    // A group lists its processes by start time; one listed without the adopted mark
    // (never seen) is still watched from its oldest.
    if roots.is_empty() {
        roots.extend(g.processes.first().map(|p| p.sample.pid));
    }
    match roots.as_slice() {
        [] => PickerOutcome::Continue,
        [pid] => PickerOutcome::Pick(*pid),
        _ => PickerOutcome::Group {
            id: g.id.clone(),
            roots,
        },
    }
}

#[cfg(test)]
mod tests;
