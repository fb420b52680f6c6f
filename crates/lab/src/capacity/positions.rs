//! What a per-position (causal) model stores at each position of its sequences, from a finished
//! run's final weights: at position t it has seen t + 1 bytes of the sequence, and with few of
//! them it cannot tell the sequence from the others (issue 24: "report causal bits per position").
//!
//! Computed when the report is built, not during training, so that runs trained before this
//! existed report it too; cached in the run folder's `capacity-eval.json`, keyed by the
//! checkpoint's step and config (a run resumed or extended in the same folder is measured again).

use serde::{Deserialize, Serialize};
use train::checkpoint::Checkpoint;
use train::config::TrainConfig;
use train::error::{Error, Result};
use train::session::Session;
use train::RunDir;

const CACHE: &str = "capacity-eval.json";

/// What the cache holds: the bits, and which weights they were measured on.
#[derive(Serialize, Deserialize, PartialEq)]
struct Cached {
    step: u64,
    config: TrainConfig,
    bits: Vec<f64>,
}

/// Mean bits stored per sample at each position (at most 8 each; below 0 where the model does
/// worse than uniform), over every training sample of the run in `dir`, from its `checkpoint.bin`
/// (a finished run's final weights).
pub fn bits_by_position(dir: &RunDir) -> Result<Vec<f64>> {
    let config = dir.read_config().ok_or_else(|| Error::input(dir.path.display(), "has no readable config.json"))?;
    let path = dir.path.join("checkpoint.bin");
    let what = path.display().to_string();
    let ck = Checkpoint::load(&path)?;
    if ck.config != config {
        return Err(Error::input(&what, "is not the checkpoint of this run's config"));
    }
    let cache = dir.path.join(CACHE);
    let saved: Option<Cached> = std::fs::read_to_string(&cache).ok().and_then(|t| serde_json::from_str(&t).ok());
    if let Some(c) = saved.filter(|c| c.step == ck.step && c.config == config) {
        return Ok(c.bits);
    }
    let step = ck.step;
    let session = Session::resume(ck, config.clone(), &what)?;
    let windows = session.split.train_windows;
    let starts = train::data::eval_starts(0, windows, 1, usize::MAX);
    let bits: Vec<f64> = session.bits_by_position(&starts).iter().map(|b| b / windows.max(1) as f64).collect();
    let cached = Cached { step, config, bits };
    let json = serde_json::to_string(&cached).map_err(|e| Error::input(cache.display(), e.to_string()))?;
    train::fsutil::write_atomic(&cache, (json + "\n").as_bytes())?;
    Ok(cached.bits)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The cache is used only for the weights it was measured on: a cache of another step (a run
    /// resumed or extended since) is measured again, and the measure sums to the run's own
    /// memorized bits.
    #[test]
    fn the_cache_is_keyed_by_the_checkpoints_step_and_config() {
        let mut m = heads::ModelConfig::preset("seed-id4").unwrap();
        (m.head, m.seq_length, m.d_model, m.d_ff) = (heads::HeadKind::Causal, 8, 8, 12);
        let dir = tempfile::tempdir().unwrap();
        let run = RunDir { path: dir.path().join("run") };
        let spec = super::super::grid::spec(run.path.clone(), super::super::run_config(m, 20, 0, 1e-2, 120));
        let stop = std::sync::atomic::AtomicBool::new(false);
        let outcome = train::runner::run(&spec, &mut train::Silent, &stop).unwrap().expect("trained");
        let report = outcome.report;
        let bits = bits_by_position(&run).unwrap();
        assert_eq!(bits.len(), 8);
        let total = bits.iter().sum::<f64>() * 20.0;
        assert!((total - report.memorized_bits.unwrap()).abs() < 1e-6 * total.abs().max(1.0));
        let cached = |step: u64, bits: Vec<f64>| {
            let c = Cached { step, config: run.read_config().unwrap(), bits };
            std::fs::write(run.path.join(CACHE), serde_json::to_string(&c).unwrap()).unwrap();
        };
        cached(report.steps, vec![1.0; 8]);
        assert_eq!(bits_by_position(&run).unwrap(), vec![1.0; 8], "a cache of these weights is read");
        cached(report.steps - 1, vec![1.0; 8]);
        assert_eq!(bits_by_position(&run).unwrap(), bits, "a cache of other weights is measured again");
    }
}
