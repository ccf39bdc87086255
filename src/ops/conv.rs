//! Valid 2-D convolutions with a fused ReLU and NHWC output (the depth encoder's Nature CNN) as a
//! burn backend operation with its autodiff node, running the kernels of [`crate::kernels::conv`]
//! on the CPU backends (see there why). The node computes the input's gradient only when the
//! input is tracked, so the first layer, whose input is the depth image, pays for none. Every
//! other device, and any convolution with padding, dilation, groups, no bias or unequal strides,
//! runs burn's `Conv2d::forward` between layout changes ([`conv2d_relu_reference`], also the
//! test oracle).

// burn 0.22 deprecates its NdArray backend; it is still one of the two CPU backends a recipe can
// pick (`backend.cpu_backend`), so this op serves it too.
#![allow(deprecated)]

use burn::backend::NdArray;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, ExtensionType, Flex, TensorMetadata, backend_extension};
use burn::nn::PaddingConfig2d;
use burn::nn::conv::Conv2d;
use burn::prelude::*;
use burn::tensor::Shape;
use burn::tensor::activation::relu;

use super::host::{HostValues, from_host, has_fused_cpu_ops};
pub use crate::kernels::conv::InputLayout;
use crate::kernels::conv::{self as kernel, ConvDims};

/// Gradients of [`ConvValidOps::conv_valid`]'s parameters.
#[derive(ExtensionType)]
pub struct ConvParamGrads<B: Backend> {
    /// `[out_channels, in_channels, kernel, kernel]`.
    pub weight: FloatTensor<B>,
    /// `[out_channels]`.
    pub bias: FloatTensor<B>,
}

/// Valid 2-D convolutions with a bias, NHWC output and an optional ReLU, as backend operations.
/// `nhwc` says the input's layout: `[batch, h, w, in]` when true, `[batch, in, h, w]` when false.
#[backend_extension(Flex, NdArray, Autodiff)]
pub trait ConvValidOps: Backend {
    /// `x` convolved by `weight` `[out, in, k, k]` with `stride`, plus `bias` `[out]`, then a
    /// ReLU when `relu`: `[batch, (h - k) / stride + 1, (w - k) / stride + 1, out]`.
    fn conv_valid(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        stride: usize,
        nhwc: bool,
        relu: bool,
    ) -> FloatTensor<Self>;

    /// Gradients of [`conv_valid`](Self::conv_valid)'s weight and bias given the gradient of its
    /// output before the ReLU.
    fn conv_valid_param_grads(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        stride: usize,
        nhwc: bool,
    ) -> ConvParamGrads<Self>;

    /// Gradient of [`conv_valid`](Self::conv_valid)'s input (of `x`'s shape and layout) given
    /// the gradient of its output before the ReLU.
    fn conv_valid_input_grad(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        stride: usize,
        nhwc: bool,
    ) -> FloatTensor<Self>;
}

/// Sizes from `x` (`[batch, in, h, w]`, or `[batch, h, w, in]` when `nhwc`) and `weight`
/// `[out, in, k, k]`.
fn conv_dims(x: &Shape, weight: &Shape, stride: usize, nhwc: bool) -> ConvDims {
    let (channels, height, width, input) = if nhwc {
        (x[3], x[1], x[2], InputLayout::Nhwc)
    } else {
        (x[1], x[2], x[3], InputLayout::Nchw)
    };
    assert_eq!(
        (weight[1], weight[2]),
        (channels, weight[3]),
        "conv op: weight {weight:?} for input {x:?} (square kernels, no groups)"
    );
    ConvDims {
        batch: x[0],
        in_channels: channels,
        height,
        width,
        out_channels: weight[0],
        kernel: weight[2],
        stride,
        input,
    }
}

fn host_forward<B: HostValues>(
    x: FloatTensor<B>,
    weight: FloatTensor<B>,
    bias: FloatTensor<B>,
    (stride, nhwc, relu): (usize, bool, bool),
) -> FloatTensor<B> {
    let device = x.device();
    let dims = conv_dims(&x.shape(), &weight.shape(), stride, nhwc);
    let out = kernel::conv_forward(
        &dims,
        &B::values(&x),
        &B::values(&weight),
        Some(&B::values(&bias)),
        relu,
    );
    let shape = [
        dims.batch,
        dims.out_height(),
        dims.out_width(),
        dims.out_channels,
    ];
    from_host::<B>(out, Shape::new(shape), &device)
}

fn host_param_grads<B: HostValues>(
    x: FloatTensor<B>,
    weight: FloatTensor<B>,
    grad: FloatTensor<B>,
    (stride, nhwc): (usize, bool),
) -> ConvParamGrads<B> {
    let device = x.device();
    let w_shape = weight.shape();
    let dims = conv_dims(&x.shape(), &w_shape, stride, nhwc);
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
    (stride, nhwc): (usize, bool),
) -> FloatTensor<B> {
    let device = x.device();
    let x_shape = x.shape();
    let dims = conv_dims(&x_shape, &weight.shape(), stride, nhwc);
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
                nhwc: bool,
                relu: bool,
            ) -> FloatTensor<Self> {
                host_forward::<Self>(x, weight, bias, (stride, nhwc, relu))
            }

            fn conv_valid_param_grads(
                x: FloatTensor<Self>,
                weight: FloatTensor<Self>,
                grad: FloatTensor<Self>,
                stride: usize,
                nhwc: bool,
            ) -> ConvParamGrads<Self> {
                host_param_grads::<Self>(x, weight, grad, (stride, nhwc))
            }

            fn conv_valid_input_grad(
                x: FloatTensor<Self>,
                weight: FloatTensor<Self>,
                grad: FloatTensor<Self>,
                stride: usize,
                nhwc: bool,
            ) -> FloatTensor<Self> {
                host_input_grad::<Self>(x, weight, grad, (stride, nhwc))
            }
        }
    };
}

host_conv_ops!(Flex);
host_conv_ops!(NdArray);

/// Autodiff node of [`ConvValidOps::conv_valid`]: keeps the input, the weight and (for the
/// ReLU's mask) the output.
#[derive(Debug)]
struct ConvBackward {
    stride: usize,
    nhwc: bool,
    relu: bool,
}

impl<B: Backend + ConvValidOps> Backward<B, 3> for ConvBackward {
    type State = [FloatTensor<B>; 3];

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let mut grad = grads.consume::<B>(&ops.node);
        let [x, weight, out] = ops.state;
        if self.relu {
            grad = B::relu_backward(out, grad);
        }
        let [x_node, weight_node, bias_node] = ops.parents;
        let (stride, nhwc) = (self.stride, self.nhwc);
        if let Some(node) = x_node {
            let dx =
                B::conv_valid_input_grad(x.clone(), weight.clone(), grad.clone(), stride, nhwc);
            grads.register::<B>(node.id, dx);
        }
        if weight_node.is_some() || bias_node.is_some() {
            let g = B::conv_valid_param_grads(x, weight, grad, stride, nhwc);
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
        nhwc: bool,
        relu: bool,
    ) -> FloatTensor<Self> {
        let nodes = [x.node(), weight.node(), bias.node()];
        let (x, weight, bias) = (
            x.into_primitive(),
            weight.into_primitive(),
            bias.into_primitive(),
        );
        let out = B::conv_valid(x.clone(), weight.clone(), bias, stride, nhwc, relu);
        let node = ConvBackward { stride, nhwc, relu };
        match node.prepare::<C>(nodes).compute_bound().stateful() {
            OpsKind::Tracked(prep) => prep.finish([x, weight, out.clone()], out),
            OpsKind::UnTracked(prep) => prep.finish(out),
        }
    }

    fn conv_valid_param_grads(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        stride: usize,
        nhwc: bool,
    ) -> ConvParamGrads<Self> {
        // Second-order gradients are not supported: the backward runs untracked.
        let g = B::conv_valid_param_grads(
            x.into_primitive(),
            weight.into_primitive(),
            grad.into_primitive(),
            stride,
            nhwc,
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
        nhwc: bool,
    ) -> FloatTensor<Self> {
        let dx = B::conv_valid_input_grad(
            x.into_primitive(),
            weight.into_primitive(),
            grad.into_primitive(),
            stride,
            nhwc,
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

/// `relu(conv.forward(x))` with the output in NHWC order `[batch, h', w', out]`, for `x` in the
/// `input` layout: the fused kernels on CPU devices when `conv` is a plain valid convolution with
/// a bias (the encoder's), [`conv2d_relu_reference`] otherwise.
pub fn conv2d_relu(conv: &Conv2d, x: Tensor<4>, input: InputLayout) -> Tensor<4> {
    let (Some(stride), Some(bias)) = (fused_stride(conv), conv.bias.as_ref()) else {
        return conv2d_relu_reference(conv, x, input);
    };
    if !has_fused_cpu_ops(&x.device()) {
        return conv2d_relu_reference(conv, x, input);
    }
    let out = <burn::backend::Dispatch as ConvValidOps>::conv_valid(
        x.into_dispatch(),
        conv.weight.val().into_dispatch(),
        bias.val().into_dispatch(),
        stride,
        input == InputLayout::Nhwc,
        true,
    );
    Tensor::from_dispatch(out)
}

/// [`conv2d_relu`] by burn's `Conv2d::forward` and `relu` between layout changes (any device;
/// the test oracle).
pub fn conv2d_relu_reference(conv: &Conv2d, x: Tensor<4>, input: InputLayout) -> Tensor<4> {
    let nchw = match input {
        InputLayout::Nchw => x,
        InputLayout::Nhwc => x.permute([0, 3, 1, 2]),
    };
    relu(conv.forward(nchw)).permute([0, 2, 3, 1])
}
