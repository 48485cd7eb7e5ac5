//! Per-tick costs: sampling a real ~150-process tree, updating the tracker, and
//! writing a tick, next to one run of `ps -eo pid,ppid,rss,stat,comm` (what the
//! field reports polled in shell loops).
//!
//! Run with `cargo bench --bench sampling`.

use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::LazyLock;
use std::time::Duration;

use divan::Bencher;
use leaktop::format::Format;
use leaktop::monitor::Monitor;
use leaktop::sample::Backend;
#[cfg(target_os = "linux")]
use leaktop::sample::{Identity, Sampler, procfs::ProcfsSampler};

const FAMILY: usize = 150;

/// A root shell with 149 sleeping children, killed as a process group on drop.
struct Tree(Child);

impl Tree {
    fn spawn() -> Tree {
        let script = format!(
            "for i in $(seq {}); do sleep 600 & done; echo; wait",
            FAMILY - 1
        );
        let mut child = Command::new("sh")
            .args(["-c", &script])
            .stdout(Stdio::piped())
            .process_group(0)
            .spawn()
            .expect("spawn tree");
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(child.stdout.as_mut().unwrap()),
            &mut line,
        )
        .unwrap();
        Tree(child)
    }
}

impl Drop for Tree {
    fn drop(&mut self) {
        if let Some(pgid) = rustix::process::Pid::from_raw(self.0.id() as i32) {
            let _ = rustix::process::kill_process_group(pgid, rustix::process::Signal::KILL);
        }
        let _ = self.0.wait();
    }
}

static TREE: LazyLock<Tree> = LazyLock::new(Tree::spawn);

fn main() {
    LazyLock::force(&TREE);
    divan::main();
    // Statics are not dropped: kill the tree explicitly.
    let pgid = rustix::process::Pid::from_raw(TREE.0.id() as i32).unwrap();
    let _ = rustix::process::kill_process_group(pgid, rustix::process::Signal::KILL);
}

#[cfg(target_os = "linux")]
fn family_members(sampler: &mut ProcfsSampler) -> Vec<Identity> {
    let root = TREE.0.id();
    let mut out = Vec::new();
    sampler.sample(&[], &mut out).unwrap();
    let members: Vec<Identity> = out
        .iter()
        .filter(|s| s.pid == root || s.ppid == root)
        .map(|s| s.id())
        .collect();
    assert_eq!(members.len(), FAMILY, "the tree is up");
    members
}

/// One steady-state tick of the procfs sampler over the family (held descriptors).
#[cfg(target_os = "linux")]
#[divan::bench]
fn procfs_sample_150(bencher: Bencher) {
    let mut sampler = ProcfsSampler::new();
    let members = family_members(&mut sampler);
    let mut out = Vec::with_capacity(256);
    bencher.bench_local(|| {
        out.clear();
        sampler.sample(&members, &mut out).unwrap();
        out.len()
    });
}

/// The naive floor: open, read and close `/proc/PID/stat` once per member.
#[cfg(target_os = "linux")]
#[divan::bench]
fn naive_open_read_close_150(bencher: Bencher) {
    let mut sampler = ProcfsSampler::new();
    let paths: Vec<String> = family_members(&mut sampler)
        .iter()
        .map(|m| format!("/proc/{}/stat", m.pid))
        .collect();
    bencher.bench_local(|| {
        let mut total = 0;
        for p in &paths {
            total += std::fs::read(p).map_or(0, |b| b.len());
        }
        total
    });
}

/// A monitor on `root` on the real host, as `leaktop record` attaches.
fn attach(root: u32) -> Monitor {
    let host = leaktop::host::real();
    let sampler = host.sampler(Backend::default()).unwrap();
    Monitor::attach_on(host, sampler, root, Duration::from_secs(1), vec![]).unwrap()
}

/// A whole tick as `leaktop record` does it: sample, update the tracker, snapshot.
#[divan::bench]
fn monitor_step_150(bencher: Bencher) {
    let mut monitor = attach(TREE.0.id());
    monitor.step().unwrap();
    bencher.bench_local(|| monitor.step().unwrap().processes.len());
}

#[divan::bench(args = [Format::Text, Format::Ndjson])]
fn write_tick_150(bencher: Bencher, format: Format) {
    let mut monitor = attach(TREE.0.id());
    let tick = monitor.step().unwrap();
    let mut buf = String::with_capacity(64 * 1024);
    bencher.bench_local(|| {
        buf.clear();
        format.write_tick(&tick, &mut buf);
        buf.len()
    });
}

/// One `ps -eo pid,ppid,rss,stat,comm`, the field reports' polling loop body.
#[divan::bench(sample_count = 20)]
fn ps_eo(bencher: Bencher) {
    bencher.bench_local(|| {
        Command::new("ps")
            .args(["-eo", "pid,ppid,rss,stat,comm"])
            .output()
            .map(|o| o.stdout.len())
            .unwrap_or(0)
    });
}
