//! `runner eval`: a policy's (or a sanity agent's) evaluation, on one checkpoint or on every
//! finished run of an experiment folder, over one or more tasks and evaluation seeds, each result
//! written as JSON beside the run (`eval/<checkpoint>-<task>-seed<S>.json`).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use rand::SeedableRng;

use crate::cli::AgentArg;
use crate::{open_recipe, video};
use locomamba::device;
use locomamba::recipe::{self, Overrides, Task};
use locomamba::run;
use locomamba::run::atomic::write_atomic;
use locomamba::run::eval::EvalObserver;
use locomamba::sim::gait::Trot;

/// The task named by `--task`.
pub(crate) fn task_named(task: &str) -> Result<Task> {
    Task::ALL
        .into_iter()
        .find(|t| t.name() == task)
        .with_context(|| {
            let known: Vec<_> = Task::ALL.iter().map(|t| t.name()).collect();
            format!("--task {task:?}: expected one of {}", known.join(", "))
        })
}

/// `--period --hip --knee --knee-lag`: each replaces that value of the recipe's `[env.trot]`.
pub(crate) struct TrotFlags {
    /// `--period`.
    pub period: Option<f32>,
    /// `--hip`.
    pub hip: Option<f32>,
    /// `--knee`.
    pub knee: Option<f32>,
    /// `--knee-lag`.
    pub knee_lag: Option<f32>,
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

/// `--task` as tasks to evaluate on (`None`: the recipe's or checkpoint's own), refusing a video
/// of more than one evaluation.
fn tasks_of(
    tasks: &[String],
    seeds: &[u64],
    videos: Option<&video::EvalVideos>,
) -> Result<Vec<Option<Task>>> {
    let tasks: Vec<Option<Task>> = if tasks.is_empty() {
        vec![None]
    } else {
        tasks
            .iter()
            .map(|t| task_named(t).map(Some))
            .collect::<Result<_>>()?
    };
    if videos.is_some() && tasks.len() * seeds.len() > 1 {
        bail!("--video takes one task and one seed (it writes episode-000, ... into one folder)");
    }
    Ok(tasks)
}

/// `runner eval --agent`: a sanity agent's metrics, in the same form as a policy's, on every
/// task and seed given.
#[allow(clippy::too_many_arguments)]
pub(crate) fn agent(
    agent: AgentArg,
    trot: &TrotFlags,
    recipe_path: Option<&Path>,
    checkpoint: Option<&Path>,
    sets: &[String],
    tasks: &[String],
    episodes: usize,
    seeds: &[u64],
    videos: Option<&video::EvalVideos>,
) -> Result<()> {
    let recipe = match (recipe_path, checkpoint) {
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
    for task in tasks_of(tasks, seeds, videos)? {
        let mut recipe = recipe.clone();
        if let Some(task) = task {
            recipe.env.task = task;
        }
        for &seed in seeds {
            agent_once(agent, trot, &recipe, episodes, seed, videos)?;
        }
    }
    Ok(())
}

/// One evaluation of a sanity agent in `recipe`'s env.
fn agent_once(
    agent: AgentArg,
    trot: &TrotFlags,
    recipe: &recipe::Recipe,
    episodes: usize,
    seed: u64,
    videos: Option<&video::EvalVideos>,
) -> Result<()> {
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

/// The episodes of the evaluation stored at `path`, if it holds one.
fn stored_episodes(path: &Path) -> Option<u64> {
    std::fs::read(path)
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .and_then(|v| v.get("episodes").and_then(serde_json::Value::as_u64))
}

/// `runner eval PATH`: PATH is a checkpoint (a checkpoint folder, a `checkpoints/` folder or a
/// run folder: its latest checkpoint), evaluated on every task and seed given; or an experiment
/// folder (`<variant>/seed-<n>/` below it), whose finished runs' final checkpoints are evaluated
/// likewise, skipping evaluations already stored with at least as many episodes (so an
/// interrupted evaluation of a sweep resumes). No task: each checkpoint's own.
pub(crate) fn policy(
    path: &Path,
    tasks: &[String],
    episodes: usize,
    seeds: &[u64],
    videos: Option<&video::EvalVideos>,
) -> Result<()> {
    let tasks = tasks_of(tasks, seeds, videos)?;
    if let Ok(checkpoint) = run::checkpoint::resolve(path) {
        checkpoint_on(&checkpoint, &tasks, episodes, seeds, videos, false)?;
        return Ok(());
    }
    let runs = run::paths::runs_below(path);
    if runs.is_empty() {
        // Not an experiment folder either: the checkpoint error says what was expected.
        run::checkpoint::resolve(path)?;
    }
    if videos.is_some() {
        bail!(
            "--video takes one checkpoint, not the experiment folder {}",
            path.display()
        );
    }
    let (mut evaluated, mut unfinished) = (0, Vec::<PathBuf>::new());
    for run_dir in &runs {
        if !run_dir.finished() {
            unfinished.push(run_dir.root.clone());
            continue;
        }
        let checkpoint = run::checkpoint::resolve(&run_dir.root)?;
        evaluated += checkpoint_on(&checkpoint, &tasks, episodes, seeds, None, true)?;
    }
    for run in &unfinished {
        println!("skipped {}: not finished (no summary.json)", run.display());
    }
    println!(
        "{evaluated} evaluations written for {} finished runs of {}",
        runs.len() - unfinished.len(),
        path.display()
    );
    Ok(())
}

/// Evaluates `checkpoint` on every task (its own for `None`) and seed, its networks built once,
/// and writes each result; with `skip_stored`, an evaluation already stored with at least
/// `episodes` episodes is kept and not run again. Returns how many it evaluated.
fn checkpoint_on(
    checkpoint: &Path,
    tasks: &[Option<Task>],
    episodes: usize,
    seeds: &[u64],
    videos: Option<&video::EvalVideos>,
    skip_stored: bool,
) -> Result<usize> {
    let trained = run::checkpoint::recipe_of(checkpoint)?;
    let mut policy = None;
    let mut evaluated = 0;
    for task in tasks {
        let mut recipe = trained.clone();
        if let Some(task) = task {
            recipe.env.task = *task;
        }
        for &seed in seeds {
            let mut out = run::paths::eval_output(checkpoint, recipe.env.task.name(), seed);
            let stored = stored_episodes(&out);
            if skip_stored && stored.is_some_and(|k| k >= episodes as u64) {
                println!("kept {} ({} episodes)", out.display(), stored.unwrap_or(0));
                continue;
            }
            if policy.is_none() {
                let device = device::select(&trained.backend)?;
                let model = run::checkpoint::model_of(checkpoint, &trained, &device)?;
                policy = Some((model, run::checkpoint::norm_of(checkpoint)?, device));
            }
            let (model, norm, device) = policy.as_ref().expect("built above");
            let mut observer = videos.map(video::EvalVideos::observer).transpose()?;
            let result = run::eval::evaluate(
                (model, norm.as_ref(), &recipe.memory),
                &recipe.env,
                episodes,
                seed,
                device,
                observer.as_mut().map(|o| o as &mut dyn EvalObserver),
            )?;
            println!("{} ({})", result, checkpoint.display());
            observer.map(video::report_written).transpose()?;
            // An evaluation of more episodes already there is kept; this one goes beside it.
            if let Some(kept) = stored.filter(|&k| k > result.episodes as u64) {
                let stem = out.file_stem().unwrap_or_default().to_string_lossy();
                let beside = out.with_file_name(format!("{stem}-{}ep.json", result.episodes));
                println!("kept the {kept}-episode evaluation in {}", out.display());
                out = beside;
            }
            if let Some(dir) = out.parent() {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("cannot create {}", dir.display()))?;
            }
            write_atomic(&out, serde_json::to_string_pretty(&result)?.as_bytes())?;
            println!("wrote {}", out.display());
            evaluated += 1;
        }
    }
    Ok(evaluated)
}
