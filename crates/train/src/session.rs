//! A training session: the model, its parameters, Adam, the data, and the step counter.

use crate::checkpoint::Checkpoint;
use crate::config::TrainConfig;
use crate::data::{Batch, Corpus, EpochOrder, Split};
use crate::error::{Error, Result};
use crate::eval::Evaluation;
use crate::optim::{clip_factor, learning_rate, Adam};
use autograd::{Grads, ParamSet, Tape};
use heads::Model;
use rayon::prelude::*;
use std::path::Path;

/// One micro-batch's parameter gradients, in parameter order.
type ParamGrads = Vec<(autograd::ParamId, tensor::Tensor<f32>)>;

pub struct Session {
    pub config: TrainConfig,
    pub model: Model<f32>,
    pub params: ParamSet<f32>,
    pub adam: Adam,
    pub step: u64,
    pub samples_seen: u64,
    pub wall_seconds: f64,
    /// Of wall_seconds, the time spent evaluating.
    pub eval_seconds: f64,
    /// The loss of the run's first step: the divergence rule's yardstick (trainer.rs).
    pub first_loss: Option<f64>,
    /// Where the run came from (set by the runner; None for a session made in code).
    pub provenance: Option<crate::provenance::Provenance>,
    /// Losses summed since the last regular metrics row, and their count (see Checkpoint).
    pub pending_loss: (f64, u64),
    pub corpus: Corpus,
    pub split: Split,
    pub fingerprint: u32,
    /// The run folder's lock, held as long as the session trains in it (set by the runner).
    pub lock: Option<crate::lock::RunLock>,
    grads: Grads<f32>,
    batch: Batch,
    order: Option<(u64, EpochOrder)>,
}

/// What one optimizer step saw.
#[derive(Clone, Copy, Debug)]
pub struct StepOutcome {
    pub loss: f64,
    pub grad_norm: f64,
    pub lr: f64,
    pub windows: usize,
}

impl Session {
    /// A new run: builds the model from the seed and opens the data.
    pub fn new(config: TrainConfig) -> Result<Session> {
        config.validate()?;
        let (model, params) = Model::<f32>::new(&config.model, config.seed)?;
        let adam = Adam::new(config.optimizer, config.weight_decay, &params);
        Self::assemble(config, model, params, adam, 0, 0, 0.0)
    }

    /// Continues from a checkpoint (whose config the caller may have extended: steps, epochs…).
    pub fn resume(ck: Checkpoint, config: TrainConfig, what: &str) -> Result<Session> {
        config.validate()?;
        ck.check(what)?; // before the model is built: nothing is allocated for a checkpoint that does not fit
        let (model, mut params) = Model::<f32>::new(&config.model, config.seed)?;
        Checkpoint::restore_into(&ck.params, &mut params, what)?;
        let mut adam = ck.optimizer.clone();
        adam.kind = config.optimizer;
        adam.weight_decay = config.weight_decay;
        let mut s = Self::assemble(config, model, params, adam, ck.step, ck.samples_seen, ck.wall_seconds)?;
        s.pending_loss = ck.pending_loss;
        s.eval_seconds = ck.eval_seconds;
        s.first_loss = ck.first_loss;
        // An imported checkpoint (step 0) has trained on nothing yet: any data may follow.
        if ck.step > 0 && s.fingerprint != ck.data_fingerprint {
            return Err(Error::input(
                what,
                format!(
                    "was trained on other data than {} (its checksum differs): resume with the same --data",
                    s.corpus.name()
                ),
            ));
        }
        Ok(s)
    }

    fn assemble(
        config: TrainConfig,
        model: Model<f32>,
        params: ParamSet<f32>,
        adam: Adam,
        step: u64,
        samples_seen: u64,
        wall_seconds: f64,
    ) -> Result<Session> {
        let (corpus, split) = Self::data(&config, model.config.per_position())?;
        let l = split.seq_length;
        let fingerprint = fingerprint(&corpus, split.train_windows + l)?;
        let grads = Grads::new(&params);
        Ok(Session {
            config,
            model,
            params,
            adam,
            step,
            samples_seen,
            wall_seconds,
            eval_seconds: 0.0,
            provenance: None,
            first_loss: None,
            pending_loss: (0.0, 0),
            corpus,
            split,
            fingerprint,
            lock: None,
            grads,
            batch: Batch::default(),
            order: None,
        })
    }

    /// The corpus a config names, and its windows.
    fn data(config: &TrainConfig, per_position: bool) -> Result<(Corpus, Split)> {
        let l = config.model.seq_length;
        if config.random_data {
            let n = config.samples.unwrap_or(0);
            return Ok((Corpus::random(config.seed, n, l), Split::independent(n, l, per_position)?));
        }
        let corpus = match &config.data {
            None => Corpus::Embedded,
            Some(p) => Corpus::open(Path::new(p))?,
        };
        let fractions = (config.val_fraction, config.test_fraction);
        let split = Split::with_test(corpus.bytes().len(), l, per_position, config.samples, fractions, &corpus.name())?;
        Ok((corpus, split))
    }

    pub fn checkpoint(&self) -> Checkpoint {
        Checkpoint {
            config: self.config.clone(),
            params: Checkpoint::params_from(&self.params),
            optimizer: self.adam.clone(),
            step: self.step,
            data_seed: self.config.seed,
            data_fingerprint: self.fingerprint,
            samples_seen: self.samples_seen,
            wall_seconds: self.wall_seconds,
            eval_seconds: self.eval_seconds,
            first_loss: self.first_loss,
            pending_loss: self.pending_loss,
        }
    }

    pub fn steps_per_epoch(&self) -> u64 {
        self.split.train_windows.div_ceil(self.config.batch_size) as u64
    }

    /// The step at which the run ends by count (None: only by memorization or interrupt).
    pub fn total_steps(&self) -> Option<u64> {
        match (self.config.steps, self.config.epochs) {
            (Some(s), Some(e)) => Some(s.min(e.saturating_mul(self.steps_per_epoch()))),
            (Some(s), None) => Some(s),
            (None, Some(e)) => Some(e.saturating_mul(self.steps_per_epoch())),
            (None, None) => None,
        }
    }

    /// What in the config is legal but almost certainly not meant, for a warning before training.
    pub fn warnings(&self) -> Vec<String> {
        let mut w = Vec::new();
        if let Some(total) = self.total_steps().filter(|&t| self.config.warmup > t) {
            w.push(format!(
                "--warmup {} is longer than the run ({total} steps): the learning rate never reaches --lr {}",
                self.config.warmup, self.config.lr
            ));
        }
        w
    }

    pub fn lr_at(&self, step: u64) -> f64 {
        let c = &self.config;
        learning_rate(c.lr, c.min_lr, c.warmup, c.schedule, self.total_steps(), step)
    }

    /// The windows of the next step: batch (step mod steps-per-epoch) of epoch (step / steps-per-epoch).
    fn next_batch(&mut self) {
        let spe = self.steps_per_epoch();
        let (epoch, pos) = (self.step / spe, (self.step % spe) as usize);
        if self.order.as_ref().is_none_or(|(e, _)| *e != epoch) {
            self.order = Some((epoch, EpochOrder::new(self.split.train_windows, self.config.seed, epoch)));
        }
        let order = &self.order.as_ref().expect("set above").1;
        let b = self.config.batch_size;
        let end = ((pos + 1) * b).min(self.split.train_windows);
        self.batch.fill(self.corpus.bytes(), &self.split, (pos * b..end).map(|j| order.get(j)));
    }

    /// One optimizer step. A non-finite loss or gradient is reported in the outcome (loss NaN or
    /// infinite) and leaves the parameters untouched.
    pub fn train_step(&mut self) -> StepOutcome {
        let (loss, windows) = self.compute_gradients();
        self.apply_gradients(loss, windows)
    }

    /// The update of [`Session::train_step`] from the last [`Session::compute_gradients`] (its
    /// `loss` and `windows`): the trainer looks at the loss before the update is made, so that a
    /// step that diverges is never applied nor counted.
    pub fn apply_gradients(&mut self, loss: f64, windows: usize) -> StepOutcome {
        let lr = self.lr_at(self.step);
        if !loss.is_finite() {
            return StepOutcome { loss, grad_norm: f64::NAN, lr, windows };
        }
        let (clip, grads) = (self.config.clip, &self.grads);
        let (factor, grad_norm) = autograd::profile::time("step: clip", || clip_factor(grads, clip));
        if !grad_norm.is_finite() {
            return StepOutcome { loss: f64::NAN, grad_norm, lr, windows };
        }
        let (adam, params) = (&mut self.adam, &mut self.params);
        autograd::profile::time("step: adam", || adam.step(params, grads, lr, factor));
        self.step += 1;
        self.samples_seen += windows as u64;
        StepOutcome { loss, grad_norm, lr, windows }
    }

    /// Draws the next batch and computes its loss and gradients (into [`Session::grads`]) without
    /// changing the parameters. Returns the loss (non-finite if the forward pass blew up) and the
    /// batch's windows.
    pub fn compute_gradients(&mut self) -> (f64, usize) {
        autograd::profile::time("step: batch", || self.next_batch());
        let (l, per_window) = (self.split.seq_length, self.split.targets_per_window);
        let windows = self.batch.windows(l);
        let total_targets = self.batch.targets.len() as f64;
        // Micro-batches in parallel, each on its own tape. With several of them every thread
        // already has one, so their kernels stay serial (tensor::serially); a single micro-batch
        // may split its products. Decided by the configuration alone, so the bits never depend
        // on the thread count.
        let micro = self.config.micro_batch.min(self.config.batch_size);
        let serial = self.config.micro_batches() > 1;
        let (model, params) = (&self.model, &self.params);
        let parts: Vec<(f64, ParamGrads)> = self
            .batch
            .ids
            .par_chunks(micro * l)
            .zip(self.batch.targets.par_chunks(micro * per_window))
            .map(|(ids, targets)| {
                let run = || micro_batch_gradients(model, params, ids, targets, total_targets);
                if serial {
                    tensor::serially(run)
                } else {
                    run()
                }
            })
            .collect();
        let loss: f64 = parts.iter().map(|(l, _)| l).sum();
        let grads = &mut self.grads;
        autograd::profile::time("step: sum micro-batch grads", || {
            grads.clear();
            for (_, part) in parts {
                for (id, g) in part {
                    grads.accumulate(id, g);
                }
            }
        });
        (loss, windows)
    }

    /// The gradients of the last [`Session::compute_gradients`].
    pub fn grads(&self) -> &Grads<f32> {
        &self.grads
    }

    /// The batch of the last step.
    pub fn batch(&self) -> &Batch {
        &self.batch
    }

    /// Loss, accuracy and memorized windows over the windows starting at `starts`.
    pub fn evaluate(&self, starts: &[usize]) -> Evaluation {
        // Random data is capacity's: its evaluations also sum each sample's clipped stored bits.
        let per_sample = self.config.random_data;
        crate::eval::evaluate(&self.model, &self.params, self.corpus.bytes(), &self.split, starts, per_sample)
    }

    /// Bits stored at each position of a window, summed over the windows at `starts` (random data).
    pub fn bits_by_position(&self, starts: &[usize]) -> Vec<f64> {
        crate::eval::bits_by_position(&self.model, &self.params, self.corpus.bytes(), &self.split, starts)
    }
}

/// CRC-32 of the first `len` bytes of the corpus. A file is read in chunks rather than through its
/// memory map, so that fingerprinting a file of several hundred MB does not pull it all into this
/// process's resident memory.
fn fingerprint(corpus: &Corpus, len: usize) -> Result<u32> {
    match corpus {
        Corpus::Embedded | Corpus::Random { .. } => Ok(crc32fast::hash(&corpus.bytes()[..len])),
        Corpus::File { path, .. } => {
            use std::io::Read;
            let mut file = std::fs::File::open(path).map_err(|e| {
                Error::input(path, format!("cannot read the data file: {}", crate::data::io_reason(&e)))
            })?;
            let (mut hasher, mut left, mut buf) = (crc32fast::Hasher::new(), len, vec![0u8; 1 << 20]);
            while left > 0 {
                let n = file
                    .read(&mut buf[..left.min(1 << 20)])
                    .map_err(|e| Error::input(path, format!("cannot read the data file: {e}")))?;
                if n == 0 {
                    return Err(Error::input(path, "the data file shrank while it was being read"));
                }
                hasher.update(&buf[..n]);
                left -= n;
            }
            Ok(hasher.finalize())
        }
    }
}

/// One micro-batch's share of the batch loss and its parameter gradients, on a tape of its own.
/// The loss is the mean over every target of the batch, so the micro-batch's gradient is seeded
/// with its share n_i / N. A non-finite loss returns no gradients.
fn micro_batch_gradients(
    model: &Model<f32>,
    params: &ParamSet<f32>,
    ids: &[u32],
    targets: &[u32],
    total_targets: f64,
) -> (f64, ParamGrads) {
    let mut tape = Tape::new(params);
    let (loss, _) = model.loss(&mut tape, ids, targets);
    let share = targets.len() as f64 / total_targets;
    let value = tape.scalar(loss) as f64 * share;
    if !value.is_finite() {
        return (value, Vec::new());
    }
    let seed = tensor::Tensor::from_elem(tensor::ndarray::IxDyn(&[]), share as f32);
    (value, tape.backward_with(loss, seed).into_param_grads(&tape))
}
