//! The fused selective scan as a burn backend operation, forward and backward, registered with
//! autodiff, so that training runs the fused kernels instead of the tensor-op loop.
//!
//! One extension trait, [`SelectiveScanOps`], routed by burn's dispatch to:
//! - Flex and NdArray (CPU): the fused rayon/AVX2 kernels of [`crate::kernels::selective_scan`] on
//!   the tensors' host buffers;
//! - `Autodiff<B>`: the forward of `B` plus a backward node that calls `B`'s fused backward, so the
//!   graph holds one node per scan (the saved inputs), never a `[B, L, C, N]` tensor;
//! - the CubeCL backend (CUDA, wgpu) under the `cuda` or `wgpu` feature: the CubeCL kernels, see
//!   [`crate::kernels::cube`] launched by [`super::scan_cube`].
//!
//! The forward returns `y` `[B, L, C]` and the last state `[B, C, N]` packed in one flat tensor, so
//! that a single autodiff node carries gradients for both; [`selective_scan_fused`] unpacks it.

// burn 0.22 deprecates its NdArray backend; it is still one of the two CPU backends a recipe can
// pick (`backend.cpu_backend`), so the scan op serves it too.
#![allow(deprecated)]

use burn::backend::NdArray;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, ExtensionType, Flex, TensorMetadata, backend_extension};
use burn::prelude::*;
use burn::tensor::Distribution;
use burn::tensor::Shape;
use std::borrow::Cow;

use super::autodiff::{apply_backward, record};
use super::host::{HostValues, from_host};
use crate::kernels::selective_scan::{self as kernel, ScanDims};

/// The nine scan tensors in input order, as backend primitives: the operation's inputs, and
/// (same shapes) their gradients. Layouts as in [`ScanInputs`].
#[derive(ExtensionType)]
pub struct ScanTensors<B: Backend> {
    /// `u` `[B, L, C]`.
    pub u: FloatTensor<B>,
    /// `delta` `[B, L, C]`.
    pub delta: FloatTensor<B>,
    /// `a` `[C, N]`.
    pub a: FloatTensor<B>,
    /// `b` `[B, L, N]`.
    pub b: FloatTensor<B>,
    /// `c` `[B, L, N]`.
    pub c: FloatTensor<B>,
    /// `d` `[C]`.
    pub d: FloatTensor<B>,
    /// `delta_bias` `[C]`.
    pub delta_bias: FloatTensor<B>,
    /// Initial state `h0` `[B, C, N]`; or `[0]` (no values): a scan without state, see
    /// [`is_stateless`].
    pub h0: FloatTensor<B>,
    /// Resets `[B, L]` (non-zero: the state is zeroed before that token); its gradient is zero.
    pub reset: FloatTensor<B>,
}

/// Inputs of the scan operation.
pub const SCAN_INPUTS: usize = 9;

/// Whether an `h0` of this shape marks a scan without state: rank 1 with no values. It starts
/// from a zero state and returns `y` alone (no last state, so nothing written or differentiated
/// for it), and the gradient returned for `h0` is empty too (training without memory:
/// [`selective_scan_y`]).
pub fn is_stateless(h0: &Shape) -> bool {
    h0.num_dims() == 1 && h0.num_elements() == 0
}

impl<B: Backend> ScanTensors<B> {
    /// From an array in input order.
    pub fn from_array(
        [u, delta, a, b, c, d, delta_bias, h0, reset]: [FloatTensor<B>; SCAN_INPUTS],
    ) -> Self {
        Self {
            u,
            delta,
            a,
            b,
            c,
            d,
            delta_bias,
            h0,
            reset,
        }
    }

    /// As an array in input order `(u, delta, a, b, c, d, delta_bias, h0, reset)`.
    pub fn into_array(self) -> [FloatTensor<B>; SCAN_INPUTS] {
        [
            self.u,
            self.delta,
            self.a,
            self.b,
            self.c,
            self.d,
            self.delta_bias,
            self.h0,
            self.reset,
        ]
    }

    /// Applies `f` to every tensor.
    pub fn map<B2: Backend>(
        self,
        f: impl FnMut(FloatTensor<B>) -> FloatTensor<B2>,
    ) -> ScanTensors<B2> {
        ScanTensors::from_array(self.into_array().map(f))
    }
}

/// The selective scan as a backend operation (see the module documentation for layouts).
#[backend_extension(Flex, NdArray, Autodiff, Cube: cfg(any(feature = "cuda", feature = "wgpu")))]
pub trait SelectiveScanOps: Backend {
    /// Runs the scan from the initial state `h0` with the resets; returns `y` `[B, L, C]`
    /// followed by the last state `[B, C, N]`, flattened into one tensor of `B*L*C + B*C*N`
    /// values (of `B*L*C`, `y` alone, for a scan without state: [`is_stateless`]).
    fn selective_scan_packed(#[extension_type] x: ScanTensors<Self>) -> FloatTensor<Self>;

    /// Gradients of the inputs given the gradient of the packed output (same layout as
    /// [`selective_scan_packed`](Self::selective_scan_packed)'s result).
    fn selective_scan_packed_backward(
        #[extension_type] x: ScanTensors<Self>,
        grad: FloatTensor<Self>,
    ) -> ScanTensors<Self>;
}

/// Inputs of one selective scan, in the layouts of [`crate::kernels::selective_scan`]: `u`,
/// `delta` `[B, L, C]`; `a` `[C, N]`; `b`, `c` `[B, L, N]`; `d`, `delta_bias` `[C]`; and for a
/// sequence that continues an earlier one, `h0` `[B, C, N]` and `reset` `[B, L]`.
#[derive(Debug, Clone)]
pub struct ScanInputs {
    /// Input sequence `[B, L, C]`.
    pub u: Tensor<3>,
    /// Step sizes before softplus `[B, L, C]`.
    pub delta: Tensor<3>,
    /// State matrix (diagonal per channel) `[C, N]`, negative.
    pub a: Tensor<2>,
    /// Input projection `[B, L, N]`.
    pub b: Tensor<3>,
    /// Output projection `[B, L, N]`.
    pub c: Tensor<3>,
    /// Skip connection `[C]`.
    pub d: Tensor<1>,
    /// Bias added to `delta` before softplus `[C]`.
    pub delta_bias: Tensor<1>,
    /// The state before the first token `[B, C, N]`; `None`: zero.
    pub h0: Option<Tensor<3>>,
    /// `[B, L]`: 1 where an episode starts (the state is zeroed before that token), else 0;
    /// `None`: no resets.
    pub reset: Option<Tensor<2>>,
}

impl ScanInputs {
    /// Random inputs of the given sizes on `device`: standard normal `u`, `delta`, `b`, `c`, `d`,
    /// `delta_bias`, and `a` uniform in [-2, -0.1] (for tests and benchmarks).
    pub fn random(dims: &ScanDims, device: &Device) -> Self {
        let ScanDims {
            batch,
            len,
            channels,
            state,
        } = *dims;
        let normal = Distribution::Normal(0.0, 1.0);
        let r3 = |shape: [usize; 3]| Tensor::<3>::random(shape, normal, device);
        Self {
            u: r3([batch, len, channels]),
            delta: r3([batch, len, channels]),
            a: Tensor::random([channels, state], Distribution::Uniform(0.1, 2.0), device).neg(),
            b: r3([batch, len, state]),
            c: r3([batch, len, state]),
            d: Tensor::random([channels], normal, device),
            delta_bias: Tensor::random([channels], normal, device),
            h0: None,
            reset: None,
        }
    }

    /// The same inputs, each marked as requiring gradients.
    pub fn require_grad(self) -> Self {
        Self {
            u: self.u.require_grad(),
            delta: self.delta.require_grad(),
            a: self.a.require_grad(),
            b: self.b.require_grad(),
            c: self.c.require_grad(),
            d: self.d.require_grad(),
            delta_bias: self.delta_bias.require_grad(),
            h0: self.h0.map(Tensor::require_grad),
            reset: self.reset,
        }
    }
}

/// Scan sizes read from the shapes of `u` `[B, L, C]` and `a` `[C, N]`.
pub fn scan_dims(u: &Shape, a: &Shape) -> ScanDims {
    ScanDims {
        batch: u[0],
        len: u[1],
        channels: u[2],
        state: a[1],
    }
}

/// The host values of the nine inputs, in input order.
fn host_values<B: HostValues>(x: &ScanTensors<B>) -> [Cow<'_, [f32]>; SCAN_INPUTS] {
    [
        &x.u,
        &x.delta,
        &x.a,
        &x.b,
        &x.c,
        &x.d,
        &x.delta_bias,
        &x.h0,
        &x.reset,
    ]
    .map(B::values)
}

/// The kernels' view of the nine host value buffers (no initial state where `stateless`).
fn kernel_inputs<'a>(
    v: &'a [Cow<'_, [f32]>; SCAN_INPUTS],
    stateless: bool,
) -> kernel::ScanInputs<'a> {
    kernel::ScanInputs {
        u: &v[0],
        delta: &v[1],
        a: &v[2],
        b: &v[3],
        c: &v[4],
        d: &v[5],
        delta_bias: &v[6],
        h0: (!stateless).then_some(&v[7]),
        reset: Some(&v[8]),
    }
}

/// Forward on host buffers: shared by every CPU backend.
fn host_forward<B: HostValues>(x: ScanTensors<B>) -> FloatTensor<B> {
    let device = x.u.device();
    let dims = scan_dims(&x.u.shape(), &x.a.shape());
    let stateless = is_stateless(&x.h0.shape());
    let values = host_values(&x);
    let inputs = kernel_inputs(&values, stateless);
    let packed = if stateless {
        kernel::scan_forward_y(&dims, &inputs)
    } else {
        kernel::scan_forward_packed(&dims, &inputs)
    };
    let n = packed.len();
    from_host::<B>(packed, Shape::new([n]), &device)
}

/// Backward on host buffers: shared by every CPU backend.
fn host_backward<B: HostValues>(x: ScanTensors<B>, grad: FloatTensor<B>) -> ScanTensors<B> {
    let device = x.u.device();
    let dims = scan_dims(&x.u.shape(), &x.a.shape());
    let shapes = [
        &x.u,
        &x.delta,
        &x.a,
        &x.b,
        &x.c,
        &x.d,
        &x.delta_bias,
        &x.h0,
        &x.reset,
    ]
    .map(|t| t.shape());
    let stateless = is_stateless(&x.h0.shape());
    let values = host_values(&x);
    let inputs = kernel_inputs(&values, stateless);
    let grad = B::values(&grad);
    let dy = &grad[..dims.batch * dims.len * dims.channels];
    let g = if stateless {
        kernel::scan_backward_without_dh0(&dims, &inputs, dy)
    } else {
        let dlast = &grad[dims.last_offset()..];
        kernel::scan_backward(&dims, &inputs, dy, Some(dlast))
    };
    let mut shapes = shapes.into_iter();
    let mut wrap =
        |values: Vec<f32>| from_host::<B>(values, shapes.next().expect("nine shapes"), &device);
    ScanTensors {
        u: wrap(g.du),
        delta: wrap(g.ddelta),
        a: wrap(g.da),
        b: wrap(g.db),
        c: wrap(g.dc),
        d: wrap(g.dd),
        delta_bias: wrap(g.ddelta_bias),
        h0: wrap(g.dh0),
        reset: wrap(vec![0.0; dims.batch * dims.len]),
    }
}

impl SelectiveScanOps for Flex {
    fn selective_scan_packed(x: ScanTensors<Self>) -> FloatTensor<Self> {
        host_forward(x)
    }

    fn selective_scan_packed_backward(
        x: ScanTensors<Self>,
        grad: FloatTensor<Self>,
    ) -> ScanTensors<Self> {
        host_backward(x, grad)
    }
}

impl SelectiveScanOps for NdArray {
    fn selective_scan_packed(x: ScanTensors<Self>) -> FloatTensor<Self> {
        host_forward(x)
    }

    fn selective_scan_packed_backward(
        x: ScanTensors<Self>,
        grad: FloatTensor<Self>,
    ) -> ScanTensors<Self> {
        host_backward(x, grad)
    }
}

/// The autodiff node of one scan: keeps the nine inputs for the fused backward.
#[derive(Debug)]
struct ScanBackward;

impl<B: Backend + SelectiveScanOps> Backward<B, SCAN_INPUTS> for ScanBackward {
    type State = [FloatTensor<B>; SCAN_INPUTS];

    fn backward(
        self,
        ops: Ops<Self::State, SCAN_INPUTS>,
        grads: &mut Gradients,
        _checkpointer: &mut Checkpointer,
    ) {
        apply_backward::<B, _>(ops, grads, |inputs, grad| {
            B::selective_scan_packed_backward(ScanTensors::from_array(inputs), grad).into_array()
        });
    }
}

impl<B: Backend + SelectiveScanOps, C: CheckpointStrategy> SelectiveScanOps for Autodiff<B, C> {
    fn selective_scan_packed(x: ScanTensors<Self>) -> FloatTensor<Self> {
        record::<B, C, _, SCAN_INPUTS>(ScanBackward, x.into_array(), |inputs| {
            B::selective_scan_packed(ScanTensors::from_array(inputs))
        })
    }

    fn selective_scan_packed_backward(
        x: ScanTensors<Self>,
        grad: FloatTensor<Self>,
    ) -> ScanTensors<Self> {
        // Second-order gradients are not supported: the backward runs untracked.
        B::selective_scan_packed_backward(x.map(|t| t.into_primitive()), grad.into_primitive())
            .map(<FloatTensor<Self>>::new)
    }
}

/// Runs the fused scan through burn's dispatch on any device (CPU backends, autodiff over them,
/// a GPU with the `cuda` or `wgpu` feature): returns `y` `[B, L, C]` and the last state `[B, C, N]`, with
/// gradients for every input when they are tracked (`reset` excepted). Same results as the
/// tensor-op reference ([`crate::nn::scan_reference`]) up to f32 rounding.
pub fn selective_scan_fused(inputs: &ScanInputs) -> (Tensor<3>, Tensor<3>) {
    let [batch, len, channels] = inputs.u.dims();
    let state = inputs.a.dims()[1];
    let device = inputs.u.device();
    let h0 = inputs
        .h0
        .clone()
        .unwrap_or_else(|| Tensor::zeros([batch, channels, state], &device));
    let packed = packed_scan(inputs, h0.into_dispatch());
    let dims = ScanDims {
        batch,
        len,
        channels,
        state,
    };
    let y = packed
        .clone()
        .narrow(0, 0, batch * len * channels)
        .reshape([batch, len, channels]);
    let last = packed
        .narrow(0, dims.last_offset(), batch * channels * state)
        .reshape([batch, channels, state]);
    (y, last)
}

/// [`selective_scan_fused`]'s `y` alone, where the last state is not wanted. From a zero state
/// (`inputs.h0` `None`, training without memory) the scan runs without state ([`is_stateless`]):
/// no last state written, none in the gradient, no initial state's gradient computed. The same
/// `y` and input gradients as `selective_scan_fused(inputs).0`, bit for bit.
pub fn selective_scan_y(inputs: &ScanInputs) -> Tensor<3> {
    if inputs.h0.is_some() {
        return selective_scan_fused(inputs).0;
    }
    let [batch, len, channels] = inputs.u.dims();
    let no_state = Tensor::<1>::zeros([0], &inputs.u.device());
    packed_scan(inputs, no_state.into_dispatch()).reshape([batch, len, channels])
}

/// The scan operation's packed output from `inputs` with the initial state `h0` (`inputs.h0`
/// is not read).
fn packed_scan(inputs: &ScanInputs, h0: FloatTensor<burn::backend::Dispatch>) -> Tensor<1> {
    let [batch, len, _] = inputs.u.dims();
    let device = inputs.u.device();
    let reset = inputs
        .reset
        .clone()
        .unwrap_or_else(|| Tensor::zeros([batch, len], &device));
    let x = ScanTensors {
        u: inputs.u.clone().into_dispatch(),
        delta: inputs.delta.clone().into_dispatch(),
        a: inputs.a.clone().into_dispatch(),
        b: inputs.b.clone().into_dispatch(),
        c: inputs.c.clone().into_dispatch(),
        d: inputs.d.clone().into_dispatch(),
        delta_bias: inputs.delta_bias.clone().into_dispatch(),
        h0,
        reset: reset.into_dispatch(),
    };
    let packed = <burn::backend::Dispatch as SelectiveScanOps>::selective_scan_packed(x);
    Tensor::<1>::from_dispatch(packed)
}
