//! Layer normalisation over the last axis, forward and backward in one pass over the rows each.
//!
//! The row loops are compiled once per common width (16, 32, 64, 128: every preset's d_model) with
//! the width known at compile time, so that a 16-wide row is a couple of vector registers and no
//! remainder loops; any other width takes the same code with a run-time length.

use crate::{lanes, Float, Tensor};

/// Statistics the backward needs: per-row mean and 1/√(var + eps).
#[derive(Clone, Debug)]
pub struct LayerNormSaved<F> {
    pub mean: Vec<F>,
    pub rstd: Vec<F>,
}

/// Calls `$run::<F, D>` with the row width as a constant when it is a common one (0: run-time width).
macro_rules! by_width {
    ($d:expr, $run:ident, $($arg:expr),*) => {
        match $d {
            16 => $run::<F, 16>($($arg),*),
            32 => $run::<F, 32>($($arg),*),
            64 => $run::<F, 64>($($arg),*),
            128 => $run::<F, 128>($($arg),*),
            _ => $run::<F, 0>($($arg),*),
        }
    };
}

/// Rows of width `D` (or `d` when `D` is 0), as slices whose length the compiler knows when it can.
#[inline(always)]
fn rows<F, const D: usize>(data: &[F], d: usize) -> impl Iterator<Item = &[F]> {
    let width = if D == 0 { d } else { D };
    data.chunks_exact(width).map(move |r| if D == 0 { r } else { &<&[F; D]>::try_from(r).expect("exact chunks")[..] })
}

// x is [..., d], w and b are [d]; y is [..., d]
pub fn layer_norm_forward<F: Float>(
    x: &Tensor<F>,
    w: &Tensor<F>,
    b: &Tensor<F>,
    eps: f64,
) -> (Tensor<F>, LayerNormSaved<F>) {
    let d = *x.shape().last().expect("layer norm needs rank >= 1");
    let (xs, ws, bs) = (crate::contiguous(x), crate::contiguous(w), crate::contiguous(b));
    let mut y = vec![F::zero(); x.len()];
    let saved = by_width!(d, forward_rows, &xs, &mut y, &ws, &bs, d, F::of(eps));
    (crate::from_vec(x.shape(), y), saved)
}

fn forward_rows<F: Float, const D: usize>(
    xs: &[F],
    y: &mut [F],
    ws: &[F],
    bs: &[F],
    d: usize,
    eps: F,
) -> LayerNormSaved<F> {
    let rows_n = xs.len() / d;
    let mut saved = LayerNormSaved { mean: Vec::with_capacity(rows_n), rstd: Vec::with_capacity(rows_n) };
    let inv_d = F::one() / F::of(d as f64);
    for (xr, yr) in rows::<F, D>(xs, d).zip(y.chunks_exact_mut(d)) {
        let mean = lanes::sum(xr) * inv_d;
        // y holds x − mean for a moment, for the variance.
        yr.iter_mut().zip(xr).for_each(|(y, &x)| *y = x - mean);
        let rstd = F::one() / (lanes::dot(yr, yr) * inv_d + eps).sqrt();
        for ((y, &w), &b) in yr.iter_mut().zip(ws.iter()).zip(bs.iter()) {
            *y = *y * rstd * w + b;
        }
        saved.mean.push(mean);
        saved.rstd.push(rstd);
    }
    saved
}

/// Returns (dx, dw, db). With x̂ = (x − mean)·rstd and g = dy ⊙ w:
/// dx = rstd · (g − mean(g) − x̂ · mean(g ⊙ x̂)),  dw = Σ_rows dy ⊙ x̂,  db = Σ_rows dy.
pub fn layer_norm_backward<F: Float>(
    x: &Tensor<F>,
    w: &Tensor<F>,
    saved: &LayerNormSaved<F>,
    dy: &Tensor<F>,
) -> (Tensor<F>, Tensor<F>, Tensor<F>) {
    let d = *x.shape().last().expect("rank >= 1");
    let (xs, ws, dys) = (crate::contiguous(x), crate::contiguous(w), crate::contiguous(dy));
    let mut dx = vec![F::zero(); x.len()];
    let mut dw = vec![F::zero(); d];
    let mut db = vec![F::zero(); d];
    by_width!(d, backward_rows, &xs, &ws, saved, &dys, &mut dx, &mut dw, &mut db, d);
    (crate::from_vec(x.shape(), dx), crate::from_vec(&[d], dw), crate::from_vec(&[d], db))
}

#[allow(clippy::too_many_arguments)]
fn backward_rows<F: Float, const D: usize>(
    xs: &[F],
    ws: &[F],
    saved: &LayerNormSaved<F>,
    dys: &[F],
    dx: &mut [F],
    dw: &mut [F],
    db: &mut [F],
    d: usize,
) {
    let (mut xhat, mut g) = (vec![F::zero(); d], vec![F::zero(); d]);
    let inv_d = F::one() / F::of(d as f64);
    let rows_xy = rows::<F, D>(xs, d).zip(rows::<F, D>(dys, d));
    for (r, ((xr, dyr), dxr)) in rows_xy.zip(dx.chunks_exact_mut(d)).enumerate() {
        let (mean, rstd) = (saved.mean[r], saved.rstd[r]);
        // Zipped slices (no indexing): the compiler proves the lengths equal and vectorizes.
        for ((((xh, gj), (&x, &dy)), &w), (dw, db)) in xhat
            .iter_mut()
            .zip(g.iter_mut())
            .zip(xr.iter().zip(dyr))
            .zip(ws.iter())
            .zip(dw.iter_mut().zip(db.iter_mut()))
        {
            *xh = (x - mean) * rstd;
            *gj = dy * w;
            *dw += dy * *xh;
            *db += dy;
        }
        let mean_g = lanes::sum(&g) * inv_d;
        let mean_gx = lanes::dot(&g, &xhat) * inv_d;
        for ((dx, &gj), &xh) in dxr.iter_mut().zip(&g).zip(&xhat) {
            *dx = rstd * (gj - mean_g - xh * mean_gx);
        }
    }
}
