//! The GPU as one more thing the [`Host`](super::Host) reads: which GPUs the machine
//! has, NVML's process lists, and the descriptors a process holds open on GPU device
//! nodes (with their DRM fdinfo). [`Host::gpu`](super::Host::gpu) gives a [`Gpu`] only
//! where a GPU was found in one check at start: with none, nothing is loaded or read
//! again. The readings ([`crate::sample::gpu`]) are joined into memory per process
//! by the monitor (`monitor::gpu::read`), with the pure rule of `model::gpu`.
//!
//! On Linux: [`linux::LinuxGpu`] (NVML through `nvml-wrapper`, opened at run time;
//! `/proc/PID/fd` and `/proc/PID/fdinfo`, parsed by [`fdinfo`]). The tests have a fake
//! (`tests/it/fakes/gpu.rs`).

pub mod fdinfo;
#[cfg(target_os = "linux")]
pub mod linux;
#[cfg(target_os = "linux")]
pub mod nvml;

use crate::sample::Identity;
use crate::sample::gpu::{DeviceFd, GpuPresence, NvmlProcess, PidNamespace};

/// Why NVML's processes could not be read: GPU memory is unknown then.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NvmlError {
    /// No NVML library opened and initialised: each one tried and why.
    #[error("no NVML library could be opened ({0})")]
    NotLoaded(String),
    /// A query failed (the driver, a lost GPU).
    #[error("an NVML query failed: {0}")]
    Query(String),
}

/// What leaktop reads of the GPUs. Implementations are shared between threads.
pub trait Gpu: Send + Sync {
    /// The GPUs found at start (never empty: there would be no `Gpu` then).
    fn presence(&self) -> GpuPresence;

    /// Every process on every NVIDIA GPU, from one NVML query (compute and graphics
    /// lists, one entry per pid and GPU), with pids in the host's PID namespace.
    /// `Err` says why not: no NVML library, the driver not loaded, a call failed.
    fn nvml_processes(&self) -> Result<Vec<NvmlProcess>, NvmlError>;

    /// The descriptors of the process `id` open on GPU device nodes
    /// (`/proc/PID/fd/*`), each DRM one with its client's figures
    /// (`/proc/PID/fdinfo/FD`), read only if the process now at `id.pid` is `id`.
    /// `None` if gone, reused or unreadable (another user's process: reading them
    /// needs ptrace-read access): unknown, never "holds nothing".
    fn device_fds(&self, id: Identity) -> Option<Vec<DeviceFd>>;

    /// Which PID namespace leaktop runs in (`/proc/self/ns/pid`).
    fn pid_namespace(&self) -> PidNamespace;

    /// The pids of `id` from leaktop's PID namespace down to its own (`NSpid:` of
    /// `/proc/PID/status`): more than one for a process in a container. `None` if
    /// gone, reused or unreadable.
    fn ns_pids(&self, id: Identity) -> Option<Vec<u32>>;
}
