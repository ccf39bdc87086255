//! Linear layers over rows (`[rows, d_in] x [d_in, d_out] (+ bias)`) as burn backend operations
//! with autodiff nodes, running the kernels of [`crate::kernels::matmul`] on the CPU backends
//! (see there why). Every other device computes the same function with burn's `matmul`
//! ([`linear_rows_reference`], also the test oracle).

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
use std::ops::Range;

use super::autodiff::{apply_backward, record};
use super::host::has_fused_cpu_ops;
use super::host::{HostValues, from_host};
use crate::kernels::matmul::{self as kernel, LinearDims};

/// Gradients of [`RowLinearOps::rows_matmul`]'s inputs.
#[derive(ExtensionType)]
pub struct MatmulGrads<B: Backend> {
    /// `[rows, d_in]`.
    pub x: FloatTensor<B>,
    /// `[d_in, d_out]`.
    pub weight: FloatTensor<B>,
}

/// Gradients of [`RowLinearOps::rows_affine`]'s inputs.
#[derive(ExtensionType)]
pub struct AffineGrads<B: Backend> {
    /// `[rows, d_in]`.
    pub x: FloatTensor<B>,
    /// `[d_in, d_out]`.
    pub weight: FloatTensor<B>,
    /// `[d_out]`.
    pub bias: FloatTensor<B>,
}

/// Linear layers over rows as backend operations.
#[backend_extension(Flex, NdArray, Autodiff)]
pub trait RowLinearOps: Backend {
    /// `x weight[:, col_start..col_start + width]`: `x` `[rows, d_in]`, `weight` `[d_in, d_out]`
    /// -> `[rows, width]` (the columns read in place).
    fn rows_matmul(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        col_start: usize,
        width: usize,
    ) -> FloatTensor<Self>;

    /// Gradients of [`rows_matmul`](Self::rows_matmul) given its output's gradient (the
    /// weight's is zero outside the columns used).
    fn rows_matmul_backward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        col_start: usize,
        width: usize,
    ) -> MatmulGrads<Self>;

    /// `x weight + bias`, the bias `[d_out]` added to every row.
    fn rows_affine(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
    ) -> FloatTensor<Self>;

    /// Gradients of [`rows_affine`](Self::rows_affine) given its output's gradient.
    fn rows_affine_backward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        grad: FloatTensor<Self>,
    ) -> AffineGrads<Self>;
}

/// Weight columns `(start, width)` a call uses; `None` for all of them.
type Columns = Option<(usize, usize)>;

/// Sizes from `x` `[rows, d_in]`, `weight` `[d_in, d_out]` and the columns used.
fn linear_dims(x: &Shape, weight: &Shape, cols: Columns) -> LinearDims {
    let (col_start, d_out) = cols.unwrap_or((0, weight[1]));
    LinearDims {
        rows: x[0],
        d_in: x[1],
        d_out,
        weight_width: weight[1],
        col_start,
    }
}

fn host_forward<B: HostValues>(
    x: FloatTensor<B>,
    weight: FloatTensor<B>,
    bias: Option<FloatTensor<B>>,
    cols: Columns,
) -> FloatTensor<B> {
    let device = x.device();
    let dims = linear_dims(&x.shape(), &weight.shape(), cols);
    let bias_values = bias.as_ref().map(|b| B::values(b));
    let out = kernel::linear_forward(
        &dims,
        &B::values(&x),
        &B::values(&weight),
        bias_values.as_deref(),
    );
    from_host::<B>(out, Shape::new([dims.rows, dims.d_out]), &device)
}

/// `(dx, dweight, dbias)`, the last when `with_bias`.
fn host_backward<B: HostValues>(
    x: FloatTensor<B>,
    weight: FloatTensor<B>,
    grad: FloatTensor<B>,
    with_bias: bool,
    cols: Columns,
) -> (FloatTensor<B>, FloatTensor<B>, Option<FloatTensor<B>>) {
    let device = x.device();
    let (x_shape, w_shape) = (x.shape(), weight.shape());
    let dims = linear_dims(&x_shape, &w_shape, cols);
    let g = kernel::linear_backward(
        &dims,
        &B::values(&x),
        &B::values(&weight),
        &B::values(&grad),
        with_bias,
    );
    (
        from_host::<B>(g.x, x_shape, &device),
        from_host::<B>(g.weight, w_shape, &device),
        g.bias
            .map(|b| from_host::<B>(b, Shape::new([dims.d_out]), &device)),
    )
}

/// The host implementation for one CPU backend.
macro_rules! host_linear_ops {
    ($backend:ty) => {
        impl RowLinearOps for $backend {
            fn rows_matmul(
                x: FloatTensor<Self>,
                weight: FloatTensor<Self>,
                col_start: usize,
                width: usize,
            ) -> FloatTensor<Self> {
                host_forward::<Self>(x, weight, None, Some((col_start, width)))
            }

            fn rows_matmul_backward(
                x: FloatTensor<Self>,
                weight: FloatTensor<Self>,
                grad: FloatTensor<Self>,
                col_start: usize,
                width: usize,
            ) -> MatmulGrads<Self> {
                let cols = Some((col_start, width));
                let (x, weight, _) = host_backward::<Self>(x, weight, grad, false, cols);
                MatmulGrads { x, weight }
            }

            fn rows_affine(
                x: FloatTensor<Self>,
                weight: FloatTensor<Self>,
                bias: FloatTensor<Self>,
            ) -> FloatTensor<Self> {
                host_forward::<Self>(x, weight, Some(bias), None)
            }

            fn rows_affine_backward(
                x: FloatTensor<Self>,
                weight: FloatTensor<Self>,
                _bias: FloatTensor<Self>,
                grad: FloatTensor<Self>,
            ) -> AffineGrads<Self> {
                let (x, weight, bias) = host_backward::<Self>(x, weight, grad, true, None);
                AffineGrads {
                    x,
                    weight,
                    bias: bias.expect("linear kernel: bias gradient requested"),
                }
            }
        }
    };
}

host_linear_ops!(Flex);
host_linear_ops!(NdArray);

/// Autodiff node of [`RowLinearOps::rows_matmul`]: keeps its two inputs and the columns used.
#[derive(Debug)]
struct MatmulBackward {
    col_start: usize,
    width: usize,
}

impl<B: Backend + RowLinearOps> Backward<B, 2> for MatmulBackward {
    type State = [FloatTensor<B>; 2];

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        apply_backward::<B, _>(ops, grads, |[x, weight], grad| {
            let g = B::rows_matmul_backward(x, weight, grad, self.col_start, self.width);
            [g.x, g.weight]
        });
    }
}

/// Autodiff node of [`RowLinearOps::rows_affine`]: keeps its three inputs.
#[derive(Debug)]
struct AffineBackward;

impl<B: Backend + RowLinearOps> Backward<B, 3> for AffineBackward {
    type State = [FloatTensor<B>; 3];

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        apply_backward::<B, _>(ops, grads, |[x, weight, bias], grad| {
            let g = B::rows_affine_backward(x, weight, bias, grad);
            [g.x, g.weight, g.bias]
        });
    }
}

impl<B: Backend + RowLinearOps, C: CheckpointStrategy> RowLinearOps for Autodiff<B, C> {
    fn rows_matmul(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        col_start: usize,
        width: usize,
    ) -> FloatTensor<Self> {
        let node = MatmulBackward { col_start, width };
        record::<B, C, _, 2>(node, [x, weight], |[x, weight]| {
            B::rows_matmul(x, weight, col_start, width)
        })
    }

    fn rows_matmul_backward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        col_start: usize,
        width: usize,
    ) -> MatmulGrads<Self> {
        // Second-order gradients are not supported: the backward runs untracked.
        let g = B::rows_matmul_backward(
            x.into_primitive(),
            weight.into_primitive(),
            grad.into_primitive(),
            col_start,
            width,
        );
        MatmulGrads {
            x: FloatTensor::<Self>::new(g.x),
            weight: FloatTensor::<Self>::new(g.weight),
        }
    }

    fn rows_affine(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        record::<B, C, _, 3>(AffineBackward, [x, weight, bias], |[x, weight, bias]| {
            B::rows_affine(x, weight, bias)
        })
    }

    fn rows_affine_backward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        grad: FloatTensor<Self>,
    ) -> AffineGrads<Self> {
        // Second-order gradients are not supported: the backward runs untracked.
        let g = B::rows_affine_backward(
            x.into_primitive(),
            weight.into_primitive(),
            bias.into_primitive(),
            grad.into_primitive(),
        );
        AffineGrads {
            x: FloatTensor::<Self>::new(g.x),
            weight: FloatTensor::<Self>::new(g.weight),
            bias: FloatTensor::<Self>::new(g.bias),
        }
    }
}

/// `x weight (+ bias)` over rows: `x` `[rows, d_in]`, `weight` `[d_in, d_out]` (burn's `Linear`
/// layout), `bias` `[d_out]`. The fused kernels on CPU devices, [`linear_rows_reference`]
/// elsewhere.
pub fn linear_rows(x: Tensor<2>, weight: Tensor<2>, bias: Option<Tensor<1>>) -> Tensor<2> {
    if !has_fused_cpu_ops(&x.device()) {
        return linear_rows_reference(x, weight, bias);
    }
    type D = burn::backend::Dispatch;
    let out = match bias {
        Some(b) => <D as RowLinearOps>::rows_affine(
            x.into_dispatch(),
            weight.into_dispatch(),
            b.into_dispatch(),
        ),
        None => {
            let width = weight.dims()[1];
            <D as RowLinearOps>::rows_matmul(x.into_dispatch(), weight.into_dispatch(), 0, width)
        }
    };
    Tensor::from_dispatch(out)
}

/// `x weight[:, cols]` over rows, without bias: the weight's columns `cols` read in place on CPU
/// devices (no copy of the narrowed weight), burn's `matmul` on a narrowed weight elsewhere.
pub fn linear_rows_columns(x: Tensor<2>, weight: Tensor<2>, cols: Range<usize>) -> Tensor<2> {
    if !has_fused_cpu_ops(&x.device()) {
        return x.matmul(weight.narrow(1, cols.start, cols.len()));
    }
    let out = <burn::backend::Dispatch as RowLinearOps>::rows_matmul(
        x.into_dispatch(),
        weight.into_dispatch(),
        cols.start,
        cols.len(),
    );
    Tensor::from_dispatch(out)
}

/// [`linear_rows`] in burn tensor ops (any device; the test oracle).
pub fn linear_rows_reference(
    x: Tensor<2>,
    weight: Tensor<2>,
    bias: Option<Tensor<1>>,
) -> Tensor<2> {
    let y = x.matmul(weight);
    match bias {
        Some(b) => y + b.unsqueeze_dim::<2>(0),
        None => y,
    }
}
