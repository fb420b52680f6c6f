//! Training runs: data windows, Adam/AdamW, the loop, run folders, checkpoints, safetensors,
//! generation and benchmarking; the planners of `compare` and `sweep`, the runner, the progress
//! display, and the results rendered as text, markdown and JSON. The CLI is a thin layer over
//! this crate: it parses flags, calls it, and prints.

pub mod bench;
pub mod capacity;
pub mod checkpoint;
pub mod compare;
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
pub mod plot;
pub mod progress;
pub mod provenance;
pub mod results;
pub mod run;
pub mod runner;
pub mod session;
pub mod settings;
pub mod study;
pub mod summary;
pub mod sweep;
pub mod system;
pub mod trainer;
pub mod weights;

pub use checkpoint::Checkpoint;
pub use config::TrainConfig;
pub use error::{Error, Result};
pub use run::{MetricsRow, Report, RunDir, Stopped};
pub use session::Session;
pub use trainer::{train, Observer, Silent};
