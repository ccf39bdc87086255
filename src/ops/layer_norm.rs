//! Layer normalisation over rows as a burn backend operation with an autodiff node, running the
//! fused kernels of [`crate::kernels::layer_norm`] on the CPU backends (see there why). Every
//! other device, and a `LayerNorm` without bias, runs burn's own `LayerNorm::forward`.

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
use burn::nn::LayerNorm;
use burn::prelude::*;

use super::autodiff::{apply_backward, record};
use super::host::has_fused_cpu_ops;
use super::host::{HostValues, from_host};
use crate::kernels::layer_norm::{self as kernel, NormDims};

/// The epsilon of every `LayerNorm` the networks build (PyTorch's default), which the fused
/// operation must be told: burn keeps a `LayerNorm`'s own epsilon private.
pub const LAYER_NORM_EPS: f64 = 1e-5;

/// Gradients of [`LayerNormOps::layer_norm_rows`]'s inputs.
#[derive(ExtensionType)]
pub struct LayerNormGrads<B: Backend> {
    /// `[rows, width]`.
    pub x: FloatTensor<B>,
    /// `[width]`.
    pub gamma: FloatTensor<B>,
    /// `[width]`.
    pub beta: FloatTensor<B>,
}

/// Layer normalisation over rows as a backend operation.
#[backend_extension(Flex, NdArray, Autodiff)]
pub trait LayerNormOps: Backend {
    /// `(x - mean) / sqrt(var + eps) * gamma + beta` per row of `x` `[rows, width]`.
    fn layer_norm_rows(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        eps: f32,
    ) -> FloatTensor<Self>;

    /// Gradients of [`layer_norm_rows`](Self::layer_norm_rows) given its output's gradient.
    fn layer_norm_rows_backward(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        eps: f32,
    ) -> LayerNormGrads<Self>;
}

fn norm_dims(shape: &burn::tensor::Shape) -> NormDims {
    NormDims {
        rows: shape[0],
        width: shape[1],
    }
}

fn host_forward<B: HostValues>(
    x: FloatTensor<B>,
    gamma: FloatTensor<B>,
    beta: FloatTensor<B>,
    eps: f32,
) -> FloatTensor<B> {
    let (device, shape) = (x.device(), x.shape());
    let dims = norm_dims(&shape);
    let out = kernel::layer_norm_forward(
        &dims,
        &B::values(&x),
        &B::values(&gamma),
        &B::values(&beta),
        eps,
    );
    from_host::<B>(out, shape, &device)
}

fn host_backward<B: HostValues>(
    x: FloatTensor<B>,
    gamma: FloatTensor<B>,
    beta: FloatTensor<B>,
    grad: FloatTensor<B>,
    eps: f32,
) -> LayerNormGrads<B> {
    let (device, dims) = (x.device(), norm_dims(&x.shape()));
    let shapes = [x.shape(), gamma.shape(), beta.shape()];
    let g = kernel::layer_norm_backward(
        &dims,
        &B::values(&x),
        &B::values(&gamma),
        &B::values(&grad),
        eps,
    );
    let [sx, sg, sb] = shapes;
    LayerNormGrads {
        x: from_host::<B>(g.x, sx, &device),
        gamma: from_host::<B>(g.gamma, sg, &device),
        beta: from_host::<B>(g.beta, sb, &device),
    }
}

/// The host implementation for one CPU backend.
macro_rules! host_layer_norm_ops {
    ($backend:ty) => {
        impl LayerNormOps for $backend {
            fn layer_norm_rows(
                x: FloatTensor<Self>,
                gamma: FloatTensor<Self>,
                beta: FloatTensor<Self>,
                eps: f32,
            ) -> FloatTensor<Self> {
                host_forward::<Self>(x, gamma, beta, eps)
            }

            fn layer_norm_rows_backward(
                x: FloatTensor<Self>,
                gamma: FloatTensor<Self>,
                beta: FloatTensor<Self>,
                grad: FloatTensor<Self>,
                eps: f32,
            ) -> LayerNormGrads<Self> {
                host_backward::<Self>(x, gamma, beta, grad, eps)
            }
        }
    };
}

host_layer_norm_ops!(Flex);
host_layer_norm_ops!(NdArray);

/// Autodiff node of [`LayerNormOps::layer_norm_rows`]: keeps its three inputs.
#[derive(Debug)]
struct LayerNormBackward {
    eps: f32,
}

impl<B: Backend + LayerNormOps> Backward<B, 3> for LayerNormBackward {
    type State = [FloatTensor<B>; 3];

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        apply_backward::<B, _>(ops, grads, |[x, gamma, beta], grad| {
            let g = B::layer_norm_rows_backward(x, gamma, beta, grad, self.eps);
            [g.x, g.gamma, g.beta]
        });
    }
}

impl<B: Backend + LayerNormOps, C: CheckpointStrategy> LayerNormOps for Autodiff<B, C> {
    fn layer_norm_rows(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        eps: f32,
    ) -> FloatTensor<Self> {
        record::<B, C, _, 3>(
            LayerNormBackward { eps },
            [x, gamma, beta],
            |[x, gamma, beta]| B::layer_norm_rows(x, gamma, beta, eps),
        )
    }

    fn layer_norm_rows_backward(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        eps: f32,
    ) -> LayerNormGrads<Self> {
        // Second-order gradients are not supported: the backward runs untracked.
        let g = B::layer_norm_rows_backward(
            x.into_primitive(),
            gamma.into_primitive(),
            beta.into_primitive(),
            grad.into_primitive(),
            eps,
        );
        LayerNormGrads {
            x: FloatTensor::<Self>::new(g.x),
            gamma: FloatTensor::<Self>::new(g.gamma),
            beta: FloatTensor::<Self>::new(g.beta),
        }
    }
}

/// `norm` (built with epsilon [`LAYER_NORM_EPS`]) applied to the rows of `x` `[rows, width]`:
/// the fused operation on CPU devices, `norm.forward(x)` elsewhere or when `norm` has no bias.
pub fn layer_norm_rows(norm: &LayerNorm, x: Tensor<2>) -> Tensor<2> {
    let Some(beta) = norm
        .beta
        .as_ref()
        .filter(|_| has_fused_cpu_ops(&x.device()))
    else {
        return norm.forward(x);
    };
    let out = <burn::backend::Dispatch as LayerNormOps>::layer_norm_rows(
        x.into_dispatch(),
        norm.gamma.val().into_dispatch(),
        beta.val().into_dispatch(),
        LAYER_NORM_EPS as f32,
    );
    Tensor::from_dispatch(out)
}

/// [`layer_norm_rows`] over the last dimension of `x` `[B, T, width]`.
pub fn layer_norm_tokens(norm: &LayerNorm, x: Tensor<3>) -> Tensor<3> {
    let [b, t, width] = x.dims();
    layer_norm_rows(norm, x.reshape([b * t, width])).reshape([b, t, width])
}
