//! Elementwise ops: broadcasting binary arithmetic and the unary functions, each with its backward.
//!
//! Binary ops broadcast with NumPy's rules (ndarray's co-broadcasting). Their backward sums the
//! output gradient back to each input's shape ([`sum_to_shape`]), the one rule broadcasting needs.

use crate::{Float, Tensor};
use ndarray::{Axis, Zip};

/// The broadcast shape of two shapes (NumPy rules), or None when they do not broadcast.
pub fn broadcast_shape(a: &[usize], b: &[usize]) -> Option<Vec<usize>> {
    let n = a.len().max(b.len());
    let mut out = vec![0; n];
    for i in 0..n {
        let da = if i + a.len() >= n { a[i + a.len() - n] } else { 1 };
        let db = if i + b.len() >= n { b[i + b.len() - n] } else { 1 };
        out[i] = match (da, db) {
            (x, y) if x == y => x,
            (1, y) => y,
            (x, 1) => x,
            _ => return None,
        };
    }
    Some(out)
}

/// Sums a gradient of a broadcast result back to the shape of the input that was broadcast.
pub fn sum_to_shape<F: Float>(g: &Tensor<F>, shape: &[usize]) -> Tensor<F> {
    if g.shape() == shape {
        return g.clone();
    }
    let mut r = g.clone();
    // Leading axes the input did not have.
    while r.ndim() > shape.len() {
        r = r.sum_axis(Axis(0));
    }
    // Axes where the input had size 1.
    for (i, &s) in shape.iter().enumerate() {
        if s == 1 && r.shape()[i] != 1 {
            r = r.sum_axis(Axis(i)).insert_axis(Axis(i));
        }
    }
    r.as_standard_layout().into_owned()
}

fn standard<F: Float>(x: Tensor<F>) -> Tensor<F> {
    if x.is_standard_layout() {
        x
    } else {
        x.as_standard_layout().into_owned()
    }
}

/// a ∘ b in one pass over flat buffers, when both are in standard layout and b's shape is a's or
/// a trailing part of it (a residual, a position table, a gate): ndarray's general broadcasting
/// walks n-dimensional indices and cost 5 µs for a 16×32×16 residual add. One `f` per element,
/// as there, so the bits are the same. None for every other case.
fn flat<F: Float>(a: &Tensor<F>, b: &Tensor<F>, f: impl Fn(F, F) -> F) -> Option<Tensor<F>> {
    let (xs, ys) = (a.as_slice()?, b.as_slice()?);
    if ys.is_empty() || !a.shape().ends_with(b.shape()) {
        return None;
    }
    let mut out = Vec::with_capacity(xs.len());
    for chunk in xs.chunks_exact(ys.len()) {
        out.extend(chunk.iter().zip(ys).map(|(&x, &y)| f(x, y)));
    }
    Some(crate::from_vec(a.shape(), out))
}

/// a ∘ b: the flat path when either operand is the broadcast one (with a broadcast a the roles
/// swap, the operation's order kept), else ndarray's `general`.
fn binary<F: Float>(
    a: &Tensor<F>,
    b: &Tensor<F>,
    f: impl Fn(F, F) -> F + Copy,
    general: impl FnOnce() -> Tensor<F>,
) -> Tensor<F> {
    flat(a, b, f).or_else(|| flat(b, a, |y, x| f(x, y))).unwrap_or_else(|| standard(general()))
}

// ---- add: c = a + b -------------------------------------------------------------------------
pub fn add_forward<F: Float>(a: &Tensor<F>, b: &Tensor<F>) -> Tensor<F> {
    binary(a, b, |x, y| x + y, || a + b)
}
pub fn add_backward<F: Float>(a_shape: &[usize], b_shape: &[usize], dc: &Tensor<F>) -> (Tensor<F>, Tensor<F>) {
    (sum_to_shape(dc, a_shape), sum_to_shape(dc, b_shape))
}

// ---- sub: c = a - b -------------------------------------------------------------------------
pub fn sub_forward<F: Float>(a: &Tensor<F>, b: &Tensor<F>) -> Tensor<F> {
    binary(a, b, |x, y| x - y, || a - b)
}
pub fn sub_backward<F: Float>(a_shape: &[usize], b_shape: &[usize], dc: &Tensor<F>) -> (Tensor<F>, Tensor<F>) {
    (sum_to_shape(dc, a_shape), sum_to_shape(&dc.mapv(|g| -g), b_shape))
}

// ---- mul: c = a ⊙ b -------------------------------------------------------------------------
pub fn mul_forward<F: Float>(a: &Tensor<F>, b: &Tensor<F>) -> Tensor<F> {
    binary(a, b, |x, y| x * y, || a * b)
}
pub fn mul_backward<F: Float>(a: &Tensor<F>, b: &Tensor<F>, dc: &Tensor<F>) -> (Tensor<F>, Tensor<F>) {
    (sum_to_shape(&(dc * b), a.shape()), sum_to_shape(&(dc * a), b.shape()))
}

// ---- div: c = a / b -------------------------------------------------------------------------
pub fn div_forward<F: Float>(a: &Tensor<F>, b: &Tensor<F>) -> Tensor<F> {
    binary(a, b, |x, y| x / y, || a / b)
}
pub fn div_backward<F: Float>(a: &Tensor<F>, b: &Tensor<F>, dc: &Tensor<F>) -> (Tensor<F>, Tensor<F>) {
    // ∂c/∂a = 1/b ; ∂c/∂b = -a/b²
    let da = dc / b;
    let db = -(&da * a) / b;
    (sum_to_shape(&da, a.shape()), sum_to_shape(&db, b.shape()))
}

// ---- scale: y = s·x (a constant s) ------------------------------------------------------------
pub fn scale_forward<F: Float>(x: &Tensor<F>, s: F) -> Tensor<F> {
    x.mapv(|v| v * s)
}
pub fn scale_backward<F: Float>(s: F, dy: &Tensor<F>) -> Tensor<F> {
    dy.mapv(|g| g * s)
}

// ---- exp: y = eˣ ------------------------------------------------------------------------------
pub fn exp_forward<F: Float>(x: &Tensor<F>) -> Tensor<F> {
    x.mapv(F::exp)
}
pub fn exp_backward<F: Float>(y: &Tensor<F>, dy: &Tensor<F>) -> Tensor<F> {
    standard(dy * y)
}

// ---- log: y = ln x ----------------------------------------------------------------------------
pub fn log_forward<F: Float>(x: &Tensor<F>) -> Tensor<F> {
    x.mapv(F::ln)
}
pub fn log_backward<F: Float>(x: &Tensor<F>, dy: &Tensor<F>) -> Tensor<F> {
    standard(dy / x)
}

// ---- tanh ---------------------------------------------------------------------------------
pub fn tanh_forward<F: Float>(x: &Tensor<F>) -> Tensor<F> {
    let xs = crate::contiguous(x);
    crate::from_vec(x.shape(), xs.iter().map(|&v| v.fast_tanh()).collect())
}
pub fn tanh_backward<F: Float>(y: &Tensor<F>, dy: &Tensor<F>) -> Tensor<F> {
    let mut dx = dy.clone();
    Zip::from(&mut dx).and(y).for_each(|g, &y| *g *= F::one() - y * y);
    dx
}

// ---- sigmoid: y = 1/(1 + e⁻ˣ) -----------------------------------------------------------------
/// σ(x) written so that the exponential never overflows: e⁻ˣ for x ≥ 0, eˣ for x < 0 (where
/// σ(x) = eˣ/(1 + eˣ)). The naive 1/(1 + e⁻ˣ) gives the right limit too, but through an infinity.
#[inline(always)]
pub fn sigmoid<F: Float>(x: F) -> F {
    // e^{−|x|} ≤ 1 either way; both quotients are formed and one selected, so loops vectorize.
    let e = (-x.abs()).fast_exp();
    let inv = F::one() / (F::one() + e);
    if x >= F::zero() {
        inv
    } else {
        e * inv
    }
}
pub fn sigmoid_forward<F: Float>(x: &Tensor<F>) -> Tensor<F> {
    let xs = crate::contiguous(x);
    crate::from_vec(x.shape(), xs.iter().map(|&v| sigmoid(v)).collect())
}
/// From the output alone: σ'(x) = y(1 − y).
pub fn sigmoid_backward<F: Float>(y: &Tensor<F>, dy: &Tensor<F>) -> Tensor<F> {
    let mut dx = dy.clone();
    Zip::from(&mut dx).and(y).for_each(|g, &y| *g *= y * (F::one() - y));
    dx
}

// ---- relu ---------------------------------------------------------------------------------
pub fn relu_forward<F: Float>(x: &Tensor<F>) -> Tensor<F> {
    x.mapv(|v| if v > F::zero() { v } else { F::zero() })
}
pub fn relu_backward<F: Float>(x: &Tensor<F>, dy: &Tensor<F>) -> Tensor<F> {
    let mut dx = dy.clone();
    Zip::from(&mut dx).and(x).for_each(|g, &x| {
        if x <= F::zero() {
            *g = F::zero()
        }
    });
    dx
}

// ---- gelu, tanh form (GPT-2): y = ½x(1 + tanh(√(2/π)(x + 0.044715x³))) --------------------
const GELU_C: f64 = 0.797_884_560_802_865_4; // √(2/π)
const GELU_A: f64 = 0.044715;

/// tanh(u) = 1 − 2/(e^{2u} + 1) with the vectorizable exponential. Its absolute error is ~1e-7,
/// which is all GELU needs: GELU uses 1 + tanh and 1 − tanh², never tanh's relative precision.
#[inline(always)]
fn tanh_for_gelu<F: Float>(u: F) -> F {
    F::one() - F::of(2.0) / ((u + u).fast_exp() + F::one())
}
#[inline(always)]
pub fn gelu<F: Float>(x: F) -> F {
    let (c, a, half) = (F::of(GELU_C), F::of(GELU_A), F::of(0.5));
    half * x * (F::one() + tanh_for_gelu(c * (x + a * x * x * x)))
}
#[inline(always)]
pub fn gelu_grad<F: Float>(x: F) -> F {
    let (c, a, half) = (F::of(GELU_C), F::of(GELU_A), F::of(0.5));
    let t = tanh_for_gelu(c * (x + a * x * x * x));
    // d/dx ½x(1+t) = ½(1+t) + ½x(1−t²)·c(1 + 3a x²)
    half * (F::one() + t) + half * x * (F::one() - t * t) * c * (F::one() + F::of(3.0) * a * x * x)
}
// Slice loops, not ndarray's generic iterators: these are hot and must vectorize.
pub fn gelu_forward<F: Float>(x: &Tensor<F>) -> Tensor<F> {
    let xs = crate::contiguous(x);
    crate::from_vec(x.shape(), xs.iter().map(|&v| gelu(v)).collect())
}
pub fn gelu_backward<F: Float>(x: &Tensor<F>, dy: &Tensor<F>) -> Tensor<F> {
    let (xs, gs) = (crate::contiguous(x), crate::contiguous(dy));
    crate::from_vec(x.shape(), xs.iter().zip(gs.iter()).map(|(&x, &g)| g * gelu_grad(x)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tensor(shape: &[usize], seed: f32) -> Tensor<f32> {
        let n = shape.iter().product();
        crate::from_vec(shape, (0..n).map(|i| (i as f32 * 0.731 + seed).sin() * 2.5 + 0.3).collect())
    }

    fn bits(t: &Tensor<f32>) -> (Vec<usize>, Vec<u32>) {
        (t.shape().to_vec(), t.iter().map(|v| v.to_bits()).collect())
    }

    /// The flat path against ndarray's broadcasting, bit for bit, on every shape pairing it takes
    /// (equal, trailing, a broadcast first operand, scalars, empty tensors) and on ones it must
    /// leave to ndarray (a size-1 axis, an operand not in standard layout).
    #[test]
    fn binary_ops_give_the_broadcasting_bits() {
        let flat_pairs: [(&[usize], &[usize]); 10] = [
            (&[3, 5, 4], &[3, 5, 4]),
            (&[3, 5, 4], &[5, 4]),
            (&[3, 5, 4], &[4]),
            (&[5, 4], &[3, 5, 4]),
            (&[3, 5, 4], &[]),
            (&[], &[3, 5, 4]),
            (&[], &[]),
            (&[0, 4], &[4]),
            (&[4], &[0, 4]),
            (&[3, 1, 4], &[1, 4]),
        ];
        let other_pairs: [(&[usize], &[usize]); 1] = [(&[3, 5, 4], &[3, 1, 4])];
        for (sa, sb) in flat_pairs.into_iter().chain(other_pairs) {
            let (a, b) = (tensor(sa, 0.2), tensor(sb, 1.7));
            let takes_flat = flat(&a, &b, |x, y| x + y).is_some() || flat(&b, &a, |x, y| x + y).is_some();
            assert_eq!(takes_flat, flat_pairs.contains(&(sa, sb)), "which path for {sa:?} {sb:?}");
            assert_eq!(bits(&add_forward(&a, &b)), bits(&(&a + &b)), "add {sa:?} {sb:?}");
            assert_eq!(bits(&mul_forward(&a, &b)), bits(&(&a * &b)), "mul {sa:?} {sb:?}");
            assert_eq!(bits(&sub_forward(&a, &b)), bits(&(&a - &b)), "sub {sa:?} {sb:?}");
            assert_eq!(bits(&div_forward(&a, &b)), bits(&(&a / &b)), "div {sa:?} {sb:?}");
        }
        let (a, b) = (tensor(&[4, 3], 0.5), tensor(&[3, 4], 0.9).reversed_axes());
        assert!(flat(&a, &b, |x, y| x + y).is_none(), "an operand not in standard layout goes to ndarray");
        assert_eq!(bits(&add_forward(&a, &b)), bits(&(&a + &b)));
        assert_eq!(bits(&div_forward(&a, &b)), bits(&(&a / &b)));
        assert!(add_forward(&a, &b).is_standard_layout());
    }
}
