//! The fused valid convolution (`ops::conv`) agrees with burn's `Conv2d::forward`, forward and
//! backward (through burn's autodiff), on both CPU backends, at the Nature CNN's kernel and stride
//! pairs; the input's gradient is left out when the input is not tracked; and convolutions the
//! fused op does not cover (padding, no bias) still run, through burn.

use burn::nn::PaddingConfig2d;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::prelude::*;
use burn::tensor::Distribution;
use locomamba::ops::conv::{conv2d, conv2d_reference};

#[allow(deprecated)]
fn cpu_devices() -> [Device; 2] {
    [Device::flex(), Device::ndarray()]
}

fn normal<const D: usize>(shape: [usize; D], device: &Device) -> Tensor<D> {
    Tensor::random(shape, Distribution::Normal(0.0, 1.0), device)
}

fn max_abs_diff<const D: usize>(x: Tensor<D>, y: Tensor<D>) -> f32 {
    (x - y).abs().max().into_scalar::<f32>()
}

fn conv(channels: [usize; 2], kernel: usize, stride: usize, device: &Device) -> Conv2d {
    Conv2dConfig::new(channels, [kernel, kernel])
        .with_stride([stride, stride])
        .init(device)
}

type ConvFn = fn(&Conv2d, Tensor<4>) -> Tensor<4>;

#[test]
fn fused_conv_matches_burns_conv2d_forward_and_backward() {
    for device in cpu_devices() {
        let device = device.autodiff();
        // (batch, in, out, side, kernel, stride): the Nature CNN's three layers and the 1x1
        // projection, with batches below and above the backward's chunk of samples.
        for (batch, c_in, c_out, side, k, s) in [
            (3, 4, 8, 32, 8, 4),
            (11, 6, 10, 14, 4, 2),
            (9, 5, 7, 6, 3, 1),
            (2, 7, 3, 4, 1, 1),
        ] {
            let layer = conv([c_in, c_out], k, s, &device);
            let x = normal([batch, c_in, side, side], &device).require_grad();
            let out_side = (side - k) / s + 1;
            let weights = normal([batch, c_out, out_side, out_side], &device);
            let run = |f: ConvFn| {
                let out = f(&layer, x.clone());
                let grads = (out.clone() * weights.clone()).sum().backward();
                let gx = x.grad(&grads).expect("x gradient");
                let gw = layer.weight.val().grad(&grads).expect("weight gradient");
                let gb = layer
                    .bias
                    .as_ref()
                    .unwrap()
                    .val()
                    .grad(&grads)
                    .expect("bias");
                (out.detach(), gx, gw, gb)
            };
            let case = (batch, c_in, c_out, side, k, s);
            let (out, gx, gw, gb) = run(conv2d);
            let (want, want_gx, want_gw, want_gb) = run(conv2d_reference);
            assert_eq!(out.dims(), want.dims(), "{case:?}: output shape");
            let d = max_abs_diff(out, want);
            assert!(d <= 1e-4, "{device:?} {case:?}: output diff {d}");
            let d = max_abs_diff(gx, want_gx);
            assert!(d <= 1e-3, "{device:?} {case:?}: input grad diff {d}");
            let d = max_abs_diff(gw, want_gw);
            assert!(d <= 1e-3, "{device:?} {case:?}: weight grad diff {d}");
            let d = max_abs_diff(gb, want_gb);
            assert!(d <= 1e-3, "{device:?} {case:?}: bias grad diff {d}");
        }
    }
}

#[test]
fn an_untracked_input_gets_no_gradient_but_the_weights_do() {
    let device = Device::flex().autodiff();
    let layer = conv([2, 3], 3, 1, &device);
    let x = normal([2, 2, 5, 5], &device);
    let grads = conv2d(&layer, x.clone()).sum().backward();
    assert!(x.grad(&grads).is_none(), "the input is not tracked");
    let gw = layer.weight.val().grad(&grads).expect("weight gradient");
    assert_eq!(gw.dims(), [3, 2, 3, 3]);
}

#[test]
fn convolutions_outside_the_fused_op_fall_back_to_burn() {
    for device in cpu_devices() {
        let padded = Conv2dConfig::new([2, 3], [3, 3])
            .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
            .init(&device);
        let no_bias = Conv2dConfig::new([2, 3], [3, 3])
            .with_bias(false)
            .init(&device);
        let x = normal([2, 2, 6, 6], &device);
        for layer in [padded, no_bias] {
            let got = conv2d(&layer, x.clone());
            let want = conv2d_reference(&layer, x.clone());
            assert_eq!(got.dims(), want.dims());
            assert!(max_abs_diff(got, want) <= 1e-6, "{device:?}");
        }
    }
}
