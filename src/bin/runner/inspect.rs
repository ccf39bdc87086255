//! The commands that inspect and measure rather than train: `describe`, `migrate`, `render`,
//! `report` and `bench`.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use burn::module::Module;

use locomamba::bench::{self, BenchKind, BenchSizes};
use locomamba::device;
use locomamba::nn;
use locomamba::recipe::legacy::{LegacyModel, MigrateOptions, render};
use locomamba::recipe::{self, Recipe};
use locomamba::run;
use locomamba::run::atomic::write_atomic;
use locomamba::sim::{Env, EnvSpec, write_depth_png};

use crate::open_recipe;

pub(crate) fn describe(path: &Path, sets: &[String], max_memory: Option<f64>) -> Result<()> {
    let (source, overrides) = open_recipe(path, sets)?;
    let variants = recipe::variants(&source, &overrides)?;
    let base = source.resolve(&overrides, &[])?;
    // Before the env and the networks are built for the module tree below.
    let origin = path.display().to_string();
    let mut memory = Vec::new();
    for v in &variants {
        memory.push(run::memory::check(&v.recipe, &origin, max_memory)?);
    }
    let memory_base = run::memory::check(&base, &origin, max_memory)?;
    println!("# resolved recipe {}", path.display());
    print!("{}", base.to_toml());
    println!(
        "\n# {} variant(s) x {} seed(s)",
        variants.len(),
        base.experiment.seeds.len()
    );
    for (v, m) in variants.iter().zip(&memory) {
        let what: Vec<String> = v
            .overrides
            .iter()
            .map(|(k, val)| format!("{k}={val}"))
            .collect();
        println!(
            "#   {}: {} (memory about {})",
            v.name,
            what.join(", "),
            run::memory::human_bytes(m.total())
        );
    }
    let bytes = run::memory::human_bytes;
    println!(
        "\n# memory estimate: {} (depth buffers {}, rollout storage {}, networks and update {})",
        bytes(memory_base.total()),
        bytes(memory_base.depth_buffers),
        bytes(memory_base.rollout_storage),
        bytes(memory_base.networks)
    );
    println!(
        "\n# memory across control steps: {}",
        run::describe::memory_line(&base)
    );
    let device = device::select(&base.backend)?;
    let time = bench::estimate::estimate(&base, &device)?;
    println!(
        "\n# wall time per run on this machine: about {} ({} updates of {:.1} s; measured in a \
         short burst on {} threads: simulator {:.0} policy steps/s with {} envs, inference {:.1} \
         ms, training step {:.0} ms at batch {}; evaluations and checkpoints come on top)",
        bench::estimate::human_duration(time.run_s),
        base.experiment
            .total_env_steps
            .div_ceil(base.ppo.rollout_steps.max(1) as u64),
        time.update_s,
        rayon::current_num_threads(),
        time.sim_steps_per_s,
        base.env.num_envs,
        time.inference_ms,
        time.train_step_ms,
        base.ppo.minibatch_size
    );
    let model = build_model(&base)?;
    println!("\n# networks ({} parameters)", model.num_params());
    for line in run::describe::describe(&model).lines() {
        println!("#   {line}");
    }
    Ok(())
}

pub(crate) fn migrate(old: &Path, output: Option<&Path>, model: LegacyModel) -> Result<()> {
    let text =
        std::fs::read_to_string(old).with_context(|| format!("cannot read {}", old.display()))?;
    let legacy = recipe::load::parse_text(old, &text)?;
    let options = MigrateOptions { model };
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

/// Builds the recipe's networks (CPU, seed 0) for the observation shapes of its env.
pub(crate) fn build_model(recipe: &Recipe) -> Result<nn::ActorCritic> {
    let spec = EnvSpec::of(&recipe.env)?;
    Ok(nn::build_actor_critic(
        recipe,
        &nn::ObsShape::from(&spec),
        &locomamba::device::cpu_device(),
    )?)
}

pub(crate) fn report(experiments: &[PathBuf], output: Option<&Path>, reach_m: f64) -> Result<()> {
    if !(reach_m.is_finite() && reach_m > 0.0) {
        bail!("--reach {reach_m}: expected a positive distance in metres");
    }
    let output = match (experiments, output) {
        (_, Some(output)) => output,
        ([experiment], None) => experiment.as_path(),
        _ => bail!(
            "{} experiment folders given: say where the combined report goes with --output DIR",
            experiments.len()
        ),
    };
    let options = run::report::ReportOptions {
        reach_distance_m: reach_m,
    };
    let (markdown, path) = run::report::write_combined_report(experiments, output, &options)?;
    print!("{markdown}");
    eprintln!("report written to {}", path.display());
    Ok(())
}

pub(crate) fn bench(
    what: BenchKind,
    paths: &[PathBuf],
    sets: &[String],
    sizes: BenchSizes,
    format: bench::Format,
) -> Result<()> {
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
    // The command as typed, without the output switch, for the report's header.
    let command: Vec<String> = std::iter::once("runner".to_string())
        .chain(std::env::args().skip(1).filter(|a| a != "--markdown"))
        .collect();
    let report = bench::run(what, &recipes, sizes, &command.join(" "))?;
    print!("{}", report.render(format));
    Ok(())
}

pub(crate) fn render(
    path: &Path,
    output: &Path,
    steps: usize,
    seed: u64,
    sets: &[String],
) -> Result<()> {
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
