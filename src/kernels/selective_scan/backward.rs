//! One backward task: recompute the group's states, then the reverse pass.

use super::*;

/// Everything one backward task needs.
#[derive(Clone, Copy)]
pub(super) struct BackwardJob<'a> {
    pub(super) dims: &'a ScanDims,
    pub(super) x: &'a ScanInputs<'a>,
    pub(super) plan: Plan,
    /// Every channel group of the call, made once ([`Group::all`]).
    pub(super) groups: &'a [Group],
    pub(super) dy: &'a [f32],
    pub(super) d_last_state: Option<&'a [f32]>,
    pub(super) split: bool,
    pub(super) du_out: SharedOut,
    pub(super) ddelta_out: SharedOut,
    pub(super) db_out: SharedOut,
    pub(super) dc_out: SharedOut,
    pub(super) da_out: SharedOut,
    pub(super) dd_out: SharedOut,
    pub(super) dbias_out: SharedOut,
    /// `dh0`'s buffer; `None` where the caller does not want it.
    pub(super) dh0_out: Option<SharedOut>,
}

impl BackwardJob<'_> {
    /// Runs task `task` with the state size known at compile time when it is 8, 16 or 32.
    #[inline(always)]
    pub(super) fn run_any(self, task: usize) {
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
    pub(super) fn run<const S: usize>(self, task: usize) {
        let BackwardJob {
            dims,
            x,
            plan,
            groups,
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
        let groups = Group::of_block(groups, krange.clone());
        // The recomputed forward of the (one or two) groups run side by side.
        // (The second only where the block has two groups: at a few sequences a task is one
        // group of one sequence, and zeroing a second buffer cost it 9%.)
        let second = if groups.len() > 1 { len } else { 0 };
        let mut pair = [Recomputed::new(len, state), Recomputed::new(second, state)];
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
            for (pi, grps) in groups.chunks(2).enumerate() {
                // Recompute the forward states, two groups side by side where there are two.
                let zero_rows = &zero_row[..state];
                match (grps, &mut pair) {
                    ([g0, g1], [r0, r1]) => {
                        recompute_pair([g0, g1], [r0, r1], x, (bi, dims), zero_rows)
                    }
                    (_, [r0, _]) => recompute_one(&grps[0], r0, x, (bi, dims), zero_rows),
                }
                for (k, grp) in grps.iter().enumerate() {
                    let gi = 2 * pi + k;
                    let first = gi == 0;
                    let Recomputed { hist, toks, h_init } = &pair[k];
                    // Reverse pass; g holds dL/dh of the step after the current one.
                    g.iter_mut().for_each(|v| *v = zero);
                    if let Some(dls) = d_last_state {
                        let rows = &dls[(bi * channels + grp.k0) * state..][..grp.w * state];
                        transpose_nonzero_into(&mut g, rows, state);
                    }
                    for t in (0..len).rev() {
                        let i = (bi * len + t) * channels + grp.k0;
                        let row = (bi * len + t) * state;
                        let tok = &toks[t];
                        let dyv = load(&dy[i..i + grp.w]);
                        for buf in [dy.as_ptr(), du_out.ptr, ddelta_out.ptr] {
                            prefetch(buf, i + W);
                        }
                        let reset = resets_at(x, bi * len + t);
                        let rows = StepRows {
                            h: &hist.h[t * state..][..state],
                            h_prev: state_before(&hist.h, h_init, zero_rows, (t, reset)),
                            decay: &hist.decay[t * state..][..state],
                            a: &grp.a[..state],
                            b: &x.b[row..][..state],
                            c: &x.c[row..][..state],
                        };
                        let sums = StepSums {
                            g: &mut g[..state],
                            da: &mut da[gi * state..][..state],
                            db: &mut db_lanes[t * state..][..state],
                            dc: &mut dc_lanes[t * state..][..state],
                        };
                        // The first channel group starts the db and dc sums of this sequence from
                        // zero (instead of zeroing the buffers for every sequence: the same additions).
                        let (sum_dt, sum_gb) = if first {
                            reverse_step::<true>(&dyv, tok, rows, sums)
                        } else {
                            reverse_step::<false>(&dyv, tok, rows, sums)
                        };
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
                        if reset {
                            // The state before a reset reaches nothing after it.
                            g.iter_mut().for_each(|v| *v = zero);
                        }
                    }
                    // g is now dL/dh0 of this sequence's channel group.
                    if let Some(dh0_out) = dh0_out {
                        // SAFETY: rows (bi, channels of grp) of dh0 belong to this task only.
                        let dst = unsafe {
                            dh0_out.slice((bi * channels + grp.k0) * state, grp.w * state)
                        };
                        transpose_from(dst, &g, state);
                    }
                }
            }
            let off = if split { blk * bls } else { 0 } + bi * len * state;
            // SAFETY: block blk's partial rows of batch element bi belong to this task only.
            let db_rows = unsafe { db_out.slice(off, len * state) };
            let dc_rows = unsafe { dc_out.slice(off, len * state) };
            lane_sums(db_rows, &db_lanes);
            lane_sums(dc_rows, &dc_lanes);
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

/// Task `.1` of a backward job.
impl SimdKernel for (BackwardJob<'_>, usize) {
    type Output = ();
    #[inline(always)]
    fn run(self) {
        self.0.run_any(self.1)
    }
}

/// One reverse step's rows of the group's history and inputs, `[state]` each.
struct StepRows<'a> {
    /// States after the step.
    h: &'a [Lanes],
    /// States before the step.
    h_prev: &'a [Lanes],
    /// `exp(dt a)` of the step.
    decay: &'a [Lanes],
    /// `a` transposed.
    a: &'a [Lanes],
    /// The token's `b`.
    b: &'a [f32],
    /// The token's `c`.
    c: &'a [f32],
}

/// What a reverse step updates, `[state]` each: dL/dh (of the next step in, this step's out)
/// and the per-lane sums of the `a`, `b` and `c` gradients.
struct StepSums<'a> {
    g: &'a mut [Lanes],
    da: &'a mut [Lanes],
    db: &'a mut [Lanes],
    dc: &'a mut [Lanes],
}

/// The state rows of one reverse step, from `dy` of the step's token; returns the sums over the
/// state of `dL/d(dt a) a` and of `dL/dh b`. `FIRST`: the `db` and `dc` rows start from zero
/// (the sequence's first channel group) instead of adding to them. Every row is sliced to the
/// state size by the caller and zipped here, so the loop runs without bounds checks.
#[inline(always)]
fn reverse_step<const FIRST: bool>(
    dyv: &Lanes,
    tok: &Token,
    rows: StepRows,
    sums: StepSums,
) -> (Lanes, Lanes) {
    let zero = [0.0f32; W];
    let (mut sum_dt, mut sum_gb) = (zero, zero);
    let inputs = rows.h.iter().zip(rows.h_prev).zip(rows.decay).zip(rows.a);
    let coefs = rows.b.iter().zip(rows.c);
    let outs = sums
        .g
        .iter_mut()
        .zip(sums.da.iter_mut())
        .zip(sums.db.iter_mut().zip(sums.dc.iter_mut()));
    for ((((h_cur, h_prev), decay), a), ((&b, &c), ((g, da), (db, dc)))) in
        inputs.zip(coefs.zip(outs))
    {
        // Every operand copied into locals first and written back whole: with the
        // accumulators updated in place, the compiler could not rule out aliasing between
        // them and versioned the loop with run-time checks.
        let (mut gn, mut dan) = (*g, *da);
        let (mut dbn, mut dcn) = if FIRST { (zero, zero) } else { (*db, *dc) };
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
        (*g, *da, *db, *dc) = (gn, dan, dbn, dcn);
    }
    (sum_dt, sum_gb)
}
