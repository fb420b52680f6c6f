//! Command-line flags (SPEC §2, §4): the commands and their own flags. The flags that set a run's
//! config (model, head, data, training) are `train::flags`, beside the merge that reads them.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
pub use train::flags::*;

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
    #[command(after_help = "What the numbers mean:\n  \
                            train loss  the running mean of the training batches' loss since the last log row\n  \
                            eval loss   a fresh evaluation of the training windows (the result line's loss)\n  \
                            val loss    the same on the held-out tail (--val-fraction)\n  \
                            bits/byte   a loss in bits per byte (nats / ln 2)\n  \
                            memorized   windows whose next byte is the model's argmax: for a window head,\n              \
                            memorized/windows is its accuracy; causal also counts the windows\n              \
                            memorized at every position (each byte of the window predicted right)\n\n\
                            Examples:\n  overfit train\n  overfit train --head causal --data text.txt --val-fraction 0.1 --steps 2000\n  \
                            overfit train --resume runs/id-3/checkpoint.bin --steps 5000")]
    Train(TrainArgs),
    /// Train every head on the same data and seed: one table and one plot.
    #[command(after_help = "Examples:\n  overfit compare\n  overfit compare --heads flatten,tied,causal --steps 500")]
    Compare(CompareArgs),
    /// Run a grid of configs × seeds, one run folder each (skips finished runs, resumes interrupted ones).
    #[command(
        after_help = "Examples:\n  overfit sweep --grid head=flatten,tied --grid lr=1e-3,3e-3 --seeds 0,1,2 --runs-dir sw\n  \
                            overfit sweep … --jobs 2            # two runs at once, one thread each\n  \
                            overfit sweep … --shard 3/8         # or in a Slurm array: sbatch --array=1-8\n  \
                            overfit results sw"
    )]
    Sweep(SweepArgs),
    /// Gather run folders into one table, grouped over seeds (mean, std, 95% interval).
    #[command(after_help = "Examples:\n  overfit results sw\n  overfit results sw-shard1 sw-shard2 --json\n  \
                            overfit results sw --group-by head --out sw-results --metric final_loss")]
    Results(ResultsArgs),
    /// Memorization capacity on random bytes: bits stored per parameter, for every head.
    #[command(
        after_help = "Examples:\n  overfit capacity --quick                      # NOT converged: a test; every head in 43 s\n  \
                            overfit capacity --certify --jobs 2 --out capacity   # the full grid, certified\n  \
                            overfit capacity --certify --jobs 2 --shard 2/4      # one shard of it\n  \
                            overfit capacity --preset seed-id4 --heads causal --data-bits 4 --seeds 0   # one point\n\n\
                            Capacity per size is the plateau of memorized bits past the knee (the first dataset \
                            stored below 90%), over at least 2 datasets, from certified points only."
    )]
    Capacity(CapacityArgs),
    /// Keras-style table of layers and parameters, group totals, ratio, and the log's approximations.
    #[command(
        after_help = "Examples:\n  overfit summary\n  overfit summary --preset gpt2-small\n  overfit summary --head tied --json"
    )]
    Summary(SummaryArgs),
    /// Sample bytes from a checkpoint.
    #[command(
        after_help = "Examples:\n  overfit generate --checkpoint runs/id-1/checkpoint.bin --prompt \"$(head -c 32 text.txt)\" --greedy\n  \
                            overfit generate --checkpoint runs/id-2/checkpoint.bin --prompt ROMEO: --temperature 0.8 --top-k 20"
    )]
    Generate(GenerateArgs),
    /// Loss, bits/byte, accuracy and memorized windows of a checkpoint on a file.
    #[command(after_help = "Examples:\n  overfit eval --checkpoint runs/id-1/checkpoint.bin\n  \
                            overfit eval --checkpoint runs/id-2/checkpoint.bin --data text.txt --val-fraction 0.1 --json")]
    Eval(EvalArgs),
    /// Write a checkpoint's weights as safetensors (SPEC names, config in the metadata), or as a
    /// transformers GPT-2 folder (--format hf).
    #[command(
        after_help = "Examples:\n  overfit export --checkpoint runs/id-1/checkpoint.bin --out model.safetensors\n  \
                            overfit export --checkpoint runs/id-2/checkpoint.bin --format hf --out gpt2-bytes   # head causal"
    )]
    Export(ExportArgs),
    /// Read safetensors weights into a new checkpoint.
    #[command(after_help = "Examples:\n  overfit import --weights model.safetensors --out imported.bin\n  \
                            overfit import --weights hf-folder --out imported.bin\n\n\
                            Model flags fill only what the file cannot tell: --num-heads when it has no config in its metadata \
                            (its tensor shapes tell the rest), and --seq-length too for a causal model with sinusoidal positions. \
                            Their [default: …] does not apply here, and a flag that contradicts the file is an error. A transformers \
                            folder's config.json tells n_head; its model.safetensors alone needs --num-heads.")]
    Import(ImportArgs),
    /// Time full training steps (forward, backward, optimizer).
    #[command(
        after_help = "Examples:\n  overfit bench --preset small --head causal\n  overfit bench --preset medium --profile"
    )]
    Bench(BenchArgs),
    /// Answer the research log's questions: every head tuned, then memorization, k, K, depth, ideas 1+2+3, L, generalisation.
    #[command(
        after_help = "Examples:\n  overfit study --quick\n  overfit study --data ../shared/data/tinyshakespeare.txt --jobs 2"
    )]
    Study(StudyArgs),
}

impl Command {
    /// Whether the command only reads and prints (it may end quietly on a closed pipe), as opposed
    /// to one that trains and must reach its end whoever reads its output.
    pub fn only_prints(&self) -> bool {
        !matches!(
            self,
            Command::Train(_) | Command::Compare(_) | Command::Sweep(_) | Command::Capacity(_) | Command::Study(_)
        )
    }
}

/// Where runs go and how they show.
#[derive(Args, Debug, Clone)]
pub struct OutputArgs {
    /// Folder of the run folders
    #[arg(long, default_value = "runs")]
    pub runs_dir: PathBuf,
    /// Worker threads [default: one per core]
    #[arg(long)]
    pub threads: Option<usize>,
    /// No progress display or log lines; the result line stays
    #[arg(long)]
    pub quiet: bool,
    /// Print exactly one JSON object on stdout at the end
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
#[command(allow_negative_numbers = true)]
pub struct TrainArgs {
    #[command(flatten)]
    pub head: HeadArg,
    #[command(flatten)]
    pub run: RunArgs,
    /// Continue a run from its checkpoint.bin, in its run folder. A resume may change the
    /// optimizer (--lr, --min-lr, --optimizer, --weight-decay), the schedule (--warmup, --schedule,
    /// --clip), the budget (--steps, --epochs, --until-memorized) and the cadence
    /// (--log-every, --eval-every, --eval-windows, --checkpoint-every); each change is recorded in
    /// config.json's history. It refuses a change of model, head, data, batching or seed
    #[arg(long, value_name = "PATH", conflicts_with = "init_from")]
    pub resume: Option<PathBuf>,
    /// Start a new run from the weights of a checkpoint (e.g. one written by `import`): its model,
    /// with this run's data and training flags, a fresh optimizer, from step 0
    #[arg(long, value_name = "PATH")]
    pub init_from: Option<PathBuf>,
    /// Print a greedy sample of the model every N steps (with --prompt)
    #[arg(long, value_name = "N")]
    pub sample_every: Option<u64>,
    /// The text the samples continue [default: the first L bytes of the training data]
    #[arg(long)]
    pub prompt: Option<String>,
    #[command(flatten)]
    pub out: OutputArgs,
}

#[derive(Args, Debug)]
#[command(allow_negative_numbers = true)]
pub struct CompareArgs {
    #[command(flatten)]
    pub run: RunArgs,
    /// Heads to compare, comma-separated [default: every head]
    #[arg(long, value_delimiter = ',', value_parser = parse_head)]
    pub heads: Option<Vec<heads::HeadKind>>,
    #[command(flatten)]
    pub out: OutputArgs,
}

#[derive(Args, Debug)]
#[command(allow_negative_numbers = true)]
pub struct SweepArgs {
    #[command(flatten)]
    pub head: HeadArg,
    #[command(flatten)]
    pub run: RunArgs,
    /// An axis of the grid: FIELD=v1,v2,… (repeatable); FIELD is a flag's name with _ for -
    #[arg(long, value_name = "FIELD=V,…")]
    pub grid: Vec<String>,
    /// Seeds of every grid point, comma-separated [default: --seed, or 0]
    #[arg(long, value_delimiter = ',')]
    pub seeds: Option<Vec<u64>>,
    /// Runs at once; the threads are shared out between them (results are the same for any N)
    #[arg(long, default_value_t = 1)]
    pub jobs: usize,
    /// Run only shard K of N (1-based) [default: from SLURM_ARRAY_TASK_* in a Slurm array job]
    #[arg(long, value_name = "K/N")]
    pub shard: Option<String>,
    #[command(flatten)]
    pub out: OutputArgs,
}

#[derive(Args, Debug)]
#[command(allow_negative_numbers = true)]
pub struct CapacityArgs {
    /// Model flags fix one model size (with --sizes: the fields d_model does not set) [default:
    /// the full grid's sizes per head, L 32]
    #[command(flatten)]
    pub model: ModelArgs,
    /// Vary d_model over these widths, comma-separated (d_ff keeps the preset's d_ff/d unless
    /// --d-ff is given)
    #[arg(long, value_delimiter = ',', value_name = "D,…")]
    pub sizes: Option<Vec<usize>>,
    /// Heads to measure, comma-separated [default: every head]
    #[arg(long, value_delimiter = ',', value_parser = parse_head)]
    pub heads: Option<Vec<heads::HeadKind>>,
    /// Dataset sizes in bits of random targets per model parameter, comma-separated [default:
    /// 1,1.5,2,2.5,3,4,6; 2,3,4 at a head's largest size]
    #[arg(long, value_delimiter = ',', value_name = "B,…")]
    pub data_bits: Option<Vec<f64>>,
    /// Optimizer steps of every run (5% warm-up, cosine decay to 0; no plateau stop) [default: 8192]
    #[arg(long, value_name = "N")]
    pub steps: Option<u64>,
    /// Optimizer steps per size of --sizes, in its order (a window head's dataset grows with the
    /// model, so larger sizes need more steps) [default: --steps for every size]
    #[arg(long, value_delimiter = ',', value_name = "N,…")]
    pub steps_per_size: Option<Vec<u64>>,
    /// Learning rates tuned per head and size on the knee dataset, or those of --tune-data-bits
    /// (one value: no tuning) [default:
    /// 1e-3,3e-3,1e-2,3e-2, extended when the best is at an end]
    #[arg(long, value_delimiter = ',', value_name = "LR,…")]
    pub lrs: Option<Vec<f64>>,
    /// Datasets the rates are tuned on, in bits per parameter, comma-separated; a rate is scored
    /// on its total bits over them [default: each size's dataset nearest 4 bits/param]
    #[arg(long, value_delimiter = ',', value_name = "B,…")]
    pub tune_data_bits: Option<Vec<f64>>,
    /// Rates whose scores are within this share of the best tie, and the smallest of them wins:
    /// a rate at the edge of stability that wins the tuning seed by a hair can collapse on others
    /// [default: 0, the most bits wins]
    #[arg(long, value_name = "SHARE")]
    pub lr_tie: Option<f64>,
    /// Seeds of every point, comma-separated [default: 0,1,2; 0,1 at a head's largest size]
    #[arg(long, value_delimiter = ',', value_name = "S,…")]
    pub seeds: Option<Vec<u64>>,
    /// Rerun every point at 2× --steps: certified when within 2%; only certified points make a
    /// capacity (without it, no head is converged)
    #[arg(long)]
    pub certify: bool,
    /// Two small sizes, two dataset sizes, 150 steps: a test of the pipeline, NOT converged
    /// (every head says "converged": false); every head in 43 s (measured: release build, 2 cores)
    #[arg(long)]
    pub quick: bool,
    /// Runs at once (results are the same for any N)
    #[arg(long, default_value_t = 1)]
    pub jobs: usize,
    /// Run only shard K of N of the plan [default: from SLURM_ARRAY_TASK_* in a Slurm array job]
    #[arg(long, value_name = "K/N")]
    pub shard: Option<String>,
    /// Folder of the runs, capacity.json/md and the plots [default: capacity, or capacity-quick]
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// No progress display; print the capacity report as one JSON object
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct ResultsArgs {
    /// Folders to gather run folders from (at any depth)
    #[arg(required = true, value_name = "DIR")]
    pub dirs: Vec<PathBuf>,
    /// Config fields to group by, comma-separated [default: every field that varies, except seed]
    #[arg(long, value_delimiter = ',')]
    pub group_by: Option<Vec<String>>,
    /// Report fields in the table, comma-separated [default: loss, bits/byte, accuracy, memorized, steps, time]
    #[arg(long, value_delimiter = ',')]
    pub columns: Option<Vec<String>>,
    /// Print JSON (SPEC §4)
    #[arg(long)]
    pub json: bool,
    /// Print CSV
    #[arg(long)]
    pub csv: bool,
    /// Print markdown (the default)
    #[arg(long)]
    pub markdown: bool,
    /// Also write results.md, results.csv, results.json and a plot into this folder
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// The report field the plot shows per group, with its 95% interval
    #[arg(long, default_value = "final_loss")]
    pub metric: String,
}

#[derive(Args, Debug)]
pub struct SummaryArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub head: HeadArg,
    /// Print one JSON object instead of the table
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
#[command(allow_negative_numbers = true)]
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
    #[arg(long, default_value_t = 1.0, value_parser = train::flags::finite)]
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
    /// Read at most N windows, evenly spaced (the output says how many of how many) [default: all]
    #[arg(long, value_name = "N")]
    pub max_windows: Option<usize>,
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
#[command(mut_arg("preset", |a| a.hide(true)))]
pub struct ImportArgs {
    /// A safetensors file written by `overfit export` (or by PyTorch with the same names), or a
    /// transformers GPT-2 folder (`export --format hf`, `save_pretrained`) or its model.safetensors
    #[arg(long, value_name = "PATH")]
    pub weights: PathBuf,
    /// The checkpoint to write
    #[arg(long, value_name = "PATH")]
    pub out: PathBuf,
    /// --preset is refused: the file tells the model's shape.
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub head: HeadArg,
}

#[derive(Args, Debug)]
pub struct BenchArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub head: HeadArg,
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
    /// DIR, for benches/reference/torch_reference.py parity DIR
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

#[derive(Args, Debug)]
pub struct StudyArgs {
    /// The text to study [default: the embedded corpus]
    #[arg(long, value_name = "FILE")]
    pub data: Option<PathBuf>,
    /// Every experiment and every head in miniature (about a minute): the study's test
    #[arg(long)]
    pub quick: bool,
    /// Output folder [default: study/<data name>, with -quick for --quick]
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Runs at once (the threads are shared out between them)
    #[arg(long, default_value_t = 1)]
    pub jobs: usize,
    /// Worker threads [default: one per core]
    #[arg(long)]
    pub threads: Option<usize>,
    /// No progress display
    #[arg(long)]
    pub quiet: bool,
    /// Print one JSON object (every run of the study, and whether it is complete) on stdout
    #[arg(long)]
    pub json: bool,
    /// Run only shard K of N of each phase; a phase goes on once every shard's share is finished
    /// [default: from SLURM_ARRAY_TASK_* in a Slurm array job]
    #[arg(long, value_name = "K/N")]
    pub shard: Option<String>,
}
