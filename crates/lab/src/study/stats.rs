//! A cell's runs, the figures read from them, and their statistics over seeds, each with a 95%
//! interval inside its range (`results::bounded`): non-negative figures, fractions, and epochs to
//! memorize as a capped quantity (Kaplan–Meier median).

use super::plan::{Cell, Variant};
use crate::results::{bounded, capped, proportion, stat_in, Bounds, Capped, Stat};
use serde::Serialize;
use std::path::PathBuf;
use train::checkpoint::Checkpoint;
use train::config::TrainConfig;
use train::data::Split;
use train::error::{Error, Result};
use train::run::{MetricsRow, Report, RunDir};
use train::session::Session;

/// One finished run of a cell.
#[derive(Clone, Debug, Serialize)]
pub struct Done {
    pub seed: u64,
    pub dir: PathBuf,
    pub skipped: bool,
    #[serde(skip)]
    pub config: TrainConfig,
    #[serde(skip)]
    pub report: Report,
    /// Test bits/byte of the last position on every test window (stride 1), the windows a window
    /// head is scored on, at the weights the run reports (its best validation loss's):
    /// `test.last_bits_per_byte` itself for a window head, measured again by the study for a head
    /// trained on every position (whose own pass reads every L-th).
    pub test_last_bits: Option<f64>,
}

/// A cell and its runs (fewer than its seeds when the study was interrupted).
#[derive(Clone, Debug, Serialize)]
pub struct CellRuns {
    pub cell: Cell,
    pub runs: Vec<Done>,
}

/// Mean and interval of a non-negative figure (every figure of the study is: epochs, bits,
/// fractions, times, counts) over the runs that have it; the interval never goes below 0.
pub fn over(runs: &[Done], f: impl Fn(&Done) -> Option<f64>) -> Stat {
    stat_in(&runs.iter().filter_map(f).collect::<Vec<_>>(), bounded::NON_NEGATIVE)
}

/// Epochs to memorize every window; a run that did not (or diverged) counts its cap, so a mean
/// over such runs is a lower bound. The tuning's criterion; tables use [`capped_epochs`].
pub fn epochs(d: &Done) -> Option<f64> {
    Some(capped_epochs(d).value)
}

/// Epochs to memorize every window, or the cap at which a run stopped without (a run that
/// diverged never memorizes: it too is censored at the cap).
pub fn capped_epochs(d: &Done) -> Capped {
    let cap = d.config.epochs.map_or(d.report.epochs, |e| e as f64);
    match d.report.epochs_to_memorize {
        Some(e) => Capped { value: e, reached: true },
        None => Capped { value: cap, reached: false },
    }
}

pub fn memorized_runs(runs: &[Done]) -> usize {
    runs.iter().filter(|d| d.report.epochs_to_memorize.is_some()).count()
}

/// The loss blew up (trainer's rule): the run stopped there, and its losses mean nothing.
pub fn diverged(d: &Done) -> bool {
    d.report.stopped == train::run::Stopped::Diverged
}

pub fn diverged_runs(runs: &[Done]) -> usize {
    runs.iter().filter(|d| diverged(d)).count()
}

/// The final training loss in bits (None for a run that diverged).
pub fn train_bits(d: &Done) -> Option<f64> {
    (!diverged(d)).then(|| d.report.final_loss / std::f64::consts::LN_2)
}

pub fn fraction(d: &Done) -> Option<f64> {
    Some(d.report.memorized as f64 / d.report.memorized_of.max(1) as f64)
}

/// Seeds (of those both cells ran) whose runs ended bit for bit alike: the same steps, final loss
/// and memorized windows. Two heads that compute the same function from the same init do.
pub fn identical_runs(a: &CellRuns, b: &CellRuns) -> (usize, usize) {
    let pairs: Vec<(&Done, &Done)> =
        a.runs.iter().filter_map(|x| Some((x, b.runs.iter().find(|y| y.seed == x.seed)?))).collect();
    let same = |x: &Report, y: &Report| (x.steps, x.final_loss, x.memorized) == (y.steps, y.final_loss, y.memorized);
    (pairs.iter().filter(|(x, y)| same(&x.report, &y.report)).count(), pairs.len())
}

/// The first epoch at which `target` windows were memorized (from metrics.jsonl), else None.
pub fn epochs_to_reach(d: &Done, target: usize) -> Option<f64> {
    metrics(d).iter().find(|r| r.memorized.is_some_and(|m| m >= target)).map(|r| r.epoch)
}

/// [`epochs_to_reach`] as a capped value: a run that never got there is censored at the epochs
/// it ran.
pub fn capped_reach(d: &Done, target: usize) -> Capped {
    match epochs_to_reach(d, target) {
        Some(e) => Capped { value: e, reached: true },
        None => Capped { value: d.report.epochs, reached: false },
    }
}

pub fn metrics(d: &Done) -> Vec<MetricsRow> {
    RunDir { path: d.dir.clone() }.read_metrics()
}

impl CellRuns {
    /// A non-negative figure over the runs (see [`over`]).
    pub fn stat(&self, f: impl Fn(&Done) -> Option<f64>) -> Stat {
        over(&self.runs, f)
    }
    /// The step of the best validation loss, inside [0, the step cap]: a t-interval over a few
    /// seeds whose best steps spread from 12,000 to 39,000 reaches past a 40,000 cap otherwise.
    pub fn best_step(&self, cap: u64) -> Stat {
        let steps: Vec<f64> = self.runs.iter().filter_map(|d| d.report.best_step.map(|x| x as f64)).collect();
        stat_in(&steps, Bounds::Range(0.0, cap as f64))
    }
    /// Epochs to memorize: the Kaplan–Meier median and its interval, never above the cap.
    pub fn epochs(&self) -> Stat {
        capped(&self.runs.iter().map(capped_epochs).collect::<Vec<_>>())
    }
    /// The memorized fraction at the end: mean with a bootstrap interval inside [0, 1].
    pub fn fraction(&self) -> Stat {
        stat_in(&self.runs.iter().filter_map(fraction).collect::<Vec<_>>(), Bounds::Fraction)
    }
    /// Runs that memorized every window, of n, with Wilson's interval.
    pub fn runs_memorized(&self) -> Stat {
        proportion(memorized_runs(&self.runs), self.runs.len())
    }
    /// The report of the first run (parameter counts are the same for every seed).
    pub fn first(&self) -> Option<&Report> {
        self.runs.first().map(|d| &d.report)
    }
}

/// The tuning's choice for one variant: the learning rate whose runs memorize in the fewest
/// epochs (mean over seeds, runs that did not memorize counted at the cap); among rates that
/// tie (none memorized), the one that memorized most windows.
pub fn choose_lr(tuned: &[CellRuns], v: Variant) -> Option<f64> {
    let score = |c: &CellRuns| (c.stat(epochs).mean, -c.stat(fraction).mean);
    tuned
        .iter()
        .filter(|c| c.cell.variant == v && !c.runs.is_empty())
        .min_by(|a, b| score(a).partial_cmp(&score(b)).unwrap_or(std::cmp::Ordering::Equal))
        .map(|c| c.cell.lr)
}

/// The study's last-position test figure of a run (see [`Done::test_last_bits`]), measured at the
/// weights its report is from: best.bin when it stopped early on validation loss.
pub fn test_last_bits(v: Variant, d: &Done) -> Result<Option<f64>> {
    let Some(test) = d.report.test.as_ref().filter(|_| !diverged(d)) else { return Ok(None) };
    if !v.per_position() {
        return Ok(Some(test.last_bits_per_byte));
    }
    let weights = if d.report.best_step.is_some_and(|b| b != d.report.steps) { "best.bin" } else { "checkpoint.bin" };
    last_bits_again(d, "test_last_bits", weights, |s| (s.test_start, s.test_windows))
}

/// A per-position run's bits at the last position of every window of one part (stride 1, as a
/// window head reads them), from the weights in `file`; cached under `key` in study-eval.json.
fn last_bits_again(d: &Done, key: &str, file: &str, part: impl Fn(&Split) -> (usize, usize)) -> Result<Option<f64>> {
    let cache = d.dir.join("study-eval.json");
    let mut saved: serde_json::Map<String, serde_json::Value> =
        std::fs::read_to_string(&cache).ok().and_then(|t| serde_json::from_str(&t).ok()).unwrap_or_default();
    if let Some(bits) = saved.get(key).and_then(|v| v.as_f64()) {
        return Ok(Some(bits));
    }
    let path = d.dir.join(file);
    let what = path.display().to_string();
    let ck = Checkpoint::load(&path)?;
    if ck.config != d.config {
        return Err(Error::input(&what, "is not the checkpoint of this run's config"));
    }
    let session = Session::resume(ck, d.config.clone(), &what)?;
    let (first, count) = part(&session.split);
    let starts = train::data::eval_starts(first, count, 1, train::eval::FINAL_EVAL_MAX);
    let bits = session.evaluate(&starts).last_loss / std::f64::consts::LN_2;
    saved.insert(key.into(), bits.into());
    saved.insert(format!("{key}_windows"), starts.len().into());
    let json = serde_json::Value::Object(saved).to_string() + "\n";
    train::fsutil::write_atomic(&cache, json.as_bytes())?;
    Ok(Some(bits))
}

/// The generalisation tuning's choice for one variant: the rate of the lowest mean validation
/// loss over seeds (each run's loss at its best weights); with every rate tried, ascending, and
/// the next rate to try when the best is at an end of them (the ratio of its neighbour), if any.
pub fn choose_gen_lr(tuned: &[CellRuns], v: Variant) -> Option<GenChoice> {
    let mut cells: Vec<&CellRuns> = tuned.iter().filter(|c| c.cell.variant == v && !c.runs.is_empty()).collect();
    cells.sort_by(|a, b| a.cell.lr.total_cmp(&b.cell.lr));
    let loss = |c: &CellRuns| c.stat(|d| (!diverged(d)).then_some(d.report.val_loss?)).mean;
    let score = |c: &&CellRuns| if loss(c).is_finite() { loss(c) } else { f64::INFINITY };
    let (i, best) = cells.iter().enumerate().min_by(|a, b| score(a.1).total_cmp(&score(b.1)))?;
    let tried: Vec<f64> = cells.iter().map(|c| c.cell.lr).collect();
    let n = tried.len();
    let beyond = match i {
        _ if n < 2 => None,
        0 => Some(tried[0] * tried[0] / tried[1]),
        i if i == n - 1 => Some(tried[n - 1] * tried[n - 1] / tried[n - 2]),
        _ => None,
    };
    // Two significant digits, so that 1e-3²/1e-2 is the rate 0.0001 and not 9.999999999999999e-5.
    let beyond = beyond.and_then(|x| format!("{x:.1e}").parse().ok());
    Some(GenChoice { lr: best.cell.lr, val_loss: loss(best), tried, beyond })
}

/// What the generalisation tuning chose for a variant.
#[derive(Clone, Debug, Serialize)]
pub struct GenChoice {
    pub lr: f64,
    pub val_loss: f64,
    pub tried: Vec<f64>,
    /// The rate to try next when the best is the smallest or largest tried.
    pub beyond: Option<f64>,
}
