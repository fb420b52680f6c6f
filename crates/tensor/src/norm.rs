//! Layer normalisation over the last axis, forward and backward in one pass over the rows each.

use crate::{lanes, Float, Tensor};

/// Statistics the backward needs: per-row mean and 1/√(var + eps).
#[derive(Clone, Debug)]
pub struct LayerNormSaved<F> {
    pub mean: Vec<F>,
    pub rstd: Vec<F>,
}

// x is [..., d], w and b are [d]; y is [..., d]
pub fn layer_norm_forward<F: Float>(
    x: &Tensor<F>,
    w: &Tensor<F>,
    b: &Tensor<F>,
    eps: f64,
) -> (Tensor<F>, LayerNormSaved<F>) {
    let d = *x.shape().last().expect("layer norm needs rank >= 1");
    let rows = x.len() / d;
    let (xs, ws, bs) = (crate::contiguous(x), crate::contiguous(w), crate::contiguous(b));
    let mut y = vec![F::zero(); x.len()];
    let mut saved = LayerNormSaved { mean: Vec::with_capacity(rows), rstd: Vec::with_capacity(rows) };
    let inv_d = F::one() / F::of(d as f64);
    for (xr, yr) in xs.chunks(d).zip(y.chunks_mut(d)) {
        let mean = lanes::sum(xr) * inv_d;
        // y holds x − mean for a moment, for the variance.
        yr.iter_mut().zip(xr).for_each(|(y, &x)| *y = x - mean);
        let rstd = F::one() / (lanes::dot(yr, yr) * inv_d + F::of(eps)).sqrt();
        for ((y, &w), &b) in yr.iter_mut().zip(ws.iter()).zip(bs.iter()) {
            *y = *y * rstd * w + b;
        }
        saved.mean.push(mean);
        saved.rstd.push(rstd);
    }
    (crate::from_vec(x.shape(), y), saved)
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
    let (mut xhat, mut g) = (vec![F::zero(); d], vec![F::zero(); d]);
    let inv_d = F::one() / F::of(d as f64);
    for (r, ((xr, dyr), dxr)) in xs.chunks(d).zip(dys.chunks(d)).zip(dx.chunks_mut(d)).enumerate() {
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
    (crate::from_vec(x.shape(), dx), crate::from_vec(&[d], dw), crate::from_vec(&[d], db))
}
