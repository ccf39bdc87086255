//! Fusion with memory across control steps: a stack runs over `steps` consecutive control steps of
//! `tokens` tokens per sequence in one pass, continuing from a [`Memory`] and returning the next
//! one, with episode starts inside the steps.
//!
//! - Mamba: the steps' tokens are one stream per sequence; every block continues from its state
//!   (causal convolution inputs and SSM state) and is reset at the first token of a step that
//!   starts an episode.
//! - Transformer: the tokens of step `s` attend over the tokens of steps `s - C ..= s` (`C` steps of
//!   context before the current one, from the memory for the first steps), never across an episode
//!   start: a banded, block-causal attention computed per window (the keys and values of each
//!   step's window gathered, not a dense mask over all steps).
//!
//! A pass over `steps` steps equals `steps` passes of one step each (the acting path), which the
//! tests check.

use burn::prelude::*;
use burn::tensor::Int;
use burn::tensor::activation::softmax;

use super::fusion::Fusion;
use super::mamba::{MambaState, conv_history};
use super::memory::{Memory, values};
use super::token_linear::row_linear;
use super::transformer::TransformerLayerModule;
use crate::ops::layer_norm::layer_norm_rows;

/// Added to the attention scores of the tokens a query may not see.
const HIDDEN: f32 = -1e9;

impl Fusion {
    /// A zero memory of this stack for `batch` sequences of `tokens` tokens per step of width
    /// `width`; a Transformer keeps `context_steps - 1` steps of context (none, and no buffers,
    /// when `context_steps` is 1: each step sees only itself). `None` for the baselines (nothing
    /// to remember).
    pub fn zero_memory(
        &self,
        batch: usize,
        tokens: usize,
        width: usize,
        context_steps: usize,
    ) -> Option<Memory> {
        match self {
            Fusion::Mamba(m) => {
                let shapes = m
                    .layers
                    .iter()
                    .flat_map(|l| {
                        let d = l.dims();
                        [
                            vec![conv_history(d.d_conv), d.d_inner()],
                            vec![d.d_inner(), d.d_state],
                        ]
                    })
                    .collect();
                Some(Memory::zeros(batch, shapes))
            }
            Fusion::Transformer(_) if context_steps <= 1 => Some(Memory::zeros(batch, Vec::new())),
            Fusion::Transformer(t) => {
                let cached = context_steps - 1;
                let mut shapes: Vec<Vec<usize>> =
                    vec![vec![cached * tokens, width]; t.layers.len()];
                shapes.push(vec![cached]);
                Some(Memory::zeros(batch, shapes))
            }
            Fusion::Concat(_) => None,
        }
    }

    /// `x` `[B * steps, T, D]` (row `b * steps + s`: sequence `b`'s step `s`) through the stack,
    /// continuing from `memory` (`B` sequences), an episode starting at the steps whose
    /// `starts[b * steps + s]` is set: the output (same layout) and the memory after the last
    /// step. A start at step 0 is the caller's, by a zeroed memory row.
    ///
    /// # Panics
    /// For a stack without memory (the baselines) or a bidirectional Mamba.
    pub fn forward_memory(
        &self,
        x: Tensor<3>,
        memory: &Memory,
        starts: &[bool],
        steps: usize,
    ) -> (Tensor<3>, Memory) {
        let [rows, tokens, width] = x.dims();
        let batch = rows / steps.max(1);
        assert_eq!(
            batch * steps,
            rows,
            "rows are whole sequences of {steps} steps"
        );
        assert_eq!(starts.len(), rows, "one episode-start flag per step");
        assert_eq!(memory.batch, batch, "one memory row per sequence");
        let device = x.device();
        match self {
            Fusion::Mamba(m) => {
                assert!(
                    !m.bidirectional,
                    "a bidirectional Mamba has no memory across control steps"
                );
                let reset = token_resets(starts, batch, steps, tokens, &device);
                let mut h = x.reshape([batch, steps * tokens, width]);
                let mut next = Vec::with_capacity(memory.buffers.len());
                for (i, layer) in m.layers.iter().enumerate() {
                    let state = MambaState {
                        conv: memory.tensor3(2 * i, &device),
                        ssm: memory.tensor3(2 * i + 1, &device),
                    };
                    let (y, s) = layer.forward_from(h, Some(&state), Some(reset.clone()));
                    h = y;
                    next.push(s.conv);
                    next.push(s.ssm);
                }
                let mut out = memory.clone();
                for (buffer, t) in out.buffers.iter_mut().zip(next) {
                    buffer.values = values(t);
                }
                (h.reshape([rows, tokens, width]), out)
            }
            // One step of context: every step attends over its own tokens only.
            Fusion::Transformer(_) if memory.buffers.is_empty() => {
                (self.forward(x), memory.clone())
            }
            Fusion::Transformer(t) => {
                let layers = t.layers.len();
                let window = Window::new(memory, layers, starts, steps);
                let mut h = x.reshape([batch, steps * tokens, width]);
                let mut out = memory.clone();
                let mask = window.mask(tokens, &device);
                for (i, layer) in t.layers.iter().enumerate() {
                    let cache = memory.tensor3(i, &device);
                    let all = Tensor::cat(vec![cache, h.clone()], 1);
                    let keep = window.cached * tokens;
                    out.buffers[i].values = values(all.clone().narrow(1, steps * tokens, keep));
                    h = layer.forward_window(h, all, &window, mask.clone());
                }
                let visible = window.next_visible();
                // Context steps that are not of the episode hold zeros, as after a reset, so a
                // memory has one form whichever way it was reached.
                for buffer in &mut out.buffers[..layers] {
                    let step = tokens * width;
                    for (slot, &v) in buffer.values.chunks_exact_mut(step).zip(&visible) {
                        if v == 0.0 {
                            slot.fill(0.0);
                        }
                    }
                }
                out.buffers[layers].values = visible;
                (h.reshape([rows, tokens, width]), out)
            }
            Fusion::Concat(_) => panic!("the baselines have no memory across control steps"),
        }
    }
}

/// `[batch, steps * tokens]` resets: 1 at the first token of every step that starts an episode.
fn token_resets(
    starts: &[bool],
    batch: usize,
    steps: usize,
    tokens: usize,
    device: &Device,
) -> Tensor<2> {
    let mut flags = vec![0.0f32; batch * steps * tokens];
    for (row, &start) in starts.iter().enumerate() {
        if start {
            flags[row * tokens] = 1.0;
        }
    }
    Tensor::from_data(TensorData::new(flags, [batch, steps * tokens]), device)
}

/// The attention windows of one pass: for `batch` sequences of `steps` steps with `cached` steps
/// of context before them, which of the `cached + 1` steps of each window a step may see.
struct Window {
    batch: usize,
    steps: usize,
    cached: usize,
    /// `[batch, steps, cached + 1]`: window slot `w` of step `s` is step `s + w` of the
    /// concatenation (context, then these steps).
    visible: Vec<bool>,
    /// `[batch, cached]`: which cached steps hold the current episode.
    cached_visible: Vec<bool>,
    starts: Vec<bool>,
}

impl Window {
    fn new(memory: &Memory, layers: usize, starts: &[bool], steps: usize) -> Self {
        let batch = memory.batch;
        let flags = &memory.buffers[layers];
        let cached = flags.shape[0];
        let cached_visible: Vec<bool> = flags.values.iter().map(|&v| v != 0.0).collect();
        let mut visible = vec![false; batch * steps * (cached + 1)];
        for b in 0..batch {
            let start = |s: usize| starts[b * steps + s];
            for s in 0..steps {
                // The latest start at or before s (None: the episode began before this pass).
                let first = (0..=s).rev().find(|&q| start(q));
                for w in 0..=cached {
                    let j = s + w;
                    visible[(b * steps + s) * (cached + 1) + w] = if j < cached {
                        first.is_none() && cached_visible[b * cached + j]
                    } else {
                        first.is_none_or(|f| j - cached >= f)
                    };
                }
            }
        }
        Self {
            batch,
            steps,
            cached,
            visible,
            cached_visible,
            starts: starts.to_vec(),
        }
    }

    /// The additive mask `[batch, 1, steps, 1, (cached + 1) * tokens]`: 0 where visible.
    fn mask(&self, tokens: usize, device: &Device) -> Tensor<5> {
        let w = self.cached + 1;
        let mut m = Vec::with_capacity(self.batch * self.steps * w * tokens);
        for &v in &self.visible {
            m.extend(std::iter::repeat_n(if v { 0.0 } else { HIDDEN }, tokens));
        }
        Tensor::from_data(
            TensorData::new(m, [self.batch, 1, self.steps, 1, w * tokens]),
            device,
        )
    }

    /// Step indices of the windows into the concatenation, `[steps * (cached + 1)]`.
    fn indices(&self, device: &Device) -> Tensor<1, Int> {
        let w = self.cached + 1;
        let idx: Vec<i64> = (0..self.steps * w)
            .map(|i| (i / w + i % w) as i64)
            .collect();
        Tensor::from_data(TensorData::new(idx, [self.steps * w]), device)
    }

    /// The visibility flags of the next pass's context: the last `cached` steps of the
    /// concatenation, visible when they belong to the episode of the last step.
    fn next_visible(&self) -> Vec<f32> {
        let (c, s) = (self.cached, self.steps);
        let mut out = Vec::with_capacity(self.batch * c);
        for b in 0..self.batch {
            let last_start = (0..s).rev().find(|&q| self.starts[b * s + q]);
            for k in 0..c {
                let j = s + k;
                let v = if j < c {
                    last_start.is_none() && self.cached_visible[b * c + j]
                } else {
                    last_start.is_none_or(|f| j - c >= f)
                };
                out.push(f32::from(u8::from(v)));
            }
        }
        out
    }
}

impl TransformerLayerModule {
    /// The layer over `x` `[B, S * T, D]` (`S` steps of `T` tokens), each step's tokens attending
    /// over its window of `all` `[B, (C + S) * T, D]` (the `C` context steps, then `x`) under
    /// `mask`; post-LN as [`forward`](Self::forward).
    fn forward_window(
        &self,
        x: Tensor<3>,
        all: Tensor<3>,
        window: &Window,
        mask: Tensor<5>,
    ) -> Tensor<3> {
        let layer = &self.inner.layers[0];
        let mha = &layer.mha;
        let (h, dk) = (mha.n_heads, mha.d_k);
        let [b, st, d] = x.dims();
        let (s, c) = (window.steps, window.cached);
        let t = st / s;
        let w = c + 1;
        let rows = x.reshape([b * st, d]);
        let all_rows = all.reshape([b * (c + s) * t, d]);
        let q = row_linear(&mha.query, rows.clone())
            .reshape([b, s, t, h, dk])
            .permute([0, 3, 1, 2, 4]);
        let idx = window.indices(&rows.device());
        let windowed = |linear: &burn::nn::Linear| {
            row_linear(linear, all_rows.clone())
                .reshape([b, c + s, t * d])
                .select(1, idx.clone())
                .reshape([b, s, w * t, h, dk])
                .permute([0, 3, 1, 2, 4])
        };
        let (k, v) = (windowed(&mha.key), windowed(&mha.value));
        let scores = q.matmul(k.swap_dims(3, 4)).div_scalar((dk as f32).sqrt()) + mask;
        let context = softmax(scores, 4)
            .matmul(v)
            .permute([0, 2, 3, 1, 4])
            .reshape([b * st, d]);
        let h1 = layer_norm_rows(&layer.norm_1, rows + row_linear(&mha.output, context));
        let ff = row_linear(
            &layer.pwff.linear_outer,
            layer
                .pwff
                .activation
                .forward(row_linear(&layer.pwff.linear_inner, h1.clone())),
        );
        layer_norm_rows(&layer.norm_2, h1 + ff).reshape([b, st, d])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn memory(batch: usize, cached: usize, visible: &[f32]) -> Memory {
        let mut m = Memory::zeros(batch, vec![vec![cached * 2, 4], vec![cached]]);
        m.buffers[1].values = visible.to_vec();
        m
    }

    #[test]
    fn a_step_sees_its_window_within_its_episode() {
        // One sequence, 2 cached steps (the older one not of this episode), 3 steps, an episode
        // starting at step 2.
        let m = memory(1, 2, &[0.0, 1.0]);
        let w = Window::new(&m, 1, &[false, false, true], 3);
        let at = |s: usize| &w.visible[s * 3..(s + 1) * 3];
        assert_eq!(at(0), &[false, true, true]);
        assert_eq!(at(1), &[true, true, true]);
        assert_eq!(at(2), &[false, false, true]);
        // The next pass's context: steps 1 and 2, only step 2 in the episode.
        assert_eq!(w.next_visible(), vec![0.0, 1.0]);
    }

    #[test]
    fn without_starts_the_context_shifts_along() {
        let m = memory(1, 2, &[1.0, 1.0]);
        let w = Window::new(&m, 1, &[false], 1);
        assert_eq!(&w.visible, &[true, true, true]);
        assert_eq!(w.next_visible(), vec![1.0, 1.0]);
    }
}
