//! `runner`: the locomamba command line. Parses arguments and hands each command to the library;
//! errors are reported with `anyhow` here, at the edge.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

use locomamba::check;
use locomamba::migrate::{MigrateOptions, render};
use locomamba::recipe::{self, Overrides};
use locomamba::run::atomic::write_atomic;

/// Train vision-guided quadruped locomotion policies (Transformer or Mamba fusion) with PPO.
#[derive(Debug, Parser)]
#[command(name = "runner", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
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
    /// Report the version, compiled backends, CPU threads and CUDA availability.
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

fn main() {
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
            if require_cuda && !report.cuda_usable() {
                anyhow::bail!("--require-cuda: no usable CUDA device ({})", report.cuda);
            }
            Ok(())
        }
        Command::Describe { recipe, sets } => describe(&recipe, &sets),
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
