//! Env throughput benchmark (`runner bench env`).

use crate::bench::table::{Align, Table, num};
use crate::recipe::{EnvConfig, Task};
use crate::sim::SimError;
use crate::sim::env::Env;
use crate::sim::vec_env::VecEnv;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::time::Instant;

/// One task's numbers.
#[derive(Debug, Clone)]
pub struct BenchRow {
    /// Task.
    pub task: Task,
    /// Policy steps/s of one env on one thread.
    pub single_steps_per_s: f64,
    /// Policy steps/s of `num_envs` envs on the current rayon pool.
    pub vec_steps_per_s: f64,
    /// Milliseconds per depth image.
    pub depth_ms: f64,
}

/// Benchmark results, a table when displayed.
#[derive(Debug, Clone)]
pub struct BenchReport {
    /// Envs in the vectorised measurement.
    pub num_envs: usize,
    /// Rayon threads used.
    pub threads: usize,
    /// Policy steps per measurement.
    pub steps: usize,
    /// One row per task.
    pub rows: Vec<BenchRow>,
}

impl BenchReport {
    /// The rows as a table.
    pub fn table(&self) -> Table {
        let vec_column = format!("{} envs, {} threads (steps/s)", self.num_envs, self.threads);
        let mut t = Table::new(&[
            ("task", Align::Left),
            ("1 env, 1 thread (steps/s)", Align::Right),
            (vec_column.as_str(), Align::Right),
            ("depth image ms", Align::Right),
        ]);
        for r in &self.rows {
            t.push(vec![
                r.task.name().to_string(),
                num(r.single_steps_per_s, 1),
                num(r.vec_steps_per_s, 1),
                num(r.depth_ms, 2),
            ]);
        }
        t.note(format!(
            "{} policy steps of random actions per task, resets included.",
            self.steps
        ))
    }
}

/// Policy steps per second (summed over envs) of `cfg.num_envs` envs stepped together for
/// `steps` steps of random actions in [-1, 1] on the current rayon pool, resets included.
pub fn vec_env_rate(cfg: &EnvConfig, steps: usize, rng: &mut ChaCha8Rng) -> Result<f64, SimError> {
    let mut v = VecEnv::new(cfg, 1)?;
    let mut acts = vec![0.0f32; cfg.num_envs * v.spec().action_dim];
    let t0 = Instant::now();
    for _ in 0..steps {
        acts.iter_mut()
            .for_each(|x| *x = rng.random_range(-1.0..1.0));
        v.step(&acts);
    }
    Ok((steps * cfg.num_envs) as f64 / t0.elapsed().as_secs_f64())
}

/// Measures every task in `tasks` for `steps` policy steps with random actions.
pub fn bench_env(
    cfg: &EnvConfig,
    tasks: &[Task],
    num_envs: usize,
    steps: usize,
) -> Result<BenchReport, SimError> {
    let mut rows = Vec::new();
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    for &task in tasks {
        let mut c = cfg.clone();
        c.task = task;
        c.num_envs = 1;
        let mut env = Env::new(&c, 1, c.obstacle_density)?;
        let ad = crate::sim::env::action_dim(&c);
        let mut a = vec![0.0f32; ad];
        let t0 = Instant::now();
        for _ in 0..steps {
            a.iter_mut().for_each(|x| *x = rng.random_range(-1.0..1.0));
            let r = env.step(&a);
            if r.terminated || r.truncated {
                env.reset(rng.random(), c.obstacle_density)?;
            }
        }
        let single = steps as f64 / t0.elapsed().as_secs_f64();
        let mut buf = vec![0.0f32; c.depth.width * c.depth.height];
        let t0 = Instant::now();
        for _ in 0..steps {
            env.render_metric(&mut buf);
        }
        let depth_ms = t0.elapsed().as_secs_f64() * 1e3 / steps as f64;
        c.num_envs = num_envs;
        let vec_rate = vec_env_rate(&c, steps, &mut rng)?;
        rows.push(BenchRow {
            task,
            single_steps_per_s: single,
            vec_steps_per_s: vec_rate,
            depth_ms,
        });
    }
    Ok(BenchReport {
        num_envs,
        threads: rayon::current_num_threads(),
        steps,
        rows,
    })
}
