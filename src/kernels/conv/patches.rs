//! Patch layouts of the convolutions: the rows of patches a chunk of samples is multiplied as
//! (im2row), their adjoint (row2im), and burn's weight layout reordered to match a patch row.

use std::borrow::Cow;

use super::{ConvDims, InputLayout};

/// Writes the patches of one sample `x` (in `d.input`'s layout) into `rows`
/// `[positions, patch]`: row `(i, j)` holds the patch under output position `(i, j)`, in the
/// order `(channel, ki, kj)` for NCHW input and `(ki, kj, channel)` for NHWC input. Either way
/// each innermost run (`kernel` pixels of one channel row, or `kernel x channels` values of one
/// NHWC row) is one contiguous copy.
pub(super) fn im2row(d: &ConvDims, x: &[f32], rows: &mut [f32]) {
    let (oh, ow, k, s, c) = (
        d.out_height(),
        d.out_width(),
        d.kernel,
        d.stride,
        d.in_channels,
    );
    let mut rows = rows.chunks_exact_mut(d.patch());
    for i in 0..oh {
        for j in 0..ow {
            let row = rows.next().expect("one row per output position");
            match d.input {
                InputLayout::Nchw => match k {
                    // Runs of a few pixels: fixed-size copies, where a call to `memcpy` per run
                    // would cost more than the copy (the 8x8 kernel of the first layer).
                    8 => nchw_runs::<8>(d, x, row, (i, j)),
                    4 => nchw_runs::<4>(d, x, row, (i, j)),
                    3 => nchw_runs::<3>(d, x, row, (i, j)),
                    _ => {
                        for (r, run) in row.chunks_exact_mut(k).enumerate() {
                            let (ch, ki) = (r / k, r % k);
                            let start = (ch * d.height + i * s + ki) * d.width + j * s;
                            run.copy_from_slice(&x[start..start + k]);
                        }
                    }
                },
                InputLayout::Nhwc => {
                    for (ki, run) in row.chunks_exact_mut(k * c).enumerate() {
                        let start = ((i * s + ki) * d.width + j * s) * c;
                        run.copy_from_slice(&x[start..start + k * c]);
                    }
                }
            }
        }
    }
}

/// The NCHW rows of [`im2row`] for a kernel of side `K`: the patch under output position `(i, j)`.
fn nchw_runs<const K: usize>(d: &ConvDims, x: &[f32], row: &mut [f32], (i, j): (usize, usize)) {
    let s = d.stride;
    for (r, run) in row.chunks_exact_mut(K).enumerate() {
        let (ch, ki) = (r / K, r % K);
        let start = (ch * d.height + i * s + ki) * d.width + j * s;
        let src: &[f32; K] = x[start..start + K].try_into().expect("K pixels");
        let dst: &mut [f32; K] = run.try_into().expect("K values");
        *dst = *src;
    }
}

/// The adjoint of [`im2row`]: adds each value of `rows` to the input value it was read from in
/// `dx` (one sample, `d.input`'s layout).
pub(super) fn row2im_add(d: &ConvDims, rows: &[f32], dx: &mut [f32]) {
    let (oh, ow, k, s, c) = (
        d.out_height(),
        d.out_width(),
        d.kernel,
        d.stride,
        d.in_channels,
    );
    let mut rows = rows.chunks_exact(d.patch());
    for i in 0..oh {
        for j in 0..ow {
            let row = rows.next().expect("one row per output position");
            match d.input {
                InputLayout::Nchw => {
                    for (r, run) in row.chunks_exact(k).enumerate() {
                        let (ch, ki) = (r / k, r % k);
                        let start = (ch * d.height + i * s + ki) * d.width + j * s;
                        add(&mut dx[start..start + k], run);
                    }
                }
                InputLayout::Nhwc => {
                    for (ki, run) in row.chunks_exact(k * c).enumerate() {
                        let start = ((i * s + ki) * d.width + j * s) * c;
                        add(&mut dx[start..start + k * c], run);
                    }
                }
            }
        }
    }
}

fn add(dst: &mut [f32], src: &[f32]) {
    for (d, &v) in dst.iter_mut().zip(src) {
        *d += v;
    }
}

/// burn's `[out, in, k, k]` weight as `[out, patch]` in the patch order of `d.input`: unchanged
/// for NCHW input, reordered to `[out, k, k, in]` for NHWC input.
pub(super) fn patch_weight<'a>(d: &ConvDims, weight: &'a [f32]) -> Cow<'a, [f32]> {
    match d.input {
        InputLayout::Nchw => Cow::Borrowed(weight),
        InputLayout::Nhwc => {
            let (c, kk) = (d.in_channels, d.kernel * d.kernel);
            let mut out = vec![0.0f32; weight.len()];
            for (src, dst) in weight
                .chunks_exact(c * kk)
                .zip(out.chunks_exact_mut(c * kk))
            {
                for ch in 0..c {
                    for q in 0..kk {
                        dst[q * c + ch] = src[ch * kk + q];
                    }
                }
            }
            Cow::Owned(out)
        }
    }
}

/// The inverse of [`patch_weight`]: a `[out, patch]` gradient in patch order back in burn's
/// `[out, in, k, k]` layout.
pub(super) fn unpatch_weight(d: &ConvDims, patched: Vec<f32>) -> Vec<f32> {
    match d.input {
        InputLayout::Nchw => patched,
        InputLayout::Nhwc => {
            let (c, kk) = (d.in_channels, d.kernel * d.kernel);
            let mut out = vec![0.0f32; patched.len()];
            for (src, dst) in patched
                .chunks_exact(c * kk)
                .zip(out.chunks_exact_mut(c * kk))
            {
                for ch in 0..c {
                    for q in 0..kk {
                        dst[ch * kk + q] = src[q * c + ch];
                    }
                }
            }
            out
        }
    }
}
