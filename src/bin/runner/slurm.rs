//! `runner sweep --slurm` and `runner summarize`: the sweep as a Slurm job array, and the
//! summary of whatever finished.

use std::path::Path;

use anyhow::{Context, Result};
use locomamba::run;
use locomamba::run::slurm::{DEFAULT_MAX_ARRAY_SIZE, SlurmOptions};
use locomamba::run::summarize::RunState;
use locomamba::run::sweep::SweepOptions;

/// Freezes the grid, writes the batch script and submits it (or, with `dry_run`, prints what it
/// would submit).
pub fn submit(
    recipe: &Path,
    sets: &[String],
    options: &SweepOptions,
    slurm: &SlurmOptions,
    dry_run: bool,
) -> Result<()> {
    let (source, overrides) = crate::open_recipe(recipe, sets)?;
    let (experiment, runs) = run::sweep::freeze_grid(&source, &overrides, options)?;
    let experiment = std::path::absolute(&experiment)?;
    let runner = std::env::current_exe().context("cannot locate the runner binary")?;
    let recipe = std::path::absolute(recipe)?;
    let max = run::slurm::max_array_size();
    let plan = run::slurm::plan(
        &experiment,
        &runner,
        &recipe,
        sets,
        runs,
        max.unwrap_or(DEFAULT_MAX_ARRAY_SIZE),
        slurm,
    );
    let limit = max.map_or(
        format!("MaxArraySize unknown, {DEFAULT_MAX_ARRAY_SIZE} assumed"),
        |m| format!("MaxArraySize {m}"),
    );
    println!(
        "{runs} runs in {} array tasks ({limit}); grid frozen in {}",
        plan.tasks,
        experiment.join(run::shard::GRID_FILE).display()
    );
    if dry_run {
        println!("\n# {}\n{}", plan.script_path.display(), plan.script);
        println!("{}", plan.array_command.join(" "));
        println!("{}", plan.summary_command.join(" "));
        println!("\n(dry run: nothing submitted; {{array}} is the array's job id)");
        return Ok(());
    }
    let jobs = run::slurm::submit(&plan)?;
    println!(
        "submitted array job {} ({} tasks) and summary job {} after it; ids in {}",
        jobs.array,
        jobs.tasks,
        jobs.summary,
        plan.script_path.with_file_name("jobs.json").display()
    );
    Ok(())
}

/// `runner summarize runs/<exp>`.
pub fn summarize(experiment: &Path) -> Result<()> {
    let done = run::summarize::summarize(experiment)?;
    println!("{}", done.markdown);
    let unfinished = done
        .runs
        .iter()
        .filter(|(_, s)| !matches!(s, RunState::Finished(_)))
        .count();
    eprintln!(
        "summary written to {} ({unfinished} of {} runs not finished)",
        done.path.display(),
        done.runs.len()
    );
    Ok(())
}
