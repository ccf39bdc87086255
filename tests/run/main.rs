//! Running experiments: sweeps, jobs, checkpoints, weights, `runner check`.

mod check;
mod eval_agent;
mod memory;
mod readme;
mod report;
mod sweep;
mod video;
mod weights;
