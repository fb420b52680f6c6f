//! The non-matmul kernels at the shapes of one seed-id4 / small micro-batch (16 windows).
//! Run: `cargo bench -p tensor --bench kernels`.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use rand::{Rng, SeedableRng};
use tensor::{elementwise, norm, softmax, Tensor};

fn rand_tensor(shape: &[usize], seed: u64) -> Tensor<f32> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let n = shape.iter().product();
    tensor::from_vec(shape, (0..n).map(|_| rng.random_range(-3.0f32..3.0)).collect())
}

fn kernels(c: &mut Criterion) {
    let mut g = c.benchmark_group("kernels");
    for (name, rows, v) in [("causal-seed-id4", 512, 257), ("window-seed-id4", 16, 257)] {
        let logits = rand_tensor(&[rows, v], 1);
        let targets: Vec<u32> = (0..rows as u32).map(|i| i * 7 % 257).collect();
        g.throughput(Throughput::Elements((rows * v) as u64));
        g.bench_function(BenchmarkId::new("cross_entropy_fwd_bwd", name), |b| {
            b.iter(|| {
                let (loss, p) = softmax::cross_entropy_forward(&logits, &targets);
                (loss, softmax::cross_entropy_backward(&p, &targets, 1.0))
            })
        });
    }
    for (name, rows, d) in [("seed-id4", 512, 16), ("small", 1024, 64)] {
        let x = rand_tensor(&[rows, d], 2);
        let (w, b) = (rand_tensor(&[d], 3), rand_tensor(&[d], 4));
        let dy = rand_tensor(&[rows, d], 5);
        g.throughput(Throughput::Elements((rows * d) as u64));
        g.bench_function(BenchmarkId::new("layer_norm_fwd_bwd", name), |bch| {
            bch.iter(|| {
                let (y, s) = norm::layer_norm_forward(&x, &w, &b, 1e-5);
                (y, norm::layer_norm_backward(&x, &w, &s, &dy))
            })
        });
    }
    for (name, n) in [("seed-id4", 512 * 16), ("small", 1024 * 256)] {
        let x = rand_tensor(&[n], 6);
        g.throughput(Throughput::Elements(n as u64));
        g.bench_function(BenchmarkId::new("gelu_fwd_bwd", name), |b| {
            b.iter(|| (elementwise::gelu_forward(&x), elementwise::gelu_backward(&x, &x)))
        });
    }
    g.finish();
}

criterion_group!(benches, kernels);
criterion_main!(benches);
