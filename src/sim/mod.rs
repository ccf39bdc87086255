//! The quadruped simulator: A1 on rapier3d, obstacle tasks, ray-cast depth camera, vectorised env.

pub mod action;
pub mod contacts;
pub mod depth;
pub mod env;
pub mod error;
pub mod gait;
pub mod joints;
pub mod observation;
pub mod png_out;
pub mod privileged;
pub mod reward;
pub mod robot;
pub mod terrain;
pub mod timing;
pub mod vec_env;
pub mod view;

pub use env::{Env, EpisodeStats};
pub use error::SimError;
pub use png_out::write_depth_png;
pub use reward::RewardTerms;
pub use timing::SimTiming;
pub use vec_env::{EnvSpec, StepOutput, VecEnv, VecEnvSnapshot};
