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
    chart.configure_mesh().x_desc("step").y_desc("loss (nats)").draw()?;
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
    acc.configure_mesh().x_desc("step").y_desc("training accuracy").draw()?;
    for (i, s) in series.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        acc.draw_series(LineSeries::new(s.rows.iter().map(|r| (r.step as f64, r.accuracy)), color.stroke_width(2)))?
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
