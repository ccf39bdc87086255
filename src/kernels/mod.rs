//! Hand-written CPU kernels that work on plain `f32` slices (no burn types), so the neural-network
//! layer can wrap them as custom backend operations.

pub mod fast_math;
pub mod selective_scan;

/// CubeCL (CUDA) selective-scan kernels and their host-side launchers. They reach CubeCL through
/// `burn::cubecl`, which exists only with burn's `cubecl` feature: until the `cuda` feature in
/// Cargo.toml also enables `burn/cubecl`, the `any()` (always false) keeps them compiled out; remove
/// it together with that Cargo.toml change.
#[cfg(all(feature = "cuda", any()))]
pub mod cube;
