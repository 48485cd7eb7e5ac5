//! The interactive view's state and what keys do to it. Nothing here touches the
//! terminal or the OS: keys come in, [`Effect`]s the event loop must carry out come out,
//! and the results of those effects come back through methods.

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Duration;

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use super::filter::{FilterKey, filter_key};
use super::history::{History, Landmark};
use super::table::{self, Row, identity};
use crate::actions::kill::{KillReport, KillSignal, Target};
use crate::host::{Memory, PssParts};
use crate::model::{Header, MemSum, ProcRow, Tick};
use crate::sample::Identity;

/// Rows moved by PageUp/PageDown.
const PAGE: usize = 10;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// Sampling a live family.
    Live,
    /// Reading a recording back: nothing is sampled and nothing can be killed.
    Replay { path: String },
}

/// Work the event loop does on the view's behalf.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    Quit,
    /// Close the view and go back to the picker it was opened from (`q` there).
    Back,
    SetPaused(bool),
    /// Say where `e` would write: answer with [`App::ask_export`].
    AskExport,
    /// Write the whole timeline so far as a tick-log, named for wall time `at` (the
    /// prompt's); answer with [`App::exported`].
    Export {
        at: std::time::SystemTime,
    },
    /// Read these processes' PSS/USS/swap now (`smaps_rollup`, slow: off the UI
    /// thread); answer with [`App::memory_measured`].
    MeasureMemory(Vec<Identity>),
    /// Run the safe kill; answer with [`App::kill_finished`].
    Kill {
        targets: Vec<Target>,
        signal: KillSignal,
        grace: Duration,
    },
}

/// A process listed in the kill dialog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Victim {
    pub id: Identity,
    pub name: String,
    pub cmd: String,
    pub rss_kb: u64,
    /// Last-known PSS and USS in KiB (`smaps_rollup`); `None`: unknown.
    pub pss_kb: Option<u64>,
    pub uss_kb: Option<u64>,
    /// Its PSS told apart by kind, known once read for the dialog (never from a tick).
    pub parts: PssParts,
    /// Last-known GPU memory in KiB (NVML or DRM fdinfo); `None`: unknown or no GPU.
    pub gpu_kb: Option<u64>,
}

impl Victim {
    fn of(row: &ProcRow) -> Victim {
        Victim {
            id: identity(row),
            name: row.name.clone(),
            cmd: row.cmd.clone(),
            rss_kb: row.rss_kb,
            pss_kb: row.pss_kb,
            uss_kb: row.uss_kb,
            parts: PssParts::default(),
            gpu_kb: row.gpu_kb,
        }
    }

    fn target(&self) -> Target {
        Target {
            id: self.id,
            rss_kb: self.rss_kb,
            pss_kb: self.pss_kb,
            uss_kb: self.uss_kb,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KillScope {
    Tree(u32),
    AllLeaked,
    /// An orphan group, by its id (the picker).
    Orphans(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KillStage {
    /// Waiting for `y`; the signal can still be changed.
    Confirm,
    /// The kill is under way (freeze, signal, grace period).
    Running,
    /// Finished; `survivors` may be offered SIGKILL.
    Done { survivors: Vec<Victim> },
}

/// What the kills of one dialog have done so far (a SIGKILL round adds to it).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KillTally {
    pub ended: usize,
    pub freed_rss_kb: u64,
    /// Summed last-known PSS and USS (KiB) of what ended; see [`KillReport`].
    pub freed_pss: MemSum,
    pub freed_uss: MemSum,
    /// The change of `MemAvailable` (KiB) over the kills; see [`KillReport`].
    pub mem_available_change_kb: Option<i64>,
    /// Processes never signalled, with the reason.
    pub skipped: Vec<(u32, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KillDialog {
    pub scope: KillScope,
    pub victims: Vec<Victim>,
    /// Members of the trees that are never signalled (init, leaktop, its ancestors).
    pub spared: Vec<Victim>,
    pub signal: KillSignal,
    pub stage: KillStage,
    pub tally: KillTally,
    /// The victims' PSS/USS are being read now ([`Effect::MeasureMemory`]).
    pub measuring: bool,
}

/// What a key did to a kill dialog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DialogKey {
    /// The dialog stays; nothing to do.
    Stay,
    /// The dialog stays and asks the loop for this (a kill, or quitting during one).
    Effect(Effect),
    /// The dialog closes; after `q`, a note for the footer (the next `q` quits).
    Close(Option<&'static str>),
}

impl KillDialog {
    /// A dialog offering to end `listed`, less the `protected` pids (init, leaktop,
    /// its ancestors), which it lists as spared. Errors with the reason to show when
    /// nothing is left to signal.
    pub fn open(
        scope: KillScope,
        listed: Vec<Victim>,
        protected: &HashSet<u32>,
    ) -> Result<KillDialog, String> {
        let (spared, victims): (Vec<Victim>, Vec<Victim>) = listed
            .into_iter()
            .partition(|v| protected.contains(&v.id.pid));
        if victims.is_empty() {
            return Err(format!(
                "nothing to kill: {} is init, leaktop or one of its ancestors",
                spared.first().map_or(0, |v| v.id.pid)
            ));
        }
        Ok(KillDialog {
            scope,
            victims,
            spared,
            signal: KillSignal::Term,
            stage: KillStage::Confirm,
            tally: KillTally::default(),
            measuring: true,
        })
    }

    /// The read of the victims' PSS/USS the dialog's estimate rests on (off the UI
    /// thread); answer with [`KillDialog::memory_measured`].
    pub fn measure(&self) -> Effect {
        Effect::MeasureMemory(self.victims.iter().map(|v| v.id).collect())
    }

    /// The reads [`Effect::MeasureMemory`] asked for: each process's PSS, USS and
    /// swap, `None` where it could not be read (the last-known figure then stays).
    pub fn memory_measured(&mut self, read: Vec<(Identity, Option<Memory>)>) {
        self.measuring = false;
        for (id, m) in read {
            let Some(m) = m else { continue };
            for v in self.victims.iter_mut().filter(|v| v.id == id) {
                v.pss_kb = Some(m.pss_kb);
                v.uss_kb = Some(m.uss_kb);
                v.parts = m.parts;
            }
        }
    }

    /// A key: `y`/Enter kills (with the chosen signal, waiting up to `grace`; after a
    /// kill, sends SIGKILL to survivors), Tab/←/→/`s` change the signal, `n`/Esc/`q`
    /// cancel or close (any key closes a result with nothing left to offer), `q`/F10
    /// during a kill quit.
    pub fn key(&mut self, code: KeyCode, grace: Duration) -> DialogKey {
        let yes = matches!(code, KeyCode::Char('y') | KeyCode::Enter);
        let no = matches!(code, KeyCode::Char('n') | KeyCode::Esc | KeyCode::Char('q'));
        let q = code == KeyCode::Char('q');
        match &self.stage {
            // Quitting does not wait out the kill's grace (the loop tells the kill to
            // stop waiting; what it froze is resumed first).
            KillStage::Running if q || code == KeyCode::F(10) => DialogKey::Effect(Effect::Quit),
            KillStage::Running => DialogKey::Stay,
            KillStage::Confirm if yes => {
                self.stage = KillStage::Running;
                DialogKey::Effect(Effect::Kill {
                    targets: self.victims.iter().map(Victim::target).collect(),
                    signal: self.signal,
                    grace,
                })
            }
            KillStage::Confirm if no => {
                DialogKey::Close(q.then_some("kill cancelled · q again quits"))
            }
            KillStage::Confirm => {
                match code {
                    KeyCode::Tab | KeyCode::Right | KeyCode::Char('s') => {
                        self.signal = self.signal.next()
                    }
                    KeyCode::BackTab | KeyCode::Left => self.signal = self.signal.prev(),
                    _ => {}
                }
                DialogKey::Stay
            }
            KillStage::Done { survivors, .. }
                if yes && !survivors.is_empty() && self.signal != KillSignal::Kill =>
            {
                let targets = survivors.iter().map(Victim::target).collect();
                self.signal = KillSignal::Kill;
                self.stage = KillStage::Running;
                DialogKey::Effect(Effect::Kill {
                    targets,
                    signal: KillSignal::Kill,
                    grace: Duration::from_secs(2),
                })
            }
            KillStage::Done { .. } => {
                DialogKey::Close(q.then_some("closed the kill's result · q again quits"))
            }
        }
    }

    /// The kill the dialog asked for has finished.
    pub fn kill_finished(&mut self, report: KillReport) {
        let survivors = self
            .victims
            .iter()
            .filter(|v| report.survived.contains(&v.id))
            .cloned()
            .collect();
        let tally = &mut self.tally;
        tally.ended += report.ended.len();
        tally.freed_rss_kb += report.freed_rss_kb;
        tally.freed_pss.merge(report.freed_pss);
        tally.freed_uss.merge(report.freed_uss);
        if let Some(change) = report.mem_available_change_kb {
            *tally.mem_available_change_kb.get_or_insert(0) += change;
        }
        tally
            .skipped
            .extend(report.skipped.iter().map(|(id, why)| (id.pid, why.clone())));
        self.stage = KillStage::Done { survivors };
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Overlay {
    None,
    Help,
    Kill(KillDialog),
}

/// Something known to be about to happen to the family (the demo's schedule): the
/// header counts down to it until it has passed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forecast {
    /// When, wall time in milliseconds since the Unix epoch (as [`Tick::time_ms`]).
    pub at_ms: u64,
    /// What, as the end of "… in 2 s": `a session will be orphaned`.
    pub what: String,
    /// Said after the countdown: `its 2 workers leak 1 s later`.
    pub then: String,
}

/// Where `e` would write, shown before anything is written (Enter writes, Esc
/// cancels).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportPrompt {
    /// The file the export would create (the next free name if it is taken by then).
    pub path: PathBuf,
    /// What the user should know about its directory: someone else's, a new one, or
    /// why it cannot be looked at; `None` where it is the user's own.
    pub whose: Option<String>,
    /// The wall time the file is named for.
    pub at: std::time::SystemTime,
}

/// Which memory figure the process table shows (`m` cycles through them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MemColumn {
    /// Resident set size, sampled every tick: shared pages counted in every process.
    #[default]
    Rss,
    /// Proportional set size, last measured (see [`ProcRow::pss_kb`]).
    Pss,
    /// Unique set size, last measured (see [`ProcRow::uss_kb`]).
    Uss,
}

impl MemColumn {
    /// The next one `m` switches to.
    pub fn next(self) -> MemColumn {
        match self {
            MemColumn::Rss => MemColumn::Pss,
            MemColumn::Pss => MemColumn::Uss,
            MemColumn::Uss => MemColumn::Rss,
        }
    }

    /// The column's title: `RSS`, `PSS`, `USS`.
    pub fn name(self) -> &'static str {
        match self {
            MemColumn::Rss => "RSS",
            MemColumn::Pss => "PSS",
            MemColumn::Uss => "USS",
        }
    }

    /// The figure of `row` in KiB, `None` when not known (never measured, unreadable).
    pub fn of(self, row: &ProcRow) -> Option<u64> {
        match self {
            MemColumn::Rss => Some(row.rss_kb),
            MemColumn::Pss => row.pss_kb,
            MemColumn::Uss => row.uss_kb,
        }
    }
}

/// Settings fixed when the view opens.
#[derive(Debug, Clone)]
pub struct ViewOptions {
    pub color: bool,
    pub grace: Duration,
    /// Pids no kill signals (init, leaktop, its ancestors): the dialog leaves them out.
    pub protected: HashSet<u32>,
}

impl Default for ViewOptions {
    fn default() -> Self {
        ViewOptions {
            color: true,
            grace: crate::actions::kill::KILL_GRACE,
            protected: HashSet::new(),
        }
    }
}

pub struct App {
    pub header: Header,
    pub source: Source,
    pub options: ViewOptions,
    pub history: History,
    /// The history index on screen; `None` follows the newest tick.
    pub view: Option<usize>,
    pub selected: Option<Identity>,
    /// Where the selection was, for when its process disappears.
    selected_pos: usize,
    pub folded: HashSet<Identity>,
    pub filter: String,
    pub editing_filter: bool,
    pub paused: bool,
    pub overlay: Overlay,
    /// A one-line message for the footer (export path, refusals, errors).
    pub status: Option<String>,
    /// A standing remark on the root, from attach: its parent was already gone.
    pub root_note: Option<String>,
    /// What is about to happen, soonest first (the demo's schedule; empty otherwise).
    pub forecast: Vec<Forecast>,
    /// Opened from the picker: `q` goes back to it ([`Effect::Back`]); `F10` and
    /// Ctrl-C still quit.
    pub picker_behind: bool,
    /// The memory figure the table shows.
    pub mem_column: MemColumn,
    /// Orphans that exited by themselves within the leak grace, so far.
    pub orphans_exited: usize,
    /// Leaked processes this view's kills have ended, so far: the header says so
    /// rather than "no leaks" once they are gone.
    pub leaked_ended: usize,
    /// Why sampling stopped, once it has.
    pub finished: Option<String>,
    /// An export under way: ticks written so far, and in all.
    pub exporting: Option<(usize, usize)>,
    /// Where `e` would write, waiting for Enter or Esc.
    pub export_prompt: Option<ExportPrompt>,
    /// The viewed tick and the one before it, decoded from the history.
    shown: Shown,
    /// The selected process's RSS over the history, kept up to date as ticks arrive.
    series: Option<(Identity, Vec<(u32, u64)>)>,
    /// What the rows on screen were last laid out from: tick index, filter, folds.
    laid_out: Option<(Option<usize>, String, usize)>,
    /// A replay still looks for where its story starts ([`App::push_tick`]): until
    /// the first leak is loaded, the load ends, or a key is pressed.
    opening: bool,
}

#[derive(Debug, Default)]
struct Shown {
    index: Option<usize>,
    tick: Option<Tick>,
    prev: Option<Tick>,
}

impl App {
    pub fn new(header: Header, source: Source, options: ViewOptions) -> App {
        let opening = matches!(source, Source::Replay { .. });
        App {
            header,
            source,
            options,
            history: History::default(),
            view: None,
            selected: None,
            selected_pos: 0,
            folded: HashSet::new(),
            filter: String::new(),
            editing_filter: false,
            paused: false,
            overlay: Overlay::None,
            status: None,
            root_note: None,
            forecast: Vec::new(),
            picker_behind: false,
            mem_column: MemColumn::Rss,
            orphans_exited: 0,
            leaked_ended: 0,
            finished: None,
            exporting: None,
            export_prompt: None,
            shown: Shown::default(),
            series: None,
            laid_out: None,
            opening,
        }
    }

    pub fn is_replay(&self) -> bool {
        matches!(self.source, Source::Replay { .. })
    }

    pub fn push_tick(&mut self, tick: Tick) {
        self.orphans_exited += tick
            .events
            .iter()
            .filter(|e| matches!(e, crate::model::Event::OrphanExited { .. }))
            .count();
        self.history.push(tick);
        if let (Some((id, series)), Some(newest)) = (&mut self.series, self.history.newest())
            && let Some(p) = newest.processes.iter().find(|p| identity(p) == *id)
        {
            series.push((newest.tick, p.rss_kb));
        }
        // A replay opens where its story is: the first leak, not the last tick.
        if self.opening
            && let Some(&(index, what)) = self.history.landmarks().last()
            && index + 1 == self.history.len()
            && what.contains(Landmark::LEAK)
        {
            self.open_at(index, "the first leak");
        }
        self.sync();
    }

    /// Shows history `index` (`what` is there), and says so in the footer with the
    /// keys that move on.
    fn open_at(&mut self, index: usize, what: &str) {
        self.opening = false;
        self.view = Some(index);
        let tick = self.history.totals()[index].tick;
        self.status = Some(format!(
            "opened at tick {tick}, {what} · n next event · N previous · > the last tick"
        ));
    }

    /// Brings the decoded tick, the selection and its series in line with the history
    /// and the view, after anything that may have moved them.
    fn sync(&mut self) {
        let index = self.viewed_index();
        // The history only grows: the same index is the same tick.
        if index != self.shown.index {
            let (tick, prev) = index.map_or((None, None), |i| self.history.pair(i));
            self.shown = Shown { index, tick, prev };
        }
        // The selection can only have vanished if the rows were laid out anew.
        let layout = Some((index, self.filter.clone(), self.folded.len()));
        if layout != self.laid_out {
            self.fix_selection();
            self.laid_out = layout;
        }
        if self.series.as_ref().map(|s| s.0) != self.selected {
            let near = index.unwrap_or(0);
            self.series = self.selected.map(|id| (id, self.history.rss_of(id, near)));
        }
    }

    /// The selected process's RSS at the ticks it was alive: `(tick, rss_kb)`.
    pub fn selected_series(&self) -> &[(u32, u64)] {
        self.series.as_ref().map_or(&[], |s| &s.1)
    }

    /// The next forecast after the viewed tick and the seconds to it (rounded up):
    /// what the header says is about to happen.
    pub fn coming(&self) -> Option<(&Forecast, u64)> {
        let now = self.viewed_tick()?.time_ms;
        self.forecast
            .iter()
            .find(|f| f.at_ms > now)
            .map(|f| (f, (f.at_ms - now).div_ceil(1000)))
    }

    /// The selected process and its descendants at the newest tick: whose PSS/USS the
    /// monitor reads right after the leaked ones' (empty without a selection).
    pub fn focus(&self) -> Vec<Identity> {
        match (self.selected, self.history.newest()) {
            (Some(id), Some(tick)) => table::subtree(tick, id).into_iter().map(identity).collect(),
            _ => Vec::new(),
        }
    }

    /// The history index on screen.
    pub fn viewed_index(&self) -> Option<usize> {
        self.view
            .or_else(|| self.history.len().checked_sub(1))
            .filter(|&i| i < self.history.len())
    }

    pub fn viewed_tick(&self) -> Option<&Tick> {
        self.shown.tick.as_ref()
    }

    /// Whether the screen shows an older tick than the newest (live view only).
    pub fn in_past(&self) -> bool {
        self.view.is_some_and(|i| i + 1 < self.history.len())
    }

    /// The rows on screen, in order.
    pub fn rows(&self) -> Vec<Row<'_>> {
        let Some(tick) = &self.shown.tick else {
            return Vec::new();
        };
        table::build(tick, self.shown.prev.as_ref(), &self.folded, &self.filter)
    }

    /// The selected row's position in `rows`.
    pub fn selected_index(&self, rows: &[Row<'_>]) -> Option<usize> {
        let id = self.selected?;
        rows.iter()
            .position(|r| matches!(r, Row::Proc(p) if identity(p.row) == id))
    }

    pub fn selected_row(&self) -> Option<&ProcRow> {
        let id = self.selected?;
        self.viewed_tick()?
            .processes
            .iter()
            .find(|p| identity(p) == id)
    }

    /// Keeps a selection on screen: the same process if it is still shown, else the
    /// row now at its old position.
    fn fix_selection(&mut self) {
        let rows = self.rows();
        if let Some(i) = self.selected_index(&rows) {
            self.selected_pos = i;
            return;
        }
        let procs: Vec<(usize, Identity)> = proc_positions(&rows);
        let pick = procs
            .iter()
            .find(|(i, _)| *i >= self.selected_pos)
            .or(procs.last())
            .copied();
        if let Some((i, id)) = pick {
            self.selected = Some(id);
            self.selected_pos = i;
        } else {
            self.selected = None;
        }
    }

    fn move_selection(&mut self, by: isize) {
        let rows = self.rows();
        let procs = proc_positions(&rows);
        if procs.is_empty() {
            return;
        }
        let here = self
            .selected_index(&rows)
            .and_then(|i| procs.iter().position(|(p, _)| *p == i))
            .unwrap_or(0);
        let to = (here as isize + by).clamp(0, procs.len() as isize - 1) as usize;
        self.selected = Some(procs[to].1);
        self.selected_pos = procs[to].0;
    }

    pub fn handle_key(&mut self, key: KeyEvent) -> Option<Effect> {
        let effect = self.apply_key(key);
        self.sync();
        effect
    }

    fn apply_key(&mut self, key: KeyEvent) -> Option<Effect> {
        if key.kind == KeyEventKind::Release {
            return None;
        }
        // The user moves on: a replay still loading stays where they put it.
        self.opening = false;
        let ctrl_c =
            key.modifiers.contains(KeyModifiers::CONTROL) && matches!(key.code, KeyCode::Char('c'));
        if ctrl_c {
            return Some(Effect::Quit);
        }
        // F1 opens the help from anywhere but a kill dialog (as in htop and btop).
        if key.code == KeyCode::F(1) && !matches!(self.overlay, Overlay::Kill(_)) {
            self.editing_filter = false;
            self.overlay = match self.overlay {
                Overlay::Help => Overlay::None,
                _ => Overlay::Help,
            };
            return None;
        }
        match &self.overlay {
            Overlay::Help => {
                self.overlay = Overlay::None;
                return (key.code == KeyCode::Char('q')).then(|| self.quit_key());
            }
            Overlay::Kill(_) => return self.dialog_key(key.code),
            Overlay::None => {}
        }
        if let Some(prompt) = self.export_prompt.take() {
            return match key.code {
                KeyCode::Enter | KeyCode::Char('y') => Some(Effect::Export { at: prompt.at }),
                KeyCode::Esc | KeyCode::Char('n') | KeyCode::Char('q') => {
                    self.status = Some("export cancelled: nothing written".into());
                    None
                }
                _ => {
                    self.export_prompt = Some(prompt);
                    None
                }
            };
        }
        self.status = None;
        if filter_key(&mut self.filter, &mut self.editing_filter, key.code) == FilterKey::Taken {
            self.fix_selection();
            return None;
        }
        match key.code {
            KeyCode::Char('q') => return Some(self.quit_key()),
            KeyCode::F(10) => return Some(Effect::Quit),
            KeyCode::Up | KeyCode::Char('k') => self.move_selection(-1),
            KeyCode::Down | KeyCode::Char('j') => self.move_selection(1),
            KeyCode::PageUp => self.move_selection(-(PAGE as isize)),
            KeyCode::PageDown => self.move_selection(PAGE as isize),
            KeyCode::Home | KeyCode::Char('g') => self.move_selection(isize::MIN / 2),
            KeyCode::Char('G') => self.move_selection(isize::MAX / 2),
            KeyCode::Enter | KeyCode::Char(' ') => self.toggle_fold(),
            KeyCode::Left | KeyCode::Char('[') => self.step_history(-1),
            KeyCode::Right | KeyCode::Char(']') => self.step_history(1),
            KeyCode::Char('{') => self.step_history(-self.tenth()),
            KeyCode::Char('}') => self.step_history(self.tenth()),
            KeyCode::Char('<') => self.step_history(isize::MIN / 2),
            KeyCode::End | KeyCode::Char('l') | KeyCode::Char('>') => {
                self.view = None;
                self.fix_selection();
            }
            KeyCode::Char('n') => self.next_landmark(true),
            KeyCode::Char('N') => self.next_landmark(false),
            KeyCode::Char('m') => {
                self.mem_column = self.mem_column.next();
                self.status = Some(match self.mem_column {
                    MemColumn::Rss => "memory column: RSS (resident, shared pages counted in full)",
                    MemColumn::Pss => "memory column: PSS (shared pages divided among their sharers; READ: how long ago)",
                    MemColumn::Uss => "memory column: USS (pages only this process maps; READ: how long ago)",
                }.into());
            }
            KeyCode::Char('?') => self.overlay = Overlay::Help,
            KeyCode::Char('p') => {
                if self.is_replay() {
                    self.status = Some("a replay has no sampling to pause".into());
                } else if self.finished.is_none() {
                    self.paused = !self.paused;
                    return Some(Effect::SetPaused(self.paused));
                }
            }
            KeyCode::Char('e') if self.exporting.is_some() => {
                self.status = Some("an export is already under way".into());
            }
            KeyCode::Char('e') => return Some(Effect::AskExport),
            KeyCode::Char('x') | KeyCode::F(9) => return self.open_kill(false),
            KeyCode::Char('K') => return self.open_kill(true),
            _ => {}
        }
        None
    }

    /// What `q` does: back to the picker the view was opened from, else quit.
    fn quit_key(&self) -> Effect {
        if self.picker_behind {
            Effect::Back
        } else {
            Effect::Quit
        }
    }

    fn toggle_fold(&mut self) {
        let Some(id) = self.selected else { return };
        let rows = self.rows();
        let foldable = self
            .selected_index(&rows)
            .is_some_and(|i| matches!(&rows[i], Row::Proc(p) if p.has_children));
        drop(rows);
        if foldable && !self.folded.remove(&id) {
            self.folded.insert(id);
        }
    }

    fn step_history(&mut self, by: isize) {
        let len = self.history.len();
        if len == 0 {
            return;
        }
        let here = self.viewed_index().unwrap_or(len - 1) as isize;
        let to = (here + by).clamp(0, len as isize - 1) as usize;
        // Stepping forward onto the newest tick returns to following it.
        self.view = if to + 1 == len && !self.is_replay() {
            None
        } else {
            Some(to)
        };
        self.sync();
    }

    /// A tenth of the history, in ticks (at least one): what `{` and `}` move by.
    fn tenth(&self) -> isize {
        (self.history.len() / 10).max(1) as isize
    }

    /// Moves to the next (or previous) tick where something happened: a leak, an
    /// alert, a restart, an exit; the footer says which, or that there is none.
    fn next_landmark(&mut self, forward: bool) {
        let Some(here) = self.viewed_index() else {
            return;
        };
        match self.history.landmark_from(here, forward) {
            Some((index, what)) => {
                self.step_history(index as isize - here as isize);
                let tick = self.history.totals()[index].tick;
                let keys = if forward {
                    "n next · N previous"
                } else {
                    "N previous · n next"
                };
                self.status = Some(format!("tick {tick}: {} · {keys}", what.describe()));
            }
            None => {
                self.status = Some(
                    if forward {
                        "no later event (a leak, an alert, a restart, an exit)"
                    } else {
                        "no earlier event (a leak, an alert, a restart, an exit)"
                    }
                    .into(),
                )
            }
        }
    }

    /// Opens the kill dialog, and asks for the victims' PSS/USS to be read now (off
    /// the UI thread: [`Effect::MeasureMemory`]), the figures the dialog's estimate of
    /// what the kill frees rests on.
    fn open_kill(&mut self, all_leaked: bool) -> Option<Effect> {
        let refuse = if self.is_replay() {
            Some("killing is disabled in a replay")
        } else if self.in_past() {
            Some("you are viewing the past: press End to return to live, then kill")
        } else {
            None
        };
        if let Some(why) = refuse {
            self.status = Some(why.into());
            return None;
        }
        let tick = self.history.newest()?;
        let (scope, listed): (KillScope, Vec<Victim>) = if all_leaked {
            let rows = table::leaked(tick);
            if rows.is_empty() {
                self.status = Some("nothing has leaked".into());
                return None;
            }
            (
                KillScope::AllLeaked,
                rows.into_iter().map(Victim::of).collect(),
            )
        } else {
            let id = self.selected?;
            // A defunct process has exited already: nothing to signal.
            let rows: Vec<_> = table::subtree(tick, id)
                .into_iter()
                .filter(|r| r.state != 'Z')
                .collect();
            if rows.is_empty() {
                self.status = Some(format!("process {} has already exited", id.pid));
                return None;
            }
            (
                KillScope::Tree(id.pid),
                rows.into_iter().map(Victim::of).collect(),
            )
        };
        match KillDialog::open(scope, listed, &self.options.protected) {
            Ok(dialog) => {
                let effect = dialog.measure();
                self.overlay = Overlay::Kill(dialog);
                Some(effect)
            }
            Err(why) => {
                self.status = Some(why);
                None
            }
        }
    }

    /// The reads [`Effect::MeasureMemory`] asked for: each process's PSS, USS and
    /// swap, `None` where it could not be read (the last-known figure then stays).
    pub fn memory_measured(&mut self, read: Vec<(Identity, Option<Memory>)>) {
        if let Overlay::Kill(dialog) = &mut self.overlay {
            dialog.memory_measured(read);
        }
    }

    fn dialog_key(&mut self, code: KeyCode) -> Option<Effect> {
        let Overlay::Kill(dialog) = &mut self.overlay else {
            return None;
        };
        match dialog.key(code, self.options.grace) {
            DialogKey::Stay => None,
            DialogKey::Effect(effect) => Some(effect),
            DialogKey::Close(note) => {
                self.overlay = Overlay::None;
                if let Some(note) = note {
                    self.status = Some(note.into());
                }
                None
            }
        }
    }

    /// The kill the dialog asked for has finished.
    pub fn kill_finished(&mut self, report: KillReport) {
        if let Some(tick) = self.history.newest() {
            self.leaked_ended += tick
                .processes
                .iter()
                .filter(|p| p.leaked && report.ended.contains(&p.id()))
                .count();
        }
        if let Overlay::Kill(dialog) = &mut self.overlay {
            dialog.kill_finished(report);
        }
    }

    /// Where the export [`Effect::AskExport`] asked about would write: the footer says
    /// so and waits for Enter ([`Effect::Export`]) or Esc.
    pub fn ask_export(&mut self, prompt: ExportPrompt) {
        self.status = None;
        self.export_prompt = Some(prompt);
    }

    /// The event loop has started the export [`Effect::Export`] asked for, of `total`
    /// ticks; it says how far it has got with [`App::export_progress`] and how it ended
    /// with [`App::exported`].
    pub fn export_started(&mut self, total: usize) {
        self.status = None;
        self.exporting = Some((0, total));
    }

    /// The export under way has written `done` of `total` ticks.
    pub fn export_progress(&mut self, done: usize, total: usize) {
        self.exporting = Some((done, total));
    }

    /// The export has finished: where it went and how many ticks, or why it failed.
    pub fn exported(&mut self, result: Result<(PathBuf, usize), String>) {
        self.exporting = None;
        self.status = Some(match result {
            Ok((path, ticks)) => format!(
                "exported {} to {}",
                crate::format::plural(ticks, "tick", "ticks"),
                crate::human::shown_path(&path)
            ),
            Err(e) => format!("export failed: {e}"),
        });
    }

    /// Sampling has stopped for good (the family is gone, or sampling failed).
    /// A replay that has loaded without a leak opens at its first event, if it has
    /// one; a live view whose family has gone says where its first leak was.
    pub fn finish(&mut self, why: String) {
        self.finished = Some(why);
        self.paused = false;
        let first_leak = self
            .history
            .landmarks()
            .iter()
            .find(|(_, what)| what.contains(Landmark::LEAK))
            .map(|&(index, _)| index);
        if std::mem::take(&mut self.opening) && self.view.is_none() {
            match self.history.landmarks().first() {
                Some(&(index, what)) => {
                    let what = format!("the first event ({}; no leak)", what.describe());
                    self.open_at(index, &what);
                }
                None => {
                    self.status = Some(
                        "nothing happened in this recording: no leak, alert, restart or exit"
                            .into(),
                    );
                }
            }
        } else if !self.is_replay()
            && self.view.is_none()
            && let Some(index) = first_leak
        {
            let tick = self.history.totals()[index].tick;
            self.status = Some(format!(
                "its first leak was at tick {tick}: N steps back event by event, < to the first tick"
            ));
        }
        self.sync();
    }
}

fn proc_positions(rows: &[Row<'_>]) -> Vec<(usize, Identity)> {
    rows.iter()
        .enumerate()
        .filter_map(|(i, r)| match r {
            Row::Proc(p) => Some((i, identity(p.row))),
            Row::Heading(_) => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Event;
    use crate::testkit::{header, leaked, row, tick};

    fn replay() -> App {
        App::new(
            header(10),
            Source::Replay {
                path: "x.ndjson".into(),
            },
            ViewOptions::default(),
        )
    }

    /// Issue 28: a replay opened at its last tick ("family 0 processes · no leaks").
    #[test]
    fn a_replay_opens_at_its_first_leak_and_says_so() {
        let mut app = replay();
        app.push_tick(tick(1, vec![row(10, 1), row(11, 10)]));
        app.push_tick(tick(2, vec![row(10, 1), leaked(11, 1, 2)]));
        app.push_tick(tick(3, vec![leaked(11, 1, 2)]));
        app.push_tick(tick(4, Vec::new()));
        app.finish("end of the recording".into());
        assert_eq!(app.viewed_tick().map(|t| t.tick), Some(2));
        assert!(
            app.status
                .as_deref()
                .unwrap()
                .contains("opened at tick 2, the first leak"),
            "{:?}",
            app.status
        );
    }

    #[test]
    fn without_a_leak_a_replay_opens_at_its_first_event_and_a_key_keeps_the_view() {
        let mut app = replay();
        app.push_tick(tick(1, vec![row(10, 1)]));
        let mut exit = tick(2, Vec::new());
        exit.root_alive = false;
        exit.events.push(Event::RootExited { pid: 10, start: 10 });
        app.push_tick(exit);
        app.push_tick(tick(3, Vec::new()));
        app.finish("end".into());
        assert_eq!(app.viewed_tick().map(|t| t.tick), Some(2));
        assert!(app.status.as_deref().unwrap().contains("first event (exit"));
        // A key before the first leak is loaded: the view stays where the user is.
        let mut app = replay();
        app.push_tick(tick(1, vec![row(10, 1), row(11, 10)]));
        app.handle_key(KeyEvent::from(KeyCode::Char('j')));
        app.push_tick(tick(2, vec![row(10, 1), leaked(11, 1, 2)]));
        assert_eq!(app.view, None);
    }
}
