//! Transformer fusion layer with PyTorch `TransformerEncoderLayer` defaults: post-LayerNorm,
//! ReLU feed-forward, dropout 0, LayerNorm eps 1e-5.

use burn::nn::activation::ActivationConfig;
use burn::nn::transformer::{
    TransformerEncoder, TransformerEncoderConfig, TransformerEncoderInput,
};
use burn::prelude::*;

/// One post-LN Transformer encoder layer of width `d_model`.
#[derive(Module, Debug)]
pub struct TransformerLayerModule {
    /// burn's encoder holding exactly one layer.
    pub inner: TransformerEncoder,
}

/// Configuration of one Transformer fusion layer; [`init`](Self::init) builds it.
#[derive(Config, Debug, Copy, PartialEq, Eq)]
pub struct TransformerLayerConfig {
    /// Token width.
    pub d_model: usize,
    /// Attention heads (must divide `d_model`).
    pub n_heads: usize,
    /// Feed-forward width.
    pub d_ff: usize,
}

impl TransformerLayerConfig {
    /// Builds the layer (post-LN, ReLU, dropout 0, as PyTorch's default encoder layer).
    pub fn init(&self, device: &Device) -> TransformerLayerModule {
        let inner = TransformerEncoderConfig::new(self.d_model, self.d_ff, self.n_heads, 1)
            .with_dropout(0.0)
            .with_norm_first(false)
            .with_activation(ActivationConfig::Relu)
            .with_layer_norm_eps(1e-5)
            .init(device);
        TransformerLayerModule { inner }
    }
}

impl TransformerLayerModule {
    /// `[B, T, d_model]` -> `[B, T, d_model]`.
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        self.inner.forward(TransformerEncoderInput::new(x))
    }
}
