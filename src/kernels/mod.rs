//! Hand-written CPU kernels that work on plain `f32` slices (no burn types), so the neural-network
//! layer can wrap them as custom backend operations.

pub mod fast_math;
pub mod selective_scan;

/// CubeCL (CUDA) selective-scan kernels and their host-side launchers (the `cuda` feature).
#[cfg(feature = "cuda")]
pub mod cube;
