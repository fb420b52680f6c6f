//! Helpers shared by the top-level tests.
#![allow(dead_code)]

use overfit::train::{self, Report, RunDir, Session, TrainConfig};
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

/// The real text the tests learn: CI has it beside the clone, as the developers do.
pub fn shakespeare() -> PathBuf {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data/tinyshakespeare.txt");
    assert!(p.exists(), "{} is missing: the tests read ../shared/data/tinyshakespeare.txt", p.display());
    p
}

pub static NEVER: AtomicBool = AtomicBool::new(false);

/// Trains `config` into a fresh run folder under `dir`.
pub fn run(config: TrainConfig, dir: &std::path::Path) -> (Report, Session) {
    let mut s = Session::new(config).expect("valid config");
    let run = RunDir::create_next(dir).expect("run folder");
    let report = train::train(&mut s, &run, &mut train::Silent, &NEVER).expect("run completes");
    (report, s)
}

/// A short run on the embedded corpus: `steps` steps of the default model.
pub fn short(steps: u64) -> TrainConfig {
    let mut c = TrainConfig::default_run();
    c.steps = Some(steps);
    c.epochs = None;
    c.until_memorized = false;
    c
}

/// Every parameter as raw bits, for bit-identical comparisons.
pub fn param_bits(s: &Session) -> Vec<u32> {
    s.params.iter().flat_map(|(_, p)| p.value.iter().map(|x| x.to_bits()).collect::<Vec<_>>()).collect()
}
