//! Recipes: loading and layering, error messages, the JSON Schema.

mod errors;
mod legacy_errors;
mod load;
mod schema;
