//! `runner`: the locomamba command line. Parses arguments and hands each command to the library;
//! errors are reported with `anyhow` here, at the edge.

use std::path::Path;

use anyhow::{Context, Result};
use clap::Parser;

mod cli;
mod export;
mod inspect;
mod signals;
mod slurm;
mod video;

use cli::{AgentArg, Cli, Command, with_backend};

use locomamba::bench::{self, BenchSizes};
use locomamba::check;
use locomamba::device;
use locomamba::recipe::Task;
use locomamba::recipe::legacy::LegacyModel;
use locomamba::recipe::{self, Overrides};
use locomamba::run;
use locomamba::run::atomic::write_atomic;
use locomamba::run::eval::EvalObserver;
use locomamba::run::sweep::{SweepOptions, run_sweep};
use locomamba::sim::gait::Trot;
use rand::SeedableRng;

/// mimalloc, counting heap bytes so `runner bench nets` can report peak memory.
#[global_allocator]
static ALLOC: locomamba::bench::alloc::PeakAlloc = locomamba::bench::alloc::PeakAlloc;

fn main() {
    locomamba::bench::alloc::keep_freed_memory();
    if let Err(e) = run(Cli::parse()) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Migrate {
            old,
            output,
            model,
            keep_transformer,
        } => inspect::migrate(
            &old,
            output.as_deref(),
            if keep_transformer {
                LegacyModel::Transformer
            } else {
                model
            },
        ),
        Command::Schema => {
            print!("{}", recipe::schema::schema_json());
            Ok(())
        }
        Command::Check { require_gpu } => {
            let report = check::run();
            print!("{report}");
            if !report.forward_ok() {
                anyhow::bail!("the Mamba forward check failed on a backend (see above)");
            }
            if require_gpu && !report.gpu_usable() {
                anyhow::bail!("--require-gpu: no usable GPU ({})", report.gpu_statuses());
            }
            Ok(())
        }
        Command::Describe {
            recipe,
            sets,
            max_memory,
        } => inspect::describe(&recipe, &sets, max_memory),
        Command::Report {
            experiment,
            output,
            reach,
        } => inspect::report(&experiment, output.as_deref(), reach),
        Command::Sweep {
            recipe,
            sets,
            jobs,
            backend,
            force,
            max_memory,
            shard,
            slurm: to_slurm,
            array_parallelism,
            time,
            sbatch_args,
            dry_run,
            max_requeues,
        } => {
            let sets = with_backend(sets, backend);
            let options = SweepOptions {
                jobs,
                force,
                max_memory,
                shard,
                ..Default::default()
            };
            if to_slurm {
                let slurm_options = run::slurm::SlurmOptions {
                    array_parallelism,
                    time,
                    sbatch_args,
                    max_requeues,
                };
                slurm::submit(&recipe, &sets, &options, &slurm_options, dry_run)
            } else {
                sweep(&recipe, &sets, &options, max_requeues)
            }
        }
        Command::Summarize { experiment } => slurm::summarize(&experiment),
        Command::Train {
            recipe,
            resume,
            seed,
            backend,
            sets,
            force,
            max_memory,
        } => match (recipe, resume) {
            (_, Some(run_dir)) => resume_run(&run_dir, &with_backend(sets, backend)),
            (Some(recipe), None) => {
                let sets = with_backend(sets, backend);
                let options = SweepOptions {
                    jobs: 1,
                    force,
                    seed,
                    base_only: true,
                    max_memory,
                    shard: None,
                };
                sweep(&recipe, &sets, &options, 0)
            }
            (None, None) => unreachable!("clap requires RECIPE or --resume"),
        },
        Command::Eval {
            checkpoint,
            agent,
            recipe,
            sets,
            period,
            hip,
            knee,
            knee_lag,
            task,
            episodes,
            seed,
            video,
            video_format,
            frame,
        } => {
            let videos = video.map(|dir| video::EvalVideos {
                dir,
                format: video_format,
                frame,
            });
            match agent {
                Some(agent) => {
                    let trot = TrotFlags {
                        period,
                        hip,
                        knee,
                        knee_lag,
                    };
                    eval_agent(
                        agent,
                        trot,
                        recipe.as_deref(),
                        checkpoint.as_deref(),
                        &sets,
                        task.as_deref(),
                        episodes,
                        seed,
                        videos.as_ref(),
                    )
                }
                None => eval(
                    checkpoint
                        .as_deref()
                        .expect("clap requires a checkpoint without --agent"),
                    task.as_deref(),
                    episodes,
                    seed,
                    videos.as_ref(),
                ),
            }
        }
        Command::Export {
            checkpoint,
            output,
            check,
            check_steps,
            python,
        } => export::export(
            &checkpoint,
            output.as_deref(),
            check.then_some((check_steps, python.as_str())),
        ),
        Command::Video {
            checkpoint,
            task,
            seed,
            steps,
            output,
            frame,
        } => video::video(
            &checkpoint,
            task.as_deref(),
            seed,
            steps,
            output.as_deref(),
            frame,
        ),
        Command::Render {
            recipe,
            output,
            steps,
            seed,
            sets,
        } => inspect::render(&recipe, &output, steps, seed, &sets),
        Command::Bench {
            what,
            recipe,
            sets,
            updates,
            steps,
            batch,
            batches,
            lens,
            backend,
            markdown,
        } => inspect::bench(
            what,
            &recipe,
            &with_backend(sets, backend),
            BenchSizes {
                updates,
                steps,
                batch,
                batches,
                lens,
            },
            if markdown {
                bench::Format::Markdown
            } else {
                bench::Format::Text
            },
        ),
    }
}

/// Loads a recipe (or legacy config) with the process's overrides and prints what was converted.
pub(crate) fn open_recipe(
    path: &Path,
    sets: &[String],
) -> Result<(recipe::RecipeSource, Overrides)> {
    let source = recipe::read_source(path)?;
    if let Some(report) = &source.migration {
        eprintln!(
            "note: {} is a legacy LocoTransformer config; converted in memory (`runner migrate` writes it out)",
            path.display()
        );
        for note in &report.notes {
            eprintln!("note: {note}");
        }
        for warning in report.warnings() {
            eprintln!("{warning}");
        }
    }
    Ok((source, Overrides::from_process(sets)))
}

fn sweep(path: &Path, sets: &[String], options: &SweepOptions, max_requeues: u32) -> Result<()> {
    let (source, overrides) = open_recipe(path, sets)?;
    let base = source.resolve(&overrides, &[])?;
    let device = device::select(&base.backend)?;
    signals::install();
    let report = run_sweep(&source, &overrides, options, &device, &signals::STOP)?;
    println!("\n{}", report.table);
    if report.interrupted {
        if signals::time_limit_warned() && run::slurm::requeue_self(max_requeues)? {
            println!("time limit near: checkpoint written, task requeued to continue");
        } else {
            println!("interrupted: run the same command again to resume");
        }
    }
    Ok(())
}

fn resume_run(run_dir: &Path, sets: &[String]) -> Result<()> {
    let job = run::sweep::job_of_run(run_dir, sets)?;
    let device = device::select(&job.recipe.backend)?;
    signals::install();
    match run::sweep::resume_run(&job, &device, &signals::STOP)? {
        run::job::JobOutcome::Interrupted => {
            println!("interrupted: run the same command again to resume")
        }
        run::job::JobOutcome::Finished(s) | run::job::JobOutcome::Skipped(s) => println!(
            "{}: return {:.2}, distance {:.2} m after {} env steps",
            run_dir.display(),
            s.final_return,
            s.final_distance,
            s.env_steps
        ),
    }
    Ok(())
}

/// The task named by `--task`.
fn task_named(task: &str) -> Result<Task> {
    Task::ALL
        .into_iter()
        .find(|t| t.name() == task)
        .with_context(|| {
            let known: Vec<_> = Task::ALL.iter().map(|t| t.name()).collect();
            format!("--task {task:?}: expected one of {}", known.join(", "))
        })
}

/// `--period --hip --knee --knee-lag`: each replaces that value of the recipe's `[env.trot]`.
struct TrotFlags {
    period: Option<f32>,
    hip: Option<f32>,
    knee: Option<f32>,
    knee_lag: Option<f32>,
}

impl TrotFlags {
    /// The recipe's trot with the given flags applied.
    fn apply(&self, recipe: &recipe::TrotConfig) -> Trot {
        Trot {
            period_steps: self.period.unwrap_or(recipe.period_steps),
            hip: self.hip.unwrap_or(recipe.hip),
            knee: self.knee.unwrap_or(recipe.knee),
            knee_lag: self.knee_lag.unwrap_or(recipe.knee_lag),
        }
    }
}

/// `runner eval --agent`: a sanity agent's metrics, in the same form as a policy's.
#[allow(clippy::too_many_arguments)]
fn eval_agent(
    agent: AgentArg,
    trot: TrotFlags,
    recipe_path: Option<&Path>,
    checkpoint: Option<&Path>,
    sets: &[String],
    task: Option<&str>,
    episodes: usize,
    seed: u64,
    videos: Option<&video::EvalVideos>,
) -> Result<()> {
    let mut recipe = match (recipe_path, checkpoint) {
        (Some(path), _) => {
            let (source, overrides) = open_recipe(path, sets)?;
            source.resolve(&overrides, &[])?
        }
        (None, Some(path)) => run::checkpoint::recipe_of(&run::checkpoint::resolve(path)?)?,
        (None, None) => {
            let overrides = Overrides {
                sets: sets.to_vec(),
                ..Default::default()
            };
            recipe::RecipeSource::defaults().resolve(&overrides, &[])?
        }
    };
    if let Some(task) = task {
        recipe.env.task = task_named(task)?;
    }
    let mut agent = match agent {
        AgentArg::Zero => run::eval::SanityAgent::Zero,
        AgentArg::Random => run::eval::SanityAgent::Random {
            std: recipe.ppo.init_log_std.exp(),
            rng: Box::new(rand_chacha::ChaCha8Rng::seed_from_u64(seed)),
        },
        AgentArg::Trot => run::eval::SanityAgent::Trot(trot.apply(&recipe.env.trot)),
    };
    let mut observer = videos.map(video::EvalVideos::observer).transpose()?;
    let result = agent.evaluate(
        &recipe.env,
        episodes,
        seed,
        observer.as_mut().map(|o| o as &mut dyn EvalObserver),
    )?;
    let steps =
        recipe.env.horizon as f32 * recipe.env.time_step_s * recipe.env.action_repeat as f32;
    println!(
        "{result} (agent {}, episodes of up to {steps:.0} s)",
        agent.describe()
    );
    observer.map(video::report_written).transpose()?;
    Ok(())
}

fn eval(
    path: &Path,
    task: Option<&str>,
    episodes: usize,
    seed: u64,
    videos: Option<&video::EvalVideos>,
) -> Result<()> {
    let checkpoint = run::checkpoint::resolve(path)?;
    let mut recipe = run::checkpoint::recipe_of(&checkpoint)?;
    if let Some(task) = task {
        recipe.env.task = task_named(task)?;
    }
    let device = device::select(&recipe.backend)?;
    let model = run::checkpoint::model_of(&checkpoint, &recipe, &device)?;
    let norm = run::checkpoint::norm_of(&checkpoint)?;
    let mut observer = videos.map(video::EvalVideos::observer).transpose()?;
    let result = run::eval::evaluate(
        (&model, norm.as_ref(), &recipe.memory),
        &recipe.env,
        episodes,
        seed,
        &device,
        observer.as_mut().map(|o| o as &mut dyn EvalObserver),
    )?;
    println!("{} ({})", result, checkpoint.display());
    observer.map(video::report_written).transpose()?;
    let mut out = run::paths::eval_output(&checkpoint, &result.task, seed);
    // An evaluation of more episodes already there is kept; this one goes beside it.
    let kept = std::fs::read(&out)
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .and_then(|v| v.get("episodes").and_then(serde_json::Value::as_u64));
    if let Some(kept) = kept.filter(|&k| k > result.episodes as u64) {
        let stem = out.file_stem().unwrap_or_default().to_string_lossy();
        let beside = out.with_file_name(format!("{stem}-{}ep.json", result.episodes));
        println!("kept the {kept}-episode evaluation in {}", out.display());
        out = beside;
    }
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    write_atomic(&out, serde_json::to_string_pretty(&result)?.as_bytes())?;
    println!("wrote {}", out.display());
    Ok(())
}
