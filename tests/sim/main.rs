//! The simulator: tasks, depth camera, physics invariants, determinism.

mod bench;
mod depth;
mod determinism;
mod standing;
mod tasks;
