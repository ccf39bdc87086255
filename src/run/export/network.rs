//! The policy network as ONNX nodes: the encoder (state MLP, Nature CNN, projection, positional
//! embedding), the fusion stack without memory (Transformer layers, Mamba blocks with the scan
//! unrolled over the fixed token count, or none), the pooling and the head. Each function mirrors
//! the burn forward of the same name in [`crate::nn`]; the parity with it is checked by
//! onnxruntime (`.ci/run`) and by `runner export --check`.

use burn::nn::Linear;
use burn::nn::conv::Conv2d;
use burn::prelude::*;

use super::graph::{Attr, Graph};
use super::mamba;
use crate::nn::fusion::Fusion;
use crate::nn::policy::Head;
use crate::nn::transformer::TransformerLayerModule;
use crate::nn::{Encoder, PolicyBranch};
use crate::ops::layer_norm::LAYER_NORM_EPS;

/// The shape and host values of a tensor.
pub(super) fn host<const D: usize>(t: Tensor<D>) -> (Vec<usize>, Vec<f32>) {
    let dims = t.dims().to_vec();
    let values = t
        .into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .expect("f32 parameters");
    (dims, values)
}

/// `x W + b` of a burn `Linear` (weight `[d_in, d_out]`).
pub(super) fn linear(g: &mut Graph, x: &str, l: &Linear) -> String {
    let (dims, w) = host(l.weight.val());
    let bias = l.bias.as_ref().map(|b| host(b.val()).1);
    g.linear(x, (&dims, &w), bias.as_deref())
}

/// A burn `LayerNorm` (epsilon [`LAYER_NORM_EPS`], as every norm the registry builds).
pub(super) fn layer_norm(g: &mut Graph, x: &str, norm: &burn::nn::LayerNorm) -> String {
    let gamma = host(norm.gamma.val()).1;
    let beta = norm.beta.as_ref().map(|b| host(b.val()).1);
    g.layer_norm(x, &gamma, beta.as_deref(), LAYER_NORM_EPS as f32)
}

/// A valid (unpadded) convolution followed by ReLU, NCHW.
fn conv_relu(g: &mut Graph, x: &str, conv: &Conv2d) -> String {
    let (wd, w) = host(conv.weight.val());
    let weight = g.constant("conv_weight", &wd, &w);
    let mut inputs = vec![x.to_string(), weight];
    if let Some(b) = &conv.bias {
        let (bd, b) = host(b.val());
        inputs.push(g.constant("conv_bias", &bd, &b));
    }
    let refs: Vec<&str> = inputs.iter().map(String::as_str).collect();
    let y = g.op(
        "Conv",
        &refs,
        &[
            ("kernel_shape", Attr::Ints(vec![wd[2] as i64, wd[3] as i64])),
            (
                "strides",
                Attr::Ints(conv.stride.iter().map(|&s| s as i64).collect()),
            ),
        ],
    );
    g.unary("Relu", &y)
}

/// The encoder: normalised proprioception `[B, P]` and normalised depth `[B, F, H, W]` ->
/// tokens `[B, T, D]`, the state token first, then the CNN grid in raster order.
pub fn encoder(g: &mut Graph, enc: &Encoder, proprio: Option<&str>, depth: Option<&str>) -> String {
    let width = enc.width() as i64;
    let visual = enc.projection.as_ref().map(|projection| {
        let mut x = depth
            .expect("an encoder with a CNN reads depth")
            .to_string();
        for conv in &enc.convs {
            x = conv_relu(g, &x, conv);
        }
        let x = conv_relu(g, &x, projection);
        let x = g.reshape(&x, &[0, width, -1]);
        g.transpose(&x, &[0, 2, 1])
    });
    let state = enc.state_token.as_ref().map(|token| {
        let mut s = proprio
            .expect("an encoder with a state MLP reads proprioception")
            .to_string();
        for layer in &enc.state_mlp {
            let y = linear(g, &s, layer);
            s = g.unary("Relu", &y);
        }
        let y = linear(g, &s, token);
        let y = g.unary("Relu", &y);
        g.unsqueeze(&y, &[1])
    });
    let tokens = match (state, visual) {
        (Some(s), Some(v)) => g.concat(&[&s, &v], 1),
        (Some(s), None) => s,
        (None, Some(v)) => v,
        (None, None) => unreachable!("an encoder has a state token, depth, or both"),
    };
    match &enc.positional {
        Some(p) => {
            let (dims, values) = host(p.val());
            let p = g.constant("positional", &dims, &values);
            g.add(&tokens, &p)
        }
        None => tokens,
    }
}

/// Multi-head attention of `q_in` `[B, Tq, D]` over `kv_in` `[B, Tk, D]`, with an additive
/// `mask` broadcast over the scores `[B, heads, Tq, Tk]`: the context after the output
/// projection, `[B, Tq, D]`.
pub(super) fn attention(
    g: &mut Graph,
    layer: &TransformerLayerModule,
    q_in: &str,
    kv_in: &str,
    mask: Option<&str>,
) -> String {
    let mha = &layer.inner.layers[0].mha;
    let (h, dk) = (mha.n_heads as i64, mha.d_k as i64);
    let mut heads = |x: &str, l: &Linear, perm: &[i64]| {
        let y = linear(g, x, l);
        let y = g.reshape(&y, &[0, 0, h, dk]);
        g.transpose(&y, perm)
    };
    let q = heads(q_in, &mha.query, &[0, 2, 1, 3]);
    let k = heads(kv_in, &mha.key, &[0, 2, 3, 1]);
    let v = heads(kv_in, &mha.value, &[0, 2, 1, 3]);
    let scores = g.matmul(&q, &k);
    let scale = g.scalar((mha.d_k as f32).sqrt());
    let mut scores = g.div(&scores, &scale);
    if let Some(mask) = mask {
        scores = g.add(&scores, mask);
    }
    let p = g.op("Softmax", &[&scores], &[("axis", Attr::Int(-1))]);
    let context = g.matmul(&p, &v);
    let context = g.transpose(&context, &[0, 2, 1, 3]);
    let context = g.reshape(&context, &[0, 0, h * dk]);
    linear(g, &context, &mha.output)
}

/// The rest of a post-LN layer after attention: `h = norm_1(x + context)`,
/// `norm_2(h + ff(h))`.
pub(super) fn post_attention(
    g: &mut Graph,
    layer: &TransformerLayerModule,
    x: &str,
    context: &str,
) -> String {
    let inner = &layer.inner.layers[0];
    let sum = g.add(x, context);
    let h = layer_norm(g, &sum, &inner.norm_1);
    let ff = linear(g, &h, &inner.pwff.linear_inner);
    let ff = g.unary("Relu", &ff);
    let ff = linear(g, &ff, &inner.pwff.linear_outer);
    let sum = g.add(&h, &ff);
    layer_norm(g, &sum, &inner.norm_2)
}

/// The fusion stack over one step's tokens `[B, T, D]` (no memory).
pub fn fusion(g: &mut Graph, fusion: &Fusion, tokens: &str, count: usize) -> String {
    match fusion {
        Fusion::Transformer(t) => t.layers.iter().fold(tokens.to_string(), |x, layer| {
            let context = attention(g, layer, &x, &x, None);
            post_attention(g, layer, &x, &context)
        }),
        Fusion::Mamba(m) => m.layers.iter().fold(tokens.to_string(), |x, block| {
            mamba::block(g, block, &x, count, m.bidirectional)
        }),
        Fusion::Concat(_) => tokens.to_string(),
    }
}

/// The pooled features of the fusion models: the state token's output concatenated with the mean
/// of the visual tokens, or without a state token the mean of all tokens: `[B, 2D]` or `[B, D]`.
pub fn pool_fused(g: &mut Graph, tokens: &str, count: usize, width: usize, state: bool) -> String {
    if state {
        let s = g.slice(tokens, 1, 0, 1);
        let s = g.reshape(&s, &[0, width as i64]);
        let v = g.slice(tokens, 1, 1, count as i64);
        let v = g.reduce_mean(&v, &[1], false);
        g.concat(&[&s, &v], 1)
    } else {
        g.reduce_mean(tokens, &[1], false)
    }
}

/// The head MLP and the mean layer: pooled `[B, pooled]` -> raw action `[B, A]`.
pub fn head(g: &mut Graph, head: &Head, mean: &Linear, pooled: &str) -> String {
    let mut x = pooled.to_string();
    for layer in &head.layers {
        let y = linear(g, &x, layer);
        x = g.unary("Relu", &y);
    }
    linear(g, &x, mean)
}

/// Pooling then head for the policy branch: fused tokens -> raw action `[B, A]`.
pub fn policy_output(
    g: &mut Graph,
    policy: &PolicyBranch,
    fused: &str,
    (count, width, state): (usize, usize, bool),
) -> String {
    let pooled = match &policy.fusion {
        Fusion::Concat(_) => g.reshape(fused, &[0, (count * width) as i64]),
        _ => pool_fused(g, fused, count, width, state),
    };
    head(g, &policy.head, &policy.mean, &pooled)
}
