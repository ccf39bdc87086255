//! The fused valid convolution with ReLU and NHWC output (`ops::conv`) agrees with burn's
//! `Conv2d::forward` and `relu` (through burn's autodiff, between layout changes), forward and
//! backward, on both CPU backends, at the Nature CNN's kernel and stride pairs and for NCHW and
//! NHWC input; the input's gradient is left out when the input is not tracked; convolutions the
//! fused op does not cover (padding, no bias) still run, through burn; and the depth encoder built
//! on it equals the same network run through burn's convolutions.

use burn::module::{ModuleMapper, Param};
use burn::nn::PaddingConfig2d;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::prelude::*;
use burn::tensor::{Distribution, TensorData};
use locomamba::ops::conv::{InputLayout, conv2d_relu, conv2d_relu_reference};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

#[allow(deprecated)]
fn cpu_devices() -> [Device; 2] {
    [Device::flex(), Device::ndarray()]
}

fn normal<const D: usize>(shape: [usize; D], device: &Device) -> Tensor<D> {
    Tensor::random(shape, Distribution::Normal(0.0, 1.0), device)
}

/// Values drawn from `rng`: standard normal, or uniform in [0, 1) when `uniform`.
fn drawn<const D: usize>(
    shape: [usize; D],
    rng: &mut ChaCha8Rng,
    uniform: bool,
    device: &Device,
) -> Tensor<D> {
    let n = shape.iter().product();
    let values: Vec<f32> = (0..n)
        .map(|_| {
            if uniform {
                rng.random::<f32>()
            } else {
                locomamba::ppo::seeding::normal(rng)
            }
        })
        .collect();
    Tensor::from_data(TensorData::new(values, shape), device)
}

/// Redraws every float parameter from a seeded generator (scaled by `1 / sqrt(fan_in)`), so a
/// test's network does not depend on burn's global generator, which the tests running beside it
/// draw from too.
struct Redraw(ChaCha8Rng);

impl ModuleMapper for Redraw {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        param.map(|t| {
            let dims = t.dims();
            let fan_in: usize = dims[1..].iter().product::<usize>().max(1);
            let fresh = drawn(dims, &mut self.0, false, &t.device())
                .mul_scalar(1.0 / (fan_in as f32).sqrt());
            if t.is_require_grad() {
                fresh.require_grad()
            } else {
                fresh
            }
        })
    }
}

fn max_abs_diff<const D: usize>(x: Tensor<D>, y: Tensor<D>) -> f32 {
    (x - y).abs().max().into_scalar::<f32>()
}

fn conv(channels: [usize; 2], kernel: usize, stride: usize, device: &Device) -> Conv2d {
    Conv2dConfig::new(channels, [kernel, kernel])
        .with_stride([stride, stride])
        .init(device)
}

type ConvFn = fn(&Conv2d, Tensor<4>, InputLayout) -> Tensor<4>;

#[test]
fn fused_conv_matches_burns_conv2d_forward_and_backward() {
    for device in cpu_devices() {
        let device = device.autodiff();
        // (batch, in, out, side, kernel, stride): the Nature CNN's three layers and the 1x1
        // projection, with batches below and above the backward's chunk of samples.
        for ((batch, c_in, c_out, side, k, s), layout) in [
            ((3, 4, 8, 32, 8, 4), InputLayout::Nchw),
            ((11, 6, 10, 14, 4, 2), InputLayout::Nhwc),
            ((9, 5, 7, 6, 3, 1), InputLayout::Nhwc),
            ((2, 7, 3, 4, 1, 1), InputLayout::Nhwc),
            ((10, 3, 4, 9, 3, 2), InputLayout::Nchw),
        ] {
            let layer = conv([c_in, c_out], k, s, &device);
            let shape = match layout {
                InputLayout::Nchw => [batch, c_in, side, side],
                InputLayout::Nhwc => [batch, side, side, c_in],
            };
            let x = normal(shape, &device).require_grad();
            let out_side = (side - k) / s + 1;
            let weights = normal([batch, out_side, out_side, c_out], &device);
            let run = |f: ConvFn| {
                let out = f(&layer, x.clone(), layout);
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
            let case = (batch, c_in, c_out, side, k, s, layout);
            let (out, gx, gw, gb) = run(conv2d_relu);
            let (want, want_gx, want_gw, want_gb) = run(conv2d_relu_reference);
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
    let grads = conv2d_relu(&layer, x.clone(), InputLayout::Nchw)
        .sum()
        .backward();
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
            let got = conv2d_relu(&layer, x.clone(), InputLayout::Nchw);
            let want = conv2d_relu_reference(&layer, x.clone(), InputLayout::Nchw);
            assert_eq!(got.dims(), want.dims());
            assert!(max_abs_diff(got, want) <= 1e-6, "{device:?}");
        }
    }
}

/// The depth encoder's Nature CNN (NCHW depth in, NHWC through the layers, token rows out)
/// equals the same layers run through burn's `Conv2d::forward` and `relu` in NCHW order with the
/// grid flattened to tokens at the end, forward and in the gradients of its weights, at the fast
/// recipes' sizes (64 x 64 depth, 4 frames, width 32) and at a batch of more than one chunk.
#[test]
fn the_encoder_equals_burns_convolutions_in_nchw_order() {
    use locomamba::nn::encoder::{Encoder, ObsShape};
    use locomamba::recipe::EncoderConfig;

    let device = Device::flex().autodiff();
    let shape = ObsShape {
        proprio_dim: 10,
        depth_frames: 4,
        depth_height: 64,
        depth_width: 64,
        action_dim: 6,
        privileged_dim: 0,
    };
    let cfg = EncoderConfig {
        hidden_shapes: vec![16],
        visual_dim: 32,
        ..EncoderConfig::default()
    };
    // Every draw from one seeded generator: the fused forward rounds differently from burn's, and
    // a pre-activation within that rounding of zero flips a ReLU between the two, which moves a
    // weight gradient by up to about 1% (unseeded, that failed one CI run; 80 runs here passed).
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let encoder =
        Encoder::new(&cfg, &shape, &device).map(&mut Redraw(ChaCha8Rng::seed_from_u64(7)));
    let batch = 11;
    let proprio = drawn([batch, shape.proprio_dim], &mut rng, false, &device);
    let depth = drawn([batch, 4, 64, 64], &mut rng, true, &device);
    let got = encoder.forward(proprio.clone(), depth.clone());
    // The reference: the state token from the encoder itself, the visual tokens by burn.
    let mut x = depth;
    for conv in &encoder.convs {
        x = burn::tensor::activation::relu(conv.forward(x));
    }
    let x = burn::tensor::activation::relu(encoder.projection.as_ref().unwrap().forward(x));
    let [b, d, h, w] = x.dims();
    let visual = x.reshape([b, d, h * w]).swap_dims(1, 2);
    let tokens = encoder.forward(proprio, Tensor::zeros([batch, 4, 64, 64], &device));
    let want = Tensor::cat(vec![tokens.narrow(1, 0, 1), visual], 1);
    assert_eq!(got.dims(), want.dims());
    let diff = max_abs_diff(got.clone().detach(), want.clone().detach());
    assert!(diff <= 1e-4, "tokens differ by {diff}");
    let probe = drawn(got.dims(), &mut rng, false, &device);
    let g_got = (got * probe.clone()).sum().backward();
    let g_want = (want * probe).sum().backward();
    for (i, conv) in encoder.convs.iter().enumerate() {
        let a = conv.weight.val().grad(&g_got).expect("weight gradient");
        let b = conv.weight.val().grad(&g_want).expect("weight gradient");
        let scale = b.clone().abs().max().into_scalar::<f32>().max(1.0);
        let d = max_abs_diff(a, b) / scale;
        assert!(
            d <= 1e-4,
            "conv {i}: weight gradients differ by {d} (relative)"
        );
    }
}
