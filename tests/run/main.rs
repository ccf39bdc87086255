//! Running experiments: sweeps, jobs, checkpoints, weights, `runner check`.

mod check;
mod sweep;
mod weights;
