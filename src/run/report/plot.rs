//! Learning curves of an experiment's runs as PNG and SVG figures (the `plotters` crate): one
//! figure against env steps and one against training wall time, each with a panel per reported
//! metric and one of the evaluations' speed. Per variant, a line is the mean over seeds of the
//! training episodes' values (each run smoothed by a centred running mean over
//! [`SMOOTH_ROWS`](super::curves::SMOOTH_ROWS) updates), the shaded band its 95% bootstrap interval
//! over seeds, and the dots the mean of the deterministic evaluations.

use std::path::{Path, PathBuf};

use plotters::coord::Shift;
use plotters::prelude::*;

use super::ReportError;
use super::curves::{Band, Panel, band};
use super::runs::{Row, Run};
use crate::run::atomic::write_atomic;
use crate::run::font;
use crate::sim::png_out::encode_png;

/// Width and height of a figure in pixels (PNG) or user units (SVG).
pub(super) const SIZE: (u32, u32) = (1200, 800);
/// Rows and columns of a figure's grid of panels.
const GRID: (usize, usize) = (2, 3);
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

    /// The x value of `row` on this axis.
    pub(super) fn x(self, row: &Row) -> f64 {
        match self {
            XAxis::EnvSteps => row.env_steps as f64,
            XAxis::WallTime => row.wall_time_s,
        }
    }
}

/// Everything one figure draws: per variant (name, colour), one band per [`Panel`].
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
                let bands = Panel::ALL.iter().map(|&p| band(&mine, p, axis)).collect();
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

    /// The x and y ranges of the panel at `index` of [`Panel::ALL`] over every variant, padded:
    /// x spans every panel's data (the panels share their x axis, an empty panel included), y
    /// this panel's.
    fn ranges(&self, index: usize) -> (std::ops::Range<f64>, std::ops::Range<f64>) {
        let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
        for b in self.variants.iter().flat_map(|v| &v.2) {
            for &x in b.x.iter().chain(b.evals.iter().map(|e| &e.0)) {
                x0 = x0.min(x / self.x_scale);
                x1 = x1.max(x / self.x_scale);
            }
        }
        for (_, _, bands) in &self.variants {
            let b = &bands[index];
            let ys = b
                .low
                .iter()
                .chain(&b.high)
                .chain(b.evals.iter().map(|e| &e.1));
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
    let areas = root.split_evenly(GRID);
    for (index, (&panel, area)) in Panel::ALL.iter().zip(&areas).enumerate() {
        let (xr, yr) = fig.ranges(index);
        let mut chart = ChartBuilder::on(area)
            .caption(panel.caption(), (font::FAMILY, 18))
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
            let b = &bands[index];
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
            if panel == Panel::EvalSpeed {
                chart
                    .draw_series(LineSeries::new(
                        b.evals.iter().map(|&(x, y)| (sx(x), y)),
                        colour.stroke_width(1),
                    ))
                    .map_err(err)?;
            }
        }
        if index == 0 {
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
    fn step_labels_are_short() {
        assert_eq!(steps_label(&500.0), "500");
        assert_eq!(steps_label(&20_000.0), "20k");
        assert_eq!(steps_label(&1_500_000.0), "1.5M");
    }
}
