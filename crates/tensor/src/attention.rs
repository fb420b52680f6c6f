//! Multi-head scaled dot-product attention, fused: scores, mask, softmax and weighted sum in one
//! kernel, reading each head's features straight out of `[B, L, d]` by striding (no split-heads copy).
//!
//! Head j of q, k and v is features `j·d/h .. (j+1)·d/h` (SPEC §1). Work is parallel over
//! (batch item, head) pairs in fixed groups; each pair writes only its own rows/columns.

use crate::matmul::{gemm_strided_scaled, Mat};
use crate::softmax::softmax_row;
use crate::tiny::{Band, Tiny};
use crate::{Float, SendPtr, Tensor};
use rayon::prelude::*;

/// Multiply-adds per parallel task, as in the matmul kernels.
const TASK_MACS: usize = 1 << 16;

/// The attention shape: batch, positions, features, heads.
#[derive(Clone, Copy, Debug)]
struct Dims {
    b: usize,
    l: usize,
    d: usize,
    h: usize,
    dh: usize,
}

fn dims<F>(q: &Tensor<F>, heads: usize) -> Dims {
    assert_eq!(q.ndim(), 3, "attention takes [B, L, d]");
    let (b, l, d) = (q.shape()[0], q.shape()[1], q.shape()[2]);
    assert!(heads > 0 && d % heads == 0, "d_model must divide into heads");
    Dims { b, l, d, h: heads, dh: d / heads }
}

impl Dims {
    /// Head `j` of batch item `bi` of a [B, L, d] buffer, as an L × d/h strided view.
    fn head<'a, F: Float>(&self, data: &'a [F], bi: usize, j: usize) -> Mat<'a, F> {
        Mat { data, rows: self.l, cols: self.dh, rs: self.d, cs: 1, offset: bi * self.l * self.d + j * self.dh }
    }
    fn head_offset(&self, bi: usize, j: usize) -> usize {
        bi * self.l * self.d + j * self.dh
    }
    /// Whether the whole product is worth spreading over threads (the matmul threshold).
    fn parallel(&self) -> bool {
        2 * self.b * self.h * self.l * self.l * self.dh >= crate::matmul::PARALLEL_MIN_MACS && crate::may_split()
    }
    /// Pairs (item, head) per task: depends on the shape only.
    fn pairs_per_task(&self) -> usize {
        (TASK_MACS / (2 * self.l * self.l * self.dh).max(1)).max(1)
    }
}

/// Sets the scores a position may not see (later positions) to −∞. s is [L, L] row-major.
fn mask_future<F: Float>(s: &mut [F], l: usize) {
    for t in 0..l {
        s[t * l + t + 1..(t + 1) * l].iter_mut().for_each(|v| *v = F::neg_infinity());
    }
}

/// The per-head products' kernel: [`Tiny`] for heads small enough to sit in L1, else the general
/// gemm. Chosen by the shape alone, so the bits never depend on anything else.
enum Products<F> {
    Tiny(Tiny<F>),
    Gemm,
}

/// Whether attention of `l` positions and `dh` features a head uses the tiny products. Measured on
/// one thread (`cargo bench -p tensor --bench attention`, BENCHMARKS.md) at d/h = 4, 6, 8, 16 and
/// 32: they win at d/h = 4, 6 and 32 and at L ≥ 64 with d/h = 16 (5–31%); with d/h = 8 half of each
/// 16-lane register block is padding, and the gemm crate's kernel is 4–20% faster, as it is at
/// d/h = 16, L = 32. Shapes not measured (d/h = 2, 12, 24…) follow the nearest measured rule.
pub fn uses_tiny(l: usize, dh: usize) -> bool {
    let gemm_fits = dh == 8 || (dh == 16 && l <= 32);
    dh > 0 && l <= 128 && dh <= 32 && !gemm_fits
}

impl<F: Float> Products<F> {
    fn for_shape(dm: &Dims) -> Self {
        if uses_tiny(dm.l, dm.dh) {
            Products::Tiny(Tiny::new())
        } else {
            Products::Gemm
        }
    }
    /// `C = alpha·a·b` on `band` (the gemm computes all of C; outside the band the operands' zeros
    /// make it zero or the caller ignores it).
    ///
    /// # Safety
    /// As [`Tiny::product`].
    unsafe fn product(&mut self, alpha: F, a: Mat<F>, b: Mat<F>, c: *mut F, rsc: usize, band: Band) {
        match self {
            Products::Tiny(t) => t.product(alpha, a, b, c, rsc, band),
            Products::Gemm => gemm_strided_scaled(alpha, a, b, F::zero(), c, rsc, 1),
        }
    }
}

// q, k, v are [B, L, d]; out is [B, L, d]; probs (saved for backward) is [B, h, L, L]
pub fn attention_forward<F: Float>(
    q: &Tensor<F>,
    k: &Tensor<F>,
    v: &Tensor<F>,
    heads: usize,
    causal: bool,
) -> (Tensor<F>, Tensor<F>) {
    let dm = dims(q, heads);
    assert!(k.shape() == q.shape() && v.shape() == q.shape(), "attention: q, k, v shapes differ");
    let Dims { b, l, d, h, dh } = dm;
    let (qs, ks, vs) = (crate::contiguous(q), crate::contiguous(k), crate::contiguous(v));
    let scale = F::one() / F::of(dh as f64).sqrt();
    let band = |band| Band::causal_or_full(causal, band);
    let mut probs = crate::zeros::<F>(&[b, h, l, l]);
    let mut out = crate::zeros::<F>(&[b, l, d]);
    let out_ptr = SendPtr(crate::buf_mut(&mut out).as_mut_ptr());
    let per = dm.pairs_per_task();
    let task = |(task, chunk): (usize, &mut [F])| {
        let mut products = Products::for_shape(&dm);
        for (i, p) in chunk.chunks_mut(l * l).enumerate() {
            let pair = task * per + i;
            let (bi, j) = (pair / h, pair % h);
            let (qh, kh, vh) = (dm.head(&qs, bi, j), dm.head(&ks, bi, j), dm.head(&vs, bi, j));
            // SAFETY: p is this pair's own [L, L] block; the output view is this pair's head
            // columns of its batch item, written by no other pair.
            unsafe {
                products.product(scale, qh, kh.t(), p.as_mut_ptr(), l, band(Band::ColsUpTo)); // S = Q·Kᵀ·scale
                if causal {
                    // Row t sees positions 0..=t: its softmax over those alone, the rest exactly 0
                    // (what a softmax over −∞ gives), without computing their exponentials.
                    for (t, row) in p.chunks_mut(l).enumerate() {
                        let (seen, unseen) = row.split_at_mut(t + 1);
                        softmax_row(seen);
                        unseen.fill(F::zero());
                    }
                } else {
                    p.chunks_mut(l).for_each(softmax_row);
                }
                let pm = Mat::new(&*p, l, l);
                let o = out_ptr.get().add(dm.head_offset(bi, j));
                products.product(F::one(), pm, vh, o, d, band(Band::InnerUpTo));
                // O = P·V
            }
        }
    };
    let buf = crate::buf_mut(&mut probs);
    if dm.parallel() {
        buf.par_chunks_mut(per * l * l).enumerate().for_each(task);
    } else {
        buf.chunks_mut(per * l * l).enumerate().for_each(task);
    }
    (out, probs)
}

/// Returns (dq, dk, dv), each [B, L, d]. With P the saved probabilities and dO the output gradient:
/// dV = Pᵀ·dO, dP = dO·Vᵀ, dS = P ⊙ (dP − rowsum(dP ⊙ P)) · scale, dQ = dS·K, dK = dSᵀ·Q.
/// Masked entries have P = 0, so they pass no gradient; `causal` (as in the forward) lets the
/// products skip them.
pub fn attention_backward<F: Float>(
    q: &Tensor<F>,
    k: &Tensor<F>,
    v: &Tensor<F>,
    probs: &Tensor<F>,
    heads: usize,
    causal: bool,
    dout: &Tensor<F>,
) -> (Tensor<F>, Tensor<F>, Tensor<F>) {
    let dm = dims(q, heads);
    assert!(k.shape() == q.shape() && v.shape() == q.shape() && dout.shape() == q.shape(), "attention: shapes differ");
    assert_eq!(probs.shape(), &[dm.b, dm.h, dm.l, dm.l], "attention: saved probabilities have the wrong shape");
    let Dims { b, l, d, h, .. } = dm;
    let (qs, ks, vs, ps, dos) = (
        crate::contiguous(q),
        crate::contiguous(k),
        crate::contiguous(v),
        crate::contiguous(probs),
        crate::contiguous(dout),
    );
    let scale = F::one() / F::of(dm.dh as f64).sqrt();
    let band = |band| Band::causal_or_full(causal, band);
    let mut grads = [(); 3].map(|_| crate::zeros::<F>(&[b, l, d])); // dq, dk, dv
    let [dqp, dkp, dvp] = grads.each_mut().map(|g| SendPtr(crate::buf_mut(g).as_mut_ptr()));
    let per = dm.pairs_per_task();
    let tasks = (b * h).div_ceil(per);
    let run = |task: usize| {
        let mut ds = vec![F::zero(); l * l];
        let mut products = Products::for_shape(&dm);
        for pair in task * per..((task + 1) * per).min(b * h) {
            let (bi, j) = (pair / h, pair % h);
            let (qh, kh, vh, doh) =
                (dm.head(&qs, bi, j), dm.head(&ks, bi, j), dm.head(&vs, bi, j), dm.head(&dos, bi, j));
            let p = &ps[pair * l * l..(pair + 1) * l * l];
            let pm = Mat::new(p, l, l);
            let off = dm.head_offset(bi, j);
            // SAFETY: each pair writes only its own head columns of its own batch item.
            unsafe {
                products.product(F::one(), pm.t(), doh, dvp.get().add(off), d, band(Band::InnerFrom)); // dV = Pᵀ·dO
                products.product(F::one(), doh, vh.t(), ds.as_mut_ptr(), l, band(Band::ColsUpTo));
                // dP = dO·Vᵀ
            }
            softmax_grad_rows(&mut ds, p, l, causal, scale);
            let dsm = Mat::new(&ds, l, l);
            unsafe {
                products.product(F::one(), dsm, kh, dqp.get().add(off), d, band(Band::InnerUpTo)); // dQ = dS·K
                products.product(F::one(), dsm.t(), qh, dkp.get().add(off), d, band(Band::InnerFrom));
                // dK = dSᵀ·Q
            }
        }
    };
    if dm.parallel() {
        (0..tasks).into_par_iter().for_each(run);
    } else {
        (0..tasks).for_each(run);
    }
    let [dq, dk, dv] = grads;
    (dq, dk, dv)
}

/// dP → dS in place, row by row: dS = P ⊙ (dP − Σ dP ⊙ P) · scale. A causal row t reads only
/// positions 0..=t (the products left the rest of dP unwritten) and is exactly 0 past them.
fn softmax_grad_rows<F: Float>(ds: &mut [F], p: &[F], l: usize, causal: bool, scale: F) {
    for (t, (dsr, pr)) in ds.chunks_mut(l).zip(p.chunks(l)).enumerate() {
        let seen = if causal { t + 1 } else { l };
        let (dsr, unseen) = dsr.split_at_mut(seen);
        let pr = &pr[..seen];
        let dot = crate::lanes::dot(dsr, pr);
        dsr.iter_mut().zip(pr).for_each(|(g, &p)| *g = p * (*g - dot) * scale);
        unseen.fill(F::zero());
    }
}

/// Reference: the definition with explicit loops and f64 sums. Returns the attention output.
pub fn attention_reference<F: Float>(
    q: &Tensor<F>,
    k: &Tensor<F>,
    v: &Tensor<F>,
    heads: usize,
    causal: bool,
) -> Tensor<F> {
    let Dims { b, l, d, h, dh } = dims(q, heads);
    let scale = 1.0 / (dh as f64).sqrt();
    let mut out = crate::zeros::<F>(&[b, l, d]);
    for bi in 0..b {
        for j in 0..h {
            for t in 0..l {
                let seen = if causal { t + 1 } else { l };
                let scores: Vec<f64> = (0..seen)
                    .map(|u| {
                        (0..dh).map(|c| q[[bi, t, j * dh + c]].f64() * k[[bi, u, j * dh + c]].f64()).sum::<f64>()
                            * scale
                    })
                    .collect();
                let max = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let e: Vec<f64> = scores.iter().map(|s| (s - max).exp()).collect();
                let z: f64 = e.iter().sum();
                for c in 0..dh {
                    let o: f64 = (0..seen).map(|u| e[u] / z * v[[bi, u, j * dh + c]].f64()).sum();
                    out[[bi, t, j * dh + c]] = F::of(o);
                }
            }
        }
    }
    out
}

// ---- causal mask as a stand-alone op (for composing attention from primitives) -----------------
// x is [..., L, L]; y[..., t, u] = −∞ for u > t, else x
pub fn causal_mask_forward<F: Float>(x: &Tensor<F>) -> Tensor<F> {
    let l = *x.shape().last().expect("rank >= 2");
    let mut y = x.as_standard_layout().into_owned();
    crate::buf_mut(&mut y).chunks_mut(l * l).for_each(|s| mask_future(s, l));
    y
}
/// The masked entries were constants: their gradient is dropped.
pub fn causal_mask_backward<F: Float>(dy: &Tensor<F>) -> Tensor<F> {
    let l = *dy.shape().last().expect("rank >= 2");
    let mut dx = dy.as_standard_layout().into_owned();
    for s in crate::buf_mut(&mut dx).chunks_mut(l * l) {
        for t in 0..l {
            s[t * l + t + 1..(t + 1) * l].iter_mut().for_each(|g| *g = F::zero());
        }
    }
    dx
}
