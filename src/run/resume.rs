//! `runner train --resume RUN [--set KEY=VALUE]...`: a run continues from its last checkpoint with
//! its stored recipe, optionally changing the keys that may change across a resume (the budget,
//! the logging and evaluation cadence). Any other key would make the checkpoint and the recipe
//! disagree, so it is refused by name. A change is recorded in `recipe_changes.log` beside the
//! recipe, and a finished run's summary is kept under another name when the budget grows.

use std::path::Path;

use serde_json::Value;
use thiserror::Error;

use super::atomic::write_atomic;
use super::lock;
use super::paths::RunDir;
use crate::recipe::legacy::leaves;
use crate::recipe::{Overrides, Recipe, RecipeError};

/// Recipe keys (dotted prefixes) a resume may change.
pub const RESUMABLE_KEYS: [&str; 3] = ["experiment.total_env_steps", "logging.", "backend."];

/// Why a run could not be resumed with the requested changes.
#[derive(Debug, Error)]
pub enum ResumeError {
    /// The stored recipe, or it with the changes, is not a valid recipe.
    #[error(transparent)]
    Recipe(#[from] RecipeError),
    /// A `--set` changes a key a resume cannot change.
    #[error(
        "{run}: cannot resume with {keys}: a resume may change only experiment.total_env_steps, \
         logging.* and backend.* (the checkpoint was trained with the others); start a new run \
         instead"
    )]
    Frozen {
        /// The run folder.
        run: String,
        /// The refused keys, with their stored and requested values.
        keys: String,
    },
    /// Another process is training the run.
    #[error(transparent)]
    Lock(#[from] lock::LockError),
    /// The run folder could not be written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
}

/// The keys whose values differ between two recipes: `(key, old, new)`, in key order.
pub fn changed_keys(old: &Recipe, new: &Recipe) -> Vec<(String, Value, Value)> {
    let tree = |r: &Recipe| {
        let mut out = Vec::new();
        leaves(
            "",
            &serde_json::to_value(r).expect("recipes serialise"),
            &mut out,
        );
        out
    };
    let (a, b) = (tree(old), tree(new));
    let mut changed: Vec<(String, Value, Value)> = b
        .iter()
        .filter_map(|(k, v)| {
            let before = a.iter().find(|(ka, _)| ka == k).map(|(_, va)| va.clone());
            (before.as_ref() != Some(v))
                .then(|| (k.clone(), before.unwrap_or(Value::Null), v.clone()))
        })
        .collect();
    changed.sort_by(|x, y| x.0.cmp(&y.0));
    changed
}

/// The stored recipe of `run_dir` with `sets` applied, after checking that they change only
/// [`RESUMABLE_KEYS`]; with changes, the run folder's `recipe.toml` is replaced by the new recipe
/// and the change appended to `recipe_changes.log` (and a finished run's `summary.json` moved to
/// `summary.before-resume-<n>.json` when its budget grows, so it trains on). Returns the recipe.
pub fn apply_changes(run_dir: &Path, sets: &[String]) -> Result<Recipe, ResumeError> {
    let path = run_dir.join("recipe.toml");
    let stored = crate::recipe::load(&path, &Overrides::default())?;
    if sets.is_empty() {
        return Ok(stored);
    }
    let overrides = Overrides {
        sets: sets.to_vec(),
        ..Overrides::default()
    };
    let wanted = crate::recipe::load(&path, &overrides)?;
    let changes = changed_keys(&stored, &wanted);
    let frozen: Vec<String> = changes
        .iter()
        .filter(|(k, _, _)| !RESUMABLE_KEYS.iter().any(|p| k == p || k.starts_with(p)))
        .map(|(k, old, new)| format!("{k} ({old} -> {new})"))
        .collect();
    if !frozen.is_empty() {
        return Err(ResumeError::Frozen {
            run: run_dir.display().to_string(),
            keys: frozen.join(", "),
        });
    }
    if changes.is_empty() {
        return Ok(stored);
    }
    lock::ensure_free(run_dir)?;
    let io = |p: &Path| {
        let path = p.display().to_string();
        move |source| ResumeError::Io { path, source }
    };
    let dir = RunDir {
        root: run_dir.to_path_buf(),
    };
    let grows = wanted.experiment.total_env_steps > stored.experiment.total_env_steps;
    if grows && dir.finished() {
        let n = (1..)
            .map(|i| run_dir.join(format!("summary.before-resume-{i}.json")))
            .find(|p| !p.exists())
            .expect("a free name");
        std::fs::rename(dir.summary(), &n).map_err(io(&n))?;
    }
    let log = run_dir.join("recipe_changes.log");
    let mut text = std::fs::read_to_string(&log).unwrap_or_default();
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    for (k, old, new) in &changes {
        text.push_str(&format!(
            "unix time {stamp}: resumed with {k} = {new} (was {old})\n"
        ));
    }
    write_atomic(&log, text.as_bytes()).map_err(io(&log))?;
    write_atomic(&path, wanted.to_toml().as_bytes()).map_err(io(&path))?;
    Ok(wanted)
}
