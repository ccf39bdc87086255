//! One training run (one variant, one seed) from start or from its last checkpoint to its summary:
//! TensorBoard, `metrics.csv`, periodic checkpoints and evaluations, a clean stop on Ctrl-C, and a
//! hard stop (keeping the last good checkpoint) when training produces NaN or infinity.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use burn::tensor::Device;
use thiserror::Error;

use super::atomic::write_atomic;
use super::checkpoint::{self, CheckpointError};
use super::depth_strip::DepthStrip;
use super::eval;
use super::lock::{self, LockError, RunLock};
use super::metrics::MetricsCsv;
use super::paths::RunDir;
use super::summary::RunSummary;
use super::tensorboard::TensorBoard;
use crate::ppo::stats::episode_scalars;
use crate::ppo::trainer::{TrainError, Trainer};
use crate::recipe::Recipe;

/// Why a run stopped with an error.
#[derive(Debug, Error)]
pub enum JobError {
    /// Training failed.
    #[error("{run}: {source}")]
    Train {
        /// The run folder.
        run: String,
        /// The cause.
        source: TrainError,
    },
    /// A checkpoint could not be written or read.
    #[error("{run}: {source}")]
    Checkpoint {
        /// The run folder.
        run: String,
        /// The cause.
        source: CheckpointError,
    },
    /// A file could not be written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// Another process is training this run.
    #[error(transparent)]
    Locked(#[from] LockError),
    /// The run folder holds a run of a different recipe.
    #[error(
        "{path} holds a run of a different recipe ({keys}); resuming it would mix two \
         experiments. Use another experiment name, or --force to replace it (the old folder is \
         renamed, not deleted)"
    )]
    RecipeChanged {
        /// The recipe file in the run folder.
        path: String,
        /// The keys that differ, with the stored and the new value.
        keys: String,
    },
}

/// How a run ended.
#[derive(Debug, Clone)]
pub enum JobOutcome {
    /// Trained to the end (now or earlier); its summary.
    Finished(RunSummary),
    /// Already finished before; skipped.
    Skipped(RunSummary),
    /// Stopped by Ctrl-C after writing a checkpoint.
    Interrupted,
}

/// What a job reports as it goes.
pub trait Progress: Send + Sync {
    /// Training (re)starts at `env_steps` of `total` env steps.
    fn start(&self, env_steps: u64, total: u64);
    /// After an update.
    fn update(&self, env_steps: u64, steps_per_s: f64, mean_return: Option<f64>);
    /// A line worth printing (checkpoint, evaluation, resume).
    fn message(&self, text: &str);
    /// The run ended.
    fn finish(&self, text: &str);
}

/// One run to do.
#[derive(Debug, Clone)]
pub struct Job {
    /// Variant name (folder).
    pub variant: String,
    /// Seed.
    pub seed: u64,
    /// The variant's recipe.
    pub recipe: Recipe,
    /// Its folders.
    pub dir: RunDir,
    /// Replace a finished (or different) run instead of skipping / refusing it.
    pub force: bool,
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> JobError + '_ {
    move |source| JobError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Renames an existing run folder out of the way (for `--force`); nothing is deleted.
fn set_aside(root: &Path) -> Result<Option<PathBuf>, JobError> {
    if !root.exists() {
        return Ok(None);
    }
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let name = format!(
        "{}.replaced-{stamp}",
        root.file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default()
    );
    let target = root.with_file_name(name);
    std::fs::rename(root, &target).map_err(io_err(root))?;
    Ok(Some(target))
}

/// How the recipe stored at `stored` differs from `recipe`, or `None` when they are the same
/// recipe written differently (a file written by an older version lacks keys added since, which
/// read back as their defaults).
fn recipe_difference(stored: &Path, recipe: &Recipe) -> Option<String> {
    let Ok(old) = crate::recipe::load(stored, &crate::recipe::Overrides::default()) else {
        return Some("the stored recipe no longer loads".into());
    };
    let changed = super::resume::changed_keys(&old, recipe);
    if changed.is_empty() {
        return None;
    }
    let mut shown: Vec<String> = changed
        .iter()
        .take(4)
        .map(|(key, was, now)| format!("{key}: {was} -> {now}"))
        .collect();
    if changed.len() > 4 {
        shown.push(format!("{} more", changed.len() - 4));
    }
    Some(shown.join(", "))
}

/// Runs (or resumes, or skips) one job. `stop` is raised by Ctrl-C.
pub fn run_job(
    job: &Job,
    device: &Device,
    progress: &dyn Progress,
    stop: &AtomicBool,
) -> Result<JobOutcome, JobError> {
    let dir = &job.dir;
    let run = dir.root.display().to_string();
    let recipe_text = job.recipe.to_toml();
    let existing = std::fs::read_to_string(dir.recipe()).ok();
    // Another shard or process may be training this very run.
    lock::ensure_free(&dir.root)?;
    if job.force {
        if let Some(old) = set_aside(&dir.root)? {
            progress.message(&format!("--force: previous run moved to {}", old.display()));
        }
    } else if let Some(keys) = existing
        .as_ref()
        .filter(|t| **t != recipe_text)
        .and_then(|_| recipe_difference(&dir.recipe(), &job.recipe))
    {
        // Checked before skipping a finished run, so changed settings are never silently
        // answered with old results.
        return Err(JobError::RecipeChanged {
            path: dir.recipe().display().to_string(),
            keys,
        });
    } else if dir.finished() {
        let text = std::fs::read_to_string(dir.summary()).map_err(io_err(&dir.summary()))?;
        if let Ok(summary) = serde_json::from_str::<RunSummary>(&text) {
            progress.finish("already finished; skipped (use --force to retrain)");
            return Ok(JobOutcome::Skipped(summary));
        }
    }
    std::fs::create_dir_all(&dir.root).map_err(io_err(&dir.root))?;
    let _lock = RunLock::acquire(&dir.root)?;
    write_atomic(&dir.recipe(), recipe_text.as_bytes()).map_err(io_err(&dir.recipe()))?;

    let train_err = |source| JobError::Train {
        run: run.clone(),
        source,
    };
    let ckpt_err = |source| JobError::Checkpoint {
        run: run.clone(),
        source,
    };
    let mut trainer = Trainer::new(&job.recipe, job.seed, device).map_err(train_err)?;
    let resumed = checkpoint::latest(&dir.checkpoints()).map_err(ckpt_err)?;
    if let Some(path) = &resumed {
        trainer = checkpoint::restore(trainer, path).map_err(ckpt_err)?;
        progress.message(&format!("resumed from {}", path.display()));
    }
    run_loop(job, trainer, resumed.is_some(), progress, stop)
}

fn run_loop(
    job: &Job,
    mut trainer: Trainer,
    resumed: bool,
    progress: &dyn Progress,
    stop: &AtomicBool,
) -> Result<JobOutcome, JobError> {
    let dir = &job.dir;
    let run = dir.root.display().to_string();
    let ckpt_err = |source| JobError::Checkpoint {
        run: run.clone(),
        source,
    };
    let log = &job.recipe.logging;
    let mut csv = MetricsCsv::open(&dir.metrics(), resumed.then_some(trainer.counters().update))
        .map_err(io_err(&dir.metrics()))?;
    let mut tb = if log.tensorboard {
        Some(TensorBoard::create(&dir.tensorboard()).map_err(io_err(&dir.tensorboard()))?)
    } else {
        None
    };
    let total = trainer.total_updates() * trainer.steps_per_update();
    progress.start(trainer.counters().env_steps, total);
    while !trainer.done() {
        if stop.load(Ordering::SeqCst) {
            checkpoint::save(&trainer, &dir.checkpoints()).map_err(ckpt_err)?;
            progress.finish("interrupted; checkpoint written, run again to resume");
            return Ok(JobOutcome::Interrupted);
        }
        let stats = trainer.update().map_err(|source| JobError::Train {
            run: run.clone(),
            source,
        })?;
        let update = trainer.counters().update;
        let steps = trainer.counters().env_steps;
        let mut scalars = stats.scalars;
        if log.eval_interval > 0 && update.is_multiple_of(log.eval_interval as u64) {
            let mut strip = DepthStrip::new();
            let result = evaluate(&trainer, None, Some(&mut strip))?;
            progress.message(&format!("update {update}: eval {result}"));
            scalars.extend(eval_scalars(&result));
            if let (Some(tb), Some((pixels, width, height))) = (&mut tb, strip.image()) {
                tb.gray_image("eval/depth", &pixels, width, height, steps)
                    .map_err(io_err(&dir.tensorboard()))?;
            }
        }
        if update.is_multiple_of(log.log_interval as u64) || trainer.done() {
            csv.append(update, steps, &scalars)
                .map_err(io_err(&dir.metrics()))?;
            if let Some(tb) = &mut tb {
                for (tag, value) in &scalars {
                    tb.scalar(tag, *value as f32, steps)
                        .map_err(io_err(&dir.tensorboard()))?;
                }
                tb.flush().map_err(io_err(&dir.tensorboard()))?;
            }
        }
        if update.is_multiple_of(log.checkpoint_interval as u64) && !trainer.done() {
            checkpoint::save(&trainer, &dir.checkpoints()).map_err(ckpt_err)?;
        }
        let sps = scalars
            .iter()
            .find(|(k, _)| k == "perf/env_steps_per_s")
            .map_or(0.0, |(_, v)| *v);
        let ret = scalars
            .iter()
            .find(|(k, _)| k == "train/episode_return")
            .map(|(_, v)| *v);
        progress.update(steps, sps, ret);
    }
    checkpoint::save(&trainer, &dir.checkpoints()).map_err(ckpt_err)?;
    let summary = summarize(job, &trainer)?;
    let json = serde_json::to_vec_pretty(&summary).expect("summary serialises");
    write_atomic(&dir.summary(), &json).map_err(io_err(&dir.summary()))?;
    progress.finish(&format!(
        "done: return {:.2}, distance {:.2} m, {:.0} env steps/s",
        summary.final_return, summary.final_distance, summary.env_steps_per_s
    ));
    Ok(JobOutcome::Finished(summary))
}

fn evaluate(
    trainer: &Trainer,
    task: Option<crate::recipe::Task>,
    observer: Option<&mut dyn eval::EvalObserver>,
) -> Result<eval::EvalResult, JobError> {
    let mut env = trainer.recipe().env.clone();
    if let Some(t) = task {
        env.task = t;
    }
    let episodes = trainer.recipe().logging.eval_episodes.max(1);
    let seed = crate::ppo::seeding::mix_seed(trainer.seed() ^ 0xe7a1, trainer.counters().update);
    eval::evaluate(
        (trainer.model(), trainer.norm(), &trainer.recipe().memory),
        &env,
        episodes,
        seed,
        trainer.device(),
        observer,
    )
    .map_err(|e| JobError::Train {
        run: String::new(),
        source: TrainError::Sim(e),
    })
}

fn eval_scalars(r: &eval::EvalResult) -> Vec<(String, f64)> {
    vec![
        ("eval/episode_return".into(), r.mean_return),
        ("eval/distance".into(), r.mean_distance),
        ("eval/distance_std".into(), r.std_distance),
        ("eval/speed".into(), r.mean_speed),
        ("eval/collisions".into(), r.mean_collisions),
        ("eval/fall_rate".into(), r.fall_rate),
        ("eval/success_rate".into(), r.success_rate),
    ]
}

/// Final numbers: a deterministic evaluation when `logging.eval_episodes > 0`, else the last
/// training episodes.
fn summarize(job: &Job, trainer: &Trainer) -> Result<RunSummary, JobError> {
    let (ret, dist, coll, fall) = if job.recipe.logging.eval_episodes > 0 {
        let r = evaluate(trainer, None, None)?;
        (
            r.mean_return,
            r.mean_distance,
            r.mean_collisions,
            r.fall_rate,
        )
    } else {
        let s = episode_scalars("x", trainer.recent_episodes().iter());
        let get = |k: &str| s.iter().find(|(n, _)| n == k).map_or(f64::NAN, |(_, v)| *v);
        (
            get("x/episode_return"),
            get("x/distance"),
            get("x/collisions"),
            get("x/fall_rate"),
        )
    };
    let c = trainer.counters();
    Ok(RunSummary {
        variant: job.variant.clone(),
        seed: job.seed,
        env_steps: c.env_steps,
        updates: c.update,
        final_return: ret,
        final_distance: dist,
        final_collisions: coll,
        final_fall_rate: fall,
        wall_time_s: c.wall_time_s,
        env_steps_per_s: c.env_steps as f64 / c.wall_time_s.max(1e-9),
    })
}
