//! `runner sweep --slurm`: the sweep as a Slurm job array (one task per shard of the frozen grid)
//! and a summary job that runs after the array whatever became of its tasks; and the requeue a
//! task asks for when Slurm warns it of its time limit. Slurm does the scheduling: this module
//! writes the batch script and calls `sbatch` and `scontrol`.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::atomic::write_atomic;

/// Seconds before the time limit at which Slurm sends SIGUSR1 (`--signal=B:USR1@120`).
pub const WARNING_S: u32 = 120;
/// Largest array when `scontrol show config` cannot tell (Slurm's default `MaxArraySize`).
pub const DEFAULT_MAX_ARRAY_SIZE: usize = 1001;

/// Why Slurm could not be used.
#[derive(Debug, Error)]
pub enum SlurmError {
    /// A Slurm command is not installed.
    #[error(
        "`{0}` not found: --slurm needs Slurm's commands on PATH (run on a login node of the \
         cluster), or run the shards yourself with --shard K/N"
    )]
    Missing(&'static str),
    /// A Slurm command failed.
    #[error("`{command}` failed: {message}")]
    Failed {
        /// The command line.
        command: String,
        /// Its error output.
        message: String,
    },
    /// A file could not be written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

/// How to submit.
#[derive(Debug, Clone, Default)]
pub struct SlurmOptions {
    /// Tasks running at once (`%P` of `--array`); all at once when `None`.
    pub array_parallelism: Option<usize>,
    /// Time limit of each task (`--time`, `HH:MM:SS`).
    pub time: Option<String>,
    /// Further `sbatch` arguments (`--partition=gpu`, `--mem=16G`, ...), for both jobs.
    pub sbatch_args: Vec<String>,
    /// Requeues a task may ask for at its time limit (`--max-requeues`).
    pub max_requeues: u32,
}

/// What will be (or was) submitted.
#[derive(Debug, Clone, PartialEq)]
pub struct SlurmPlan {
    /// Array tasks (shards).
    pub tasks: usize,
    /// `runs/<exp>/slurm/sweep.sbatch`.
    pub script_path: PathBuf,
    /// Its text.
    pub script: String,
    /// The array's `sbatch` command line.
    pub array_command: Vec<String>,
    /// The summary job's `sbatch` command line; `{array}` stands for the array's job id.
    pub summary_command: Vec<String>,
}

/// Job ids of a submission (`runs/<exp>/slurm/jobs.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubmittedJobs {
    /// The array job's id.
    pub array: String,
    /// The summary job's id.
    pub summary: String,
    /// Array tasks.
    pub tasks: usize,
}

/// A word quoted for a POSIX shell.
fn quote(word: &str) -> String {
    if !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+%@".contains(c))
    {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
}

/// The cluster's `MaxArraySize` (`scontrol show config`), if `scontrol` answers.
pub fn max_array_size() -> Option<usize> {
    let out = Command::new("scontrol")
        .args(["show", "config"])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find(|l| l.trim_start().starts_with("MaxArraySize"))
        .and_then(|l| l.split('=').nth(1))
        .and_then(|v| v.trim().parse().ok())
}

/// The submission of a sweep of `items` runs of `recipe` (with `sets`) whose experiment folder
/// is `experiment`, run by the `runner` at `runner`.
pub fn plan(
    experiment: &Path,
    runner: &Path,
    recipe: &Path,
    sets: &[String],
    items: usize,
    max_array_size: usize,
    options: &SlurmOptions,
) -> SlurmPlan {
    let tasks = items.clamp(1, max_array_size.max(1));
    let slurm_dir = experiment.join("slurm");
    let script_path = slurm_dir.join("sweep.sbatch");
    let name = experiment
        .file_name()
        .map_or("sweep".into(), |n| n.to_string_lossy().to_string());
    let mut exec = vec![
        quote(&runner.display().to_string()),
        "sweep".into(),
        quote(&recipe.display().to_string()),
        format!("--shard \"$SLURM_ARRAY_TASK_ID/{tasks}\""),
        format!("--max-requeues {}", options.max_requeues),
    ];
    for set in sets {
        exec.push(format!("--set {}", quote(set)));
    }
    let script = format!(
        "#!/bin/bash\n\
         # Written by `runner sweep --slurm`: array task K of {tasks} trains the runs i % {tasks} == K\n\
         # of the grid in {grid}. `exec` makes the runner the batch step's process, so the\n\
         # time-limit warning (SIGUSR1) reaches it; it checkpoints and requeues itself.\n\
         exec {}\n",
        exec.join(" "),
        grid = experiment.join(super::shard::GRID_FILE).display(),
    );
    let array = match options.array_parallelism {
        Some(p) => format!("--array=0-{}%{p}", tasks - 1),
        None => format!("--array=0-{}", tasks - 1),
    };
    let mut common = vec![format!("--job-name={name}")];
    if let Some(t) = &options.time {
        common.push(format!("--time={t}"));
    }
    common.extend(options.sbatch_args.iter().cloned());
    let mut array_command = vec!["sbatch".to_string(), "--parsable".into(), array];
    array_command.extend([
        "--requeue".to_string(),
        format!("--signal=B:USR1@{WARNING_S}"),
        "--open-mode=append".into(),
        format!("--output={}", slurm_dir.join("%A_%a.out").display()),
    ]);
    array_command.extend(common.iter().cloned());
    array_command.push(script_path.display().to_string());
    let mut summary_command = vec![
        "sbatch".to_string(),
        "--parsable".into(),
        "--dependency=afterany:{array}".into(),
        format!("--output={}", slurm_dir.join("summary-%j.out").display()),
    ];
    summary_command.extend(common);
    summary_command.push(format!(
        "--wrap=exec {} summarize {}",
        quote(&runner.display().to_string()),
        quote(&experiment.display().to_string())
    ));
    SlurmPlan {
        tasks,
        script_path,
        script,
        array_command,
        summary_command,
    }
}

/// Runs one `sbatch --parsable` command line and returns the job id it prints.
fn sbatch(command: &[String]) -> Result<String, SlurmError> {
    let out = Command::new(&command[0])
        .args(&command[1..])
        .output()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => SlurmError::Missing("sbatch"),
            _ => SlurmError::Failed {
                command: command.join(" "),
                message: e.to_string(),
            },
        })?;
    if !out.status.success() {
        return Err(SlurmError::Failed {
            command: command.join(" "),
            message: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    // `--parsable` prints `<id>` or `<id>;<cluster>`.
    let text = String::from_utf8_lossy(&out.stdout);
    Ok(text
        .trim()
        .split(';')
        .next()
        .unwrap_or_default()
        .to_string())
}

/// Writes the script, submits the array and then the summary job after it, and records the ids
/// in `runs/<exp>/slurm/jobs.json`.
pub fn submit(plan: &SlurmPlan) -> Result<SubmittedJobs, SlurmError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| SlurmError::Io { path, source }
    };
    write_atomic(&plan.script_path, plan.script.as_bytes()).map_err(io(&plan.script_path))?;
    let array = sbatch(&plan.array_command)?;
    let summary_command: Vec<String> = plan
        .summary_command
        .iter()
        .map(|w| w.replace("{array}", &array))
        .collect();
    let summary = sbatch(&summary_command)?;
    let jobs = SubmittedJobs {
        array,
        summary,
        tasks: plan.tasks,
    };
    let path = plan.script_path.with_file_name("jobs.json");
    let json = serde_json::to_string_pretty(&jobs).expect("ids serialise");
    write_atomic(&path, json.as_bytes()).map_err(io(&path))?;
    Ok(jobs)
}

/// At the time-limit warning, under a Slurm array task: asks Slurm to requeue this task
/// (`scontrol requeue <array job>_<task>`) unless it has been requeued `max_requeues` times
/// already (`SLURM_RESTART_COUNT`). Returns whether it did.
pub fn requeue_self(max_requeues: u32) -> Result<bool, SlurmError> {
    let Some(task) = super::lock::slurm_task() else {
        return Ok(false);
    };
    let restarts: u32 = std::env::var("SLURM_RESTART_COUNT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    if restarts >= max_requeues {
        return Ok(false);
    }
    let out = Command::new("scontrol")
        .args(["requeue", &task])
        .output()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => SlurmError::Missing("scontrol"),
            _ => SlurmError::Failed {
                command: format!("scontrol requeue {task}"),
                message: e.to_string(),
            },
        })?;
    if !out.status.success() {
        return Err(SlurmError::Failed {
            command: format!("scontrol requeue {task}"),
            message: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plan_execs_the_runner_per_shard_and_chains_the_summary_after_any_end() {
        let options = SlurmOptions {
            array_parallelism: Some(2),
            time: Some("01:00:00".into()),
            sbatch_args: vec!["--partition=cpu".into()],
            max_requeues: 3,
        };
        let sets = vec![
            "ppo.clip=0.1".to_string(),
            "experiment.name=\"a b\"".to_string(),
        ];
        let p = plan(
            Path::new("/r/runs/exp"),
            Path::new("/bin/runner"),
            Path::new("/r/rec.toml"),
            &sets,
            5,
            1001,
            &options,
        );
        assert_eq!(p.tasks, 5);
        assert!(p.script.starts_with("#!/bin/bash\n"), "{}", p.script);
        assert!(
            p.script.contains(
                "exec /bin/runner sweep /r/rec.toml --shard \"$SLURM_ARRAY_TASK_ID/5\" \
                 --max-requeues 3 --set ppo.clip=0.1 --set 'experiment.name=\"a b\"'\n"
            ),
            "{}",
            p.script
        );
        let array = p.array_command.join(" ");
        for part in [
            "sbatch --parsable --array=0-4%2 --requeue --signal=B:USR1@120 --open-mode=append",
            "--output=/r/runs/exp/slurm/%A_%a.out",
            "--job-name=exp --time=01:00:00 --partition=cpu /r/runs/exp/slurm/sweep.sbatch",
        ] {
            assert!(array.contains(part), "{array}");
        }
        let summary = p.summary_command.join(" ");
        assert!(
            summary.contains("--dependency=afterany:{array}"),
            "{summary}"
        );
        assert!(
            summary.ends_with("--wrap=exec /bin/runner summarize /r/runs/exp"),
            "{summary}"
        );
        // More runs than the cluster allows in one array: shards take several runs each.
        let capped = plan(
            Path::new("/e"),
            Path::new("/bin/runner"),
            Path::new("/r.toml"),
            &[],
            5000,
            1001,
            &SlurmOptions::default(),
        );
        assert_eq!(capped.tasks, 1001);
        assert!(capped.array_command.contains(&"--array=0-1000".to_string()));
    }

    #[test]
    fn shell_words_are_quoted_only_when_needed() {
        assert_eq!(quote("ppo.clip=0.1"), "ppo.clip=0.1");
        assert_eq!(quote("it's"), "'it'\\''s'");
        assert_eq!(quote(""), "''");
    }
}
