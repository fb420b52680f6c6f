//! Products of matrices small enough to sit in L1 — attention's per-head `[L, L]·[L, d/h]` and
//! `[L, d/h]·[d/h, L]` at the experiments' sizes — without the general kernel's packing and dispatch.
//!
//! B is copied once into a zero-padded row-major buffer. Each step of the inner loop then updates an
//! 8-row × 16-column block of C held in registers: one load of B's row, eight broadcasts of A, eight
//! independent multiply-add chains (so the adds' latency hides behind one another). Every element of
//! C is a single chain over the inner index in increasing order, whatever the blocking: the bits
//! depend on the shape only.
//!
//! A causal product skips what the mask makes zero ([`Band`]): the upper triangle of the scores, and
//! the inner indices where a row or column of P (or of dS) is zero. A block of 8 rows is skipped as a
//! whole only past its last row, so some inner indices it visits hold exact zeros: they add nothing.

use crate::matmul::Mat;
use crate::Float;
use std::ops::Range;

/// Rows of C per register block.
const R: usize = 8;
/// Columns of C per register block: one 512-bit vector of f32.
const W: usize = 16;

/// The part of C a causal product needs; row i of C is position i.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Band {
    /// All of C, every inner index.
    Full,
    /// Columns 0..=i of row i (the scores: position i sees positions up to i). Others are not written.
    ColsUpTo,
    /// Inner indices 0..=i (P·V and dS·K: row i of P or dS is zero past i).
    InnerUpTo,
    /// Inner indices i.. (Pᵀ·dO and dSᵀ·Q: column i of P or dS is zero above i).
    InnerFrom,
}

impl Band {
    /// The band of a product in a causal attention, or all of it when not causal.
    pub fn causal_or_full(causal: bool, band: Band) -> Band {
        if causal {
            band
        } else {
            Band::Full
        }
    }
    #[inline(always)]
    fn inner(self, rows: Range<usize>, k: usize) -> Range<usize> {
        match self {
            Band::InnerUpTo => 0..rows.end.min(k),
            Band::InnerFrom => rows.start.min(k)..k,
            Band::Full | Band::ColsUpTo => 0..k,
        }
    }
    /// Columns of row i that are written.
    #[inline(always)]
    fn cols(self, i: usize, n: usize) -> usize {
        match self {
            Band::ColsUpTo => (i + 1).min(n),
            _ => n,
        }
    }
}

/// A reusable buffer for the padded copy of B (one per task, so a task's pairs allocate once).
#[derive(Default)]
pub struct Tiny<F> {
    b: Vec<F>,
}

impl<F: Float> Tiny<F> {
    pub fn new() -> Self {
        Tiny { b: Vec::new() }
    }

    /// `C = alpha·A·B` on `band`: C is `a.rows × b.cols` with row stride `rsc` and unit column stride.
    ///
    /// With a band other than `Full`, A must be exactly zero outside it (as P and dS are in a
    /// causal attention): a block of rows visits some of those entries.
    ///
    /// # Safety
    /// `c` with row stride `rsc` must address `a.rows × b.cols` valid elements not aliasing a or b.
    pub unsafe fn product(&mut self, alpha: F, a: Mat<F>, b: Mat<F>, c: *mut F, rsc: usize, band: Band) {
        assert_eq!(a.cols, b.rows, "tiny product: inner dimensions differ");
        a.check();
        let (m, k, n) = (a.rows, a.cols, b.cols);
        let nw = n.div_ceil(W) * W;
        self.pad(b, nw);
        let mut i0 = 0;
        while i0 < m {
            let rows = if m - i0 >= R { R } else { 1 };
            let inner = band.inner(i0..i0 + rows, k);
            let last_col = band.cols(i0 + rows - 1, n);
            for j0 in (0..last_col).step_by(W) {
                // SAFETY: the view of a was checked; rows and inner indices lie inside it, and
                // j0 + W ≤ nw, the padded row length.
                let acc = if rows == R {
                    block::<F, R>(&a, i0, &self.b, nw, j0, inner.clone())
                } else {
                    let [row] = block::<F, 1>(&a, i0, &self.b, nw, j0, inner.clone());
                    let mut acc = [[F::zero(); W]; R];
                    acc[0] = row;
                    acc
                };
                for (r, vals) in acc.iter().enumerate().take(rows) {
                    let end = band.cols(i0 + r, n).min(j0 + W);
                    if end > j0 {
                        let out = std::slice::from_raw_parts_mut(c.add((i0 + r) * rsc + j0), end - j0);
                        out.iter_mut().zip(vals).for_each(|(o, &v)| *o = alpha * v);
                    }
                }
            }
            i0 += rows;
        }
    }

    /// B as a dense `k × nw` row-major buffer, columns n..nw zero. Reads B along its contiguous
    /// axis: rows of B when they are contiguous, else rows of Bᵀ (B = Kᵀ or Vᵀ, a head's rows).
    fn pad(&mut self, b: Mat<F>, nw: usize) {
        b.check();
        self.b.clear();
        self.b.resize(b.rows * nw, F::zero());
        let src = &b.data[b.offset..];
        if b.cs == 1 {
            for (p, row) in self.b.chunks_exact_mut(nw).enumerate() {
                row[..b.cols].copy_from_slice(&src[p * b.rs..p * b.rs + b.cols]);
            }
        } else {
            for j in 0..b.cols {
                let col = &src[j * b.cs..];
                for (p, &x) in col.iter().step_by(b.rs).take(b.rows).enumerate() {
                    self.b[p * nw + j] = x;
                }
            }
        }
    }
}

/// Rows i0..i0+ROWS, columns j0..j0+W of A·B over `inner`, in registers.
///
/// # Safety
/// `a` must have been checked and cover rows i0..i0+ROWS and every index of `inner`; `b` must hold
/// `inner.end` padded rows of `nw ≥ j0 + W` columns.
#[inline(always)]
unsafe fn block<F: Float, const ROWS: usize>(
    a: &Mat<F>,
    i0: usize,
    b: &[F],
    nw: usize,
    j0: usize,
    inner: Range<usize>,
) -> [[F; W]; ROWS] {
    let mut acc = [[F::zero(); W]; ROWS];
    let base = a.offset + i0 * a.rs;
    for p in inner {
        let bp = b.get_unchecked(p * nw + j0..p * nw + j0 + W);
        let ap = base + p * a.cs;
        for (r, acc) in acc.iter_mut().enumerate() {
            let x = *a.data.get_unchecked(ap + r * a.rs);
            for l in 0..W {
                acc[l] = fma(x, bp[l], acc[l]);
            }
        }
    }
    acc
}

/// a·b + c in one rounding where the CPU has the instruction, else a multiply and an add: without
/// it `mul_add` is a library call that stops the loop from vectorizing (as `float.rs`'s `fma`).
#[inline(always)]
fn fma<F: Float>(a: F, b: F, c: F) -> F {
    if cfg!(target_feature = "fma") {
        a.mul_add(b, c)
    } else {
        a * b + c
    }
}
