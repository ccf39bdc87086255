//! The PPO training loop, top to bottom: collect a rollout, estimate advantages, run clipped-surrogate
//! epochs over shuffled minibatches with separate Adam optimisers for policy and value.
//!
//! Everything random inside update `u` (action noise, minibatch order) is drawn from a generator
//! seeded by `(seed, u)`, so a run resumed from a checkpoint at update `u` continues exactly as the
//! uninterrupted run would.

use std::collections::VecDeque;
use std::time::Instant;

use burn::module::Module;
use burn::optim::{AdamConfig, ModuleOptimizer};
use burn::tensor::{Device, Tensor};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

mod checkpointing;
mod error;
mod minibatch;
mod phases;
mod rollout;
#[cfg(test)]
mod shard_tests;

pub use checkpointing::OptimizerRole;
pub use error::{RestoreError, TrainError, first_non_finite_param};
pub use phases::PhaseTimes;

use crate::nn::{ActorCritic, BranchMemories, ObsShape};
use crate::ppo::curriculum;
use crate::ppo::exploration::ExplorationNoise;
use crate::ppo::gae::{GaeInput, gae};
use crate::ppo::normalizer::RunningNorm;
use crate::ppo::reward_norm::RewardNorm;
use crate::ppo::seeding::{build_seeded, mix_seed};
pub use crate::ppo::state::Counters;
use crate::ppo::stats::{MinibatchStats, episode_scalars, explained_variance};
use crate::ppo::storage::{Minibatch, Rollout};
use crate::recipe::{LrSchedule, Recipe};
use crate::sim::{EnvSpec, EpisodeStats, VecEnv};

/// Finished training episodes the `train/*` scalars average over.
pub const RECENT_EPISODES: usize = 100;

/// What one update measured, for logging.
#[derive(Debug, Clone, Default)]
pub struct UpdateStats {
    /// `(tag, value)` pairs, e.g. `loss/policy`.
    pub scalars: Vec<(String, f64)>,
    /// Episodes that ended during this update's rollout.
    pub episodes: Vec<EpisodeStats>,
}

/// The trainer: networks, optimisers, envs and normaliser of one run.
pub struct Trainer {
    recipe: Recipe,
    seed: u64,
    /// Autodiff device the networks train on.
    device: Device,
    model: ActorCritic,
    /// Adam for the encoder and policy branch.
    opt_policy: ModuleOptimizer,
    /// Adam for the value branch (and its own encoder when not shared).
    opt_value: ModuleOptimizer,
    env: VecEnv,
    /// Running normalisation of proprioception (when `ppo.obs_norm`).
    norm: Option<RunningNorm>,
    /// Running normalisation of the critic's privileged state (when `ppo.asymmetric_critic`).
    privileged_norm: Option<RunningNorm>,
    /// Return-scale reward normalisation (when `ppo.reward_norm`).
    reward_norm: Option<RewardNorm>,
    /// The sampled actions' exploration noise (`ppo.noise_correlation`).
    noise: ExplorationNoise,
    counters: Counters,
    /// The adaptive schedule's multiplier of both learning rates.
    lr_scale: f64,
    /// The curriculum's level (0 = its start, 1 = the task).
    curriculum_level: f32,
    spec: EnvSpec,
    recent: VecDeque<EpisodeStats>,
    /// The rollout buffer, kept between updates so its memory is reused.
    rollout: Rollout,
    /// Phase times since the last [`take_phase_times`](Self::take_phase_times).
    phases: PhaseTimes,
    /// With `[memory]` on: each env's recurrent state of both fusion stacks, zeroed when its
    /// episode ends (the one place acting memory lives during training).
    memory: Option<BranchMemories>,
}

pub(super) fn to_vec<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data()
        .convert::<f32>()
        .as_slice::<f32>()
        .expect("f32 data")
        .to_vec()
}

/// The observation shapes the networks are built for.
impl From<&EnvSpec> for ObsShape {
    fn from(spec: &EnvSpec) -> Self {
        ObsShape {
            proprio_dim: spec.proprio_dim,
            depth_frames: spec.depth_frames,
            depth_height: spec.depth_height,
            depth_width: spec.depth_width,
            action_dim: spec.action_dim,
            privileged_dim: spec.privileged_dim,
        }
    }
}

impl Trainer {
    /// Builds envs, networks (initialised from `seed`) and optimisers for a fresh run.
    pub fn new(recipe: &Recipe, seed: u64, device: &Device) -> Result<Self, TrainError> {
        let curriculum_level = curriculum::level_at_steps(&recipe.env.curriculum, 0);
        // The first episodes already start at the curriculum's level.
        let mut start = recipe.env.clone();
        let d = recipe.env.difficulty_at(curriculum_level);
        (start.obstacle_density, start.target_vel) = (d.obstacle_density, d.target_vel);
        let mut env = VecEnv::new(&start, seed)?;
        if recipe.ppo.asymmetric_critic {
            env.read_privileged();
        }
        let spec = env.spec();
        let device = device.clone().autodiff();
        let shape = ObsShape::from(&spec);
        let model = build_seeded(recipe, &shape, &device, seed)?;
        let memory = recipe.memory.enabled.then(|| {
            let tokens = model.tokens_per_step(&shape);
            model.zero_memory(spec.num_envs, tokens, recipe.memory.context_steps)
        });
        let adam = AdamConfig::new().with_epsilon(recipe.ppo.adam_eps as f32);
        Ok(Self {
            recipe: recipe.clone(),
            seed,
            device,
            model,
            opt_policy: adam.init(),
            opt_value: adam.init(),
            norm: recipe
                .ppo
                .obs_norm
                .then(|| RunningNorm::new(spec.proprio_dim)),
            privileged_norm: recipe
                .ppo
                .asymmetric_critic
                .then(|| RunningNorm::new(spec.privileged_dim)),
            reward_norm: recipe
                .ppo
                .reward_norm
                .then(|| RewardNorm::new(spec.num_envs, recipe.ppo.discount)),
            noise: ExplorationNoise::new(
                recipe.ppo.noise_correlation,
                spec.num_envs,
                spec.action_dim,
            ),
            counters: Counters::default(),
            lr_scale: 1.0,
            curriculum_level,
            env,
            spec,
            recent: VecDeque::new(),
            rollout: Rollout::default(),
            phases: PhaseTimes::default(),
            memory: memory.flatten(),
        })
    }

    /// The run's recipe.
    pub fn recipe(&self) -> &Recipe {
        &self.recipe
    }

    /// The run's seed.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The autodiff device the networks train on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The policy and value networks.
    pub fn model(&self) -> &ActorCritic {
        &self.model
    }

    /// The observation normaliser (when `ppo.obs_norm`).
    pub fn norm(&self) -> Option<&RunningNorm> {
        self.norm.as_ref()
    }

    /// Progress so far.
    pub fn counters(&self) -> Counters {
        self.counters
    }

    /// Env steps collected per update.
    pub fn steps_per_update(&self) -> u64 {
        self.recipe.ppo.rollout_steps as u64
    }

    /// Updates the run will do in total.
    pub fn total_updates(&self) -> u64 {
        self.recipe
            .experiment
            .total_env_steps
            .div_ceil(self.steps_per_update())
            .max(1)
    }

    /// True when the budget is spent.
    pub fn done(&self) -> bool {
        self.counters.update >= self.total_updates()
    }

    /// Learning-rate multiplier for the current update.
    fn lr_factor(&self) -> f64 {
        match self.recipe.ppo.lr_schedule {
            LrSchedule::Constant => 1.0,
            LrSchedule::Linear => 1.0 - self.counters.update as f64 / self.total_updates() as f64,
            LrSchedule::Adaptive => self.lr_scale,
        }
    }

    /// The adaptive schedule's rule, after a minibatch that measured `kl`.
    fn adapt_lr(&mut self, kl: f64) {
        let ppo = &self.recipe.ppo;
        if ppo.lr_schedule != LrSchedule::Adaptive {
            return;
        }
        if kl > 2.0 * ppo.desired_kl {
            self.lr_scale /= 1.5;
        } else if kl < 0.5 * ppo.desired_kl {
            self.lr_scale *= 1.5;
        }
        self.lr_scale = self
            .lr_scale
            .clamp(1e-5 / ppo.policy_lr, 1e-2 / ppo.policy_lr);
    }

    /// Where the updates since the previous call spent their time, and starts counting again.
    pub fn take_phase_times(&mut self) -> PhaseTimes {
        std::mem::take(&mut self.phases)
    }

    /// The most recent finished training episodes (up to [`RECENT_EPISODES`]).
    pub fn recent_episodes(&self) -> &VecDeque<EpisodeStats> {
        &self.recent
    }

    /// One PPO update: rollout, GAE, `epochs` passes of minibatch steps. Returns what to log.
    pub fn update(&mut self) -> Result<UpdateStats, TrainError> {
        let started = Instant::now();
        let ppo = self.recipe.ppo.clone();
        let update = self.counters.update;
        let mut rng = ChaCha8Rng::seed_from_u64(mix_seed(self.seed, update));
        let mut episodes = Vec::new();
        let difficulty = self.recipe.env.difficulty_at(self.curriculum_level);
        self.env.set_difficulty(difficulty);
        let roll = self.collect(&mut rng, &mut episodes);
        let rollout_s = started.elapsed().as_secs_f64();
        let optimise_started = Instant::now();

        let last = self.last_values();
        let (advantages, returns) = gae(
            &GaeInput {
                envs: roll.envs,
                rewards: &roll.rewards,
                values: &roll.values,
                terminated: &roll.terminated,
                truncated: &roll.truncated,
                terminal_values: &roll.terminal_values,
                last_values: &last,
            },
            ppo.discount,
            ppo.gae_lambda,
            ppo.bootstrap_time_limits,
        );

        let n = roll.len();
        let mut steps = Vec::new();
        let mut last_lr = (
            ppo.policy_lr * self.lr_factor(),
            ppo.value_lr * self.lr_factor(),
        );
        // Without memory minibatches are shuffled transitions; with it, shuffled whole segments
        // of `segment` steps of one env, replayed from their stored memory.
        let segment = self.segment_len();
        let units = n / segment;
        let per_batch = (ppo.minibatch_size / segment).max(1);
        for _ in 0..ppo.epochs {
            let mut order: Vec<usize> = (0..units).collect();
            if ppo.shuffle {
                for i in (1..units).rev() {
                    order.swap(i, rng.random_range(0..=i));
                }
            }
            for batch in order.chunks(per_batch) {
                let factor = self.lr_factor();
                let (lr_p, lr_v) = (ppo.policy_lr * factor, ppo.value_lr * factor);
                last_lr = (lr_p, lr_v);
                let rows = Minibatch::new(&roll, batch, segment);
                let step =
                    self.minibatch_step(&roll, (&advantages, &returns), &rows, lr_p, lr_v)?;
                self.adapt_lr(step.approx_kl);
                steps.push(step);
            }
        }
        if let Some(value) = first_non_finite_param(&self.model) {
            return Err(TrainError::NonFinite {
                update,
                what: "a network parameter".into(),
                value,
            });
        }
        self.phases.updates += 1;
        self.phases.collect_s += rollout_s;
        self.phases.optimise_s += optimise_started.elapsed().as_secs_f64();
        self.phases.sim += self.env.take_timing();
        self.counters.update += 1;
        self.counters.env_steps += n as u64;
        self.curriculum_level = curriculum::next_level(
            &self.recipe.env.curriculum,
            self.curriculum_level,
            self.counters.env_steps,
            &episodes,
        );
        let next = self.recipe.env.difficulty_at(self.curriculum_level);
        self.env.set_difficulty(next);
        let elapsed = started.elapsed().as_secs_f64();
        self.counters.wall_time_s += elapsed;
        for e in &episodes {
            self.recent.push_back(e.clone());
            if self.recent.len() > RECENT_EPISODES {
                self.recent.pop_front();
            }
        }

        let minibatch = MinibatchStats::mean(&steps);
        let explained = explained_variance(&roll.values, &returns);
        self.rollout = roll;
        let action_std = to_vec(self.model.log_std())
            .iter()
            .map(|l| l.exp() as f64)
            .sum::<f64>()
            / self.spec.action_dim as f64;
        let mut scalars = minibatch.scalars();
        scalars.extend([
            ("value/explained_variance".to_string(), explained),
            ("policy/action_std".to_string(), action_std),
            ("lr/policy".to_string(), last_lr.0),
            ("lr/value".to_string(), last_lr.1),
            (
                "perf/env_steps_per_s".to_string(),
                n as f64 / rollout_s.max(1e-9),
            ),
            ("perf/update_time_s".to_string(), elapsed),
            (
                "train/obstacle_density".to_string(),
                difficulty.obstacle_density as f64,
            ),
            ("train/target_vel".to_string(), difficulty.target_vel as f64),
            (
                "train/curriculum_level".to_string(),
                self.curriculum_level as f64,
            ),
            ("perf/rollout_time_s".to_string(), rollout_s),
            // Training time so far, summed over resumes (evaluations not included): the x axis
            // of learning curves against wall time.
            ("perf/wall_time_s".to_string(), self.counters.wall_time_s),
        ]);
        scalars.extend(episode_scalars("train", self.recent.iter()));
        Ok(UpdateStats { scalars, episodes })
    }

    /// Steps per training segment: 1 without memory (a minibatch of single transitions), else
    /// `[memory]`'s segment length.
    fn segment_len(&self) -> usize {
        if self.memory.is_none() {
            return 1;
        }
        let steps = self.recipe.ppo.rollout_steps / self.spec.num_envs;
        self.recipe.memory.segment_len(steps)
    }

    /// Number of trainable parameters (for logs).
    pub fn num_params(&self) -> usize {
        self.model.num_params()
    }
}
