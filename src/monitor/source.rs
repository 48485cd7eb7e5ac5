//! [`TickSource`]: what the view samples from, whether a live [`Monitor`], a monitor
//! that reaps what it adopted ([`Reaping`]), `run`'s session, or a recording read
//! back.

use std::sync::Arc;
use std::time::Instant;

use super::Monitor;
use crate::host::Host;
use crate::model::Tick;
use crate::sample::Identity;

/// What the view samples from.
pub trait TickSource: Send {
    /// Samples once: the next tick, or why sampling failed (it then stops).
    fn step(&mut self) -> Result<Tick, String>;
    /// Why there is nothing more to sample after the last step, if so.
    fn finished(&self) -> Option<String>;
    /// The processes the user is looking at (the selected subtree), whose PSS/USS a
    /// monitor reads right after the leaked ones'. Ignored by default.
    fn focus(&mut self, _ids: Vec<Identity>) {}
    /// Whether [`TickSource::listen`] waits for process events; if not, the loop
    /// sleeps between steps. Not by default.
    fn listens(&self) -> bool {
        false
    }
    /// Waits for process events until `until` (at most [`super::LISTEN_SLICE`]),
    /// feeding them to the monitor; `true`: step now (events were lost, `/proc` must be
    /// read again; or a member's parent exited, so the view shows its orphans as they
    /// are orphaned, not at the next tick). See [`Monitor::listen`].
    fn listen(&mut self, _until: Instant) -> bool {
        false
    }
}

impl TickSource for Monitor {
    fn step(&mut self) -> Result<Tick, String> {
        Monitor::step(self).map_err(|e| e.to_string())
    }

    fn focus(&mut self, ids: Vec<Identity>) {
        self.set_focus(ids);
    }

    fn listens(&self) -> bool {
        Monitor::listens(self)
    }

    fn listen(&mut self, until: Instant) -> bool {
        step_now(&Monitor::listen(self, Some(until)))
    }

    /// Never while `--follow` waits for the root's restart: a family that has all
    /// exited is what a supervisor's back-off looks like. Nor while a zombie of the
    /// family waits to be reaped: its `<defunct>` row goes once it is, as in `ps`.
    fn finished(&self) -> Option<String> {
        let tracker = self.tracker();
        (self.follow.is_none() && !tracker.any_alive() && !tracker.any_defunct())
            .then(|| "every process of the family has exited".into())
    }
}

/// Whether what a listen heard brings the view's next step forward: a loss, or an
/// orphaning (its verdict still waits for the leak grace).
fn step_now(heard: &super::Heard) -> bool {
    heard.rescan || !heard.orphaned.is_empty()
}

/// A monitor run by a subreaper: reaps the orphans it adopted before each sample.
pub struct Reaping {
    monitor: Monitor,
    host: Arc<dyn Host>,
}

impl Reaping {
    /// Reaps through `host` (leaktop's own children) before each step of `monitor`.
    pub fn new(monitor: Monitor, host: Arc<dyn Host>) -> Reaping {
        Reaping { monitor, host }
    }
}

impl TickSource for Reaping {
    fn step(&mut self) -> Result<Tick, String> {
        self.host.reap();
        TickSource::step(&mut self.monitor)
    }

    fn finished(&self) -> Option<String> {
        self.monitor.finished()
    }

    fn focus(&mut self, ids: Vec<Identity>) {
        self.monitor.set_focus(ids);
    }

    fn listens(&self) -> bool {
        self.monitor.listens()
    }

    fn listen(&mut self, until: Instant) -> bool {
        step_now(&self.monitor.listen(Some(until)))
    }
}
