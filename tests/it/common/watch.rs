//! The tracker fed with process events, as the watching loops (view, `record`, `run`)
//! are to feed it once they are wired: before each tick, wait for events up to the
//! interval and [`Tracker::observe`] each at its time; then sample, take the events
//! that came meanwhile, and update. Used by
//! the event tests on the fake host and on the real one.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use leaktop::host::Host;
use leaktop::model::Tick;
use leaktop::model::tracker::{At, Noted, Outside, Tracker};
use leaktop::sample::events::{EventRequest, EventSource, Stamped};
use leaktop::sample::{Backend, Command, Identity, Sampler};

pub const TICK: Duration = Duration::from_secs(1);

/// A tracker on a host with its event source: one step is "wait for events up to the
/// interval, observe each, then sample and update".
pub struct Watch {
    pub host: Arc<dyn Host>,
    sampler: Box<dyn Sampler + Send>,
    pub events: Box<dyn EventSource>,
    pub tracker: Tracker,
    began: Instant,
    began_wall_ms: u64,
    /// Every event the source gave, in order (keep a test short: the connector's are
    /// the whole machine's).
    pub raw: Vec<Stamped>,
    /// Every answer of `observe`, with the time (ms since attach) of its event.
    pub noted: Vec<(u64, Noted)>,
}

impl Watch {
    /// Attaches to `root` on `host`, with the event source `request` gets.
    pub fn attach(host: Arc<dyn Host>, root: u32, request: EventRequest) -> Watch {
        let mut sampler = host.sampler(Backend::Procfs).unwrap();
        let events = host.events(request);
        let sample = sampler.probe(root).unwrap();
        let parent = sampler.probe(sample.ppid);
        let command = Command {
            name: "root".into(),
            cmd: "root".into(),
        };
        let outside = Outside {
            root_parent: parent,
            root_ancestors: parent.map(|p| p.id()).into_iter().collect(),
            watcher: Some(host.own_pid()),
            ..Outside::default()
        };
        Watch {
            began: host.now(),
            began_wall_ms: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64),
            host,
            raw: Vec::new(),
            sampler,
            events,
            tracker: Tracker::new(sample, command, outside),
            noted: Vec::new(),
        }
    }

    pub fn now(&self) -> At {
        At {
            elapsed_ms: self.host.now().duration_since(self.began).as_millis() as u64,
            wall_ms: self.began_wall_ms
                + self.host.now().duration_since(self.began).as_millis() as u64,
        }
    }

    /// Takes what the source has (waiting at most `up_to`) and feeds it to the tracker.
    pub fn take_events(&mut self, up_to: Duration) {
        let mut members = Vec::new();
        self.tracker.members_to_sample(&mut members);
        members.retain(|id| id.start != 0);
        self.events.watch(&members);
        let mut got: Vec<Stamped> = Vec::new();
        self.events.wait(up_to, &mut got).unwrap();
        let (now, clock) = (self.now(), self.events.clock_ns());
        for s in got {
            self.raw.push(s.clone());
            let at = At::ago(now, clock.saturating_sub(s.at_ns));
            let noted = self.tracker.observe(at, &s.event);
            self.noted.push((at.elapsed_ms, noted));
        }
    }

    /// One step: the events until the interval passes (or some come), then a tick.
    pub fn step(&mut self) -> Tick {
        self.take_events(TICK);
        self.tick()
    }

    /// A tick: sample and update, with the events taken so far.
    pub fn tick(&mut self) -> Tick {
        let mut members: Vec<Identity> = Vec::new();
        self.tracker.members_to_sample(&mut members);
        let mut samples = Vec::new();
        self.sampler.sample(&members, &mut samples).unwrap();
        // What happened up to the sample, before the update: an exit the sample
        // reflects (a pid passed to another process) must be known by then.
        self.take_events(Duration::ZERO);
        let elapsed = self.now().elapsed_ms;
        let sampler = &mut self.sampler;
        self.tracker
            .update_at(elapsed, &samples, &mut |id| sampler.command(id));
        self.tracker.snapshot(elapsed, 0)
    }
}
