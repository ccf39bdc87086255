//! Running experiments: output layout, metrics, TensorBoard, summaries, atomic writes.

pub mod atomic;
pub mod layout;
pub mod metrics;
pub mod summary;
pub mod tensorboard;
pub mod weights;
