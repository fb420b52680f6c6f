//! Fused multi-head attention, forward and backward, at the three presets' shapes and two capacity sizes (batch 16, one
//! micro-batch). Run: `cargo bench -p tensor --bench attention`.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use rand::{Rng, SeedableRng};
use tensor::attention::{attention_backward, attention_forward};
use tensor::Tensor;

fn rand_tensor(shape: &[usize], seed: u64) -> Tensor<f32> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let n = shape.iter().product();
    tensor::from_vec(shape, (0..n).map(|_| rng.random_range(-1.0f32..1.0)).collect())
}

fn attention(c: &mut Criterion) {
    let mut g = c.benchmark_group("attention");
    for (preset, l, d, h) in [
        ("L32 d8", 32, 8, 2),
        ("seed-id4", 32, 16, 2),
        ("L32 d64", 32, 64, 2),
        ("small", 64, 64, 4),
        ("medium", 128, 128, 4),
    ] {
        let b = 16;
        let (q, k, v, dout) = (
            rand_tensor(&[b, l, d], 1),
            rand_tensor(&[b, l, d], 2),
            rand_tensor(&[b, l, d], 3),
            rand_tensor(&[b, l, d], 4),
        );
        // Two products forward (scores, weighted sum) and four backward, 2·L·L·d/h FLOP each, per (item, head).
        g.throughput(Throughput::Elements((6 * 2 * b * h * l * l * (d / h)) as u64));
        for causal in [false, true] {
            let id = BenchmarkId::new(if causal { "causal" } else { "full" }, preset);
            g.bench_function(id, |bench| {
                bench.iter(|| {
                    let (o, p) = attention_forward(&q, &k, &v, h, causal);
                    let grads = attention_backward(&q, &k, &v, &p, h, causal, &dout);
                    (o, grads)
                })
            });
        }
    }
    g.finish();
}

criterion_group!(benches, attention);
criterion_main!(benches);
