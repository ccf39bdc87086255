//! Data-parallel minibatches: a minibatch's forward and backward cut into a fixed number of
//! shards, each run as its own autodiff graph on rayon's threads, their gradients added in shard
//! order.
//!
//! Why: a minibatch run as one graph spreads each of its few hundred operations over the threads
//! and waits for all of them after each; shards run whole graphs side by side, with no wait
//! between operations. Why a copy of the network per shard ([`shard_network`]): burn merges the
//! graphs of tensors that share a node, parameters included, and runs one graph's backward under
//! one lock, so shards on the same parameter nodes would take turns.
//!
//! The shard count is fixed ([`MINIBATCH_SHARDS`]), not the thread count, so a run's every bit is
//! the same on any number of threads. The order of the sums differs from one graph's (each
//! shard's gradient is summed over its rows, then the shards are added), within f32 rounding: the
//! trainer's unit tests run one minibatch both ways and compare its losses and gradients.

use std::borrow::Cow;
use std::ops::Range;

use burn::module::Module;
use burn::tensor::Device;
use rayon::prelude::*;

use crate::ops::has_fused_cpu_ops;

/// Shards of every training minibatch on the CPU (fewer when the minibatch has fewer units).
pub const MINIBATCH_SHARDS: usize = 2;

/// The shards a minibatch is cut into on `device`: [`MINIBATCH_SHARDS`] on burn's CPU backends;
/// 1 on a GPU, which already spreads each operation over the whole device.
pub fn shards_for(device: &Device) -> usize {
    if has_fused_cpu_ops(device) {
        MINIBATCH_SHARDS
    } else {
        1
    }
}

/// `units` cut into at most `shards` contiguous ranges in order, sizes differing by at most one
/// (the first ones larger); empty ranges are left out.
pub fn shard_ranges(units: usize, shards: usize) -> Vec<Range<usize>> {
    let shards = shards.clamp(1, units.max(1));
    let (base, extra) = (units / shards, units % shards);
    let mut start = 0;
    (0..shards)
        .map(|k| {
            let len = base + usize::from(k < extra);
            let range = start..start + len;
            start += len;
            range
        })
        .filter(|r| !r.is_empty())
        .collect()
}

/// The network one of `shards` shards runs on: with several, a copy of `module` with the same
/// parameter values and ids, each parameter a new autodiff leaf (burn's `fork`), so that the
/// shard's graph shares no node with another's; with one, `module` itself.
pub fn shard_network<'a, M: Module>(module: &'a M, device: &Device, shards: usize) -> Cow<'a, M> {
    if shards > 1 {
        Cow::Owned(module.clone().fork(device))
    } else {
        Cow::Borrowed(module)
    }
}

/// `step` applied to each shard's input, in shard order: on rayon's threads when there are
/// several, on the calling thread when there is one (as a minibatch ran before shards, which
/// keeps a GPU's work on the thread that made its tensors).
pub fn map_shards<I: Send, O: Send>(inputs: Vec<I>, step: impl Fn(I) -> O + Sync + Send) -> Vec<O> {
    if inputs.len() > 1 {
        inputs.into_par_iter().map(step).collect()
    } else {
        inputs.into_iter().map(step).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_cover_the_units_in_order() {
        assert_eq!(shard_ranges(512, 2), vec![0..256, 256..512]);
        assert_eq!(shard_ranges(7, 2), vec![0..4, 4..7]);
        assert_eq!(shard_ranges(10, 4), vec![0..3, 3..6, 6..8, 8..10]);
        assert_eq!(shard_ranges(1, 2), vec![0..1]);
        assert_eq!(shard_ranges(3, 1), vec![0..3]);
        assert!(shard_ranges(0, 2).is_empty());
    }
}
