//! Network modules in burn: encoders, Transformer and Mamba fusion, Gaussian policy and value
//! heads, and the registry that builds them from a recipe. The fused operations they call are in
//! [`crate::ops`].
//!
//! Token order for every fusion model: the state token first (when the encoder has one), then the
//! visual tokens in raster order of the CNN grid (row by row). Modules are backend-free (burn 0.22):
//! the backend is picked by the [`Device`](burn::prelude::Device) passed to `init`, see
//! [`crate::device::cpu_device`].

pub mod encoder;
pub mod error;
pub mod fusion;
pub mod fusion_memory;
pub mod init;
pub mod mamba;
pub mod memory;
pub mod policy;
pub mod registry;
pub mod scan_reference;
pub mod token_linear;
pub mod transformer;

pub use encoder::{Encoder, ObsShape};
pub use error::NnError;
pub use fusion::Fusion;
pub use memory::{BranchMemories, Memory};
pub use policy::{ActorCritic, PolicyBranch, ValueBranch, gaussian_entropy, gaussian_log_prob};
pub use registry::build_actor_critic;
