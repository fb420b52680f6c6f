//! Run folders (SPEC §3): `runs/id-N/` with config.json, summary.txt, metrics.jsonl,
//! checkpoint.bin, report.json and curves.svg.

use crate::checkpoint::Checkpoint;
use crate::config::TrainConfig;
use crate::error::{Error, Result};
use crate::fsutil::write_atomic;
use crate::provenance::Provenance;
use heads::ParamCounts;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Why a run stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stopped {
    Memorized,
    MaxSteps,
    Diverged,
    Interrupted,
    /// The training loss stopped falling (`until_plateau`).
    Plateau,
    /// The validation loss stopped improving for `early_stop` steps.
    EarlyStopped,
}

impl Stopped {
    /// The name report.json gives it: `max_steps`, `memorized`…
    pub fn name(self) -> String {
        serde_json::to_value(self).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default()
    }
}

/// One line of metrics.jsonl: a row every `--log-every` steps, and at every evaluation. The
/// evaluation fields are null on a row that did not evaluate (see `--eval-every`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MetricsRow {
    pub step: u64,
    /// Epochs done, fractional (steps / steps-per-epoch).
    pub epoch: f64,
    /// Mean training loss (nats) of the steps since the previous row: a running mean over the
    /// batches trained, not a fresh evaluation.
    pub loss: f64,
    /// Accuracy on the evaluated training windows (all targets of them).
    pub accuracy: Option<f64>,
    /// Evaluated training windows whose next-byte prediction (argmax) is right.
    pub memorized: Option<usize>,
    /// Of them, those whose every position's prediction is right (eval.rs; for a window head, the
    /// same count).
    #[serde(default)]
    pub memorized_all_positions: Option<usize>,
    /// A fresh evaluation of the loss (nats) on the evaluated training windows, at this step's weights.
    #[serde(default)]
    pub eval_loss: Option<f64>,
    pub lr: f64,
    /// Training throughput, time inside optimizer steps only (evaluation and logging excluded).
    pub samples_per_sec: f64,
    /// Mean time of an optimizer step in this session (ms).
    #[serde(default)]
    pub ms_per_step: f64,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub val_loss: Option<f64>,
    /// The gradient norm of this row's step, before clipping (null at step 0).
    pub grad_norm: Option<f64>,
    pub wall_seconds: f64,
    /// Seconds this row's evaluation took (0 when it did not evaluate).
    #[serde(default)]
    pub eval_seconds: f64,
}

/// report.json (SPEC §3), plus a few fields a reader of a study wants.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub head: heads::HeadKind,
    pub params: ParamCounts,
    pub ratio: Option<f64>,
    /// Training windows.
    pub samples: usize,
    /// Memorized training windows (of `memorized_of` evaluated): the next byte after the window
    /// predicted right (eval.rs).
    pub memorized: usize,
    /// Of them, those whose every position is predicted right: the stricter count of a
    /// per-position head; equal to `memorized` for a window head. Null in reports written before it.
    #[serde(default)]
    pub memorized_all_positions: Option<usize>,
    pub epochs: f64,
    pub steps: u64,
    /// Mean loss over the evaluated training windows at the end (nats).
    pub final_loss: f64,
    pub train_accuracy: f64,
    pub val_loss: Option<f64>,
    /// Validation loss in bits per byte, or the training loss's when there is no split.
    pub bits_per_byte: f64,
    /// The same, of each window's last prediction only (SPEC §4): for a window head it equals
    /// bits_per_byte; for a per-position head it leaves out the early positions' easier guesses.
    #[serde(default)]
    pub last_bits_per_byte: f64,
    pub samples_per_sec: f64,
    pub wall_seconds: f64,
    /// Of `wall_seconds`, the time spent evaluating (periodic evaluations and the final pass).
    #[serde(default)]
    pub eval_seconds: f64,
    /// Windows of the final validation pass (0 without a split).
    #[serde(default)]
    pub val_windows: usize,
    pub stopped: Stopped,
    pub memorized_of: usize,
    /// The first epoch at whose end every evaluated window was memorized.
    pub epochs_to_memorize: Option<f64>,
    pub steps_to_memorize: Option<u64>,
    /// The log's approximate ratio, beside the exact one.
    pub approx_ratio: f64,
    pub preset: String,
    pub data: String,
    pub seed: u64,
    pub run_dir: String,
    /// Peak resident memory of the process at the end of the run (Linux; null elsewhere). It counts
    /// the pages of a memory-mapped data file that the run touched.
    #[serde(default)]
    pub peak_rss_bytes: Option<u64>,
    /// Anonymous resident memory at the end of the run: what the process holds itself.
    #[serde(default)]
    pub rss_anon_bytes: Option<u64>,
    /// The program, command line, start time and data of the session that wrote this report.
    #[serde(default)]
    pub provenance: Option<Provenance>,
    /// When the run stopped (RFC 3339, UTC).
    #[serde(default)]
    pub ended: Option<String>,
    /// On random data (SPEC §4): Σ over every training target of (8 − its cross-entropy in bits),
    /// from a full evaluation of every training window at the end; null on text.
    #[serde(default)]
    pub memorized_bits: Option<f64>,
    /// On random data: 8 bits × training targets, the most that could be memorized.
    #[serde(default)]
    pub dataset_bits: Option<f64>,
    /// With `early_stop`: the step of the best validation loss, whose weights (best.bin) every
    /// evaluation figure of this report comes from; null without it. A run that reached its step
    /// budget first says `stopped: max_steps`: it was capped, not converged.
    #[serde(default)]
    pub best_step: Option<u64>,
    /// With `test_fraction`: the test part, read once at the end, at the reported weights.
    #[serde(default)]
    pub test: Option<TestFigures>,
    /// On random data: as memorized_bits, with each sample's sum clipped at 0 before summing
    /// (a causal sample is its whole sequence), as Morris et al. count; null on text.
    #[serde(default)]
    pub memorized_bits_clipped: Option<f64>,
}

/// A run's figures on its test part (`--test-fraction`), on which nothing was chosen.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct TestFigures {
    /// Mean cross-entropy over every test target (nats), and in bits per byte.
    pub loss: f64,
    pub bits_per_byte: f64,
    /// Bits per byte of each window's last prediction only: the same targets for every head.
    pub last_bits_per_byte: f64,
    pub accuracy: f64,
    pub windows: usize,
}

impl TestFigures {
    pub fn of(e: &crate::eval::Evaluation) -> TestFigures {
        let ln2 = std::f64::consts::LN_2;
        TestFigures {
            loss: e.loss,
            bits_per_byte: e.loss / ln2,
            last_bits_per_byte: e.last_loss / ln2,
            accuracy: e.accuracy,
            windows: e.windows,
        }
    }
}

impl Report {
    /// The exit code of a command that ran this run (SPEC §2): 1 if it diverged, 130 if it was
    /// interrupted, else 0.
    pub fn exit_code(&self) -> u8 {
        match self.stopped {
            Stopped::Diverged => 1,
            Stopped::Interrupted => 130,
            Stopped::Memorized | Stopped::MaxSteps | Stopped::Plateau | Stopped::EarlyStopped => 0,
        }
    }
}

/// What config.json records beside the config: where the run came from, every resume since, and
/// the checksum of its training bytes (the one its checkpoints carry), so that a checkpoint of
/// another run is refused in this folder.
#[derive(Clone, Debug, Default)]
pub struct Record {
    pub provenance: Option<Provenance>,
    pub history: Vec<Resumed>,
    /// Absent in folders written before it was recorded.
    pub data_fingerprint: Option<u32>,
}

/// One resume of a run, as config.json's `history` lists it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Resumed {
    /// When (RFC 3339, UTC), at which step, by which command.
    pub at: String,
    pub step: u64,
    pub command: Vec<String>,
    /// The settings it changed: (field, from, to).
    pub changes: Vec<crate::settings::Change>,
}

/// Creates a runs folder (and its parents). A path that is a file, or under one, is bad input
/// (exit 2, naming `--runs-dir`), not a failed run.
pub fn create_runs_dir(path: &Path) -> Result<()> {
    let file = path.ancestors().find(|p| p.is_file());
    if let Some(file) = file {
        return Err(Error::usage(
            "--runs-dir",
            format!("{} is a file, not a folder: give a folder for the run folders", file.display()),
        ));
    }
    std::fs::create_dir_all(path).map_err(|e| Error::io(format!("creating the runs folder {}", path.display()), e))
}

/// A run folder.
#[derive(Clone, Debug)]
pub struct RunDir {
    pub path: PathBuf,
}

impl RunDir {
    /// Creates the next `id-N` folder under `runs_dir` (N one more than the largest there).
    pub fn create_next(runs_dir: &Path) -> Result<RunDir> {
        create_runs_dir(runs_dir)?;
        loop {
            let next = Self::ids(runs_dir).into_iter().max().unwrap_or(0) + 1;
            let path = runs_dir.join(format!("id-{next}"));
            match std::fs::create_dir(&path) {
                Ok(()) => return Ok(RunDir { path }),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(Error::io(format!("creating the run folder {}", path.display()), e)),
            }
        }
    }

    fn ids(runs_dir: &Path) -> Vec<u64> {
        std::fs::read_dir(runs_dir)
            .map(|rd| rd.filter_map(|e| e.ok()?.file_name().to_str()?.strip_prefix("id-")?.parse().ok()).collect())
            .unwrap_or_default()
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// checkpoint.bin: the state a resume continues from, written atomically.
    pub fn save_checkpoint(&self, ck: &Checkpoint) -> Result<()> {
        ck.save(&self.file("checkpoint.bin"))
    }

    /// best.bin: the weights of the best validation loss so far (early stopping).
    pub fn save_best(&self, ck: &Checkpoint) -> Result<()> {
        ck.save(&self.file("best.bin"))
    }

    pub fn load_best(&self) -> Result<Checkpoint> {
        Checkpoint::load(&self.file("best.bin"))
    }

    /// summary.txt: the model's table of layers and parameters (once: a resume keeps it).
    pub fn write_summary(&self, model: &heads::ModelConfig) -> Result<()> {
        if self.file("summary.txt").exists() {
            return Ok(());
        }
        self.write("summary.txt", crate::summary::Summary::of(model)?.table().as_bytes())
    }

    /// curves.svg, from metrics.jsonl.
    pub fn draw_curves(&self, title: &str, label: &str) -> Result<()> {
        let points = self.read_curve();
        Ok(plot::curves(&self.file("curves.svg"), title, &[plot::Series { label, rows: &points }])?)
    }

    /// Forgets the rows of a run that never reached its first checkpoint.
    pub fn remove_metrics(&self) {
        let _ = std::fs::remove_file(self.file("metrics.jsonl"));
    }

    pub fn write(&self, name: &str, bytes: &[u8]) -> Result<()> {
        write_atomic(&self.file(name), bytes)
    }

    pub fn write_json<T: Serialize>(&self, name: &str, value: &T) -> Result<()> {
        let mut s = serde_json::to_string_pretty(value).expect("serializable");
        s.push('\n');
        self.write(name, s.as_bytes())
    }

    /// Writes config.json: the config's own fields, then where the run came from, every resume
    /// since and its data's checksum, so that the file still reads as a config (`--config`) and
    /// keeps the original.
    pub fn write_config(&self, config: &TrainConfig, record: &Record) -> Result<()> {
        let mut v = serde_json::to_value(config).expect("serializable");
        v["provenance"] = serde_json::to_value(&record.provenance).expect("serializable");
        v["history"] = serde_json::to_value(&record.history).expect("serializable");
        if let Some(f) = record.data_fingerprint {
            v["data_fingerprint"] = f.into();
        }
        self.write_json("config.json", &v)
    }

    /// The config of this run folder, if it has a readable one.
    pub fn read_config(&self) -> Option<TrainConfig> {
        crate::settings::read_config_file(&self.file("config.json")).ok()
    }

    /// config.json's record: provenance, resume history, data checksum.
    pub fn read_record(&self) -> Record {
        let v: Option<serde_json::Value> =
            std::fs::read_to_string(self.file("config.json")).ok().and_then(|t| serde_json::from_str(&t).ok());
        let field = |k: &str| v.as_ref().and_then(|v| v.get(k)).cloned();
        Record {
            provenance: field("provenance").and_then(|p| serde_json::from_value(p).ok()),
            history: field("history").and_then(|h| serde_json::from_value(h).ok()).unwrap_or_default(),
            data_fingerprint: field("data_fingerprint").and_then(|f| serde_json::from_value(f).ok()),
        }
    }

    /// The report of a finished (or interrupted) run, if it has a readable one.
    pub fn read_report(&self) -> Option<Report> {
        std::fs::read_to_string(self.file("report.json")).ok().and_then(|t| serde_json::from_str(&t).ok())
    }

    /// Appends one row to metrics.jsonl.
    pub fn append_metrics(&self, row: &MetricsRow) -> Result<()> {
        let path = self.file("metrics.jsonl");
        let line = serde_json::to_string(row).expect("serializable") + "\n";
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .and_then(|mut f| f.write_all(line.as_bytes()))
            .map_err(|e| Error::io(format!("appending to {}", path.display()), e))
    }

    /// The rows of metrics.jsonl (unreadable lines skipped).
    pub fn read_metrics(&self) -> Vec<MetricsRow> {
        std::fs::read_to_string(self.file("metrics.jsonl"))
            .map(|s| s.lines().filter_map(|l| serde_json::from_str(l).ok()).collect())
            .unwrap_or_default()
    }

    /// metrics.jsonl as the points of a curves plot.
    pub fn read_curve(&self) -> Vec<plot::Point> {
        let point = |r: MetricsRow| plot::Point {
            step: r.step,
            loss: r.loss,
            eval_loss: r.eval_loss,
            val_loss: r.val_loss,
            accuracy: r.accuracy,
        };
        self.read_metrics().into_iter().map(point).collect()
    }

    /// Drops the rows after `step` (a resumed run rewrites what came after its checkpoint).
    pub fn truncate_metrics(&self, step: u64) -> Result<()> {
        let kept: String = self
            .read_metrics()
            .into_iter()
            .filter(|r| r.step <= step)
            .map(|r| serde_json::to_string(&r).expect("serializable") + "\n")
            .collect();
        self.write("metrics.jsonl", kept.as_bytes())
    }
}
