//! The fusion module over the token sequence: a stack of Transformer or Mamba layers, or none
//! (the baselines, which concatenate the tokens instead), and the pooling of its output.

use burn::prelude::*;

use super::mamba::{MambaBlock, MambaState};
use super::transformer::TransformerLayerModule;
use crate::ops::pool::pool_state_and_mean;

/// A fusion stack; which variant is built is decided by the registry from `sequence.model`.
#[derive(Module, Debug)]
pub enum Fusion {
    /// Post-LN Transformer encoder layers.
    Transformer(TransformerFusion),
    /// Mamba-1 blocks.
    Mamba(MambaFusion),
    /// No fusion layers (the State-Depth-Concat and State-Only baselines): the tokens are
    /// concatenated as they are.
    Concat(ConcatFusion),
}

/// The baselines' "fusion": none. The pooled output is every token concatenated.
#[derive(Module, Debug)]
pub struct ConcatFusion {
    /// Tokens per sample, which fixes the pooled width.
    pub tokens: usize,
}

/// Stack of Transformer layers.
#[derive(Module, Debug)]
pub struct TransformerFusion {
    /// The layers, applied in order.
    pub layers: Vec<TransformerLayerModule>,
}

/// Stack of Mamba blocks.
#[derive(Module, Debug)]
pub struct MambaFusion {
    /// The blocks, applied in order.
    pub layers: Vec<MambaBlock>,
    /// Forward + reversed scan summed in every block.
    pub bidirectional: bool,
}

impl Fusion {
    /// `[B, T, D]` -> `[B, T, D]`.
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        match self {
            Fusion::Transformer(f) => f.layers.iter().fold(x, |x, l| l.forward(x)),
            Fusion::Mamba(f) => f
                .layers
                .iter()
                .fold(x, |x, l| l.forward(x, f.bidirectional)),
            Fusion::Concat(_) => x,
        }
    }

    /// Width of [`pool`](Self::pool)'s output for tokens of width `width`.
    pub fn pooled_width(&self, width: usize, has_state_token: bool) -> usize {
        match self {
            Fusion::Concat(c) => c.tokens * width,
            _ if has_state_token => 2 * width,
            _ => width,
        }
    }

    /// Pools fused tokens `[B, T, D]`: the baselines concatenate all tokens (`[B, T D]`); the
    /// fusion models take the state token's output concatenated with the mean of the visual
    /// tokens (`[B, 2D]`), or without a state token the mean of all tokens (`[B, D]`).
    pub fn pool(&self, tokens: Tensor<3>, has_state_token: bool) -> Tensor<2> {
        match self {
            Fusion::Concat(_) => {
                let [b, t, d] = tokens.dims();
                tokens.reshape([b, t * d])
            }
            _ => pool_fused(tokens, has_state_token),
        }
    }
}

impl MambaFusion {
    /// A zero recurrent state per block for `batch` sequences.
    pub fn zero_state(&self, batch: usize, device: &Device) -> Vec<MambaState> {
        self.layers
            .iter()
            .map(|l| l.zero_state(batch, device))
            .collect()
    }

    /// One token through the whole stack: `x` `[B, D]` and one state per block -> (`y` `[B, D]`,
    /// the next states). Token by token this equals the unidirectional [`Fusion::forward`]; a
    /// bidirectional stack has no step form (its reversed scan needs the whole sequence).
    pub fn step(&self, x: Tensor<2>, states: Vec<MambaState>) -> (Tensor<2>, Vec<MambaState>) {
        assert!(
            !self.bidirectional,
            "a bidirectional Mamba stack has no recurrent step"
        );
        assert_eq!(states.len(), self.layers.len(), "one state per Mamba block");
        let mut next = Vec::with_capacity(states.len());
        let y = self.layers.iter().zip(states).fold(x, |x, (layer, state)| {
            let (y, s) = layer.step(x, state);
            next.push(s);
            y
        });
        (y, next)
    }
}
/// Pools fused tokens `[B, T, D]`: with a state token, its output concatenated with the mean of
/// the visual tokens (`[B, 2D]`); without, the mean of all tokens (`[B, D]`).
fn pool_fused(tokens: Tensor<3>, has_state_token: bool) -> Tensor<2> {
    let [b, _, d] = tokens.dims();
    if has_state_token {
        pool_state_and_mean(tokens)
    } else {
        tokens.mean_dim(1).reshape([b, d])
    }
}
