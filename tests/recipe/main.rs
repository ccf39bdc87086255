//! Recipes: loading and layering, error messages, the JSON Schema.

mod errors;
mod load;
mod schema;
