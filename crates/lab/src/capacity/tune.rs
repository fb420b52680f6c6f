//! The learning rate of each head and size: tuned under the full step budget on the knee dataset
//! (the size's dataset closest to [`KNEE_BITS`] bits per parameter), seed [`super::TUNE_SEED`].
//! `--tune-data-bits` tunes on several datasets instead, and a rate is scored on its total over
//! them: a rate can store well at the knee yet stall on a larger dataset (tied at d 12, 0.03:
//! REPORT.md, "Memorization capacity").
//!
//! The rate that stored the most bits wins; under `--certify` every rate also runs at 2× the steps
//! and is scored on the lower of its two figures, because a rate chosen at 1× alone diverged at 2×
//! and on other seeds (d 4: capacity/PROBES.md). It must lie strictly inside the rates tried: when it
//! is the smallest or the largest, one more rate beyond it (the same ratio as its neighbour's) is
//! tried, up to [`MAX_EXTENSIONS`] times; a rate still at an end is flagged (`lr_at_edge`) in the
//! JSON, the table and on stderr.
//!
//! `--lr-tie S` makes rates within a share S of the best score a tie, won by the smallest of them,
//! and it is that rate, and the best, that must lie inside the range (a rate beyond the best may
//! score more and move the tie). At causal d 16, 0.09 won the two-dataset tuning by 0.4% over 0.03
//! and collapsed at 2× on the grid's seeds, where 0.03 certifies; the knee-tuned 0.09 at d 24
//! collapsed on a third seed the same way (capacity/PROBES.md, session 14).
//!
//! Sharding: every round of tuning is planned from the finished runs of the rounds before, so
//! every shard plans the same runs; each shard trains its share of a round, and goes on only when
//! the whole round is finished (by it or by the other shards, in the same `--out`). A shard that
//! finds the others' share missing stops with `waiting_for_tuning`; run it again once they have.

use super::grid::{config, data_bits_of, model_dir, samples_for, spec, twice_dir};
use super::{CapacityOptions, PlanRunner, TUNE_SEED};
use heads::{HeadKind, ModelConfig};
use serde::Serialize;
use train::error::Result;
use train::runner::{self, Found, RunSpec};

/// The tuning dataset's bits per parameter: above every capacity measured so far (2.0–2.8 in
/// issue 24's longer runs, 2.7–2.8 for the seed-id4 causal model), so that the rates are compared
/// on how much they store, not on whether they fit. Tuned at 2.5, a dataset that model stores
/// whole at every rate from 0.01 up, the tuning took the largest rate that did not diverge (0.09),
/// and at 2× the steps that rate lost half its bits, so no point past the knee certified
/// (capacity/seed-id4-causal, REPORT.md).
pub const KNEE_BITS: f64 = 4.0;
/// Rates added beyond an end of the range, at most, per head and size.
pub const MAX_EXTENSIONS: usize = 2;

/// One tuning run's result.
#[derive(Clone, Debug, Serialize)]
pub struct TuningRun {
    pub head: HeadKind,
    pub d_model: usize,
    pub params: usize,
    pub n: usize,
    pub lr: f64,
    pub memorized_bits: Option<f64>,
    /// The same rate at 2× the steps (under `--certify`): a rate is scored on the lower of the two.
    pub memorized_bits_2x: Option<f64>,
    pub dataset_bits: Option<f64>,
}

/// The rate chosen for one head and size.
#[derive(Clone, Debug, Serialize)]
pub struct Choice {
    pub head: HeadKind,
    #[serde(skip)]
    pub model: ModelConfig,
    pub d_model: usize,
    pub lr: f64,
    /// Every rate tried, ascending.
    pub tried: Vec<f64>,
    /// The chosen rate is still the smallest or largest tried after the extensions.
    pub lr_at_edge: bool,
}

/// What tuning gives the grid.
#[derive(Clone, Debug, Default)]
pub struct Tuned {
    pub choices: Vec<Choice>,
    pub runs: Vec<TuningRun>,
    /// Every round finished (in this process or in another shard's).
    pub complete: bool,
    pub trained: usize,
    pub skipped: usize,
}

impl Tuned {
    /// The rate of a head and size (the only rate, without tuning).
    pub fn lr(&self, head: HeadKind, m: &ModelConfig) -> f64 {
        self.choices.iter().find(|c| c.head == head && &c.model == m).map_or(f64::NAN, |c| c.lr)
    }
}

/// One head and size being tuned: its tuning datasets (samples each) and each rate's score so far.
struct Target {
    head: HeadKind,
    model: ModelConfig,
    ns: Vec<usize>,
    results: Vec<(f64, f64)>,
}

/// The indices, among the rates by ascending rate, of the best score and of the chosen rate.
type Picks = (usize, usize);

impl Target {
    /// (rate, score) by ascending rate, the index of the best score (the largest rate among
    /// equals), and the index of the chosen rate: the smallest whose score is within `tie` (a
    /// share) of the best. Without a tie, or with no finite best, the chosen is the best.
    fn ranked(&self, tie: f64) -> (Vec<(f64, f64)>, Option<Picks>) {
        let mut r = self.results.clone();
        r.sort_by(|a, b| a.0.total_cmp(&b.0));
        let Some(best) = (0..r.len()).max_by(|&a, &b| r[a].1.total_cmp(&r[b].1)) else { return (r, None) };
        let b = r[best].1;
        let chosen = match tie > 0.0 && b.is_finite() {
            true => r.iter().position(|x| x.1 >= b - tie * b.abs()).unwrap_or(best),
            false => best,
        };
        (r, Some((best, chosen)))
    }

    /// The next rate to try, or None when both the best and the chosen rate are inside the range
    /// (or no more may be added). A best rate at an end is extended even when the chosen one is
    /// inside: a rate beyond it may score more and move the tie.
    fn next_rate(&self, extensions: usize, tie: f64) -> Option<f64> {
        let (r, ranks) = self.ranked(tie);
        let (best, chosen) = ranks?;
        let at_end = |i: usize| i == 0 || i + 1 == r.len();
        if extensions >= MAX_EXTENSIONS || r.len() < 2 || !(at_end(best) || at_end(chosen)) {
            return None;
        }
        let end = if at_end(best) { best } else { chosen };
        let k = r.len() - 1;
        Some(if end == 0 { r[0].0 * r[0].0 / r[1].0 } else { r[k].0 * r[k].0 / r[k - 1].0 })
    }

    /// The tuning run of one rate on the dataset of `n` samples, at the size's step budget or
    /// (`twice`) at 2× it.
    fn spec(&self, o: &CapacityOptions, lr: f64, n: usize, twice: bool) -> RunSpec {
        let dir = o.out.join("tune").join(self.head.name()).join(model_dir(&self.model));
        let steps = o.steps_for(&self.model);
        let dir = dir.join(format!("steps{steps}")).join(format!("n{n}")).join(format!("lr{lr:e}"));
        match twice {
            false => spec(dir, config(self.model.clone(), n, TUNE_SEED, lr, steps)),
            true => spec(twice_dir(&dir), config(self.model.clone(), n, TUNE_SEED, lr, 2 * steps)),
        }
    }

    /// Every run of one rate, in the order `record` reads them: per dataset, 1× then 2×.
    fn specs(&self, o: &CapacityOptions, lr: f64, budgets: &[bool]) -> Vec<RunSpec> {
        self.ns.iter().flat_map(|&n| budgets.iter().map(move |&twice| self.spec(o, lr, n, twice))).collect()
    }
}

fn targets(o: &CapacityOptions) -> Result<Vec<Target>> {
    let mut targets = Vec::new();
    for &head in &o.heads {
        let models = o.models.of(head)?;
        for (i, m) in models.iter().enumerate() {
            let data = data_bits_of(o, i, models.len());
            let knee = data.iter().copied().min_by(|a, b| (a - KNEE_BITS).abs().total_cmp(&(b - KNEE_BITS).abs()));
            let bits = o.tune_data_bits.clone().unwrap_or_else(|| vec![knee.unwrap_or(KNEE_BITS)]);
            let mut ns = bits.iter().map(|&b| samples_for(m, b)).collect::<Result<Vec<_>>>()?;
            // Two values that round to one dataset would count its runs twice.
            ns.sort_unstable();
            ns.dedup();
            targets.push(Target { head, model: m.clone(), ns, results: Vec::new() });
        }
    }
    Ok(targets)
}

/// Tunes every head and size (or, with one rate given, takes it).
pub fn tune(o: &CapacityOptions, run_plan: &PlanRunner<'_>) -> Result<Tuned> {
    let mut targets = targets(o)?;
    let mut tuned = Tuned { complete: true, ..Tuned::default() };
    let mut pending: Vec<(usize, f64)> = if o.lrs.len() > 1 {
        (0..targets.len()).flat_map(|t| o.lrs.iter().map(move |&lr| (t, lr))).collect()
    } else {
        Vec::new()
    };
    for round in 0..=MAX_EXTENSIONS {
        if pending.is_empty() {
            break;
        }
        // Under --certify a rate also runs at 2× the steps and is scored on the lower of the two:
        // a rate that stores the most at 1× but diverges at 2× (or on another seed) must not win.
        let budgets: &[bool] = if o.certify { &[false, true] } else { &[false] };
        let per_rate: Vec<Vec<RunSpec>> = pending.iter().map(|&(t, lr)| targets[t].specs(o, lr, budgets)).collect();
        let specs: Vec<RunSpec> = per_rate.concat();
        let mine = match o.shard {
            Some((k, n)) => crate::sweep::shard(specs.clone(), k, n),
            None => specs.clone(),
        };
        let ran = run_plan(&mine, o.jobs)?;
        tuned.trained += ran.iter().filter(|r| !r.skipped).count();
        tuned.skipped += ran.iter().filter(|r| r.skipped).count();
        record(&pending, &per_rate, budgets.len(), &mut targets, &mut tuned);
        if !tuned.complete {
            return Ok(tuned);
        }
        pending =
            targets.iter().enumerate().filter_map(|(t, x)| x.next_rate(round, o.lr_tie).map(|lr| (t, lr))).collect();
    }
    tuned.choices = targets.iter().map(|t| choice(t, &o.lrs, o.lr_tie)).collect();
    for c in tuned.choices.iter().filter(|c| c.lr_at_edge) {
        eprintln!(
            "capacity: WARNING {} d_model {}: the best learning rate {:e} is at an end of the rates tried {:?}: widen --lrs",
            c.head, c.d_model, c.lr, c.tried
        );
    }
    Ok(tuned)
}

/// Reads one round's finished tuning runs into their targets: each rate's runs (`per_rate`: per
/// dataset its 1× run, and its 2× run under `--certify`) score it on the total over its datasets of
/// the lower of 1× and 2×; a run not finished (another shard's share) leaves `tuned` incomplete.
fn record(
    pending: &[(usize, f64)],
    per_rate: &[Vec<RunSpec>],
    budgets: usize,
    targets: &mut [Target],
    tuned: &mut Tuned,
) {
    for (&(t, lr), specs) in pending.iter().zip(per_rate) {
        let found: Vec<Found> = specs.iter().map(runner::find).collect();
        let Some(runs) = found.chunks(budgets).map(finished).collect::<Option<Vec<_>>>() else {
            tuned.complete = false;
            continue;
        };
        let target = &mut targets[t];
        let first = tuned.runs.len();
        for ((one, two), &n) in runs.iter().zip(&target.ns) {
            tuned.runs.push(TuningRun {
                head: target.head,
                d_model: target.model.d_model,
                params: one.params.total as usize,
                n,
                lr,
                memorized_bits: one.memorized_bits,
                memorized_bits_2x: *two,
                dataset_bits: one.dataset_bits,
            });
        }
        target.results.push((lr, score(&tuned.runs[first..], budgets == 2)));
    }
}

/// A rate's score from its runs (one per dataset): the sum over the datasets of the bits stored at
/// 1×, or under `--certify` of the lower of 1× and 2×; a run without a figure (it diverged) makes
/// it −∞.
fn score(runs: &[TuningRun], certify: bool) -> f64 {
    let bits = |b: Option<f64>| b.unwrap_or(f64::NEG_INFINITY);
    let lower = |r: &TuningRun| match certify {
        true => bits(r.memorized_bits).min(bits(r.memorized_bits_2x)),
        false => bits(r.memorized_bits),
    };
    runs.iter().map(lower).sum()
}

/// One dataset's runs of a rate, if all finished: the 1× report, and the 2× run's memorized bits
/// (None without `--certify`, or when it has no figure; `score` tells the two apart).
fn finished(runs: &[Found]) -> Option<(&train::run::Report, Option<f64>)> {
    match runs {
        [Found::Finished(one)] => Some((&**one, None)),
        [Found::Finished(one), Found::Finished(two)] => Some((&**one, two.memorized_bits)),
        _ => None,
    }
}

/// The chosen rate; `lr_at_edge` when it, or the best, is still at an end of the rates tried.
fn choice(t: &Target, lrs: &[f64], tie: f64) -> Choice {
    let (r, ranks) = t.ranked(tie);
    let tried: Vec<f64> = r.iter().map(|x| x.0).collect();
    let lr = ranks.map_or(lrs[0], |(_, chosen)| r[chosen].0);
    let at_end = |i: usize| i == 0 || i + 1 == tried.len();
    let at_edge = tried.len() > 1 && ranks.is_some_and(|(best, chosen)| at_end(best) || at_end(chosen));
    Choice { head: t.head, model: t.model.clone(), d_model: t.model.d_model, lr, tried, lr_at_edge: at_edge }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(n: usize, one: Option<f64>, two: Option<f64>) -> TuningRun {
        let (head, d_model, params, lr, dataset_bits) = (HeadKind::Tied, 12, 9096, 0.03, None);
        TuningRun { head, d_model, params, n, lr, memorized_bits: one, memorized_bits_2x: two, dataset_bits }
    }

    #[test]
    fn a_rate_scores_the_sum_over_its_datasets_of_the_lower_of_1x_and_2x() {
        // tied at d 12's tuning (capacity/PROBES.md): 0.03 leads on the knee dataset and stalls on
        // the larger one, so it leads on the knee alone and loses on the total.
        let fast = [run(4548, Some(26_799.0), Some(26_967.0)), run(6822, Some(12_249.0), Some(25_042.0))];
        let slow = [run(4548, Some(24_983.0), Some(25_631.0)), run(6822, Some(26_158.0), Some(26_208.0))];
        assert!(score(&fast[..1], true) > score(&slow[..1], true));
        assert_eq!(score(&fast, true), 26_799.0 + 12_249.0);
        assert_eq!(score(&slow, true), 24_983.0 + 26_158.0);
        // causal at d 40's 0.09, which collapses at 2× on the larger dataset: without --certify
        // only the 1× figures count. A diverged run (no figure) sinks a rate.
        let collapsing = [run(338, Some(59_537.0), Some(60_972.0)), run(507, Some(60_686.0), Some(26_702.0))];
        assert_eq!(score(&collapsing, true), 59_537.0 + 26_702.0);
        assert_eq!(score(&collapsing, false), 59_537.0 + 60_686.0);
        assert_eq!(score(&[run(4548, Some(30_000.0), Some(30_000.0)), run(6822, Some(1.0), None)], false), 30_001.0);
        assert_eq!(
            score(&[run(4548, Some(30_000.0), Some(30_000.0)), run(6822, Some(1.0), None)], true),
            f64::NEG_INFINITY
        );
    }

    fn target(results: &[(f64, f64)]) -> Target {
        let model = ModelConfig::preset(heads::config::DEFAULT_PRESET).unwrap();
        Target { head: HeadKind::Causal, model, ns: vec![1], results: results.to_vec() }
    }

    #[test]
    fn a_best_rate_at_an_end_extends_the_range_by_the_same_ratio() {
        // Inside: no more rates.
        assert_eq!(target(&[(1e-3, 5.0), (3e-3, 9.0), (1e-2, 7.0)]).next_rate(0, 0.0), None);
        // At the top (given out of order): one more beyond, ×10/3.
        let up = target(&[(1e-2, 9.0), (1e-3, 5.0), (3e-3, 7.0)]).next_rate(0, 0.0).unwrap();
        assert!((up - 1e-2 * 1e-2 / 3e-3).abs() < 1e-12, "{up}");
        // At the bottom: one more below, ÷3.
        let down = target(&[(1e-3, 9.0), (3e-3, 5.0), (1e-2, 1.0)]).next_rate(0, 0.0).unwrap();
        assert!((down - 1e-3 / 3.0).abs() < 1e-12, "{down}");
        // After the last extension: flagged, not extended.
        let t = target(&[(1e-3, 1.0), (3e-3, 5.0), (1e-2, 9.0)]);
        assert_eq!(t.next_rate(MAX_EXTENSIONS, 0.0), None);
        assert!(choice(&t, &[1e-3], 0.0).lr_at_edge);
        assert!(!choice(&target(&[(1e-3, 1.0), (3e-3, 9.0), (1e-2, 5.0)]), &[1e-3], 0.0).lr_at_edge);
    }

    #[test]
    fn under_a_tie_the_smallest_rate_within_the_share_of_the_best_wins_and_must_be_inside() {
        // causal at d 16's two-dataset tuning (capacity/probes/causal-d16-lr9e-2): 0.09 wins by 0.4%
        // and collapses at 2× on every grid seed at 4 bits/parameter; 0.03 certified there.
        let d16 = target(&[
            (1e-3, 27_852.0),
            (3e-3, 31_269.0),
            (1e-2, 34_030.0),
            (3e-2, 35_062.0),
            (9e-2, 35_212.0),
            (2.7e-1, 16_751.0),
        ]);
        assert_eq!(choice(&d16, &[1e-3], 0.0).lr, 9e-2);
        let tied = choice(&d16, &[1e-3], 0.02);
        assert_eq!((tied.lr, tied.lr_at_edge), (3e-2, false));
        // 0.01 is 3.4% below the best: outside a 2% tie, inside a 4% one.
        assert_eq!(choice(&d16, &[1e-3], 0.04).lr, 1e-2);
        // Before the range reached 0.09: 0.03 is the best and at the top, so one more rate is
        // tried; with it 0.09 is the best and at the top, so one more; with 0.27 both the best
        // and the chosen rate lie inside, and no more.
        let first = target(&d16.results[..4]);
        assert!((first.next_rate(0, 0.02).unwrap() - 9e-2).abs() < 1e-12);
        assert!((target(&d16.results[..5]).next_rate(1, 0.02).unwrap() - 2.7e-1).abs() < 1e-12);
        assert_eq!(d16.next_rate(1, 0.02), None);
        // A tie reaching the smallest rate puts the choice at the bottom: one more rate below.
        let flat = target(&[(1e-3, 99.0), (3e-3, 100.0), (1e-2, 98.5)]);
        assert!((flat.next_rate(0, 0.02).unwrap() - 1e-3 / 3.0).abs() < 1e-12);
        assert_eq!(flat.next_rate(0, 0.0), None);
        // causal at d 24 (capacity/causal-d24-tune46): 0.01 ties 0.03 and lies inside, but 0.03,
        // the best, is the largest tried: a rate above it may score more and move the tie.
        let d24 = target(&[(1e-3, 50_890.0), (3e-3, 54_702.0), (1e-2, 58_271.0), (3e-2, 59_454.0)]);
        assert!((d24.next_rate(0, 0.02).unwrap() - 9e-2).abs() < 1e-12);
        let after = choice(&d24, &[1e-3], 0.02);
        assert_eq!((after.lr, after.lr_at_edge), (1e-2, true), "the best at an end is flagged");
    }

    #[test]
    fn without_a_tie_the_best_wins_even_when_every_rate_diverged() {
        // Every rate −∞ (each diverged on some dataset): no NaN threshold, the largest of the
        // equals is the best, at an end, so the range extends upward and the choice is flagged.
        let all = target(&[(1e-3, f64::NEG_INFINITY), (3e-3, f64::NEG_INFINITY)]);
        for tie in [0.0, 0.02] {
            let c = choice(&all, &[1e-3], tie);
            assert_eq!((c.lr, c.lr_at_edge), (3e-3, true), "tie {tie}");
            assert!((all.next_rate(0, tie).unwrap() - 9e-3).abs() < 1e-12, "tie {tie}");
        }
    }
}
