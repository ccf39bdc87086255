//! `[ppo]`, `[backend]` and `[logging]`: how the networks are trained, where, and what is written.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// How learning rates change over a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum LrSchedule {
    /// Linearly decayed to 0 at the end of the run.
    Linear,
    /// Constant.
    Constant,
    /// rsl_rl's adaptive rule: after each minibatch, divide both learning rates by 1.5 when the
    /// measured KL exceeds `2 x ppo.desired_kl`, multiply by 1.5 when it is below half of it
    /// (the policy rate kept within 1e-5-1e-2).
    Adaptive,
}

/// `[ppo]`: PPO hyperparameters (CleanRL / rsl_rl names, legacy names in brackets).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct PpoConfig {
    /// Policy learning rate (legacy `plr`).
    pub policy_lr: f64,
    /// Value learning rate (legacy `vlr`).
    pub value_lr: f64,
    /// Learning-rate schedule.
    pub lr_schedule: LrSchedule,
    /// The KL divergence per minibatch the adaptive schedule aims at.
    pub desired_kl: f64,
    /// Adam epsilon.
    pub adam_eps: f64,
    /// Surrogate clip range (legacy `clip_para`).
    pub clip: f32,
    /// Clip the value loss to this range around the old value; 0 = plain MSE.
    pub value_clip: f32,
    /// Passes over each rollout (legacy `opt_epochs`).
    pub epochs: usize,
    /// Transitions per minibatch (legacy `batch_size`).
    pub minibatch_size: usize,
    /// Transitions collected per update, summed over envs (legacy `epoch_frames`).
    pub rollout_steps: usize,
    /// Shuffle transitions before splitting into minibatches (legacy `shuffle`).
    pub shuffle: bool,
    /// Discount factor (legacy `discount`).
    pub discount: f32,
    /// GAE lambda (legacy `tau`).
    pub gae_lambda: f32,
    /// Bootstrap time-limit ends from the value of the terminal observation (legacy `time_limit_filter`).
    pub bootstrap_time_limits: bool,
    /// Entropy bonus coefficient (legacy `entropy_coeff`).
    pub entropy_coef: f32,
    /// Value-loss coefficient.
    pub value_coef: f32,
    /// Gradient-norm clip.
    pub max_grad_norm: f32,
    /// Running mean/std normalisation of proprioception (legacy `obs_norm`).
    pub obs_norm: bool,
    /// Normalise advantages per minibatch.
    pub normalize_advantages: bool,
    /// Initial log standard deviation of the Gaussian policy (ln 0.125).
    pub init_log_std: f32,
    /// An asymmetric critic: the value branch also reads privileged simulator state the policy
    /// cannot observe (trunk velocity, height and heading, foot contacts, the nearest
    /// obstacles' offsets; `sim::privileged`), normalised by its own running mean and std.
    /// Off reproduces the original, whose critic saw what the policy sees.
    pub asymmetric_critic: bool,
    /// Divide rewards by the running standard deviation of each env's discounted return before
    /// GAE (the running statistics are kept in checkpoints; gym's `NormalizeReward`). Logged
    /// returns and distances stay unscaled.
    pub reward_norm: bool,
    /// Temporal correlation of the exploration noise, in [0, 1): each env's noise per output
    /// follows `e_t = c e_(t-1) + sqrt(1 - c^2) n_t` (unit variance, correlated over about
    /// `1 / (1 - c)` steps), restarted with each episode; the log-probability stays the
    /// Gaussian's of the taken action (coloured-noise exploration, Eberhard et al. 2023).
    /// 0: white noise, independent per step (the original's).
    pub noise_correlation: f32,
}

impl Default for PpoConfig {
    fn default() -> Self {
        Self {
            policy_lr: 1e-4,
            value_lr: 1e-4,
            lr_schedule: LrSchedule::Linear,
            desired_kl: 0.01,
            adam_eps: 1e-5,
            clip: 0.2,
            value_clip: 0.0,
            epochs: 3,
            minibatch_size: 1024,
            rollout_steps: 16_384,
            shuffle: true,
            discount: 0.99,
            gae_lambda: 0.95,
            bootstrap_time_limits: true,
            entropy_coef: 0.005,
            value_coef: 0.5,
            max_grad_norm: 0.5,
            obs_norm: true,
            normalize_advantages: true,
            init_log_std: -2.079_441_6,
            asymmetric_critic: false,
            reward_norm: false,
            noise_correlation: 0.0,
        }
    }
}

/// Compute backends a recipe can ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum BackendKind {
    /// CPU (always available).
    Cpu,
    /// NVIDIA GPU through CUDA (needs the `cuda` cargo feature and a device).
    Cuda,
    /// A GPU through wgpu: Vulkan, Metal or DirectX 12 (needs the `wgpu` cargo feature and an
    /// adapter; a software Vulkan device such as lavapipe works, slowly).
    Wgpu,
}

/// burn's CPU backends (both run the fused selective scan).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CpuBackend {
    /// burn's Flex backend (the faster one on these networks, see README).
    Flex,
    /// burn's NdArray backend.
    Ndarray,
}

/// `[backend]`: where the networks run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct BackendConfig {
    /// Backend for the networks.
    pub kind: BackendKind,
    /// Which CPU backend runs the networks when `kind = "cpu"`.
    pub cpu_backend: CpuBackend,
    /// CPU threads for the simulator and CPU tensor ops; 0 = all cores.
    pub cpu_threads: usize,
}

impl Default for BackendConfig {
    fn default() -> Self {
        Self {
            kind: BackendKind::Cpu,
            cpu_backend: CpuBackend::Flex,
            cpu_threads: 0,
        }
    }
}

/// `[logging]`: what is written and how often (intervals in PPO updates).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct LoggingConfig {
    /// Write TensorBoard event files.
    pub tensorboard: bool,
    /// Log scalars every this many updates.
    pub log_interval: usize,
    /// Write a checkpoint every this many updates (and always at the end; legacy `save_interval`).
    pub checkpoint_interval: usize,
    /// Run a deterministic evaluation every this many updates; 0 = never (legacy `eval_interval`).
    pub eval_interval: usize,
    /// Episodes per evaluation (legacy `eval_episodes`).
    pub eval_episodes: usize,
}

impl Default for LoggingConfig {
    fn default() -> Self {
        Self {
            tensorboard: true,
            log_interval: 1,
            checkpoint_interval: 10,
            eval_interval: 50,
            eval_episodes: 1,
        }
    }
}
