//! The selective scan (Mamba-1 recurrence), reference implementation in burn tensor ops.
//!
//! Layouts (the same as the fused CPU kernel's): `u`, `delta` `[B, L, C]`; `a` `[C, N]`;
//! `b`, `c` `[B, L, N]`; `d`, `delta_bias` `[C]`. With `delta_eff = softplus(delta + delta_bias)`:
//! `h_t = exp(delta_eff * a) h_{t-1} + delta_eff * b_t * u_t` and `y_t = sum_n c_t[n] h_t[n] + d u_t`.
//! The loop runs over the sequence only; each step is vectorised over batch x channel x state, so
//! `[B, L, C, N]` is never materialised. Differentiable through autodiff: this is the oracle.

use burn::prelude::*;
use burn::tensor::activation::softplus;

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

/// Whether `device` is one of the CPU backends the fused kernel runs on.
#[allow(deprecated)]
fn is_cpu(device: &Device) -> bool {
    *device == Device::flex() || *device == Device::ndarray()
}

fn host(t: Tensor<3>) -> Vec<f32> {
    t.into_data().try_to_vec_as::<f32>().unwrap_or_default()
}

/// The fused CPU kernel ([`crate::kernels::selective_scan::scan_forward`]) for untracked tensors on
/// a CPU device: returns `None` (use [`selective_scan`]) when any input is tracked by autodiff or
/// lives on another backend, since the kernel is not registered as an autodiff op (see the nn
/// report). Same layouts and results as [`selective_scan`].
pub fn selective_scan_fused(inputs: &ScanInputs) -> Option<(Tensor<3>, Tensor<3>)> {
    use crate::kernels::selective_scan::{ScanDims, ScanInputs as Slices, scan_forward};
    let device = inputs.u.device();
    let tracked = inputs.u.is_tracked()
        || inputs.delta.is_tracked()
        || inputs.a.is_tracked()
        || inputs.b.is_tracked()
        || inputs.c.is_tracked()
        || inputs.d.is_tracked()
        || inputs.delta_bias.is_tracked();
    if tracked || device.is_autodiff() || !is_cpu(&device) {
        return None;
    }
    let [batch, len, channels] = inputs.u.dims();
    let state = inputs.a.dims()[1];
    let dims = ScanDims {
        batch,
        len,
        channels,
        state,
    };
    let (u, delta) = (host(inputs.u.clone()), host(inputs.delta.clone()));
    let (b, c) = (host(inputs.b.clone()), host(inputs.c.clone()));
    let a = host(inputs.a.clone().unsqueeze_dim::<3>(0));
    let d = host(inputs.d.clone().reshape([1, 1, channels]));
    let delta_bias = host(inputs.delta_bias.clone().reshape([1, 1, channels]));
    let slices = Slices {
        u: &u,
        delta: &delta,
        a: &a,
        b: &b,
        c: &c,
        d: &d,
        delta_bias: &delta_bias,
    };
    let mut y = vec![0.0; batch * len * channels];
    let mut last = vec![0.0; batch * channels * state];
    scan_forward(&dims, &slices, &mut y, &mut last);
    Some((
        Tensor::from_data(TensorData::new(y, [batch, len, channels]), &device),
        Tensor::from_data(TensorData::new(last, [batch, channels, state]), &device),
    ))
}
