//! Collecting a rollout with the current policy (sampled actions, batched over envs), and the
//! network inputs built from observations.

use std::time::Instant;

use burn::module::Module;
use burn::tensor::{Device, Tensor, TensorData};
use rand_chacha::ChaCha8Rng;

use super::{Trainer, to_vec};
use crate::nn;
use crate::ppo::storage::{Rollout, RolloutWidths};
use crate::sim::EpisodeStats;

/// Observations of some rows, as the networks take them (already normalised).
pub(super) struct Observations {
    /// `[rows * proprio_dim]`.
    pub proprio: Vec<f32>,
    /// `[rows * depth_dim]`.
    pub depth: Vec<f32>,
    /// `[rows * privileged_dim]`, empty without an asymmetric critic.
    pub privileged: Vec<f32>,
}

impl Trainer {
    pub(super) fn normalized_proprio(&self, raw: &[f32]) -> Vec<f32> {
        let mut v = raw.to_vec();
        if let Some(norm) = &self.norm {
            norm.normalize(&mut v);
        }
        v
    }

    /// The critic's normalised privileged state of some rows; empty without an asymmetric
    /// critic.
    pub(super) fn normalized_privileged(&self, raw: &[f32]) -> Vec<f32> {
        match &self.privileged_norm {
            Some(norm) => {
                let mut v = raw.to_vec();
                norm.normalize(&mut v);
                v
            }
            None => Vec::new(),
        }
    }

    /// The current observations of every env, normalised.
    fn current_observations(&self) -> Observations {
        Observations {
            proprio: self.normalized_proprio(self.env.proprio()),
            depth: self.env.depth().to_vec(),
            privileged: self.normalized_privileged(self.env.privileged()),
        }
    }

    pub(super) fn input(
        &self,
        obs: Observations,
        rows: usize,
        device: &Device,
    ) -> (Tensor<2>, Tensor<4>, Option<Tensor<2>>) {
        let s = &self.spec;
        let p = Tensor::<2>::from_data(TensorData::new(obs.proprio, [rows, s.proprio_dim]), device);
        let d = Tensor::<4>::from_data(
            TensorData::new(
                obs.depth,
                [rows, s.depth_frames, s.depth_height, s.depth_width],
            ),
            device,
        );
        let privileged = self.privileged_norm.as_ref().map(|_| {
            Tensor::<2>::from_data(
                TensorData::new(obs.privileged, [rows, s.privileged_dim]),
                device,
            )
        });
        (p, d, privileged)
    }

    /// Collects one rollout with the current policy (sampled actions).
    pub(super) fn collect(
        &mut self,
        rng: &mut ChaCha8Rng,
        episodes: &mut Vec<EpisodeStats>,
    ) -> Rollout {
        let s = self.spec;
        let depth_len = s.depth_frames * s.depth_height * s.depth_width;
        let privileged_dim = self
            .privileged_norm
            .as_ref()
            .map_or(0, |_| s.privileged_dim);
        let envs = s.num_envs;
        let steps = self.recipe.ppo.rollout_steps / envs;
        let widths = RolloutWidths {
            proprio_dim: s.proprio_dim,
            depth_len,
            action_dim: s.action_dim,
            privileged_dim,
        };
        let mut roll = std::mem::take(&mut self.rollout);
        roll.reset(envs, steps, widths);
        let acting = self.model.valid();
        let plain = self.device.clone().inner();
        let log_std = to_vec(acting.log_std());
        let segment = self.segment_len();
        let mut memory = self.memory.take();
        for t in 0..steps {
            if let Some(m) = &memory
                && t % segment == 0
            {
                roll.segment_memory.push(m.clone());
            }
            roll.starts
                .extend((0..envs).map(|e| self.env.env(e).steps() == 0));
            if let Some(norm) = &mut self.norm {
                norm.update(self.env.proprio());
            }
            if let Some(norm) = &mut self.privileged_norm {
                norm.update(self.env.privileged());
            }
            let obs = self.current_observations();
            roll.proprio.extend_from_slice(&obs.proprio);
            roll.depth.extend_from_slice(&obs.depth);
            roll.privileged.extend_from_slice(&obs.privileged);
            let inference_started = Instant::now();
            let (p, d, privileged) = self.input(obs, envs, &plain);
            let (mean, value, next) = acting.act_and_value((p, d, privileged), memory.as_ref());
            memory = next;
            let mean_v = to_vec(mean.clone());
            let starts = &roll.starts[roll.starts.len() - envs..];
            let noise = self.noise.sample(rng, starts);
            let actions: Vec<f32> = (mean_v.iter().zip(noise).enumerate())
                .map(|(i, (m, n))| m + log_std[i % s.action_dim].exp() * n)
                .collect();
            let a = Tensor::<2>::from_data(
                TensorData::new(actions.clone(), [envs, s.action_dim]),
                &plain,
            );
            let logp = to_vec(nn::gaussian_log_prob(mean, acting.log_std(), a));
            let value = to_vec(value);
            let env_started = Instant::now();
            self.phases.inference_s += (env_started - inference_started).as_secs_f64();
            let out = self.env.step(&actions).clone();
            self.phases.env_s += env_started.elapsed().as_secs_f64();
            let mut terminal_values = vec![0.0; envs];
            let truncated_rows: Vec<usize> = (0..envs).filter(|&e| out.truncated[e]).collect();
            if !truncated_rows.is_empty() {
                let gather =
                    |buffer: &[f32], width| Rollout::gather(buffer, width, &truncated_rows);
                let terminal = Observations {
                    proprio: self.normalized_proprio(&gather(&out.terminal_proprio, s.proprio_dim)),
                    depth: gather(&out.terminal_depth, depth_len),
                    privileged: self
                        .normalized_privileged(&gather(&out.terminal_privileged, s.privileged_dim)),
                };
                let rows = truncated_rows.len();
                let (p, d, privileged) = self.input(terminal, rows, &plain);
                // With memory, the terminal observation continues the episode's memory.
                let m = memory.as_ref().map(|m| m.gather(&truncated_rows));
                let v = to_vec(acting.act_and_value((p, d, privileged), m.as_ref()).1);
                for (k, &e) in truncated_rows.iter().enumerate() {
                    terminal_values[e] = v[k];
                }
            }
            roll.actions.extend_from_slice(&actions);
            roll.log_probs.extend_from_slice(&logp);
            roll.values.extend(value);
            match &mut self.reward_norm {
                Some(norm) => {
                    let ended: Vec<bool> = (0..envs)
                        .map(|e| out.terminated[e] || out.truncated[e])
                        .collect();
                    roll.rewards.extend(norm.step(&out.reward, &ended));
                }
                None => roll.rewards.extend_from_slice(&out.reward),
            }
            roll.terminated.extend_from_slice(&out.terminated);
            roll.truncated.extend_from_slice(&out.truncated);
            roll.terminal_values.extend_from_slice(&terminal_values);
            episodes.extend(out.finished.iter().cloned());
            if let Some(m) = &mut memory {
                // The envs that ended have reset: their next step starts from nothing.
                let ended: Vec<bool> = (0..envs)
                    .map(|e| out.terminated[e] || out.truncated[e])
                    .collect();
                m.reset_rows(&ended);
            }
        }
        self.memory = memory;
        roll
    }

    pub(super) fn last_values(&self) -> Vec<f32> {
        let acting = self.model.valid();
        let plain = self.device.clone().inner();
        let envs = self.spec.num_envs;
        let (p, d, privileged) = self.input(self.current_observations(), envs, &plain);
        // With memory the values continue each env's memory, which the next rollout's first
        // step then advances (not this bootstrap).
        to_vec(
            acting
                .act_and_value((p, d, privileged), self.memory.as_ref())
                .1,
        )
    }
}
