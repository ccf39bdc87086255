//! CubeCL backward selective-scan kernel and the fixed-order partial-sum kernel.
//!
//! Work split: one unit per (batch, channel), launched as a 2-D grid whose Y index is the batch
//! element and whose X axis covers the channels, so every plane (warp) holds consecutive channels of
//! ONE batch element and runs the same loop trip counts (uniform control flow, required by
//! `plane_sum`). Units past the last channel run along with clamped reads and contribute zeros.
//!
//! Each unit:
//! 1. runs the forward recurrence once from its initial state `h0`, storing its state at the start
//!    of every chunk of `chunk` steps into the global scratch `ckpt` `[batch * channels, nchunks,
//!    state]`;
//! 2. walks the chunks backwards: recomputes the `chunk + 1` states of the chunk from its checkpoint
//!    into a local array, then runs the reverse steps over them, and writes `dh0`.
//!
//! A reset at step `t` zeroes the state before its update: the recomputation stores that zero as
//! the state before `t`, and the reverse pass stops the state's gradient there.
//!
//! Reductions (all deterministic, no atomics):
//! - `db`, `dc` sum over channels: each plane sums its lanes with `plane_sum` (a fixed shuffle tree)
//!   and writes one partial row per (plane, batch, step) into `db_part`/`dc_part`
//!   `[nplanes, batch, len, state]` (`nplanes = ceil(channels / plane)`); lane `n mod plane`
//!   writes element `n` (a plane may be narrower than the state). On a device without plane
//!   operations (cubecl turns them off on CPU-type adapters such as lavapipe) a plane of 32 units
//!   is emulated in shared memory: every unit stores its value, and after a barrier one unit of
//!   each group adds them in a fixed order.
//! - `da`, `dd`, `ddelta_bias` sum over batch: each unit writes its own partial row into
//!   `[batch, channels, state]` / `[batch, channels]`.
//!
//! [`sum_partials_kernel`] then adds the partial rows in ascending order for every output element.

use burn::cubecl;
use cubecl::prelude::*;

use super::forward::{sigmoid, softplus};

/// Units per cube the backward is launched with (the shared-memory plane emulation is sized by
/// it).
pub const CUBE_UNITS: usize = 128;

/// Backward scan (see the module docs for the work split and the partial buffers).
///
/// `plane` is the device's plane (warp, subgroup) width, fixed and dividing the cube (the launcher
/// checks), and `plane_ops` whether the device has plane operations; without them `plane` units
/// are summed through shared memory. `d_last` is `[batch, channels, state]` (zeros when the caller has none).
#[cube(launch_unchecked)]
#[allow(clippy::too_many_arguments)]
pub fn scan_backward_kernel(
    u: &[f32],
    delta: &[f32],
    a: &[f32],
    bm: &[f32],
    cm: &[f32],
    d: &[f32],
    delta_bias: &[f32],
    h0: &[f32],
    reset: &[f32],
    dy: &[f32],
    d_last: &[f32],
    ckpt: &mut [f32],
    du: &mut [f32],
    ddelta: &mut [f32],
    db_part: &mut [f32],
    dc_part: &mut [f32],
    da_part: &mut [f32],
    dd_part: &mut [f32],
    dbias_part: &mut [f32],
    dh0: &mut [f32],
    batch: usize,
    len: usize,
    channels: usize,
    #[comptime] state: usize,
    #[comptime] chunk: usize,
    #[comptime] plane: usize,
    #[comptime] plane_ops: bool,
) {
    let bi = CUBE_POS_Y as usize;
    let k = CUBE_POS_X as usize * CUBE_DIM_X as usize + UNIT_POS_X as usize;
    let valid = k < channels;
    // Reads of a unit past the last channel go to the last channel; its results are discarded.
    let kc = select(valid, k, channels - 1);
    let pos = bi * channels + kc;
    // Without plane operations a plane is emulated in shared memory: `plane` consecutive units of
    // the cube, summed by one of them after a barrier.
    let unit = UNIT_POS_X as usize;
    let mut lane = unit % plane;
    if comptime![plane_ops] {
        lane = UNIT_POS_PLANE as usize;
    }
    let mut shared = Shared::<[f32]>::new_slice(comptime![2 * CUBE_UNITS]);
    let plane_idx = k / plane;
    let part_len = channels.div_ceil(plane) * batch * len * state;
    let nchunks = len.div_ceil(chunk);

    let mut av = Array::<f32>::new(state);
    let mut h = Array::<f32>::new(state);
    let mut g = Array::<f32>::new(state);
    let mut da_acc = Array::<f32>::new(state);
    #[unroll]
    for n in 0..state {
        av[n] = a[kc * state + n];
        h[n] = h0[pos * state + n];
        g[n] = select(valid, d_last[pos * state + n], 0.0);
        da_acc[n] = 0.0;
    }
    let bias = delta_bias[kc];
    let dk = d[kc];

    // Pass 1: forward, checkpointing the state at the start of every chunk.
    for ci in 0..nchunks {
        if valid {
            #[unroll]
            for n in 0..state {
                ckpt[(pos * nchunks + ci) * state + n] = h[n];
            }
        }
        let t0 = ci * chunk;
        let tn = select(len - t0 < chunk, len - t0, chunk);
        for j in 0..tn {
            let t = t0 + j;
            let keep = select(reset[bi * len + t] != 0.0, 0.0f32, 1.0f32);
            let i = (bi * len + t) * channels + kc;
            let row = (bi * len + t) * state;
            let dt = softplus(delta[i] + bias);
            let dtu = dt * u[i];
            #[unroll]
            for n in 0..state {
                h[n] = f32::exp(dt * av[n]) * (keep * h[n]) + dtu * bm[row + n];
            }
        }
    }

    // Pass 2: chunks in reverse; hs[j * state + n] is the state before step t0 + j.
    let mut hs = Array::<f32>::new((chunk + 1) * state);
    let mut dd_acc = 0.0f32;
    let mut dbias_acc = 0.0f32;
    for cr in 0..nchunks {
        let ci = nchunks - 1 - cr;
        let t0 = ci * chunk;
        let tn = select(len - t0 < chunk, len - t0, chunk);
        #[unroll]
        for n in 0..state {
            let v = ckpt[(pos * nchunks + ci) * state + n];
            h[n] = select(valid, v, 0.0);
            hs[n] = h[n];
        }
        for j in 0..tn {
            let t = t0 + j;
            let keep = select(reset[bi * len + t] != 0.0, 0.0f32, 1.0f32);
            let i = (bi * len + t) * channels + kc;
            let row = (bi * len + t) * state;
            let dt = softplus(delta[i] + bias);
            let dtu = dt * u[i];
            #[unroll]
            for n in 0..state {
                // The step starts from zero at a reset; hs keeps the state before it, which the
                // previous step's output read.
                h[n] = f32::exp(dt * av[n]) * (keep * hs[j * state + n]) + dtu * bm[row + n];
                hs[(j + 1) * state + n] = h[n];
            }
        }
        for jr in 0..tn {
            let j = tn - 1 - jr;
            let t = t0 + j;
            let i = (bi * len + t) * channels + kc;
            let row = (bi * len + t) * state;
            let z = delta[i] + bias;
            let dt = softplus(z);
            let sig = sigmoid(z);
            let ut = u[i];
            let dtu = dt * ut;
            let dyt = select(valid, dy[i], 0.0);
            let keep = select(reset[bi * len + t] != 0.0, 0.0f32, 1.0f32);
            let part_row = (plane_idx * batch * len + bi * len + t) * state;
            let mut sum_dt = 0.0f32;
            let mut sum_gb = 0.0f32;
            #[unroll]
            for n in 0..state {
                // The state this step started from: zero at a reset.
                let h_prev = keep * hs[j * state + n];
                let h_cur = hs[(j + 1) * state + n];
                let decay = f32::exp(dt * av[n]);
                let gn = g[n] + dyt * cm[row + n];
                let gh = gn * h_prev * decay;
                sum_dt += gh * av[n];
                da_acc[n] += gh * dt;
                sum_gb += gn * bm[row + n];
                g[n] = keep * gn * decay;
                let dc_v = select(valid, dyt * h_cur, 0.0);
                let db_v = select(valid, gn * dtu, 0.0);
                if comptime![plane_ops] {
                    let dc_sum = plane_sum(dc_v);
                    let db_sum = plane_sum(db_v);
                    if lane == n % plane && part_row + n < part_len {
                        dc_part[part_row + n] = dc_sum;
                        db_part[part_row + n] = db_sum;
                    }
                } else {
                    shared[unit] = dc_v;
                    shared[comptime![CUBE_UNITS] + unit] = db_v;
                    sync_cube();
                    if lane == n % plane && part_row + n < part_len {
                        let first = unit - lane;
                        let mut dc_sum = 0.0f32;
                        let mut db_sum = 0.0f32;
                        for i in 0..plane {
                            dc_sum += shared[first + i];
                            db_sum += shared[comptime![CUBE_UNITS] + first + i];
                        }
                        dc_part[part_row + n] = dc_sum;
                        db_part[part_row + n] = db_sum;
                    }
                    sync_cube();
                }
            }
            let d_delta = (sum_dt + ut * sum_gb) * sig;
            if valid {
                du[i] = dyt * dk + dt * sum_gb;
                ddelta[i] = d_delta;
            }
            dd_acc += dyt * ut;
            dbias_acc += d_delta;
        }
    }
    if valid {
        #[unroll]
        for n in 0..state {
            da_part[pos * state + n] = da_acc[n];
            dh0[pos * state + n] = g[n];
        }
        dd_part[pos] = dd_acc;
        dbias_part[pos] = dbias_acc;
    }
}

/// `out[i] = sum_p parts[p * n + i]` for `p` in ascending order (`parts` holds `count` rows of `n`),
/// one unit per output element.
#[cube(launch_unchecked)]
pub fn sum_partials_kernel(parts: &[f32], out: &mut [f32], n: usize, count: usize) {
    let i = ABSOLUTE_POS;
    if i >= n {
        terminate!();
    }
    let mut acc = 0.0f32;
    for p in 0..count {
        acc += parts[p * n + i];
    }
    out[i] = acc;
}
