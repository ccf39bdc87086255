//! Fused, parallel, deterministic CPU selective scan (the Mamba-1 SSM recurrence), forward and backward,
//! on row-major `f32` slices.
//!
//! Math, per batch `b`, channel `k`, state `n`, step `t` (with `h_{-1} = h0[b,k,n]`, zero when no
//! initial state is given):
//!
//! ```text
//! h[n]      = 0 if reset[b,t] (an episode starts at token t)
//! dt        = softplus(delta[b,t,k] + delta_bias[k])
//! h[n]      = exp(dt * a[k,n]) * h[n] + dt * b[b,t,n] * u[b,t,k]
//! y[b,t,k]  = sum_n c[b,t,n] * h[n] + d[k] * u[b,t,k]
//! ```
//!
//! The fused kernels never materialise `[batch, len, channels, state]`. They work on groups of 16
//! channels of one sequence at a time, one channel per vector lane, so every step is plain vertical
//! arithmetic (no sum across lanes) and the inputs and outputs of a step are contiguous: the forward
//! keeps the group's `[state] x 16` state in registers and a small buffer; the backward recomputes
//! the group's states into a `len x state x 16` buffer and runs the reverse pass over it.
//!
//! Work is split into tasks of (batch chunk, channel block) whose sizes depend on [`ScanDims`] only, and
//! every reduction (over channels for `db`/`dc`, over batch for `da`/`dd`/`ddelta_bias`) adds its partial
//! sums in a fixed order, so results are bitwise identical for any number of rayon threads.
//!
//! Slice lengths are checked up front: the public kernels panic with the [`ScanError`] message (naming
//! the argument) on a mismatch; call [`validate`] first to get a `Result` instead.

use rayon::prelude::*;
use std::mem::MaybeUninit;
use std::time::Instant;
use thiserror::Error;

use crate::kernels::fast_math::{fast_exp_nonpositive, softplus_sigmoid};
use crate::kernels::{
    SimdKernel, as_uninit, filled_vec, lane_sums, min_tasks_per_piece, prefetch, run_simd,
    simd_level, sum_partials,
};

mod backward;
mod contract;
mod forward;
mod lanes;
mod oracle;
mod recompute;
mod test_data;
#[cfg(test)]
mod tests;

use backward::*;
pub use contract::*;
use forward::*;
use lanes::*;
pub use oracle::scan_forward_naive;
use recompute::*;
pub use test_data::*;

/// Fused parallel forward. Writes `y` `[batch, len, channels]` and `last_state` `[batch, channels,
/// state]` (the state after the last step). Panics with a [`ScanError`] message on wrong slice lengths.
pub fn scan_forward(dims: &ScanDims, x: &ScanInputs, y: &mut [f32], last_state: &mut [f32]) {
    if let Err(e) = validate_forward(dims, x, y, last_state) {
        panic!("scan_forward: {e}");
    }
    forward_into(dims, x, as_uninit(y), Some(as_uninit(last_state)));
}

/// The forward's `y` `[batch, len, channels]` alone, in a new vector allocated without
/// zero-filling: for a caller that does not want the last state (training without memory), which
/// is then never written.
pub fn scan_forward_y(dims: &ScanDims, x: &ScanInputs) -> Vec<f32> {
    if let Err(e) = validate(dims, x) {
        panic!("scan_forward: {e}");
    }
    // SAFETY: `forward_into` writes every value of `y`.
    unsafe {
        filled_vec(dims.batch * dims.len * dims.channels, |y| {
            forward_into(dims, x, y, None)
        })
    }
}

/// [`scan_forward`] into one new vector: `y` followed by the last state (the layout of the
/// autodiff operation's packed output), allocated without zero-filling.
pub fn scan_forward_packed(dims: &ScanDims, x: &ScanInputs) -> Vec<f32> {
    if let Err(e) = validate(dims, x) {
        panic!("scan_forward: {e}");
    }
    let blc = dims.batch * dims.len * dims.channels;
    // SAFETY: `forward_into` writes every value of `y` and of the last state, the gap between
    // them is zeroed.
    unsafe {
        filled_vec(dims.packed_len(), |out| {
            let (y, last) = out.split_at_mut(dims.last_offset());
            let (y, gap) = y.split_at_mut(blc);
            for g in gap {
                g.write(0.0);
            }
            forward_into(dims, x, y, Some(last))
        })
    }
}

/// The forward on validated inputs and output buffers of the right lengths; writes every value
/// of `y` and of the last state where it is given.
fn forward_into(
    dims: &ScanDims,
    x: &ScanInputs,
    y: &mut [MaybeUninit<f32>],
    last_state: Option<&mut [MaybeUninit<f32>]>,
) {
    if dims.batch == 0 || dims.channels == 0 {
        return;
    }
    let plan = Plan::with_target(dims, FORWARD_TARGET_TASKS);
    let groups = Group::all(x, dims.state);
    let y_out = SharedOut::new(y);
    let s_out = last_state.map(SharedOut::new);
    let job = ForwardJob {
        dims,
        x,
        plan,
        groups: &groups,
        y_out,
        s_out,
    };
    let simd = simd_level();
    plan.for_each_task(dims, |task| run_simd(simd, (job, task)));
}

/// Fused parallel backward: recomputes the forward states and returns the gradients of the loss with
/// respect to every input, given `dy` `[batch, len, channels]` and optionally `d_last_state`
/// `[batch, channels, state]`. Panics with a [`ScanError`] message on wrong slice lengths.
pub fn scan_backward(
    dims: &ScanDims,
    x: &ScanInputs,
    dy: &[f32],
    d_last_state: Option<&[f32]>,
) -> ScanGrads {
    if let Err(e) = validate_backward(dims, x, dy, d_last_state) {
        panic!("scan_backward: {e}");
    }
    backward(dims, x, dy, d_last_state, true)
}

/// [`scan_backward`] of a scan whose last state reached nothing and whose initial state is no
/// input (training without memory): the same gradients, `dh0` left empty and never computed.
pub fn scan_backward_without_dh0(dims: &ScanDims, x: &ScanInputs, dy: &[f32]) -> ScanGrads {
    if let Err(e) = validate_backward(dims, x, dy, None) {
        panic!("scan_backward: {e}");
    }
    backward(dims, x, dy, None, false)
}

/// The backward on validated inputs; `dh0` computed where `with_dh0`, else empty.
fn backward(
    dims: &ScanDims,
    x: &ScanInputs,
    dy: &[f32],
    d_last_state: Option<&[f32]>,
    with_dh0: bool,
) -> ScanGrads {
    let ScanDims {
        batch,
        len,
        channels,
        state,
    } = *dims;
    let blc = batch * len * channels;
    let bls = batch * len * state;
    // dh0's length: each (sequence, channel) row belongs to one task.
    let bcs = if with_dh0 {
        batch * channels * state
    } else {
        0
    };
    if batch == 0 || channels == 0 {
        return ScanGrads {
            du: vec![0.0; blc],
            ddelta: vec![0.0; blc],
            da: vec![0.0; channels * state],
            db: vec![0.0; bls],
            dc: vec![0.0; bls],
            dd: vec![0.0; channels],
            ddelta_bias: vec![0.0; channels],
            dh0: vec![0.0; bcs],
        };
    }
    let plan = Plan::new(dims);
    let groups = Group::all(x, state);
    // Per-chunk partial sums over batch: [nchunks, channels, state] and [nchunks, channels].
    let mut da_part = vec![0.0f32; plan.nchunks * channels * state];
    let mut dd_part = vec![0.0f32; plan.nchunks * channels];
    let mut dbias_part = vec![0.0f32; plan.nchunks * channels];
    // Per-block partial sums over channels: [nblocks, batch, len, state]; with a single block the
    // task writes the final rows directly.
    let split = plan.nblocks > 1;
    let db_len = if split { plan.nblocks * bls } else { bls };
    // Written without zero-filling first: the tasks write every value of du and ddelta (each
    // (sequence, token, channel) belongs to one task) and of the db and dc rows (each (block,
    // sequence) row belongs to one task), and nothing reads them before.
    let mut du = Vec::with_capacity(blc);
    let mut ddelta = Vec::with_capacity(blc);
    let mut db_rows: Vec<f32> = Vec::with_capacity(db_len);
    let mut dc_rows: Vec<f32> = Vec::with_capacity(db_len);
    let mut dh0: Vec<f32> = Vec::with_capacity(bcs);
    {
        let du_out = SharedOut::new(&mut du.spare_capacity_mut()[..blc]);
        let ddelta_out = SharedOut::new(&mut ddelta.spare_capacity_mut()[..blc]);
        let db_out = SharedOut::new(&mut db_rows.spare_capacity_mut()[..db_len]);
        let dc_out = SharedOut::new(&mut dc_rows.spare_capacity_mut()[..db_len]);
        let da_out = SharedOut::new(as_uninit(&mut da_part));
        let dd_out = SharedOut::new(as_uninit(&mut dd_part));
        let dbias_out = SharedOut::new(as_uninit(&mut dbias_part));
        let dh0_out = with_dh0.then(|| SharedOut::new(&mut dh0.spare_capacity_mut()[..bcs]));
        let job = BackwardJob {
            dims,
            x,
            plan,
            groups: &groups,
            dy,
            d_last_state,
            split,
            du_out,
            ddelta_out,
            db_out,
            dc_out,
            da_out,
            dd_out,
            dbias_out,
            dh0_out,
        };
        let simd = simd_level();
        plan.for_each_task(dims, |task| run_simd(simd, (job, task)));
    }
    // SAFETY: the tasks above wrote every value (see where the vectors are made).
    unsafe {
        du.set_len(blc);
        ddelta.set_len(blc);
        db_rows.set_len(db_len);
        dc_rows.set_len(db_len);
        dh0.set_len(bcs);
    }
    // Fixed-order reductions of the partial sums.
    let summed = |parts: &[f32], n: usize| {
        let mut out = vec![0.0f32; n];
        sum_partials(&mut out, parts);
        out
    };
    let (db, dc) = if split {
        (summed(&db_rows, bls), summed(&dc_rows, bls))
    } else {
        (db_rows, dc_rows)
    };
    ScanGrads {
        du,
        ddelta,
        da: summed(&da_part, channels * state),
        db,
        dc,
        dd: summed(&dd_part, channels),
        ddelta_bias: summed(&dbias_part, channels),
        dh0,
    }
}
