//! The one place that picks the CPU backend.

use burn::prelude::Device;

use crate::recipe::CpuBackend;

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
