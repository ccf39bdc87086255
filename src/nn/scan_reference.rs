//! The selective scan (Mamba-1 recurrence), reference implementation in burn tensor ops.
//!
//! Layouts (the same as the fused CPU kernel's): `u`, `delta` `[B, L, C]`; `a` `[C, N]`;
//! `b`, `c` `[B, L, N]`; `d`, `delta_bias` `[C]`. With `delta_eff = softplus(delta + delta_bias)`:
//! `h_t = exp(delta_eff * a) h_{t-1} + delta_eff * b_t * u_t` and `y_t = sum_n c_t[n] h_t[n] + d u_t`.
//! The loop runs over the sequence only; each step is vectorised over batch x channel x state.
//! Differentiable through autodiff (which keeps a few `[B, C, N]` tensors per step for the backward):
//! this is the correctness oracle. Training and inference use the fused operation of
//! [`crate::ops::scan`] instead.

use burn::prelude::*;
use burn::tensor::activation::softplus;

use crate::ops::scan::ScanInputs;

/// Runs the scan from a zero state: returns `y` `[B, L, C]` and the last state `[B, C, N]`.
pub fn selective_scan(inputs: ScanInputs) -> (Tensor<3>, Tensor<3>) {
    let [batch, _, channels] = inputs.u.dims();
    let n = inputs.a.dims()[1];
    let state = Tensor::zeros([batch, channels, n], &inputs.u.device());
    selective_scan_from(inputs, state)
}

/// Runs the scan starting from `state` `[B, C, N]`.
pub fn selective_scan_from(inputs: ScanInputs, mut state: Tensor<3>) -> (Tensor<3>, Tensor<3>) {
    let ScanInputs {
        u,
        delta,
        a,
        b,
        c,
        d,
        delta_bias,
    } = inputs;
    let [batch, len, channels] = u.dims();
    let delta_eff = softplus(delta + delta_bias.clone().reshape([1, 1, channels]), 1.0);
    let a3 = a.unsqueeze_dim::<3>(0);
    let mut ys = Vec::with_capacity(len);
    for t in 0..len {
        let de = delta_eff
            .clone()
            .narrow(1, t, 1)
            .reshape([batch, channels, 1]);
        let ut = u.clone().narrow(1, t, 1).reshape([batch, channels, 1]);
        let bt = b.clone().narrow(1, t, 1);
        let ct = c.clone().narrow(1, t, 1);
        state = (de.clone() * a3.clone()).exp() * state + (de * ut) * bt;
        ys.push(
            (state.clone() * ct)
                .sum_dim(2)
                .reshape([batch, 1, channels]),
        );
    }
    let y = Tensor::cat(ys, 1) + u * d.reshape([1, 1, channels]);
    (y, state)
}
