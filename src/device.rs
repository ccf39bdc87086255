//! The one place that picks devices: burn's CPU backends (Flex by default), CUDA when the binary
//! has the `cuda` feature and the machine a device, and wgpu (Vulkan, Metal, DirectX 12, or a
//! software Vulkan device such as Mesa's lavapipe) when it has the `wgpu` feature and an adapter.
//! A GPU is an accelerator, never a requirement: asking for one in a binary built without its
//! feature, or on a machine without a device, stops the run at start with a message saying which.

use burn::prelude::Device;
use thiserror::Error;

use crate::recipe::{BackendConfig, BackendKind, CpuBackend};

/// The default CPU device used for training and inference: burn's Flex backend, which runs these
/// networks faster than NdArray (`runner bench nets`, numbers in README). Wrap it with
/// `.autodiff()` to train.
pub fn cpu_device() -> Device {
    cpu_device_of(CpuBackend::Flex)
}

/// The device of one of burn's CPU backends.
#[allow(deprecated)]
pub fn cpu_device_of(backend: CpuBackend) -> Device {
    match backend {
        CpuBackend::Flex => Device::flex(),
        CpuBackend::Ndarray => Device::ndarray(),
    }
}

/// Why the requested backend cannot be used.
#[derive(Debug, Error)]
pub enum DeviceError {
    /// The binary was built without the backend's feature.
    #[error(
        "the recipe asks for backend.kind = \"{kind}\", but this binary was built without the \
         `{kind}` feature (rebuild with `cargo build --release --features {kind}`, or use \
         backend.kind = \"cpu\")"
    )]
    NotCompiled {
        /// The backend (and its cargo feature).
        kind: &'static str,
    },
    /// The backend is compiled in, but no device answered.
    #[error(
        "the recipe asks for backend.kind = \"{kind}\", but no {kind} device is usable on this \
         machine ({reason}); use backend.kind = \"cpu\" (`--set backend.kind=cpu`)"
    )]
    NoDevice {
        /// The backend.
        kind: &'static str,
        /// What the runtime said.
        reason: String,
    },
}

/// The device for `backend`, with CPU threads applied to the global rayon pool.
pub fn select(backend: &BackendConfig) -> Result<Device, DeviceError> {
    if backend.cpu_threads > 0 {
        // Only the first call can size the global pool; later calls keep it.
        let _ = rayon::ThreadPoolBuilder::new()
            .num_threads(backend.cpu_threads)
            .build_global();
    }
    let gpu = match backend.kind {
        BackendKind::Cpu => return Ok(cpu_device_of(backend.cpu_backend)),
        BackendKind::Cuda => Gpu::Cuda,
        BackendKind::Wgpu => Gpu::Wgpu,
    };
    let (status, ok) = gpu.status();
    match gpu.device() {
        None => Err(DeviceError::NotCompiled { kind: gpu.name() }),
        Some(_) if !ok => Err(DeviceError::NoDevice {
            kind: gpu.name(),
            reason: status,
        }),
        Some(device) => Ok(device),
    }
}

/// The GPU backends a binary may have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gpu {
    /// NVIDIA GPUs through CUDA (the `cuda` feature).
    Cuda,
    /// Vulkan, Metal or DirectX 12 through wgpu (the `wgpu` feature).
    Wgpu,
}

impl Gpu {
    /// Every GPU backend, in the order `runner check` lists them.
    pub const ALL: [Gpu; 2] = [Gpu::Cuda, Gpu::Wgpu];

    /// The backend's name (also its cargo feature and `backend.kind`).
    pub fn name(self) -> &'static str {
        match self {
            Gpu::Cuda => "cuda",
            Gpu::Wgpu => "wgpu",
        }
    }

    /// Whether this binary has the backend.
    pub fn compiled(self) -> bool {
        match self {
            Gpu::Cuda => cfg!(feature = "cuda"),
            Gpu::Wgpu => cfg!(feature = "wgpu"),
        }
    }

    /// burn's device of the backend, where this binary has it (whether it answers is
    /// [`status`](Self::status)).
    pub fn device(self) -> Option<Device> {
        match self {
            #[cfg(feature = "cuda")]
            Gpu::Cuda => Some(burn::backend::CudaDevice::default().into()),
            #[cfg(feature = "wgpu")]
            Gpu::Wgpu => Some(burn::backend::WgpuDevice::default().into()),
            #[allow(unreachable_patterns)]
            _ => None,
        }
    }

    /// What this build and machine say about the backend (for wgpu: the adapter's name, type and
    /// plane size), and whether a device can be used.
    pub fn status(self) -> (String, bool) {
        if !self.compiled() {
            return (
                format!(
                    "not compiled in (this binary was built without `--features {}`)",
                    self.name()
                ),
                false,
            );
        }
        gpu_status(self)
    }
}

#[cfg(not(any(feature = "cuda", feature = "wgpu")))]
fn gpu_status(_gpu: Gpu) -> (String, bool) {
    unreachable!("no GPU backend is compiled in")
}

#[cfg(any(feature = "cuda", feature = "wgpu"))]
fn gpu_status(gpu: Gpu) -> (String, bool) {
    let client = match gpu {
        Gpu::Cuda => crate::kernels::cube::cuda_client(),
        Gpu::Wgpu => crate::kernels::cube::wgpu_client(),
    };
    match client {
        Ok(client) => {
            let hw = &client.properties().hardware;
            (
                format!(
                    "compiled in; {} answered ({} units per cube at most, plane size {}..{})",
                    client.name(),
                    hw.max_units_per_cube,
                    hw.plane_size_min,
                    hw.plane_size_max
                ),
                true,
            )
        }
        Err(e) => (format!("compiled in, but {e}"), false),
    }
}
