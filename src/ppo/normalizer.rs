//! Running mean / standard deviation of observations (Chan et al.'s parallel update), used to
//! normalise proprioception; its state is saved in checkpoints.

use serde::{Deserialize, Serialize};

/// Per-feature running statistics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunningNorm {
    /// Running mean per feature.
    pub mean: Vec<f64>,
    /// Running (population) variance per feature.
    pub var: Vec<f64>,
    /// Number of samples seen (starts at a tiny epsilon so the first update dominates).
    pub count: f64,
    /// Normalised values are clipped to +- this.
    pub clip: f32,
}

impl RunningNorm {
    /// Statistics for `dim` features, mean 0, variance 1.
    pub fn new(dim: usize) -> Self {
        Self {
            mean: vec![0.0; dim],
            var: vec![1.0; dim],
            count: 1e-4,
            clip: 10.0,
        }
    }

    /// Feature count.
    pub fn dim(&self) -> usize {
        self.mean.len()
    }

    /// Folds a batch `[rows * dim]` into the statistics.
    pub fn update(&mut self, batch: &[f32]) {
        let dim = self.dim();
        assert!(
            dim > 0 && batch.len().is_multiple_of(dim),
            "batch of {} values is not rows of {dim}",
            batch.len()
        );
        let rows = (batch.len() / dim) as f64;
        if rows == 0.0 {
            return;
        }
        for j in 0..dim {
            let column = batch.iter().skip(j).step_by(dim).map(|&x| x as f64);
            let batch_mean = column.clone().sum::<f64>() / rows;
            let batch_var = column.map(|x| (x - batch_mean).powi(2)).sum::<f64>() / rows;
            let total = self.count + rows;
            let delta = batch_mean - self.mean[j];
            let m2 = self.var[j] * self.count
                + batch_var * rows
                + delta * delta * self.count * rows / total;
            self.mean[j] += delta * rows / total;
            self.var[j] = m2 / total;
        }
        self.count += rows;
    }

    /// Normalises `[rows * dim]` values in place: `(x - mean) / sqrt(var + 1e-8)`, clipped.
    pub fn normalize(&self, values: &mut [f32]) {
        let dim = self.dim();
        for (i, x) in values.iter_mut().enumerate() {
            let j = i % dim;
            let z = (*x as f64 - self.mean[j]) / (self.var[j] + 1e-8).sqrt();
            *x = (z as f32).clamp(-self.clip, self.clip);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batched_updates_match_whole_data_statistics() {
        let data: Vec<f32> = (0..600)
            .map(|i| ((i * 37 % 101) as f32) * 0.1 - (i % 3) as f32)
            .collect();
        let mut whole = RunningNorm::new(3);
        whole.update(&data);
        let mut parts = RunningNorm::new(3);
        for chunk in data.chunks(30) {
            parts.update(chunk);
        }
        for j in 0..3 {
            let col: Vec<f64> = data.iter().skip(j).step_by(3).map(|&x| x as f64).collect();
            let mean = col.iter().sum::<f64>() / col.len() as f64;
            let var = col.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / col.len() as f64;
            assert!((whole.mean[j] - mean).abs() < 1e-4 && (parts.mean[j] - mean).abs() < 1e-4);
            assert!(
                (whole.var[j] - var).abs() < 1e-3 * var && (parts.var[j] - var).abs() < 1e-3 * var
            );
        }
        let mut x = data[..3].to_vec();
        parts.normalize(&mut x);
        assert!(x.iter().all(|v| v.abs() <= 10.0));
    }
}
