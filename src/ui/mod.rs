//! The interactive view: live sampling or a replay, drawn with ratatui.
//!
//! - [`app`]: the state and what keys do to it (no terminal, no OS);
//! - [`history`]: the ticks kept for the timeline;
//! - [`filter`]: the filter line, edited alike in the view and the picker;
//! - [`table`]: a tick turned into the rows on screen (folds, filter, deltas);
//! - [`render`]: pure drawing of the state into a frame;
//! - [`picker`]: choosing a root when none was given;
//! - [`group`]: an orphan group's several roots watched as one;
//! - [`terminal`]: the event loop that owns the terminal, the sampler and the kills;
//! - [`RunView`]: the view as `run --tui` shows CMD's family in it.

pub mod app;
pub mod filter;
pub mod group;
pub mod history;
pub mod picker;
pub mod render;
mod run_view;
pub mod table;
pub mod terminal;

use std::io::IsTerminal;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use app::{App, Source, ViewOptions};
use picker::{Picked, Picker};
pub use run_view::RunView;
use terminal::{LoopOptions, Tui};

use crate::format::{self, ReadError};
use crate::host::Host;
use crate::model::Tick;
use crate::monitor::{AttachError, Monitor};
use crate::sample::{self, Backend, SampleError};

/// Which family to watch.
#[derive(Debug, Clone)]
pub enum Root {
    Pid(u32),
    /// The oldest process whose command contains `pattern`; with `follow`, the next
    /// one that starts once it has exited.
    Name {
        pattern: String,
        follow: bool,
    },
    /// Let the user choose from a list.
    Pick,
}

#[derive(Debug, Clone)]
pub struct WatchOptions {
    pub root: Root,
    pub interval: Duration,
    pub backend: Backend,
    pub grace: Duration,
    pub color: bool,
    /// Pids known to adopt orphans (leaktop itself under `demo` and `run`).
    pub subreapers: Vec<u32>,
    pub alerts: crate::model::AlertConfig,
    /// How long an orphan must outlive its parent to be called leaked.
    pub leak_grace: Duration,
    /// Processes meant to outlive their parent (`--allow`): never leaked.
    pub allowed: Vec<crate::model::allow::AllowRule>,
    /// `--metrics`: where each tick's figures are published.
    pub metrics: Option<std::sync::Arc<crate::metrics::MetricsState>>,
    /// `--export-dir`: where `e` writes; `None`: the XDG data directory
    /// ([`terminal::default_export_dir`]).
    pub export_dir: Option<std::path::PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum ViewError {
    /// With what to use instead.
    #[error("the interactive view needs a terminal; {0}")]
    NotATerminal(&'static str),
    #[error(transparent)]
    NoTicks(#[from] format::NoTicks),
    #[error("no process matches --name '{0}'")]
    NoMatch(String),
    #[error(transparent)]
    Attach(#[from] AttachError),
    #[error(transparent)]
    Sample(#[from] SampleError),
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error("terminal: {0}")]
    Terminal(#[from] std::io::Error),
}

/// What to use instead of the live view without a terminal.
const RECORD_INSTEAD: &str = "to record without one use: leaktop record --pid PID --out FILE";

/// The view needs a terminal on both ends; `instead` says what to do without one.
pub fn require_terminal(instead: &'static str) -> Result<(), ViewError> {
    if std::io::stdout().is_terminal() && std::io::stdin().is_terminal() {
        Ok(())
    } else {
        Err(ViewError::NotATerminal(instead))
    }
}

/// Opens the live view on `host` and returns the last tick it saw (`None` if the user
/// quit the picker without choosing).
pub fn watch(host: Arc<dyn Host>, opts: &WatchOptions) -> Result<Option<Tick>, ViewError> {
    watch_with(host, opts, Vec::new())
}

/// [`watch`], with the header counting down to what is known to be coming (the
/// demo's schedule).
pub fn watch_with(
    host: Arc<dyn Host>,
    opts: &WatchOptions,
    forecast: Vec<app::Forecast>,
) -> Result<Option<Tick>, ViewError> {
    // A bad --pid or --name is the first thing to hear about, terminal or not.
    if matches!(opts.root, Root::Pick) {
        require_terminal(RECORD_INSTEAD)?;
    }
    // Opened from the picker, `q` in the view comes back to it, as it was left.
    let mut back = Back::default();
    loop {
        let Some(picked) = choose_root(&host, opts, &mut back)? else {
            return Ok(back.last);
        };
        let (app, ending) = watch_root(&host, opts, &picked, forecast.clone())?;
        back.last = app.history.newest().cloned();
        if ending != Some(terminal::Ending::Back) {
            return Ok(back.last);
        }
        back.watched = picked.roots().first().copied();
    }
}

/// What the picker comes back with after `q` in a view it opened: its sort, its
/// layout and filter, the process last watched (selected again), and that view's last
/// tick.
#[derive(Default)]
struct Back {
    layout: Option<(picker::SortKey, bool, String)>,
    watched: Option<u32>,
    last: Option<Tick>,
}

/// The view on the family of what was picked (a process, or each root of an orphan
/// group side by side), until it ends: its final state and how it ended.
fn watch_root(
    host: &Arc<dyn Host>,
    opts: &WatchOptions,
    picked: &Picked,
    forecast: Vec<app::Forecast>,
) -> Result<(App, Option<terminal::Ending>), ViewError> {
    let me = host.own_pid();
    let roots = picked.roots();
    // A root of a group that has exited since the scan is left out; none left is
    // the first one's error.
    let mut monitors = Vec::with_capacity(roots.len());
    let mut failed = None;
    for &pid in roots {
        match attach(host, opts, pid, monitors.is_empty()) {
            Ok(m) => monitors.push(m),
            Err(e) => failed = failed.or(Some(e)),
        }
    }
    let mut monitors = monitors.into_iter();
    let Some(monitor) = monitors.next() else {
        return Err(failed.unwrap_or(ViewError::NoMatch(String::new())));
    };
    require_terminal(RECORD_INSTEAD)?;
    let mut app = App::new(
        monitor.header().clone(),
        Source::Live,
        ViewOptions {
            color: opts.color,
            grace: opts.grace,
            protected: crate::host::protected(host.as_ref()),
        },
    );
    app.root_note = match picked {
        Picked::Process(_) => monitor.orphan_root().map(str::to_string),
        Picked::Group { id, roots } => Some(group_note(id, roots)),
    };
    app.forecast = forecast;
    app.picker_behind = matches!(opts.root, Root::Pick);
    // As the subreaper (demo, run) leaktop must reap the orphans it adopts.
    let source: Box<dyn terminal::TickSource> = if opts.subreapers.contains(&me) {
        Box::new(terminal::Reaping::new(monitor, host.clone()))
    } else if !monitors.as_slice().is_empty() {
        let mut all: Vec<Box<dyn terminal::TickSource>> = vec![Box::new(monitor)];
        all.extend(monitors.map(|m| Box::new(m) as Box<dyn terminal::TickSource>));
        Box::new(group::GroupSource::new(all))
    } else {
        Box::new(monitor)
    };
    let mut tui = Tui::open()?;
    let app = tui.run(
        LoopOptions::new(host.clone(), opts.export_dir.clone()),
        app,
        Some(source),
        opts.interval,
    )?;
    let ending = tui.ending();
    // `demo` must end its helpers before leaktop may die of a signal.
    close(host.as_ref(), tui, opts.subreapers.contains(&me));
    Ok((app, ending))
}

/// The monitor of `pid`'s family with `opts`' settings; `metrics` publishes its ticks
/// (one family of a group publishes, not each).
fn attach(
    host: &Arc<dyn Host>,
    opts: &WatchOptions,
    pid: u32,
    metrics: bool,
) -> Result<Monitor, ViewError> {
    let sampler = host.sampler(opts.backend)?;
    Ok(Monitor::attach_on(
        host.clone(),
        sampler,
        pid,
        opts.interval,
        opts.subreapers.clone(),
    )?
    .with_alerts(opts.alerts.clone())
    .with_leak_grace(opts.leak_grace)
    .with_allowed(opts.allowed.clone())
    .with_metrics(opts.metrics.clone().filter(|_| metrics))
    .following(match &opts.root {
        Root::Name {
            pattern,
            follow: true,
        } => Some(pattern.clone()),
        _ => None,
    }))
}

/// What the header says of an orphan group watched whole.
fn group_note(id: &str, roots: &[u32]) -> String {
    let pids: Vec<String> = roots.iter().map(u32::to_string).collect();
    format!("orphan group {id}: roots {}", pids.join(", "))
}

/// The root `opts` names: its pid, the one the user picks among several `--name`
/// matches, or the one picked from every process; `None` if the user quit the
/// picker without choosing.
fn choose_root(
    host: &Arc<dyn Host>,
    opts: &WatchOptions,
    back: &mut Back,
) -> Result<Option<Picked>, ViewError> {
    let me = host.own_pid();
    let pid = match &opts.root {
        Root::Pid(pid) => *pid,
        Root::Name { pattern, .. } => {
            let found = crate::monitor::find_all_by_name(host.as_ref(), opts.backend, pattern)?;
            let oldest = found
                .picked()
                .ok_or_else(|| ViewError::NoMatch(crate::human::printable(pattern).into_owned()))?;
            // Several matches: on a terminal the user chooses among them (without one
            // the view cannot open, and says so below).
            if found.matches.len() > 1 && require_terminal(RECORD_INSTEAD).is_ok() {
                return pick_among(host, opts, &found, me);
            }
            oldest
        }
        Root::Pick => {
            let mut list = scan_candidates(host, opts, me)?;
            let gpu = picker::fill_gpu(host.as_ref(), &mut list);
            let mut tui = Tui::open()?;
            // Orphan groups first, killable with the view's dialog.
            let mut picker = Picker::new(list, opts.color)
                .with_gpu(gpu)
                .with_orphans(crate::host::protected(host.as_ref()), opts.grace);
            if let Some((key, tree, filter)) = back.layout.take() {
                picker = picker.sorted(key, tree).filtered(filter);
            }
            if let Some(pid) = back.watched {
                picker.select_pid(pid);
            }
            let picked = tui.pick(host.clone(), &mut picker)?;
            back.layout = Some((picker.sort, picker.tree, picker.filter.clone()));
            close(host.as_ref(), tui, false);
            return Ok(picked);
        }
    };
    Ok(Some(Picked::Process(pid)))
}

/// Every process but `me` as the picker lists it, from one scan with `opts`' backend.
fn scan_candidates(
    host: &Arc<dyn Host>,
    opts: &WatchOptions,
    me: u32,
) -> Result<Vec<picker::Candidate>, ViewError> {
    let mut sampler = host.sampler(opts.backend)?;
    let all = sample::scan(sampler.as_mut())?;
    let clock = sampler
        .start_clock()
        .map(|c| (c, crate::host::wall_ms(host.as_ref())));
    Ok(picker::candidates(
        &all,
        |s| sampler.command(s.id()).unwrap_or_default(),
        me,
        clock,
    ))
}

/// `--name` matched several processes: the picker, showing only them, oldest first
/// selected. `None` if the user quit without choosing.
fn pick_among(
    host: &Arc<dyn Host>,
    opts: &WatchOptions,
    found: &crate::monitor::NameMatches,
    me: u32,
) -> Result<Option<Picked>, ViewError> {
    let pids = found.pids();
    let mut list = scan_candidates(host, opts, me)?;
    list.retain(|c| pids.contains(&c.pid));
    list.sort_by_key(|c| pids.iter().position(|&p| p == c.pid));
    if list.is_empty() {
        return Ok(found.picked().map(Picked::Process));
    }
    let title = format!(
        "{} processes match --name '{}' (oldest first): choose the root",
        list.len(),
        found.pattern
    );
    let mut tui = Tui::open()?;
    let picked = tui.pick(
        host.clone(),
        &mut Picker::new(list, opts.color)
            .with_title(title)
            .sorted(picker::SortKey::Age, false),
    )?;
    close(host.as_ref(), tui, false);
    Ok(picked)
}

/// Opens a recording in the view, in history mode, with killing disabled. The first
/// tick is read before the terminal opens (a file without one is an error); the rest
/// load in the background, one tick at a time. A regular file's ticks stay in it: the
/// history holds where each is and reads it again when shown ([`history::Recorded`]),
/// so memory follows the number of ticks, not the processes they hold. A damaged
/// tick is skipped (said in the view, and on stderr once it closes), unless `strict`:
/// then the replay stops before it.
pub fn replay(
    host: Arc<dyn Host>,
    path: &std::path::Path,
    color: bool,
    strict: bool,
    export_dir: Option<std::path::PathBuf>,
) -> Result<(), ViewError> {
    let mut reader =
        format::open(path, |m| crate::say(&format!("leaktop: {m}\n")))?.skip_damaged(!strict);
    let name = reader.name().to_string();
    let first = reader
        .next()
        .transpose()?
        .ok_or_else(|| format::NoTicks(name.clone()))?;
    require_terminal("to read a recording without one use: leaktop report FILE")?;
    let mut app = App::new(
        reader.header().clone(),
        Source::Replay { path: name.clone() },
        ViewOptions {
            color,
            ..ViewOptions::default()
        },
    );
    let regular = std::fs::metadata(path).is_ok_and(|m| m.is_file());
    let index = match reader.get_ref().get_ref().try_clone() {
        Ok(file) if regular => {
            let recorded =
                history::Recorded::new(file, &name, reader.format(), reader.header().clone());
            let index = recorded.index();
            app.history = history::History::recorded(recorded);
            Some(index)
        }
        // A FIFO cannot be read twice: its ticks are kept in the history.
        _ => None,
    };
    let mut source = Loader {
        reader,
        next: None,
        end: None,
        index,
        skipped: Arc::default(),
    };
    source.index_last();
    app.push_tick(first);
    let skipped = source.skipped.clone();
    source.read_ahead();
    // The sampler steps before it asks whether the source has finished.
    let source: Option<Box<dyn terminal::TickSource>> = match source.end.take() {
        Some(why) if source.next.is_none() => {
            app.finish(why);
            None
        }
        _ => Some(Box::new(source)),
    };
    let mut tui = Tui::open()?;
    tui.run(
        LoopOptions::new(host.clone(), export_dir),
        app,
        source,
        Duration::ZERO,
    )?;
    close(host.as_ref(), tui, false);
    if let Some(skipped) = skipped
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .take()
    {
        crate::say(&format!("leaktop: warning: {name}: {skipped}\n"));
    }
    Ok(())
}

/// Gives the terminal back, then dies of the signal that ended the view if leaktop
/// does not take it as a quit (SIGQUIT, SIGUSR1, …: [`terminal::FATAL_SIGNALS`]); or,
/// with `defer`, leaves that to the caller's [`terminal::reraise_deferred`].
fn close(host: &dyn Host, tui: Tui, defer: bool) {
    let ending = tui.ending();
    drop(tui);
    match ending {
        Some(ending) if defer => ending.defer(),
        Some(ending) => ending.reraise(host),
        None => {}
    }
}

/// The rest of a recording, fed to the view as if sampled, as fast as it reads.
struct Loader<R> {
    reader: format::TickReader<R>,
    /// The tick the next step returns; `None` once the recording has ended.
    next: Option<Tick>,
    /// Why there is no more, once there is not.
    end: Option<String>,
    /// Where each tick read is in the file, for a history that reads them again.
    index: Option<history::Index>,
    /// What was skipped as damaged, said once the recording has ended.
    skipped: Arc<Mutex<Option<format::Skipped>>>,
}

impl<R: std::io::BufRead> Loader<R> {
    /// Notes where the tick just read is, before the history gets it.
    fn index_last(&self) {
        if let (Some(index), Some(at)) = (&self.index, self.reader.last_tick_at()) {
            index.push(at);
        }
    }

    fn read_ahead(&mut self) {
        self.next = match self.reader.next() {
            Some(Ok(tick)) => {
                self.index_last();
                Some(tick)
            }
            Some(Err(e)) => {
                self.end = Some(format!("a recording; the rest of it cannot be read: {e}"));
                None
            }
            None => {
                let mut end = match self.reader.truncated() {
                    Some(cut) => format!(
                        "a recording; its last tick was cut off ({}:{cut}) and is not shown",
                        self.reader.name()
                    ),
                    None => "this is a recording".into(),
                };
                if let Some(skipped) = self.reader.skipped() {
                    end.push_str(&format!("; {skipped}"));
                    *self.skipped.lock().unwrap_or_else(PoisonError::into_inner) =
                        Some(skipped.clone());
                }
                self.end = Some(end);
                None
            }
        };
    }
}

impl<R: std::io::BufRead + Send> terminal::TickSource for Loader<R> {
    fn step(&mut self) -> Result<Tick, String> {
        let tick = self.next.take().ok_or("the recording has no more ticks")?;
        self.read_ahead();
        Ok(tick)
    }

    fn finished(&self) -> Option<String> {
        if self.next.is_none() {
            self.end.clone()
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Loader;
    use super::terminal::TickSource;
    use crate::format::{Format, TickReader};

    /// Every tick the loader steps through, and why it says it stopped.
    fn load(content: &str) -> (Vec<u32>, Option<String>) {
        load_skipping(content, false)
    }

    fn load_skipping(content: &str, skip: bool) -> (Vec<u32>, Option<String>) {
        let mut reader = TickReader::new(content.as_bytes(), "f", None)
            .unwrap()
            .skip_damaged(skip);
        let mut seen = vec![reader.next().unwrap().unwrap().tick];
        let mut source = Loader {
            reader,
            next: None,
            end: None,
            index: None,
            skipped: std::sync::Arc::default(),
        };
        source.read_ahead();
        while source.finished().is_none() {
            seen.push(source.step().unwrap().tick);
        }
        (seen, source.finished())
    }

    #[test]
    fn the_loader_feeds_every_tick_then_says_why_it_stopped() {
        let text = crate::testkit::forkserver_recording().write(Format::Text);
        assert_eq!(
            load(&text),
            (vec![1, 2, 3], Some("this is a recording".into()))
        );
        let cut = &text[..text.len() - 3];
        let (ticks, why) = load(cut);
        assert_eq!(ticks, [1, 2]);
        assert!(why.unwrap().contains("last tick was cut off (f:"));
        let damaged = text.replacen("tick 3 ", "tick x ", 1);
        let (ticks, why) = load(&damaged);
        assert_eq!(ticks, [1, 2]);
        assert!(why.unwrap().contains("the rest of it cannot be read: f:"));
    }

    /// Issue 27, fault 3: a replay showed the ticks before a damaged line and nothing
    /// after. Skipping damage, it shows every other tick and says what it skipped.
    #[test]
    fn the_loader_skips_a_damaged_tick_and_says_so() {
        let text = crate::testkit::forkserver_recording().write(Format::Text);
        let damaged = text.replacen("tick 2 ", "tick x ", 1);
        let (ticks, why) = load_skipping(&damaged, true);
        assert_eq!(ticks, [1, 3]);
        let why = why.unwrap();
        assert!(
            why.starts_with("this is a recording; skipped 14 damaged lines (lines 14-27; line 14: expected a tick number"),
            "{why}"
        );
    }
}
