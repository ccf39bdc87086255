//! Statistics the trainer logs: what one minibatch step measured, the value function's explained
//! variance, and means over finished episodes.

use crate::sim::EpisodeStats;

/// What one minibatch step measured; [`MinibatchStats::mean`] averages them over an update.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct MinibatchStats {
    /// Clipped surrogate loss (to minimise).
    pub policy_loss: f64,
    /// Value loss (MSE, clipped when `ppo.value_clip`).
    pub value_loss: f64,
    /// Mean entropy of the Gaussian policy.
    pub entropy: f64,
    /// Approximate KL divergence between the old and new policy on the minibatch.
    pub approx_kl: f64,
    /// Fraction of samples whose probability ratio left `1 +- clip`.
    pub clip_fraction: f64,
    /// Global gradient norm of the encoder and policy branch, before clipping.
    pub policy_grad_norm: f64,
    /// Global gradient norm of the value branch (and its own encoder), before clipping.
    pub value_grad_norm: f64,
}

impl MinibatchStats {
    /// The field-wise mean of `steps` (all zero for none).
    pub fn mean(steps: &[MinibatchStats]) -> MinibatchStats {
        let n = steps.len().max(1) as f64;
        let sum = |f: fn(&MinibatchStats) -> f64| steps.iter().map(f).sum::<f64>() / n;
        MinibatchStats {
            policy_loss: sum(|s| s.policy_loss),
            value_loss: sum(|s| s.value_loss),
            entropy: sum(|s| s.entropy),
            approx_kl: sum(|s| s.approx_kl),
            clip_fraction: sum(|s| s.clip_fraction),
            policy_grad_norm: sum(|s| s.policy_grad_norm),
            value_grad_norm: sum(|s| s.value_grad_norm),
        }
    }

    /// The logged scalars, by TensorBoard tag.
    pub fn scalars(&self) -> Vec<(String, f64)> {
        [
            ("loss/policy", self.policy_loss),
            ("loss/value", self.value_loss),
            ("loss/entropy", self.entropy),
            ("policy/approx_kl", self.approx_kl),
            ("policy/clip_fraction", self.clip_fraction),
            ("policy/grad_norm", self.policy_grad_norm),
            ("value/grad_norm", self.value_grad_norm),
        ]
        .into_iter()
        .map(|(tag, v)| (tag.to_string(), v))
        .collect()
    }
}

/// Fraction of the returns' variance the value estimates explain: `1 - Var(R - V) / Var(R)`.
pub fn explained_variance(values: &[f32], returns: &[f32]) -> f64 {
    let n = returns.len() as f64;
    if n < 2.0 {
        return f64::NAN;
    }
    let var = |xs: &mut dyn Iterator<Item = f64>| {
        let v: Vec<f64> = xs.collect();
        let m = v.iter().sum::<f64>() / n;
        v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / n
    };
    let vr = var(&mut returns.iter().map(|&r| r as f64));
    let vd = var(&mut returns.iter().zip(values).map(|(&r, &v)| (r - v) as f64));
    if vr == 0.0 { f64::NAN } else { 1.0 - vd / vr }
}

/// Means over episodes: return, length, distance, collisions, fall rate, success, and each reward term.
pub fn episode_scalars<'a>(
    prefix: &str,
    episodes: impl Iterator<Item = &'a EpisodeStats>,
) -> Vec<(String, f64)> {
    let eps: Vec<&EpisodeStats> = episodes.collect();
    if eps.is_empty() {
        return Vec::new();
    }
    let n = eps.len() as f64;
    let avg = |f: &dyn Fn(&EpisodeStats) -> f64| eps.iter().map(|e| f(e)).sum::<f64>() / n;
    let mut out = vec![
        (
            format!("{prefix}/episode_return"),
            avg(&|e| e.episode_return as f64),
        ),
        (
            format!("{prefix}/episode_length"),
            avg(&|e| e.length as f64),
        ),
        (format!("{prefix}/distance"), avg(&|e| e.distance as f64)),
        (
            format!("{prefix}/collisions"),
            avg(&|e| e.collisions as f64),
        ),
        (format!("{prefix}/fall_rate"), avg(&|e| e.fell as u8 as f64)),
        (
            format!("{prefix}/success_rate"),
            avg(&|e| e.reached_end as u8 as f64),
        ),
        (format!("{prefix}/spheres"), avg(&|e| e.spheres as f64)),
    ];
    let terms: Vec<(String, f64)> = eps[0]
        .reward_terms
        .iter()
        .map(|(k, _)| (k.to_string(), 0.0))
        .collect();
    for (name, _) in terms {
        let v = avg(&|e| {
            e.reward_terms
                .iter()
                .find(|(k, _)| *k == name)
                .map_or(0.0, |(_, v)| v as f64)
        });
        out.push((format!("{prefix}/reward/{name}"), v));
    }
    out
}
