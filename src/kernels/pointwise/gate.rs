//! The output gate of the Mamba block, `out = y * silu(z)`, forward and backward, over fixed-size
//! chunks in parallel.

use std::mem::MaybeUninit;

use rayon::prelude::*;

use super::{GATE_CHUNK, check, silu_and_slope};
use crate::kernels::{SimdKernel, filled_vec, min_tasks_per_piece, run_simd, simd_level};

/// `y * silu(z)`, elementwise, as a new vector (allocated without zero-filling). Panics on a
/// length mismatch.
pub fn gate_forward(y: &[f32], z: &[f32]) -> Vec<f32> {
    check("z", z.len(), y.len());
    let simd = simd_level();
    // SAFETY: the chunks cover all values, and each chunk writes all of its own.
    unsafe {
        filled_vec(y.len(), |out| {
            out.par_chunks_mut(GATE_CHUNK)
                .zip(y.par_chunks(GATE_CHUNK))
                .zip(z.par_chunks(GATE_CHUNK))
                .with_min_len(min_tasks_per_piece(GATE_CHUNK))
                .for_each(|((out, y), z)| run_simd(simd, GateChunk { y, z, out }))
        })
    }
}

/// [`gate_forward`] of one chunk.
struct GateChunk<'a> {
    y: &'a [f32],
    z: &'a [f32],
    out: &'a mut [MaybeUninit<f32>],
}

impl SimdKernel for GateChunk<'_> {
    type Output = ();
    #[inline(always)]
    fn run(self) {
        for ((o, &y), &z) in self.out.iter_mut().zip(self.y).zip(self.z) {
            o.write(y * silu_and_slope(z).0);
        }
    }
}

/// Gradients `(dy, dz)` of [`gate_forward`] given `dout`. Panics on a length mismatch.
pub fn gate_backward(y: &[f32], z: &[f32], dout: &[f32]) -> (Vec<f32>, Vec<f32>) {
    check("z", z.len(), y.len());
    check("dout", dout.len(), y.len());
    let n = y.len();
    let (mut dy, mut dz) = (Vec::with_capacity(n), Vec::with_capacity(n));
    let simd = simd_level();
    dy.spare_capacity_mut()[..n]
        .par_chunks_mut(GATE_CHUNK)
        .zip(dz.spare_capacity_mut()[..n].par_chunks_mut(GATE_CHUNK))
        .zip(y.par_chunks(GATE_CHUNK))
        .zip(z.par_chunks(GATE_CHUNK))
        .zip(dout.par_chunks(GATE_CHUNK))
        .with_min_len(min_tasks_per_piece(GATE_CHUNK))
        .for_each(|((((dy, dz), y), z), dout)| {
            run_simd(simd, GateBackwardChunk { y, z, dout, dy, dz })
        });
    // SAFETY: the chunks above cover all `n` values of both, and each writes all of its own.
    unsafe {
        dy.set_len(n);
        dz.set_len(n);
    }
    (dy, dz)
}

/// [`gate_backward`] of one chunk.
struct GateBackwardChunk<'a> {
    y: &'a [f32],
    z: &'a [f32],
    dout: &'a [f32],
    dy: &'a mut [MaybeUninit<f32>],
    dz: &'a mut [MaybeUninit<f32>],
}

impl SimdKernel for GateBackwardChunk<'_> {
    type Output = ();
    #[inline(always)]
    fn run(self) {
        let inputs = self.y.iter().zip(self.z).zip(self.dout);
        for ((dy, dz), ((&y, &z), &d)) in self.dy.iter_mut().zip(self.dz.iter_mut()).zip(inputs) {
            let (act, slope) = silu_and_slope(z);
            dy.write(d * act);
            dz.write(d * y * slope);
        }
    }
}
