//! Errors raised while building networks from a recipe.

/// A recipe that cannot be turned into a network; every variant names the recipe key path.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum NnError {
    /// A Mamba layer's `d_model` differs from the token width `encoder.visual_dim`.
    #[error(
        "{key}: mamba d_model {d_model} must equal encoder.visual_dim {visual_dim} (the token width)"
    )]
    DModelMismatch {
        /// Recipe key path of the offending value, e.g. `sequence.layers[1][0]`.
        key: String,
        /// The requested d_model.
        d_model: usize,
        /// The encoder's token width.
        visual_dim: usize,
    },
    /// Any other invalid size in the recipe.
    #[error("{key}: {message}")]
    Invalid {
        /// Recipe key path of the offending value.
        key: String,
        /// What is wrong with it.
        message: String,
    },
}
