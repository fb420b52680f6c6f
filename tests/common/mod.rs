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

/// `python3 scripts/<script> <args>`: its output, or None (after saying so) when python3 cannot
/// run and OVERFIT_SKIP_PYTHON=1 allows the test to skip; without it a missing python3 fails.
pub fn python_script<S: AsRef<std::ffi::OsStr>>(script: &str, args: &[S]) -> Option<std::process::Output> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts").join(script);
    match std::process::Command::new("python3").arg(path).args(args).output() {
        Ok(out) => Some(out),
        Err(e) if std::env::var("OVERFIT_SKIP_PYTHON").as_deref() == Ok("1") => {
            eprintln!("SKIPPED: python3 cannot run ({e}); scripts/{script} is not checked");
            None
        }
        Err(e) => panic!("python3 cannot run ({e}): install it, or set OVERFIT_SKIP_PYTHON=1 to skip"),
    }
}
