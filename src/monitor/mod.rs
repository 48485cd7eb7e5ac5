//! The sampling loop's core: a sampler, a tracker and the host's clock, one tick per
//! [`Monitor::step`]. Shared by `record`, the view and `run`.
//!
//! - `attach`: checking the root, and what lies outside its family;
//! - `family`: the orphans leaktop adopted as a subreaper, never another leaktop;
//! - `follow`: `--follow`, taking a restarted root's place (its rule is pure:
//!   [`crate::model::restart`]);
//! - [`gpu`]: the GPU memory of the members (and of any processes: [`gpu::read`]),
//!   where a GPU tells it;
//! - `memory`: the budget of PSS/USS reads at each tick;
//! - `name`: `--name PATTERN`, the one lookup of the processes a pattern names;
//! - `listen`: process events between two ticks, fed to the tracker as they come
//!   ([`Monitor::listen`]), and the ones queued up to each tick's sample;
//! - `source`: [`TickSource`], what the view samples from.

mod attach;
mod family;
mod follow;
pub mod gpu;
mod listen;
mod memory;
mod name;
mod source;

pub use attach::{AttachError, orphan_note};
pub use listen::{Heard, LISTEN_SLICE, describe as describe_events};
pub use memory::{MEMORY_BUDGET_SHARE, MEMORY_REFRESH, MemoryOrder, memory_order};
pub use name::{NameMatches, all_matching, find_all_by_name};
pub use source::{Reaping, TickSource};

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::host::Host;
use crate::model::alerts::{AlertConfig, AlertDetector};
use crate::model::restart::{Restart, RootMarks};
use crate::model::{Header, Tick, Tracker};
use crate::sample::{ExeId, Identity, ProcSample, SampleError, Sampler, StartClock};
use memory::Memories;

/// The default leak grace: an orphan that exits by itself within 5 s of its parent is
/// not a leak. Measured (`scripts/linger.py`): a multiprocessing pool's workers drain
/// within 0.2 s of their parent's SIGKILL, a child on an IPC channel exits at once, an
/// esbuild-like service whose pings stop exits after about 2 s, a language server
/// polling its client's pid every 3 s within 3 s; 5 s leaves room for a loaded
/// machine and still flags a real leak within seconds.
pub const LEAK_GRACE: Duration = Duration::from_secs(5);

/// One family watched tick by tick: [`Monitor::attach_on`] starts it, each
/// [`Monitor::step`] samples once and returns the tick, with events, verdicts, alerts
/// and the memory read within the budget.
pub struct Monitor {
    host: Arc<dyn Host>,
    sampler: Box<dyn Sampler + Send>,
    tracker: Tracker,
    header: Header,
    started: Instant,
    members: Vec<Identity>,
    samples: Vec<ProcSample>,
    alerts: AlertDetector,
    /// `--follow`: when the root exits, a new process matching this takes over.
    follow: Option<String>,
    /// leaktop is the family's subreaper (`run`, `demo`): its children are members.
    adopter: bool,
    adopted: Vec<u32>,
    /// leaktop's own executable: a process running it is another leaktop, never a
    /// member. `None` when the root runs it too (the demo's helpers are leaktop).
    leaktop_exe: Option<ExeId>,
    /// What the root runs and who its parent is, kept while it lives, for `--follow`.
    marks: RootMarks,
    /// `--follow`: processes first seen at the root's last live tick or later, not of
    /// the family: the candidates for its restart (pid + start, first seen at ms).
    fresh: Vec<(Identity, u64)>,
    /// The last restart `--follow` made, and the rule that chose it.
    restart: Option<Restart>,
    /// The root was an orphan at attach, and it is not a daemon by design.
    orphan_root: Option<String>,
    /// Last-known PSS/USS/swap of the members, with when they were read.
    memory: Memories,
    /// Read PSS/USS/swap at all (`record --no-pss` turns it off).
    measure_pss: bool,
    /// `--metrics`: where each tick's figures are published.
    metrics: Option<crate::metrics::TickPublisher>,
    /// The processes the user is looking at (the view's selected subtree): measured
    /// right after the leaked ones.
    focus: HashSet<Identity>,
    /// GPU memory of the members (`gpu`).
    gpu: gpu::GpuWatch,
    /// Process events between ticks (`listen`), opened at attach.
    events: Box<dyn crate::sample::events::EventSource>,
    /// The events of one wait, reused.
    heard: Vec<crate::sample::events::Stamped>,
    /// The members whose exits the source watches, reused.
    watched: Vec<Identity>,
    /// Why the event source broke, if it did (ticks only since).
    events_failed: Option<String>,
}

impl Monitor {
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// Processes that are never members, whatever their parent: under `run`, the
    /// children leaktop already had before CMD started (inherited through `exec`).
    pub fn excluding(mut self, ids: &[Identity]) -> Self {
        for &id in ids {
            self.tracker.exclude(id);
        }
        self
    }

    /// Alert thresholds other than the defaults.
    pub fn with_alerts(mut self, config: AlertConfig) -> Self {
        self.alerts = AlertDetector::new(config);
        self
    }

    /// How long an orphan must outlive its parent (or the family its root) before it is
    /// called leaked; never less than one interval. The default is [`LEAK_GRACE`].
    pub fn with_leak_grace(mut self, grace: Duration) -> Self {
        let interval = Duration::from_millis(self.header.interval_ms);
        self.tracker
            .set_leak_grace(grace.max(interval).as_millis() as u64);
        self
    }

    /// Processes meant to outlive their parent (`--allow`): never called leaked. See
    /// [`Tracker::set_allowed`].
    pub fn with_allowed(mut self, rules: Vec<crate::model::allow::AllowRule>) -> Self {
        self.tracker.set_allowed(rules);
        self
    }

    /// Whether to read PSS, USS and swap (`/proc/PID/smaps_rollup`) within the budget;
    /// on by default. Off, those figures stay unknown (`None`), never 0.
    pub fn measuring_pss(mut self, on: bool) -> Self {
        self.measure_pss = on;
        self
    }

    /// Keeps watching across restarts: once the root has exited, a plausible restart
    /// of it (see [`plausible_restart`](crate::model::restart::plausible_restart)) whose command matches `pattern` becomes the
    /// root.
    pub fn following(mut self, pattern: Option<String>) -> Self {
        self.follow = pattern;
        self
    }

    /// How start times map to wall time (for process ages).
    pub fn start_clock(&self) -> Option<StartClock> {
        self.sampler.start_clock()
    }

    pub fn tracker(&self) -> &Tracker {
        &self.tracker
    }

    /// The last restart `--follow` made and the rule that chose the new root; the
    /// step that made it returns a tick with its `RootRestarted` event.
    pub fn last_restart(&self) -> Option<&Restart> {
        self.restart.as_ref()
    }

    /// Set when the root's parent was gone at attach: it had been adopted by PID 1
    /// and is not a daemon by design (see [`orphan_note`]). Says so in words.
    pub fn orphan_root(&self) -> Option<&str> {
        self.orphan_root.as_deref()
    }

    /// Publishes every tick's figures to `state` (`--metrics`), with the wall time its
    /// sampling took.
    pub fn with_metrics(mut self, state: Option<Arc<crate::metrics::MetricsState>>) -> Self {
        self.metrics = state.map(crate::metrics::TickPublisher::new);
        self
    }

    /// The processes whose PSS/USS to read right after the leaked ones' (the view's
    /// selected subtree); replaces the ones set before.
    pub fn set_focus(&mut self, ids: impl IntoIterator<Item = Identity>) {
        self.focus.clear();
        self.focus.extend(ids);
    }

    /// Samples once and returns the new tick.
    pub fn step(&mut self) -> Result<Tick, SampleError> {
        let began = self.host.now();
        // What happened since the last wait: forks from the family are read by pid now.
        self.take_events(Duration::ZERO);
        self.tracker.members_to_sample(&mut self.members);
        self.samples.clear();
        self.sampler.sample(&self.members, &mut self.samples)?;
        // What happened up to the sample, before the update: an exit the sample
        // reflects (a pid passed to another process) must be known by then.
        self.take_events(Duration::ZERO);
        if self.adopter {
            self.add_adopted();
        }
        self.exclude_leaktops();
        let sampler = &mut self.sampler;
        let elapsed = self.host.now().duration_since(self.started).as_millis() as u64;
        self.tracker
            .update_at(elapsed, &self.samples, &mut |id| sampler.command(id));
        self.watch_members();
        if let Some(pattern) = self.follow.clone() {
            self.note_fresh(elapsed);
            if self.tracker.root_alive() {
                self.mark_root(elapsed);
            } else {
                self.take_over(&pattern, elapsed);
            }
        }
        let mut tick = self
            .tracker
            .snapshot(elapsed, crate::host::wall_ms(self.host.as_ref()));
        if let Some(loss) = self.tracker.events_lost() {
            tick.events.push(crate::model::Event::EventsLost {
                counted: loss.counted,
                uncounted: loss.uncounted,
            });
        }
        self.measure_memory(&mut tick);
        self.gpu
            .fill(self.host.as_ref(), &mut tick, self.header.interval_ms);
        tick.alerts = self.alerts.observe(&tick);
        if let Some(metrics) = &mut self.metrics {
            let took = self.host.now().saturating_duration_since(began);
            metrics.publish(&self.header, &tick, took);
        }
        Ok(tick)
    }
}
