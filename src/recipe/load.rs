//! Layered loading: built-in defaults <- recipe file <- `LOCOMAMBA_<SECTION>__<KEY>` environment
//! variables <- sweep point <- `--set key=value`, merged with figment, then deserialised into the
//! typed [`Recipe`] with exact key paths in errors, resolved and validated.
//!
//! Every layer is a named figment provider, so an error names the layer that supplied the bad key
//! (a file, `environment variable LOCOMAMBA_PPO__CLIP`, `--set ppo.clip=x`, a sweep point).

use std::path::{Path, PathBuf};

use figment::providers::Serialized;
use figment::value::{Dict, Map};
use figment::{Figment, Metadata, Profile, Provider};
use serde_json::Value;

use super::error::RecipeError;
use super::types::{Recipe, SequenceConfig};
use super::{validate, version};
use crate::recipe::legacy::{self as migrate, MigrationReport};

/// Prefix of the environment variables that override recipe keys.
pub const ENV_PREFIX: &str = "LOCOMAMBA_";

/// A recipe file read from disk, already upgraded to the current format (and converted, when it was
/// a legacy Python config), ready to be layered with overrides.
#[derive(Debug, Clone)]
pub struct RecipeSource {
    /// The file it came from.
    pub file: PathBuf,
    /// The file's content as a value tree, in the current format.
    pub value: Value,
    /// Present when the file was a legacy JSON config converted in memory.
    pub migration: Option<MigrationReport>,
}

/// Overrides applied on top of the file: environment variables and `--set` arguments.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `(name, value)` pairs; only names `LOCOMAMBA_<SECTION>__<KEY>` are used.
    pub env: Vec<(String, String)>,
    /// `key=value` arguments, applied last, in order.
    pub sets: Vec<String>,
}

impl Overrides {
    /// Overrides from this process's environment and the given `--set` arguments.
    pub fn from_process(sets: &[String]) -> Self {
        Self {
            env: std::env::vars().collect(),
            sets: sets.to_vec(),
        }
    }
}

/// One named layer of values.
struct Layer {
    origin: String,
    value: Value,
}

impl Provider for Layer {
    fn metadata(&self) -> Metadata {
        Metadata::named(self.origin.clone())
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        Serialized::defaults(&self.value).data()
    }
}

/// Reads and parses a recipe (TOML or JSON by extension), converting a legacy Python config and
/// upgrading older format versions.
pub fn read_source(path: &Path) -> Result<RecipeSource, RecipeError> {
    let text = std::fs::read_to_string(path).map_err(|source| RecipeError::Io {
        file: path.to_path_buf(),
        source,
    })?;
    let value = parse_text(path, &text)?;
    let (value, migration) = if migrate::is_legacy(&value) {
        let converted = migrate::convert(&value, path, &migrate::MigrateOptions::default())?;
        (converted.value, Some(converted.report))
    } else {
        (value, None)
    };
    let value = version::upgrade(path, value)?;
    Ok(RecipeSource {
        file: path.to_path_buf(),
        value,
        migration,
    })
}

/// Parses recipe text as TOML or JSON, chosen by the file's extension.
pub fn parse_text(path: &Path, text: &str) -> Result<Value, RecipeError> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    match ext.as_str() {
        "toml" => {
            let table: toml::Table = toml::from_str(text).map_err(|e| {
                let offset = e.span().map(|s| s.start).unwrap_or(0);
                let (line, column) = line_column(text, offset);
                RecipeError::Syntax {
                    file: path.to_path_buf(),
                    format: "TOML",
                    line,
                    column,
                    message: e.message().trim().to_string(),
                }
            })?;
            if let Some((key, value)) = non_finite(&toml::Value::Table(table.clone()), "") {
                return Err(non_finite_error(path.display().to_string(), key, value));
            }
            serde_json::to_value(table).map_err(|e| RecipeError::Syntax {
                file: path.to_path_buf(),
                format: "TOML",
                line: 1,
                column: 1,
                message: e.to_string(),
            })
        }
        "json" => serde_json::from_str(text).map_err(|e| RecipeError::Syntax {
            file: path.to_path_buf(),
            format: "JSON",
            line: e.line(),
            column: e.column(),
            message: e.to_string(),
        }),
        other => Err(RecipeError::Extension {
            file: path.to_path_buf(),
            found: other.to_string(),
        }),
    }
}

/// 1-based line and column of a byte offset.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// Name of the built-in defaults layer.
const DEFAULTS_ORIGIN: &str = "built-in defaults";

/// Reads, layers, resolves and validates a recipe with the given overrides.
pub fn load(path: &Path, overrides: &Overrides) -> Result<Recipe, RecipeError> {
    read_source(path)?.resolve(overrides, &[])
}

impl RecipeSource {
    /// A source with no file: the built-in defaults alone (overrides still apply).
    pub fn defaults() -> Self {
        Self {
            file: PathBuf::from(DEFAULTS_ORIGIN),
            value: Value::Object(serde_json::Map::new()),
            migration: None,
        }
    }

    /// Builds the validated recipe from this file plus overrides and (for sweeps) one grid point
    /// given as `(dotted key, value)` pairs.
    pub fn resolve(
        &self,
        overrides: &Overrides,
        point: &[(String, Value)],
    ) -> Result<Recipe, RecipeError> {
        let layers = self.layers(overrides, point)?;
        let figment = layers
            .iter()
            .fold(Figment::new(), |fig, layer| fig.merge(layer));
        let merged: Value = figment.extract().map_err(|e| RecipeError::Invalid {
            origin: self.file.display().to_string(),
            path: e.path.join("."),
            message: e.kind.to_string(),
        })?;
        let recipe: Recipe = serde_path_to_error::deserialize(merged).map_err(|e| {
            let (path, message) =
                join_relative_path(e.path().to_string(), e.into_inner().to_string());
            let origin = origin_of(&figment, &path, &self.file);
            let (path, message) = self.as_written(&origin, path, message);
            RecipeError::Invalid {
                origin,
                path,
                message,
            }
        })?;
        let recipe = recipe.resolved();
        if let Some(v) = validate::violations(&recipe).into_iter().next() {
            let origin = origin_of(&figment, &v.path, &self.file);
            let (path, found) = self.as_written(&origin, v.path, v.found);
            return Err(RecipeError::Semantic {
                origin,
                path,
                found,
                expected: v.expected,
            });
        }
        Ok(recipe)
    }

    /// For a value of a converted legacy config (`origin` is its file): the legacy key the user
    /// wrote in place of the recipe key `path`, and `detail` saying which recipe key that became.
    /// Anything else is returned as it is.
    fn as_written(&self, origin: &str, path: String, detail: String) -> (String, String) {
        let legacy = self
            .migration
            .as_ref()
            .filter(|_| origin == self.file.display().to_string())
            .and_then(|report| report.legacy_key_of(&path));
        match legacy {
            Some(key) => (
                key.to_string(),
                format!("(converted to recipe key `{path}`) {detail}"),
            ),
            None => (path, detail),
        }
    }

    fn layers(
        &self,
        overrides: &Overrides,
        point: &[(String, Value)],
    ) -> Result<Vec<Layer>, RecipeError> {
        let defaults =
            serde_json::to_value(Recipe::default()).expect("default recipe serialises to JSON");
        let mut layers = vec![
            Layer {
                origin: DEFAULTS_ORIGIN.into(),
                value: defaults,
            },
            Layer {
                origin: self.file.display().to_string(),
                value: self.value.clone(),
            },
        ];
        let mut env: Vec<_> = overrides
            .env
            .iter()
            .filter_map(|(name, value)| env_key(name).map(|key| (name, key, value)))
            .collect();
        env.sort();
        for (name, key, value) in env {
            let origin = format!("environment variable {name}");
            let value = parse_scalar(value, &key)
                .map_err(|(path, number)| non_finite_error(origin.clone(), path, number))?;
            layers.push(Layer {
                origin,
                value: nest(&key, value),
            });
        }
        for (key, value) in point {
            layers.push(Layer {
                origin: format!("sweep point {key}={value} of {}", self.file.display()),
                value: nest(key, value.clone()),
            });
        }
        for arg in &overrides.sets {
            let (key, value) = parse_set(arg)?;
            layers.push(Layer {
                origin: format!("--set {arg}"),
                value: nest(&key, value),
            });
        }
        carry_model_switches(&mut layers);
        Ok(layers)
    }
}

/// The recipe key of an environment variable `LOCOMAMBA_<SECTION>__<KEY>`, if it is one.
fn env_key(name: &str) -> Option<String> {
    let rest = name.strip_prefix(ENV_PREFIX)?;
    rest.contains("__")
        .then(|| rest.to_ascii_lowercase().replace("__", "."))
}

/// Parses a `--set` argument `a.b=value`; the value is read as figment reads environment values
/// (numbers, booleans, `[lists]`, `{tables}`), else as a string.
pub fn parse_set(arg: &str) -> Result<(String, Value), RecipeError> {
    let (key, value) = arg.split_once('=').ok_or_else(|| RecipeError::SetSyntax {
        arg: arg.to_string(),
    })?;
    let key = key.trim();
    if key.is_empty() || key.split('.').any(|s| s.is_empty()) {
        return Err(RecipeError::SetSyntax {
            arg: arg.to_string(),
        });
    }
    let value = parse_scalar(value.trim(), key)
        .map_err(|(path, number)| non_finite_error(format!("--set {arg}"), path, number))?;
    Ok((key.to_string(), value))
}

/// The first NaN or infinite float in `value` (below `path`), with its key path. JSON has no
/// such numbers, so they would otherwise reach the recipe's types as `null`.
fn non_finite(value: &toml::Value, path: &str) -> Option<(String, f64)> {
    let join = |k: &str| {
        if path.is_empty() {
            k.to_string()
        } else {
            format!("{path}.{k}")
        }
    };
    match value {
        toml::Value::Float(f) if !f.is_finite() => Some((path.to_string(), *f)),
        toml::Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, v)| non_finite(v, &format!("{path}[{i}]"))),
        toml::Value::Table(t) => t.iter().find_map(|(k, v)| non_finite(v, &join(k))),
        _ => None,
    }
}

fn non_finite_error(origin: String, path: String, value: f64) -> RecipeError {
    RecipeError::Semantic {
        origin,
        path,
        found: value.to_string(),
        expected: "a finite number (NaN and infinity are not settings)".into(),
    }
}

/// A value of key `key` from the command line or the environment: a TOML value when it is one
/// (`0.1`, `1e-3`, `true`, `[0, 1]`, `"text"`), otherwise figment's lenient parse, otherwise the
/// text itself. A NaN or infinite number is refused with its key path.
fn parse_scalar(text: &str, key: &str) -> Result<Value, (String, f64)> {
    if let Ok(mut table) = toml::from_str::<toml::Table>(&format!("v = {text}"))
        && let Some(v) = table.remove("v")
    {
        if let Some(bad) = non_finite(&v, key) {
            return Err(bad);
        }
        if let Ok(json) = serde_json::to_value(v) {
            return Ok(json);
        }
    }
    let parsed: figment::value::Value = text
        .parse()
        .unwrap_or_else(|_| figment::value::Value::from(text.to_string()));
    Ok(serde_json::to_value(parsed).unwrap_or_else(|_| Value::String(text.to_string())))
}

/// `("a.b", v)` -> `{"a": {"b": v}}`.
fn nest(key: &str, value: Value) -> Value {
    key.rsplit('.').fold(value, |inner, segment| {
        let mut map = serde_json::Map::new();
        map.insert(segment.to_string(), inner);
        Value::Object(map)
    })
}

/// When a layer switches `sequence.model` without giving `sequence.layers`, the layers written for
/// the previous model do not apply: replace them with the new model's default layer, keeping the
/// depth. (Sweeping `"sequence.model" = ["transformer", "mamba"]` relies on this.) A switch to a
/// model without layers (`concat`, `state_only`) drops the earlier layers' `layers` and
/// `bidirectional` instead.
fn carry_model_switches(layers: &mut [Layer]) {
    let mut model: Option<String> = None;
    let mut depth = SequenceConfig::default().depth();
    for k in 0..layers.len() {
        let Some(sequence) = layers[k]
            .value
            .get_mut("sequence")
            .and_then(Value::as_object_mut)
        else {
            continue;
        };
        let new_model = sequence
            .get("model")
            .and_then(Value::as_str)
            .map(str::to_string);
        if let Some(new_model) = new_model {
            let switched = model.as_ref().is_some_and(|m| *m != new_model);
            let has_layers = matches!(new_model.as_str(), "transformer" | "mamba");
            if switched && has_layers && !sequence.contains_key("layers") {
                let default_layer = Value::Object(serde_json::Map::new());
                sequence.insert("layers".into(), Value::Array(vec![default_layer; depth]));
            }
            model = Some(new_model);
            if switched && !has_layers {
                for earlier in &mut layers[..k] {
                    if let Some(s) = earlier
                        .value
                        .get_mut("sequence")
                        .and_then(Value::as_object_mut)
                    {
                        s.remove("layers");
                        s.remove("bidirectional");
                    }
                }
                continue;
            }
        }
        if let Some(list) = layers[k]
            .value
            .get("sequence")
            .and_then(|s| s.get("layers"))
            .and_then(Value::as_array)
        {
            depth = list.len().max(1);
        }
    }
}

/// A type's own error may start with a path relative to where it was raised (`@layers[1]: ...`);
/// join it onto the key path so the message names the exact key.
fn join_relative_path(path: String, message: String) -> (String, String) {
    let Some((rel, rest)) = message.strip_prefix('@').and_then(|m| m.split_once(": ")) else {
        return (path, message);
    };
    let joined = if rel.starts_with('[') || path == "." || path.is_empty() {
        format!("{path}{rel}")
    } else {
        format!("{path}.{rel}")
    };
    (joined, rest.to_string())
}

/// Names the layer that supplied `path` (or its closest parent), for error messages. A value the
/// file left at its default still names the file, which is what the user edits.
fn origin_of(figment: &Figment, path: &str, file: &Path) -> String {
    let plain = path.split('[').next().unwrap_or(path).to_string();
    let mut key = plain.as_str();
    loop {
        if !key.is_empty()
            && let Some(meta) = figment.find_metadata(key)
        {
            return if meta.name == DEFAULTS_ORIGIN {
                format!("{} (`{path}` left at its default)", file.display())
            } else {
                meta.name.to_string()
            };
        }
        match key.rsplit_once('.') {
            Some((parent, _)) => key = parent,
            None => return file.display().to_string(),
        }
    }
}
