//! Fused elementwise kernels of the Mamba block on row-major `f32` slices, forward and backward:
//! - the depthwise causal convolution followed by SiLU, `u = silu(conv(x))`, optionally continuing
//!   an earlier sequence (its last inputs before the first token) and masked at resets (a token
//!   never sees inputs from before the latest reset at or before it);
//! - the output gate `out = y * silu(z)`.
//!
//! As tensor ops each is a dozen passes over `[batch, len, channels]` buffers (one per shifted
//! product, sum, sigmoid, product, and as many again in the backward); here each is one pass,
//! parallel over batch elements or fixed-size chunks with rayon. Work is split by sizes only and
//! the partial weight gradients are summed in task order, so results do not depend on the number
//! of threads.

use rayon::prelude::*;

use super::fast_math::fast_exp_nonpositive;
use super::{SimdKernel, min_tasks_per_piece, run_simd, simd_level};

mod gate;
pub use gate::{gate_backward, gate_forward};

/// Sizes of a depthwise causal convolution over `[batch, len, channels]` with `width` taps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvDims {
    /// Sequences.
    pub batch: usize,
    /// Tokens per sequence.
    pub len: usize,
    /// Channels (each has its own filter).
    pub channels: usize,
    /// Taps per filter; the last multiplies the current token.
    pub width: usize,
}

impl ConvDims {
    /// Values in one input or output tensor.
    pub fn numel(&self) -> usize {
        self.batch * self.len * self.channels
    }
}

/// Where the sequences of a causal convolution start from: the inputs before their first token
/// and the tokens where an episode starts.
#[derive(Debug, Clone, Copy, Default)]
pub struct ConvStart<'a> {
    /// `[batch, width - 1, channels]`: each sequence's last `width - 1` inputs before its first
    /// token, oldest first; `None`: zeros.
    pub prev: Option<&'a [f32]>,
    /// `[batch, len]`: non-zero where an episode starts; that token and the later ones see no
    /// input from before it. `None`: no resets.
    pub reset: Option<&'a [f32]>,
}

impl ConvStart<'_> {
    fn check(&self, dims: &ConvDims) {
        if let Some(p) = self.prev {
            check(
                "prev",
                p.len(),
                dims.batch * dims.width.saturating_sub(1) * dims.channels,
            );
        }
        if let Some(r) = self.reset {
            check("reset", r.len(), dims.batch * dims.len);
        }
    }

    /// Sequence `b`'s slices of the start: its previous inputs and its resets.
    fn of(&self, dims: &ConvDims, b: usize) -> SequenceStart<'_> {
        let hist = dims.width.saturating_sub(1) * dims.channels;
        SequenceStart {
            prev: self.prev.map(|p| &p[b * hist..(b + 1) * hist]),
            reset: self.reset.map(|r| &r[b * dims.len..(b + 1) * dims.len]),
        }
    }
}

/// One sequence's [`ConvStart`].
#[derive(Clone, Copy)]
struct SequenceStart<'a> {
    prev: Option<&'a [f32]>,
    reset: Option<&'a [f32]>,
}

impl SequenceStart<'_> {
    /// For every token, the first input index it may see (negative: into `prev`): the latest
    /// reset at or before it, else `-(width - 1)`.
    fn first_visible(&self, len: usize, width: usize) -> Vec<isize> {
        let mut first = -(width as isize - 1);
        (0..len)
            .map(|t| {
                if self.reset.is_some_and(|r| r[t] != 0.0) {
                    first = t as isize;
                }
                first
            })
            .collect()
    }
}

/// Gradients of [`conv_silu_forward`]'s inputs.
#[derive(Debug, Clone, PartialEq)]
pub struct ConvSiluGrads {
    /// `[batch, len, channels]`.
    pub x: Vec<f32>,
    /// `[channels, width]`.
    pub weight: Vec<f32>,
    /// `[channels]`.
    pub bias: Vec<f32>,
    /// `[batch, width - 1, channels]`: the gradient of [`ConvStart::prev`] (of zeros when none
    /// was given).
    pub prev: Vec<f32>,
}

/// Elements per task of the gate kernels.
const GATE_CHUNK: usize = 16 * 1024;
/// Batch elements per task of the convolution's backward are chosen so that there are at most
/// this many tasks (each keeps its own partial weight gradient).
const CONV_MAX_TASKS: usize = 64;

/// `1 / (1 + e^-z)`, vectorisable and stable for large `|z|`.
#[inline(always)]
pub fn sigmoid(z: f32) -> f32 {
    let w = fast_exp_nonpositive(-z.abs());
    let inv = 1.0 / (1.0 + w);
    if z >= 0.0 { inv } else { w * inv }
}

/// `(silu(p), silu'(p))` with `silu(p) = p sigmoid(p)` and
/// `silu'(p) = sigmoid(p) (1 + p (1 - sigmoid(p)))`.
#[inline(always)]
fn silu_and_slope(p: f32) -> (f32, f32) {
    let s = sigmoid(p);
    (p * s, s * (1.0 + p * (1.0 - s)))
}

fn check(name: &str, got: usize, want: usize) {
    assert_eq!(
        got, want,
        "pointwise kernel: `{name}` has {got} values, expected {want}"
    );
}

/// The filters transposed to `[width, channels]`, so that the inner loops run over contiguous
/// channels.
fn taps_by_channel(dims: &ConvDims, weight: &[f32]) -> Vec<f32> {
    let (c, k) = (dims.channels, dims.width);
    let mut taps = vec![0.0f32; k * c];
    for ch in 0..c {
        for j in 0..k {
            taps[j * c + ch] = weight[ch * k + j];
        }
    }
    taps
}

/// The input row `src` of one sequence (`xs` `[len, channels]`, negative `src` into its previous
/// inputs), `None` where it is zero (before the start without previous inputs).
#[inline(always)]
fn input_row<'a>(
    xs: &'a [f32],
    start: &SequenceStart<'a>,
    src: isize,
    dims: &ConvDims,
) -> Option<&'a [f32]> {
    let (c, k) = (dims.channels, dims.width);
    if src >= 0 {
        let s = src as usize;
        Some(&xs[s * c..(s + 1) * c])
    } else {
        let p = (k as isize - 1 + src) as usize;
        start.prev.map(|prev| &prev[p * c..(p + 1) * c])
    }
}

/// Pre-activations of token `t` of one sequence `xs` `[len, channels]`:
/// `pre[ch] = bias[ch] + sum_j taps[j][ch] x[t - (width - 1) + j][ch]`, over the inputs `t` may
/// see (from `first`, see [`SequenceStart::first_visible`]).
#[inline(always)]
fn conv_token(
    dims: &ConvDims,
    (xs, start, first): (&[f32], &SequenceStart, isize),
    taps: &[f32],
    bias: &[f32],
    t: usize,
    pre: &mut [f32],
) {
    let (c, k) = (dims.channels, dims.width);
    pre.copy_from_slice(bias);
    for j in 0..k {
        let src = (t + j) as isize - (k as isize - 1);
        if src < first {
            continue;
        }
        let Some(row) = input_row(xs, start, src, dims) else {
            continue;
        };
        let tap = &taps[j * c..(j + 1) * c];
        for ((p, &w), &x) in pre.iter_mut().zip(tap).zip(row) {
            *p += w * x;
        }
    }
}

/// `out = silu(conv(x) + bias)` for `x`, `out` `[batch, len, channels]`, `weight`
/// `[channels, width]` (last tap on the current token), `bias` `[channels]`, each sequence
/// continuing from `start`. Panics on a slice of the wrong length.
pub fn conv_silu_forward(
    dims: &ConvDims,
    x: &[f32],
    weight: &[f32],
    bias: &[f32],
    start: ConvStart,
    out: &mut [f32],
) {
    check("x", x.len(), dims.numel());
    check("weight", weight.len(), dims.channels * dims.width);
    check("bias", bias.len(), dims.channels);
    check("out", out.len(), dims.numel());
    start.check(dims);
    let taps = taps_by_channel(dims, weight);
    let seq = dims.len * dims.channels;
    if seq == 0 {
        return;
    }
    let simd = simd_level();
    out.par_chunks_mut(seq)
        .zip(x.par_chunks(seq))
        .enumerate()
        .with_min_len(min_tasks_per_piece(seq))
        .for_each(|(b, (out, xs))| {
            run_simd(
                simd,
                ConvSiluSequence {
                    dims,
                    xs,
                    start: start.of(dims, b),
                    taps: &taps,
                    bias,
                    out,
                },
            )
        });
}

/// [`conv_silu_forward`] of one sequence.
struct ConvSiluSequence<'a> {
    dims: &'a ConvDims,
    xs: &'a [f32],
    start: SequenceStart<'a>,
    taps: &'a [f32],
    bias: &'a [f32],
    out: &'a mut [f32],
}

impl SimdKernel for ConvSiluSequence<'_> {
    type Output = ();
    #[inline(always)]
    fn run(self) {
        let first = self.start.first_visible(self.dims.len, self.dims.width);
        for (t, pre) in self.out.chunks_exact_mut(self.dims.channels).enumerate() {
            let input = (self.xs, &self.start, first[t]);
            conv_token(self.dims, input, self.taps, self.bias, t, pre);
            for p in pre.iter_mut() {
                *p = silu_and_slope(*p).0;
            }
        }
    }
}

/// Gradients of [`conv_silu_forward`] given `dout` `[batch, len, channels]`; recomputes the
/// pre-activations. Panics on a slice of the wrong length.
pub fn conv_silu_backward(
    dims: &ConvDims,
    x: &[f32],
    weight: &[f32],
    bias: &[f32],
    start: ConvStart,
    dout: &[f32],
) -> ConvSiluGrads {
    check("x", x.len(), dims.numel());
    check("weight", weight.len(), dims.channels * dims.width);
    check("bias", bias.len(), dims.channels);
    check("dout", dout.len(), dims.numel());
    start.check(dims);
    let ConvDims {
        batch,
        len,
        channels: c,
        width: k,
    } = *dims;
    let taps = taps_by_channel(dims, weight);
    let seq = len * c;
    let hist = k.saturating_sub(1) * c;
    // d prev rows are `hist` long; at least one value each, so that a width-1 filter (no
    // previous inputs) still gives every task its (empty) rows to zip with.
    let stride = hist.max(1);
    let mut dprev = vec![0.0f32; batch * stride];
    let mut dx = vec![0.0f32; dims.numel()];
    if seq == 0 || batch == 0 {
        dprev.truncate(batch * hist);
        return ConvSiluGrads {
            x: dx,
            weight: vec![0.0; c * k],
            bias: vec![0.0; c],
            prev: dprev,
        };
    }
    let per_task = batch.div_ceil(batch.min(CONV_MAX_TASKS));
    let simd = simd_level();
    // Each task: its sequences' dx and d prev, and its partial (d taps `[width, channels]`,
    // d bias).
    let partials: Vec<(Vec<f32>, Vec<f32>)> = dx
        .par_chunks_mut(per_task * seq)
        .zip(dprev.par_chunks_mut(per_task * stride))
        .zip(x.par_chunks(per_task * seq))
        .zip(dout.par_chunks(per_task * seq))
        .enumerate()
        .with_min_len(min_tasks_per_piece(per_task * seq))
        .map(|(task, (((dx, dprev), x), dout))| {
            run_simd(
                simd,
                ConvSiluBackwardTask {
                    dims,
                    taps: &taps,
                    bias,
                    start,
                    first_sequence: task * per_task,
                    x,
                    dout,
                    dx,
                    dprev,
                },
            )
        })
        .collect();
    let mut dtaps = vec![0.0f32; k * c];
    let mut dbias = vec![0.0f32; c];
    for (pt, pb) in &partials {
        dtaps.iter_mut().zip(pt).for_each(|(a, b)| *a += b);
        dbias.iter_mut().zip(pb).for_each(|(a, b)| *a += b);
    }
    let mut dweight = vec![0.0f32; c * k];
    for ch in 0..c {
        for j in 0..k {
            dweight[ch * k + j] = dtaps[j * c + ch];
        }
    }
    if hist == 0 {
        dprev.clear();
    }
    ConvSiluGrads {
        x: dx,
        weight: dweight,
        bias: dbias,
        prev: dprev,
    }
}

/// [`conv_silu_backward`] of a run of whole sequences (from `first_sequence` on): their `dx` and
/// d prev, and the partial (d taps `[width, channels]`, d bias) it returns.
struct ConvSiluBackwardTask<'a> {
    dims: &'a ConvDims,
    taps: &'a [f32],
    bias: &'a [f32],
    start: ConvStart<'a>,
    first_sequence: usize,
    x: &'a [f32],
    dout: &'a [f32],
    dx: &'a mut [f32],
    dprev: &'a mut [f32],
}

impl SimdKernel for ConvSiluBackwardTask<'_> {
    type Output = (Vec<f32>, Vec<f32>);
    #[inline(always)]
    fn run(self) -> Self::Output {
        let ConvDims {
            len,
            channels: c,
            width: k,
            ..
        } = *self.dims;
        let seq = len * c;
        let hist = k.saturating_sub(1) * c;
        let mut dtaps = vec![0.0f32; k * c];
        let mut dbias = vec![0.0f32; c];
        let mut g = vec![0.0f32; seq];
        for (i, ((dxs, xs), douts)) in self
            .dx
            .chunks_exact_mut(seq)
            .zip(self.x.chunks_exact(seq))
            .zip(self.dout.chunks_exact(seq))
            .enumerate()
        {
            let start = self.start.of(self.dims, self.first_sequence + i);
            let first = start.first_visible(len, k);
            let stride = hist.max(1);
            let dprev = &mut self.dprev[i * stride..i * stride + hist];
            // g = dout * silu'(pre), token by token.
            for t in 0..len {
                let gt = &mut g[t * c..(t + 1) * c];
                conv_token(
                    self.dims,
                    (xs, &start, first[t]),
                    self.taps,
                    self.bias,
                    t,
                    gt,
                );
                for ((gv, &d), db) in gt.iter_mut().zip(&douts[t * c..]).zip(&mut dbias) {
                    *gv = d * silu_and_slope(*gv).1;
                    *db += *gv;
                }
            }
            // Each tap j links input s = t - (width - 1) + j to output t, where t sees s.
            for j in 0..k {
                let tap = &self.taps[j * c..(j + 1) * c];
                let dtap = &mut dtaps[j * c..(j + 1) * c];
                for t in 0..len {
                    let s = (t + j) as isize - (k as isize - 1);
                    if s < first[t] {
                        continue;
                    }
                    let gt = &g[t * c..(t + 1) * c];
                    let (xr, dxr) = if s >= 0 {
                        let s = s as usize;
                        (&xs[s * c..(s + 1) * c], &mut dxs[s * c..(s + 1) * c])
                    } else {
                        let Some(prev) = start.prev else { continue };
                        let p = (k as isize - 1 + s) as usize;
                        (&prev[p * c..(p + 1) * c], &mut dprev[p * c..(p + 1) * c])
                    };
                    for ch in 0..c {
                        dxr[ch] += gt[ch] * tap[ch];
                        dtap[ch] += gt[ch] * xr[ch];
                    }
                }
            }
        }
        (dtaps, dbias)
    }
}

#[cfg(test)]
mod tests;
