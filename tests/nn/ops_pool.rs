//! The fused token pooling (`ops::pool`) gives burn's tensor ops' values and gradients bit for
//! bit (the same sums in the same order), on both CPU backends.

use burn::prelude::*;
use burn::tensor::Distribution;
use locomamba::ops::pool::{pool_state_and_mean, pool_state_and_mean_reference};

#[allow(deprecated)]
fn cpu_devices() -> [Device; 2] {
    [Device::flex(), Device::ndarray()]
}

fn bits(t: Tensor<1>) -> Vec<u32> {
    t.into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .expect("f32 values")
        .into_iter()
        .map(f32::to_bits)
        .collect()
}

#[test]
fn fused_pooling_equals_burns_ops_forward_and_backward() {
    for device in cpu_devices() {
        let device = device.autodiff();
        // The paper's 17 tokens (a power-of-two divisor) and counts whose reciprocal rounds.
        for (batch, len, width) in [(3, 17, 8), (5, 4, 33), (2, 2, 1), (7, 8, 256)] {
            let tokens =
                Tensor::<3>::random([batch, len, width], Distribution::Normal(0.2, 1.5), &device)
                    .require_grad();
            let weights =
                Tensor::<2>::random([batch, 2 * width], Distribution::Normal(0.0, 1.0), &device);
            let run = |fused: bool| {
                let out = if fused {
                    pool_state_and_mean(tokens.clone())
                } else {
                    pool_state_and_mean_reference(tokens.clone())
                };
                assert_eq!(out.dims(), [batch, 2 * width]);
                let flat = out.clone().flatten::<1>(0, 1).detach();
                let grads = (out * weights.clone()).sum().backward();
                let g = tokens.grad(&grads).expect("token gradient");
                (bits(flat), bits(g.flatten::<1>(0, 2)))
            };
            let (out, grad) = run(true);
            let (want, want_grad) = run(false);
            assert_eq!(out, want, "{device:?} {batch}x{len}x{width}: pooled values");
            assert_eq!(
                grad, want_grad,
                "{device:?} {batch}x{len}x{width}: gradient"
            );
        }
    }
}
