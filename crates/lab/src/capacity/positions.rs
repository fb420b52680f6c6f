//! What a per-position (causal) model stores at each position of its sequences, from a finished
//! run's final weights: at position t it has seen t + 1 bytes of the sequence, and with few of
//! them it cannot tell the sequence from the others (issue 24: "report causal bits per position").
//!
//! Computed when the report is built, not during training, so that runs trained before this
//! existed report it too; cached in the run folder's `capacity-eval.json`.

use train::checkpoint::Checkpoint;
use train::error::{Error, Result};
use train::session::Session;
use train::RunDir;

const CACHE: &str = "capacity-eval.json";

/// Mean bits stored per sample at each position (0 to 8 each), over every training sample of the
/// run in `dir`, from its `checkpoint.bin`.
pub fn bits_by_position(dir: &RunDir) -> Result<Vec<f64>> {
    let cache = dir.path.join(CACHE);
    if let Some(bits) = std::fs::read_to_string(&cache).ok().and_then(|t| serde_json::from_str(&t).ok()) {
        return Ok(bits);
    }
    let config = dir.read_config().ok_or_else(|| Error::input(dir.path.display(), "has no readable config.json"))?;
    let path = dir.path.join("checkpoint.bin");
    let what = path.display().to_string();
    let ck = Checkpoint::load(&path)?;
    if ck.config != config {
        return Err(Error::input(&what, "is not the checkpoint of this run's config"));
    }
    let session = Session::resume(ck, config, &what)?;
    let windows = session.split.train_windows;
    let starts = train::data::eval_starts(0, windows, 1, usize::MAX);
    let bits: Vec<f64> = session.bits_by_position(&starts).iter().map(|b| b / windows.max(1) as f64).collect();
    let json = serde_json::to_string(&bits).map_err(|e| Error::input(cache.display(), e.to_string()))?;
    train::fsutil::write_atomic(&cache, (json + "\n").as_bytes())?;
    Ok(bits)
}
