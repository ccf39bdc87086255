//! Floating-point operations of the actor-critic's matrix products (convolutions, linear layers,
//! attention), so `runner bench nets` can put a train step's time beside the machine's matrix-
//! product rate. Elementwise work, normalisation and the selective scan are not counted: the rate
//! this gives is the products' share of the step, a lower bound on what the machine did.

use burn::nn::Linear;
use burn::nn::conv::Conv2d;

use crate::nn::fusion::Fusion;
use crate::nn::policy::Head;
use crate::nn::{ActorCritic, Encoder, ObsShape};

/// Multiply-adds counted twice (one multiply, one add) of a `rows x in` by `in x out` product.
fn product(rows: usize, linear: &Linear) -> f64 {
    let [d_in, d_out] = linear.weight.dims();
    2.0 * (rows * d_in * d_out) as f64
}

fn conv(conv: &Conv2d, out_positions: usize) -> f64 {
    let [o, c, k, _] = conv.weight.dims();
    2.0 * (out_positions * o * c * k * k) as f64
}

/// Output positions of each convolution of the Nature CNN for a `height x width` image.
fn conv_positions(shape: &ObsShape) -> Vec<usize> {
    let mut side = (shape.depth_height, shape.depth_width);
    [(8, 4), (4, 2), (3, 1), (1, 1)]
        .iter()
        .map(|&(k, s)| {
            side = ((side.0 - k) / s + 1, (side.1 - k) / s + 1);
            side.0 * side.1
        })
        .collect()
}

/// Forward FLOPs per sample of the encoder, and of its part whose input is not tracked (the
/// first convolution and the first state layer), whose input gradient is never computed.
fn encoder(e: &Encoder, shape: &ObsShape) -> (f64, f64) {
    let positions = conv_positions(shape);
    let mut total = 0.0;
    let mut first = 0.0;
    for (i, (c, &p)) in e
        .convs
        .iter()
        .chain(e.projection.as_ref())
        .zip(&positions)
        .enumerate()
    {
        let f = conv(c, p);
        total += f;
        if i == 0 {
            first += f;
        }
    }
    for (i, l) in e.state_mlp.iter().chain(e.state_token.as_ref()).enumerate() {
        let f = product(1, l);
        total += f;
        if i == 0 {
            first += f;
        }
    }
    (total, first)
}

/// Forward FLOPs per sample of a fusion stack over `tokens` tokens.
fn fusion(f: &Fusion, tokens: usize) -> f64 {
    match f {
        Fusion::Transformer(t) => t
            .layers
            .iter()
            .map(|l| {
                let layer = &l.inner.layers[0];
                let mha = &layer.mha;
                let [d, _] = mha.query.weight.dims();
                let attention = 2.0 * 2.0 * (tokens * tokens * d) as f64;
                [&mha.query, &mha.key, &mha.value, &mha.output]
                    .iter()
                    .map(|lin| product(tokens, lin))
                    .sum::<f64>()
                    + product(tokens, &layer.pwff.linear_inner)
                    + product(tokens, &layer.pwff.linear_outer)
                    + attention
            })
            .sum(),
        Fusion::Mamba(m) => {
            let directions = if m.bidirectional { 2.0 } else { 1.0 };
            m.layers
                .iter()
                .map(|b| {
                    directions
                        * [&b.in_proj, &b.x_proj, &b.dt_proj, &b.out_proj]
                            .iter()
                            .map(|lin| product(tokens, lin))
                            .sum::<f64>()
                })
                .sum()
        }
        Fusion::Concat(_) => 0.0,
    }
}

fn head(h: &Head, out: &Linear) -> f64 {
    h.layers.iter().map(|l| product(1, l)).sum::<f64>() + product(1, out)
}

/// FLOPs of one training step of `model` per sample: the forward, and the backward's two
/// products per forward product (input and weight gradients), less the input gradients of the
/// layers that read the observations.
pub fn train_step_flops_per_sample(model: &ActorCritic, shape: &ObsShape, tokens: usize) -> f64 {
    let (enc, enc_first) = encoder(&model.encoder, shape);
    let (venc, venc_first) = model
        .value_encoder
        .as_ref()
        .map_or((0.0, 0.0), |e| encoder(e, shape));
    let forward = enc
        + venc
        + fusion(&model.policy.fusion, tokens)
        + fusion(&model.value.fusion, tokens)
        + head(&model.policy.head, &model.policy.mean)
        + head(&model.value.head, &model.value.value);
    3.0 * forward - enc_first - venc_first
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_nature_cnn_positions_at_64_pixels() {
        let shape = ObsShape {
            proprio_dim: 1,
            depth_frames: 4,
            depth_height: 64,
            depth_width: 64,
            action_dim: 1,
            privileged_dim: 0,
        };
        assert_eq!(conv_positions(&shape), vec![225, 36, 16, 16]);
    }
}
