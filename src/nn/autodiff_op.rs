//! Recording a custom backend operation in burn's autodiff graph: the one pattern shared by the
//! fused operations of [`super::scan_op`] and [`super::pointwise_op`].

use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::ops::{Backward, OpsKind};
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
