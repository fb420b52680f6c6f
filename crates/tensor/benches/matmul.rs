//! Matrix products at the shapes overfit's models use, and square sgemm for comparison with numpy.
//!
//! Throughput is counted in floating-point operations (2·m·n·k per product), so criterion's
//! "elem/s" column reads as FLOP/s. Run: `cargo bench -p tensor --bench matmul`.
//! The numpy side of BENCHMARKS.md: `python3 benches/reference/numpy_matmul.py`.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use rand::{Rng, SeedableRng};
use tensor::matmul::{gemm, gemm_in_tasks, matmul_forward, Mat};
use tensor::Tensor;

fn rand_tensor(shape: &[usize]) -> Tensor<f32> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    let n = shape.iter().product();
    tensor::from_vec(shape, (0..n).map(|_| rng.random_range(-1.0f32..1.0)).collect())
}

/// `c = a·b` through the `gemm` crate on one thread; strides as (row, column) like
/// `matrixmultiply` (the crate itself takes them column first and writes `dst = α·dst + β·a·b`).
#[allow(clippy::too_many_arguments)]
fn gemm_crate(
    m: usize,
    k: usize,
    n: usize,
    a: *const f32,
    rsa: isize,
    csa: isize,
    b: *const f32,
    rsb: isize,
    csb: isize,
    c: *mut f32,
    rsc: isize,
    csc: isize,
) {
    // SAFETY: the callers pass buffers of exactly these shapes and strides.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c,
            csc,
            rsc,
            false,
            a,
            csa,
            rsa,
            b,
            csb,
            rsb,
            0.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        )
    }
}

fn flops(m: usize, k: usize, n: usize, batch: usize) -> Throughput {
    Throughput::Elements((2 * m * k * n * batch) as u64)
}

/// Square products, the reference shape of BLAS benchmarks.
fn square(c: &mut Criterion) {
    let mut g = c.benchmark_group("sgemm_square");
    for n in [64, 128, 256, 512, 1024] {
        let (a, b) = (rand_tensor(&[n, n]), rand_tensor(&[n, n]));
        let mut out = vec![0f32; n * n];
        g.throughput(flops(n, n, n, 1));
        g.bench_function(BenchmarkId::from_parameter(n), |bench| {
            bench.iter(|| {
                gemm(Mat::new(a.as_slice().unwrap(), n, n), Mat::new(b.as_slice().unwrap(), n, n), &mut out, false)
            })
        });
    }
    g.finish();
}

/// Where splitting a product across two threads starts to pay: serial vs two tasks.
fn threshold(c: &mut Criterion) {
    let mut g = c.benchmark_group("split_threshold");
    for n in [16, 32, 64, 96, 128, 192] {
        let (a, b) = (rand_tensor(&[n, n]), rand_tensor(&[n, n]));
        let mut out = vec![0f32; n * n];
        g.throughput(flops(n, n, n, 1));
        for tasks in [1, 2] {
            g.bench_function(BenchmarkId::new(format!("{tasks}-task"), n), |bench| {
                bench.iter(|| {
                    gemm_in_tasks(
                        Mat::new(a.as_slice().unwrap(), n, n),
                        Mat::new(b.as_slice().unwrap(), n, n),
                        &mut out,
                        false,
                        tasks,
                    )
                })
            });
        }
    }
    g.finish();
}

/// The output head's products at the three presets, batch 32: forward x·Wᵀ, and the two of
/// backward (dW = dyᵀ·x, dx = dy·W).
fn head(c: &mut Criterion) {
    let mut g = c.benchmark_group("head_matmul");
    for (preset, ld) in [("seed-id4", 32 * 16), ("small", 64 * 64), ("medium", 128 * 128)] {
        let (b, v) = (32, 257);
        let x = rand_tensor(&[b, ld]);
        let w = rand_tensor(&[v, ld]);
        let dy = rand_tensor(&[b, v]);
        g.throughput(flops(b, ld, v, 1));
        g.bench_function(BenchmarkId::new("forward", preset), |bench| {
            bench.iter(|| matmul_forward(&x, false, &w, true))
        });
        g.bench_function(BenchmarkId::new("grad_weight", preset), |bench| {
            bench.iter(|| matmul_forward(&dy, true, &x, false))
        });
        g.bench_function(BenchmarkId::new("grad_input", preset), |bench| {
            bench.iter(|| matmul_forward(&dy, false, &w, false))
        });
    }
    g.finish();
}

/// Attention's batched products at the three presets, batch 32: scores Q·Kᵀ and the weighted sum P·V,
/// batch·heads × L × d/h.
fn attention(c: &mut Criterion) {
    let mut g = c.benchmark_group("attention_bmm");
    for (preset, l, d, h) in [("seed-id4", 32, 16, 2), ("small", 64, 64, 4), ("medium", 128, 128, 4)] {
        let (bh, dh) = (32 * h, d / h);
        let q = rand_tensor(&[bh, l, dh]);
        let k = rand_tensor(&[bh, l, dh]);
        let p = rand_tensor(&[bh, l, l]);
        g.throughput(flops(l, dh, l, bh));
        g.bench_function(BenchmarkId::new("scores", preset), |bench| {
            bench.iter(|| matmul_forward(&q, false, &k, true))
        });
        g.bench_function(BenchmarkId::new("weighted_sum", preset), |bench| {
            bench.iter(|| matmul_forward(&p, false, &k, false))
        });
    }
    g.finish();
}

/// The `gemm` crate (faer's kernels) against `matrixmultiply`, one thread each, at the model's
/// shapes: (m, k, n) of attention heads, the small layers, and the heads.
fn crates(c: &mut Criterion) {
    let mut g = c.benchmark_group("crate");
    for (name, m, k, n) in [
        ("head-32x8x32", 32, 8, 32),
        ("head-32x32x8", 32, 32, 8),
        ("qkv-512x16x16", 512, 16, 16),
        ("ffn-512x16x64", 512, 16, 64),
        ("headfwd-16x512x257", 16, 512, 257),
        ("square-128", 128, 128, 128),
        ("square-512", 512, 512, 512),
    ] {
        let (a, b) = (rand_tensor(&[m, k]), rand_tensor(&[k, n]));
        let (a, b) = (a.as_slice().unwrap(), b.as_slice().unwrap());
        let mut out = vec![0f32; m * n];
        g.throughput(flops(m, k, n, 1));
        g.bench_function(BenchmarkId::new("matrixmultiply", name), |bench| {
            // SAFETY: a, b and out are m×k, k×n and m×n row-major buffers.
            bench.iter(|| unsafe {
                matrixmultiply::sgemm(
                    m,
                    k,
                    n,
                    1.0,
                    a.as_ptr(),
                    k as isize,
                    1,
                    b.as_ptr(),
                    n as isize,
                    1,
                    0.0,
                    out.as_mut_ptr(),
                    n as isize,
                    1,
                )
            })
        });
        g.bench_function(BenchmarkId::new("gemm", name), |bench| {
            bench.iter(|| {
                gemm_crate(
                    m,
                    k,
                    n,
                    a.as_ptr(),
                    k as isize,
                    1,
                    b.as_ptr(),
                    n as isize,
                    1,
                    out.as_mut_ptr(),
                    n as isize,
                    1,
                )
            })
        });
    }
    g.finish();
}

/// The seed-id4 head's forward both ways round: y = x·Wᵀ (16 × 512 × 257), or yᵀ = W·xᵀ written
/// through transposed output strides (257 × 512 × 16), one thread, `gemm` crate.
fn orientation(c: &mut Criterion) {
    let mut g = c.benchmark_group("orientation");
    let (m, k, n) = (16, 512, 257);
    let x = rand_tensor(&[m, k]);
    let w = rand_tensor(&[n, k]);
    let (x, w) = (x.as_slice().unwrap(), w.as_slice().unwrap());
    let mut y = vec![0f32; m * n];
    g.throughput(flops(m, k, n, 1));
    g.bench_function("x_wt", |b| {
        b.iter(|| {
            gemm_crate(m, k, n, x.as_ptr(), k as isize, 1, w.as_ptr(), 1, k as isize, y.as_mut_ptr(), n as isize, 1)
        })
    });
    g.bench_function("w_xt", |b| {
        b.iter(|| {
            gemm_crate(n, k, m, w.as_ptr(), k as isize, 1, x.as_ptr(), 1, k as isize, y.as_mut_ptr(), 1, n as isize)
        })
    });
    g.finish();
}

/// A head's dense products, (m, in, out) each.
type Products = Vec<(usize, usize, usize)>;

/// Every head's dense products at the three presets, forward and backward (as the `linear` op runs
/// them: y = x·Wᵀ + b, then dx, dW, db), batch 32. (m, in, out) per product.
fn every_head(c: &mut Criterion) {
    use tensor::linear::{linear_backward, linear_forward};
    let mut g = c.benchmark_group("heads");
    for (preset, l, d) in [("seed-id4", 32, 16), ("small", 64, 64), ("medium", 128, 128)] {
        let (b, v, k, r, kernel) = (32, 257, 16, d / 8, 3);
        let heads: [(&str, Products); 6] = [
            ("flatten", vec![(b, l * d, v)]),
            ("bottleneck", vec![(b, l * d, k), (b, k, v)]),
            ("td-dense", vec![(b * l, d, r), (b, l * r, v)]),
            ("conv", vec![(b * l, kernel * d, r), (b, l * r, v)]),
            ("tied", vec![(b, l * d, d), (b, d, v)]),
            ("causal", vec![(b * l, d, v)]),
        ];
        for (name, products) in heads {
            let ops: Vec<_> = products
                .iter()
                .map(|&(m, i, o)| (rand_tensor(&[m, i]), rand_tensor(&[o, i]), rand_tensor(&[o]), rand_tensor(&[m, o])))
                .collect();
            g.throughput(Throughput::Elements(products.iter().map(|&(m, i, o)| 6 * m * i * o).sum::<usize>() as u64));
            g.bench_function(BenchmarkId::new(name, preset), |bench| {
                bench.iter(|| {
                    for (x, w, bias, dy) in &ops {
                        let y = linear_forward(x, w, Some(bias));
                        let grads = linear_backward(x, w, dy, true);
                        std::hint::black_box((y, grads));
                    }
                })
            });
        }
    }
    g.finish();
}

criterion_group!(benches, square, threshold, head, attention, crates, orientation, every_head);
criterion_main!(benches);
