//! Conv1d over the sequence axis with zero "same" padding (the log's "alien" reduction).
//!
//! Channels-last layout, as the model's activations are `[B, L, d]`. The kernel unfolds the input
//! into columns (im2col) and runs one dense product, so its speed is the matmul's.

use crate::linear::{linear_backward, linear_forward};
use crate::{Float, Tensor};

/// `[Cout, Cin, K]` (PyTorch's layout) → `[Cout, K·Cin]` with column `k·Cin + c`.
fn weight_as_matrix<F: Float>(w: &Tensor<F>) -> Tensor<F> {
    w.view()
        .permuted_axes(vec![0, 2, 1])
        .as_standard_layout()
        .into_owned()
        .into_shape_with_order(ndarray::IxDyn(&[w.shape()[0], w.shape()[1] * w.shape()[2]]))
        .expect("contiguous")
}

/// x [B, L, Cin] → columns [B·L, K·Cin]: row (b, t) holds x[b, t+k−K/2, :] for k = 0..K, zeros outside.
fn im2col<F: Float>(x: &Tensor<F>, k: usize) -> Tensor<F> {
    let (b, l, c) = (x.shape()[0], x.shape()[1], x.shape()[2]);
    let pad = k / 2;
    let xs = crate::contiguous(x);
    let mut cols = vec![F::zero(); b * l * k * c];
    for bi in 0..b {
        for t in 0..l {
            let row = &mut cols[(bi * l + t) * k * c..(bi * l + t + 1) * k * c];
            for kk in 0..k {
                let src = t as isize + kk as isize - pad as isize;
                if src >= 0 && (src as usize) < l {
                    let s = (bi * l + src as usize) * c;
                    row[kk * c..(kk + 1) * c].copy_from_slice(&xs[s..s + c]);
                }
            }
        }
    }
    crate::from_vec(&[b * l, k * c], cols)
}

// x is [B, L, Cin], w is [Cout, Cin, K] (K odd), b is [Cout]; y is [B, L, Cout]
pub fn conv1d_forward<F: Float>(x: &Tensor<F>, w: &Tensor<F>, b: &Tensor<F>) -> Tensor<F> {
    let (bsz, l) = (x.shape()[0], x.shape()[1]);
    let cout = w.shape()[0];
    let y = linear_forward(&im2col(x, w.shape()[2]), &weight_as_matrix(w), Some(b));
    y.into_shape_with_order(ndarray::IxDyn(&[bsz, l, cout])).expect("contiguous")
}

/// Returns (dx, dw, db): the dense layer's gradients, folded back (col2im) onto x and w.
pub fn conv1d_backward<F: Float>(x: &Tensor<F>, w: &Tensor<F>, dy: &Tensor<F>) -> (Tensor<F>, Tensor<F>, Tensor<F>) {
    let (bsz, l, c) = (x.shape()[0], x.shape()[1], x.shape()[2]);
    let (cout, k) = (w.shape()[0], w.shape()[2]);
    let pad = k / 2;
    let cols = im2col(x, k);
    let dy2 = dy.view().into_shape_with_order(ndarray::IxDyn(&[bsz * l, cout])).expect("contiguous").to_owned();
    let (dcols, dw2, db) = linear_backward(&cols, &weight_as_matrix(w), &dy2, true);
    let dcols = dcols.expect("asked for dx");
    let dcs = crate::contiguous(&dcols);
    // col2im: every column entry came from one input element (or from the zero padding).
    let mut dx = vec![F::zero(); bsz * l * c];
    for bi in 0..bsz {
        for t in 0..l {
            let row = &dcs[(bi * l + t) * k * c..(bi * l + t + 1) * k * c];
            for kk in 0..k {
                let src = t as isize + kk as isize - pad as isize;
                if src >= 0 && (src as usize) < l {
                    let d = (bi * l + src as usize) * c;
                    dx[d..d + c].iter_mut().zip(&row[kk * c..(kk + 1) * c]).for_each(|(a, &g)| *a += g);
                }
            }
        }
    }
    // [Cout, K·Cin] → [Cout, Cin, K]
    let dw = dw2
        .into_shape_with_order(ndarray::IxDyn(&[cout, k, c]))
        .expect("contiguous")
        .permuted_axes(vec![0, 2, 1])
        .as_standard_layout()
        .into_owned();
    (crate::from_vec(&[bsz, l, c], dx), dw, db)
}

/// Reference: the definition, y[b,t,o] = bias[o] + Σ_{c,k} w[o,c,k]·x[b, t+k−K/2, c], zeros outside.
pub fn conv1d_reference<F: Float>(x: &Tensor<F>, w: &Tensor<F>, bias: &Tensor<F>) -> Tensor<F> {
    let (bsz, l, c) = (x.shape()[0], x.shape()[1], x.shape()[2]);
    let (cout, k) = (w.shape()[0], w.shape()[2]);
    let mut y = crate::zeros::<F>(&[bsz, l, cout]);
    for b in 0..bsz {
        for t in 0..l {
            for o in 0..cout {
                let mut s = bias[[o]].f64();
                for ci in 0..c {
                    for kk in 0..k {
                        let src = t as isize + kk as isize - (k / 2) as isize;
                        if src >= 0 && (src as usize) < l {
                            s += w[[o, ci, kk]].f64() * x[[b, src as usize, ci]].f64();
                        }
                    }
                }
                y[[b, t, o]] = F::of(s);
            }
        }
    }
    y
}
