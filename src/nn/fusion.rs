//! The fusion module over the token sequence: a stack of Transformer or Mamba layers.

use burn::prelude::*;

use super::mamba::{MambaBlock, MambaState};
use super::transformer::TransformerLayerModule;

/// A fusion stack; which variant is built is decided by the registry from `sequence.model`.
#[derive(Module, Debug)]
pub enum Fusion {
    /// Post-LN Transformer encoder layers.
    Transformer(TransformerFusion),
    /// Mamba-1 blocks.
    Mamba(MambaFusion),
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
