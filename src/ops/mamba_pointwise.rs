//! The Mamba block's fused elementwise steps as burn backend operations with autodiff nodes:
//! the depthwise causal convolution + SiLU before the scan and the SiLU(z) gate after it (kernels
//! in [`crate::kernels::pointwise`]).
//!
//! They exist for the CPU backends (Flex, NdArray, and autodiff over them). On any other device
//! [`causal_conv_silu`] and [`silu_gate`] compute the same functions with burn tensor ops
//! ([`causal_conv_silu_reference`], [`silu_gate_reference`]), which are also the test oracle.

// burn 0.22 deprecates its NdArray backend; it is still one of the two CPU backends a recipe can
// pick (`backend.cpu_backend`), so these ops serve it too.
#![allow(deprecated)]

use burn::backend::NdArray;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, ExtensionType, Flex, TensorMetadata, backend_extension};
use burn::prelude::*;
use burn::tensor::Shape;
use burn::tensor::activation::silu;

use super::autodiff::{apply_backward, record};
use super::host::{HostValues, from_host, has_fused_cpu_ops};
use crate::kernels::pointwise::{self as kernel, ConvDims};

/// Gradients of [`MambaPointwiseOps::causal_conv_silu`]'s five inputs.
#[derive(ExtensionType)]
pub struct ConvSiluGrads<B: Backend> {
    /// `[B, L, C]`.
    pub x: FloatTensor<B>,
    /// `[C, K]`.
    pub weight: FloatTensor<B>,
    /// `[C]`.
    pub bias: FloatTensor<B>,
    /// `[B, max(K - 1, 1), C]`.
    pub prev: FloatTensor<B>,
    /// `[B, L]`: zeros (resets are not differentiable).
    pub reset: FloatTensor<B>,
}

/// Gradients of [`MambaPointwiseOps::silu_gate`]'s two inputs.
#[derive(ExtensionType)]
pub struct GateGrads<B: Backend> {
    /// Gradient of the gated values.
    pub y: FloatTensor<B>,
    /// Gradient of the gate's pre-activation.
    pub z: FloatTensor<B>,
}

/// The Mamba block's fused elementwise steps as backend operations.
#[backend_extension(Flex, NdArray, Autodiff)]
pub trait MambaPointwiseOps: Backend {
    /// `silu(depthwise_causal_conv(x) + bias)`: `x` `[B, L, C]`, `weight` `[C, K]` (last tap on
    /// the current token), `bias` `[C]` -> `[B, L, C]`; the inputs before the first token are
    /// `prev` `[B, max(K - 1, 1), C]` (oldest first; read only when `K > 1`), and a token sees no
    /// input from before the latest non-zero `reset` `[B, L]` at or before it.
    fn causal_conv_silu(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        prev: FloatTensor<Self>,
        reset: FloatTensor<Self>,
    ) -> FloatTensor<Self>;

    /// Gradients of [`causal_conv_silu`](Self::causal_conv_silu) given its output's gradient.
    fn causal_conv_silu_backward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        prev: FloatTensor<Self>,
        reset: FloatTensor<Self>,
        grad: FloatTensor<Self>,
    ) -> ConvSiluGrads<Self>;

    /// `y * silu(z)`, elementwise, same shapes.
    fn silu_gate(y: FloatTensor<Self>, z: FloatTensor<Self>) -> FloatTensor<Self>;

    /// Gradients of [`silu_gate`](Self::silu_gate) given its output's gradient.
    fn silu_gate_backward(
        y: FloatTensor<Self>,
        z: FloatTensor<Self>,
        grad: FloatTensor<Self>,
    ) -> GateGrads<Self>;
}

/// Convolution sizes from `x` `[B, L, C]` and `weight` `[C, K]`.
fn conv_dims(x: &Shape, weight: &Shape) -> ConvDims {
    ConvDims {
        batch: x[0],
        len: x[1],
        channels: x[2],
        width: weight[1],
    }
}

/// The kernel's view of `prev` and `reset`: `prev` only when the filter has more than one tap.
fn start<'a>(dims: &ConvDims, prev: &'a [f32], reset: &'a [f32]) -> kernel::ConvStart<'a> {
    kernel::ConvStart {
        prev: (dims.width > 1).then_some(prev),
        reset: Some(reset),
    }
}

fn host_conv_silu<B: HostValues>(
    x: FloatTensor<B>,
    weight: FloatTensor<B>,
    bias: FloatTensor<B>,
    prev: FloatTensor<B>,
    reset: FloatTensor<B>,
) -> FloatTensor<B> {
    let (device, shape) = (x.device(), x.shape());
    let dims = conv_dims(&shape, &weight.shape());
    let mut out = vec![0.0f32; dims.numel()];
    let (prev, reset) = (B::values(&prev), B::values(&reset));
    kernel::conv_silu_forward(
        &dims,
        &B::values(&x),
        &B::values(&weight),
        &B::values(&bias),
        start(&dims, &prev, &reset),
        &mut out,
    );
    from_host::<B>(out, shape, &device)
}

fn host_conv_silu_backward<B: HostValues>(
    x: FloatTensor<B>,
    weight: FloatTensor<B>,
    bias: FloatTensor<B>,
    (prev, reset): (FloatTensor<B>, FloatTensor<B>),
    grad: FloatTensor<B>,
) -> ConvSiluGrads<B> {
    let device = x.device();
    let shapes = [
        x.shape(),
        weight.shape(),
        bias.shape(),
        prev.shape(),
        reset.shape(),
    ];
    let dims = conv_dims(&shapes[0], &shapes[1]);
    let (prev_values, reset_values) = (B::values(&prev), B::values(&reset));
    let g = kernel::conv_silu_backward(
        &dims,
        &B::values(&x),
        &B::values(&weight),
        &B::values(&bias),
        start(&dims, &prev_values, &reset_values),
        &B::values(&grad),
    );
    let [sx, sw, sb, sp, sr] = shapes;
    // With one tap there are no previous inputs: their gradient is zero.
    let dprev = if dims.width > 1 {
        g.prev
    } else {
        vec![0.0; sp.num_elements()]
    };
    let dreset = vec![0.0; sr.num_elements()];
    ConvSiluGrads {
        x: from_host::<B>(g.x, sx, &device),
        weight: from_host::<B>(g.weight, sw, &device),
        bias: from_host::<B>(g.bias, sb, &device),
        prev: from_host::<B>(dprev, sp, &device),
        reset: from_host::<B>(dreset, sr, &device),
    }
}

fn host_gate<B: HostValues>(y: FloatTensor<B>, z: FloatTensor<B>) -> FloatTensor<B> {
    let (device, shape) = (y.device(), y.shape());
    let out = kernel::gate_forward(&B::values(&y), &B::values(&z));
    from_host::<B>(out, shape, &device)
}

fn host_gate_backward<B: HostValues>(
    y: FloatTensor<B>,
    z: FloatTensor<B>,
    grad: FloatTensor<B>,
) -> GateGrads<B> {
    let (device, shape) = (y.device(), y.shape());
    let (dy, dz) = kernel::gate_backward(&B::values(&y), &B::values(&z), &B::values(&grad));
    GateGrads {
        y: from_host::<B>(dy, shape.clone(), &device),
        z: from_host::<B>(dz, shape, &device),
    }
}

/// The host implementation for one CPU backend.
macro_rules! host_pointwise_ops {
    ($backend:ty) => {
        impl MambaPointwiseOps for $backend {
            fn causal_conv_silu(
                x: FloatTensor<Self>,
                weight: FloatTensor<Self>,
                bias: FloatTensor<Self>,
                prev: FloatTensor<Self>,
                reset: FloatTensor<Self>,
            ) -> FloatTensor<Self> {
                host_conv_silu::<Self>(x, weight, bias, prev, reset)
            }

            fn causal_conv_silu_backward(
                x: FloatTensor<Self>,
                weight: FloatTensor<Self>,
                bias: FloatTensor<Self>,
                prev: FloatTensor<Self>,
                reset: FloatTensor<Self>,
                grad: FloatTensor<Self>,
            ) -> ConvSiluGrads<Self> {
                host_conv_silu_backward::<Self>(x, weight, bias, (prev, reset), grad)
            }

            fn silu_gate(y: FloatTensor<Self>, z: FloatTensor<Self>) -> FloatTensor<Self> {
                host_gate::<Self>(y, z)
            }

            fn silu_gate_backward(
                y: FloatTensor<Self>,
                z: FloatTensor<Self>,
                grad: FloatTensor<Self>,
            ) -> GateGrads<Self> {
                host_gate_backward::<Self>(y, z, grad)
            }
        }
    };
}

host_pointwise_ops!(Flex);
host_pointwise_ops!(NdArray);

/// Autodiff node of [`MambaPointwiseOps::causal_conv_silu`]: keeps its five inputs.
#[derive(Debug)]
struct ConvSiluBackward;

impl<B: Backend + MambaPointwiseOps> Backward<B, 5> for ConvSiluBackward {
    type State = [FloatTensor<B>; 5];

    fn backward(self, ops: Ops<Self::State, 5>, grads: &mut Gradients, _: &mut Checkpointer) {
        apply_backward::<B, _>(ops, grads, |[x, weight, bias, prev, reset], grad| {
            let g = B::causal_conv_silu_backward(x, weight, bias, prev, reset, grad);
            [g.x, g.weight, g.bias, g.prev, g.reset]
        });
    }
}

/// Autodiff node of [`MambaPointwiseOps::silu_gate`]: keeps its two inputs.
#[derive(Debug)]
struct GateBackward;

impl<B: Backend + MambaPointwiseOps> Backward<B, 2> for GateBackward {
    type State = [FloatTensor<B>; 2];

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        apply_backward::<B, _>(ops, grads, |[y, z], grad| {
            let g = B::silu_gate_backward(y, z, grad);
            [g.y, g.z]
        });
    }
}

impl<B: Backend + MambaPointwiseOps, C: CheckpointStrategy> MambaPointwiseOps for Autodiff<B, C> {
    fn causal_conv_silu(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        prev: FloatTensor<Self>,
        reset: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        record::<B, C, _, 5>(
            ConvSiluBackward,
            [x, weight, bias, prev, reset],
            |[x, weight, bias, prev, reset]| B::causal_conv_silu(x, weight, bias, prev, reset),
        )
    }

    fn causal_conv_silu_backward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        prev: FloatTensor<Self>,
        reset: FloatTensor<Self>,
        grad: FloatTensor<Self>,
    ) -> ConvSiluGrads<Self> {
        // Second-order gradients are not supported: the backward runs untracked.
        let g = B::causal_conv_silu_backward(
            x.into_primitive(),
            weight.into_primitive(),
            bias.into_primitive(),
            prev.into_primitive(),
            reset.into_primitive(),
            grad.into_primitive(),
        );
        ConvSiluGrads {
            x: FloatTensor::<Self>::new(g.x),
            weight: FloatTensor::<Self>::new(g.weight),
            bias: FloatTensor::<Self>::new(g.bias),
            prev: FloatTensor::<Self>::new(g.prev),
            reset: FloatTensor::<Self>::new(g.reset),
        }
    }

    fn silu_gate(y: FloatTensor<Self>, z: FloatTensor<Self>) -> FloatTensor<Self> {
        record::<B, C, _, 2>(GateBackward, [y, z], |[y, z]| B::silu_gate(y, z))
    }

    fn silu_gate_backward(
        y: FloatTensor<Self>,
        z: FloatTensor<Self>,
        grad: FloatTensor<Self>,
    ) -> GateGrads<Self> {
        // Second-order gradients are not supported: the backward runs untracked.
        let g = B::silu_gate_backward(
            y.into_primitive(),
            z.into_primitive(),
            grad.into_primitive(),
        );
        GateGrads {
            y: FloatTensor::<Self>::new(g.y),
            z: FloatTensor::<Self>::new(g.z),
        }
    }
}

/// Where the sequences of a causal convolution start from (see
/// [`MambaPointwiseOps::causal_conv_silu`]): `None`s give zero previous inputs and no resets.
#[derive(Debug, Clone, Default)]
pub struct ConvStart {
    /// The last `K - 1` inputs before each sequence, `[B, K - 1, C]`, oldest first.
    pub prev: Option<Tensor<3>>,
    /// `[B, L]`: 1 where an episode starts, else 0.
    pub reset: Option<Tensor<2>>,
}

/// `silu(depthwise_causal_conv(x) + bias)` over `x` `[B, L, C]` with `weight` `[C, K]` (the last
/// tap multiplies the current token) and `bias` `[C]`, continuing from `start`: fused on CPU
/// devices, [`causal_conv_silu_reference`] elsewhere.
pub fn causal_conv_silu(
    x: Tensor<3>,
    weight: Tensor<2>,
    bias: Tensor<1>,
    start: &ConvStart,
) -> Tensor<3> {
    if !has_fused_cpu_ops(&x.device()) {
        return causal_conv_silu_reference(x, weight, bias, start);
    }
    let [b, l, c] = x.dims();
    let k = weight.dims()[1];
    let device = x.device();
    let prev = match (&start.prev, k > 1) {
        (Some(p), true) => p.clone(),
        _ => Tensor::zeros([b, (k - 1).max(1), c], &device),
    };
    let reset = start
        .reset
        .clone()
        .unwrap_or_else(|| Tensor::zeros([b, l], &device));
    let out = <burn::backend::Dispatch as MambaPointwiseOps>::causal_conv_silu(
        x.into_dispatch(),
        weight.into_dispatch(),
        bias.into_dispatch(),
        prev.into_dispatch(),
        reset.into_dispatch(),
    );
    Tensor::from_dispatch(out)
}

/// For every token of every sequence, the first input index it sees (negative: into the
/// previous inputs), from the resets `[B, L]`: the latest reset at or before it, else `1 - K`.
fn first_visible(reset: Option<&Tensor<2>>, batch: usize, len: usize, k: usize) -> Vec<isize> {
    let flags = reset.map(|r| {
        r.clone()
            .into_data()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .expect("f32 resets")
    });
    let mut out = Vec::with_capacity(batch * len);
    for b in 0..batch {
        let mut first = -(k as isize - 1);
        for t in 0..len {
            if flags.as_ref().is_some_and(|f| f[b * len + t] != 0.0) {
                first = t as isize;
            }
            out.push(first);
        }
    }
    out
}

/// [`causal_conv_silu`] in burn tensor ops (any device; the test oracle).
pub fn causal_conv_silu_reference(
    x: Tensor<3>,
    weight: Tensor<2>,
    bias: Tensor<1>,
    start: &ConvStart,
) -> Tensor<3> {
    let [b, l, c] = x.dims();
    let k = weight.dims()[1];
    let device = x.device();
    let padded = if k > 1 {
        let prev = start
            .prev
            .clone()
            .unwrap_or_else(|| Tensor::zeros([b, k - 1, c], &device));
        Tensor::cat(vec![prev, x], 1)
    } else {
        x
    };
    let first = first_visible(start.reset.as_ref(), b, l, k);
    let mut out = bias.reshape([1, 1, c]);
    for j in 0..k {
        let wj = weight.clone().narrow(1, j, 1).reshape([1, 1, c]);
        // Tap j reads input t + j - (K - 1) for output t: zero where t may not see it.
        let visible: Vec<f32> = (0..b * l)
            .map(|i| {
                let src = (i % l + j) as isize - (k as isize - 1);
                f32::from(u8::from(src >= first[i]))
            })
            .collect();
        let mask = Tensor::<3>::from_data(TensorData::new(visible, [b, l, 1]), &device);
        out = out + padded.clone().narrow(1, j, l) * wj * mask;
    }
    silu(out)
}

/// `y * silu(z)`: fused on CPU devices, [`silu_gate_reference`] elsewhere.
pub fn silu_gate(y: Tensor<3>, z: Tensor<3>) -> Tensor<3> {
    if !has_fused_cpu_ops(&y.device()) {
        return silu_gate_reference(y, z);
    }
    let out = <burn::backend::Dispatch as MambaPointwiseOps>::silu_gate(
        y.into_dispatch(),
        z.into_dispatch(),
    );
    Tensor::from_dispatch(out)
}

/// [`silu_gate`] in burn tensor ops (any device; the test oracle).
pub fn silu_gate_reference(y: Tensor<3>, z: Tensor<3>) -> Tensor<3> {
    y * silu(z)
}
