//! Training-step throughput: `overfit bench`.

use crate::config::TrainConfig;
use crate::error::Result;
use crate::session::Session;
use serde::Serialize;
use std::time::Instant;

#[derive(Clone, Debug, Serialize)]
pub struct BenchResult {
    pub steps_per_sec: f64,
    pub samples_per_sec: f64,
    pub tokens_per_sec: f64,
    pub peak_rss_bytes: Option<u64>,
    pub ms_per_step: f64,
    pub steps: u64,
    pub warmup_steps: u64,
    pub batch_size: usize,
    pub threads: usize,
    pub head: String,
}

/// Times `steps` full training steps (forward, backward, Adam) after `warmup` untimed ones.
pub fn bench(mut config: TrainConfig, steps: u64, warmup: u64, profile: bool) -> Result<BenchResult> {
    config.steps = Some(steps + warmup);
    config.epochs = None;
    config.until_memorized = false;
    config.samples = None;
    let mut s = Session::new(config)?;
    for _ in 0..warmup {
        s.train_step();
    }
    if profile {
        autograd::profile::enable();
        autograd::profile::take();
    }
    let t0 = Instant::now();
    for _ in 0..steps {
        s.train_step();
    }
    let secs = t0.elapsed().as_secs_f64().max(1e-12);
    let (b, l) = (s.config.batch_size as f64, s.config.model.seq_length as f64);
    Ok(BenchResult {
        steps_per_sec: steps as f64 / secs,
        samples_per_sec: steps as f64 * b / secs,
        tokens_per_sec: steps as f64 * b * l / secs,
        peak_rss_bytes: crate::system::peak_rss_bytes(),
        ms_per_step: secs * 1e3 / steps as f64,
        steps,
        warmup_steps: warmup,
        batch_size: s.config.batch_size,
        threads: rayon::current_num_threads(),
        head: s.config.model.head.clone(),
    })
}
