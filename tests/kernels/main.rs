//! The plain-slice CPU kernels (and, with `cuda`, the CubeCL kernels) against their oracles.

#[cfg(feature = "cuda")]
mod cube_scan;
mod selective_scan;
