//! The action space: raw policy outputs to the twelve joint targets of the PD motors.

use crate::recipe::{ActionMode, EnvConfig};
use crate::sim::gait::Trot;
use crate::sim::robot::a1;

/// Number of policy outputs for a config: 6 with `diagonal_act` (one leg of each diagonal pair,
/// mirrored onto the other), else 12.
pub fn action_dim(cfg: &EnvConfig) -> usize {
    if cfg.diagonal_act { 6 } else { 12 }
}

/// The action clip of joint `k` (0..12): `env.action_clip` per joint kind (3 values) or per joint
/// (12).
pub fn joint_clip(cfg: &EnvConfig, k: usize) -> f32 {
    if cfg.action_clip.len() == 12 {
        cfg.action_clip[k]
    } else {
        cfg.action_clip[k % 3]
    }
}

/// Joint targets for raw policy outputs at policy step `step` of an episode: tanh, then the
/// standing pose +- the clip (`env.action_clip`, per joint kind or per joint); with
/// `env.action_mode = "trot_residual"` the trot's offsets are added and the sum clamped to that
/// range.
pub fn joint_targets(cfg: &EnvConfig, action: &[f32], step: usize) -> [f32; 12] {
    let prior = match cfg.action_mode {
        ActionMode::JointTargets => [0.0; 12],
        ActionMode::TrotResidual => Trot::from(&cfg.trot).offsets(step),
    };
    let mut t = [0.0; 12];
    for (k, tk) in t.iter_mut().enumerate() {
        let leg = k / 3;
        let j = k % 3;
        let a = if cfg.diagonal_act {
            // FR (0) = RL (3) use outputs 0..3, FL (1) = RR (2) use 3..6.
            let base = if leg == 0 || leg == 3 { 0 } else { 3 };
            action[base + j]
        } else {
            action[k]
        };
        let clip = joint_clip(cfg, k);
        let offset = (prior[k] + clip * a.tanh()).clamp(-clip, clip);
        *tk = a1().leg.stand_pose[j] + offset;
    }
    t
}
