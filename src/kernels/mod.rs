//! Hand-written CPU kernels that work on plain `f32` slices (no burn types), so the neural-network
//! layer can wrap them as custom backend operations.

pub mod fast_math;
pub mod pointwise;
pub mod selective_scan;

/// CubeCL (CUDA) selective-scan kernels and their host-side launchers (the `cuda` feature).
#[cfg(feature = "cuda")]
pub mod cube;

/// The widest vector instruction set the kernels are compiled for on the running CPU. Kernel
/// bodies are compiled once per level; every level does the same operations in the same order (no
/// FMA contraction, no reduction that depends on the vector width), so results are bitwise
/// identical across levels. `LOCOMAMBA_SCAN_NO_AVX2` forces the baseline and
/// `LOCOMAMBA_SCAN_NO_AVX512` caps the level at AVX2 (for comparisons).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SimdLevel {
    /// The target's default instructions (SSE2 on x86_64).
    Baseline,
    /// 256-bit vectors.
    Avx2,
    /// 512-bit vectors.
    Avx512,
}

/// The [`SimdLevel`] of the running CPU, after the environment overrides.
pub(crate) fn simd_level() -> SimdLevel {
    #[cfg(target_arch = "x86_64")]
    {
        let off = |name: &str| std::env::var_os(name).is_some();
        if !std::arch::is_x86_feature_detected!("avx2") || off("LOCOMAMBA_SCAN_NO_AVX2") {
            SimdLevel::Baseline
        } else if std::arch::is_x86_feature_detected!("avx512f") && !off("LOCOMAMBA_SCAN_NO_AVX512")
        {
            SimdLevel::Avx512
        } else {
            SimdLevel::Avx2
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        SimdLevel::Baseline
    }
}

/// A kernel body that [`run_simd`] compiles once per [`SimdLevel`]. Implementations mark `run`
/// `#[inline(always)]`, so that it is compiled into each level's wrapper (a closure would be
/// compiled once, for the baseline, and only called from there).
pub(crate) trait SimdKernel {
    /// What the kernel returns.
    type Output;
    /// The kernel's work.
    fn run(self) -> Self::Output;
}

/// Runs `kernel` compiled for `level` (which the caller got from [`simd_level`]).
#[inline(always)]
pub(crate) fn run_simd<K: SimdKernel>(level: SimdLevel, kernel: K) -> K::Output {
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx2")]
        fn with_avx2<K: SimdKernel>(kernel: K) -> K::Output {
            kernel.run()
        }
        #[target_feature(enable = "avx2,avx512f")]
        fn with_avx512<K: SimdKernel>(kernel: K) -> K::Output {
            kernel.run()
        }
        match level {
            // SAFETY: `simd_level` found AVX2 on this CPU.
            SimdLevel::Avx2 => return unsafe { with_avx2(kernel) },
            // SAFETY: `simd_level` found AVX-512F (and AVX2) on this CPU.
            SimdLevel::Avx512 => return unsafe { with_avx512(kernel) },
            SimdLevel::Baseline => {}
        }
    }
    let _ = level;
    kernel.run()
}
