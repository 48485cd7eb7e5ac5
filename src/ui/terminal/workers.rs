//! The loop's workers: the kill, the export and a kill dialog's memory reads, each on
//! a thread of its own so that the screen never waits for them; and the picker's
//! orphan scan.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::sync::mpsc::Sender;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use super::Msg;
use crate::actions::kill;
use crate::host::Host;
use crate::model::orphans::OrphanGroup;
use crate::sample::Identity;

/// One orphan scan, as `leaktop orphans` does it by default (grace 2 s, daemons by
/// design left out), without memory reads (the kill dialog reads its own), with the
/// stories a watcher's journal tells of them (strong ones first).
pub(super) fn scan_orphans(host: Arc<dyn Host>) -> Result<Vec<OrphanGroup>, String> {
    use crate::actions::known;
    let mut scanner =
        crate::actions::orphans::Scanner::new(host.clone()).map_err(|e| e.to_string())?;
    let opts = crate::actions::orphans::ScanOptions {
        older_than: Duration::from_secs(2),
        all: false,
        measure: false,
        allowed: Vec::new(),
    };
    let samples = host.scan();
    let alive = samples.iter().map(|s| s.id()).collect();
    let journals = known::journals(host.as_ref(), &|k| std::env::var_os(k));
    let (stories, _) = known::stories(&journals, &alive);
    let now_ms = crate::host::wall_ms(host.as_ref());
    Ok(known::judge(&mut scanner, samples, &opts, stories, now_ms)
        .scan
        .classified
        .groups)
}

/// The kill and the export in flight, if any.
#[derive(Default)]
pub(super) struct Workers {
    pub(super) killer: Option<JoinHandle<()>>,
    pub(super) exporter: Option<JoinHandle<()>>,
    /// The memory reads of a kill dialog (short: joined, not waited for by name).
    pub(super) measurer: Option<JoinHandle<()>>,
    /// Set when the view ends: the kill stops waiting for its processes to end.
    pub(super) stop_kill: Arc<AtomicBool>,
}

impl Workers {
    pub(super) fn busy(&self) -> bool {
        [&self.killer, &self.exporter]
            .into_iter()
            .flatten()
            .any(|w| !w.is_finished())
    }

    /// Reads `ids`' memory on a thread of its own; answers with [`Msg::Measured`].
    pub(super) fn measure(&mut self, ids: Vec<Identity>, host: &Arc<dyn Host>, tx: &Sender<Msg>) {
        if let Some(done) = self.measurer.take() {
            let _ = done.join();
        }
        let tx = tx.clone();
        let host = host.clone();
        self.measurer = Some(thread::spawn(move || {
            let read = ids.into_iter().map(|id| (id, host.memory(id))).collect();
            let _ = tx.send(Msg::Measured(read));
        }));
    }

    /// Runs the safe kill on a thread of its own; answers with [`Msg::Killed`].
    pub(super) fn kill(
        &mut self,
        targets: Vec<kill::Target>,
        signal: kill::KillSignal,
        grace: Duration,
        host: &Arc<dyn Host>,
        tx: &Sender<Msg>,
    ) {
        // The dialog asks for the next kill only after the last one's report.
        if let Some(done) = self.killer.take() {
            let _ = done.join();
        }
        let tx = tx.clone();
        let host = host.clone();
        let stop = self.stop_kill.clone();
        self.killer = Some(thread::spawn(move || {
            let report = kill::kill_trees_until(
                host.as_ref(),
                &targets,
                signal.signal(),
                grace,
                false,
                &stop,
            );
            let _ = tx.send(Msg::Killed(report));
        }));
    }

    pub(super) fn join(&mut self) {
        for worker in [
            self.killer.take(),
            self.exporter.take(),
            self.measurer.take(),
        ]
        .into_iter()
        .flatten()
        {
            let _ = worker.join();
        }
    }
}
