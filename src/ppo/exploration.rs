//! The exploration noise of sampled actions: white (independent per step, the original's) or
//! temporally correlated per env and output (`ppo.noise_correlation`), restarted with each
//! episode. White Gaussian noise on a gait prior averages out within a stride, so slow
//! changes (a stride frequency, a lean) are hard to discover; correlated noise holds a
//! deviation for several steps (coloured-noise exploration, Eberhard et al., ICLR 2023).

use rand_chacha::ChaCha8Rng;

use crate::ppo::seeding::normal;

/// Unit-variance exploration noise for every output of every env: the AR(1) process
/// `e_t = c e_(t-1) + sqrt(1 - c^2) n_t` with `n_t` standard normal; `c = 0` is white noise.
#[derive(Debug, Clone)]
pub struct ExplorationNoise {
    /// The correlation `c` between consecutive steps, in [0, 1).
    correlation: f32,
    /// Outputs per env.
    width: usize,
    /// Every env's noise at its last step, `[envs * width]` (saved in checkpoints).
    last: Vec<f32>,
}

impl ExplorationNoise {
    /// Noise of correlation `correlation` for `envs` envs of `width` outputs each.
    pub fn new(correlation: f32, envs: usize, width: usize) -> Self {
        Self {
            correlation,
            width,
            last: vec![0.0; envs * width],
        }
    }

    /// Whether consecutive steps are correlated (otherwise nothing needs saving).
    pub fn is_correlated(&self) -> bool {
        self.correlation > 0.0
    }

    /// Every env's noise at its last step, `[envs * width]`.
    pub fn last(&self) -> &[f32] {
        &self.last
    }

    /// Restores what [`last`](Self::last) returned; false (nothing restored) if its length
    /// does not match this noise's envs and outputs.
    pub fn restore(&mut self, last: Vec<f32>) -> bool {
        let fits = last.len() == self.last.len();
        if fits {
            self.last = last;
        }
        fits
    }

    /// The next step's noise, `[envs * width]`, drawing one standard normal from `rng` per value
    /// in order (with `c = 0` exactly the draws themselves); `starts[e]` restarts env `e`'s noise
    /// (its episode begins at this step).
    pub fn sample(&mut self, rng: &mut ChaCha8Rng, starts: &[bool]) -> &[f32] {
        let keep = self.correlation;
        let fresh = (1.0 - keep * keep).sqrt();
        for (i, value) in self.last.iter_mut().enumerate() {
            let draw = normal(rng);
            *value = if starts[i / self.width] {
                draw
            } else {
                keep * *value + fresh * draw
            };
        }
        &self.last
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn white_noise_is_the_normal_draws_themselves() {
        let mut noise = ExplorationNoise::new(0.0, 2, 3);
        let (mut a, mut b) = (ChaCha8Rng::seed_from_u64(1), ChaCha8Rng::seed_from_u64(1));
        for step in 0..5 {
            let starts = [step == 0, false];
            let got = noise.sample(&mut a, &starts).to_vec();
            let want: Vec<f32> = (0..6).map(|_| normal(&mut b)).collect();
            assert_eq!(got, want);
        }
    }

    #[test]
    fn correlated_noise_has_unit_variance_and_its_correlation() {
        let c = 0.9;
        let mut noise = ExplorationNoise::new(c, 1, 4);
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let mut series = Vec::new();
        for step in 0..40_000 {
            series.push(noise.sample(&mut rng, &[step == 0])[2] as f64);
        }
        let n = series.len() as f64;
        let mean = series.iter().sum::<f64>() / n;
        let var = series.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n;
        let lag1 = series
            .windows(2)
            .map(|w| (w[0] - mean) * (w[1] - mean))
            .sum::<f64>()
            / (n - 1.0)
            / var;
        assert!((var - 1.0).abs() < 0.06, "variance {var}");
        assert!((lag1 - c as f64).abs() < 0.02, "lag-1 correlation {lag1}");
    }

    #[test]
    fn an_episode_start_restarts_only_that_envs_noise() {
        let mut noise = ExplorationNoise::new(0.95, 2, 1);
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        noise.sample(&mut rng, &[true, true]);
        let before = noise.last().to_vec();
        let mut copy = rng.clone();
        let after = noise.sample(&mut rng, &[true, false]).to_vec();
        let (d0, d1) = (normal(&mut copy), normal(&mut copy));
        assert_eq!(after[0], d0, "restarted: the fresh draw alone");
        let carried = 0.95 * before[1] + (1.0f32 - 0.95 * 0.95).sqrt() * d1;
        assert_eq!(after[1], carried, "continued from its last value");
    }
}
