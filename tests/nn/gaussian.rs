//! Gaussian policy: log-prob and entropy against closed forms, log-std clamping and init.

use burn::prelude::*;
use locomamba::device::cpu_device;
use locomamba::nn::{ObsShape, build_actor_critic, gaussian_entropy, gaussian_log_prob};
use locomamba::recipe::Recipe;

fn t2(v: Vec<f32>, s: [usize; 2], d: &Device) -> Tensor<2> {
    Tensor::from_data(TensorData::new(v, s), d)
}

#[test]
fn log_prob_and_entropy_match_closed_form() {
    let d = cpu_device();
    let mean = t2(vec![0.0, 1.0, -1.0, 0.5], [2, 2], &d);
    let actions = t2(vec![0.5, 1.0, 0.0, -0.5], [2, 2], &d);
    let ls = [-1.0f32, 0.3];
    let log_std = Tensor::<1>::from_data(TensorData::new(ls.to_vec(), [2]), &d);
    let lp: Vec<f32> = gaussian_log_prob(mean, log_std.clone(), actions)
        .into_data()
        .try_to_vec_as()
        .unwrap();
    let half_log_2pi = 0.5 * (2.0 * std::f32::consts::PI).ln();
    let density = |x: f32, m: f32, l: f32| -0.5 * ((x - m) / l.exp()).powi(2) - l - half_log_2pi;
    let expect = [
        density(0.5, 0.0, ls[0]) + density(1.0, 1.0, ls[1]),
        density(0.0, -1.0, ls[0]) + density(-0.5, 0.5, ls[1]),
    ];
    for (a, e) in lp.iter().zip(expect) {
        assert!((a - e).abs() < 1e-5, "{a} vs {e}");
    }
    let ent = gaussian_entropy(log_std).into_scalar::<f32>();
    let expect: f32 = ls.iter().map(|l| 0.5 + half_log_2pi + l).sum();
    assert!((ent - expect).abs() < 1e-5);
}

#[test]
fn log_std_is_initialised_from_recipe_and_clamped() {
    let d = cpu_device();
    let mut r = Recipe::default();
    r.encoder.visual_dim = 16;
    let shape = ObsShape {
        proprio_dim: 5,
        depth_frames: 1,
        depth_height: 36,
        depth_width: 36,
        action_dim: 3,
        privileged_dim: 19,
    };
    let model = build_actor_critic(&r, &shape, &d).unwrap();
    let v: Vec<f32> = model.log_std().into_data().try_to_vec_as().unwrap();
    assert!(
        v.iter().all(|x| (x - r.ppo.init_log_std).abs() < 1e-6),
        "{v:?}"
    );
    r.ppo.init_log_std = 7.0;
    let model = build_actor_critic(&r, &shape, &d).unwrap();
    assert_eq!(model.log_std().max().into_scalar::<f32>(), 2.0);
    r.ppo.init_log_std = -9.0;
    let model = build_actor_critic(&r, &shape, &d).unwrap();
    assert_eq!(model.log_std().min().into_scalar::<f32>(), -5.0);
}
