//! The action space: raw policy outputs to the twelve joint targets of the PD motors, and, with
//! a modulated trot, to the trajectory generator's frequency and amplitude.

use std::f32::consts::TAU;

use crate::recipe::{ActionMode, EnvConfig};
use crate::sim::gait::Trot;
pub use crate::sim::joints::{action_dim, joint_clip};
use crate::sim::joints::{joint_outputs, modulation_outputs};
use crate::sim::robot::a1;

/// The trot's state within an episode (the trajectory generator of `trot_residual`): where in
/// its cycle it is, and the amplitude scale of the current step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GaitPhase {
    /// Phase in radians, 0 at the episode's start.
    pub phase: f32,
    /// Scale of the hip and knee amplitudes this step (1 unmodulated).
    pub amplitude: f32,
}

impl GaitPhase {
    /// The phase at policy step `step` of the fixed-frequency trot of `cfg`.
    pub fn fixed(cfg: &EnvConfig, step: usize) -> Self {
        Self {
            phase: TAU * step as f32 / cfg.trot.period_steps.max(1e-3),
            amplitude: 1.0,
        }
    }

    /// The frequency and amplitude scales a modulated trot takes from the raw `action` (its
    /// outputs after the joints'): `1 + range x tanh(a)` each, 1 where not modulated.
    pub fn scales(cfg: &EnvConfig, action: &[f32]) -> (f32, f32) {
        let mut extra = action[joint_outputs(cfg)..].iter();
        let mut scale = |range: f32| {
            if range > 0.0 {
                1.0 + range * extra.next().map_or(0.0, |a| a.tanh())
            } else {
                1.0
            }
        };
        let frequency = scale(cfg.trot.frequency_range);
        let amplitude = scale(cfg.trot.amplitude_range);
        debug_assert_eq!(modulation_outputs(cfg), action.len() - joint_outputs(cfg));
        (frequency, amplitude)
    }

    /// The phase after one policy step at frequency scale `frequency`.
    pub fn advance(&mut self, cfg: &EnvConfig, frequency: f32) {
        self.phase = (self.phase + TAU * frequency / cfg.trot.period_steps.max(1e-3)) % TAU;
    }
}

/// Joint targets for raw policy outputs with the trot at `gait`: tanh, then the standing pose +-
/// the clip (`env.action_clip`, per joint kind or per joint); with `env.action_mode =
/// "trot_residual"` the trot's offsets at `gait` are added and the sum clamped to that range.
pub fn joint_targets(cfg: &EnvConfig, action: &[f32], gait: GaitPhase) -> [f32; 12] {
    let prior = match cfg.action_mode {
        ActionMode::JointTargets => [0.0; 12],
        ActionMode::TrotResidual => Trot::from(&cfg.trot).offsets_at(gait.phase, gait.amplitude),
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
