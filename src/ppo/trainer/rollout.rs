//! Collecting a rollout with the current policy (sampled actions, batched over envs), and the
//! network inputs built from observations.

use burn::module::Module;
use burn::tensor::{Device, Tensor, TensorData};
use rand_chacha::ChaCha8Rng;

use super::{Trainer, to_vec};
use crate::nn;
use crate::ppo::seeding::normal;
use crate::ppo::storage::Rollout;
use crate::sim::EpisodeStats;

impl Trainer {
    pub(super) fn normalized_proprio(&self, raw: &[f32]) -> Vec<f32> {
        let mut v = raw.to_vec();
        if let Some(norm) = &self.norm {
            norm.normalize(&mut v);
        }
        v
    }

    pub(super) fn input(
        &self,
        proprio: Vec<f32>,
        depth: Vec<f32>,
        rows: usize,
        device: &Device,
    ) -> (Tensor<2>, Tensor<4>) {
        let s = &self.spec;
        let p = Tensor::<2>::from_data(TensorData::new(proprio, [rows, s.proprio_dim]), device);
        let d = Tensor::<4>::from_data(
            TensorData::new(depth, [rows, s.depth_frames, s.depth_height, s.depth_width]),
            device,
        );
        (p, d)
    }

    /// Collects one rollout with the current policy (sampled actions).
    pub(super) fn collect(
        &mut self,
        rng: &mut ChaCha8Rng,
        episodes: &mut Vec<EpisodeStats>,
    ) -> Rollout {
        let s = self.spec;
        let depth_len = s.depth_frames * s.depth_height * s.depth_width;
        let envs = s.num_envs;
        let steps = self.recipe.ppo.rollout_steps / envs;
        let mut roll = Rollout::new(envs, steps, s.proprio_dim, depth_len, s.action_dim);
        let acting = self.model.valid();
        let plain = self.device.clone().inner();
        let log_std = to_vec(acting.log_std());
        for _ in 0..steps {
            if let Some(norm) = &mut self.norm {
                norm.update(self.env.proprio());
            }
            let proprio = self.normalized_proprio(self.env.proprio());
            let depth = self.env.depth().to_vec();
            let (p, d) = self.input(proprio.clone(), depth.clone(), envs, &plain);
            let (mean, value) = acting.forward(p, d);
            let mean_v = to_vec(mean.clone());
            let mut actions = Vec::with_capacity(mean_v.len());
            for (i, m) in mean_v.iter().enumerate() {
                actions.push(m + log_std[i % s.action_dim].exp() * normal(rng));
            }
            let a = Tensor::<2>::from_data(
                TensorData::new(actions.clone(), [envs, s.action_dim]),
                &plain,
            );
            let logp = to_vec(nn::gaussian_log_prob(mean, acting.log_std(), a));
            let out = self.env.step(&actions).clone();
            let mut terminal_values = vec![0.0; envs];
            let truncated_rows: Vec<usize> = (0..envs).filter(|&e| out.truncated[e]).collect();
            if !truncated_rows.is_empty() {
                let tp = Rollout::gather(&out.terminal_proprio, s.proprio_dim, &truncated_rows);
                let td = Rollout::gather(&out.terminal_depth, depth_len, &truncated_rows);
                let tp = self.normalized_proprio(&tp);
                let (p, d) = self.input(tp, td, truncated_rows.len(), &plain);
                let v = to_vec(acting.forward(p, d).1);
                for (k, &e) in truncated_rows.iter().enumerate() {
                    terminal_values[e] = v[k];
                }
            }
            roll.proprio.extend_from_slice(&proprio);
            roll.depth.extend_from_slice(&depth);
            roll.actions.extend_from_slice(&actions);
            roll.log_probs.extend_from_slice(&logp);
            roll.values.extend(to_vec(value));
            roll.rewards.extend_from_slice(&out.reward);
            roll.terminated.extend_from_slice(&out.terminated);
            roll.truncated.extend_from_slice(&out.truncated);
            roll.terminal_values.extend_from_slice(&terminal_values);
            episodes.extend(out.finished.iter().cloned());
        }
        roll
    }

    pub(super) fn last_values(&self) -> Vec<f32> {
        let acting = self.model.valid();
        let plain = self.device.clone().inner();
        let proprio = self.normalized_proprio(self.env.proprio());
        let (p, d) = self.input(
            proprio,
            self.env.depth().to_vec(),
            self.spec.num_envs,
            &plain,
        );
        to_vec(acting.forward(p, d).1)
    }
}
