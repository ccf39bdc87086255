//! CubeCL forward selective-scan kernel: one unit per (batch, channel), state in registers.

use burn::cubecl;
use cubecl::prelude::*;

/// `ln(1 + e^z)`, returning `z` itself above 20 (same cut-off as the CPU kernel).
#[cube]
pub fn softplus(z: f32) -> f32 {
    let mut out = z;
    if z <= 20.0 {
        out = f32::log1p(f32::exp(z));
    }
    out
}

/// `1 / (1 + e^-z)`, the derivative of [`softplus`].
#[cube]
pub fn sigmoid(z: f32) -> f32 {
    1.0 / (1.0 + f32::exp(-z))
}

/// Forward scan. Unit `ABSOLUTE_POS = b * channels + k` runs channel `k` of batch element `b` over the
/// whole sequence from its initial state `h0[b, k, :]`, zeroing the state before every token whose
/// `reset[b, t]` is non-zero, keeping its `state` values in a local array (registers once unrolled),
/// and writes `y[b, t, k]` for every `t` and `last_state[b, k, :]`. Units past `batch * channels`
/// exit at once.
///
/// Layouts as in `kernels::selective_scan`: `u`, `delta`, `y` `[batch, len, channels]`; `a`
/// `[channels, state]`; `bm`, `cm` `[batch, len, state]`; `d`, `delta_bias` `[channels]`; `h0`,
/// `last_state` `[batch, channels, state]`; `reset` `[batch, len]`.
#[cube(launch_unchecked)]
#[allow(clippy::too_many_arguments)]
pub fn scan_forward_kernel(
    u: &[f32],
    delta: &[f32],
    a: &[f32],
    bm: &[f32],
    cm: &[f32],
    d: &[f32],
    delta_bias: &[f32],
    h0: &[f32],
    reset: &[f32],
    y: &mut [f32],
    last_state: &mut [f32],
    batch: usize,
    len: usize,
    channels: usize,
    #[comptime] state: usize,
) {
    let pos = ABSOLUTE_POS;
    if pos >= batch * channels {
        terminate!();
    }
    let bi = pos / channels;
    let k = pos % channels;
    let mut h = Array::<f32>::new(state);
    let mut av = Array::<f32>::new(state);
    #[unroll]
    for n in 0..state {
        h[n] = h0[pos * state + n];
        av[n] = a[k * state + n];
    }
    let bias = delta_bias[k];
    let dk = d[k];
    for t in 0..len {
        let keep = select(reset[bi * len + t] != 0.0, 0.0f32, 1.0f32);
        let i = (bi * len + t) * channels + k;
        let row = (bi * len + t) * state;
        let ut = u[i];
        let dt = softplus(delta[i] + bias);
        let dtu = dt * ut;
        let mut acc = 0.0f32;
        #[unroll]
        for n in 0..state {
            let hn = f32::exp(dt * av[n]) * (keep * h[n]) + dtu * bm[row + n];
            h[n] = hn;
            acc += cm[row + n] * hn;
        }
        y[i] = acc + dk * ut;
    }
    #[unroll]
    for n in 0..state {
        last_state[pos * state + n] = h[n];
    }
}
