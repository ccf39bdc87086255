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

    /// The seed its folder name (`seed-<n>`) gives, if it is a run folder.
    pub fn seed(&self) -> Option<u64> {
        self.root
            .file_name()?
            .to_str()?
            .strip_prefix("seed-")?
            .parse()
            .ok()
    }

    /// The variant its parent folder names.
    pub fn variant(&self) -> Option<String> {
        Some(
            self.root
                .parent()?
                .file_name()?
                .to_string_lossy()
                .to_string(),
        )
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

/// The run folders (`<variant>/seed-<n>`) below an experiment folder, sorted by variant and then by
/// seed as a number (seed-2 before seed-10); empty when it has none (or cannot be read). Folders
/// kept aside (`seed-<n>.replaced-<time>`) are not runs.
pub fn runs_below(experiment: &Path) -> Vec<RunDir> {
    let dirs = |p: &Path| -> Vec<PathBuf> {
        let mut out: Vec<PathBuf> = std::fs::read_dir(p)
            .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        out.retain(|p| p.is_dir());
        out.sort();
        out
    };
    let mut runs: Vec<(u64, RunDir)> = Vec::new();
    for variant in dirs(experiment) {
        let start = runs.len();
        runs.extend(dirs(&variant).into_iter().filter_map(|root| {
            let run = RunDir { root };
            run.seed().map(|seed| (seed, run))
        }));
        runs[start..].sort_by_key(|(seed, _)| *seed);
    }
    runs.into_iter().map(|(_, run)| run).collect()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_below_orders_seeds_as_numbers_and_skips_what_is_not_a_run() {
        let dir = tempfile::tempdir().unwrap();
        for run in [
            "model-mamba/seed-10",
            "model-mamba/seed-2",
            "model-mamba/seed-2.replaced-20260101T000000",
            "model-mamba/notes",
            "model-transformer/seed-0",
        ] {
            std::fs::create_dir_all(dir.path().join(run)).unwrap();
        }
        std::fs::write(dir.path().join("model-mamba/seed-3"), "a file, not a run").unwrap();
        let found: Vec<(Option<String>, Option<u64>)> = runs_below(dir.path())
            .iter()
            .map(|run| (run.variant(), run.seed()))
            .collect();
        let want = [
            ("model-mamba", 2),
            ("model-mamba", 10),
            ("model-transformer", 0),
        ];
        let want: Vec<(Option<String>, Option<u64>)> = want
            .iter()
            .map(|(v, s)| (Some(v.to_string()), Some(*s)))
            .collect();
        assert_eq!(found, want);
        assert!(runs_below(&dir.path().join("missing")).is_empty());
    }
}
