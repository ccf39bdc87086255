//! End-to-end training benchmark for `runner bench train`: env steps per second of whole PPO
//! updates (rollout, GAE and optimisation), one row per recipe.

use std::fmt;
use std::time::Instant;

use burn::tensor::Device;

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

/// The rows as an aligned text table.
pub struct TrainBenchTable<'a>(pub &'a [TrainBenchRow]);

impl fmt::Display for TrainBenchTable<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{:<12} {:<28} {:>5} {:>8} {:>8} {:>16} {:>10} {:>14}",
            "model",
            "recipe",
            "envs",
            "rollout",
            "updates",
            "rollout steps/s",
            "update s",
            "total steps/s"
        )?;
        for r in self.0 {
            writeln!(
                f,
                "{:<12} {:<28} {:>5} {:>8} {:>8} {:>16.1} {:>10.2} {:>14.1}",
                r.model,
                r.recipe,
                r.num_envs,
                r.rollout_steps,
                r.updates,
                r.rollout_steps_per_s,
                r.update_s,
                r.total_steps_per_s
            )?;
        }
        Ok(())
    }
}
