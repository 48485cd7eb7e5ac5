//! GPU memory of a family's members, tick by tick: one NVML query a tick for every
//! process, and descriptor scans (`/proc/PID/fd`, `/proc/PID/fdinfo`) rationed: a
//! member is scanned when it is new, every tick while it holds a DRM node (whose
//! figures move) or could not be read, and otherwise every
//! [`super::MEMORY_REFRESH`]. Nothing is read where the host found no GPU at start.

use std::collections::{HashMap, HashSet};

use crate::host::Host;
use crate::host::gpu::Gpu;
use crate::model::Tick;
use crate::model::gpu::{DeviceFd, GpuRead, GpuUsage, NodeKind, PidNamespace};
use crate::sample::{IdMap, Identity};

/// Each member's GPU descriptors as last scanned (`None`: unreadable), and the tick
/// of the scan.
#[derive(Default)]
pub(crate) struct GpuWatch {
    scans: HashMap<Identity, (Option<Vec<DeviceFd>>, u32)>,
}

impl GpuWatch {
    /// Fills every row's `gpu_kb` (`None`: unknown). `interval_ms`: the time between
    /// two ticks, to space the scans of members that hold nothing that moves.
    pub(crate) fn fill(&mut self, host: &dyn Host, tick: &mut Tick, interval_ms: u64) {
        if host.gpu().is_none() {
            return;
        }
        let refresh =
            (super::MEMORY_REFRESH.as_millis() / u128::from(interval_ms.max(1))).max(1) as u32;
        let now = tick.tick;
        let ids: Vec<Identity> = tick
            .processes
            .iter()
            .filter(|r| r.state != 'Z')
            .map(|r| r.id())
            .collect();
        let scans = &mut self.scans;
        let usage = read_with(host, &ids, &mut |gpu, id| {
            let due = scans.get(&id).is_none_or(|(fds, at)| {
                now.saturating_sub(*at) >= refresh
                    || fds
                        .as_ref()
                        .is_none_or(|f| f.iter().any(|d| d.kind == NodeKind::Drm))
            });
            if due {
                scans.insert(id, (gpu.device_fds(id), now));
            }
            scans.get(&id).and_then(|(fds, _)| fds.clone())
        });
        let members: HashSet<Identity> = ids.iter().copied().collect();
        self.scans.retain(|id, _| members.contains(id));
        for row in &mut tick.processes {
            row.gpu_kb = usage.kb(row.id());
        }
    }
}

/// The GPU memory of each of `ids` (the processes shown: an orphan group's members,
/// a family's), joined by [`crate::model::gpu::usage`]: one NVML query for every
/// process, and a descriptor scan for each of `ids`. Where the host found no GPU at
/// start, nothing is read and every figure is unknown.
pub fn read(host: &dyn Host, ids: &[Identity]) -> GpuUsage {
    read_with(host, ids, &mut |gpu, id| gpu.device_fds(id))
}

/// Where [`read_with`] takes a process's GPU descriptors from: the GPU, and the
/// process.
pub type FdSource<'a> = dyn FnMut(&dyn Gpu, Identity) -> Option<Vec<DeviceFd>> + 'a;

/// [`read`], with each process's descriptors from `fds` (a cache of earlier scans,
/// as the monitor keeps one, or [`Gpu::device_fds`]).
pub fn read_with(host: &dyn Host, ids: &[Identity], fds: &mut FdSource<'_>) -> GpuUsage {
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
    let mut by_id = IdMap::default();
    let mut ns_pids = IdMap::default();
    for id in ids {
        by_id.insert(*id, fds(gpu, *id));
        if namespace == PidNamespace::Host
            && listed(id.pid)
            && let Some(pids) = gpu.ns_pids(*id)
        {
            ns_pids.insert(*id, pids);
        }
    }
    crate::model::gpu::usage(&GpuRead {
        presence,
        nvml,
        namespace,
        gone,
        fds: by_id,
        ns_pids,
    })
}
