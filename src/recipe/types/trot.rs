//! `env.action_mode` and `[env.trot]`: how the policy's outputs become joint targets, and the gait
//! prior (a trajectory generator the policy may modulate).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// How the policy's outputs become joint targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ActionMode {
    /// The original's: `stand + clip x tanh(a)`.
    JointTargets,
    /// A gait prior (after Policies Modulating Trajectory Generators, Iscen et al. 2018): the
    /// open-loop trot of `env.trot` plus the policy's `clip x tanh(a)` as a residual, the sum
    /// clamped to the stand +- clip range. The untrained policy already trots.
    TrotResidual,
}

/// `[env.trot]`: the open-loop diagonal trot of `runner eval --agent trot` and of
/// `env.action_mode = "trot_residual"` (the defaults walk on flat ground).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct TrotConfig {
    /// Policy steps per gait cycle.
    pub period_steps: f32,
    /// Hip swing amplitude around the standing pose (rad).
    pub hip: f32,
    /// Knee bend amplitude (rad).
    pub knee: f32,
    /// Lag of the knee behind the hip, as a fraction of a period.
    pub knee_lag: f32,
    /// With `env.action_mode = "trot_residual"`: how far the policy may change the trot's
    /// frequency at every step, as a fraction of it (`1 +- frequency_range`, through one extra
    /// output and its tanh). The phase is then integrated per env and observed as its sine and
    /// cosine (Policies Modulating Trajectory Generators). 0: the fixed-frequency trot.
    pub frequency_range: f32,
    /// Likewise for the hip and knee amplitudes (`1 +- amplitude_range`, one more output).
    /// 0: fixed amplitudes.
    pub amplitude_range: f32,
    /// Initial exploration standard deviation of the modulation outputs (their raw, pre-tanh
    /// values); 0: `ppo.init_log_std`'s, like the joint outputs. The joints want a small one
    /// around a prior that already walks; the generator's frequency and amplitude are explored
    /// only if theirs is large enough to change the gait noticeably.
    pub modulation_std: f32,
}

impl Default for TrotConfig {
    fn default() -> Self {
        Self {
            period_steps: 10.0,
            hip: 0.2,
            knee: 0.45,
            knee_lag: 0.25,
            frequency_range: 0.0,
            amplitude_range: 0.0,
            modulation_std: 0.0,
        }
    }
}
