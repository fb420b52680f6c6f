//! Figures a person can open, as SVG: a run's loss and accuracy against steps; and the
//! experiments' figures: panels of means with 95% error bars, on linear, logarithmic or categorical
//! axes, with baselines drawn as labelled rules and every legend outside the data.
//!
//! It knows nothing of models or runs: it draws numbers it is given, with `plotters`. `train`
//! draws each run's curves with it, and `lab` the figures of compare, results, the study and
//! capacity.

use plotters::prelude::*;
use std::fmt;
use std::path::{Path, PathBuf};

/// A figure that could not be drawn or written.
#[derive(Debug)]
pub struct Error {
    pub path: PathBuf,
    pub message: String,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "drawing {}: {}", self.path.display(), self.message)
    }
}

impl std::error::Error for Error {}

pub type Result<T> = std::result::Result<T, Error>;

/// A drawing's outcome as this crate's error, naming the figure: for figures drawn with
/// `plotters` outside this crate too.
pub fn drawn(path: &Path, d: Drawn) -> Result<()> {
    d.map_err(|e| Error { path: path.to_path_buf(), message: e.to_string() })
}

/// One logged point of a run's curves.
#[derive(Clone, Copy, Debug)]
pub struct Point {
    pub step: u64,
    /// Mean training loss since the previous point (nats).
    pub loss: f64,
    /// A fresh evaluation on training windows, when there was one.
    pub eval_loss: Option<f64>,
    pub val_loss: Option<f64>,
    pub accuracy: Option<f64>,
}

/// One labelled run.
pub struct Series<'a> {
    pub label: &'a str,
    pub rows: &'a [Point],
}

pub const COLORS: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// Two panels: training loss (validation dashed, in the same hue) above, accuracy below, one
/// colour per series, legends beside the data. Steps run on a log axis when the runs' lengths
/// differ more than tenfold (a 14,000-step run beside 200-step ones), else on a linear one.
pub fn curves(path: &Path, title: &str, series: &[Series<'_>]) -> Result<()> {
    drawn(path, draw(path, title, series))
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

pub type Drawn = std::result::Result<(), Box<dyn std::error::Error>>;
type Drawing<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// How a legend entry shows its series.
#[derive(Clone, Copy)]
enum Mark {
    Line(RGBColor),
    Dashed(RGBColor),
    Dot(RGBColor),
}

/// A legend drawn in an area of its own beside the plot (never on the data): a sample of each
/// series and its label, one row each.
fn legend<DB: DrawingBackend>(area: &DrawingArea<DB, plotters::coord::Shift>, entries: &[(String, Mark)]) -> Drawn
where
    DB::ErrorType: 'static,
{
    let (x, top, row) = (10, 20, 18);
    for (i, (label, mark)) in entries.iter().enumerate() {
        let y = top + row * i as i32;
        let segment = |a: i32, b: i32, c: RGBColor| PathElement::new(vec![(x + a, y), (x + b, y)], c.stroke_width(2));
        match *mark {
            Mark::Line(c) => area.draw(&segment(0, 22, c))?,
            Mark::Dashed(c) => {
                area.draw(&segment(0, 8, c))?;
                area.draw(&segment(13, 22, c))?;
            }
            Mark::Dot(c) => area.draw(&Circle::new((x + 11, y), 4, c.filled()))?,
        }
        area.draw(&Text::new(label.clone(), (x + 30, y - 7), ("sans-serif", 13)))?;
    }
    Ok(())
}

/// A panel's plot area and, to its right, its legend's.
type Split<DB> = (DrawingArea<DB, plotters::coord::Shift>, DrawingArea<DB, plotters::coord::Shift>);

fn beside<DB: DrawingBackend>(area: &DrawingArea<DB, plotters::coord::Shift>, legend_width: u32) -> Split<DB> {
    let w = area.dim_in_pixel().0.saturating_sub(legend_width) as i32;
    area.split_horizontally(w)
}

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
    let (plot, side) = beside(area, LEGEND_WIDTH);
    let mut entries = Vec::new();
    let mut chart = ChartBuilder::on(&plot)
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(56)
        .build_cartesian_2d(x.0..x.1, y.0..y.1)?;
    let label = |v: &f64| axis.label(v);
    let x_desc = if axis.log { "step (log scale)" } else { "step" };
    chart.configure_mesh().x_desc(x_desc).y_desc("loss (nats)").x_label_formatter(&label).draw()?;
    for (i, s) in series.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let train = s.rows.iter().filter(|r| r.loss.is_finite()).filter_map(|r| Some((axis.x(r.step)?, r.loss)));
        chart.draw_series(LineSeries::new(train, color.stroke_width(2)))?;
        entries.push((format!("{} train", s.label), Mark::Line(color)));
        let val: Vec<(f64, f64)> = s.rows.iter().filter_map(|r| Some((axis.x(r.step)?, r.val_loss?))).collect();
        if !val.is_empty() {
            chart.draw_series(DashedLineSeries::new(val, 6, 4, color.stroke_width(2)))?;
            entries.push((format!("{} validation", s.label), Mark::Dashed(color)));
        }
    }
    legend(&side, &entries)
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
    let (plot, side) = beside(area, LEGEND_WIDTH);
    let mut acc = ChartBuilder::on(&plot)
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(56)
        .build_cartesian_2d(x.0..x.1, 0.0..1.0)?;
    let label = |v: &f64| axis.label(v);
    let x_desc = if axis.log { "step (log scale)" } else { "step" };
    acc.configure_mesh().x_desc(x_desc).y_desc("training accuracy").x_label_formatter(&label).draw()?;
    for (i, s) in series.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let points = s.rows.iter().filter_map(|r| Some((axis.x(r.step)?, r.accuracy?)));
        acc.draw_series(LineSeries::new(points, color.stroke_width(2)))?;
    }
    let entries: Vec<(String, Mark)> =
        series.iter().enumerate().map(|(i, s)| (s.label.to_string(), Mark::Line(COLORS[i % COLORS.len()]))).collect();
    legend(&side, &entries)
}

/// One point per labelled group with a vertical error bar (lo, hi), groups along x. The y axis is
/// logarithmic when the values span more than two decades.
pub fn error_bars(path: &Path, title: &str, y_desc: &str, points: &[(String, f64, [f64; 2])]) -> Result<()> {
    drawn(path, draw_error_bars(path, title, y_desc, points))
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

/// How an axis maps values: as they are, or by their logarithm (values that differ ~100×).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scale {
    Linear,
    Log,
}

/// One axis of a panel.
#[derive(Clone, Debug)]
pub struct Axis {
    pub desc: String,
    pub scale: Scale,
    /// The values to mark and label (None: chosen from the data's range).
    pub ticks: Option<Vec<f64>>,
    /// Named positions 0, 1, 2…: the axis is categorical (one head per position).
    pub categories: Option<Vec<String>>,
    /// Bounds of the quantity (a fraction lies in [0, 1]): the axis and the error bars stop there.
    pub limits: Option<(f64, f64)>,
}

impl Axis {
    pub fn linear(desc: impl Into<String>) -> Axis {
        Axis { desc: desc.into(), scale: Scale::Linear, ticks: None, categories: None, limits: None }
    }
    pub fn log(desc: impl Into<String>) -> Axis {
        Axis { scale: Scale::Log, ..Axis::linear(desc) }
    }
    pub fn categories(desc: impl Into<String>, names: Vec<String>) -> Axis {
        Axis { categories: Some(names), ..Axis::linear(desc) }
    }
    /// A fraction: linear, from 0 to 1.
    pub fn fraction(desc: impl Into<String>) -> Axis {
        Axis { limits: Some((0.0, 1.0)), ..Axis::linear(desc) }
    }
    pub fn with_ticks(mut self, ticks: Vec<f64>) -> Axis {
        self.ticks = Some(ticks);
        self
    }
    /// The plotted coordinate of a value (None: a non-positive value on a log axis).
    fn to(&self, v: f64) -> Option<f64> {
        let v = self.limits.map_or(v, |(lo, hi)| v.clamp(lo, hi));
        match self.scale {
            Scale::Linear => v.is_finite().then_some(v),
            Scale::Log => (v > 0.0 && v.is_finite()).then(|| v.log10()),
        }
    }
    fn from(&self, c: f64) -> f64 {
        match self.scale {
            Scale::Linear => c,
            Scale::Log => 10f64.powf(c),
        }
    }
    fn described(&self) -> String {
        if self.scale == Scale::Log {
            format!("{} (log scale)", self.desc)
        } else {
            self.desc.clone()
        }
    }
}

/// One series: points with an optional 95% interval each, drawn as an error bar.
#[derive(Clone, Debug)]
pub struct Points {
    pub label: String,
    /// (x, mean, interval).
    pub points: Vec<(f64, f64, Option<[f64; 2]>)>,
    /// Join the points with a line (false on a categorical axis).
    pub joined: bool,
    /// Dashed and grey: a computed baseline rather than a model.
    pub dashed: bool,
}

impl Points {
    pub fn new(label: impl Into<String>, points: Vec<(f64, f64, Option<[f64; 2]>)>) -> Points {
        Points { label: label.into(), points, joined: true, dashed: false }
    }
}

/// A labelled line across the whole panel: a baseline (horizontal) or a budget (vertical).
#[derive(Clone, Debug)]
pub struct Rule {
    pub label: String,
    pub at: f64,
}

/// One panel of a figure.
#[derive(Clone, Debug)]
pub struct Panel {
    pub x: Axis,
    pub y: Axis,
    pub series: Vec<Points>,
    pub hlines: Vec<Rule>,
    pub vlines: Vec<Rule>,
}

impl Panel {
    pub fn new(x: Axis, y: Axis, series: Vec<Points>) -> Panel {
        Panel { x, y, series, hlines: Vec::new(), vlines: Vec::new() }
    }
}

/// A figure of panels stacked vertically, one title, each panel's legend in a column to its
/// right (never on the data).
pub fn figure(path: &Path, title: &str, panels: &[Panel]) -> Result<()> {
    drawn(path, draw_figure(path, title, panels))
}

const GREYS: [RGBColor; 3] = [RGBColor(0, 0, 0), RGBColor(100, 100, 100), RGBColor(160, 160, 160)];

/// The legend column of a figure's panels.
const FIGURE_LEGEND: u32 = 260;

fn draw_figure(path: &Path, title: &str, panels: &[Panel]) -> Drawn {
    let height = 80 + 380 * panels.len().max(1) as u32;
    let root = SVGBackend::new(path, (1100, height)).into_drawing_area();
    root.fill(&WHITE)?;
    let root = root.titled(title, ("sans-serif", 22))?;
    for (area, panel) in root.split_evenly((panels.len().max(1), 1)).iter().zip(panels) {
        draw_panel(area, panel)?;
    }
    root.present()?;
    Ok(())
}

/// The range a panel's axis spans: its data, intervals and rules, padded by 5% (categories: ±½).
fn span(axis: &Axis, values: impl Iterator<Item = f64>) -> (f64, f64) {
    if let Some(c) = &axis.categories {
        return (-0.5, c.len().max(1) as f64 - 0.5);
    }
    let (lo, hi) =
        values.filter_map(|v| axis.to(v)).fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), c| (a.min(c), b.max(c)));
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    let pad = if hi > lo { (hi - lo) * 0.05 } else { 0.5 };
    (lo - pad, hi + pad)
}

/// The tick positions (plotted coordinates) of an axis over `range`.
fn ticks(axis: &Axis, range: (f64, f64)) -> Vec<f64> {
    if let Some(c) = &axis.categories {
        return (0..c.len()).map(|i| i as f64).collect();
    }
    if let Some(t) = &axis.ticks {
        return t.iter().filter_map(|&v| axis.to(v)).filter(|c| *c >= range.0 && *c <= range.1).collect();
    }
    match axis.scale {
        Scale::Linear => {
            let raw = (range.1 - range.0) / 6.0;
            let mag = 10f64.powf(raw.log10().floor());
            let step = [1.0, 2.0, 5.0, 10.0].iter().map(|m| m * mag).find(|s| *s >= raw).unwrap_or(10.0 * mag);
            let first = (range.0 / step).ceil() as i64;
            (first..).map(|i| i as f64 * step).take_while(|v| *v <= range.1 + 1e-12).collect()
        }
        Scale::Log => {
            // More marks in every decade the fewer decades there are.
            let decades = range.1 - range.0;
            let steps: &[f64] = match decades {
                d if d <= 1.2 => &[1.0, 1.5, 2.0, 3.0, 5.0, 7.0],
                d if d <= 2.5 => &[1.0, 2.0, 5.0],
                _ => &[1.0],
            };
            let (d0, d1) = (range.0.floor() as i32, range.1.ceil() as i32);
            (d0..=d1)
                .flat_map(|d| steps.iter().map(move |m| (m * 10f64.powi(d)).log10()))
                .filter(|c| *c >= range.0 && *c <= range.1)
                .collect()
        }
    }
}

/// A tick's label: the category's name, or the value in few digits (1k, 20k, 0.003).
fn tick_label(axis: &Axis, c: f64) -> String {
    if let Some(names) = &axis.categories {
        let i = c.round();
        let at = (c - i).abs() < 1e-6 && i >= 0.0;
        return if at { names.get(i as usize).cloned().unwrap_or_default() } else { String::new() };
    }
    let v = axis.from(c);
    let a = v.abs();
    if a < 1e-12 {
        "0".into()
    } else if a >= 1e4 && (v / 1e3 - (v / 1e3).round()).abs() < 1e-6 {
        format!("{:.0}k", v / 1e3)
    } else if a >= 1.0 && ((v - v.round()).abs() < 1e-6 || a >= 100.0) {
        format!("{:.0}", v.round())
    } else if a >= 0.01 {
        format!("{}", (v * 1e3).round() / 1e3)
    } else {
        format!("{v:.0e}")
    }
}

fn draw_panel<DB: DrawingBackend>(area: &DrawingArea<DB, plotters::coord::Shift>, p: &Panel) -> Drawn
where
    DB::ErrorType: 'static,
{
    let xs: Vec<f64> =
        p.series.iter().flat_map(|s| s.points.iter().map(|q| q.0)).chain(p.vlines.iter().map(|r| r.at)).collect();
    let bounds = |q: &(f64, f64, Option<[f64; 2]>)| [q.1, q.2.map_or(q.1, |c| c[0]), q.2.map_or(q.1, |c| c[1])];
    let ys: Vec<f64> =
        p.series.iter().flat_map(|s| s.points.iter().flat_map(bounds)).chain(p.hlines.iter().map(|r| r.at)).collect();
    let (xr, yr) = (span(&p.x, xs.into_iter()), span(&p.y, ys.into_iter()));
    let (plot, side) = beside(area, FIGURE_LEGEND);
    let mut chart = ChartBuilder::on(&plot).margin(12).x_label_area_size(48).y_label_area_size(64).build_cartesian_2d(
        Ticked { range: xr, ticks: ticks(&p.x, xr) },
        Ticked { range: yr, ticks: ticks(&p.y, yr) },
    )?;
    let (fx, fy) = (|c: &f64| tick_label(&p.x, *c), |c: &f64| tick_label(&p.y, *c));
    chart
        .configure_mesh()
        .x_desc(p.x.described())
        .y_desc(p.y.described())
        .x_label_formatter(&fx)
        .y_label_formatter(&fy)
        .x_label_style(("sans-serif", 12))
        .draw()?;
    // Models in colour, computed baselines (dashed) in greys.
    let mut entries = Vec::new();
    let drawn = p.series.iter().filter(|s| !s.points.is_empty());
    let (models, baselines): (Vec<&Points>, Vec<&Points>) = drawn.partition(|s| !s.dashed);
    for (i, s) in models.into_iter().enumerate() {
        entries.push((s.label.clone(), draw_points(&mut chart, p, s, COLORS[i % COLORS.len()])?));
    }
    for (i, s) in baselines.into_iter().enumerate() {
        entries.push((s.label.clone(), draw_points(&mut chart, p, s, GREYS[i % GREYS.len()])?));
    }
    entries.extend(draw_rules(&mut chart, p, xr, yr)?);
    legend(&side, &entries)
}

/// A linear coordinate over plotted values (log axes are transformed before), with the ticks
/// the panel chose rather than plotters' own.
struct Ticked {
    range: (f64, f64),
    ticks: Vec<f64>,
}

impl Ranged for Ticked {
    type FormatOption = plotters::coord::ranged1d::DefaultFormatting;
    type ValueType = f64;
    fn map(&self, v: &f64, pixels: (i32, i32)) -> i32 {
        let t = (v - self.range.0) / (self.range.1 - self.range.0);
        pixels.0 + (t * (pixels.1 - pixels.0) as f64).round() as i32
    }
    fn key_points<H: plotters::coord::ranged1d::KeyPointHint>(&self, _: H) -> Vec<f64> {
        self.ticks.clone()
    }
    fn range(&self) -> std::ops::Range<f64> {
        self.range.0..self.range.1
    }
}

type PanelChart<'a, DB> = ChartContext<'a, DB, Cartesian2d<Ticked, Ticked>>;

/// One series: its line (solid or dashed), markers, and an error bar at every interval. Returns
/// how its legend shows it.
fn draw_points<DB: DrawingBackend>(
    chart: &mut PanelChart<'_, DB>,
    p: &Panel,
    s: &Points,
    color: RGBColor,
) -> Drawing<Mark>
where
    DB::ErrorType: 'static,
{
    let pts: Vec<(f64, f64, Option<[f64; 2]>)> = s
        .points
        .iter()
        .filter_map(|&(x, y, ci)| {
            // A log axis cannot show an interval reaching zero: the bar stops at the bottom.
            let ci = ci.and_then(|[lo, hi]| Some([p.y.to(lo).unwrap_or(f64::NEG_INFINITY), p.y.to(hi)?]));
            Some((p.x.to(x)?, p.y.to(y)?, ci))
        })
        .collect();
    let line: Vec<(f64, f64)> = pts.iter().map(|q| (q.0, q.1)).collect();
    let style = color.stroke_width(2);
    let mark = if s.dashed {
        chart.draw_series(DashedLineSeries::new(line.clone(), 7, 5, style))?;
        Mark::Dashed(color)
    } else {
        if s.joined {
            chart.draw_series(LineSeries::new(line.clone(), style))?;
        }
        chart.draw_series(line.iter().map(|&q| Circle::new(q, 3, color.filled())))?;
        if s.joined {
            Mark::Line(color)
        } else {
            Mark::Dot(color)
        }
    };
    let bottom = chart.y_range().start;
    let bars = pts
        .iter()
        .filter_map(|&(x, y, ci)| ci.map(|[lo, hi]| ErrorBar::new_vertical(x, lo.max(bottom), y, hi, style, 8)));
    chart.draw_series(bars)?;
    Ok(mark)
}

/// Baselines (horizontal) and budgets (vertical), dashed in greys. Returns their legend entries.
fn draw_rules<DB: DrawingBackend>(
    chart: &mut PanelChart<'_, DB>,
    p: &Panel,
    xr: (f64, f64),
    yr: (f64, f64),
) -> Drawing<Vec<(String, Mark)>>
where
    DB::ErrorType: 'static,
{
    let mut entries = Vec::new();
    let rules = p.hlines.iter().map(|r| (r, true)).chain(p.vlines.iter().map(|r| (r, false)));
    for (i, (rule, horizontal)) in rules.enumerate() {
        let color = GREYS[(i + 2) % GREYS.len()];
        let ends = if horizontal {
            p.y.to(rule.at).map(|y| vec![(xr.0, y), (xr.1, y)])
        } else {
            p.x.to(rule.at).map(|x| vec![(x, yr.0), (x, yr.1)])
        };
        let Some(ends) = ends else { continue };
        chart.draw_series(DashedLineSeries::new(ends, 4 + 4 * i as u32, 3 + i as u32, color.stroke_width(1)))?;
        entries.push((rule.label.clone(), Mark::Dashed(color)));
    }
    Ok(entries)
}
