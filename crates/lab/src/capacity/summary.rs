//! What the capacity runs say: the points with their certificates, capacity per model size, bits
//! per parameter per head with a 95% interval over seeds, and two splits of capacity: between
//! trunk and head parameters, and between embedding and other parameters.
//!
//! **The plateau rule** (`capacity_bits` of one head and size), from certified points only:
//! 1. per dataset size, the mean of memorized bits over seeds and its 95% interval;
//! 2. the knee is the smallest dataset whose mean is below [`SATURATED_SHARE`] (90%) of its
//!    dataset bits: there the model stops storing all it is given. That dataset and every larger
//!    one are *past the knee*;
//! 3. the plateau needs at least 2 datasets past the knee, each mean within the plateau ±
//!    max(its 95% half-width, 2% of the plateau) (`flat`); `capacity_bits` is then the mean of
//!    the past-knee means (per seed: the mean of that seed's past-knee points, for the interval);
//! 4. otherwise the size has no capacity (null): too few certified points past the knee, or
//!    bits still changing with the dataset size (`max_at_largest`: still rising at the largest
//!    dataset means the grid is too small).
//!
//! A head's `bits_per_param` is, per seed, the mean over its sizes with a capacity of
//! capacity / parameters, then the mean over seeds with a 95% interval; only the seeds with a
//! plateau at every such size count.

use super::grid::twice_dir;
use super::tune::{Choice, Tuned, TuningRun};
use super::CapacityOptions;
use crate::results::{bounded, stat, stat_in, Stat};
use heads::HeadKind;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use train::runner::Outcome;

/// A memorized share below this means the dataset exceeds what the model stores.
pub const SATURATED_SHARE: f64 = 0.9;

/// `capacity --json` (SPEC §4, §5), with the tuning and the fits beside the required fields.
#[derive(Clone, Debug, Serialize)]
pub struct CapacityReport {
    pub heads: BTreeMap<String, HeadCapacity>,
    /// capacity ≈ α·(trunk parameters) + β·(head parameters), over every head and size with a
    /// capacity.
    pub split: Option<SplitFit>,
    /// capacity ≈ a·(embedding parameters) + b·(other parameters), over the same: what an
    /// embedding parameter stores against a block's or a head's.
    pub embedding_split: Option<EmbeddingFit>,
    /// Every tuning run: head, size, learning rate, bits stored.
    pub tuning: Vec<TuningRun>,
    /// The rate chosen per head and size, and whether it is at an end of the rates tried.
    pub lrs: Vec<Choice>,
    /// `--tune-data-bits`: the datasets every rate was tuned on (absent: each size's knee dataset).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tune_data_bits: Option<Vec<f64>>,
    /// `--lr-tie`: rates within this share of the best score tie, and the smallest wins (0: the
    /// most bits wins).
    pub lr_tie: f64,
    pub quick: bool,
    pub steps: u64,
    /// (d_model, steps) per size under `--steps-per-size`, which override `steps`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub steps_per_size: Vec<(usize, u64)>,
    pub certify: bool,
    /// Wall seconds of the runs summarized (their own times, as run; skipped runs count theirs).
    pub run_seconds: f64,
    /// Runs trained by this command, and runs found finished and skipped.
    pub runs_trained: usize,
    pub runs_skipped: usize,
    /// Grid runs skipped because another process held them (rerun to gather them).
    #[serde(default)]
    pub runs_held: usize,
    /// A shard whose tuning needs the other shards' runs first: it ran its share and stopped.
    pub waiting_for_tuning: bool,
    /// Stopped by a signal before the plan's end.
    #[serde(skip)]
    pub interrupted: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct HeadCapacity {
    /// Per seed with a capacity at every size that has one, the mean over those sizes of
    /// capacity_bits / parameters; then the mean over seeds (null when no size has a capacity, or no
    /// seed has one at every such size).
    pub bits_per_param: Option<f64>,
    pub ci95: Option<[f64; 2]>,
    /// The same per non-embedding parameter, over the same seeds.
    pub bits_per_nonembedding_param: Option<f64>,
    pub nonembedding_ci95: Option<[f64; 2]>,
    /// The slope of capacity against parameters through the origin (mean over the same seeds).
    pub slope: Option<f64>,
    /// False under `--quick`, and whenever a point is not certified (or `--certify` was not given).
    pub converged: bool,
    pub certified_points: usize,
    pub sizes: Vec<SizeCapacity>,
    pub points: Vec<Point>,
}

/// One model size of a head: its plateau (see the module doc).
#[derive(Clone, Debug, Serialize)]
pub struct SizeCapacity {
    pub d_model: usize,
    pub params: usize,
    pub nonembedding_params: usize,
    pub head_params: usize,
    pub lr: f64,
    /// The tuned rate is at an end of the rates tried (see `tune`).
    pub lr_at_edge: bool,
    pub points: usize,
    pub certified_points: usize,
    /// Bits per parameter of the knee dataset (the first past the knee), if any.
    pub knee_data_bits: Option<f64>,
    /// Dataset sizes (samples) past the knee, with certified points.
    pub plateau_n: Vec<usize>,
    pub flat: bool,
    pub max_at_largest: bool,
    pub capacity_bits: Option<f64>,
    pub capacity_ci95: Option<[f64; 2]>,
    pub bits_per_param: Option<f64>,
    /// Each seed's capacity (the mean of its certified past-knee points), which the interval and
    /// the fits are made of; empty without a plateau.
    pub capacity_by_seed: BTreeMap<u64, f64>,
    /// The 2× run's change, as a fraction of the 1× figure, of every point that stored under
    /// [`SATURATED_SHARE`] of its dataset, smallest first (empty without `--certify`). It tells
    /// apart the two ways a size misses its certificate: all positive, it still gains with the
    /// budget; of both signs, its 2× runs do not gain consistently (they scatter around a level by
    /// more than the 2% tolerance, or collapse at too high a rate).
    pub unsaturated_changes_2x: Vec<f64>,
}

/// One grid point: its 1× run, and its 2× run with `--certify`.
#[derive(Clone, Debug, Serialize)]
pub struct Point {
    pub params: usize,
    pub head_params: usize,
    pub nonembedding_params: usize,
    pub d_model: usize,
    pub n: usize,
    pub seed: u64,
    pub steps: u64,
    pub lr: f64,
    pub memorized_bits: f64,
    pub memorized_bits_clipped: Option<f64>,
    pub dataset_bits: f64,
    pub bits_per_param: f64,
    pub bits_per_nonembedding_param: f64,
    /// The 2× run's memorized bits; null without `--certify` (or while it has not run).
    pub memorized_bits_2x: Option<f64>,
    /// |2× − 1×| < 2% of 1×; null without `--certify`.
    pub certified: Option<bool>,
    pub epochs: f64,
    pub stopped: train::Stopped,
    /// A per-position head's mean bits per sample at each position (at most 8 each), from the 1×
    /// run's final weights; null for a window head and for a run that diverged (its weights are
    /// an earlier checkpoint's).
    pub bits_by_position: Option<Vec<f64>>,
}

impl Point {
    pub fn is_certified(&self) -> bool {
        self.certified == Some(true)
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct SplitFit {
    /// Bits per trunk parameter (embeddings and blocks) and per head parameter, with intervals
    /// over seeds.
    pub trunk: Stat,
    pub head: Stat,
    /// The (head, size) pairs with a plateau that the fits saw; with 2, each seed's fit is an
    /// exact solve, and only the seeds make an interval.
    pub sizes: usize,
}

#[derive(Clone, Debug, Serialize)]
pub struct EmbeddingFit {
    /// Bits per embedding parameter (token and position) and per other parameter (blocks, final
    /// norm, head), with intervals over seeds.
    pub embedding: Stat,
    pub other: Stat,
    /// As in [`SplitFit`].
    pub sizes: usize,
}

/// Whether a 2× figure certifies a 1× one. Negative memorized bits (a model worse than uniform
/// on its own training data: the run diverged) never certify, however close the two are.
pub fn certifies(one: f64, two: f64) -> bool {
    one >= 0.0 && two >= 0.0 && (two - one).abs() < super::CERTIFY_TOLERANCE * one
}

/// A grid point from its 1× outcome and, if it ran, its 2× outcome.
pub fn point(one: &Outcome, two: Option<&Outcome>, certify: bool) -> Option<(HeadKind, Point)> {
    let r = &one.report;
    let config = train::RunDir { path: one.dir.clone() }.read_config()?;
    let (params, memorized) = (r.params.total as usize, r.memorized_bits?);
    let nonembedding = (r.params.total - r.params.embeddings) as usize;
    let two = two.and_then(|t| t.report.memorized_bits);
    Some((
        r.head,
        Point {
            params,
            head_params: r.params.head as usize,
            nonembedding_params: nonembedding,
            d_model: config.model.d_model,
            n: r.samples,
            seed: r.seed,
            steps: config.steps.unwrap_or(r.steps),
            lr: config.lr,
            memorized_bits: memorized,
            memorized_bits_clipped: r.memorized_bits_clipped,
            dataset_bits: r.dataset_bits?,
            bits_per_param: memorized / params as f64,
            bits_per_nonembedding_param: memorized / nonembedding.max(1) as f64,
            memorized_bits_2x: two.filter(|_| certify),
            certified: certify.then(|| two.is_some_and(|t| certifies(memorized, t))),
            epochs: r.epochs,
            stopped: r.stopped,
            bits_by_position: (config.model.per_position() && r.stopped != train::Stopped::Diverged)
                .then(|| by_position(&one.dir))
                .flatten(),
        },
    ))
}

/// A causal run's bits per position, or None (said on stderr) when its weights cannot be read.
fn by_position(run_dir: &Path) -> Option<Vec<f64>> {
    let dir = train::RunDir { path: run_dir.to_path_buf() };
    super::positions::bits_by_position(&dir).map_err(|e| eprintln!("capacity: no bits per position: {e}")).ok()
}

/// The report of the runs that ran (all of them, or one shard's).
pub fn summarize(o: &CapacityOptions, tuned: &Tuned, grid: &[Outcome]) -> CapacityReport {
    // A run is known by the plan's folder, not by the path its report recorded: a run trained
    // elsewhere and linked into the plan (the same config) counts where the plan found it.
    let by_dir: BTreeMap<&Path, &Outcome> = grid.iter().map(|g| (g.dir.as_path(), g)).collect();
    let is_twice = |g: &Outcome| g.dir.file_name().is_some_and(|n| n.to_string_lossy().ends_with("-2x"));
    let mut by_head: BTreeMap<String, Vec<Point>> = BTreeMap::new();
    for g in grid.iter().filter(|g| !is_twice(g)) {
        let twice = by_dir.get(twice_dir(&g.dir).as_path()).copied();
        if let Some((head, p)) = point(g, twice, o.certify) {
            by_head.entry(head.name().to_string()).or_default().push(p);
        }
    }
    let heads: BTreeMap<String, HeadCapacity> = by_head
        .into_iter()
        .map(|(name, points)| {
            let lrs: Vec<&Choice> = tuned.choices.iter().filter(|c| c.head.name() == name).collect();
            (name, head_capacity(points, &lrs, o.quick))
        })
        .collect();
    let run_seconds = grid.iter().map(|t| t.report.wall_seconds).sum();
    CapacityReport {
        split: split(&heads),
        embedding_split: embedding_split(&heads),
        heads,
        tuning: tuned.runs.clone(),
        lrs: tuned.choices.clone(),
        tune_data_bits: o.tune_data_bits.clone(),
        lr_tie: o.lr_tie,
        quick: o.quick,
        steps: o.steps,
        steps_per_size: o.steps_per_size.clone(),
        certify: o.certify,
        run_seconds,
        runs_trained: 0,
        runs_skipped: 0,
        runs_held: 0,
        waiting_for_tuning: false,
        interrupted: false,
    }
}

/// Mean over seeds of one dataset's certified points, and its 95% half-width.
fn dataset_mean(points: &[&Point]) -> (f64, f64) {
    let s = stat(&points.iter().map(|p| p.memorized_bits).collect::<Vec<_>>());
    (s.mean, s.ci95.map_or(0.0, |c| (c[1] - c[0]) / 2.0))
}

/// The plateau of one head and size (the module doc's rule), from its certified points: the
/// capacity per seed, and the size's summary.
pub fn plateau(points: &[&Point], lr: f64) -> (SizeCapacity, BTreeMap<u64, f64>) {
    let first = points[0];
    let certified: Vec<&Point> = points.iter().copied().filter(|p| p.is_certified()).collect();
    let ns: BTreeSet<usize> = certified.iter().map(|p| p.n).collect();
    let at = |n: usize| certified.iter().copied().filter(|p| p.n == n).collect::<Vec<_>>();
    let knee = ns.iter().copied().find(|&n| {
        let ps = at(n);
        dataset_mean(&ps).0 < SATURATED_SHARE * ps[0].dataset_bits
    });
    let past: Vec<usize> = ns.iter().copied().filter(|&n| knee.is_some_and(|k| n >= k)).collect();
    let means: Vec<(f64, f64)> = past.iter().map(|&n| dataset_mean(&at(n))).collect();
    let plateau = means.iter().map(|m| m.0).sum::<f64>() / means.len().max(1) as f64;
    let flat = past.len() >= 2 && means.iter().all(|&(m, hw)| (m - plateau).abs() <= hw.max(0.02 * plateau));
    let max_at_largest = means.len() >= 2 && means.iter().all(|m| m.0 <= means[means.len() - 1].0);
    let mut per_seed: BTreeMap<u64, Vec<f64>> = BTreeMap::new();
    for p in certified.iter().filter(|p| past.contains(&p.n)) {
        per_seed.entry(p.seed).or_default().push(p.memorized_bits);
    }
    let per_seed: BTreeMap<u64, f64> = if flat {
        per_seed.into_iter().map(|(s, v)| (s, v.iter().sum::<f64>() / v.len() as f64)).collect()
    } else {
        BTreeMap::new()
    };
    let s = stat_in(&per_seed.values().copied().collect::<Vec<_>>(), bounded::NON_NEGATIVE);
    let size = SizeCapacity {
        d_model: first.d_model,
        params: first.params,
        nonembedding_params: first.nonembedding_params,
        head_params: first.head_params,
        lr,
        lr_at_edge: false,
        points: points.len(),
        certified_points: certified.len(),
        knee_data_bits: knee.map(|k| at(k)[0].dataset_bits / first.params as f64),
        plateau_n: past,
        flat,
        max_at_largest,
        capacity_bits: flat.then_some(s.mean),
        capacity_ci95: s.ci95.filter(|_| flat),
        bits_per_param: flat.then(|| s.mean / first.params as f64),
        capacity_by_seed: per_seed.clone(),
        unsaturated_changes_2x: unsaturated_changes(points),
    };
    (size, per_seed)
}

/// The 2× changes of the points that did not store [`SATURATED_SHARE`] of their dataset, smallest
/// first: certified or not, since a point's change is what the certificate judges. A run that stored
/// nothing or less (it diverged) has no change to speak of, and is left out.
fn unsaturated_changes(points: &[&Point]) -> Vec<f64> {
    let mut changes: Vec<f64> = points
        .iter()
        .filter(|p| p.memorized_bits > 0.0 && p.memorized_bits < SATURATED_SHARE * p.dataset_bits)
        .filter_map(|p| p.memorized_bits_2x.map(|two| (two - p.memorized_bits) / p.memorized_bits))
        .collect();
    changes.sort_by(f64::total_cmp);
    changes
}

/// One size's capacity for one seed: (seed, parameters, non-embedding parameters, bits).
type SeedCapacity = (u64, f64, f64, f64);

fn head_capacity(points: Vec<Point>, lrs: &[&Choice], quick: bool) -> HeadCapacity {
    let params: BTreeSet<usize> = points.iter().map(|p| p.params).collect();
    let (mut sizes, mut caps): (Vec<SizeCapacity>, Vec<SeedCapacity>) = (Vec::new(), Vec::new());
    for &size in &params {
        let mine: Vec<&Point> = points.iter().filter(|p| p.params == size).collect();
        let choice = lrs.iter().find(|c| c.d_model == mine[0].d_model);
        let (mut s, per_seed) = plateau(&mine, choice.map_or(mine[0].lr, |c| c.lr));
        s.lr_at_edge = choice.is_some_and(|c| c.lr_at_edge);
        caps.extend(per_seed.into_iter().map(|(seed, c)| (seed, s.params as f64, s.nonembedding_params as f64, c)));
        sizes.push(s);
    }
    // Capacity per parameter changes with size: a seed with a plateau at some sizes only would pull
    // its mean toward them, so only the seeds with one at every size with a capacity count.
    let sizes_with_capacity = sizes.iter().filter(|s| s.capacity_bits.is_some()).count();
    let seeds: BTreeSet<u64> =
        caps.iter().map(|c| c.0).filter(|&s| caps.iter().filter(|c| c.0 == s).count() == sizes_with_capacity).collect();
    caps.retain(|c| seeds.contains(&c.0));
    let per_seed = |f: &dyn Fn(&SeedCapacity) -> f64| -> Vec<f64> {
        let mean = |s: u64| {
            let v: Vec<f64> = caps.iter().filter(|c| c.0 == s).map(f).collect();
            v.iter().sum::<f64>() / v.len() as f64
        };
        seeds.iter().map(|&s| mean(s)).collect()
    };
    let some = |v: Vec<f64>| (!v.is_empty()).then(|| stat(&v));
    // A capacity cannot be negative: its interval is clamped at 0 (results::bounded).
    let capacity = |v: Vec<f64>| (!v.is_empty()).then(|| stat_in(&v, bounded::NON_NEGATIVE));
    let bpp = capacity(per_seed(&|c| c.3 / c.1));
    let bpn = capacity(per_seed(&|c| c.3 / c.2.max(1.0)));
    let slopes: Vec<f64> = seeds
        .iter()
        .map(|&s| {
            let mine = caps.iter().filter(|c| c.0 == s);
            mine.clone().map(|c| c.1 * c.3).sum::<f64>() / mine.map(|c| c.1 * c.1).sum::<f64>()
        })
        .collect();
    let certified = points.iter().filter(|p| p.is_certified()).count();
    HeadCapacity {
        bits_per_param: bpp.as_ref().map(|s| s.mean),
        ci95: bpp.as_ref().and_then(|s| s.ci95),
        bits_per_nonembedding_param: bpn.as_ref().map(|s| s.mean),
        nonembedding_ci95: bpn.as_ref().and_then(|s| s.ci95),
        slope: some(slopes).map(|s| s.mean),
        converged: !quick && !points.is_empty() && certified == points.len(),
        certified_points: certified,
        sizes,
        points,
    }
}

/// Least squares of capacity = α·trunk + β·head over every (head, size) of one seed.
fn split_fit(caps: &[(f64, f64, f64)]) -> Option<(f64, f64)> {
    let (mut stt, mut sth, mut shh, mut stc, mut shc) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for &(t, h, c) in caps {
        (stt, sth, shh, stc, shc) = (stt + t * t, sth + t * h, shh + h * h, stc + t * c, shc + h * c);
    }
    let det = stt * shh - sth * sth;
    (det.abs() > 1e-9 * stt * shh).then(|| ((stc * shh - shc * sth) / det, (shc * stt - stc * sth) / det))
}

/// Two rates, capacity ≈ x·first + y·second, fitted per seed over every head and size with a
/// capacity (`parts` names a size's two kinds of parameters); then their means over seeds, and
/// the number of (head, size) pairs seen. A seed whose sizes cannot tell the two rates apart is
/// left out (the rates' `n` counts the seeds kept); None when no seed is left.
fn rates_by_seed(
    heads: &BTreeMap<String, HeadCapacity>,
    parts: impl Fn(&SizeCapacity) -> (f64, f64),
) -> Option<(Stat, Stat, usize)> {
    let mut by_seed: BTreeMap<u64, Vec<(f64, f64, f64)>> = BTreeMap::new();
    let mut sizes = 0;
    for h in heads.values() {
        for size in h.sizes.iter().filter(|z| z.capacity_bits.is_some()) {
            let (first, second) = parts(size);
            sizes += 1;
            for (&seed, &c) in &size.capacity_by_seed {
                by_seed.entry(seed).or_default().push((first, second, c));
            }
        }
    }
    let (xs, ys): (Vec<f64>, Vec<f64>) = by_seed.values().filter_map(|caps| split_fit(caps)).unzip();
    (!xs.is_empty()).then(|| (stat(&xs), stat(&ys), sizes))
}

/// The trunk/head split over the sizes with a capacity, per seed.
fn split(heads: &BTreeMap<String, HeadCapacity>) -> Option<SplitFit> {
    let parts = |s: &SizeCapacity| ((s.params - s.head_params) as f64, s.head_params as f64);
    rates_by_seed(heads, parts).map(|(trunk, head, sizes)| SplitFit { trunk, head, sizes })
}

/// The embedding/other split over the sizes with a capacity, per seed.
fn embedding_split(heads: &BTreeMap<String, HeadCapacity>) -> Option<EmbeddingFit> {
    let parts = |s: &SizeCapacity| ((s.params - s.nonembedding_params) as f64, s.nonembedding_params as f64);
    rates_by_seed(heads, parts).map(|(embedding, other, sizes)| EmbeddingFit { embedding, other, sizes })
}

#[cfg(test)]
mod tests;
