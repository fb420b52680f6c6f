//! How much the study runs: seeds, caps and sizes, for the full study (≤ 40 minutes with
//! `--jobs 2` on a shared two-core machine) and for `--quick` (a test, well under 5 minutes).

use serde::Serialize;

/// A trunk of the log's ideas 1+2+3 (flatten head, d_ff = d_model as in run id 4).
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Trunk {
    pub num_blocks: usize,
    pub d_model: usize,
    pub seq_length: usize,
}

/// Every size the study's experiments take.
#[derive(Clone, Debug, Serialize)]
pub struct Budget {
    /// The log's training set: the first 432 windows.
    pub windows: usize,
    /// Learning rates tried per head, the seeds of the tuning, and its epoch cap.
    pub lrs: Vec<f64>,
    pub tune_seeds: Vec<u64>,
    pub tune_epochs: u64,
    /// The seeds of every headline comparison, and the epoch cap of a memorization run.
    pub seeds: Vec<u64>,
    pub memorize_epochs: u64,
    /// Bottleneck widths k, conv kernels K, tied depths N.
    pub ks: Vec<usize>,
    pub kernels: Vec<usize>,
    pub depths: Vec<usize>,
    /// Ideas 1+2+3 together, and their epoch cap (windows shorter than 32 cannot all be memorized).
    pub combined: Vec<Trunk>,
    pub combined_epochs: u64,
    /// The learning rate of the ideas 1+2+3 runs, whose trunks are far from the one the rates were
    /// tuned on (a rate tuned on seed-id4 need not carry over to d = 64, N = 4).
    pub untuned_lr: f64,
    /// Window lengths for flatten against causal, their seeds and epoch cap.
    pub lengths: Vec<usize>,
    pub length_seeds: Vec<u64>,
    pub length_epochs: u64,
    /// The generalisation experiment. Three splits of the text: the first N windows train, a
    /// validation tail chooses (the learning rate, the early stop, the n-gram order) and a test
    /// tail, read once at the end of each run, reports. N grows geometrically (`sizes`, then every
    /// training window the text has).
    pub sizes: Vec<usize>,
    /// Variants the generalisation experiment leaves out: `causal --loss-positions last` is `last`
    /// with one block (the same function and the same init: heads/tests/equivalences.rs).
    pub gen_leaves_out: Vec<&'static str>,
    pub gen_seeds: Vec<u64>,
    pub val_fraction: f64,
    pub test_fraction: f64,
    /// Every run stops early after `gen_patience` steps without a better validation loss and
    /// reports from its best weights; `gen_max_steps` caps it (a capped run is reported as such).
    pub gen_max_steps: u64,
    pub gen_patience: u64,
    pub eval_every: u64,
    /// An early-stopped run also evaluates at least once an epoch, but never more often than
    /// this: at 1,728 windows an epoch is 54 steps, and at every 500 steps every seed's best
    /// weights were those of the first evaluation, already past the best (session 7).
    pub gen_min_eval_every: u64,
    pub eval_windows: usize,
    /// Rates tuned for validation loss at the largest N, on these seeds (extended past an end).
    pub gen_lrs: Vec<f64>,
    pub gen_tune_seeds: Vec<u64>,
    /// The speed view: every head after this many steps, whatever its validation loss.
    pub equal_steps: u64,
    /// One comparison at a matched total parameter count, at the largest N: (variant, d_model).
    pub matched: Vec<(&'static str, usize)>,
    /// The longest n-gram of the baselines.
    pub max_order: usize,
}

/// The learning rates a head is tuned over.
pub const LRS: [f64; 4] = [3e-4, 1e-3, 3e-3, 1e-2];

const fn trunk(num_blocks: usize, d_model: usize, seq_length: usize) -> Trunk {
    Trunk { num_blocks, d_model, seq_length }
}

impl Budget {
    pub fn of(quick: bool) -> Budget {
        if quick {
            Self::quick()
        } else {
            Self::full()
        }
    }

    /// Sized from measured runs on a shared two-core machine (README of study/ in REPORT.md).
    fn full() -> Budget {
        Budget {
            windows: train::data::DEFAULT_SAMPLES,
            lrs: LRS.to_vec(),
            tune_seeds: vec![100, 101],
            tune_epochs: 100,
            seeds: (0..5).collect(),
            memorize_epochs: 150,
            ks: vec![1, 2, 4, 8, 16, 32, 64, 128],
            kernels: vec![1, 3, 5, 9],
            depths: vec![1, 2, 3, 5],
            combined: vec![trunk(1, 16, 32), trunk(4, 64, 32), trunk(2, 32, 16), trunk(4, 64, 8)],
            combined_epochs: 100,
            untuned_lr: 1e-3,
            lengths: vec![32, 64, 128, 256, 512],
            length_seeds: (0..3).collect(),
            length_epochs: 20,
            sizes: vec![1728, 6912, 27648, 110592, 442368],
            gen_leaves_out: vec!["causal-last"],
            gen_seeds: (0..3).collect(),
            val_fraction: 0.05,
            test_fraction: 0.05,
            gen_max_steps: 40_000,
            gen_patience: 4_000,
            eval_every: 500,
            gen_min_eval_every: 50,
            eval_windows: 2048,
            gen_lrs: vec![1e-3, 3e-3, 1e-2, 3e-2],
            gen_tune_seeds: vec![200, 201],
            equal_steps: 2_000,
            // About 34K parameters each: flatten narrowed to d 4, the others widened.
            matched: vec![("flatten", 4), ("tied", 26), ("causal", 56), ("last", 56)],
            max_order: 6,
        }
    }

    /// Every experiment and every head, in miniature: the study's test.
    fn quick() -> Budget {
        Budget {
            windows: train::data::DEFAULT_SAMPLES,
            lrs: vec![1e-3, 1e-2],
            tune_seeds: vec![100],
            tune_epochs: 4,
            seeds: vec![0, 1],
            memorize_epochs: 6,
            ks: vec![2, 16],
            kernels: vec![1, 3],
            depths: vec![1, 2],
            combined: vec![trunk(1, 16, 32), trunk(2, 32, 16)],
            combined_epochs: 3,
            untuned_lr: 1e-3,
            lengths: vec![32, 64],
            length_seeds: vec![0, 1],
            length_epochs: 3,
            sizes: vec![108, 432],
            gen_leaves_out: vec!["causal-last"],
            gen_seeds: vec![0, 1],
            val_fraction: 0.15,
            test_fraction: 0.15,
            gen_max_steps: 60,
            gen_patience: 20,
            eval_every: 10,
            gen_min_eval_every: 10,
            eval_windows: 256,
            gen_lrs: vec![1e-3, 1e-2],
            gen_tune_seeds: vec![200],
            equal_steps: 20,
            matched: vec![("flatten", 4), ("causal", 56)],
            max_order: 4,
        }
    }
}
