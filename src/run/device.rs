//! Picks the device a recipe asks for. CUDA is an accelerator, never a requirement: asking for it
//! in a binary built without the `cuda` feature, or on a machine without a device, stops the run at
//! start with a message saying which.

use burn::tensor::Device;
use thiserror::Error;

use crate::recipe::{BackendConfig, BackendKind};

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
        BackendKind::Cpu => Ok(crate::nn::device::cpu_device_of(backend.cpu_backend)),
        BackendKind::Cuda => cuda_device(),
    }
}

#[cfg(not(feature = "cuda"))]
fn cuda_device() -> Result<Device, DeviceError> {
    Err(DeviceError::CudaNotCompiled)
}

#[cfg(feature = "cuda")]
fn cuda_device() -> Result<Device, DeviceError> {
    let (status, ok) = crate::check::cuda_status();
    if !ok {
        return Err(DeviceError::NoCudaDevice(status));
    }
    Ok(burn::backend::CudaDevice::default().into())
}
