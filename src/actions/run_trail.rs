//! The record a `leaktop run` leaves behind ([`RunRecord`]), kept through the host:
//! written when the run starts, its end time rewritten about once a second
//! ([`HEARTBEAT_MS`]) while it runs, finished when it ends. `leaktop orphans` trusts a
//! process's `LEAKTOP_RUN` marker only with it.
//!
//! A run that leaves nothing of CMD's family alive removes its record: no process can
//! carry its marker any more. One killed or leaving survivors keeps it (until the
//! runtime directory goes: at logout or reboot).

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::host::{Host, KeptFile};
use crate::model::run_record::{HEARTBEAT_MS, RunRecord};
use crate::sample::Identity;

/// A run's record while the run lasts.
pub struct RunTrail {
    host: Arc<dyn Host>,
    record: RunRecord,
    file: Box<dyn KeptFile>,
    last_beat: Instant,
}

/// The file name of the record of run `pid.start`.
fn name(pid: u32, start: u64) -> String {
    format!("run-{pid}.{start}")
}

impl RunTrail {
    /// Starts this process's record. `Ok(None)` where the host keeps none (no runtime
    /// directory, no boot id, an unknown start time).
    ///
    /// # Errors
    /// The record cannot be written: the error says where and why.
    pub fn begin(host: Arc<dyn Host>) -> std::io::Result<Option<RunTrail>> {
        let pid = host.own_pid();
        let (Some(me), Some(boot), Some(now)) = (host.probe(pid), host.boot_id(), host.now_start())
        else {
            return Ok(None);
        };
        let Some(uid) = host.uid(Identity {
            pid,
            start: me.start,
        }) else {
            return Ok(None);
        };
        let record = RunRecord {
            pid,
            start: me.start,
            boot,
            exe: host.exe_id(pid),
            uid,
            end: now,
            ended: false,
        };
        let Some(file) = host.keep_run_record(&name(pid, me.start), &record.to_text())? else {
            return Ok(None);
        };
        Ok(Some(RunTrail {
            last_beat: host.now(),
            host,
            record,
            file,
        }))
    }

    /// Rewrites the end time as now, at most once a [`HEARTBEAT_MS`]: the run was alive
    /// then. A failed write is ignored: the next beat tries again.
    pub fn beat(&mut self) {
        let now = self.host.now();
        if now.duration_since(self.last_beat) < Duration::from_millis(HEARTBEAT_MS) {
            return;
        }
        self.last_beat = now;
        self.write(false);
    }

    /// The run is over: its record is removed if nothing of the family is left
    /// (`left_alive` false), and otherwise finished with its end time.
    pub fn finish(mut self, left_alive: bool) {
        if left_alive {
            self.write(true);
        } else {
            let _ = self.file.remove();
        }
    }

    fn write(&mut self, ended: bool) {
        if let Some(now) = self.host.now_start() {
            self.record.end = now.max(self.record.end);
        }
        self.record.ended = ended;
        let _ = self.file.rewrite(&self.record.to_text());
    }
}

/// The record of run `pid.start` kept for user `uid`, if one passes the host's checks
/// (owner, mode, no symlink), reads as a record, and is of this boot.
pub fn read(host: &dyn Host, uid: u32, pid: u32, start: u64) -> Option<RunRecord> {
    let text = host.run_record(uid, &name(pid, start))?;
    let record = RunRecord::parse(&text).ok()?;
    (host.boot_id().as_deref() == Some(record.boot.as_str())).then_some(record)
}
