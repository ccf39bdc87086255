//! The fusion models' pooling of their output tokens, forward and backward, on row-major `f32`
//! slices: per sample, the first (state) token's values followed by the mean of the other
//! (visual) tokens.
//!
//! In burn tensor ops this is two `narrow`s, a `mean_dim` and a `cat`, whose backward builds a
//! zero tensor of the whole token block for each `narrow` and adds the two: at the paper's sizes
//! (1024 x 17 x 256) about 150 MB of writes per branch for a result that is a copy and a scaled
//! broadcast. Here the backward writes each gradient value once.
//!
//! The arithmetic is burn's: the mean is the sum over the visual tokens in token order divided by
//! their count, and its gradient is the output gradient times `1 / count` (rounded to `f32` from
//! `f64`, as burn's autodiff does).

use rayon::prelude::*;

/// Sizes of one call: `tokens` `[batch, len, width]`, pooled to `[batch, 2 * width]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolDims {
    /// Samples.
    pub batch: usize,
    /// Tokens per sample (the state token and at least one visual token).
    pub len: usize,
    /// Values per token.
    pub width: usize,
}

impl PoolDims {
    fn check(&self, name: &str, got: usize, want: usize) {
        assert!(
            self.len >= 2,
            "pool kernel: {} tokens per sample, expected a state token and at least one more",
            self.len
        );
        assert_eq!(
            got, want,
            "pool kernel: `{name}` has {got} values, expected {want}"
        );
    }

    /// The visual tokens' count as the divisor of the mean.
    fn visual(&self) -> usize {
        self.len - 1
    }
}

/// `[batch, 2 * width]`: each sample's state token, then the mean of its visual tokens.
///
/// # Panics
/// When `tokens` does not hold `batch x len x width` values, or `len < 2`.
pub fn pool_forward(dims: &PoolDims, tokens: &[f32]) -> Vec<f32> {
    let PoolDims { batch, len, width } = *dims;
    dims.check("tokens", tokens.len(), batch * len * width);
    let count = dims.visual() as f32;
    let mut out = vec![0.0f32; batch * 2 * width];
    if width == 0 {
        return out;
    }
    out.par_chunks_mut(2 * width)
        .zip(tokens.par_chunks(len * width))
        .for_each(|(pooled, sample)| {
            let (state, mean) = pooled.split_at_mut(width);
            let (first, visual) = sample.split_at(width);
            state.copy_from_slice(first);
            for token in visual.chunks_exact(width) {
                for (sum, &v) in mean.iter_mut().zip(token) {
                    *sum += v;
                }
            }
            for v in mean.iter_mut() {
                *v /= count;
            }
        });
    out
}

/// Gradient of [`pool_forward`]'s `tokens` `[batch, len, width]` given its output's gradient
/// `dy` `[batch, 2 * width]`.
///
/// # Panics
/// When `dy` does not hold `batch x 2 x width` values, or `len < 2`.
pub fn pool_backward(dims: &PoolDims, dy: &[f32]) -> Vec<f32> {
    let PoolDims { batch, len, width } = *dims;
    dims.check("dy", dy.len(), batch * 2 * width);
    let scale = (1.0 / dims.visual() as f64) as f32;
    let mut dx = vec![0.0f32; batch * len * width];
    if width == 0 {
        return dx;
    }
    dx.par_chunks_mut(len * width)
        .zip(dy.par_chunks(2 * width))
        .for_each(|(sample, pooled)| {
            let (d_state, d_mean) = pooled.split_at(width);
            let (first, visual) = sample.split_at_mut(width);
            first.copy_from_slice(d_state);
            for token in visual.chunks_exact_mut(width) {
                for (v, &g) in token.iter_mut().zip(d_mean) {
                    *v = scale * g;
                }
            }
        });
    dx
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(n: usize, seed: u32) -> Vec<f32> {
        (0..n)
            .map(|i| {
                ((i as u32).wrapping_mul(2_654_435_761).wrapping_add(seed) % 1000) as f32 / 250.0
                    - 2.0
            })
            .collect()
    }

    #[test]
    fn forward_is_the_state_token_and_the_visual_mean() {
        let dims = PoolDims {
            batch: 3,
            len: 4,
            width: 5,
        };
        let x = values(60, 1);
        let y = pool_forward(&dims, &x);
        for b in 0..3 {
            for j in 0..5 {
                assert_eq!(y[b * 10 + j], x[b * 20 + j]);
                let mean = (1..4).map(|t| x[b * 20 + t * 5 + j] as f64).sum::<f64>() / 3.0;
                assert!((y[b * 10 + 5 + j] as f64 - mean).abs() < 1e-6);
            }
        }
    }

    #[test]
    fn backward_matches_finite_differences_of_a_weighted_sum() {
        let dims = PoolDims {
            batch: 2,
            len: 3,
            width: 4,
        };
        let x = values(24, 2);
        let w = values(16, 3);
        let loss = |x: &[f32]| -> f64 {
            let y = pool_forward(&dims, x);
            y.iter().zip(&w).map(|(&a, &b)| a as f64 * b as f64).sum()
        };
        let dx = pool_backward(&dims, &w);
        for i in 0..x.len() {
            let (mut up, mut down) = (x.clone(), x.clone());
            up[i] += 1e-2;
            down[i] -= 1e-2;
            let numeric = (loss(&up) - loss(&down)) / 2e-2;
            assert!(
                (numeric - dx[i] as f64).abs() < 1e-3,
                "value {i}: numeric {numeric}, kernel {}",
                dx[i]
            );
        }
    }

    #[test]
    #[should_panic(expected = "pool kernel: `tokens` has 5 values, expected 6")]
    fn wrong_lengths_are_named() {
        pool_forward(
            &PoolDims {
                batch: 1,
                len: 2,
                width: 3,
            },
            &[0.0; 5],
        );
    }
}
