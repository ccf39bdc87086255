//! Hand-written CPU kernels that work on plain `f32` slices (no burn types), so the neural-network
//! layer can wrap them as custom backend operations.

pub mod fast_math;
pub mod pointwise;
pub mod selective_scan;

/// CubeCL (CUDA) selective-scan kernels and their host-side launchers (the `cuda` feature).
#[cfg(feature = "cuda")]
pub mod cube;

/// Whether the running CPU has AVX2; kernel bodies are then compiled a second time with 256-bit
/// vectors. Both versions do the same operations in the same order (no FMA contraction), so results
/// are bitwise identical. Setting the environment variable `LOCOMAMBA_SCAN_NO_AVX2` forces the
/// baseline version (for comparisons).
pub(crate) fn has_avx2() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2")
            && std::env::var_os("LOCOMAMBA_SCAN_NO_AVX2").is_none()
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Calls `f`, inlined into a function compiled for AVX2 when `avx2` is true (the caller got it
/// from [`has_avx2`]).
#[inline(always)]
pub(crate) fn run_simd<R>(avx2: bool, f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    if avx2 {
        #[target_feature(enable = "avx2")]
        fn with_avx2<R>(f: impl FnOnce() -> R) -> R {
            f()
        }
        // SAFETY: the caller checked that the CPU supports AVX2.
        return unsafe { with_avx2(f) };
    }
    let _ = avx2;
    f()
}
