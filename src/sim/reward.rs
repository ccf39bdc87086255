//! Reward terms of one policy step (or their sums over an episode).

use serde::{Deserialize, Serialize};

use crate::recipe::RewardConfig;

/// What the reward of one policy step is computed from.
#[derive(Debug, Clone, Copy, Default)]
pub struct StepMotion {
    /// Trunk linear velocity at the end of the step, world frame (m/s).
    pub velocity: [f32; 3],
    /// `sum(tau^2) * dt` over the step's physics sub-steps.
    pub energy: f32,
    /// Whether the step ended in a fall.
    pub fell: bool,
    /// Spheres collected this step.
    pub spheres: usize,
    /// Goal tasks: the decrease of the distance to the goal over the step, per second.
    pub goal_progress: Option<f32>,
    /// The trunk's yaw off the rewarded direction (+x, or towards the goal), radians, any turn.
    pub yaw_off: f32,
}

/// Weighted reward terms before the global `scale`; the step reward is `scale * sum()`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct RewardTerms {
    /// `forward * (v_t^2 - (min(v_x, v_t) - v_t)^2)`.
    pub forward: f32,
    /// `-z_velocity * v_z^2`.
    pub z_velocity: f32,
    /// `-lateral_velocity * v_y^2`.
    pub lateral: f32,
    /// `-energy * sum(tau^2) * dt` over the physics sub-steps.
    pub energy: f32,
    /// The alive term (negative by default).
    pub alive: f32,
    /// The fall penalty, only on the falling step.
    pub fall: f32,
    /// Bonus for spheres collected this step.
    pub sphere: f32,
    /// Goal tasks: `goal x` the progress towards the goal (m/s).
    #[serde(default)]
    pub goal: f32,
    /// `-heading * yaw^2`, the yaw off the rewarded direction wrapped to [-pi, pi].
    #[serde(default)]
    pub heading: f32,
}

impl RewardTerms {
    /// Names of the terms, in the order of [`RewardTerms::iter`].
    pub const NAMES: [&'static str; 9] = [
        "forward",
        "z_velocity",
        "lateral",
        "energy",
        "alive",
        "fall",
        "sphere",
        "goal",
        "heading",
    ];

    /// The terms of one step, weighted by `rc`, for the target forward velocity `target_vel`:
    /// the forward term `v_t^2 - (min(v_x, v_t) - v_t)^2` peaks at `v_x = v_t` and stays there
    /// above it (on goal tasks `v_x` is the planar speed in any direction, and the goal term
    /// rewards progress towards the goal); vertical and lateral speed and energy are penalised;
    /// the fall penalty applies only on the falling step; turning off course is penalised by the
    /// square of the yaw off it.
    pub fn of_step(rc: &RewardConfig, target_vel: f32, m: &StepMotion) -> RewardTerms {
        let [vx, vy, vz] = m.velocity;
        let vt = target_vel;
        let along = match m.goal_progress {
            Some(_) => vx.hypot(vy),
            None => vx,
        };
        RewardTerms {
            goal: rc.goal * m.goal_progress.unwrap_or(0.0),
            forward: rc.forward * (vt * vt - (along.min(vt) - vt).powi(2)),
            z_velocity: -rc.z_velocity * vz * vz,
            lateral: -rc.lateral_velocity * vy * vy,
            energy: -rc.energy * m.energy,
            alive: rc.alive,
            fall: if m.fell { rc.fall } else { 0.0 },
            sphere: rc.sphere_bonus * m.spheres as f32,
            heading: -rc.heading * wrap_angle(m.yaw_off).powi(2),
        }
    }

    /// `(name, value)` pairs for logging.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, f32)> {
        let v = [
            self.forward,
            self.z_velocity,
            self.lateral,
            self.energy,
            self.alive,
            self.fall,
            self.sphere,
            self.goal,
            self.heading,
        ];
        Self::NAMES.into_iter().zip(v)
    }

    /// Sum of all terms (unscaled).
    pub fn sum(&self) -> f32 {
        self.iter().map(|(_, v)| v).sum()
    }

    /// Adds another set of terms to this one.
    pub fn accumulate(&mut self, o: &RewardTerms) {
        self.forward += o.forward;
        self.z_velocity += o.z_velocity;
        self.lateral += o.lateral;
        self.energy += o.energy;
        self.alive += o.alive;
        self.fall += o.fall;
        self.sphere += o.sphere;
        self.goal += o.goal;
        self.heading += o.heading;
    }
}

/// `angle` wrapped to [-pi, pi].
fn wrap_angle(angle: f32) -> f32 {
    use std::f32::consts::{PI, TAU};
    (angle + PI).rem_euclid(TAU) - PI
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn sum_matches_iter() {
        let t = RewardTerms {
            forward: 1.0,
            fall: -2.0,
            sphere: 0.5,
            ..Default::default()
        };
        assert_eq!(t.sum(), -0.5);
        assert_eq!(t.iter().count(), RewardTerms::NAMES.len());
    }

    #[test]
    fn the_heading_penalty_is_the_square_of_the_wrapped_yaw() {
        let rc = RewardConfig {
            heading: 2.0,
            ..RewardConfig::default()
        };
        let term = |yaw_off: f32| {
            let m = StepMotion {
                yaw_off,
                ..Default::default()
            };
            RewardTerms::of_step(&rc, 1.0, &m).heading
        };
        assert_eq!(term(0.0), 0.0);
        assert!((term(0.5) + 0.5).abs() < 1e-6, "{}", term(0.5));
        assert!((term(-0.5) + 0.5).abs() < 1e-6, "{}", term(-0.5));
        let once_round = std::f32::consts::TAU - 0.1;
        assert!(
            (term(once_round) + 0.02).abs() < 1e-5,
            "{}",
            term(once_round)
        );
        let off = RewardTerms::of_step(
            &RewardConfig::default(),
            1.0,
            &StepMotion {
                yaw_off: 1.0,
                ..Default::default()
            },
        );
        assert_eq!(off.heading, 0.0, "off by default, as in the original");
    }
}
