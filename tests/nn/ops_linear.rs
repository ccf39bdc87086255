//! The fused linear layer over rows (`ops::linear`) agrees with burn's `matmul` (+ bias),
//! forward and backward (through burn's autodiff), on both CPU backends, with and without a bias,
//! also when the weight is a narrowed view, and with weight columns read in place (Mamba's split
//! `in_proj`).

use burn::prelude::*;
use burn::tensor::Distribution;
use locomamba::ops::linear::{linear_rows, linear_rows_columns, linear_rows_reference};

#[allow(deprecated)]
fn cpu_devices() -> [Device; 2] {
    [Device::flex(), Device::ndarray()]
}

fn normal<const D: usize>(shape: [usize; D], device: &Device) -> Tensor<D> {
    Tensor::random(shape, Distribution::Normal(0.0, 1.0), device)
}

fn max_abs_diff(x: Tensor<1>, y: Tensor<1>) -> f32 {
    (x - y).abs().max().into_scalar::<f32>()
}

type Linear = fn(Tensor<2>, Tensor<2>, Option<Tensor<1>>) -> Tensor<2>;

#[test]
fn fused_linear_matches_burns_matmul_forward_and_backward() {
    for device in cpu_devices() {
        let device = device.autodiff();
        // (rows, d_in, d_out, narrowed weight columns): small, gemm's parallel path, a view.
        for (rows, d_in, d_out, cols) in [
            (7, 3, 5, None),
            (600, 96, 130, None),
            (40, 16, 24, Some(8..20)),
        ] {
            for with_bias in [false, true] {
                let x = normal([rows, d_in], &device).require_grad();
                let w = normal([d_in, d_out], &device).require_grad();
                let b = normal([d_out], &device).require_grad();
                let width = cols.as_ref().map_or(d_out, |c| c.len());
                let weights = normal([rows, width], &device);
                let run = |linear: Linear| {
                    let (wv, bv) = match &cols {
                        Some(c) => (
                            w.clone().narrow(1, c.start, c.len()),
                            b.clone().narrow(0, c.start, c.len()),
                        ),
                        None => (w.clone(), b.clone()),
                    };
                    let out = linear(x.clone(), wv, with_bias.then_some(bv));
                    let flat = out.clone().flatten::<1>(0, 1).detach();
                    let grads = (out * weights.clone()).sum().backward();
                    let g = |t: &Tensor<2>| t.grad(&grads).expect("x and w have gradients");
                    let mut all = vec![g(&x).flatten::<1>(0, 1), g(&w).flatten::<1>(0, 1)];
                    if with_bias {
                        all.push(b.grad(&grads).expect("b has a gradient"));
                    }
                    (flat, all)
                };
                let case = (rows, d_in, d_out, &cols, with_bias);
                let (out, grads) = run(linear_rows);
                let (want, want_grads) = run(linear_rows_reference);
                let d = max_abs_diff(out, want);
                assert!(d <= 1e-4, "{device:?} {case:?}: output diff {d}");
                assert_eq!(grads.len(), want_grads.len());
                for (i, (g, wg)) in grads.into_iter().zip(want_grads).enumerate() {
                    let d = max_abs_diff(g, wg);
                    assert!(d <= 1e-3, "{device:?} {case:?}: input {i} grad diff {d}");
                }
            }
        }
    }
}

#[test]
fn fused_linear_runs_without_autodiff() {
    for device in cpu_devices() {
        let x = normal([9, 4], &device);
        let w = normal([4, 6], &device);
        let b = normal([6], &device);
        let got = linear_rows(x.clone(), w.clone(), Some(b.clone()));
        let want = linear_rows_reference(x, w, Some(b));
        let d = max_abs_diff(got.flatten(0, 1), want.flatten(0, 1));
        assert!(d <= 1e-5, "{device:?}: diff {d}");
    }
}

#[test]
fn weight_columns_read_in_place_match_a_narrowed_weight() {
    for device in cpu_devices() {
        let device = device.autodiff();
        let (rows, d_in, d_out, cols) = (30, 8, 20, 5..17);
        let x = normal([rows, d_in], &device).require_grad();
        let w = normal([d_in, d_out], &device).require_grad();
        let weights = normal([rows, cols.len()], &device);
        let run = |fused: bool| {
            let out = if fused {
                linear_rows_columns(x.clone(), w.clone(), cols.clone())
            } else {
                x.clone()
                    .matmul(w.clone().narrow(1, cols.start, cols.len()))
            };
            let flat = out.clone().flatten::<1>(0, 1).detach();
            let grads = (out * weights.clone()).sum().backward();
            let gx = x.grad(&grads).expect("x gradient").flatten::<1>(0, 1);
            let gw = w.grad(&grads).expect("w gradient").flatten::<1>(0, 1);
            (flat, gx, gw)
        };
        let (out, gx, gw) = run(true);
        let (want, want_gx, want_gw) = run(false);
        assert!(max_abs_diff(out, want) <= 1e-4, "{device:?}: output");
        assert!(max_abs_diff(gx, want_gx) <= 1e-4, "{device:?}: x gradient");
        assert!(max_abs_diff(gw, want_gw) <= 1e-4, "{device:?}: w gradient");
    }
}
