//! The trainer's state that is not a tensor: progress counters, the observation normaliser, the
//! simulator's snapshot and the recent-episode window. [`TrainerState`] is what a checkpoint's
//! `state.json` holds; the trainer produces and restores it.

use serde::{Deserialize, Serialize};

use super::normalizer::RunningNorm;
use super::reward_norm::RewardNorm;
use crate::sim::{EpisodeStats, VecEnvSnapshot};

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

/// Everything of a run that is not a tensor (a checkpoint's `state.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrainerState {
    /// The run's seed.
    pub seed: u64,
    /// Progress.
    pub counters: Counters,
    /// Observation normaliser.
    pub norm: Option<RunningNorm>,
    /// Simulator state (episodes in progress, curriculum).
    pub env: VecEnvSnapshot,
    /// The last finished training episodes (the window the `train/*` scalars average), so a
    /// resumed run logs what the uninterrupted run would.
    #[serde(default)]
    pub recent_episodes: Vec<EpisodeStats>,
    /// The adaptive learning-rate schedule's current multiplier (1 for the other schedules).
    #[serde(default = "unit_scale")]
    pub lr_scale: f64,
    /// Normaliser of the asymmetric critic's privileged state (`ppo.asymmetric_critic`).
    #[serde(default)]
    pub privileged_norm: Option<RunningNorm>,
    /// Return statistics of reward normalisation (`ppo.reward_norm`).
    #[serde(default)]
    pub reward_norm: Option<RewardNorm>,
    /// The curriculum's level (absent in older checkpoints: the level their step count gives).
    #[serde(default)]
    pub curriculum_level: Option<f32>,
    /// Every env's last exploration noise with `ppo.noise_correlation > 0` (absent otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exploration_noise: Option<Vec<f32>>,
}

fn unit_scale() -> f64 {
    1.0
}
