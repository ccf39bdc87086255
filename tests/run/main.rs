//! Running experiments: sweeps, jobs, checkpoints, weights, `runner check`.

mod check;
mod crash;
mod eval_agent;
mod eval_experiment;
mod export;
#[cfg(any(feature = "cuda", feature = "wgpu"))]
mod gpu;
mod memory;
mod readme;
mod report;
mod results;
mod resume;
mod shard;
mod sweep;
mod tiny;
mod video;
mod weights;
