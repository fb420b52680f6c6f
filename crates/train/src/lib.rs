//! One training run, start to finish: its config and settings, the data windows, the session (a
//! model, its optimizer and its data), the trainer's loop, evaluation, checkpoints, the run folder
//! and its lock, the runner that starts, resumes or skips a run, the progress display, and a run
//! as text. It uses the model crates below it (`tensor`, `autograd`, `layers`, `heads`) and
//! `plot` for a run's curves; `weights` (interchange), `lab` (experiments over many runs) and the
//! `cli` use it.

pub mod checkpoint;
pub mod config;
pub mod console;
pub mod data;
pub mod error;
pub mod eval;
pub mod flags;
pub mod fsutil;
pub mod generate;
pub mod lock;
pub mod optim;
pub mod progress;
pub mod provenance;
pub mod run;
pub mod runner;
pub mod session;
pub mod settings;
pub mod summary;
pub mod system;
pub mod text;
pub mod trainer;

pub use checkpoint::Checkpoint;
pub use config::TrainConfig;
pub use error::{Error, Result};
pub use run::{MetricsRow, Report, RunDir, Stopped};
pub use session::Session;
pub use trainer::{train, Observer, Silent};
