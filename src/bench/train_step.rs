//! One training step of a recipe's actor-critic on random inputs (forward, a loss on both heads,
//! backward, Adam; in shards as the trainer runs its minibatches): what `runner bench nets` times
//! as its train-step row and `examples/train_prof` runs under `perf`.

use burn::optim::{AdamConfig, GradientsAccumulator, GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use burn::tensor::Distribution;

use crate::nn::encoder::ObsShape;
use crate::nn::registry::build_actor_critic;
use crate::nn::{ActorCritic, NnError};
use crate::ppo::shards::{map_shards, shard_network, shard_ranges, shards_for};
use crate::recipe::Recipe;

/// A recipe's network, its Adam and one minibatch of random observations.
pub struct TrainStep {
    /// The actor-critic, replaced by Adam's update at each step.
    model: ActorCritic,
    /// Adam with its defaults.
    optim: ModuleOptimizer,
    /// Proprioception, `[batch, proprio_dim]`.
    proprio: Tensor<2>,
    /// Depth stacks, `[batch, frames, height, width]`.
    depth: Tensor<4>,
    /// Privileged state for an asymmetric critic, `[batch, privileged_dim]`.
    privileged: Option<Tensor<2>>,
}

impl TrainStep {
    /// Builds the recipe's network on `device` (an autodiff device) and `batch` random samples.
    pub fn new(
        recipe: &Recipe,
        shape: &ObsShape,
        batch: usize,
        device: &Device,
    ) -> Result<Self, NnError> {
        let model = build_actor_critic(recipe, shape, device)?;
        let (proprio, depth, privileged) = random_inputs(shape, batch, model.asymmetric(), device);
        Ok(Self {
            optim: AdamConfig::new().init(),
            proprio,
            depth,
            privileged,
            model,
        })
    }

    /// One step: forward, the mean squares of both heads' outputs as the loss, backward, Adam;
    /// the forward and backward cut into shards as the trainer cuts its minibatches
    /// ([`shards_for`]), their gradients added in shard order.
    pub fn run(&mut self) {
        let device = self.proprio.device();
        let batch = self.proprio.dims()[0];
        let model = &self.model;
        let ranges = shard_ranges(batch, shards_for(&device));
        let count = ranges.len();
        let shards = map_shards(ranges, |rows| {
            let net = shard_network(model, &device, count);
            let (start, len) = (rows.start, rows.len());
            let (mean, value) = net.forward(
                self.proprio.clone().narrow(0, start, len),
                self.depth.clone().narrow(0, start, len),
                self.privileged.clone().map(|x| x.narrow(0, start, len)),
            );
            let loss = (mean.powi_scalar(2).mean() + value.powi_scalar(2).mean())
                .mul_scalar(len as f32 / batch as f32);
            GradientsParams::from_grads(loss.backward(), &*net)
        });
        let mut grads = GradientsAccumulator::new();
        for shard in shards {
            grads.accumulate(&self.model, shard);
        }
        self.model = self.optim.step(1e-4, self.model.clone(), grads.grads());
    }

    /// The network (for its FLOP count).
    pub fn model(&self) -> &ActorCritic {
        &self.model
    }
}

/// `batch` random inputs of a network for observations of `shape` on `device`: proprioception
/// `[batch, proprio_dim]`, depth stacks `[batch, frames, height, width]` and, for an asymmetric
/// critic, privileged state `[batch, privileged_dim]`.
pub fn random_inputs(
    shape: &ObsShape,
    batch: usize,
    asymmetric: bool,
    device: &Device,
) -> (Tensor<2>, Tensor<4>, Option<Tensor<2>>) {
    let proprio = Tensor::<2>::random([batch, shape.proprio_dim], Distribution::Default, device);
    let depth = Tensor::<4>::random(
        [
            batch,
            shape.depth_frames,
            shape.depth_height,
            shape.depth_width,
        ],
        Distribution::Default,
        device,
    );
    let privileged = asymmetric
        .then(|| Tensor::<2>::random([batch, shape.privileged_dim], Distribution::Default, device));
    (proprio, depth, privileged)
}
