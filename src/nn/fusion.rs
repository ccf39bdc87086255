//! The fusion module over the token sequence: a stack of Transformer or Mamba layers.

use burn::prelude::*;

use super::mamba::MambaBlock;
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
