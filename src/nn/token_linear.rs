//! Linear layers over token sequences as one matrix product.
//!
//! burn's `Linear` on a `[B, T, d_in]` input keeps the batch dimension whenever its tiling
//! heuristic prefers that (it does for the 17-token sequences here): the forward runs `B` small
//! products against the broadcast weight, and the weight's gradient is `B` separate
//! `[d_in, d_out]` products summed afterwards, a `[B, d_in, d_out]` temporary (256 MB for a
//! Mamba `in_proj` at batch 1024). Folding the tokens into rows first makes both one product.

use std::ops::Range;

use burn::nn::Linear;
use burn::prelude::*;

use crate::ops::linear::{linear_rows, linear_rows_columns};

/// `linear` applied to the rows of `x` `[rows, d_in]` -> `[rows, d_out]` (same result as
/// `linear.forward(x)`), as one fused operation on CPU devices (see [`linear_rows`]).
pub fn row_linear(linear: &Linear, x: Tensor<2>) -> Tensor<2> {
    linear_rows(
        x,
        linear.weight.val(),
        linear.bias.as_ref().map(|b| b.val()),
    )
}

/// `linear` applied to every token of `x` `[B, T, d_in]` -> `[B, T, d_out]`, computed as one
/// `[B * T, d_in] x [d_in, d_out]` product (same result as `linear.forward(x)`).
pub fn token_linear(linear: &Linear, x: Tensor<3>) -> Tensor<3> {
    let [b, t, d_in] = x.dims();
    let y = row_linear(linear, x.reshape([b * t, d_in]));
    let d_out = y.dims()[1];
    y.reshape([b, t, d_out])
}

/// Output features `cols` of [`token_linear`] alone: `x` `[B, T, d_in]` -> `[B, T, cols.len()]`,
/// from the matching columns of the weight. Splitting a fused projection this way (Mamba's
/// `in_proj` into `x` and `z`) keeps the backward from scattering each part's gradient into a
/// zero tensor of the whole `[B, T, d_out]` output, as narrowing the output would.
pub fn token_linear_part(linear: &Linear, x: Tensor<3>, cols: Range<usize>) -> Tensor<3> {
    let [b, t, d_in] = x.dims();
    let width = cols.len();
    let rows = x.reshape([b * t, d_in]);
    let y = match &linear.bias {
        None => linear_rows_columns(rows, linear.weight.val(), cols),
        Some(bias) => linear_rows(
            rows,
            linear.weight.val().narrow(1, cols.start, width),
            Some(bias.val().narrow(0, cols.start, width)),
        ),
    };
    y.reshape([b, t, width])
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::LinearConfig;
    use burn::tensor::Distribution;

    use crate::device::cpu_device;

    fn max_abs_diff(a: Tensor<3>, b: Tensor<3>) -> f32 {
        (a - b).abs().max().into_scalar::<f32>()
    }

    #[test]
    fn whole_and_parts_equal_burns_linear() {
        let device = cpu_device();
        let linear = LinearConfig::new(6, 10).init(&device);
        let x = Tensor::<3>::random([3, 17, 6], Distribution::Normal(0.0, 1.0), &device);
        let reference = linear.forward(x.clone());
        assert!(max_abs_diff(token_linear(&linear, x.clone()), reference.clone()) <= 1e-6);
        let part = token_linear_part(&linear, x, 4..9);
        assert!(max_abs_diff(part, reference.narrow(2, 4, 5)) <= 1e-6);
    }
}
