//! Orthogonal initialisation with zero bias (burn's orthogonal initializer only applies to
//! weights of rank >= 2, so biases are set separately).

use burn::module::{Initializer, Param};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;

/// A linear layer with orthogonal weights of the given gain and zero bias.
pub fn ortho_linear(input: usize, output: usize, gain: f64, device: &Device) -> Linear {
    let mut l = LinearConfig::new(input, output)
        .with_bias(false)
        .with_initializer(Initializer::Orthogonal { gain })
        .init(device);
    l.bias = Some(Param::from_tensor(Tensor::zeros([output], device)));
    l
}

/// A valid-padding 2-d convolution with orthogonal weights of the given gain and zero bias.
pub fn ortho_conv(
    channels: [usize; 2],
    kernel: usize,
    stride: usize,
    gain: f64,
    device: &Device,
) -> Conv2d {
    let mut c = Conv2dConfig::new(channels, [kernel, kernel])
        .with_stride([stride, stride])
        .with_bias(false)
        .with_initializer(Initializer::Orthogonal { gain })
        .init(device);
    c.bias = Some(Param::from_tensor(Tensor::zeros([channels[1]], device)));
    c
}
