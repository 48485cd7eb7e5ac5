//! The two sampling backends agree on the same real tree: what sysinfo reports on
//! Linux is what /proc says, so `--backend sysinfo` shows no process, and no memory,
//! that is not there.
#![cfg(target_os = "linux")]

use crate::common;

use std::collections::HashSet;

use common::Family;
use leaktop::sample::procfs::ProcfsSampler;
use leaktop::sample::sysinfo::SysinfoSampler;
use leaktop::sample::{ProcSample, Sampler, scan};

/// A parent holding 30 MiB with a pool of 4 threads and 2 child processes holding
/// 10 MiB each; it prints its pid once the children have touched their memory.
const THREADED_PARENT: &str = r#"
import concurrent.futures as cf, os, subprocess, sys, threading
blob = b"x" * (30 << 20)
stop = threading.Event()
pool = cf.ThreadPoolExecutor(4)
for _ in range(4):
    pool.submit(stop.wait)
child = "import sys, time\nb = b'y' * (10 << 20)\nprint(1, flush=True)\ntime.sleep(3600)"
kids = [subprocess.Popen([sys.executable, "-c", child], stdout=subprocess.PIPE) for _ in range(2)]
for k in kids:
    k.stdout.readline()
print(os.getpid(), flush=True)
stop.wait()
"#;

/// `root` and every process below it, as one backend's scan shows them.
fn family(sampler: &mut dyn Sampler, root: u32) -> Vec<ProcSample> {
    let all = scan(sampler).expect("scan");
    let mut pids: HashSet<u32> = [root].into();
    // Parents may come after their children in a scan: grow until nothing is added.
    loop {
        let before = pids.len();
        for s in &all {
            if pids.contains(&s.ppid) {
                pids.insert(s.pid);
            }
        }
        if pids.len() == before {
            break;
        }
    }
    all.into_iter().filter(|s| pids.contains(&s.pid)).collect()
}

fn rss_kb(family: &[ProcSample]) -> u64 {
    family.iter().map(|s| s.rss_kb).sum()
}

#[test]
fn sysinfo_counts_the_processes_and_memory_procfs_counts_not_the_threads() {
    let mut tree = Family::spawn("python3", &["-c", THREADED_PARENT]);
    assert_eq!(tree.read_line(), tree.pid().to_string());
    let root = tree.pid();
    let threads = std::fs::read_dir(format!("/proc/{root}/task"))
        .unwrap()
        .count();
    assert!(threads >= 5, "the parent runs its pool: {threads} tasks");

    let procfs = family(&mut ProcfsSampler::new(), root);
    let sysinfo = family(&mut SysinfoSampler::new(), root);
    let pids = |f: &[ProcSample]| {
        let mut p: Vec<u32> = f.iter().map(|s| s.pid).collect();
        p.sort_unstable();
        p
    };
    assert_eq!(procfs.len(), 3, "parent and two children: {procfs:?}");
    assert_eq!(pids(&sysinfo), pids(&procfs), "sysinfo: {sysinfo:?}");
    // The same pages, read a moment apart by two parsers (stat's page count, statm's):
    // within 2 MiB of each other, far from a thread's 30 MiB counted again.
    let (a, b) = (rss_kb(&procfs), rss_kb(&sysinfo));
    assert!(a > 45 * 1024, "procfs sees the 50 MiB held: {a} KiB");
    assert!(a.abs_diff(b) < 2 * 1024, "procfs {a} KiB, sysinfo {b} KiB");
    for p in &procfs {
        let s = sysinfo.iter().find(|s| s.pid == p.pid).unwrap();
        assert_eq!((s.ppid, s.comm), (p.ppid, p.comm), "{s:?} vs {p:?}");
    }
}
