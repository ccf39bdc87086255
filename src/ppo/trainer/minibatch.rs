//! One PPO minibatch step of the trainer: the forward (with memory: whole segments replayed from
//! their stored state), the clipped losses, the backward, global gradient clipping and the Adam
//! steps of both branches.

use std::time::Instant;

use burn::optim::GradientsParams;
use burn::tensor::{Tensor, TensorData};

use super::rollout::Observations;
use super::{TrainError, Trainer};
use crate::nn;
use crate::ppo::grad_clip;
use crate::ppo::loss;
use crate::ppo::stats::MinibatchStats;
use crate::ppo::storage::{Minibatch, Rollout};

impl Trainer {
    /// One minibatch: forward, losses, backward, global clipping, Adam steps. Returns what it
    /// measured.
    pub(super) fn minibatch_step(
        &mut self,
        roll: &Rollout,
        (advantages, returns): (&[f32], &[f32]),
        batch: &Minibatch,
        lr_p: f64,
        lr_v: f64,
    ) -> Result<MinibatchStats, TrainError> {
        let forward_started = Instant::now();
        let ppo = &self.recipe.ppo;
        let dev = self.device.clone();
        let idx = &batch.rows;
        let m = idx.len();
        let take = |v: &[f32]| Rollout::gather(v, 1, idx);
        let (p, d, privileged) = self.input(
            Observations {
                proprio: Rollout::gather(&roll.proprio, roll.proprio_dim, idx),
                depth: Rollout::gather(&roll.depth, roll.depth_len, idx),
                privileged: Rollout::gather(&roll.privileged, roll.privileged_dim, idx),
            },
            m,
            &dev,
        );
        let actions = Tensor::<2>::from_data(
            TensorData::new(
                Rollout::gather(&roll.actions, roll.action_dim, idx),
                [m, roll.action_dim],
            ),
            &dev,
        );
        let t1 = |v: Vec<f32>| Tensor::<1>::from_data(TensorData::new(v, [m]), &dev);
        let old_logp = t1(take(&roll.log_probs));
        let old_values = t1(take(&roll.values));
        let mut adv = t1(take(advantages));
        if ppo.normalize_advantages && m > 1 {
            adv = loss::normalize(adv);
        }
        let ret = t1(take(returns));

        let (mean, value) = match &batch.memory {
            Some((memory, starts)) => {
                let (mean, value, _) =
                    self.model
                        .forward_memory((p, d, privileged), memory, starts, batch.segment);
                (mean, value)
            }
            None => self.model.forward(p, d, privileged),
        };
        let log_std = self.model.log_std();
        let logp = nn::gaussian_log_prob(mean, log_std.clone(), actions);
        let policy_loss = loss::surrogate_loss(logp.clone(), old_logp.clone(), adv, ppo.clip);
        let value_loss = loss::value_loss(value, ret, old_values, ppo.value_clip);
        let entropy = nn::gaussian_entropy(log_std).mean();
        let total = loss::ppo_objective(
            policy_loss.clone(),
            value_loss.clone(),
            entropy.clone(),
            ppo.value_coef,
            ppo.entropy_coef,
        );

        let pl = policy_loss.clone().into_scalar::<f32>() as f64;
        let vl = value_loss.clone().into_scalar::<f32>() as f64;
        for (what, v) in [("policy loss", pl), ("value loss", vl)] {
            if !v.is_finite() {
                return Err(TrainError::NonFinite {
                    update: self.counters.update,
                    what: what.into(),
                    value: v,
                });
            }
        }
        let ent = entropy.into_scalar::<f32>() as f64;
        let (kl, clip_frac) = loss::kl_and_clip_fraction(logp.detach(), old_logp, ppo.clip);

        let backward_started = Instant::now();
        let mut grads = total.backward();
        let optimizer_started = Instant::now();
        let mut g_enc = GradientsParams::from_module(&mut grads, &self.model.encoder);
        let mut g_pol = GradientsParams::from_module(&mut grads, &self.model.policy);
        let mut g_val = GradientsParams::from_module(&mut grads, &self.model.value);
        let mut g_venc = self
            .model
            .value_encoder
            .as_ref()
            .map(|e| GradientsParams::from_module(&mut grads, e));

        let max = ppo.max_grad_norm as f64;
        let pn = (grad_clip::squared_norm(&g_enc, &self.model.encoder)
            + grad_clip::squared_norm(&g_pol, &self.model.policy))
        .sqrt();
        let vn = (grad_clip::squared_norm(&g_val, &self.model.value)
            + match (&g_venc, &self.model.value_encoder) {
                (Some(g), Some(e)) => grad_clip::squared_norm(g, e),
                _ => 0.0,
            })
        .sqrt();
        for (what, v) in [("policy gradient norm", pn), ("value gradient norm", vn)] {
            if !v.is_finite() {
                return Err(TrainError::NonFinite {
                    update: self.counters.update,
                    what: what.into(),
                    value: v,
                });
            }
        }
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
        let done = Instant::now();
        self.phases.forward_s += (backward_started - forward_started).as_secs_f64();
        self.phases.backward_s += (optimizer_started - backward_started).as_secs_f64();
        self.phases.optimizer_s += (done - optimizer_started).as_secs_f64();
        Ok(MinibatchStats {
            policy_loss: pl,
            value_loss: vl,
            entropy: ent,
            approx_kl: kl as f64,
            clip_fraction: clip_frac as f64,
            policy_grad_norm: pn,
            value_grad_norm: vn,
        })
    }
}
