//! Training-step throughput: `overfit bench`.

use serde::Serialize;
use std::path::Path;
use std::time::Instant;
use train::config::TrainConfig;
use train::error::Result;
use train::session::Session;
use train::settings::{self, Overrides, Sources};

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
    pub head: heads::HeadKind,
    /// With --profile: CPU time per op kind, as a table.
    #[serde(skip)]
    pub profile: Option<String>,
}

/// The config a benchmark trains: the preset (or the default one) with the model `flags` given,
/// this batch and micro-batch, on `data` (default: the embedded corpus).
pub fn config(
    preset: Option<&str>,
    mut flags: Overrides,
    batch_size: usize,
    micro_batch: usize,
    data: Option<&Path>,
) -> Result<TrainConfig> {
    flags.insert("batch_size".into(), batch_size.into());
    flags.insert("micro_batch".into(), micro_batch.into());
    if let Some(d) = data {
        flags.insert("data".into(), d.display().to_string().into());
    }
    settings::resolve(&Sources { preset, file: None, flags })
}

/// Times `steps` full training steps (forward, backward, Adam) after `warmup` untimed ones: the
/// median of five rounds.
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
    // Timed in five rounds; the median round is reported, so that a moment of interference from
    // the rest of the machine (a shared VM, say) does not decide the figure.
    let rounds = 5.min(steps).max(1);
    let mut per_step: Vec<f64> = (0..rounds)
        .map(|r| {
            let n = steps / rounds + u64::from(r < steps % rounds);
            let t0 = Instant::now();
            for _ in 0..n {
                s.train_step();
            }
            t0.elapsed().as_secs_f64() / n.max(1) as f64
        })
        .collect();
    per_step.sort_by(f64::total_cmp);
    let secs = (per_step[per_step.len() / 2] * steps as f64).max(1e-12);
    let (b, l) = (s.config.batch_size as f64, s.config.model.seq_length as f64);
    Ok(BenchResult {
        steps_per_sec: steps as f64 / secs,
        samples_per_sec: steps as f64 * b / secs,
        tokens_per_sec: steps as f64 * b * l / secs,
        peak_rss_bytes: train::system::peak_rss_bytes(),
        ms_per_step: secs * 1e3 / steps as f64,
        steps,
        warmup_steps: warmup,
        batch_size: s.config.batch_size,
        threads: rayon::current_num_threads(),
        head: s.config.model.head,
        profile: profile.then(|| profile_table(steps)),
    })
}

/// The profiler's table so far (emptied), per step: forward and backward CPU time of each op kind.
fn profile_table(steps: u64) -> String {
    let mut rows = autograd::profile::take();
    rows.sort_by(|x, y| (y.1.forward_secs + y.1.backward_secs).total_cmp(&(x.1.forward_secs + x.1.backward_secs)));
    let total: f64 = rows.iter().map(|(_, e)| e.forward_secs + e.backward_secs).sum();
    let per = |s: f64| s * 1e6 / steps as f64;
    let mut t = format!(
        "{:<30} {:>12} {:>12} {:>8} {:>10}\n",
        "op (CPU time per step)", "forward µs", "backward µs", "share", "calls/step"
    );
    for (name, e) in rows {
        t.push_str(&format!(
            "{name:<30} {:>12.1} {:>12.1} {:>7.1}% {:>10.1}\n",
            per(e.forward_secs),
            per(e.backward_secs),
            100.0 * (e.forward_secs + e.backward_secs) / total,
            e.calls as f64 / steps as f64
        ));
    }
    t + &format!("{:<30} {:>12.1} µs of CPU time per step\n", "total", per(total))
}

/// Writes what a reference implementation needs to check that it trains the same model: the
/// initial weights (`weights.safetensors`, as `overfit export` writes them), the first batch
/// (`batch.safetensors`: `ids` [B, L] and `targets` [B] or [B, L], int32) and overfit's loss and
/// gradients on it (`grads.safetensors`, the same names as the weights; the loss in its metadata).
pub fn dump_parity(config: TrainConfig, dir: &Path) -> Result<f64> {
    use safetensors::tensor::{Dtype, TensorView};
    use train::error::Error;
    std::fs::create_dir_all(dir).map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
    let mut s = Session::new(config)?;
    weights::export(&s.checkpoint(), &dir.join("weights.safetensors"))?;
    let (loss, windows) = s.compute_gradients();
    let l = s.config.model.seq_length;
    let ints = |v: &[u32]| -> Vec<u8> { v.iter().flat_map(|&x| (x as i32).to_le_bytes()).collect() };
    let (ids, targets) = (ints(&s.batch().ids), ints(&s.batch().targets));
    let target_shape = if s.batch().targets.len() == windows { vec![windows] } else { vec![windows, l] };
    let views = vec![
        ("ids".to_string(), TensorView::new(Dtype::I32, vec![windows, l], &ids).expect("sizes agree")),
        ("targets".to_string(), TensorView::new(Dtype::I32, target_shape, &targets).expect("sizes agree")),
    ];
    let data = safetensors::tensor::serialize(views, None).map_err(|e| Error::input(dir.display(), e.to_string()))?;
    train::fsutil::write_atomic(&dir.join("batch.safetensors"), &data)?;
    let grads: Vec<(String, Vec<usize>, Vec<u8>)> = s
        .params
        .iter()
        .map(|(id, p)| {
            let g = s.grads().get(id).map(|g| g.iter().copied().collect()).unwrap_or_else(|| vec![0f32; p.numel()]);
            (p.name.clone(), p.shape.clone(), g.iter().flat_map(|x| x.to_le_bytes()).collect())
        })
        .collect();
    let views: Vec<(String, TensorView<'_>)> = grads
        .iter()
        .map(|(n, sh, b)| (n.clone(), TensorView::new(Dtype::F32, sh.clone(), b).expect("sizes agree")))
        .collect();
    let mut meta = std::collections::HashMap::new();
    meta.insert("loss".to_string(), format!("{loss:e}"));
    let data =
        safetensors::tensor::serialize(views, Some(meta)).map_err(|e| Error::input(dir.display(), e.to_string()))?;
    train::fsutil::write_atomic(&dir.join("grads.safetensors"), &data)?;
    Ok(loss)
}

/// `overfit bench`'s line.
pub fn bench_line(r: &BenchResult) -> String {
    format!(
        "head {}: {:.1} steps/s ({:.3} ms/step), {:.0} samples/s, {:.0} tokens/s, batch {}, {} threads, peak RSS {} MiB",
        r.head,
        r.steps_per_sec,
        r.ms_per_step,
        r.samples_per_sec,
        r.tokens_per_sec,
        r.batch_size,
        r.threads,
        r.peak_rss_bytes.map_or("?".into(), |b| (b >> 20).to_string())
    )
}
