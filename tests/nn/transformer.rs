//! The Transformer fusion layer's own forward (linear layers over `[B * T, d]` rows) equals burn's
//! `TransformerEncoder` forward on the same parameters, values and gradients.

use burn::prelude::*;
use burn::tensor::Distribution;
use locomamba::device::cpu_device;
use locomamba::nn::transformer::{TransformerLayerConfig, TransformerLayerModule};

fn max_abs_diff<const D: usize>(a: Tensor<D>, b: Tensor<D>) -> f32 {
    (a - b).abs().max().into_scalar::<f32>()
}

/// Gradients of a loss weighing every output element with a fixed random weight: the input's and
/// a weight from each part of the layer (attention, feed-forward, both norms).
fn grads(
    layer: &TransformerLayerModule,
    x: &Tensor<3>,
    weights: &Tensor<3>,
    forward: impl Fn(&TransformerLayerModule, Tensor<3>) -> Tensor<3>,
) -> (Tensor<3>, Vec<Tensor<2>>, Vec<Tensor<1>>) {
    let y = forward(layer, x.clone());
    let g = (y * weights.clone()).sum().backward();
    let l = &layer.inner.layers[0];
    let w2 = [
        &l.mha.query.weight,
        &l.mha.key.weight,
        &l.mha.value.weight,
        &l.mha.output.weight,
        &l.pwff.linear_inner.weight,
        &l.pwff.linear_outer.weight,
    ]
    .map(|p| p.grad(&g).expect("weight gradient"))
    .to_vec();
    let w1 = [&l.norm_1.gamma, &l.norm_2.gamma]
        .map(|p| p.grad(&g).expect("norm gradient"))
        .to_vec();
    (x.grad(&g).expect("input gradient"), w2, w1)
}

#[test]
fn forward_equals_burns_encoder() {
    let device = cpu_device();
    for (d_model, n_heads, d_ff, batch, tokens) in [(16, 2, 32, 3, 17), (32, 8, 64, 1, 5)] {
        let layer = TransformerLayerConfig::new(d_model, n_heads, d_ff).init(&device);
        let x = Tensor::<3>::random(
            [batch, tokens, d_model],
            Distribution::Normal(0.0, 1.0),
            &device,
        );
        let ours = layer.forward(x.clone());
        assert_eq!(ours.dims(), [batch, tokens, d_model]);
        let diff = max_abs_diff(ours, layer.reference_forward(x));
        assert!(diff <= 1e-5, "d_model {d_model}: max abs diff {diff}");
    }
}

#[test]
fn gradients_equal_burns_encoder() {
    let device = cpu_device().autodiff();
    let layer = TransformerLayerConfig::new(16, 4, 24).init(&device);
    let shape = [2, 6, 16];
    let x = Tensor::<3>::random(shape, Distribution::Normal(0.0, 1.0), &device).require_grad();
    let weights = Tensor::<3>::random(shape, Distribution::Normal(0.0, 1.0), &device);
    let (gx, gw2, gw1) = grads(&layer, &x, &weights, |l, x| l.forward(x));
    let (rx, rw2, rw1) = grads(&layer, &x, &weights, |l, x| l.reference_forward(x));
    assert!(max_abs_diff(gx.clone(), rx) <= 1e-5);
    assert!(
        gx.abs().max().into_scalar::<f32>() > 1e-3,
        "input gradient vanished"
    );
    for (i, (a, b)) in gw2.into_iter().zip(rw2).enumerate() {
        let diff = max_abs_diff(a, b);
        assert!(diff <= 1e-5, "weight {i}: max abs diff {diff}");
    }
    for (i, (a, b)) in gw1.into_iter().zip(rw1).enumerate() {
        let diff = max_abs_diff(a, b);
        assert!(diff <= 1e-5, "norm {i}: max abs diff {diff}");
    }
}
