//! CubeCL selective-scan kernels for the GPU (the `cuda` and `wgpu` features): the same math and
//! layouts as the CPU kernel in [`crate::kernels::selective_scan`], on any CubeCL runtime.
//!
//! - [`forward`]: one unit per (batch, channel) scanning the whole sequence with its `state` values in
//!   registers; never materialises `[batch, len, channels, state]`.
//! - [`backward`]: one unit per (batch, channel): a forward pass storing the state at chunk boundaries,
//!   then a reverse pass recomputing each chunk locally; deterministic reductions through partial rows
//!   summed in a fixed order by a second small kernel (no atomics).
//! - [`host`]: clients (CUDA, wgpu), the device check, upload, launch, read-back, timing and
//!   bandwidth helpers.
//!
//! Their launch on burn's CubeCL tensors (the selective-scan backend operation of the CubeCL
//! backend, which the Mamba block uses on a GPU) is in `crate::ops::scan_cube`.
//!
//! Supported state sizes: 1 to [`MAX_STATE`].

pub mod backward;
pub mod client;
pub mod forward;
pub mod host;

pub use crate::kernels::selective_scan::{achieved_gbps, backward_bytes, forward_bytes};
pub use client::{cuda_client, gpu_client, wgpu_client};
pub use host::{bench_gpu, scan_backward_gpu, scan_forward_gpu};

use thiserror::Error;

use super::selective_scan::ScanError;

/// Largest `state` the kernels accept (the per-unit local arrays are sized by it at compile time).
pub const MAX_STATE: usize = 32;

/// Why a GPU scan could not run.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CubeScanError {
    /// No GPU device could be initialised (not linked, no driver, no GPU, or the runtime
    /// panicked).
    #[error("no GPU device ({0})")]
    NoDevice(String),
    /// The state size is outside `1..=MAX_STATE`.
    #[error("selective scan (GPU): state {0} is not supported (1..={max})", max = MAX_STATE)]
    UnsupportedState(usize),
    /// The device does not suit the kernels' layout, or a launch or read-back failed.
    #[error("selective scan (GPU): device error: {0}")]
    Device(String),
    /// An input slice does not match the dimensions.
    #[error(transparent)]
    Shape(#[from] ScanError),
}
