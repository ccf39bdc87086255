//! Learning curves of an experiment's runs as PNG and SVG figures (the `plotters` crate): one
//! figure against env steps and one against training wall time, each with a panel per reported
//! metric. Per variant, a line is the mean over seeds of the training episodes' values (each run
//! smoothed by a centred running mean over [`SMOOTH_ROWS`] updates), the shaded band its 95%
//! bootstrap interval over seeds, and the dots the mean of the deterministic evaluations.

use std::path::{Path, PathBuf};

use plotters::coord::Shift;
use plotters::prelude::*;

use super::ReportError;
use super::runs::{METRICS, Row, Run};
use crate::run::atomic::write_atomic;
use crate::run::font;
use crate::run::stats::{BOOTSTRAP_REPS, mean, stratified_bootstrap};
use crate::sim::png_out::encode_png;

/// Width and height of a figure in pixels (PNG) or user units (SVG).
pub(super) const SIZE: (u32, u32) = (1200, 800);
/// Rows (updates) in each run's centred running mean of its training values.
pub const SMOOTH_ROWS: usize = 5;
/// Points along the x axis at which the seeds' mean and band are computed.
const GRID_POINTS: usize = 120;
/// Confidence level of the bands.
const LEVEL: f64 = 0.95;
/// Seed of the bands' bootstraps.
const SEED: u64 = 0;
/// Line colours of the variants, in order (matplotlib's tab10).
const PALETTE: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

/// The x axis of a figure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum XAxis {
    /// Env steps collected.
    EnvSteps,
    /// Training wall time (evaluations not included).
    WallTime,
}

impl XAxis {
    /// Both axes, in the report's order.
    pub const ALL: [XAxis; 2] = [XAxis::EnvSteps, XAxis::WallTime];

    /// File stem of the figure (`learning_curves_<axis>`).
    pub fn stem(self) -> &'static str {
        match self {
            XAxis::EnvSteps => "learning_curves_env_steps",
            XAxis::WallTime => "learning_curves_wall_time",
        }
    }

    /// What the axis is, for captions.
    pub fn describe(self) -> &'static str {
        match self {
            XAxis::EnvSteps => "env steps",
            XAxis::WallTime => "training wall time",
        }
    }

    fn x(self, row: &Row) -> f64 {
        match self {
            XAxis::EnvSteps => row.env_steps as f64,
            XAxis::WallTime => row.wall_time_s,
        }
    }
}

/// One variant's curve in one panel.
#[derive(Debug, Clone, Default, PartialEq)]
struct Band {
    /// Grid x values where at least one seed has data.
    x: Vec<f64>,
    /// Mean over seeds at each x.
    mean: Vec<f64>,
    /// Lower end of the 95% bootstrap interval of the mean.
    low: Vec<f64>,
    /// Upper end.
    high: Vec<f64>,
    /// Evaluation points: (mean x, mean value) over the seeds evaluated at the same env steps.
    evals: Vec<(f64, f64)>,
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

/// The band of `metric` for the runs of one variant against `axis`.
fn band(runs: &[&Run], metric: usize, axis: XAxis) -> Band {
    let series: Vec<Vec<(f64, f64)>> = runs
        .iter()
        .map(|run| {
            let rows: Vec<&Row> = run.rows.iter().filter(|r| axis.x(r).is_finite()).collect();
            let y: Vec<f64> = rows.iter().map(|r| r.train[metric]).collect();
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
        .filter(|r| r.eval[metric].is_finite() && axis.x(r).is_finite())
        .map(|r| (r.env_steps, axis.x(r), r.eval[metric]))
        .collect();
    evals.sort_by_key(|e| e.0);
    for group in evals.chunk_by(|a, b| a.0 == b.0) {
        let xs: Vec<f64> = group.iter().map(|e| e.1).collect();
        let ys: Vec<f64> = group.iter().map(|e| e.2).collect();
        out.evals.push((mean(&xs), mean(&ys)));
    }
    out
}

/// Everything one figure draws: per variant (name, colour), one band per metric.
struct FigureData {
    axis: XAxis,
    /// Seconds per x unit (wall time in minutes or hours; 1 for env steps).
    x_scale: f64,
    x_label: String,
    variants: Vec<(String, RGBColor, Vec<Band>)>,
}

impl FigureData {
    fn new(runs: &[Run], axis: XAxis) -> FigureData {
        let mut names: Vec<String> = runs.iter().map(|r| r.variant.clone()).collect();
        names.dedup();
        let variants: Vec<(String, RGBColor, Vec<Band>)> = names
            .into_iter()
            .enumerate()
            .map(|(i, name)| {
                let mine: Vec<&Run> = runs.iter().filter(|r| r.variant == name).collect();
                let bands = (0..METRICS.len()).map(|m| band(&mine, m, axis)).collect();
                (name, PALETTE[i % PALETTE.len()], bands)
            })
            .collect();
        let x_max = variants
            .iter()
            .flat_map(|v| v.2.iter().flat_map(|b| b.x.last()))
            .fold(0.0f64, |a, &b| a.max(b));
        let (x_scale, x_label) = match axis {
            XAxis::EnvSteps => (1.0, "env steps".to_string()),
            XAxis::WallTime if x_max > 3.0 * 3600.0 => (3600.0, "training wall time (h)".into()),
            XAxis::WallTime => (60.0, "training wall time (min)".into()),
        };
        FigureData {
            axis,
            x_scale,
            x_label,
            variants,
        }
    }

    /// The x and y ranges of panel `metric` over every variant, padded.
    fn ranges(&self, metric: usize) -> (std::ops::Range<f64>, std::ops::Range<f64>) {
        let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
        for (_, _, bands) in &self.variants {
            let b = &bands[metric];
            let xs = b.x.iter().chain(b.evals.iter().map(|e| &e.0));
            let ys = b
                .low
                .iter()
                .chain(&b.high)
                .chain(b.evals.iter().map(|e| &e.1));
            for &x in xs {
                x0 = x0.min(x / self.x_scale);
                x1 = x1.max(x / self.x_scale);
            }
            for &y in ys.filter(|y| y.is_finite()) {
                y0 = y0.min(y);
                y1 = y1.max(y);
            }
        }
        let pad = |lo: f64, hi: f64, frac: f64| {
            if lo > hi {
                (0.0, 1.0)
            } else if hi - lo < 1e-9 {
                (lo - 0.5, hi + 0.5)
            } else {
                (lo - frac * (hi - lo), hi + frac * (hi - lo))
            }
        };
        let (x0, x1) = pad(x0, x1, 0.0);
        let (y0, y1) = pad(y0, y1, 0.06);
        (x0..x1, y0..y1)
    }
}

/// Env-step tick labels: 500, 20k, 1.5M.
fn steps_label(x: &f64) -> String {
    let a = x.abs();
    if a >= 1e6 {
        format!("{:.1}M", x / 1e6)
    } else if a >= 1e3 {
        format!("{:.0}k", x / 1e3)
    } else {
        format!("{x:.0}")
    }
}

fn draw<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, fig: &FigureData) -> Result<(), String>
where
    DB::ErrorType: 'static,
{
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    root.fill(&WHITE).map_err(err)?;
    let title = format!(
        "Training episodes against {} (mean over seeds, 95% bootstrap band; dots: evaluations)",
        fig.axis.describe()
    );
    let root = root.titled(&title, (font::FAMILY, 20)).map_err(err)?;
    for (metric, panel) in root.split_evenly((2, 2)).iter().enumerate() {
        let (xr, yr) = fig.ranges(metric);
        let mut chart = ChartBuilder::on(panel)
            .caption(METRICS[metric].1, (font::FAMILY, 18))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(xr, yr)
            .map_err(err)?;
        let steps_fmt = |x: &f64| steps_label(x);
        let plain_fmt = |x: &f64| format!("{x:.0}");
        chart
            .configure_mesh()
            .x_desc(&fig.x_label)
            .x_label_formatter(match fig.axis {
                XAxis::EnvSteps => &steps_fmt,
                XAxis::WallTime => &plain_fmt,
            })
            .label_style((font::FAMILY, 13))
            .light_line_style(RGBColor(235, 235, 235))
            .draw()
            .map_err(err)?;
        for (name, colour, bands) in &fig.variants {
            let b = &bands[metric];
            let sx = |x: f64| x / fig.x_scale;
            let outline: Vec<(f64, f64)> =
                b.x.iter()
                    .zip(&b.high)
                    .map(|(&x, &y)| (sx(x), y))
                    .chain(b.x.iter().zip(&b.low).rev().map(|(&x, &y)| (sx(x), y)))
                    .collect();
            chart
                .draw_series(std::iter::once(Polygon::new(outline, colour.mix(0.2))))
                .map_err(err)?;
            let colour = *colour;
            chart
                .draw_series(LineSeries::new(
                    b.x.iter().zip(&b.mean).map(|(&x, &y)| (sx(x), y)),
                    colour.stroke_width(2),
                ))
                .map_err(err)?
                .label(name.as_str())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(2))
                });
            chart
                .draw_series(
                    b.evals
                        .iter()
                        .map(|&(x, y)| Circle::new((sx(x), y), 4, colour.filled())),
                )
                .map_err(err)?;
        }
        if metric == 0 {
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::UpperLeft)
                .label_font((font::FAMILY, 14))
                .background_style(WHITE.mix(0.85))
                .border_style(RGBColor(180, 180, 180))
                .draw()
                .map_err(err)?;
        }
    }
    root.present().map_err(err)
}

fn plot_error(path: &Path, message: String) -> ReportError {
    ReportError::Write {
        path: path.to_path_buf(),
        source: std::io::Error::other(message),
    }
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), ReportError> {
    write_atomic(path, bytes).map_err(|source| ReportError::Write {
        path: path.to_path_buf(),
        source,
    })
}

/// Writes the learning-curve figures of `runs` into `dir` as `<stem>.png` and `<stem>.svg` for
/// each [`XAxis`] (atomically) and returns the stems written, in order.
pub(super) fn write_learning_curves(
    runs: &[Run],
    dir: &Path,
) -> Result<Vec<(XAxis, PathBuf)>, ReportError> {
    font::register();
    let mut written = Vec::new();
    for axis in XAxis::ALL {
        let fig = FigureData::new(runs, axis);
        if fig
            .variants
            .iter()
            .all(|v| v.2.iter().all(|b| b.x.is_empty()))
        {
            continue;
        }
        let png_path = dir.join(format!("{}.png", axis.stem()));
        let mut rgb = vec![0u8; (SIZE.0 * SIZE.1 * 3) as usize];
        {
            let root = BitMapBackend::with_buffer(&mut rgb, SIZE).into_drawing_area();
            draw(&root, &fig).map_err(|m| plot_error(&png_path, m))?;
        }
        let (w, h) = (SIZE.0 as usize, SIZE.1 as usize);
        let png = encode_png(&rgb, w, h, png::ColorType::Rgb)
            .map_err(|e| plot_error(&png_path, e.to_string()))?;
        write(&png_path, &png)?;
        let svg_path = dir.join(format!("{}.svg", axis.stem()));
        let mut svg = String::new();
        {
            let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
            draw(&root, &fig).map_err(|m| plot_error(&svg_path, m))?;
        }
        write(&svg_path, svg.as_bytes())?;
        written.push((axis, png_path));
    }
    Ok(written)
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
                eval_spread: [f64::NAN; 2],
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
        let b = band(&refs, 0, XAxis::EnvSteps);
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
        let wall = band(&refs, 0, XAxis::WallTime);
        assert_eq!(wall.evals, [(10.0, 20.0), (20.0, 20.0)]);
        assert!(band(&refs, 2, XAxis::EnvSteps).x.is_empty(), "no values");
    }

    #[test]
    fn step_labels_are_short() {
        assert_eq!(steps_label(&500.0), "500");
        assert_eq!(steps_label(&20_000.0), "20k");
        assert_eq!(steps_label(&1_500_000.0), "1.5M");
    }
}
