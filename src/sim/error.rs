//! Errors of the simulator.

/// What can go wrong when building or restoring environments.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The env configuration cannot be simulated.
    #[error("invalid env config: {0}")]
    InvalidConfig(String),
    /// A snapshot does not match the configuration it is restored with.
    #[error("snapshot mismatch: {0}")]
    SnapshotMismatch(String),
    /// Building the terrain mesh failed.
    #[error("terrain build failed: {0}")]
    Terrain(String),
    /// Writing an image failed.
    #[error("image write failed: {0}")]
    Image(String),
}
