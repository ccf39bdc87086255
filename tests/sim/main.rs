//! The simulator: tasks, depth camera, physics invariants, determinism.

mod bench;
mod depth;
mod determinism;
mod gait;
mod observation;
mod privileged;
mod standing;
mod tasks;
mod view;
