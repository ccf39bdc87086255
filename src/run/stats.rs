//! Final-performance statistics for few seeds, as the rliable paper recommends (Agarwal et al.,
//! NeurIPS 2021, "Deep RL at the edge of the statistical precipice"): the interquartile mean,
//! percentile confidence intervals from a stratified bootstrap (runs resampled within each task),
//! and the probability of improvement of one variant over another. Every bootstrap is seeded, so
//! a report's numbers are reproducible.

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Bootstrap resamples behind each interval.
pub const BOOTSTRAP_REPS: usize = 2000;

/// A point estimate with its confidence interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Estimate {
    /// The statistic on the data.
    pub value: f64,
    /// Lower end of the interval.
    pub low: f64,
    /// Upper end of the interval.
    pub high: f64,
}

/// The interquartile mean: the mean of the values left after cutting `floor(n / 4)` from each
/// end of the sorted list (scipy's `trim_mean(x, 0.25)`, what rliable computes). NaN when empty.
pub fn iqm(values: &[f64]) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let cut = sorted.len() / 4;
    let middle = &sorted[cut..sorted.len() - cut];
    middle.iter().sum::<f64>() / middle.len() as f64
}

/// The arithmetic mean (NaN when empty).
pub fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len() as f64
}

/// The probability that a run of `x` scores higher than a run of `y` on one task: the fraction of
/// pairs `(x_i, y_j)` with `x_i > y_j`, ties counting one half (the Mann-Whitney U statistic over
/// `n m`). NaN when either is empty.
pub fn probability_of_improvement_on_task(x: &[f64], y: &[f64]) -> f64 {
    if x.is_empty() || y.is_empty() {
        return f64::NAN;
    }
    let wins: f64 = x
        .iter()
        .flat_map(|a| y.iter().map(move |b| (a, b)))
        .map(|(a, b)| match a.total_cmp(b) {
            std::cmp::Ordering::Greater => 1.0,
            std::cmp::Ordering::Equal => 0.5,
            std::cmp::Ordering::Less => 0.0,
        })
        .sum();
    wins / (x.len() * y.len()) as f64
}

/// The probability of improvement averaged over tasks: `x[t]` and `y[t]` are the runs of the two
/// variants on task `t`.
pub fn probability_of_improvement(x: &[Vec<f64>], y: &[Vec<f64>]) -> f64 {
    let per_task: Vec<f64> = x
        .iter()
        .zip(y)
        .map(|(a, b)| probability_of_improvement_on_task(a, b))
        .collect();
    mean(&per_task)
}

/// One stratified resample: each task's runs drawn with replacement, as many as it has.
fn resample(tasks: &[Vec<f64>], rng: &mut ChaCha8Rng) -> Vec<Vec<f64>> {
    tasks
        .iter()
        .map(|runs| {
            (0..runs.len())
                .map(|_| runs[rng.random_range(0..runs.len())])
                .collect()
        })
        .collect()
}

/// The `level` percentile interval (e.g. 0.95) of `samples`, by linear interpolation between order
/// statistics (numpy's default percentile).
fn percentile_interval(mut samples: Vec<f64>, level: f64) -> (f64, f64) {
    samples.retain(|v| v.is_finite());
    if samples.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    samples.sort_by(f64::total_cmp);
    let at = |q: f64| {
        let pos = q * (samples.len() - 1) as f64;
        let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
        samples[lo] + (samples[hi] - samples[lo]) * (pos - lo as f64)
    };
    let tail = (1.0 - level) / 2.0;
    (at(tail), at(1.0 - tail))
}

/// `statistic` of the runs pooled over tasks (`tasks[t]` holds task `t`'s runs), with its `level`
/// percentile interval over `reps` stratified bootstrap resamples drawn from `seed`.
pub fn stratified_bootstrap(
    tasks: &[Vec<f64>],
    statistic: impl Fn(&[f64]) -> f64,
    reps: usize,
    level: f64,
    seed: u64,
) -> Estimate {
    let pooled = |t: &[Vec<f64>]| t.iter().flatten().copied().collect::<Vec<f64>>();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let samples = (0..reps)
        .map(|_| statistic(&pooled(&resample(tasks, &mut rng))))
        .collect();
    let (low, high) = percentile_interval(samples, level);
    Estimate {
        value: statistic(&pooled(tasks)),
        low,
        high,
    }
}

/// [`probability_of_improvement`] of `x` over `y` with its `level` percentile interval over `reps`
/// stratified bootstrap resamples of both (drawn from `seed`).
pub fn probability_of_improvement_ci(
    x: &[Vec<f64>],
    y: &[Vec<f64>],
    reps: usize,
    level: f64,
    seed: u64,
) -> Estimate {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let samples = (0..reps)
        .map(|_| probability_of_improvement(&resample(x, &mut rng), &resample(y, &mut rng)))
        .collect();
    let (low, high) = percentile_interval(samples, level);
    Estimate {
        value: probability_of_improvement(x, y),
        low,
        high,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iqm_cuts_a_quarter_from_each_end() {
        // 8 values: 2 cut from each end, the mean of 3, 4, 5, 6.
        assert_eq!(iqm(&[8.0, 1.0, 7.0, 2.0, 6.0, 3.0, 5.0, 4.0]), 4.5);
        // 5 values: 1 cut from each end; an outlier does not move it.
        assert_eq!(iqm(&[1.0, 2.0, 3.0, 4.0, 1000.0]), 3.0);
        // Fewer than 4 values: nothing is cut.
        assert_eq!(iqm(&[1.0, 4.0]), 2.5);
        assert!(iqm(&[]).is_nan());
    }

    #[test]
    fn probability_of_improvement_counts_pairs_and_half_ties() {
        // Pairs: 1>0, 1<2, 2>0, 2=2 (half), 3>0, 3>2: 4.5 of 6.
        assert_eq!(
            probability_of_improvement_on_task(&[1.0, 2.0, 3.0], &[0.0, 2.0]),
            0.75
        );
        assert_eq!(probability_of_improvement_on_task(&[1.0], &[1.0]), 0.5);
        // Averaged over tasks.
        let x = vec![vec![5.0], vec![0.0]];
        let y = vec![vec![1.0], vec![1.0]];
        assert_eq!(probability_of_improvement(&x, &y), 0.5);
        // P(X > Y) + P(Y > X) = 1.
        let (a, b) = (vec![vec![0.3, 1.2, 2.2]], vec![vec![0.5, 1.2, 4.0, 0.1]]);
        let sum = probability_of_improvement(&a, &b) + probability_of_improvement(&b, &a);
        assert!((sum - 1.0).abs() < 1e-12);
    }

    #[test]
    fn bootstraps_are_reproducible_and_bracket_the_estimate() {
        let tasks = vec![vec![1.0, 2.0, 3.0, 4.0, 10.0], vec![0.5, 0.7, 0.9]];
        let a = stratified_bootstrap(&tasks, iqm, 500, 0.95, 3);
        let b = stratified_bootstrap(&tasks, iqm, 500, 0.95, 3);
        assert_eq!(a, b);
        assert!(a.low <= a.value && a.value <= a.high, "{a:?}");
        let p = probability_of_improvement_ci(&tasks, &tasks, 500, 0.95, 3);
        assert_eq!(p.value, 0.5);
        assert!(p.low < 0.5 && p.high > 0.5, "{p:?}");
    }

    /// A 95% interval of the mean of 30 normal draws contains the true mean in about 95% of
    /// repeated experiments (percentile intervals run a little short at this size).
    #[test]
    fn the_interval_covers_the_true_value_at_about_the_nominal_rate() {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let normal = |rng: &mut ChaCha8Rng| {
            let (u, v): (f64, f64) = (rng.random::<f64>().max(1e-12), rng.random());
            (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
        };
        let trials = 300;
        let covered = (0..trials)
            .filter(|&t| {
                let runs: Vec<f64> = (0..30).map(|_| 3.0 + 2.0 * normal(&mut rng)).collect();
                let e = stratified_bootstrap(&[runs], mean, 400, 0.95, t as u64);
                e.low <= 3.0 && 3.0 <= e.high
            })
            .count();
        let rate = covered as f64 / trials as f64;
        assert!((0.88..=0.99).contains(&rate), "coverage {rate}");
    }
}
