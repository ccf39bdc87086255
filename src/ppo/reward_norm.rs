//! Reward normalisation by a running standard deviation of the discounted return (gym's
//! `NormalizeReward`, CleanRL's continuous-control default): each env keeps its discounted
//! return `R <- gamma R + r`, the statistics of `R` are updated every step, and the reward PPO
//! learns from is `r / std(R)`. Its state is saved in checkpoints.

use serde::{Deserialize, Serialize};

use super::normalizer::RunningNorm;

/// Scaled rewards are clipped to +- this.
pub const REWARD_CLIP: f32 = 10.0;

/// Running return statistics and each env's discounted return so far.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RewardNorm {
    /// Discount of the return whose spread scales rewards (the run's `ppo.discount`).
    pub discount: f64,
    /// Each env's discounted return since its episode began.
    pub returns: Vec<f64>,
    /// Running variance of those returns (one feature).
    pub stats: RunningNorm,
}

impl RewardNorm {
    /// Fresh statistics for `envs` envs.
    pub fn new(envs: usize, discount: f32) -> Self {
        Self {
            discount: discount as f64,
            returns: vec![0.0; envs],
            stats: RunningNorm::new(1),
        }
    }

    /// The current divisor of rewards: `sqrt(var(R) + 1e-8)`.
    pub fn scale(&self) -> f64 {
        (self.stats.var[0] + 1e-8).sqrt()
    }

    /// Folds one step of every env (`rewards[e]`, and whether its episode ended with this step)
    /// into the returns and their statistics, and returns the scaled rewards.
    pub fn step(&mut self, rewards: &[f32], ended: &[bool]) -> Vec<f32> {
        assert_eq!(rewards.len(), self.returns.len(), "one reward per env");
        for (ret, &r) in self.returns.iter_mut().zip(rewards) {
            *ret = *ret * self.discount + r as f64;
        }
        let batch: Vec<f32> = self.returns.iter().map(|&x| x as f32).collect();
        self.stats.update(&batch);
        let scale = self.scale();
        for (ret, &done) in self.returns.iter_mut().zip(ended) {
            if done {
                *ret = 0.0;
            }
        }
        rewards
            .iter()
            .map(|&r| ((r as f64 / scale) as f32).clamp(-REWARD_CLIP, REWARD_CLIP))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_rewards_are_scaled_by_the_spread_of_returns() {
        // One env, reward 1 every step, episodes of 10 steps: the returns cycle through
        // 1, 1 + g, ..., and the reward is divided by their standard deviation.
        let g = 0.9_f64;
        let mut norm = RewardNorm::new(1, g as f32);
        let mut returns = Vec::new();
        let mut last = 0.0;
        for t in 0..1000 {
            let ended = t % 10 == 9;
            last = norm.step(&[1.0], &[ended])[0];
            let k = t % 10;
            returns.push((0..=k).map(|i| g.powi(i)).sum::<f64>());
        }
        let mean = returns.iter().sum::<f64>() / returns.len() as f64;
        let var = returns.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / returns.len() as f64;
        assert!(
            (last as f64 - 1.0 / var.sqrt()).abs() < 1e-3,
            "{last} vs {}",
            1.0 / var.sqrt()
        );
        assert_eq!(norm.returns, vec![0.0], "the last step ended the episode");
    }

    #[test]
    fn scaled_rewards_are_clipped() {
        let mut norm = RewardNorm::new(2, 0.99);
        let out = norm.step(&[0.0, 0.0], &[false, false]);
        assert_eq!(out, vec![0.0, 0.0]);
        // The variance is ~0 after constant zero returns, so a reward of 1 would be huge.
        let mut tiny = RewardNorm::new(1, 0.99);
        for _ in 0..100 {
            tiny.step(&[0.0], &[true]);
        }
        assert_eq!(tiny.step(&[1.0], &[false])[0], REWARD_CLIP);
    }
}
