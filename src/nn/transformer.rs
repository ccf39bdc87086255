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

impl TransformerLayerModule {
    /// Builds a layer with `n_heads` heads and feed-forward width `d_ff`.
    pub fn new(d_model: usize, n_heads: usize, d_ff: usize, device: &Device) -> Self {
        let inner = TransformerEncoderConfig::new(d_model, d_ff, n_heads, 1)
            .with_dropout(0.0)
            .with_norm_first(false)
            .with_activation(ActivationConfig::Relu)
            .with_layer_norm_eps(1e-5)
            .init(device);
        Self { inner }
    }

    /// `[B, T, d_model]` -> `[B, T, d_model]`.
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        self.inner.forward(TransformerEncoderInput::new(x))
    }
}
