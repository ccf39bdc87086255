//! PPO: advantage estimation ([`gae`]) and observation normalisation ([`normalizer`]).

pub mod gae;
pub mod grad_clip;
pub mod loss;
pub mod normalizer;
pub mod storage;
pub mod trainer;
