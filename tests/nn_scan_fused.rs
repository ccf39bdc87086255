//! The fused CPU kernel path agrees with the tensor-op reference scan (forward), and is only
//! taken for untracked CPU tensors.

use burn::prelude::*;
use burn::tensor::Distribution;
use locomamba::nn::scan::{ScanInputs, selective_scan, selective_scan_fused};

fn inputs(device: &Device) -> ScanInputs {
    let (b, l, c, n) = (3, 17, 10, 16);
    let r = |s: [usize; 3]| Tensor::<3>::random(s, Distribution::Normal(0.0, 1.0), device);
    ScanInputs {
        u: r([b, l, c]),
        delta: r([b, l, c]),
        a: Tensor::<2>::random([c, n], Distribution::Uniform(0.1, 2.0), device).neg(),
        b: r([b, l, n]),
        c: r([b, l, n]),
        d: Tensor::random([c], Distribution::Normal(0.0, 1.0), device),
        delta_bias: Tensor::random([c], Distribution::Normal(0.0, 1.0), device),
    }
}

#[test]
#[allow(deprecated)]
fn fused_forward_matches_reference_on_both_cpu_backends() {
    for device in [Device::flex(), Device::ndarray()] {
        let x = inputs(&device);
        let (y_ref, h_ref) = selective_scan(x.clone());
        let (y, h) = selective_scan_fused(&x).expect("fused path on CPU");
        let dy = (y - y_ref).abs().max().into_scalar::<f32>();
        let dh = (h - h_ref).abs().max().into_scalar::<f32>();
        assert!(
            dy < 1e-4 && dh < 1e-4,
            "{device:?}: y diff {dy}, state diff {dh}"
        );
    }
}

#[test]
fn tracked_inputs_fall_back_to_reference() {
    let device = Device::flex().autodiff();
    let mut x = inputs(&device);
    x.u = x.u.require_grad();
    assert!(selective_scan_fused(&x).is_none());
}
