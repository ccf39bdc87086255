//! Checkpoints: `checkpoints/update-NNNNNNN/` holding the weights (safetensors), both optimiser
//! states (burnpack), the run state (`state.json`: counters, normaliser, env snapshot), with
//! `[memory]` on every env's recurrent state (`memory.safetensors`), and the resolved recipe. A checkpoint folder is written under a temporary name and renamed into place,
//! then `latest.json` is replaced atomically, so a crash never leaves a half checkpoint behind the
//! pointer. The two newest checkpoints are kept.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::atomic::write_atomic;
use super::weights;
use crate::nn::ObsShape;
use crate::ppo::normalizer::RunningNorm;
use crate::ppo::state::TrainerState;
use crate::ppo::trainer::{OptimizerRole, Trainer};
use crate::recipe::Recipe;
use crate::sim::EnvSpec;

/// Why a checkpoint could not be written or read.
#[derive(Debug, Error)]
pub enum CheckpointError {
    /// File system error.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// A file in the checkpoint is malformed.
    #[error("{path}: {message}")]
    Format {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> CheckpointError + '_ {
    move |source| CheckpointError::Io {
        path: path.display().to_string(),
        source,
    }
}

fn format_err(path: &Path, message: impl ToString) -> CheckpointError {
    CheckpointError::Format {
        path: path.display().to_string(),
        message: message.to_string(),
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Latest {
    checkpoint: String,
}

const MODEL: &str = "model.safetensors";
const OPT_POLICY: &str = "optim_policy.bpk";
const OPT_VALUE: &str = "optim_value.bpk";
const STATE: &str = "state.json";
const MEMORY: &str = "memory.safetensors";
const RECIPE: &str = "recipe.toml";
const LATEST: &str = "latest.json";
/// The optimiser state files and the optimiser each holds.
const OPTIMIZERS: [(&str, OptimizerRole); 2] = [
    (OPT_POLICY, OptimizerRole::Policy),
    (OPT_VALUE, OptimizerRole::Value),
];

/// Writes a checkpoint of `trainer` under `dir` and points `latest.json` at it. Returns its folder.
pub fn save(trainer: &Trainer, dir: &Path) -> Result<PathBuf, CheckpointError> {
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let name = format!("update-{:07}", trainer.counters().update);
    let target = dir.join(&name);
    if target.is_dir() {
        // Already saved at this update (e.g. Ctrl-C right after a periodic checkpoint): the state
        // is the same, and the folder was completed by an atomic rename, so keep it.
        return point_latest_at(dir, &name).map(|()| target);
    }
    let tmp = dir.join(format!(".{name}.tmp"));
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(io(&tmp))?;
    }
    std::fs::create_dir_all(&tmp).map_err(io(&tmp))?;
    weights::save(trainer.model(), &tmp.join(MODEL))
        .map_err(|e| format_err(&tmp.join(MODEL), e))?;
    for (file, role) in OPTIMIZERS {
        let path = tmp.join(file);
        let bytes = trainer
            .optimizer_bytes(role)
            .map_err(|e| format_err(&path, e))?;
        write_atomic(&path, &bytes).map_err(io(&path))?;
    }
    if let Some(memory) = trainer.memory() {
        let path = tmp.join(MEMORY);
        write_atomic(&path, &super::recurrent::to_safetensors(memory)).map_err(io(&path))?;
    }
    let state = trainer.state();
    let state_json = serde_json::to_vec_pretty(&state).expect("run state serialises");
    write_atomic(&tmp.join(STATE), &state_json).map_err(io(&tmp.join(STATE)))?;
    write_atomic(&tmp.join(RECIPE), trainer.recipe().to_toml().as_bytes())
        .map_err(io(&tmp.join(RECIPE)))?;
    std::fs::rename(&tmp, &target).map_err(io(&target))?;
    point_latest_at(dir, &name)?;
    prune(dir, 2)?;
    Ok(target)
}

/// Writes `latest.json` in `dir` naming the checkpoint folder `name`.
fn point_latest_at(dir: &Path, name: &str) -> Result<(), CheckpointError> {
    let latest = serde_json::to_vec(&Latest {
        checkpoint: name.to_string(),
    })
    .expect("serialises");
    write_atomic(&dir.join(LATEST), &latest).map_err(io(&dir.join(LATEST)))
}

/// Removes all but the `keep` newest checkpoint folders (never the one `latest.json` names).
fn prune(dir: &Path, keep: usize) -> Result<(), CheckpointError> {
    let latest = latest(dir)?;
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(io(dir))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_dir()
                && p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("update-"))
        })
        .collect();
    found.sort();
    let excess = found.len().saturating_sub(keep);
    for old in found.into_iter().take(excess) {
        if Some(&old) != latest.as_ref() {
            std::fs::remove_dir_all(&old).map_err(io(&old))?;
        }
    }
    Ok(())
}

/// The folder `latest.json` in `dir` points at, if any.
pub fn latest(dir: &Path) -> Result<Option<PathBuf>, CheckpointError> {
    let path = dir.join(LATEST);
    if !path.is_file() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(&path).map_err(io(&path))?;
    let latest: Latest = serde_json::from_str(&text).map_err(|e| format_err(&path, e))?;
    Ok(Some(dir.join(latest.checkpoint)))
}

/// Resolves what a user passed: a checkpoint folder, a `checkpoints/` folder, or a run folder.
pub fn resolve(path: &Path) -> Result<PathBuf, CheckpointError> {
    if path.join(STATE).is_file() {
        return Ok(path.to_path_buf());
    }
    for dir in [path.to_path_buf(), path.join("checkpoints")] {
        if let Some(found) = latest(&dir)? {
            return Ok(found);
        }
    }
    Err(format_err(
        path,
        "expected a checkpoint folder (with state.json), a checkpoints/ folder or a run folder",
    ))
}

/// The recipe stored in a checkpoint.
pub fn recipe_of(checkpoint: &Path) -> Result<Recipe, CheckpointError> {
    let path = checkpoint.join(RECIPE);
    crate::recipe::load(&path, &crate::recipe::Overrides::default())
        .map_err(|e| format_err(&path, e))
}

/// Restores a freshly built trainer (same recipe) to the state saved in `checkpoint`.
pub fn restore(mut trainer: Trainer, checkpoint: &Path) -> Result<Trainer, CheckpointError> {
    let state_path = checkpoint.join(STATE);
    let state = read_state(&state_path)?;
    let model_path = checkpoint.join(MODEL);
    trainer
        .load_model(|model| weights::load(model, &model_path))
        .map_err(|e| format_err(&model_path, e))?;
    for (file, role) in OPTIMIZERS {
        let path = checkpoint.join(file);
        let bytes = std::fs::read(&path).map_err(io(&path))?;
        trainer
            .load_optimizer(role, bytes)
            .map_err(|e| format_err(&path, e))?;
    }
    trainer
        .restore_state(state)
        .map_err(|e| format_err(&state_path, e))?;
    let memory_path = checkpoint.join(MEMORY);
    if trainer.memory().is_some() || memory_path.exists() {
        let bytes = std::fs::read(&memory_path).map_err(io(&memory_path))?;
        let memory =
            super::recurrent::from_safetensors(&bytes).map_err(|e| format_err(&memory_path, e))?;
        trainer
            .restore_memory(memory)
            .map_err(|e| format_err(&memory_path, e))?;
    }
    Ok(trainer)
}

/// Reads a checkpoint's `state.json`.
fn read_state(path: &Path) -> Result<TrainerState, CheckpointError> {
    let text = std::fs::read_to_string(path).map_err(io(path))?;
    serde_json::from_str(&text).map_err(|e| format_err(path, e))
}

/// A checkpoint's run state (counters, normalisers, env snapshot).
pub fn state_of(checkpoint: &Path) -> Result<TrainerState, CheckpointError> {
    read_state(&checkpoint.join(STATE))
}

/// The path of a checkpoint's weights file.
pub fn weights_path(checkpoint: &Path) -> PathBuf {
    checkpoint.join(MODEL)
}

/// Loads only the normaliser of a checkpoint (for evaluation).
pub fn norm_of(checkpoint: &Path) -> Result<Option<RunningNorm>, CheckpointError> {
    Ok(read_state(&checkpoint.join(STATE))?.norm)
}

/// Builds the networks of `recipe` and loads the checkpoint's weights into them (for evaluation).
pub fn model_of(
    checkpoint: &Path,
    recipe: &Recipe,
    device: &burn::tensor::Device,
) -> Result<crate::nn::ActorCritic, CheckpointError> {
    let spec = EnvSpec::of(&recipe.env).map_err(|e| format_err(checkpoint, e))?;
    let shape = ObsShape::from(&spec);
    let model = crate::nn::build_actor_critic(recipe, &shape, device)
        .map_err(|e| format_err(checkpoint, e))?;
    let path = checkpoint.join(MODEL);
    weights::load(model, &path).map_err(|e| format_err(&path, e))
}
