//! The selective scan (Mamba-1 recurrence), reference implementation in burn tensor ops.
//!
//! Layouts (the same as the fused CPU kernel's): `u`, `delta` `[B, L, C]`; `a` `[C, N]`;
//! `b`, `c` `[B, L, N]`; `d`, `delta_bias` `[C]`. With `delta_eff = softplus(delta + delta_bias)`:
//! `h_t = exp(delta_eff * a) h_{t-1} + delta_eff * b_t * u_t` and `y_t = sum_n c_t[n] h_t[n] + d u_t`.
//! The loop runs over the sequence only; each step is vectorised over batch x channel x state.
//! Differentiable through autodiff (which keeps a few `[B, C, N]` tensors per step for the backward):
//! this is the correctness oracle. Training and inference use the fused operation of
//! [`super::scan_op`] instead.

use burn::prelude::*;
use burn::tensor::Distribution;
use burn::tensor::activation::softplus;

use crate::kernels::selective_scan::ScanDims;

/// Inputs of one selective scan, see the module documentation for layouts.
#[derive(Debug, Clone)]
pub struct ScanInputs {
    /// Input sequence `[B, L, C]`.
    pub u: Tensor<3>,
    /// Step sizes before softplus `[B, L, C]`.
    pub delta: Tensor<3>,
    /// State matrix (diagonal per channel) `[C, N]`, negative.
    pub a: Tensor<2>,
    /// Input projection `[B, L, N]`.
    pub b: Tensor<3>,
    /// Output projection `[B, L, N]`.
    pub c: Tensor<3>,
    /// Skip connection `[C]`.
    pub d: Tensor<1>,
    /// Bias added to `delta` before softplus `[C]`.
    pub delta_bias: Tensor<1>,
}

impl ScanInputs {
    /// Random inputs of the given sizes on `device`: standard normal `u`, `delta`, `b`, `c`, `d`,
    /// `delta_bias`, and `a` uniform in [-2, -0.1] (for tests and benchmarks).
    pub fn random(dims: &ScanDims, device: &Device) -> Self {
        let ScanDims {
            batch,
            len,
            channels,
            state,
        } = *dims;
        let normal = Distribution::Normal(0.0, 1.0);
        let r3 = |shape: [usize; 3]| Tensor::<3>::random(shape, normal, device);
        Self {
            u: r3([batch, len, channels]),
            delta: r3([batch, len, channels]),
            a: Tensor::random([channels, state], Distribution::Uniform(0.1, 2.0), device).neg(),
            b: r3([batch, len, state]),
            c: r3([batch, len, state]),
            d: Tensor::random([channels], normal, device),
            delta_bias: Tensor::random([channels], normal, device),
        }
    }

    /// The same inputs, each marked as requiring gradients.
    pub fn require_grad(self) -> Self {
        Self {
            u: self.u.require_grad(),
            delta: self.delta.require_grad(),
            a: self.a.require_grad(),
            b: self.b.require_grad(),
            c: self.c.require_grad(),
            d: self.d.require_grad(),
            delta_bias: self.delta_bias.require_grad(),
        }
    }
}

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
