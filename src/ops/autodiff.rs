//! Recording a custom backend operation in burn's autodiff graph, and running its backward node:
//! the two patterns shared by the fused operations of [`super::scan`] and
//! [`super::mamba_pointwise`], whose nodes keep their inputs as state and return one gradient per
//! input.

use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend};

/// Runs `forward` on the inner backend's values of `inputs` and, when any input is tracked,
/// records node `op` keeping those values as its state for the backward.
pub(crate) fn record<B, C, O, const N: usize>(
    op: O,
    inputs: [FloatTensor<Autodiff<B, C>>; N],
    forward: impl FnOnce([FloatTensor<B>; N]) -> FloatTensor<B>,
) -> FloatTensor<Autodiff<B, C>>
where
    B: Backend,
    C: CheckpointStrategy,
    O: Backward<B, N, State = [FloatTensor<B>; N]>,
{
    let nodes = inputs.each_ref().map(|t| t.node());
    let values = inputs.map(|t| t.into_primitive());
    let out = forward(values.clone());
    match op.prepare::<C>(nodes).compute_bound().stateful() {
        OpsKind::Tracked(prep) => prep.finish(values, out),
        OpsKind::UnTracked(prep) => prep.finish(out),
    }
}

/// The body of such a node's backward: takes the output's gradient, calls `backward` with the
/// saved inputs and that gradient, and registers the gradient of each input that is tracked.
pub(crate) fn apply_backward<B: Backend, const N: usize>(
    ops: Ops<[FloatTensor<B>; N], N>,
    grads: &mut Gradients,
    backward: impl FnOnce([FloatTensor<B>; N], FloatTensor<B>) -> [FloatTensor<B>; N],
) {
    let grad = grads.consume::<B>(&ops.node);
    for (parent, g) in ops.parents.into_iter().zip(backward(ops.state, grad)) {
        if let Some(node) = parent {
            grads.register::<B>(node.id, g);
        }
    }
}
