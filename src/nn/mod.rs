//! Networks in burn: encoders, Transformer and Mamba fusion, Gaussian policy and value heads.
//!
//! Token order for every fusion model: the state token first (when the encoder has one), then the
//! visual tokens in raster order of the CNN grid (row by row). Modules are backend-free (burn 0.22):
//! the backend is picked by the [`Device`](burn::prelude::Device) passed to `init`, see
//! [`cpu_device`].

mod autodiff_op;
pub mod bench;
pub mod describe;
pub mod device;
pub mod encoder;
pub mod error;
pub mod fusion;
pub mod init;
pub mod layer_norm_op;
pub mod linear_op;
pub mod mamba;
pub mod pointwise_op;
pub mod policy;
pub mod registry;
pub mod scan;
pub mod scan_bench;
pub mod scan_op;
pub mod token_linear;
pub mod transformer;

pub use describe::describe;
pub use device::cpu_device;
pub use encoder::{Encoder, ObsShape};
pub use error::NnError;
pub use fusion::Fusion;
pub use policy::{ActorCritic, PolicyBranch, ValueBranch, gaussian_entropy, gaussian_log_prob};
pub use registry::build_actor_critic;
