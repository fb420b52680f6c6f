//! The flags that set a run's config, shared by every command that trains (train, compare,
//! sweep) and by summary, bench and import. They live beside the merge that reads them
//! (`settings`): a flag given serializes into an override of the config field of the same name
//! (`--d-model` → `d_model`), and those names are the fields `sweep --grid` and config files use,
//! so the flag set and the config merge cannot drift apart.

use crate::settings::{self, Sources};
use clap::Args;
use serde::Serialize;
use std::path::PathBuf;

/// The model's shape: a preset, and any field of it overridden.
#[derive(Args, Debug, Clone, Default, Serialize)]
pub struct ModelArgs {
    /// Model preset: seed-id4, small, medium, gpt2-small, gpt2-medium, gpt2-large, gpt2-xl, ctrl [default: seed-id4]
    #[arg(long)]
    #[serde(skip)]
    pub preset: Option<String>,
    /// Window length L [default: the preset's]
    #[arg(long)]
    pub seq_length: Option<usize>,
    /// Model width d [default: the preset's]
    #[arg(long)]
    pub d_model: Option<usize>,
    /// Number of encoder blocks N [default: the preset's]
    #[arg(long)]
    pub num_blocks: Option<usize>,
    /// Attention heads h (must divide d_model) [default: the preset's]
    #[arg(long)]
    pub num_heads: Option<usize>,
    /// Feed-forward width F [default: the preset's]
    #[arg(long)]
    pub d_ff: Option<usize>,
    /// Vocabulary size V (at least 257 for byte data) [default: the preset's]
    #[arg(long)]
    pub vocab_size: Option<usize>,
    /// k of the bottleneck head [default: 16]
    #[arg(long)]
    pub bottleneck: Option<usize>,
    /// r of the td-dense and conv heads: d_model → d_model/r [default: 8]
    #[arg(long)]
    pub reduce: Option<usize>,
    /// Kernel K of the conv head (odd) [default: 3]
    #[arg(long)]
    pub kernel: Option<usize>,
    /// Positional embeddings [default: the preset's]
    #[arg(long, value_parser = ["learned", "sinusoidal"])]
    pub positions: Option<String>,
    /// Add a bias to the causal or last head's logits
    #[arg(long)]
    pub output_bias: bool,
    /// Hidden size g of the rnn head's GRU [default: d_model]
    #[arg(long)]
    pub rnn_hidden: Option<usize>,
    /// The causal head reads every position out through a Linear(d, V) of its own, not tok_embᵀ
    #[arg(long)]
    pub untied: bool,
    /// Positions the causal head is trained on [default: all]
    #[arg(long, value_parser = ["all", "last"])]
    pub loss_positions: Option<String>,
}

/// The output head, for the commands that train or count one model.
#[derive(Args, Debug, Clone, Default, Serialize)]
pub struct HeadArg {
    /// Output head: flatten, bottleneck, td-dense, conv, tied, causal, rnn, last [default: the preset's]
    #[arg(long, value_parser = parse_head)]
    pub head: Option<heads::HeadKind>,
}

/// A head's name on the command line (`--head`, `--heads`). clap's message already names the flag
/// and the value ("invalid value 'flaten' for '--head <HEAD>': …"), so this adds only the tip and
/// the heads, not the flag a second time.
pub fn parse_head(name: &str) -> Result<heads::HeadKind, String> {
    heads::HeadKind::ALL.iter().copied().find(|k| k.name() == name).ok_or_else(|| heads::unknown_head_help(name))
}

/// Which bytes to learn.
#[derive(Args, Debug, Clone, Default, Serialize)]
pub struct DataArgs {
    /// Any file, read as bytes [default: the embedded corpus]
    #[arg(long, value_name = "FILE")]
    pub data: Option<PathBuf>,
    /// Use the first N windows [default: 432 without --data, every window with it]
    #[arg(long, value_name = "N")]
    pub samples: Option<usize>,
    /// Hold out this fraction of the file's tail for validation, in (0, 1) [default: none]
    #[arg(long, value_name = "F", value_parser = finite)]
    pub val_fraction: Option<f64>,
    /// Hold out this fraction of the file's tail for testing, in (0, 1); --val-fraction then
    /// takes its share of the bytes before it. Nothing is chosen on the test part: it is only
    /// reported (test_* in report.json) [default: none]
    #[arg(long, value_name = "F", value_parser = finite)]
    pub test_fraction: Option<f64>,
}

/// How to train: every flag a field of the run's config.
#[derive(Args, Debug, Clone, Serialize)]
pub struct TrainFlags {
    /// Seed of the initialisation and of the window order [default: 0]
    #[arg(long)]
    pub seed: Option<u64>,
    /// Windows per batch [default: 32]
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Windows per micro-batch: a batch is split into these, computed in parallel [default: 16]
    #[arg(long)]
    pub micro_batch: Option<usize>,
    /// Learning rate [default: 0.001]
    #[arg(long, value_parser = finite)]
    pub lr: Option<f64>,
    /// Floor of the cosine schedule [default: 0]
    #[arg(long, value_parser = finite)]
    pub min_lr: Option<f64>,
    /// Stop after N epochs [default: 1000 when neither --steps nor --epochs is given]
    #[arg(long)]
    pub epochs: Option<u64>,
    /// Stop after N optimizer steps
    #[arg(long)]
    pub steps: Option<u64>,
    /// Stop as soon as every training window is memorized [default: on when neither --steps nor --epochs is given]
    #[arg(long)]
    pub until_memorized: bool,
    /// Optimizer [default: adam]
    #[arg(long, value_parser = ["adam", "adamw"])]
    pub optimizer: Option<String>,
    /// Weight decay (AdamW: decoupled, on weight matrices only) [default: 0, or 0.01 with adamw]
    #[arg(long, value_parser = finite)]
    pub weight_decay: Option<f64>,
    /// Linear warmup steps [default: 0]
    #[arg(long)]
    pub warmup: Option<u64>,
    /// Learning-rate schedule after warmup [default: constant]
    #[arg(long, value_parser = ["constant", "cosine"])]
    pub schedule: Option<String>,
    /// Clip the global gradient norm to this (0: off) [default: 1.0]
    #[arg(long, value_parser = finite)]
    pub clip: Option<f64>,
    /// Write checkpoint.bin every N steps (0: at the end only) [default: 1000]
    #[arg(long)]
    pub checkpoint_every: Option<u64>,
    /// Write a metrics row every N steps [default: each epoch, at most 100 steps apart]
    #[arg(long)]
    pub log_every: Option<u64>,
    /// Evaluate every N steps, and at the end [default: at every metrics row]
    #[arg(long)]
    pub eval_every: Option<u64>,
    /// Windows each evaluation reads [default: every training window up to 8192, else a sample
    /// sized to keep evaluation near a tenth of the run]
    #[arg(long)]
    pub eval_windows: Option<usize>,
    /// Stop when the validation loss has not improved for N steps (needs --val-fraction); the
    /// weights of the best validation loss are kept in best.bin and the report comes from them
    #[arg(long, value_name = "N")]
    pub early_stop: Option<u64>,
}

/// Everything that sets a run's config.
#[derive(Args, Debug, Clone, Serialize)]
pub struct RunArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub data: DataArgs,
    #[command(flatten)]
    pub train: TrainFlags,
    /// A config.json to start from (a run folder's, or partial; flags override it)
    #[arg(long, value_name = "FILE")]
    #[serde(skip)]
    pub config: Option<PathBuf>,
}

impl RunArgs {
    /// Where the run's config comes from: the preset, the config file, and the flags given (with
    /// the head's, if any).
    pub fn sources(&self, head: &HeadArg) -> Sources<'_> {
        let flags = settings::given(&[&self.model, head, &self.data, &self.train]);
        Sources { preset: self.model.preset.as_deref(), file: self.config.as_deref(), flags }
    }
}

/// A floating-point flag's value: a finite number. `nan` and `inf` parse as f64, but a config
/// cannot hold them (JSON has no such numbers, and serde writes them as null, which would silently
/// put the default in their place), and no setting means anything with them.
pub fn finite(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(x) if x.is_finite() => Ok(x),
        Ok(_) => Err("must be a finite number".to_string()),
        Err(e) => Err(e.to_string()),
    }
}
