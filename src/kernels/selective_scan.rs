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
//! The fused kernels never materialise `[batch, len, channels, state]`: the forward keeps the state of a
//! block of channels in a small local buffer; the backward recomputes the states of a few channels of one
//! batch element into a `len x channels x state` buffer and runs the reverse pass over it.
//!
//! Work is split into tasks of (batch chunk, channel block) whose sizes depend on [`ScanDims`] only, and
//! every reduction (over channels for `db`/`dc`, over batch for `da`/`dd`/`ddelta_bias`) adds its partial
//! sums in a fixed order, so results are bitwise identical for any number of rayon threads.
//!
//! Slice lengths are checked up front: the public kernels panic with the [`ScanError`] message (naming
//! the argument) on a mismatch; call [`validate`] first to get a `Result` instead.

use rayon::prelude::*;
use std::time::Instant;
use thiserror::Error;

use super::fast_math::{fast_exp, softplus_sigmoid};
use super::{SimdKernel, run_simd, simd_level};

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

/// Aim for at least this many tasks so that rayon can balance the load.
const TARGET_TASKS: usize = 64;
/// Narrowest channel block worth its own task.
const MIN_BLOCK: usize = 8;
/// Channels whose state the forward keeps live at once (64 x 16 floats = 4 KiB).
const FWD_SUB: usize = 64;
/// Floats per recomputed-state buffer in the backward (128 KiB each; two of them per task).
const BWD_BUFFER_FLOATS: usize = 32 * 1024;

impl Plan {
    fn new(dims: &ScanDims) -> Self {
        let nchunks = dims.batch.clamp(1, TARGET_TASKS);
        let chunk = dims.batch.div_ceil(nchunks).max(1);
        let nchunks = dims.batch.div_ceil(chunk).max(1);
        let want_blocks = TARGET_TASKS.div_ceil(nchunks);
        let max_blocks = dims.channels.div_ceil(MIN_BLOCK).max(1);
        let block = dims.channels.div_ceil(want_blocks.min(max_blocks)).max(1);
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

/// A raw pointer to an output buffer that tasks write at disjoint indices.
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
    fn new(buf: &mut [f32]) -> Self {
        SharedOut {
            ptr: buf.as_mut_ptr(),
            len: buf.len(),
        }
    }

    /// Writes one element.
    ///
    /// # Safety
    /// No other task may access index `i` during the parallel region.
    #[inline(always)]
    unsafe fn write(self, i: usize, v: f32) {
        assert!(i < self.len);
        // SAFETY: in bounds (checked above); exclusive by the caller's contract.
        unsafe { *self.ptr.add(i) = v }
    }

    /// A mutable view of `start..start + n`.
    ///
    /// # Safety
    /// No other task may access that range while the returned slice lives.
    #[allow(clippy::mut_from_ref)]
    unsafe fn slice(&self, start: usize, n: usize) -> &mut [f32] {
        assert!(start + n <= self.len);
        // SAFETY: in bounds (checked above); exclusive by the caller's contract.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.add(start), n) }
    }
}

/// Lane accumulators per state chunk for a state size `S` (0: unknown until run time): 16 when it
/// divides the state (one 512-bit vector, or two 256-bit ones), else 8. It depends on the state size
/// only, never on the CPU, so every [`SimdLevel`](super::SimdLevel) sums in the same order.
const fn lanes_for(state: usize) -> usize {
    if state > 0 && state.is_multiple_of(16) {
        16
    } else {
        8
    }
}

/// `fixed` when it is non-zero (a compile-time state size), else the run-time `len`.
#[inline(always)]
fn fixed_or(fixed: usize, len: usize) -> usize {
    if fixed == 0 { len } else { fixed }
}

/// Sums lane accumulators in a fixed order: halves added pairwise until one value is left.
#[inline(always)]
fn lane_sum<const L: usize>(l: &[f32; L]) -> f32 {
    let mut v = *l;
    let mut width = L;
    while width > 1 {
        width /= 2;
        for i in 0..width {
            v[i] += v[i + width];
        }
    }
    v[0]
}

/// One forward step for one channel, state updated in place; returns `sum_n c[n] * h[n]`.
#[inline(always)]
fn step_in_place<const S: usize, const L: usize>(
    h: &mut [f32],
    a: &[f32],
    bt: &[f32],
    ct: &[f32],
    dt: f32,
    x: f32,
) -> f32 {
    let s = fixed_or(S, h.len());
    let (h, a, bt, ct) = (&mut h[..s], &a[..s], &bt[..s], &ct[..s]);
    let main = s - s % L;
    let mut lanes = [0.0f32; L];
    for j in (0..main).step_by(L) {
        let h8: &mut [f32; L] = (&mut h[j..j + L]).try_into().unwrap();
        let a8: &[f32; L] = a[j..j + L].try_into().unwrap();
        let b8: &[f32; L] = bt[j..j + L].try_into().unwrap();
        let c8: &[f32; L] = ct[j..j + L].try_into().unwrap();
        for l in 0..L {
            let v = fast_exp(dt * a8[l]) * h8[l] + x * b8[l];
            h8[l] = v;
            lanes[l] += c8[l] * v;
        }
    }
    let mut acc = lane_sum(&lanes);
    for n in main..s {
        let v = fast_exp(dt * a[n]) * h[n] + x * bt[n];
        h[n] = v;
        acc += ct[n] * v;
    }
    acc
}

/// One forward step for one channel that keeps history: `out = exp(dt a) * prev + x b`, `decay = exp(dt a)`.
#[inline(always)]
fn step_store<const S: usize>(
    prev: &[f32],
    out: &mut [f32],
    decay: &mut [f32],
    a: &[f32],
    bt: &[f32],
    dt: f32,
    x: f32,
) {
    let s = fixed_or(S, out.len());
    let (prev, out, decay, a, bt) = (
        &prev[..s],
        &mut out[..s],
        &mut decay[..s],
        &a[..s],
        &bt[..s],
    );
    for n in 0..s {
        let e = fast_exp(dt * a[n]);
        decay[n] = e;
        out[n] = e * prev[n] + x * bt[n];
    }
}

/// Per-channel, per-step data of the reverse pass.
struct ReverseStep<'a> {
    a: &'a [f32],
    bt: &'a [f32],
    ct: &'a [f32],
    h_prev: &'a [f32],
    h_cur: &'a [f32],
    decay: &'a [f32],
    dy: f32,
    dt: f32,
    u: f32,
}

/// One reverse step for one channel. `g` holds dL/dh_t from later steps on entry and dL/dh_{t-1} on
/// exit; accumulates into `dct`, `dbt` (this step's rows) and `da` (this channel's row). Returns
/// `(sum_n g h_prev decay a, sum_n g b)`.
#[inline(always)]
fn step_reverse<const S: usize, const L: usize>(
    s: &ReverseStep,
    g: &mut [f32],
    dct: &mut [f32],
    dbt: &mut [f32],
    da: &mut [f32],
) -> (f32, f32) {
    let n_state = fixed_or(S, g.len());
    let (g, dct, dbt, da) = (
        &mut g[..n_state],
        &mut dct[..n_state],
        &mut dbt[..n_state],
        &mut da[..n_state],
    );
    let main = n_state - n_state % L;
    let dtu = s.dt * s.u;
    let mut l_dt = [0.0f32; L];
    let mut l_gb = [0.0f32; L];
    for j in (0..main).step_by(L) {
        let g8: &mut [f32; L] = (&mut g[j..j + L]).try_into().unwrap();
        let dc8: &mut [f32; L] = (&mut dct[j..j + L]).try_into().unwrap();
        let db8: &mut [f32; L] = (&mut dbt[j..j + L]).try_into().unwrap();
        let da8: &mut [f32; L] = (&mut da[j..j + L]).try_into().unwrap();
        let a8: &[f32; L] = s.a[j..j + L].try_into().unwrap();
        let b8: &[f32; L] = s.bt[j..j + L].try_into().unwrap();
        let c8: &[f32; L] = s.ct[j..j + L].try_into().unwrap();
        let hp8: &[f32; L] = s.h_prev[j..j + L].try_into().unwrap();
        let hc8: &[f32; L] = s.h_cur[j..j + L].try_into().unwrap();
        let e8: &[f32; L] = s.decay[j..j + L].try_into().unwrap();
        for l in 0..L {
            let gn = g8[l] + s.dy * c8[l];
            dc8[l] += s.dy * hc8[l];
            let gh = gn * hp8[l] * e8[l];
            l_dt[l] += gh * a8[l];
            da8[l] += gh * s.dt;
            db8[l] += gn * dtu;
            l_gb[l] += gn * b8[l];
            g8[l] = gn * e8[l];
        }
    }
    let mut sum_dt = lane_sum(&l_dt);
    let mut sum_gb = lane_sum(&l_gb);
    for n in main..n_state {
        let gn = g[n] + s.dy * s.ct[n];
        dct[n] += s.dy * s.h_cur[n];
        let gh = gn * s.h_prev[n] * s.decay[n];
        sum_dt += gh * s.a[n];
        da[n] += gh * s.dt;
        dbt[n] += gn * dtu;
        sum_gb += gn * s.bt[n];
        g[n] = gn * s.decay[n];
    }
    (sum_dt, sum_gb)
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
            8 => self.run::<8, { lanes_for(8) }>(task),
            16 => self.run::<16, { lanes_for(16) }>(task),
            32 => self.run::<32, { lanes_for(32) }>(task),
            n if n.is_multiple_of(16) => self.run::<0, 16>(task),
            _ => self.run::<0, 8>(task),
        }
    }

    /// Runs task `task`: the scan of its batch chunk and channel block. `S` is the state size, or 0
    /// for "take it from `dims`"; `L` is [`lanes_for`] the state size.
    #[inline(always)]
    fn run<const S: usize, const L: usize>(self, task: usize) {
        let ForwardJob {
            dims,
            x,
            plan,
            y_out,
            s_out,
        } = self;
        let ScanDims {
            len,
            channels,
            state,
            ..
        } = *dims;
        let state = fixed_or(S, state);
        let (brange, krange) = plan.ranges(dims, task);
        let sub = FWD_SUB.min(krange.len());
        let mut h = vec![0.0f32; sub * state];
        let mut dt_row = vec![0.0f32; sub];
        for bi in brange {
            let mut s0 = krange.start;
            while s0 < krange.end {
                let sn = sub.min(krange.end - s0);
                h.iter_mut().for_each(|v| *v = 0.0);
                for t in 0..len {
                    let base = (bi * len + t) * channels;
                    let row = (bi * len + t) * state;
                    let bt = &x.b[row..row + state];
                    let ct = &x.c[row..row + state];
                    let zs = &x.delta[base + s0..base + s0 + sn];
                    let bias = &x.delta_bias[s0..s0 + sn];
                    for ((dt, &z), &bz) in dt_row.iter_mut().zip(zs).zip(bias) {
                        *dt = softplus_sigmoid(z + bz).0;
                    }
                    for kk in 0..sn {
                        let k = s0 + kk;
                        let i = base + k;
                        let uv = x.u[i];
                        let dt = dt_row[kk];
                        let acc = step_in_place::<S, L>(
                            &mut h[kk * state..(kk + 1) * state],
                            &x.a[k * state..(k + 1) * state],
                            bt,
                            ct,
                            dt,
                            dt * uv,
                        );
                        // SAFETY: (bi, t, k) belongs to this task only.
                        unsafe { y_out.write(i, acc + x.d[k] * uv) };
                    }
                }
                // SAFETY: rows (bi, s0..s0+sn) of last_state belong to this task only.
                let dst = unsafe { s_out.slice((bi * channels + s0) * state, sn * state) };
                dst.copy_from_slice(&h[..sn * state]);
                s0 += sn;
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

impl BackwardJob<'_> {
    /// Runs task `task` with the state size known at compile time when it is 8, 16 or 32.
    #[inline(always)]
    fn run_any(self, task: usize) {
        match self.dims.state {
            8 => self.run::<8, { lanes_for(8) }>(task),
            16 => self.run::<16, { lanes_for(16) }>(task),
            32 => self.run::<32, { lanes_for(32) }>(task),
            n if n.is_multiple_of(16) => self.run::<0, 16>(task),
            _ => self.run::<0, 8>(task),
        }
    }

    /// Runs task `task`: recompute and reverse pass of its batch chunk and channel block. `S` is the
    /// state size, or 0 for "take it from `dims`"; `L` is [`lanes_for`] the state size.
    #[inline(always)]
    fn run<const S: usize, const L: usize>(self, task: usize) {
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
            state,
        } = *dims;
        let state = fixed_or(S, state);
        let bls = batch * len * state;
        let (ci, blk) = (task / plan.nblocks, task % plan.nblocks);
        let (brange, krange) = plan.ranges(dims, task);
        let (k0, kn) = (krange.start, krange.len());
        let sub = (BWD_BUFFER_FLOATS / (len.max(1) * state.max(1))).clamp(1, kn);
        let mut hist = vec![0.0f32; len * sub * state];
        let mut decay = vec![0.0f32; len * sub * state];
        let mut dts = vec![0.0f32; len * sub];
        let mut sigs = vec![0.0f32; len * sub];
        let mut g = vec![0.0f32; sub * state];
        let zeros = vec![0.0f32; state];
        // SAFETY: chunk ci's rows for channels k0..k0+kn belong to this task only.
        let da_acc = unsafe { da_out.slice((ci * channels + k0) * state, kn * state) };
        let dd_acc = unsafe { dd_out.slice(ci * channels + k0, kn) };
        let dbias_acc = unsafe { dbias_out.slice(ci * channels + k0, kn) };
        for bi in brange {
            let off = if split { blk * bls } else { 0 } + bi * len * state;
            // SAFETY: block blk's partial rows of batch element bi belong to this task only.
            let db_rows = unsafe { db_out.slice(off, len * state) };
            let dc_rows = unsafe { dc_out.slice(off, len * state) };
            let mut s0 = k0;
            while s0 < krange.end {
                let sn = sub.min(krange.end - s0);
                // Recompute the forward states of channels s0..s0+sn.
                for t in 0..len {
                    let base = (bi * len + t) * channels;
                    let row = (bi * len + t) * state;
                    let bt = &x.b[row..row + state];
                    let (before, after) = hist.split_at_mut(t * sub * state);
                    let zs = &x.delta[base + s0..base + s0 + sn];
                    let bias = &x.delta_bias[s0..s0 + sn];
                    let dt_row = &mut dts[t * sub..t * sub + sn];
                    let sig_row = &mut sigs[t * sub..t * sub + sn];
                    for (((dt, sg), &z), &bz) in
                        dt_row.iter_mut().zip(sig_row.iter_mut()).zip(zs).zip(bias)
                    {
                        (*dt, *sg) = softplus_sigmoid(z + bz);
                    }
                    for kk in 0..sn {
                        let k = s0 + kk;
                        let i = base + k;
                        let dt = dts[t * sub + kk];
                        let prev = if t == 0 {
                            &zeros[..]
                        } else {
                            &before[((t - 1) * sub + kk) * state..][..state]
                        };
                        let at = (t * sub + kk) * state;
                        step_store::<S>(
                            prev,
                            &mut after[kk * state..(kk + 1) * state],
                            &mut decay[at..at + state],
                            &x.a[k * state..(k + 1) * state],
                            bt,
                            dt,
                            dt * x.u[i],
                        );
                    }
                }
                // Reverse pass.
                for kk in 0..sn {
                    let gk = &mut g[kk * state..(kk + 1) * state];
                    match d_last_state {
                        Some(dls) => {
                            gk.copy_from_slice(&dls[(bi * channels + s0 + kk) * state..][..state])
                        }
                        None => gk.iter_mut().for_each(|v| *v = 0.0),
                    }
                }
                for t in (0..len).rev() {
                    let base = (bi * len + t) * channels;
                    let row = (bi * len + t) * state;
                    let dct = &mut dc_rows[t * state..(t + 1) * state];
                    let dbt = &mut db_rows[t * state..(t + 1) * state];
                    for kk in 0..sn {
                        let k = s0 + kk;
                        let i = base + k;
                        let at = (t * sub + kk) * state;
                        let dt = dts[t * sub + kk];
                        let step = ReverseStep {
                            a: &x.a[k * state..(k + 1) * state],
                            bt: &x.b[row..row + state],
                            ct: &x.c[row..row + state],
                            h_prev: if t == 0 {
                                &zeros[..]
                            } else {
                                &hist[at - sub * state..][..state]
                            },
                            h_cur: &hist[at..at + state],
                            decay: &decay[at..at + state],
                            dy: dy[i],
                            dt,
                            u: x.u[i],
                        };
                        let kl = k - k0;
                        let (sum_dt, sum_gb) = step_reverse::<S, L>(
                            &step,
                            &mut g[kk * state..(kk + 1) * state],
                            dct,
                            dbt,
                            &mut da_acc[kl * state..(kl + 1) * state],
                        );
                        let d_dt = sum_dt + step.u * sum_gb;
                        let d_delta = d_dt * sigs[t * sub + kk];
                        // SAFETY: (bi, t, k) belongs to this task only.
                        unsafe {
                            du_out.write(i, step.dy * x.d[k] + dt * sum_gb);
                            ddelta_out.write(i, d_delta);
                        }
                        dd_acc[kl] += step.dy * step.u;
                        dbias_acc[kl] += d_delta;
                    }
                }
                s0 += sn;
            }
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
    (0..plan.nchunks * plan.nblocks)
        .into_par_iter()
        .for_each(|task| run_simd(simd, (job, task)));
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
    let mut grads = ScanGrads {
        du: vec![0.0; blc],
        ddelta: vec![0.0; blc],
        da: vec![0.0; channels * state],
        db: vec![0.0; bls],
        dc: vec![0.0; bls],
        dd: vec![0.0; channels],
        ddelta_bias: vec![0.0; channels],
    };
    if batch == 0 || channels == 0 {
        return grads;
    }
    let plan = Plan::new(dims);
    // Per-chunk partial sums over batch: [nchunks, channels, state] and [nchunks, channels].
    let mut da_part = vec![0.0f32; plan.nchunks * channels * state];
    let mut dd_part = vec![0.0f32; plan.nchunks * channels];
    let mut dbias_part = vec![0.0f32; plan.nchunks * channels];
    // Per-block partial sums over channels: [nblocks, batch, len, state]; with a single block the
    // task writes the final rows directly.
    let split = plan.nblocks > 1;
    let mut db_part = if split {
        vec![0.0f32; plan.nblocks * bls]
    } else {
        Vec::new()
    };
    let mut dc_part = if split {
        vec![0.0f32; plan.nblocks * bls]
    } else {
        Vec::new()
    };
    {
        let du_out = SharedOut::new(&mut grads.du);
        let ddelta_out = SharedOut::new(&mut grads.ddelta);
        let db_out = SharedOut::new(if split { &mut db_part } else { &mut grads.db });
        let dc_out = SharedOut::new(if split { &mut dc_part } else { &mut grads.dc });
        let da_out = SharedOut::new(&mut da_part);
        let dd_out = SharedOut::new(&mut dd_part);
        let dbias_out = SharedOut::new(&mut dbias_part);
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
        (0..plan.nchunks * plan.nblocks)
            .into_par_iter()
            .for_each(|task| run_simd(simd, (job, task)));
    }
    // Fixed-order reductions.
    sum_partials(&mut grads.da, &da_part);
    sum_partials(&mut grads.dd, &dd_part);
    sum_partials(&mut grads.ddelta_bias, &dbias_part);
    if split {
        sum_partials(&mut grads.db, &db_part);
        sum_partials(&mut grads.dc, &dc_part);
    }
    grads
}

/// `out[i] = sum_p parts[p * out.len() + i]`, summed in ascending `p` for every `i`.
fn sum_partials(out: &mut [f32], parts: &[f32]) {
    let n = out.len();
    if n == 0 {
        return;
    }
    const SPAN: usize = 4096;
    out.par_chunks_mut(SPAN).enumerate().for_each(|(ci, dst)| {
        let start = ci * SPAN;
        let width = dst.len();
        for part in parts.chunks_exact(n) {
            for (o, p) in dst.iter_mut().zip(&part[start..start + width]) {
                *o += *p;
            }
        }
    });
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

    #[test]
    fn sum_partials_adds_in_order() {
        let mut out = vec![0.0f32; 3];
        sum_partials(&mut out, &[1.0, 2.0, 3.0, 10.0, 20.0, 30.0]);
        assert_eq!(out, vec![11.0, 22.0, 33.0]);
    }
}
