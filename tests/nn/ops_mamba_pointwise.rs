//! The fused elementwise operations of the Mamba block (`ops::mamba_pointwise`: causal conv + SiLU,
//! from previous inputs and with resets, and the SiLU gate) agree with their burn tensor-op
//! references, forward and backward (through burn's autodiff), on both CPU backends.

use burn::prelude::*;
use burn::tensor::Distribution;
use locomamba::ops::has_fused_cpu_ops;
use locomamba::ops::mamba_pointwise::{
    ConvStart, causal_conv_silu, causal_conv_silu_reference, silu_gate, silu_gate_reference,
};

#[allow(deprecated)]
fn cpu_devices() -> [Device; 2] {
    [Device::flex(), Device::ndarray()]
}

fn normal<const D: usize>(shape: [usize; D], device: &Device) -> Tensor<D> {
    Tensor::random(shape, Distribution::Normal(0.0, 1.5), device)
}

fn max_abs_diff(x: Tensor<1>, y: Tensor<1>) -> f32 {
    (x - y).abs().max().into_scalar::<f32>()
}

/// Gradients of `sum(out * weights)` with respect to `inputs`, flattened, in input order.
fn grads_of(out: Tensor<3>, weights: Tensor<3>, inputs: &[Tensor<1>]) -> Vec<Tensor<1>> {
    let grads = (out * weights).sum().backward();
    inputs
        .iter()
        .map(|t| t.grad(&grads).expect("every input has a gradient"))
        .collect()
}

#[test]
fn cpu_devices_and_their_autodiff_wrappers_have_the_fused_ops() {
    for device in cpu_devices() {
        assert!(has_fused_cpu_ops(&device), "{device:?}");
        assert!(has_fused_cpu_ops(&device.clone().autodiff()), "{device:?}");
    }
}

type ConvFn = fn(Tensor<3>, Tensor<2>, Tensor<1>, &ConvStart) -> Tensor<3>;

/// Resets `[b, l]`: every third token of every other sequence, and the first token of the last.
fn resets(b: usize, l: usize, device: &Device) -> Tensor<2> {
    let flags: Vec<f32> = (0..b * l)
        .map(|i| {
            let (s, t) = (i / l, i % l);
            let every_third = s % 2 == 0 && t % 3 == 1;
            f32::from(u8::from(every_third || (s == b - 1 && t == 0)))
        })
        .collect();
    Tensor::from_data(TensorData::new(flags, [b, l]), device)
}

#[test]
fn causal_conv_silu_matches_reference_forward_and_backward() {
    for device in cpu_devices() {
        let device = device.autodiff();
        // (batch, len, channels, width), including a width longer than the sequence; each from
        // zero inputs, then from previous inputs with resets.
        for (b, l, c, k) in [(3, 17, 10, 4), (1, 1, 1, 1), (2, 5, 7, 3), (2, 2, 3, 4)] {
            for with_start in [false, true] {
                let x = normal([b * l * c], &device).require_grad();
                let w = normal([c * k], &device).require_grad();
                let bias = normal([c], &device).require_grad();
                let history = (k - 1).max(1);
                let prev = normal([b * history * c], &device).require_grad();
                let weights = normal([b, l, c], &device);
                // Built per run: each backward consumes the graph of its forward.
                let start = || {
                    if with_start {
                        ConvStart {
                            prev: (k > 1).then(|| prev.clone().reshape([b, history, c])),
                            reset: Some(resets(b, l, &device)),
                        }
                    } else {
                        ConvStart::default()
                    }
                };
                let run = |conv: ConvFn| {
                    let start = start();
                    let out = conv(
                        x.clone().reshape([b, l, c]),
                        w.clone().reshape([c, k]),
                        bias.clone(),
                        &start,
                    );
                    let flat = out.clone().flatten::<1>(0, 2).detach();
                    let mut inputs = vec![x.clone(), w.clone(), bias.clone()];
                    if start.prev.is_some() {
                        inputs.push(prev.clone());
                    }
                    (flat, grads_of(out, weights.clone(), &inputs))
                };
                let (out, grads) = run(causal_conv_silu);
                let (want, want_grads) = run(causal_conv_silu_reference);
                let case = (b, l, c, k, with_start);
                let d = max_abs_diff(out, want);
                assert!(d <= 1e-5, "{device:?} {case:?}: output diff {d}");
                for (i, (g, wg)) in grads.into_iter().zip(want_grads).enumerate() {
                    let d = max_abs_diff(g, wg);
                    assert!(d <= 1e-4, "{device:?} {case:?}: input {i} grad diff {d}");
                }
            }
        }
    }
}

#[test]
fn silu_gate_matches_reference_forward_and_backward() {
    for device in cpu_devices() {
        let device = device.autodiff();
        let shape = [4, 17, 9];
        let n = shape.iter().product();
        let y = normal([n], &device).require_grad();
        let z = normal([n], &device).require_grad();
        let weights = normal(shape, &device);
        let run = |gate: fn(Tensor<3>, Tensor<3>) -> Tensor<3>| {
            let out = gate(y.clone().reshape(shape), z.clone().reshape(shape));
            let flat = out.clone().flatten::<1>(0, 2).detach();
            (
                flat,
                grads_of(out, weights.clone(), &[y.clone(), z.clone()]),
            )
        };
        let (out, grads) = run(silu_gate);
        let (want, want_grads) = run(silu_gate_reference);
        // Relative to the outputs' size (|y silu(z)| reaches about 20 here): the fused sigmoid's
        // exp is accurate to about 2 ulp.
        let scale = 1.0 + want.clone().abs().max().into_scalar::<f32>();
        let d = max_abs_diff(out, want);
        assert!(
            d <= 1e-6 * scale,
            "{device:?}: output diff {d}, scale {scale}"
        );
        for (i, (g, wg)) in grads.into_iter().zip(want_grads).enumerate() {
            let d = max_abs_diff(g, wg);
            assert!(d <= 1e-5, "{device:?}: input {i} grad diff {d}");
        }
    }
}

#[test]
fn fused_ops_run_without_autodiff() {
    for device in cpu_devices() {
        let x = normal([2, 6, 5], &device);
        let (w, bias) = (normal([5, 4], &device), normal([5], &device));
        let start = ConvStart::default();
        let d = max_abs_diff(
            causal_conv_silu(x.clone(), w.clone(), bias.clone(), &start).flatten(0, 2),
            causal_conv_silu_reference(x.clone(), w, bias, &start).flatten(0, 2),
        );
        assert!(d <= 1e-5, "{device:?}: conv diff {d}");
        let z = normal([2, 6, 5], &device);
        let want = silu_gate_reference(x.clone(), z.clone()).flatten(0, 2);
        let scale = 1.0 + want.clone().abs().max().into_scalar::<f32>();
        let d = max_abs_diff(silu_gate(x, z).flatten(0, 2), want);
        assert!(
            d <= 1e-6 * scale,
            "{device:?}: gate diff {d}, scale {scale}"
        );
    }
}
