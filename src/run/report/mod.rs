//! `runner report`: the final-performance statistics of an experiment folder's runs as a Markdown
//! report (`report.md`): per variant, the interquartile mean over seeds of distance, return,
//! collisions and fall rate with 95% stratified-bootstrap intervals, at the end of each run and at
//! the env steps every run has reached, and the probability that one variant's run beats
//! another's. It reads the runs' `metrics.csv`, so it works on partial sweeps and on one run, and
//! lists runs that have no data yet.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use thiserror::Error;

mod curves;
mod final_eval;
mod plot;
mod runs;
mod sections;

use runs::{METRICS, Point, RunCurve};

use super::stats::{BOOTSTRAP_REPS, Estimate, iqm, mean, stratified_bootstrap};

/// Confidence level of every interval.
const LEVEL: f64 = 0.95;
/// Seed of every bootstrap.
const SEED: u64 = 0;

/// What a report computes beyond its defaults.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReportOptions {
    /// The distance (m) whose first crossing measures sample efficiency: the LocoTransformer
    /// paper's Thin result, 8 m, by default.
    pub reach_distance_m: f64,
}

impl Default for ReportOptions {
    fn default() -> Self {
        Self {
            reach_distance_m: 8.0,
        }
    }
}

/// Why a report could not be made.
#[derive(Debug, Error)]
pub enum ReportError {
    /// The experiment folder could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The path.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// No run folder (`<variant>/seed-<n>/`) was found.
    #[error("{0} holds no runs (expected <variant>/seed-<n>/metrics.csv below it)")]
    NoRuns(PathBuf),
    /// `report.md` could not be written.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The path.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

fn fmt_estimate(e: &Estimate, decimals: usize) -> String {
    if e.value.is_nan() {
        return "-".into();
    }
    format!(
        "{:.d$} [{:.d$}, {:.d$}]",
        e.value,
        e.low,
        e.high,
        d = decimals
    )
}

/// The IQM table of the metrics for `variants`, each run's point picked by `pick`.
fn iqm_table(
    out: &mut String,
    variants: &[String],
    curves: &[RunCurve],
    pick: impl Fn(&RunCurve) -> Option<&Point>,
) {
    let headings: Vec<&str> = METRICS.iter().map(|(_, h)| *h).collect();
    let _ = writeln!(
        out,
        "| variant | runs | env steps | {} |",
        headings.join(" | ")
    );
    let _ = writeln!(
        out,
        "| --- | ---: | ---: |{}",
        " ---: |".repeat(METRICS.len())
    );
    for variant in variants {
        let points: Vec<&Point> = curves
            .iter()
            .filter(|c| &c.variant == variant)
            .filter_map(&pick)
            .collect();
        let steps: Vec<f64> = points.iter().map(|p| p.env_steps as f64).collect();
        let cells: Vec<String> = (0..METRICS.len())
            .map(|m| {
                let runs: Vec<f64> = points
                    .iter()
                    .map(|p| p.values[m])
                    .filter(|v| v.is_finite())
                    .collect();
                if runs.is_empty() {
                    return "-".into();
                }
                let e = stratified_bootstrap(&[runs], iqm, BOOTSTRAP_REPS, LEVEL, SEED);
                fmt_estimate(&e, 2)
            })
            .collect();
        let _ = writeln!(
            out,
            "| {variant} | {} | {:.0} | {} |",
            points.len(),
            mean(&steps),
            cells.join(" | ")
        );
    }
}

/// Each run's last evaluation: distance with its standard deviation over the evaluation's
/// episodes, and speed (where the run logged them).
fn last_evaluations(out: &mut String, runs: &[runs::Run]) {
    let rows: Vec<String> = runs
        .iter()
        .filter_map(|run| {
            let last = run.rows.iter().rev().find(|r| r.eval[0].is_finite())?;
            let [std, speed] = last.eval_spread;
            let spread = if std.is_finite() {
                format!(" +- {std:.2}")
            } else {
                String::new()
            };
            let speed = if speed.is_finite() {
                format!("{speed:.3}")
            } else {
                "-".into()
            };
            Some(format!(
                "| {}/seed-{} | {} | {:.2}{spread} | {speed} |",
                run.variant, run.seed, last.env_steps, last.eval[0]
            ))
        })
        .collect();
    if rows.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "\nEach run's last evaluation (mean +- standard deviation over its episodes):\n\n\
         | run | env steps | distance (m) | speed (m/s) |\n| --- | ---: | ---: | ---: |"
    );
    for row in rows {
        let _ = writeln!(out, "{row}");
    }
}

/// Writes the report of the runs below `experiment` (`runs/<exp>`) into `dir` (created if
/// needed): the learning-curve figures (`learning_curves_*.png|svg`) and `report.md`, which shows
/// them, each file atomically. Returns the Markdown and the path of `report.md`.
pub fn write_report(experiment: &Path, dir: &Path) -> Result<(String, PathBuf), ReportError> {
    write_report_with(experiment, dir, &ReportOptions::default())
}

/// [`write_report`] with explicit [`ReportOptions`].
pub fn write_report_with(
    experiment: &Path,
    dir: &Path,
    options: &ReportOptions,
) -> Result<(String, PathBuf), ReportError> {
    write_combined_report(&[experiment.to_path_buf()], dir, options)
}

/// The report of the runs of several experiment folders side by side (the comparison sweep, its
/// memory variants and its baselines), each variant named `<experiment>/<variant>`, so the
/// probability of improvement covers every pair across them. The report is titled with the
/// experiments' folder names joined by ` + `; with one folder it is [`write_report_with`].
pub fn write_combined_report(
    experiments: &[PathBuf],
    dir: &Path,
    options: &ReportOptions,
) -> Result<(String, PathBuf), ReportError> {
    let (runs, missing) = runs::collect(experiments)?;
    let path = dir.join("report.md");
    std::fs::create_dir_all(dir).map_err(|source| ReportError::Write {
        path: dir.to_path_buf(),
        source,
    })?;
    let figures = plot::write_learning_curves(&runs, dir)?;
    let names: Vec<String> = experiments
        .iter()
        .map(|e| {
            e.file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .to_string()
        })
        .collect();
    let markdown = markdown(&names.join(" + "), &runs, &missing, &figures, options);
    super::atomic::write_atomic(&path, markdown.as_bytes()).map_err(|source| {
        ReportError::Write {
            path: path.clone(),
            source,
        }
    })?;
    Ok((markdown, path))
}

/// The report as Markdown: the runs found, the figures (paths relative to `report.md`), the
/// final-performance tables and the probability of improvement.
fn markdown(
    name: &str,
    runs: &[runs::Run],
    missing: &[String],
    figures: &[(plot::XAxis, PathBuf)],
    options: &ReportOptions,
) -> String {
    let curves: Vec<RunCurve> = runs.iter().filter_map(runs::Run::curve).collect();
    let mut variants: Vec<String> = curves.iter().map(|c| c.variant.clone()).collect();
    variants.dedup();
    let mut out = format!("# Report: {name}\n\n");
    let _ = writeln!(
        out,
        "{} runs with data in {} variants ({}).",
        curves.len(),
        variants.len(),
        variants.join(", ")
    );
    if !missing.is_empty() {
        let _ = writeln!(out, "No data yet: {}.", missing.join(", "));
    }
    for run in runs.iter().filter(|r| !r.skipped.is_empty()) {
        let lines: Vec<String> = run.skipped.iter().map(usize::to_string).collect();
        let _ = writeln!(
            out,
            "Skipped in {}/seed-{}/metrics.csv, lines {}: not a complete row (a run killed \
             mid-write, or a damaged file).",
            run.variant,
            run.seed,
            lines.join(", ")
        );
    }
    let from_training: Vec<String> = curves
        .iter()
        .filter(|c| c.source == "train")
        .map(|c| format!("{}/seed-{}", c.variant, c.seed))
        .collect();
    if !from_training.is_empty() {
        let _ = writeln!(
            out,
            "No evaluation in metrics.csv, so training episodes (sampled actions) stand in: {}.",
            from_training.join(", ")
        );
    }
    let _ = writeln!(
        out,
        "\nEach cell: the interquartile mean over runs with its 95% interval from {BOOTSTRAP_REPS} \
         stratified bootstrap resamples (seeded; rliable's method). Distance, return, collisions \
         and fall rate are per episode, from each run's deterministic evaluations.\n"
    );
    if !figures.is_empty() {
        let _ = writeln!(
            out,
            "## Learning curves\n\nPer variant, the mean over seeds of the training episodes \
             (each run smoothed over {} updates) with its 95% bootstrap band over seeds; dots are \
             the mean of the evaluations, and the speed panel has evaluations only. SVG versions \
             lie beside the PNGs.\n",
            curves::SMOOTH_ROWS
        );
        for (axis, png) in figures {
            let file = png.file_name().unwrap_or_default().to_string_lossy();
            let _ = writeln!(
                out,
                "![learning curves against {}]({file})\n",
                axis.describe()
            );
        }
    }
    let _ = writeln!(out, "## At the end of each run\n");
    iqm_table(&mut out, &variants, &curves, |c| Some(c.last()));
    last_evaluations(&mut out, runs);
    let common = curves.iter().map(|c| c.last().env_steps).min().unwrap_or(0);
    let _ = writeln!(
        out,
        "\n## At equal env steps ({common}, the most every run has reached)\n"
    );
    iqm_table(&mut out, &variants, &curves, |c| c.at(common));
    if variants.len() > 1 {
        let _ = writeln!(
            out,
            "\n## Probability of improvement (distance at the end)\n\n\
             P(a run of the row's variant moves farther than one of the column's), with its 95% \
             interval.\n"
        );
        sections::improvement_table(&mut out, &variants, |v| {
            curves
                .iter()
                .filter(|c| &c.variant == v)
                .map(|c| c.last().values[0])
                .collect()
        });
    }
    sections::steps_to_reach(&mut out, runs, &variants, options.reach_distance_m);
    sections::final_evaluations(&mut out, runs, &variants);
    out
}
