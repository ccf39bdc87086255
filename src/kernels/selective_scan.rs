//! Fused, parallel, deterministic CPU selective scan (the Mamba-1 SSM recurrence), forward and backward,
//! on row-major `f32` slices.
//!
//! Math, per batch `b`, channel `k`, state `n`, step `t` (with `h_{-1} = 0`):
//!
//! ```text
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

use super::fast_math::{fast_exp_nonpositive, softplus_sigmoid};
use super::{
    SimdKernel, as_uninit, filled_vec, lane_sum, min_tasks_per_piece, prefetch, run_simd,
    simd_level, sum_partials,
};

/// Sizes of one scan call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScanDims {
    /// Number of independent sequences.
    pub batch: usize,
    /// Sequence length (scan steps).
    pub len: usize,
    /// Number of channels (`d_inner`), each with its own recurrence.
    pub channels: usize,
    /// SSM state size per channel (`d_state`).
    pub state: usize,
}

impl ScanDims {
    /// Values of the packed forward output ([`scan_forward_packed`]): `y` `[batch, len,
    /// channels]` then the last state `[batch, channels, state]`.
    pub fn packed_len(&self) -> usize {
        self.batch * self.channels * (self.len + self.state)
    }
}

/// Borrowed inputs, row-major: u, delta: [batch, len, channels]; a: [channels, state];
/// b, c: [batch, len, state]; d, delta_bias: [channels].
#[derive(Debug, Clone, Copy)]
pub struct ScanInputs<'a> {
    /// Input sequence `[batch, len, channels]`.
    pub u: &'a [f32],
    /// Step sizes before softplus `[batch, len, channels]`.
    pub delta: &'a [f32],
    /// State matrix (usually negative) `[channels, state]`.
    pub a: &'a [f32],
    /// Input projection `[batch, len, state]`.
    pub b: &'a [f32],
    /// Output projection `[batch, len, state]`.
    pub c: &'a [f32],
    /// Skip connection `[channels]`.
    pub d: &'a [f32],
    /// Bias added to `delta` before softplus `[channels]`.
    pub delta_bias: &'a [f32],
}

/// Gradients, same layouts as the inputs.
#[derive(Debug, Clone, PartialEq)]
pub struct ScanGrads {
    /// Gradient of `u`, `[batch, len, channels]`.
    pub du: Vec<f32>,
    /// Gradient of `delta`, `[batch, len, channels]`.
    pub ddelta: Vec<f32>,
    /// Gradient of `a`, `[channels, state]`.
    pub da: Vec<f32>,
    /// Gradient of `b`, `[batch, len, state]`.
    pub db: Vec<f32>,
    /// Gradient of `c`, `[batch, len, state]`.
    pub dc: Vec<f32>,
    /// Gradient of `d`, `[channels]`.
    pub dd: Vec<f32>,
    /// Gradient of `delta_bias`, `[channels]`.
    pub ddelta_bias: Vec<f32>,
}

/// A slice passed to a scan kernel does not match [`ScanDims`].
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ScanError {
    /// The named argument has the wrong number of elements.
    #[error("selective scan: `{name}` has {got} elements, expected {expected} ({shape})")]
    WrongLength {
        /// Argument name, e.g. `delta` or `last_state`.
        name: &'static str,
        /// Expected element count.
        expected: usize,
        /// Actual element count.
        got: usize,
        /// Expected shape in words, e.g. `[batch, len, channels]`.
        shape: &'static str,
    },
}

fn check_len(
    name: &'static str,
    got: usize,
    expected: usize,
    shape: &'static str,
) -> Result<(), ScanError> {
    if got == expected {
        Ok(())
    } else {
        Err(ScanError::WrongLength {
            name,
            expected,
            got,
            shape,
        })
    }
}

/// Checks the lengths of all inputs against `dims`.
pub fn validate(dims: &ScanDims, x: &ScanInputs) -> Result<(), ScanError> {
    let blc = dims.batch * dims.len * dims.channels;
    let bls = dims.batch * dims.len * dims.state;
    check_len("u", x.u.len(), blc, "[batch, len, channels]")?;
    check_len("delta", x.delta.len(), blc, "[batch, len, channels]")?;
    check_len(
        "a",
        x.a.len(),
        dims.channels * dims.state,
        "[channels, state]",
    )?;
    check_len("b", x.b.len(), bls, "[batch, len, state]")?;
    check_len("c", x.c.len(), bls, "[batch, len, state]")?;
    check_len("d", x.d.len(), dims.channels, "[channels]")?;
    check_len(
        "delta_bias",
        x.delta_bias.len(),
        dims.channels,
        "[channels]",
    )
}

/// Checks the output buffers of [`scan_forward`] (and the inputs) against `dims`.
pub fn validate_forward(
    dims: &ScanDims,
    x: &ScanInputs,
    y: &[f32],
    last_state: &[f32],
) -> Result<(), ScanError> {
    validate(dims, x)?;
    check_len(
        "y",
        y.len(),
        dims.batch * dims.len * dims.channels,
        "[batch, len, channels]",
    )?;
    check_len(
        "last_state",
        last_state.len(),
        dims.batch * dims.channels * dims.state,
        "[batch, channels, state]",
    )
}

/// Checks the upstream gradients of [`scan_backward`] (and the inputs) against `dims`.
pub fn validate_backward(
    dims: &ScanDims,
    x: &ScanInputs,
    dy: &[f32],
    d_last_state: Option<&[f32]>,
) -> Result<(), ScanError> {
    validate(dims, x)?;
    check_len(
        "dy",
        dy.len(),
        dims.batch * dims.len * dims.channels,
        "[batch, len, channels]",
    )?;
    if let Some(s) = d_last_state {
        check_len(
            "d_last_state",
            s.len(),
            dims.batch * dims.channels * dims.state,
            "[batch, channels, state]",
        )?;
    }
    Ok(())
}

/// `ln(1 + e^z)`, stable for large `z`.
#[inline]
fn softplus(z: f32) -> f32 {
    if z > 20.0 { z } else { z.exp().ln_1p() }
}

/// Plain sequential reference implementation (std `exp`, no blocking, no threads): the test oracle.
///
/// Same contract as [`scan_forward`], including panics on wrong slice lengths.
#[allow(clippy::needless_range_loop)] // indices mirror the formula
pub fn scan_forward_naive(dims: &ScanDims, x: &ScanInputs, y: &mut [f32], last_state: &mut [f32]) {
    if let Err(e) = validate_forward(dims, x, y, last_state) {
        panic!("scan_forward_naive: {e}");
    }
    let ScanDims {
        batch,
        len,
        channels,
        state,
    } = *dims;
    let mut h = vec![0.0f32; state];
    for bi in 0..batch {
        for k in 0..channels {
            h.iter_mut().for_each(|v| *v = 0.0);
            for t in 0..len {
                let i = (bi * len + t) * channels + k;
                let row = (bi * len + t) * state;
                let dt = softplus(x.delta[i] + x.delta_bias[k]);
                let mut acc = 0.0f32;
                for n in 0..state {
                    h[n] = (dt * x.a[k * state + n]).exp() * h[n] + dt * x.b[row + n] * x.u[i];
                    acc += x.c[row + n] * h[n];
                }
                y[i] = acc + x.d[k] * x.u[i];
            }
            last_state[(bi * channels + k) * state..][..state].copy_from_slice(&h);
        }
    }
}

/// How the work is cut into tasks; a function of [`ScanDims`] only (never of the thread count), so the
/// order of every floating-point reduction is fixed.
#[derive(Debug, Clone, Copy)]
struct Plan {
    /// Batch elements per chunk.
    chunk: usize,
    /// Number of batch chunks.
    nchunks: usize,
    /// Channels per block.
    block: usize,
    /// Number of channel blocks.
    nblocks: usize,
}

/// Channels processed together as one vector: each lane is one channel's own recurrence, so the
/// forward needs no sum across lanes and every [`SimdLevel`](super::SimdLevel) does the same
/// operations in the same order (16 lanes are one 512-bit vector or two 256-bit ones).
const W: usize = 16;
/// One value per channel of a group of [`W`] channels.
type Lanes = [f32; W];

/// Aim for at least this many tasks so that rayon can balance the load.
const TARGET_TASKS: usize = 64;

impl Plan {
    /// Runs `task` for every task of the plan on rayon's threads, several tasks per thread
    /// hand-off where they are small (see [`min_tasks_per_piece`]; value x state updates count as
    /// the work).
    fn for_each_task(&self, dims: &ScanDims, task: impl Fn(usize) + Sync + Send) {
        let tasks = self.nchunks * self.nblocks;
        let work_per_task = dims.batch * dims.len * dims.channels * dims.state / tasks.max(1);
        (0..tasks)
            .into_par_iter()
            .with_min_len(min_tasks_per_piece(work_per_task))
            .for_each(task);
    }

    fn new(dims: &ScanDims) -> Self {
        let nchunks = dims.batch.clamp(1, TARGET_TASKS);
        let chunk = dims.batch.div_ceil(nchunks).max(1);
        let nchunks = dims.batch.div_ceil(chunk).max(1);
        let want_blocks = TARGET_TASKS.div_ceil(nchunks);
        let max_blocks = dims.channels.div_ceil(W).max(1);
        // Whole channel groups per block.
        let block = dims.channels.div_ceil(want_blocks.min(max_blocks)).max(1);
        let block = block.div_ceil(W) * W;
        let nblocks = dims.channels.div_ceil(block).max(1);
        Plan {
            chunk,
            nchunks,
            block,
            nblocks,
        }
    }

    /// Batch range and channel range of task `task`.
    fn ranges(
        &self,
        dims: &ScanDims,
        task: usize,
    ) -> (std::ops::Range<usize>, std::ops::Range<usize>) {
        let (ci, bi) = (task / self.nblocks, task % self.nblocks);
        let b0 = ci * self.chunk;
        let k0 = bi * self.block;
        (
            b0..(b0 + self.chunk).min(dims.batch),
            k0..(k0 + self.block).min(dims.channels),
        )
    }
}

/// A raw pointer to an output buffer that tasks write at disjoint indices. The buffer may start
/// uninitialised (the outputs are allocated without zero-filling): tasks only write to it.
#[derive(Clone, Copy)]
struct SharedOut {
    ptr: *mut f32,
    len: usize,
}

// SAFETY: every task writes a set of indices disjoint from all other tasks' (see the callers), and the
// buffer outlives the parallel region that uses it.
unsafe impl Send for SharedOut {}
unsafe impl Sync for SharedOut {}

impl SharedOut {
    fn new(buf: &mut [MaybeUninit<f32>]) -> Self {
        SharedOut {
            ptr: buf.as_mut_ptr().cast(),
            len: buf.len(),
        }
    }

    /// A mutable view of `start..start + n`, to be written.
    ///
    /// # Safety
    /// No other task may access that range while the returned slice lives.
    #[allow(clippy::mut_from_ref)]
    unsafe fn slice(&self, start: usize, n: usize) -> &mut [MaybeUninit<f32>] {
        assert!(start + n <= self.len);
        // SAFETY: in bounds (checked above); exclusive by the caller's contract.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.add(start).cast(), n) }
    }
}

/// Writes `src` into `dst` (same length).
#[inline(always)]
fn write_all(dst: &mut [MaybeUninit<f32>], src: &[f32]) {
    for (d, &v) in dst.iter_mut().zip(src) {
        d.write(v);
    }
}

/// `fixed` when it is non-zero (a compile-time state size), else the run-time `len`.
#[inline(always)]
fn fixed_or(fixed: usize, len: usize) -> usize {
    if fixed == 0 { len } else { fixed }
}

/// `lanes[n][l] = rows[l * state + n]` for the `rows.len() / state` channels `l` of `rows`
/// (`[channel, state]` -> `[state]` lanes), one channel row at a time. (Building each lane
/// array with `std::array::from_fn` instead compiled to gathers and took a third of the backward.)
#[inline(always)]
fn transpose_into(lanes: &mut [Lanes], rows: &[f32], state: usize) {
    for (l, row) in rows.chunks_exact(state).enumerate() {
        for (n, &v) in row.iter().enumerate() {
            lanes[n][l] = v;
        }
    }
}

/// The inverse of [`transpose_into`]: `rows[l * state + n] = lanes[n][l]`.
#[inline(always)]
fn transpose_from(rows: &mut [MaybeUninit<f32>], lanes: &[Lanes], state: usize) {
    for (l, row) in rows.chunks_exact_mut(state).enumerate() {
        for (n, v) in row.iter_mut().enumerate() {
            v.write(lanes[n][l]);
        }
    }
}

/// The first `src.len()` (at most [`W`]) lanes from `src`, the rest zero.
#[inline(always)]
fn load(src: &[f32]) -> Lanes {
    if let Ok(full) = <&Lanes>::try_from(src) {
        // The common case, a whole group: one vector load instead of a copy of unknown length.
        return *full;
    }
    let mut v = [0.0; W];
    v[..src.len()].copy_from_slice(src);
    v
}

/// Writes the first `dst.len()` (at most [`W`]) lanes of `v` to `dst`.
#[inline(always)]
fn store(dst: &mut [MaybeUninit<f32>], v: &Lanes) {
    if let Ok(full) = <&mut [MaybeUninit<f32>; W]>::try_from(&mut *dst) {
        // The common case, a whole group: one vector store.
        *full = v.map(MaybeUninit::new);
        return;
    }
    let n = dst.len();
    write_all(dst, &v[..n]);
}

/// `f` applied lane by lane (a plain loop: `std::array::from_fn` compiles to one insert per lane).
#[inline(always)]
fn map2(a: &Lanes, b: &Lanes, f: impl Fn(f32, f32) -> f32) -> Lanes {
    let mut v = [0.0; W];
    for l in 0..W {
        v[l] = f(a[l], b[l]);
    }
    v
}

/// The channel group `k0..k0 + w` (`w <= W`) of a task, with its per-channel constants in lanes.
/// Padding lanes (`w..W`) hold zeros: `a = 0` keeps their state at zero, so they add nothing.
struct Group {
    /// First channel.
    k0: usize,
    /// Channels in the group.
    w: usize,
    /// `a` transposed, `[state]` lanes.
    a: Vec<Lanes>,
    /// Skip weights.
    d: Lanes,
    /// Step-size biases.
    bias: Lanes,
}

impl Group {
    /// The groups of [`W`] channels of `channels` (the last one may be narrower).
    fn all(x: &ScanInputs, state: usize, channels: std::ops::Range<usize>) -> Vec<Group> {
        channels
            .clone()
            .step_by(W)
            .map(|k0| {
                let w = W.min(channels.end - k0);
                let mut a = vec![[0.0; W]; state];
                transpose_into(&mut a, &x.a[k0 * state..(k0 + w) * state], state);
                Group {
                    k0,
                    w,
                    a,
                    d: load(&x.d[k0..k0 + w]),
                    bias: load(&x.delta_bias[k0..k0 + w]),
                }
            })
            .collect()
    }
}

/// One token of a channel group: its inputs and step sizes.
struct Token {
    /// `u`.
    u: Lanes,
    /// `dt = softplus(delta + bias)`.
    dt: Lanes,
    /// `sigmoid(delta + bias)`, the slope of the softplus.
    slope: Lanes,
    /// `dt * u`.
    dtu: Lanes,
}

impl Token {
    /// Token `i` (flat index of its first channel in `[batch, len, channels]`) of group `g`.
    /// Also prefetches the same token of the next channel group.
    #[inline(always)]
    fn read(x: &ScanInputs, g: &Group, i: usize) -> Token {
        prefetch(x.u.as_ptr(), i + W);
        prefetch(x.delta.as_ptr(), i + W);
        let u = load(&x.u[i..i + g.w]);
        let z = load(&x.delta[i..i + g.w]);
        let mut dt = [0.0; W];
        let mut slope = [0.0; W];
        for l in 0..W {
            let (softplus, sigmoid) = softplus_sigmoid(z[l] + g.bias[l]);
            dt[l] = softplus;
            slope[l] = sigmoid;
        }
        Token {
            u,
            dtu: map2(&dt, &u, |a, b| a * b),
            dt,
            slope,
        }
    }
}

/// One state row of one forward step: `h = exp(dt a) h + dt u b`; returns `exp(dt a)`.
#[inline(always)]
fn advance(h: &mut Lanes, a: &Lanes, tok: &Token, b: f32) -> Lanes {
    let mut decay = [0.0; W];
    for l in 0..W {
        decay[l] = fast_exp_nonpositive(tok.dt[l] * a[l]);
        h[l] = decay[l].mul_add(h[l], tok.dtu[l] * b);
    }
    decay
}

/// Everything one forward task needs.
#[derive(Clone, Copy)]
struct ForwardJob<'a> {
    dims: &'a ScanDims,
    x: &'a ScanInputs<'a>,
    plan: Plan,
    y_out: SharedOut,
    s_out: SharedOut,
}

impl ForwardJob<'_> {
    /// Runs task `task` with the state size known at compile time when it is 8, 16 or 32.
    #[inline(always)]
    fn run_any(self, task: usize) {
        match self.dims.state {
            8 => self.run::<8>(task),
            16 => self.run::<16>(task),
            32 => self.run::<32>(task),
            _ => self.run::<0>(task),
        }
    }

    /// Runs task `task`: the scan of its batch chunk and channel block, one group of [`W`]
    /// channels at a time. `S` is the state size, or 0 for "take it from `dims`".
    #[inline(always)]
    fn run<const S: usize>(self, task: usize) {
        let ForwardJob {
            dims,
            x,
            plan,
            y_out,
            s_out,
        } = self;
        let ScanDims { len, channels, .. } = *dims;
        let state = fixed_or(S, dims.state);
        let (brange, krange) = plan.ranges(dims, task);
        let groups = Group::all(x, state, krange);
        let mut h = vec![[0.0f32; W]; state];
        for bi in brange {
            for g in &groups {
                h.iter_mut().for_each(|v| *v = [0.0; W]);
                for t in 0..len {
                    let i = (bi * len + t) * channels + g.k0;
                    let row = (bi * len + t) * state;
                    let tok = Token::read(x, g, i);
                    let mut y = map2(&g.d, &tok.u, |d, u| d * u);
                    let (b, c) = (&x.b[row..row + state], &x.c[row..row + state]);
                    for (hn, ((an, &bn), &cn)) in
                        h[..state].iter_mut().zip(g.a.iter().zip(b).zip(c))
                    {
                        advance(hn, an, &tok, bn);
                        for l in 0..W {
                            y[l] = cn.mul_add(hn[l], y[l]);
                        }
                    }
                    prefetch(y_out.ptr, i + W);
                    // SAFETY: (bi, t, channels of g) belong to this task only.
                    store(unsafe { y_out.slice(i, g.w) }, &y);
                }
                // SAFETY: rows (bi, channels of g) of last_state belong to this task only.
                let dst = unsafe { s_out.slice((bi * channels + g.k0) * state, g.w * state) };
                transpose_from(dst, &h, state);
            }
        }
    }
}

/// Everything one backward task needs.
#[derive(Clone, Copy)]
struct BackwardJob<'a> {
    dims: &'a ScanDims,
    x: &'a ScanInputs<'a>,
    plan: Plan,
    dy: &'a [f32],
    d_last_state: Option<&'a [f32]>,
    split: bool,
    du_out: SharedOut,
    ddelta_out: SharedOut,
    db_out: SharedOut,
    dc_out: SharedOut,
    da_out: SharedOut,
    dd_out: SharedOut,
    dbias_out: SharedOut,
}

/// A backward task's buffers for one channel group of one sequence, `[len, state]` lanes each.
struct History {
    /// States after each step.
    h: Vec<Lanes>,
    /// `exp(dt a)` of each step.
    decay: Vec<Lanes>,
}

impl BackwardJob<'_> {
    /// Runs task `task` with the state size known at compile time when it is 8, 16 or 32.
    #[inline(always)]
    fn run_any(self, task: usize) {
        match self.dims.state {
            8 => self.run::<8>(task),
            16 => self.run::<16>(task),
            32 => self.run::<32>(task),
            _ => self.run::<0>(task),
        }
    }

    /// Runs task `task`: for each sequence of its batch chunk and each channel group of its block,
    /// recompute the forward states, then the reverse pass. `S` is the state size, or 0 for "take
    /// it from `dims`".
    #[inline(always)]
    fn run<const S: usize>(self, task: usize) {
        let BackwardJob {
            dims,
            x,
            plan,
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
        } = self;
        let ScanDims {
            batch,
            len,
            channels,
            ..
        } = *dims;
        let state = fixed_or(S, dims.state);
        let bls = batch * len * state;
        let (ci, blk) = (task / plan.nblocks, task % plan.nblocks);
        let (brange, krange) = plan.ranges(dims, task);
        let groups = Group::all(x, state, krange.clone());
        let mut hist = History {
            h: vec![[0.0; W]; len * state],
            decay: vec![[0.0; W]; len * state],
        };
        let mut toks = Vec::with_capacity(len);
        let mut g = vec![[0.0f32; W]; state];
        let zero_row = vec![[0.0f32; W]; state];
        // Per-lane sums over this task's channel groups of the b and c gradients, `[len, state]`.
        let mut db_lanes = vec![[0.0f32; W]; len * state];
        let mut dc_lanes = vec![[0.0f32; W]; len * state];
        // Per-lane sums over this task's sequences: da `[group, state]`, dd and dbias `[group]`.
        let mut da = vec![[0.0f32; W]; groups.len() * state];
        let mut dd = vec![[0.0f32; W]; groups.len()];
        let mut dbias = vec![[0.0f32; W]; groups.len()];
        let zero = [0.0f32; W];
        for bi in brange {
            db_lanes.iter_mut().for_each(|v| *v = zero);
            dc_lanes.iter_mut().for_each(|v| *v = zero);
            for (gi, grp) in groups.iter().enumerate() {
                // Recompute the forward states.
                toks.clear();
                for t in 0..len {
                    let i = (bi * len + t) * channels + grp.k0;
                    let row = (bi * len + t) * state;
                    let tok = Token::read(x, grp, i);
                    for n in 0..state {
                        let mut h = if t == 0 {
                            zero
                        } else {
                            hist.h[(t - 1) * state + n]
                        };
                        hist.decay[t * state + n] = advance(&mut h, &grp.a[n], &tok, x.b[row + n]);
                        hist.h[t * state + n] = h;
                    }
                    toks.push(tok);
                }
                // Reverse pass; g holds dL/dh of the step after the current one.
                g.iter_mut().for_each(|v| *v = zero);
                if let Some(dls) = d_last_state {
                    let rows = &dls[(bi * channels + grp.k0) * state..][..grp.w * state];
                    transpose_into(&mut g, rows, state);
                }
                for t in (0..len).rev() {
                    let i = (bi * len + t) * channels + grp.k0;
                    let row = (bi * len + t) * state;
                    let tok = &toks[t];
                    let dyv = load(&dy[i..i + grp.w]);
                    for buf in [dy.as_ptr(), du_out.ptr, ddelta_out.ptr] {
                        prefetch(buf, i + W);
                    }
                    let mut sum_dt = zero;
                    let mut sum_gb = zero;
                    let h_prev_row = if t == 0 {
                        &zero_row[..]
                    } else {
                        &hist.h[(t - 1) * state..][..state]
                    };
                    let h_row = &hist.h[t * state..][..state];
                    let decay_row = &hist.decay[t * state..][..state];
                    let (b_row, c_row) = (&x.b[row..][..state], &x.c[row..][..state]);
                    let da_row = &mut da[gi * state..][..state];
                    let db_row = &mut db_lanes[t * state..][..state];
                    let dc_row = &mut dc_lanes[t * state..][..state];
                    for n in 0..state {
                        // Every operand copied into locals first and written back whole: with
                        // the accumulators updated in place, the compiler could not rule out
                        // aliasing between them and versioned the loop with run-time checks.
                        let (b, c) = (b_row[n], c_row[n]);
                        let (h_cur, h_prev, decay, a) =
                            (h_row[n], h_prev_row[n], decay_row[n], grp.a[n]);
                        let (mut gn, mut dan, mut dbn, mut dcn) =
                            (g[n], da_row[n], db_row[n], dc_row[n]);
                        for l in 0..W {
                            let gl = dyv[l].mul_add(c, gn[l]);
                            dcn[l] = dyv[l].mul_add(h_cur[l], dcn[l]);
                            let gh = gl * h_prev[l] * decay[l];
                            sum_dt[l] = gh.mul_add(a[l], sum_dt[l]);
                            dan[l] = gh.mul_add(tok.dt[l], dan[l]);
                            dbn[l] = gl.mul_add(tok.dtu[l], dbn[l]);
                            sum_gb[l] = gl.mul_add(b, sum_gb[l]);
                            gn[l] = gl * decay[l];
                        }
                        (g[n], da_row[n], db_row[n], dc_row[n]) = (gn, dan, dbn, dcn);
                    }
                    let mut du = [0.0; W];
                    let mut ddelta = [0.0; W];
                    for l in 0..W {
                        du[l] = dyv[l] * grp.d[l] + tok.dt[l] * sum_gb[l];
                        ddelta[l] = (sum_dt[l] + tok.u[l] * sum_gb[l]) * tok.slope[l];
                        dd[gi][l] += dyv[l] * tok.u[l];
                        dbias[gi][l] += ddelta[l];
                    }
                    // SAFETY: (bi, t, channels of grp) belong to this task only.
                    unsafe {
                        store(du_out.slice(i, grp.w), &du);
                        store(ddelta_out.slice(i, grp.w), &ddelta);
                    }
                }
            }
            let off = if split { blk * bls } else { 0 } + bi * len * state;
            // SAFETY: block blk's partial rows of batch element bi belong to this task only.
            let db_rows = unsafe { db_out.slice(off, len * state) };
            let dc_rows = unsafe { dc_out.slice(off, len * state) };
            for (dst, lanes) in db_rows.iter_mut().zip(&db_lanes) {
                dst.write(lane_sum(lanes));
            }
            for (dst, lanes) in dc_rows.iter_mut().zip(&dc_lanes) {
                dst.write(lane_sum(lanes));
            }
        }
        for (gi, grp) in groups.iter().enumerate() {
            let k = ci * channels + grp.k0;
            // SAFETY: chunk ci's rows for this task's channels belong to this task only.
            let (da_rows, dd_row, dbias_row) = unsafe {
                (
                    da_out.slice(k * state, grp.w * state),
                    dd_out.slice(k, grp.w),
                    dbias_out.slice(k, grp.w),
                )
            };
            transpose_from(da_rows, &da[gi * state..(gi + 1) * state], state);
            write_all(dd_row, &dd[gi][..grp.w]);
            write_all(dbias_row, &dbias[gi][..grp.w]);
        }
    }
}

/// Task `.1` of a forward job.
impl SimdKernel for (ForwardJob<'_>, usize) {
    type Output = ();
    #[inline(always)]
    fn run(self) {
        self.0.run_any(self.1)
    }
}

/// Task `.1` of a backward job.
impl SimdKernel for (BackwardJob<'_>, usize) {
    type Output = ();
    #[inline(always)]
    fn run(self) {
        self.0.run_any(self.1)
    }
}

/// Fused parallel forward. Writes `y` `[batch, len, channels]` and `last_state` `[batch, channels,
/// state]` (the state after the last step). Panics with a [`ScanError`] message on wrong slice lengths.
pub fn scan_forward(dims: &ScanDims, x: &ScanInputs, y: &mut [f32], last_state: &mut [f32]) {
    if let Err(e) = validate_forward(dims, x, y, last_state) {
        panic!("scan_forward: {e}");
    }
    forward_into(dims, x, as_uninit(y), as_uninit(last_state));
}

/// [`scan_forward`] into one new vector: `y` followed by the last state (the layout of the
/// autodiff operation's packed output), allocated without zero-filling.
pub fn scan_forward_packed(dims: &ScanDims, x: &ScanInputs) -> Vec<f32> {
    if let Err(e) = validate(dims, x) {
        panic!("scan_forward: {e}");
    }
    let blc = dims.batch * dims.len * dims.channels;
    // SAFETY: `forward_into` writes every value of `y` and of the last state.
    unsafe {
        filled_vec(dims.packed_len(), |out| {
            let (y, last) = out.split_at_mut(blc);
            forward_into(dims, x, y, last)
        })
    }
}

/// The forward on validated inputs and output buffers of the right lengths; writes every value
/// of both outputs.
fn forward_into(
    dims: &ScanDims,
    x: &ScanInputs,
    y: &mut [MaybeUninit<f32>],
    last_state: &mut [MaybeUninit<f32>],
) {
    if dims.batch == 0 || dims.channels == 0 {
        return;
    }
    let plan = Plan::new(dims);
    let y_out = SharedOut::new(y);
    let s_out = SharedOut::new(last_state);
    let job = ForwardJob {
        dims,
        x,
        plan,
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
    let ScanDims {
        batch,
        len,
        channels,
        state,
    } = *dims;
    let blc = batch * len * channels;
    let bls = batch * len * state;
    if batch == 0 || channels == 0 {
        return ScanGrads {
            du: vec![0.0; blc],
            ddelta: vec![0.0; blc],
            da: vec![0.0; channels * state],
            db: vec![0.0; bls],
            dc: vec![0.0; bls],
            dd: vec![0.0; channels],
            ddelta_bias: vec![0.0; channels],
        };
    }
    let plan = Plan::new(dims);
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
    {
        let du_out = SharedOut::new(&mut du.spare_capacity_mut()[..blc]);
        let ddelta_out = SharedOut::new(&mut ddelta.spare_capacity_mut()[..blc]);
        let db_out = SharedOut::new(&mut db_rows.spare_capacity_mut()[..db_len]);
        let dc_out = SharedOut::new(&mut dc_rows.spare_capacity_mut()[..db_len]);
        let da_out = SharedOut::new(as_uninit(&mut da_part));
        let dd_out = SharedOut::new(as_uninit(&mut dd_part));
        let dbias_out = SharedOut::new(as_uninit(&mut dbias_part));
        let job = BackwardJob {
            dims,
            x,
            plan,
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
    }
}

/// Deterministic pseudo-random inputs in realistic ranges (a xorshift generator, so no seed handling
/// needed by callers): `u, b, c` in [-1, 1), `delta` in [-3, 1), `a` in [-4, -0.1), `d`, `delta_bias`
/// in [-0.5, 0.5).
#[derive(Debug, Clone)]
pub struct ScanData {
    /// `[batch, len, channels]`.
    pub u: Vec<f32>,
    /// `[batch, len, channels]`.
    pub delta: Vec<f32>,
    /// `[channels, state]`.
    pub a: Vec<f32>,
    /// `[batch, len, state]`.
    pub b: Vec<f32>,
    /// `[batch, len, state]`.
    pub c: Vec<f32>,
    /// `[channels]`.
    pub d: Vec<f32>,
    /// `[channels]`.
    pub delta_bias: Vec<f32>,
}

impl ScanData {
    /// Generates inputs for `dims` from `seed`.
    pub fn random(dims: &ScanDims, seed: u64) -> Self {
        let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        let mut draw = |n: usize, lo: f32, hi: f32| -> Vec<f32> {
            (0..n)
                .map(|_| {
                    s ^= s << 13;
                    s ^= s >> 7;
                    s ^= s << 17;
                    let unit = (s >> 40) as f32 / (1u64 << 24) as f32;
                    lo + (hi - lo) * unit
                })
                .collect()
        };
        let blc = dims.batch * dims.len * dims.channels;
        let bls = dims.batch * dims.len * dims.state;
        ScanData {
            u: draw(blc, -1.0, 1.0),
            delta: draw(blc, -3.0, 1.0),
            a: draw(dims.channels * dims.state, -4.0, -0.1),
            b: draw(bls, -1.0, 1.0),
            c: draw(bls, -1.0, 1.0),
            d: draw(dims.channels, -0.5, 0.5),
            delta_bias: draw(dims.channels, -0.5, 0.5),
        }
    }

    /// Borrows the data as kernel inputs.
    pub fn inputs(&self) -> ScanInputs<'_> {
        ScanInputs {
            u: &self.u,
            delta: &self.delta,
            a: &self.a,
            b: &self.b,
            c: &self.c,
            d: &self.d,
            delta_bias: &self.delta_bias,
        }
    }
}

/// Bytes the forward must move at least: every input read once and `y`, `last_state` written once.
pub fn forward_bytes(dims: &ScanDims) -> usize {
    let ScanDims {
        batch,
        len,
        channels,
        state,
    } = *dims;
    let floats = 2 * batch * len * channels // u, delta
        + channels * state // a
        + 2 * batch * len * state // b, c
        + 2 * channels // d, delta_bias
        + batch * len * channels // y
        + batch * channels * state; // last_state
    floats * 4
}

/// Bytes the backward must move at least: inputs, `dy` and `d_last_state` read once, every gradient
/// written once.
pub fn backward_bytes(dims: &ScanDims) -> usize {
    let ScanDims {
        batch,
        len,
        channels,
        state,
    } = *dims;
    let blc = batch * len * channels;
    let bls = batch * len * state;
    let inputs = 2 * blc + channels * state + 2 * bls + 2 * channels;
    let upstream = blc + batch * channels * state;
    let grads = 2 * blc + channels * state + 2 * bls + 2 * channels;
    (inputs + upstream + grads) * 4
}

/// Achieved bandwidth in GB/s (1e9 bytes per second) of moving `bytes` in `ms` milliseconds.
pub fn achieved_gbps(bytes: usize, ms: f64) -> f64 {
    if ms <= 0.0 {
        return 0.0;
    }
    bytes as f64 / (ms * 1e-3) / 1e9
}

/// Times [`scan_forward`] and [`scan_backward`] (with `d_last_state`) on random inputs in the current
/// rayon pool: one warm-up call each, then the mean of `reps` calls. Returns `(fwd_ms, bwd_ms)`.
pub fn bench(dims: &ScanDims, reps: usize) -> (f64, f64) {
    let data = ScanData::random(dims, 7);
    let x = data.inputs();
    let mut y = vec![0.0f32; dims.batch * dims.len * dims.channels];
    let mut last = vec![0.0f32; dims.batch * dims.channels * dims.state];
    let dy = ScanData::random(dims, 8).u;
    let reps = reps.max(1);
    scan_forward(dims, &x, &mut y, &mut last);
    let start = Instant::now();
    for _ in 0..reps {
        scan_forward(dims, &x, &mut y, &mut last);
    }
    let fwd_ms = start.elapsed().as_secs_f64() * 1e3 / reps as f64;
    let dlast = last.clone();
    let mut sink = scan_backward(dims, &x, &dy, Some(&dlast)).da[0];
    let start = Instant::now();
    for _ in 0..reps {
        sink += scan_backward(dims, &x, &dy, Some(&dlast)).da[0];
    }
    let bwd_ms = start.elapsed().as_secs_f64() * 1e3 / reps as f64;
    std::hint::black_box(sink);
    (fwd_ms, bwd_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_covers_all_work_once() {
        for &(batch, channels) in &[(1, 1), (1, 512), (3, 7), (8, 512), (1024, 512), (65, 33)] {
            let dims = ScanDims {
                batch,
                len: 3,
                channels,
                state: 4,
            };
            let plan = Plan::new(&dims);
            let mut seen = vec![0u32; batch * channels];
            for task in 0..plan.nchunks * plan.nblocks {
                let (br, kr) = plan.ranges(&dims, task);
                for b in br {
                    for k in kr.clone() {
                        seen[b * channels + k] += 1;
                    }
                }
            }
            assert!(seen.iter().all(|&n| n == 1), "{dims:?} {plan:?}");
        }
    }

    #[test]
    fn softplus_matches_definition() {
        for &z in &[-30.0f32, -2.0, 0.0, 0.5, 19.0, 25.0] {
            let sp = (z as f64).exp().ln_1p();
            assert!(
                (softplus(z) as f64 - sp).abs() <= 1e-6 * sp.max(1e-30),
                "{z}"
            );
        }
    }
}
