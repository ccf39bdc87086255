//! What an episode reports (its statistics and each step's result) and the checks a config must
//! pass before it can be simulated.

use serde::{Deserialize, Serialize};

use crate::recipe::EnvConfig;
use crate::sim::SimError;
use crate::sim::reward::RewardTerms;

/// Statistics of one finished episode.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpisodeStats {
    /// Env index in its `VecEnv`.
    pub env: usize,
    /// Sum of the (scaled) rewards.
    pub episode_return: f32,
    /// Policy steps.
    pub length: usize,
    /// Distance moved along +x (3-D distance for `mountain`).
    pub distance: f32,
    /// Policy steps in which a non-foot robot body touched an obstacle.
    pub collisions: usize,
    /// Spheres collected.
    pub spheres: usize,
    /// Ended by a fall.
    pub fell: bool,
    /// Reached the end of the obstacle field (the summit for `mountain`).
    pub reached_end: bool,
    /// Sums of the reward terms over the episode (unscaled).
    pub reward_terms: RewardTerms,
}

/// Result of one policy step of one env.
#[derive(Debug, Clone, Copy, Default)]
pub struct StepResult {
    /// Total scaled reward.
    pub reward: f32,
    /// Terms (unscaled).
    pub terms: RewardTerms,
    /// Fell.
    pub terminated: bool,
    /// Hit the horizon.
    pub truncated: bool,
}

/// Checks that a config can be simulated.
pub fn validate(cfg: &EnvConfig) -> Result<(), SimError> {
    let bad = |m: &str| Err(SimError::InvalidConfig(m.to_string()));
    if cfg.action_clip.len() != 3 && cfg.action_clip.len() != 12 {
        return bad("action_clip must have 3 or 12 values");
    }
    if cfg.time_step_s <= 0.0 || cfg.action_repeat == 0 || cfg.horizon == 0 {
        return bad("time_step_s, action_repeat and horizon must be positive");
    }
    if cfg.solver_substeps == 0 || cfg.solver_pgs_iterations == 0 {
        return bad("solver_substeps and solver_pgs_iterations must be positive");
    }
    if cfg.depth.width == 0 || cfg.depth.height == 0 || cfg.depth.frames == 0 {
        return bad("depth width, height and frames must be positive");
    }
    if !(cfg.depth.near > 0.0 && cfg.depth.far > cfg.depth.near) {
        return bad("depth clip planes need 0 < near < far");
    }
    Ok(())
}
