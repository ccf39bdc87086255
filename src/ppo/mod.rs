//! PPO: advantage estimation ([`gae`]) and observation normalisation ([`normalizer`]).

pub mod gae;
pub mod loss;
pub mod normalizer;
