//! One PPO minibatch step of the trainer: the forward (with memory: whole segments replayed from
//! their stored state), the clipped losses and the backward, cut into data-parallel shards (see
//! [`shards`](crate::ppo::shards)); then global gradient clipping and the Adam steps of both
//! branches.

use std::ops::Range;
use std::time::Instant;

use burn::optim::{GradientsAccumulator, GradientsParams};
use burn::tensor::{Device, Tensor, TensorData};

use super::rollout::Observations;
use super::{TrainError, Trainer};
use crate::nn::{self, ActorCritic, BranchMemories};
use crate::ppo::grad_clip;
use crate::ppo::loss;
use crate::ppo::shards::{map_shards, shard_network, shard_ranges, shards_for};
use crate::ppo::stats::MinibatchStats;
use crate::ppo::storage::{Minibatch, Rollout};
use crate::recipe::PpoConfig;

/// The minibatch's tensors (all rows, in the minibatch's order) before they are cut into shards.
struct Batch {
    /// Proprioception, depth and (for an asymmetric critic) privileged state.
    obs: (Tensor<2>, Tensor<4>, Option<Tensor<2>>),
    /// The sampled actions.
    actions: Tensor<2>,
    /// Log-probabilities of the actions under the acting policy.
    old_logp: Tensor<1>,
    /// Values under the acting critic.
    old_values: Tensor<1>,
    /// Advantages, normalised over the whole minibatch when `ppo.normalize_advantages`.
    advantages: Tensor<1>,
    /// Returns (the value targets).
    returns: Tensor<1>,
}

impl Batch {
    /// Rows `start .. start + len`.
    fn narrow(&self, start: usize, len: usize) -> Batch {
        let (p, d, privileged) = &self.obs;
        let rows = |t: &Tensor<1>| t.clone().narrow(0, start, len);
        Batch {
            obs: (
                p.clone().narrow(0, start, len),
                d.clone().narrow(0, start, len),
                privileged.clone().map(|x| x.narrow(0, start, len)),
            ),
            actions: self.actions.clone().narrow(0, start, len),
            old_logp: rows(&self.old_logp),
            old_values: rows(&self.old_values),
            advantages: rows(&self.advantages),
            returns: rows(&self.returns),
        }
    }
}

/// One shard's inputs: a contiguous range of the minibatch's rows (whole segments with memory).
struct ShardInput {
    /// The shard's rows (advantages normalised over the whole minibatch).
    rows: Batch,
    /// With memory: the memory each of the shard's segments starts from and its rows'
    /// episode-start flags.
    memory: Option<(BranchMemories, Vec<bool>)>,
    /// The shard's share of the minibatch's rows: its mean losses are scaled by it, so that the
    /// shards' losses add up to the minibatch's means.
    weight: f32,
    /// Whether the shard's objective carries the entropy bonus (the first shard's: the bonus
    /// depends on no row, so exactly one shard adds it).
    entropy: bool,
}

/// Gradients of the four parts of the actor-critic the two optimisers step.
pub(super) struct PartGrads {
    /// The (policy's) encoder's.
    pub encoder: GradientsParams,
    /// The policy branch's.
    pub policy: GradientsParams,
    /// The value branch's.
    pub value: GradientsParams,
    /// The value encoder's, when the critic has its own.
    pub value_encoder: Option<GradientsParams>,
}

/// What one shard's forward and backward give.
struct ShardOutput {
    /// Its weighted surrogate loss.
    policy_loss: f64,
    /// Its weighted value loss.
    value_loss: f64,
    /// The policy's entropy (the same for every row).
    entropy: f64,
    /// Log-probabilities of the actions under the current policy (detached).
    log_prob: Tensor<1>,
    /// Its gradients.
    grads: PartGrads,
    /// Thread seconds of its forward and losses.
    forward_s: f64,
    /// Thread seconds of its backward.
    backward_s: f64,
}

/// A minibatch's losses, diagnostics and gradients (summed over its shards, not yet clipped).
pub(super) struct MinibatchGrads {
    /// Surrogate loss (the minibatch's mean).
    pub policy_loss: f64,
    /// Value loss (the minibatch's mean).
    pub value_loss: f64,
    /// The policy's entropy.
    pub entropy: f64,
    /// Approximate KL divergence from the acting policy.
    pub approx_kl: f64,
    /// Fraction of rows whose probability ratio was clipped.
    pub clip_fraction: f64,
    /// The gradients of the parts the optimisers step.
    pub grads: PartGrads,
    /// Wall-clock seconds of the forward and losses (inputs gathered included).
    pub forward_s: f64,
    /// Wall-clock seconds of the backward.
    pub backward_s: f64,
}

impl Trainer {
    /// One minibatch: forward, losses and backward in shards, global clipping, Adam steps.
    /// Returns what it measured.
    pub(super) fn minibatch_step(
        &mut self,
        roll: &Rollout,
        targets: (&[f32], &[f32]),
        batch: &Minibatch,
        lr_p: f64,
        lr_v: f64,
    ) -> Result<MinibatchStats, TrainError> {
        let step = self.minibatch_gradients(roll, targets, batch, shards_for(&self.device))?;
        let optimizer_started = Instant::now();
        let PartGrads {
            encoder: mut g_enc,
            policy: mut g_pol,
            value: mut g_val,
            value_encoder: mut g_venc,
        } = step.grads;
        let max = self.recipe.ppo.max_grad_norm as f64;
        let pn = (grad_clip::squared_norm(&g_enc, &self.model.encoder)
            + grad_clip::squared_norm(&g_pol, &self.model.policy))
        .sqrt();
        let vn = (grad_clip::squared_norm(&g_val, &self.model.value)
            + match (&g_venc, &self.model.value_encoder) {
                (Some(g), Some(e)) => grad_clip::squared_norm(g, e),
                _ => 0.0,
            })
        .sqrt();
        self.ensure_finite([("policy gradient norm", pn), ("value gradient norm", vn)])?;
        let (fp, fv) = (
            grad_clip::clip_factor(pn, max),
            grad_clip::clip_factor(vn, max),
        );
        grad_clip::scale(&mut g_enc, &self.model.encoder, fp);
        grad_clip::scale(&mut g_pol, &self.model.policy, fp);
        grad_clip::scale(&mut g_val, &self.model.value, fv);

        let model = &mut self.model;
        model.encoder = self.opt_policy.step(lr_p, model.encoder.clone(), g_enc);
        model.policy = self.opt_policy.step(lr_p, model.policy.clone(), g_pol);
        model.value = self.opt_value.step(lr_v, model.value.clone(), g_val);
        if let (Some(enc), Some(mut g)) = (model.value_encoder.clone(), g_venc.take()) {
            grad_clip::scale(&mut g, &enc, fv);
            model.value_encoder = Some(self.opt_value.step(lr_v, enc, g));
        }
        self.phases.forward_s += step.forward_s;
        self.phases.backward_s += step.backward_s;
        self.phases.optimizer_s += optimizer_started.elapsed().as_secs_f64();
        Ok(MinibatchStats {
            policy_loss: step.policy_loss,
            value_loss: step.value_loss,
            entropy: step.entropy,
            approx_kl: step.approx_kl,
            clip_fraction: step.clip_fraction,
            policy_grad_norm: pn,
            value_grad_norm: vn,
        })
    }

    /// The losses and gradients of one minibatch, its forward and backward cut into `shards`
    /// shards run on rayon's threads, the gradients added in shard order.
    pub(super) fn minibatch_gradients(
        &self,
        roll: &Rollout,
        targets: (&[f32], &[f32]),
        batch: &Minibatch,
        shards: usize,
    ) -> Result<MinibatchGrads, TrainError> {
        let forward_started = Instant::now();
        let ppo = &self.recipe.ppo;
        let dev = self.device.clone();
        let full = self.gather(roll, targets, &batch.rows, &dev);
        let units = batch.rows.len() / batch.segment;
        let inputs: Vec<ShardInput> = shard_ranges(units, shards)
            .into_iter()
            .enumerate()
            .map(|(k, segments)| shard_input(&full, batch, segments, k == 0))
            .collect();

        let shards_started = Instant::now();
        let (model, count) = (&self.model, inputs.len());
        let outputs = map_shards(inputs, |input| {
            let net = shard_network(model, &dev, count);
            shard_step(&net, ppo, batch.segment, input)
        });
        let shards_s = shards_started.elapsed().as_secs_f64();

        let pl: f64 = outputs.iter().map(|o| o.policy_loss).sum();
        let vl: f64 = outputs.iter().map(|o| o.value_loss).sum();
        self.ensure_finite([("policy loss", pl), ("value loss", vl)])?;
        let entropy = outputs[0].entropy;
        let logp = Tensor::cat(outputs.iter().map(|o| o.log_prob.clone()).collect(), 0);
        let (kl, clip_fraction) = loss::kl_and_clip_fraction(logp, full.old_logp, ppo.clip);
        let (fwd_thread_s, bwd_thread_s) = outputs
            .iter()
            .fold((0.0, 0.0), |(f, b), o| (f + o.forward_s, b + o.backward_s));
        // The shards' forwards and backwards overlap: their wall time is split by their shares
        // of the shards' thread time.
        let forward_share = fwd_thread_s / (fwd_thread_s + bwd_thread_s).max(f64::MIN_POSITIVE);
        Ok(MinibatchGrads {
            policy_loss: pl,
            value_loss: vl,
            entropy,
            approx_kl: kl as f64,
            clip_fraction: clip_fraction as f64,
            grads: self.add_shards(outputs),
            forward_s: (shards_started - forward_started).as_secs_f64() + shards_s * forward_share,
            backward_s: shards_s * (1.0 - forward_share),
        })
    }

    /// Stops the update with an error naming the first of `values` that is NaN or infinite.
    fn ensure_finite(&self, values: [(&str, f64); 2]) -> Result<(), TrainError> {
        match values.into_iter().find(|(_, v)| !v.is_finite()) {
            Some((what, value)) => Err(TrainError::NonFinite {
                update: self.counters.update,
                what: what.into(),
                value,
            }),
            None => Ok(()),
        }
    }

    /// The minibatch's rows of the rollout as tensors, advantages normalised over all of them.
    fn gather(
        &self,
        roll: &Rollout,
        (advantages, returns): (&[f32], &[f32]),
        idx: &[usize],
        dev: &Device,
    ) -> Batch {
        let m = idx.len();
        let take = |v: &[f32]| Rollout::gather(v, 1, idx);
        let obs = self.input(
            Observations {
                proprio: Rollout::gather(&roll.proprio, roll.proprio_dim, idx),
                depth: Rollout::gather(&roll.depth, roll.depth_len, idx),
                privileged: Rollout::gather(&roll.privileged, roll.privileged_dim, idx),
            },
            m,
            dev,
        );
        let actions = Tensor::<2>::from_data(
            TensorData::new(
                Rollout::gather(&roll.actions, roll.action_dim, idx),
                [m, roll.action_dim],
            ),
            dev,
        );
        let t1 = |v: Vec<f32>| Tensor::<1>::from_data(TensorData::new(v, [m]), dev);
        let mut adv = t1(take(advantages));
        if self.recipe.ppo.normalize_advantages && m > 1 {
            adv = loss::normalize(adv);
        }
        Batch {
            obs,
            actions,
            old_logp: t1(take(&roll.log_probs)),
            old_values: t1(take(&roll.values)),
            advantages: adv,
            returns: t1(take(returns)),
        }
    }

    /// The shards' gradients of each part, added in shard order.
    fn add_shards(&self, outputs: Vec<ShardOutput>) -> PartGrads {
        let (mut enc, mut pol, mut val) = (
            GradientsAccumulator::new(),
            GradientsAccumulator::new(),
            GradientsAccumulator::new(),
        );
        let mut venc = GradientsAccumulator::new();
        for o in outputs {
            enc.accumulate(&self.model.encoder, o.grads.encoder);
            pol.accumulate(&self.model.policy, o.grads.policy);
            val.accumulate(&self.model.value, o.grads.value);
            if let (Some(e), Some(g)) = (&self.model.value_encoder, o.grads.value_encoder) {
                venc.accumulate(e, g);
            }
        }
        PartGrads {
            encoder: enc.grads(),
            policy: pol.grads(),
            value: val.grads(),
            value_encoder: self.model.value_encoder.as_ref().map(|_| venc.grads()),
        }
    }
}

/// The shard of `full` made of the minibatch's units (segments, or single transitions)
/// `segments`.
fn shard_input(full: &Batch, batch: &Minibatch, segments: Range<usize>, first: bool) -> ShardInput {
    let rows = segments.start * batch.segment..segments.end * batch.segment;
    ShardInput {
        rows: full.narrow(rows.start, rows.len()),
        memory: batch.memory.as_ref().map(|(memory, starts)| {
            let units: Vec<usize> = segments.collect();
            (memory.gather(&units), starts[rows.clone()].to_vec())
        }),
        weight: rows.len() as f32 / batch.rows.len() as f32,
        entropy: first,
    }
}

/// One shard's forward, losses and backward on `net` (the shard's own network: its own graph).
fn shard_step(
    net: &ActorCritic,
    ppo: &PpoConfig,
    segment: usize,
    input: ShardInput,
) -> ShardOutput {
    let started = Instant::now();
    let rows = input.rows;
    let (mean, value) = match &input.memory {
        Some((memory, starts)) => {
            let (mean, value, _) = net.forward_memory(rows.obs, memory, starts, segment);
            (mean, value)
        }
        None => net.forward(rows.obs.0, rows.obs.1, rows.obs.2),
    };
    let log_std = net.log_std();
    let logp = nn::gaussian_log_prob(mean, log_std.clone(), rows.actions);
    let w = input.weight;
    let policy_loss =
        loss::surrogate_loss(logp.clone(), rows.old_logp, rows.advantages, ppo.clip).mul_scalar(w);
    let value_loss =
        loss::value_loss(value, rows.returns, rows.old_values, ppo.value_clip).mul_scalar(w);
    let entropy = nn::gaussian_entropy(log_std).mean();
    let (pl, vl, ent) = (
        policy_loss.clone().into_scalar::<f32>() as f64,
        value_loss.clone().into_scalar::<f32>() as f64,
        entropy.clone().into_scalar::<f32>() as f64,
    );
    let total = if input.entropy {
        loss::ppo_objective(
            policy_loss,
            value_loss,
            entropy,
            ppo.value_coef,
            ppo.entropy_coef,
        )
    } else {
        policy_loss + value_loss.mul_scalar(ppo.value_coef)
    };
    let backward_started = Instant::now();
    let mut grads = total.backward();
    let grads = PartGrads {
        encoder: GradientsParams::from_module(&mut grads, &net.encoder),
        policy: GradientsParams::from_module(&mut grads, &net.policy),
        value: GradientsParams::from_module(&mut grads, &net.value),
        value_encoder: net
            .value_encoder
            .as_ref()
            .map(|e| GradientsParams::from_module(&mut grads, e)),
    };
    ShardOutput {
        policy_loss: pl,
        value_loss: vl,
        entropy: ent,
        log_prob: logp.detach(),
        forward_s: (backward_started - started).as_secs_f64(),
        backward_s: backward_started.elapsed().as_secs_f64(),
        grads,
    }
}
