//! The data of the learning-curve figures: per variant and panel, the mean over seeds of the
//! training values with its bootstrap band, and the evaluations grouped over seeds.

use super::plot::XAxis;
use super::runs::{METRICS, Row, Run};
use crate::run::stats::{BOOTSTRAP_REPS, mean, stratified_bootstrap};

/// Rows (updates) in each run's centred running mean of its training values.
pub const SMOOTH_ROWS: usize = 5;
/// Points along the x axis at which the seeds' mean and band are computed.
const GRID_POINTS: usize = 120;
/// Confidence level of the bands.
const LEVEL: f64 = 0.95;
/// Seed of the bands' bootstraps.
const SEED: u64 = 0;

/// What one panel of a figure shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Panel {
    /// One of [`METRICS`], by position: the training episodes as a band, the evaluations as dots.
    Metric(usize),
    /// `eval/speed` (m/s): logged by evaluations only, drawn as dots joined by a line.
    EvalSpeed,
}

impl Panel {
    /// The panels of a figure, in reading order.
    pub const ALL: [Panel; 5] = [
        Panel::Metric(0),
        Panel::EvalSpeed,
        Panel::Metric(1),
        Panel::Metric(2),
        Panel::Metric(3),
    ];

    /// The panel's caption.
    pub fn caption(self) -> &'static str {
        match self {
            Panel::Metric(m) => METRICS[m].1,
            Panel::EvalSpeed => "evaluation speed (m/s)",
        }
    }

    /// The training value of `row` (NaN where the panel has none).
    fn train(self, row: &Row) -> f64 {
        match self {
            Panel::Metric(m) => row.train[m],
            Panel::EvalSpeed => f64::NAN,
        }
    }

    /// The evaluation value of `row` (NaN where none was logged).
    fn eval(self, row: &Row) -> f64 {
        match self {
            Panel::Metric(m) => row.eval[m],
            Panel::EvalSpeed => row.eval_spread[1],
        }
    }
}

/// One variant's curve in one panel.
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct Band {
    /// Grid x values where at least one seed has data.
    pub x: Vec<f64>,
    /// Mean over seeds at each x.
    pub mean: Vec<f64>,
    /// Lower end of the 95% bootstrap interval of the mean.
    pub low: Vec<f64>,
    /// Upper end.
    pub high: Vec<f64>,
    /// Evaluation points: (mean x, mean value) over the seeds evaluated at the same env steps.
    pub evals: Vec<(f64, f64)>,
}

/// Centred running mean of `y` over `window` values, skipping NaN.
fn smooth(y: &[f64], window: usize) -> Vec<f64> {
    let half = window / 2;
    (0..y.len())
        .map(|i| {
            let part: Vec<f64> = y[i.saturating_sub(half)..(i + half + 1).min(y.len())]
                .iter()
                .copied()
                .filter(|v| v.is_finite())
                .collect();
            if part.is_empty() {
                f64::NAN
            } else {
                mean(&part)
            }
        })
        .collect()
}

/// Linear interpolation of the polyline `points` (x ascending) at `x`; `None` outside it.
fn interpolate(points: &[(f64, f64)], x: f64) -> Option<f64> {
    let first = points.first()?;
    let last = points.last()?;
    if x < first.0 || x > last.0 {
        return None;
    }
    let i = points.partition_point(|p| p.0 < x);
    if i == 0 {
        return Some(first.1);
    }
    let (a, b) = (points[i - 1], points[i]);
    if b.0 == a.0 {
        return Some(b.1);
    }
    Some(a.1 + (b.1 - a.1) * (x - a.0) / (b.0 - a.0))
}

/// The band of `panel` for the runs of one variant against `axis`.
pub(super) fn band(runs: &[&Run], panel: Panel, axis: XAxis) -> Band {
    let series: Vec<Vec<(f64, f64)>> = runs
        .iter()
        .map(|run| {
            let rows: Vec<&Row> = run.rows.iter().filter(|r| axis.x(r).is_finite()).collect();
            let y: Vec<f64> = rows.iter().map(|r| panel.train(r)).collect();
            rows.iter()
                .zip(smooth(&y, SMOOTH_ROWS))
                .map(|(r, y)| (axis.x(r), y))
                .filter(|(_, y)| y.is_finite())
                .collect()
        })
        .collect();
    let x_max = series
        .iter()
        .filter_map(|s| s.last().map(|p| p.0))
        .fold(f64::NAN, f64::max);
    let x_min = series
        .iter()
        .filter_map(|s| s.first().map(|p| p.0))
        .fold(f64::NAN, f64::min);
    let mut out = Band::default();
    if x_max.is_finite() {
        for i in 0..GRID_POINTS {
            let x = x_min + (x_max - x_min) * i as f64 / (GRID_POINTS - 1) as f64;
            let values: Vec<f64> = series.iter().filter_map(|s| interpolate(s, x)).collect();
            if values.is_empty() {
                continue;
            }
            let e = stratified_bootstrap(&[values], mean, BOOTSTRAP_REPS, LEVEL, SEED);
            out.x.push(x);
            out.mean.push(e.value);
            out.low.push(e.low);
            out.high.push(e.high);
        }
    }
    // Evaluations: grouped by env steps over the seeds, at the seeds' mean x.
    let mut evals: Vec<(u64, f64, f64)> = runs
        .iter()
        .flat_map(|run| run.rows.iter())
        .filter(|r| panel.eval(r).is_finite() && axis.x(r).is_finite())
        .map(|r| (r.env_steps, axis.x(r), panel.eval(r)))
        .collect();
    evals.sort_by_key(|e| e.0);
    for group in evals.chunk_by(|a, b| a.0 == b.0) {
        let xs: Vec<f64> = group.iter().map(|e| e.1).collect();
        let ys: Vec<f64> = group.iter().map(|e| e.2).collect();
        out.evals.push((mean(&xs), mean(&ys)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interpolation_is_linear_inside_and_absent_outside() {
        let line = [(0.0, 0.0), (10.0, 5.0), (20.0, 5.0)];
        assert_eq!(interpolate(&line, 4.0), Some(2.0));
        assert_eq!(interpolate(&line, 15.0), Some(5.0));
        assert_eq!(interpolate(&line, 0.0), Some(0.0));
        assert_eq!(interpolate(&line, 20.0), Some(5.0));
        assert_eq!(interpolate(&line, 20.5), None);
        assert_eq!(interpolate(&line, -1.0), None);
    }

    #[test]
    fn smoothing_is_a_centred_mean_that_skips_gaps() {
        let s = smooth(&[1.0, 2.0, f64::NAN, 4.0, 5.0], 3);
        assert_eq!(s, [1.5, 1.5, 3.0, 4.5, 4.5]);
    }

    fn run(seed: &str, slope: f64) -> Run {
        let rows = (1..=10)
            .map(|i| Row {
                env_steps: 100 * i,
                wall_time_s: 2.0 * i as f64,
                train: [slope * i as f64, 0.0, f64::NAN, 0.0],
                eval: if i % 5 == 0 {
                    [10.0 * slope, 0.0, 0.0, 0.0]
                } else {
                    [f64::NAN; 4]
                },
                eval_spread: if i % 5 == 0 {
                    [1.0, 0.1 * slope]
                } else {
                    [f64::NAN; 2]
                },
            })
            .collect();
        Run {
            variant: "v".into(),
            seed: seed.into(),
            dir: std::path::PathBuf::new(),
            rows,
            skipped: Vec::new(),
        }
    }

    #[test]
    fn the_band_holds_the_seeds_mean_inside_its_interval() {
        let runs = [run("0", 1.0), run("1", 3.0)];
        let refs: Vec<&Run> = runs.iter().collect();
        let b = band(&refs, Panel::Metric(0), XAxis::EnvSteps);
        assert_eq!(b.x.len(), GRID_POINTS);
        assert_eq!(b.x[0], 100.0);
        assert_eq!(*b.x.last().unwrap(), 1000.0);
        for i in 0..b.x.len() {
            assert!(b.low[i] <= b.mean[i] && b.mean[i] <= b.high[i]);
        }
        // The seeds' slopes 1 and 3 average to 2 (the ends are smoothed over fewer rows).
        let mid = GRID_POINTS / 2;
        let expected = 2.0 * b.x[mid] / 100.0;
        assert!((b.mean[mid] - expected).abs() < 1e-9, "{}", b.mean[mid]);
        assert_eq!(b.evals, [(500.0, 20.0), (1000.0, 20.0)]);
        let wall = band(&refs, Panel::Metric(0), XAxis::WallTime);
        assert_eq!(wall.evals, [(10.0, 20.0), (20.0, 20.0)]);
        assert!(
            band(&refs, Panel::Metric(2), XAxis::EnvSteps).x.is_empty(),
            "no values"
        );
    }

    #[test]
    fn the_speed_panel_has_the_evaluations_speed_and_no_training_band() {
        let runs = [run("0", 1.0), run("1", 3.0)];
        let refs: Vec<&Run> = runs.iter().collect();
        let b = band(&refs, Panel::EvalSpeed, XAxis::EnvSteps);
        assert!(
            b.x.is_empty() && b.mean.is_empty(),
            "training logs no speed"
        );
        assert_eq!(b.evals.len(), 2);
        for (&(x, y), want_x) in b.evals.iter().zip([500.0, 1000.0]) {
            assert_eq!(x, want_x);
            // The seeds' speeds 0.1 and 0.3 average to 0.2.
            assert!((y - 0.2).abs() < 1e-12, "{y}");
        }
        assert_eq!(Panel::ALL.len(), METRICS.len() + 1);
    }
}
