//! The alerts at their default thresholds on real processes, at the timescales of real
//! leaks: a child every 10 s, 10 MB kept per 30 s cycle, and healthy shapes that must
//! stay silent for minutes. Each test takes two to four minutes and mostly waits, so
//! run them side by side:
//!
//! ```text
//! cargo test --profile ci --test it alerts_slow -- --include-ignored --test-threads 16
//! ```
//!
//! (about four minutes in all; ignored where debug assertions are on, like `day_long`:
//! `.ci/run` runs them with `--include-ignored`, beside its other steps).

use crate::common;

use std::path::Path;

use common::{Reaped, Tag, leaktop};
use leaktop::format::{self, Recording};
use leaktop::model::AlertKind;

/// Records `pid` at `interval` for `duration` with the default thresholds.
fn record(pid: u32, interval: &str, duration: &str) -> Recording {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("slow.ticklog");
    let status = leaktop()
        .args(["record", "--quiet", "--interval", interval])
        .args(["--duration", duration, "--pid", &pid.to_string()])
        .arg("--out")
        .arg(&out)
        .status()
        .unwrap();
    assert!(status.success());
    format::read(&out).unwrap()
}

/// When (seconds after the first tick) an alert of `kind` on `pid` was first raised,
/// checking that it stood at every tick from then on.
fn raised_at(rec: &Recording, kind: AlertKind, pid: u32) -> Option<f64> {
    let on = |t: &leaktop::model::Tick| t.alerts.iter().any(|a| a.kind == kind && a.pid == pid);
    let first = rec.ticks.iter().position(on)?;
    let flicker = rec.ticks[first..].iter().find(|t| !on(t));
    assert!(flicker.is_none(), "{kind} on {pid} cleared at {flicker:?}");
    let t0 = rec.ticks[0].elapsed_ms;
    Some((rec.ticks[first].elapsed_ms - t0) as f64 / 1000.0)
}

fn spawn(tag: &Tag, program: &str, args: &[&str]) -> Reaped {
    Reaped(tag.command(program).args(args).spawn().unwrap())
}

/// A leak: `kind` on the leaking process within `within` seconds, and no other alert.
fn caught(leak: &Reaped, interval: &str, duration: &str, kind: AlertKind, within: f64) {
    let rec = record(leak.id(), interval, duration);
    let at = raised_at(&rec, kind, leak.id());
    eprintln!("{kind} at {interval}: raised after {at:?} s");
    let at = at.unwrap_or_else(|| panic!("no {kind} at {interval}"));
    // Never before the minimum span of evidence (2 min), and within the README's time.
    assert!(
        (110.0..=within).contains(&at),
        "{kind} at {interval}: {at} s"
    );
    let others: Vec<_> = rec
        .ticks
        .iter()
        .flat_map(|t| &t.alerts)
        .filter(|a| a.kind != kind)
        .collect();
    assert!(others.is_empty(), "{others:?}");
}

const CHILD_EVERY: &str = "while :; do sleep 3600 & sleep $0; done";

#[test]
#[cfg_attr(
    debug_assertions,
    ignore = "minutes each; CI runs it optimised: cargo test --profile ci --test it alerts_slow -- --include-ignored --test-threads 16"
)]
fn a_child_every_2s_at_200ms_is_accumulating() {
    let tag = Tag::new();
    let leak = spawn(&tag, "sh", &["-c", CHILD_EVERY, "2"]);
    caught(&leak, "200ms", "165s", AlertKind::Accumulating, 150.0);
}

#[test]
#[cfg_attr(
    debug_assertions,
    ignore = "minutes each; CI runs it optimised: cargo test --profile ci --test it alerts_slow -- --include-ignored --test-threads 16"
)]
fn a_child_every_10s_at_1s_is_accumulating() {
    let tag = Tag::new();
    let leak = spawn(&tag, "sh", &["-c", CHILD_EVERY, "10"]);
    caught(&leak, "1s", "4m", AlertKind::Accumulating, 170.0);
}

/// Takes 20 MB, keeps 10 of it and frees the other 10, every `$1` seconds.
const RATCHET: &str = "import sys, time\nhalf = float(sys.argv[1]) / 2\nkeep = []\nwhile True:\n    tmp = b'x' * (10 << 20)\n    keep.append(b'y' * (10 << 20))\n    time.sleep(half)\n    del tmp\n    time.sleep(half)\n";

#[test]
#[cfg_attr(
    debug_assertions,
    ignore = "minutes each; CI runs it optimised: cargo test --profile ci --test it alerts_slow -- --include-ignored --test-threads 16"
)]
fn ten_mb_kept_every_6s_at_200ms_is_an_rss_ratchet() {
    let tag = Tag::new();
    let leak = spawn(&tag, "python3", &["-c", RATCHET, "6"]);
    caught(&leak, "200ms", "165s", AlertKind::RssRatchet, 150.0);
}

#[test]
#[cfg_attr(
    debug_assertions,
    ignore = "minutes each; CI runs it optimised: cargo test --profile ci --test it alerts_slow -- --include-ignored --test-threads 16"
)]
fn ten_mb_kept_every_30s_at_1s_is_an_rss_ratchet() {
    let tag = Tag::new();
    let leak = spawn(&tag, "python3", &["-c", RATCHET, "30"]);
    caught(&leak, "1s", "4m", AlertKind::RssRatchet, 200.0);
}

/// A healthy process watched for four minutes at 200 ms and at 1 s at once: no alert
/// on it or on anything it starts.
fn silent(what: &str, healthy: &Reaped) {
    let pid = healthy.id();
    let fast = std::thread::spawn(move || record(pid, "200ms", "4m"));
    let slow = record(pid, "1s", "4m");
    for (interval, rec) in [("200ms", fast.join().unwrap()), ("1s", slow)] {
        let alerts: Vec<_> = rec.ticks.iter().flat_map(|t| &t.alerts).collect();
        assert!(alerts.is_empty(), "{what} at {interval}: {alerts:?}");
        assert!(
            rec.ticks.len() > 200,
            "{what} at {interval}: {} ticks",
            rec.ticks.len()
        );
    }
}

#[test]
#[cfg_attr(
    debug_assertions,
    ignore = "minutes each; CI runs it optimised: cargo test --profile ci --test it alerts_slow -- --include-ignored --test-threads 16"
)]
fn a_warm_up_of_30s_then_flat_is_silent() {
    let tag = Tag::new();
    let script = "import time\nheld = []\nfor _ in range(30):\n    held.append(b'x' * (4 << 20))\n    time.sleep(1)\nwhile True:\n    sum(range(100000))\n    time.sleep(0.5)\n";
    silent("warm-up", &spawn(&tag, "python3", &["-c", script]));
}

#[test]
#[cfg_attr(
    debug_assertions,
    ignore = "minutes each; CI runs it optimised: cargo test --profile ci --test it alerts_slow -- --include-ignored --test-threads 16"
)]
fn a_pool_ramping_up_to_8_workers_over_20s_is_silent() {
    let tag = Tag::new();
    let script = "for i in 1 2 3 4 5 6 7 8; do sleep 3600 & sleep 2.5; done; wait";
    silent("pool ramp", &spawn(&tag, "sh", &["-c", script]));
}

#[test]
#[cfg_attr(
    debug_assertions,
    ignore = "minutes each; CI runs it optimised: cargo test --profile ci --test it alerts_slow -- --include-ignored --test-threads 16"
)]
fn a_garbage_collected_sawtooth_every_15s_is_silent() {
    let tag = Tag::new();
    // 30 MB held throughout; a cache filled over 15 s, then dropped, again and again.
    let script = "import time\nfloor = b'f' * (30 << 20)\nwhile True:\n    cache = []\n    for _ in range(15):\n        cache.append(b'c' * (3 << 20))\n        time.sleep(1)\n    cache = None\n";
    silent("sawtooth", &spawn(&tag, "python3", &["-c", script]));
}

#[test]
#[cfg_attr(
    debug_assertions,
    ignore = "minutes each; CI runs it optimised: cargo test --profile ci --test it alerts_slow -- --include-ignored --test-threads 16"
)]
fn a_pool_that_retires_and_restarts_a_worker_every_10s_is_silent() {
    let tag = Tag::new();
    let script = "import subprocess, time\nstart = lambda: subprocess.Popen(['sleep', '3600'])\nworkers = [start() for _ in range(4)]\nwhile True:\n    time.sleep(10)\n    old = workers.pop(0)\n    old.kill()\n    old.wait()\n    workers.append(start())\n";
    silent("recycling pool", &spawn(&tag, "python3", &["-c", script]));
}

#[test]
#[cfg_attr(
    debug_assertions,
    ignore = "minutes each; CI runs it optimised: cargo test --profile ci --test it alerts_slow -- --include-ignored --test-threads 16"
)]
fn make_j8_is_silent() {
    let tag = Tag::new();
    let dir = tempfile::tempdir().unwrap();
    write_makefile(dir.path(), 2000);
    let make = Reaped(
        tag.command("make")
            .args(["-s", "-j8", "-C"])
            .arg(dir.path())
            .spawn()
            .unwrap(),
    );
    silent("make -j8", &make);
}

/// A makefile of `n` jobs of 0.5 to 1.5 s: about `n / 8` seconds at `-j8`.
fn write_makefile(dir: &Path, n: u32) {
    let jobs: Vec<String> = (0..n).map(|i| format!("j{i}")).collect();
    let mut text = format!(".PHONY: all {0}\nall: {0}\n", jobs.join(" "));
    for (i, j) in jobs.iter().enumerate() {
        let secs = ["0.5", "1", "1.5"][i % 3];
        text.push_str(&format!("{j}:\n\tsleep {secs}\n"));
    }
    std::fs::write(dir.join("Makefile"), text).unwrap();
}

#[test]
#[cfg_attr(
    debug_assertions,
    ignore = "minutes each; CI runs it optimised: cargo test --profile ci --test it alerts_slow -- --include-ignored --test-threads 16"
)]
fn batches_of_short_jobs_are_silent() {
    let tag = Tag::new();
    let script =
        "while :; do for i in 1 2 3 4 5 6 7 8 9 10 11 12; do sleep 3 & done; wait; sleep 10; done";
    silent("batches", &spawn(&tag, "sh", &["-c", script]));
}
