//! Deterministic evaluation (mean action, no exploration noise), as the papers report it: return,
//! distance, collisions, fall rate and success over a number of episodes, on the training task or
//! another one (generalisation).

use serde::{Deserialize, Serialize};

use crate::nn::{ActorCritic, Memory, ObsShape};
use crate::ppo::normalizer::RunningNorm;
use crate::ppo::seeding::normal;
use crate::recipe::{ActionMode, EnvConfig, MemoryConfig};
use crate::sim::gait::Trot;
use crate::sim::{EpisodeStats, SimError, StepOutput, VecEnv};
use burn::module::Module;
use burn::tensor::{Device, Tensor, TensorData};
use rand_chacha::ChaCha8Rng;

/// Means over the evaluated episodes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalResult {
    /// Task evaluated on.
    pub task: String,
    /// Episodes evaluated.
    pub episodes: usize,
    /// Mean return.
    pub mean_return: f64,
    /// Mean distance moved along +x (3-D distance on the mountain).
    pub mean_distance: f64,
    /// Mean collisions per episode.
    pub mean_collisions: f64,
    /// Fraction of episodes that ended in a fall.
    pub fall_rate: f64,
    /// Fraction that reached the end of the obstacle field.
    pub success_rate: f64,
    /// Standard deviation of the return over the episodes (absent in older results).
    #[serde(default)]
    pub std_return: f64,
    /// Standard deviation of the distance over the episodes.
    #[serde(default)]
    pub std_distance: f64,
    /// Standard deviation of the collisions over the episodes.
    #[serde(default)]
    pub std_collisions: f64,
    /// Mean speed along the task's direction (m/s): each episode's distance over its duration.
    #[serde(default)]
    pub mean_speed: f64,
    /// Standard deviation of that speed over the episodes.
    #[serde(default)]
    pub std_speed: f64,
}

impl std::fmt::Display for EvalResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} episodes on {}: return {:.2} +- {:.2}, distance {:.2} +- {:.2} m, speed {:.3} +- {:.3} m/s, \
             collisions {:.1} +- {:.1}, fall rate {:.2}, success {:.2} (+- one standard deviation over \
             the episodes)",
            self.episodes,
            self.task,
            self.mean_return,
            self.std_return,
            self.mean_distance,
            self.std_distance,
            self.mean_speed,
            self.std_speed,
            self.mean_collisions,
            self.std_collisions,
            self.fall_rate,
            self.success_rate
        )
    }
}

/// Mean and standard deviation (population) of `values`; zeros when empty.
fn mean_std(values: impl Iterator<Item = f64> + Clone) -> (f64, f64) {
    let n = values.clone().count();
    if n == 0 {
        return (0.0, 0.0);
    }
    let mean = values.clone().sum::<f64>() / n as f64;
    let var = values.map(|v| (v - mean).powi(2)).sum::<f64>() / n as f64;
    (mean, var.sqrt())
}

/// Watches an evaluation step by step: rollout videos, depth frames for TensorBoard. An observer
/// keeps its own errors (the evaluation's numbers do not depend on it).
pub trait EvalObserver {
    /// Called once after the envs' first reset, before the first action.
    fn start(&mut self, env: &VecEnv, episodes: usize);
    /// Called after every step with its output. Envs whose episode ended in this step (listed in
    /// `out.finished`) have been reset already: `env` shows their next episode's first state.
    fn step(&mut self, env: &VecEnv, out: &StepOutput);
}

/// How many of `episodes` evaluation episodes env `env` of `num_envs` contributes: its first ones,
/// so the result does not depend on which env happens to finish first.
pub fn episode_quota(episodes: usize, num_envs: usize, env: usize) -> usize {
    episodes / num_envs + usize::from(env < episodes % num_envs)
}

/// The index among all evaluated episodes of env `env`'s `k`-th episode (env order, then `k`),
/// or `None` when that episode is beyond the env's quota.
pub fn episode_index(episodes: usize, num_envs: usize, env: usize, k: usize) -> Option<usize> {
    (k < episode_quota(episodes, num_envs, env)).then(|| {
        (0..env)
            .map(|e| episode_quota(episodes, num_envs, e))
            .sum::<usize>()
            + k
    })
}

/// Something that picks the raw actions of every env of a [`VecEnv`]: a policy, or one of the
/// sanity agents of `runner eval --agent`.
pub trait Agent {
    /// Actions for every env (`num_envs * action_dim`), given the envs' current observations.
    fn act(&mut self, env: &VecEnv) -> Vec<f32>;
}

/// A trained policy acting deterministically (its mean action), with one recurrent state per env
/// when its recipe has `[memory]` on (zeroed when the env's episode ends).
pub struct PolicyAgent<'a> {
    /// The networks.
    pub model: &'a ActorCritic,
    /// The run's observation normaliser.
    pub norm: Option<&'a RunningNorm>,
    /// Device to run the networks on (without autodiff).
    pub device: Device,
    /// The recipe's `[memory]`.
    pub memory_config: MemoryConfig,
    /// Every env's memory, made at the first step (with `[memory]` on).
    pub memory: Option<Memory>,
}

impl<'a> PolicyAgent<'a> {
    /// An agent for `model` with the run's normaliser and `[memory]`, on `device`'s backend.
    pub fn new(
        model: &'a ActorCritic,
        norm: Option<&'a RunningNorm>,
        device: &Device,
        memory: &MemoryConfig,
    ) -> Self {
        Self {
            model,
            norm,
            device: device.clone().inner(),
            memory_config: memory.clone(),
            memory: None,
        }
    }

    /// The policy memory for `env` after its last step: made at the first step, rows of envs
    /// whose episode just ended zeroed. `None` without `[memory]`.
    fn memory_for(&mut self, env: &VecEnv) -> Option<Memory> {
        if !self.memory_config.enabled {
            return None;
        }
        let spec = env.spec();
        let mut memory = match self.memory.take() {
            Some(m) => m,
            None => {
                let tokens = self.model.tokens_per_step(&ObsShape::from(&spec));
                let context = self.memory_config.context_steps;
                self.model
                    .zero_memory(spec.num_envs, tokens, context)?
                    .policy
            }
        };
        let out = env.last_output();
        if out.terminated.len() == spec.num_envs {
            let ended: Vec<bool> = (0..spec.num_envs)
                .map(|e| out.terminated[e] || out.truncated[e])
                .collect();
            memory.reset_rows(&ended);
        }
        Some(memory)
    }
}

impl Agent for PolicyAgent<'_> {
    fn act(&mut self, env: &VecEnv) -> Vec<f32> {
        let memory = self.memory_for(env);
        let spec = env.spec();
        let mut proprio = env.proprio().to_vec();
        if let Some(n) = self.norm {
            n.normalize(&mut proprio);
        }
        let p = Tensor::<2>::from_data(
            TensorData::new(proprio, [spec.num_envs, spec.proprio_dim]),
            &self.device,
        );
        let d = Tensor::<4>::from_data(
            TensorData::new(
                env.depth().to_vec(),
                [
                    spec.num_envs,
                    spec.depth_frames,
                    spec.depth_height,
                    spec.depth_width,
                ],
            ),
            &self.device,
        );
        let mean = match memory {
            Some(m) => {
                let (mean, next) = self.model.valid().act_memory(p, d, &m);
                self.memory = Some(next);
                mean
            }
            None => self.model.valid().act(p, d),
        };
        mean.into_data()
            .convert::<f32>()
            .as_slice::<f32>()
            .expect("f32")
            .to_vec()
    }
}

/// The sanity agents of `runner eval --agent` (mjlab ships zero and random agents for the same
/// reason): can this robot stand, what does noise do, and can it walk at all.
#[derive(Debug, Clone)]
pub enum SanityAgent {
    /// All-zero actions: the standing pose.
    Zero,
    /// White Gaussian actions of standard deviation `std` (the untrained policy's noise).
    Random {
        /// Standard deviation of the raw actions.
        std: f32,
        /// The generator.
        rng: Box<ChaCha8Rng>,
    },
    /// The open-loop diagonal trot.
    Trot(Trot),
}

impl SanityAgent {
    /// The agent and its parameters, for the printed result.
    pub fn describe(&self) -> String {
        match self {
            SanityAgent::Zero => "zero".into(),
            SanityAgent::Random { std, .. } => format!("random (std {std:.3})"),
            SanityAgent::Trot(t) => format!(
                "trot (period {} steps, hip {} rad, knee {} rad, knee lag {})",
                t.period_steps, t.hip, t.knee, t.knee_lag
            ),
        }
    }

    /// [`evaluate_agent`] for a sanity agent, always in the original's action space
    /// (`env.action_mode = "joint_targets"`): its actions are raw joint targets, which a gait
    /// prior (`trot_residual`) would add to the prior's trot.
    pub fn evaluate(
        &mut self,
        env_cfg: &EnvConfig,
        episodes: usize,
        seed: u64,
        observer: Option<&mut dyn EvalObserver>,
    ) -> Result<EvalResult, SimError> {
        let cfg = EnvConfig {
            action_mode: ActionMode::JointTargets,
            ..env_cfg.clone()
        };
        evaluate_agent(self, &cfg, episodes, seed, observer)
    }
}

impl Agent for SanityAgent {
    fn act(&mut self, env: &VecEnv) -> Vec<f32> {
        let spec = env.spec();
        let n = spec.num_envs * spec.action_dim;
        match self {
            SanityAgent::Zero => vec![0.0; n],
            SanityAgent::Random { std, rng } => {
                (0..n).map(|_| *std * normal(rng.as_mut())).collect()
            }
            SanityAgent::Trot(trot) => (0..spec.num_envs)
                .flat_map(|e| trot.action(env.env(e).config(), env.env(e).steps()))
                .collect(),
        }
    }
}

/// Runs `episodes` deterministic episodes of `model` (with its run's normaliser and `[memory]`)
/// on `env_cfg` (its task and sizes), seeded by `seed`, shown to `observer` if there is one.
pub fn evaluate(
    (model, norm, memory): (&ActorCritic, Option<&RunningNorm>, &MemoryConfig),
    env_cfg: &EnvConfig,
    episodes: usize,
    seed: u64,
    device: &Device,
    observer: Option<&mut dyn EvalObserver>,
) -> Result<EvalResult, SimError> {
    let mut agent = PolicyAgent::new(model, norm, device, memory);
    evaluate_agent(&mut agent, env_cfg, episodes, seed, observer)
}

/// Runs `episodes` episodes of `agent` on `env_cfg` (its task and sizes), seeded by `seed`,
/// shown to `observer` if there is one.
pub fn evaluate_agent(
    agent: &mut dyn Agent,
    env_cfg: &EnvConfig,
    episodes: usize,
    seed: u64,
    mut observer: Option<&mut dyn EvalObserver>,
) -> Result<EvalResult, SimError> {
    let mut cfg = env_cfg.clone();
    cfg.num_envs = episodes.clamp(1, env_cfg.num_envs.max(1));
    let mut env = VecEnv::new(&cfg, seed)?;
    let spec = env.spec();
    let mut finished: Vec<EpisodeStats> = Vec::new();
    let mut per_env: Vec<Vec<EpisodeStats>> = vec![Vec::new(); spec.num_envs];
    let quota = |e: usize| episode_quota(episodes, spec.num_envs, e);
    if let Some(o) = observer.as_deref_mut() {
        o.start(&env, episodes);
    }
    while (0..spec.num_envs).any(|e| per_env[e].len() < quota(e)) {
        let actions = agent.act(&env);
        env.step(&actions);
        let out = env.last_output();
        if let Some(o) = observer.as_deref_mut() {
            o.step(&env, out);
        }
        for ep in &out.finished {
            if per_env[ep.env].len() < quota(ep.env) {
                per_env[ep.env].push(ep.clone());
            }
        }
    }
    for list in per_env {
        finished.extend(list);
    }
    let stats = |f: &dyn Fn(&EpisodeStats) -> f64| mean_std(finished.iter().map(f));
    let step_s = cfg.time_step_s as f64 * cfg.action_repeat as f64;
    let (mean_return, std_return) = stats(&|e| e.episode_return as f64);
    let (mean_distance, std_distance) = stats(&|e| e.distance as f64);
    let (mean_collisions, std_collisions) = stats(&|e| e.collisions as f64);
    let (mean_speed, std_speed) = stats(&|e| e.distance as f64 / (e.length.max(1) as f64 * step_s));
    Ok(EvalResult {
        task: cfg.task.name().to_string(),
        episodes: finished.len(),
        mean_return,
        mean_distance,
        mean_collisions,
        fall_rate: stats(&|e| e.fell as u8 as f64).0,
        success_rate: stats(&|e| e.reached_end as u8 as f64).0,
        std_return,
        std_distance,
        std_collisions,
        mean_speed,
        std_speed,
    })
}
