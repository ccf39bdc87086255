//! Output shapes of the four variants (LocoTransformer, LocoMamba, Transformer and
//! MambaTransformer vision-only) at batch 1 and 64 on the CPU device.

use burn::prelude::*;
use burn::tensor::Distribution;
use locomamba::device::cpu_device;
use locomamba::nn::{ObsShape, build_actor_critic};
use locomamba::recipe::{EncoderKind, Recipe, SequenceConfig};

use crate::SHAPE;

fn variants() -> Vec<(&'static str, Recipe)> {
    let mut out = Vec::new();
    for (kind, kname) in [
        (EncoderKind::Loco, "loco"),
        (EncoderKind::VisionOnly, "vision"),
    ] {
        for mamba in [false, true] {
            let mut r = Recipe::default();
            r.encoder.kind = kind;
            r.encoder.visual_dim = 64;
            if mamba {
                r.sequence = SequenceConfig::Mamba {
                    layers: vec![Default::default(); 2],
                    bidirectional: false,
                };
            }
            let name = match (kname, mamba) {
                ("loco", false) => "loco_transformer",
                ("loco", true) => "loco_mamba",
                (_, false) => "transformer",
                (_, true) => "mamba_transformer",
            };
            out.push((name, r));
        }
    }
    out
}

#[test]
fn all_variants_give_mean_and_value_shapes() {
    let device = cpu_device();
    for (name, recipe) in variants() {
        let model = build_actor_critic(&recipe, &SHAPE, &device).expect(name);
        for batch in [1, 64] {
            let p = Tensor::<2>::random([batch, 84], Distribution::Default, &device);
            let d = Tensor::<4>::random([batch, 4, 64, 64], Distribution::Default, &device);
            let (mean, value) = model.forward(p, d, None);
            assert_eq!(mean.dims(), [batch, 12], "{name} mean");
            assert_eq!(value.dims(), [batch], "{name} value");
            let m: Vec<f32> = mean.into_data().try_to_vec_as::<f32>().unwrap();
            assert!(m.iter().all(|v| v.is_finite()), "{name} finite");
        }
        assert_eq!(model.log_std().dims(), [12]);
    }
}

#[test]
fn token_count_follows_image_size() {
    let device = cpu_device();
    let mut r = Recipe::default();
    r.encoder.visual_dim = 16;
    let shape = ObsShape {
        depth_height: 96,
        depth_width: 64,
        ..SHAPE
    };
    let model = build_actor_critic(&r, &shape, &device).unwrap();
    let tokens = model.encoder.forward(
        Tensor::zeros([2, 84], &device),
        Tensor::zeros([2, 4, 96, 64], &device),
    );
    // 96 -> 23 -> 10 -> 8 rows, 64 -> 4 cols: 32 visual tokens + 1 state token.
    assert_eq!(tokens.dims(), [2, 33, 16]);
}

#[test]
fn too_small_depth_image_is_rejected() {
    let shape = ObsShape {
        depth_height: 20,
        ..SHAPE
    };
    let err = build_actor_critic(&Recipe::default(), &shape, &cpu_device()).unwrap_err();
    assert!(err.to_string().starts_with("env.depth"), "{err}");
}
