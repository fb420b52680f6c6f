//! The capacity plots: memorized bits against dataset bits per head (the shape of Morris et al.'s
//! figure 1), and capacity against parameters with fitted lines and the published references.
//! Only certified points make the lines and the fits; an uncertified point is drawn alone, as a
//! hollow upward triangle: a lower bound (a longer run would store at least as much).

use super::summary::{CapacityReport, HeadCapacity, Point, SizeCapacity};
use crate::results::stat;
use plot::COLORS;
use plotters::prelude::*;
use std::path::Path;
use train::error::Result;

/// 2000 → "2k", 1500000 → "1.5M": log-axis ticks that stay short.
fn si(x: &f64) -> String {
    let (v, unit) = match x.abs() {
        a if a >= 1e6 => (x / 1e6, "M"),
        a if a >= 1e3 => (x / 1e3, "k"),
        _ => (*x, ""),
    };
    let digits = if (v - v.round()).abs() < 1e-6 { 0 } else { 1 };
    format!("{v:.digits$}{unit}")
}

use plot::Drawn as Draw;

/// Mean over seeds, with the 95% interval, of each (x, y) group: `key` picks x.
fn mean_points(points: &[&Point], x: impl Fn(&Point) -> f64) -> Vec<(f64, f64, f64, f64)> {
    let mut xs: Vec<f64> = points.iter().map(|p| x(p)).collect();
    xs.sort_by(f64::total_cmp);
    xs.dedup();
    xs.into_iter()
        .map(|v| {
            let ys: Vec<f64> = points.iter().filter(|p| x(p) == v).map(|p| p.memorized_bits.max(1.0)).collect();
            let s = stat(&ys);
            let [lo, hi] = s.ci95.unwrap_or([s.mean, s.mean]);
            (v, s.mean.max(1.0), lo.max(1.0), hi.max(1.0))
        })
        .collect()
}

/// One panel per head: memorized bits against dataset bits (log–log), a line per model size,
/// the diagonal where everything is memorized.
pub fn curves(r: &CapacityReport, path: &Path) -> Result<()> {
    Ok(plot::drawn(path, draw_curves(r, path))?)
}

fn draw_curves(r: &CapacityReport, path: &Path) -> Draw {
    let root = SVGBackend::new(path, (1400, 720)).into_drawing_area();
    root.fill(&WHITE)?;
    let root = root.titled(
        "Memorized bits against dataset bits (random bytes; certified: mean of seeds, 95% CI; △ uncertified, a lower bound)",
        ("sans-serif", 20),
    )?;
    let all = || r.heads.values().flat_map(|h| h.points.iter());
    let hi = all().map(|p| p.dataset_bits).fold(10.0, f64::max) * 1.5;
    let lo = all().map(|p| p.dataset_bits.min(p.memorized_bits.max(1.0))).fold(hi, f64::min) / 1.5;
    // One head fills the figure; more share it two rows high.
    let rows = if r.heads.len() > 1 { 2 } else { 1 };
    let panels = root.split_evenly((rows, r.heads.len().div_ceil(rows).max(1)));
    for ((name, h), area) in r.heads.iter().zip(panels.iter()) {
        let mut chart = ChartBuilder::on(area)
            .caption(name.as_str(), ("sans-serif", 16))
            .margin(8)
            .x_label_area_size(34)
            .y_label_area_size(52)
            .build_cartesian_2d((lo..hi).log_scale(), (lo..hi).log_scale())?;
        chart
            .configure_mesh()
            .x_desc("dataset bits")
            .y_desc("memorized bits")
            .x_labels(5)
            .y_labels(5)
            .x_label_formatter(&si)
            .y_label_formatter(&si)
            .draw()?;
        chart.draw_series(LineSeries::new([(lo, lo), (hi, hi)], BLACK.mix(0.3).stroke_width(1)))?;
        for (i, size) in sizes(&h.points).iter().enumerate() {
            let color = COLORS[i % COLORS.len()];
            let lower = h.points.iter().filter(|p| p.params == *size && !p.is_certified());
            chart.draw_series(lower.map(|p| {
                TriangleMarker::new((p.dataset_bits, p.memorized_bits.clamp(lo, hi)), 5, color.stroke_width(1))
            }))?;
            let mine: Vec<&Point> = h.points.iter().filter(|p| p.params == *size && p.is_certified()).collect();
            if mine.is_empty() {
                continue;
            }
            let m = mean_points(&mine, |p| p.dataset_bits);
            chart
                .draw_series(LineSeries::new(m.iter().map(|q| (q.0, q.1)), color.stroke_width(2)))?
                .label(format!("{size} params"))
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 14, y)], color.stroke_width(2)));
            chart.draw_series(m.iter().map(|q| ErrorBar::new_vertical(q.0, q.2, q.1, q.3, color.filled(), 6)))?;
        }
        // Above the diagonal nothing can be (no model stores more than its data holds): the
        // legend goes there.
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK)
            .label_font(("sans-serif", 11))
            .draw()?;
    }
    root.present()?;
    Ok(())
}

/// Capacity against parameters (log–log), a colour per head with its fitted bits/parameter line,
/// and the 3.6 (Morris et al.) and 2.0 (Allen-Zhu & Li) bits/parameter references dashed.
pub fn against_params(r: &CapacityReport, path: &Path) -> Result<()> {
    Ok(plot::drawn(path, draw_against_params(r, path))?)
}

/// Each size's plateau (params, capacity, interval over seeds); a size without one is left out.
fn plateaus(h: &HeadCapacity) -> Vec<(f64, f64, f64, f64)> {
    let point = |z: &SizeCapacity| {
        let c = z.capacity_bits?.max(1.0);
        let [lo, hi] = z.capacity_ci95.unwrap_or([c, c]);
        Some((z.params as f64, c, lo.max(1.0), hi.max(1.0)))
    };
    h.sizes.iter().filter_map(point).collect()
}

/// Each size without a plateau: the most bits one of its datasets stored, as the mean over seeds
/// of its certified points (the plateaus' own measure), a lower bound on what the model stores
/// (params, bits).
pub(super) fn lower_bounds(h: &HeadCapacity) -> Vec<(f64, f64)> {
    let most = |z: &SizeCapacity| {
        let certified: Vec<&Point> = h.points.iter().filter(|p| p.params == z.params && p.is_certified()).collect();
        let means = mean_points(&certified, |p| p.dataset_bits);
        means.iter().map(|m| m.1).max_by(f64::total_cmp).map(|b| (z.params as f64, b))
    };
    h.sizes.iter().filter(|z| z.capacity_bits.is_none()).filter_map(most).collect()
}

/// The model sizes (parameters) of a head's points, ascending.
fn sizes(points: &[Point]) -> Vec<usize> {
    let mut sizes: Vec<usize> = points.iter().map(|p| p.params).collect();
    sizes.sort();
    sizes.dedup();
    sizes
}

fn draw_against_params(r: &CapacityReport, path: &Path) -> Draw {
    let root = SVGBackend::new(path, (1100, 640)).into_drawing_area();
    root.fill(&WHITE)?;
    // The legend gets a column of its own, off the data.
    let (plot_area, legend_area) = root.split_horizontally(860);
    let params = || r.heads.values().flat_map(|h| h.points.iter().map(|p| p.params as f64));
    // No point yet (a shard waiting for the tuning): a range of its own, as an infinite bound
    // would never finish placing the log axis's ticks.
    let (x0, x1) = match params().next() {
        Some(_) => (params().fold(f64::INFINITY, f64::min) / 1.4, params().fold(10.0, f64::max) * 1.4),
        None => (1e3, 1e6),
    };
    let (y0, y1) = (x0 * 0.05, x1 * 8.0);
    let mut chart = ChartBuilder::on(&plot_area)
        .caption("Capacity against parameters (random bytes; mean of seeds, 95% CI; △ lower bound)", ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(64)
        .build_cartesian_2d((x0..x1).log_scale(), (y0..y1).log_scale())?;
    chart
        .configure_mesh()
        .x_desc("parameters")
        .y_desc("capacity (bits)")
        .x_labels(8)
        .x_label_formatter(&si)
        .y_label_formatter(&si)
        .draw()?;
    let mut legend: Vec<(String, Key)> = Vec::new();
    for (k, bpp) in [(3.6, "3.6 bits/param (Morris et al. 2025)"), (2.0, "2.0 bits/param (Allen-Zhu & Li)")]
        .map(|(k, l)| (k, l.to_string()))
    {
        let style = BLACK.mix(if k > 3.0 { 0.6 } else { 0.35 }).stroke_width(2);
        chart.draw_series(DashedLineSeries::new([(x0, k * x0), (x1, k * x1)], 8, 6, style))?;
        legend.push((bpp, Key::Line(style)));
    }
    for (i, (name, h)) in r.heads.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let m = plateaus(h);
        chart.draw_series(m.iter().map(|q| ErrorBar::new_vertical(q.0, q.2, q.1, q.3, color.filled(), 8)))?;
        chart.draw_series(m.iter().map(|q| Circle::new((q.0, q.1), 4, color.filled())))?;
        let below = lower_bounds(h);
        let inside = below.iter().map(|&(x, y)| (x, y.clamp(y0, y1)));
        chart.draw_series(inside.map(|q| TriangleMarker::new(q, 7, color.stroke_width(2))))?;
        if !below.is_empty() {
            let text = format!("{name}: lower bound (no plateau)");
            legend.push((text, Key::Triangle(color.stroke_width(2))));
        }
        let Some(slope) = h.slope.filter(|_| !m.is_empty()) else {
            legend.push((format!("{name}: no certified plateau"), Key::Line(color.stroke_width(1))));
            continue;
        };
        let (a, b) = (m[0].0, m[m.len() - 1].0);
        chart.draw_series(LineSeries::new([(a, slope * a), (b, slope * b)], color.stroke_width(2)))?;
        legend.push((format!("{name}: {slope:.2} bits/param"), Key::Line(color.stroke_width(3))));
    }
    draw_legend(&legend_area, &legend)?;
    root.present()?;
    Ok(())
}

/// How a legend line shows its series: a line, or a lower bound's triangle.
enum Key {
    Line(ShapeStyle),
    Triangle(ShapeStyle),
}

/// A legend in a column of its own: each series' key, and its text.
fn draw_legend(area: &DrawingArea<SVGBackend<'_>, plotters::coord::Shift>, legend: &[(String, Key)]) -> Draw {
    for (i, (text, key)) in legend.iter().enumerate() {
        let y = 60 + 26 * i as i32;
        match key {
            Key::Line(style) => area.draw(&PathElement::new(vec![(8, y), (36, y)], *style))?,
            Key::Triangle(style) => area.draw(&TriangleMarker::new((22, y), 7, *style))?,
        }
        area.draw(&Text::new(text.clone(), (42, y - 7), ("sans-serif", 13)))?;
    }
    Ok(())
}
