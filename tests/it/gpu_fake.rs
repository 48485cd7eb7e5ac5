//! GPU memory in `leaktop orphans` on the fake host's GPU: NVML's figure for a listed
//! pid, "not available", a gone pid whose device a child still holds, a container's
//! pids, DRM clients counted once, unreadable descriptors, and no GPU at all (nothing
//! read, everything unknown, never 0).

use leaktop::actions::orphans::{Filter, Options, Output};
use leaktop::format::Width;
use leaktop::host::gpu::NvmlError;
use leaktop::model::gpu::{GpuPresence, NodeKind};
use serde_json::Value;

use crate::fakes::host::FakeHost;
use crate::orphans_fake::{json, kill, machine, options, run};

const GIB_KB: u64 = 1024 * 1024;

const NVIDIA: GpuPresence = GpuPresence {
    nvidia: true,
    drm: false,
};

/// The strong group pg-700 (701, and its child 702) alone, as JSON.
fn group_700(fake: &FakeHost) -> Value {
    let opts = Options {
        filter: Filter {
            group: Some("pg-700".into()),
            ..Filter::default()
        },
        ..options(Output::Json)
    };
    let r = run(fake, &opts, None);
    r.result.as_ref().unwrap();
    json(&r)["groups"][0].clone()
}

/// The process `pid` of a group as `orphans --json` writes it (panics if absent).
pub(crate) fn process(group: &Value, pid: u32) -> &Value {
    group["processes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["pid"] == pid)
        .unwrap_or_else(|| panic!("no {pid} in {group}"))
}

#[test]
fn without_a_gpu_nothing_is_read_and_every_figure_is_unknown() {
    let fake = machine();
    let r = run(&fake, &options(Output::Json), None);
    r.result.as_ref().unwrap();
    let v = json(&r);
    for g in v["groups"].as_array().unwrap() {
        assert!(g["gpu_kb"].is_null(), "{g}");
        for p in g["processes"].as_array().unwrap() {
            assert!(p["gpu_kb"].is_null(), "unknown, not 0: {p}");
            assert!(p["gpu_devices"].is_null());
        }
    }
    assert!(fake.gpu_reads().is_empty(), "{:?}", fake.gpu_reads());
    let table = run(&fake, &options(Output::Table(Width::Cut(160))), None).out;
    assert!(table.contains("RSS 20 MiB, GPU ?"), "{table}");
    assert!(!table.contains(" GPU  "), "no GPU column: {table}");
}

#[test]
fn nvml_memory_shows_per_process_and_group_and_only_shown_processes_are_scanned() {
    let fake = machine();
    fake.set_gpu(NVIDIA);
    fake.nvml_lists(702, Some(2 * GIB_KB));
    fake.holds_node(702, "/dev/nvidia0", NodeKind::Nvidia);
    fake.holds_node(702, "/dev/nvidiactl", NodeKind::Nvidia);
    let g = group_700(&fake);
    assert_eq!(g["gpu_kb"], 2 * GIB_KB);
    assert_eq!(process(&g, 702)["gpu_kb"], 2 * GIB_KB);
    assert_eq!(
        process(&g, 702)["gpu_devices"],
        serde_json::json!(["/dev/nvidia0", "/dev/nvidiactl"])
    );
    assert_eq!(
        process(&g, 701)["gpu_kb"],
        0,
        "holds no device, listed nowhere"
    );
    assert_eq!(
        g["gpu_notes"][0],
        "holds 2 GiB of GPU memory, which ending it returns: 702 2 GiB"
    );
    // One NVML query; descriptors of the group shown, not of pg-600's.
    assert_eq!(fake.gpu_reads(), ["nvml", "fds 701", "fds 702"]);

    let mut opts = options(Output::Table(Width::Cut(160)));
    opts.filter.group = Some("pg-700".into());
    let table = run(&fake, &opts, None).out;
    assert!(table.contains("RSS 20 MiB, GPU 2 GiB"), "{table}");
    assert!(
        table.contains("  ! holds 2 GiB of GPU memory"),
        "an evidence line: {table}"
    );
    let header = table.lines().find(|l| l.contains("PID")).unwrap();
    assert!(header.contains(" GPU "), "{header}");
    let row = table.lines().find(|l| l.contains(" 702 ")).unwrap();
    assert!(row.contains("2 GiB"), "{row}");
}

#[test]
fn nvml_not_available_is_unknown_not_zero() {
    let fake = machine();
    fake.set_gpu(NVIDIA);
    fake.nvml_lists(702, None);
    fake.holds_node(702, "/dev/nvidia0", NodeKind::Nvidia);
    let g = group_700(&fake);
    assert!(process(&g, 702)["gpu_kb"].is_null());
    assert!(g["gpu_kb"].is_null());
    let mut opts = options(Output::Table(Width::Cut(160)));
    opts.filter.group = Some("pg-700".into());
    let table = run(&fake, &opts, None).out;
    assert!(table.contains(", GPU ?"), "{table}");
    let row = table.lines().find(|l| l.contains(" 702 ")).unwrap();
    assert!(row.contains(" ? "), "{row}");
}

#[test]
fn nvml_unreadable_leaves_the_holders_unknown_and_says_why() {
    let fake = machine();
    fake.set_gpu(NVIDIA);
    fake.nvml_fails(NvmlError::NotLoaded("libnvidia-ml.so.1: not found".into()));
    fake.holds_node(702, "/dev/nvidia0", NodeKind::Nvidia);
    let g = group_700(&fake);
    assert!(process(&g, 702)["gpu_kb"].is_null());
    assert_eq!(process(&g, 701)["gpu_kb"], 0);
    let note = g["gpu_notes"][0].as_str().unwrap();
    assert!(
        note.starts_with(
            "702 holds /dev/nvidia0; its GPU memory is unknown: NVML could not be read"
        ),
        "{note}"
    );
}

#[test]
fn a_gone_nvml_pid_names_the_child_that_holds_the_device() {
    let fake = machine();
    fake.set_gpu(NVIDIA);
    // The job's leader 700 made the context and died; its child 702 inherited the
    // descriptors (PaddleOCR#2074's shape).
    fake.nvml_lists(700, Some(3 * GIB_KB));
    fake.holds_node(702, "/dev/fake-gpu0", NodeKind::Nvidia);
    let g = group_700(&fake);
    assert!(
        process(&g, 702)["gpu_kb"].is_null(),
        "it may hold pid 700's"
    );
    assert_eq!(process(&g, 701)["gpu_kb"], 0);
    assert!(g["gpu_kb"].is_null());
    assert_eq!(
        g["gpu_notes"][0],
        "NVML reports pid 700 (3 GiB on GPU 0), which is gone; 702 holds /dev/fake-gpu0"
    );
}

#[test]
fn in_a_container_nvml_host_pids_are_not_taken_for_local_ones() {
    let fake = machine();
    fake.set_gpu(NVIDIA);
    fake.in_container();
    // 701 is a host pid in NVML's list: here it is another process.
    fake.nvml_lists(701, Some(GIB_KB));
    fake.holds_node(702, "/dev/nvidia0", NodeKind::Nvidia);
    let g = group_700(&fake);
    assert_eq!(
        process(&g, 701)["gpu_kb"],
        0,
        "not NVML's host pid 701's GiB"
    );
    assert!(process(&g, 702)["gpu_kb"].is_null());
    let note = g["gpu_notes"][0].as_str().unwrap();
    assert!(note.contains("leaktop runs in a container"), "{note}");
    assert!(note.starts_with("702 holds /dev/nvidia0"), "{note}");
}

#[test]
fn from_the_host_a_process_in_a_container_is_named_by_its_container_pid_too() {
    let fake = machine();
    fake.set_gpu(NVIDIA);
    fake.nvml_lists(702, Some(GIB_KB));
    fake.holds_node(702, "/dev/nvidia0", NodeKind::Nvidia);
    fake.set_ns_pids(702, &[702, 7]);
    let g = group_700(&fake);
    assert_eq!(process(&g, 702)["gpu_kb"], GIB_KB);
    assert_eq!(process(&g, 702)["ns_pid"], 7);
    assert!(process(&g, 701)["ns_pid"].is_null());
    assert_eq!(
        g["gpu_notes"][0],
        "holds 1 GiB of GPU memory, which ending it returns: 702 (pid 7 in its container) 1 GiB"
    );
}

#[test]
fn a_drm_client_shared_by_parent_and_child_is_counted_once() {
    let fake = machine();
    fake.set_gpu(GpuPresence {
        nvidia: false,
        drm: true,
    });
    fake.holds_drm_client(701, 7, Some(GIB_KB));
    fake.holds_drm_client(702, 7, Some(GIB_KB));
    let g = group_700(&fake);
    assert_eq!(process(&g, 701)["gpu_kb"], GIB_KB);
    assert_eq!(process(&g, 702)["gpu_kb"], GIB_KB);
    assert_eq!(g["gpu_kb"], GIB_KB, "one client, once");
    assert!(
        !fake.gpu_reads().contains(&"nvml".to_string()),
        "no NVIDIA GPU, no NVML"
    );
}

#[test]
fn unreadable_descriptors_are_unknown() {
    let fake = machine();
    fake.set_gpu(GpuPresence {
        nvidia: false,
        drm: true,
    });
    fake.fds_unreadable(702);
    let g = group_700(&fake);
    assert!(process(&g, 702)["gpu_kb"].is_null());
    assert!(process(&g, 702)["gpu_devices"].is_null());
    assert_eq!(process(&g, 701)["gpu_kb"], 0);
    assert!(g["gpu_kb"].is_null());
}

#[test]
fn the_kill_asks_and_reports_the_gpu_memory_it_returns() {
    let fake = machine();
    fake.set_gpu(NVIDIA);
    fake.nvml_lists(702, Some(2 * GIB_KB));
    fake.holds_node(702, "/dev/nvidia0", NodeKind::Nvidia);
    let opts = Options {
        kill: kill(false),
        ..options(Output::Table(Width::Cut(160)))
    };
    let r = run(&fake, &opts, Some(true));
    r.result.as_ref().unwrap();
    assert!(
        r.asked[0].starts_with("End pg-700 (2 processes, RSS 20 MiB, GPU 2 GiB) with SIGTERM"),
        "{:?}",
        r.asked
    );
    assert!(!fake.alive(702));
    assert!(
        r.out
            .contains("GPU memory: 2 GiB returned (NVML and DRM fdinfo, as read before the kill)"),
        "{}",
        r.out
    );
}

#[test]
fn watch_metrics_publish_the_orphans_gpu_memory_only_where_there_is_a_gpu() {
    let state = |fake: &FakeHost| {
        let metrics = leaktop::metrics::MetricsState::new();
        let opts = Options {
            watch: Some(std::time::Duration::from_secs(2)),
            count: Some(1),
            metrics: Some(metrics.clone()),
            ..options(Output::Json)
        };
        run(fake, &opts, None).result.unwrap();
        metrics.snapshot().orphans.expect("published")
    };
    let fake = machine();
    assert_eq!(state(&fake).gpu_bytes, None, "no GPU: no figure, not 0");
    fake.set_gpu(NVIDIA);
    fake.nvml_lists(702, Some(2 * GIB_KB));
    fake.nvml_lists(603, Some(GIB_KB));
    assert_eq!(state(&fake).gpu_bytes, Some(3 * GIB_KB * 1024));
}

mod monitor {
    //! The monitor (view, `record`, `run`) fills each row's GPU memory every tick:
    //! one NVML query a tick, descriptor scans rationed.

    use leaktop::model::Tick;
    use leaktop::model::gpu::{GpuPresence, NodeKind};
    use leaktop::monitor::Monitor;

    use crate::fakes::host::{FakeHost, Proc};
    use crate::memory_budget::{ROOT, monitor};

    fn watched(fake: &FakeHost) -> Monitor {
        fake.add(Proc::new(ROOT, 1, "engine"));
        fake.add(Proc::new(ROOT + 1, ROOT, "worker"));
        fake.add(Proc::new(ROOT + 2, ROOT, "worker"));
        monitor(fake)
    }

    fn gpu_kb(tick: &Tick, pid: u32) -> Option<u64> {
        tick.processes.iter().find(|p| p.pid == pid).unwrap().gpu_kb
    }

    #[test]
    fn without_a_gpu_nothing_is_read_tick_after_tick() {
        let fake = FakeHost::new(500);
        let mut m = watched(&fake);
        for _ in 0..3 {
            let tick = m.step().unwrap();
            assert!(tick.processes.iter().all(|p| p.gpu_kb.is_none()));
        }
        assert!(fake.gpu_reads().is_empty(), "{:?}", fake.gpu_reads());
    }

    #[test]
    fn one_nvml_query_a_tick_and_a_member_s_descriptors_read_once_until_due() {
        let fake = FakeHost::new(500);
        fake.set_gpu(GpuPresence {
            nvidia: true,
            drm: false,
        });
        fake.nvml_lists(ROOT + 1, Some(4 * 1024 * 1024));
        fake.holds_node(ROOT + 1, "/dev/nvidia0", NodeKind::Nvidia);
        let mut m = watched(&fake);
        let mut last = None;
        for _ in 0..3 {
            last = Some(m.step().unwrap());
        }
        let tick = last.unwrap();
        assert_eq!(gpu_kb(&tick, ROOT + 1), Some(4 * 1024 * 1024));
        assert_eq!(gpu_kb(&tick, ROOT + 2), Some(0));
        let reads = fake.gpu_reads();
        assert_eq!(
            reads.iter().filter(|r| *r == "nvml").count(),
            3,
            "{reads:?}"
        );
        for pid in [ROOT, ROOT + 1, ROOT + 2] {
            let scans = reads.iter().filter(|r| **r == format!("fds {pid}")).count();
            assert_eq!(scans, 1, "{pid} scanned once in 3 ticks: {reads:?}");
        }
    }
}
