//! The first layer's convolution without im2row: a kernel of twice its stride over an NCHW image
//! whose sides are multiples of the stride (the Nature CNN's 8x8 / 4 on 64 x 64 depth) is a 2x2,
//! stride-1 convolution over the image cut into `stride x stride` blocks (space to depth).
//!
//! With the blocks laid out `[block_row, block_col, channel, a, e]` (`a`, `e` the pixel within the
//! block), the half-patch of output `(i, j)` in block row `i + bi` is the `2 x block` values from
//! block `(i + bi, j)` on: one row of a strided view, the same stride (one block) for every
//! output position of every sample of a chunk. So each chunk is two matrix products (`bi` = 0, 1)
//! over its blocks, with no patch copy: the block layout holds each input value once, where
//! im2row wrote each one `(kernel / stride)^2` times (4x) and left a buffer larger than the cache.
//! The price: the products also run over the last block column and row, which are no output
//! position (16 x 16 rows per sample for 15 x 15 outputs), and their rows are dropped.

use std::mem::MaybeUninit;

use super::ConvDims;
use super::InputLayout;
use crate::kernels::matmul::{Operand, product_into};

/// Whether `d` runs as a space-to-depth convolution.
pub(super) fn applies(d: &ConvDims) -> bool {
    d.input == InputLayout::Nchw
        && d.stride > 1
        && d.kernel == 2 * d.stride
        && d.height.is_multiple_of(d.stride)
        && d.width.is_multiple_of(d.stride)
}

/// Block-grid sizes of a space-to-depth convolution.
#[derive(Clone, Copy)]
struct Blocks {
    /// Block rows per sample.
    rows: usize,
    /// Block columns per sample.
    cols: usize,
    /// Values per block: `channels x stride x stride`.
    size: usize,
}

impl Blocks {
    fn of(d: &ConvDims) -> Self {
        Blocks {
            rows: d.height / d.stride,
            cols: d.width / d.stride,
            size: d.in_channels * d.stride * d.stride,
        }
    }

    /// Blocks per sample: the rows of a sample in the products.
    fn per_sample(&self) -> usize {
        self.rows * self.cols
    }

    /// Product rows for `samples` samples: up to the last sample's last output position, so the
    /// views of both block rows end inside the chunk's blocks.
    fn product_rows(&self, samples: usize) -> usize {
        samples * self.per_sample() - self.cols - 1
    }
}

/// `x` (`samples` NCHW samples) as blocks `[sample, block_row, block_col, channel, a, e]`,
/// written into `blocks`.
fn to_blocks(d: &ConvDims, x: &[f32], blocks: &mut Vec<f32>) {
    let g = Blocks::of(d);
    let samples = x.len() / d.sample();
    blocks.resize(samples * g.per_sample() * g.size, 0.0);
    match d.stride {
        // Runs of a few pixels: fixed-size copies, where a call to `memcpy` per run would cost
        // more than the copy (the first layer's stride 4).
        4 => block_runs::<4>(d, x, blocks),
        2 => block_runs::<2>(d, x, blocks),
        _ => block_runs::<0>(d, x, blocks),
    }
}

/// The copies of [`to_blocks`], each run of `S` pixels (`S` = 0: the stride, known at run time).
#[inline(always)]
fn block_runs<const S: usize>(d: &ConvDims, x: &[f32], blocks: &mut [f32]) {
    let s = if S == 0 { d.stride } else { S };
    let (w, g) = (d.width, Blocks::of(d));
    for (xs, bs) in x
        .chunks_exact(d.sample())
        .zip(blocks.chunks_exact_mut(g.per_sample() * g.size))
    {
        for (ch, plane) in xs.chunks_exact(d.height * w).enumerate() {
            for (h, line) in plane.chunks_exact(w).enumerate() {
                let (bi, a) = (h / s, h % s);
                let row = &mut bs[bi * g.cols * g.size..][..g.cols * g.size];
                let offset = (ch * s + a) * s;
                for (run, block) in line.chunks_exact(s).zip(row.chunks_exact_mut(g.size)) {
                    if S == 0 {
                        block[offset..offset + s].copy_from_slice(run);
                    } else {
                        let src: &[f32; S] = run.try_into().expect("S pixels");
                        let dst: &mut [f32; S] = (&mut block[offset..offset + S])
                            .try_into()
                            .expect("S values");
                        *dst = *src;
                    }
                }
            }
        }
    }
}

/// burn's `[out, in, 2s, 2s]` weight as two `[out, 2 x block]` halves (block row `bi` = 0, 1),
/// columns in the order `(block column, channel, a, e)` of a view's row.
pub(super) fn block_weight(d: &ConvDims, weight: &[f32]) -> [Vec<f32>; 2] {
    let size = Blocks::of(d).size;
    let patch = d.in_channels * d.kernel * d.kernel;
    let half = |bi: usize| {
        // Where each column comes from, the same for every filter (worked out once: the index
        // arithmetic per weight cost more than the copy, in inference at a few envs).
        let from: Vec<usize> = (0..2 * size).map(|q| patch_index(d, bi, q)).collect();
        let mut out = vec![0.0f32; d.out_channels * 2 * size];
        for (filter, dst) in weight
            .chunks_exact(patch)
            .zip(out.chunks_exact_mut(2 * size))
        {
            for (v, &p) in dst.iter_mut().zip(&from) {
                *v = filter[p];
            }
        }
        out
    };
    [half(0), half(1)]
}

/// Where column `q` of block row `bi`'s half (`(block column, channel, a, e)` order) sits in
/// one filter's `[in, 2s, 2s]` weights, burn's patch order.
fn patch_index(d: &ConvDims, bi: usize, q: usize) -> usize {
    let (s, k) = (d.stride, d.kernel);
    let size = d.in_channels * s * s;
    let (bj, ch, a, e) = (q / size, q % size / (s * s), q % (s * s) / s, q % s);
    (ch * k + bi * s + a) * k + bj * s + e
}

/// The view of block row offset `bi`: row `r` is the `2 x block` values from block `r + bi x
/// block columns` on.
fn view(blocks: &[f32], g: Blocks, bi: usize, rows: usize) -> Operand {
    let start = bi * g.cols * g.size;
    assert!(
        rows == 0 || start + (rows - 1) * g.size + 2 * g.size <= blocks.len(),
        "space-to-depth view past its blocks"
    );
    Operand::strided(&blocks[start..], g.size as isize, 1)
}

/// Scratch buffers of one chunk, reused across the chunks a thread runs.
#[derive(Default)]
pub(super) struct Scratch {
    blocks: Vec<f32>,
    rows: Vec<f32>,
}

impl Scratch {
    /// Lays the chunk's samples `xs` out as blocks -> (the block grid, the samples, the
    /// products' row count).
    fn load_blocks(&mut self, d: &ConvDims, xs: &[f32]) -> (Blocks, usize, usize) {
        to_blocks(d, xs, &mut self.blocks);
        let (g, samples) = (Blocks::of(d), xs.len() / d.sample());
        (g, samples, g.product_rows(samples))
    }
}

/// One chunk's forward: `y` (`[samples, out_h, out_w, out]`, every value written once) from the
/// chunk's samples `xs` and the [`block_weight`] halves: the products plus `bias` (`out`
/// values), through a ReLU when `relu`.
pub(super) fn forward_chunk(
    d: &ConvDims,
    xs: &[f32],
    halves: &[Vec<f32>; 2],
    (bias, relu): (&[f32], bool),
    scratch: &mut Scratch,
    y: &mut [MaybeUninit<f32>],
) {
    let (g, _, m) = scratch.load_blocks(d, xs);
    let o = d.out_channels;
    scratch.rows.resize(m * o, 0.0);
    for (bi, half) in halves.iter().enumerate() {
        let lhs = view(&scratch.blocks, g, bi, m);
        let rhs = Operand::transposed(half, 2 * g.size);
        product_into(&mut scratch.rows, (m, o, 2 * g.size), lhs, rhs, bi > 0);
    }
    // Keep the rows of output positions (block rows and columns but the last of each sample),
    // plus the bias.
    let (oh, ow) = (d.out_height(), d.out_width());
    for (n, ys) in y.chunks_exact_mut(oh * ow * o).enumerate() {
        for (i, line) in ys.chunks_exact_mut(ow * o).enumerate() {
            let r = n * g.per_sample() + i * g.cols;
            let sums = &scratch.rows[r * o..(r + ow) * o];
            for (dst, src) in line.chunks_exact_mut(o).zip(sums.chunks_exact(o)) {
                for ((v, &p), &b) in dst.iter_mut().zip(src).zip(bias) {
                    let sum = b + p;
                    v.write(if relu { sum.max(0.0) } else { sum });
                }
            }
        }
    }
}

/// One chunk's weight gradient, transposed (`[in x 2s x 2s, out]`, the patch in burn's order),
/// written into `dw_t`, given the chunk's samples `xs` and its output gradient `dys` (NHWC).
pub(super) fn weight_grad_chunk(
    d: &ConvDims,
    xs: &[f32],
    dys: &[f32],
    scratch: &mut Scratch,
    dw_t: &mut [f32],
) {
    let (g, samples, m) = scratch.load_blocks(d, xs);
    let o = d.out_channels;
    // The output gradient in the products' rows, zero on the rows of no output position (the
    // last block column and row of each sample).
    scratch.rows.resize(g.per_sample() * samples * o, 0.0);
    let (oh, ow) = (d.out_height(), d.out_width());
    for (gs, rows) in dys
        .chunks_exact(oh * ow * o)
        .zip(scratch.rows.chunks_exact_mut(g.per_sample() * o))
    {
        let (real, last) = rows.split_at_mut(oh * g.cols * o);
        for (line, dst) in gs
            .chunks_exact(ow * o)
            .zip(real.chunks_exact_mut(g.cols * o))
        {
            let (values, phantom) = dst.split_at_mut(ow * o);
            values.copy_from_slice(line);
            phantom.fill(0.0);
        }
        last.fill(0.0);
    }
    let halves = [0, 1].map(|bi| {
        // dW_bi [o, 2 block] = dy^T [o, m] x view_bi [m, 2 block]: this orientation measured
        // 11% faster in gemm than dW_bi^T = view_bi^T x dy (examples/conv1_prof).
        let mut half = vec![0.0f32; o * 2 * g.size];
        let lhs = Operand::rows(&scratch.rows, o).transpose();
        let rhs = view(&scratch.blocks, g, bi, m);
        product_into(&mut half, (o, 2 * g.size, m), lhs, rhs, false);
        half
    });
    // From the halves' `(block column, channel, a, e)` columns to burn's patch order `(channel,
    // kernel row, kernel column)`, one row of `o` values per patch value.
    for (bi, half) in halves.iter().enumerate() {
        for q in 0..2 * g.size {
            let p = patch_index(d, bi, q);
            for (j, v) in dw_t[p * o..(p + 1) * o].iter_mut().enumerate() {
                *v = half[j * 2 * g.size + q];
            }
        }
    }
}
