//! Row reductions written so the compiler vectorizes them: eight independent accumulators, then
//! one fixed combination. A plain `iter().sum()` of floats must add in order and stays scalar.
//! The order here is fixed too, so results are the same bits on every run.

use crate::Float;

/// Σ x.
#[inline(always)]
pub fn sum<F: Float>(x: &[F]) -> F {
    let mut acc = [F::zero(); 8];
    let mut chunks = x.chunks_exact(8);
    for c in &mut chunks {
        for i in 0..8 {
            acc[i] += c[i];
        }
    }
    for (i, &v) in chunks.remainder().iter().enumerate() {
        acc[i] += v;
    }
    combine(acc)
}

/// Σ x·y.
#[inline(always)]
pub fn dot<F: Float>(x: &[F], y: &[F]) -> F {
    let n = x.len().min(y.len());
    let (x, y) = (&x[..n], &y[..n]);
    let mut acc = [F::zero(); 8];
    let (mut cx, mut cy) = (x.chunks_exact(8), y.chunks_exact(8));
    for (a, b) in (&mut cx).zip(&mut cy) {
        for i in 0..8 {
            acc[i] += a[i] * b[i];
        }
    }
    for (i, (&a, &b)) in cx.remainder().iter().zip(cy.remainder()).enumerate() {
        acc[i] += a * b;
    }
    combine(acc)
}

/// max x (−∞ for an empty row). Max is exact, so any order gives the same result.
#[inline(always)]
pub fn max<F: Float>(x: &[F]) -> F {
    let mut acc = [F::neg_infinity(); 8];
    let mut chunks = x.chunks_exact(8);
    for c in &mut chunks {
        for i in 0..8 {
            acc[i] = if c[i] > acc[i] { c[i] } else { acc[i] };
        }
    }
    for (i, &v) in chunks.remainder().iter().enumerate() {
        acc[i] = if v > acc[i] { v } else { acc[i] };
    }
    acc.iter().copied().fold(F::neg_infinity(), |m, v| if v > m { v } else { m })
}

#[inline(always)]
fn combine<F: Float>(a: [F; 8]) -> F {
    ((a[0] + a[4]) + (a[1] + a[5])) + ((a[2] + a[6]) + (a[3] + a[7]))
}
