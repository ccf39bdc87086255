//! The plain-slice CPU kernels (and, with `cuda` or `wgpu`, the CubeCL kernels) against their
//! oracles.

#[cfg(any(feature = "cuda", feature = "wgpu"))]
mod cube_scan;
mod selective_scan;
mod selective_scan_contract;
