//! The fake host's GPU: a [`Gpu`] whose presence, NVML lists, device descriptors,
//! PID namespace and `NSpid`s a test scripts. Without [`FakeHost::set_gpu`] the fake
//! has no GPU, as most machines: [`Host::gpu`] is `None` and nothing is read.
//!
//! ```ignore
//! let fake = FakeHost::new(500);
//! fake.set_gpu(GpuPresence { nvidia: true, drm: false });
//! fake.nvml_lists(4121, Some(2 << 20)); // KiB
//! fake.holds_node(4133, "/dev/nvidia0", NodeKind::Nvidia);
//! ```

use std::collections::{HashMap, HashSet};

use leaktop::host::gpu::{Gpu, NvmlError};
use leaktop::model::gpu::{DeviceFd, DrmClient, GpuPresence, NodeKind, NvmlProcess, PidNamespace};
use leaktop::sample::Identity;

use super::host::FakeHost;

/// What the fake's GPU says; see the module's documentation.
#[derive(Debug, Default)]
pub struct GpuWorld {
    presence: GpuPresence,
    nvml: Vec<NvmlProcess>,
    nvml_error: Option<NvmlError>,
    namespace: Option<PidNamespace>,
    fds: HashMap<u32, Vec<DeviceFd>>,
    unreadable: HashSet<u32>,
    ns_pids: HashMap<u32, Vec<u32>>,
    /// Every read of NVML and of descriptors, in order: `nvml`, or the pid scanned.
    reads: Vec<String>,
}

impl FakeHost {
    /// Gives the fake GPUs of these kinds (found at start).
    pub fn set_gpu(&self, presence: GpuPresence) {
        self.gpu_world().presence = presence;
    }

    /// NVML lists `pid` on GPU 0 with `used_kb` (`None`: "not available").
    pub fn nvml_lists(&self, pid: u32, used_kb: Option<u64>) {
        self.gpu_world().nvml.push(NvmlProcess {
            pid,
            gpu: 0,
            used_kb,
        });
    }

    /// NVML cannot be read, for this reason.
    pub fn nvml_fails(&self, error: NvmlError) {
        self.gpu_world().nvml_error = Some(error);
    }

    /// leaktop runs in a container's PID namespace (the host's by default).
    pub fn in_container(&self) {
        self.gpu_world().namespace = Some(PidNamespace::Container);
    }

    /// The process at `pid` holds the node `path` open.
    pub fn holds_node(&self, pid: u32, path: &str, kind: NodeKind) {
        self.holds_fd(
            pid,
            DeviceFd {
                fd: 10,
                path: path.into(),
                kind,
                drm: None,
            },
        );
    }

    /// The process at `pid` holds a DRM render node open, of the client `client_id`
    /// with `private_kb` of its own memory.
    pub fn holds_drm_client(&self, pid: u32, client_id: u64, private_kb: Option<u64>) {
        self.holds_fd(
            pid,
            DeviceFd {
                fd: 11,
                path: "/dev/dri/renderD128".into(),
                kind: NodeKind::Drm,
                drm: Some(DrmClient {
                    driver: "amdgpu".into(),
                    pdev: Some("0000:03:00.0".into()),
                    client_id: Some(client_id),
                    private_kb,
                    shared_kb: Some(0),
                }),
            },
        );
    }

    fn holds_fd(&self, pid: u32, fd: DeviceFd) {
        self.gpu_world().fds.entry(pid).or_default().push(fd);
    }

    /// The descriptors of `pid` cannot be read (another user's process).
    pub fn fds_unreadable(&self, pid: u32) {
        self.gpu_world().unreadable.insert(pid);
    }

    /// `NSpid` of `pid`: its pids from the host's namespace down to its own.
    pub fn set_ns_pids(&self, pid: u32, pids: &[u32]) {
        self.gpu_world().ns_pids.insert(pid, pids.to_vec());
    }

    /// Every GPU read leaktop made, in order: `nvml`, or `fds <pid>`.
    pub fn gpu_reads(&self) -> Vec<String> {
        self.gpu_world().reads.clone()
    }

    /// The process `id` is there (not a zombie) with that start time.
    fn is(&self, id: Identity) -> bool {
        self.get(id.pid)
            .is_some_and(|p| p.start == id.start && p.state != b'Z')
    }

    /// What [`Host::gpu`] gives: this host's GPU, where it has one.
    pub fn gpu_port(&self) -> Option<&dyn Gpu> {
        self.gpu_world().presence.any().then_some(self as &dyn Gpu)
    }
}

impl Gpu for FakeHost {
    fn presence(&self) -> GpuPresence {
        self.gpu_world().presence
    }

    fn nvml_processes(&self) -> Result<Vec<NvmlProcess>, NvmlError> {
        let mut g = self.gpu_world();
        g.reads.push("nvml".into());
        match &g.nvml_error {
            Some(e) => Err(e.clone()),
            None => Ok(g.nvml.clone()),
        }
    }

    fn device_fds(&self, id: Identity) -> Option<Vec<DeviceFd>> {
        let alive = self.is(id);
        let mut g = self.gpu_world();
        g.reads.push(format!("fds {}", id.pid));
        if !alive || g.unreadable.contains(&id.pid) {
            return None;
        }
        Some(g.fds.get(&id.pid).cloned().unwrap_or_default())
    }

    fn pid_namespace(&self) -> PidNamespace {
        self.gpu_world().namespace.unwrap_or(PidNamespace::Host)
    }

    fn ns_pids(&self, id: Identity) -> Option<Vec<u32>> {
        if !self.is(id) {
            return None;
        }
        let g = self.gpu_world();
        Some(
            g.ns_pids
                .get(&id.pid)
                .cloned()
                .unwrap_or_else(|| vec![id.pid]),
        )
    }
}
