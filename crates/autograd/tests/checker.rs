//! The gradient checker's own controls: run end to end on deliberately wrong backwards, it must
//! fail every one of them, and pass the same functions with their right backward. A checker that
//! passes what is wrong would make every gradient check in this suite worthless.

use autograd::gradcheck::{check_inputs, relative_error, GradCheck};
use autograd::{Function, Tape, Tensor, Var};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::sync::Arc;
use tensor::matmul::matmul_forward;

const TOL: f64 = 1e-6;

fn rand_tensor(shape: &[usize], seed: u64) -> Tensor<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let n = shape.iter().product();
    tensor::from_vec(shape, (0..n).map(|_| rng.random_range(-1.0..1.0)).collect())
}

type Forward = fn(&[&Tensor<f64>]) -> Tensor<f64>;
type Backward = fn(&[&Tensor<f64>], &Tensor<f64>) -> Vec<Tensor<f64>>;

/// A function given by two plain functions: the forward and a backward that may be wrong on purpose.
struct Custom {
    name: &'static str,
    forward: Forward,
    backward: Backward,
}

impl Function<f64> for Custom {
    fn name(&self) -> &'static str {
        self.name
    }
    fn forward(&self, x: &[&Tensor<f64>]) -> Tensor<f64> {
        (self.forward)(x)
    }
    fn backward(&self, x: &[&Tensor<f64>], _y: &Tensor<f64>, dy: &Tensor<f64>) -> Vec<Tensor<f64>> {
        (self.backward)(x, dy)
    }
}

fn check(inputs: &[Tensor<f64>], f: Custom) -> GradCheck {
    let f = Arc::new(f);
    check_inputs(inputs, move |t: &mut Tape<'_, f64>, v: &[Var]| t.custom(v, f.clone()))
}

// ---- c = a·b, with dA = dC·Bᵀ and dB = Aᵀ·dC, or a transposition forgotten ----------------------
fn matmul(x: &[&Tensor<f64>]) -> Tensor<f64> {
    matmul_forward(x[0], false, x[1], false)
}
fn matmul_right(x: &[&Tensor<f64>], dc: &Tensor<f64>) -> Vec<Tensor<f64>> {
    vec![matmul_forward(dc, false, x[1], true), matmul_forward(x[0], true, dc, false)]
}
fn matmul_wrong_transpose(x: &[&Tensor<f64>], dc: &Tensor<f64>) -> Vec<Tensor<f64>> {
    vec![matmul_forward(dc, false, x[1], false), matmul_forward(x[0], true, dc, false)]
    // dC·B, not dC·Bᵀ
}

#[test]
fn a_wrong_transposition_fails() {
    // Square factors, so that the wrong product has the right shape and only its values are wrong.
    let inputs = [rand_tensor(&[4, 4], 1), rand_tensor(&[4, 4], 2)];
    let right = check(&inputs, Custom { name: "matmul", forward: matmul, backward: matmul_right });
    right.assert_below(TOL);
    let wrong = check(&inputs, Custom { name: "matmul", forward: matmul, backward: matmul_wrong_transpose });
    assert!(!wrong.passed(TOL) && wrong.max_error > 1e-2, "{wrong:?}");
    assert_eq!(wrong.worst, "input 0", "only dA is wrong");
}

// ---- y = a ⊙ b + a: dA = dy ⊙ b + dy, or the "+ dy" term forgotten -------------------------------
fn mul_add(x: &[&Tensor<f64>]) -> Tensor<f64> {
    x[0] * x[1] + x[0]
}
fn mul_add_right(x: &[&Tensor<f64>], dy: &Tensor<f64>) -> Vec<Tensor<f64>> {
    vec![dy * x[1] + dy, dy * x[0]]
}
fn mul_add_missing_term(x: &[&Tensor<f64>], dy: &Tensor<f64>) -> Vec<Tensor<f64>> {
    vec![dy * x[1], dy * x[0]]
}

#[test]
fn a_missing_term_fails() {
    let inputs = [rand_tensor(&[3, 5], 3), rand_tensor(&[3, 5], 4)];
    check(&inputs, Custom { name: "mul_add", forward: mul_add, backward: mul_add_right }).assert_below(TOL);
    let wrong = check(&inputs, Custom { name: "mul_add", forward: mul_add, backward: mul_add_missing_term });
    assert!(!wrong.passed(TOL) && wrong.max_error > 0.1, "{wrong:?}");
}

// ---- a NaN gradient: f64::max would drop it and score the tensor 0 --------------------------------
fn nan_grads(x: &[&Tensor<f64>], _dy: &Tensor<f64>) -> Vec<Tensor<f64>> {
    x.iter().map(|t| t.mapv(|_| f64::NAN)).collect()
}
fn one_nan(x: &[&Tensor<f64>], dy: &Tensor<f64>) -> Vec<Tensor<f64>> {
    let mut g = mul_add_right(x, dy);
    g[1][[1, 2]] = f64::NAN;
    g
}

#[test]
fn a_nan_gradient_fails() {
    let inputs = [rand_tensor(&[3, 5], 5), rand_tensor(&[3, 5], 6)];
    let all = check(&inputs, Custom { name: "nan", forward: mul_add, backward: nan_grads });
    assert!(all.max_error.is_nan() && !all.passed(TOL), "{all:?}");
    let one = check(&inputs, Custom { name: "one_nan", forward: mul_add, backward: one_nan });
    assert!(one.max_error.is_nan() && !one.passed(TOL) && one.worst == "input 1", "{one:?}");
    let caught = std::panic::catch_unwind(|| one.assert_below(TOL));
    assert!(caught.is_err(), "assert_below must reject a NaN error");
    // The comparison itself, on its own.
    let a = rand_tensor(&[2, 2], 7);
    assert!(relative_error(&a.mapv(|_| f64::NAN), &a).is_nan());
    assert!(relative_error(&a, &a.mapv(|_| f64::NAN)).is_nan());
}

// ---- a mask (zero above the diagonal) whose backward lets gradient through ----------------------
fn mask_upper(x: &[&Tensor<f64>]) -> Tensor<f64> {
    let mut y = x[0].clone();
    let l = y.shape()[1];
    for t in 0..l {
        for u in t + 1..l {
            y[[t, u]] = 0.0;
        }
    }
    y
}
fn mask_right(_x: &[&Tensor<f64>], dy: &Tensor<f64>) -> Vec<Tensor<f64>> {
    vec![mask_upper(&[dy])]
}
fn mask_leaky(_x: &[&Tensor<f64>], dy: &Tensor<f64>) -> Vec<Tensor<f64>> {
    vec![dy.clone()]
}

#[test]
fn a_mask_whose_backward_passes_gradient_through_fails() {
    let inputs = [rand_tensor(&[5, 5], 8)];
    check(&inputs, Custom { name: "mask", forward: mask_upper, backward: mask_right }).assert_below(TOL);
    let wrong = check(&inputs, Custom { name: "mask", forward: mask_upper, backward: mask_leaky });
    assert!(!wrong.passed(TOL) && wrong.max_error > 0.1, "{wrong:?}");
}

#[test]
fn a_custom_function_composes_with_the_engine_ops() {
    // The custom op inside a chain of engine ops: its gradient reaches the leaves through them.
    let f = Arc::new(Custom { name: "mul_add", forward: mul_add, backward: mul_add_right });
    let inputs = [rand_tensor(&[3, 4], 9), rand_tensor(&[3, 4], 10)];
    check_inputs(&inputs, move |t, v| {
        let a = t.tanh(v[0]);
        let y = t.custom(&[a, v[1]], f.clone());
        t.gelu(y)
    })
    .assert_below(TOL);
}
