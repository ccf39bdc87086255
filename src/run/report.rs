//! `runner report`: the final-performance statistics of an experiment folder's runs as a Markdown
//! report (`report.md`): per variant, the interquartile mean over seeds of distance, return,
//! collisions and fall rate with 95% stratified-bootstrap intervals, at the end of each run and at
//! the env steps every run has reached, and the probability that one variant's run beats
//! another's. It reads the runs' `metrics.csv`, so it works on partial sweeps and on one run, and
//! lists runs that have no data yet.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use thiserror::Error;

use super::stats::{
    BOOTSTRAP_REPS, Estimate, iqm, mean, probability_of_improvement_ci, stratified_bootstrap,
};

/// Confidence level of every interval.
const LEVEL: f64 = 0.95;
/// Seed of every bootstrap.
const SEED: u64 = 0;

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

/// The final metrics a report compares, in its column order: (CSV suffix, heading).
const METRICS: [(&str, &str); 4] = [
    ("distance", "distance (m)"),
    ("episode_return", "return"),
    ("collisions", "collisions"),
    ("fall_rate", "fall rate"),
];

/// One metrics row: env steps and the values of the [`METRICS`] (NaN where absent).
#[derive(Debug, Clone, PartialEq)]
struct Point {
    env_steps: u64,
    values: [f64; 4],
}

/// One run's evaluation points (or training points when it has no evaluation yet).
#[derive(Debug, Clone, PartialEq)]
struct RunCurve {
    variant: String,
    seed: String,
    /// `eval` or `train`: where the points come from.
    source: &'static str,
    points: Vec<Point>,
}

impl RunCurve {
    fn last(&self) -> &Point {
        self.points.last().expect("a curve has points")
    }

    /// The last point at or before `env_steps`.
    fn at(&self, env_steps: u64) -> Option<&Point> {
        self.points.iter().rev().find(|p| p.env_steps <= env_steps)
    }
}

/// Parses a `metrics.csv`: its eval points, or its train points when no row has an evaluation.
fn parse_curve(csv: &str) -> Option<(&'static str, Vec<Point>)> {
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next()?.split(',').collect();
    let column = |name: &str| header.iter().position(|h| *h == name);
    let steps = column("env_steps")?;
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    for source in ["eval", "train"] {
        let cols: Vec<Option<usize>> = METRICS
            .iter()
            .map(|(m, _)| column(&format!("{source}/{m}")))
            .collect();
        let points: Vec<Point> = rows
            .iter()
            .filter_map(|row| {
                let value = |c: Option<usize>| {
                    c.and_then(|c| row.get(c))
                        .and_then(|v| v.parse::<f64>().ok())
                        .unwrap_or(f64::NAN)
                };
                let values = [
                    value(cols[0]),
                    value(cols[1]),
                    value(cols[2]),
                    value(cols[3]),
                ];
                let env_steps = row.get(steps)?.parse().ok()?;
                values[0].is_finite().then_some(Point { env_steps, values })
            })
            .collect();
        if !points.is_empty() {
            return Some((source, points));
        }
    }
    None
}

fn read_dir(path: &Path) -> Result<Vec<PathBuf>, ReportError> {
    let entries = std::fs::read_dir(path).map_err(|source| ReportError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let mut dirs: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    Ok(dirs)
}

/// The runs below `experiment`, and the run folders without data yet.
fn collect(experiment: &Path) -> Result<(Vec<RunCurve>, Vec<String>), ReportError> {
    let mut curves = Vec::new();
    let mut missing = Vec::new();
    for variant_dir in read_dir(experiment)? {
        let variant = variant_dir
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .to_string();
        for run_dir in read_dir(&variant_dir)? {
            let name = run_dir
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .to_string();
            // `seed-<n>` only: `seed-<n>.replaced-<time>` folders are old runs kept aside.
            let Some(seed) = name
                .strip_prefix("seed-")
                .filter(|s| s.parse::<u64>().is_ok())
            else {
                continue;
            };
            let csv = std::fs::read_to_string(run_dir.join("metrics.csv")).unwrap_or_default();
            match parse_curve(&csv) {
                Some((source, points)) => curves.push(RunCurve {
                    variant: variant.clone(),
                    seed: seed.to_string(),
                    source,
                    points,
                }),
                None => missing.push(format!("{variant}/{name}")),
            }
        }
    }
    if curves.is_empty() && missing.is_empty() {
        return Err(ReportError::NoRuns(experiment.to_path_buf()));
    }
    Ok((curves, missing))
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

/// Writes the [`report`] of `experiment` to `dir/report.md` (atomically, creating `dir`) and
/// returns the Markdown and the file's path.
pub fn write_report(experiment: &Path, dir: &Path) -> Result<(String, PathBuf), ReportError> {
    let markdown = report(experiment)?;
    let path = dir.join("report.md");
    std::fs::create_dir_all(dir)
        .and_then(|()| super::atomic::write_atomic(&path, markdown.as_bytes()))
        .map_err(|source| ReportError::Write {
            path: path.clone(),
            source,
        })?;
    Ok((markdown, path))
}

/// The report of the runs below `experiment` (`runs/<exp>`), as Markdown.
pub fn report(experiment: &Path) -> Result<String, ReportError> {
    let (curves, missing) = collect(experiment)?;
    let mut variants: Vec<String> = curves.iter().map(|c| c.variant.clone()).collect();
    variants.dedup();
    let name = experiment.file_name().unwrap_or_default().to_string_lossy();
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
    let _ = writeln!(out, "## At the end of each run\n");
    iqm_table(&mut out, &variants, &curves, |c| Some(c.last()));
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
        let _ = writeln!(out, "| | {} |", variants.join(" | "));
        let _ = writeln!(out, "| --- |{}", " ---: |".repeat(variants.len()));
        let final_distance = |v: &String| -> Vec<Vec<f64>> {
            vec![
                curves
                    .iter()
                    .filter(|c| &c.variant == v)
                    .map(|c| c.last().values[0])
                    .collect(),
            ]
        };
        for row in &variants {
            let cells: Vec<String> = variants
                .iter()
                .map(|col| {
                    if row == col {
                        return "-".into();
                    }
                    let e = probability_of_improvement_ci(
                        &final_distance(row),
                        &final_distance(col),
                        BOOTSTRAP_REPS,
                        LEVEL,
                        SEED,
                    );
                    fmt_estimate(&e, 2)
                })
                .collect();
            let _ = writeln!(out, "| {row} | {} |", cells.join(" | "));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CSV: &str = "update,env_steps,train/distance,train/episode_return,eval/distance,eval/collisions\n\
                       1,100,0.5,1.0,,\n\
                       2,200,0.7,2.0,3.0,4\n\
                       3,300,0.9,3.0,,\n";

    #[test]
    fn eval_rows_are_preferred_and_absent_metrics_are_nan() {
        let (source, points) = parse_curve(CSV).unwrap();
        assert_eq!(source, "eval");
        assert_eq!(points.len(), 1);
        assert_eq!(points[0].env_steps, 200);
        assert_eq!(points[0].values[0], 3.0);
        assert!(
            points[0].values[1].is_nan(),
            "no eval/episode_return column"
        );
        assert_eq!(points[0].values[2], 4.0);
    }

    #[test]
    fn training_rows_stand_in_before_the_first_evaluation() {
        let csv = "update,env_steps,train/distance,eval/distance\n1,100,0.5,\n2,200,0.7,\n";
        let (source, points) = parse_curve(csv).unwrap();
        assert_eq!(source, "train");
        assert_eq!(
            points.iter().map(|p| p.env_steps).collect::<Vec<_>>(),
            [100, 200]
        );
        assert!(parse_curve("update,env_steps\n").is_none());
    }
}
