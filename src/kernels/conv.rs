//! Valid (unpadded) 2-D convolutions over NCHW `f32` batches, forward and backward, as im2col and
//! one `gemm` product per sample: the Nature CNN of the depth encoder.
//!
//! Why not burn's `conv2d`: burn-flex 0.22 runs a 2-D convolution as a 3-D one with its own
//! loops, and its backward computes the input gradient by a transposed convolution even for the
//! first layer, whose input (the depth image) needs none. At the encoder's sizes that made the
//! CNN about 90% of a PPO update (`runner bench nets`). Here each sample's patches are laid out as
//! `[channels x k x k, positions]` and multiplied by the `[out_channels, channels x k x k]`
//! weight, which writes the output straight in NCHW order; samples run in parallel on rayon's
//! threads, and the weight gradient is summed over fixed chunks of samples in a fixed order, so
//! results do not depend on the thread count.

use rayon::prelude::*;

use super::matmul::{Operand, product_into};
use super::sum_partials;

/// Samples per partial weight gradient: the unit of parallel work of the backward, fixed so that
/// the order of the sums (and so every bit of the result) is the same on any number of threads.
const SAMPLES_PER_CHUNK: usize = 8;

/// Sizes of one valid convolution with a square kernel and equal strides: input
/// `[batch, in_channels, height, width]`, weight `[out_channels, in_channels, kernel, kernel]`
/// (burn's `Conv2d` layout), bias `[out_channels]`, output
/// `[batch, out_channels, out_height, out_width]`.
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

    /// Output positions per channel.
    fn positions(&self) -> usize {
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

/// Writes the patches of one sample `x` `[in_channels, height, width]` into `col`
/// `[in_channels x kernel x kernel, positions]`: row `(c, ki, kj)` holds, for each output
/// position `(i, j)`, the pixel `(c, i * stride + ki, j * stride + kj)`.
fn im2col(d: &ConvDims, x: &[f32], col: &mut [f32]) {
    let (oh, ow, k, s) = (d.out_height(), d.out_width(), d.kernel, d.stride);
    let plane = d.height * d.width;
    for (r, row) in col.chunks_exact_mut(oh * ow).enumerate() {
        let (c, ki, kj) = (r / (k * k), (r / k) % k, r % k);
        for (i, out) in row.chunks_exact_mut(ow).enumerate() {
            let start = c * plane + (i * s + ki) * d.width + kj;
            let src = &x[start..start + (ow - 1) * s + 1];
            if s == 1 {
                out.copy_from_slice(src);
            } else {
                for (v, &p) in out.iter_mut().zip(src.iter().step_by(s)) {
                    *v = p;
                }
            }
        }
    }
}

/// The adjoint of [`im2col`]: adds each value of `col` to the pixel it was read from in `dx`.
fn col2im_add(d: &ConvDims, col: &[f32], dx: &mut [f32]) {
    let (oh, ow, k, s) = (d.out_height(), d.out_width(), d.kernel, d.stride);
    let plane = d.height * d.width;
    for (r, row) in col.chunks_exact(oh * ow).enumerate() {
        let (c, ki, kj) = (r / (k * k), (r / k) % k, r % k);
        for (i, src) in row.chunks_exact(ow).enumerate() {
            let start = c * plane + (i * s + ki) * d.width + kj;
            let dst = &mut dx[start..start + (ow - 1) * s + 1];
            for (d, &v) in dst.iter_mut().step_by(s).zip(src) {
                *d += v;
            }
        }
    }
}

/// The convolution of `x` by `weight` (+ `bias`): `[batch, out_channels, out_height, out_width]`.
///
/// # Panics
/// When a slice's length does not match `dims`, or the kernel does not fit the image.
pub fn conv_forward(dims: &ConvDims, x: &[f32], weight: &[f32], bias: Option<&[f32]>) -> Vec<f32> {
    dims.check(x, weight);
    if let Some(b) = bias {
        check("bias", b.len(), dims.out_channels);
    }
    let (o, p, kk) = (dims.out_channels, dims.positions(), dims.patch());
    let mut out = vec![0.0f32; dims.batch * dims.out_sample()];
    if dims.batch == 0 {
        return out;
    }
    out.par_chunks_mut(dims.out_sample())
        .zip(x.par_chunks(dims.sample()))
        .for_each_init(
            || vec![0.0f32; kk * p],
            |col, (y, xb)| {
                im2col(dims, xb, col);
                if let Some(b) = bias {
                    for (row, &v) in y.chunks_exact_mut(p).zip(b) {
                        row.fill(v);
                    }
                }
                let (w, c) = (Operand::rows(weight, kk), Operand::rows(col, p));
                product_into(y, (o, p, kk), w, c, bias.is_some());
            },
        );
    out
}

/// Gradients of [`conv_weight_grads`]' parameters.
#[derive(Debug, Clone)]
pub struct ConvParamGrads {
    /// `[out_channels, in_channels, kernel, kernel]`.
    pub weight: Vec<f32>,
    /// `[out_channels]`: the sums of the output gradient over samples and positions.
    pub bias: Vec<f32>,
}

/// Gradients of the weight and the bias of [`conv_forward`] given its output's gradient `dy`.
///
/// # Panics
/// When a slice's length does not match `dims`.
pub fn conv_weight_grads(dims: &ConvDims, x: &[f32], weight: &[f32], dy: &[f32]) -> ConvParamGrads {
    dims.check(x, weight);
    check("dy", dy.len(), dims.batch * dims.out_sample());
    let (o, p, kk) = (dims.out_channels, dims.positions(), dims.patch());
    let chunks = dims.batch.div_ceil(SAMPLES_PER_CHUNK);
    // Each chunk's partial `[dW | db]`, then the chunks' partials added in chunk order.
    let width = o * kk + o;
    let mut partials = vec![0.0f32; chunks * width];
    partials
        .par_chunks_mut(width)
        .zip(x.par_chunks(SAMPLES_PER_CHUNK * dims.sample()))
        .zip(dy.par_chunks(SAMPLES_PER_CHUNK * dims.out_sample()))
        .for_each(|((partial, xs), dys)| {
            let (dw, db) = partial.split_at_mut(o * kk);
            let mut col = vec![0.0f32; kk * p];
            for (xb, dyb) in xs
                .chunks_exact(dims.sample())
                .zip(dys.chunks_exact(dims.out_sample()))
            {
                im2col(dims, xb, &mut col);
                // dW += dy_b [o, p] x col_b^T [p, kk].
                let (g, c) = (Operand::rows(dyb, p), Operand::transposed(&col, p));
                product_into(dw, (o, kk, p), g, c, true);
                for (sum, row) in db.iter_mut().zip(dyb.chunks_exact(p)) {
                    *sum += row.iter().sum::<f32>();
                }
            }
        });
    let mut weight_grad = vec![0.0f32; width];
    sum_partials(&mut weight_grad, &partials);
    let bias_grad = weight_grad.split_off(o * kk);
    ConvParamGrads {
        weight: weight_grad,
        bias: bias_grad,
    }
}

/// Gradient of [`conv_forward`]'s input `x` given its output's gradient `dy`: `dims`' input
/// shape.
///
/// # Panics
/// When a slice's length does not match `dims`.
pub fn conv_input_grad(dims: &ConvDims, weight: &[f32], dy: &[f32]) -> Vec<f32> {
    check("weight", weight.len(), dims.out_channels * dims.patch());
    check("dy", dy.len(), dims.batch * dims.out_sample());
    let (o, p, kk) = (dims.out_channels, dims.positions(), dims.patch());
    let mut dx = vec![0.0f32; dims.batch * dims.sample()];
    if dims.batch == 0 {
        return dx;
    }
    dx.par_chunks_mut(dims.sample())
        .zip(dy.par_chunks(dims.out_sample()))
        .for_each_init(
            || vec![0.0f32; kk * p],
            |col, (dxb, dyb)| {
                // dcol [kk, p] = W^T [kk, o] x dy_b [o, p].
                let (w, g) = (Operand::transposed(weight, kk), Operand::rows(dyb, p));
                product_into(col, (kk, p, o), w, g, false);
                col2im_add(dims, col, dxb);
            },
        );
    dx
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `values[i] = sin(seed + 0.37 i)`: deterministic inputs of either sign.
    fn wave(n: usize, seed: f32) -> Vec<f32> {
        (0..n).map(|i| (seed + 0.37 * i as f32).sin()).collect()
    }

    /// The convolution by its definition, in `f64`.
    fn naive(d: &ConvDims, x: &[f32], w: &[f32], b: &[f32]) -> Vec<f64> {
        let (oh, ow, k, s) = (d.out_height(), d.out_width(), d.kernel, d.stride);
        let mut out = Vec::new();
        for n in 0..d.batch {
            for (o, &bias) in b.iter().enumerate().take(d.out_channels) {
                for i in 0..oh {
                    for j in 0..ow {
                        let mut sum = bias as f64;
                        for c in 0..d.in_channels {
                            for ki in 0..k {
                                for kj in 0..k {
                                    let xi = ((n * d.in_channels + c) * d.height + i * s + ki)
                                        * d.width
                                        + j * s
                                        + kj;
                                    let wi = ((o * d.in_channels + c) * k + ki) * k + kj;
                                    sum += x[xi] as f64 * w[wi] as f64;
                                }
                            }
                        }
                        out.push(sum);
                    }
                }
            }
        }
        out
    }

    fn dims(batch: usize, stride: usize) -> ConvDims {
        ConvDims {
            batch,
            in_channels: 3,
            height: 11,
            width: 9,
            out_channels: 5,
            kernel: 3,
            stride,
        }
    }

    fn close(got: &[f32], want: &[f64], tol: f64, what: &str) {
        assert_eq!(got.len(), want.len(), "{what}: length");
        for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
            assert!(
                (g as f64 - w).abs() <= tol * (1.0 + w.abs()),
                "{what}[{i}]: {g} vs {w}"
            );
        }
    }

    #[test]
    fn forward_matches_the_definition_for_strides_one_and_two() {
        for stride in [1, 2] {
            let d = dims(10, stride);
            let x = wave(d.batch * d.sample(), 0.3);
            let w = wave(d.out_channels * d.patch(), 1.1);
            let b = wave(d.out_channels, 2.7);
            let want = naive(&d, &x, &w, &b);
            close(
                &conv_forward(&d, &x, &w, Some(&b)),
                &want,
                1e-5,
                "with bias",
            );
            let zeros = vec![0.0; d.out_channels];
            let no_bias = naive(&d, &x, &w, &zeros);
            close(&conv_forward(&d, &x, &w, None), &no_bias, 1e-5, "no bias");
        }
    }

    /// Gradients of `sum(dy * conv(x, w, b))` by central differences in `f64` of the definition.
    #[test]
    fn backward_matches_finite_differences_of_the_definition() {
        for stride in [1, 2] {
            // More samples than one chunk, so the ordered sum of partials is exercised.
            let d = dims(SAMPLES_PER_CHUNK + 3, stride);
            let x = wave(d.batch * d.sample(), 0.9);
            let w = wave(d.out_channels * d.patch(), 1.7);
            let b = wave(d.out_channels, 0.2);
            let dy = wave(d.batch * d.out_sample(), 3.3);
            let loss = |x: &[f32], w: &[f32], b: &[f32]| -> f64 {
                naive(&d, x, w, b)
                    .iter()
                    .zip(&dy)
                    .map(|(y, &g)| y * g as f64)
                    .sum()
            };
            // The loss is linear in each argument, so a central difference with a large step is
            // exact up to rounding.
            let h = 0.5f32;
            let fd = |v: &[f32], i: usize, f: &dyn Fn(&[f32]) -> f64| {
                let (mut up, mut down) = (v.to_vec(), v.to_vec());
                up[i] += h;
                down[i] -= h;
                (f(&up) - f(&down)) / (2.0 * h as f64)
            };
            let grads = conv_weight_grads(&d, &x, &w, &dy);
            let dx = conv_input_grad(&d, &w, &dy);
            for i in (0..w.len()).step_by(7) {
                let want = fd(&w, i, &|w| loss(&x, w, &b));
                close(&grads.weight[i..=i], &[want], 1e-4, "dw");
            }
            for i in 0..b.len() {
                let want = fd(&b, i, &|b| loss(&x, &w, b));
                close(&grads.bias[i..=i], &[want], 1e-4, "db");
            }
            for i in (0..x.len()).step_by(13) {
                let want = fd(&x, i, &|x| loss(x, &w, &b));
                close(&dx[i..=i], &[want], 1e-4, "dx");
            }
        }
    }

    #[test]
    fn results_do_not_depend_on_the_thread_count() {
        let d = dims(3 * SAMPLES_PER_CHUNK + 1, 2);
        let x = wave(d.batch * d.sample(), 0.4);
        let w = wave(d.out_channels * d.patch(), 2.2);
        let dy = wave(d.batch * d.out_sample(), 1.4);
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| {
                let g = conv_weight_grads(&d, &x, &w, &dy);
                (
                    conv_forward(&d, &x, &w, None),
                    g.weight,
                    g.bias,
                    conv_input_grad(&d, &w, &dy),
                )
            })
        };
        let (one, three) = (run(1), run(3));
        assert_eq!(one.0, three.0, "forward");
        assert_eq!(one.1, three.1, "weight gradient");
        assert_eq!(one.2, three.2, "bias gradient");
        assert_eq!(one.3, three.3, "input gradient");
    }

    #[test]
    #[should_panic(expected = "a 3x3 kernel with stride 1 on a 2x9 image")]
    fn a_kernel_larger_than_the_image_is_named() {
        let d = ConvDims {
            height: 2,
            ..dims(1, 1)
        };
        conv_forward(
            &d,
            &vec![0.0; d.in_channels * 2 * 9],
            &vec![0.0; 5 * 27],
            None,
        );
    }
}
