//! The PPO training loop, top to bottom: collect a rollout, estimate advantages, run clipped-surrogate
//! epochs over shuffled minibatches with separate Adam optimisers for policy and value.
//!
//! Everything random inside update `u` (action noise, minibatch order) is drawn from a generator
//! seeded by `(seed, u)`, so a run resumed from a checkpoint at update `u` continues exactly as the
//! uninterrupted run would.

use std::collections::VecDeque;
use std::time::Instant;

use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::tensor::{Device, Tensor, TensorData};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::gae::{GaeInput, gae};
use super::grad_clip;
use super::loss;
use super::normalizer::RunningNorm;
use super::storage::Rollout;
use crate::nn::{self, ActorCritic, NnError, ObsShape};
use crate::recipe::{LrSchedule, Recipe};
use crate::sim::{EnvSpec, EpisodeStats, SimError, VecEnv};

/// Why training stopped with an error.
#[derive(Debug, Error)]
pub enum TrainError {
    /// The networks could not be built from the recipe.
    #[error(transparent)]
    Network(#[from] NnError),
    /// The simulator could not be built.
    #[error(transparent)]
    Sim(#[from] SimError),
    /// A loss or a parameter became NaN or infinite.
    #[error(
        "update {update}: {what} is not finite ({value}); stopping, the last good checkpoint is kept"
    )]
    NonFinite {
        /// The update at which it happened.
        update: u64,
        /// Which quantity.
        what: String,
        /// Its value.
        value: f64,
    },
}

/// Finished training episodes the `train/*` scalars average over.
pub const RECENT_EPISODES: usize = 100;

/// Progress counters, saved in checkpoints.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Counters {
    /// PPO updates completed.
    pub update: u64,
    /// Env steps collected (summed over envs).
    pub env_steps: u64,
    /// Training wall time in seconds, summed over resumes.
    pub wall_time_s: f64,
}

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
    /// The run's recipe.
    pub recipe: Recipe,
    /// The run's seed.
    pub seed: u64,
    /// Autodiff device the networks train on.
    pub device: Device,
    /// Policy and value networks.
    pub model: ActorCritic,
    /// Adam for the encoder and policy branch.
    pub opt_policy: ModuleOptimizer,
    /// Adam for the value branch (and its own encoder when not shared).
    pub opt_value: ModuleOptimizer,
    /// The vectorised envs.
    pub env: VecEnv,
    /// Running normalisation of proprioception (when `ppo.obs_norm`).
    pub norm: Option<RunningNorm>,
    /// Progress.
    pub counters: Counters,
    spec: EnvSpec,
    recent: VecDeque<EpisodeStats>,
}

/// Mixes a seed and an index into a new seed (SplitMix64 finaliser).
pub fn mix_seed(seed: u64, index: u64) -> u64 {
    let mut z = seed ^ index.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Serialises seeded initialisation: burn may seed a backend's generator globally, so two jobs
/// initialising at once would interleave draws.
static INIT_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Builds the networks with parameters drawn from `seed` (same seed, same initial weights).
pub fn build_seeded(
    recipe: &Recipe,
    shape: &ObsShape,
    device: &Device,
    seed: u64,
) -> Result<ActorCritic, NnError> {
    let _guard = INIT_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    device.seed(mix_seed(seed, u64::MAX));
    let model = nn::build_actor_critic(recipe, shape, device)?;
    // burn initialises parameters lazily; draw them all now, in module order, under the lock.
    model.visit(&mut InitializeNow);
    Ok(model)
}

/// Touches every parameter so lazily initialised ones are drawn immediately.
struct InitializeNow;

impl ModuleVisitor for InitializeNow {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let _ = param.val();
    }
}

/// Finds a NaN or infinite parameter value, if any.
struct NonFiniteParam(Option<f64>);

impl ModuleVisitor for NonFiniteParam {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if self.0.is_none() {
            self.0 = to_vec(param.val())
                .into_iter()
                .find(|v| !v.is_finite())
                .map(f64::from);
        }
    }
}

/// The first NaN or infinite value among `model`'s parameters.
pub fn first_non_finite_param(model: &ActorCritic) -> Option<f64> {
    let mut visitor = NonFiniteParam(None);
    model.visit(&mut visitor);
    visitor.0
}

/// A standard normal sample (Box-Muller).
fn normal(rng: &mut ChaCha8Rng) -> f32 {
    let u1 = rng.random::<f64>().max(1e-12);
    let u2: f64 = rng.random::<f64>();
    ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32
}

fn to_vec<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data()
        .convert::<f32>()
        .as_slice::<f32>()
        .expect("f32 data")
        .to_vec()
}

/// The observation shapes the networks are built for.
pub fn obs_shape(spec: &EnvSpec) -> ObsShape {
    ObsShape {
        proprio_dim: spec.proprio_dim,
        depth_frames: spec.depth_frames,
        depth_height: spec.depth_height,
        depth_width: spec.depth_width,
        action_dim: spec.action_dim,
    }
}

impl Trainer {
    /// Builds envs, networks (initialised from `seed`) and optimisers for a fresh run.
    pub fn new(recipe: &Recipe, seed: u64, device: &Device) -> Result<Self, TrainError> {
        let env = VecEnv::new(&recipe.env, seed)?;
        let spec = env.spec();
        let device = device.clone().autodiff();
        let model = build_seeded(recipe, &obs_shape(&spec), &device, seed)?;
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
            counters: Counters::default(),
            env,
            spec,
            recent: VecDeque::new(),
        })
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
        }
    }

    /// The most recent finished training episodes (up to [`RECENT_EPISODES`]).
    pub fn recent_episodes(&self) -> &VecDeque<EpisodeStats> {
        &self.recent
    }

    /// Replaces the recent-episode window (when resuming from a checkpoint).
    pub fn restore_recent_episodes(&mut self, episodes: Vec<EpisodeStats>) {
        self.recent = episodes.into();
        while self.recent.len() > RECENT_EPISODES {
            self.recent.pop_front();
        }
    }

    fn normalized_proprio(&self, raw: &[f32]) -> Vec<f32> {
        let mut v = raw.to_vec();
        if let Some(norm) = &self.norm {
            norm.normalize(&mut v);
        }
        v
    }

    fn input(
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
    fn collect(&mut self, rng: &mut ChaCha8Rng, episodes: &mut Vec<EpisodeStats>) -> Rollout {
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

    fn last_values(&self) -> Vec<f32> {
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

    /// One PPO update: rollout, GAE, `epochs` passes of minibatch steps. Returns what to log.
    pub fn update(&mut self) -> Result<UpdateStats, TrainError> {
        let started = Instant::now();
        let ppo = self.recipe.ppo.clone();
        let update = self.counters.update;
        let mut rng = ChaCha8Rng::seed_from_u64(mix_seed(self.seed, update));
        let mut episodes = Vec::new();
        let roll = self.collect(&mut rng, &mut episodes);
        let rollout_s = started.elapsed().as_secs_f64();

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

        let factor = self.lr_factor();
        let (lr_p, lr_v) = (ppo.policy_lr * factor, ppo.value_lr * factor);
        let n = roll.len();
        let mut sums = [0.0f64; 7];
        let mut count = 0.0f64;
        for _ in 0..ppo.epochs {
            let mut order: Vec<usize> = (0..n).collect();
            if ppo.shuffle {
                for i in (1..n).rev() {
                    order.swap(i, rng.random_range(0..=i));
                }
            }
            for batch in order.chunks(ppo.minibatch_size) {
                let stats = self.minibatch_step(&roll, &advantages, &returns, batch, lr_p, lr_v)?;
                for (s, v) in sums.iter_mut().zip(stats) {
                    *s += v;
                }
                count += 1.0;
            }
        }
        if let Some(value) = first_non_finite_param(&self.model) {
            return Err(TrainError::NonFinite {
                update,
                what: "a network parameter".into(),
                value,
            });
        }
        self.counters.update += 1;
        self.counters.env_steps += n as u64;
        let elapsed = started.elapsed().as_secs_f64();
        self.counters.wall_time_s += elapsed;
        for e in &episodes {
            self.recent.push_back(e.clone());
            if self.recent.len() > RECENT_EPISODES {
                self.recent.pop_front();
            }
        }

        let mean = |i: usize| sums[i] / count.max(1.0);
        let explained = explained_variance(&roll.values, &returns);
        let action_std = to_vec(self.model.log_std())
            .iter()
            .map(|l| l.exp() as f64)
            .sum::<f64>()
            / self.spec.action_dim as f64;
        let mut scalars = vec![
            ("loss/policy".to_string(), mean(0)),
            ("loss/value".to_string(), mean(1)),
            ("loss/entropy".to_string(), mean(2)),
            ("policy/approx_kl".to_string(), mean(3)),
            ("policy/clip_fraction".to_string(), mean(4)),
            ("policy/grad_norm".to_string(), mean(5)),
            ("value/grad_norm".to_string(), mean(6)),
            ("value/explained_variance".to_string(), explained),
            ("policy/action_std".to_string(), action_std),
            ("lr/policy".to_string(), lr_p),
            ("lr/value".to_string(), lr_v),
            (
                "perf/env_steps_per_s".to_string(),
                n as f64 / rollout_s.max(1e-9),
            ),
            ("perf/update_time_s".to_string(), elapsed),
            ("perf/rollout_time_s".to_string(), rollout_s),
        ];
        scalars.extend(episode_scalars("train", self.recent.iter()));
        Ok(UpdateStats { scalars, episodes })
    }

    /// One minibatch: forward, losses, backward, global clipping, Adam steps. Returns
    /// `[policy loss, value loss, entropy, approx KL, clip fraction, policy grad norm, value grad norm]`.
    fn minibatch_step(
        &mut self,
        roll: &Rollout,
        advantages: &[f32],
        returns: &[f32],
        idx: &[usize],
        lr_p: f64,
        lr_v: f64,
    ) -> Result<[f64; 7], TrainError> {
        let ppo = &self.recipe.ppo;
        let dev = self.device.clone();
        let m = idx.len();
        let take = |v: &[f32]| Rollout::gather(v, 1, idx);
        let (p, d) = self.input(
            Rollout::gather(&roll.proprio, roll.proprio_dim, idx),
            Rollout::gather(&roll.depth, roll.depth_len, idx),
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

        let (mean, value) = self.model.forward(p, d);
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

        let mut grads = total.backward();
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
        Ok([pl, vl, ent, kl as f64, clip_frac as f64, pn, vn])
    }

    /// Number of trainable parameters (for logs).
    pub fn num_params(&self) -> usize {
        self.model.num_params()
    }
}

/// Fraction of the returns' variance the value estimates explain: `1 - Var(R - V) / Var(R)`.
pub fn explained_variance(values: &[f32], returns: &[f32]) -> f64 {
    let n = returns.len() as f64;
    if n < 2.0 {
        return f64::NAN;
    }
    let var = |xs: &mut dyn Iterator<Item = f64>| {
        let v: Vec<f64> = xs.collect();
        let m = v.iter().sum::<f64>() / n;
        v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / n
    };
    let vr = var(&mut returns.iter().map(|&r| r as f64));
    let vd = var(&mut returns.iter().zip(values).map(|(&r, &v)| (r - v) as f64));
    if vr == 0.0 { f64::NAN } else { 1.0 - vd / vr }
}

/// Means over episodes: return, length, distance, collisions, fall rate, success, and each reward term.
pub fn episode_scalars<'a>(
    prefix: &str,
    episodes: impl Iterator<Item = &'a EpisodeStats>,
) -> Vec<(String, f64)> {
    let eps: Vec<&EpisodeStats> = episodes.collect();
    if eps.is_empty() {
        return Vec::new();
    }
    let n = eps.len() as f64;
    let avg = |f: &dyn Fn(&EpisodeStats) -> f64| eps.iter().map(|e| f(e)).sum::<f64>() / n;
    let mut out = vec![
        (
            format!("{prefix}/episode_return"),
            avg(&|e| e.episode_return as f64),
        ),
        (
            format!("{prefix}/episode_length"),
            avg(&|e| e.length as f64),
        ),
        (format!("{prefix}/distance"), avg(&|e| e.distance as f64)),
        (
            format!("{prefix}/collisions"),
            avg(&|e| e.collisions as f64),
        ),
        (format!("{prefix}/fall_rate"), avg(&|e| e.fell as u8 as f64)),
        (
            format!("{prefix}/success_rate"),
            avg(&|e| e.reached_end as u8 as f64),
        ),
        (format!("{prefix}/spheres"), avg(&|e| e.spheres as f64)),
    ];
    let terms: Vec<(String, f64)> = eps[0]
        .reward_terms
        .iter()
        .map(|(k, _)| (k.to_string(), 0.0))
        .collect();
    for (name, _) in terms {
        let v = avg(&|e| {
            e.reward_terms
                .iter()
                .find(|(k, _)| *k == name)
                .map_or(0.0, |(_, v)| v as f64)
        });
        out.push((format!("{prefix}/reward/{name}"), v));
    }
    out
}
