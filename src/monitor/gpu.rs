//! GPU memory of a family's members, tick by tick: one NVML query a tick for every
//! process, and descriptor scans (`/proc/PID/fd`, `/proc/PID/fdinfo`) rationed: a
//! member is scanned when it is new, every tick while it holds a DRM node (whose
//! figures move) or could not be read, and otherwise every
//! [`super::MEMORY_REFRESH`]. Nothing is read where the host found no GPU at start.

use std::collections::{HashMap, HashSet};

use crate::host::Host;
use crate::model::Tick;
use crate::model::gpu::{DeviceFd, NodeKind};
use crate::sample::Identity;

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
        let usage = crate::host::gpu::read_with(host, &ids, &mut |gpu, id| {
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
