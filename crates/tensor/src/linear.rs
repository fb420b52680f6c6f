//! The affine map of a dense layer, `y = x·Wᵀ + b`, fused so one node does matmul and bias.
//!
//! W is stored `[out, in]` (PyTorch's convention, so exported weights load as they are) and read
//! transposed by striding.

use crate::matmul::{gemm, gemm_new, Mat};
use crate::{Float, Tensor};

/// Rows of the flattened input: every axis but the last.
fn rows_of<F>(x: &Tensor<F>) -> usize {
    x.len() / x.shape().last().copied().unwrap_or(1).max(1)
}

// x is [..., in], w is [out, in], b is [out]; y is [..., out]
pub fn linear_forward<F: Float>(x: &Tensor<F>, w: &Tensor<F>, b: Option<&Tensor<F>>) -> Tensor<F> {
    let (out, inp) = (w.shape()[0], w.shape()[1]);
    assert_eq!(x.shape().last(), Some(&inp), "linear: input has {:?}, weight {:?}", x.shape(), w.shape());
    let m = rows_of(x);
    let mut shape = x.shape().to_vec();
    *shape.last_mut().expect("rank >= 1") = out;
    let (xs, ws) = (crate::contiguous(x), crate::contiguous(w));
    let (xm, wt) = (Mat::new(&xs, m, inp), Mat::new(&ws, out, inp).t());
    let y = match b {
        Some(b) => {
            // The bias in every row (no zeroing first), then the product added to it.
            let bs = crate::contiguous(b);
            let mut y = Vec::with_capacity(m * out);
            (0..m).for_each(|_| y.extend_from_slice(&bs));
            gemm(xm, wt, &mut y, true);
            y
        }
        None => gemm_new(xm, wt),
    };
    crate::from_vec(&shape, y)
}

/// Returns (dx, dw, db): dx = dy·W, dW = dyᵀ·x, db = Σ_rows dy.
pub fn linear_backward<F: Float>(
    x: &Tensor<F>,
    w: &Tensor<F>,
    dy: &Tensor<F>,
    need_dx: bool,
) -> (Option<Tensor<F>>, Tensor<F>, Tensor<F>) {
    let (out, inp) = (w.shape()[0], w.shape()[1]);
    let m = rows_of(x);
    let (xs, ws, dys) = (crate::contiguous(x), crate::contiguous(w), crate::contiguous(dy));
    let dx = need_dx.then(|| crate::from_vec(x.shape(), gemm_new(Mat::new(&dys, m, out), Mat::new(&ws, out, inp))));
    let dw = gemm_new(Mat::new(&dys, m, out).t(), Mat::new(&xs, m, inp));
    (dx, crate::from_vec(&[out, inp], dw), column_sums(&dys, out))
}

/// Σ over rows of a row-major [rows, n] buffer, rows added in order.
pub fn column_sums<F: Float>(data: &[F], n: usize) -> Tensor<F> {
    let mut s = vec![F::zero(); n];
    for row in data.chunks(n) {
        s.iter_mut().zip(row).for_each(|(a, &b)| *a += b);
    }
    crate::from_vec(&[n], s)
}
