//! Where simulation time goes: seconds of physics sub-steps and of depth rendering, summed over
//! an env's policy steps (and over a vectorised env's envs), for `runner bench train`'s phase
//! split.

use std::ops::AddAssign;

/// Seconds spent in physics and in rendering depth, summed over the steps measured.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SimTiming {
    /// Physics sub-steps (rapier), with the motor torques computed between them.
    pub physics_s: f64,
    /// Depth frames (ray casts, dropout, normalisation).
    pub depth_s: f64,
    /// Whole policy steps and resets, physics and depth included.
    pub total_s: f64,
}

impl AddAssign for SimTiming {
    fn add_assign(&mut self, other: Self) {
        self.physics_s += other.physics_s;
        self.depth_s += other.depth_s;
        self.total_s += other.total_s;
    }
}
