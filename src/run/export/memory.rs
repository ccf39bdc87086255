//! One control step of a fusion stack with memory as ONNX nodes, the recurrent state as graph
//! inputs and outputs in the order of [`Memory`](crate::nn::Memory)'s buffers (see
//! [`crate::nn::memory`]): zeros at an episode start, each output fed back as the next step's
//! input. Mirrors [`Fusion::forward_memory`] over one step.

use super::graph::Graph;
use super::mamba::{StateValues, block_from};
use super::network::{attention, post_attention};
use crate::nn::fusion::{Fusion, TransformerFusion};

/// Added to the attention scores of context steps not of the episode (as the trainer's).
const HIDDEN: f32 = -1e9;

/// `tokens` `[B, T, D]` of one step through `fusion`, continuing from the state values
/// `state_in` (of per-sequence shapes `shapes`): the fused tokens and the next state values
/// (same order).
///
/// # Panics
/// For the baselines (no memory) or a state of the wrong length.
pub fn fusion_step(
    g: &mut Graph,
    fusion: &Fusion,
    tokens: &str,
    count: usize,
    (state_in, shapes): (&[String], &[Vec<usize>]),
) -> (String, Vec<String>) {
    match fusion {
        Fusion::Mamba(m) => {
            assert_eq!(state_in.len(), 2 * m.layers.len(), "two buffers per block");
            let mut x = tokens.to_string();
            let mut next = Vec::with_capacity(state_in.len());
            for (i, block) in m.layers.iter().enumerate() {
                let state = StateValues {
                    conv: state_in[2 * i].clone(),
                    ssm: state_in[2 * i + 1].clone(),
                };
                let (y, s) = block_from(g, block, &x, count, &state);
                x = y;
                next.push(s.conv);
                next.push(s.ssm);
            }
            (x, next)
        }
        Fusion::Transformer(_) if state_in.is_empty() => {
            (super::network::fusion(g, fusion, tokens, count), Vec::new())
        }
        Fusion::Transformer(t) => {
            let cached = shapes.last().map_or(0, |flags| flags[0]);
            transformer_step(g, t, tokens, (count, cached), state_in)
        }
        Fusion::Concat(_) => panic!("the baselines have no memory"),
    }
}

/// `[B, C]` step flags -> `[B, C x T]` token flags.
fn token_flags(g: &mut Graph, flags: &str, cached: usize, count: usize) -> String {
    let f = g.unsqueeze(flags, &[2]);
    let ones = g.constant("ones", &[1, 1, count], &vec![1.0; count]);
    let f = g.mul(&f, &ones);
    g.reshape(&f, &[0, (cached * count) as i64])
}

/// A Transformer stack over one step: each layer's queries are the step's tokens, its keys and
/// values the cached inputs of the last `C` steps (those of the episode) and the step's own.
fn transformer_step(
    g: &mut Graph,
    t: &TransformerFusion,
    tokens: &str,
    (count, cached): (usize, usize),
    state_in: &[String],
) -> (String, Vec<String>) {
    let layers = t.layers.len();
    assert_eq!(
        state_in.len(),
        layers + 1,
        "a context per layer, then the flags"
    );
    let flags = &state_in[layers];
    let seen = token_flags(g, flags, cached, count);
    let one = g.scalar(1.0);
    let unseen = g.sub(&one, &seen);
    let hidden = g.scalar(HIDDEN);
    let mask = g.mul(&unseen, &hidden);
    let mask = g.pad_last(&mask, 2, 0, count as i64, 0.0);
    let mask = g.unsqueeze(&mask, &[1, 2]);
    // The next context: the last C steps, shifted along; what is not of the episode is zero.
    let older = g.slice(flags, 1, 1, cached as i64);
    let next_flags = g.pad_last(&older, 2, 0, 1, 1.0);
    let keep = token_flags(g, &next_flags, cached, count);
    let keep = g.unsqueeze(&keep, &[2]);
    let mut x = tokens.to_string();
    let mut next = Vec::with_capacity(layers + 1);
    let total = ((cached + 1) * count) as i64;
    for (i, layer) in t.layers.iter().enumerate() {
        let all = g.concat(&[&state_in[i], &x], 1);
        let context = g.slice(&all, 1, count as i64, total);
        next.push(g.mul(&context, &keep));
        let attended = attention(g, layer, &x, &all, Some(&mask));
        x = post_attention(g, layer, &x, &attended);
    }
    next.push(next_flags);
    (x, next)
}
