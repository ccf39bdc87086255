//! Moving tensors of burn's CPU backends to and from the host `f32` slices the kernels work on, and
//! the test of whether a device has those fused host operations.

// burn 0.22 deprecates its NdArray backend; it is still one of the two CPU backends a recipe can pick.
#![allow(deprecated)]

use std::borrow::Cow;

use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, DispatchDevice, Flex, NdArray};
use burn::prelude::*;
use burn::tensor::Shape;

/// Host copy of a float tensor of backend `B`, as `f32`.
pub(crate) fn to_host<B: Backend>(t: FloatTensor<B>) -> Vec<f32> {
    let data =
        burn::tensor::read_sync(B::float_into_data(t)).expect("reading a CPU tensor cannot fail");
    data.convert::<f32>()
        .try_into_vec::<f32>()
        .expect("converted to f32")
}

/// A float tensor of backend `B` from host `f32` values (moved, not copied, on Flex).
pub(crate) fn from_host<B: Backend>(
    values: Vec<f32>,
    shape: Shape,
    device: &B::Device,
) -> FloatTensor<B> {
    B::float_from_data(TensorData::new(values, shape), device)
}

/// A CPU backend whose float tensors the host kernels can read.
pub(crate) trait HostValues: Backend {
    /// The values of `t` as contiguous `f32`, borrowed where the backend allows it.
    fn values(t: &FloatTensor<Self>) -> Cow<'_, [f32]>;
}

impl HostValues for Flex {
    fn values(t: &FloatTensor<Self>) -> Cow<'_, [f32]> {
        match t.as_slice::<f32>() {
            Some(values) => Cow::Borrowed(values),
            None => Cow::Owned(to_host::<Self>(t.clone())),
        }
    }
}

impl HostValues for NdArray {
    fn values(t: &FloatTensor<Self>) -> Cow<'_, [f32]> {
        Cow::Owned(to_host::<Self>(t.clone()))
    }
}

/// Whether `device` (or the device an autodiff device wraps) is one of burn's CPU backends, which
/// run the fused host operations of [`crate::ops`] (the kernels of [`crate::kernels`]); other
/// devices fall back to burn tensor ops, or to CubeCL kernels for the scan on CUDA.
pub fn has_fused_cpu_ops(device: &Device) -> bool {
    matches!(
        device.clone().inner().as_dispatch(),
        DispatchDevice::Flex(_) | DispatchDevice::NdArray(_)
    )
}
