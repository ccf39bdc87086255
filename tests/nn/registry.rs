//! Registry behaviour: Mamba d_model mismatch names the key path; swapping `sequence.model` swaps
//! only the fusion modules.

use burn::module::{ModuleVisitor, Param};
use burn::prelude::*;
use locomamba::device::cpu_device;
use locomamba::nn::{Fusion, NnError, ObsShape, build_actor_critic};
use locomamba::recipe::{MambaLayer, Recipe, SequenceConfig};

fn shape() -> ObsShape {
    ObsShape {
        proprio_dim: 12,
        depth_frames: 4,
        depth_height: 64,
        depth_width: 64,
        action_dim: 4,
        privileged_dim: 19,
    }
}

#[test]
fn mamba_d_model_mismatch_names_key_path() {
    let mut r = Recipe::default();
    r.encoder.visual_dim = 32;
    let good = MambaLayer {
        d_model: Some(32),
        ..Default::default()
    };
    let bad = MambaLayer {
        d_model: Some(48),
        ..Default::default()
    };
    r.sequence = SequenceConfig::Mamba {
        layers: vec![good, bad],
        bidirectional: false,
    };
    let err = build_actor_critic(&r, &shape(), &cpu_device()).unwrap_err();
    assert_eq!(
        err,
        NnError::DModelMismatch {
            key: "sequence.layers[1][0]".into(),
            d_model: 48,
            visual_dim: 32
        }
    );
    assert!(
        err.to_string().starts_with("sequence.layers[1][0]: "),
        "{err}"
    );
}

#[test]
fn transformer_heads_must_divide_width() {
    let mut r = Recipe::default();
    r.encoder.visual_dim = 30;
    r.sequence = SequenceConfig::Transformer {
        layers: vec![locomamba::recipe::TransformerLayer {
            n_heads: 4,
            dim_feedforward: 8,
        }],
    };
    let err = build_actor_critic(&r, &shape(), &cpu_device()).unwrap_err();
    assert!(
        err.to_string().starts_with("sequence.layers[0][0]: "),
        "{err}"
    );
}

#[derive(Default)]
struct Shapes(Vec<Vec<usize>>);

impl ModuleVisitor for Shapes {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        self.0.push(param.dims().to_vec());
    }
}

fn shapes<M: Module>(m: &M) -> Vec<Vec<usize>> {
    let mut v = Shapes::default();
    m.visit(&mut v);
    v.0
}

#[test]
fn swapping_sequence_model_changes_only_fusion() {
    let device = cpu_device();
    let mut r = Recipe::default();
    r.encoder.visual_dim = 32;
    let tf = build_actor_critic(&r, &shape(), &device).unwrap();
    r.sequence = SequenceConfig::Mamba {
        layers: vec![Default::default(); 2],
        bidirectional: true,
    };
    let mamba = build_actor_critic(&r, &shape(), &device).unwrap();
    assert_eq!(shapes(&tf.encoder), shapes(&mamba.encoder));
    assert_eq!(shapes(&tf.policy.head), shapes(&mamba.policy.head));
    assert_eq!(shapes(&tf.value.head), shapes(&mamba.value.head));
    assert_eq!(shapes(&tf.policy.mean), shapes(&mamba.policy.mean));
    assert!(matches!(tf.policy.fusion, Fusion::Transformer(_)));
    assert!(matches!(mamba.policy.fusion, Fusion::Mamba(_)));
    assert!(matches!(mamba.value.fusion, Fusion::Mamba(_)));
    assert_ne!(shapes(&tf.policy.fusion), shapes(&mamba.policy.fusion));
}

#[test]
fn baselines_build_and_count_parameters() {
    let mut concat = Recipe::default();
    concat.encoder.visual_dim = 16;
    concat.sequence = SequenceConfig::Concat {};
    let model = build_actor_critic(&concat, &shape(), &cpu_device()).unwrap();
    assert!(matches!(model.policy.fusion, Fusion::Concat(_)));
    let depth = Tensor::<4>::zeros([2, 4, 64, 64], &cpu_device());
    let (mean, value) = model.forward(Tensor::zeros([2, 12], &cpu_device()), depth, None);
    assert_eq!(mean.dims(), [2, 4]);
    assert_eq!(value.dims(), [2]);

    let mut state = Recipe::default();
    state.encoder.visual_dim = 16;
    state.sequence = SequenceConfig::StateOnly {};
    let no_depth = ObsShape {
        depth_frames: 0,
        ..shape()
    };
    let model = build_actor_critic(&state, &no_depth, &cpu_device()).unwrap();
    assert!(model.encoder.convs.is_empty() && model.encoder.projection.is_none());
    let empty = Tensor::<4>::zeros([3, 0, 64, 64], &cpu_device());
    let (mean, value) = model.forward(Tensor::zeros([3, 12], &cpu_device()), empty, None);
    assert_eq!(mean.dims(), [3, 4]);
    assert_eq!(value.dims(), [3]);
}

fn values(t: Tensor<1>) -> Vec<f32> {
    t.into_data().convert::<f32>().try_to_vec::<f32>().unwrap()
}

#[test]
fn an_asymmetric_critic_reads_privileged_state_and_the_policy_does_not() {
    let mut r = Recipe::default();
    r.encoder.visual_dim = 16;
    r.ppo.asymmetric_critic = true;
    let dev = cpu_device();
    let model = build_actor_critic(&r, &shape(), &dev).unwrap();
    assert!(model.asymmetric());
    let mut symmetric = r.clone();
    symmetric.ppo.asymmetric_critic = false;
    let plain = build_actor_critic(&symmetric, &shape(), &dev).unwrap();
    assert!(!plain.asymmetric());
    // Only the value head's first layer widens, by the privileged floats.
    let first_in = |m: &locomamba::nn::ActorCritic| m.value.head.layers[0].weight.dims()[0];
    assert_eq!(first_in(&model), first_in(&plain) + 19);
    assert_eq!(
        model.policy.head.layers[0].weight.dims(),
        plain.policy.head.layers[0].weight.dims()
    );

    let proprio = Tensor::<2>::random([2, 12], burn::tensor::Distribution::Default, &dev);
    let depth = Tensor::<4>::random([2, 4, 64, 64], burn::tensor::Distribution::Default, &dev);
    let low = Tensor::<2>::zeros([2, 19], &dev);
    let high = Tensor::<2>::ones([2, 19], &dev) * 3.0;
    let (mean_a, value_a) = model.forward(proprio.clone(), depth.clone(), Some(low));
    let (mean_b, value_b) = model.forward(proprio.clone(), depth.clone(), Some(high));
    assert_eq!(
        values(mean_a.clone().flatten(0, 1)),
        values(mean_b.flatten(0, 1))
    );
    assert_ne!(values(value_a), values(value_b));
    let acted = model.act(proprio, depth);
    assert_eq!(values(acted.flatten(0, 1)), values(mean_a.flatten(0, 1)));
}

/// The trot's modulation outputs (the last ones) start with their own exploration std when
/// `env.trot.modulation_std` is set; the joint outputs keep `ppo.init_log_std`.
#[test]
fn modulation_outputs_start_with_their_own_exploration_std() {
    use locomamba::recipe::ActionMode;
    let mut r = Recipe::default();
    r.env.action_mode = ActionMode::TrotResidual;
    r.env.trot.frequency_range = 0.5;
    r.env.trot.amplitude_range = 0.5;
    r.env.trot.modulation_std = 0.3;
    r.ppo.init_log_std = -3.0;
    let shape = ObsShape {
        action_dim: 8,
        ..shape()
    };
    let model = build_actor_critic(&r, &shape, &cpu_device()).unwrap();
    let log_std = model
        .policy
        .log_std
        .val()
        .into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .unwrap();
    assert_eq!(&log_std[..6], &[-3.0; 6]);
    for v in &log_std[6..] {
        assert!((v - 0.3f32.ln()).abs() < 1e-6, "{log_std:?}");
    }
    r.env.trot.modulation_std = 0.0;
    let model = build_actor_critic(&r, &shape, &cpu_device()).unwrap();
    let all = model.policy.log_std.val().into_data().convert::<f32>();
    assert!(all.iter::<f32>().all(|v| v == -3.0));
}
