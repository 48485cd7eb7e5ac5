//! A small recording of the field report's forkserver leak, for format, report and
//! view tests: a `cce serve` daemon exits and leaves its multiprocessing pool (a
//! resource tracker, a forkserver and its workers) and an escaped `sleep` behind.

use super::row;
use crate::format::Recording;
use crate::model::{Alert, AlertKind, Event, Header, ProcRow, Tick};

const SERVE: &str = "python3 -m cce serve --project-dir /home/u/slop clicker";

/// The recording: tick 1 the live family, tick 2 the root gone and its pool leaked,
/// tick 3 a worker exited and an idle alert standing.
pub fn forkserver_recording() -> Recording {
    let first = first_tick();
    let second = second_tick(&first);
    let third = third_tick(&second);
    Recording {
        header: Header {
            root_pid: 213019,
            root_start: 100,
            root_cmd: SERVE.into(),
            interval_ms: 1000,
            started_ms: 1_795_000_000_000,
            host: "wsl".into(),
            events: None,
            start_clock: None,
        },
        ticks: vec![first, second, third],
        truncated: None,
    }
}

/// A `python3` process as the sampler shows it.
fn proc(pid: u32, ppid: u32, rss_kb: u64, start: u64, cmd: &str) -> ProcRow {
    ProcRow {
        rss_kb,
        start,
        cpu_ms: 1250,
        name: "python3".into(),
        cmd: cmd.into(),
        ..row(pid, ppid)
    }
}

/// The daemon, its resource tracker, its forkserver and two workers, one of them
/// with control characters and a backslash in its command line.
fn first_tick() -> Tick {
    let serve = proc(213019, 1556, 320_512, 100, SERVE);
    let tracker = proc(
        214862,
        213019,
        15360,
        110,
        "python3 -c from multiprocessing.resource_tracker import main;main(7)",
    );
    let forkserver = proc(
        214863,
        213019,
        16384,
        111,
        "python3 -c from multiprocessing.forkserver import main; main(8, 9, ['__main__'], **{'sys_path': ['/a b']})",
    );
    let worker = ProcRow {
        state: 'R',
        ..proc(
            214864,
            214863,
            1_607_680,
            112,
            "python3 -c from multiprocessing.forkserver import main",
        )
    };
    // As the sampler keeps it: the tab and newline of the command line escaped, a
    // backslash as it was.
    let odd = ProcRow {
        name: "tmux: server".into(),
        ..proc(
            214865,
            214863,
            863_232,
            113,
            "weird\\ttab\\nnewline \\ back",
        )
    };
    Tick {
        tick: 1,
        elapsed_ms: 0,
        time_ms: 1_795_000_000_000,
        root_alive: true,
        processes: vec![serve, tracker, forkserver, worker, odd],
        events: vec![],
        alerts: Vec::new(),
    }
}

/// The daemon gone: its tracker and forkserver reparented to init, the pool leaked
/// with memory as the monitor rations it, and a `sleep` that escaped.
fn second_tick(first: &Tick) -> Tick {
    let mut leaked: Vec<ProcRow> = first.processes[1..].to_vec();
    for p in &mut leaked {
        p.leaked = true;
        p.leaked_since = Some(2);
        p.state = 'S';
    }
    for p in &mut leaked[..2] {
        p.ppid = 1;
        p.reparented_from = Some(213019);
    }
    // Memory as the monitor rations it: the forkserver read a tick ago (swapped a
    // little), the worker this tick (its pages shared with its siblings: PSS far
    // below RSS), the tracker never (unknown, not 0).
    leaked[1].pss_kb = Some(9_216);
    leaked[1].uss_kb = Some(7_168);
    leaked[1].swap_kb = Some(512);
    leaked[1].mem_tick = Some(1);
    leaked[2].pss_kb = Some(268_000);
    leaked[2].uss_kb = Some(4_096);
    leaked[2].swap_kb = Some(0);
    leaked[2].mem_tick = Some(2);
    // The worker holds 2 GiB on the GPU; the others' GPU memory is unknown.
    leaked[2].gpu_kb = Some(2 * 1024 * 1024);
    leaked.push(ProcRow {
        name: "sleep".into(),
        leaked: true,
        escaped: true,
        leaked_since: Some(2),
        ..proc(215000, 1, 2048, 150, "sleep 300")
    });
    Tick {
        tick: 2,
        elapsed_ms: 1003,
        time_ms: 1_795_000_001_003,
        root_alive: false,
        processes: leaked,
        events: vec![
            Event::Exited { pid: 213019, start: 100 },
            Event::RootExited { pid: 213019, start: 100 },
            Event::Reparented { pid: 214862, start: 110, from: 213019, to: 1 },
            Event::Reparented { pid: 214863, start: 111, from: 213019, to: 1 },
            Event::Escaped {
                pid: 215000,
                start: 150,
                ppid: 1,
                evidence: "parent is init (pid 1); started after the root; shares process group 213019 with member 213019".into(),
            },
        ],
        alerts: vec![],
    }
}

/// The odd worker exited, an orphan of the old root exited within its leak grace,
/// and the big worker is idle.
fn third_tick(second: &Tick) -> Tick {
    let mut third = second.clone();
    third.tick = 3;
    third.elapsed_ms = 2001;
    third.time_ms += 998;
    third.events = vec![
        Event::Exited {
            pid: 214865,
            start: 113,
        },
        // A worker of the old root that was orphaned and exited within the leak grace.
        Event::Exited {
            pid: 214870,
            start: 118,
        },
        Event::OrphanExited {
            pid: 214870,
            start: 118,
            after_ms: 120,
        },
    ];
    third.processes.retain(|p| p.pid != 214865);
    third.alerts = vec![Alert {
        kind: AlertKind::Idle,
        pid: 214864,
        start: 112,
        since_tick: 3,
        reason: "no CPU used for 61s while holding 1.53 GiB \\ (a backslash kept)".into(),
    }];
    third
}
