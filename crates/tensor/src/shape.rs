//! Shape ops: permute (general transpose), concatenation and slicing, with their backwards.
//! (Reshape needs no kernel: it is the same buffer with another shape.)

use crate::{Float, Tensor};
use ndarray::{Axis, Slice};

// ---- permute: y = x with axes reordered so that y's axis i is x's axis perm[i] ------------------
pub fn permute_forward<F: Float>(x: &Tensor<F>, perm: &[usize]) -> Tensor<F> {
    x.view().permuted_axes(perm.to_vec()).as_standard_layout().into_owned()
}
/// The inverse permutation applied to dy.
pub fn permute_backward<F: Float>(perm: &[usize], dy: &Tensor<F>) -> Tensor<F> {
    let mut inv = vec![0; perm.len()];
    for (i, &p) in perm.iter().enumerate() {
        inv[p] = i;
    }
    permute_forward(dy, &inv)
}

// ---- concat along an axis ----------------------------------------------------------------------
pub fn concat_forward<F: Float>(xs: &[&Tensor<F>], axis: usize) -> Tensor<F> {
    let views: Vec<_> = xs.iter().map(|x| x.view()).collect();
    ndarray::concatenate(Axis(axis), &views)
        .expect("shapes agree off the concat axis")
        .as_standard_layout()
        .into_owned()
}
/// Splits dy back into pieces of the given sizes along `axis`.
pub fn concat_backward<F: Float>(sizes: &[usize], axis: usize, dy: &Tensor<F>) -> Vec<Tensor<F>> {
    let mut start = 0;
    sizes
        .iter()
        .map(|&n| {
            let part = dy.slice_axis(Axis(axis), Slice::from(start..start + n)).as_standard_layout().into_owned();
            start += n;
            part
        })
        .collect()
}

// ---- slice: y = x[start .. start+len] along an axis ---------------------------------------------
pub fn slice_forward<F: Float>(x: &Tensor<F>, axis: usize, start: usize, len: usize) -> Tensor<F> {
    x.slice_axis(Axis(axis), Slice::from(start..start + len)).as_standard_layout().into_owned()
}
/// dy placed back at its position, zeros elsewhere.
pub fn slice_backward<F: Float>(x_shape: &[usize], axis: usize, start: usize, dy: &Tensor<F>) -> Tensor<F> {
    let mut dx = crate::zeros::<F>(x_shape);
    let n = dy.shape()[axis];
    dx.slice_axis_mut(Axis(axis), Slice::from(start..start + n)).assign(dy);
    dx
}
