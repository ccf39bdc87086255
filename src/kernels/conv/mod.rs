//! Valid (unpadded) 2-D convolutions over `f32` batches, forward and backward, with the output in
//! NHWC order (`[batch, out_height, out_width, out_channels]`) and an optional fused ReLU: the
//! Nature CNN of the depth encoder.
//!
//! Why not burn's `conv2d`: burn-flex 0.22 runs a 2-D convolution as a 3-D one with its own loops,
//! and its backward computes the input gradient by a transposed convolution even for the first
//! layer, whose input (the depth image) needs none.
//!
//! How: the samples are cut into chunks of [`SAMPLES_PER_CHUNK`]; each chunk's patches are laid
//! out one row per output position (im2row, see [`patches`]) and multiplied by the weight in one
//! product of `chunk x positions` rows, which writes the output straight in NHWC order. NHWC
//! output makes the next layer's patches contiguous runs of `kernel x channels` values and the
//! last layer's output the token rows themselves; large row counts keep the products near the
//! machine's matrix-product rate, where one product per sample (tens of rows) ran far below it.
//! Chunks run in parallel on rayon's threads, and the weight gradient is summed over the chunks
//! in a fixed order, so results do not depend on the thread count. The first layer (a kernel of
//! twice its stride over NCHW depth) skips im2row: see `space_to_depth.rs`.

use std::mem::MaybeUninit;

use rayon::prelude::*;

use super::filled_vec;
use super::matmul::{Operand, product_into, transposed_copy};
use super::sum_partials;

mod patches;
mod space_to_depth;
#[cfg(test)]
mod tests;

use patches::{im2row, patch_weight, row2im_add, unpatch_weight};

/// Samples per chunk: the unit of parallel work, and of the partial weight gradients, fixed so
/// that the order of the sums (and so every bit of the result) is the same on any number of
/// threads.
pub const SAMPLES_PER_CHUNK: usize = 8;

/// Memory order of a convolution's input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputLayout {
    /// `[batch, channels, height, width]` (burn's, and the depth stack's).
    Nchw,
    /// `[batch, height, width, channels]` (what these convolutions output).
    Nhwc,
}

/// Sizes of one valid convolution with a square kernel and equal strides: input of
/// `in_channels x height x width` per sample in the `input` layout, weight
/// `[out_channels, in_channels, kernel, kernel]` (burn's `Conv2d` layout), bias
/// `[out_channels]`, output `[batch, out_height, out_width, out_channels]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvDims {
    /// Samples in the batch.
    pub batch: usize,
    /// Input channels.
    pub in_channels: usize,
    /// Input height in pixels.
    pub height: usize,
    /// Input width in pixels.
    pub width: usize,
    /// Output channels.
    pub out_channels: usize,
    /// Kernel side.
    pub kernel: usize,
    /// Stride in both directions.
    pub stride: usize,
    /// Memory order of the input.
    pub input: InputLayout,
}

impl ConvDims {
    /// Output height: `(height - kernel) / stride + 1`.
    pub fn out_height(&self) -> usize {
        (self.height - self.kernel) / self.stride + 1
    }

    /// Output width: `(width - kernel) / stride + 1`.
    pub fn out_width(&self) -> usize {
        (self.width - self.kernel) / self.stride + 1
    }

    /// Output positions per sample.
    pub fn positions(&self) -> usize {
        self.out_height() * self.out_width()
    }

    /// Values in one patch (one row of the weight).
    fn patch(&self) -> usize {
        self.in_channels * self.kernel * self.kernel
    }

    /// Values of one input sample.
    fn sample(&self) -> usize {
        self.in_channels * self.height * self.width
    }

    /// Values of one output sample.
    fn out_sample(&self) -> usize {
        self.out_channels * self.positions()
    }

    /// A 1x1 convolution with stride 1 over NHWC input, whose patches are the input rows
    /// themselves (no im2row copy).
    fn patches_are_input(&self) -> bool {
        self.kernel == 1 && self.stride == 1 && self.input == InputLayout::Nhwc
    }

    fn check(&self, x: &[f32], weight: &[f32]) {
        assert!(
            self.kernel >= 1
                && self.stride >= 1
                && self.kernel <= self.height
                && self.kernel <= self.width,
            "conv kernel: a {k}x{k} kernel with stride {s} on a {h}x{w} image",
            k = self.kernel,
            s = self.stride,
            h = self.height,
            w = self.width
        );
        check("x", x.len(), self.batch * self.sample());
        check("weight", weight.len(), self.out_channels * self.patch());
    }
}

fn check(name: &str, got: usize, want: usize) {
    assert_eq!(
        got, want,
        "conv kernel: `{name}` has {got} values, expected {want}"
    );
}

/// A thread's scratch buffers across the chunks it runs: the im2row patch rows, or the
/// space-to-depth blocks and product rows.
type Scratch = (Vec<f32>, space_to_depth::Scratch);

thread_local! {
    /// Each thread's [`Scratch`], kept across calls: a fresh buffer per parallel piece paid
    /// its pages' first touch at every call.
    static SCRATCH: std::cell::RefCell<Scratch> = std::cell::RefCell::default();
}

/// Runs `f` with this thread's [`Scratch`].
fn with_scratch<R>(f: impl FnOnce(&mut Scratch) -> R) -> R {
    SCRATCH.with(|s| f(&mut s.borrow_mut()))
}

/// The patch rows `[samples x positions, patch]` of a chunk of input samples: the chunk itself
/// for a 1x1 NHWC convolution, else written into `buffer` by im2row.
fn chunk_rows<'a>(d: &ConvDims, xs: &'a [f32], buffer: &'a mut Vec<f32>) -> &'a [f32] {
    if d.patches_are_input() {
        return xs;
    }
    let (p, kk) = (d.positions(), d.patch());
    let samples = xs.len() / d.sample();
    buffer.resize(samples * p * kk, 0.0);
    for (xb, rows) in xs
        .chunks_exact(d.sample())
        .zip(buffer.chunks_exact_mut(p * kk))
    {
        im2row(d, xb, rows);
    }
    buffer
}

/// The convolution of `x` by `weight` (+ `bias`), followed by a ReLU when `relu`:
/// `[batch, out_height, out_width, out_channels]`.
///
/// # Panics
/// When a slice's length does not match `dims`, or the kernel does not fit the image.
pub fn conv_forward(
    dims: &ConvDims,
    x: &[f32],
    weight: &[f32],
    bias: Option<&[f32]>,
    relu: bool,
) -> Vec<f32> {
    dims.check(x, weight);
    if let Some(b) = bias {
        check("bias", b.len(), dims.out_channels);
    }
    let (o, kk) = (dims.out_channels, dims.patch());
    let zeros = vec![0.0f32; o];
    let init = bias.unwrap_or(&zeros);
    let blocked = space_to_depth::applies(dims).then(|| space_to_depth::block_weight(dims, weight));
    let w = patch_weight(dims, weight);
    let fill = |out: &mut [MaybeUninit<f32>]| {
        out.par_chunks_mut(SAMPLES_PER_CHUNK * dims.out_sample())
            .zip(x.par_chunks(SAMPLES_PER_CHUNK * dims.sample()))
            .for_each(|(y, xs)| {
                with_scratch(|scratch| {
                    if let Some(halves) = &blocked {
                        let outputs = (init, relu);
                        space_to_depth::forward_chunk(dims, xs, halves, outputs, &mut scratch.1, y);
                        return;
                    }
                    // Every value is written here (the bias, or zeros), before gemm reads it.
                    for row in y.chunks_exact_mut(o) {
                        for (v, &b) in row.iter_mut().zip(init) {
                            v.write(b);
                        }
                    }
                    // SAFETY: every value of `y` was initialised just above.
                    let y = unsafe { &mut *(y as *mut [MaybeUninit<f32>] as *mut [f32]) };
                    let rows = chunk_rows(dims, xs, &mut scratch.0);
                    let m = y.len() / o;
                    let (lhs, rhs) = (Operand::rows(rows, kk), Operand::transposed(&w, kk));
                    product_into(y, (m, o, kk), lhs, rhs, true);
                    if relu {
                        for v in y.iter_mut() {
                            *v = v.max(0.0);
                        }
                    }
                })
            });
    };
    // SAFETY: `fill` writes every value of every chunk.
    unsafe { filled_vec(dims.batch * dims.out_sample(), fill) }
}

/// Gradients of [`conv_weight_grads`]' parameters.
#[derive(Debug, Clone)]
pub struct ConvParamGrads {
    /// `[out_channels, in_channels, kernel, kernel]`.
    pub weight: Vec<f32>,
    /// `[out_channels]`: the sums of the output gradient over samples and positions.
    pub bias: Vec<f32>,
}

/// Gradients of the weight and the bias of [`conv_forward`] (without its ReLU) given its
/// output's gradient `dy` (NHWC).
///
/// # Panics
/// When a slice's length does not match `dims`.
pub fn conv_weight_grads(dims: &ConvDims, x: &[f32], weight: &[f32], dy: &[f32]) -> ConvParamGrads {
    dims.check(x, weight);
    check("dy", dy.len(), dims.batch * dims.out_sample());
    let (o, kk) = (dims.out_channels, dims.patch());
    let chunks = dims.batch.div_ceil(SAMPLES_PER_CHUNK);
    let blocked = space_to_depth::applies(dims);
    // Each chunk's partial `[dW^T | db]` (dW^T `[patch, out]`, in patch order), then the
    // partials added in chunk order. Transposed because `patches^T dy` measured faster than
    // `dy^T patches` (the first layer's weight gradient, `examples/conv1_prof`).
    let width = kk * o + o;
    let mut partials = vec![0.0f32; chunks * width];
    partials
        .par_chunks_mut(width)
        .zip(x.par_chunks(SAMPLES_PER_CHUNK * dims.sample()))
        .zip(dy.par_chunks(SAMPLES_PER_CHUNK * dims.out_sample()))
        .for_each(|((partial, xs), dys)| {
            with_scratch(|scratch| {
                let (dw_t, db) = partial.split_at_mut(kk * o);
                if blocked {
                    space_to_depth::weight_grad_chunk(dims, xs, dys, &mut scratch.1, dw_t);
                } else {
                    // dW^T [kk, o] = patches^T [kk, rows] x dy [rows, o].
                    let rows = chunk_rows(dims, xs, &mut scratch.0);
                    let m = dys.len() / o;
                    let (lhs, rhs) = (Operand::transposed(rows, kk), Operand::rows(dys, o));
                    product_into(dw_t, (kk, o, m), lhs, rhs, false);
                }
                for row in dys.chunks_exact(o) {
                    for (sum, &g) in db.iter_mut().zip(row) {
                        *sum += g;
                    }
                }
            })
        });
    let mut sums = vec![0.0f32; width];
    sum_partials(&mut sums, &partials);
    let bias = sums.split_off(kk * o);
    ConvParamGrads {
        weight: unpatch_weight(dims, transposed_copy(&sums, o)),
        bias,
    }
}

/// Gradient of [`conv_forward`]'s input `x` (without its ReLU) given its output's gradient `dy`
/// (NHWC): `dims`' input shape, in its layout.
///
/// # Panics
/// When a slice's length does not match `dims`.
pub fn conv_input_grad(dims: &ConvDims, weight: &[f32], dy: &[f32]) -> Vec<f32> {
    check("weight", weight.len(), dims.out_channels * dims.patch());
    check("dy", dy.len(), dims.batch * dims.out_sample());
    let (o, p, kk) = (dims.out_channels, dims.positions(), dims.patch());
    let mut dx = vec![0.0f32; dims.batch * dims.sample()];
    let w = patch_weight(dims, weight);
    dx.par_chunks_mut(SAMPLES_PER_CHUNK * dims.sample())
        .zip(dy.par_chunks(SAMPLES_PER_CHUNK * dims.out_sample()))
        .for_each_init(Vec::new, |buffer, (dxs, dys)| {
            let m = dys.len() / o;
            let (lhs, rhs) = (Operand::rows(dys, o), Operand::rows(&w, kk));
            if dims.patches_are_input() {
                // The patch rows are the input rows: their gradient is the input's.
                product_into(dxs, (m, kk, o), lhs, rhs, false);
                return;
            }
            // d patches [rows, kk] = dy [rows, o] x W [o, kk], then back onto the pixels.
            buffer.resize(m * kk, 0.0);
            product_into(buffer, (m, kk, o), lhs, rhs, false);
            for (dxb, rows) in dxs
                .chunks_exact_mut(dims.sample())
                .zip(buffer.chunks_exact(p * kk))
            {
                row2im_add(dims, rows, dxb);
            }
        });
    dx
}
