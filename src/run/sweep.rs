//! `runner sweep` / `runner train`: every variant of the recipe's grid x every seed, run in
//! parallel up to `--jobs`, finished runs skipped, unfinished ones resumed; then the summary table.

use std::io::IsTerminal;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use burn::tensor::Device;
use thiserror::Error;

use super::atomic::write_atomic;
use super::job::{Job, JobError, JobOutcome, run_job};
use super::memory::MemoryError;
use super::paths::{RunDir, experiment_dir};
use super::progress::SweepProgress;
use super::report::ReportError;
use super::shard::{self, Grid, GridError, GridItem, Shard};
use super::summary::{RunSummary, sweep_table};
use super::threads::on_pool;
use crate::recipe::{Overrides, RecipeError, RecipeSource, Variant, variants};

/// Why a sweep failed.
#[derive(Debug, Error)]
pub enum SweepError {
    /// The recipe is invalid.
    #[error(transparent)]
    Recipe(#[from] RecipeError),
    /// A run failed (other runs finished or were checkpointed).
    #[error("{failed} run(s) failed; first: {first}")]
    Jobs {
        /// How many failed.
        failed: usize,
        /// The first error.
        first: JobError,
    },
    /// A run would not fit in memory.
    #[error(transparent)]
    Memory(#[from] Box<MemoryError>),
    /// The grid differs from the one frozen for the shards.
    #[error(transparent)]
    Grid(#[from] GridError),
    /// The summary could not be written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
}

/// How to run.
#[derive(Debug, Clone, Default)]
pub struct SweepOptions {
    /// Runs at a time (0 or 1 = one after another).
    pub jobs: usize,
    /// Replace finished runs.
    pub force: bool,
    /// Only this seed (`runner train --seed`).
    pub seed: Option<u64>,
    /// Only the base recipe, ignoring the sweep grid, and (without `seed`) only its first seed
    /// (`runner train`).
    pub base_only: bool,
    /// Refuse runs whose estimated memory exceeds this many bytes (default: the machine's).
    pub max_memory: Option<f64>,
    /// Run only this shard's items of the grid frozen in `sweep.json` (`--shard K/N`).
    pub shard: Option<Shard>,
}

/// What a sweep produced.
#[derive(Debug, Clone)]
pub struct SweepReport {
    /// Finished runs' summaries (skipped ones included).
    pub summaries: Vec<RunSummary>,
    /// The summary table (also in `summary.md`).
    pub table: String,
    /// True when Ctrl-C stopped it.
    pub interrupted: bool,
}

/// The jobs of a sweep: variants x seeds, in that order.
pub fn plan(
    source: &RecipeSource,
    overrides: &Overrides,
    options: &SweepOptions,
) -> Result<Vec<(Variant, Job)>, RecipeError> {
    let mut all = variants(source, overrides)?;
    if options.base_only && all.len() > 1 {
        let mut base = source.resolve(overrides, &[])?;
        base.sweep.clear();
        all = vec![Variant {
            name: "base".into(),
            overrides: Vec::new(),
            recipe: base,
        }];
    }
    let mut jobs = Vec::new();
    for v in all {
        let exp = experiment_dir(&v.recipe.experiment.output_dir, &v.recipe.experiment.name);
        let seeds = match options.seed {
            Some(s) => vec![s],
            // `runner train` without --seed: the recipe's first seed.
            None if options.base_only => v.recipe.experiment.seeds[..1].to_vec(),
            None => v.recipe.experiment.seeds.clone(),
        };
        for seed in seeds {
            let mut recipe = v.recipe.clone();
            recipe.experiment.seeds = vec![seed];
            jobs.push((
                v.clone(),
                Job {
                    variant: v.name.clone(),
                    seed,
                    recipe,
                    dir: RunDir::new(&exp, &v.name, seed),
                    force: options.force,
                },
            ));
        }
    }
    Ok(jobs)
}

/// Runs the sweep on `device`. `stop` is raised by Ctrl-C: running jobs checkpoint and stop.
pub fn run_sweep(
    source: &RecipeSource,
    overrides: &Overrides,
    options: &SweepOptions,
    device: &Device,
    stop: &AtomicBool,
) -> Result<SweepReport, SweepError> {
    let mut planned = plan(source, overrides, options)?;
    check_memory(source, &planned, options)?;
    if let Some(shard) = options.shard {
        if let Some((_, job)) = planned.first() {
            shard::freeze(&experiment_of(job), &grid_of(&planned))?;
        }
        planned = planned
            .into_iter()
            .enumerate()
            .filter(|(i, _)| shard.owns(*i))
            .map(|(_, p)| p)
            .collect();
    }
    let total: u64 = planned
        .iter()
        .map(|(_, j)| j.recipe.experiment.total_env_steps)
        .sum();
    let display = SweepProgress::new(std::io::stdout().is_terminal(), total);
    let workers = options.jobs.max(1).min(planned.len().max(1));
    let threads_per_job = (rayon::current_num_threads() / workers).max(1);
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<(usize, Result<JobOutcome, JobError>)>> = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..workers {
            // Each worker runs its jobs on a pool of its own (why: `super::threads`).
            scope.spawn(|| {
                on_pool(Some(threads_per_job), || {
                    loop {
                        let i = next.fetch_add(1, Ordering::SeqCst);
                        if i >= planned.len() || stop.load(Ordering::SeqCst) {
                            break;
                        }
                        let job = &planned[i].1;
                        let progress = display.job(&format!("{}/seed-{}", job.variant, job.seed));
                        let outcome = run_job(job, device, progress.as_ref(), stop);
                        if let Err(e) = &outcome {
                            progress.finish(&format!("failed: {e}"));
                        }
                        results.lock().expect("lock").push((i, outcome));
                    }
                })
                .expect("thread pool");
            });
        }
    });
    display.finish();
    let mut results = results.into_inner().expect("lock");
    results.sort_by_key(|(i, _)| *i);
    let mut summaries = Vec::new();
    let mut errors = Vec::new();
    let mut interrupted = stop.load(Ordering::SeqCst);
    for (_, r) in results {
        match r {
            Ok(JobOutcome::Finished(s) | JobOutcome::Skipped(s)) => summaries.push(s),
            Ok(JobOutcome::Interrupted) => interrupted = true,
            Err(e) => errors.push(e),
        }
    }
    let mut variants_seen: Vec<(String, String)> = Vec::new();
    for (v, _) in &planned {
        if !variants_seen.iter().any(|(n, _)| *n == v.name) {
            variants_seen.push((v.name.clone(), differs(v)));
        }
    }
    let mut table = sweep_table(&variants_seen, &summaries);
    table.push_str(
        "\nVariants differ only in the keys listed above; everything else is the same recipe.\n",
    );
    // A shard sees only its own runs: the experiment's summary is `runner summarize`'s job.
    if let Some((_, job)) = planned.first().filter(|_| options.shard.is_none()) {
        let exp = experiment_of(job);
        let path = exp.join("summary.md");
        write_atomic(&path, table.as_bytes()).map_err(|source| SweepError::Io {
            path: path.display().to_string(),
            source,
        })?;
        display.println(&format!("summary written to {}", path.display()));
        // The statistics report of everything in the experiment folder (this sweep's runs and
        // any earlier ones), as `runner report` writes it.
        // Runs that left nothing to read do not fail the sweep; a report that cannot be
        // written does, as the summary does.
        match super::report::write_report(&exp, &exp) {
            Ok((_, path)) => display.println(&format!("report written to {}", path.display())),
            Err(ReportError::Write { path, source }) => {
                return Err(SweepError::Io {
                    path: path.display().to_string(),
                    source,
                });
            }
            Err(_) => {}
        }
    }
    let failed = errors.len();
    if let Some(first) = errors.into_iter().next() {
        return Err(SweepError::Jobs { failed, first });
    }
    Ok(SweepReport {
        summaries,
        table,
        interrupted,
    })
}

/// Refuses the sweep, before anything is allocated or written, when a variant would not fit in
/// memory (`options.max_memory`, else the machine's).
fn check_memory(
    source: &RecipeSource,
    planned: &[(Variant, Job)],
    options: &SweepOptions,
) -> Result<(), SweepError> {
    let origin = source.file.display().to_string();
    for (variant, _) in planned {
        super::memory::check(&variant.recipe, &origin, options.max_memory)?;
    }
    Ok(())
}

/// The grid of a sweep's plan, in order.
fn grid_of(planned: &[(Variant, Job)]) -> Grid {
    Grid {
        items: planned
            .iter()
            .map(|(v, job)| GridItem {
                variant: v.name.clone(),
                seed: job.seed,
                differs: differs(v),
            })
            .collect(),
    }
}

/// Plans the sweep, checks that every variant fits in memory, and freezes its grid in the
/// experiment folder's `sweep.json` (for `--slurm`, before the array tasks start); returns the
/// experiment folder and the number of runs.
pub fn freeze_grid(
    source: &RecipeSource,
    overrides: &Overrides,
    options: &SweepOptions,
) -> Result<(std::path::PathBuf, usize), SweepError> {
    let planned = plan(source, overrides, options)?;
    check_memory(source, &planned, options)?;
    let (_, first) = planned.first().expect("a recipe has at least one seed");
    let experiment = experiment_of(first);
    shard::freeze(&experiment, &grid_of(&planned))?;
    Ok((experiment, planned.len()))
}

/// What distinguishes a variant from the recipe as written, for summaries.
fn differs(v: &Variant) -> String {
    if v.overrides.is_empty() {
        "the recipe as written".to_string()
    } else {
        v.overrides
            .iter()
            .map(|(k, val)| format!("{k} = {val}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The experiment folder of a job (`runs/<exp>`, two levels above its run folder).
fn experiment_of(job: &Job) -> std::path::PathBuf {
    job.dir
        .root
        .parent()
        .and_then(|p| p.parent())
        .map(|p| p.to_path_buf())
        .unwrap_or_default()
}

/// The job of an existing run folder (`runner train --resume RUN`): its own resolved recipe, seed
/// and variant, so it continues from its last checkpoint wherever the recipe file has gone;
/// `sets` change the keys a resume may change (see [`super::resume`]).
pub fn job_of_run(
    run_dir: &std::path::Path,
    sets: &[String],
) -> Result<Job, super::resume::ResumeError> {
    let recipe = super::resume::apply_changes(run_dir, sets)?;
    let seed = recipe.experiment.seeds[0];
    let variant = run_dir
        .parent()
        .and_then(|p| p.file_name())
        .map_or_else(|| "base".to_string(), |n| n.to_string_lossy().into_owned());
    Ok(Job {
        variant,
        seed,
        recipe,
        dir: RunDir {
            root: run_dir.to_path_buf(),
        },
        force: false,
    })
}

/// Resumes (or finishes) the job of one run folder ([`job_of_run`]) and returns its outcome.
pub fn resume_run(job: &Job, device: &Device, stop: &AtomicBool) -> Result<JobOutcome, SweepError> {
    let display = SweepProgress::new(
        std::io::stdout().is_terminal(),
        job.recipe.experiment.total_env_steps,
    );
    let progress = display.job(&format!("{}/seed-{}", job.variant, job.seed));
    let outcome = run_job(job, device, progress.as_ref(), stop);
    display.finish();
    outcome.map_err(|first| SweepError::Jobs { failed: 1, first })
}
