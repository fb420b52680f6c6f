//! The study's figures: means over seeds (medians for epochs to memorize, see `stats`) with 95%
//! error bars inside each figure's range, log axes where values differ
//! ~100×, baselines and caps drawn as labelled rules, legends beside the data.

use super::plan::{Experiment, VARIANTS};
use super::stats::{self, CellRuns};
use super::tables::Study;
use crate::results::{stat_in, Bounds, Stat};
use plot::{figure, Axis, Panel, Points, Rule};
use std::path::Path;
use train::error::Result;

/// (x, mean, 95% interval).
type Point = (f64, f64, Option<[f64; 2]>);

/// The point of a statistic (the median of a capped one).
fn point(x: f64, s: &Stat) -> Option<Point> {
    (s.n > 0).then_some((x, s.point(), s.ci95))
}

/// A statistic of a cell's runs.
type Figure = fn(&CellRuns) -> Stat;

fn epochs(c: &CellRuns) -> Stat {
    c.epochs()
}

fn fraction(c: &CellRuns) -> Stat {
    c.fraction()
}

/// One series over an experiment's cells of one variant: x is the cell's value.
fn series<'a>(cells: impl Iterator<Item = &'a CellRuns>, label: &str, f: impl Fn(&CellRuns) -> Stat) -> Points {
    Points::new(label, cells.filter_map(|c| point(c.cell.x, &f(c))).collect())
}

fn rule(label: impl Into<String>, at: f64) -> Rule {
    Rule { label: label.into(), at }
}

pub fn draw(out: &Path, s: &Study<'_>) -> Result<()> {
    tune(out, s)?;
    memorize(out, s)?;
    curves(out, s)?;
    sweeps(out, s)?;
    length(out, s)?;
    generalisation(out, s)
}

fn tune(out: &Path, s: &Study<'_>) -> Result<()> {
    let lrs = s.budget.lrs.clone();
    let by = |f: Figure| -> Vec<Points> {
        VARIANTS.iter().map(|v| series(s.tuning.iter().filter(|c| c.cell.variant == *v), v.name, f)).collect()
    };
    let x = || Axis::log("learning rate").with_ticks(lrs.clone());
    let mut top = Panel::new(x(), Axis::log("epochs to memorize (Kaplan–Meier median)"), by(epochs));
    top.hlines.push(rule(format!("cap: {} epochs", s.budget.tune_epochs), s.budget.tune_epochs as f64));
    let bottom = Panel::new(x(), Axis::fraction("memorized fraction at the end"), by(fraction));
    let title =
        format!("Tuning: {} windows, mean and 95% interval over {} seeds", s.budget.windows, s.budget.tune_seeds.len());
    Ok(figure(&out.join("tune.svg"), &title, &[top, bottom])?)
}

/// A categorical panel: one point per head of an experiment.
fn per_head(s: &Study<'_>, e: Experiment, y: Axis, f: Figure) -> Panel {
    let cells: Vec<&CellRuns> = s.of(e).collect();
    let names = cells.iter().map(|c| c.cell.variant.name.to_string()).collect();
    let points = cells.iter().enumerate().filter_map(|(i, c)| point(i as f64, &f(c))).collect();
    let mut p = Points::new("mean (epochs: median), 95% interval", points);
    p.joined = false;
    Panel::new(Axis::categories("head", names), y, vec![p])
}

fn memorize(out: &Path, s: &Study<'_>) -> Result<()> {
    let b = s.budget;
    let mut top = per_head(s, Experiment::Memorize, Axis::log("epochs to memorize (Kaplan–Meier median)"), epochs);
    top.hlines.push(rule(format!("cap: {} epochs", b.memorize_epochs), b.memorize_epochs as f64));
    let mut bottom = per_head(s, Experiment::Memorize, Axis::fraction("memorized fraction at the end"), fraction);
    bottom.hlines.push(rule("the most any model can", s.cap(32) as f64 / b.windows as f64));
    let title = format!(
        "The log's runs: {} windows by heart, each head at its tuned lr; mean and 95% interval over {} seeds",
        b.windows,
        b.seeds.len()
    );
    Ok(figure(&out.join("memorize.svg"), &title, &[top, bottom])?)
}

/// The fraction memorized after `t` epochs: the last row at or before t (a run that stopped
/// memorized keeps its value).
fn at_epoch(rows: &[(f64, f64)], t: f64) -> Option<f64> {
    rows.iter().take_while(|r| r.0 <= t + 1e-9).last().map(|r| r.1)
}

fn curves(out: &Path, s: &Study<'_>) -> Result<()> {
    let cap = s.budget.memorize_epochs as f64;
    let grid: Vec<f64> =
        [1.0, 2.0, 3.0, 5.0, 7.0, 10.0, 15.0, 20.0, 30.0, 50.0, 70.0, 100.0, 150.0, 200.0, 300.0, 500.0, 1000.0]
            .into_iter()
            .filter(|&t| t <= cap)
            .collect();
    let series: Vec<Points> = s
        .of(Experiment::Memorize)
        .map(|c| {
            let runs: Vec<Vec<(f64, f64)>> = c
                .runs
                .iter()
                .map(|d| {
                    stats::metrics(d)
                        .iter()
                        .filter_map(|r| Some((r.epoch, r.memorized? as f64 / d.report.memorized_of.max(1) as f64)))
                        .collect()
                })
                .collect();
            let pts = grid.iter().filter_map(|&t| {
                point(t, &stat_in(&runs.iter().filter_map(|r| at_epoch(r, t)).collect::<Vec<_>>(), Bounds::Fraction))
            });
            Points::new(c.cell.variant.name, pts.collect())
        })
        .collect();
    let mut p = Panel::new(Axis::log("epoch"), Axis::fraction("memorized fraction of the windows"), series);
    p.vlines.push(rule(format!("cap: {cap} epochs"), cap));
    let title =
        format!("Memorizing {} windows: mean and 95% interval over {} seeds", s.budget.windows, s.budget.seeds.len());
    Ok(figure(&out.join("memorize_curves.svg"), &title, &[p])?)
}

/// The point of a memorize cell's figure, for a baseline.
fn memorize_point(s: &Study<'_>, name: &str, f: Figure) -> Option<f64> {
    s.of(Experiment::Memorize).find(|c| c.cell.variant.name == name).map(|c| f(c).point())
}

/// Epochs to memorize (above, with the cap and a baseline) and the fraction memorized (below)
/// over the value a memorization experiment varies.
fn two(s: &Study<'_>, e: Experiment, x: Axis, base: Option<Rule>) -> [Panel; 2] {
    let cap = s.budget.memorize_epochs;
    let y = Axis::log("epochs to memorize (Kaplan–Meier median)");
    let mut top = Panel::new(x.clone(), y, vec![series(s.of(e), "median, 95% interval", epochs)]);
    top.hlines.push(rule(format!("cap: {cap} epochs"), cap as f64));
    top.hlines.extend(base);
    let y = Axis::fraction("memorized fraction at the end");
    [top, Panel::new(x, y, vec![series(s.of(e), "mean, 95% interval", fraction)])]
}

fn titled(s: &Study<'_>, what: &str) -> String {
    format!("{what}, {} windows: mean and 95% interval over {} seeds", s.budget.windows, s.budget.seeds.len())
}

fn ticks(values: &[usize]) -> Vec<f64> {
    values.iter().map(|&v| v as f64).collect()
}

fn sweeps(out: &Path, s: &Study<'_>) -> Result<()> {
    let b = s.budget;
    let mean = |name: &str, label: &str| memorize_point(s, name, epochs).map(|m| rule(label, m));
    let x = Axis::log("bottleneck width k").with_ticks(ticks(&b.ks));
    let k = two(s, Experiment::BottleneckK, x, mean("flatten", "flatten (no bottleneck), median"));
    figure(&out.join("bottleneck_k.svg"), &titled(s, "Bottleneck over k"), &k)?;
    let x = Axis::linear("conv kernel K").with_ticks(ticks(&b.kernels));
    let kk = two(s, Experiment::ConvKernel, x, mean("td-dense", "td-dense, median"));
    figure(&out.join("conv_kernel.svg"), &titled(s, "Conv over its kernel"), &kk)?;
    tied_depth(out, s)
}

fn tied_depth(out: &Path, s: &Study<'_>) -> Result<()> {
    let x = || Axis::linear("num_blocks N").with_ticks(ticks(&s.budget.depths));
    let [top, _] = two(s, Experiment::TiedDepth, x(), None);
    let ratios = |f: fn(&train::run::Report) -> Option<f64>, label: &str| {
        Points::new(label, s.of(Experiment::TiedDepth).filter_map(|c| Some((c.cell.x, f(c.first()?)?, None))).collect())
    };
    let mut log = ratios(|r| Some(r.approx_ratio), "the log's 4·N/L");
    log.dashed = true;
    let mut bottom = Panel::new(x(), Axis::linear("ratio blocks/head"), vec![ratios(|r| r.ratio, "exact"), log]);
    bottom.hlines.push(rule("ratio 1", 1.0));
    Ok(figure(&out.join("tied_depth.svg"), &titled(s, "Tied with more blocks"), &[top, bottom])?)
}

fn length(out: &Path, s: &Study<'_>) -> Result<()> {
    let b = s.budget;
    let x = || Axis::log("window length L").with_ticks(b.lengths.iter().map(|&l| l as f64).collect());
    let by = |f: &dyn Fn(&CellRuns) -> Option<Point>| -> Vec<Points> {
        ["flatten", "causal"]
            .iter()
            .map(|h| {
                Points::new(*h, s.of(Experiment::Length).filter(|c| c.cell.variant.name == *h).filter_map(f).collect())
            })
            .collect()
    };
    let params = Panel::new(
        x(),
        Axis::log("parameters (total)"),
        by(&|c| Some((c.cell.x, c.first()?.params.total as f64, None))),
    );
    let memorized =
        Panel::new(x(), Axis::fraction("memorized fraction at the end"), by(&|c| point(c.cell.x, &c.fraction())));
    let ms = Panel::new(
        x(),
        Axis::log("ms per step"),
        by(&|c| point(c.cell.x, &c.stat(|d| Some(1e3 * d.report.wall_seconds / d.report.steps.max(1) as f64)))),
    );
    let title = format!(
        "Flatten against causal as L grows ({} windows, ≤ {} epochs): mean and 95% interval over {} seeds",
        b.windows,
        b.length_epochs,
        b.length_seeds.len()
    );
    Ok(figure(&out.join("length.svg"), &title, &[params, memorized, ms])?)
}

/// Test bits of every head (at its best validation weights) over the subsets at or above `from`
/// windows, with the computed baselines: the unigram and the n-gram of the order chosen on
/// validation, both read on the same test targets.
fn test_bits(s: &Study<'_>, from: usize, y: Axis) -> Panel {
    let sizes: Vec<f64> = s.baselines.iter().map(|b| b.windows as f64).filter(|&n| n >= from as f64).collect();
    let cells = || s.of(Experiment::Generalisation).filter(|c| c.cell.x >= from as f64);
    let mut val: Vec<Points> = VARIANTS
        .iter()
        .map(|v| series(cells().filter(|c| c.cell.variant == *v), v.name, |c| c.stat(|d| d.test_last_bits)))
        .collect();
    let pts = s.baselines.iter().filter(|b| b.windows >= from).map(|b| (b.windows as f64, b.test_bits, None));
    let mut p = Points::new("n-gram, order chosen on validation (computed)", pts.collect());
    p.dashed = true;
    val.push(p);
    Panel::new(Axis::log("training windows").with_ticks(sizes), y, val)
}

fn generalisation(out: &Path, s: &Study<'_>) -> Result<()> {
    let b = s.budget;
    let mut all = test_bits(s, 0, Axis::log("test bits/byte, last position"));
    all.hlines.push(rule("8 bits: uniform over bytes", 8.0));
    let third = s.baselines.get(s.baselines.len().saturating_sub(3)).map_or(0, |b| b.windows);
    let zoom = test_bits(s, third, Axis::linear("the same, the largest subsets"));
    let x = Axis::log("training windows").with_ticks(s.baselines.iter().map(|b| b.windows as f64).collect());
    let by = VARIANTS.iter().map(|v| {
        let steps = |c: &CellRuns| c.best_step(b.gen_max_steps);
        series(s.of(Experiment::Generalisation).filter(|c| c.cell.variant == *v), v.name, steps)
    });
    let best = Panel::new(x, Axis::log("step of the best validation loss"), by.collect());
    let title = format!(
        "Generalisation, early-stopped on validation (≤ {} steps), read on test: mean and 95% interval over {} seeds",
        b.gen_max_steps,
        b.gen_seeds.len()
    );
    Ok(figure(&out.join("generalisation.svg"), &title, &[all, zoom, best])?)
}
