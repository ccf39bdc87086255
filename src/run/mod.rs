//! Running experiments: sweeps of jobs, each job a training run with checkpoints, evaluation,
//! metrics (CSV and TensorBoard), progress bars and atomic writes.

pub mod atomic;
pub mod checkpoint;
pub mod deploy;
pub mod depth_strip;
pub mod describe;
pub mod eval;
pub mod export;
pub(crate) mod font;
pub mod job;
pub mod lock;
pub mod memory;
pub mod metrics;
pub mod paths;
pub mod progress;
pub mod recurrent;
pub mod report;
pub mod resume;
pub mod shard;
pub mod slurm;
pub mod stats;
pub mod summarize;
pub mod summary;
pub mod sweep;
pub mod tensorboard;
pub mod threads;
pub mod video;
pub mod weights;
