//! `runner summarize runs/<exp>`: the summary table of whatever has finished, whichever shards or
//! array tasks ran it, and a list of the runs that have not (running, unfinished, failed or never
//! started), instead of waiting for them; then the statistics report. Slurm runs it after the
//! array, whatever became of its tasks.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use thiserror::Error;

use super::atomic::write_atomic;
use super::lock;
use super::paths::{self, RunDir};
use super::report::{self, ReportError};
use super::shard::{self, GridError, GridItem};
use super::summary::{RunSummary, sweep_table};

/// Why a summary could not be made.
#[derive(Debug, Error)]
pub enum SummarizeError {
    /// `sweep.json` is unreadable.
    #[error(transparent)]
    Grid(#[from] GridError),
    /// The folder holds neither `sweep.json` nor run folders.
    #[error("{0} holds no sweep.json and no run folders (<variant>/seed-<n>)")]
    Empty(PathBuf),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

/// Where one run of the grid stands.
#[derive(Debug, Clone, PartialEq)]
pub enum RunState {
    /// `summary.json` written.
    Finished(RunSummary),
    /// Held by a live process (its lock).
    Running(String),
    /// Checkpointed but not finished: stopped, failed, or killed.
    Unfinished(String),
    /// No folder, or nothing trained in it.
    NotStarted,
}

/// What `runner summarize` found and wrote.
#[derive(Debug, Clone)]
pub struct Summarized {
    /// Every run of the grid with its state, in grid order.
    pub runs: Vec<(GridItem, RunState)>,
    /// The Markdown written to `summary.md`.
    pub markdown: String,
    /// `summary.md`.
    pub path: PathBuf,
}

/// The runs of `experiment`: its frozen grid, else the `<variant>/seed-<n>` folders found.
fn items(experiment: &Path) -> Result<Vec<GridItem>, SummarizeError> {
    if let Some(grid) = shard::read_grid(experiment)? {
        return Ok(grid.items);
    }
    if !experiment.is_dir() {
        return Err(SummarizeError::Io {
            path: experiment.to_path_buf(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such folder"),
        });
    }
    let found: Vec<GridItem> = paths::runs_below(experiment)
        .into_iter()
        .filter_map(|run| {
            Some(GridItem {
                variant: run.variant()?,
                seed: run.seed()?,
                differs: String::new(),
            })
        })
        .collect();
    if found.is_empty() {
        return Err(SummarizeError::Empty(experiment.to_path_buf()));
    }
    Ok(found)
}

/// Where the run of `item` stands.
fn state(experiment: &Path, item: &GridItem) -> RunState {
    let dir = RunDir::new(experiment, &item.variant, item.seed);
    if let Some(summary) = std::fs::read_to_string(dir.summary())
        .ok()
        .and_then(|t| serde_json::from_str::<RunSummary>(&t).ok())
    {
        return RunState::Finished(summary);
    }
    if let Some(owner) = lock::holder(&dir.root)
        && lock::ensure_free(&dir.root).is_err()
    {
        return RunState::Running(format!("process {} on {}", owner.pid, owner.host));
    }
    match super::checkpoint::latest(&dir.checkpoints()) {
        Ok(Some(path)) => RunState::Unfinished(format!(
            "last checkpoint {}",
            path.file_name().unwrap_or_default().to_string_lossy()
        )),
        _ => RunState::NotStarted,
    }
}

/// Summarizes `experiment`: writes `summary.md` (the table of the finished runs and the list of
/// the others) and `report.md` with its figures, and returns what it found.
pub fn summarize(experiment: &Path) -> Result<Summarized, SummarizeError> {
    let runs: Vec<(GridItem, RunState)> = items(experiment)?
        .into_iter()
        .map(|item| {
            let s = state(experiment, &item);
            (item, s)
        })
        .collect();
    let mut variants: Vec<(String, String)> = Vec::new();
    for (item, _) in &runs {
        if !variants.iter().any(|(n, _)| *n == item.variant) {
            variants.push((item.variant.clone(), item.differs.clone()));
        }
    }
    let finished: Vec<RunSummary> = runs
        .iter()
        .filter_map(|(_, s)| match s {
            RunState::Finished(summary) => Some(summary.clone()),
            _ => None,
        })
        .collect();
    let mut markdown = sweep_table(&variants, &finished);
    let _ = writeln!(
        markdown,
        "\n{} of {} runs finished.",
        finished.len(),
        runs.len()
    );
    let others: Vec<String> = runs
        .iter()
        .filter_map(|(item, s)| match s {
            RunState::Finished(_) => None,
            RunState::Running(who) => Some(format!("- {}: running ({who})", item.run())),
            RunState::Unfinished(at) => Some(format!(
                "- {}: not finished ({at}; failed, stopped or killed: run the sweep again to resume)",
                item.run()
            )),
            RunState::NotStarted => Some(format!("- {}: not started", item.run())),
        })
        .collect();
    if !others.is_empty() {
        let _ = writeln!(
            markdown,
            "\nMissing from the table:\n\n{}",
            others.join("\n")
        );
    }
    let path = experiment.join("summary.md");
    write_atomic(&path, markdown.as_bytes()).map_err(|source| SummarizeError::Io {
        path: path.clone(),
        source,
    })?;
    match report::write_report(experiment, experiment) {
        Ok(_) | Err(ReportError::NoRuns(_)) => {}
        Err(ReportError::Write { path, source }) | Err(ReportError::Read { path, source }) => {
            return Err(SummarizeError::Io { path, source });
        }
    }
    Ok(Summarized {
        runs,
        markdown,
        path,
    })
}
