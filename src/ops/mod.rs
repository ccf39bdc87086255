//! burn backend operations with their autodiff nodes: the fused CPU kernels of [`crate::kernels`]
//! (and the CubeCL scan on CUDA) wrapped as custom operations of burn's backends, so that the
//! network modules of [`crate::nn`] call them like any tensor op.
//!
//! Each operation has a tensor-op fallback for devices without it, which is also its test oracle.

pub mod autodiff;
pub mod conv;
pub mod host;
pub mod layer_norm;
pub mod linear;
pub mod mamba_pointwise;
pub mod pool;
pub mod scan;
#[cfg(any(feature = "cuda", feature = "wgpu"))]
pub mod scan_cube;

pub use host::has_fused_cpu_ops;
