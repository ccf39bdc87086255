//! The action space's layout, shared by the action mapping ([`super::action`]) and the trot
//! ([`super::gait`]): how many outputs a policy has and the clip of each joint.

use crate::recipe::EnvConfig;

/// Policy outputs that drive the joints: 6 with `diagonal_act` (one leg of each diagonal pair,
/// mirrored onto the other), else 12.
pub fn joint_outputs(cfg: &EnvConfig) -> usize {
    if cfg.diagonal_act { 6 } else { 12 }
}

/// Outputs after the joints' that modulate the trot ([`EnvConfig::modulation_outputs`]).
pub fn modulation_outputs(cfg: &EnvConfig) -> usize {
    cfg.modulation_outputs()
}

/// Number of policy outputs for a config: the joints' and the trot modulation's.
pub fn action_dim(cfg: &EnvConfig) -> usize {
    joint_outputs(cfg) + modulation_outputs(cfg)
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
