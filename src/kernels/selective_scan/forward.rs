//! One forward task: a channel group of a batch chunk, the state in registers.

use super::*;

/// Everything one forward task needs.
#[derive(Clone, Copy)]
pub(super) struct ForwardJob<'a> {
    pub(super) dims: &'a ScanDims,
    pub(super) x: &'a ScanInputs<'a>,
    pub(super) plan: Plan,
    /// Every channel group of the call, made once ([`Group::all`] over all channels).
    pub(super) groups: &'a [Group],
    pub(super) y_out: SharedOut,
    pub(super) s_out: SharedOut,
}

impl ForwardJob<'_> {
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

    /// Runs task `task`: the scan of its batch chunk and channel block, one group of [`W`]
    /// channels at a time. `S` is the state size, or 0 for "take it from `dims`".
    #[inline(always)]
    pub(super) fn run<const S: usize>(self, task: usize) {
        let ForwardJob {
            dims,
            x,
            plan,
            groups,
            y_out,
            s_out,
        } = self;
        let ScanDims { len, channels, .. } = *dims;
        let state = fixed_or(S, dims.state);
        let (brange, krange) = plan.ranges(dims, task);
        let groups = Group::of_block(groups, krange);
        let mut h = vec![[0.0f32; W]; state];
        for bi in brange {
            for g in groups {
                initial_state(&mut h, x, (bi, g), (channels, state));
                for t in 0..len {
                    if resets_at(x, bi * len + t) {
                        h.iter_mut().for_each(|v| *v = [0.0; W]);
                    }
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

/// Task `.1` of a forward job.
impl SimdKernel for (ForwardJob<'_>, usize) {
    type Output = ();
    #[inline(always)]
    fn run(self) {
        self.0.run_any(self.1)
    }
}
