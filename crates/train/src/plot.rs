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

const COLORS: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
];

/// Two panels: training loss (and validation loss, dashed… as a second series) above, accuracy
/// below, one colour per series.
pub fn curves(path: &Path, title: &str, series: &[Series<'_>]) -> Result<()> {
    draw(path, title, series)
        .map_err(|e| Error::io(format!("drawing {}", path.display()), std::io::Error::other(e.to_string())))
}

fn draw(path: &Path, title: &str, series: &[Series<'_>]) -> std::result::Result<(), Box<dyn std::error::Error>> {
    let root = SVGBackend::new(path, (960, 720)).into_drawing_area();
    root.fill(&WHITE)?;
    let root = root.titled(title, ("sans-serif", 22))?;
    let (top, bottom) = root.split_vertically(360);
    let max_step = series.iter().flat_map(|s| s.rows.iter().map(|r| r.step)).max().unwrap_or(1).max(1) as f64;
    let max_loss = series
        .iter()
        .flat_map(|s| s.rows.iter().flat_map(|r| std::iter::once(r.loss).chain(r.val_loss)))
        .filter(|x| x.is_finite())
        .fold(0.0f64, f64::max)
        .max(1e-3);

    let mut chart = ChartBuilder::on(&top)
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(56)
        .build_cartesian_2d(0.0..max_step, 0.0..max_loss * 1.05)?;
    let steps = |x: &f64| format!("{x:.0}");
    chart.configure_mesh().x_desc("step").y_desc("loss (nats)").x_label_formatter(&steps).draw()?;
    for (i, s) in series.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        chart
            .draw_series(LineSeries::new(
                s.rows.iter().filter(|r| r.loss.is_finite()).map(|r| (r.step as f64, r.loss)),
                color.stroke_width(2),
            ))?
            .label(format!("{} train", s.label))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2)));
        if s.rows.iter().any(|r| r.val_loss.is_some()) {
            chart
                .draw_series(LineSeries::new(
                    s.rows.iter().filter_map(|r| Some((r.step as f64, r.val_loss?))),
                    color.mix(0.5).stroke_width(1),
                ))?
                .label(format!("{} validation", s.label))
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color.mix(0.5).stroke_width(1)));
        }
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperRight)
        .draw()?;

    let mut acc = ChartBuilder::on(&bottom)
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(56)
        .build_cartesian_2d(0.0..max_step, 0.0..1.0)?;
    acc.configure_mesh().x_desc("step").y_desc("training accuracy").x_label_formatter(&steps).draw()?;
    for (i, s) in series.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        acc.draw_series(LineSeries::new(
            s.rows.iter().filter_map(|r| Some((r.step as f64, r.accuracy?))),
            color.stroke_width(2),
        ))?
        .label(s.label)
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2)));
    }
    acc.configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(SeriesLabelPosition::LowerRight)
        .draw()?;
    root.present()?;
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
