//! The one place that picks the default CPU backend.

use burn::prelude::Device;

/// The default CPU device used for training and inference (the Flex backend, see the nn report
/// for the Flex vs NdArray measurement). Wrap it with `.autodiff()` to train.
pub fn cpu_device() -> Device {
    Device::flex()
}
