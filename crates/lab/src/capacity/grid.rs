//! The models, datasets and run configs of the capacity grid, and its plan.

use super::{CapacityOptions, DATA_BITS, LARGEST_DATA_BITS, LARGEST_SEEDS, SEEDS};
use heads::{HeadKind, ModelConfig};
use std::path::{Path, PathBuf};
use train::config::TrainConfig;
use train::error::{Error, Result};
use train::optim::Schedule;
use train::runner::RunSpec;
use train::settings::Overrides;

/// The optimizer steps of every default run, planned to fit about 6 hours of both cores.
/// Per-step costs, `overfit bench --threads 1` (one thread a run, as under `--jobs 2`; L 32, one
/// block) on this 2-core machine: 0.6–1.0 ms at d 2–8, 0.7–1.2 ms at d 16, 1.3–2.6 ms at d 32,
/// 3.3–6.1 ms at d 64; timed capacity runs at d 112 (causal) took ~15 ms a step. With the
/// largest of these per width, two full evaluations a run (step 0 and the end, ~1/60 of a step
/// a window), and one range extension per tuned size, the default grid with `--certify` is
/// 1,311 runs (573 points × 1× and 2×, 165 tuning runs) and ≈ 34,700 core-seconds: ≈ 4.8 h of
/// wall time with `--jobs 2`. Timed runs while other builds shared the machine went 1.3–2×
/// slower; the margin to 6 h is for that. 12,288 steps would be ≈ 7.2 h.
///
/// Measured at the seed-id4 size (d 16, 6,352 parameters; 14,560 tied), 4 bits/parameter, seed 0,
/// each at its tuned rate: causal stores 17,650 bits at 8,192 steps and certifies (2×: −1.3%);
/// the window heads do not: last 11,858 → 14,430 (16K) → 16,396 (32K) → 17,650 (64K), tied
/// 20,194 → 23,705 → 26,425 → 29,001. A window head sees one target per sample, so at equal
/// steps it sees its data 32× less often: at this budget the default grid certifies causal
/// points, and the window heads' points stay lower bounds. Certifying them needs ≥ 64K steps,
/// which the 6-hour budget affords only for a much smaller grid (fewer heads or sizes).
/// One such point is one command: `overfit capacity --preset seed-id4 --heads causal,last,tied
/// --data-bits 4 --seeds 0 --steps S --certify` (S = 8192, 16384, 32768: `--certify` adds 2S).
pub const DEFAULT_STEPS: u64 = 8192;

/// L of the default models: the log's window, so that position 0's short context is 1/32 of a
/// causal model's targets, as in the log.
pub const SEQ_LENGTH: usize = 32;
/// Widths of the default sizes (one block, 2 attention heads, d_ff = d as in seed-id4): from
/// 2.8K parameters (causal and last at d 8) to 44K (last at d 64), 81–111K (bottleneck, rnn,
/// td-dense, conv) and 175K (tied).
const D_MODELS: [usize; 4] = [8, 16, 32, 64];
/// Causal also gets a size past 100K parameters (d 112: 109K), as Morris et al.'s smallest is 500K.
const CAUSAL_D_MODELS: [usize; 5] = [8, 16, 32, 64, 112];
/// The flatten head grows with L·d·V (17K parameters at d 2, 69K at d 8): narrower widths keep it
/// in range.
const FLATTEN_D_MODELS: [usize; 4] = [2, 4, 6, 8];
/// `--quick`'s two sizes.
const QUICK_D_MODELS: [usize; 2] = [8, 16];
const QUICK_FLATTEN_D_MODELS: [usize; 2] = [2, 4];

/// Which model sizes each head is measured at.
#[derive(Clone, Debug)]
pub enum Models {
    /// The default grid's widths per head (or `--quick`'s), at L 32.
    Default { quick: bool },
    /// One model: the preset and the model flags given.
    One(ModelConfig),
    /// `--sizes`: d_model over these widths, the rest as given; d_ff keeps the preset's d_ff/d
    /// ratio unless `--d-ff` was given.
    Sizes { base: ModelConfig, d_models: Vec<usize>, scale_d_ff: bool },
}

impl Models {
    /// From the preset, the model flags and `--sizes`: no model flag and no `--sizes` is the
    /// default grid; `--sizes` with `--d-model` is refused.
    pub fn from_flags(
        preset: Option<&str>,
        flags: &Overrides,
        sizes: Option<Vec<usize>>,
        quick: bool,
    ) -> Result<Models> {
        if flags.contains_key("head") {
            return Err(Error::usage("--head", "capacity takes --heads"));
        }
        if sizes.is_some() && flags.contains_key("d_model") {
            return Err(Error::usage("--sizes", "varies d_model: give --sizes or --d-model, not both"));
        }
        let given = preset.is_some() || !flags.is_empty();
        if !given && sizes.is_none() {
            return Ok(Models::Default { quick });
        }
        let base = train::settings::resolve_model(preset, flags)?;
        Ok(match sizes {
            Some(d_models) => Models::Sizes { base, d_models, scale_d_ff: !flags.contains_key("d_ff") },
            None => Models::One(base),
        })
    }

    /// The models of one head, smallest first.
    pub fn of(&self, head: HeadKind) -> Result<Vec<ModelConfig>> {
        match self {
            Models::Default { quick } => {
                let widths: &[usize] = match (quick, head) {
                    (true, HeadKind::Flatten) => &QUICK_FLATTEN_D_MODELS,
                    (true, _) => &QUICK_D_MODELS,
                    (false, HeadKind::Flatten) => &FLATTEN_D_MODELS,
                    (false, HeadKind::Causal) => &CAUSAL_D_MODELS,
                    (false, _) => &D_MODELS,
                };
                widths.iter().map(|&d| default_model(head, d)).collect()
            }
            Models::One(base) => Ok(vec![with_head(base.clone(), head)?]),
            Models::Sizes { base, d_models, scale_d_ff } => d_models
                .iter()
                .map(|&d| {
                    let mut m = base.clone();
                    if *scale_d_ff {
                        m.d_ff = (m.d_ff * d / m.d_model).max(1);
                    }
                    m.d_model = d;
                    with_head(m, head).map_err(|e| Error::usage("--sizes", format!("d_model {d}: {e}")))
                })
                .collect(),
        }
    }

    pub fn is_default(&self) -> bool {
        matches!(self, Models::Default { .. })
    }
}

/// A default-grid model: seed-id4 (L 32, one block, 2 heads) at width d, d_ff = d.
fn default_model(head: HeadKind, d: usize) -> Result<ModelConfig> {
    let mut m = ModelConfig::preset(heads::config::DEFAULT_PRESET)?;
    (m.seq_length, m.d_model, m.num_blocks, m.num_heads, m.d_ff) = (SEQ_LENGTH, d, 1, 2, d);
    // The td-dense and conv heads reduce d to d / reduce channels: at least one.
    m.reduce = m.reduce.min(d);
    with_head(m, head)
}

fn with_head(mut m: ModelConfig, head: HeadKind) -> Result<ModelConfig> {
    m.head = head;
    m.drop_flags_not_taken();
    m.validate()?;
    Ok(m)
}

/// A folder name that tells the model's shape apart.
pub fn model_dir(m: &ModelConfig) -> String {
    format!("L{}-d{}-N{}-h{}-F{}", m.seq_length, m.d_model, m.num_blocks, m.num_heads, m.d_ff)
}

/// Total parameters of a model.
pub fn params_of(m: &ModelConfig) -> Result<usize> {
    Ok(heads::Model::<f32>::shapes_only(m)?.1.numel())
}

/// Samples (windows, or sequences of L targets for a per-position head) holding about
/// `bits_per_param` × the model's parameters of random targets.
pub fn samples_for(m: &ModelConfig, bits_per_param: f64) -> Result<usize> {
    let targets_per_sample = if m.per_position() { m.seq_length } else { 1 };
    let bits = bits_per_param * params_of(m)? as f64;
    Ok(((bits / (8.0 * targets_per_sample as f64)).round() as usize).max(1))
}

/// One capacity run: random data, exactly `steps` steps (5% linear warm-up, cosine decay to 0),
/// evaluated on every target at the end (and at step 0).
pub fn config(m: ModelConfig, samples: usize, seed: u64, lr: f64, steps: u64) -> TrainConfig {
    let mut c = TrainConfig::default_run();
    c.preset = "capacity".into();
    c.model = m;
    (c.random_data, c.data, c.samples, c.seed, c.lr) = (true, None, Some(samples), seed, lr);
    (c.until_memorized, c.until_plateau, c.steps, c.epochs) = (false, None, Some(steps), None);
    (c.warmup, c.schedule, c.min_lr) = (steps / 20, Schedule::Cosine, 0.0);
    // Only the end's evaluation counts; one of every training target costs as much as a few
    // hundred steps on the largest datasets, so there is no other (the log rows keep the
    // running training loss).
    (c.eval_every, c.eval_windows) = (Some(steps), Some(samples));
    c.checkpoint_every = 2000;
    // 100 log rows a run: the default (every epoch of a few steps) wrote a row, and redrew
    // curves.svg, every 5 steps of a small causal run, which cost as much as a step.
    c.log_every = Some((steps / 100).max(1));
    c
}

pub fn spec(dir: PathBuf, config: TrainConfig) -> RunSpec {
    let label = dir.iter().rev().take(5).collect::<Vec<_>>().into_iter().rev().collect::<PathBuf>();
    RunSpec { label: label.display().to_string(), dir, config }
}

/// The 2× run of a point lives beside it.
pub fn twice_dir(dir: &Path) -> PathBuf {
    let mut name = dir.file_name().unwrap_or_default().to_os_string();
    name.push("-2x");
    dir.with_file_name(name)
}

/// The dataset sizes and seeds of a head's size `i` of `count`: fewer at the default grid's
/// largest size.
fn dims(o: &CapacityOptions, i: usize, count: usize) -> (Vec<f64>, Vec<u64>) {
    let largest = o.models.is_default() && !o.quick && count > 1 && i + 1 == count;
    let data =
        o.data_bits.clone().unwrap_or_else(|| if largest { LARGEST_DATA_BITS.to_vec() } else { DATA_BITS.to_vec() });
    let seeds = o.seeds.clone().unwrap_or_else(|| SEEDS[..if largest { LARGEST_SEEDS } else { SEEDS.len() }].to_vec());
    (data, seeds)
}

/// The dataset sizes a head's size `i` of `count` is measured on (for the tuning's knee).
pub fn data_bits_of(o: &CapacityOptions, i: usize, count: usize) -> Vec<f64> {
    dims(o, i, count).0
}

/// head × size × dataset size × seed (× 1×, 2× with `--certify`), each size at its tuned rate
/// (`lr_of`, from the tuning),
/// in this order; then this shard's share.
pub fn plan(o: &CapacityOptions, lr_of: impl Fn(HeadKind, &ModelConfig) -> f64) -> Result<Vec<RunSpec>> {
    let mut specs = Vec::new();
    for &head in &o.heads {
        let models = o.models.of(head)?;
        for (i, m) in models.iter().enumerate() {
            let (lr, steps) = (lr_of(head, m), o.steps_for(m));
            let (data, seeds) = dims(o, i, models.len());
            for &bpp in &data {
                let n = samples_for(m, bpp)?;
                let dir = o.out.join("grid").join(head.name()).join(model_dir(m)).join(format!("steps{steps}"));
                let dir = dir.join(format!("lr{lr:e}")).join(format!("n{n}"));
                for &seed in &seeds {
                    let one = dir.join(format!("seed{seed}"));
                    specs.push(spec(one.clone(), config(m.clone(), n, seed, lr, steps)));
                    if o.certify {
                        specs.push(spec(twice_dir(&one), config(m.clone(), n, seed, lr, 2 * steps)));
                    }
                }
            }
        }
    }
    Ok(match o.shard {
        Some((k, n)) => crate::sweep::shard(specs, k, n),
        None => specs,
    })
}
