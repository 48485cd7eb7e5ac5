//! GPU memory on real processes, without a GPU: the real NVML adapter run against a
//! stub `libnvidia-ml.so.1` that the test compiles (`cc -shared`), the holders scan
//! finding a process that holds a character device (`/dev/zero` standing in for
//! `/dev/nvidia0`), a real orphaned tree read through both, and a machine without a
//! GPU saying unknown, never 0. Skipped, with the reason printed, where there is no C
//! compiler.
#![cfg(target_os = "linux")]

use crate::common;
use crate::gpu_fake::process;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use common::{Family, leaktop, wait_until};
use leaktop::actions::orphans::{Filter, Io, Options, Output, ScanOptions, run_on};
use leaktop::host::Host;
use leaktop::host::gpu::NvmlError;
use leaktop::host::gpu::linux::GpuNodes;
use leaktop::host::gpu::nvml::{LIBRARIES, NvmlReader};
use leaktop::host::linux::LinuxHost;
use leaktop::model::gpu::{NodeKind, NvmlProcess};
use serde_json::Value;

/// NVML's "not available" (`NVML_VALUE_NOT_AVAILABLE`, all ones).
const NOT_AVAILABLE: u64 = u64::MAX;

/// A stub NVML: one GPU whose compute and graphics lists are the (pid, bytes) given,
/// with the entry points `nvml-wrapper` calls (`nvmlInit_v2`, `nvmlShutdown`,
/// `nvmlDeviceGetCount_v2`, `nvmlDeviceGetHandleByIndex_v2`,
/// `nvmlDeviceGetComputeRunningProcesses_v3`, `…GraphicsRunningProcesses_v3`) behaving
/// as nvml.h documents them: a null or short buffer gets
/// `NVML_ERROR_INSUFFICIENT_SIZE` (7) and the count needed.
fn stub_source(compute: &[(u32, u64)], graphics: &[(u32, u64)]) -> String {
    let list = |name: &str, entries: &[(u32, u64)]| {
        let items: String = entries
            .iter()
            .map(|(pid, bytes)| format!("{{{pid}u, {bytes}ull, 0xFFFFFFFFu, 0xFFFFFFFFu}}, "))
            .collect();
        format!(
            "static const info_t {name}[] = {{ {items}{{0, 0, 0, 0}} }};
static nvmlReturn_t {name}_fn(void *device, unsigned int *count, info_t *infos) {{
    unsigned int n = sizeof({name}) / sizeof({name}[0]) - 1, i;
    if (device != &gpu0 || count == 0) return 2;
    if (infos == 0 || *count < n) {{ *count = n; return n ? 7 : 0; }}
    for (i = 0; i < n; i++) infos[i] = {name}[i];
    *count = n;
    return 0;
}}
"
        )
    };
    format!(
        "typedef int nvmlReturn_t;
typedef struct {{ unsigned int pid; unsigned long long usedGpuMemory; unsigned int gpuInstanceId; unsigned int computeInstanceId; }} info_t;
static int gpu0;
{}{}
nvmlReturn_t nvmlInit_v2(void) {{ return 0; }}
nvmlReturn_t nvmlShutdown(void) {{ return 0; }}
const char *nvmlErrorString(nvmlReturn_t r) {{ (void)r; return \"stub error\"; }}
nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int *n) {{ *n = 1; return 0; }}
nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int i, void **d) {{ if (i != 0) return 2; *d = &gpu0; return 0; }}
nvmlReturn_t nvmlDeviceGetComputeRunningProcesses_v3(void *d, unsigned int *c, info_t *p) {{ return compute_fn(d, c, p); }}
nvmlReturn_t nvmlDeviceGetGraphicsRunningProcesses_v3(void *d, unsigned int *c, info_t *p) {{ return graphics_fn(d, c, p); }}
",
        list("compute", compute),
        list("graphics", graphics)
    )
}

/// Compiles [`stub_source`] into `dir/name`; `None` (and a line saying why) where
/// there is no C compiler.
fn stub_nvml(
    dir: &Path,
    name: &str,
    compute: &[(u32, u64)],
    graphics: &[(u32, u64)],
) -> Option<PathBuf> {
    let cc = std::env::var_os("CC").unwrap_or_else(|| "cc".into());
    let c = dir.join(format!("{name}.c"));
    std::fs::write(&c, stub_source(compute, graphics)).unwrap();
    let lib = dir.join(name);
    match std::process::Command::new(&cc)
        .args(["-shared", "-fPIC", "-o"])
        .arg(&lib)
        .arg(&c)
        .stdin(Stdio::null())
        .output()
    {
        Ok(out) if out.status.success() => Some(lib),
        Ok(out) => panic!(
            "cc failed on the stub: {}",
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(e) => {
            eprintln!(
                "skipped: no C compiler ({}: {e}) to build the stub libnvidia-ml.so.1",
                cc.to_string_lossy()
            );
            None
        }
    }
}

fn gib(n: u64) -> u64 {
    n << 30
}

#[test]
fn the_nvml_adapter_reads_a_stub_library_merging_lists_and_keeping_unknowns() {
    let dir = tempfile::tempdir().unwrap();
    let Some(lib) = stub_nvml(
        dir.path(),
        "libnvidia-ml.so.1",
        &[(4121, gib(2)), (4122, NOT_AVAILABLE)],
        // 4121 has a graphics context too: charged once. 4133 only graphics.
        &[(4121, gib(2)), (4133, 512 << 20)],
    ) else {
        return;
    };
    let nvml = NvmlReader::open(&[&lib]).expect("the stub opens");
    assert_eq!(nvml.library, lib.to_string_lossy());
    assert_eq!(
        nvml.processes().unwrap(),
        [
            NvmlProcess {
                pid: 4121,
                gpu: 0,
                used_kb: Some(2 << 20)
            },
            NvmlProcess {
                pid: 4122,
                gpu: 0,
                used_kb: None
            },
            NvmlProcess {
                pid: 4133,
                gpu: 0,
                used_kb: Some(512 << 10)
            },
        ]
    );
}

#[test]
fn the_versioned_library_is_tried_first_then_the_unversioned_one() {
    assert_eq!(LIBRARIES, ["libnvidia-ml.so.1", "libnvidia-ml.so"]);
    let dir = tempfile::tempdir().unwrap();
    // Only the unversioned name exists here: the first try fails, the second opens.
    let Some(lib) = stub_nvml(dir.path(), "libnvidia-ml.so", &[], &[]) else {
        return;
    };
    let missing = dir.path().join("libnvidia-ml.so.1");
    let nvml = NvmlReader::open(&[missing.as_os_str(), lib.as_os_str()]).unwrap();
    assert_eq!(nvml.library, lib.to_string_lossy());
    assert_eq!(nvml.processes().unwrap(), []);
    // Neither: the error names each one tried.
    let Err(NvmlError::NotLoaded(why)) = NvmlReader::open(&[missing.as_os_str()]) else {
        panic!("a missing library must not open");
    };
    assert!(why.contains("libnvidia-ml.so.1"), "{why}");
}

/// A host whose "GPU" is `/dev/zero` (any process may open it) and whose NVML is
/// `nvml` (a stub's path, or one that does not exist).
fn stand_in_host(nvml: OsString) -> LinuxHost {
    LinuxHost::with_gpu_nodes(GpuNodes {
        present: vec![("/dev/zero".into(), NodeKind::Nvidia)],
        held: vec![("/dev/zero".into(), NodeKind::Nvidia)],
        nvml_libraries: vec![nvml],
    })
}

/// A job (`sh`, its own process group) with two children, one holding `/dev/zero`
/// open on its standard input: (the family, the holder, the other).
fn job_holding_the_device() -> (Family, u32, u32) {
    let mut job = Family::spawn(
        "sh",
        &[
            "-c",
            "sleep 3600 </dev/zero & a=$!; sleep 3600 & b=$!; echo $a $b; wait",
        ],
    );
    let line = job.read_line();
    let pids: Vec<u32> = line.split(' ').map(|p| p.parse().unwrap()).collect();
    // `$!` is known as soon as the shell forked: the child may not have opened the
    // device yet.
    let holds = || {
        std::fs::read_link(format!("/proc/{}/fd/0", pids[0]))
            .is_ok_and(|target| target == std::path::Path::new("/dev/zero"))
    };
    assert!(
        crate::common::wait_until(Duration::from_secs(30), holds),
        "the holder never opened /dev/zero"
    );
    (job, pids[0], pids[1])
}

fn id_of(host: &LinuxHost, pid: u32) -> leaktop::sample::Identity {
    host.probe(pid).expect("the child is there").id()
}

#[test]
fn the_holders_scan_finds_the_process_holding_the_device() {
    let host = stand_in_host("/nonexistent/libnvidia-ml.so.1".into());
    let (_job, holder, other) = job_holding_the_device();
    let gpu = host.gpu().expect("/dev/zero stands in for a GPU");
    let fds = gpu.device_fds(id_of(&host, holder)).expect("readable");
    assert_eq!(fds.len(), 1, "{fds:?}");
    assert_eq!((fds[0].fd, fds[0].path.as_str()), (0, "/dev/zero"));
    assert_eq!(fds[0].kind, NodeKind::Nvidia);
    assert_eq!(gpu.device_fds(id_of(&host, other)), Some(vec![]));
    // Another start time is another process: nothing is read.
    let mut reused = id_of(&host, holder);
    reused.start += 1;
    assert_eq!(gpu.device_fds(reused), None);
    assert!(
        matches!(gpu.nvml_processes(), Err(NvmlError::NotLoaded(_))),
        "no NVML here"
    );
}

/// `leaktop orphans --json` as `run_on` gives it for the group `pg-<leader>`.
fn orphans_json(host: LinuxHost, leader: u32) -> Value {
    let opts = Options {
        scan: ScanOptions {
            older_than: Duration::ZERO,
            all: false,
            measure: false,
            ..ScanOptions::default()
        },
        filter: Filter {
            group: Some(format!("pg-{leader}")),
            ..Filter::default()
        },
        output: Output::Json,
        kill: None,
        watch: None,
        count: None,
        metrics: None,
        known: leaktop::actions::known::Known::default(),
    };
    let mut out = String::new();
    let mut write = |s: &str| {
        out.push_str(s);
        Ok(())
    };
    let mut say = |_: &str| {};
    let mut io = Io {
        out: &mut write,
        ask: None,
        say: &mut say,
        reader_gone: &|| false,
    };
    run_on(Arc::new(host), &opts, &mut io).unwrap();
    let v: Value = serde_json::from_str(&out).unwrap();
    v["groups"][0].clone()
}

/// Orphans `job`'s children: SIGKILLs the `sh` and waits until init (or a subreaper)
/// has them.
fn orphan(job: &mut Family, children: &[u32]) -> u32 {
    let leader = job.pid();
    job.kill_root();
    assert!(wait_until(Duration::from_secs(10), || {
        children
            .iter()
            .all(|c| LinuxHost::new().probe(*c).is_some_and(|s| s.ppid != leader))
    }));
    leader
}

#[test]
fn an_orphan_holding_the_device_shows_its_nvml_memory_and_the_gone_pid() {
    let (mut job, holder, other) = job_holding_the_device();
    let leader = orphan(&mut job, &[holder, other]);
    let dir = tempfile::tempdir().unwrap();
    // NVML charges 256 MiB to the holder and 64 MiB to the dead `sh`.
    let Some(lib) = stub_nvml(
        dir.path(),
        "libnvidia-ml.so.1",
        &[(holder, 256 << 20), (leader, 64 << 20)],
        &[],
    ) else {
        return;
    };
    let g = orphans_json(stand_in_host(lib.into()), leader);
    assert_eq!(process(&g, holder)["gpu_kb"], 256 * 1024, "{g}");
    assert_eq!(
        process(&g, holder)["gpu_devices"],
        serde_json::json!(["/dev/zero"])
    );
    assert_eq!(process(&g, other)["gpu_kb"], 0, "holds no device: {g}");
    assert_eq!(g["gpu_kb"], 256 * 1024);
    let notes: Vec<&str> = g["gpu_notes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap())
        .collect();
    assert!(
        notes.contains(&format!(
            "NVML reports pid {leader} (64 MiB on GPU 0), which is gone; {holder} holds /dev/zero"
        )
        .as_str()),
        "{notes:?}"
    );
}

#[test]
fn without_a_gpu_an_orphan_s_gpu_memory_is_unknown_not_zero() {
    let (mut job, holder, other) = job_holding_the_device();
    let leader = orphan(&mut job, &[holder, other]);
    let no_gpu = LinuxHost::with_gpu_nodes(GpuNodes {
        present: vec![("/dev/leaktop-test-no-gpu".into(), NodeKind::Nvidia)],
        ..GpuNodes::default()
    });
    assert!(no_gpu.gpu().is_none());
    let g = orphans_json(no_gpu, leader);
    assert!(g["gpu_kb"].is_null(), "{g}");
    for pid in [holder, other] {
        assert!(process(&g, pid)["gpu_kb"].is_null(), "{g}");
    }
    assert_eq!(g["gpu_notes"], serde_json::json!([]));

    // The command itself, where this machine has no GPU node at all.
    let gpu_here = ["/dev/nvidia0", "/dev/kfd", "/dev/dri"]
        .iter()
        .any(|p| Path::new(p).exists());
    if gpu_here {
        eprintln!("this machine has GPU device nodes: the command's no-GPU check is skipped");
        return;
    }
    let v = crate::orphans::orphans_json(&["--group", &format!("pg-{leader}")]);
    assert!(v["groups"][0]["gpu_kb"].is_null(), "{v}");
    assert!(process(&v["groups"][0], holder)["gpu_kb"].is_null());
    let table = leaktop()
        .args(["orphans", "--older-than", "0s", "--group"])
        .arg(format!("pg-{leader}"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&table.stdout);
    assert!(table.contains(", GPU ?"), "{table}");
}
