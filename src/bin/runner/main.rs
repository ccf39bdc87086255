//! `runner`: the locomamba command line. Parses arguments and hands each command to the library;
//! errors are reported with `anyhow` here, at the edge.

use std::path::Path;

use anyhow::Result;
use clap::Parser;

mod cli;
mod evaluate;
mod export;
mod inspect;
mod signals;
mod slurm;
mod video;

use cli::{Cli, Command, with_backend};

use locomamba::bench::{self, BenchSizes};
use locomamba::check;
use locomamba::device;
use locomamba::recipe::legacy::LegacyModel;
use locomamba::recipe::{self, Overrides};
use locomamba::run;
use locomamba::run::sweep::{SweepOptions, run_sweep};
use locomamba::run::threads::on_pool;

/// mimalloc, counting heap bytes so `runner bench nets` can report peak memory.
#[global_allocator]
static ALLOC: locomamba::bench::alloc::PeakAlloc = locomamba::bench::alloc::PeakAlloc;

fn main() {
    locomamba::bench::alloc::keep_freed_memory();
    let cli = Cli::parse();
    // Every command runs on a rayon pool's worker, as each sweep job does (see run::threads).
    let outcome = on_pool(None, || run(cli)).unwrap_or_else(|e| Err(e.into()));
    if let Err(e) = outcome {
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
            experiments,
            output,
            reach,
        } => inspect::report(&experiments, output.as_deref(), reach),
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
                    let trot = evaluate::TrotFlags {
                        period,
                        hip,
                        knee,
                        knee_lag,
                    };
                    evaluate::agent(
                        agent,
                        &trot,
                        recipe.as_deref(),
                        checkpoint.as_deref(),
                        &sets,
                        &task,
                        episodes,
                        &seed,
                        videos.as_ref(),
                    )
                }
                None => evaluate::policy(
                    checkpoint
                        .as_deref()
                        .expect("clap requires a checkpoint without --agent"),
                    &task,
                    episodes,
                    &seed,
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
            warmup_updates,
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
                warmup_updates,
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
