//! The fused layer norm over rows (`ops::layer_norm`) agrees with burn's `LayerNorm::forward`,
//! forward and backward (through burn's autodiff), on both CPU backends, and falls back to burn's
//! module where it has no bias.

use burn::nn::LayerNormConfig;
use burn::prelude::*;
use burn::tensor::Distribution;
use locomamba::ops::layer_norm::{LAYER_NORM_EPS, layer_norm_rows};

#[allow(deprecated)]
fn cpu_devices() -> [Device; 2] {
    [Device::flex(), Device::ndarray()]
}

fn max_abs_diff(x: Tensor<1>, y: Tensor<1>) -> f32 {
    (x - y).abs().max().into_scalar::<f32>()
}

#[test]
fn fused_layer_norm_matches_burns_module_forward_and_backward() {
    for device in cpu_devices() {
        let device = device.autodiff();
        // Rows across several tasks, widths below and above the 16 partial sums.
        for (rows, width) in [(3, 5), (130, 128), (70, 19)] {
            let mut norm = LayerNormConfig::new(width)
                .with_epsilon(LAYER_NORM_EPS)
                .init(&device);
            // Parameters away from their ones/zeros initialisation, so that their gradients and
            // their use in the forward are both exercised.
            norm.gamma = norm.gamma.map(|g| {
                Tensor::random([width], Distribution::Normal(1.0, 0.5), &g.device()).require_grad()
            });
            let beta = norm.beta.take().expect("bias on by default");
            norm.beta = Some(beta.map(|b| {
                Tensor::random([width], Distribution::Normal(0.0, 0.5), &b.device()).require_grad()
            }));
            let x = Tensor::<2>::random([rows, width], Distribution::Normal(0.3, 2.0), &device)
                .require_grad();
            let weights =
                Tensor::<2>::random([rows, width], Distribution::Normal(0.0, 1.0), &device);
            let run = |fused: bool| {
                let out = if fused {
                    layer_norm_rows(&norm, x.clone())
                } else {
                    norm.forward(x.clone())
                };
                let flat = out.clone().flatten::<1>(0, 1).detach();
                let grads = (out * weights.clone()).sum().backward();
                let gx = x.grad(&grads).expect("x gradient").flatten::<1>(0, 1);
                let gg = norm.gamma.val().grad(&grads).expect("gamma gradient");
                let gb = norm
                    .beta
                    .as_ref()
                    .expect("beta")
                    .val()
                    .grad(&grads)
                    .expect("beta gradient");
                (flat, [gx, gg, gb])
            };
            let (out, grads) = run(true);
            let (want, want_grads) = run(false);
            let d = max_abs_diff(out, want);
            assert!(d <= 1e-5, "{device:?} {rows}x{width}: output diff {d}");
            for (i, (g, w)) in grads.into_iter().zip(want_grads).enumerate() {
                let d = max_abs_diff(g, w);
                assert!(
                    d <= 1e-3,
                    "{device:?} {rows}x{width}: input {i} grad diff {d}"
                );
            }
        }
    }
}

#[test]
fn layer_norm_without_bias_uses_burns_module() {
    let device = Device::flex();
    let norm = LayerNormConfig::new(6).with_bias(false).init(&device);
    let x = Tensor::<2>::random([4, 6], Distribution::Normal(0.0, 1.0), &device);
    let d = max_abs_diff(
        layer_norm_rows(&norm, x.clone()).flatten(0, 1),
        norm.forward(x).flatten(0, 1),
    );
    assert!(d <= 1e-6, "diff {d}");
}
