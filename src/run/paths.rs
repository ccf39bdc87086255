//! Where a run's files live: `<output_dir>/<experiment>/<variant>/seed-<n>/`.

use std::path::{Path, PathBuf};

/// Paths of one run (one variant, one seed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunDir {
    /// `<output_dir>/<experiment>/<variant>/seed-<n>`.
    pub root: PathBuf,
}

impl RunDir {
    /// The run folder of `variant` and `seed` under an experiment folder.
    pub fn new(experiment_dir: &Path, variant: &str, seed: u64) -> Self {
        Self {
            root: experiment_dir.join(variant).join(format!("seed-{seed}")),
        }
    }

    /// The fully resolved recipe of this run.
    pub fn recipe(&self) -> PathBuf {
        self.root.join("recipe.toml")
    }

    /// Per-update scalars as CSV.
    pub fn metrics(&self) -> PathBuf {
        self.root.join("metrics.csv")
    }

    /// Final numbers; its presence marks the run finished.
    pub fn summary(&self) -> PathBuf {
        self.root.join("summary.json")
    }

    /// TensorBoard event files.
    pub fn tensorboard(&self) -> PathBuf {
        self.root.join("tb")
    }

    /// Checkpoint folder.
    pub fn checkpoints(&self) -> PathBuf {
        self.root.join("checkpoints")
    }

    /// True when the run finished (it has a summary).
    pub fn finished(&self) -> bool {
        self.summary().is_file()
    }
}

/// `<output_dir>/<experiment>`.
pub fn experiment_dir(output_dir: &str, experiment: &str) -> PathBuf {
    Path::new(output_dir).join(experiment)
}

/// The run folders (`<variant>/seed-<n>`) below an experiment folder, sorted; empty when it has
/// none (or cannot be read). Folders kept aside (`seed-<n>.replaced-<time>`) are not runs.
pub fn runs_below(experiment: &Path) -> Vec<RunDir> {
    let dirs = |p: &Path| -> Vec<PathBuf> {
        let mut out: Vec<PathBuf> = std::fs::read_dir(p)
            .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        out.retain(|p| p.is_dir());
        out.sort();
        out
    };
    dirs(experiment)
        .iter()
        .flat_map(|variant| dirs(variant))
        .filter(|run| {
            run.file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_prefix("seed-"))
                .is_some_and(|seed| seed.parse::<u64>().is_ok())
        })
        .map(|root| RunDir { root })
        .collect()
}

/// Where `runner eval` writes the result of evaluating `checkpoint` on `task`: the run's `eval/`
/// folder when the checkpoint sits in a run's `checkpoints/` (pruning deletes old checkpoint
/// folders, not results), else beside the checkpoint's files.
pub fn eval_output(checkpoint: &Path, task: &str, seed: u64) -> PathBuf {
    let name = checkpoint
        .file_name()
        .map_or_else(|| "checkpoint".into(), |n| n.to_string_lossy().to_string());
    let file = format!("{name}-{task}-seed{seed}.json");
    match checkpoint.parent() {
        Some(dir) if dir.file_name().is_some_and(|n| n == "checkpoints") => dir
            .parent()
            .map_or_else(|| dir.join(&file), |run| run.join("eval").join(&file)),
        _ => checkpoint.join(file),
    }
}
