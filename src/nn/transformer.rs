//! Transformer fusion layer with PyTorch `TransformerEncoderLayer` defaults: post-LayerNorm,
//! ReLU feed-forward, dropout 0, LayerNorm eps 1e-5.
//!
//! The parameters live in burn's `TransformerEncoder` (its initialisation, names and checkpoint
//! layout); the forward is ours and computes the same function with every linear layer run over
//! `[B * T, d]` rows, one matrix product each (see [`token_linear`](super::token_linear) and
//! [`ops::linear`](crate::ops::linear)), which is what makes its backward cheap on the CPU.

use burn::nn::activation::ActivationConfig;
use burn::nn::transformer::{
    TransformerEncoder, TransformerEncoderConfig, TransformerEncoderInput,
};
use burn::prelude::*;
use burn::tensor::activation::softmax;

use super::token_linear::row_linear;
use crate::ops::layer_norm::{LAYER_NORM_EPS, layer_norm_rows};

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
            .with_layer_norm_eps(LAYER_NORM_EPS)
            .init(device);
        TransformerLayerModule { inner }
    }
}

impl TransformerLayerModule {
    /// `[B, T, d_model]` -> `[B, T, d_model]`: `x = norm_1(x + attention(x))`, then
    /// `x = norm_2(x + ff(x))`. Equals burn's [`reference_forward`](Self::reference_forward).
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let layer = &self.inner.layers[0];
        let mha = &layer.mha;
        let [b, t, d] = x.dims();
        let rows = x.reshape([b * t, d]);
        let heads = |linear: &burn::nn::Linear| {
            row_linear(linear, rows.clone())
                .reshape([b, t, mha.n_heads, mha.d_k])
                .swap_dims(1, 2)
        };
        let (q, k, v) = (heads(&mha.query), heads(&mha.key), heads(&mha.value));
        let scores = q.matmul(k.transpose()).div_scalar((mha.d_k as f32).sqrt());
        let context = softmax(scores, 3)
            .matmul(v)
            .swap_dims(1, 2)
            .reshape([b * t, d]);
        let h = layer_norm_rows(&layer.norm_1, rows + row_linear(&mha.output, context));
        let ff = row_linear(
            &layer.pwff.linear_outer,
            layer
                .pwff
                .activation
                .forward(row_linear(&layer.pwff.linear_inner, h.clone())),
        );
        layer_norm_rows(&layer.norm_2, h + ff).reshape([b, t, d])
    }

    /// burn's own `TransformerEncoder` forward on the same parameters: the oracle the parity test
    /// checks [`forward`](Self::forward) against.
    pub fn reference_forward(&self, x: Tensor<3>) -> Tensor<3> {
        self.inner.forward(TransformerEncoderInput::new(x))
    }
}
