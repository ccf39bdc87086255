//! The one place that picks devices: burn's CPU backends (Flex by default), and CUDA when the
//! binary has the `cuda` feature and the machine a device. CUDA is an accelerator, never a
//! requirement: asking for it in a binary built without the feature, or on a machine without a
//! device, stops the run at start with a message saying which.

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
    /// The binary has no CUDA backend.
    #[error(
        "the recipe asks for backend.kind = \"cuda\", but this binary was built without the `cuda` \
         feature (rebuild with `cargo build --release --features cuda`, or use backend.kind = \"cpu\")"
    )]
    CudaNotCompiled,
    /// No CUDA device is visible.
    #[error(
        "the recipe asks for backend.kind = \"cuda\", but no CUDA device is visible on this machine \
         ({0}); use backend.kind = \"cpu\" (`--set backend.kind=cpu`)"
    )]
    NoCudaDevice(String),
}

/// The device for `backend`, with CPU threads applied to the global rayon pool.
pub fn select(backend: &BackendConfig) -> Result<Device, DeviceError> {
    if backend.cpu_threads > 0 {
        // Only the first call can size the global pool; later calls keep it.
        let _ = rayon::ThreadPoolBuilder::new()
            .num_threads(backend.cpu_threads)
            .build_global();
    }
    match backend.kind {
        BackendKind::Cpu => Ok(cpu_device_of(backend.cpu_backend)),
        BackendKind::Cuda => usable_cuda_device(),
    }
}

#[cfg(not(feature = "cuda"))]
fn usable_cuda_device() -> Result<Device, DeviceError> {
    Err(DeviceError::CudaNotCompiled)
}

#[cfg(feature = "cuda")]
fn usable_cuda_device() -> Result<Device, DeviceError> {
    let (status, ok) = cuda_status();
    if !ok {
        return Err(DeviceError::NoCudaDevice(status));
    }
    Ok(burn::backend::CudaDevice::default().into())
}

/// What this build and machine say about CUDA, and whether a CUDA device can be used.
#[cfg(not(feature = "cuda"))]
pub fn cuda_status() -> (String, bool) {
    (
        "not compiled in (this binary was built without `--features cuda`); the CPU backend is used"
            .into(),
        false,
    )
}

/// What this build and machine say about CUDA, and whether a CUDA device can be used.
#[cfg(feature = "cuda")]
pub fn cuda_status() -> (String, bool) {
    match crate::kernels::cube::cuda_client() {
        Ok(client) => (
            format!(
                "compiled in; device 0 answered ({} units per cube at most)",
                client.properties().hardware.max_units_per_cube
            ),
            true,
        ),
        Err(e) => (
            format!("compiled in, but {e}; the CPU backend is used"),
            false,
        ),
    }
}

/// The CUDA device, where this binary has the backend (whether it answers is [`cuda_status`]).
#[cfg(not(feature = "cuda"))]
pub fn cuda_device() -> Option<Device> {
    None
}

/// The CUDA device, where this binary has the backend (whether it answers is [`cuda_status`]).
#[cfg(feature = "cuda")]
pub fn cuda_device() -> Option<Device> {
    Some(burn::backend::CudaDevice::default().into())
}
