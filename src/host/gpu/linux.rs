//! The [`Gpu`] of Linux: device nodes under `/dev`, NVML ([`super::nvml`]), and each
//! process's `/proc/PID/fd` and `/proc/PID/fdinfo` (the holders scan).

use std::ffi::OsString;
use std::path::Path;
use std::sync::OnceLock;

use super::nvml::{LIBRARIES, NvmlReader};
use super::{Gpu, NvmlError, fdinfo};
use crate::sample::Identity;
use crate::sample::gpu::{DeviceFd, GpuPresence, NodeKind, NvmlProcess, PidNamespace};

/// The inode of the initial PID namespace (`PROC_PID_INIT_INO`, fixed since Linux
/// 3.8): `/proc/self/ns/pid` links to `pid:[4026531836]` on the host.
const INIT_PID_NS_INO: u64 = 0xEFFF_FFFC;

/// Which device nodes are GPUs, and where NVML is: the defaults for a real machine,
/// or stand-ins for tests (a character device any process can open, a stub NVML).
#[derive(Debug, Clone)]
pub struct GpuNodes {
    /// Path prefixes whose existence says a GPU of that kind is there.
    pub present: Vec<(String, NodeKind)>,
    /// Path prefixes of the nodes whose descriptors are GPU descriptors.
    pub held: Vec<(String, NodeKind)>,
    /// The NVML libraries tried in order, by name or path.
    pub nvml_libraries: Vec<OsString>,
}

impl Default for GpuNodes {
    /// `/dev/nvidia*` (NVIDIA), `/dev/dri/renderD*` and `/dev/kfd` (DRM); held also
    /// `/dev/dri/card*`, whose DRM clients have memory too; NVML as [`LIBRARIES`].
    fn default() -> Self {
        let nodes = |list: &[(&str, NodeKind)]| {
            list.iter()
                .map(|(p, k)| ((*p).to_string(), *k))
                .collect::<Vec<_>>()
        };
        GpuNodes {
            present: nodes(&[
                ("/dev/nvidia", NodeKind::Nvidia),
                ("/dev/dri/renderD", NodeKind::Drm),
                ("/dev/kfd", NodeKind::Kfd),
            ]),
            held: nodes(&[
                ("/dev/nvidia", NodeKind::Nvidia),
                ("/dev/dri/renderD", NodeKind::Drm),
                ("/dev/dri/card", NodeKind::Drm),
                ("/dev/kfd", NodeKind::Kfd),
            ]),
            nvml_libraries: LIBRARIES.iter().map(OsString::from).collect(),
        }
    }
}

/// The GPU as the Linux host reads it, found on first use and kept: the one check
/// at start.
pub struct LazyGpu {
    nodes: GpuNodes,
    gpu: OnceLock<Option<LinuxGpu>>,
}

impl LazyGpu {
    pub fn new(nodes: GpuNodes) -> LazyGpu {
        LazyGpu {
            nodes,
            gpu: OnceLock::new(),
        }
    }

    /// The GPU, `None` where none was found (then nothing more is ever read).
    pub fn get(&self) -> Option<&dyn Gpu> {
        self.gpu
            .get_or_init(|| LinuxGpu::detect(&self.nodes))
            .as_ref()
            .map(|g| g as &dyn Gpu)
    }
}

/// A machine's GPUs, found by [`LinuxGpu::detect`].
pub struct LinuxGpu {
    presence: GpuPresence,
    held: Vec<(String, NodeKind)>,
    /// Opened only where there is an NVIDIA GPU.
    nvml: Result<NvmlReader, NvmlError>,
    namespace: PidNamespace,
}

impl LinuxGpu {
    /// Looks for GPU device nodes; opens NVML where an NVIDIA one is there. `None`
    /// where there is no GPU: nothing was loaded.
    pub fn detect(nodes: &GpuNodes) -> Option<LinuxGpu> {
        let found = |kinds: &[NodeKind]| {
            nodes
                .present
                .iter()
                .any(|(prefix, kind)| kinds.contains(kind) && exists_with_prefix(prefix))
        };
        let presence = GpuPresence {
            nvidia: found(&[NodeKind::Nvidia]),
            drm: found(&[NodeKind::Drm, NodeKind::Kfd]),
        };
        if !presence.any() {
            return None;
        }
        let nvml = if presence.nvidia {
            NvmlReader::open(&nodes.nvml_libraries)
        } else {
            Err(NvmlError::NotLoaded("no NVIDIA GPU".into()))
        };
        Some(LinuxGpu {
            presence,
            held: nodes.held.clone(),
            nvml,
            namespace: pid_namespace(),
        })
    }

    /// The NVML library opened, if one was.
    pub fn nvml_library(&self) -> Option<&str> {
        self.nvml.as_ref().ok().map(|n| n.library.as_str())
    }

    fn kind_of(&self, path: &str) -> Option<NodeKind> {
        self.held
            .iter()
            .find(|(prefix, _)| path.starts_with(prefix.as_str()))
            .map(|(_, kind)| *kind)
    }
}

impl Gpu for LinuxGpu {
    fn presence(&self) -> GpuPresence {
        self.presence
    }

    fn nvml_processes(&self) -> Result<Vec<NvmlProcess>, NvmlError> {
        self.nvml.as_ref().map_err(Clone::clone)?.processes()
    }

    fn device_fds(&self, id: Identity) -> Option<Vec<DeviceFd>> {
        use procfs::process::FDTarget;
        use std::io::Read;
        // Every read goes through the checked process's own /proc directory.
        let process = crate::host::linux::open_checked(id)?;
        let mut out = Vec::new();
        for fd in process.fd().ok()? {
            // A descriptor closed mid-read is no longer held.
            let Ok(fd) = fd else { continue };
            let FDTarget::Path(path) = &fd.target else {
                continue;
            };
            let path = path.to_string_lossy();
            let Some(kind) = self.kind_of(&path) else {
                continue;
            };
            let drm = (kind == NodeKind::Drm)
                .then(|| {
                    let mut text = String::new();
                    process
                        .open_relative(format!("fdinfo/{}", fd.fd))
                        .ok()?
                        .read_to_string(&mut text)
                        .ok()?;
                    fdinfo::parse(&text)
                })
                .flatten();
            out.push(DeviceFd {
                fd: u32::try_from(fd.fd).unwrap_or(0),
                path: path.into_owned(),
                kind,
                drm,
            });
        }
        Some(out)
    }

    fn pid_namespace(&self) -> PidNamespace {
        self.namespace
    }

    fn ns_pids(&self, id: Identity) -> Option<Vec<u32>> {
        let status = crate::host::linux::open_checked(id)?.status().ok()?;
        status
            .nspid?
            .into_iter()
            .map(|p| u32::try_from(p).ok())
            .collect()
    }
}

/// Whether some file's path starts with `prefix` (`/dev/nvidia` matches
/// `/dev/nvidia0`): one listing of its directory.
fn exists_with_prefix(prefix: &str) -> bool {
    let path = Path::new(prefix);
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return false;
    };
    let name = name.as_encoded_bytes();
    std::fs::read_dir(dir).is_ok_and(|entries| {
        entries
            .flatten()
            .any(|e| e.file_name().as_encoded_bytes().starts_with(name))
    })
}

/// Whether leaktop runs in the host's PID namespace (see [`INIT_PID_NS_INO`]).
fn pid_namespace() -> PidNamespace {
    match rustix::fs::stat("/proc/self/ns/pid") {
        #[allow(clippy::unnecessary_cast)] // st_ino's type varies between targets
        Ok(st) if st.st_ino as u64 == INIT_PID_NS_INO => PidNamespace::Host,
        Ok(_) => PidNamespace::Container,
        Err(_) => PidNamespace::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_test_runs_in_a_readable_pid_namespace() {
        assert_ne!(pid_namespace(), PidNamespace::Unknown);
    }

    #[test]
    fn a_prefix_is_found_by_listing_its_directory() {
        assert!(exists_with_prefix("/dev/nul"));
        assert!(exists_with_prefix("/dev/null"));
        assert!(!exists_with_prefix("/dev/leaktop-no-such-node"));
        assert!(!exists_with_prefix("/no-such-dir/x"));
    }

    #[test]
    fn no_gpu_node_is_no_gpu_and_loads_nothing() {
        let nodes = GpuNodes {
            present: vec![("/dev/leaktop-no-gpu".into(), NodeKind::Nvidia)],
            held: Vec::new(),
            // Would fail loudly if it were opened.
            nvml_libraries: vec!["/nonexistent/libnvidia-ml.so.1".into()],
        };
        assert!(LinuxGpu::detect(&nodes).is_none());
        assert!(LazyGpu::new(nodes).get().is_none());
    }
}
