//! Valid 2-D convolutions (the depth encoder's Nature CNN) as a burn backend operation with its
//! autodiff node, running the kernels of [`crate::kernels::conv`] on the CPU backends (see there
//! why). The node computes the input's gradient only when the input is tracked, so the first
//! layer, whose input is the depth image, pays for none. Every other device, and any convolution
//! with padding, dilation, groups or unequal strides, runs burn's `Conv2d::forward`
//! ([`conv2d_reference`], also the test oracle).

// burn 0.22 deprecates its NdArray backend; it is still one of the two CPU backends a recipe can
// pick (`backend.cpu_backend`), so this op serves it too.
#![allow(deprecated)]

use burn::backend::NdArray;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, ExtensionType, Flex, TensorMetadata, backend_extension};
use burn::nn::PaddingConfig2d;
use burn::nn::conv::Conv2d;
use burn::prelude::*;
use burn::tensor::Shape;

use super::autodiff::record;
use super::host::{HostValues, from_host, has_fused_cpu_ops};
use crate::kernels::conv::{self as kernel, ConvDims};

/// Gradients of [`ConvValidOps::conv_valid`]'s parameters.
#[derive(ExtensionType)]
pub struct ConvParamGrads<B: Backend> {
    /// `[out_channels, in_channels, kernel, kernel]`.
    pub weight: FloatTensor<B>,
    /// `[out_channels]`.
    pub bias: FloatTensor<B>,
}

/// Valid 2-D convolutions with a bias as backend operations.
#[backend_extension(Flex, NdArray, Autodiff)]
pub trait ConvValidOps: Backend {
    /// `x` `[batch, in, h, w]` convolved by `weight` `[out, in, k, k]` with `stride`, plus `bias`
    /// `[out]`: `[batch, out, (h - k) / stride + 1, (w - k) / stride + 1]`.
    fn conv_valid(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        stride: usize,
    ) -> FloatTensor<Self>;

    /// Gradients of [`conv_valid`](Self::conv_valid)'s weight and bias given its output's
    /// gradient.
    fn conv_valid_param_grads(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        stride: usize,
    ) -> ConvParamGrads<Self>;

    /// Gradient of [`conv_valid`](Self::conv_valid)'s input (of `x`'s shape) given its output's
    /// gradient.
    fn conv_valid_input_grad(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        stride: usize,
    ) -> FloatTensor<Self>;
}

/// Sizes from `x` `[batch, in, h, w]` and `weight` `[out, in, k, k]`.
fn conv_dims(x: &Shape, weight: &Shape, stride: usize) -> ConvDims {
    assert_eq!(
        (weight[1], weight[2]),
        (x[1], weight[3]),
        "conv op: weight {weight:?} for input {x:?} (square kernels, no groups)"
    );
    ConvDims {
        batch: x[0],
        in_channels: x[1],
        height: x[2],
        width: x[3],
        out_channels: weight[0],
        kernel: weight[2],
        stride,
    }
}

fn host_forward<B: HostValues>(
    x: FloatTensor<B>,
    weight: FloatTensor<B>,
    bias: FloatTensor<B>,
    stride: usize,
) -> FloatTensor<B> {
    let device = x.device();
    let dims = conv_dims(&x.shape(), &weight.shape(), stride);
    let out = kernel::conv_forward(
        &dims,
        &B::values(&x),
        &B::values(&weight),
        Some(&B::values(&bias)),
    );
    let shape = [
        dims.batch,
        dims.out_channels,
        dims.out_height(),
        dims.out_width(),
    ];
    from_host::<B>(out, Shape::new(shape), &device)
}

fn host_param_grads<B: HostValues>(
    x: FloatTensor<B>,
    weight: FloatTensor<B>,
    grad: FloatTensor<B>,
    stride: usize,
) -> ConvParamGrads<B> {
    let device = x.device();
    let w_shape = weight.shape();
    let dims = conv_dims(&x.shape(), &w_shape, stride);
    let g = kernel::conv_weight_grads(
        &dims,
        &B::values(&x),
        &B::values(&weight),
        &B::values(&grad),
    );
    ConvParamGrads {
        weight: from_host::<B>(g.weight, w_shape, &device),
        bias: from_host::<B>(g.bias, Shape::new([dims.out_channels]), &device),
    }
}

fn host_input_grad<B: HostValues>(
    x: FloatTensor<B>,
    weight: FloatTensor<B>,
    grad: FloatTensor<B>,
    stride: usize,
) -> FloatTensor<B> {
    let device = x.device();
    let x_shape = x.shape();
    let dims = conv_dims(&x_shape, &weight.shape(), stride);
    let dx = kernel::conv_input_grad(&dims, &B::values(&weight), &B::values(&grad));
    from_host::<B>(dx, x_shape, &device)
}

/// The host implementation for one CPU backend.
macro_rules! host_conv_ops {
    ($backend:ty) => {
        impl ConvValidOps for $backend {
            fn conv_valid(
                x: FloatTensor<Self>,
                weight: FloatTensor<Self>,
                bias: FloatTensor<Self>,
                stride: usize,
            ) -> FloatTensor<Self> {
                host_forward::<Self>(x, weight, bias, stride)
            }

            fn conv_valid_param_grads(
                x: FloatTensor<Self>,
                weight: FloatTensor<Self>,
                grad: FloatTensor<Self>,
                stride: usize,
            ) -> ConvParamGrads<Self> {
                host_param_grads::<Self>(x, weight, grad, stride)
            }

            fn conv_valid_input_grad(
                x: FloatTensor<Self>,
                weight: FloatTensor<Self>,
                grad: FloatTensor<Self>,
                stride: usize,
            ) -> FloatTensor<Self> {
                host_input_grad::<Self>(x, weight, grad, stride)
            }
        }
    };
}

host_conv_ops!(Flex);
host_conv_ops!(NdArray);

/// Autodiff node of [`ConvValidOps::conv_valid`]: keeps its three inputs and the stride.
#[derive(Debug)]
struct ConvBackward {
    stride: usize,
}

impl<B: Backend + ConvValidOps> Backward<B, 3> for ConvBackward {
    type State = [FloatTensor<B>; 3];

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let grad = grads.consume::<B>(&ops.node);
        let [x, weight, _bias] = ops.state;
        let [x_node, weight_node, bias_node] = ops.parents;
        if let Some(node) = x_node {
            let dx = B::conv_valid_input_grad(x.clone(), weight.clone(), grad.clone(), self.stride);
            grads.register::<B>(node.id, dx);
        }
        if weight_node.is_some() || bias_node.is_some() {
            let g = B::conv_valid_param_grads(x, weight, grad, self.stride);
            if let Some(node) = weight_node {
                grads.register::<B>(node.id, g.weight);
            }
            if let Some(node) = bias_node {
                grads.register::<B>(node.id, g.bias);
            }
        }
    }
}

impl<B: Backend + ConvValidOps, C: CheckpointStrategy> ConvValidOps for Autodiff<B, C> {
    fn conv_valid(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        stride: usize,
    ) -> FloatTensor<Self> {
        let node = ConvBackward { stride };
        record::<B, C, _, 3>(node, [x, weight, bias], |[x, weight, bias]| {
            B::conv_valid(x, weight, bias, stride)
        })
    }

    fn conv_valid_param_grads(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        stride: usize,
    ) -> ConvParamGrads<Self> {
        // Second-order gradients are not supported: the backward runs untracked.
        let g = B::conv_valid_param_grads(
            x.into_primitive(),
            weight.into_primitive(),
            grad.into_primitive(),
            stride,
        );
        ConvParamGrads {
            weight: FloatTensor::<Self>::new(g.weight),
            bias: FloatTensor::<Self>::new(g.bias),
        }
    }

    fn conv_valid_input_grad(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        stride: usize,
    ) -> FloatTensor<Self> {
        let dx = B::conv_valid_input_grad(
            x.into_primitive(),
            weight.into_primitive(),
            grad.into_primitive(),
            stride,
        );
        FloatTensor::<Self>::new(dx)
    }
}

/// The stride of `conv` when the fused op computes it (bias, square kernel, equal strides, no
/// padding, dilation or groups), `None` otherwise.
fn fused_stride(conv: &Conv2d) -> Option<usize> {
    let [kh, kw] = conv.kernel_size;
    let [sh, sw] = conv.stride;
    let plain = conv.bias.is_some()
        && kh == kw
        && sh == sw
        && conv.dilation == [1, 1]
        && conv.groups == 1
        && matches!(conv.padding, PaddingConfig2d::Valid);
    plain.then_some(sh)
}

/// `conv.forward(x)`: the fused kernels on CPU devices when `conv` is a plain valid convolution
/// with a bias (the encoder's), [`conv2d_reference`] otherwise.
pub fn conv2d(conv: &Conv2d, x: Tensor<4>) -> Tensor<4> {
    let (Some(stride), Some(bias)) = (fused_stride(conv), conv.bias.as_ref()) else {
        return conv2d_reference(conv, x);
    };
    if !has_fused_cpu_ops(&x.device()) {
        return conv2d_reference(conv, x);
    }
    let out = <burn::backend::Dispatch as ConvValidOps>::conv_valid(
        x.into_dispatch(),
        conv.weight.val().into_dispatch(),
        bias.val().into_dispatch(),
        stride,
    );
    Tensor::from_dispatch(out)
}

/// [`conv2d`] by burn's `Conv2d::forward` (any device; the test oracle).
pub fn conv2d_reference(conv: &Conv2d, x: Tensor<4>) -> Tensor<4> {
    conv.forward(x)
}
