//! Writes a converted legacy config as a commented recipe file.

use std::path::Path;

use super::{Converted, MigrateError, MigrateOptions, convert, is_legacy};
use crate::recipe::{Overrides, Recipe, RecipeError, RecipeSource};

/// Converts a legacy config file's parsed JSON into a validated recipe and its TOML text: a header
/// saying what was converted, the full recipe, then every unmapped legacy key as a comment.
pub fn migrate_to_toml(
    legacy: &serde_json::Value,
    file: &Path,
    options: &MigrateOptions,
) -> Result<(Recipe, Converted, String), RecipeError> {
    if !is_legacy(legacy) {
        return Err(MigrateError::NotLegacy {
            file: file.to_path_buf(),
        }
        .into());
    }
    let converted = convert(legacy, file, options).map_err(RecipeError::from)?;
    let source = RecipeSource {
        file: file.to_path_buf(),
        value: converted.value.clone(),
        migration: Some(converted.report.clone()),
    };
    let recipe = source.resolve(&Overrides::default(), &[])?;
    let text = render(&recipe, &converted);
    Ok((recipe, converted, text))
}

/// The recipe text with its header and the unmapped keys as comments.
pub fn render(recipe: &Recipe, converted: &Converted) -> String {
    let report = &converted.report;
    let file_name = report
        .file
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let mut out = String::new();
    out.push_str(&format!(
        "# Converted by `runner migrate` from the legacy LocoTransformer config {file_name}.\n"
    ));
    out.push_str(
        "# Every legacy key with a meaning is mapped (see migrations/README.md); keys with no\n",
    );
    out.push_str("# counterpart are listed as comments at the end.\n");
    for note in &report.notes {
        out.push_str(&format!("# note: {note}\n"));
    }
    out.push('\n');
    out.push_str(&recipe.to_toml());
    if !report.unmapped.is_empty() {
        out.push_str("\n# Legacy keys with no counterpart (not used):\n");
        for (key, value) in &report.unmapped {
            out.push_str(&format!("# {key} = {value}\n"));
        }
    }
    out
}
