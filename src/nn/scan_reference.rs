//! The selective scan (Mamba-1 recurrence), reference implementation in burn tensor ops.
//!
//! Layouts (the same as the fused CPU kernel's): `u`, `delta` `[B, L, C]`; `a` `[C, N]`;
//! `b`, `c` `[B, L, N]`; `d`, `delta_bias` `[C]`; `h0` `[B, C, N]`; `reset` `[B, L]`. With
//! `delta_eff = softplus(delta + delta_bias)`: `h_t = exp(delta_eff * a) h'_{t-1} + delta_eff * b_t *
//! u_t`, where `h'_{t-1}` is zero at a reset and `h_{t-1}` otherwise (`h_{-1} = h0`), and
//! `y_t = sum_n c_t[n] h_t[n] + d u_t`.
//! The loop runs over the sequence only; each step is vectorised over batch x channel x state.
//! Differentiable through autodiff (which keeps a few `[B, C, N]` tensors per step for the backward):
//! this is the correctness oracle. Training and inference use the fused operation of
//! [`crate::ops::scan`] instead.

use burn::prelude::*;
use burn::tensor::activation::softplus;

use crate::ops::scan::ScanInputs;

/// Runs the scan from `inputs.h0` (zero when absent), zeroing the state before every token whose
/// `inputs.reset` is non-zero: returns `y` `[B, L, C]` and the last state `[B, C, N]`.
pub fn selective_scan(inputs: ScanInputs) -> (Tensor<3>, Tensor<3>) {
    let ScanInputs {
        u,
        delta,
        a,
        b,
        c,
        d,
        delta_bias,
        h0,
        reset,
    } = inputs;
    let [batch, len, channels] = u.dims();
    let n = a.dims()[1];
    let mut state = h0.unwrap_or_else(|| Tensor::zeros([batch, channels, n], &u.device()));
    let delta_eff = softplus(delta + delta_bias.clone().reshape([1, 1, channels]), 1.0);
    let a3 = a.unsqueeze_dim::<3>(0);
    // 1 where the state carries over, 0 where it is zeroed: `[B, L]`.
    let keep = reset.map(|r| r.equal_elem(0.0).float());
    let mut ys = Vec::with_capacity(len);
    for t in 0..len {
        if let Some(keep) = &keep {
            state = state * keep.clone().narrow(1, t, 1).reshape([batch, 1, 1]);
        }
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
