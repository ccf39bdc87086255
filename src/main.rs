//! `runner`: the locomamba command line. Parses arguments and hands each command to the library;
//! errors are reported with `anyhow` here, at the edge.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result};
use burn::module::Module;
use clap::{Parser, Subcommand};

use locomamba::bench::{self, BenchKind, BenchSizes};
use locomamba::check;
use locomamba::device;
use locomamba::nn;
use locomamba::recipe::legacy::{MigrateOptions, render};
use locomamba::recipe::{self, Overrides};
use locomamba::recipe::{Recipe, Task};
use locomamba::run;
use locomamba::run::atomic::write_atomic;
use locomamba::run::sweep::{SweepOptions, run_sweep};
use locomamba::sim::{Env, VecEnv, write_depth_png};

/// mimalloc, counting heap bytes so `runner bench nets` can report peak memory.
#[global_allocator]
static ALLOC: locomamba::bench::alloc::PeakAlloc = locomamba::bench::alloc::PeakAlloc;

/// Train vision-guided quadruped locomotion policies (Transformer or Mamba fusion) with PPO.
#[derive(Debug, Parser)]
#[command(name = "runner", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Train every seed and every point of the recipe's [sweep] grid (the main job).
    Sweep {
        /// The recipe (TOML, JSON, or a legacy JSON config).
        recipe: PathBuf,
        /// Override a recipe key, e.g. `--set ppo.clip=0.1` (repeatable).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        sets: Vec<String>,
        /// Runs at a time; each gets an equal share of the CPU threads.
        #[arg(long, default_value_t = 1)]
        jobs: usize,
        /// Backend for the networks (same as `--set backend.kind=...`).
        #[arg(long, value_enum)]
        backend: Option<BackendArg>,
        /// Retrain finished runs (their old folders are renamed, not deleted).
        #[arg(long)]
        force: bool,
    },
    /// Train one seed of the recipe (its sweep grid ignored).
    Train {
        /// The recipe (TOML, JSON, or a legacy JSON config).
        #[arg(required_unless_present = "resume", conflicts_with = "resume")]
        recipe: Option<PathBuf>,
        /// Continue one run folder (`runs/<experiment>/<variant>/seed-<n>`) from its last checkpoint,
        /// with the recipe stored in it.
        #[arg(long, value_name = "RUN")]
        resume: Option<PathBuf>,
        /// Seed (default: the recipe's first).
        #[arg(long)]
        seed: Option<u64>,
        /// Backend for the networks (same as `--set backend.kind=...`).
        #[arg(long, value_enum)]
        backend: Option<BackendArg>,
        /// Override a recipe key (repeatable).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        sets: Vec<String>,
        /// Retrain a finished run.
        #[arg(long)]
        force: bool,
    },
    /// Evaluate a checkpoint deterministically (mean action).
    Eval {
        /// A checkpoint folder, a run's checkpoints/ folder, or a run folder (latest checkpoint).
        checkpoint: PathBuf,
        /// Evaluate on another task (generalisation).
        #[arg(long)]
        task: Option<String>,
        /// Episodes.
        #[arg(long, default_value_t = 10)]
        episodes: usize,
        /// Seed of the evaluation envs.
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
    /// Write the depth camera's view at the start of an episode as a PNG (near = bright).
    Render {
        /// The recipe whose env (task, camera) to render.
        recipe: PathBuf,
        /// Output PNG.
        #[arg(short, long, default_value = "depth.png")]
        output: PathBuf,
        /// Policy steps (zero action) before the frame is taken.
        #[arg(long, default_value_t = 5)]
        steps: usize,
        /// Seed of the episode (obstacle layout).
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Override a recipe key (repeatable), e.g. `--set env.task=spheres`.
        #[arg(long = "set", value_name = "KEY=VALUE")]
        sets: Vec<String>,
    },
    /// Benchmarks: networks, simulator, or end-to-end training.
    Bench {
        /// What to measure.
        #[arg(value_enum)]
        what: BenchKind,
        /// Recipes to measure (repeatable; default: the two thin-obstacles recipes).
        #[arg(long)]
        recipe: Vec<PathBuf>,
        /// Override a recipe key (repeatable), e.g. `--set env.num_envs=4`.
        #[arg(long = "set", value_name = "KEY=VALUE")]
        sets: Vec<String>,
        /// Updates to time for `train`.
        #[arg(long, default_value_t = 2)]
        updates: u64,
        /// Policy steps per task for `env`.
        #[arg(long, default_value_t = 200)]
        steps: usize,
        /// Batch of the training-step rows for `nets`.
        #[arg(long, default_value_t = 1024)]
        batch: usize,
        /// Batch sizes for `scan` (comma-separated; default 256,1024 on CPU, 256,1024,4096 on CUDA).
        #[arg(long, value_delimiter = ',')]
        batches: Vec<usize>,
        /// Sequence lengths for `scan` (comma-separated; default 17,65,257 on CPU,
        /// 17,256,1024,4096 on CUDA).
        #[arg(long, value_delimiter = ',')]
        lens: Vec<usize>,
        /// Backend for the networks (same as `--set backend.kind=...`).
        #[arg(long, value_enum)]
        backend: Option<BackendArg>,
    },
    /// Convert a legacy Python LocoTransformer JSON config into a recipe.
    Migrate {
        /// The legacy JSON config.
        old: PathBuf,
        /// Write the recipe here (atomically) instead of standard output.
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// Keep the Transformer instead of converting its layers to Mamba layers.
        #[arg(long)]
        keep_transformer: bool,
    },
    /// Print the recipe JSON Schema.
    Schema,
    /// Report the version, compiled backends, CPU threads and CUDA availability, and check a tiny
    /// Mamba forward on every backend that can run.
    Check {
        /// Exit with an error when no CUDA device can be used.
        #[arg(long)]
        require_cuda: bool,
    },
    /// Print the resolved recipe and its sweep variants.
    Describe {
        /// The recipe (TOML, JSON, or a legacy JSON config).
        recipe: PathBuf,
        /// Override a recipe key, e.g. `--set ppo.clip=0.1` (repeatable).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        sets: Vec<String>,
    },
}

/// `--backend`: where the networks run.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum BackendArg {
    /// CPU (always available).
    Cpu,
    /// CUDA (a binary built with `--features cuda` and a device).
    Cuda,
}

/// `sets` with `--backend` appended as the last override.
fn with_backend(mut sets: Vec<String>, backend: Option<BackendArg>) -> Vec<String> {
    if let Some(b) = backend {
        let kind = match b {
            BackendArg::Cpu => "cpu",
            BackendArg::Cuda => "cuda",
        };
        sets.push(format!("backend.kind={kind}"));
    }
    sets
}

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
            keep_transformer,
        } => migrate(&old, output.as_deref(), keep_transformer),
        Command::Schema => {
            print!("{}", recipe::schema::schema_json());
            Ok(())
        }
        Command::Check { require_cuda } => {
            let report = check::run();
            print!("{report}");
            if !report.forward_ok() {
                anyhow::bail!("the Mamba forward check failed on a backend (see above)");
            }
            if require_cuda && !report.cuda_usable() {
                anyhow::bail!("--require-cuda: no usable CUDA device ({})", report.cuda);
            }
            Ok(())
        }
        Command::Describe { recipe, sets } => describe(&recipe, &sets),
        Command::Sweep {
            recipe,
            sets,
            jobs,
            backend,
            force,
        } => {
            let sets = with_backend(sets, backend);
            let options = SweepOptions {
                jobs,
                force,
                ..Default::default()
            };
            sweep(&recipe, &sets, &options)
        }
        Command::Train {
            recipe,
            resume,
            seed,
            backend,
            sets,
            force,
        } => match (recipe, resume) {
            (_, Some(run_dir)) => resume_run(&run_dir),
            (Some(recipe), None) => {
                let sets = with_backend(sets, backend);
                let options = SweepOptions {
                    jobs: 1,
                    force,
                    seed,
                    base_only: true,
                };
                sweep(&recipe, &sets, &options)
            }
            (None, None) => unreachable!("clap requires RECIPE or --resume"),
        },
        Command::Eval {
            checkpoint,
            task,
            episodes,
            seed,
        } => eval(&checkpoint, task.as_deref(), episodes, seed),
        Command::Render {
            recipe,
            output,
            steps,
            seed,
            sets,
        } => render(&recipe, &output, steps, seed, &sets),
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
        } => bench(
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
        ),
    }
}

/// Loads a recipe (or legacy config) with the process's overrides and prints what was converted.
fn open_recipe(path: &Path, sets: &[String]) -> Result<(recipe::RecipeSource, Overrides)> {
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

fn describe(path: &Path, sets: &[String]) -> Result<()> {
    let (source, overrides) = open_recipe(path, sets)?;
    let variants = recipe::variants(&source, &overrides)?;
    let base = source.resolve(&overrides, &[])?;
    println!("# resolved recipe {}", path.display());
    print!("{}", base.to_toml());
    println!(
        "\n# {} variant(s) x {} seed(s)",
        variants.len(),
        base.experiment.seeds.len()
    );
    for v in &variants {
        let what: Vec<String> = v
            .overrides
            .iter()
            .map(|(k, val)| format!("{k}={val}"))
            .collect();
        println!("#   {}: {}", v.name, what.join(", "));
    }
    let model = build_model(&base)?;
    println!("\n# networks ({} parameters)", model.num_params());
    for line in run::describe::describe(&model).lines() {
        println!("#   {line}");
    }
    Ok(())
}

fn migrate(old: &Path, output: Option<&Path>, keep_transformer: bool) -> Result<()> {
    let text =
        std::fs::read_to_string(old).with_context(|| format!("cannot read {}", old.display()))?;
    let legacy = recipe::load::parse_text(old, &text)?;
    let options = MigrateOptions { keep_transformer };
    let (_, converted, toml) = render::migrate_to_toml(&legacy, old, &options)?;
    for note in &converted.report.notes {
        eprintln!("note: {note}");
    }
    for warning in converted.report.warnings() {
        eprintln!("{warning}");
    }
    match output {
        Some(path) => {
            write_atomic(path, toml.as_bytes())?;
            eprintln!("wrote {}", path.display());
        }
        None => std::io::stdout().write_all(toml.as_bytes())?,
    }
    Ok(())
}

static STOP: AtomicBool = AtomicBool::new(false);

/// First Ctrl-C: running jobs write a checkpoint and stop. Second: exit at once.
fn install_ctrl_c() {
    let _ = ctrlc::set_handler(|| {
        if STOP.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
        eprintln!("\ninterrupt: writing checkpoints, then stopping (Ctrl-C again to quit at once)");
    });
}

fn sweep(path: &Path, sets: &[String], options: &SweepOptions) -> Result<()> {
    let (source, overrides) = open_recipe(path, sets)?;
    let base = source.resolve(&overrides, &[])?;
    let device = device::select(&base.backend)?;
    install_ctrl_c();
    let report = run_sweep(&source, &overrides, options, &device, &STOP)?;
    println!("\n{}", report.table);
    if report.interrupted {
        println!("interrupted: run the same command again to resume");
    }
    Ok(())
}

fn resume_run(run_dir: &Path) -> Result<()> {
    let job = run::sweep::job_of_run(run_dir)?;
    let device = device::select(&job.recipe.backend)?;
    install_ctrl_c();
    match run::sweep::resume_run(run_dir, &device, &STOP)? {
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

fn eval(path: &Path, task: Option<&str>, episodes: usize, seed: u64) -> Result<()> {
    let checkpoint = run::checkpoint::resolve(path)?;
    let mut recipe = run::checkpoint::recipe_of(&checkpoint)?;
    if let Some(task) = task {
        recipe.env.task = Task::ALL
            .into_iter()
            .find(|t| t.name() == task)
            .with_context(|| {
                let known: Vec<_> = Task::ALL.iter().map(|t| t.name()).collect();
                format!("--task {task:?}: expected one of {}", known.join(", "))
            })?;
    }
    let device = device::select(&recipe.backend)?;
    let model = run::checkpoint::model_of(&checkpoint, &recipe, &device)?;
    let norm = run::checkpoint::norm_of(&checkpoint)?;
    let result = run::eval::evaluate(&model, norm.as_ref(), &recipe.env, episodes, seed, &device)?;
    println!("{} ({})", result, checkpoint.display());
    let out = run::paths::eval_output(&checkpoint, &result.task, seed);
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    write_atomic(&out, serde_json::to_string_pretty(&result)?.as_bytes())?;
    println!("wrote {}", out.display());
    Ok(())
}

/// Builds the recipe's networks (CPU, seed 0) for the observation shapes of its env.
fn build_model(recipe: &Recipe) -> Result<nn::ActorCritic> {
    let spec = VecEnv::new(&recipe.env, 0)?.spec();
    Ok(nn::build_actor_critic(
        recipe,
        &nn::ObsShape::from(&spec),
        &locomamba::device::cpu_device(),
    )?)
}

fn bench(what: BenchKind, paths: &[PathBuf], sets: &[String], sizes: BenchSizes) -> Result<()> {
    let defaults: Vec<PathBuf> = bench::DEFAULT_RECIPES.iter().map(PathBuf::from).collect();
    let paths = if paths.is_empty() {
        &defaults[..]
    } else {
        paths
    };
    let mut recipes = Vec::new();
    for path in paths {
        let (source, overrides) = open_recipe(path, sets)?;
        recipes.push(source.resolve(&overrides, &[])?);
    }
    print!("{}", bench::run(what, &recipes, sizes)?);
    Ok(())
}

fn render(path: &Path, output: &Path, steps: usize, seed: u64, sets: &[String]) -> Result<()> {
    let (source, overrides) = open_recipe(path, sets)?;
    let recipe = source.resolve(&overrides, &[])?;
    let cfg = &recipe.env;
    let mut env = Env::new(cfg, seed, cfg.obstacle_density)?;
    let zero = vec![0.0; locomamba::sim::env::action_dim(cfg)];
    for _ in 0..steps {
        env.step(&zero);
    }
    let mut metric = vec![0.0; cfg.depth.width * cfg.depth.height];
    env.render_metric(&mut metric);
    let (w, h) = (cfg.depth.width, cfg.depth.height);
    write_depth_png(output, &metric, w, h, cfg.depth.near, cfg.depth.far)?;
    println!(
        "wrote {} ({w}x{h}, task {}, seed {seed}, after {steps} steps)",
        output.display(),
        cfg.task.name()
    );
    Ok(())
}
