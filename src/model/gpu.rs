//! GPU memory per process: what the driver charges to each process shown, joined from
//! NVML's process lists, the DRM clients in `/proc/PID/fdinfo` and who holds the GPU's
//! device nodes open. Pure: the readings ([`crate::sample::gpu`]) come from the host, and the monitor
//! joins them here (`monitor::gpu`).
//!
//! - **NVIDIA**: NVML lists the processes with a context on each GPU and the memory it
//!   charges to each, by pid *in the host's PID namespace*. Memory stays allocated while
//!   any process holds the driver's descriptors: a child that inherited `/dev/nvidia*`
//!   keeps it after the pid NVML names has died. So a process that NVML does not list
//!   holds nothing, unless some listed pid is gone and the process holds an NVIDIA node:
//!   then its share is unknown, and the group says who holds the device.
//! - **AMD, Intel and other DRM drivers**: each open DRM file (a *client*,
//!   `drm-client-id`) writes its buffers per memory region in its fdinfo. A client is
//!   counted once however many descriptors (or processes, after a fork) share it, and
//!   buffers shared with another client (`drm-shared-*`) are left out of what a kill
//!   returns.
//! - **Unknown is never 0**: no GPU found, NVML unreadable, a container's host pids,
//!   descriptors that may not be read (they need ptrace-read access), a DRM client
//!   without memory figures: each makes the figure `None`.

use std::collections::BTreeMap;

use crate::human::human_kb;
pub use crate::sample::gpu::{
    DeviceFd, DrmClient, GpuPresence, GpuRead, NodeKind, NvmlProcess, PidNamespace,
};
use crate::sample::{IdMap, Identity};

/// The key a DRM client is counted once by: its device and id.
type ClientKey = (Option<String>, u64);

/// What one process holds on the GPU.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProcGpu {
    /// GPU memory charged to it that ending it returns, in KiB: NVML's figure plus its
    /// DRM clients' private memory, each client once. `None`: unknown.
    pub kb: Option<u64>,
    /// The NVIDIA part of `kb`.
    pub nvidia_kb: Option<u64>,
    /// The DRM part of `kb`.
    pub drm_kb: Option<u64>,
    /// The GPU device nodes it holds open, each once, sorted; `None`: unreadable.
    pub nodes: Option<Vec<(NodeKind, String)>>,
    /// Its pid in its own PID namespace (the last of `NSpid:`), where that is not the
    /// pid leaktop sees: a process in a container.
    pub ns_pid: Option<u32>,
    /// Its DRM clients and their private memory (KiB), for sums over a group.
    clients: Vec<(ClientKey, u64)>,
}

impl ProcGpu {
    /// Whether it holds an NVIDIA node open (`None`: unreadable).
    pub fn holds_nvidia(&self) -> Option<bool> {
        Some(
            self.nodes
                .as_ref()?
                .iter()
                .any(|(k, _)| *k == NodeKind::Nvidia),
        )
    }

    /// The node to name when saying what it holds: a GPU (`/dev/nvidia0`,
    /// `renderD128`) before a control node (`nvidiactl`, `nvidia-uvm`).
    pub fn main_node(&self) -> Option<&str> {
        let nodes = self.nodes.as_ref()?;
        let gpu = |p: &str| {
            p.strip_prefix("/dev/nvidia")
                .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()) && !n.is_empty())
                || p.starts_with("/dev/dri/")
                || p == "/dev/kfd"
        };
        nodes
            .iter()
            .map(|(_, p)| p.as_str())
            .find(|p| gpu(p))
            .or_else(|| nodes.first().map(|(_, p)| p.as_str()))
    }
}

/// GPU memory of the processes shown, from one [`GpuRead`].
#[derive(Debug, Clone, Default)]
pub struct GpuUsage {
    /// What was found at start; nothing is known where it is empty.
    pub presence: GpuPresence,
    pub namespace: PidNamespace,
    /// Why NVML could not be read, where it has an NVIDIA GPU and could not.
    pub nvml_error: Option<String>,
    /// NVML's pids that are gone (see [`GpuRead::gone`]).
    pub gone: Vec<NvmlProcess>,
    /// Each process asked about.
    pub processes: IdMap<Identity, ProcGpu>,
}

impl GpuUsage {
    /// Where no GPU was found: every figure unknown.
    pub fn none() -> GpuUsage {
        GpuUsage::default()
    }

    /// Whether a GPU was found (a GPU column is shown only then).
    pub fn found(&self) -> bool {
        self.presence.any()
    }

    /// The GPU memory of `id` in KiB; `None`: unknown (or not asked about).
    pub fn kb(&self, id: Identity) -> Option<u64> {
        self.processes.get(&id)?.kb
    }

    /// What ending every process of `ids` returns, in KiB: their NVIDIA memory summed
    /// and each DRM client counted once, even where several of them share it. `None`
    /// if any of them is unknown, or `ids` is empty.
    pub fn group_kb(&self, ids: &[Identity]) -> Option<u64> {
        if ids.is_empty() || !self.found() {
            return None;
        }
        let mut nvidia = 0u64;
        let mut clients: BTreeMap<&ClientKey, u64> = BTreeMap::new();
        for id in ids {
            let p = self.processes.get(id)?;
            nvidia = nvidia.saturating_add(p.nvidia_kb?);
            p.drm_kb?;
            for (key, kb) in &p.clients {
                clients.insert(key, *kb);
            }
        }
        Some(
            clients
                .values()
                .fold(nvidia, |sum, kb| sum.saturating_add(*kb)),
        )
    }

    /// The lines to show for a group of `ids`: what it holds on the GPU, who holds the
    /// device where NVML's pid is gone, and why a figure is unknown. Empty where there
    /// is nothing to say.
    pub fn notes(&self, ids: &[Identity]) -> Vec<String> {
        let mut out = Vec::new();
        if !self.found() {
            return out;
        }
        let members: Vec<(Identity, &ProcGpu)> = ids
            .iter()
            .filter_map(|id| Some((*id, self.processes.get(id)?)))
            .collect();
        if let Some(kb) = self.group_kb(ids).filter(|kb| *kb > 0) {
            let mut by: Vec<(Identity, u64, Option<u32>)> = members
                .iter()
                .filter_map(|(id, p)| Some((*id, p.kb.filter(|kb| *kb > 0)?, p.ns_pid)))
                .collect();
            by.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
            let parts: Vec<String> = by
                .iter()
                .take(3)
                .map(|(id, kb, ns)| match ns {
                    Some(ns) => format!("{} (pid {ns} in its container) {}", id.pid, human_kb(*kb)),
                    None => format!("{} {}", id.pid, human_kb(*kb)),
                })
                .collect();
            let more = by.len().saturating_sub(3);
            let more = if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            };
            out.push(format!(
                "holds {} of GPU memory, which ending it returns: {}{more}",
                human_kb(kb),
                parts.join(", ")
            ));
        }
        let holders: Vec<(Identity, &ProcGpu)> = members
            .iter()
            .filter(|(_, p)| p.holds_nvidia() == Some(true))
            .copied()
            .collect();
        let held = |holders: &[(Identity, &ProcGpu)]| {
            let (id, p) = holders[0];
            let more = if holders.len() > 1 {
                format!(" (and {} more)", holders.len() - 1)
            } else {
                String::new()
            };
            format!(
                "{} holds {}{more}",
                id.pid,
                p.main_node().unwrap_or("/dev/nvidia*")
            )
        };
        if holders.is_empty() || !self.presence.nvidia {
            return out;
        }
        if let Some(why) = &self.nvml_error {
            out.push(format!(
                "{}; its GPU memory is unknown: NVML could not be read ({why})",
                held(&holders)
            ));
        } else if self.namespace != PidNamespace::Host {
            out.push(format!(
                "{}; its GPU memory is unknown: leaktop runs in a container, and NVML's host pids can be mapped only from the host's PID namespace",
                held(&holders)
            ));
        } else {
            for g in self.gone.iter().take(3) {
                let used = g.used_kb.map_or("memory".to_string(), human_kb);
                out.push(format!(
                    "NVML reports pid {} ({used} on GPU {}), which is gone; {}",
                    g.pid,
                    g.gpu,
                    held(&holders)
                ));
            }
        }
        out
    }
}

/// Joins one [`GpuRead`] into each process's figures. See the module's documentation.
pub fn usage(read: &GpuRead) -> GpuUsage {
    let presence = read.presence;
    let nvml_error = match &read.nvml {
        Err(e) if presence.nvidia => Some(e.clone()),
        _ => None,
    };
    let processes = read
        .fds
        .iter()
        .map(|(id, fds)| (*id, process(read, *id, fds.as_deref())))
        .collect();
    GpuUsage {
        presence,
        namespace: read.namespace,
        nvml_error,
        gone: if read.namespace == PidNamespace::Host {
            read.gone.clone()
        } else {
            Vec::new()
        },
        processes,
    }
}

/// One process's figures.
fn process(read: &GpuRead, id: Identity, fds: Option<&[DeviceFd]>) -> ProcGpu {
    let holds = |kind: NodeKind| fds.map(|f| f.iter().any(|d| d.kind == kind));
    // Holding no NVIDIA node (readably) is holding no NVIDIA memory.
    let unless_holding = || match holds(NodeKind::Nvidia) {
        Some(false) => Some(0),
        _ => None,
    };
    let nvidia_kb = match (&read.nvml, read.namespace) {
        _ if !read.presence.nvidia => Some(0),
        (Ok(list), PidNamespace::Host) => {
            let mine: Vec<&NvmlProcess> = list.iter().filter(|p| p.pid == id.pid).collect();
            if !mine.is_empty() {
                mine.iter()
                    .try_fold(0u64, |sum, p| Some(sum.saturating_add(p.used_kb?)))
            } else if read.gone.is_empty() {
                Some(0)
            } else {
                // It may hold what NVML still charges to a gone pid.
                unless_holding()
            }
        }
        // NVML unreadable, or its pids are not ours: only holding nothing is known.
        _ => unless_holding(),
    };
    let mut clients: BTreeMap<ClientKey, u64> = BTreeMap::new();
    let drm_kb = match fds {
        _ if !read.presence.drm => Some(0),
        None => None,
        Some(fds) => {
            let mut known = true;
            for d in fds.iter().filter(|d| d.kind == NodeKind::Drm) {
                match &d.drm {
                    Some(DrmClient {
                        client_id: Some(cid),
                        private_kb: Some(kb),
                        pdev,
                        ..
                    }) => {
                        clients.insert((pdev.clone(), *cid), *kb);
                    }
                    _ => known = false,
                }
            }
            known.then(|| clients.values().fold(0u64, |s, kb| s.saturating_add(*kb)))
        }
    };
    let kb = match (nvidia_kb, drm_kb) {
        (Some(n), Some(d)) if read.presence.any() => Some(n.saturating_add(d)),
        _ => None,
    };
    let nodes = fds.map(|fds| {
        let mut nodes: Vec<(NodeKind, String)> =
            fds.iter().map(|d| (d.kind, d.path.clone())).collect();
        nodes.sort();
        nodes.dedup();
        nodes
    });
    let ns_pid = read
        .ns_pids
        .get(&id)
        .and_then(|pids| pids.last().copied())
        .filter(|p| *p != id.pid);
    ProcGpu {
        kb,
        nvidia_kb,
        drm_kb,
        nodes,
        ns_pid,
        clients: clients.into_iter().collect(),
    }
}

#[cfg(test)]
mod tests;
