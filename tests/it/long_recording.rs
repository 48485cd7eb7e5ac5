//! `leaktop report` on six hours of a 150-process family (21,600 ticks at 1 s, about
//! 1.4 GB of NDJSON) stays under 100 MB of peak RSS: the recording is read as a
//! stream, never whole.
//!
//! The recording is made from the real one in assets/: its 40 ticks repeated and
//! renumbered, each process copied 25 times under other pids.

use std::io::{BufWriter, Write};
use std::path::Path;
use std::process::{Command, Stdio};

use leaktop::format::{self, Format};
use leaktop::model::Tick;

const TICKS: u32 = 21_600;
/// Copies of each of the asset's processes in every tick (6 × 25 = 150).
const COPIES: u32 = 25;
const LIMIT_KB: i64 = 100 * 1024;

/// Writes the six-hour recording to `path` in `format`, one tick at a time.
fn write_long_recording(path: &Path, format: Format) {
    let asset = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/forkserver-pool.ndjson");
    let rec = format::read(&asset).unwrap();
    let mut out = BufWriter::new(std::fs::File::create(path).unwrap());
    let mut text = String::new();
    format.write_header(&rec.header, &mut text);
    for i in 0..TICKS {
        let base = &rec.ticks[i as usize % rec.ticks.len()];
        let mut tick = Tick {
            tick: i + 1,
            elapsed_ms: u64::from(i) * 1000,
            time_ms: rec.header.started_ms + u64::from(i) * 1000,
            root_alive: base.root_alive,
            processes: Vec::new(),
            events: Vec::new(),
            alerts: Vec::new(),
        };
        for k in 0..COPIES {
            let shift = |pid: u32| if pid > 1 { pid + k * 100_000 } else { pid };
            for p in &base.processes {
                let mut p = p.clone();
                p.pid = shift(p.pid);
                p.ppid = shift(p.ppid);
                p.reparented_from = p.reparented_from.map(shift);
                tick.processes.push(p);
            }
        }
        format.write_tick(&tick, &mut text);
        out.write_all(text.as_bytes()).unwrap();
        text.clear();
    }
    out.flush().unwrap();
}

/// Runs leaktop with `args`, output discarded; its exit status and peak RSS in KiB
/// (the kernel's own count, from wait4).
// wait4 (the kernel's peak RSS of one child) has no safe wrapper in the dependencies.
#[allow(unsafe_code)]
fn peak_rss_kb(args: &[&std::ffi::OsStr]) -> (i32, i64, std::time::Duration) {
    let started = std::time::Instant::now();
    let child = Command::new(env!("CARGO_BIN_EXE_leaktop"))
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut status = 0;
    // SAFETY: a zeroed rusage is a valid value; wait4 fills it for our own child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = child.id() as libc::pid_t;
    // SAFETY: pid is our child, not yet waited for; the pointers are valid.
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(waited, pid, "wait4: {}", std::io::Error::last_os_error());
    std::mem::forget(child);
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -1
    };
    (code, usage.ru_maxrss, started.elapsed())
}

#[test]
#[cfg_attr(
    debug_assertions,
    ignore = "minutes unoptimised; CI runs it optimised: cargo test --profile ci --test it long_recording -- --include-ignored"
)]
fn six_hours_of_150_processes_report_in_under_100_mb() {
    let dir = tempfile::tempdir().unwrap();
    let nd = dir.path().join("six-hours.ndjson");
    write_long_recording(&nd, Format::Ndjson);
    let size_mb = std::fs::metadata(&nd).unwrap().len() >> 20;
    let text = dir.path().join("six-hours.ticklog");
    let svg = dir.path().join("six-hours.svg");
    let runs: [(&str, Vec<&std::ffi::OsStr>); 3] = [
        (
            "report --json",
            vec!["report".as_ref(), nd.as_ref(), "--json".as_ref()],
        ),
        (
            "report --convert text",
            vec![
                "report".as_ref(),
                nd.as_ref(),
                "--convert".as_ref(),
                "text".as_ref(),
                "--out".as_ref(),
                text.as_ref(),
            ],
        ),
        (
            "report --svg",
            vec![
                "report".as_ref(),
                nd.as_ref(),
                "--svg".as_ref(),
                svg.as_ref(),
            ],
        ),
    ];
    for (what, args) in runs {
        let (code, kb, took) = peak_rss_kb(&args);
        eprintln!(
            "{what} of {size_mb} MB: peak RSS {} MB in {took:.1?}",
            kb / 1024
        );
        assert_eq!(code, 0, "{what}");
        assert!(kb < LIMIT_KB, "{what}: peak RSS {kb} KiB of {size_mb} MB");
    }
    // The conversion is complete: its last tick is the last one written.
    let tail = {
        use std::io::{Read, Seek, SeekFrom};
        let mut f = std::fs::File::open(&text).unwrap();
        f.seek(SeekFrom::End(-200_000)).unwrap();
        let mut s = String::new();
        f.read_to_string(&mut s).unwrap();
        s
    };
    assert!(
        tail.contains(&format!("\ntick {TICKS} +")),
        "conversion cut short"
    );
    assert!(std::fs::read_to_string(&svg).unwrap().starts_with("<svg"));
}
