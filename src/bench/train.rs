//! End-to-end training benchmark for `runner bench train`: env steps per second of whole PPO
//! updates (rollout, GAE and optimisation), one row per recipe, beside the simulator's own rate
//! at the same env count and threads, and where each update's time goes.

use std::time::Instant;

use burn::tensor::Device;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::bench::BenchError;
use crate::bench::env::vec_env_rate;
use crate::bench::table::{Align, Table, num};
use crate::ppo::curriculum;
use crate::ppo::trainer::{PhaseTimes, Trainer};
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
    /// Untimed updates run first (buffers' first touch and the allocator's growth, which a
    /// training run pays once, not per update).
    pub warmup_updates: u64,
    /// Env steps per second while collecting (policy inference + physics + depth).
    pub rollout_steps_per_s: f64,
    /// Mean seconds of one whole update.
    pub update_s: f64,
    /// Env steps per second over whole updates (what bounds a training budget).
    pub total_steps_per_s: f64,
    /// The simulator alone: policy steps per second of the same envs (random actions) on the
    /// same threads, for as many steps as the updates collected.
    pub sim_steps_per_s: f64,
    /// Where the updates spent their time, summed over them.
    pub phases: PhaseTimes,
}

/// Times `updates` PPO updates of `recipe` from a fresh seed-0 trainer on `device`, after
/// `warmup_updates` untimed ones, then the simulator alone on the same envs at the curriculum's
/// start.
pub fn train_bench(
    recipe: &Recipe,
    updates: u64,
    warmup_updates: u64,
    device: &Device,
) -> Result<TrainBenchRow, BenchError> {
    let mut trainer = Trainer::new(recipe, 0, device)?;
    for _ in 0..warmup_updates {
        trainer.update()?;
    }
    let _untimed = trainer.take_phase_times();
    let steps_before = trainer.counters().env_steps;
    let updates = updates.max(1);
    let started = Instant::now();
    for _ in 0..updates {
        trainer.update()?;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let phases = trainer.take_phase_times();
    let steps = (trainer.counters().env_steps - steps_before) as f64;
    let mut env = recipe.env.clone();
    let level = curriculum::level_at_steps(&recipe.env.curriculum, 0);
    let start = recipe.env.difficulty_at(level);
    (env.obstacle_density, env.target_vel) = (start.obstacle_density, start.target_vel);
    let sim_steps = (steps as usize).div_ceil(env.num_envs);
    let sim = vec_env_rate(&env, sim_steps, &mut ChaCha8Rng::seed_from_u64(7))?;
    Ok(TrainBenchRow {
        model: recipe.sequence.model().name().to_string(),
        recipe: recipe.experiment.name.clone(),
        num_envs: recipe.env.num_envs,
        rollout_steps: recipe.ppo.rollout_steps,
        updates,
        warmup_updates,
        rollout_steps_per_s: steps / phases.collect_s.max(1e-9),
        update_s: elapsed / updates as f64,
        total_steps_per_s: steps / elapsed.max(1e-9),
        sim_steps_per_s: sim,
        phases,
    })
}

/// The rows as two tables: throughput against the simulator alone, and the phase split.
pub fn tables(rows: &[TrainBenchRow]) -> Vec<Table> {
    let mut t = Table::new(&[
        ("model", Align::Left),
        ("recipe", Align::Left),
        ("envs", Align::Right),
        ("rollout", Align::Right),
        ("updates", Align::Right),
        ("rollout steps/s", Align::Right),
        ("s per update", Align::Right),
        ("env steps/s", Align::Right),
        ("simulator alone steps/s", Align::Right),
        ("end to end / simulator", Align::Right),
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
            num(r.sim_steps_per_s, 1),
            num(r.total_steps_per_s / r.sim_steps_per_s.max(1e-9), 2),
        ]);
    }
    let throughput = t.note(
        "rollout steps/s: while collecting (inference, physics, depth); s per update: a whole \
         update, rollout included; env steps/s: over whole updates, what bounds a budget; \
         simulator alone: the same envs with random actions on the same threads. Timed after \
         `--warmup-updates` untimed updates (the first pays for buffers' first touch).",
    );
    let mut p = Table::new(&[
        ("recipe", Align::Left),
        ("physics", Align::Right),
        ("depth", Align::Right),
        ("env other", Align::Right),
        ("inference", Align::Right),
        ("rollout other", Align::Right),
        ("forward", Align::Right),
        ("backward", Align::Right),
        ("optimiser", Align::Right),
        ("update other", Align::Right),
    ]);
    for r in rows {
        let ph = &r.phases;
        let per = |s: f64| num(s / ph.updates.max(1) as f64, 3);
        let env_other = ph.env_s - ph.physics_s() - ph.depth_s();
        p.push(vec![
            r.recipe.clone(),
            per(ph.physics_s()),
            per(ph.depth_s()),
            per(env_other),
            per(ph.inference_s),
            per(ph.collect_other_s()),
            per(ph.forward_s),
            per(ph.backward_s),
            per(ph.optimizer_s),
            per(ph.optimise_other_s()),
        ]);
    }
    let split = p.note(
        "seconds per update. Rollout: physics and depth (their shares of the envs' thread time \
         applied to the env steps' wall time), env other (resets, observation copies), policy and \
         value inference, rollout other (storage, normalisers). Update: minibatch forward and \
         losses, backward, optimiser (gradient norms, clipping, Adam), update other (advantages).",
    );
    vec![throughput, split]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warm_up_updates_are_run_but_not_timed() {
        let mut r = Recipe::default();
        r.env.num_envs = 2;
        r.env.depth.width = 36;
        r.env.depth.height = 36;
        r.encoder.visual_dim = 8;
        r.head.hidden_shapes = vec![8];
        r.ppo.rollout_steps = 16;
        r.ppo.minibatch_size = 8;
        r.ppo.epochs = 1;
        let row = train_bench(&r, 1, 2, &Device::flex()).unwrap();
        assert_eq!((row.updates, row.warmup_updates), (1, 2));
        // Only the timed update's phases and env steps are counted.
        assert_eq!(row.phases.updates, 1);
        let steps = row.total_steps_per_s * row.update_s;
        assert!((steps - 16.0).abs() < 1e-6 * 16.0, "{steps}");
    }
}
