//! The runs of an experiment folder as the report reads them: every row of each run's
//! `metrics.csv` with its env steps, training time, and the training and evaluation values of the
//! reported metrics.

use std::path::{Path, PathBuf};

use super::ReportError;

/// The metrics a report compares and plots, in its column order: (CSV suffix, heading).
pub(super) const METRICS: [(&str, &str); 4] = [
    ("distance", "distance (m)"),
    ("episode_return", "return"),
    ("collisions", "collisions"),
    ("fall_rate", "fall rate"),
];

/// The [`METRICS`] of one row, by position (NaN where a value is absent).
pub(super) type MetricValues = [f64; METRICS.len()];

/// One row of a `metrics.csv`.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Row {
    /// Env steps collected when the row was logged.
    pub env_steps: u64,
    /// Training time in seconds (`perf/wall_time_s`, or the running sum of `perf/update_time_s`
    /// in runs logged before that column existed); NaN when neither is present.
    pub wall_time_s: f64,
    /// `train/<metric>`: the episodes finished during the update (sampled actions).
    pub train: MetricValues,
    /// `eval/<metric>`: the deterministic evaluation logged at this update, if any.
    pub eval: MetricValues,
    /// `eval/distance_std` and `eval/speed` of that evaluation (NaN where absent).
    pub eval_spread: [f64; 2],
}

/// One run folder (`<variant>/seed-<n>`) and its rows.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Run {
    /// The variant folder's name.
    pub variant: String,
    /// The seed, as written in the folder name.
    pub seed: String,
    /// The run folder.
    pub dir: PathBuf,
    /// The rows, in the file's order.
    pub rows: Vec<Row>,
    /// Lines of its `metrics.csv` (1-based) that could not be read and were skipped: a row cut
    /// short (a run killed mid-write) or not a row at all.
    pub skipped: Vec<usize>,
}

/// One point of a run's final-performance curve: env steps and the metric values.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Point {
    /// Env steps.
    pub env_steps: u64,
    /// The [`METRICS`].
    pub values: MetricValues,
}

/// A run's evaluation points, or its training points when it has no evaluation yet.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct RunCurve {
    /// The variant.
    pub variant: String,
    /// The seed.
    pub seed: String,
    /// `eval` or `train`: where the points come from.
    pub source: &'static str,
    /// The points, at least one.
    pub points: Vec<Point>,
}

impl RunCurve {
    /// The last point.
    pub fn last(&self) -> &Point {
        self.points.last().expect("a curve has points")
    }

    /// The last point at or before `env_steps`.
    pub fn at(&self, env_steps: u64) -> Option<&Point> {
        self.points.iter().rev().find(|p| p.env_steps <= env_steps)
    }
}

impl Run {
    /// The run's evaluation points, or its training points when no row has an evaluation;
    /// `None` when it has neither (only rows with a distance count).
    pub fn curve(&self) -> Option<RunCurve> {
        let eval: Vec<Point> = self.points(|r| &r.eval);
        let (source, points) = if eval.is_empty() {
            ("train", self.points(|r| &r.train))
        } else {
            ("eval", eval)
        };
        (!points.is_empty()).then(|| RunCurve {
            variant: self.variant.clone(),
            seed: self.seed.clone(),
            source,
            points,
        })
    }

    fn points(&self, values: impl Fn(&Row) -> &MetricValues) -> Vec<Point> {
        self.rows
            .iter()
            .filter(|r| values(r)[0].is_finite())
            .map(|r| Point {
                env_steps: r.env_steps,
                values: *values(r),
            })
            .collect()
    }
}

/// Parses a `metrics.csv` into rows, and the 1-based numbers of the lines it skipped: those
/// with another number of fields than the header, or without a readable `env_steps`.
pub(super) fn parse_rows(csv: &str) -> (Vec<Row>, Vec<usize>) {
    let mut lines = csv.lines();
    let Some(header) = lines.next() else {
        return (Vec::new(), Vec::new());
    };
    let header: Vec<&str> = header.split(',').collect();
    let column = |name: &str| header.iter().position(|h| *h == name);
    let Some(steps) = column("env_steps") else {
        return (Vec::new(), Vec::new());
    };
    let columns = |source: &str| METRICS.map(|(m, _)| column(&format!("{source}/{m}")));
    let (train, eval) = (columns("train"), columns("eval"));
    let spread = [column("eval/distance_std"), column("eval/speed")];
    let (wall, update_time) = (column("perf/wall_time_s"), column("perf/update_time_s"));
    let mut summed_update_time = 0.0;
    let mut skipped = Vec::new();
    let rows = lines
        .enumerate()
        .filter_map(|(i, line)| {
            let row: Vec<&str> = line.split(',').collect();
            let readable = row.len() == header.len()
                && row.get(steps).is_some_and(|v| v.parse::<u64>().is_ok());
            if !readable {
                skipped.push(i + 2);
                return None;
            }
            let value = |c: Option<usize>| {
                c.and_then(|c| row.get(c))
                    .and_then(|v| v.parse::<f64>().ok())
                    .unwrap_or(f64::NAN)
            };
            let env_steps = row.get(steps)?.parse().ok()?;
            summed_update_time += value(update_time);
            let wall_time_s = match wall {
                Some(_) => value(wall),
                None => summed_update_time,
            };
            Some(Row {
                env_steps,
                wall_time_s,
                train: train.map(value),
                eval: eval.map(value),
                eval_spread: spread.map(value),
            })
        })
        .collect();
    (rows, skipped)
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .to_string()
}

/// The runs below `experiments` with at least one row, and the run folders without data yet.
/// With several experiments each variant is named `<experiment>/<variant>` (two experiments may
/// sweep the same variant names); with one, just `<variant>`.
pub(super) fn collect(experiments: &[PathBuf]) -> Result<(Vec<Run>, Vec<String>), ReportError> {
    let mut runs = Vec::new();
    let mut missing = Vec::new();
    for experiment in experiments {
        std::fs::read_dir(experiment).map_err(|source| ReportError::Read {
            path: experiment.clone(),
            source,
        })?;
        let prefix = match experiments.len() {
            1 => String::new(),
            _ => format!("{}/", file_name(experiment)),
        };
        for run_dir in crate::run::paths::runs_below(experiment) {
            let variant = format!("{prefix}{}", run_dir.variant().unwrap_or_default());
            // runs_below lists `seed-<n>` folders only, so the seed is always there.
            let seed = run_dir.seed().map(|s| s.to_string()).unwrap_or_default();
            let dir = run_dir.root;
            let name = file_name(&dir);
            let csv = std::fs::read_to_string(dir.join("metrics.csv")).unwrap_or_default();
            let (rows, skipped) = parse_rows(&csv);
            let run = Run {
                variant: variant.clone(),
                seed,
                dir,
                rows,
                skipped,
            };
            if run.curve().is_some() {
                runs.push(run);
            } else {
                missing.push(format!("{variant}/{name}"));
            }
        }
    }
    if runs.is_empty() && missing.is_empty() {
        let shown: Vec<String> = experiments
            .iter()
            .map(|e| e.display().to_string())
            .collect();
        return Err(ReportError::NoRuns(PathBuf::from(shown.join(", "))));
    }
    Ok((runs, missing))
}

#[cfg(test)]
mod tests {
    use super::*;

    const CSV: &str = "update,env_steps,train/distance,train/episode_return,eval/distance,eval/collisions\n\
                       1,100,0.5,1.0,,\n\
                       2,200,0.7,2.0,3.0,4\n\
                       3,300,0.9,3.0,,\n";

    fn run(csv: &str) -> Run {
        let (rows, skipped) = parse_rows(csv);
        Run {
            variant: "v".into(),
            seed: "0".into(),
            dir: PathBuf::new(),
            rows,
            skipped,
        }
    }

    #[test]
    fn eval_rows_are_preferred_and_absent_metrics_are_nan() {
        let curve = run(CSV).curve().unwrap();
        assert_eq!(curve.source, "eval");
        assert_eq!(curve.points.len(), 1);
        assert_eq!(curve.points[0].env_steps, 200);
        assert_eq!(curve.points[0].values[0], 3.0);
        assert!(
            curve.points[0].values[1].is_nan(),
            "no eval/episode_return column"
        );
        assert_eq!(curve.points[0].values[2], 4.0);
    }

    #[test]
    fn training_rows_stand_in_before_the_first_evaluation() {
        let csv = "update,env_steps,train/distance,eval/distance\n1,100,0.5,\n2,200,0.7,\n";
        let curve = run(csv).curve().unwrap();
        assert_eq!(curve.source, "train");
        assert_eq!(
            curve.points.iter().map(|p| p.env_steps).collect::<Vec<_>>(),
            [100, 200]
        );
        assert!(run("update,env_steps\n").curve().is_none());
    }

    #[test]
    fn wall_time_is_the_logged_column_or_the_summed_update_times() {
        let logged = "env_steps,perf/wall_time_s,perf/update_time_s\n1,5,2\n2,9,3\n";
        let times: Vec<f64> = parse_rows(logged).0.iter().map(|r| r.wall_time_s).collect();
        assert_eq!(times, [5.0, 9.0]);
        let older = "env_steps,perf/update_time_s\n1,2\n2,3\n";
        let times: Vec<f64> = parse_rows(older).0.iter().map(|r| r.wall_time_s).collect();
        assert_eq!(times, [2.0, 5.0]);
    }

    #[test]
    fn truncated_and_garbage_lines_are_skipped_and_named() {
        // Line 3 is garbage, line 5 was cut short by a kill mid-write.
        let csv = "update,env_steps,train/distance\n1,100,0.5\nnot a row\n2,200,0.7\n3,30";
        let (rows, skipped) = parse_rows(csv);
        assert_eq!(
            rows.iter().map(|r| r.env_steps).collect::<Vec<_>>(),
            [100, 200]
        );
        assert_eq!(skipped, [3, 5]);
    }
}
