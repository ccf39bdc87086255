//! Running experiments: sweeps, logging and checkpoints.

pub mod atomic;
pub mod tensorboard;
