//! Gradient checking: analytic gradients against central finite differences, in f64.
//!
//! The output of the function under test is projected on a fixed random tensor R, so the checked
//! scalar is `Σ out ⊙ R`: every output element matters (a plain sum would hide errors that cancel,
//! e.g. in softmax, whose outputs always sum to one). The error of a tensor is
//! `max |analytic − numeric| / max(max |numeric|, max |analytic|, 1e-3)`: relative to the gradient's
//! own scale, so a wrong transposition or a missing term shows as an error near 1, while the
//! finite-difference error of a correct rule stays near 1e-9.

use crate::op::Var;
use crate::params::{ParamId, ParamSet};
use crate::tape::Tape;
use rand::SeedableRng;
use rand_distr::{Distribution, StandardNormal};
use tensor::Tensor;

/// Step of the central difference. With f64 and O(1) values its rounding error is ~1e-11 and its
/// truncation error ~1e-10: far below the 1e-6 the tests demand.
pub const STEP: f64 = 1e-5;

/// Below this gradient scale the error is measured absolutely (times 1/floor): a gradient that is
/// zero by symmetry (a key bias under softmax, say) leaves only finite-difference noise of ~1e-11,
/// which must not count as a 100% error.
pub const SCALE_FLOOR: f64 = 1e-3;

/// The outcome of a check: the largest relative error and where it was.
#[derive(Clone, Debug)]
pub struct GradCheck {
    pub max_error: f64,
    pub worst: String,
    /// (name, error) for every checked tensor.
    pub per_tensor: Vec<(String, f64)>,
}

impl GradCheck {
    /// Whether every tensor's error is below `tol` (false when any error is NaN).
    pub fn passed(&self, tol: f64) -> bool {
        self.max_error < tol
    }

    /// Panics with the per-tensor errors when the largest exceeds `tol` or is NaN.
    pub fn assert_below(&self, tol: f64) {
        assert!(
            self.passed(tol),
            "gradient check failed: max error {:.3e} at {} (tolerance {tol:.0e}); per tensor: {:?}",
            self.max_error,
            self.worst,
            self.per_tensor
        );
    }
}

/// The larger of two values, NaN when either is: `f64::max` returns the other operand for a NaN,
/// so a fold with it would score an all-NaN gradient as error 0, a pass.
pub fn nan_max(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.max(b)
    }
}

/// Relative error between two gradients of the same tensor, as described in the module docs.
/// NaN (a failure against any tolerance) when either holds a NaN.
pub fn relative_error(analytic: &Tensor<f64>, numeric: &Tensor<f64>) -> f64 {
    assert_eq!(analytic.shape(), numeric.shape(), "gradient shapes");
    let diff = analytic.iter().zip(numeric).map(|(a, n)| (a - n).abs()).fold(0.0, nan_max);
    let scale = numeric.iter().chain(analytic).map(|x| x.abs()).fold(0.0, nan_max);
    diff / nan_max(scale, SCALE_FLOOR)
}

/// Checks the gradients of `f` with respect to `inputs` (as leaves) and every parameter in `params`.
///
/// `f` builds the computation on a fresh tape from the input variables and returns its output (any
/// shape). It is called once for the analytic gradients and twice per checked element.
pub fn check_gradients<Fun>(params: &mut ParamSet<f64>, inputs: &[Tensor<f64>], f: Fun) -> GradCheck
where
    Fun: Fn(&mut Tape<'_, f64>, &[Var]) -> Var,
{
    let (projection, analytic_inputs, analytic_params) = analytic(params, inputs, &f);
    // The checked scalar Σ out ⊙ R at the current inputs and parameters.
    let eval = |params: &ParamSet<f64>, inputs: &[Tensor<f64>]| -> f64 {
        let mut tape = Tape::new(params);
        let vars: Vec<Var> = inputs.iter().map(|x| tape.input(x.clone())).collect();
        let out = f(&mut tape, &vars);
        tape.value(out).iter().zip(projection.iter()).map(|(a, b)| a * b).sum()
    };
    let mut per_tensor = Vec::new();
    let mut work: Vec<Tensor<f64>> = inputs.to_vec();
    for (i, analytic) in analytic_inputs.iter().enumerate() {
        let numeric = numeric_gradient(&inputs[i], |e, v| {
            let orig = std::mem::replace(&mut elements(&mut work[i])[e], v);
            let y = eval(params, &work);
            elements(&mut work[i])[e] = orig;
            y
        });
        per_tensor.push((format!("input {i}"), relative_error(analytic, &numeric)));
    }
    for (p, analytic) in analytic_params.iter().enumerate() {
        let id = ParamId(p);
        let value = params.get(id).value.clone();
        let numeric = numeric_gradient(&value, |e, v| {
            let orig = std::mem::replace(&mut elements(&mut params.get_mut(id).value)[e], v);
            let y = eval(params, &work);
            elements(&mut params.get_mut(id).value)[e] = orig;
            y
        });
        per_tensor.push((params.get(id).name.clone(), relative_error(analytic, &numeric)));
    }
    // A NaN error is worse than any number, and the first one found stays the worst.
    let worse = |e: f64, than: f64| !than.is_nan() && (e.is_nan() || e > than);
    let (worst, max_error) =
        per_tensor.iter().fold(
            (String::from("nothing"), 0.0),
            |(wn, we), (n, e)| {
                if worse(*e, we) {
                    (n.clone(), *e)
                } else {
                    (wn, we)
                }
            },
        );
    GradCheck { max_error, worst, per_tensor }
}

/// The analytic side: one backward pass seeded with a fixed random projection R. Returns R and the
/// gradients of Σ out ⊙ R for each input and each parameter (zeros where nothing reached it).
type Analytic = (Tensor<f64>, Vec<Tensor<f64>>, Vec<Tensor<f64>>);
fn analytic<Fun>(params: &ParamSet<f64>, inputs: &[Tensor<f64>], f: &Fun) -> Analytic
where
    Fun: Fn(&mut Tape<'_, f64>, &[Var]) -> Var,
{
    let mut tape = Tape::new(params);
    let vars: Vec<Var> = inputs.iter().map(|x| tape.leaf(x.clone())).collect();
    let out = f(&mut tape, &vars);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0x6772_6164);
    let projection = tape.value(out).mapv(|_| StandardNormal.sample(&mut rng));
    let grads = tape.backward_with(out, projection.clone());
    let zeros_like = |t: &Tensor<f64>| Tensor::zeros(t.raw_dim());
    let gi = vars.iter().zip(inputs).map(|(&v, x)| grads.wrt(v).cloned().unwrap_or_else(|| zeros_like(x))).collect();
    let used: Vec<_> = tape.used_params().collect();
    let gp = params
        .iter()
        .map(|(id, p)| {
            let var = used.iter().find(|(pid, _)| *pid == id).map(|(_, v)| *v);
            var.and_then(|v| grads.wrt(v).cloned()).unwrap_or_else(|| zeros_like(&p.value))
        })
        .collect();
    (projection, gi, gp)
}

/// The elements of a tensor in memory order (the checker perturbs them one by one).
fn elements(t: &mut Tensor<f64>) -> &mut [f64] {
    t.as_slice_memory_order_mut().expect("contiguous")
}

/// Central differences: element e of the result is (g(x_e + h) − g(x_e − h)) / 2h, where
/// `eval_at(e, v)` evaluates the checked scalar with element e set to v (and restores it).
fn numeric_gradient(value: &Tensor<f64>, mut eval_at: impl FnMut(usize, f64) -> f64) -> Tensor<f64> {
    let mut numeric = value.clone(); // same memory layout as the value
    let base: Vec<f64> = value.as_slice_memory_order().expect("contiguous").to_vec();
    for (e, x) in base.into_iter().enumerate() {
        let (up, down) = (eval_at(e, x + STEP), eval_at(e, x - STEP));
        elements(&mut numeric)[e] = (up - down) / (2.0 * STEP);
    }
    numeric
}

/// Checks the gradients of a function of inputs only (no parameters).
pub fn check_inputs<Fun>(inputs: &[Tensor<f64>], f: Fun) -> GradCheck
where
    Fun: Fn(&mut Tape<'_, f64>, &[Var]) -> Var,
{
    check_gradients(&mut ParamSet::new(), inputs, f)
}
