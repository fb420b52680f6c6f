//! Layer normalisation over the last axis, forward and backward in one pass over the rows each.

use crate::{Float, Tensor};

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
    let (ws, bs) = (crate::contiguous(w), crate::contiguous(b));
    let mut y = x.as_standard_layout().into_owned();
    let mut saved = LayerNormSaved { mean: Vec::with_capacity(rows), rstd: Vec::with_capacity(rows) };
    let inv_d = F::one() / F::of(d as f64);
    for row in crate::buf_mut(&mut y).chunks_mut(d) {
        let mean = row.iter().copied().sum::<F>() * inv_d;
        let var = row.iter().map(|&v| (v - mean) * (v - mean)).sum::<F>() * inv_d;
        let rstd = F::one() / (var + F::of(eps)).sqrt();
        for ((v, &w), &b) in row.iter_mut().zip(ws.iter()).zip(bs.iter()) {
            *v = (*v - mean) * rstd * w + b;
        }
        saved.mean.push(mean);
        saved.rstd.push(rstd);
    }
    (y, saved)
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
    let mut dx = crate::zeros::<F>(x.shape());
    let mut dw = vec![F::zero(); d];
    let mut db = vec![F::zero(); d];
    let inv_d = F::one() / F::of(d as f64);
    let dxs = crate::buf_mut(&mut dx);
    for (r, ((xr, dyr), dxr)) in xs.chunks(d).zip(dys.chunks(d)).zip(dxs.chunks_mut(d)).enumerate() {
        let (mean, rstd) = (saved.mean[r], saved.rstd[r]);
        let mut mean_g = F::zero();
        let mut mean_gx = F::zero();
        for j in 0..d {
            let xhat = (xr[j] - mean) * rstd;
            let g = dyr[j] * ws[j];
            mean_g += g;
            mean_gx += g * xhat;
            dw[j] += dyr[j] * xhat;
            db[j] += dyr[j];
        }
        mean_g *= inv_d;
        mean_gx *= inv_d;
        for j in 0..d {
            let xhat = (xr[j] - mean) * rstd;
            dxr[j] = rstd * (dyr[j] * ws[j] - mean_g - xhat * mean_gx);
        }
    }
    (dx, crate::from_vec(&[d], dw), crate::from_vec(&[d], db))
}
