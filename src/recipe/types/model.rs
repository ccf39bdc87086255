//! `[encoder]`, `[sequence]` and `[head]`: the networks.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::recipe::layers::{MambaLayer, RawLayer, TransformerLayer};

/// Which observations the encoder turns into tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum EncoderKind {
    /// Proprioception (one state token) plus depth (visual tokens): LocoTransformer / LocoMamba.
    Loco,
    /// Depth only (visual tokens, no state token).
    VisionOnly,
}

/// `[encoder]`: proprioception MLP and depth CNN that produce the tokens.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct EncoderConfig {
    /// Which modalities are encoded.
    pub kind: EncoderKind,
    /// Hidden sizes of the proprioception MLP (legacy `encoder.hidden_shapes`).
    pub hidden_shapes: Vec<usize>,
    /// Token width shared by all tokens. Note: the Python original ignored this and used 64.
    pub visual_dim: usize,
    /// Add a learned positional embedding per token (off in the original).
    pub positional_embedding: bool,
    /// Policy and value share the encoder (CNN, state MLP, token projections), as in the original.
    pub shared: bool,
}

impl Default for EncoderConfig {
    fn default() -> Self {
        Self {
            kind: EncoderKind::Loco,
            hidden_shapes: vec![256, 256],
            visual_dim: 256,
            positional_embedding: false,
            shared: true,
        }
    }
}

/// Names of the fusion models, as written in `sequence.model`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SequenceModel {
    /// Transformer encoder layers (LocoTransformer).
    Transformer,
    /// Mamba selective state-space layers (LocoMamba).
    Mamba,
    /// No fusion: the state token and the flattened visual tokens concatenated (the
    /// LocoTransformer paper's State-Depth-Concat baseline).
    Concat,
    /// Proprioception only: no depth is rendered, the state MLP's output goes to the head (the
    /// paper's State-Only baseline).
    StateOnly,
}

impl SequenceModel {
    /// Every model, in declaration order.
    pub const ALL: [SequenceModel; 4] = [
        SequenceModel::Transformer,
        SequenceModel::Mamba,
        SequenceModel::Concat,
        SequenceModel::StateOnly,
    ];

    /// The recipe spelling.
    pub fn name(self) -> &'static str {
        match self {
            SequenceModel::Transformer => "transformer",
            SequenceModel::Mamba => "mamba",
            SequenceModel::Concat => "concat",
            SequenceModel::StateOnly => "state_only",
        }
    }

    /// Whether the model has fusion layers (`sequence.layers`).
    pub fn has_layers(self) -> bool {
        matches!(self, SequenceModel::Transformer | SequenceModel::Mamba)
    }
}

/// `[sequence]`: the fusion network over the tokens, tagged by `model`.
///
/// Layers are written positionally (`[n_heads, dim_feedforward]`, `[d_model, d_state, d_conv, expand]`)
/// or by name. Omitting `layers` gives the model's default two-layer stack.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(tag = "model", rename_all = "snake_case", deny_unknown_fields)]
#[schemars(transform = describe_model_tag)]
pub enum SequenceConfig {
    /// Post-LayerNorm Transformer encoder layers with ReLU feed-forward, as PyTorch's default.
    Transformer {
        /// One entry per layer: `[n_heads, dim_feedforward]`.
        #[serde(default = "default_transformer_layers")]
        layers: Vec<TransformerLayer>,
    },
    /// Mamba-1 blocks with a selective scan; state token first, then visual tokens in raster order.
    Mamba {
        /// One entry per layer: `[d_model, d_state, d_conv, expand]`; `d_model` must equal `encoder.visual_dim`.
        #[serde(default = "default_mamba_layers")]
        layers: Vec<MambaLayer>,
        /// Scan forward and reversed and sum the two (off in the original).
        #[serde(default)]
        bidirectional: bool,
    },
    /// No fusion layers: the head sees the state token and every visual token, concatenated.
    Concat {},
    /// No depth at all: the head sees the state MLP's output; the env renders no depth images.
    StateOnly {},
}

/// Documents the `model` tag in every variant of the `[sequence]` schema.
fn describe_model_tag(schema: &mut schemars::Schema) {
    let Some(variants) = schema.get_mut("oneOf").and_then(|v| v.as_array_mut()) else {
        return;
    };
    for variant in variants {
        if let Some(tag) = variant.pointer_mut("/properties/model") {
            tag["description"] = serde_json::json!(
                "Fusion model: \"transformer\" (the default) or \"mamba\", which pick the layer format, or the baselines \"concat\" and \"state_only\" (no layers)."
            );
        }
    }
}

impl Default for SequenceConfig {
    fn default() -> Self {
        SequenceConfig::Transformer {
            layers: default_transformer_layers(),
        }
    }
}

impl SequenceConfig {
    /// Which model this is.
    pub fn model(&self) -> SequenceModel {
        match self {
            SequenceConfig::Transformer { .. } => SequenceModel::Transformer,
            SequenceConfig::Mamba { .. } => SequenceModel::Mamba,
            SequenceConfig::Concat {} => SequenceModel::Concat,
            SequenceConfig::StateOnly {} => SequenceModel::StateOnly,
        }
    }

    /// Number of fusion layers.
    pub fn depth(&self) -> usize {
        match self {
            SequenceConfig::Transformer { layers } => layers.len(),
            SequenceConfig::Mamba { layers, .. } => layers.len(),
            SequenceConfig::Concat {} | SequenceConfig::StateOnly {} => 0,
        }
    }
}

/// `[sequence]` as written, before the model tag picks the layer type. Deserialising through this
/// untagged form keeps exact key paths in errors (serde's tagged enums buffer and lose them).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSequence {
    model: SequenceModel,
    #[serde(default)]
    layers: Option<Vec<RawLayer>>,
    #[serde(default)]
    bidirectional: Option<bool>,
}

/// Converts raw layers, prefixing an error with its relative path (`@layers[1]: ...`); the loader
/// joins that onto the section's key path.
fn convert_layers<'a, L: TryFrom<&'a RawLayer, Error = String>>(
    raw: &'a Option<Vec<RawLayer>>,
    default: fn() -> Vec<L>,
) -> Result<Vec<L>, String> {
    match raw {
        None => Ok(default()),
        Some(list) => list
            .iter()
            .enumerate()
            .map(|(i, l)| L::try_from(l).map_err(|m| format!("@layers[{i}]: {m}")))
            .collect(),
    }
}

impl<'de> Deserialize<'de> for SequenceConfig {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let raw = RawSequence::deserialize(d)?;
        match raw.model {
            SequenceModel::Transformer => {
                if raw.bidirectional.is_some() {
                    return Err(D::Error::custom(
                        "@bidirectional: found a setting for the transformer, expected it only with model = \"mamba\"",
                    ));
                }
                let layers = convert_layers(&raw.layers, default_transformer_layers)
                    .map_err(D::Error::custom)?;
                Ok(SequenceConfig::Transformer { layers })
            }
            SequenceModel::Mamba => {
                let layers =
                    convert_layers(&raw.layers, default_mamba_layers).map_err(D::Error::custom)?;
                Ok(SequenceConfig::Mamba {
                    layers,
                    bidirectional: raw.bidirectional.unwrap_or(false),
                })
            }
            model @ (SequenceModel::Concat | SequenceModel::StateOnly) => {
                let name = model.name();
                if raw.layers.is_some() {
                    return Err(D::Error::custom(format!(
                        "@layers: found layers for model = \"{name}\", expected none (it has no fusion layers)"
                    )));
                }
                if raw.bidirectional.is_some() {
                    return Err(D::Error::custom(format!(
                        "@bidirectional: found a setting for model = \"{name}\", expected it only with model = \"mamba\""
                    )));
                }
                Ok(if model == SequenceModel::Concat {
                    SequenceConfig::Concat {}
                } else {
                    SequenceConfig::StateOnly {}
                })
            }
        }
    }
}

fn default_transformer_layers() -> Vec<TransformerLayer> {
    vec![TransformerLayer::default(); 2]
}

fn default_mamba_layers() -> Vec<MambaLayer> {
    vec![MambaLayer::default(); 2]
}

/// `[head]`: MLP after pooling the fused tokens.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct HeadConfig {
    /// Hidden sizes (legacy `append_hidden_shapes`), ReLU between.
    pub hidden_shapes: Vec<usize>,
}

impl Default for HeadConfig {
    fn default() -> Self {
        Self {
            hidden_shapes: vec![256, 256],
        }
    }
}
