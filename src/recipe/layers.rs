//! Fusion-layer specs, written positionally (`[n_heads, dim_feedforward]`) or by name
//! (`{ n_heads = 1, dim_feedforward = 256 }`).
//!
//! Deserialisation is hand-written so that an error inside a layer keeps its exact key path
//! (`sequence.layers[1][0]`) and says how many values were expected.

use std::borrow::Cow;
use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde::ser::SerializeSeq;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// One Transformer encoder layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransformerLayer {
    /// Attention heads; `encoder.visual_dim` must be divisible by it.
    pub n_heads: usize,
    /// Width of the feed-forward block.
    pub dim_feedforward: usize,
}

impl Default for TransformerLayer {
    fn default() -> Self {
        Self {
            n_heads: 1,
            dim_feedforward: 256,
        }
    }
}

/// One Mamba-1 block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MambaLayer {
    /// Model width; must equal `encoder.visual_dim`. `None` (named form without `d_model`) means
    /// "the token width", filled in when the recipe is resolved.
    pub d_model: Option<usize>,
    /// SSM state size per channel.
    pub d_state: usize,
    /// Width of the depthwise causal convolution.
    pub d_conv: usize,
    /// Inner width multiplier: `d_inner = expand * d_model`.
    pub expand: usize,
}

impl Default for MambaLayer {
    fn default() -> Self {
        Self {
            d_model: None,
            d_state: 16,
            d_conv: 4,
            expand: 2,
        }
    }
}

impl MambaLayer {
    /// The model width, after resolution.
    pub fn d_model(&self) -> usize {
        self.d_model
            .expect("recipe resolution fills in mamba d_model")
    }
}

/// A layer as written, before the model is known: a list of integers or a table of named integers.
/// Parsing it keeps exact paths for element errors (`sequence.layers[1][0]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RawLayer {
    /// `[a, b, ...]`.
    Positional(Vec<usize>),
    /// `{ name = value, ... }`, in written order.
    Named(Vec<(String, usize)>),
}

struct RawLayerVisitor;

impl<'de> Visitor<'de> for RawLayerVisitor {
    type Value = RawLayer;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a layer: a list of integers or a table of named integers")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut values = Vec::new();
        while let Some(v) = seq.next_element::<usize>()? {
            values.push(v);
        }
        Ok(RawLayer::Positional(values))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut values = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            let value = map.next_value::<usize>()?;
            values.push((key, value));
        }
        Ok(RawLayer::Named(values))
    }
}

impl<'de> Deserialize<'de> for RawLayer {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(RawLayerVisitor)
    }
}

impl RawLayer {
    /// The values in key order, `defaults` where a named table omits one; the error says what
    /// was expected.
    fn values(
        &self,
        keys: &[LayerKey],
        defaults: &[Option<usize>],
    ) -> Result<Vec<Option<usize>>, String> {
        let names: Vec<&str> = keys.iter().map(|(name, _)| *name).collect();
        match self {
            RawLayer::Positional(values) if values.len() == names.len() => {
                Ok(values.iter().map(|v| Some(*v)).collect())
            }
            RawLayer::Positional(values) => Err(format!(
                "expected {} integers [{}], found {}",
                names.len(),
                names.join(", "),
                values.len()
            )),
            RawLayer::Named(pairs) => {
                let mut out = defaults.to_vec();
                for (key, value) in pairs {
                    let Some(i) = names.iter().position(|n| n == key) else {
                        return Err(format!(
                            "unknown layer key `{key}`, expected one of {}",
                            names.join(", ")
                        ));
                    };
                    out[i] = Some(*value);
                }
                Ok(out)
            }
        }
    }
}

impl TryFrom<&RawLayer> for TransformerLayer {
    type Error = String;

    fn try_from(raw: &RawLayer) -> Result<Self, String> {
        let def = TransformerLayer::default();
        let v = raw.values(TRANSFORMER_KEYS, &transformer_defaults())?;
        Ok(TransformerLayer {
            n_heads: v[0].unwrap_or(def.n_heads),
            dim_feedforward: v[1].unwrap_or(def.dim_feedforward),
        })
    }
}

impl TryFrom<&RawLayer> for MambaLayer {
    type Error = String;

    fn try_from(raw: &RawLayer) -> Result<Self, String> {
        let def = MambaLayer::default();
        let v = raw.values(MAMBA_KEYS, &mamba_defaults())?;
        Ok(MambaLayer {
            d_model: v[0],
            d_state: v[1].unwrap_or(def.d_state),
            d_conv: v[2].unwrap_or(def.d_conv),
            expand: v[3].unwrap_or(def.expand),
        })
    }
}

impl<'de> Deserialize<'de> for TransformerLayer {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        TransformerLayer::try_from(&RawLayer::deserialize(d)?).map_err(de::Error::custom)
    }
}

impl<'de> Deserialize<'de> for MambaLayer {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        MambaLayer::try_from(&RawLayer::deserialize(d)?).map_err(de::Error::custom)
    }
}

fn serialize_list<S: Serializer>(s: S, values: &[usize]) -> Result<S::Ok, S::Error> {
    let mut seq = s.serialize_seq(Some(values.len()))?;
    for v in values {
        seq.serialize_element(v)?;
    }
    seq.end()
}

impl Serialize for TransformerLayer {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        serialize_list(s, &[self.n_heads, self.dim_feedforward])
    }
}

impl Serialize for MambaLayer {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.d_model {
            Some(d_model) => serialize_list(s, &[d_model, self.d_state, self.d_conv, self.expand]),
            None => {
                use serde::ser::SerializeMap;
                let mut map = s.serialize_map(Some(3))?;
                map.serialize_entry("d_state", &self.d_state)?;
                map.serialize_entry("d_conv", &self.d_conv)?;
                map.serialize_entry("expand", &self.expand)?;
                map.end()
            }
        }
    }
}

/// One named key of a layer table: name and description.
type LayerKey = (&'static str, &'static str);

/// The named keys of a Transformer layer table, in positional order.
const TRANSFORMER_KEYS: &[LayerKey] = &[
    (
        "n_heads",
        "Attention heads; must divide encoder.visual_dim.",
    ),
    ("dim_feedforward", "Width of the ReLU feed-forward block."),
];

/// The named keys of a Mamba layer table, in positional order.
const MAMBA_KEYS: &[LayerKey] = &[
    (
        "d_model",
        "Token width; must equal encoder.visual_dim, which it defaults to.",
    ),
    ("d_state", "SSM state size per channel."),
    ("d_conv", "Width of the depthwise causal convolution."),
    ("expand", "d_inner = expand x d_model."),
];

/// Per-key defaults of a Transformer layer table.
fn transformer_defaults() -> [Option<usize>; 2] {
    let d = TransformerLayer::default();
    [Some(d.n_heads), Some(d.dim_feedforward)]
}

/// Per-key defaults of a Mamba layer table (`d_model`: none, it follows encoder.visual_dim).
fn mamba_defaults() -> [Option<usize>; 4] {
    let d = MambaLayer::default();
    [d.d_model, Some(d.d_state), Some(d.d_conv), Some(d.expand)]
}

fn layer_schema(
    keys: &[LayerKey],
    defaults: &[Option<usize>],
    description: &str,
    required: &[&str],
) -> Schema {
    let properties: serde_json::Map<String, serde_json::Value> = keys
        .iter()
        .zip(defaults)
        .map(|((name, doc), default)| {
            let mut prop = serde_json::json!({
                "description": doc,
                "type": "integer",
                "minimum": 1
            });
            if let Some(d) = default {
                prop["default"] = serde_json::json!(d);
            }
            (name.to_string(), prop)
        })
        .collect();
    let count = keys.len();
    json_schema!({
        "description": description,
        "oneOf": [
            {
                "type": "array",
                "items": { "type": "integer", "minimum": 1 },
                "minItems": count,
                "maxItems": count
            },
            {
                "type": "object",
                "properties": properties,
                "required": required,
                "additionalProperties": false
            }
        ]
    })
}

impl JsonSchema for TransformerLayer {
    fn schema_name() -> Cow<'static, str> {
        "TransformerLayer".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        layer_schema(
            TRANSFORMER_KEYS,
            &transformer_defaults(),
            "A Transformer layer: [n_heads, dim_feedforward] or a table with those keys (defaults 1, 256).",
            &[],
        )
    }
}

impl JsonSchema for MambaLayer {
    fn schema_name() -> Cow<'static, str> {
        "MambaLayer".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        layer_schema(
            MAMBA_KEYS,
            &mamba_defaults(),
            "A Mamba layer: [d_model, d_state, d_conv, expand] or a table with those keys \
             (d_model defaults to encoder.visual_dim, then 16, 4, 2).",
            &[],
        )
    }
}
