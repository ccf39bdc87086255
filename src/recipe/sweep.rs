//! Expansion of the `[sweep]` grid into named variants, each a fully resolved and validated recipe.

use serde_json::Value;

use super::error::RecipeError;
use super::load::{Overrides, RecipeSource, parse_set};
use super::types::Recipe;

/// One point of the grid: its name (a folder name), the overrides that define it, and its recipe.
#[derive(Debug, Clone)]
pub struct Variant {
    /// Folder-safe name such as `model-mamba`, or `base` when there is no sweep.
    pub name: String,
    /// `(dotted key, value)` pairs that distinguish this variant from the base recipe.
    pub overrides: Vec<(String, Value)>,
    /// The resolved recipe of this variant (its `sweep` table emptied).
    pub recipe: Recipe,
}

/// Every variant of the recipe's sweep grid (one `base` variant when there is none), resolved and
/// validated before anything runs, so a bad grid point fails up front.
pub fn variants(source: &RecipeSource, overrides: &Overrides) -> Result<Vec<Variant>, RecipeError> {
    let base = source.resolve(overrides, &[])?;
    let axes: Vec<(String, Vec<Value>)> = base.sweep.clone().into_iter().collect();
    for (axis, values) in &axes {
        let fail = |message: String| RecipeError::Sweep {
            file: source.file.clone(),
            axis: axis.clone(),
            message,
        };
        if values.is_empty() {
            return Err(fail("found an empty list, expected at least one value".into()));
        }
        if axis.split('.').any(str::is_empty) || axis.starts_with("sweep") {
            return Err(fail("expected a dotted recipe key such as \"sequence.model\"".into()));
        }
        for set in &overrides.sets {
            let (key, _) = parse_set(set)?;
            if key == *axis {
                return Err(fail(format!(
                    "--set {set} overrides a swept key; every variant would be the same"
                )));
            }
        }
    }
    if axes.is_empty() {
        return Ok(vec![Variant {
            name: "base".into(),
            overrides: Vec::new(),
            recipe: base,
        }]);
    }
    let mut points: Vec<Vec<(String, Value)>> = vec![Vec::new()];
    for (axis, values) in &axes {
        points = points
            .into_iter()
            .flat_map(|p| {
                values.iter().map(move |v| {
                    let mut q = p.clone();
                    q.push((axis.clone(), v.clone()));
                    q
                })
            })
            .collect();
    }
    let mut out: Vec<Variant> = Vec::with_capacity(points.len());
    for point in points {
        let mut recipe = source.resolve(overrides, &point)?;
        recipe.sweep.clear();
        let mut name = variant_name(&point);
        if out.iter().any(|v| v.name == name) {
            name = format!("{name}-{}", out.len());
        }
        out.push(Variant {
            name,
            overrides: point,
            recipe,
        });
    }
    Ok(out)
}

/// `[("sequence.model", "mamba"), ("ppo.policy_lr", 0.0002)]` -> `model-mamba_policy_lr-0.0002`.
pub fn variant_name(point: &[(String, Value)]) -> String {
    point
        .iter()
        .map(|(key, value)| {
            let last = key.rsplit('.').next().unwrap_or(key);
            let value = match value {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            let raw = format!("{last}-{value}");
            raw.chars()
                .map(|c| if c.is_ascii_alphanumeric() || "-_.".contains(c) { c } else { '-' })
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join("_")
}
