//! Recipes: typed experiment declarations ([`types`]), their layered loading ([`load`]), semantic
//! validation ([`validate`]), format versions ([`version`]), sweep grids ([`sweep`]) and JSON
//! Schema ([`schema`]).

pub mod error;
pub mod layers;
pub mod legacy;
pub mod load;
pub mod schema;
pub mod sweep;
pub mod types;
pub mod validate;
pub mod version;

pub use error::RecipeError;
pub use layers::{MambaLayer, TransformerLayer};
pub use load::{Overrides, RecipeSource, load, read_source};
pub use sweep::{Variant, variants};
pub use types::*;
