//! What is read of the GPUs, as plain data: which GPUs the machine has, NVML's process
//! lists, the descriptors a process holds open on GPU device nodes (with their DRM
//! clients), and leaktop's PID namespace. The host reads them (`host::gpu`); the
//! model joins them into memory per process (`model::gpu`).

use serde::Serialize;

use super::{IdMap, Identity};

/// The kinds of GPU this machine has, from its device nodes; checked once at start.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GpuPresence {
    /// An NVIDIA GPU: a `/dev/nvidia<N>` node.
    pub nvidia: bool,
    /// A DRM GPU (AMD, Intel, others): a `/dev/dri/renderD<N>` node or `/dev/kfd`.
    pub drm: bool,
}

impl GpuPresence {
    /// Whether any GPU was found.
    pub fn any(self) -> bool {
        self.nvidia || self.drm
    }
}

/// One process in NVML's lists for one GPU (compute and graphics merged).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NvmlProcess {
    /// Its pid as the driver reports it: in the host's PID namespace, whatever
    /// namespace leaktop runs in.
    pub pid: u32,
    /// The GPU's NVML index.
    pub gpu: u32,
    /// The GPU memory charged to it (`usedGpuMemory`), in KiB; `None` where NVML says
    /// it is not available (Windows WDDM, MIG, some drivers).
    pub used_kb: Option<u64>,
}

/// What kind of GPU device node a descriptor is open on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeKind {
    /// `/dev/nvidia*` (`nvidia0`, `nvidiactl`, `nvidia-uvm`, …).
    Nvidia,
    /// `/dev/dri/renderD*` or `/dev/dri/card*`: a DRM client.
    Drm,
    /// `/dev/kfd`: AMD's compute (ROCm) interface.
    Kfd,
}

/// One DRM client (one open `struct drm_file`) as its fdinfo describes it
/// (`/proc/PID/fdinfo/FD`, the kernel's `drm-usage-stats`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DrmClient {
    /// `drm-driver:` (`amdgpu`, `i915`, `xe`, …).
    pub driver: String,
    /// `drm-pdev:`, the PCI slot, where the driver writes it.
    pub pdev: Option<String>,
    /// `drm-client-id:`, unique per client (per device where `drm-pdev` is given);
    /// `None` where the kernel does not write it (before Linux 5.19).
    pub client_id: Option<u64>,
    /// The client's memory that ending it returns, in KiB: per region its resident
    /// buffers (`drm-resident-*`, or `drm-memory-*`, its older name; else
    /// `drm-total-*`) less those shared with another client (`drm-shared-*`), summed
    /// over the regions (device memory and GPU-mapped system memory alike). `None`
    /// where the driver writes no memory figures.
    pub private_kb: Option<u64>,
    /// Buffers shared with another client (`drm-shared-*`), in KiB; `None` if not
    /// written.
    pub shared_kb: Option<u64>,
}

/// One of a process's descriptors open on a GPU device node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceFd {
    /// The descriptor's number.
    pub fd: u32,
    /// The node's path (`/proc/PID/fd/FD`'s target), e.g. `/dev/nvidia0`.
    pub path: String,
    pub kind: NodeKind,
    /// The DRM client behind it (kind [`NodeKind::Drm`]); `None` for other kinds or
    /// where its fdinfo could not be read.
    pub drm: Option<DrmClient>,
}

/// Which PID namespace leaktop runs in: NVML's pids are the host's, so they name
/// processes only from there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PidNamespace {
    /// The initial (host's) namespace: NVML's pids are the pids leaktop sees.
    Host,
    /// A container's: NVML's pids cannot be mapped to the pids seen here.
    Container,
    /// Unreadable (`/proc/self/ns/pid`): treated as a container, NVML's pids unused.
    #[default]
    Unknown,
}

/// Everything read for one look at the GPU: the input of `model::gpu::usage`.
#[derive(Debug, Clone)]
pub struct GpuRead {
    pub presence: GpuPresence,
    /// NVML's processes, or why they could not be read.
    pub nvml: Result<Vec<NvmlProcess>, String>,
    pub namespace: PidNamespace,
    /// NVML's pids that are gone (no such process here), only where `namespace` is
    /// [`PidNamespace::Host`].
    pub gone: Vec<NvmlProcess>,
    /// Each process shown: its descriptors open on GPU nodes, `None` if unreadable.
    pub fds: IdMap<Identity, Option<Vec<DeviceFd>>>,
    /// Each process shown that NVML lists: its pids from the host's namespace down to
    /// its own (`NSpid:` of `/proc/PID/status`).
    pub ns_pids: IdMap<Identity, Vec<u32>>,
}
