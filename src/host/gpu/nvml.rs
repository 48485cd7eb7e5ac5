//! NVIDIA's NVML through the `nvml-wrapper` crate, which opens the library at run time
//! (`dlopen`): leaktop builds and runs where there is no NVIDIA driver, and reads
//! nothing there.
//!
//! `Nvml::init()` opens `libnvidia-ml.so`, the unversioned name that only the driver's
//! development files provide; driver-only installs and containers (the NVIDIA container
//! toolkit mounts the library in) often have only `libnvidia-ml.so.1`. So the versioned
//! name is tried first ([`LIBRARIES`]).

use std::collections::BTreeMap;
use std::ffi::OsStr;

use nvml_wrapper::Nvml;
use nvml_wrapper::enums::device::UsedGpuMemory;
use nvml_wrapper::struct_wrappers::device::ProcessInfo;

use super::NvmlError;
use crate::sample::gpu::NvmlProcess;

/// The NVML library names tried, in order.
pub const LIBRARIES: [&str; 2] = ["libnvidia-ml.so.1", "libnvidia-ml.so"];

/// NVML, opened and initialised (`nvmlInit_v2`); shut down when dropped.
pub struct NvmlReader {
    nvml: Nvml,
    /// The name or path it was opened by.
    pub library: String,
}

impl NvmlReader {
    /// Opens the first of `libraries` (names searched as `dlopen` does, or paths)
    /// that loads and initialises. `Err` names each one tried and why it failed.
    pub fn open<S: AsRef<OsStr>>(libraries: &[S]) -> Result<NvmlReader, NvmlError> {
        let mut tried = Vec::new();
        for lib in libraries {
            let lib = lib.as_ref();
            match Nvml::builder().lib_path(lib).init() {
                Ok(nvml) => {
                    return Ok(NvmlReader {
                        nvml,
                        library: lib.to_string_lossy().into_owned(),
                    });
                }
                Err(e) => tried.push(format!("{}: {e}", lib.to_string_lossy())),
            }
        }
        Err(NvmlError::NotLoaded(tried.join("; ")))
    }

    /// Every process with a context on every GPU: the compute and graphics lists
    /// (`nvmlDeviceGetComputeRunningProcesses_v3`, `…GraphicsRunningProcesses_v3`),
    /// one entry per pid and GPU (a process in both lists is charged once). A GPU
    /// whose lists both fail makes the whole query fail: a missing process would read
    /// as one holding nothing.
    pub fn processes(&self) -> Result<Vec<NvmlProcess>, NvmlError> {
        let query = |e: nvml_wrapper::error::NvmlError| NvmlError::Query(e.to_string());
        let count = self.nvml.device_count().map_err(query)?;
        let mut by: BTreeMap<(u32, u32), Option<u64>> = BTreeMap::new();
        for gpu in 0..count {
            let device = self.nvml.device_by_index(gpu).map_err(query)?;
            let compute = device.running_compute_processes();
            let graphics = device.running_graphics_processes();
            if let (Err(e), Err(_)) = (&compute, &graphics) {
                return Err(NvmlError::Query(format!("GPU {gpu}: {e}")));
            }
            let lists = [compute.unwrap_or_default(), graphics.unwrap_or_default()];
            for p in lists.iter().flatten() {
                let used = used_kb(p);
                by.entry((p.pid, gpu))
                    .and_modify(|known| *known = (*known).max(used))
                    .or_insert(used);
            }
        }
        Ok(by
            .into_iter()
            .map(|((pid, gpu), used_kb)| NvmlProcess { pid, gpu, used_kb })
            .collect())
    }
}

/// `usedGpuMemory` in KiB, `None` where NVML says it is not available (and for
/// the all-ones value some drivers give every process, whatever the wrapper's
/// version makes of it).
fn used_kb(p: &ProcessInfo) -> Option<u64> {
    match p.used_gpu_memory {
        UsedGpuMemory::Used(bytes) if bytes < 1 << 60 => Some(bytes / 1024),
        _ => None,
    }
}
