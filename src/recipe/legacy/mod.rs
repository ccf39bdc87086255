//! Conversion of the Python LocoTransformer project's JSON configs into recipes.
//!
//! Every legacy key either maps to a recipe key ([`table::TABLE`]), is checked against the one value
//! this runner supports, or has no counterpart: then it is reported as a warning and kept as a
//! comment in the converted recipe, never dropped silently.

pub mod render;
pub mod table;

use std::path::{Path, PathBuf};

use serde_json::{Map, Value, json};
use thiserror::Error;

use table::{PLANNED_TERRAINS, Rule, TERRAINS};

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
    /// `terrain_type` names a terrain of the original that is not built yet.
    #[error(
        "{}: key `env.env_build.terrain_type`: found {found:?}, a terrain of the original that is \
         planned but not built yet (planned: {}); built: {}",
        file.display(), PLANNED_TERRAINS.join(", "), known_terrains()
    )]
    PlannedTerrain {
        /// The file.
        file: PathBuf,
        /// The terrain.
        found: String,
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

/// Options of `runner migrate`.
#[derive(Debug, Clone, Default)]
pub struct MigrateOptions {
    /// Keep `transformer_params` as a Transformer instead of converting to Mamba.
    pub keep_transformer: bool,
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
fn leaves(prefix: &str, value: &Value, out: &mut Vec<(String, Value)>) {
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
fn set(tree: &mut Value, key: &str, value: Value) {
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

struct Ctx<'a> {
    file: &'a Path,
}

impl Ctx<'_> {
    fn wrong(&self, path: &str, found: &Value, expected: &str) -> MigrateError {
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
    let ctx = Ctx { file };
    if !legacy.is_object() {
        return Err(MigrateError::NotAnObject {
            file: file.to_path_buf(),
            found: legacy.to_string(),
        });
    }
    let mut flat = Vec::new();
    leaves("", legacy, &mut flat);
    let get = |key: &str| flat.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());

    let name = file
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("migrated")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect::<String>();
    let mut tree =
        json!({ "version": crate::recipe::CURRENT_VERSION, "experiment": { "name": name } });
    let mut report = MigrationReport {
        file: file.to_path_buf(),
        ..Default::default()
    };

    for (key, value) in &flat {
        match table::rule(key) {
            Some(Rule::Copy(target)) => set(&mut tree, target, value.clone()),
            Some(Rule::Require(expected)) => {
                let ok = match key.as_str() {
                    "env_name" => value == "A1MoveGround",
                    "env.env_build.motor_control_mode" => value == "POSITION",
                    "env.env_build.get_image" | "env.env_build.depth_image" => {
                        ctx.bool(key, value)?
                    }
                    "env.env_build.rgbd"
                    | "env.env_build.grayscale"
                    | "env.env_build.z_constrain"
                    | "env.env_build.no_displacement"
                    | "env.env_build.enable_action_interpolation"
                    | "env.env_build.enable_action_filter" => !ctx.bool(key, value)?,
                    "env.env_build.frame_extract" | "env.env_build.get_image_interval" => {
                        ctx.uint(key, value)? == 1
                    }
                    other => unreachable!("no check written for required key {other}"),
                };
                if !ok {
                    return Err(MigrateError::Unsupported {
                        file: file.to_path_buf(),
                        path: key.clone(),
                        found: value.to_string(),
                        expected: expected.to_string(),
                    });
                }
            }
            Some(Rule::Special(_)) => {}
            None => report.unmapped.push((key.clone(), value.clone())),
        }
    }

    // Depth transform.
    if let Some(v) = get("env.env_build.depth_norm") {
        let transform = if ctx.bool("env.env_build.depth_norm", &v)? {
            "log_sqrt"
        } else {
            "linear"
        };
        set(&mut tree, "env.depth.transform", json!(transform));
    }

    // Friction: rapier has one coefficient; the rest stays as a comment.
    if let Some(v) = get("env.env_build.fric_coeff") {
        let path = "env.env_build.fric_coeff";
        let list = v
            .as_array()
            .filter(|a| !a.is_empty())
            .ok_or_else(|| ctx.wrong(path, &v, "a list of friction coefficients"))?;
        let first = list[0]
            .as_f64()
            .ok_or_else(|| ctx.wrong(&format!("{path}[0]"), &list[0], "a number"))?;
        set(&mut tree, "env.friction", json!(first));
        if list.len() > 1 {
            report
                .unmapped
                .push((format!("{path}[1..]"), Value::Array(list[1..].to_vec())));
        }
    }

    // Terrain and moving obstacles -> task.
    let moving = match get("env.env_build.moving") {
        Some(v) => ctx.bool("env.env_build.moving", &v)?,
        None => false,
    };
    let task = match get("env.env_build.terrain_type") {
        None => {
            report
                .notes
                .push("no env.env_build.terrain_type: using the flat task".into());
            "flat"
        }
        Some(Value::String(t)) => match TERRAINS.iter().find(|(k, _)| *k == t) {
            Some((_, task)) => task,
            None if PLANNED_TERRAINS.contains(&t.as_str()) => {
                return Err(MigrateError::PlannedTerrain {
                    file: file.to_path_buf(),
                    found: t,
                });
            }
            None => {
                return Err(MigrateError::UnknownTerrain {
                    file: file.to_path_buf(),
                    found: t,
                });
            }
        },
        Some(other) => {
            return Err(ctx.wrong(
                "env.env_build.terrain_type",
                &other,
                "a terrain name string",
            ));
        }
    };
    let task = if moving {
        let blocks = matches!(task, "thin_obstacles" | "wide_obstacles" | "spheres");
        if !blocks {
            return Err(MigrateError::Unsupported {
                file: file.to_path_buf(),
                path: "env.env_build.moving".into(),
                found: format!("true with terrain task {task}"),
                expected: "moving obstacles only on a blocks terrain (random_blocks_sparse*)"
                    .into(),
            });
        }
        if task != "thin_obstacles" {
            report.notes.push(format!(
                "moving: true on the {task} terrain becomes the moving_obstacles task (moving thin boxes)"
            ));
        }
        "moving_obstacles"
    } else {
        task
    };
    set(&mut tree, "env.task", json!(task));

    // Horizon: the collector's episode cap also limits episodes.
    if let Some(v) = get("collector.max_episode_frames") {
        let cap = ctx.uint("collector.max_episode_frames", &v)?;
        let horizon = match get("env.horizon") {
            Some(h) => ctx.uint("env.horizon", &h)?,
            None => cap,
        };
        if cap != horizon {
            report.notes.push(format!(
                "env.horizon = {} (the smaller of env.horizon {horizon} and collector.max_episode_frames {cap})",
                cap.min(horizon)
            ));
        }
        set(&mut tree, "env.horizon", json!(cap.min(horizon)));
    }

    // GAE switch.
    if let Some(v) = get("general_setting.gae")
        && !ctx.bool("general_setting.gae", &v)?
    {
        set(&mut tree, "ppo.gae_lambda", json!(1.0));
        report.notes.push(
            "general_setting.gae = false: ppo.gae_lambda = 1 (Monte-Carlo advantages)".into(),
        );
    }

    // Budget.
    if let Some(v) = get("general_setting.num_epochs") {
        let epochs = ctx.uint("general_setting.num_epochs", &v)?;
        let frames = match get("collector.epoch_frames") {
            Some(f) => ctx.uint("collector.epoch_frames", &f)?,
            None => crate::recipe::PpoConfig::default().rollout_steps as u64,
        };
        set(
            &mut tree,
            "experiment.total_env_steps",
            json!(epochs * frames),
        );
    }

    // Encoder kind.
    let hidden = get("encoder.hidden_shapes");
    let vision_only = hidden
        .as_ref()
        .and_then(Value::as_array)
        .is_none_or(|a| a.is_empty());
    if vision_only {
        set(&mut tree, "encoder.kind", json!("vision_only"));
        report
            .notes
            .push("no encoder.hidden_shapes (no state MLP): a vision-only encoder".into());
    } else if let Some(h) = hidden {
        set(&mut tree, "encoder.hidden_shapes", h);
    }

    // Fusion network.
    let visual_dim = match get("encoder.visual_dim") {
        Some(v) => ctx.uint("encoder.visual_dim", &v)?,
        None => {
            report.notes.push("no encoder.visual_dim: using 256".into());
            set(&mut tree, "encoder.visual_dim", json!(256));
            256
        }
    };
    let transformer = get("net.transformer_params");
    let mamba = get("net.mamba_params");
    match (transformer, mamba) {
        (_, Some(m)) => {
            let layers = ctx.layer_lists("net.mamba_params", &m, 4)?;
            set(
                &mut tree,
                "sequence",
                json!({ "model": "mamba", "layers": layers }),
            );
            report.notes.push(format!(
                "net.mamba_params: {} Mamba layers carried over as given",
                layers.len()
            ));
        }
        (Some(t), None) => {
            let layers = ctx.layer_lists("net.transformer_params", &t, 2)?;
            if options.keep_transformer {
                set(
                    &mut tree,
                    "sequence",
                    json!({ "model": "transformer", "layers": layers }),
                );
                report.notes.push(format!(
                    "net.transformer_params: {} Transformer layers kept (--keep-transformer)",
                    layers.len()
                ));
            } else {
                let mamba: Vec<_> = layers
                    .iter()
                    .map(|_| json!([visual_dim, 16, 4, 2]))
                    .collect();
                report.notes.push(format!(
                    "net.transformer_params: {} Transformer layers became Mamba layers [{visual_dim}, 16, 4, 2]; \
                     pass --keep-transformer to keep the Transformer",
                    layers.len()
                ));
                set(
                    &mut tree,
                    "sequence",
                    json!({ "model": "mamba", "layers": mamba }),
                );
            }
            report.notes.push(
                "the Python LocoTransformer ignored encoder.visual_dim and ran at token width 64; \
                 set encoder.visual_dim = 64 (and d_model = 64 for Mamba) to reproduce it"
                    .into(),
            );
        }
        (None, None) => report
            .notes
            .push("no net.transformer_params or net.mamba_params: default sequence model".into()),
    }

    Ok(Converted {
        value: tree,
        report,
    })
}
