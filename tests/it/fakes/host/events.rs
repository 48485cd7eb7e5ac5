//! The fake host's process events: what `Host::events` gives on the fake table.
//!
//! Every fork and death in the table (scripted with [`FakeHost::fork`],
//! [`FakeHost::exit`], a signal, a timed fork or death) is logged as the connector
//! would report it, stamped with the fake clock; [`FakeHost::setsid`] moves a process
//! to a session of its own and logs that too. A test can drop events
//! ([`FakeHost::drop_events`]: they vanish and a counted loss comes in their place),
//! report a loss the kernel could not count ([`FakeHost::lose_events`]), or make the
//! host fall back ([`FakeHost::set_events`]: pidfds, which see only the exits of
//! watched processes, or ticks, which see nothing).
//!
//! ```ignore
//! let fake = FakeHost::new(500);
//! fake.add(Proc::new(100, 1, "server"));
//! let mut events = fake.host().events(EventRequest::default());
//! let child = fake.fork(100);
//! fake.setsid(child);
//! fake.exit(100, 0);
//! let mut got = Vec::new();
//! events.wait(Duration::from_secs(1), &mut got).unwrap(); // fork, setsid, exit
//! ```

use std::time::Duration;

use leaktop::host::Exit;
use leaktop::sample::Identity;
use leaktop::sample::events::{
    Ended, EventError, EventRequest, EventSource, NoEvents, ProcEvent, Source, Stamped, Task,
};

use super::{FakeHost, World};

/// The events the table made, and how the fake hands them out.
pub(super) struct Log {
    /// Every event so far, in order, with the fake time it happened.
    events: Vec<Stamped>,
    /// Events still to drop, and how many were dropped in the current run of drops.
    to_drop: u64,
    dropped: u64,
    source: Source,
    why: Option<NoEvents>,
    requests: Vec<EventRequest>,
}

impl Default for Log {
    fn default() -> Self {
        Log {
            events: Vec::new(),
            to_drop: 0,
            dropped: 0,
            source: Source::Connector,
            why: None,
            requests: Vec::new(),
        }
    }
}

impl Log {
    fn push(&mut self, now: Duration, event: ProcEvent) {
        let at_ns = now.as_nanos() as u64;
        if self.to_drop > 0 {
            self.to_drop -= 1;
            self.dropped += 1;
            if self.to_drop == 0 {
                let count = Some(std::mem::take(&mut self.dropped));
                self.events.push(Stamped {
                    at_ns,
                    event: ProcEvent::Lost { count },
                });
            }
            return;
        }
        self.events.push(Stamped { at_ns, event });
    }
}

impl World {
    /// Logs a fork of `child` by `parent` (the table calls this).
    pub(super) fn log_fork(&mut self, parent: u32, child: u32) {
        let now = self.now;
        self.events.push(
            now,
            ProcEvent::Fork {
                parent: Task::process(parent),
                child: Task::process(child),
            },
        );
    }

    /// Logs the exit of `pid`, a child of `ppid` (the table calls this).
    pub(super) fn log_exit(&mut self, pid: u32, ppid: u32, exit: Exit) {
        let how = match exit {
            Exit::Code(c) => Ended::Code(c),
            Exit::Signaled(s) => Ended::Signaled {
                signal: s as u8,
                core: false,
            },
        };
        let now = self.now;
        self.events.push(
            now,
            ProcEvent::Exit {
                task: Task::process(pid),
                parent: Some(Task::process(ppid)),
                how: Some(how),
            },
        );
    }
}

impl FakeHost {
    /// The process at `pid` calls `setsid`: it leads a new session and group.
    pub fn setsid(&self, pid: u32) {
        let mut w = self.world();
        let Some(live) = w.procs.get_mut(&pid) else {
            return;
        };
        live.p.pgrp = pid;
        live.p.session = pid;
        let now = w.now;
        w.events.push(
            now,
            ProcEvent::Setsid {
                task: Task::process(pid),
            },
        );
    }

    /// The next `n` events are dropped, as a full socket drops them; a loss counting
    /// them comes after the last one (as the sequence gap tells it).
    pub fn drop_events(&self, n: u64) {
        self.world().events.to_drop += n;
    }

    /// A loss the kernel could not count (`ENOBUFS`) comes now.
    pub fn lose_events(&self) {
        let mut w = self.world();
        let now = w.now;
        w.events.push(now, ProcEvent::Lost { count: None });
    }

    /// What `Host::events` gives from now on: the connector (the default), or a
    /// fallback with its reason.
    pub fn set_events(&self, source: Source, why: Option<NoEvents>) {
        let mut w = self.world();
        w.events.source = source;
        w.events.why = why;
    }

    /// Ticks only, as with `LEAKTOP_NO_CONNECTOR=1` and no pidfds: for tests that move
    /// the clock from one of a loop's waits to the next (a loop that listens for events
    /// waits in slices of its own, and the fake source lets its time pass itself).
    pub fn ticks_only(&self) {
        self.set_events(Source::Ticks, Some(NoEvents::Disabled));
    }

    /// Every event logged so far (dropped ones left out).
    pub fn logged_events(&self) -> Vec<Stamped> {
        self.world().events.events.clone()
    }

    /// The requests `Host::events` was called with, in order.
    pub fn event_requests(&self) -> Vec<EventRequest> {
        self.world().events.requests.clone()
    }

    /// `Host::events` on the fake.
    pub(super) fn event_source(&self, request: EventRequest) -> Box<dyn EventSource> {
        let mut w = self.world();
        w.events.requests.push(request);
        let (source, why) = match (w.events.source, request.connector) {
            (Source::Connector, false) => (Source::Pidfd, Some(NoEvents::Disabled)),
            (source, _) => (source, w.events.why.clone()),
        };
        Box::new(FakeEvents {
            host: self.clone(),
            source,
            why,
            next: w.events.events.len(),
            watched: Vec::new(),
        })
    }
}

/// An event source over the fake's log: it hands out what was logged after it was made.
struct FakeEvents {
    host: FakeHost,
    source: Source,
    why: Option<NoEvents>,
    /// The first event in the log not handed out yet.
    next: usize,
    watched: Vec<Identity>,
}

impl FakeEvents {
    fn take(&mut self, out: &mut Vec<Stamped>) -> bool {
        let w = self.host.world();
        let fresh = &w.events.events[self.next..];
        self.next = w.events.events.len();
        let before = out.len();
        match self.source {
            Source::Connector => out.extend_from_slice(fresh),
            // A pidfd tells the exit of the very process it was opened on, nothing else.
            Source::Pidfd => {
                for s in fresh {
                    if let ProcEvent::Exit { task, .. } = s.event
                        && self.watched.iter().any(|id| id.pid == task.pid)
                    {
                        self.watched.retain(|id| id.pid != task.pid);
                        out.push(Stamped {
                            at_ns: s.at_ns,
                            event: ProcEvent::Exit {
                                task,
                                parent: None,
                                how: None,
                            },
                        });
                    }
                }
            }
            Source::Ticks => {}
        }
        out.len() > before
    }
}

impl EventSource for FakeEvents {
    fn source(&self) -> Source {
        self.source
    }

    fn fallback_reason(&self) -> Option<&NoEvents> {
        self.why.as_ref()
    }

    /// As a pidfd: one already open stays with its process (even once it exited);
    /// a new one opens only on a process that is there.
    fn watch(&mut self, ids: &[Identity]) {
        let w = self.host.world();
        let mut watched: Vec<Identity> = ids
            .iter()
            .filter(|id| {
                self.watched.contains(id)
                    || w.procs.get(&id.pid).is_some_and(|l| l.p.start == id.start)
            })
            .copied()
            .collect();
        watched.dedup();
        self.watched = watched;
    }

    /// Hands out what is waiting; if nothing is, lets `timeout` of fake time pass
    /// (what falls due on the way happens) and hands out what that made.
    fn wait(&mut self, timeout: Duration, out: &mut Vec<Stamped>) -> Result<(), EventError> {
        if !self.take(out) {
            self.host.world().advance(timeout);
            self.take(out);
        }
        Ok(())
    }

    fn clock_ns(&self) -> u64 {
        self.host.world().now.as_nanos() as u64
    }
}
