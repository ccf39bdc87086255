//! PPO loss terms on a fixed small batch against values computed by hand.

use burn::tensor::{Device, Tensor};
use locomamba::ppo::loss;

fn dev() -> Device {
    burn::backend::FlexDevice.into()
}

fn t(v: &[f32]) -> Tensor<1> {
    Tensor::<1>::from_data(v, &dev())
}

fn scalar(x: Tensor<1>) -> f32 {
    x.into_scalar::<f32>()
}

/// ratios r = [1, 1.5, 0.5], advantages [1, 2, -1], clip 0.2:
/// r A = [1, 3, -0.5]; clip(r) A = [1, 2.4, -0.8]; min = [1, 2.4, -0.8]; loss = -(2.6 / 3).
#[test]
fn surrogate_matches_hand_computation() {
    let logp = t(&[0.0, 1.5f32.ln(), 0.5f32.ln()]);
    let l = scalar(loss::surrogate_loss(
        logp,
        t(&[0.0; 3]),
        t(&[1.0, 2.0, -1.0]),
        0.2,
    ));
    assert!((l + 2.6 / 3.0).abs() < 1e-6, "{l}");
}

/// v = [1, 2, 3], R = [1.5, 2, 2], v_old = [1, 1, 1]. Plain: mean([0.25, 0, 1]) = 5/12.
/// Clip 0.5: clipped v = [1, 1.5, 1.5], errors [0.25, 0.25, 0.25]; max -> [0.25, 0.25, 1], mean 0.5.
#[test]
fn value_loss_matches_hand_computation() {
    let (v, r, old) = (
        t(&[1.0, 2.0, 3.0]),
        t(&[1.5, 2.0, 2.0]),
        t(&[1.0, 1.0, 1.0]),
    );
    let plain = scalar(loss::value_loss(v.clone(), r.clone(), old.clone(), 0.0));
    assert!((plain - 5.0 / 12.0).abs() < 1e-6, "{plain}");
    let clipped = scalar(loss::value_loss(v, r, old, 0.5));
    assert!((clipped - 0.5).abs() < 1e-6, "{clipped}");
}

/// k3 = mean(r - 1 - ln r) = (0 + (0.5 - ln 1.5) + (-0.5 - ln 0.5)) / 3; 2 of 3 ratios leave [0.8, 1.2].
#[test]
fn kl_and_clip_fraction_match_hand_computation() {
    let logp = t(&[0.0, 1.5f32.ln(), 0.5f32.ln()]);
    let (kl, frac) = loss::kl_and_clip_fraction(logp, t(&[0.0; 3]), 0.2);
    let expected = ((0.5 - 1.5f32.ln()) + (-0.5 - 0.5f32.ln())) / 3.0;
    assert!((kl - expected).abs() < 1e-6, "{kl} vs {expected}");
    assert!((frac - 2.0 / 3.0).abs() < 1e-6);
}

#[test]
fn normalized_advantages_have_zero_mean_unit_std() {
    let a = loss::normalize(t(&[1.0, 2.0, 3.0, 10.0]));
    let v = a
        .into_data()
        .convert::<f32>()
        .as_slice::<f32>()
        .unwrap()
        .to_vec();
    let mean: f32 = v.iter().sum::<f32>() / 4.0;
    let var: f32 = v.iter().map(|x| (x - mean).powi(2)).sum::<f32>() / 4.0;
    assert!(mean.abs() < 1e-6 && (var - 1.0).abs() < 1e-4, "{v:?}");
}

/// The surrogate's gradient flows only through unclipped samples: d/dlogp_i = -r_i A_i / n where the
/// unclipped term is the minimum, 0 where the clipped one is. Samples: r = 1 (A = 1, unclipped),
/// r = 1.5 (A = 2, clipped), r = 0.5 (A = -1, clipped) -> grad = [-1/3, 0, 0].
#[test]
fn surrogate_gradient_skips_clipped_samples() {
    let device = dev().autodiff();
    let logp = Tensor::<1>::from_data([0.0f32, 1.5f32.ln(), 0.5f32.ln()], &device).require_grad();
    let old = Tensor::<1>::from_data([0.0f32; 3], &device);
    let adv = Tensor::<1>::from_data([1.0f32, 2.0, -1.0], &device);
    let l = loss::surrogate_loss(logp.clone(), old, adv, 0.2);
    let grads = l.backward();
    let g = logp
        .grad(&grads)
        .unwrap()
        .into_data()
        .convert::<f32>()
        .as_slice::<f32>()
        .unwrap()
        .to_vec();
    for (a, b) in g.iter().zip([-1.0 / 3.0, 0.0, 0.0]) {
        assert!((a - b).abs() < 1e-6, "{g:?}");
    }
}

/// The whole objective from a Gaussian policy on a fixed batch of 2, action dim 1, std 1:
/// means [0, 0], actions [0, 1] -> log-probs [-c, -0.5 - c] with c = ln(2 pi) / 2; old log-probs
/// equal (ratio 1), advantages [1, 3] -> surrogate -2. Values [0.5, 1], returns [1, 1] -> value
/// loss 0.125. Entropy 0.5 + c. With value_coef 0.5, entropy_coef 0.01:
/// total = -2 + 0.0625 - 0.01 (0.5 + c).
#[test]
fn whole_objective_from_a_gaussian_policy_matches_hand_computation() {
    use locomamba::nn::{gaussian_entropy, gaussian_log_prob};
    let c = 0.5 * (2.0 * std::f32::consts::PI).ln();
    let mean = Tensor::<2>::from_data([[0.0f32], [0.0]], &dev());
    let actions = Tensor::<2>::from_data([[0.0f32], [1.0]], &dev());
    let log_std = t(&[0.0]);
    let logp = gaussian_log_prob(mean, log_std.clone(), actions);
    let logp_v = logp.clone().into_data().try_to_vec::<f32>().unwrap();
    assert!(
        (logp_v[0] + c).abs() < 1e-6 && (logp_v[1] + 0.5 + c).abs() < 1e-6,
        "{logp_v:?}"
    );
    let surrogate = loss::surrogate_loss(logp.clone(), logp, t(&[1.0, 3.0]), 0.2);
    let value = loss::value_loss(t(&[0.5, 1.0]), t(&[1.0, 1.0]), t(&[0.0, 0.0]), 0.0);
    let entropy = gaussian_entropy(log_std);
    let total = scalar(loss::ppo_objective(surrogate, value, entropy, 0.5, 0.01));
    let expected = -2.0 + 0.0625 - 0.01 * (0.5 + c);
    assert!((total - expected).abs() < 1e-6, "{total} vs {expected}");
}
