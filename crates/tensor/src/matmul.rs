//! Matrix products on the `gemm` crate's kernels, parallel with rayon where it pays.
//!
//! `matmul_forward(a, ta, b, tb)` computes `op(a)·op(b)` where `op` transposes the last two axes when
//! its flag is set, by striding, never by copying. Operands are rank 2 (`[m, k]`) or rank 3
//! (`[batch, m, k]`); a rank-3 `a` times a rank-2 `b` is the shared-weight case (`[B, L, d]·[d, e]`).
//!
//! Parallelism: a product with fewer than [`PARALLEL_MIN_MACS`] multiply-adds runs on the calling
//! thread (a rayon hand-off costs more than a 16×16 product). Above it, the work is split into fixed
//! chunks of whole rows or columns of the output — or whole batch items — whose size depends on the
//! shape only. The inner dimension `k` is never split, so every output element is summed in the same
//! order whatever the number of threads: results are bit-identical on any thread count.

use crate::{Float, SendPtr, Tensor};
use rayon::prelude::*;

/// Below this many multiply-adds a product stays on one thread (see `benches/matmul.rs`).
pub const PARALLEL_MIN_MACS: usize = 1 << 20;
/// Target multiply-adds per parallel task.
const TASK_MACS: usize = 1 << 19;
/// At most this many tasks per product: each task packs its own copy of the shared operand, so
/// more tasks than this cost more in packing than they gain in balance (measured at n = 1024).
const MAX_TASKS: usize = 8;

/// A strided matrix view: element (i, j) is `data[offset + i*rs + j*cs]`.
#[derive(Clone, Copy, Debug)]
pub struct Mat<'a, F> {
    pub data: &'a [F],
    pub rows: usize,
    pub cols: usize,
    pub rs: usize,
    pub cs: usize,
    pub offset: usize,
}

impl<'a, F: Float> Mat<'a, F> {
    /// A row-major `rows × cols` matrix.
    pub fn new(data: &'a [F], rows: usize, cols: usize) -> Self {
        Mat { data, rows, cols, rs: cols, cs: 1, offset: 0 }
    }
    /// The transpose, as a view.
    pub fn t(self) -> Self {
        Mat { rows: self.cols, cols: self.rows, rs: self.cs, cs: self.rs, ..self }
    }
    /// Reads transposed when `flag` is set.
    pub fn t_if(self, flag: bool) -> Self {
        if flag {
            self.t()
        } else {
            self
        }
    }
    /// Panics unless every element of the view lies inside `data` (checked arithmetic: a view
    /// whose extent overflows is out of bounds too).
    pub(crate) fn check(&self) {
        if self.rows > 0 && self.cols > 0 {
            let last = (self.rows - 1)
                .checked_mul(self.rs)
                .and_then(|r| (self.cols - 1).checked_mul(self.cs).and_then(|c| r.checked_add(c)))
                .and_then(|x| x.checked_add(self.offset));
            assert!(last.is_some_and(|l| l < self.data.len()), "matrix view out of bounds");
        }
    }
    fn ptr(&self) -> *const F {
        self.data[self.offset..].as_ptr()
    }
}

/// `c = a·b (+ c when accumulate)`; `c` is row-major `a.rows × b.cols`. Parallel above the threshold.
// a is [m, k], b is [k, n], c is [m, n]
pub fn gemm<F: Float>(a: Mat<F>, b: Mat<F>, c: &mut [F], accumulate: bool) {
    assert_eq!(c.len(), a.rows * b.cols, "output has the wrong size");
    gemm_in_tasks(a, b, c, accumulate, tasks_for(a, b));
}

/// `a·b` in a new row-major buffer that is never zeroed: the product writes every element, and
/// zeroing first cost a memset of every output (8% of a seed-id4 step in `perf`, most of it in
/// products and cross-entropy).
pub fn gemm_new<F: Float>(a: Mat<F>, b: Mat<F>) -> Vec<F> {
    let len = a.rows * b.cols;
    if a.cols == 0 {
        return vec![F::zero(); len]; // an empty sum, which the kernel would not write
    }
    let mut c = Vec::with_capacity(len);
    // SAFETY: with accumulate = false the product reads nothing of c and writes all `len`
    // elements (gemm_raw with beta 0, k > 0), so every element is initialised before set_len.
    unsafe {
        gemm_raw_in_tasks(a, b, c.as_mut_ptr(), false, tasks_for(a, b));
        c.set_len(len);
    }
    c
}

/// How many fixed chunks a product is split into: by its size only (1 below the threshold or
/// inside [`crate::serially`]).
fn tasks_for<F>(a: Mat<F>, b: Mat<F>) -> usize {
    let macs = a.rows * b.cols * a.cols;
    if macs < PARALLEL_MIN_MACS || !crate::may_split() {
        1
    } else {
        (macs / TASK_MACS).clamp(2, MAX_TASKS)
    }
}

/// [`gemm`] split into about `tasks` fixed chunks of whole output rows (or columns, when the output
/// is wider than tall); `tasks == 1` runs on the calling thread. Public for the benchmarks that
/// measure where splitting starts to pay.
pub fn gemm_in_tasks<F: Float>(a: Mat<F>, b: Mat<F>, c: &mut [F], accumulate: bool, tasks: usize) {
    assert_eq!(c.len(), a.rows * b.cols, "output has the wrong size");
    // SAFETY: c is a.rows × b.cols row-major, and a &mut slice aliases neither a nor b.
    unsafe { gemm_raw_in_tasks(a, b, c.as_mut_ptr(), accumulate, tasks) }
}

/// [`gemm_in_tasks`] into a raw row-major output.
///
/// # Safety
/// `c` must address `a.rows × b.cols` writable elements that alias neither a nor b; when
/// `accumulate`, they must be initialised.
unsafe fn gemm_raw_in_tasks<F: Float>(a: Mat<F>, b: Mat<F>, c: *mut F, accumulate: bool, tasks: usize) {
    let (m, n) = (a.rows, b.cols);
    assert_eq!(a.cols, b.rows, "inner dimensions differ");
    a.check();
    b.check();
    let beta = if accumulate { F::one() } else { F::zero() };
    if tasks <= 1 || m * n == 0 {
        gemm_strided(a, b, beta, c, n, 1);
        return;
    }
    let out = SendPtr(c);
    if m >= n {
        // Fixed chunks of whole output rows (multiples of 16 keep the micro-kernel's tiles whole).
        let rows = round_up(m.div_ceil(tasks), 16);
        (0..m.div_ceil(rows)).into_par_iter().for_each(|i| {
            let r0 = i * rows;
            let r = rows.min(m - r0);
            let sub = Mat { rows: r, offset: a.offset + r0 * a.rs, ..a };
            // SAFETY: each task writes rows r0..r0+r of c only.
            unsafe { gemm_strided(sub, b, beta, out.get().add(r0 * n), n, 1) };
        });
    } else {
        let cols = round_up(n.div_ceil(tasks), 16);
        (0..n.div_ceil(cols)).into_par_iter().for_each(|j| {
            let c0 = j * cols;
            let w = cols.min(n - c0);
            let sub = Mat { cols: w, offset: b.offset + c0 * b.cs, ..b };
            // SAFETY: each task writes columns c0..c0+w of c only.
            unsafe { gemm_strided(a, sub, beta, out.get().add(c0), n, 1) };
        });
    }
}

fn round_up(x: usize, to: usize) -> usize {
    x.div_ceil(to) * to
}

/// Serial `C = a·b + beta·C` into a strided output.
///
/// # Safety
/// `c` with strides (`rsc`, `csc`) must address `a.rows × b.cols` valid elements not aliasing a or b.
pub(crate) unsafe fn gemm_strided<F: Float>(a: Mat<F>, b: Mat<F>, beta: F, c: *mut F, rsc: usize, csc: usize) {
    gemm_strided_scaled(F::one(), a, b, beta, c, rsc, csc)
}

/// Serial `C = alpha·a·b + beta·C` into a strided output.
///
/// # Safety
/// As [`gemm_strided`].
pub(crate) unsafe fn gemm_strided_scaled<F: Float>(
    alpha: F,
    a: Mat<F>,
    b: Mat<F>,
    beta: F,
    c: *mut F,
    rsc: usize,
    csc: usize,
) {
    F::gemm_raw(
        a.rows,
        a.cols,
        b.cols,
        alpha,
        a.ptr(),
        a.rs as isize,
        a.cs as isize,
        b.ptr(),
        b.rs as isize,
        b.cs as isize,
        beta,
        c,
        rsc as isize,
        csc as isize,
    )
}

/// Batched product: for each of `batch` items, `c[i] = op(a[i])·op(b[i])` (+ `c[i]` when accumulate).
/// `a_stride`/`b_stride` are the distances between items (0 broadcasts one matrix to every item);
/// `a`/`b` describe item 0. `c` is `[batch, m, n]` row-major.
pub fn bmm<F: Float>(
    batch: usize,
    a: Mat<F>,
    a_stride: usize,
    b: Mat<F>,
    b_stride: usize,
    c: &mut [F],
    accumulate: bool,
) {
    let (m, n) = (a.rows, b.cols);
    assert_eq!(c.len(), batch * m * n, "output has the wrong size");
    if batch == 0 {
        return;
    }
    let item = |i: usize, ci: &mut [F]| {
        let ai = Mat { offset: a.offset + i * a_stride, ..a };
        let bi = Mat { offset: b.offset + i * b_stride, ..b };
        gemm(ai, bi, ci, accumulate);
    };
    let per_item = m * n * a.cols;
    if per_item * batch < PARALLEL_MIN_MACS || per_item >= PARALLEL_MIN_MACS || !crate::may_split() {
        // Small in total, each item large enough to be split on its own, or no splitting here.
        c.chunks_mut(m * n).enumerate().for_each(|(i, ci)| item(i, ci));
    } else {
        let items = (TASK_MACS / per_item.max(1)).max(1);
        c.par_chunks_mut(items * m * n).enumerate().for_each(|(t, chunk)| {
            for (j, ci) in chunk.chunks_mut(m * n).enumerate() {
                item(t * items + j, ci);
            }
        });
    }
}

/// Shape of `op(x)` for an operand of rank 2 or 3: (batch, rows, cols).
fn dims<F>(x: &Tensor<F>, t: bool) -> (usize, usize, usize) {
    let s = x.shape();
    let (batch, r, c) = match s.len() {
        2 => (1, s[0], s[1]),
        3 => (s[0], s[1], s[2]),
        _ => panic!("matmul takes rank 2 or 3, got shape {s:?}"),
    };
    if t {
        (batch, c, r)
    } else {
        (batch, r, c)
    }
}

/// `op(a)·op(b)`. a is [m, k] or [B, m, k] (before op), b is [k, n] or [B, k, n]; out is [m, n] or [B, m, n].
pub fn matmul_forward<F: Float>(a: &Tensor<F>, ta: bool, b: &Tensor<F>, tb: bool) -> Tensor<F> {
    let mut out = crate::zeros(&matmul_shape(a, ta, b, tb));
    matmul_into(a, ta, b, tb, crate::buf_mut(&mut out), false);
    out
}

/// The output shape of `op(a)·op(b)`; panics on mismatched shapes (the autograd layer checks first).
pub fn matmul_shape<F>(a: &Tensor<F>, ta: bool, b: &Tensor<F>, tb: bool) -> Vec<usize> {
    let (ba, m, k) = dims(a, ta);
    let (bb, k2, n) = dims(b, tb);
    assert_eq!(k, k2, "matmul inner dimensions differ: {:?} vs {:?}", a.shape(), b.shape());
    match (a.ndim(), b.ndim()) {
        (2, 2) => vec![m, n],
        (3, 2) => {
            assert!(!ta, "a shared-weight product reads its rank-3 operand untransposed");
            vec![ba, m, n]
        }
        (3, 3) => {
            assert_eq!(ba, bb, "batch sizes differ");
            vec![ba, m, n]
        }
        (2, 3) => panic!("a rank-2 operand times a rank-3 one is not supported"),
        _ => unreachable!("dims() checked the ranks"),
    }
}

/// `out (+)= op(a)·op(b)`, out row-major in the shape of [`matmul_shape`].
pub fn matmul_into<F: Float>(a: &Tensor<F>, ta: bool, b: &Tensor<F>, tb: bool, out: &mut [F], accumulate: bool) {
    let ad = crate::contiguous(a);
    let bd = crate::contiguous(b);
    let (ba, ar, ac) = dims(a, false);
    let (bb, br, bc) = dims(b, false);
    let am = Mat::new(&ad, ar, ac).t_if(ta);
    let bm = Mat::new(&bd, br, bc).t_if(tb);
    if a.ndim() == 3 && b.ndim() == 2 && !ta {
        // Shared weight: one [B·m, k]·[k, n] product.
        gemm(Mat::new(&ad, ba * ar, ac), bm, out, accumulate);
        return;
    }
    let batch = ba.max(bb);
    let sa = if a.ndim() == 3 { ar * ac } else { 0 };
    let sb = if b.ndim() == 3 { br * bc } else { 0 };
    bmm(batch, am, sa, bm, sb, out, accumulate);
}

/// Gradients of `c = op(a)·op(b)`: returns (da, db) in the stored shapes of a and b.
pub fn matmul_backward<F: Float>(
    a: &Tensor<F>,
    ta: bool,
    b: &Tensor<F>,
    tb: bool,
    dc: &Tensor<F>,
) -> (Tensor<F>, Tensor<F>) {
    if a.ndim() == 3 && b.ndim() == 2 {
        // Shared weight: the same as one [B·m, k]·[k, n] product, whose weight gradient is then a
        // single product over all B·m rows instead of B products summed.
        let (bsz, m, k) = (a.shape()[0], a.shape()[1], a.shape()[2]);
        let a2 = a.view().into_shape_with_order((bsz * m, k)).expect("contiguous").into_dyn().to_owned();
        let n = dc.shape()[2];
        let dc2 = dc.view().into_shape_with_order((bsz * m, n)).expect("contiguous").into_dyn().to_owned();
        let (da, db) = matmul_backward(&a2, ta, b, tb, &dc2);
        return (da.into_shape_with_order(a.shape()).expect("same size"), db);
    }
    // With C = op(A)·op(B):  d op(A) = dC·op(B)ᵀ  and  d op(B) = op(A)ᵀ·dC.
    let da = if ta { matmul_forward(b, tb, dc, true) } else { matmul_forward(dc, false, b, !tb) };
    let db = if tb { matmul_forward(dc, true, a, ta) } else { matmul_forward(a, !ta, dc, false) };
    (da, db)
}

/// The obviously correct reference: triple loop, f64 accumulation. out = op(a)·op(b).
pub fn matmul_reference<F: Float>(a: &Tensor<F>, ta: bool, b: &Tensor<F>, tb: bool) -> Tensor<F> {
    let shape = matmul_shape(a, ta, b, tb);
    let (_, m, k) = dims(a, ta);
    let (_, _, n) = dims(b, tb);
    let get = |x: &Tensor<F>, t: bool, bi: usize, i: usize, j: usize| -> f64 {
        let (i, j) = if t { (j, i) } else { (i, j) };
        if x.ndim() == 3 {
            x[[bi, i, j]].f64()
        } else {
            x[[i, j]].f64()
        }
    };
    let batch = if shape.len() == 3 { shape[0] } else { 1 };
    let mut out = Vec::with_capacity(batch * m * n);
    for bi in 0..batch {
        for i in 0..m {
            for j in 0..n {
                let (ai, bj) = if a.ndim() == 3 && b.ndim() == 2 { (bi, 0) } else { (bi, bi) };
                let s: f64 = (0..k).map(|p| get(a, ta, ai, i, p) * get(b, tb, bj, p, j)).sum();
                out.push(F::of(s));
            }
        }
    }
    crate::from_vec(&shape, out)
}
