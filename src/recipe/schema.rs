//! The recipe's JSON Schema, generated from the types' doc comments and defaults; the checked-in
//! `schemas/recipe.schema.json` must equal [`schema_json`] (a test enforces it).

use super::types::Recipe;

/// The JSON Schema of a recipe, pretty-printed with a trailing newline.
pub fn schema_json() -> String {
    let schema = schemars::schema_for!(Recipe);
    let mut text = serde_json::to_string_pretty(&schema).expect("schema serialises");
    text.push('\n');
    text
}
