//! Softmax, log-softmax and the fused softmax-cross-entropy, all along the last axis.
//!
//! Stable forms: each row is shifted by its maximum before `exp`, so no input overflows.

use crate::{Float, Tensor};
use rayon::prelude::*;

/// Row length (last axis) and row count of a tensor.
fn rows<F>(x: &Tensor<F>) -> (usize, usize) {
    let n = *x.shape().last().expect("softmax needs rank >= 1");
    (n, x.len() / n.max(1))
}

/// In-place softmax of one row: max, exponentials and sum each in a loop of its own, so that all
/// three vectorize (the sums in a fixed order, [`crate::lanes`]).
#[inline]
pub fn softmax_row<F: Float>(row: &mut [F]) {
    let max = crate::lanes::max(row);
    row.iter_mut().for_each(|v| *v = (*v - max).fast_exp());
    let inv = F::one() / crate::lanes::sum(row);
    row.iter_mut().for_each(|v| *v *= inv);
}

// ---- softmax: y = exp(x − max) / Σ exp(x − max) -------------------------------------------------
// x is [..., n]; y is [..., n]
pub fn softmax_forward<F: Float>(x: &Tensor<F>) -> Tensor<F> {
    let (n, _) = rows(x);
    let mut y = x.as_standard_layout().into_owned();
    crate::buf_mut(&mut y).chunks_mut(n).for_each(softmax_row);
    y
}
/// dx = y ⊙ (dy − Σ dy⊙y), per row.
pub fn softmax_backward<F: Float>(y: &Tensor<F>, dy: &Tensor<F>) -> Tensor<F> {
    let (n, _) = rows(y);
    let mut dx = dy.as_standard_layout().into_owned();
    let ys = crate::contiguous(y);
    for (g, y) in crate::buf_mut(&mut dx).chunks_mut(n).zip(ys.chunks(n)) {
        let dot = crate::lanes::dot(g, y);
        g.iter_mut().zip(y).for_each(|(g, &y)| *g = y * (*g - dot));
    }
    dx
}

// ---- log-softmax: y = x − max − ln Σ exp(x − max) ------------------------------------------------
pub fn log_softmax_forward<F: Float>(x: &Tensor<F>) -> Tensor<F> {
    let (n, _) = rows(x);
    let mut y = x.as_standard_layout().into_owned();
    for row in crate::buf_mut(&mut y).chunks_mut(n) {
        let max = row.iter().copied().fold(F::neg_infinity(), F::max);
        let lse = max + row.iter().map(|&v| (v - max).exp()).sum::<F>().ln();
        row.iter_mut().for_each(|v| *v -= lse);
    }
    y
}
/// dx = dy − softmax(x)·Σ dy, per row (softmax(x) = exp(y)).
pub fn log_softmax_backward<F: Float>(y: &Tensor<F>, dy: &Tensor<F>) -> Tensor<F> {
    let (n, _) = rows(y);
    let mut dx = dy.as_standard_layout().into_owned();
    let ys = crate::contiguous(y);
    for (g, y) in crate::buf_mut(&mut dx).chunks_mut(n).zip(ys.chunks(n)) {
        let sum: F = g.iter().copied().sum();
        g.iter_mut().zip(y).for_each(|(g, &y)| *g -= y.exp() * sum);
    }
    dx
}

// ---- fused softmax-cross-entropy: loss = mean_i (ln Σ exp(x_i) − x_i[target_i]) ------------------
/// Rows per parallel task: fixed, so the summation order never depends on the thread count.
const CE_ROWS_PER_TASK: usize = 64;

/// logits is [M, V], targets has M entries < V. Returns (mean loss, probabilities [M, V]).
/// The loss is summed in f64 per fixed chunk of rows, chunks added in order, on either path. The
/// exponentials are written straight from the logits into the output (no copy, and on the serial
/// path no zeroing first), each pass its own loop so that it vectorizes (the exponential's
/// selects defeat a fused exp-and-sum loop).
pub fn cross_entropy_forward<F: Float>(logits: &Tensor<F>, targets: &[u32]) -> (F, Tensor<F>) {
    let (v, m) = rows(logits);
    assert_eq!(m, targets.len(), "one target per row");
    let xs = crate::contiguous(logits);
    let chunk = CE_ROWS_PER_TASK * v;
    let (probs, partial): (Vec<F>, Vec<f64>) = if m * v >= crate::PARALLEL_MIN_ELEMS && crate::may_split() {
        let mut probs = vec![F::zero(); m * v];
        let pairs = probs.par_chunks_mut(chunk).zip(xs.par_chunks(chunk));
        let partial = pairs
            .zip(targets.par_chunks(CE_ROWS_PER_TASK))
            .map(|((out, xs), ts)| {
                let rows = out.chunks_mut(v).zip(xs.chunks(v)).zip(ts);
                rows.fold(0.0, |s, ((row, x), &t)| {
                    let max = crate::lanes::max(x);
                    row.iter_mut().zip(x).for_each(|(y, &x)| *y = (x - max).fast_exp());
                    s + normalize_row(row, x, max, t as usize)
                })
            })
            .collect();
        (probs, partial)
    } else {
        let mut probs = Vec::with_capacity(m * v);
        let partial = (xs.chunks(chunk).zip(targets.chunks(CE_ROWS_PER_TASK)))
            .map(|(xs, ts)| {
                xs.chunks(v).zip(ts).fold(0.0, |s, (x, &t)| {
                    let (max, start) = (crate::lanes::max(x), probs.len());
                    probs.extend(x.iter().map(|&x| (x - max).fast_exp()));
                    s + normalize_row(&mut probs[start..], x, max, t as usize)
                })
            })
            .collect();
        (probs, partial)
    };
    let total: f64 = partial.iter().sum();
    (F::of(total / m.max(1) as f64), crate::from_vec(logits.shape(), probs))
}

/// Turns a row of exp(x − max) into probabilities; returns its loss, (max − x_target) + ln Σ
/// exp(x − max). In that order: (max + ln Σ) − x_target cancels when the target is the max, where
/// a confident row's loss of ~1e-6 is below half an ulp of a logit of 20 (9.5e-7) and came out 0.
#[inline(always)]
fn normalize_row<F: Float>(row: &mut [F], x: &[F], max: F, target: usize) -> f64 {
    let sum = crate::lanes::sum(row);
    // Σ < 2: some exponential holds more than half the mass, and ln Σ is small enough that the
    // rounding of Σ near 1 (6e-8) would be all of it: sum the rest apart.
    let ln_sum = if sum < F::of(2.0) { ln_sum_near_one(row, x, max) } else { sum.ln().f64() };
    let inv = F::one() / sum;
    row.iter_mut().for_each(|p| *p *= inv);
    (max - x[target]).f64() + ln_sum
}

/// ln Σ of a row of exp(x − max) whose Σ is below 2: ln(1 + the others), the others summed
/// without the max's own term exp(0) (kept as it is in the row), so that they keep their digits.
#[cold]
fn ln_sum_near_one<F: Float>(row: &mut [F], x: &[F], max: F) -> f64 {
    let Some(at) = x.iter().position(|&v| v == max) else { return crate::lanes::sum(row).f64().ln() };
    let own = std::mem::replace(&mut row[at], F::zero());
    let others = crate::lanes::sum(row).f64();
    row[at] = own;
    (others + (own.f64() - 1.0)).ln_1p()
}

/// d logits = (softmax − onehot(target)) · dloss / M, in one pass over the probabilities.
pub fn cross_entropy_backward<F: Float>(probs: &Tensor<F>, targets: &[u32], dloss: F) -> Tensor<F> {
    let (v, m) = rows(probs);
    let scale = dloss / F::of(m.max(1) as f64);
    let ps = crate::contiguous(probs);
    let fix_targets = |d: &mut [F], ps: &[F], ts: &[u32]| {
        for (i, &t) in ts.iter().enumerate() {
            let at = i * v + t as usize;
            d[at] = (ps[at] - F::one()) * scale;
        }
    };
    let d = if m * v >= crate::PARALLEL_MIN_ELEMS && crate::may_split() {
        let mut d = vec![F::zero(); m * v];
        let chunk = CE_ROWS_PER_TASK * v;
        let chunks = d.par_chunks_mut(chunk).zip(ps.par_chunks(chunk)).zip(targets.par_chunks(CE_ROWS_PER_TASK));
        chunks.for_each(|((d, ps), ts)| {
            d.iter_mut().zip(ps).for_each(|(g, &p)| *g = p * scale);
            fix_targets(d, ps, ts);
        });
        d
    } else {
        let mut d: Vec<F> = ps.iter().map(|&p| p * scale).collect();
        fix_targets(&mut d, &ps, targets);
        d
    };
    crate::from_vec(probs.shape(), d)
}
