//! Reductions over axes: sum and mean, each with its backward (a broadcast back).

use crate::{Float, Tensor};
use ndarray::{Axis, IxDyn};

/// Sums over `axes` (any order, no repeats), dropping them. Summing every axis gives a scalar
/// tensor of shape `[]`.
pub fn sum_forward<F: Float>(x: &Tensor<F>, axes: &[usize]) -> Tensor<F> {
    let mut sorted = axes.to_vec();
    sorted.sort_unstable();
    let mut r = x.clone();
    // Highest axis first so the remaining indices stay valid.
    for &a in sorted.iter().rev() {
        r = r.sum_axis(Axis(a));
    }
    r.as_standard_layout().into_owned()
}

/// The gradient of a sum: `dy` broadcast back over the summed axes.
pub fn sum_backward<F: Float>(x_shape: &[usize], axes: &[usize], dy: &Tensor<F>) -> Tensor<F> {
    let mut kept = dy.clone();
    let mut sorted = axes.to_vec();
    sorted.sort_unstable();
    for &a in &sorted {
        kept = kept.insert_axis(Axis(a));
    }
    kept.broadcast(IxDyn(x_shape)).expect("summed axes broadcast back").to_owned()
}

/// Number of elements a reduction over `axes` averages.
fn count(shape: &[usize], axes: &[usize]) -> usize {
    axes.iter().map(|&a| shape[a]).product()
}

/// Mean over `axes`, dropping them.
pub fn mean_forward<F: Float>(x: &Tensor<F>, axes: &[usize]) -> Tensor<F> {
    let n = F::of(count(x.shape(), axes) as f64);
    sum_forward(x, axes).mapv(|v| v / n)
}

/// The gradient of a mean: `dy / n` broadcast back.
pub fn mean_backward<F: Float>(x_shape: &[usize], axes: &[usize], dy: &Tensor<F>) -> Tensor<F> {
    let n = F::of(count(x_shape, axes) as f64);
    sum_backward(x_shape, axes, &dy.mapv(|g| g / n))
}

/// Σ x² of a buffer in f64, vectorizable: 8 lanes of F over blocks of 256 elements, each block's
/// lanes then added in f64 in order (a fixed order: the same bits every run).
pub fn sum_of_squares<F: Float>(x: &[F]) -> f64 {
    let mut total = 0f64;
    for block in x.chunks(256) {
        let mut acc = [F::zero(); 8];
        let mut it = block.chunks_exact(8);
        for c in &mut it {
            for i in 0..8 {
                acc[i] += c[i] * c[i];
            }
        }
        for (i, &v) in it.remainder().iter().enumerate() {
            acc[i] += v * v;
        }
        total += acc.iter().map(|a| a.f64()).sum::<f64>();
    }
    total
}
