//! PPO pieces and the learning check.

mod gae;
mod learning;
mod loss;
mod memory_probe;
