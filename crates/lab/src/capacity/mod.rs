//! `overfit capacity`: how many bits a model stores, per parameter, for every head (SPEC §4, §5).
//!
//! The data is seeded, uniformly random bytes, so nothing can be generalised and every target
//! carries exactly 8 bits: whatever a model predicts better than a uniform guess, it has stored.
//! The measurement follows Morris et al. 2025 ("How much do language models memorize?"):
//! - every head at several model sizes (L = 32, the log's window), each trained on datasets of
//!   growing size, given in bits of random targets per model parameter;
//! - every run takes exactly `--steps` optimizer steps (the same for every head at a size), with a
//!   linear warm-up over the first 5% and a cosine decay to 0; no run stops on a plateau;
//! - `--certify` reruns every point at twice the steps; a point is certified when the two differ
//!   by less than 2% ([`CERTIFY_TOLERANCE`]). Only certified points enter a capacity or a fit;
//! - a model's capacity is the plateau of its memorized bits past the knee (the rule:
//!   [`summary`]'s module doc);
//! - the learning rate is tuned per head and size, under the full budget, on the knee dataset
//!   (or the datasets of `--tune-data-bits`) with a seed of its own ([`TUNE_SEED`]): the tuning
//!   runs are not grid points.
//!
//! A window head sees one target per sample, a causal head L: at equal bits per parameter a window
//! head's dataset has L times the samples, and at an equal step budget it sees each sample L times
//! less often. The compute per head is kept equal (same sizes, same steps, same batch), not the
//! epochs: that is what makes the heads comparable, and certification shows whether the budget
//! was enough for each.
//!
//! The default grid, timed on this 2-core machine (release build, one thread per run, `--jobs 2`):
//! see [`grid::DEFAULT_STEPS`] for the per-step costs and the planned wall time.

mod figures;
mod grid;
pub(crate) mod markdown;
mod positions;
pub mod summary;
mod tune;

pub use grid::{config as run_config, model_dir, Models, DEFAULT_STEPS};
pub use summary::{summarize, CapacityReport};

use heads::HeadKind;
use std::path::{Path, PathBuf};
use train::error::{Error, Result};
use train::runner::{self, RunSpec};
use train::settings::Overrides;

/// A point is certified when its 2× run's memorized bits differ from its 1× run's by less than
/// this share of the 1× figure.
pub const CERTIFY_TOLERANCE: f64 = 0.02;
/// The seed of the tuning runs' data and weights: none of the grid's default seeds, so that the
/// rate chosen is not also the best of several draws of a grid point.
pub const TUNE_SEED: u64 = 1000;
/// The learning rates tuned over by default (extended automatically when the best is at an end).
pub const LRS: [f64; 4] = [1e-3, 3e-3, 1e-2, 3e-2];
/// Dataset sizes, bits per parameter: from below the published ~2–3.6 to well above, denser
/// around the knee.
pub const DATA_BITS: [f64; 7] = [1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 6.0];
/// At a head's largest default size: three dataset sizes around the knee.
pub const LARGEST_DATA_BITS: [f64; 3] = [2.0, 3.0, 4.0];
pub const SEEDS: [u64; 3] = [0, 1, 2];
/// At a head's largest default size: two seeds.
pub const LARGEST_SEEDS: usize = 2;

/// Under `--quick`: a test of the pipeline, far from converged.
const QUICK_STEPS: u64 = 150;
const QUICK_DATA_BITS: [f64; 2] = [1.0, 4.0];
const QUICK_LRS: [f64; 3] = [1e-3, 3e-3, 1e-2];

/// The command line of `overfit capacity`, as given (None: not given).
#[derive(Clone, Debug, Default)]
pub struct CapacityFlags {
    pub preset: Option<String>,
    /// The model flags given (`--d-model` → `d_model`), as `settings::given` makes them.
    pub model_flags: Overrides,
    pub heads: Option<Vec<HeadKind>>,
    pub sizes: Option<Vec<usize>>,
    pub data_bits: Option<Vec<f64>>,
    pub steps: Option<u64>,
    pub steps_per_size: Option<Vec<u64>>,
    pub lrs: Option<Vec<f64>>,
    pub tune_data_bits: Option<Vec<f64>>,
    pub lr_tie: Option<f64>,
    pub seeds: Option<Vec<u64>>,
    pub certify: bool,
    pub quick: bool,
    pub out: Option<PathBuf>,
    pub jobs: usize,
    pub shard: Option<String>,
}

/// What to measure, every default filled in and every value checked.
#[derive(Clone, Debug)]
pub struct CapacityOptions {
    pub heads: Vec<HeadKind>,
    pub models: Models,
    /// None: the default grid's (fewer at the largest size).
    pub data_bits: Option<Vec<f64>>,
    pub steps: u64,
    /// `--steps-per-size`: (d_model, steps) of each size of `--sizes`; empty: `steps` everywhere.
    pub steps_per_size: Vec<(usize, u64)>,
    pub lrs: Vec<f64>,
    /// `--tune-data-bits`: the datasets (bits per parameter) each rate is tuned on, scored on
    /// its total over them. None: each size's knee dataset alone.
    pub tune_data_bits: Option<Vec<f64>>,
    /// `--lr-tie`: rates scoring within this share of the best tie, and the smallest of them is
    /// chosen (0: the most bits wins).
    pub lr_tie: f64,
    /// None: the default grid's (fewer at the largest size).
    pub seeds: Option<Vec<u64>>,
    pub certify: bool,
    /// Small sizes, two dataset sizes, a short budget: a test of the pipeline, never converged.
    pub quick: bool,
    pub out: PathBuf,
    pub jobs: usize,
    /// Run only shard K of N of the plan (1-based).
    pub shard: Option<(usize, usize)>,
}

/// A list flag's values, each checked by `ok` (which says what is allowed).
fn checked<T: Copy + std::fmt::Display>(
    flag: &str,
    v: Option<Vec<T>>,
    ok: (fn(T) -> bool, &str),
) -> Result<Option<Vec<T>>> {
    let Some(v) = v else { return Ok(None) };
    if v.is_empty() {
        return Err(Error::usage(flag, "give at least one value"));
    }
    if let Some(bad) = v.iter().find(|&&x| !ok.0(x)) {
        return Err(Error::usage(flag, format!("{bad} is not allowed: {}", ok.1)));
    }
    Ok(Some(v))
}

fn positive(x: f64) -> bool {
    x.is_finite() && x > 0.0
}

/// `--steps-per-size` against `--sizes`: one budget per size, each at least 1.
fn per_size(steps: Option<&[u64]>, sizes: Option<&[usize]>) -> Result<Vec<(usize, u64)>> {
    let Some(steps) = steps else { return Ok(Vec::new()) };
    let flag = "--steps-per-size";
    let Some(sizes) = sizes.filter(|s| s.len() == steps.len()) else {
        return Err(Error::usage(flag, "gives one step budget per size of --sizes, in its order"));
    };
    if steps.contains(&0) {
        return Err(Error::usage(flag, "every budget must be at least 1"));
    }
    Ok(sizes.iter().copied().zip(steps.iter().copied()).collect())
}

/// `--lr-tie`: a share in [0, 1), and only where there are rates to tune.
fn tie(share: Option<f64>, given_rate: bool) -> Result<f64> {
    let Some(share) = share else { return Ok(0.0) };
    if !(0.0..1.0).contains(&share) {
        return Err(Error::usage("--lr-tie", format!("{share} is not allowed: a share of the best score, in [0, 1)")));
    }
    if given_rate {
        return Err(Error::usage("--lr-tie", "needs rates to tune: one --lrs value is taken as given"));
    }
    Ok(share)
}

impl CapacityOptions {
    /// The step budget of every run of a model: its size's `--steps-per-size`, else `--steps`.
    pub fn steps_for(&self, m: &heads::ModelConfig) -> u64 {
        self.steps_per_size.iter().find(|(d, _)| *d == m.d_model).map_or(self.steps, |(_, s)| *s)
    }

    /// Every flag checked (exit 2 naming it); what is not given takes the full grid's default, or
    /// `--quick`'s.
    pub fn new(f: CapacityFlags) -> Result<Self> {
        if f.jobs == 0 {
            return Err(Error::usage("--jobs", "must be at least 1"));
        }
        if f.steps == Some(0) {
            return Err(Error::usage("--steps", "must be at least 1"));
        }
        let heads = checked("--heads", f.heads.clone(), (|_| true, ""))?.unwrap_or_else(|| HeadKind::ALL.to_vec());
        let sizes = checked("--sizes", f.sizes.clone(), (|d| d > 0, "a width d_model is at least 1"))?;
        let data_bits =
            checked("--data-bits", f.data_bits.clone(), (positive, "bits per parameter are finite and > 0"))?;
        let lrs = checked("--lrs", f.lrs.clone(), (positive, "a learning rate is finite and > 0"))?;
        let tune_data_bits =
            checked("--tune-data-bits", f.tune_data_bits.clone(), (positive, "bits per parameter are finite and > 0"))?;
        let seeds = checked("--seeds", f.seeds.clone(), (|_| true, ""))?;
        let given_rate = lrs.as_ref().is_some_and(|l| l.len() == 1);
        if tune_data_bits.is_some() && given_rate {
            return Err(Error::usage("--tune-data-bits", "needs rates to tune: one --lrs value is taken as given"));
        }
        let lr_tie = tie(f.lr_tie, given_rate)?;
        let steps_per_size = per_size(f.steps_per_size.as_deref(), sizes.as_deref())?;
        let models = Models::from_flags(f.preset.as_deref(), &f.model_flags, sizes, f.quick)?;
        let quick = f.quick;
        let out = f.out.unwrap_or_else(|| (if quick { "capacity-quick" } else { "capacity" }).into());
        Ok(CapacityOptions {
            heads,
            models,
            data_bits: data_bits.or(quick.then(|| QUICK_DATA_BITS.to_vec())),
            steps: f.steps.unwrap_or(if quick { QUICK_STEPS } else { DEFAULT_STEPS }),
            steps_per_size,
            lrs: lrs.unwrap_or_else(|| if quick { QUICK_LRS.to_vec() } else { LRS.to_vec() }),
            tune_data_bits,
            lr_tie,
            seeds,
            certify: f.certify,
            quick,
            out,
            jobs: f.jobs,
            shard: crate::sweep::shard_of(f.shard.as_deref())?,
        })
    }
}

/// Runs a plan `jobs` at a time and returns the outcomes in plan order, as far as it got (the
/// caller's display and signal handling: `progress::run_plan`).
pub type PlanRunner<'a> = dyn Fn(&[RunSpec], usize) -> Result<Vec<runner::Outcome>> + 'a;

/// Tunes, runs the grid (or one shard of it) and summarizes what ran. An interrupt stops it
/// early, with what it has (`interrupted` is then set); a shard whose tuning waits for the other
/// shards' says so (`waiting`).
pub fn run(o: &CapacityOptions, run_plan: &PlanRunner<'_>) -> Result<CapacityReport> {
    let tuned = tune::tune(o, run_plan)?;
    if !tuned.complete {
        let mut r = summarize(o, &tuned, &[]);
        r.runs_trained = tuned.trained;
        r.runs_skipped = tuned.skipped;
        (r.interrupted, r.waiting_for_tuning) = (o.shard.is_none(), o.shard.is_some());
        return Ok(r);
    }
    let grid_specs = grid::plan(o, |head, m| tuned.lr(head, m))?;
    let grid = run_plan(&grid_specs, o.jobs)?;
    let interrupted = runner::interrupted() || grid.iter().any(|g| g.report.stopped == train::Stopped::Interrupted);
    let mut r = summarize(o, &tuned, &grid);
    r.runs_trained = tuned.trained + grid.iter().filter(|g| !g.skipped).count();
    r.runs_skipped = tuned.skipped + grid.iter().filter(|g| g.skipped).count();
    r.interrupted = interrupted;
    // Runs another process was training were skipped, and named as they were (runner::run).
    r.runs_held = if interrupted { 0 } else { grid_specs.len() - grid.len() };
    Ok(r)
}

/// Writes capacity.json, capacity.md and the two plots into `out`.
pub fn write(report: &CapacityReport, out: &Path) -> Result<()> {
    std::fs::create_dir_all(out).map_err(|e| Error::io(format!("creating {}", out.display()), e))?;
    let json = serde_json::to_string_pretty(report).expect("a report serializes");
    train::fsutil::write_atomic(&out.join("capacity.json"), json.as_bytes())?;
    train::fsutil::write_atomic(&out.join("capacity.md"), report.markdown().as_bytes())?;
    figures::curves(report, &out.join("capacity_curves.svg"))?;
    figures::against_params(report, &out.join("capacity_params.svg"))
}
