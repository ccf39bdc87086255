//! The PPO objective's terms on tensors: clipped surrogate, (optionally clipped) value loss, and
//! the diagnostics logged per update (approximate KL, clip fraction).

use burn::tensor::Tensor;

/// Clipped surrogate loss `-mean(min(r A, clip(r, 1 - c, 1 + c) A))` with `r = exp(logp - old_logp)`.
pub fn surrogate_loss(
    log_prob: Tensor<1>,
    old_log_prob: Tensor<1>,
    advantages: Tensor<1>,
    clip: f32,
) -> Tensor<1> {
    let ratio = (log_prob - old_log_prob).exp();
    let unclipped = ratio.clone() * advantages.clone();
    let clipped = ratio.clamp(1.0 - clip, 1.0 + clip) * advantages;
    unclipped.min_pair(clipped).mean().neg()
}

/// Value loss: `mean((v - R)^2)`, or with `clip > 0` the PPO2 form
/// `mean(max((v - R)^2, (v_old + clip(v - v_old, -c, c) - R)^2))`.
pub fn value_loss(
    values: Tensor<1>,
    returns: Tensor<1>,
    old_values: Tensor<1>,
    clip: f32,
) -> Tensor<1> {
    let plain = (values.clone() - returns.clone()).powf_scalar(2.0);
    if clip <= 0.0 {
        return plain.mean();
    }
    let clipped = old_values.clone() + (values - old_values).clamp(-clip, clip);
    let clipped = (clipped - returns).powf_scalar(2.0);
    plain.max_pair(clipped).mean()
}

/// The minimised PPO objective: `surrogate + value_coef * value_loss - entropy_coef * entropy`.
pub fn ppo_objective(
    surrogate: Tensor<1>,
    value_loss: Tensor<1>,
    entropy: Tensor<1>,
    value_coef: f32,
    entropy_coef: f32,
) -> Tensor<1> {
    surrogate - entropy.mul_scalar(entropy_coef) + value_loss.mul_scalar(value_coef)
}

/// Approximate KL divergence `mean((r - 1) - ln r)` (Schulman's k3 estimator) and the fraction of
/// samples whose ratio left `[1 - c, 1 + c]`.
pub fn kl_and_clip_fraction(log_prob: Tensor<1>, old_log_prob: Tensor<1>, clip: f32) -> (f32, f32) {
    let log_ratio = log_prob - old_log_prob;
    let ratio = log_ratio.clone().exp();
    let kl = ((ratio.clone() - 1.0) - log_ratio)
        .mean()
        .into_scalar::<f32>();
    let outside = (ratio - 1.0)
        .abs()
        .greater_elem(clip)
        .float()
        .mean()
        .into_scalar::<f32>();
    (kl, outside)
}

/// Normalises advantages to mean 0, std 1 (per minibatch).
pub fn normalize(advantages: Tensor<1>) -> Tensor<1> {
    let mean = advantages.clone().mean();
    let centered = advantages - mean.unsqueeze();
    let std = centered.clone().powf_scalar(2.0).mean().sqrt();
    centered / (std + 1e-8).unsqueeze()
}
