//! One forward task: a channel group of a batch chunk, the state in registers.

use super::*;

/// Everything one forward task needs.
#[derive(Clone, Copy)]
pub(super) struct ForwardJob<'a> {
    pub(super) dims: &'a ScanDims,
    pub(super) x: &'a ScanInputs<'a>,
    pub(super) plan: Plan,
    /// Every channel group of the call, made once ([`Group::all`]).
    pub(super) groups: &'a [Group],
    pub(super) y_out: SharedOut,
    /// The last state's buffer; `None` where the caller does not want it.
    pub(super) s_out: Option<SharedOut>,
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

    /// Runs task `task`: the scan of its batch chunk and channel block, four groups of [`W`]
    /// channels at a time where the block has four ([`scan_quad`](Self::scan_quad)), else two
    /// ([`scan_pair`](Self::scan_pair)) or one. `S` is the state size, or 0 for "take it from
    /// `dims`".
    #[inline(always)]
    pub(super) fn run<const S: usize>(self, task: usize) {
        let state = fixed_or(S, self.dims.state);
        let (brange, krange) = self.plan.ranges(self.dims, task);
        let groups = Group::of_block(self.groups, krange);
        // State rows for as many groups as run side by side (only those the block has: at a few
        // sequences a task is one or two groups).
        let [mut h, mut h2, mut h3, mut h4] =
            [0, 1, 2, 3].map(|k| vec![[0.0f32; W]; if groups.len() > k { state } else { 0 }]);
        for bi in brange {
            for quad in groups.chunks(4) {
                match quad {
                    [g, g2, g3, g4] => self.scan_quad(
                        bi,
                        [g, g2, g3, g4],
                        [
                            &mut h[..state],
                            &mut h2[..state],
                            &mut h3[..state],
                            &mut h4[..state],
                        ],
                    ),
                    [g, g2, rest @ ..] => {
                        self.scan_pair(bi, [g, g2], [&mut h[..state], &mut h2[..state]]);
                        if let [g3] = rest {
                            self.scan_one(bi, g3, &mut h3[..state]);
                        }
                    }
                    [g] => self.scan_one(bi, g, &mut h[..state]),
                    [] => {}
                }
            }
        }
    }

    /// The scan of sequence `bi` over channel group `g`, `h` its state rows.
    #[inline(always)]
    fn scan_one(&self, bi: usize, g: &Group, h: &mut [Lanes]) {
        let (x, len, state) = (self.x, self.dims.len, h.len());
        self.start(bi, g, h);
        for t in 0..len {
            if resets_at(x, bi * len + t) {
                h.iter_mut().for_each(|v| *v = [0.0; W]);
            }
            let (i, tok, mut y) = self.token(bi, t, g);
            let row = (bi * len + t) * state;
            let (b, c) = (&x.b[row..][..state], &x.c[row..][..state]);
            for (hn, ((an, &bn), &cn)) in h.iter_mut().zip(g.a.iter().zip(b).zip(c)) {
                advance(hn, an, &tok, bn);
                for l in 0..W {
                    y[l] = cn.mul_add(hn[l], y[l]);
                }
            }
            self.write_y(i, g, &y);
        }
        self.write_last(bi, g, h);
    }

    /// [`scan_one`](Self::scan_one) of two groups side by side: each step runs both groups'
    /// state rows in one loop, two independent chains of dependent operations for the processor
    /// to overlap (10% faster at the fast recipes' sizes); each group's operations are those of
    /// `scan_one`, in its order.
    #[inline(always)]
    fn scan_pair(&self, bi: usize, [g, g2]: [&Group; 2], [h, h2]: [&mut [Lanes]; 2]) {
        let (x, len, state) = (self.x, self.dims.len, h.len());
        self.start(bi, g, h);
        self.start(bi, g2, h2);
        for t in 0..len {
            if resets_at(x, bi * len + t) {
                h.iter_mut().for_each(|v| *v = [0.0; W]);
                h2.iter_mut().for_each(|v| *v = [0.0; W]);
            }
            let (i, tok, mut y) = self.token(bi, t, g);
            let (i2, tok2, mut y2) = self.token(bi, t, g2);
            let row = (bi * len + t) * state;
            let (b, c) = (&x.b[row..][..state], &x.c[row..][..state]);
            let states = h.iter_mut().zip(h2.iter_mut());
            let decays = g.a.iter().zip(&g2.a);
            for ((hn, hn2), ((an, an2), (&bn, &cn))) in states.zip(decays.zip(b.iter().zip(c))) {
                advance(hn, an, &tok, bn);
                advance(hn2, an2, &tok2, bn);
                for l in 0..W {
                    y[l] = cn.mul_add(hn[l], y[l]);
                    y2[l] = cn.mul_add(hn2[l], y2[l]);
                }
            }
            self.write_y(i, g, &y);
            self.write_y(i2, g2, &y2);
        }
        self.write_last(bi, g, h);
        self.write_last(bi, g2, h2);
    }

    /// [`scan_pair`](Self::scan_pair) of four groups: four independent chains per state row
    /// (the forward 10% faster than in pairs at the fast recipes' training sizes and at the
    /// paper's, `examples/scan_prof`); each group's operations are those of `scan_one`, in its
    /// order.
    #[inline(always)]
    fn scan_quad(
        &self,
        bi: usize,
        [g, g2, g3, g4]: [&Group; 4],
        [h, h2, h3, h4]: [&mut [Lanes]; 4],
    ) {
        let (x, len, state) = (self.x, self.dims.len, h.len());
        self.start(bi, g, h);
        self.start(bi, g2, h2);
        self.start(bi, g3, h3);
        self.start(bi, g4, h4);
        for t in 0..len {
            if resets_at(x, bi * len + t) {
                h.iter_mut().for_each(|v| *v = [0.0; W]);
                h2.iter_mut().for_each(|v| *v = [0.0; W]);
                h3.iter_mut().for_each(|v| *v = [0.0; W]);
                h4.iter_mut().for_each(|v| *v = [0.0; W]);
            }
            let (i, tok, mut y) = self.token(bi, t, g);
            let (i2, tok2, mut y2) = self.token(bi, t, g2);
            let (i3, tok3, mut y3) = self.token(bi, t, g3);
            let (i4, tok4, mut y4) = self.token(bi, t, g4);
            let row = (bi * len + t) * state;
            let (b, c) = (&x.b[row..][..state], &x.c[row..][..state]);
            let (a, a2, a3, a4) = (
                &g.a[..state],
                &g2.a[..state],
                &g3.a[..state],
                &g4.a[..state],
            );
            let (h, h2, h3, h4) = (
                &mut h[..state],
                &mut h2[..state],
                &mut h3[..state],
                &mut h4[..state],
            );
            for n in 0..state {
                let (bn, cn) = (b[n], c[n]);
                advance(&mut h[n], &a[n], &tok, bn);
                advance(&mut h2[n], &a2[n], &tok2, bn);
                advance(&mut h3[n], &a3[n], &tok3, bn);
                advance(&mut h4[n], &a4[n], &tok4, bn);
                for l in 0..W {
                    y[l] = cn.mul_add(h[n][l], y[l]);
                    y2[l] = cn.mul_add(h2[n][l], y2[l]);
                    y3[l] = cn.mul_add(h3[n][l], y3[l]);
                    y4[l] = cn.mul_add(h4[n][l], y4[l]);
                }
            }
            self.write_y(i, g, &y);
            self.write_y(i2, g2, &y2);
            self.write_y(i3, g3, &y3);
            self.write_y(i4, g4, &y4);
        }
        self.write_last(bi, g, h);
        self.write_last(bi, g2, h2);
        self.write_last(bi, g3, h3);
        self.write_last(bi, g4, h4);
    }

    /// `h` set to sequence `bi`'s initial state of group `g`.
    #[inline(always)]
    fn start(&self, bi: usize, g: &Group, h: &mut [Lanes]) {
        initial_state(h, self.x, (bi, g), (self.dims.channels, h.len()));
    }

    /// Token `t` of sequence `bi` in group `g`: the index of its first channel, its inputs, and
    /// `y` started at the skip term `d u`.
    #[inline(always)]
    fn token(&self, bi: usize, t: usize, g: &Group) -> (usize, Token, Lanes) {
        let i = (bi * self.dims.len + t) * self.dims.channels + g.k0;
        let tok = Token::read(self.x, g, i);
        let y = map2(&g.d, &tok.u, |d, u| d * u);
        (i, tok, y)
    }

    /// Writes group `g`'s `y` of the token whose first channel is at `i`.
    #[inline(always)]
    fn write_y(&self, i: usize, g: &Group, y: &Lanes) {
        prefetch(self.y_out.ptr, i + W);
        // SAFETY: (sequence, token, channels of g) belong to this task only.
        store(unsafe { self.y_out.slice(i, g.w) }, y);
    }

    /// Writes group `g`'s last state `h` of sequence `bi` (where the last state is wanted).
    #[inline(always)]
    fn write_last(&self, bi: usize, g: &Group, h: &[Lanes]) {
        let Some(s_out) = self.s_out else { return };
        let (channels, state) = (self.dims.channels, h.len());
        // SAFETY: rows (bi, channels of g) of last_state belong to this task only.
        let dst = unsafe { s_out.slice((bi * channels + g.k0) * state, g.w * state) };
        transpose_from(dst, h, state);
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
