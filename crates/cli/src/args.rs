//! Command-line flags (SPEC §2) and their resolution into configs.

use clap::{Args, Parser, Subcommand, ValueEnum};
use heads::{ModelConfig, Positions};
use std::path::PathBuf;
use train::optim::{OptimizerKind, Schedule};
use train::{Error, Result, TrainConfig};

#[derive(Parser, Debug)]
#[command(
    name = "overfit",
    version,
    about = "Train small byte-level transformers on the CPU and see where their parameters go.",
    long_about = "Train small byte-level transformers from scratch on the CPU, on overfit's own autodiff engine, \
                  to measure where a model's parameters go and which output head lets it learn its data by heart.\n\n\
                  Start with `overfit train` (no arguments: the research log's run id 4 on the embedded corpus)."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Train one model and write a run folder (runs/id-N).
    Train(TrainArgs),
    /// Train every head on the same data and seed: one table and one plot.
    Compare(CompareArgs),
    /// Keras-style table of layers and parameters, group totals, ratio, and the log's approximations.
    Summary(SummaryArgs),
    /// Sample bytes from a checkpoint.
    Generate(GenerateArgs),
    /// Loss, bits/byte, accuracy and memorized windows of a checkpoint on a file.
    Eval(EvalArgs),
    /// Write a checkpoint's weights as safetensors (SPEC names, config in the metadata).
    Export(ExportArgs),
    /// Read safetensors weights into a new checkpoint.
    Import(ImportArgs),
    /// Time full training steps (forward, backward, optimizer).
    Bench(BenchArgs),
    /// Run the research log's experiments (log runs, bottleneck k, capacity, ideas 1-3, generalisation).
    Study(StudyArgs),
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum PositionsArg {
    Learned,
    Sinusoidal,
}

/// The model's shape: a preset, and any field of it overridden.
#[derive(Args, Debug, Clone, Default)]
pub struct ModelArgs {
    /// Model preset: seed-id4, small, medium, gpt2-small, gpt2-medium, gpt2-large, gpt2-xl, ctrl [default: seed-id4]
    #[arg(long)]
    pub preset: Option<String>,
    /// Output head: flatten, bottleneck, td-dense, conv, tied, causal [default: the preset's]
    #[arg(long)]
    pub head: Option<String>,
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
    #[arg(long, value_enum)]
    pub positions: Option<PositionsArg>,
    /// Add a bias to the causal head's logits
    #[arg(long)]
    pub output_bias: bool,
}

impl ModelArgs {
    /// The preset's config with every given flag applied.
    pub fn resolve(&self) -> Result<(String, ModelConfig)> {
        let preset = self.preset.clone().unwrap_or_else(|| heads::config::DEFAULT_PRESET.to_string());
        let mut c = ModelConfig::preset(&preset)?;
        self.apply(&mut c);
        c.validate()?;
        Ok((preset, c))
    }

    /// Applies the flags that were given to `c`.
    pub fn apply(&self, c: &mut ModelConfig) {
        if let Some(h) = &self.head {
            c.head = h.clone();
        }
        macro_rules! set {
            ($($f:ident),*) => {$(if let Some(v) = self.$f { c.$f = v; })*};
        }
        set!(seq_length, d_model, num_blocks, num_heads, d_ff, vocab_size, bottleneck, reduce, kernel);
        if let Some(p) = self.positions {
            c.positions = match p {
                PositionsArg::Learned => Positions::Learned,
                PositionsArg::Sinusoidal => Positions::Sinusoidal,
            };
        }
        if self.output_bias {
            c.output_bias = true;
        }
    }

    /// The model flags that were given, for the message of a resume that contradicts them.
    pub fn given(&self) -> Vec<&'static str> {
        let mut g = Vec::new();
        macro_rules! chk {
            ($($f:ident => $flag:literal),*) => {$(if self.$f.is_some() { g.push($flag); })*};
        }
        chk!(preset => "--preset", head => "--head", seq_length => "--seq-length", d_model => "--d-model", num_blocks => "--num-blocks",
             num_heads => "--num-heads", d_ff => "--d-ff", vocab_size => "--vocab-size", bottleneck => "--bottleneck", reduce => "--reduce",
             kernel => "--kernel", positions => "--positions");
        if self.output_bias {
            g.push("--output-bias");
        }
        g
    }
}

/// Which bytes to learn.
#[derive(Args, Debug, Clone, Default)]
pub struct DataArgs {
    /// Any file, read as bytes [default: the embedded corpus]
    #[arg(long, value_name = "FILE")]
    pub data: Option<PathBuf>,
    /// Use the first N windows [default: 432 without --data, every window with it]
    #[arg(long, value_name = "N")]
    pub samples: Option<usize>,
    /// Hold out this fraction of the file's tail for validation, in (0, 1) [default: none]
    #[arg(long, value_name = "F")]
    pub val_fraction: Option<f64>,
    /// Seed of the initialisation and of the window order [default: 0]
    #[arg(long)]
    pub seed: Option<u64>,
}

#[derive(Args, Debug, Clone)]
pub struct TrainFlags {
    /// Windows per batch [default: 32]
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Windows per micro-batch: a batch is split into these, computed in parallel [default: 16]
    #[arg(long)]
    pub micro_batch: Option<usize>,
    /// Learning rate [default: 0.001]
    #[arg(long)]
    pub lr: Option<f64>,
    /// Floor of the cosine schedule [default: 0]
    #[arg(long)]
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
    #[arg(long, value_enum)]
    pub optimizer: Option<OptimizerArg>,
    /// Weight decay (AdamW: decoupled, on weight matrices only) [default: 0, or 0.01 with adamw]
    #[arg(long)]
    pub weight_decay: Option<f64>,
    /// Linear warmup steps [default: 0]
    #[arg(long)]
    pub warmup: Option<u64>,
    /// Learning-rate schedule after warmup [default: constant]
    #[arg(long, value_enum)]
    pub schedule: Option<ScheduleArg>,
    /// Clip the global gradient norm to this (0: off) [default: 1.0]
    #[arg(long)]
    pub clip: Option<f64>,
    /// Folder of the run folders
    #[arg(long, default_value = "runs")]
    pub runs_dir: PathBuf,
    /// Continue from a checkpoint.bin (in its own run folder)
    #[arg(long, value_name = "PATH")]
    pub resume: Option<PathBuf>,
    /// A config.json to start from (flags override it)
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
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
    /// Worker threads [default: one per core]
    #[arg(long)]
    pub threads: Option<usize>,
    /// No progress display
    #[arg(long)]
    pub quiet: bool,
    /// Print exactly one JSON object (the report) on stdout
    #[arg(long)]
    pub json: bool,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum OptimizerArg {
    Adam,
    Adamw,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ScheduleArg {
    Constant,
    Cosine,
}

#[derive(Args, Debug)]
#[command(allow_negative_numbers = true)]
pub struct TrainArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub data: DataArgs,
    #[command(flatten)]
    pub train: TrainFlags,
}

#[derive(Args, Debug)]
#[command(allow_negative_numbers = true)]
pub struct CompareArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub data: DataArgs,
    #[command(flatten)]
    pub train: TrainFlags,
    /// Heads to compare, comma-separated [default: all six]
    #[arg(long, value_delimiter = ',')]
    pub heads: Option<Vec<String>>,
}

#[derive(Args, Debug)]
pub struct SummaryArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Print one JSON object instead of the table
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct GenerateArgs {
    /// A checkpoint.bin
    #[arg(long, value_name = "PATH")]
    pub checkpoint: PathBuf,
    /// Text to continue; a window head needs at least L bytes of it to recite what it memorized
    #[arg(long, default_value = "")]
    pub prompt: String,
    /// Bytes to generate (streamed as they are sampled)
    #[arg(long, default_value_t = 200)]
    pub bytes: u64,
    /// Sampling temperature (0: greedy)
    #[arg(long, default_value_t = 1.0)]
    pub temperature: f64,
    /// Sample among the k most likely bytes only (0: all)
    #[arg(long, default_value_t = 0)]
    pub top_k: usize,
    /// Always take the most likely byte
    #[arg(long)]
    pub greedy: bool,
    /// Seed of the sampler
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Print only the generated bytes, not the prompt before them
    #[arg(long)]
    pub only_new: bool,
}

#[derive(Args, Debug)]
pub struct EvalArgs {
    /// A checkpoint.bin
    #[arg(long, value_name = "PATH")]
    pub checkpoint: PathBuf,
    #[command(flatten)]
    pub data: DataArgs,
    /// Print one JSON object
    #[arg(long)]
    pub json: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    /// One safetensors file with the SPEC's names and the model config in its metadata
    Overfit,
    /// A Hugging Face transformers GPT-2 folder (config.json, model.safetensors); head causal,
    /// learned positions, no output bias
    Hf,
}

#[derive(Args, Debug)]
pub struct ExportArgs {
    /// A checkpoint.bin
    #[arg(long, value_name = "PATH")]
    pub checkpoint: PathBuf,
    /// The safetensors file to write (--format overfit), or the folder (--format hf)
    #[arg(long, value_name = "PATH")]
    pub out: PathBuf,
    /// What to write
    #[arg(long, value_enum, default_value_t = ExportFormat::Overfit)]
    pub format: ExportFormat,
}

#[derive(Args, Debug)]
#[command(
    mut_arg("preset", |a| a.hide(true)),
    after_help = "Model flags fill only what the file cannot tell: --num-heads when it has no config in its \
                  metadata (its tensor shapes tell the rest), and --seq-length too for a causal model with \
                  sinusoidal positions. Their [default: …] does not apply here, and a flag that contradicts \
                  the file is an error. A transformers folder's config.json tells n_head; its model.safetensors \
                  alone needs --num-heads."
)]
pub struct ImportArgs {
    /// A safetensors file written by `overfit export` (or by PyTorch with the same names), or a
    /// transformers GPT-2 folder (`export --format hf`, `save_pretrained`) or its model.safetensors
    #[arg(long, value_name = "PATH")]
    pub weights: PathBuf,
    /// The checkpoint to write
    #[arg(long, value_name = "PATH")]
    pub out: PathBuf,
    /// --preset is hidden and refused: the file tells the model's shape.
    #[command(flatten)]
    pub model: ModelArgs,
}

#[derive(Args, Debug)]
pub struct BenchArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Windows per batch
    #[arg(long, default_value_t = 32)]
    pub batch_size: usize,
    /// Windows per micro-batch
    #[arg(long, default_value_t = 16)]
    pub micro_batch: usize,
    /// Timed steps
    #[arg(long, default_value_t = 50)]
    pub steps: u64,
    /// Untimed steps first
    #[arg(long, default_value_t = 5)]
    pub warmup: u64,
    /// Worker threads [default: one per core]
    #[arg(long)]
    pub threads: Option<usize>,
    /// Instead of timing, write the initial weights, the first batch and its loss and gradients to
    /// DIR, for benches/reference/torch_reference.py --parity DIR
    #[arg(long, value_name = "DIR")]
    pub dump_parity: Option<PathBuf>,
    /// Print where the time goes: CPU time per op kind, forward and backward, per step
    #[arg(long)]
    pub profile: bool,
    /// Data file to draw batches from [default: the embedded corpus]
    #[arg(long, value_name = "FILE")]
    pub data: Option<PathBuf>,
    /// Print one JSON object
    #[arg(long)]
    pub json: bool,
}

/// The run config from defaults, an optional config file, and the flags, in that order.
pub fn resolve_train(model: &ModelArgs, data: &DataArgs, t: &TrainFlags) -> Result<TrainConfig> {
    let mut c = match &t.config {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| {
                Error::input(path.display(), format!("cannot read the config: {}", train::data::io_reason(&e)))
            })?;
            serde_json::from_str::<TrainConfig>(&text)
                .map_err(|e| Error::input(path.display(), format!("is not a valid run config: {e}")))?
        }
        None => TrainConfig::default_run(),
    };
    if model.preset.is_some() || t.config.is_none() {
        let (preset, mut m) = ModelArgs { head: None, ..model.clone() }.resolve_preset_only()?;
        model.apply(&mut m);
        c.preset = preset;
        c.model = m;
    } else {
        model.apply(&mut c.model);
    }
    if let Some(d) = &data.data {
        c.data = Some(d.display().to_string());
        c.samples = None;
    }
    if let Some(n) = data.samples {
        c.samples = Some(n);
    }
    if data.val_fraction.is_some() {
        c.val_fraction = data.val_fraction;
    }
    if let Some(s) = data.seed {
        c.seed = s;
    }
    macro_rules! set {
        ($($f:ident),*) => {$(if let Some(v) = t.$f { c.$f = v; })*};
    }
    set!(batch_size, micro_batch, lr, min_lr, warmup, clip, checkpoint_every);
    if let Some(o) = t.optimizer {
        c.optimizer = match o {
            OptimizerArg::Adam => OptimizerKind::Adam,
            OptimizerArg::Adamw => OptimizerKind::Adamw,
        };
        if o as u8 == OptimizerArg::Adamw as u8 && t.weight_decay.is_none() {
            c.weight_decay = 0.01;
        }
    }
    if let Some(w) = t.weight_decay {
        c.weight_decay = w;
    }
    if let Some(s) = t.schedule {
        c.schedule = match s {
            ScheduleArg::Constant => Schedule::Constant,
            ScheduleArg::Cosine => Schedule::Cosine,
        };
    }
    if t.log_every.is_some() {
        c.log_every = t.log_every;
    }
    if t.eval_every.is_some() {
        c.eval_every = t.eval_every;
    }
    if t.eval_windows.is_some() {
        c.eval_windows = t.eval_windows;
    }
    if t.steps.is_some() || t.epochs.is_some() {
        c.steps = t.steps;
        c.epochs = t.epochs;
        c.until_memorized = t.until_memorized;
    } else if t.until_memorized {
        c.until_memorized = true;
    }
    c.validate()?;
    Ok(c)
}

impl ModelArgs {
    fn resolve_preset_only(&self) -> Result<(String, ModelConfig)> {
        let preset = self.preset.clone().unwrap_or_else(|| heads::config::DEFAULT_PRESET.to_string());
        Ok((preset.clone(), ModelConfig::preset(&preset)?))
    }
}

#[derive(Args, Debug)]
pub struct StudyArgs {
    /// The text to study [default: the embedded corpus]
    #[arg(long, value_name = "FILE")]
    pub data: Option<PathBuf>,
    /// A small version of every experiment, in a few minutes
    #[arg(long)]
    pub quick: bool,
    /// Seed of every run
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Output folder [default: study/<data name>, with -quick for --quick]
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Worker threads [default: one per core]
    #[arg(long)]
    pub threads: Option<usize>,
    /// No progress display
    #[arg(long)]
    pub quiet: bool,
    /// Print one JSON object (every run's outcome) on stdout
    #[arg(long)]
    pub json: bool,
}
