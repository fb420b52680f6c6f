//! What the capacity runs say: capacity per model, bits per parameter per head with a 95%
//! interval over seeds, and the split of capacity between trunk and head parameters.

use super::CapacityOptions;
use crate::results::{bounded, stat, stat_in, Stat};
use crate::runner::Outcome;
use heads::HeadKind;
use serde::Serialize;
use std::collections::BTreeMap;

/// `capacity --json` (SPEC §4), with the tuning and the fits beside the required fields.
#[derive(Clone, Debug, Serialize)]
pub struct CapacityReport {
    pub heads: BTreeMap<String, HeadCapacity>,
    /// capacity ≈ α·(trunk parameters) + β·(head parameters), over every head and size.
    pub split: Option<SplitFit>,
    /// Every tuning run: head, learning rate, bits stored.
    pub tuning: Vec<TuningRun>,
    pub quick: bool,
    /// Wall seconds of the runs summarized (their own times, as run; skipped runs count theirs).
    pub run_seconds: f64,
    /// Stopped by a signal before the plan's end.
    #[serde(skip)]
    pub interrupted: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct HeadCapacity {
    /// Mean over the head's model sizes of capacity_bits / parameters, averaged over seeds.
    pub bits_per_param: f64,
    pub ci95: [f64; 2],
    /// The slope of capacity against parameters through the origin (mean over seeds) and its interval.
    pub slope: f64,
    pub slope_ci95: [f64; 2],
    pub lr: f64,
    /// Sizes whose largest dataset was (almost) all memorized: their capacity is a lower bound.
    pub unsaturated_sizes: Vec<usize>,
    /// Runs that reached the epoch cap before a plateau (their loss was still falling).
    pub capped_runs: usize,
    pub points: Vec<Point>,
}

/// One grid run.
#[derive(Clone, Debug, Serialize)]
pub struct Point {
    pub params: usize,
    pub head_params: usize,
    pub d_model: usize,
    pub n: usize,
    pub seed: u64,
    pub memorized_bits: f64,
    pub dataset_bits: f64,
    pub epochs: f64,
    pub stopped: crate::Stopped,
}

#[derive(Clone, Debug, Serialize)]
pub struct TuningRun {
    pub head: HeadKind,
    pub lr: f64,
    pub memorized_bits: Option<f64>,
    pub dataset_bits: Option<f64>,
}

#[derive(Clone, Debug, Serialize)]
pub struct SplitFit {
    /// Bits per trunk parameter (embeddings and blocks) and per head parameter, with intervals
    /// over seeds.
    pub trunk: Stat,
    pub head: Stat,
}

/// A memorized share at or above this means the dataset did not exceed the model's capacity.
const SATURATED_SHARE: f64 = 0.9;

fn point(o: &Outcome) -> Option<(HeadKind, Point)> {
    let r = &o.report;
    let config = crate::RunDir { path: r.run_dir.clone().into() }.read_config()?;
    Some((
        r.head,
        Point {
            params: r.params.total as usize,
            head_params: r.params.head as usize,
            d_model: config.model.d_model,
            n: r.samples,
            seed: r.seed,
            memorized_bits: r.memorized_bits?,
            dataset_bits: r.dataset_bits?,
            epochs: r.epochs,
            stopped: r.stopped,
        },
    ))
}

/// Capacity of each (size, seed): the most bits stored over the dataset sizes.
fn capacities(points: &[Point]) -> BTreeMap<(usize, u64), (f64, &Point)> {
    let mut best: BTreeMap<(usize, u64), (f64, &Point)> = BTreeMap::new();
    for p in points {
        let e = best.entry((p.params, p.seed)).or_insert((f64::NEG_INFINITY, p));
        if p.memorized_bits > e.0 {
            *e = (p.memorized_bits, p);
        }
    }
    best
}

/// The point that gives each (size, seed) its capacity.
pub(super) fn capacity_points(points: &[Point]) -> Vec<Point> {
    capacities(points).into_values().map(|(_, p)| p.clone()).collect()
}

fn head_capacity(points: Vec<Point>, lr: f64) -> HeadCapacity {
    let caps = capacities(&points);
    let seeds: Vec<u64> = caps.keys().map(|k| k.1).collect::<std::collections::BTreeSet<_>>().into_iter().collect();
    let (mut ratios, mut slopes) = (Vec::new(), Vec::new());
    for &seed in &seeds {
        let mine: Vec<(f64, f64)> = caps.iter().filter(|(k, _)| k.1 == seed).map(|(k, v)| (k.0 as f64, v.0)).collect();
        ratios.push(mine.iter().map(|(p, c)| c / p).sum::<f64>() / mine.len() as f64);
        slopes.push(mine.iter().map(|(p, c)| p * c).sum::<f64>() / mine.iter().map(|(p, _)| p * p).sum::<f64>());
    }
    // Bits per parameter cannot be negative: its interval is clamped at 0 (results::bounded).
    let (r, s) = (stat_in(&ratios, bounded::NON_NEGATIVE), stat(&slopes));
    let largest = |size: usize| points.iter().filter(|p| p.params == size).map(|p| p.n).max();
    let mut unsaturated: Vec<usize> = points
        .iter()
        .filter(|p| Some(p.n) == largest(p.params) && p.memorized_bits >= SATURATED_SHARE * p.dataset_bits)
        .map(|p| p.params)
        .collect();
    unsaturated.dedup();
    HeadCapacity {
        bits_per_param: r.mean,
        ci95: r.ci95.unwrap_or([r.mean, r.mean]),
        slope: s.mean,
        slope_ci95: s.ci95.unwrap_or([s.mean, s.mean]),
        lr,
        unsaturated_sizes: unsaturated,
        capped_runs: points.iter().filter(|p| p.stopped == crate::Stopped::MaxSteps).count(),
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

fn split(heads: &BTreeMap<String, HeadCapacity>) -> Option<SplitFit> {
    let all: Vec<&Point> = heads.values().flat_map(|h| h.points.iter()).collect();
    let mut seeds: Vec<u64> = all.iter().map(|p| p.seed).collect();
    seeds.sort();
    seeds.dedup();
    let (mut alphas, mut betas) = (Vec::new(), Vec::new());
    for seed in seeds {
        let mut caps = Vec::new();
        for h in heads.values() {
            let mine: Vec<Point> = h.points.iter().filter(|p| p.seed == seed).cloned().collect();
            for (_, (c, p)) in capacities(&mine) {
                caps.push(((p.params - p.head_params) as f64, p.head_params as f64, c));
            }
        }
        let (a, b) = split_fit(&caps)?;
        alphas.push(a);
        betas.push(b);
    }
    Some(SplitFit { trunk: stat(&alphas), head: stat(&betas) })
}

/// The report of the runs that ran (all of them, or one shard's).
pub fn summarize(o: &CapacityOptions, tuning: &[Outcome], lrs: &[(HeadKind, f64)], grid: &[Outcome]) -> CapacityReport {
    let mut by_head: BTreeMap<String, Vec<Point>> = BTreeMap::new();
    for (head, p) in grid.iter().filter_map(point) {
        by_head.entry(head.name().to_string()).or_default().push(p);
    }
    let lr_of = |name: &str| lrs.iter().find(|(h, _)| h.name() == name).map_or(f64::NAN, |x| x.1);
    let heads: BTreeMap<String, HeadCapacity> =
        by_head.into_iter().map(|(name, points)| (name.clone(), head_capacity(points, lr_of(&name)))).collect();
    let tuning_runs = tuning
        .iter()
        .map(|t| TuningRun {
            head: t.report.head,
            lr: super::lr_of(t),
            memorized_bits: t.report.memorized_bits,
            dataset_bits: t.report.dataset_bits,
        })
        .collect();
    let run_seconds = tuning.iter().chain(grid).map(|t| t.report.wall_seconds).sum();
    CapacityReport { split: split(&heads), heads, tuning: tuning_runs, quick: o.quick, run_seconds, interrupted: false }
}

impl CapacityReport {
    /// capacity.md: the tables of the report.
    pub fn markdown(&self) -> String {
        let mut s = String::from("# Memorization capacity on random bytes\n\n");
        s += "| head | lr | bits/param (95% CI, 3 seeds) | slope (95% CI) | sizes not saturated | runs at the epoch cap |\n";
        s += "|---|---|---|---|---|---|\n";
        for (name, h) in &self.heads {
            s += &format!(
                "| {name} | {:e} | {:.2} [{:.2}, {:.2}] | {:.2} [{:.2}, {:.2}] | {} | {} of {} |\n",
                h.lr,
                h.bits_per_param,
                h.ci95[0],
                h.ci95[1],
                h.slope,
                h.slope_ci95[0],
                h.slope_ci95[1],
                h.unsaturated_sizes.len(),
                h.capped_runs,
                h.points.len()
            );
        }
        if let Some(f) = &self.split {
            let ci = |x: &Stat| x.ci95.map_or(String::new(), |c| format!(" [{:.2}, {:.2}]", c[0], c[1]));
            s += &format!(
                "\nTrunk/head split, capacity ≈ α·trunk + β·head (per seed, then mean and 95% CI): α = {:.2}{} bits per trunk parameter, β = {:.2}{} bits per head parameter.\n",
                f.trunk.mean, ci(&f.trunk), f.head.mean, ci(&f.head)
            );
        }
        s += &self.capacity_table();
        s += "\n## Learning-rate tuning (seed 0; the most bits stored wins)\n\n| head | lr | memorized bits | dataset bits |\n|---|---|---|---|\n";
        for t in &self.tuning {
            let b = |x: Option<f64>| x.map_or("—".into(), |v| format!("{v:.0}"));
            s += &format!("| {} | {:e} | {} | {} |\n", t.head, t.lr, b(t.memorized_bits), b(t.dataset_bits));
        }
        s
    }

    /// Capacity per head and size: mean over seeds with its interval.
    fn capacity_table(&self) -> String {
        let mut s = String::from("\n## Capacity per model (the most bits stored over the dataset sizes)\n\n");
        s += "| head | d | params | head params | capacity bits (95% CI) | bits/param |\n|---|---|---|---|---|---|\n";
        for (name, h) in &self.heads {
            let caps = capacities(&h.points);
            let mut sizes: Vec<&Point> = caps.values().map(|v| v.1).collect();
            sizes.sort_by_key(|p| p.params);
            sizes.dedup_by_key(|p| p.params);
            for p in sizes {
                let c: Vec<f64> = caps.iter().filter(|(k, _)| k.0 == p.params).map(|(_, v)| v.0).collect();
                let st = stat(&c);
                let ci = st.ci95.map_or(String::new(), |c| format!(" [{:.0}, {:.0}]", c[0], c[1]));
                s += &format!(
                    "| {name} | {} | {} | {} | {:.0}{ci} | {:.2} |\n",
                    p.d_model,
                    p.params,
                    p.head_params,
                    st.mean,
                    st.mean / p.params as f64
                );
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_split_fit_recovers_known_rates() {
        // capacity = 2·trunk + 0.5·head exactly: the fit must give 2 and 0.5 back.
        let caps: Vec<(f64, f64, f64)> = [(1000.0, 0.0), (3000.0, 500.0), (2000.0, 8000.0), (500.0, 4000.0)]
            .map(|(t, h)| (t, h, 2.0 * t + 0.5 * h))
            .to_vec();
        let (a, b) = split_fit(&caps).unwrap();
        assert!((a - 2.0).abs() < 1e-9 && (b - 0.5).abs() < 1e-9, "{a} {b}");
        // Without head parameters the head's rate cannot be told apart.
        assert!(split_fit(&[(1000.0, 0.0, 10.0), (2000.0, 0.0, 20.0)]).is_none());
    }
}
