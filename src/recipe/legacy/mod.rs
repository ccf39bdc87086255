//! Conversion of the Python LocoTransformer project's JSON configs into recipes.
//!
//! Every legacy key either maps to a recipe key ([`table::TABLE`]), is checked against the one value
//! this runner supports, or has no counterpart: then it is reported as a warning and kept as a
//! comment in the converted recipe, never dropped silently. The network a config was trained with
//! was chosen by the original's training script, not the config, so [`MigrateOptions::model`]
//! names it. The conversion runs as a sequence of steps ([`steps`]), one per concern.

pub mod render;
mod steps;
pub mod table;

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};
use thiserror::Error;

use table::TERRAINS;

/// Why a legacy config could not be converted.
#[derive(Debug, Error)]
pub enum MigrateError {
    /// The file is not a JSON object.
    #[error("{}: expected a legacy config (a JSON object), found {found}", file.display())]
    NotAnObject {
        /// The file.
        file: PathBuf,
        /// What was found.
        found: String,
    },
    /// The file is not a legacy config (already a recipe, or another JSON file).
    #[error(
        "{}: not a legacy Python config: expected no `version` key and one of the top-level keys {}; \
         a recipe needs no migration",
        file.display(), LEGACY_MARKERS.join(", ")
    )]
    NotLegacy {
        /// The file.
        file: PathBuf,
    },
    /// A key holds a value of the wrong type.
    #[error("{}: key `{path}`: found {found}, expected {expected}", file.display())]
    WrongType {
        /// The file.
        file: PathBuf,
        /// Legacy key path.
        path: String,
        /// The value.
        found: String,
        /// The expected type.
        expected: String,
    },
    /// A key holds a value this runner does not support.
    #[error("{}: key `{path}`: found {found}, expected {expected}", file.display())]
    Unsupported {
        /// The file.
        file: PathBuf,
        /// Legacy key path.
        path: String,
        /// The value.
        found: String,
        /// The supported value(s).
        expected: String,
    },
    /// `env_name` is the original's MPC system, which this runner does not build.
    #[error(
        "{}: key `env_name`: found \"A1MoveGroundMPC\", the original's convex-MPC trot controller \
         driven by a velocity policy at 10 Hz; that controller is not built here, so only \
         \"A1MoveGround\" configs (joint-target policies) convert"
    , file.display())]
    MpcEnvironment {
        /// The file.
        file: PathBuf,
    },
    /// `terrain_type` is not a terrain of the original at all.
    #[error(
        "{}: key `env.env_build.terrain_type`: found {found:?}, expected one of: {}",
        file.display(), known_terrains()
    )]
    UnknownTerrain {
        /// The file.
        file: PathBuf,
        /// The terrain.
        found: String,
    },
}

fn known_terrains() -> String {
    TERRAINS
        .iter()
        .map(|(t, task)| format!("{t} ({task})"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The network a legacy config is converted for (`runner migrate --model`): in the original the
/// training script chose it, not the config.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LegacyModel {
    /// Mamba layers in place of `transformer_params` (LocoMamba; the default).
    #[default]
    Mamba,
    /// The Transformer as `transformer_params` gives it (LocoTransformer, `ppo_locotransformer.py`).
    Transformer,
    /// The State-Depth-Concat baseline (`ppo_nature_cnn.py`).
    Concat,
    /// The State-Only baseline (`ppo_state.py`); implied by `get_image: false`.
    StateOnly,
}

/// Options of `runner migrate`.
#[derive(Debug, Clone, Default)]
pub struct MigrateOptions {
    /// The network to convert for.
    pub model: LegacyModel,
}

/// What a conversion did, for the user.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MigrationReport {
    /// The legacy file.
    pub file: PathBuf,
    /// Conversions worth knowing about (defaults filled in, layers converted...).
    pub notes: Vec<String>,
    /// Legacy keys with no counterpart and their values, in file order.
    pub unmapped: Vec<(String, Value)>,
    /// `(recipe key, legacy key)` for every value copied from one to the other, so an error in
    /// the recipe key names the key the user wrote.
    pub origins: Vec<(String, String)>,
}

impl MigrationReport {
    /// The legacy key a recipe key path (or the key it is part of, e.g. a list element's list)
    /// was copied from.
    pub fn legacy_key_of(&self, recipe_path: &str) -> Option<&str> {
        self.origins
            .iter()
            .find(|(recipe, _)| {
                recipe_path == recipe
                    || recipe_path
                        .strip_prefix(recipe.as_str())
                        .is_some_and(|rest| rest.starts_with('[') || rest.starts_with('.'))
            })
            .map(|(_, legacy)| legacy.as_str())
    }
}

impl MigrationReport {
    /// One warning line per unmapped key.
    pub fn warnings(&self) -> Vec<String> {
        self.unmapped
            .iter()
            .map(|(key, value)| {
                format!(
                    "warning: {}: legacy key `{key}` = {value} has no counterpart in locomamba \
                     recipes; kept as a comment, not used",
                    self.file.display()
                )
            })
            .collect()
    }
}

/// A converted config: the recipe as a value tree (current format) and the report.
#[derive(Debug, Clone)]
pub struct Converted {
    /// The recipe value tree.
    pub value: Value,
    /// What was converted and what was not.
    pub report: MigrationReport,
}

/// Top-level keys that only legacy configs have.
const LEGACY_MARKERS: &[&str] = &[
    "env_name",
    "general_setting",
    "collector",
    "net",
    "replay_buffer",
];

/// True when a parsed JSON file looks like a legacy Python config rather than a recipe.
pub fn is_legacy(value: &Value) -> bool {
    value.as_object().is_some_and(|map| {
        !map.contains_key("version") && LEGACY_MARKERS.iter().any(|k| map.contains_key(*k))
    })
}

/// Flattens objects into `(dotted key, leaf)` pairs; arrays and scalars are leaves.
pub fn leaves(prefix: &str, value: &Value, out: &mut Vec<(String, Value)>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                leaves(&key, v, out);
            }
        }
        other => out.push((prefix.to_string(), other.clone())),
    }
}

/// Writes `value` at a dotted key of a value tree, creating tables on the way.
pub(crate) fn set(tree: &mut Value, key: &str, value: Value) {
    let mut node = tree;
    let mut parts = key.split('.').peekable();
    while let Some(part) = parts.next() {
        let map = node.as_object_mut().expect("recipe tree nodes are tables");
        if parts.peek().is_none() {
            map.insert(part.to_string(), value);
            return;
        }
        node = map
            .entry(part.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
    }
}

/// A legacy config being converted: its file and its `(dotted key, leaf)` pairs.
struct Ctx<'a> {
    file: &'a Path,
    flat: Vec<(String, Value)>,
}

impl Ctx<'_> {
    /// The leaf at a dotted key.
    fn get(&self, key: &str) -> Option<&Value> {
        self.flat.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// The boolean at `key`, `default` when absent.
    fn flag(&self, key: &str, default: bool) -> Result<bool, MigrateError> {
        self.get(key).map_or(Ok(default), |v| self.bool(key, v))
    }

    fn unsupported(&self, path: &str, found: impl ToString, expected: &str) -> MigrateError {
        MigrateError::Unsupported {
            file: self.file.to_path_buf(),
            path: path.to_string(),
            found: found.to_string(),
            expected: expected.to_string(),
        }
    }

    fn wrong(&self, path: &str, found: &Value, expected: &str) -> MigrateError {
        self.wrong_text(path, &found.to_string(), expected)
    }

    fn wrong_text(&self, path: &str, found: &str, expected: &str) -> MigrateError {
        MigrateError::WrongType {
            file: self.file.to_path_buf(),
            path: path.to_string(),
            found: found.to_string(),
            expected: expected.to_string(),
        }
    }

    fn bool(&self, path: &str, v: &Value) -> Result<bool, MigrateError> {
        v.as_bool()
            .ok_or_else(|| self.wrong(path, v, "true or false"))
    }

    fn uint(&self, path: &str, v: &Value) -> Result<u64, MigrateError> {
        v.as_u64()
            .or_else(|| {
                v.as_f64()
                    .filter(|f| f.fract() == 0.0 && *f >= 0.0)
                    .map(|f| f as u64)
            })
            .ok_or_else(|| self.wrong(path, v, "a non-negative integer"))
    }

    fn layer_lists(
        &self,
        path: &str,
        v: &Value,
        width: usize,
    ) -> Result<Vec<Vec<u64>>, MigrateError> {
        let expected = format!("a list of {width}-integer lists");
        let list = v.as_array().ok_or_else(|| self.wrong(path, v, &expected))?;
        list.iter()
            .enumerate()
            .map(|(i, layer)| {
                let item_path = format!("{path}[{i}]");
                let items = layer
                    .as_array()
                    .filter(|a| a.len() == width)
                    .ok_or_else(|| self.wrong(&item_path, layer, &expected))?;
                items.iter().map(|x| self.uint(&item_path, x)).collect()
            })
            .collect()
    }
}

/// Converts a legacy config into a recipe value tree. The experiment is named after the file.
pub fn convert(
    legacy: &Value,
    file: &Path,
    options: &MigrateOptions,
) -> Result<Converted, MigrateError> {
    if !legacy.is_object() {
        return Err(MigrateError::NotAnObject {
            file: file.to_path_buf(),
            found: legacy.to_string(),
        });
    }
    let mut flat = Vec::new();
    leaves("", legacy, &mut flat);
    let ctx = Ctx { file, flat };
    steps::check_environment(&ctx, legacy)?;
    let mut out = steps::Output::new(file);
    steps::apply_table(&ctx, &mut out)?;
    steps::observation(&ctx, &mut out)?;
    steps::depth(&ctx, &mut out)?;
    steps::friction(&ctx, &mut out)?;
    steps::task(&ctx, &mut out)?;
    steps::horizon(&ctx, &mut out)?;
    steps::advantages(&ctx, &mut out)?;
    steps::budget(&ctx, &mut out)?;
    steps::encoder(&ctx, &mut out)?;
    steps::network(&ctx, &mut out, options.model)?;
    steps::timing(&ctx, &mut out)?;
    Ok(out.finish())
}
