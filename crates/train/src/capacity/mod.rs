//! `overfit capacity`: how many bits a model stores, per parameter, for every head (SPEC §4).
//!
//! The data is seeded, uniformly random bytes, so nothing can be generalised and every target
//! carries exactly 8 bits: whatever a model predicts better than a uniform guess, it has stored.
//! The measurement follows Morris et al. 2025 ("How much do language models memorize?"), scaled
//! to what a laptop trains in minutes:
//! - every head at 4 model sizes, each trained on datasets of growing size (in bits per
//!   parameter of the model), until the training loss reaches a plateau ([`PLATEAU`]);
//! - a model's capacity is the most bits it stored over the dataset sizes; the head's
//!   bits/parameter is the mean over its sizes of capacity / parameters, per seed, with a 95%
//!   interval over the seeds;
//! - each head trains at the learning rate that stored the most bits in a small tuning sweep.
//!
//! Stage 1 (tuning) must finish before stage 2 (the grid) is planned. A sharded grid therefore
//! runs the (small) tuning in every shard, in a folder of its own, and gets the same choice: runs
//! are bit-reproducible.

mod plot;
mod summary;

pub use summary::{summarize, CapacityReport};

use crate::config::{Plateau, TrainConfig};
use crate::error::{Error, Result};
use crate::runner::{self, RunSpec};
use heads::{HeadKind, ModelConfig};
use std::path::{Path, PathBuf};

/// The window every model reads: short, so that a step is cheap and the trunk is mostly the
/// embedding tables (as it is in the log's models).
pub const SEQ_LENGTH: usize = 8;
/// Widths of the 4 model sizes (one block, one attention head, d_ff = 2d).
const D_MODELS: [usize; 4] = [4, 8, 16, 32];
/// The flatten head grows with L·d·V: narrower widths keep its parameter counts in the range of
/// the other heads'.
const FLATTEN_D_MODELS: [usize; 4] = [2, 3, 5, 8];
/// Dataset sizes, in bits of random targets per model parameter: from well under the published
/// ~2–3.6 bits/parameter to well over it.
const DATA_BITS_PER_PARAM: [f64; 5] = [0.25, 0.5, 1.0, 2.0, 4.0];
/// The learning rates each head is tuned over.
pub const LRS: [f64; 4] = [1e-3, 3e-3, 1e-2, 3e-2];
/// The seeds of every grid point (each seed draws its own data and its own initial weights).
const SEEDS: [u64; 3] = [0, 1, 2];
/// The plateau rule: evaluated on every training target every [`EVAL_EPOCHS`] epochs, the run
/// stops when 4 evaluations in a row (20 epochs) lowered the best training loss by less than
/// 0.01 nats per target (0.014 bits of the 8 each target holds) — or at [`MAX_EPOCHS`].
pub const PLATEAU: Plateau = Plateau { patience: 4, min_delta: 0.01 };
pub const EVAL_EPOCHS: u64 = 5;
pub const MAX_EPOCHS: u64 = 300;

/// What to measure.
#[derive(Clone, Debug)]
pub struct CapacityOptions {
    pub heads: Vec<HeadKind>,
    /// Two sizes, two dataset sizes and a short epoch cap: every head in about a minute.
    pub quick: bool,
    pub out: PathBuf,
    pub jobs: usize,
    /// Run only shard K of N of the grid (1-based).
    pub shard: Option<(usize, usize)>,
}

impl CapacityOptions {
    /// From the command line: `heads` None is every head; `out` None is `capacity` (or
    /// `capacity-quick`); the shard comes from `--shard` or a Slurm array.
    pub fn new(
        heads: Option<Vec<HeadKind>>,
        quick: bool,
        out: Option<PathBuf>,
        jobs: usize,
        shard: Option<&str>,
    ) -> Result<Self> {
        if jobs == 0 {
            return Err(Error::usage("--jobs", "must be at least 1"));
        }
        let heads = heads.unwrap_or_else(|| HeadKind::ALL.to_vec());
        if heads.is_empty() {
            return Err(Error::usage("--heads", "give at least one head"));
        }
        let out = out.unwrap_or_else(|| (if quick { "capacity-quick" } else { "capacity" }).into());
        Ok(CapacityOptions { heads, quick, out, jobs, shard: crate::sweep::shard_of(shard)? })
    }
}

/// The grid's dimensions, full or quick.
struct Dims {
    sizes: usize,
    data: Vec<f64>,
    max_epochs: u64,
    /// The size index and dataset size the learning rate is tuned at.
    tune_at: (usize, f64),
}

fn dims(quick: bool) -> Dims {
    if quick {
        Dims { sizes: 2, data: vec![1.0, 4.0], max_epochs: 20, tune_at: (0, 2.0) }
    } else {
        Dims { sizes: 4, data: DATA_BITS_PER_PARAM.to_vec(), max_epochs: MAX_EPOCHS, tune_at: (1, 2.0) }
    }
}

/// The model of size `size` (0-based) with head `head`.
pub fn model(head: HeadKind, size: usize) -> Result<ModelConfig> {
    let d = if head == HeadKind::Flatten { FLATTEN_D_MODELS[size] } else { D_MODELS[size] };
    let mut m = ModelConfig::preset(heads::config::DEFAULT_PRESET)?;
    m.head = head;
    (m.seq_length, m.d_model, m.num_blocks, m.num_heads, m.d_ff) = (SEQ_LENGTH, d, 1, 1, 2 * d);
    // The td-dense and conv heads reduce d to d / reduce channels: at least one.
    m.reduce = m.reduce.min(d);
    m.drop_flags_not_taken();
    m.validate()?;
    Ok(m)
}

/// Samples (windows, or sequences of L targets for a per-position head) holding about
/// `bits_per_param` × the model's parameters of random targets.
fn samples_for(m: &ModelConfig, bits_per_param: f64) -> Result<usize> {
    let (_, shapes) = heads::Model::<f32>::shapes_only(m)?;
    let targets_per_sample = if m.per_position() { m.seq_length } else { 1 };
    let bits = bits_per_param * shapes.numel() as f64;
    Ok(((bits / (8.0 * targets_per_sample as f64)).round() as usize).max(1))
}

/// One capacity run: random data, trained to a plateau, evaluated on every target.
fn config(m: ModelConfig, samples: usize, seed: u64, lr: f64, max_epochs: u64) -> TrainConfig {
    let mut c = TrainConfig::default_run();
    c.preset = "capacity".into();
    c.model = m;
    (c.random_data, c.data, c.samples, c.seed, c.lr) = (true, None, Some(samples), seed, lr);
    (c.until_memorized, c.until_plateau, c.epochs) = (false, Some(PLATEAU), Some(max_epochs));
    c.eval_every = Some(EVAL_EPOCHS * samples.div_ceil(c.batch_size) as u64);
    c.eval_windows = Some(samples);
    c.checkpoint_every = 0;
    c
}

fn spec(dir: PathBuf, config: TrainConfig) -> RunSpec {
    let label = dir.iter().rev().take(4).collect::<Vec<_>>().into_iter().rev().collect::<PathBuf>();
    RunSpec { label: label.display().to_string(), dir, config }
}

/// Stage 1: every head at every tuned learning rate, at one size and dataset size, seed 0.
pub fn tuning_plan(o: &CapacityOptions) -> Result<Vec<RunSpec>> {
    let dims = dims(o.quick);
    let folder = match o.shard {
        None => o.out.join("tune"),
        Some((k, n)) => o.out.join(format!("tune-shard-{k}-of-{n}")),
    };
    let mut specs = Vec::new();
    for &head in &o.heads {
        let m = model(head, dims.tune_at.0)?;
        let n = samples_for(&m, dims.tune_at.1)?;
        for lr in LRS {
            let c = config(m.clone(), n, 0, lr, dims.max_epochs);
            specs.push(spec(folder.join(head.name()).join(format!("lr{lr:e}")), c));
        }
    }
    Ok(specs)
}

/// Stage 2: head × size × dataset size × seed, each head at its learning rate, in this order.
pub fn grid_plan(o: &CapacityOptions, lrs: &[(HeadKind, f64)]) -> Result<Vec<RunSpec>> {
    let dims = dims(o.quick);
    let mut specs = Vec::new();
    for &(head, lr) in lrs {
        for size in 0..dims.sizes {
            let m = model(head, size)?;
            for &bpp in &dims.data {
                let n = samples_for(&m, bpp)?;
                for seed in SEEDS {
                    let dir =
                        o.out.join("grid").join(head.name()).join(format!("d{}", m.d_model)).join(format!("n{n}"));
                    specs.push(spec(dir.join(format!("seed{seed}")), config(m.clone(), n, seed, lr, dims.max_epochs)));
                }
            }
        }
    }
    Ok(match o.shard {
        Some((k, n)) => crate::sweep::shard(specs, k, n),
        None => specs,
    })
}

/// The learning rate of each head: the one whose tuning run stored the most bits.
pub fn choose_lrs(heads: &[HeadKind], tuning: &[runner::Outcome]) -> Vec<(HeadKind, f64)> {
    heads
        .iter()
        .map(|&head| {
            let best = tuning
                .iter()
                .filter(|o| o.report.head == head)
                .max_by(|a, b| bits(a).total_cmp(&bits(b)))
                .map_or(LRS[1], lr_of);
            (head, best)
        })
        .collect()
}

fn bits(o: &runner::Outcome) -> f64 {
    o.report.memorized_bits.unwrap_or(f64::NEG_INFINITY)
}

fn lr_of(o: &runner::Outcome) -> f64 {
    crate::RunDir { path: o.report.run_dir.clone().into() }.read_config().map_or(LRS[1], |c| c.lr)
}

/// Runs a plan `jobs` at a time and returns the outcomes in plan order, as far as it got (the
/// caller's display and signal handling: `progress::run_plan`).
pub type PlanRunner<'a> = dyn Fn(&[RunSpec], usize) -> Result<Vec<runner::Outcome>> + 'a;

/// Tunes, runs the grid (or one shard of it) and summarizes what ran. An interrupt stops it
/// early, with what it has (`interrupted` is then set).
pub fn run(o: &CapacityOptions, run_plan: &PlanRunner<'_>) -> Result<CapacityReport> {
    let tuning_specs = tuning_plan(o)?;
    let tuning = run_plan(&tuning_specs, o.jobs)?;
    if tuning.len() < tuning_specs.len() {
        return Ok(CapacityReport { interrupted: true, ..summarize(o, &tuning, &[], &[]) });
    }
    let lrs = choose_lrs(&o.heads, &tuning);
    let grid_specs = grid_plan(o, &lrs)?;
    let grid = run_plan(&grid_specs, o.jobs)?;
    let interrupted =
        grid.len() < grid_specs.len() || grid.iter().any(|g| g.report.stopped == crate::Stopped::Interrupted);
    Ok(CapacityReport { interrupted, ..summarize(o, &tuning, &lrs, &grid) })
}

/// Writes capacity.json, capacity.md and the two plots into `out`.
pub fn write(report: &CapacityReport, out: &Path) -> Result<()> {
    std::fs::create_dir_all(out).map_err(|e| Error::io(format!("creating {}", out.display()), e))?;
    let json = serde_json::to_string_pretty(report).expect("a report serializes");
    crate::fsutil::write_atomic(&out.join("capacity.json"), json.as_bytes())?;
    crate::fsutil::write_atomic(&out.join("capacity.md"), report.markdown().as_bytes())?;
    plot::curves(report, &out.join("capacity_curves.svg"))?;
    plot::against_params(report, &out.join("capacity_params.svg"))
}
