//! Legacy Python configs converted into recipes.

mod golden;
mod refused;
