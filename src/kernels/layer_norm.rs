//! Fused layer normalisation over the rows of a row-major `f32` matrix, forward and backward.
//!
//! `y = (x - mean) / sqrt(var + eps) * gamma + beta` per row (biased variance), as burn's
//! `LayerNorm`. Under autodiff burn records that as about ten elementwise tensor operations, each
//! with its own output and backward; here the forward is one pass per row and the backward
//! recomputes each row's mean and deviation from `x` (nothing saved) and produces all three
//! gradients in one more pass.
//!
//! Rows are split into tasks of a fixed size, sums run over 16 partial accumulators in a fixed
//! order, and the parameter gradients add the tasks' partial sums in task order, so results are
//! bitwise identical for any number of threads and every [`SimdLevel`](super::SimdLevel).

use rayon::prelude::*;

use std::mem::MaybeUninit;

use super::{
    SimdKernel, filled_vec, lane_sum, min_tasks_per_piece, run_simd, simd_level, sum_partials,
};

/// Rows per task.
const ROWS_PER_TASK: usize = 64;
/// Partial sums per reduction.
const LANES: usize = 16;

/// Sizes of one call: `x` is `[rows, width]`, normalised over `width`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NormDims {
    /// Rows (tokens times batch).
    pub rows: usize,
    /// Features per row.
    pub width: usize,
}

fn check(name: &str, got: usize, want: usize) {
    assert_eq!(
        got, want,
        "layer norm kernel: `{name}` has {got} values, expected {want}"
    );
}

/// `sum_i f(i)` for `i < n`, over [`LANES`] partial sums added pairwise at the end
/// ([`lane_sum`]).
#[inline(always)]
fn sum(n: usize, f: impl Fn(usize) -> f32) -> f32 {
    let mut acc = [0.0f32; LANES];
    let full = n / LANES * LANES;
    for base in (0..full).step_by(LANES) {
        for (l, a) in acc.iter_mut().enumerate() {
            *a += f(base + l);
        }
    }
    for (l, i) in (full..n).enumerate() {
        acc[l] += f(i);
    }
    lane_sum(&acc)
}

/// `(sum_i f(i).0, sum_i f(i).1)`, each added exactly as [`sum`] adds (one pass for both). Not
/// one function generic over the number of sums with [`sum`] its case of one: that compiled to
/// slower code (the backward at 17408 x 128 took 1.53-1.60 ms instead of 1.28-1.31, same bits).
#[inline(always)]
fn sum_pair(n: usize, f: impl Fn(usize) -> (f32, f32)) -> (f32, f32) {
    let (mut acc, mut acc2) = ([0.0f32; LANES], [0.0f32; LANES]);
    let full = n / LANES * LANES;
    for base in (0..full).step_by(LANES) {
        for l in 0..LANES {
            let (v, v2) = f(base + l);
            acc[l] += v;
            acc2[l] += v2;
        }
    }
    for (l, i) in (full..n).enumerate() {
        let (v, v2) = f(i);
        acc[l] += v;
        acc2[l] += v2;
    }
    (lane_sum(&acc), lane_sum(&acc2))
}

/// `(mean, 1 / sqrt(var + eps))` of one row.
#[inline(always)]
fn moments(row: &[f32], eps: f32) -> (f32, f32) {
    let n = row.len() as f32;
    let mean = sum(row.len(), |i| row[i]) / n;
    let var = sum(row.len(), |i| (row[i] - mean) * (row[i] - mean)) / n;
    (mean, 1.0 / (var + eps).sqrt())
}

/// One forward task: normalises `x`'s rows into `out`.
struct ForwardTask<'a> {
    x: &'a [f32],
    gamma: &'a [f32],
    beta: &'a [f32],
    eps: f32,
    out: &'a mut [MaybeUninit<f32>],
}

impl SimdKernel for ForwardTask<'_> {
    type Output = ();
    #[inline(always)]
    fn run(self) {
        let width = self.gamma.len();
        for (row, out) in self
            .x
            .chunks_exact(width)
            .zip(self.out.chunks_exact_mut(width))
        {
            let (mean, rstd) = moments(row, self.eps);
            let params = self.gamma.iter().zip(self.beta);
            for ((o, &v), (&g, &b)) in out.iter_mut().zip(row).zip(params) {
                o.write((v - mean) * rstd * g + b);
            }
        }
    }
}

/// Layer norm of every row of `x` `[rows, width]` with `gamma` and `beta` `[width]`.
pub fn layer_norm_forward(
    dims: &NormDims,
    x: &[f32],
    gamma: &[f32],
    beta: &[f32],
    eps: f32,
) -> Vec<f32> {
    check("x", x.len(), dims.rows * dims.width);
    check("gamma", gamma.len(), dims.width);
    check("beta", beta.len(), dims.width);
    if x.is_empty() {
        return Vec::new();
    }
    let span = ROWS_PER_TASK * dims.width;
    let simd = simd_level();
    // SAFETY: the tasks cover every row, and each writes all values of its rows.
    unsafe {
        filled_vec(x.len(), |out| {
            out.par_chunks_mut(span)
                .zip(x.par_chunks(span))
                .with_min_len(min_tasks_per_piece(span))
                .for_each(|(out, x)| {
                    run_simd(
                        simd,
                        ForwardTask {
                            x,
                            gamma,
                            beta,
                            eps,
                            out,
                        },
                    )
                });
        })
    }
}

/// Gradients of [`layer_norm_forward`]'s inputs.
#[derive(Debug, Clone)]
pub struct NormGrads {
    /// `[rows, width]`.
    pub x: Vec<f32>,
    /// `[width]`.
    pub gamma: Vec<f32>,
    /// `[width]`.
    pub beta: Vec<f32>,
}

/// One backward task: the input gradient of its rows and its partial parameter gradients.
struct BackwardTask<'a> {
    x: &'a [f32],
    gamma: &'a [f32],
    dy: &'a [f32],
    eps: f32,
    dx: &'a mut [MaybeUninit<f32>],
    /// This task's `sum dy * xhat` `[width]`, then `sum dy` `[width]`.
    partial: &'a mut [f32],
}

impl SimdKernel for BackwardTask<'_> {
    type Output = ();
    #[inline(always)]
    fn run(self) {
        let width = self.gamma.len();
        let (dgamma, dbeta) = self.partial.split_at_mut(width);
        let rows = self
            .x
            .chunks_exact(width)
            .zip(self.dy.chunks_exact(width))
            .zip(self.dx.chunks_exact_mut(width));
        for ((row, dy), dx) in rows {
            let (mean, rstd) = moments(row, self.eps);
            let n = width as f32;
            let gamma = self.gamma;
            let xhat = |i: usize| (row[i] - mean) * rstd;
            let (sum_g, sum_gx) = sum_pair(width, |i| {
                let g = dy[i] * gamma[i];
                (g, g * xhat(i))
            });
            let (mean_g, mean_gx) = (sum_g / n, sum_gx / n);
            let params = dgamma.iter_mut().zip(dbeta.iter_mut());
            for (i, (d, (dg, db))) in dx.iter_mut().zip(params).enumerate() {
                d.write(rstd * (dy[i] * gamma[i] - mean_g - xhat(i) * mean_gx));
                *dg += dy[i] * xhat(i);
                *db += dy[i];
            }
        }
    }
}

/// Gradients of [`layer_norm_forward`] given its output's gradient `dy` `[rows, width]`.
pub fn layer_norm_backward(
    dims: &NormDims,
    x: &[f32],
    gamma: &[f32],
    dy: &[f32],
    eps: f32,
) -> NormGrads {
    check("x", x.len(), dims.rows * dims.width);
    check("gamma", gamma.len(), dims.width);
    check("dy", dy.len(), dims.rows * dims.width);
    let width = dims.width;
    let mut dx = Vec::with_capacity(x.len());
    let tasks = dims.rows.div_ceil(ROWS_PER_TASK);
    let mut partials = vec![0.0f32; tasks * 2 * width];
    if !x.is_empty() {
        let span = ROWS_PER_TASK * width;
        let simd = simd_level();
        dx.spare_capacity_mut()[..x.len()]
            .par_chunks_mut(span)
            .zip(x.par_chunks(span).zip(dy.par_chunks(span)))
            .zip(partials.par_chunks_mut(2 * width))
            .with_min_len(min_tasks_per_piece(span))
            .for_each(|((dx, (x, dy)), partial)| {
                run_simd(
                    simd,
                    BackwardTask {
                        x,
                        gamma,
                        dy,
                        eps,
                        dx,
                        partial,
                    },
                )
            });
    }
    // SAFETY: the tasks covered every row (none where `x` is empty), each writing every value
    // of its rows' input gradient.
    unsafe { dx.set_len(x.len()) };
    // `[dgamma | dbeta]`, the tasks' partial sums added in task order.
    let mut params = vec![0.0f32; 2 * width];
    sum_partials(&mut params, &partials);
    let beta = params.split_off(width);
    NormGrads {
        x: dx,
        gamma: params,
        beta,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wave(n: usize, seed: f32) -> Vec<f32> {
        (0..n)
            .map(|i| (seed + 0.61 * i as f32).sin() * 2.0)
            .collect()
    }

    /// `sum(layer_norm(x) * w)` in f64, the loss whose gradients the tests check.
    fn loss(dims: &NormDims, x: &[f64], gamma: &[f64], beta: &[f64], w: &[f64], eps: f64) -> f64 {
        let mut total = 0.0;
        for r in 0..dims.rows {
            let row = &x[r * dims.width..(r + 1) * dims.width];
            let n = dims.width as f64;
            let mean = row.iter().sum::<f64>() / n;
            let var = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n;
            for (i, v) in row.iter().enumerate() {
                let y = (v - mean) / (var + eps).sqrt() * gamma[i] + beta[i];
                total += y * w[r * dims.width + i];
            }
        }
        total
    }

    #[test]
    fn gradients_match_central_differences_in_f64() {
        // 70 rows: two tasks, the second partial; width 19: a remainder after 16 lanes.
        let dims = NormDims {
            rows: 70,
            width: 19,
        };
        let eps = 1e-5f32;
        let (x, gamma, beta, w) = (
            wave(70 * 19, 0.3),
            wave(19, 1.1),
            wave(19, 2.3),
            wave(70 * 19, 3.7),
        );
        let f64s = |v: &[f32]| v.iter().map(|&a| a as f64).collect::<Vec<f64>>();
        let (xd, gd, bd, wd) = (f64s(&x), f64s(&gamma), f64s(&beta), f64s(&w));
        let g = layer_norm_backward(&dims, &x, &gamma, &w, eps);
        let h = 1e-6;
        let central = |which: usize, i: usize| {
            let mut args = [xd.clone(), gd.clone(), bd.clone()];
            args[which][i] += h;
            let up = loss(&dims, &args[0], &args[1], &args[2], &wd, eps as f64);
            args[which][i] -= 2.0 * h;
            let down = loss(&dims, &args[0], &args[1], &args[2], &wd, eps as f64);
            (up - down) / (2.0 * h)
        };
        for (which, got, probes) in [
            (0, &g.x, vec![0, 5, 18, 19, 700, 70 * 19 - 1]),
            (1, &g.gamma, (0..19).collect()),
            (2, &g.beta, (0..19).collect()),
        ] {
            for i in probes {
                let want = central(which, i);
                let err = (got[i] as f64 - want).abs();
                assert!(
                    err <= 2e-3 * (1.0 + want.abs()),
                    "input {which}[{i}]: {} vs {want}",
                    got[i]
                );
            }
        }
        // And the forward against the same f64 formula.
        let y = layer_norm_forward(&dims, &x, &gamma, &beta, eps);
        let ones = vec![1.0f64; 70 * 19];
        let total: f64 = y.iter().map(|&v| v as f64).sum();
        let want = loss(&dims, &xd, &gd, &bd, &ones, eps as f64);
        assert!(
            (total - want).abs() <= 1e-3 * (1.0 + want.abs()),
            "{total} vs {want}"
        );
    }
}
