//! Builders for tests, benches and examples (not part of leaktop's interface): a
//! process row, a sample, a process's facts, a tick and a recording, each with
//! sensible defaults. Override what a test is about with struct update syntax:
//!
//! ```
//! use leaktop::model::ProcRow;
//! use leaktop::testkit::row;
//! let big = ProcRow { rss_kb: 512 << 10, ..row(7, 1) };
//! assert_eq!((big.pid, big.ppid, big.state), (7, 1, 'S'));
//! ```
//!
//! Compiled into the library (not `cfg(test)`) so that `tests/`, `benches/` and the
//! unit tests build their data one way.

mod forkserver;

pub use forkserver::forkserver_recording;

use crate::model::orphans::{ProcFacts, StdioKind};
use crate::model::{Header, ProcRow, Tick};
use crate::sample::{Comm, ProcSample};

/// The wall time of the kit's first tick, ms since the Unix epoch (2026-11-18).
pub const T0_MS: u64 = 1_795_000_000_000;

/// A row of a sleeping process `p<pid>` (its command line too) started at `pid`
/// ticks, holding 1000 KiB of RSS, no CPU time, not leaked, memory (PSS, USS, swap,
/// GPU) not measured.
pub fn row(pid: u32, ppid: u32) -> ProcRow {
    ProcRow {
        pid,
        ppid,
        state: 'S',
        rss_kb: 1000,
        start: u64::from(pid),
        cpu_ms: 0,
        name: format!("p{pid}"),
        cmd: format!("p{pid}"),
        leaked: false,
        reparented_from: None,
        escaped: false,
        leaked_since: None,
        pss_kb: None,
        uss_kb: None,
        swap_kb: None,
        mem_tick: None,
        gpu_kb: None,
    }
}

/// [`row`], leaked since tick `since` (neither reparented nor escaped: say which
/// with struct update syntax where it matters).
pub fn leaked(pid: u32, ppid: u32, since: u32) -> ProcRow {
    ProcRow {
        leaked: true,
        leaked_since: Some(since),
        ..row(pid, ppid)
    }
}

/// A sample of a sleeping process `p<pid>` started at `pid` ticks, holding 1000 KiB
/// of RSS, no CPU time, the leader of a process group and session of its own.
pub fn sample(pid: u32, ppid: u32) -> ProcSample {
    ProcSample {
        pid,
        ppid,
        state: b'S',
        rss_kb: 1000,
        pgrp: pid,
        session: pid,
        start: u64::from(pid),
        cpu_ms: 0,
        comm: Comm::new(format!("p{pid}").as_bytes()),
    }
}

/// The facts of a worker on pipes: no controlling terminal, readable, no
/// `LEAKTOP_RUN` marker, in the root cgroup, of uid 1000, not exiting.
pub fn facts() -> ProcFacts {
    ProcFacts {
        tty_nr: Some(0),
        stdio: Some([StdioKind::Pipe; 3]),
        cgroup: Some("/".into()),
        run_marker: Some(String::new()),
        uid: Some(1000),
        exiting: false,
        denied: false,
    }
}

/// Tick `n` of a recording sampled once a second, `n` seconds after [`T0_MS`], the
/// root alive, no events, no alerts.
pub fn tick(n: u32, processes: Vec<ProcRow>) -> Tick {
    let elapsed_ms = u64::from(n) * 1000;
    Tick {
        tick: n,
        elapsed_ms,
        time_ms: T0_MS + elapsed_ms,
        root_alive: true,
        processes,
        events: Vec::new(),
        alerts: Vec::new(),
    }
}

/// The header of a recording of `root` (see [`row`]) sampled once a second from
/// [`T0_MS`] on host `test`.
pub fn header(root: u32) -> Header {
    Header {
        root_pid: root,
        root_start: u64::from(root),
        root_cmd: format!("p{root}"),
        interval_ms: 1000,
        started_ms: T0_MS,
        host: "test".into(),
        events: None,
        start_clock: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_a_quiet_unleaked_process_with_memory_unknown() {
        let r = row(42, 7);
        assert_eq!((r.pid, r.ppid, r.start, r.rss_kb), (42, 7, 42, 1000));
        assert!(!r.leaked && r.pss_kb.is_none() && r.mem_tick.is_none());
        let l = leaked(43, 1, 3);
        assert!(l.leaked && l.leaked_since == Some(3) && l.reparented_from.is_none());
        let s = sample(42, 7);
        assert_eq!(s.id(), r.id());
        assert!(!s.has_exited());
        assert_eq!((s.pgrp, s.session), (42, 42));
        assert_eq!(facts().stdio, Some([StdioKind::Pipe; 3]));
        let t = tick(3, vec![r]);
        assert_eq!((t.elapsed_ms, t.time_ms), (3000, T0_MS + 3000));
        assert_eq!(header(42).root_start, 42);
    }
}
