//! The model registry: builds every network module from a recipe. Sequence models are looked up
//! by name in [`SEQUENCE_MODELS`], so a new one registers in one place without touching the
//! runner.

use burn::module::Param;
use burn::prelude::*;

use super::encoder::{Encoder, ObsShape, token_count};
use super::error::NnError;
use super::fusion::{ConcatFusion, Fusion, MambaFusion, TransformerFusion};
use super::mamba::MambaBlockConfig;
use super::policy::{ActorCritic, Head, PolicyBranch, ValueBranch, output_layer};
use super::transformer::TransformerLayerConfig;
use crate::recipe::{EncoderKind, Recipe, SequenceConfig, SequenceModel};

fn invalid(key: impl Into<String>, message: impl Into<String>) -> NnError {
    NnError::Invalid {
        key: key.into(),
        message: message.into(),
    }
}

/// The policy's initial log-std `[action_dim]`: `ppo.init_log_std`, and for the trot's
/// modulation outputs (the last ones) `ln(env.trot.modulation_std)` when that is set.
fn initial_log_std(recipe: &Recipe, action_dim: usize, device: &Device) -> Tensor<1> {
    let modulation = recipe.env.modulation_outputs().min(action_dim);
    let std = recipe.env.trot.modulation_std;
    let values: Vec<f32> = (0..action_dim)
        .map(|i| {
            if i >= action_dim - modulation && std > 0.0 {
                std.ln()
            } else {
                recipe.ppo.init_log_std
            }
        })
        .collect();
    Tensor::from_data(TensorData::new(values, [action_dim]), device)
}

/// Builds a fusion stack from a `[sequence]` section for `tokens` tokens of width `width`.
pub type FusionBuilder = fn(&SequenceConfig, usize, usize, &Device) -> Result<Fusion, NnError>;

/// The sequence models a recipe can name in `sequence.model`, each with its builder. A new model
/// adds its recipe variant (`recipe::SequenceConfig`) and one entry here; nothing else changes.
pub const SEQUENCE_MODELS: &[(SequenceModel, FusionBuilder)] = &[
    (SequenceModel::Transformer, build_transformer),
    (SequenceModel::Mamba, build_mamba),
    (SequenceModel::Concat, build_concat),
    (SequenceModel::StateOnly, build_concat),
];

/// Builds the fusion stack named by `sequence.model` for `tokens` tokens of width `width`.
pub fn build_fusion(
    seq: &SequenceConfig,
    width: usize,
    tokens: usize,
    device: &Device,
) -> Result<Fusion, NnError> {
    let model = seq.model();
    let (_, build) = SEQUENCE_MODELS
        .iter()
        .find(|(m, _)| *m == model)
        .unwrap_or_else(|| panic!("sequence model {} has no builder", model.name()));
    build(seq, width, tokens, device)
}

/// The baselines: no fusion layers, the tokens concatenated (State-Depth-Concat), or only the
/// state token (State-Only, built for observations without depth).
fn build_concat(
    _seq: &SequenceConfig,
    _width: usize,
    tokens: usize,
    _device: &Device,
) -> Result<Fusion, NnError> {
    Ok(Fusion::Concat(ConcatFusion { tokens }))
}

fn build_transformer(
    seq: &SequenceConfig,
    width: usize,
    _tokens: usize,
    device: &Device,
) -> Result<Fusion, NnError> {
    let SequenceConfig::Transformer { layers } = seq else {
        unreachable!("the registry passes transformer sections only")
    };
    let mut built = Vec::new();
    for (i, l) in layers.iter().enumerate() {
        if l.n_heads == 0 || !width.is_multiple_of(l.n_heads) {
            return Err(invalid(
                format!("sequence.layers[{i}][0]"),
                format!(
                    "n_heads {} must divide encoder.visual_dim {width}",
                    l.n_heads
                ),
            ));
        }
        if l.dim_feedforward == 0 {
            return Err(invalid(format!("sequence.layers[{i}][1]"), "must be > 0"));
        }
        built.push(TransformerLayerConfig::new(width, l.n_heads, l.dim_feedforward).init(device));
    }
    Ok(Fusion::Transformer(TransformerFusion { layers: built }))
}

fn build_mamba(
    seq: &SequenceConfig,
    width: usize,
    _tokens: usize,
    device: &Device,
) -> Result<Fusion, NnError> {
    let SequenceConfig::Mamba {
        layers,
        bidirectional,
    } = seq
    else {
        unreachable!("the registry passes mamba sections only")
    };
    let mut built = Vec::new();
    for (i, l) in layers.iter().enumerate() {
        let d_model = l.d_model.unwrap_or(width);
        if d_model != width {
            return Err(NnError::DModelMismatch {
                key: format!("sequence.layers[{i}][0]"),
                d_model,
                visual_dim: width,
            });
        }
        for (j, (v, name)) in [
            (l.d_state, "d_state"),
            (l.d_conv, "d_conv"),
            (l.expand, "expand"),
        ]
        .into_iter()
        .enumerate()
        {
            if v == 0 {
                return Err(invalid(
                    format!("sequence.layers[{i}][{}]", j + 1),
                    format!("{name} must be > 0"),
                ));
            }
        }
        built.push(
            MambaBlockConfig::new(d_model)
                .with_d_state(l.d_state)
                .with_d_conv(l.d_conv)
                .with_expand(l.expand)
                .init(device),
        );
    }
    Ok(Fusion::Mamba(MambaFusion {
        layers: built,
        bidirectional: *bidirectional,
    }))
}

/// Builds the actor-critic described by `recipe` for observations of `shape` on `device`.
pub fn build_actor_critic(
    recipe: &Recipe,
    shape: &ObsShape,
    device: &Device,
) -> Result<ActorCritic, NnError> {
    let enc = &recipe.encoder;
    if enc.visual_dim == 0 {
        return Err(invalid("encoder.visual_dim", "must be > 0"));
    }
    let state_only = recipe.sequence.model() == SequenceModel::StateOnly;
    if state_only && enc.kind == EncoderKind::VisionOnly {
        return Err(invalid(
            "encoder.kind",
            "sequence.model = \"state_only\" needs the state MLP (encoder.kind = \"loco\")",
        ));
    }
    let Some(tokens) = token_count(enc.kind, shape) else {
        return Err(invalid(
            "env.depth",
            format!(
                "depth image {}x{} is smaller than the CNN's receptive field (36x36)",
                shape.depth_height, shape.depth_width
            ),
        ));
    };
    let width = enc.visual_dim;
    let has_state = enc.kind == EncoderKind::Loco;
    let fusion = || build_fusion(&recipe.sequence, width, tokens, device);
    let policy_fusion = fusion()?;
    let pooled = policy_fusion.pooled_width(width, has_state);
    let encoder = Encoder::new(enc, shape, device);
    let value_encoder = (!enc.shared).then(|| Encoder::new(enc, shape, device));
    let (policy_head, out) = Head::new(pooled, &recipe.head.hidden_shapes, device);
    let policy = PolicyBranch {
        fusion: policy_fusion,
        head: policy_head,
        mean: output_layer(out, shape.action_dim, 0.01, device),
        log_std: Param::from_tensor(initial_log_std(recipe, shape.action_dim, device)),
    };
    let privileged_dim = if recipe.ppo.asymmetric_critic {
        shape.privileged_dim
    } else {
        0
    };
    let (value_head, out) = Head::new(pooled + privileged_dim, &recipe.head.hidden_shapes, device);
    let value = ValueBranch {
        fusion: fusion()?,
        privileged_dim,
        head: value_head,
        value: output_layer(out, 1, 1.0, device),
    };
    Ok(ActorCritic {
        encoder,
        value_encoder,
        policy,
        value,
    })
}
