//! The data-parallel minibatch against the minibatch run as one graph: the same losses and
//! gradients within f32 rounding (the order of the sums is all that differs); and the same bits
//! on any number of threads.

use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::tensor::Tensor;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::Trainer;
use super::minibatch::{MinibatchGrads, PartGrads};
use crate::ppo::storage::{Minibatch, Rollout};
use crate::recipe::{Overrides, load};

/// Every gradient value of `grads` for `module`'s parameters, in visiting order.
struct Values<'a> {
    grads: &'a GradientsParams,
    out: Vec<f32>,
}

impl ModuleVisitor for Values<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(g) = self.grads.get::<D>(param.id) {
            self.out
                .extend(g.into_data().convert::<f32>().iter::<f32>());
        }
    }
}

fn values<M: Module>(grads: &GradientsParams, module: &M) -> Vec<f32> {
    let mut v = Values {
        grads,
        out: Vec::new(),
    };
    module.visit(&mut v);
    v.out
}

/// All gradient values of the four parts, in a fixed order.
fn flat(trainer: &Trainer, g: &PartGrads) -> Vec<f32> {
    let m = &trainer.model;
    let mut out = values(&g.encoder, &m.encoder);
    out.extend(values(&g.policy, &m.policy));
    out.extend(values(&g.value, &m.value));
    if let (Some(g), Some(e)) = (&g.value_encoder, &m.value_encoder) {
        out.extend(values(g, e));
    }
    out
}

/// A trainer of `recipe` with `sets`, its first rollout, targets with spread for it (the checks
/// compare gradients, not what an update learns) and a minibatch of every other unit.
fn first_minibatch(recipe: &str, sets: &[&str]) -> (Trainer, Rollout, [Vec<f32>; 2], Minibatch) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(recipe);
    let overrides = Overrides {
        sets: sets.iter().map(|s| s.to_string()).collect(),
        ..Overrides::default()
    };
    let r = load(&path, &overrides).expect("a valid recipe");
    let mut trainer = Trainer::new(&r, 3, &crate::device::cpu_device()).expect("a trainer");
    let roll = trainer.collect(&mut ChaCha8Rng::seed_from_u64(5), &mut Vec::new());
    let n = roll.len();
    let adv: Vec<f32> = (0..n).map(|i| ((i * 37 % 11) as f32 - 5.0) * 0.3).collect();
    let ret: Vec<f32> = (0..n).map(|i| ((i * 13 % 7) as f32 - 3.0) * 0.5).collect();
    let segment = trainer.segment_len();
    let units: Vec<usize> = (0..n / segment).rev().step_by(2).collect();
    let batch = Minibatch::new(&roll, &units, segment);
    (trainer, roll, [adv, ret], batch)
}

/// The first minibatch of `recipe` with `sets`, with 1 and with 2 shards.
fn both_ways(recipe: &str, sets: &[&str]) -> (Trainer, MinibatchGrads, MinibatchGrads) {
    let (trainer, roll, [adv, ret], batch) = first_minibatch(recipe, sets);
    let grads = |shards| {
        trainer
            .minibatch_gradients(&roll, (&adv, &ret), &batch, shards)
            .unwrap()
    };
    let (one, two) = (grads(1), grads(2));
    (trainer, one, two)
}

fn assert_agree(recipe: &str, sets: &[&str]) {
    let (trainer, one, two) = both_ways(recipe, sets);
    let close = |a: f64, b: f64, what: &str| {
        assert!(
            (a - b).abs() <= 1e-5 * a.abs().max(1e-2),
            "{recipe} {sets:?}: {what} {a} with one shard, {b} with two"
        );
    };
    close(one.policy_loss, two.policy_loss, "policy loss");
    close(one.value_loss, two.value_loss, "value loss");
    close(one.approx_kl, two.approx_kl, "approximate KL");
    assert_eq!(one.entropy, two.entropy, "{recipe}: entropy");
    assert_eq!(
        one.clip_fraction, two.clip_fraction,
        "{recipe}: clip fraction"
    );
    let (a, b) = (flat(&trainer, &one.grads), flat(&trainer, &two.grads));
    assert_eq!(a.len(), b.len(), "{recipe}: gradient count");
    assert!(a.iter().any(|&g| g != 0.0), "{recipe}: all gradients zero");
    let scale = a.iter().fold(0.0f32, |m, g| m.max(g.abs()));
    let worst = a
        .iter()
        .zip(&b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0f32, f32::max);
    assert!(
        worst <= 1e-5 * scale,
        "{recipe} {sets:?}: gradients differ by up to {worst} (largest gradient {scale})"
    );
}

#[test]
fn two_shards_agree_with_one_graph() {
    let small = [
        "env.num_envs=4",
        "ppo.rollout_steps=64",
        "ppo.minibatch_size=32",
    ];
    assert_agree("recipes/walk_flat.toml", &small);
    // Asymmetric critic with reward normalisation, and a Transformer.
    assert_agree("recipes/transformer_thin_fast.toml", &small);
    // With memory: shards of whole segments, each from its stored state.
    let mut memory = small.to_vec();
    memory.extend(["memory.enabled=true", "memory.segment_steps=4"]);
    assert_agree("recipes/walk_flat.toml", &memory);
}

#[test]
fn shards_give_the_same_bits_on_any_number_of_threads() {
    let sets = [
        "env.num_envs=4",
        "ppo.rollout_steps=64",
        "ppo.minibatch_size=32",
    ];
    let (trainer, roll, [adv, ret], batch) = first_minibatch("recipes/walk_flat.toml", &sets);
    let on = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .expect("a pool");
        let g = pool.install(|| {
            trainer
                .minibatch_gradients(&roll, (&adv, &ret), &batch, 2)
                .unwrap()
        });
        (g.policy_loss, g.value_loss, flat(&trainer, &g.grads))
    };
    let one = on(1);
    for threads in [2, 3] {
        let other = on(threads);
        assert_eq!(one.0.to_bits(), other.0.to_bits(), "{threads} threads");
        assert_eq!(one.1.to_bits(), other.1.to_bits(), "{threads} threads");
        assert!(
            one.2
                .iter()
                .zip(&other.2)
                .all(|(a, b)| a.to_bits() == b.to_bits()),
            "gradients differ between 1 and {threads} threads"
        );
    }
}
