//! `runner export`: a trained policy as a self-contained ONNX graph in the units a robot has (raw
//! proprioception, depth in metres, the trot's phase and the recurrent state in; joint position
//! targets, the raw action, the next phase and the next state out), with the robot's facts in
//! `metadata_props` and a JSON sidecar, written to `<run>/exported/` (rsl_rl's and Isaac Lab's
//! place for it). The graph is built from the checkpoint's weights operator by operator (opset
//! [`graph::OPSET`], standard operators only: the Mamba scan unrolled over the step's fixed token
//! count, its causal convolution a grouped `Conv`); its parity with this crate's forward is
//! checked by onnxruntime ([`check`], `scripts/check_onnx.py`).

pub mod check;
pub mod graph;
mod interface;
mod mamba;
mod memory;
pub mod metadata;
mod network;
pub mod onnx;

use std::path::{Path, PathBuf};

use prost::Message;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use thiserror::Error;

use self::graph::{Dim, Graph};
use self::metadata::Port;
use super::atomic::write_atomic;
use super::checkpoint::{self, CheckpointError};
use crate::nn::{ActorCritic, ObsShape};
use crate::ppo::normalizer::RunningNorm;
use crate::recipe::{ActionMode, Recipe};
use crate::sim::EnvSpec;

/// The exported graph's file name.
pub const ONNX_FILE: &str = "policy.onnx";
/// The JSON sidecar's file name (the metadata, and the observation normaliser).
pub const SIDECAR_FILE: &str = "policy.json";
/// The weights beside the graph, for [`crate::run::deploy::Policy`].
pub const WEIGHTS_FILE: &str = "policy.safetensors";
/// The recipe beside the graph.
pub const RECIPE_FILE: &str = "recipe.toml";

/// Why a policy could not be exported or loaded.
#[derive(Debug, Error)]
pub enum ExportError {
    /// The checkpoint could not be read.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// An exported folder's file is not what it should be.
    #[error("{path}: {reason}")]
    Format {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// The check against onnxruntime could not run or failed.
    #[error("{0}")]
    Check(String),
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> ExportError + '_ {
    move |source| ExportError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// A trained policy and what it was trained with: everything an export or a deployment needs.
#[derive(Debug)]
pub struct PolicySource {
    /// The run's recipe.
    pub recipe: Recipe,
    /// The networks, on the CPU.
    pub model: ActorCritic,
    /// The observation normaliser (`ppo.obs_norm`).
    pub norm: Option<RunningNorm>,
    /// PPO updates behind the weights.
    pub update: u64,
    /// Env steps behind the weights.
    pub env_steps: u64,
    /// The weights file's bytes (safetensors).
    pub weights: Vec<u8>,
}

/// The observation shapes of a recipe's env.
pub fn obs_shape(recipe: &Recipe) -> Result<ObsShape, String> {
    let spec = EnvSpec::of(&recipe.env).map_err(|e| e.to_string())?;
    Ok(ObsShape::from(&spec))
}

impl PolicySource {
    /// Loads a checkpoint (a checkpoint folder, a `checkpoints/` folder or a run folder: its
    /// latest checkpoint) or an exported folder (with `policy.json`).
    pub fn load(path: &Path) -> Result<Self, ExportError> {
        if path.join(SIDECAR_FILE).is_file() {
            return Self::from_exported(path);
        }
        let ckpt = checkpoint::resolve(path)?;
        let recipe = checkpoint::recipe_of(&ckpt)?;
        let state = checkpoint::state_of(&ckpt)?;
        let weights_path = checkpoint::weights_path(&ckpt);
        let weights = std::fs::read(&weights_path).map_err(io_err(&weights_path))?;
        let model = checkpoint::model_of(&ckpt, &recipe, &crate::device::cpu_device())?;
        Ok(Self {
            recipe,
            model,
            norm: state.norm,
            update: state.counters.update,
            env_steps: state.counters.env_steps,
            weights,
        })
    }

    /// Loads what [`export`] wrote into `dir`.
    fn from_exported(dir: &Path) -> Result<Self, ExportError> {
        let sidecar = dir.join(SIDECAR_FILE);
        let text = std::fs::read_to_string(&sidecar).map_err(io_err(&sidecar))?;
        let format = |reason: String| ExportError::Format {
            path: sidecar.display().to_string(),
            reason,
        };
        let json: Value = serde_json::from_str(&text).map_err(|e| format(e.to_string()))?;
        let field = |key: &str| json.get(key).cloned().unwrap_or(Value::Null);
        let norm: Option<RunningNorm> = serde_json::from_value(field("observation_normalizer"))
            .map_err(|e| format(format!("observation_normalizer: {e}")))?;
        let counter = |key: &str| {
            field(key)
                .as_u64()
                .ok_or_else(|| format(format!("{key}: expected a count")))
        };
        let recipe_path = dir.join(RECIPE_FILE);
        let recipe = crate::recipe::load(&recipe_path, &crate::recipe::Overrides::default())
            .map_err(|e| ExportError::Format {
                path: recipe_path.display().to_string(),
                reason: e.to_string(),
            })?;
        let weights_path = dir.join(WEIGHTS_FILE);
        let weights = std::fs::read(&weights_path).map_err(io_err(&weights_path))?;
        let shape = obs_shape(&recipe).map_err(|reason| ExportError::Format {
            path: recipe_path.display().to_string(),
            reason,
        })?;
        let weights_err = |reason: String| ExportError::Format {
            path: weights_path.display().to_string(),
            reason,
        };
        let device = crate::device::cpu_device();
        let model = crate::nn::build_actor_critic(&recipe, &shape, &device)
            .map_err(|e| weights_err(e.to_string()))?;
        let model = super::weights::from_safetensors(model, &weights).map_err(weights_err)?;
        Ok(Self {
            update: counter("checkpoint_update")?,
            env_steps: counter("checkpoint_env_steps")?,
            recipe,
            model,
            norm,
            weights,
        })
    }

    /// SHA-256 of the weights file, hex.
    pub fn weights_sha256(&self) -> String {
        Sha256::digest(&self.weights)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// Tokens per control step and the per-env shapes of the policy's recurrent state (empty
    /// without memory), for observations of `shape`.
    pub fn memory_shapes(&self, shape: &ObsShape) -> (usize, Vec<Vec<usize>>) {
        let tokens = self.model.tokens_per_step(shape);
        let memory = &self.recipe.memory;
        let shapes = if memory.enabled {
            self.model
                .zero_memory(1, tokens, memory.context_steps)
                .map(|m| m.policy.buffers.into_iter().map(|b| b.shape).collect())
                .unwrap_or_default()
        } else {
            Vec::new()
        };
        (tokens, shapes)
    }
}

/// The name of recurrent state input `i`.
pub fn state_input(i: usize) -> String {
    format!("h_in_{i}")
}

/// The name of recurrent state output `i`.
pub fn state_output(i: usize) -> String {
    format!("h_out_{i}")
}

fn port(name: &str, dims: &[Dim], description: &str) -> Port {
    Port {
        name: name.into(),
        shape: dims
            .iter()
            .map(|d| match d {
                Dim::Batch => json!(graph::BATCH),
                Dim::Fixed(n) => json!(n),
            })
            .collect(),
        description: description.into(),
    }
}

/// The policy as an ONNX model with its metadata fields (also the sidecar's).
pub fn build(src: &PolicySource) -> Result<(onnx::ModelProto, Vec<(String, Value)>), String> {
    let model = &src.model;
    let env = &src.recipe.env;
    let shape = obs_shape(&src.recipe)?;
    let (tokens, state_shapes) = src.memory_shapes(&shape);
    let mut g = Graph::default();
    let (mut inputs, mut outputs) = (Vec::new(), Vec::new());
    let mut declare = |g: &mut Graph, name: &str, dims: Vec<Dim>, what: &str| {
        inputs.push(port(name, &dims, what));
        g.input(name, &dims, what)
    };
    let proprio = model.encoder.has_state_token().then(|| {
        let raw = declare(
            &mut g,
            "proprio",
            vec![Dim::Batch, Dim::Fixed(shape.proprio_dim)],
            "raw proprioception in the observation layout (metadata observation_layout)",
        );
        interface::normalise_proprio(&mut g, &raw, src.norm.as_ref())
    });
    let depth = model.encoder.projection.is_some().then(|| {
        let dims = [shape.depth_frames, shape.depth_height, shape.depth_width];
        let raw = declare(
            &mut g,
            "depth",
            std::iter::once(Dim::Batch)
                .chain(dims.iter().map(|&d| Dim::Fixed(d)))
                .collect(),
            "depth in metres (z-depth), newest frame first",
        );
        interface::normalise_depth(&mut g, &raw, env)
    });
    let phase = (env.action_mode == ActionMode::TrotResidual).then(|| {
        declare(
            &mut g,
            "phase",
            vec![Dim::Batch, Dim::Fixed(1)],
            "the trot's phase at this step, radians (0 at an episode start)",
        )
    });
    let state_in: Vec<String> = state_shapes
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let dims = std::iter::once(Dim::Batch)
                .chain(s.iter().map(|&d| Dim::Fixed(d)))
                .collect();
            declare(
                &mut g,
                &state_input(i),
                dims,
                "recurrent state: zeros at an episode start, else the previous step's h_out",
            )
        })
        .collect();

    let width = model.encoder.width();
    let has_state = model.encoder.has_state_token();
    let x = network::encoder(&mut g, &model.encoder, proprio.as_deref(), depth.as_deref());
    let (fused, state_out) = if src.recipe.memory.enabled {
        memory::fusion_step(
            &mut g,
            &model.policy.fusion,
            &x,
            tokens,
            (&state_in, &state_shapes),
        )
    } else {
        (
            network::fusion(&mut g, &model.policy.fusion, &x, tokens),
            Vec::new(),
        )
    };
    let action = network::policy_output(&mut g, &model.policy, &fused, (tokens, width, has_state));
    let (targets, next_phase) = interface::joint_targets(&mut g, &action, phase.as_deref(), env);

    let mut output = |g: &mut Graph, value: &str, name: &str, dims: Vec<Dim>, what: &str| {
        outputs.push(port(name, &dims, what));
        g.output(value, name, &dims, what);
    };
    output(
        &mut g,
        &targets,
        "targets",
        vec![Dim::Batch, Dim::Fixed(12)],
        "joint position targets, rad, in joint_names order",
    );
    output(
        &mut g,
        &action,
        "action",
        vec![Dim::Batch, Dim::Fixed(shape.action_dim)],
        "the raw (pre-tanh) deterministic action",
    );
    if let Some(next) = next_phase {
        output(
            &mut g,
            &next,
            "phase_out",
            vec![Dim::Batch, Dim::Fixed(1)],
            "the trot's phase at the next step, radians",
        );
    }
    for (i, (value, s)) in state_out.iter().zip(&state_shapes).enumerate() {
        let dims = std::iter::once(Dim::Batch)
            .chain(s.iter().map(|&d| Dim::Fixed(d)))
            .collect();
        output(
            &mut g,
            value,
            &state_output(i),
            dims,
            "recurrent state for the next step",
        );
    }
    let memory = src.recipe.memory.enabled.then(|| {
        json!({
            "state_inputs": (0..state_shapes.len()).map(state_input).collect::<Vec<_>>(),
            "state_outputs": (0..state_shapes.len()).map(state_output).collect::<Vec<_>>(),
            "context_steps": src.recipe.memory.context_steps,
            "reset": "feed zeros for a row at its episode start, else the previous step's outputs",
        })
    });
    let fields = metadata::metadata(
        &src.recipe,
        (&inputs, &outputs),
        memory,
        (src.update, src.env_steps, &src.weights_sha256()),
    );
    let doc = format!(
        "{} policy of {} (update {}, {} env steps)",
        src.recipe.sequence.model().name(),
        src.recipe.experiment.name,
        src.update,
        src.env_steps
    );
    let model = g.into_model("policy", &doc, metadata::props(&fields));
    Ok((model, fields))
}

/// What [`export`] wrote.
#[derive(Debug, Clone)]
pub struct Exported {
    /// The folder.
    pub dir: PathBuf,
    /// The graph's nodes.
    pub nodes: usize,
    /// The graph file's size in bytes.
    pub bytes: usize,
}

/// Where `runner export CHECKPOINT` writes by default: `<run>/exported/` for a checkpoint inside
/// a run's `checkpoints/`, else `<checkpoint>/exported/`.
pub fn default_dir(checkpoint: &Path) -> PathBuf {
    let ckpt = checkpoint::resolve(checkpoint).unwrap_or_else(|_| checkpoint.to_path_buf());
    match ckpt.parent() {
        Some(parent) if parent.file_name().is_some_and(|n| n == "checkpoints") => parent
            .parent()
            .map_or_else(|| ckpt.join("exported"), |run| run.join("exported")),
        _ => ckpt.join("exported"),
    }
}

/// Exports the policy of `src` into `dir`: `policy.onnx`, `policy.json` (the metadata and the
/// observation normaliser), `policy.safetensors` and `recipe.toml`, each written atomically.
pub fn export(src: &PolicySource, dir: &Path) -> Result<Exported, ExportError> {
    let (model, fields) = build(src).map_err(ExportError::Check)?;
    let nodes = model.graph.as_ref().map_or(0, |g| g.node.len());
    let bytes = model.encode_to_vec();
    std::fs::create_dir_all(dir).map_err(io_err(dir))?;
    let mut sidecar: serde_json::Map<String, Value> = fields.into_iter().collect();
    sidecar.insert("observation_normalizer".into(), json!(src.norm));
    let sidecar = serde_json::to_string_pretty(&Value::Object(sidecar)).expect("JSON values");
    for (file, content) in [
        (WEIGHTS_FILE, src.weights.clone()),
        (RECIPE_FILE, src.recipe.to_toml().into_bytes()),
        (SIDECAR_FILE, sidecar.into_bytes()),
        (ONNX_FILE, bytes.clone()),
    ] {
        let path = dir.join(file);
        write_atomic(&path, &content).map_err(io_err(&path))?;
    }
    Ok(Exported {
        dir: dir.to_path_buf(),
        nodes,
        bytes: bytes.len(),
    })
}
