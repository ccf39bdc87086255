//! Hand-written CPU kernels that work on plain `f32` slices (no burn types), so the neural-network
//! layer can wrap them as custom backend operations.

use rayon::prelude::*;
use std::mem::MaybeUninit;

pub mod conv;
pub mod fast_math;
pub mod layer_norm;
pub mod matmul;
pub mod pointwise;
pub mod pool;
pub mod selective_scan;

/// CubeCL selective-scan kernels and their host-side launchers (the `cuda` and `wgpu` features).
#[cfg(any(feature = "cuda", feature = "wgpu"))]
pub mod cube;

/// The widest vector instruction set the kernels are compiled for on the running CPU. Kernel
/// bodies are compiled once per level; every level does the same operations in the same order (no
/// reduction that depends on the vector width, and every fused multiply-add written out as
/// `mul_add`, which is correctly rounded everywhere: one instruction at the AVX2 + FMA and
/// AVX-512 levels, libm's `fmaf` at the x86_64 baseline), so results are bitwise identical across
/// levels. `LOCOMAMBA_SCAN_NO_AVX2` forces the baseline and
/// `LOCOMAMBA_SCAN_NO_AVX512` caps the level at AVX2 (for comparisons).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SimdLevel {
    /// The target's default instructions (SSE2 on x86_64).
    Baseline,
    /// 256-bit vectors with fused multiply-add (AVX2 + FMA).
    Avx2,
    /// 512-bit vectors.
    Avx512,
}

impl SimdLevel {
    /// The instruction set's usual name, as benchmark reports print it.
    pub(crate) fn name(self) -> &'static str {
        match self {
            SimdLevel::Baseline => "baseline SIMD",
            SimdLevel::Avx2 => "AVX2",
            SimdLevel::Avx512 => "AVX-512",
        }
    }
}

/// The [`SimdLevel`] of the running CPU, after the environment overrides.
pub(crate) fn simd_level() -> SimdLevel {
    #[cfg(target_arch = "x86_64")]
    {
        let off = |name: &str| std::env::var_os(name).is_some();
        let avx2_fma = std::arch::is_x86_feature_detected!("avx2")
            && std::arch::is_x86_feature_detected!("fma");
        if !avx2_fma || off("LOCOMAMBA_SCAN_NO_AVX2") {
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
        #[target_feature(enable = "avx2,fma")]
        fn with_avx2<K: SimdKernel>(kernel: K) -> K::Output {
            kernel.run()
        }
        #[target_feature(enable = "avx2,fma,avx512f")]
        fn with_avx512<K: SimdKernel>(kernel: K) -> K::Output {
            kernel.run()
        }
        match level {
            // SAFETY: `simd_level` found AVX2 and FMA on this CPU.
            SimdLevel::Avx2 => return unsafe { with_avx2(kernel) },
            // SAFETY: `simd_level` found AVX-512F (and AVX2, FMA) on this CPU.
            SimdLevel::Avx512 => return unsafe { with_avx512(kernel) },
            SimdLevel::Baseline => {}
        }
    }
    let _ = level;
    kernel.run()
}

/// Asks the CPU to start loading the cache line holding `base + offset` floats into L1 (no effect
/// on results; a hint only, and never a fault, even past the end of the buffer). The scan kernels
/// walk `[batch, len, channels]` buffers at a stride of one row per step, which the hardware
/// prefetchers do not follow, so they prefetch the next channel group's row themselves.
#[inline(always)]
pub(crate) fn prefetch(base: *const f32, offset: usize) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        // SAFETY: a prefetch reads nothing and cannot fault, whatever the address; `wrapping_add`
        // keeps the address computation itself defined.
        unsafe { _mm_prefetch::<_MM_HINT_T0>(base.wrapping_add(offset).cast::<i8>()) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (base, offset);
    }
}

/// An initialised buffer as one to be written (always sound: it is only ever written with `f32`s).
pub(crate) fn as_uninit(buf: &mut [f32]) -> &mut [MaybeUninit<f32>] {
    // SAFETY: same layout; every value written through the result is an initialised `f32`.
    unsafe { std::slice::from_raw_parts_mut(buf.as_mut_ptr().cast(), buf.len()) }
}

/// A vector of `n` floats whose values `fill` writes, every one of them (it gets the
/// uninitialised buffer): the outputs skip the zero-fill that `vec![0.0; n]` costs.
///
/// # Safety
/// `fill` must write all `n` values.
pub(crate) unsafe fn filled_vec(n: usize, fill: impl FnOnce(&mut [MaybeUninit<f32>])) -> Vec<f32> {
    let mut v = Vec::with_capacity(n);
    fill(&mut v.spare_capacity_mut()[..n]);
    // SAFETY: the caller's `fill` initialised all `n` values.
    unsafe { v.set_len(n) };
    v
}

/// Sums 16 partial sums in a fixed order, halves added pairwise until one value is left: the
/// final step of the kernels' reductions, the same on every [`SimdLevel`].
#[inline(always)]
pub(crate) fn lane_sum(lanes: &[f32; 16]) -> f32 {
    let mut v = *lanes;
    let mut width = v.len();
    while width > 1 {
        width /= 2;
        for i in 0..width {
            v[i] += v[i + width];
        }
    }
    v[0]
}

/// Writes [`lane_sum`] of each row of `rows` to `dst` (same length), one row at a time: each
/// row's reference passes through [`std::hint::black_box`] so that the compiler sums it with a
/// few shuffles and adds instead of vectorising the loop across rows with gathers of lanes of
/// 16 rows (slower by about a tenth of the scan's backward).
#[inline(always)]
pub(crate) fn lane_sums(dst: &mut [MaybeUninit<f32>], rows: &[[f32; 16]]) {
    for (d, row) in dst.iter_mut().zip(rows) {
        d.write(lane_sum(std::hint::black_box(row)));
    }
}

/// The least work, in values (or, for the scan, value x state updates), that one parallel piece
/// of a kernel should get: below it, handing the piece to another rayon thread (waking it costs
/// tens of microseconds here) costs more than the work, as in policy inference at a few
/// environments. Only the execution changes, never the tasks, so results stay the same.
const MIN_PARALLEL_WORK: usize = 1 << 16;

/// Tasks per parallel piece (rayon's `with_min_len`) for tasks of `work_per_task` each.
pub(crate) fn min_tasks_per_piece(work_per_task: usize) -> usize {
    MIN_PARALLEL_WORK.div_ceil(work_per_task.max(1))
}

/// `out[i] += sum_p parts[p * out.len() + i]`, added in ascending `p` for every `i`: how the
/// kernels reduce their tasks' partial sums, in an order that does not depend on the threads.
pub(crate) fn sum_partials(out: &mut [f32], parts: &[f32]) {
    let n = out.len();
    if n == 0 {
        return;
    }
    const SPAN: usize = 4096;
    out.par_chunks_mut(SPAN).enumerate().for_each(|(ci, dst)| {
        let start = ci * SPAN;
        let width = dst.len();
        for part in parts.chunks_exact(n) {
            for (o, p) in dst.iter_mut().zip(&part[start..start + width]) {
                *o += *p;
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sum_partials_adds_in_order() {
        let mut out = vec![0.0f32; 3];
        sum_partials(&mut out, &[1.0, 2.0, 3.0, 10.0, 20.0, 30.0]);
        assert_eq!(out, vec![11.0, 22.0, 33.0]);
    }
}
