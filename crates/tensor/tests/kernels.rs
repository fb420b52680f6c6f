//! Every optimised kernel against its slow, obviously correct reference (f32, realistic shapes),
//! and bit-identical results whatever the thread count.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tensor::Tensor;

fn rand_tensor(shape: &[usize], seed: u64) -> Tensor<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let n = shape.iter().product();
    tensor::from_vec(shape, (0..n).map(|_| rng.random_range(-1.0f32..1.0)).collect())
}

/// The larger of two values, NaN when either is (`f32::max` would drop a NaN and hide it).
fn nan_max<T: num_traits::Float>(a: T, b: T) -> T {
    if a.is_nan() || b.is_nan() {
        T::nan()
    } else {
        a.max(b)
    }
}

/// max |a − b| relative to b's scale; NaN (so any `< tol` fails) when either holds a NaN.
fn max_rel(a: &Tensor<f32>, b: &Tensor<f32>) -> f32 {
    assert_eq!(a.shape(), b.shape());
    let scale = nan_max(b.iter().fold(0f32, |m, x| nan_max(m, x.abs())), 1e-6);
    a.iter().zip(b).fold(0f32, |m, (x, y)| nan_max(m, (x - y).abs())) / scale
}

#[test]
fn max_rel_is_nan_strict() {
    let a = rand_tensor(&[4, 4], 99);
    let mut bad = a.clone();
    bad[[2, 3]] = f32::NAN;
    // A check passes only when the error is below its tolerance; NaN is below nothing.
    let passes = |err: f32| err.partial_cmp(&1e-5) == Some(std::cmp::Ordering::Less);
    assert!(!passes(max_rel(&bad, &a)), "a NaN in the kernel's output must fail");
    assert!(!passes(max_rel(&a, &bad)), "a NaN in the reference must fail");
    assert!(max_rel(&a, &a) == 0.0);
}

#[test]
fn matmul_matches_reference_at_model_shapes() {
    // (m, k, n): attention scores, a seed-id4 head, a medium-sized head split in parallel.
    for &(m, k, n) in &[(32, 8, 32), (32, 512, 257), (257, 32, 512), (96, 640, 300)] {
        for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
            let a = if ta { rand_tensor(&[k, m], 1) } else { rand_tensor(&[m, k], 1) };
            let b = if tb { rand_tensor(&[n, k], 2) } else { rand_tensor(&[k, n], 2) };
            let fast = tensor::matmul::matmul_forward(&a, ta, &b, tb);
            let slow = tensor::matmul::matmul_reference(&a, ta, &b, tb);
            assert!(max_rel(&fast, &slow) < 1e-5, "({m},{k},{n}) ta={ta} tb={tb}");
        }
    }
}

#[test]
fn batched_matmul_matches_reference() {
    let a = rand_tensor(&[64, 32, 8], 3);
    let b = rand_tensor(&[64, 32, 8], 4);
    let fast = tensor::matmul::matmul_forward(&a, false, &b, true);
    let slow = tensor::matmul::matmul_reference(&a, false, &b, true);
    assert!(max_rel(&fast, &slow) < 1e-5);
}

#[test]
fn conv1d_matches_reference_including_both_sequence_ends() {
    let x = rand_tensor(&[3, 7, 5], 5);
    let w = rand_tensor(&[4, 5, 3], 6);
    let b = rand_tensor(&[4], 7);
    let fast = tensor::conv::conv1d_forward(&x, &w, &b);
    let slow = tensor::conv::conv1d_reference(&x, &w, &b);
    assert!(max_rel(&fast, &slow) < 1e-5);
}

#[test]
fn attention_matches_reference() {
    // The gemm's products (d/h = 8) and the tiny ones (d/h = 6 and 16 at L = 64).
    assert!(!tensor::attention::uses_tiny(32, 8) && tensor::attention::uses_tiny(32, 6));
    assert!(tensor::attention::uses_tiny(64, 16));
    for (b, l, d, h) in [(4, 32, 16, 2), (4, 32, 24, 4), (3, 64, 32, 2)] {
        for causal in [false, true] {
            let x = |seed| rand_tensor(&[b, l, d], seed);
            let (q, k, v) = (x(8), x(9), x(10));
            let (fast, _) = tensor::attention::attention_forward(&q, &k, &v, h, causal);
            let slow = tensor::attention::attention_reference(&q, &k, &v, h, causal);
            assert!(max_rel(&fast, &slow) < 1e-5, "b {b} l {l} d {d} h {h} causal {causal}");
        }
    }
}

/// The tiny products against a plain triple loop, on strided views (a transposed A, a transposed
/// B, an output row stride wider than a row), alpha ≠ 1, a shape with whole and partial register
/// blocks (19 rows, 21 columns), and every band. Outside its band A is zero, as P and dS are in a
/// causal attention; ColsUpTo leaves the entries it does not own untouched.
#[test]
fn tiny_products_match_a_triple_loop_on_every_band() {
    use tensor::matmul::Mat;
    use tensor::tiny::{Band, Tiny};
    let (m, k, n, alpha, rsc) = (19usize, 19usize, 21usize, 0.7f32, 25usize);
    let b_t: Vec<f32> = rand_tensor(&[n, k], 31).iter().copied().collect(); // B stored transposed
    for band in [Band::Full, Band::ColsUpTo, Band::InnerUpTo, Band::InnerFrom] {
        let in_band = |i: usize, p: usize| match band {
            Band::InnerUpTo => p <= i,
            Band::InnerFrom => p >= i,
            _ => true,
        };
        // A stored transposed (column-major), zero outside the band.
        let mut a_t: Vec<f32> = rand_tensor(&[k, m], 32).iter().copied().collect();
        (0..m).for_each(|i| (0..k).filter(|&p| !in_band(i, p)).for_each(|p| a_t[p * m + i] = 0.0));
        let a = Mat { data: &a_t, rows: m, cols: k, rs: 1, cs: m, offset: 0 };
        let b = Mat { data: &b_t, rows: k, cols: n, rs: 1, cs: k, offset: 0 };
        let mut c = vec![f32::NAN; m * rsc];
        unsafe { Tiny::new().product(alpha, a, b, c.as_mut_ptr(), rsc, band) };
        for i in 0..m {
            for j in 0..rsc {
                let got = c[i * rsc + j];
                if j >= n || (band == Band::ColsUpTo && j > i) {
                    assert!(got.is_nan(), "{band:?}: ({i}, {j}) is outside C's band but was written");
                    continue;
                }
                let want: f64 =
                    (0..k).map(|p| a_t[p * m + i] as f64 * b_t[j * k + p] as f64).sum::<f64>() * alpha as f64;
                assert!((got as f64 - want).abs() < 1e-5, "{band:?}: ({i}, {j}) {got} against {want}");
            }
        }
    }
}

#[test]
fn cross_entropy_of_uniform_logits_is_ln_v() {
    let logits = Tensor::<f32>::zeros(tensor::ndarray::IxDyn(&[100, 257]));
    let (loss, _) = tensor::softmax::cross_entropy_forward(&logits, &vec![7u32; 100]);
    assert!((loss - 257f32.ln()).abs() < 1e-5);
}

#[test]
fn softmax_is_stable_for_huge_logits() {
    let x = tensor::from_vec(&[1, 3], vec![1000.0f32, 1000.0, -1000.0]);
    let y = tensor::softmax::softmax_forward(&x);
    assert_eq!(y.as_slice().unwrap(), &[0.5, 0.5, 0.0]);
}

fn in_pool<T: Send>(threads: usize, f: impl FnOnce() -> T + Send) -> T {
    rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap().install(f)
}

#[test]
fn results_are_bit_identical_on_any_thread_count() {
    let a = rand_tensor(&[300, 640], 11);
    let b = rand_tensor(&[640, 257], 12);
    let (q, k, v) = (rand_tensor(&[32, 32, 16], 13), rand_tensor(&[32, 32, 16], 14), rand_tensor(&[32, 32, 16], 15));
    // Attention on the tiny products (d/h = 6), large enough to be split across threads.
    let (q6, k6, v6) = (rand_tensor(&[32, 40, 24], 16), rand_tensor(&[32, 40, 24], 17), rand_tensor(&[32, 40, 24], 18));
    assert!(tensor::attention::uses_tiny(40, 6));
    let targets: Vec<u32> = (0..300).map(|i| (i * 7 % 257) as u32).collect();
    let run = || {
        let c = tensor::matmul::matmul_forward(&a, false, &b, false);
        let (da, db) = tensor::matmul::matmul_backward(&a, false, &b, false, &c);
        let (o, p) = tensor::attention::attention_forward(&q, &k, &v, 2, true);
        let (dq, dk, dv) = tensor::attention::attention_backward(&q, &k, &v, &p, 2, true, &o);
        let (o6, p6) = tensor::attention::attention_forward(&q6, &k6, &v6, 4, true);
        let grads6 = tensor::attention::attention_backward(&q6, &k6, &v6, &p6, 4, true, &o6);
        let (loss, _) = tensor::softmax::cross_entropy_forward(&c, &targets);
        (c, da, db, o, dq, dk, dv, (o6, grads6), loss.to_bits())
    };
    let one = in_pool(1, run);
    for threads in [2, 3, 8] {
        assert!(one == in_pool(threads, run), "results differ on {threads} threads");
    }
}

/// Cross-entropy has a split path (rows in parallel chunks, outputs zeroed first) and a serial one
/// (outputs built row by row, never zeroed): the same bits either way, with a loss scale other than
/// 1 and targets spread over the vocabulary; and the gradient is (softmax − onehot)·scale / M.
#[test]
fn cross_entropy_serial_and_split_paths_agree_bit_for_bit() {
    use tensor::softmax::{cross_entropy_backward, cross_entropy_forward};
    let logits = rand_tensor(&[300, 257], 21).mapv(|x| x * 4.0);
    let targets: Vec<u32> = (0..300).map(|i| (i * 31 % 257) as u32).collect();
    let run = || {
        let (loss, p) = cross_entropy_forward(&logits, &targets);
        let d = cross_entropy_backward(&p, &targets, 0.37);
        (loss.to_bits(), p, d)
    };
    let split = in_pool(2, run);
    let serial = in_pool(2, || tensor::serially(run));
    assert!(split == serial, "the two paths differ");
    let (_, p, d) = split;
    let scale = 0.37f32 / 300.0;
    for (i, &t) in targets.iter().enumerate().step_by(37) {
        let t = t as usize;
        assert_eq!(d[[i, t]], (p[[i, t]] - 1.0) * scale, "row {i}, its target");
        let other = (t + 1) % 257;
        assert_eq!(d[[i, other]], p[[i, other]] * scale, "row {i}, another entry");
    }
}

/// A confident prediction: the target's logit 20, the others between 5 and 6, so the loss is
/// ln(1 + Σ exp(x_j − 20)) ≈ 256·e^−14.5 ≈ 1.3e-4 per row of 257 (4e-7 per row of 3), below or
/// near the ulp of 20 in f32 (1.9e-6), where (max + ln Σ) − x_t rounded to 0 or lost its digits.
/// Both paths (rows split into tasks, and serially), against the same sum in f64.
#[test]
fn cross_entropy_of_a_confident_prediction_keeps_its_small_loss() {
    use tensor::softmax::cross_entropy_forward;
    for (m, v) in [(4, 3), (300, 257)] {
        let targets: Vec<u32> = (0..m).map(|i| (i * 31 % v) as u32).collect();
        let mut x = vec![0f32; m * v];
        for (i, row) in x.chunks_mut(v).enumerate() {
            for (j, l) in row.iter_mut().enumerate() {
                *l = if j == targets[i] as usize { 20.0 } else { 5.0 + ((i * 7 + j * 13) % 11) as f32 * 0.1 };
            }
        }
        let want: f64 = x
            .chunks(v)
            .zip(&targets)
            .map(|(row, &t)| {
                let others: f64 = row.iter().map(|&l| (l as f64 - row[t as usize] as f64).exp()).sum::<f64>() - 1.0;
                others.ln_1p()
            })
            .sum::<f64>()
            / m as f64;
        let logits = tensor::from_vec(&[m, v], x);
        let split = in_pool(2, || cross_entropy_forward(&logits, &targets).0);
        let serial = in_pool(2, || tensor::serially(|| cross_entropy_forward(&logits, &targets).0));
        for (path, got) in [("split", split), ("serial", serial)] {
            let rel = (got as f64 - want).abs() / want;
            assert!(rel < 1e-6, "{m}×{v}, {path}: loss {got:e}, want {want:e} (relative error {rel:e})");
        }
    }
}

#[test]
fn fast_tanh_is_accurate_on_both_sides_of_its_switch_and_exact_at_the_ends() {
    use tensor::float::tanh_f32;
    let mut worst = 0f64;
    // Relative error over −10..10 in steps that cross the switch at ±0.625, down to tiny |x|.
    for i in -100_000..=100_000 {
        let x = i as f32 * 1e-4;
        if x == 0.0 {
            continue;
        }
        let want = (x as f64).tanh();
        worst = nan_max(worst, ((tanh_f32(x) as f64) - want).abs() / want.abs());
    }
    for x in [1e-30f32, -3e-8, 0.624_999_9, 0.625, -0.625] {
        let want = (x as f64).tanh();
        worst = nan_max(worst, ((tanh_f32(x) as f64) - want).abs() / want.abs());
    }
    assert!(worst < 5e-7, "worst relative error {worst:e}");
    assert_eq!((tanh_f32(0.0), tanh_f32(30.0), tanh_f32(-30.0)), (0.0, 1.0, -1.0));
    assert_eq!((tanh_f32(f32::INFINITY), tanh_f32(f32::NEG_INFINITY)), (1.0, -1.0));
}

#[test]
fn fast_exp_is_accurate_over_the_whole_range_and_exact_at_the_ends() {
    use tensor::float::exp_f32;
    let mut worst = 0f64;
    let mut x = -87.0f32;
    while x < 88.5 {
        let want = (x as f64).exp();
        worst = nan_max(worst, ((exp_f32(x) as f64) - want).abs() / want);
        x += 0.000_7;
    }
    assert!(worst < 2e-7, "max relative error {worst:e}");
    assert_eq!(exp_f32(f32::NEG_INFINITY), 0.0);
    assert_eq!(exp_f32(-100.0), 0.0);
    assert_eq!(exp_f32(0.0), 1.0);
    assert_eq!(exp_f32(100.0), f32::INFINITY);
    assert!(exp_f32(88.7).is_finite());
}

#[test]
fn gelu_in_f32_matches_the_exact_tanh_form() {
    let mut worst = 0f64;
    for i in -2000..2000 {
        let x = i as f32 * 0.005;
        let exact =
            0.5 * x as f64 * (1.0 + (0.797_884_560_802_865_4 * (x as f64 + 0.044715 * (x as f64).powi(3))).tanh());
        worst = nan_max(worst, (tensor::elementwise::gelu(x) as f64 - exact).abs());
    }
    assert!(worst < 1e-6, "max absolute error {worst:e}");
}

#[test]
fn sigmoid_is_stable_and_precise_for_large_inputs() {
    // The reference is the textbook 1/(1 + e⁻ˣ) in f64, where nothing overflows for |x| ≤ 80 (and
    // σ(−80) ≈ 1.8e-35 is still a normal f32, so its relative precision is checked too); at ±1000
    // only the limits 0 and 1 are right, which f32's naive form reaches through an ∞.
    for i in -800..=800 {
        let x = i as f32 * 0.1;
        let exact = 1.0 / (1.0 + (-(x as f64)).exp());
        let ours = tensor::elementwise::sigmoid(x) as f64;
        assert!((ours - exact).abs() <= 1e-6 * exact, "σ({x}) = {ours:e}, exactly {exact:e}");
    }
    let x = tensor::from_vec(&[4], vec![-1000.0f32, -88.0, 88.0, 1000.0]);
    let y = tensor::elementwise::sigmoid_forward(&x);
    assert!(y.iter().all(|v| v.is_finite()), "{y:?}");
    assert_eq!((y[0], y[3]), (0.0, 1.0));
    let dx = tensor::elementwise::sigmoid_backward(&y, &Tensor::ones(y.raw_dim()));
    assert_eq!((dx[0], dx[3]), (0.0, 0.0), "saturated: no gradient, and no NaN");
}
