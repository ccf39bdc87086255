//! locomamba: train vision-guided quadruped locomotion policies with PPO, fusing proprioception and
//! depth with a Transformer (LocoTransformer) or Mamba (LocoMamba).
//!
//! The crate is split by concern: [`recipe`] declares experiments, [`migrate`] converts the Python
//! project's configs, [`ppo`] trains, [`run`] runs experiments, [`check`] reports what this build can do.

pub mod check;
pub mod kernels;
pub mod migrate;
pub mod nn;
pub mod ppo;
pub mod recipe;
pub mod run;
pub mod sim;
