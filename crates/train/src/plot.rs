//! Curves a person can open: loss and accuracy against steps, as SVG.

use crate::error::{Error, Result};
use crate::run::MetricsRow;
use plotters::prelude::*;
use std::path::Path;

/// One labelled run.
pub struct Series<'a> {
    pub label: &'a str,
    pub rows: &'a [MetricsRow],
}

pub(crate) const COLORS: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
];

/// Two panels: training loss (validation dashed, in the same hue) above, accuracy below, one
/// colour per series, legends beside the data. Steps run on a log axis when the runs' lengths
/// differ more than tenfold (a 14,000-step run beside 200-step ones), else on a linear one.
pub fn curves(path: &Path, title: &str, series: &[Series<'_>]) -> Result<()> {
    draw(path, title, series)
        .map_err(|e| Error::io(format!("drawing {}", path.display()), std::io::Error::other(e.to_string())))
}

/// The x axis of a curves plot: linear in steps, or log10 of steps (rows at step 0 left out).
#[derive(Clone, Copy)]
struct StepAxis {
    log: bool,
}

impl StepAxis {
    fn choose(series: &[Series<'_>]) -> StepAxis {
        let ends: Vec<u64> = series.iter().filter_map(|s| s.rows.last().map(|r| r.step)).filter(|&e| e > 0).collect();
        let (lo, hi) = (ends.iter().min().copied().unwrap_or(1), ends.iter().max().copied().unwrap_or(1));
        StepAxis { log: hi > 10 * lo }
    }
    fn x(self, step: u64) -> Option<f64> {
        match (self.log, step) {
            (true, 0) => None,
            (true, s) => Some((s as f64).log10()),
            (false, s) => Some(s as f64),
        }
    }
    fn label(self, x: &f64) -> String {
        if !self.log {
            return format!("{x:.0}");
        }
        // Ticks read 1, 10, 100, 1k, 10k: labels at powers of ten only.
        let r = x.round();
        if (x - r).abs() > 1e-9 {
            return String::new();
        }
        match 10f64.powf(r) {
            v if v >= 1e3 => format!("{:.0}k", v / 1e3),
            v => format!("{v:.0}"),
        }
    }
}

type Drawn = std::result::Result<(), Box<dyn std::error::Error>>;

fn draw(path: &Path, title: &str, series: &[Series<'_>]) -> Drawn {
    let root = SVGBackend::new(path, (1040, 720)).into_drawing_area();
    root.fill(&WHITE)?;
    let root = root.titled(title, ("sans-serif", 22))?;
    let (top, bottom) = root.split_vertically(360);
    let axis = StepAxis::choose(series);
    let xs = || series.iter().flat_map(|s| s.rows.iter().filter_map(|r| axis.x(r.step)));
    let (x0, x1) = xs().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| (a.min(x), b.max(x)));
    let (x0, x1) = if x0.is_finite() && x1 > x0 { (x0, x1) } else { (0.0, 1.0) };
    let losses =
        series.iter().flat_map(|s| s.rows.iter().flat_map(|r| [Some(r.loss), r.val_loss, r.eval_loss]).flatten());
    let (lo, hi) =
        losses.filter(|x| x.is_finite()).fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), y| (a.min(y), b.max(y)));
    let (lo, hi) = if lo.is_finite() && hi > lo { (lo, hi) } else { (0.0, 1.0) };
    let pad = (hi - lo) * 0.05;
    loss_panel(&top, axis, (x0, x1), (lo - pad, hi + pad), series)?;
    accuracy_panel(&bottom, axis, (x0, x1), series)?;
    root.present()?;
    Ok(())
}

/// Legends sit in a margin to the right of the plotting area, never on the data.
const LEGEND_WIDTH: u32 = 190;

fn loss_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    axis: StepAxis,
    x: (f64, f64),
    y: (f64, f64),
    series: &[Series<'_>],
) -> Drawn
where
    DB::ErrorType: 'static,
{
    let mut chart = ChartBuilder::on(area)
        .margin(12)
        .margin_right(LEGEND_WIDTH)
        .x_label_area_size(36)
        .y_label_area_size(56)
        .build_cartesian_2d(x.0..x.1, y.0..y.1)?;
    let label = |v: &f64| axis.label(v);
    let x_desc = if axis.log { "step (log scale)" } else { "step" };
    chart.configure_mesh().x_desc(x_desc).y_desc("loss (nats)").x_label_formatter(&label).draw()?;
    for (i, s) in series.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let train = s.rows.iter().filter(|r| r.loss.is_finite()).filter_map(|r| Some((axis.x(r.step)?, r.loss)));
        chart
            .draw_series(LineSeries::new(train, color.stroke_width(2)))?
            .label(format!("{} train", s.label))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2)));
        let val: Vec<(f64, f64)> = s.rows.iter().filter_map(|r| Some((axis.x(r.step)?, r.val_loss?))).collect();
        if !val.is_empty() {
            chart
                .draw_series(DashedLineSeries::new(val, 6, 4, color.stroke_width(2)))?
                .label(format!("{} validation", s.label))
                .legend(move |(x, y)| {
                    let dash = |a: i32, b: i32| PathElement::new(vec![(x + a, y), (x + b, y)], color.stroke_width(2));
                    EmptyElement::at((x, y)) + dash(0, 7) + dash(11, 18)
                });
        }
    }
    let (w, _) = chart.plotting_area().dim_in_pixel();
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::Coordinate(w as i32 + 12, 0))
        .background_style(WHITE)
        .border_style(BLACK)
        .draw()?;
    Ok(())
}

fn accuracy_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    axis: StepAxis,
    x: (f64, f64),
    series: &[Series<'_>],
) -> Drawn
where
    DB::ErrorType: 'static,
{
    let mut acc = ChartBuilder::on(area)
        .margin(12)
        .margin_right(LEGEND_WIDTH)
        .x_label_area_size(36)
        .y_label_area_size(56)
        .build_cartesian_2d(x.0..x.1, 0.0..1.0)?;
    let label = |v: &f64| axis.label(v);
    let x_desc = if axis.log { "step (log scale)" } else { "step" };
    acc.configure_mesh().x_desc(x_desc).y_desc("training accuracy").x_label_formatter(&label).draw()?;
    for (i, s) in series.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let points = s.rows.iter().filter_map(|r| Some((axis.x(r.step)?, r.accuracy?)));
        acc.draw_series(LineSeries::new(points, color.stroke_width(2)))?
            .label(s.label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2)));
    }
    let (w, _) = acc.plotting_area().dim_in_pixel();
    acc.configure_series_labels()
        .position(SeriesLabelPosition::Coordinate(w as i32 + 12, 0))
        .background_style(WHITE)
        .border_style(BLACK)
        .draw()?;
    Ok(())
}

/// A labelled line of (x, y) points.
pub struct Line<'a> {
    pub label: &'a str,
    pub points: Vec<(f64, f64)>,
}

/// One chart of lines with markers; `log2_x` plots x on a log₂ axis (window counts that double).
pub fn lines(path: &Path, title: &str, x_desc: &str, y_desc: &str, series: &[Line<'_>], log2_x: bool) -> Result<()> {
    draw_lines(path, title, x_desc, y_desc, series, log2_x)
        .map_err(|e| Error::io(format!("drawing {}", path.display()), std::io::Error::other(e.to_string())))
}

fn draw_lines(
    path: &Path,
    title: &str,
    x_desc: &str,
    y_desc: &str,
    series: &[Line<'_>],
    log2_x: bool,
) -> std::result::Result<(), Box<dyn std::error::Error>> {
    let tx = |x: f64| if log2_x { x.max(1e-9).log2() } else { x };
    let pts = || series.iter().flat_map(|s| s.points.iter().copied()).filter(|(x, y)| x.is_finite() && y.is_finite());
    let (x0, x1) = pts().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), (x, _)| (a.min(tx(x)), b.max(tx(x))));
    let (y0, y1) = pts().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), (_, y)| (a.min(y), b.max(y)));
    let (x0, x1) = if x0.is_finite() { (x0, if x1 > x0 { x1 } else { x0 + 1.0 }) } else { (0.0, 1.0) };
    let (y0, y1) = if y0.is_finite() { (y0.min(0.0), if y1 > y0 { y1 * 1.05 } else { y0 + 1.0 }) } else { (0.0, 1.0) };
    let root = SVGBackend::new(path, (960, 600)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(14)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(x0..x1, y0..y1)?;
    let fmt_x = |x: &f64| if log2_x { format!("{:.0}", 2f64.powf(*x)) } else { format!("{x:.0}") };
    chart.configure_mesh().x_desc(x_desc).y_desc(y_desc).x_label_formatter(&fmt_x).draw()?;
    for (i, s) in series.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let data: Vec<(f64, f64)> =
            s.points.iter().filter(|(x, y)| x.is_finite() && y.is_finite()).map(|&(x, y)| (tx(x), y)).collect();
        chart
            .draw_series(LineSeries::new(data.clone(), color.stroke_width(2)))?
            .label(s.label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2)));
        chart.draw_series(data.into_iter().map(move |p| Circle::new(p, 3, color.filled())))?;
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperRight)
        .draw()?;
    root.present()?;
    Ok(())
}

/// One point per labelled group with a vertical error bar (lo, hi), groups along x. The y axis is
/// logarithmic when the values span more than two decades.
pub fn error_bars(path: &Path, title: &str, y_desc: &str, points: &[(String, f64, [f64; 2])]) -> Result<()> {
    draw_error_bars(path, title, y_desc, points)
        .map_err(|e| Error::io(format!("drawing {}", path.display()), std::io::Error::other(e.to_string())))
}

fn draw_error_bars(
    path: &Path,
    title: &str,
    y_desc: &str,
    points: &[(String, f64, [f64; 2])],
) -> std::result::Result<(), Box<dyn std::error::Error>> {
    let lo = points.iter().map(|p| p.2[0].min(p.1)).fold(f64::INFINITY, f64::min);
    let hi = points.iter().map(|p| p.2[1].max(p.1)).fold(f64::NEG_INFINITY, f64::max);
    let log = lo > 0.0 && hi / lo > 100.0;
    let ty = |y: f64| if log { y.log10() } else { y };
    let pad = (ty(hi) - ty(lo)).abs().max(1e-9) * 0.1;
    let (y0, y1) = (ty(lo) - pad, ty(hi) + pad);
    let n = points.len();
    let root = SVGBackend::new(path, (200 + 90 * n as u32, 600)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(14)
        .x_label_area_size(140)
        .y_label_area_size(80)
        .build_cartesian_2d(-0.5f64..n as f64 - 0.5, y0..y1)?;
    let label = |x: &f64| {
        let i = x.round();
        if (x - i).abs() < 1e-6 && i >= 0.0 && (i as usize) < n {
            points[i as usize].0.clone()
        } else {
            String::new()
        }
    };
    let fmt_y = |y: &f64| if log { format!("{:.3}", 10f64.powf(*y)) } else { format!("{y:.3}") };
    chart
        .configure_mesh()
        .x_labels(n)
        .x_label_formatter(&label)
        .x_label_style(("sans-serif", 12).into_font().transform(FontTransform::Rotate90))
        .y_desc(if log { format!("{y_desc} (log scale)") } else { y_desc.to_string() })
        .y_label_formatter(&fmt_y)
        .draw()?;
    let color = COLORS[0];
    chart.draw_series(points.iter().enumerate().map(|(i, (_, mean, ci))| {
        ErrorBar::new_vertical(i as f64, ty(ci[0]), ty(*mean), ty(ci[1]), color.filled(), 12)
    }))?;
    chart.draw_series(
        points.iter().enumerate().map(|(i, (_, mean, _))| Circle::new((i as f64, ty(*mean)), 4, color.filled())),
    )?;
    root.present()?;
    Ok(())
}
