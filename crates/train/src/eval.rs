//! Evaluation: which windows are read, and the loss, accuracy and memorized count over them.
//!
//! A window is *memorized* when the model's most likely next byte after the whole window (its
//! argmax) is the byte that follows it in the data. A window head predicts only that byte, so
//! memorized / windows is its accuracy. A per-position head (`causal`) predicts every byte of the
//! window; it is also counted by the stricter *memorized at every position*
//! (`memorized_all_positions`): windows whose every prediction is right, the window known by heart.
//!
//! Evaluation must cost in proportion to training (README, "Evaluation"):
//! - Few training windows (at most [`EXACT_EVAL_MAX`], or `--eval-windows`): every one of them is
//!   evaluated, every time, so the memorized count is exact.
//! - Many: an evenly spaced sample, sized so that evaluation takes about [`EVAL_SHARE`] of the
//!   run, unless `--eval-windows` fixes it.
//! - A per-position head is evaluated on non-overlapping windows (stride L) whenever it is
//!   sampled, and always on validation, so that each byte is predicted once.
//! - At the end, one full validation pass (up to [`FINAL_EVAL_MAX`] windows).
//!
//! `overfit eval` reads a checkpoint on a file with [`evaluate_checkpoint`].

use crate::checkpoint::Checkpoint;
use crate::data::{eval_starts, Batch, Corpus, Split};
use crate::error::Result;
use autograd::{ParamSet, Tape};
use heads::Model;
use rayon::prelude::*;
use serde::Serialize;
use std::f64::consts::LN_2;
use std::path::Path;

/// Training windows evaluated in full at every evaluation, up to this many.
pub const EXACT_EVAL_MAX: usize = 8192;
/// The share of a run's compute that periodic evaluation aims at when the data is large.
pub const EVAL_SHARE: f64 = 0.1;
/// A training step costs about this many forward passes (forward, backward and the update).
const STEP_COST_IN_FORWARDS: f64 = 3.0;
/// The fewest windows a sampled evaluation reads, so that its loss is not mere noise.
const MIN_SAMPLE: usize = 128;
/// The most windows the final validation pass reads (evenly spaced beyond it).
pub const FINAL_EVAL_MAX: usize = 1 << 16;
/// Positions per evaluation batch: a batch of windows holds every intermediate value of its
/// forward pass at once (the tape keeps them), so its size is set in positions, like a training
/// micro-batch (16 windows of 64), to stay in cache and out of the allocator's huge-block path
/// (64 windows of 64 took 240 MB and twice the time, half of it in the kernel zeroing pages).
const EVAL_POSITIONS: usize = 1024;

/// Evaluation of a set of windows.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Evaluation {
    /// Mean cross-entropy over every target (nats).
    pub loss: f64,
    /// Fraction of targets whose argmax prediction is right.
    pub accuracy: f64,
    /// Windows whose next-byte prediction (after the whole window) is right.
    pub memorized: usize,
    /// Windows whose every prediction is right (equal to `memorized` for a window head).
    pub memorized_all_positions: usize,
    pub windows: usize,
    /// Mean cross-entropy (nats) of each window's last prediction only (the byte after the whole
    /// window): the like-for-like figure across window and per-position heads.
    pub last_loss: f64,
    /// With `per_sample` (random data, capacity): Σ over windows of max(0, Σ over the window's
    /// targets of 8 − CE bits). Morris et al. clip each sample at 0, so a sample the model
    /// predicts worse than uniform counts as nothing stored rather than as a debt.
    pub memorized_bits_clipped: Option<f64>,
}

/// The windows each kind of evaluation reads, fixed for the whole run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EvalPlan {
    /// Training windows read at every evaluation (and for the final report).
    pub train: Vec<usize>,
    /// Validation windows read at every evaluation (empty without a split).
    pub val: Vec<usize>,
    /// Validation windows of the final pass.
    pub final_val: Vec<usize>,
    /// Test windows, read once at the end (empty without a test split).
    pub test: Vec<usize>,
}

impl EvalPlan {
    /// `cap`: `--eval-windows` if given. `trained_between`: windows trained between two evaluations.
    pub fn new(split: &Split, cap: Option<usize>, trained_between: u64) -> EvalPlan {
        let l = split.seq_length;
        let stride = if split.targets_per_window > 1 { l } else { 1 };
        let splits = if split.val_windows > 0 { 2.0 } else { 1.0 };
        let auto = (EVAL_SHARE * STEP_COST_IN_FORWARDS * trained_between as f64 / splits) as usize;
        let sample = cap.unwrap_or(auto.max(MIN_SAMPLE));
        let train = if split.train_windows <= cap.unwrap_or(EXACT_EVAL_MAX) {
            eval_starts(0, split.train_windows, 1, usize::MAX)
        } else {
            eval_starts(0, split.train_windows, stride, sample)
        };
        let val_windows = |cap| eval_starts(split.val_start, split.val_windows, stride, cap);
        let (val, final_val) = if split.val_windows > 0 {
            (val_windows(sample), val_windows(FINAL_EVAL_MAX))
        } else {
            (Vec::new(), Vec::new())
        };
        let test = eval_starts(split.test_start, split.test_windows, stride, FINAL_EVAL_MAX);
        EvalPlan { train, val, final_val, test }
    }
}

/// Loss, accuracy and memorized windows over the windows starting at `starts`, in batches, with
/// no graph recorded. Chunks run in parallel and their sums are added in order: the same bits on
/// any thread count. `per_sample` also sums each window's stored bits clipped at 0 (it costs one
/// more softmax per target, so only capacity runs ask for it).
pub fn evaluate(
    model: &Model<f32>,
    params: &ParamSet<f32>,
    bytes: &[u8],
    split: &Split,
    starts: &[usize],
    per_sample: bool,
) -> Evaluation {
    evaluate_observed(model, params, bytes, split, starts, per_sample, &|_| {})
}

/// [`evaluate`], calling `done(windows)` as each batch finishes (a progress bar).
pub fn evaluate_observed(
    model: &Model<f32>,
    params: &ParamSet<f32>,
    bytes: &[u8],
    split: &Split,
    starts: &[usize],
    per_sample: bool,
    done: &(dyn Fn(usize) + Sync),
) -> Evaluation {
    let windows_per_batch = (EVAL_POSITIONS / split.seq_length).max(1);
    let per_chunk: Vec<ChunkSums> = starts
        .par_chunks(windows_per_batch)
        .map(|chunk| {
            let sums = evaluate_chunk(model, params, bytes, split, chunk, per_sample);
            done(chunk.len());
            sums
        })
        .collect();
    let mut t = ChunkSums::default();
    for c in per_chunk {
        t.loss += c.loss;
        t.last_loss += c.last_loss;
        t.targets += c.targets;
        t.correct += c.correct;
        t.memorized += c.memorized;
        t.memorized_all_positions += c.memorized_all_positions;
        t.clipped_bits += c.clipped_bits;
    }
    Evaluation {
        loss: t.loss / t.targets.max(1) as f64,
        accuracy: t.correct as f64 / t.targets.max(1) as f64,
        memorized: t.memorized,
        memorized_all_positions: t.memorized_all_positions,
        windows: starts.len(),
        last_loss: t.last_loss / starts.len().max(1) as f64,
        memorized_bits_clipped: per_sample.then_some(t.clipped_bits),
    }
}

/// At each position of a window, Σ over the windows starting at `starts` of 8 − CE bits: what a
/// model stores of random targets, position by position (one entry for a window head). A causal
/// model's first positions see too little of their sequence to tell it from the others (issue 24).
/// Summed in chunk order, like [`evaluate`]: the same bits on any thread count.
pub fn bits_by_position(
    model: &Model<f32>,
    params: &ParamSet<f32>,
    bytes: &[u8],
    split: &Split,
    starts: &[usize],
) -> Vec<f64> {
    let windows_per_batch = (EVAL_POSITIONS / split.seq_length).max(1);
    let chunks: Vec<Vec<f64>> = starts
        .par_chunks(windows_per_batch)
        .map(|chunk| evaluate_chunk(model, params, bytes, split, chunk, true).position_bits)
        .collect();
    let mut total = vec![0.0; split.targets_per_window];
    for c in chunks {
        total.iter_mut().zip(&c).for_each(|(t, b)| *t += b);
    }
    total
}

/// What one batch of an evaluation adds up.
#[derive(Default)]
struct ChunkSums {
    /// Cross-entropy summed over every target, and over the windows' last targets only.
    loss: f64,
    last_loss: f64,
    targets: usize,
    correct: usize,
    memorized: usize,
    memorized_all_positions: usize,
    /// Σ over windows of max(0, the window's stored bits), when asked for, and the loss summed
    /// in f64 from the same per-target cross-entropies.
    clipped_bits: f64,
    exact_loss: f64,
    /// Σ over windows of 8 − CE bits at each position, when asked for.
    position_bits: Vec<f64>,
}

/// −ln softmax(row)[t], in f64.
pub fn cross_entropy(row: &[f32], t: usize) -> f64 {
    let max = row.iter().fold(f32::NEG_INFINITY, |m, &x| m.max(x)) as f64;
    let sum: f64 = row.iter().map(|&x| (x as f64 - max).exp()).sum();
    max + sum.ln() - row[t] as f64
}

/// The information a model holds about uniformly random byte targets (SPEC §4, capacity):
/// Σ over the targets of (8 − cross-entropy in bits), from their mean cross-entropy in nats.
/// A uniform guess over the 256 byte values scores 0; a certain right answer scores 8 bits.
pub fn memorized_bits(mean_loss_nats: f64, targets: usize) -> f64 {
    targets as f64 * (8.0 - mean_loss_nats / std::f64::consts::LN_2)
}

/// The bits a sample stores, clipped at 0, from the cross-entropies (nats) of its targets.
pub fn clipped_sample_bits(ces: impl IntoIterator<Item = f64>) -> f64 {
    ces.into_iter().map(|ce| 8.0 - ce / std::f64::consts::LN_2).sum::<f64>().max(0.0)
}

/// The sums of one batch.
fn evaluate_chunk(
    model: &Model<f32>,
    params: &ParamSet<f32>,
    bytes: &[u8],
    split: &Split,
    chunk: &[usize],
    per_sample: bool,
) -> ChunkSums {
    let (v, per_window) = (model.config.vocab_size, split.targets_per_window);
    let mut batch = Batch::default();
    batch.fill(bytes, split, chunk.iter().copied());
    let mut tape = Tape::no_record(params);
    let (loss, logits) = model.loss(&mut tape, &batch.ids, &batch.targets);
    let logits = tape.value(logits).as_slice().expect("contiguous");
    let mut sums = ChunkSums { targets: batch.targets.len(), ..ChunkSums::default() };
    for (w, ts) in batch.targets.chunks(per_window).enumerate() {
        let mut all_right = true;
        let row_of = |p: usize| &logits[(w * per_window + p) * v..(w * per_window + p + 1) * v];
        if per_sample {
            let ces: Vec<f64> = ts.iter().enumerate().map(|(p, &t)| cross_entropy(row_of(p), t as usize)).collect();
            sums.exact_loss += ces.iter().sum::<f64>();
            sums.position_bits.resize(per_window, 0.0);
            sums.position_bits.iter_mut().zip(&ces).for_each(|(b, ce)| *b += 8.0 - ce / std::f64::consts::LN_2);
            sums.clipped_bits += clipped_sample_bits(ces);
        }
        for (p, &t) in ts.iter().enumerate() {
            let row = row_of(p);
            let right = argmax(row) == t as usize;
            sums.correct += right as usize;
            all_right &= right;
            // The window's own next byte, b[i+L], is the last target of its row(s).
            if p + 1 == per_window {
                sums.memorized += right as usize;
                sums.last_loss += cross_entropy(row, t as usize);
            }
        }
        sums.memorized_all_positions += all_right as usize;
    }
    sums.loss = tape.scalar(loss) as f64 * batch.targets.len() as f64;
    if per_sample {
        // The clipped and the plain sums must come from the same cross-entropies, or the f32
        // rounding of the tape's mean (~1e-7 of it) could put the clipped sum below the plain one
        // when no sample is negative.
        sums.loss = sums.exact_loss;
    }
    if per_window == 1 {
        // One target a window: the last position's loss is the loss, to the bit (SPEC §4).
        sums.last_loss = sums.loss;
    }
    sums
}

/// Index of the largest value (the first, on ties).
pub fn argmax(row: &[f32]) -> usize {
    let mut best = 0;
    for (i, &x) in row.iter().enumerate() {
        if x > row[best] {
            best = i;
        }
    }
    best
}

/// A checkpoint evaluated on a file (`overfit eval`). The JSON fields are in the order `eval
/// --json` has always printed them.
#[derive(Clone, Debug, Serialize)]
pub struct CheckpointEval {
    pub accuracy: f64,
    pub bits_per_byte: f64,
    /// Bits per byte of each window's last prediction only (SPEC §4).
    pub last_bits_per_byte: f64,
    /// Mean cross-entropy (nats).
    pub loss: f64,
    pub memorized: usize,
    /// Windows whose every position's prediction is right (equal to `memorized` for a window head).
    pub memorized_all_positions: usize,
    /// Windows read.
    pub samples: usize,
    /// "test" with a test tail, else "validation" with a held-out tail, else "train".
    pub split: &'static str,
    /// Windows of that part at this stride; `samples` of them were read (fewer under
    /// `--max-windows`, evenly spaced).
    pub windows_available: usize,
    /// Bytes between two windows' starts: 1, or L for a per-position head reading each byte once.
    pub stride: usize,
    #[serde(skip)]
    pub checkpoint: String,
    /// The data's name.
    #[serde(skip)]
    pub data: String,
    /// The head predicts every byte of a window (the text line then shows both memorized counts).
    #[serde(skip)]
    pub per_position: bool,
}

/// What `overfit eval` reads: the data, its part, and at most how many windows.
#[derive(Clone, Debug, Default)]
pub struct EvalRequest<'a> {
    pub data: Option<&'a Path>,
    pub samples: Option<usize>,
    pub val_fraction: Option<f64>,
    /// With a test tail, the test windows are read (and nothing else).
    pub test_fraction: Option<f64>,
    /// `--max-windows`: at most this many windows, evenly spaced (all of them when None).
    pub max_windows: Option<usize>,
    /// A progress bar on stderr when it is a terminal.
    pub progress: bool,
}

/// Evaluates the checkpoint at `path` on the request's data (default: the embedded corpus, its
/// first `DEFAULT_SAMPLES` windows): the test windows with `test_fraction`, else the validation
/// windows with `val_fraction`, else the training ones, read as training reads them ([`EvalPlan`]): every window of a small training part (an
/// exact memorized count), and a per-position head's windows without overlap otherwise, so each
/// byte is predicted once. `--max-windows` keeps an evenly spaced sample, stated in the result.
pub fn evaluate_checkpoint(path: &Path, req: &EvalRequest<'_>) -> Result<CheckpointEval> {
    if req.max_windows == Some(0) {
        return Err(crate::Error::usage("--max-windows", "must be at least 1"));
    }
    let (ck, model, params) = Checkpoint::load_model(path)?;
    let corpus = match req.data {
        Some(p) => Corpus::open(p)?,
        None => Corpus::Embedded,
    };
    let samples = req.samples.or(if req.data.is_none() { Some(crate::data::DEFAULT_SAMPLES) } else { None });
    let per_position = model.config.per_position();
    let l = ck.config.model.seq_length;
    let fractions = (req.val_fraction, req.test_fraction);
    let split = Split::with_test(corpus.bytes().len(), l, per_position, samples, fractions, &corpus.name())?;
    let (part, first, count) = if split.test_windows > 0 {
        ("test", split.test_start, split.test_windows)
    } else if split.val_windows > 0 {
        ("validation", split.val_start, split.val_windows)
    } else {
        ("train", 0, split.train_windows)
    };
    let exact = part == "train" && count <= EXACT_EVAL_MAX;
    let stride = if per_position && !exact { l } else { 1 };
    let available = count.div_ceil(stride);
    let starts = eval_starts(first, count, stride, req.max_windows.unwrap_or(usize::MAX));
    let bar = progress_bar(req.progress, starts.len());
    let ev = evaluate_observed(&model, &params, corpus.bytes(), &split, &starts, false, &|n| bar.inc(n as u64));
    bar.finish_and_clear();
    Ok(CheckpointEval {
        accuracy: ev.accuracy,
        bits_per_byte: ev.loss / LN_2,
        last_bits_per_byte: ev.last_loss / LN_2,
        loss: ev.loss,
        memorized: ev.memorized,
        memorized_all_positions: ev.memorized_all_positions,
        samples: ev.windows,
        split: part,
        windows_available: available,
        stride,
        checkpoint: path.display().to_string(),
        data: corpus.name(),
        per_position,
    })
}

/// A bar on stderr for a long evaluation, hidden when stderr is no terminal (or not asked for).
fn progress_bar(show: bool, windows: usize) -> indicatif::ProgressBar {
    use std::io::IsTerminal;
    if !(show && std::io::stderr().is_terminal()) {
        return indicatif::ProgressBar::hidden();
    }
    let style = indicatif::ProgressStyle::with_template("eval {bar:30} {pos}/{len} windows {per_sec} eta {eta}")
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
    indicatif::ProgressBar::new(windows as u64).with_style(style)
}
