//! Acting's forward pass, which runs the policy and value branches at the same time, against the
//! training forward that runs them one after the other: the same values bit for bit.

use burn::prelude::*;
use burn::tensor::Distribution;
use locomamba::device::cpu_device;
use locomamba::nn::build_actor_critic;
use locomamba::recipe::{Recipe, SequenceConfig};

use crate::SHAPE;

fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().try_to_vec_as::<f32>().expect("f32 values")
}

#[test]
fn joined_branches_give_the_sequential_forwards_values_bit_for_bit() {
    let device = cpu_device();
    for mamba in [false, true] {
        for (shared, asymmetric) in [(true, false), (false, true)] {
            let mut r = Recipe::default();
            r.encoder.visual_dim = 32;
            r.encoder.shared = shared;
            r.ppo.asymmetric_critic = asymmetric;
            if mamba {
                r.sequence = SequenceConfig::Mamba {
                    layers: vec![Default::default(); 2],
                    bidirectional: false,
                };
            }
            let case = format!("mamba {mamba}, shared encoder {shared}, asymmetric {asymmetric}");
            let model = build_actor_critic(&r, &SHAPE, &device).expect("a model");
            let batch = 16;
            let p = Tensor::<2>::random([batch, 84], Distribution::Default, &device);
            let d = Tensor::<4>::random([batch, 4, 64, 64], Distribution::Default, &device);
            let privileged = asymmetric
                .then(|| Tensor::<2>::random([batch, 19], Distribution::Default, &device));
            let (mean, value) = model.forward(p.clone(), d.clone(), privileged.clone());
            let (mean_joined, value_joined) = model.forward_branches_joined(p, d, privileged);
            let (mean, mean_joined) = (values(mean), values(mean_joined));
            let (value, value_joined) = (values(value), values(value_joined));
            assert_eq!(mean.len(), batch * 12, "{case}");
            assert!(mean.iter().chain(&value).all(|v| v.is_finite()), "{case}");
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&mean), bits(&mean_joined), "{case}: means differ");
            assert_eq!(bits(&value), bits(&value_joined), "{case}: values differ");
        }
    }
}
