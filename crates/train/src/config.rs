//! The fully resolved configuration of a training run (`config.json` of a run folder).

use crate::optim::{OptimizerKind, Schedule};
use heads::ModelConfig;
use serde::{Deserialize, Serialize};

/// Every setting of a run, with every default filled in. In a config file, missing fields take the
/// defaults of `overfit train`; unknown (or mistyped) fields are an error.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainConfig {
    /// The preset the model started from (flags may have overridden fields of it).
    pub preset: String,
    pub model: ModelConfig,
    /// The data file, or null for the embedded corpus.
    pub data: Option<String>,
    /// Train on seeded, uniformly random bytes instead (SPEC §4, capacity): `samples` independent
    /// samples drawn from `seed`, no validation split.
    pub random_data: bool,
    /// The first N windows (null: every window of the training part).
    pub samples: Option<usize>,
    /// The held-out tail of the file (null: no validation split), before the test tail if any.
    pub val_fraction: Option<f64>,
    /// The last part of the file, held out for testing only (null: none).
    pub test_fraction: Option<f64>,
    pub seed: u64,
    pub batch_size: usize,
    /// Each batch is split into micro-batches of this many windows, computed in parallel and their
    /// gradients summed in a fixed order: one thread hand-off per step instead of one per op, and
    /// the same bits on any number of threads. Changing it changes the rounding, not the maths.
    pub micro_batch: usize,
    pub lr: f64,
    /// The floor of the cosine schedule.
    pub min_lr: f64,
    pub optimizer: OptimizerKind,
    pub weight_decay: f64,
    pub warmup: u64,
    pub schedule: Schedule,
    /// Global gradient-norm clip (0: off).
    pub clip: f64,
    /// Stop after this many optimizer steps…
    pub steps: Option<u64>,
    /// …or after this many epochs.
    pub epochs: Option<u64>,
    /// …or as soon as every training window is memorized…
    pub until_memorized: bool,
    /// …or when the training loss stops falling.
    pub until_plateau: Option<Plateau>,
    /// Write checkpoint.bin every N steps (and at the end, on interrupt). 0: only at the end.
    pub checkpoint_every: u64,
    /// Log every N steps; null: at every epoch's end, at most 100 steps apart.
    pub log_every: Option<u64>,
    /// Evaluate every N steps (and at the end); null: at every log row.
    pub eval_every: Option<u64>,
    /// Windows a periodic evaluation reads (evenly spaced); null: every training window when
    /// there are few, else a sample sized to keep evaluation near a tenth of the run (`eval.rs`).
    pub eval_windows: Option<usize>,
    /// Stop when the validation loss (at each evaluation) has not improved for this many steps;
    /// the best weights are kept in best.bin and the report is computed from them.
    pub early_stop: Option<u64>,
}

/// The plateau rule: stop when the last `patience` evaluations of the training loss (every
/// training window, every `eval_every` steps) brought the best loss so far down by less than
/// `min_delta` nats. The loss history is read back from metrics.jsonl on resume, so the rule
/// needs no state of its own.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plateau {
    pub patience: usize,
    pub min_delta: f64,
}

impl Plateau {
    /// Whether the history of evaluated losses (oldest first) ends on a plateau.
    pub fn reached(&self, losses: &[f64]) -> bool {
        let Some(split) = losses.len().checked_sub(self.patience).filter(|&s| s > 0) else { return false };
        let best = |xs: &[f64]| xs.iter().copied().fold(f64::INFINITY, f64::min);
        best(&losses[..split]) - best(&losses[split..]) < self.min_delta
    }
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self::default_run()
    }
}

/// A change of one size of a config (the memory guard's remedies).
type Edit = dyn Fn(&mut TrainConfig);

impl TrainConfig {
    /// The defaults of `overfit train` with no flags: the log's run id 4 on the embedded corpus,
    /// 432 windows, until every window is memorized (at most 1000 epochs).
    pub fn default_run() -> Self {
        TrainConfig {
            preset: heads::config::DEFAULT_PRESET.into(),
            model: ModelConfig::preset(heads::config::DEFAULT_PRESET).expect("default preset exists"),
            data: None,
            random_data: false,
            samples: Some(crate::data::DEFAULT_SAMPLES),
            val_fraction: None,
            test_fraction: None,
            seed: 0,
            batch_size: 32,
            micro_batch: 16,
            lr: 1e-3,
            min_lr: 0.0,
            optimizer: OptimizerKind::Adam,
            weight_decay: 0.0,
            warmup: 0,
            schedule: Schedule::Constant,
            clip: 1.0,
            steps: None,
            epochs: Some(1000),
            until_memorized: true,
            until_plateau: None,
            checkpoint_every: 1000,
            log_every: None,
            eval_every: None,
            eval_windows: None,
            early_stop: None,
        }
    }

    /// Micro-batches in one batch.
    pub fn micro_batches(&self) -> usize {
        self.batch_size.div_ceil(self.micro_batch.max(1))
    }

    /// A rough upper estimate of the memory of one step besides the parameters and Adam's state.
    /// The tape of each micro-batch holds every intermediate value and, during backward, a gradient
    /// of each; as many tapes are alive at once as threads run micro-batches. Every micro-batch's
    /// parameter gradients are kept until they are summed in order (the fixed order that makes the
    /// result independent of the thread count), so those count once per micro-batch. Dominant
    /// activation terms: the logits (and their softmax), attention probabilities, the block's dense
    /// layers.
    pub fn step_bytes(&self, params: usize, threads: usize) -> u128 {
        let m = &self.model;
        let (mb, l, d, f, h, n, v) = (
            self.micro_batch.min(self.batch_size) as u128,
            m.seq_length as u128,
            m.d_model as u128,
            m.d_ff as u128,
            m.num_heads as u128,
            m.num_blocks as u128,
            m.vocab_size as u128,
        );
        let logits = if m.per_position() { mb * l * v } else { mb * v } * 3;
        let blocks = n * mb * l * (12 * d + 3 * f + 2 * h * l);
        let tape_floats = (logits + blocks + mb * l * d * 4) * 2; // values and their gradients
        let micro = self.micro_batches() as u128;
        let tapes_at_once = micro.min(threads.max(1) as u128);
        4 * (tape_floats * tapes_at_once + params as u128 * micro)
    }

    /// Checks the training settings (the model's are checked by ModelConfig::validate).
    pub fn validate(&self) -> crate::Result<()> {
        use crate::Error;
        self.model.validate()?;
        if self.model.vocab_size < heads::BYTE_VOCAB {
            return Err(Error::usage(
                "--vocab-size",
                format!(
                    "{} is too small for byte data: 256 byte values and the special token need at least 257",
                    self.model.vocab_size
                ),
            ));
        }
        if self.batch_size == 0 {
            return Err(Error::usage("--batch-size", "must be at least 1"));
        }
        if self.micro_batch == 0 {
            return Err(Error::usage("--micro-batch", "must be at least 1"));
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return Err(Error::usage("--lr", format!("must be a positive number, got {}", self.lr)));
        }
        if !(self.min_lr.is_finite() && self.min_lr >= 0.0 && self.min_lr <= self.lr) {
            return Err(Error::usage("--min-lr", format!("must be between 0 and --lr, got {}", self.min_lr)));
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return Err(Error::usage("--weight-decay", format!("must be 0 or more, got {}", self.weight_decay)));
        }
        if !(self.clip.is_finite() && self.clip >= 0.0) {
            return Err(Error::usage("--clip", format!("must be 0 (off) or more, got {}", self.clip)));
        }
        if self.steps == Some(0) {
            return Err(Error::usage("--steps", "must be at least 1"));
        }
        if self.epochs == Some(0) {
            return Err(Error::usage("--epochs", "must be at least 1"));
        }
        self.validate_random_data()?;
        if self.until_plateau.is_some_and(|p| p.patience == 0 || p.min_delta.is_nan() || p.min_delta < 0.0) {
            return Err(Error::usage("--until-plateau", "needs a patience of at least 1 and a min_delta of 0 or more"));
        }
        if self.steps.is_none() && self.epochs.is_none() && !self.until_memorized {
            return Err(Error::usage(
                "--steps",
                "give --steps, --epochs or --until-memorized: the run needs a way to end",
            ));
        }
        self.validate_cadence()?;
        self.check_memory()
    }

    /// Logging, evaluation and early stopping.
    fn validate_cadence(&self) -> crate::Result<()> {
        use crate::Error;
        if self.log_every == Some(0) {
            return Err(Error::usage("--log-every", "must be at least 1"));
        }
        if self.eval_every == Some(0) {
            return Err(Error::usage("--eval-every", "must be at least 1"));
        }
        if self.early_stop == Some(0) {
            return Err(Error::usage("--early-stop", "must be at least 1 step"));
        }
        if self.early_stop.is_some() && self.val_fraction.is_none() {
            return Err(Error::usage("--early-stop", "needs a validation split to watch: give --val-fraction"));
        }
        if self.eval_windows == Some(0) {
            return Err(Error::usage("--eval-windows", "must be at least 1"));
        }
        Ok(())
    }

    /// Random data is its own dataset: no file, no validation tail, and a given size.
    fn validate_random_data(&self) -> crate::Result<()> {
        use crate::Error;
        if !self.random_data {
            return Ok(());
        }
        if self.data.is_some() {
            return Err(Error::usage("--data", "cannot be given with random data"));
        }
        if self.val_fraction.is_some() {
            return Err(Error::usage("--val-fraction", "random data has nothing to validate on"));
        }
        if self.test_fraction.is_some() {
            return Err(Error::usage("--test-fraction", "random data has nothing to test on"));
        }
        if self.samples.is_none() {
            return Err(Error::usage("--samples", "random data needs a number of samples"));
        }
        Ok(())
    }

    /// Refuses a run whose parameters, Adam state and one step's activations cannot fit in this
    /// machine's memory, before anything is allocated (an OOM kill loses the run without a word).
    /// The message names the flag whose halving would save the most, and every flag that shrinks it.
    fn check_memory(&self) -> crate::Result<()> {
        let Some(total) = crate::system::total_memory_bytes() else { return Ok(()) };
        let (params, step) = self.memory_bytes()?;
        if params + step <= total as u128 {
            return Ok(());
        }
        let shrinkers = self.shrinkers();
        let flag = shrinkers.first().and_then(|(f, _)| f.split(' ').next()).unwrap_or("--seq-length");
        let list: Vec<String> = shrinkers.iter().map(|(f, saved)| format!("{f} (−{} GiB)", saved >> 30)).collect();
        Err(crate::Error::usage(
            flag,
            format!(
                "this model has {} parameters; with {} micro-batches of {} windows of {} bytes, training it needs about \
                 {} GiB ({} GiB of parameters and optimizer state, {} GiB for a step); the machine has {} GiB. \
                 Shrink it with {}",
                self.param_count().unwrap_or(0),
                self.micro_batches(),
                self.micro_batch.min(self.batch_size),
                self.model.seq_length,
                (params + step) >> 30,
                params >> 30,
                step >> 30,
                total >> 30,
                list.join(", ")
            ),
        ))
    }

    fn param_count(&self) -> crate::Result<usize> {
        Ok(heads::Model::<f32>::shapes_only(&self.model)?.1.numel())
    }

    /// Bytes to train: values, gradients and two Adam moments in f32; and one step's activations.
    fn memory_bytes(&self) -> crate::Result<(u128, u128)> {
        let n = self.param_count()?;
        Ok((n as u128 * 16, self.step_bytes(n, rayon::current_num_threads())))
    }

    /// The size flags that would shrink the memory a run needs, with what halving each (or, for
    /// --micro-batch, also doubling: fewer micro-batches hold fewer gradients) saves, the largest
    /// saving first.
    fn shrinkers(&self) -> Vec<(&'static str, u128)> {
        let Ok((p, s)) = self.memory_bytes() else { return vec![] };
        fn halve(x: &mut usize) {
            *x = (*x / 2).max(1);
        }
        let edits: [(&'static str, &Edit); 7] = [
            ("--seq-length halved", &|c| halve(&mut c.model.seq_length)),
            ("--d-model halved", &|c| halve(&mut c.model.d_model)),
            ("--num-blocks halved", &|c| halve(&mut c.model.num_blocks)),
            ("--d-ff halved", &|c| halve(&mut c.model.d_ff)),
            ("--batch-size halved", &|c| halve(&mut c.batch_size)),
            ("--micro-batch halved", &|c| halve(&mut c.micro_batch)),
            ("--micro-batch doubled", &|c| c.micro_batch = (c.micro_batch * 2).min(c.batch_size)),
        ];
        let mut saved: Vec<(&'static str, u128)> = edits
            .iter()
            .filter_map(|(flag, edit)| {
                let mut c = self.clone();
                edit(&mut c);
                let (p2, s2) = c.memory_bytes().ok()?;
                // A saving under 1% of the need would not make it fit: not worth naming.
                (100 * (p2 + s2) < 99 * (p + s)).then(|| (*flag, p + s - p2 - s2))
            })
            .collect();
        saved.sort_by_key(|s| std::cmp::Reverse(s.1));
        saved
    }
}
