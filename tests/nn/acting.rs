//! Acting's forward pass (`ActorCritic::act_and_value`), which runs the policy and value branches
//! at the same time, against the training forwards that run them one after the other: the same
//! values, and with memory the same next memory, bit for bit.

use burn::prelude::*;
use burn::tensor::Distribution;
use locomamba::device::cpu_device;
use locomamba::nn::{ActorCritic, BranchMemories, build_actor_critic};
use locomamba::recipe::{Recipe, SequenceConfig};

use crate::SHAPE;

const BATCH: usize = 16;

fn bits<const D: usize>(t: Tensor<D>) -> Vec<u32> {
    let values = t.into_data().try_to_vec_as::<f32>().expect("f32 values");
    assert!(
        values.iter().all(|v| v.is_finite()),
        "a value is not finite"
    );
    values.iter().map(|v| v.to_bits()).collect()
}

fn memory_bits(m: &BranchMemories) -> Vec<u32> {
    let buffers = m.policy.buffers.iter().chain(&m.value.buffers);
    let values: Vec<f32> = buffers.flat_map(|b| b.values.iter().copied()).collect();
    assert!(values.iter().any(|&v| v != 0.0), "the memory is all zeros");
    values.iter().map(|v| v.to_bits()).collect()
}

type Inputs = (Tensor<2>, Tensor<4>, Option<Tensor<2>>);

fn inputs(asymmetric: bool) -> Inputs {
    let device = cpu_device();
    let p = Tensor::<2>::random([BATCH, 84], Distribution::Default, &device);
    let d = Tensor::<4>::random([BATCH, 4, 64, 64], Distribution::Default, &device);
    let privileged =
        asymmetric.then(|| Tensor::<2>::random([BATCH, 19], Distribution::Default, &device));
    (p, d, privileged)
}

/// Every model kind with a shared encoder, and with a value encoder of its own and an asymmetric
/// critic: (case, model, whether the critic is asymmetric).
fn models() -> Vec<(String, ActorCritic, bool)> {
    let mut out = Vec::new();
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
            let model = build_actor_critic(&r, &SHAPE, &cpu_device()).expect("a model");
            out.push((case, model, asymmetric));
        }
    }
    out
}

#[test]
fn acting_gives_the_sequential_forwards_values_bit_for_bit() {
    for (case, model, asymmetric) in models() {
        let x = inputs(asymmetric);
        let (mean, value) = model.forward(x.0.clone(), x.1.clone(), x.2.clone());
        let (mean_acting, value_acting, next) = model.act_and_value(x, None);
        assert!(next.is_none(), "{case}: a memory without one");
        assert_eq!(mean.dims(), [BATCH, 12], "{case}");
        assert_eq!(bits(mean), bits(mean_acting), "{case}: means differ");
        assert_eq!(bits(value), bits(value_acting), "{case}: values differ");
    }
}

#[test]
fn acting_with_memory_gives_forward_memorys_values_and_memory_bit_for_bit() {
    for (case, model, asymmetric) in models() {
        let tokens = model.tokens_per_step(&SHAPE);
        let zero = model.zero_memory(BATCH, tokens, 4).expect("a memory");
        let no_starts = vec![false; BATCH];
        // One step first, so that the memory compared from is not zero.
        let (_, _, memory) = model.forward_memory(inputs(asymmetric), &zero, &no_starts, 1);
        let x = inputs(asymmetric);
        let (mean, value, next) = model.forward_memory(x.clone(), &memory, &no_starts, 1);
        let (mean_acting, value_acting, next_acting) = model.act_and_value(x, Some(&memory));
        let next_acting = next_acting.expect("the next memory");
        assert_eq!(bits(mean), bits(mean_acting), "{case}: means differ");
        assert_eq!(bits(value), bits(value_acting), "{case}: values differ");
        assert_eq!(
            memory_bits(&next),
            memory_bits(&next_acting),
            "{case}: next memories differ"
        );
    }
}
