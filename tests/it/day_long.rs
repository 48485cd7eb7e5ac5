//! A day at 1 s (86,400 ticks) of a 150-process family whose RSS changes every tick,
//! through the tracker, the alert detector and the view's history: what the live view
//! holds after a day must stay well under 50 MB, with the whole timeline available.
//!
//! Heap is counted by a global allocator (this test is alone in its binary); the
//! process's peak RSS (VmHWM) is checked too.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use leaktop::model::alerts::AlertDetector;
use leaktop::model::tracker::Outside;
use leaktop::model::{AlertConfig, Tracker};
use leaktop::sample::{Comm, Command, Identity, ProcSample};
use leaktop::ui::history::History;

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // Large blocks grow in place (mremap): count the change, not a copy.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            if new_size >= layout.size() {
                let grow = new_size - layout.size();
                let now = LIVE.fetch_add(grow, Ordering::Relaxed) + grow;
                PEAK.fetch_max(now, Ordering::Relaxed);
            } else {
                LIVE.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
            }
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const TICKS: u32 = 86_400;
const FAMILY: u32 = 150;
const MB: usize = 1 << 20;

fn sample(pid: u32, ppid: u32, rss_kb: u64, cpu_ms: u64) -> ProcSample {
    ProcSample {
        pid,
        ppid,
        state: b'S',
        rss_kb,
        pgrp: 1000,
        session: 1000,
        start: u64::from(pid),
        cpu_ms,
        comm: Comm::new(b"worker"),
    }
}

fn vm_hwm_kb() -> Option<usize> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[test]
#[cfg_attr(
    debug_assertions,
    ignore = "two minutes unoptimised; CI runs: cargo test --release --test it day_long -- --include-ignored"
)]
fn a_day_of_ticks_fits_in_well_under_50_mb() {
    let root = sample(1000, 1, 400_000, 0);
    let describe = |id: Identity| {
        Some(Command {
            name: "worker".into(),
            cmd: format!("python3 -m worker --shard {} --pool forkserver", id.pid),
        })
    };
    let mut tracker = Tracker::new(
        root,
        describe(root.id()).unwrap(),
        Outside {
            root_ancestors: vec![],
            root_parent: None,
            subreapers: Vec::new(),
            watcher: None,
            watcher_ancestors: vec![],
        },
    );
    let mut alerts = AlertDetector::new(AlertConfig::default());
    let mut history = History::default();

    // RSS in whole pages, moving by up to ±256 KiB a tick; the root leaks 40 KiB a tick.
    let mut rss: Vec<u64> = (0..FAMILY).map(|k| 20_000 + u64::from(k) * 400).collect();
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut samples = Vec::with_capacity(FAMILY as usize);
    let baseline = LIVE.load(Ordering::Relaxed);
    for t in 1..=TICKS {
        samples.clear();
        for k in 0..FAMILY {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let r = &mut rss[k as usize];
            *r = if k == 0 {
                *r + 40
            } else {
                (*r + (seed % 129) * 4).saturating_sub(256).max(4000)
            };
            let (pid, ppid) = if k == 0 { (1000, 1) } else { (1000 + k, 1000) };
            let cpu = u64::from(t) * 10 * u64::from(k % 3);
            samples.push(sample(pid, ppid, *r, cpu));
        }
        tracker.update(&samples, &mut |id| describe(id));
        let mut tick = tracker.snapshot(u64::from(t - 1) * 1000, u64::from(t) * 1000);
        tick.alerts = alerts.observe(&tick);
        history.push(tick);
    }
    let held = LIVE.load(Ordering::Relaxed) - baseline;
    let peak = PEAK.load(Ordering::Relaxed) - baseline;
    let hwm_mb = vm_hwm_kb().map(|kb| kb / 1024);
    eprintln!("{history:?}");
    eprintln!(
        "tracker: {} live members",
        tracker.snapshot(0, 0).processes.len()
    );
    eprintln!(
        "after {TICKS} ticks of {FAMILY} processes: heap held {} MB, heap peak {} MB, \
         history {} MB, process peak RSS {hwm_mb:?} MB",
        held / MB,
        peak / MB,
        history.heap_bytes() / MB,
    );
    assert!(peak < 45 * MB, "heap peaked at {} MB", peak / MB);
    if let Some(hwm) = hwm_mb {
        assert!(hwm < 50, "peak RSS {hwm} MB");
    }

    // The whole timeline is still there.
    assert_eq!(history.len(), TICKS as usize);
    let noon = history.get(43_200).unwrap();
    assert_eq!(noon.tick, 43_201);
    assert_eq!(noon.processes.len(), FAMILY as usize);
    let root_series = history.rss_of(root.id(), 0);
    assert_eq!(root_series.last(), Some(&(TICKS, rss[0])));
}
