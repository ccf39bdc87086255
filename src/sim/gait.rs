//! An open-loop diagonal trot in the action space: the sanity check that this robot can walk at
//! all within the action clip (`runner eval --agent trot`), and the trajectory generator of the
//! gait-prior action mode.
//!
//! The diagonal pairs FR + RL and FL + RR move in anti-phase. Each leg's hip target swings
//! sinusoidally around the standing pose; its knee bends (only bends, never stretches past the
//! stand) on a sine lagging the hip by `knee_lag` of a period. Targets are turned back into raw
//! actions through the env's `stand + clip x tanh(a)` mapping, so the gait obeys the clip.

use std::f32::consts::TAU;

use crate::recipe::{EnvConfig, TrotConfig};
use crate::sim::joints::{joint_clip, joint_outputs};

/// Parameters of the trot; [`Default`] is a gait that walks forward on flat ground with domain
/// randomisation on (tested).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Trot {
    /// Policy steps per gait cycle.
    pub period_steps: f32,
    /// Hip swing amplitude around the standing pose (rad).
    pub hip: f32,
    /// Knee bend amplitude (rad, towards more bent).
    pub knee: f32,
    /// Lag of the knee's sine behind the hip's, as a fraction of a period.
    pub knee_lag: f32,
}

impl Default for Trot {
    fn default() -> Self {
        Self::from(&TrotConfig::default())
    }
}

impl From<&TrotConfig> for Trot {
    fn from(c: &TrotConfig) -> Self {
        Self {
            period_steps: c.period_steps,
            hip: c.hip,
            knee: c.knee,
            knee_lag: c.knee_lag,
        }
    }
}

impl Trot {
    /// Offsets from the standing pose `[abduction, hip, knee]` of a leg at phase `phase` (rad),
    /// the amplitudes scaled by `scale`.
    fn leg_offsets(&self, phase: f32, scale: f32) -> [f32; 3] {
        let hip = self.hip * scale * phase.sin();
        let knee = -self.knee * scale * (phase - TAU * self.knee_lag).sin().max(0.0);
        [0.0, hip, knee]
    }

    /// Joint-target offsets of the four legs (FR, FL, RR, RL x abduction, hip, knee) at policy
    /// step `step` of an episode of the fixed-frequency trot.
    pub fn offsets(&self, step: usize) -> [f32; 12] {
        self.offsets_at(TAU * step as f32 / self.period_steps.max(1e-3), 1.0)
    }

    /// Joint-target offsets of the four legs at phase `phase` (rad) with the amplitudes scaled by
    /// `scale` (the modulated trot's).
    pub fn offsets_at(&self, phase: f32, scale: f32) -> [f32; 12] {
        let a = self.leg_offsets(phase, scale);
        let b = self.leg_offsets(phase + std::f32::consts::PI, scale);
        let mut out = [0.0; 12];
        for (leg, pair) in [a, b, b, a].iter().enumerate() {
            out[3 * leg..3 * leg + 3].copy_from_slice(pair);
        }
        out
    }

    /// The raw action (one value per joint output of `cfg`) whose targets are the trot's at
    /// `step`: the inverse of `stand + clip x tanh(a)`, with offsets beyond the clip held just
    /// inside it.
    pub fn action(&self, cfg: &EnvConfig, step: usize) -> Vec<f32> {
        let offsets = self.offsets(step);
        let raw = |k: usize| {
            (offsets[k] / joint_clip(cfg, k))
                .clamp(-0.999, 0.999)
                .atanh()
        };
        if joint_outputs(cfg) == 6 {
            // Outputs 0..3 drive FR (= RL), 3..6 drive FL (= RR).
            (0..6).map(raw).collect()
        } else {
            (0..12).map(raw).collect()
        }
    }
}
