use super::*;

fn id(pid: u32) -> Identity {
    Identity {
        pid,
        start: u64::from(pid) * 10,
    }
}

fn nvidia_fd(path: &str) -> DeviceFd {
    DeviceFd {
        fd: 5,
        path: path.into(),
        kind: NodeKind::Nvidia,
        drm: None,
    }
}

fn drm_fd(fd: u32, client: u64, private_kb: Option<u64>) -> DeviceFd {
    DeviceFd {
        fd,
        path: "/dev/dri/renderD128".into(),
        kind: NodeKind::Drm,
        drm: Some(DrmClient {
            driver: "amdgpu".into(),
            pdev: Some("0000:03:00.0".into()),
            client_id: Some(client),
            private_kb,
            shared_kb: Some(0),
        }),
    }
}

fn read(nvidia: bool, drm: bool) -> GpuRead {
    GpuRead {
        presence: GpuPresence { nvidia, drm },
        nvml: Ok(Vec::new()),
        namespace: PidNamespace::Host,
        gone: Vec::new(),
        fds: IdMap::default(),
        ns_pids: IdMap::default(),
    }
}

fn nvml(pid: u32, used_kb: Option<u64>) -> NvmlProcess {
    NvmlProcess {
        pid,
        gpu: 0,
        used_kb,
    }
}

#[test]
fn nvml_memory_is_the_listed_pids_and_zero_for_a_process_holding_nothing() {
    let mut r = read(true, false);
    r.nvml = Ok(vec![
        nvml(10, Some(2048)),
        nvml(10, Some(1024)),
        nvml(11, None),
    ]);
    r.fds.insert(id(10), Some(vec![nvidia_fd("/dev/nvidia0")]));
    r.fds.insert(id(11), Some(vec![nvidia_fd("/dev/nvidia0")]));
    r.fds.insert(id(12), Some(vec![]));
    let u = usage(&r);
    assert_eq!(u.kb(id(10)), Some(3072), "two GPUs summed");
    assert_eq!(u.kb(id(11)), None, "NVML's 'not available' is unknown");
    assert_eq!(u.kb(id(12)), Some(0));
    assert_eq!(u.group_kb(&[id(10), id(12)]), Some(3072));
    assert_eq!(u.group_kb(&[id(10), id(11)]), None);
}

#[test]
fn no_gpu_leaves_every_figure_unknown() {
    let mut r = read(false, false);
    r.fds.insert(id(10), Some(vec![]));
    let u = usage(&r);
    assert!(!u.found());
    assert_eq!(u.kb(id(10)), None);
    assert_eq!(u.group_kb(&[id(10)]), None);
    assert!(u.notes(&[id(10)]).is_empty());
    assert_eq!(GpuUsage::none().kb(id(10)), None);
}

#[test]
fn a_gone_nvml_pid_makes_a_holder_unknown_and_is_named() {
    let mut r = read(true, false);
    r.nvml = Ok(vec![nvml(4121, Some(2 * 1024 * 1024))]);
    r.gone = vec![nvml(4121, Some(2 * 1024 * 1024))];
    r.fds.insert(
        id(4133),
        Some(vec![nvidia_fd("/dev/nvidiactl"), nvidia_fd("/dev/nvidia0")]),
    );
    r.fds.insert(id(4134), Some(vec![]));
    r.fds.insert(id(4135), None);
    let u = usage(&r);
    assert_eq!(u.kb(id(4133)), None, "it may hold the gone pid's memory");
    assert_eq!(u.kb(id(4134)), Some(0), "it holds no NVIDIA node");
    assert_eq!(u.kb(id(4135)), None, "unreadable descriptors");
    let notes = u.notes(&[id(4133), id(4134)]);
    assert_eq!(
        notes,
        ["NVML reports pid 4121 (2 GiB on GPU 0), which is gone; 4133 holds /dev/nvidia0"]
    );
}

#[test]
fn in_a_container_nvml_pids_are_not_matched_to_local_ones() {
    let mut r = read(true, false);
    r.namespace = PidNamespace::Container;
    // 12 is a host pid; the local process 12 is someone else.
    r.nvml = Ok(vec![nvml(12, Some(4096))]);
    r.fds.insert(id(12), Some(vec![nvidia_fd("/dev/nvidia0")]));
    r.fds.insert(id(13), Some(vec![]));
    let u = usage(&r);
    assert_eq!(u.kb(id(12)), None);
    assert_eq!(u.kb(id(13)), Some(0));
    let notes = u.notes(&[id(12)]);
    assert_eq!(notes.len(), 1);
    assert!(notes[0].contains("runs in a container"), "{notes:?}");
}

#[test]
fn a_drm_client_is_counted_once_across_descriptors_and_processes() {
    let mut r = read(false, true);
    r.fds.insert(
        id(20),
        Some(vec![drm_fd(5, 7, Some(1000)), drm_fd(6, 7, Some(1000))]),
    );
    // A forked child shares the client.
    r.fds.insert(id(21), Some(vec![drm_fd(5, 7, Some(1000))]));
    r.fds.insert(id(22), Some(vec![drm_fd(9, 8, Some(500))]));
    let u = usage(&r);
    assert_eq!(u.kb(id(20)), Some(1000));
    assert_eq!(u.kb(id(21)), Some(1000));
    assert_eq!(u.group_kb(&[id(20), id(21), id(22)]), Some(1500));
}

#[test]
fn a_drm_client_without_memory_figures_is_unknown() {
    let mut r = read(false, true);
    r.fds.insert(id(20), Some(vec![drm_fd(5, 7, None)]));
    let u = usage(&r);
    assert_eq!(u.kb(id(20)), None);
}

#[test]
fn a_container_pid_is_named_beside_the_memory() {
    let mut r = read(true, false);
    r.nvml = Ok(vec![nvml(4121, Some(1024 * 1024))]);
    r.fds
        .insert(id(4121), Some(vec![nvidia_fd("/dev/nvidia0")]));
    r.ns_pids.insert(id(4121), vec![4121, 7]);
    let u = usage(&r);
    assert_eq!(u.processes[&id(4121)].ns_pid, Some(7));
    assert_eq!(
        u.notes(&[id(4121)]),
        ["holds 1 GiB of GPU memory, which ending it returns: 4121 (pid 7 in its container) 1 GiB"]
    );
}
