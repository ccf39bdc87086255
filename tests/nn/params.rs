//! Parameter counts equal the analytic count for a small configuration.

use burn::prelude::*;
use locomamba::device::cpu_device;
use locomamba::nn::{ObsShape, build_actor_critic};
use locomamba::recipe::{MambaLayer, Recipe, SequenceConfig, TransformerLayer};
use locomamba::run::describe::describe;

const P: usize = 10;
const F: usize = 2;
const A: usize = 3;
const V: usize = 8;

fn small(sequence: SequenceConfig) -> Recipe {
    let mut r = Recipe::default();
    r.encoder.hidden_shapes = vec![6];
    r.encoder.visual_dim = V;
    r.head.hidden_shapes = vec![5];
    r.sequence = sequence;
    r
}

fn shape() -> ObsShape {
    ObsShape {
        proprio_dim: P,
        depth_frames: F,
        depth_height: 36,
        depth_width: 36,
        action_dim: A,
        privileged_dim: 19,
    }
}

fn encoder_count() -> usize {
    let state = P * 6 + 6 + 6 * V + V;
    let cnn = (F * 32 * 64 + 32) + (32 * 64 * 16 + 64) + (64 * 64 * 9 + 64);
    let proj = 64 * V + V;
    state + cnn + proj
}

fn heads_count() -> usize {
    let pooled = 2 * V;
    let policy = (pooled * 5 + 5) + (5 * A + A) + A;
    let value = (pooled * 5 + 5) + (5 + 1);
    policy + value
}

#[test]
fn transformer_count_is_analytic() {
    let layer = TransformerLayer {
        n_heads: 2,
        dim_feedforward: 7,
    };
    let r = small(SequenceConfig::Transformer {
        layers: vec![layer],
    });
    let model = build_actor_critic(&r, &shape(), &cpu_device()).unwrap();
    // q, k, v, out projections with bias; FF d->7->d; two LayerNorms (gamma, beta).
    let fusion = 4 * (V * V + V) + (V * 7 + 7) + (7 * V + V) + 2 * 2 * V;
    assert_eq!(model.encoder.num_params(), encoder_count());
    assert_eq!(model.policy.fusion.num_params(), fusion);
    assert_eq!(
        model.num_params(),
        encoder_count() + 2 * fusion + heads_count()
    );
}

#[test]
fn mamba_count_is_analytic_and_describe_reports_it() {
    let layer = MambaLayer {
        d_model: None,
        d_state: 4,
        d_conv: 2,
        expand: 2,
    };
    let r = small(SequenceConfig::Mamba {
        layers: vec![layer; 2],
        bidirectional: false,
    });
    let model = build_actor_critic(&r, &shape(), &cpu_device()).unwrap();
    let (di, n, k, rank) = (2 * V, 4, 2, 1);
    let block = 2 * V // norm
        + V * 2 * di // in_proj
        + di * k + di // conv
        + di * (rank + 2 * n) // x_proj
        + rank * di + di // dt_proj + dt bias
        + di * n + di // A_log, D
        + di * V; // out_proj
    assert_eq!(model.policy.fusion.num_params(), 2 * block);
    let total = encoder_count() + 4 * block + heads_count();
    assert_eq!(model.num_params(), total);
    let text = describe(&model);
    assert!(
        text.starts_with(&format!("ActorCritic: {total} parameters")),
        "{text}"
    );
    assert!(
        text.contains(&format!("fusion mamba x2: {}", 2 * block)),
        "{text}"
    );
}

#[test]
fn unshared_encoder_doubles_the_trunk() {
    let mut r = small(SequenceConfig::default());
    r.encoder.shared = false;
    let model = build_actor_critic(&r, &shape(), &cpu_device()).unwrap();
    let value_enc = model.value_encoder.as_ref().expect("value encoder");
    assert_eq!(value_enc.num_params(), encoder_count());
}
