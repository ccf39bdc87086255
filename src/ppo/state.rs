//! The trainer's state that is not a tensor: progress counters, the observation normaliser, the
//! simulator's snapshot and the recent-episode window. [`TrainerState`] is what a checkpoint's
//! `state.json` holds; the trainer produces and restores it.

use serde::{Deserialize, Serialize};

use super::normalizer::RunningNorm;
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
}

fn unit_scale() -> f64 {
    1.0
}
