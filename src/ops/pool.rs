//! The fusion models' token pooling (the state token's output beside the mean of the visual
//! tokens) as a burn backend operation with an autodiff node, running the kernels of
//! [`crate::kernels::pool`] on the CPU backends (see there why). Every other device runs the same
//! function in burn tensor ops ([`pool_state_and_mean_reference`], also the test oracle).

// burn 0.22 deprecates its NdArray backend; it is still one of the two CPU backends a recipe can
// pick (`backend.cpu_backend`), so this op serves it too.
#![allow(deprecated)]

use burn::backend::NdArray;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, Flex, TensorMetadata, backend_extension};
use burn::prelude::*;
use burn::tensor::Shape;

use super::host::{HostValues, from_host, has_fused_cpu_ops};
use crate::kernels::pool::{self as kernel, PoolDims};

/// The token pooling as backend operations.
#[backend_extension(Flex, NdArray, Autodiff)]
pub trait TokenPoolOps: Backend {
    /// `tokens` `[batch, len, width]` -> `[batch, 2 * width]`: the first token, then the mean of
    /// the others.
    fn pool_state_and_mean(tokens: FloatTensor<Self>) -> FloatTensor<Self>;

    /// Gradient of [`pool_state_and_mean`](Self::pool_state_and_mean)'s input, `[batch, len,
    /// width]`, given its output's gradient `[batch, 2 * width]`.
    fn pool_state_and_mean_backward(grad: FloatTensor<Self>, len: usize) -> FloatTensor<Self>;
}

fn host_forward<B: HostValues>(tokens: FloatTensor<B>) -> FloatTensor<B> {
    let (device, shape) = (tokens.device(), tokens.shape());
    let dims = PoolDims {
        batch: shape[0],
        len: shape[1],
        width: shape[2],
    };
    let out = kernel::pool_forward(&dims, &B::values(&tokens));
    from_host::<B>(out, Shape::new([dims.batch, 2 * dims.width]), &device)
}

fn host_backward<B: HostValues>(grad: FloatTensor<B>, len: usize) -> FloatTensor<B> {
    let (device, shape) = (grad.device(), grad.shape());
    let dims = PoolDims {
        batch: shape[0],
        len,
        width: shape[1] / 2,
    };
    let dx = kernel::pool_backward(&dims, &B::values(&grad));
    from_host::<B>(dx, Shape::new([dims.batch, len, dims.width]), &device)
}

/// The host implementation for one CPU backend.
macro_rules! host_pool_ops {
    ($backend:ty) => {
        impl TokenPoolOps for $backend {
            fn pool_state_and_mean(tokens: FloatTensor<Self>) -> FloatTensor<Self> {
                host_forward::<Self>(tokens)
            }

            fn pool_state_and_mean_backward(
                grad: FloatTensor<Self>,
                len: usize,
            ) -> FloatTensor<Self> {
                host_backward::<Self>(grad, len)
            }
        }
    };
}

host_pool_ops!(Flex);
host_pool_ops!(NdArray);

/// Autodiff node of [`TokenPoolOps::pool_state_and_mean`]: keeps the token count only (the
/// gradient does not depend on the tokens' values).
#[derive(Debug)]
struct PoolBackward;

impl<B: Backend + TokenPoolOps> Backward<B, 1> for PoolBackward {
    type State = usize;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let grad = grads.consume::<B>(&ops.node);
        if let [Some(node)] = ops.parents {
            let dx = B::pool_state_and_mean_backward(grad, ops.state);
            grads.register::<B>(node.id, dx);
        }
    }
}

impl<B: Backend + TokenPoolOps, C: CheckpointStrategy> TokenPoolOps for Autodiff<B, C> {
    fn pool_state_and_mean(tokens: FloatTensor<Self>) -> FloatTensor<Self> {
        let len = tokens.shape()[1];
        let nodes = [tokens.node()];
        let out = B::pool_state_and_mean(tokens.into_primitive());
        match PoolBackward.prepare::<C>(nodes).compute_bound().stateful() {
            OpsKind::Tracked(prep) => prep.finish(len, out),
            OpsKind::UnTracked(prep) => prep.finish(out),
        }
    }

    fn pool_state_and_mean_backward(grad: FloatTensor<Self>, len: usize) -> FloatTensor<Self> {
        // Second-order gradients are not supported: the backward runs untracked.
        FloatTensor::<Self>::new(B::pool_state_and_mean_backward(grad.into_primitive(), len))
    }
}

/// `tokens` `[batch, len, width]` (`len >= 2`) -> `[batch, 2 * width]`: the first (state) token
/// beside the mean of the others; the fused operation on CPU devices,
/// [`pool_state_and_mean_reference`] elsewhere.
pub fn pool_state_and_mean(tokens: Tensor<3>) -> Tensor<2> {
    if !has_fused_cpu_ops(&tokens.device()) {
        return pool_state_and_mean_reference(tokens);
    }
    let out =
        <burn::backend::Dispatch as TokenPoolOps>::pool_state_and_mean(tokens.into_dispatch());
    Tensor::from_dispatch(out)
}

/// [`pool_state_and_mean`] in burn tensor ops (any device; the test oracle).
pub fn pool_state_and_mean_reference(tokens: Tensor<3>) -> Tensor<2> {
    let [b, t, d] = tokens.dims();
    let state = tokens.clone().narrow(1, 0, 1).reshape([b, d]);
    let visual = tokens.narrow(1, 1, t - 1).mean_dim(1).reshape([b, d]);
    Tensor::cat(vec![state, visual], 1)
}
