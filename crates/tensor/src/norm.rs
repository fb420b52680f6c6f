//! Layer normalisation over the last axis, forward and backward in one pass over the rows each.
//!
//! The row loops are compiled once per common width (16, 32, 64, 128: every preset's d_model; 4, 8
//! and 12: the capacity grid's narrowest models, where layer norm was a fifth of the step) with the width
//! known at compile time, so that a 16-wide row is a couple of vector registers and no remainder
//! loops; any other width takes the same code with a run-time length. The arithmetic and its order
//! are the same either way, so the width changes the speed, never the bits.

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
            4 => $run::<F, 4>($($arg),*),
            8 => $run::<F, 8>($($arg),*),
            12 => $run::<F, 12>($($arg),*),
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
    data.chunks_exact(width).map(fit::<F, D>)
}

/// A row-long slice whose length the compiler knows when D is not 0.
#[inline(always)]
fn fit<F, const D: usize>(s: &[F]) -> &[F] {
    if D == 0 {
        s
    } else {
        &<&[F; D]>::try_from(s).expect("a row-long slice")[..]
    }
}

#[inline(always)]
fn fit_mut<F, const D: usize>(s: &mut [F]) -> &mut [F] {
    if D == 0 {
        s
    } else {
        &mut <&mut [F; D]>::try_from(s).expect("a row-long slice")[..]
    }
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

#[inline(never)] // compiled once per width, as backward_rows
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
#[inline(never)] // compiled once per width, apart from the dispatch: inlined, the width-16 loop lost half its speed
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
    let (mut xhat_v, mut g_v) = (vec![F::zero(); d], vec![F::zero(); d]);
    // Every row-long slice with its length known at compile time (when D is), so that the zips
    // below are fixed-length loops with no remainder.
    let (xhat, g, ws) = (fit_mut::<F, D>(&mut xhat_v), fit_mut::<F, D>(&mut g_v), fit::<F, D>(ws));
    let (dw, db) = (fit_mut::<F, D>(dw), fit_mut::<F, D>(db));
    let inv_d = F::one() / F::of(d as f64);
    let rows_xy = rows::<F, D>(xs, d).zip(rows::<F, D>(dys, d));
    for (r, ((xr, dyr), dxr)) in rows_xy.zip(dx.chunks_exact_mut(d)).enumerate() {
        let (mean, rstd) = (saved.mean[r], saved.rstd[r]);
        let dxr = fit_mut::<F, D>(dxr);
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
        let mean_g = lanes::sum(g) * inv_d;
        let mean_gx = lanes::dot(g, xhat) * inv_d;
        for ((dx, &gj), &xh) in dxr.iter_mut().zip(g.iter()).zip(xhat.iter()) {
            *dx = rstd * (gj - mean_g - xh * mean_gx);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values with non-zero means, uneven spreads and non-identity weights, so a wrong row or lane
    /// shows in the bits.
    fn values(n: usize, seed: f32) -> Vec<f32> {
        (0..n)
            .map(|i| ((i as f32 * 0.37 + seed).sin() * 3.0 + 0.5 * seed).round() / 4.0 + (i % 5) as f32 * 0.1)
            .collect()
    }

    /// Through the public entry points, so that the width dispatch is tested too: every width with
    /// a loop of its own against the run-time loop, bit for bit, forward and backward.
    #[test]
    fn a_width_known_at_compile_time_gives_the_run_time_widths_bits() {
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        for d in [4, 8, 12, 16, 32, 64, 128] {
            let rows_n = 7;
            let (xs, dys) = (values(rows_n * d, 1.3), values(rows_n * d, -0.7));
            let (ws, bs) = (values(d, 2.1), values(d, 0.4));
            let t = |v: &[f32], shape: &[usize]| crate::from_vec(shape, v.to_vec());
            let (x, w, b, dy) = (t(&xs, &[rows_n, d]), t(&ws, &[d]), t(&bs, &[d]), t(&dys, &[rows_n, d]));
            let (y, saved) = layer_norm_forward(&x, &w, &b, 1e-5);
            let mut y_run = vec![0.0f32; xs.len()];
            let s_run = forward_rows::<f32, 0>(&xs, &mut y_run, &ws, &bs, d, 1e-5);
            assert_eq!(bits(y.as_slice().unwrap()), bits(&y_run), "forward, width {d}");
            assert_eq!(
                (bits(&saved.mean), bits(&saved.rstd)),
                (bits(&s_run.mean), bits(&s_run.rstd)),
                "statistics, width {d}"
            );
            let (dx, dw, db) = layer_norm_backward(&x, &w, &saved, &dy);
            let (mut dx_run, mut dw_run, mut db_run) = (vec![0.0f32; xs.len()], vec![0.0f32; d], vec![0.0f32; d]);
            backward_rows::<f32, 0>(&xs, &ws, &s_run, &dys, &mut dx_run, &mut dw_run, &mut db_run, d);
            let got = [&dx, &dw, &db].map(|g| bits(g.as_slice().unwrap()));
            assert_eq!(got, [bits(&dx_run), bits(&dw_run), bits(&db_run)], "backward, width {d}");
        }
    }
}
