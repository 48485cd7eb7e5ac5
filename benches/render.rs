//! Drawing costs of the interactive view: one frame of a 1,000-process family (with a
//! leaked tree and a 600-tick history for the chart), the row building alone, and a
//! keypress. Target: a frame in under 5 ms.
//!
//! Run with `cargo bench --bench render`.

// Benches and tests may unwrap: a failure there is the report.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use divan::Bencher;
use leaktop::model::{Header, ProcRow, Tick};
use leaktop::testkit;
use leaktop::ui::app::{App, Source, ViewOptions};
use leaktop::ui::render::render;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent};

const PROCESSES: u32 = 1000;
const HISTORY: u32 = 600;

/// A root with 20 workers of 49 children each, the last 5 workers leaked.
fn tick(n: u32) -> Tick {
    let mut processes = Vec::with_capacity(PROCESSES as usize);
    let row = |pid: u32, ppid: u32, leaked: bool| ProcRow {
        rss_kb: 10_000 + u64::from(pid % 97) * 100 + u64::from(n),
        cpu_ms: u64::from(n) * 3,
        name: "worker".into(),
        cmd: format!("worker --id {pid} --pool main --verbose"),
        leaked,
        reparented_from: leaked.then_some(1000),
        leaked_since: leaked.then_some(2),
        ..testkit::row(pid, ppid)
    };
    processes.push(row(1000, 1, false));
    for w in 0..20 {
        let pid = 2000 + w * 100;
        let leaked = w >= 15;
        processes.push(row(pid, if leaked { 1 } else { 1000 }, leaked));
        for c in 1..50 {
            processes.push(row(pid + c, pid, leaked));
        }
    }
    processes.truncate(PROCESSES as usize);
    Tick {
        tick: n,
        elapsed_ms: u64::from(n) * 1000,
        time_ms: 1_795_000_000_000 + u64::from(n) * 1000,
        root_alive: true,
        processes,
        events: Vec::new(),
        alerts: Vec::new(),
    }
}

fn app() -> App {
    let header = Header {
        root_pid: 1000,
        root_start: 1000,
        root_cmd: "server".into(),
        interval_ms: 1000,
        started_ms: 1_795_000_000_000,
        host: "bench".into(),
        events: None,
        start_clock: None,
    };
    let mut app = App::new(
        header,
        Source::Live,
        ViewOptions {
            color: true,
            grace: Duration::from_secs(3),
            ..ViewOptions::default()
        },
    );
    for n in 1..=HISTORY {
        app.push_tick(tick(n));
    }
    app
}

fn main() {
    divan::main();
}

#[divan::bench]
fn frame_1000_processes(bencher: Bencher) {
    let app = app();
    let mut terminal = Terminal::new(TestBackend::new(200, 60)).unwrap();
    bencher.bench_local(|| {
        terminal.draw(|f| render(f, &app)).unwrap();
    });
}

#[divan::bench]
fn rows_1000_processes(bencher: Bencher) {
    let app = app();
    bencher.bench_local(|| divan::black_box(app.rows().len()));
}

#[divan::bench]
fn keypress_down(bencher: Bencher) {
    let mut app = app();
    bencher.bench_local(|| app.handle_key(KeyEvent::from(KeyCode::Down)));
}

/// A day at 1 s (86,400 ticks) of a root and 29 workers, one more of which leaks every
/// hour: the history keys must not get slower with the history's length.
fn day() -> App {
    let header = Header {
        root_pid: 1000,
        root_start: 1000,
        root_cmd: "server".into(),
        interval_ms: 1000,
        started_ms: 1_795_000_000_000,
        host: "bench".into(),
        events: None,
        start_clock: None,
    };
    let mut app = App::new(
        header,
        Source::Replay { path: "day".into() },
        ViewOptions::default(),
    );
    for n in 1..=86_400u32 {
        let processes = (0..30u32)
            .map(|k| {
                let since = 3600 * (k + 1);
                let leaked = k > 0 && n >= since;
                ProcRow {
                    rss_kb: 10_000 + u64::from((n + k) % 50) * 4,
                    cpu_ms: u64::from(n),
                    name: "worker".into(),
                    cmd: format!("worker --id {k}"),
                    leaked,
                    reparented_from: leaked.then_some(1000),
                    leaked_since: leaked.then_some(since),
                    ..testkit::row(1000 + k, if k == 0 || leaked { 1 } else { 1000 })
                }
            })
            .collect();
        app.push_tick(Tick {
            tick: n,
            elapsed_ms: u64::from(n) * 1000,
            time_ms: 1_795_000_000_000 + u64::from(n) * 1000,
            root_alive: true,
            processes,
            events: Vec::new(),
            alerts: Vec::new(),
        });
    }
    app
}

/// `n` then `N` (to the next leak and back) across a day's history.
#[divan::bench]
fn keypress_next_event_in_a_day(bencher: Bencher) {
    let mut app = day();
    app.handle_key(KeyEvent::from(KeyCode::Char('{')));
    bencher.bench_local(|| {
        app.handle_key(KeyEvent::from(KeyCode::Char('n')));
        app.handle_key(KeyEvent::from(KeyCode::Char('N')))
    });
}

/// `}` then `{` (a tenth of the day, 8,640 ticks, on and back).
#[divan::bench]
fn keypress_tenth_in_a_day(bencher: Bencher) {
    let mut app = day();
    app.handle_key(KeyEvent::from(KeyCode::Char('<')));
    bencher.bench_local(|| {
        app.handle_key(KeyEvent::from(KeyCode::Char('}')));
        app.handle_key(KeyEvent::from(KeyCode::Char('{')))
    });
}
