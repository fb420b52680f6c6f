//! A finite-difference gradient check for every differentiable op (f64, small shapes).

use autograd::gradcheck::{check_gradients, check_inputs, relative_error};
use autograd::{ParamSet, Tape, Tensor, Var};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const TOL: f64 = 1e-6;

fn rand_tensor(shape: &[usize], seed: u64) -> Tensor<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let n = shape.iter().product();
    tensor::from_vec(shape, (0..n).map(|_| rng.random_range(-1.0..1.0)).collect())
}

/// Values bounded away from zero (for log, div and relu's kink).
fn rand_away_from_zero(shape: &[usize], seed: u64) -> Tensor<f64> {
    rand_tensor(shape, seed).mapv(|x| if x >= 0.0 { x + 0.2 } else { x - 0.2 })
}

fn check(inputs: &[Tensor<f64>], f: impl Fn(&mut Tape<'_, f64>, &[Var]) -> Var) {
    check_inputs(inputs, f).assert_below(TOL);
}

#[test]
fn add_with_broadcasting() {
    check(&[rand_tensor(&[2, 3, 4], 1), rand_tensor(&[3, 1], 2)], |t, v| t.add(v[0], v[1]));
    check(&[rand_tensor(&[4], 3), rand_tensor(&[2, 3, 4], 4)], |t, v| t.add(v[0], v[1]));
}

#[test]
fn sub_with_broadcasting() {
    check(&[rand_tensor(&[2, 3], 5), rand_tensor(&[1, 3], 6)], |t, v| t.sub(v[0], v[1]));
}

#[test]
fn mul_with_broadcasting() {
    check(&[rand_tensor(&[2, 3, 4], 7), rand_tensor(&[2, 1, 4], 8)], |t, v| t.mul(v[0], v[1]));
}

#[test]
fn div_with_broadcasting() {
    check(&[rand_tensor(&[3, 4], 9), rand_away_from_zero(&[4], 10)], |t, v| t.div(v[0], v[1]));
}

#[test]
fn scale() {
    check(&[rand_tensor(&[3, 4], 11)], |t, v| t.scale(v[0], -1.7));
}

#[test]
fn exp_log_tanh() {
    check(&[rand_tensor(&[3, 4], 12)], |t, v| t.exp(v[0]));
    check(&[rand_away_from_zero(&[3, 4], 13).mapv(f64::abs)], |t, v| t.log(v[0]));
    check(&[rand_tensor(&[3, 4], 14)], |t, v| t.tanh(v[0]));
}

#[test]
fn sigmoid_on_both_branches() {
    // Inputs in (-4, 4): both halves of the stable form (x ≥ 0 and x < 0) are checked.
    check(&[rand_tensor(&[4, 5], 90).mapv(|x| 4.0 * x)], |t, v| t.sigmoid(v[0]));
}

#[test]
fn relu_away_from_the_kink() {
    check(&[rand_away_from_zero(&[3, 5], 15)], |t, v| t.relu(v[0]));
}

#[test]
fn gelu_tanh_form() {
    check(&[rand_tensor(&[4, 5], 16).mapv(|x| 3.0 * x)], |t, v| t.gelu(v[0]));
}

#[test]
fn sum_and_mean_over_axes() {
    check(&[rand_tensor(&[2, 3, 4], 17)], |t, v| t.sum(v[0], &[1]));
    check(&[rand_tensor(&[2, 3, 4], 18)], |t, v| t.sum(v[0], &[2, 0]));
    check(&[rand_tensor(&[2, 3, 4], 19)], |t, v| t.sum_all(v[0]));
    check(&[rand_tensor(&[2, 3, 4], 20)], |t, v| t.mean(v[0], &[0, 2]));
}

#[test]
fn matmul_every_transpose_combination() {
    for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
        let a = if ta { rand_tensor(&[4, 3], 21) } else { rand_tensor(&[3, 4], 21) };
        let b = if tb { rand_tensor(&[5, 4], 22) } else { rand_tensor(&[4, 5], 22) };
        check(&[a, b], move |t, v| t.matmul(v[0], ta, v[1], tb));
    }
}

#[test]
fn batched_matmul_with_transposes() {
    check(&[rand_tensor(&[2, 3, 4], 23), rand_tensor(&[2, 5, 4], 24)], |t, v| t.matmul(v[0], false, v[1], true));
    check(&[rand_tensor(&[2, 4, 3], 25), rand_tensor(&[2, 4, 5], 26)], |t, v| t.matmul(v[0], true, v[1], false));
}

#[test]
fn shared_weight_matmul() {
    check(&[rand_tensor(&[2, 3, 4], 27), rand_tensor(&[4, 5], 28)], |t, v| t.matmul(v[0], false, v[1], false));
    check(&[rand_tensor(&[2, 3, 4], 29), rand_tensor(&[5, 4], 30)], |t, v| t.matmul(v[0], false, v[1], true));
}

#[test]
fn large_matmul_takes_the_parallel_path() {
    // 64·64·300 ≥ 2^20 multiply-adds: split across threads. The forward product is compared with
    // the serial reference (its backward is the same kernel, at other shapes).
    let a = rand_tensor(&[64, 300], 31);
    let b = rand_tensor(&[300, 64], 32);
    let fast = tensor::matmul::matmul_forward(&a, false, &b, false);
    let slow = tensor::matmul::matmul_reference(&a, false, &b, false);
    assert!(relative_error(&fast, &slow) < 1e-12);
}

#[test]
fn a_transposed_non_contiguous_input() {
    // The leaf itself is stored column-major (a transposed view made owned): every kernel must read
    // it by its logical indices.
    let x = rand_tensor(&[4, 3], 33).reversed_axes(); // logical [3, 4], not standard layout
    assert!(!x.is_standard_layout());
    check(&[x.clone(), rand_tensor(&[4, 2], 34)], |t, v| t.matmul(v[0], false, v[1], false));
    check(std::slice::from_ref(&x), |t, v| t.gelu(v[0]));
    check(&[x], |t, v| {
        let s = t.softmax(v[0]);
        t.reshape(s, &[12])
    });
}

#[test]
fn transpose_and_permute() {
    check(&[rand_tensor(&[2, 3, 4], 35)], |t, v| t.permute(v[0], &[2, 0, 1]));
    check(&[rand_tensor(&[3, 4], 36)], |t, v| t.transpose(v[0]));
}

#[test]
fn reshape_concat_slice() {
    check(&[rand_tensor(&[2, 6], 37)], |t, v| t.reshape(v[0], &[3, 4]));
    check(&[rand_tensor(&[2, 3], 38), rand_tensor(&[2, 2], 39)], |t, v| t.concat(&[v[0], v[1]], 1));
    check(&[rand_tensor(&[4, 3], 40)], |t, v| t.slice(v[0], 0, 1, 2));
}

#[test]
fn a_value_used_twice_accumulates() {
    // y = x ⊙ x + x: dy/dx = 2x + 1, reached by three uses of x.
    check(&[rand_tensor(&[3, 4], 41)], |t, v| {
        let sq = t.mul(v[0], v[0]);
        t.add(sq, v[0])
    });
    // and through a matmul with itself
    check(&[rand_tensor(&[3, 3], 42)], |t, v| t.matmul(v[0], false, v[0], true));
}

#[test]
fn linear_with_and_without_bias() {
    check(&[rand_tensor(&[2, 3, 4], 43), rand_tensor(&[5, 4], 44), rand_tensor(&[5], 45)], |t, v| {
        t.linear(v[0], v[1], Some(v[2]))
    });
    check(&[rand_tensor(&[3, 4], 46), rand_tensor(&[5, 4], 47)], |t, v| t.linear(v[0], v[1], None));
}

#[test]
fn conv1d_same_padding() {
    for k in [1, 3, 5] {
        check(&[rand_tensor(&[2, 5, 3], 48), rand_tensor(&[4, 3, k], 49), rand_tensor(&[4], 50)], |t, v| {
            t.conv1d(v[0], v[1], v[2])
        });
    }
}

#[test]
fn layer_norm() {
    // 6: a run-time row width; 16 and 64: widths compiled as constants.
    for d in [6, 16, 64] {
        check(
            &[rand_tensor(&[2, 3, d], 51), rand_tensor(&[d], 52).mapv(|x| 1.0 + x), rand_tensor(&[d], 53)],
            |t, v| t.layer_norm(v[0], v[1], v[2], 1e-5),
        );
    }
}

#[test]
fn softmax_and_log_softmax() {
    check(&[rand_tensor(&[3, 5], 54).mapv(|x| 3.0 * x)], |t, v| t.softmax(v[0]));
    check(&[rand_tensor(&[2, 3, 5], 55).mapv(|x| 3.0 * x)], |t, v| t.log_softmax(v[0]));
}

#[test]
fn fused_softmax_cross_entropy() {
    check(&[rand_tensor(&[4, 7], 56).mapv(|x| 3.0 * x)], |t, v| t.cross_entropy(v[0], &[0, 6, 3, 3]));
}

#[test]
fn cross_entropy_equals_its_composition() {
    // -mean(log_softmax(x)[target]) built from primitives, against the fused op.
    let x = rand_tensor(&[3, 5], 57);
    let targets = [4u32, 0, 2];
    let mut t = Tape::empty();
    let v = t.input(x.clone());
    let fused = t.cross_entropy(v, &targets);
    let ls = t.log_softmax(v);
    let mut onehot = Tensor::zeros(x.raw_dim());
    for (i, &c) in targets.iter().enumerate() {
        onehot[[i, c as usize]] = -1.0 / 3.0;
    }
    let oh = t.input(onehot);
    let picked = t.mul(ls, oh);
    let composed = t.sum_all(picked);
    assert!((t.scalar(fused) - t.scalar(composed)).abs() < 1e-14);
}

#[test]
fn causal_mask_inside_softmax() {
    check(&[rand_tensor(&[2, 4, 4], 58)], |t, v| {
        let m = t.causal_mask(v[0]);
        t.softmax(m)
    });
}

#[test]
fn fused_attention_full_and_causal() {
    for causal in [false, true] {
        check(&[rand_tensor(&[2, 3, 4], 59), rand_tensor(&[2, 3, 4], 60), rand_tensor(&[2, 3, 4], 61)], move |t, v| {
            t.attention(v[0], v[1], v[2], 2, causal)
        });
    }
}

/// The tiny products' register blocks (8 rows × 16 columns): 19 positions are two whole blocks of
/// rows and three single rows, and 6 features a head fill part of one block of columns.
#[test]
fn fused_attention_across_the_tiny_products_blocks() {
    assert!(tensor::attention::uses_tiny(19, 6));
    for causal in [false, true] {
        let x = |seed| rand_tensor(&[2, 19, 12], seed);
        check(&[x(66), x(67), x(68)], move |t, v| t.attention(v[0], v[1], v[2], 2, causal));
    }
}

#[test]
fn fused_attention_equals_attention_from_primitives() {
    // Both kernels of the per-head products: the tiny ones (two shapes) and the general gemm.
    assert!(tensor::attention::uses_tiny(19, 6) && !tensor::attention::uses_tiny(9, 8));
    assert!(!tensor::attention::uses_tiny(9, 40));
    for (b, l, d, h) in [(2, 5, 6, 3), (2, 19, 12, 2), (2, 9, 16, 2), (2, 9, 80, 2)] {
        fused_attention_equals_primitives_at(b, l, d, h);
    }
}

fn fused_attention_equals_primitives_at(b: usize, l: usize, d: usize, h: usize) {
    // Split heads with reshape + permute, scores by batched matmul, mask, softmax, weighted sum.
    let dh = d / h;
    for causal in [false, true] {
        let (q, k, v) = (rand_tensor(&[b, l, d], 62), rand_tensor(&[b, l, d], 63), rand_tensor(&[b, l, d], 64));
        let mut t = Tape::empty();
        let (qv, kv, vv) = (t.leaf(q.clone()), t.leaf(k.clone()), t.leaf(v.clone()));
        let fused = t.attention(qv, kv, vv, h, causal);
        let split = |t: &mut Tape<'_, f64>, x: Var| {
            let r = t.reshape(x, &[b, l, h, dh]);
            let p = t.permute(r, &[0, 2, 1, 3]);
            t.reshape(p, &[b * h, l, dh])
        };
        let (qs, ks, vs) = (split(&mut t, qv), split(&mut t, kv), split(&mut t, vv));
        let s = t.matmul(qs, false, ks, true);
        let s = t.scale(s, 1.0 / (dh as f64).sqrt());
        let s = if causal { t.causal_mask(s) } else { s };
        let p = t.softmax(s);
        let o = t.matmul(p, false, vs, false);
        let o = t.reshape(o, &[b, h, l, dh]);
        let o = t.permute(o, &[0, 2, 1, 3]);
        let composed = t.reshape(o, &[b, l, d]);
        assert!(relative_error(t.value(fused), t.value(composed)) < 1e-13);
        let reference = tensor::attention::attention_reference(&q, &k, &v, h, causal);
        assert!(relative_error(t.value(fused), &reference) < 1e-13);
        // Same gradients through both paths.
        let seed = rand_tensor(&[b, l, d], 65);
        let g1 = t.backward_with(fused, seed.clone());
        let g2 = t.backward_with(composed, seed);
        for x in [qv, kv, vv] {
            assert!(relative_error(g1.wrt(x).unwrap(), g2.wrt(x).unwrap()) < 1e-12);
        }
    }
}

#[test]
fn embedding_with_a_repeated_id() {
    let mut params = ParamSet::new();
    let table = params.add("table", &[5, 3], false, || rand_tensor(&[5, 3], 66));
    check_gradients(&mut params, &[], |t, _| {
        let w = t.param(table);
        t.embedding(w, &[1, 4, 1, 0])
    })
    .assert_below(TOL);
}

#[test]
fn a_parameter_used_twice_collects_both_gradients() {
    // Weight tying in miniature: the same table embeds and projects back.
    let mut params = ParamSet::new();
    let table = params.add("table", &[6, 4], false, || rand_tensor(&[6, 4], 67));
    check_gradients(&mut params, &[], |t, _| {
        let w = t.param(table);
        let x = t.embedding(w, &[2, 5, 2]);
        let w_again = t.param(table);
        let logits = t.matmul(x, false, w_again, true);
        t.cross_entropy(logits, &[5, 2, 0])
    })
    .assert_below(TOL);
}

#[test]
fn causal_mask_backward_on_its_own() {
    // The mask's forward writes −∞, so a finite difference through it alone is undefined, and
    // through softmax its masked entries have probability 0 and pass no gradient whatever the
    // mask's backward does. So its backward is checked on its own, against the definition: the
    // seed gradient passes unchanged at and below the diagonal, and is dropped above it.
    let (b, l) = (2, 5);
    let x = rand_tensor(&[b, l, l], 58);
    let seed = rand_tensor(&[b, l, l], 59).mapv(|g| g + 2.0); // no entry is 0 by chance
    let mut t = Tape::empty();
    let xv = t.leaf(x.clone());
    let y = t.causal_mask(xv);
    let grads = t.backward_with(y, seed.clone());
    let dx = grads.wrt(xv).expect("x reaches the output");
    for i in 0..b {
        for r in 0..l {
            for c in 0..l {
                let (want_y, want_g) = if c > r { (f64::NEG_INFINITY, 0.0) } else { (x[[i, r, c]], seed[[i, r, c]]) };
                assert_eq!(t.value(y)[[i, r, c]], want_y, "forward at [{i}, {r}, {c}]");
                assert_eq!(dx[[i, r, c]], want_g, "backward at [{i}, {r}, {c}]");
            }
        }
    }
}
