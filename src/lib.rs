//! locomamba: train vision-guided quadruped locomotion policies with PPO, fusing proprioception and
//! depth with a Transformer (LocoTransformer) or Mamba (LocoMamba).
//!
//! Modules by level, each importing only from those before it:
//! - [`kernels`]: plain-slice CPU kernels and CubeCL kernels (no burn types);
//! - [`ops`]: those kernels as burn backend operations with autodiff nodes;
//! - [`nn`]: network modules (encoders, Transformer, Mamba, heads) and the model registry;
//! - [`recipe`]: experiment declarations, their loading, validation and legacy configs;
//! - [`device`]: picks the CPU backend or CUDA;
//! - [`sim`]: the A1 on rapier3d, tasks, depth camera, vectorised env;
//! - [`ppo`]: the algorithm, its storage and trainer;
//! - [`run`]: sweeps, jobs, checkpoints, logging, evaluation;
//! - [`bench`] (`runner bench`) and [`check`] (`runner check`), tools over all of the above.

pub mod bench;
pub mod check;
pub mod device;
pub mod kernels;
pub mod nn;
pub mod ops;
pub mod ppo;
pub mod recipe;
pub mod run;
pub mod sim;
