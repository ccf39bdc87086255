//! The work plan and the lane helpers shared by the forward and backward kernels: groups of
//! [`W`] channels, one channel per vector lane.

use super::*;

/// How the work is cut into tasks; a function of [`ScanDims`] only (never of the thread count), so the
/// order of every floating-point reduction is fixed.
#[derive(Debug, Clone, Copy)]
pub(super) struct Plan {
    /// Batch elements per chunk.
    pub(super) chunk: usize,
    /// Number of batch chunks.
    pub(super) nchunks: usize,
    /// Channels per block.
    pub(super) block: usize,
    /// Number of channel blocks.
    pub(super) nblocks: usize,
}

/// Channels processed together as one vector: each lane is one channel's own recurrence, so the
/// forward needs no sum across lanes and every [`SimdLevel`](super::SimdLevel) does the same
/// operations in the same order (16 lanes are one 512-bit vector or two 256-bit ones).
pub(super) const W: usize = 16;
/// One value per channel of a group of [`W`] channels.
pub(super) type Lanes = [f32; W];

/// Aim for at least this many tasks so that rayon can balance the load.
pub(super) const TARGET_TASKS: usize = 64;
/// The forward's target: fewer, larger tasks, so that a task holds the four channel groups that
/// [`ForwardJob::run`](super::forward::ForwardJob::run) runs side by side where there are four
/// (at 16 sequences of 64 channels, the acting batch of the fast recipes, its scan took 0.053 ms
/// in 64 tasks of one group and 0.041 ms in 16 of four). Its results do not depend on the plan:
/// no value is summed across tasks.
pub(super) const FORWARD_TARGET_TASKS: usize = 16;

impl Plan {
    /// Runs `task` for every task of the plan on rayon's threads, several tasks per thread
    /// hand-off where they are small (see [`min_tasks_per_piece`]; value x state updates count as
    /// the work).
    pub(super) fn for_each_task(&self, dims: &ScanDims, task: impl Fn(usize) + Sync + Send) {
        let tasks = self.nchunks * self.nblocks;
        let work_per_task = dims.batch * dims.len * dims.channels * dims.state / tasks.max(1);
        (0..tasks)
            .into_par_iter()
            .with_min_len(min_tasks_per_piece(work_per_task))
            .for_each(task);
    }

    pub(super) fn new(dims: &ScanDims) -> Self {
        Self::with_target(dims, TARGET_TASKS)
    }

    /// A plan of about `target` tasks.
    pub(super) fn with_target(dims: &ScanDims, target: usize) -> Self {
        let nchunks = dims.batch.clamp(1, target);
        let chunk = dims.batch.div_ceil(nchunks).max(1);
        let nchunks = dims.batch.div_ceil(chunk).max(1);
        let want_blocks = target.div_ceil(nchunks);
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
    pub(super) fn ranges(
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
pub(super) struct SharedOut {
    pub(super) ptr: *mut f32,
    pub(super) len: usize,
}

// SAFETY: every task writes a set of indices disjoint from all other tasks' (see the callers), and the
// buffer outlives the parallel region that uses it.
unsafe impl Send for SharedOut {}
unsafe impl Sync for SharedOut {}

impl SharedOut {
    pub(super) fn new(buf: &mut [MaybeUninit<f32>]) -> Self {
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
    pub(super) unsafe fn slice(&self, start: usize, n: usize) -> &mut [MaybeUninit<f32>] {
        assert!(start + n <= self.len);
        // SAFETY: in bounds (checked above); exclusive by the caller's contract.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.add(start).cast(), n) }
    }
}

/// Writes `src` into `dst` (same length).
#[inline(always)]
pub(super) fn write_all(dst: &mut [MaybeUninit<f32>], src: &[f32]) {
    for (d, &v) in dst.iter_mut().zip(src) {
        d.write(v);
    }
}

/// `fixed` when it is non-zero (a compile-time state size), else the run-time `len`.
#[inline(always)]
pub(super) fn fixed_or(fixed: usize, len: usize) -> usize {
    if fixed == 0 { len } else { fixed }
}

/// `lanes[n][l] = rows[l * state + n]` for the `rows.len() / state` channels `l` of `rows`
/// (`[channel, state]` -> `[state]` lanes), one channel row at a time. (Building each lane
/// array with `std::array::from_fn` instead compiled to gathers and took a third of the backward.)
#[inline(always)]
pub(super) fn transpose_into(lanes: &mut [Lanes], rows: &[f32], state: usize) {
    for (l, row) in rows.chunks_exact(state).enumerate() {
        for (n, &v) in row.iter().enumerate() {
            lanes[n][l] = v;
        }
    }
}

/// The inverse of [`transpose_into`]: `rows[l * state + n] = lanes[n][l]`.
#[inline(always)]
pub(super) fn transpose_from(rows: &mut [MaybeUninit<f32>], lanes: &[Lanes], state: usize) {
    for (l, row) in rows.chunks_exact_mut(state).enumerate() {
        for (n, v) in row.iter_mut().enumerate() {
            v.write(lanes[n][l]);
        }
    }
}

/// The first `src.len()` (at most [`W`]) lanes from `src`, the rest zero.
#[inline(always)]
pub(super) fn load(src: &[f32]) -> Lanes {
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
pub(super) fn store(dst: &mut [MaybeUninit<f32>], v: &Lanes) {
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
pub(super) fn map2(a: &Lanes, b: &Lanes, f: impl Fn(f32, f32) -> f32) -> Lanes {
    let mut v = [0.0; W];
    for l in 0..W {
        v[l] = f(a[l], b[l]);
    }
    v
}

/// The channel group `k0..k0 + w` (`w <= W`) of a task, with its per-channel constants in lanes.
/// Padding lanes (`w..W`) hold zeros: `a = 0` keeps their state at zero, so they add nothing.
pub(super) struct Group {
    /// First channel.
    pub(super) k0: usize,
    /// Channels in the group.
    pub(super) w: usize,
    /// `a` transposed, `[state]` lanes.
    pub(super) a: Vec<Lanes>,
    /// Skip weights.
    pub(super) d: Lanes,
    /// Step-size biases.
    pub(super) bias: Lanes,
}

impl Group {
    /// The groups of [`W`] channels of all `x.d.len()` channels (the last one may be narrower),
    /// made once per call and shared by its tasks.
    pub(super) fn all(x: &ScanInputs, state: usize) -> Vec<Group> {
        let channels = x.d.len();
        (0..channels)
            .step_by(W)
            .map(|k0| {
                let w = W.min(channels - k0);
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

    /// The groups of a task's channel block `block` among `all` (every group of the call, from
    /// channel 0): blocks start at a multiple of [`W`] channels.
    pub(super) fn of_block(all: &[Group], block: std::ops::Range<usize>) -> &[Group] {
        &all[block.start / W..block.end.div_ceil(W)]
    }
}

/// One token of a channel group: its inputs and step sizes.
pub(super) struct Token {
    /// `u`.
    pub(super) u: Lanes,
    /// `dt = softplus(delta + bias)`.
    pub(super) dt: Lanes,
    /// `sigmoid(delta + bias)`, the slope of the softplus.
    pub(super) slope: Lanes,
    /// `dt * u`.
    pub(super) dtu: Lanes,
}

impl Token {
    /// Token `i` (flat index of its first channel in `[batch, len, channels]`) of group `g`.
    /// Also prefetches the same token of the next channel group.
    #[inline(always)]
    pub(super) fn read(x: &ScanInputs, g: &Group, i: usize) -> Token {
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

/// `h` (lanes `[state]`) set to sequence `bi`'s initial state of group `g`: `x.h0`'s rows, or
/// zero. Padding lanes stay zero.
#[inline(always)]
pub(super) fn initial_state(
    h: &mut [Lanes],
    x: &ScanInputs,
    (bi, g): (usize, &Group),
    (channels, state): (usize, usize),
) {
    h.iter_mut().for_each(|v| *v = [0.0; W]);
    if let Some(h0) = x.h0 {
        transpose_nonzero_into(
            h,
            &h0[(bi * channels + g.k0) * state..][..g.w * state],
            state,
        );
    }
}

/// [`transpose_into`] for `lanes` already zero: skipped when every value of `rows` is +0.0
/// (checked bit for bit, so a -0.0 is still copied), as the initial states and last-state
/// gradients of training are: the check reads the rows as whole vectors where the transpose
/// moves one value at a time.
#[inline(always)]
pub(super) fn transpose_nonzero_into(lanes: &mut [Lanes], rows: &[f32], state: usize) {
    if rows.iter().any(|v| v.to_bits() != 0) {
        transpose_into(lanes, rows, state);
    }
}

/// Whether the state is zeroed before token `bt` (flat index `bi * len + t`).
#[inline(always)]
pub(super) fn resets_at(x: &ScanInputs, bt: usize) -> bool {
    x.reset.is_some_and(|r| r[bt] != 0.0)
}

/// One state row of one forward step: `h = exp(dt a) h + dt u b`; returns `exp(dt a)`.
#[inline(always)]
pub(super) fn advance(h: &mut Lanes, a: &Lanes, tok: &Token, b: f32) -> Lanes {
    let mut decay = [0.0; W];
    for l in 0..W {
        decay[l] = fast_exp_nonpositive(tok.dt[l] * a[l]);
        h[l] = decay[l].mul_add(h[l], tok.dtu[l] * b);
    }
    decay
}
