//! The full training step (forward, backward, clipping, Adam; batch 32) per preset, for the flatten
//! and causal heads. Run: `cargo bench --bench step`. (`overfit bench` reports the same thing from
//! the command line; `benches/reference/compare_torch.py` sets it against PyTorch.)

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use overfit::heads::ModelConfig;
use overfit::train::{Session, TrainConfig};
use std::time::Duration;

/// As the `overfit` binary: mimalloc.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn step(c: &mut Criterion) {
    let mut g = c.benchmark_group("train_step");
    for preset in ["seed-id4", "small", "medium"] {
        if preset == "medium" {
            g.sample_size(10).measurement_time(Duration::from_secs(8));
        }
        for head in ["flatten", "causal"] {
            let mut config = TrainConfig::default_run();
            config.model = ModelConfig { head: head.parse().unwrap(), ..ModelConfig::preset(preset).unwrap() };
            config.samples = None;
            config.steps = Some(u64::MAX);
            config.epochs = None;
            config.until_memorized = false;
            let mut s = Session::new(config).unwrap();
            g.throughput(Throughput::Elements(32)); // windows per step
            g.bench_function(BenchmarkId::new(head, preset), |b| b.iter(|| s.train_step()));
        }
    }
    g.finish();
}

criterion_group!(benches, step);
criterion_main!(benches);
