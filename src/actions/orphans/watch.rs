//! `orphans --watch`: each new orphan group reported once, when it has lasted
//! `--older-than`. With process events ([`Host::events`]: the connector, else pidfds on
//! every process that has children) the scan that finds a group runs when the exit
//! that made it happens, and the report comes `--older-than` after that scan; the
//! scans at `--interval` go on beside them (they are all there is with ticks only, and
//! what finds a parent the pidfds were not opened on).

use std::time::{Duration, Instant};

use crate::host::{self, Host};
use crate::model::orphans::OrphanGroup;
use crate::sample::events::{EventRequest, EventSource, ProcEvent, Source, Stamped, Ticks};
use crate::sample::{IdMap, IdSet, Identity, ProcSample};

use super::{Io, Options, OrphansError, Output, Scanner, orphan_figures};

/// The longest one wait lasts before the loop looks at its reader again (1 s), so a
/// reader leaving is noticed within one even at `--interval 1h`.
const STEP: Duration = Duration::from_secs(1);

/// The exits that can leave orphans behind, heard between two scans: those of
/// processes that have children.
struct Orphanings {
    events: Box<dyn EventSource>,
    /// The processes that had children at the last scan, and the ones that forked
    /// since (the connector tells forks): an exit of any other leaves no orphan.
    parents: IdSet<u32>,
    /// The same as identities, for the pidfd source to open its pidfds on.
    watched: Vec<Identity>,
    got: Vec<Stamped>,
}

impl Orphanings {
    fn new(host: &dyn Host) -> Orphanings {
        Orphanings {
            events: host.events(EventRequest::from_env()),
            parents: IdSet::default(),
            watched: Vec::new(),
            got: Vec::new(),
        }
    }

    /// Whether events come between scans at all.
    fn listening(&self) -> bool {
        self.events.source() != Source::Ticks
    }

    /// Takes the parents from a scan's processes.
    fn scanned(&mut self, samples: &[ProcSample]) {
        self.parents.clear();
        self.parents
            .extend(samples.iter().map(|s| s.ppid).filter(|&p| p > 1));
        self.watched.clear();
        self.watched.extend(
            (samples.iter())
                .filter(|s| self.parents.contains(&s.pid) && !s.has_exited())
                .map(ProcSample::id),
        );
        if self.events.source() == Source::Pidfd {
            self.events.watch(&self.watched);
        }
    }

    /// Waits up to `timeout` for events (sleeps with ticks only); true when a parent
    /// exited or events were lost (scan now). When the source breaks, says so and
    /// goes on with ticks.
    fn wait(&mut self, host: &dyn Host, timeout: Duration, io: &mut Io) -> bool {
        if !self.listening() {
            host.sleep(timeout);
            return false;
        }
        self.got.clear();
        if let Err(e) = self.events.wait(timeout, &mut self.got) {
            (io.say)(&format!(
                "leaktop: warning: {e}; scanning at --interval only from now on\n"
            ));
            self.events = Box::new(Ticks::new(None));
            return false;
        }
        let mut orphaning = false;
        for s in &self.got {
            match s.event {
                ProcEvent::Fork { parent, child } if child.is_process() => {
                    self.parents.insert(parent.tgid);
                }
                ProcEvent::Exit { task, .. } if task.is_process() => {
                    orphaning |= self.parents.contains(&task.pid);
                }
                ProcEvent::Lost { .. } => orphaning = true,
                _ => {}
            }
        }
        orphaning
    }
}

/// `--watch`: scans at `interval` and reports each group once, when it has lasted
/// `--older-than`; with events also when a parent exits, and again when a group
/// found then is due. `--count` counts the scans at the interval.
pub(super) fn watch(
    scanner: &mut Scanner,
    host: &dyn Host,
    opts: &Options,
    interval: Duration,
    io: &mut Io,
) -> Result<(), OrphansError> {
    let mut reported: IdSet<String> = IdSet::default();
    // When each group was first seen: one is reported once it has lasted
    // --older-than, so a pool that exits by itself after its parent is not.
    let mut first_seen: IdMap<String, Instant> = IdMap::default();
    let mut orphanings = Orphanings::new(host);
    let mut scans = 0u64;
    let mut next_scan = host.now();
    // After a parent's exit, when to look again: its orphans may have been younger
    // than --older-than, and so not candidates yet, at the scan the exit started.
    let mut recheck: Option<Instant> = None;
    let mut heard = false;
    loop {
        let periodic = host.now() >= next_scan;
        if recheck.is_some_and(|at| host.now() >= at) {
            recheck = None;
        }
        if heard {
            let at = host.now() + opts.scan.older_than;
            recheck = Some(recheck.map_or(at, |r| r.max(at)));
        }
        if periodic {
            scans += 1;
            next_scan = host.now() + interval;
        }
        let scan = scanner.scan(&opts.scan);
        orphanings.scanned(&scan.samples);
        let mut now: IdSet<String> = IdSet::default();
        let mut due: Vec<&OrphanGroup> = Vec::new();
        // The earliest time a group seen but not yet reported will have lasted.
        let mut ripe: Option<Instant> = None;
        for g in (scan.classified.groups.iter()).filter(|g| opts.filter.selects(g)) {
            now.insert(g.id.clone());
            let since = *first_seen.entry(g.id.clone()).or_insert_with(|| host.now());
            if reported.contains(&g.id) {
                continue;
            }
            if host.now().duration_since(since) < opts.scan.older_than {
                let at = since + opts.scan.older_than;
                ripe = Some(ripe.map_or(at, |r| r.min(at)));
                continue;
            }
            reported.insert(g.id.clone());
            due.push(g);
        }
        report(scanner, host, &scan, &due, opts, io)?;
        if let Some(state) = &opts.metrics {
            state.set_orphans(orphan_figures(scanner, &scan, &opts.filter));
        }
        // Only the groups alive now are remembered: memory stays bounded.
        reported.retain(|id| now.contains(id));
        first_seen.retain(|id, _| now.contains(id));
        if scans == 1 && periodic {
            // After the first scan: from now on an adoption is seen as it happens.
            (io.say)(&watching_line(interval, &orphanings));
        }
        if periodic && opts.count.is_some_and(|n| scans >= n) {
            return Ok(());
        }
        // Until the next scan at the interval, a group's --older-than (with events:
        // without them a group waits for the interval, as before), or a parent's exit.
        let wake = match orphanings.listening() {
            true => [ripe, recheck]
                .into_iter()
                .flatten()
                .fold(next_scan, Instant::min),
            false => next_scan,
        };
        heard = false;
        loop {
            if (io.reader_gone)() {
                return Ok(());
            }
            let left = wake.saturating_duration_since(host.now());
            if left.is_zero() {
                break;
            }
            if orphanings.wait(host, left.min(STEP), io) {
                heard = true;
                break;
            }
        }
    }
}

/// The line said after the first scan: how new groups are found.
fn watching_line(interval: Duration, orphanings: &Orphanings) -> String {
    let every = humantime::format_duration(interval);
    let source = orphanings.events.source();
    if source == Source::Ticks {
        return format!("leaktop: watching for new orphan groups every {every}; Ctrl-C stops\n");
    }
    format!(
        "leaktop: watching for new orphan groups as parents exit ({} events) and every \
         {every}; Ctrl-C stops\n",
        source.name()
    )
}

/// Writes the groups now due, one line (or NDJSON object) each.
fn report(
    scanner: &Scanner,
    host: &dyn Host,
    scan: &super::Scan,
    due: &[&OrphanGroup],
    opts: &Options,
    io: &mut Io,
) -> Result<(), OrphansError> {
    let idle_ms = if opts.output == Output::Json && !due.is_empty() {
        scanner.idle_of(scan, due)
    } else {
        IdMap::default()
    };
    let gpu = scanner.gpu_of(due);
    let age = |start| scan.age_ms(start);
    let view = crate::format::orphans::View {
        memory: &scan.memory,
        idle_ms: &idle_ms,
        age_ms: &age,
        gpu: &gpu,
    };
    for g in due {
        let line = match opts.output {
            Output::Json => {
                let mut v = crate::format::orphans::group_json(g, &view);
                v["time_ms"] = host::wall_ms(host).into();
                format!("{v}\n")
            }
            Output::Summary => crate::format::orphans::summary(&[g], &view),
            _ => crate::format::orphans::appeared_line(g, &view, opts.output.width()),
        };
        (io.out)(&line)?;
    }
    Ok(())
}
