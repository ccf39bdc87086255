//! The typed recipe: one struct per section, each field documented and defaulted.
//!
//! Defaults are the Python LocoTransformer project's values unless a field says otherwise, so a
//! recipe that only names what it changes reproduces the original setup.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

mod env;
mod memory;
mod model;
mod training;
mod trot;

pub use env::*;
pub use memory::*;
pub use model::*;
pub use training::*;
pub use trot::*;

/// Format version written by this runner; older versions are upgraded by `recipe::version`.
pub const CURRENT_VERSION: u32 = 2;

/// One experiment: what to train, on which task, with which networks and budget.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
#[schemars(title = "locomamba recipe")]
pub struct Recipe {
    /// Recipe format version. Older versions are migrated on load; newer ones are refused.
    pub version: u32,
    /// Name, seeds, budget and output location.
    pub experiment: ExperimentConfig,
    /// The simulated task: robot control, terrain, rewards, depth camera.
    pub env: EnvConfig,
    /// How proprioception and depth become tokens.
    pub encoder: EncoderConfig,
    /// The cross-modal fusion network over the tokens (Transformer or Mamba).
    pub sequence: SequenceConfig,
    /// Memory across control steps (off: each step's tokens alone, as the original).
    pub memory: MemoryConfig,
    /// The MLP after fusion (legacy `append_hidden_shapes`).
    pub head: HeadConfig,
    /// PPO hyperparameters.
    pub ppo: PpoConfig,
    /// Compute backend.
    pub backend: BackendConfig,
    /// TensorBoard, metrics, checkpoint and evaluation cadence.
    pub logging: LoggingConfig,
    /// Grid of overrides: each key is a dotted recipe path, each value the list of values to try.
    /// The runner trains every combination for every seed, e.g.
    /// `"sequence.model" = ["transformer", "mamba"]`.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("default" = {}))]
    pub sweep: BTreeMap<String, Vec<serde_json::Value>>,
}

impl Default for Recipe {
    fn default() -> Self {
        Self {
            version: CURRENT_VERSION,
            experiment: ExperimentConfig::default(),
            env: EnvConfig::default(),
            encoder: EncoderConfig::default(),
            sequence: SequenceConfig::default(),
            memory: MemoryConfig::default(),
            head: HeadConfig::default(),
            ppo: PpoConfig::default(),
            backend: BackendConfig::default(),
            logging: LoggingConfig::default(),
            sweep: BTreeMap::new(),
        }
    }
}

/// `[experiment]`: what the run is called, which seeds, how long.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct ExperimentConfig {
    /// Experiment name; outputs go to `<output_dir>/<name>/`.
    pub name: String,
    /// Seeds to train; each seed is an independent run. Must be non-empty and unique.
    pub seeds: Vec<u64>,
    /// Environment steps (policy steps summed over all envs) per run.
    pub total_env_steps: u64,
    /// Root folder for runs.
    pub output_dir: String,
}

impl Default for ExperimentConfig {
    fn default() -> Self {
        Self {
            name: "experiment".into(),
            seeds: vec![0],
            total_env_steps: 15_000_000,
            output_dir: "runs".into(),
        }
    }
}

impl Recipe {
    /// Fills in values that depend on other sections (a Mamba layer without `d_model` takes
    /// `encoder.visual_dim`), so that the recipe written next to a run is fully explicit.
    pub fn resolved(mut self) -> Self {
        let width = self.encoder.visual_dim;
        if let SequenceConfig::Mamba { layers, .. } = &mut self.sequence {
            for layer in layers {
                layer.d_model.get_or_insert(width);
            }
        }
        if self.sequence.model() == SequenceModel::StateOnly {
            self.env.depth.enabled = false;
        }
        self
    }

    /// This recipe as TOML text.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("a recipe always serialises to TOML")
    }
}
