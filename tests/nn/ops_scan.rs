//! The fused selective-scan operation (`ops::scan`) agrees with the tensor-op reference scan,
//! forward and backward (through burn's autodiff), on both CPU backends, from a zero state and
//! from an initial state with resets.

use burn::prelude::*;
use burn::tensor::Distribution;
use locomamba::kernels::selective_scan::ScanDims;
use locomamba::nn::scan_reference::selective_scan;
use locomamba::ops::scan::ScanInputs;
use locomamba::ops::scan::{selective_scan_fused, selective_scan_y};

fn inputs(
    device: &Device,
    (batch, len, channels, state): (usize, usize, usize, usize),
) -> ScanInputs {
    let dims = ScanDims {
        batch,
        len,
        channels,
        state,
    };
    ScanInputs::random(&dims, device)
}

/// [`inputs`] continuing from a random initial state, with resets at every fifth token of every
/// other sequence (the first token included) and at the last token of the last sequence.
fn continued(device: &Device, dims: (usize, usize, usize, usize)) -> ScanInputs {
    let (b, l, c, n) = dims;
    let flags: Vec<f32> = (0..b * l)
        .map(|i| {
            let (s, t) = (i / l, i % l);
            f32::from(u8::from(
                (s % 2 == 1 && t % 5 == 0) || (s == b - 1 && t == l - 1),
            ))
        })
        .collect();
    ScanInputs {
        h0: Some(Tensor::random(
            [b, c, n],
            Distribution::Normal(0.0, 1.0),
            device,
        )),
        reset: Some(Tensor::from_data(TensorData::new(flags, [b, l]), device)),
        ..inputs(device, dims)
    }
}

fn max_abs_diff<const D: usize>(x: Tensor<D>, y: Tensor<D>) -> f32 {
    (x - y).abs().max().into_scalar::<f32>()
}

fn max_abs<const D: usize>(x: Tensor<D>) -> f32 {
    x.abs().max().into_scalar::<f32>()
}

#[allow(deprecated)]
fn cpu_devices() -> [Device; 2] {
    [Device::flex(), Device::ndarray()]
}

#[test]
fn fused_forward_matches_reference_on_both_cpu_backends() {
    for device in cpu_devices() {
        for (dims, start) in [
            ((3, 17, 10, 16), false),
            ((1, 1, 1, 1), false),
            ((2, 33, 7, 8), false),
            ((3, 17, 10, 16), true),
            ((4, 11, 19, 8), true),
        ] {
            let x = if start {
                continued(&device, dims)
            } else {
                inputs(&device, dims)
            };
            let (y_ref, h_ref) = selective_scan(x.clone());
            let (y, h) = selective_scan_fused(&x);
            assert_eq!(y.dims(), y_ref.dims());
            assert_eq!(h.dims(), h_ref.dims());
            let dy = max_abs_diff(y, y_ref);
            let dh = max_abs_diff(h, h_ref);
            assert!(
                dy < 1e-4 && dh < 1e-4,
                "{device:?} {dims:?}: y diff {dy}, state diff {dh}"
            );
        }
    }
}

/// Inputs marked as requiring gradients, and a loss that weighs `y` and the last state with fixed
/// random weights (so every output element gets its own upstream gradient).
struct GradCase {
    x: ScanInputs,
    wy: Tensor<3>,
    wh: Tensor<3>,
}

impl GradCase {
    fn new(device: &Device, dims: (usize, usize, usize, usize), start: bool) -> Self {
        let x = if start {
            continued(device, dims)
        } else {
            inputs(device, dims)
        }
        .require_grad();
        let (b, l, c, n) = dims;
        let wy = Tensor::random([b, l, c], Distribution::Normal(0.0, 1.0), device);
        let wh = Tensor::random([b, c, n], Distribution::Normal(0.0, 1.0), device);
        Self { x, wy, wh }
    }

    /// Gradients of the loss for each input, flattened, in input order (`h0` last, when given).
    fn grads(&self, scan: impl Fn(ScanInputs) -> (Tensor<3>, Tensor<3>)) -> Vec<Tensor<1>> {
        let (y, h) = scan(self.x.clone());
        let loss = (y * self.wy.clone()).sum() + (h * self.wh.clone()).sum();
        let grads = loss.backward();
        let g = |t: &Tensor<3>| t.grad(&grads).expect("gradient").flatten::<1>(0, 2);
        let mut all = vec![
            g(&self.x.u),
            g(&self.x.delta),
            self.x.a.grad(&grads).expect("gradient").flatten::<1>(0, 1),
            g(&self.x.b),
            g(&self.x.c),
            self.x.d.grad(&grads).expect("gradient"),
            self.x.delta_bias.grad(&grads).expect("gradient"),
        ];
        all.extend(self.x.h0.as_ref().map(g));
        all
    }
}

#[test]
fn fused_gradients_match_reference_autodiff_on_both_cpu_backends() {
    let names = ["u", "delta", "a", "b", "c", "d", "delta_bias", "h0"];
    for device in cpu_devices() {
        let device = device.autodiff();
        for (dims, start) in [
            ((2, 9, 6, 4), false),
            ((3, 17, 5, 16), false),
            ((3, 17, 5, 16), true),
            ((4, 12, 21, 8), true),
        ] {
            let case = GradCase::new(&device, dims, start);
            let fused = case.grads(|x| selective_scan_fused(&x));
            let reference = case.grads(selective_scan);
            for ((f, r), name) in fused.into_iter().zip(reference).zip(names) {
                let scale = max_abs(r.clone()).max(1.0);
                let diff = max_abs_diff(f, r);
                assert!(
                    diff <= 1e-4 * scale,
                    "{device:?} {dims:?}: d{name} differs by {diff} (scale {scale})"
                );
            }
        }
    }
}

#[test]
fn untracked_inputs_on_an_autodiff_device_still_run_fused() {
    let device = Device::flex().autodiff();
    let x = inputs(&device, (2, 5, 3, 4));
    let (y, h) = selective_scan_fused(&x);
    let (y_ref, h_ref) = selective_scan(x);
    assert!(max_abs_diff(y, y_ref) < 1e-4);
    assert!(max_abs_diff(h, h_ref) < 1e-4);
}

/// The scan without state (training without memory: no last state written or differentiated, no
/// initial state's gradient) gives the fused scan's `y` and input gradients bit for bit, with and
/// without resets, on both CPU backends.
#[test]
fn scan_without_state_equals_the_fused_scan_bit_for_bit() {
    let bits = |t: Tensor<1>| -> Vec<u32> {
        let v = t
            .into_data()
            .convert::<f32>()
            .try_to_vec::<f32>()
            .expect("f32");
        v.into_iter().map(f32::to_bits).collect()
    };
    for device in cpu_devices() {
        let device = device.autodiff();
        for (dims, resets) in [((2, 9, 6, 4), false), ((3, 17, 37, 16), true)] {
            let mut x = inputs(&device, dims);
            if resets {
                x.reset = continued(&device, dims).reset;
            }
            let x = x.require_grad();
            let w = Tensor::<3>::random(
                [dims.0, dims.1, dims.2],
                Distribution::Normal(0.0, 1.0),
                &device,
            );
            let run = |y: Tensor<3>| {
                let out = bits(y.clone().flatten(0, 2));
                let grads = (y * w.clone()).sum().backward();
                let g = |t: &Tensor<3>| bits(t.grad(&grads).expect("gradient").flatten(0, 2));
                vec![
                    out,
                    g(&x.u),
                    g(&x.delta),
                    bits(x.a.grad(&grads).expect("gradient").flatten(0, 1)),
                    g(&x.b),
                    g(&x.c),
                    bits(x.d.grad(&grads).expect("gradient")),
                    bits(x.delta_bias.grad(&grads).expect("gradient")),
                ]
            };
            let stateful = run(selective_scan_fused(&x).0);
            let stateless = run(selective_scan_y(&x));
            let names = ["y", "du", "ddelta", "da", "db", "dc", "dd", "ddelta_bias"];
            for ((a, b), name) in stateful.iter().zip(&stateless).zip(names) {
                assert_eq!(a, b, "{device:?} {dims:?} resets {resets}: {name} differs");
            }
        }
    }
}
