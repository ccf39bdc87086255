//! The backward's first pass: a channel group's forward of one sequence recomputed, its states
//! and decays at every step kept for the reverse pass; two groups side by side where a task
//! has two.

use super::*;

/// A backward task's buffers for one channel group of one sequence, `[len, state]` lanes each.
pub(super) struct History {
    /// States after each step.
    pub(super) h: Vec<Lanes>,
    /// `exp(dt a)` of each step.
    pub(super) decay: Vec<Lanes>,
}

/// A channel group's forward of one sequence, recomputed: its states and decays at every step,
/// its tokens, and its initial state.
pub(super) struct Recomputed {
    /// States and decays of every step.
    pub(super) hist: History,
    /// The tokens' inputs and step sizes.
    pub(super) toks: Vec<Token>,
    /// The state before the first token.
    pub(super) h_init: Vec<Lanes>,
}

impl Recomputed {
    /// Buffers for `len` tokens of `state` rows.
    pub(super) fn new(len: usize, state: usize) -> Self {
        Recomputed {
            hist: History {
                h: vec![[0.0; W]; len * state],
                decay: vec![[0.0; W]; len * state],
            },
            toks: Vec::with_capacity(len),
            h_init: vec![[0.0; W]; state],
        }
    }
}

/// Recomputes sequence `bi`'s forward of group `grp` into `out`.
#[inline(always)]
pub(super) fn recompute_one(
    grp: &Group,
    out: &mut Recomputed,
    x: &ScanInputs,
    (bi, dims): (usize, &ScanDims),
    zero: &[Lanes],
) {
    out.start(grp, x, (bi, dims));
    for t in 0..dims.len {
        let mut step = out.step(grp, x, (bi, t, dims), zero);
        for n in 0..step.b.len() {
            step.advance(n);
        }
    }
}

/// [`recompute_one`] of two groups side by side: each step runs both groups' state rows in one
/// loop, two independent chains for the processor to overlap (each group's operations as
/// alone, in their order).
#[inline(always)]
pub(super) fn recompute_pair(
    [g0, g1]: [&Group; 2],
    [r0, r1]: [&mut Recomputed; 2],
    x: &ScanInputs,
    (bi, dims): (usize, &ScanDims),
    zero: &[Lanes],
) {
    r0.start(g0, x, (bi, dims));
    r1.start(g1, x, (bi, dims));
    for t in 0..dims.len {
        let mut s0 = r0.step(g0, x, (bi, t, dims), zero);
        let mut s1 = r1.step(g1, x, (bi, t, dims), zero);
        for n in 0..s0.b.len() {
            s0.advance(n);
            s1.advance(n);
        }
    }
}

impl Recomputed {
    /// Starts sequence `bi` of group `grp`: its initial state, no tokens yet.
    #[inline(always)]
    fn start(&mut self, grp: &Group, x: &ScanInputs, (bi, dims): (usize, &ScanDims)) {
        initial_state(&mut self.h_init, x, (bi, grp), (dims.channels, dims.state));
        self.toks.clear();
    }

    /// Reads token `t` of sequence `bi` (pushed onto the tokens) and returns its step's rows,
    /// each sliced to the state size, so that the loop over them runs without bounds checks or
    /// a choice of the previous state per value.
    #[inline(always)]
    fn step<'a>(
        &'a mut self,
        grp: &'a Group,
        x: &'a ScanInputs,
        (bi, t, dims): (usize, usize, &ScanDims),
        zero: &'a [Lanes],
    ) -> ForwardStep<'a> {
        let state = zero.len();
        let bt = bi * dims.len + t;
        self.toks
            .push(Token::read(x, grp, bt * dims.channels + grp.k0));
        let (before, from_t) = self.hist.h.split_at_mut(t * state);
        let h_prev = state_before(before, &self.h_init, zero, (t, resets_at(x, bt)));
        ForwardStep {
            tok: &self.toks[t],
            h_prev,
            h: &mut from_t[..state],
            decay: &mut self.hist.decay[t * state..][..state],
            a: &grp.a[..state],
            b: &x.b[bt * state..][..state],
        }
    }
}

/// One recomputed step's rows, `[state]` each.
struct ForwardStep<'a> {
    tok: &'a Token,
    h_prev: &'a [Lanes],
    h: &'a mut [Lanes],
    decay: &'a mut [Lanes],
    a: &'a [Lanes],
    b: &'a [f32],
}

impl ForwardStep<'_> {
    /// State row `n`: `h = exp(dt a) h_prev + dt u b`, the decay kept.
    #[inline(always)]
    fn advance(&mut self, n: usize) {
        let mut h = self.h_prev[n];
        self.decay[n] = advance(&mut h, &self.a[n], self.tok, self.b[n]);
        self.h[n] = h;
    }
}

/// The state rows before step `t` (`state` = `zero.len()` rows): zero where the step resets,
/// the initial state `h_init` at the first step, else the rows of step `t - 1` in `states`
/// (the history's states, from step 0).
#[inline(always)]
pub(super) fn state_before<'a>(
    states: &'a [Lanes],
    h_init: &'a [Lanes],
    zero: &'a [Lanes],
    (t, reset): (usize, bool),
) -> &'a [Lanes] {
    let state = zero.len();
    if reset {
        zero
    } else if t == 0 {
        &h_init[..state]
    } else {
        &states[(t - 1) * state..][..state]
    }
}
