//! GPU memory of the processes shown, read through the [`Host`]'s GPU port and joined
//! by [`crate::model::gpu::usage`]. Asked only for what is shown (an orphan group's
//! members, a family's members): one NVML query for every process, and a descriptor
//! scan (`/proc/PID/fd`, `/proc/PID/fdinfo`) for each process asked about.

use crate::host::Host;
use crate::model::gpu::{GpuRead, GpuUsage, PidNamespace, usage};
use crate::sample::{IdMap, Identity};

/// The GPU memory of each of `ids`. Where the host found no GPU at start, nothing is
/// read and every figure is unknown.
pub fn read(host: &dyn Host, ids: &[Identity]) -> GpuUsage {
    let Some(gpu) = host.gpu() else {
        return GpuUsage::none();
    };
    let presence = gpu.presence();
    let nvml = if presence.nvidia {
        gpu.nvml_processes().map_err(|e| e.to_string())
    } else {
        Ok(Vec::new())
    };
    let namespace = gpu.pid_namespace();
    let listed = |pid: u32| nvml.as_ref().is_ok_and(|l| l.iter().any(|p| p.pid == pid));
    let gone = match (&nvml, namespace) {
        (Ok(list), PidNamespace::Host) => list
            .iter()
            .filter(|p| !host.exists(p.pid))
            .copied()
            .collect(),
        _ => Vec::new(),
    };
    let mut fds = IdMap::default();
    let mut ns_pids = IdMap::default();
    for id in ids {
        fds.insert(*id, gpu.device_fds(*id));
        if namespace == PidNamespace::Host
            && listed(id.pid)
            && let Some(pids) = gpu.ns_pids(*id)
        {
            ns_pids.insert(*id, pids);
        }
    }
    usage(&GpuRead {
        presence,
        nvml,
        namespace,
        gone,
        fds,
        ns_pids,
    })
}
