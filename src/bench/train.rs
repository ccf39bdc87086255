//! End-to-end training benchmark for `runner bench train`: env steps per second of whole PPO
//! updates (rollout, GAE and optimisation), one row per recipe.

use std::time::Instant;

use burn::tensor::Device;

use crate::bench::table::{Align, Table, num};
use crate::ppo::trainer::{TrainError, Trainer};
use crate::recipe::Recipe;

/// One measured recipe.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainBenchRow {
    /// Fusion model name (`transformer` or `mamba`).
    pub model: String,
    /// The recipe's experiment name.
    pub recipe: String,
    /// Number of envs stepped together.
    pub num_envs: usize,
    /// Env steps per update.
    pub rollout_steps: usize,
    /// Updates timed.
    pub updates: u64,
    /// Env steps per second while collecting (policy inference + physics + depth).
    pub rollout_steps_per_s: f64,
    /// Mean seconds of one whole update.
    pub update_s: f64,
    /// Env steps per second over whole updates (what bounds a training budget).
    pub total_steps_per_s: f64,
}

/// Times `updates` PPO updates of `recipe` from a fresh seed-0 trainer on `device`.
pub fn train_bench(
    recipe: &Recipe,
    updates: u64,
    device: &Device,
) -> Result<TrainBenchRow, TrainError> {
    let mut trainer = Trainer::new(recipe, 0, device)?;
    let updates = updates.max(1);
    let mut rollout_time = 0.0;
    let started = Instant::now();
    for _ in 0..updates {
        let stats = trainer.update()?;
        rollout_time += stats
            .scalars
            .iter()
            .find(|(k, _)| k == "perf/rollout_time_s")
            .map_or(0.0, |(_, v)| *v);
    }
    let elapsed = started.elapsed().as_secs_f64();
    let steps = trainer.counters().env_steps as f64;
    Ok(TrainBenchRow {
        model: recipe.sequence.model().name().to_string(),
        recipe: recipe.experiment.name.clone(),
        num_envs: recipe.env.num_envs,
        rollout_steps: recipe.ppo.rollout_steps,
        updates,
        rollout_steps_per_s: steps / rollout_time.max(1e-9),
        update_s: elapsed / updates as f64,
        total_steps_per_s: steps / elapsed.max(1e-9),
    })
}

/// The rows as a table.
pub fn table(rows: &[TrainBenchRow]) -> Table {
    let mut t = Table::new(&[
        ("model", Align::Left),
        ("recipe", Align::Left),
        ("envs", Align::Right),
        ("rollout", Align::Right),
        ("updates", Align::Right),
        ("rollout steps/s", Align::Right),
        ("s per update", Align::Right),
        ("env steps/s", Align::Right),
    ]);
    for r in rows {
        t.push(vec![
            r.model.clone(),
            r.recipe.clone(),
            r.num_envs.to_string(),
            r.rollout_steps.to_string(),
            r.updates.to_string(),
            num(r.rollout_steps_per_s, 1),
            num(r.update_s, 2),
            num(r.total_steps_per_s, 1),
        ]);
    }
    t.note(
        "rollout steps/s: while collecting (inference, physics, depth); s per update: a whole \
         update, rollout included; env steps/s: over whole updates, what bounds a budget.",
    )
}
