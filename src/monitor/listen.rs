//! Process events between two ticks ([`crate::sample::events`]), fed to the tracker
//! as they come: a loop waits with [`Monitor::listen`] instead of sleeping, and each
//! [`Monitor::step`] takes what was queued up to its sample.

use std::time::{Duration, Instant};

use super::Monitor;
use crate::model::tracker::{At, Noted};
use crate::sample::events::{EventSource, Source, Ticks};

/// The longest one [`Monitor::listen`] waits: how late a loop that listens may see a
/// signal or a flag (50 ms).
pub const LISTEN_SLICE: Duration = Duration::from_millis(50);

/// What one [`Monitor::listen`] heard that the loop should act on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Heard {
    /// Events were lost: read `/proc` again now (step at once).
    pub rescan: bool,
    /// Members whose parent exited meanwhile: orphans now (pids), before any tick says so.
    pub orphaned: Vec<u32>,
}

/// Where events come from, as the header and the recording say it: the source's name
/// ([`Source::name`]), then why the connector is not used, where it is not:
/// `"pidfd (connector: not permitted: subscribing needs CAP_NET_ADMIN (root))"`.
pub fn describe(events: &dyn EventSource) -> String {
    match events.fallback_reason() {
        Some(why) => format!("{} (connector: {why})", events.source().name()),
        None => events.source().name().to_string(),
    }
}

impl Monitor {
    /// Whether events can come between ticks (the connector or pidfds): a loop then
    /// waits with [`Monitor::listen`]; with ticks only it sleeps as before.
    pub fn listens(&self) -> bool {
        self.events.source() != Source::Ticks
    }

    /// Where events come from, in words (see [`describe`]); after the source broke,
    /// ticks, with why.
    pub fn events_source(&self) -> String {
        match &self.events_failed {
            Some(why) => format!("ticks (events failed: {why})"),
            None => describe(self.events.as_ref()),
        }
    }

    /// Waits for process events until `until` on the host's clock (`None`: no tick is
    /// due), at most [`LISTEN_SLICE`] so the caller can look at its signals and flags,
    /// observing each event at its time; returns early when events were lost (step at
    /// once: [`Heard::rescan`]) or came at all. With ticks only it returns at once,
    /// having waited for nothing: sleep instead ([`Monitor::listens`]).
    pub fn listen(&mut self, until: Option<Instant>) -> Heard {
        if !self.listens() {
            return Heard::default();
        }
        let left = until.map_or(LISTEN_SLICE, |until| {
            until.saturating_duration_since(self.host.now())
        });
        self.take_events(left.min(LISTEN_SLICE))
    }

    /// Hands the source the members whose exits to watch (the pidfd source opens a
    /// pidfd for each new one); called after each update too, so a member a tick
    /// found is watched before the next wait.
    pub(super) fn watch_members(&mut self) {
        if self.events.source() != Source::Pidfd {
            return;
        }
        self.watched.clear();
        self.tracker.members_to_sample(&mut self.watched);
        self.watched.retain(|id| id.start != 0);
        self.events.watch(&self.watched);
    }

    /// Takes what the source has, waiting up to `timeout` when it has nothing, and
    /// feeds it to the tracker. An [`EventError`](crate::sample::events::EventError)
    /// turns the source into ticks for good, and says so ([`Monitor::events_source`]).
    pub(super) fn take_events(&mut self, timeout: Duration) -> Heard {
        let mut heard = Heard::default();
        if self.events.source() == Source::Ticks {
            return heard;
        }
        self.watch_members();
        self.heard.clear();
        if let Err(e) = self.events.wait(timeout, &mut self.heard) {
            self.events_failed = Some(e.to_string());
            self.events = Box::new(Ticks::new(None));
            self.header.events = Some(self.events_source());
        }
        let elapsed_ms = self.host.now().duration_since(self.started).as_millis() as u64;
        let now = At {
            elapsed_ms,
            wall_ms: crate::host::wall_ms(self.host.as_ref()),
        };
        let clock = self.events.clock_ns();
        for s in &self.heard {
            let at = At::ago(now, clock.saturating_sub(s.at_ns));
            match self.tracker.observe(at, &s.event) {
                Noted::Rescan => heard.rescan = true,
                Noted::Orphaned(pids) => heard.orphaned.extend(pids),
                Noted::Nothing | Noted::Recorded => {}
            }
        }
        heard
    }
}
