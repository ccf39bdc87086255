//! Where an update's time goes, for `runner bench train`: the rollout (env steps, of which
//! physics and depth, and policy inference) and the optimisation (forward, backward, optimiser).

use crate::sim::SimTiming;

/// Wall-clock seconds of the phases of updates, summed over the updates since the last
/// [`Trainer::take_phase_times`](super::Trainer::take_phase_times).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PhaseTimes {
    /// Updates summed.
    pub updates: u64,
    /// Whole rollouts.
    pub collect_s: f64,
    /// `VecEnv::step` calls (physics, depth, resets, observation copies).
    pub env_s: f64,
    /// Thread time inside the envs (summed over envs, so more than `env_s` on several threads):
    /// what splits `env_s` into physics and depth.
    pub sim: SimTiming,
    /// Policy and value inference on the envs' observations (sampling and log-probabilities
    /// included).
    pub inference_s: f64,
    /// Whole optimisation phases (advantages and every minibatch step).
    pub optimise_s: f64,
    /// Minibatch forward passes and losses (inputs gathered included).
    pub forward_s: f64,
    /// Minibatch backward passes.
    pub backward_s: f64,
    /// Gradient norms, clipping and the Adam steps.
    pub optimizer_s: f64,
}

impl PhaseTimes {
    /// The part of `env_s` spent in physics (its share of the envs' thread time).
    pub fn physics_s(&self) -> f64 {
        self.env_s * share(self.sim.physics_s, self.sim.total_s)
    }

    /// The part of `env_s` spent rendering depth (its share of the envs' thread time).
    pub fn depth_s(&self) -> f64 {
        self.env_s * share(self.sim.depth_s, self.sim.total_s)
    }

    /// Rollout time outside env steps and inference (storage, normalisers, rewards).
    pub fn collect_other_s(&self) -> f64 {
        (self.collect_s - self.env_s - self.inference_s).max(0.0)
    }

    /// Optimisation time outside forward, backward and optimiser (advantages, shuffling).
    pub fn optimise_other_s(&self) -> f64 {
        (self.optimise_s - self.forward_s - self.backward_s - self.optimizer_s).max(0.0)
    }
}

fn share(part: f64, total: f64) -> f64 {
    if total > 0.0 { part / total } else { 0.0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_time_splits_by_thread_time_shares() {
        let t = PhaseTimes {
            collect_s: 3.0,
            env_s: 2.0,
            inference_s: 0.5,
            sim: SimTiming {
                physics_s: 3.0,
                depth_s: 0.6,
                total_s: 4.0,
            },
            ..Default::default()
        };
        assert!((t.physics_s() - 1.5).abs() < 1e-12);
        assert!((t.depth_s() - 0.3).abs() < 1e-12);
        assert!((t.collect_other_s() - 0.5).abs() < 1e-12);
        assert_eq!(PhaseTimes::default().physics_s(), 0.0);
    }
}
