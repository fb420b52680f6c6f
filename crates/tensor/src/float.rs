//! The element types: `f32` for training, `f64` for gradient checks.

use std::fmt::{Debug, Display};
use std::iter::Sum;
use std::ops::{AddAssign, DivAssign, MulAssign, SubAssign};

/// A floating-point element type with a general matrix multiply.
pub trait Float:
    num_traits::Float
    + num_traits::FromPrimitive
    + ndarray::LinalgScalar
    + ndarray::ScalarOperand
    + Sum
    + AddAssign
    + SubAssign
    + MulAssign
    + DivAssign
    + Default
    + Debug
    + Display
    + Send
    + Sync
    + 'static
{
    /// Short name for messages and file headers: "f32" or "f64".
    const NAME: &'static str;

    /// `C = alpha·A·B + beta·C` on strided matrices (A is m×k, B is k×n, C is m×n).
    ///
    /// # Safety
    /// The pointers and strides must describe valid, in-bounds matrices; `c` must not alias `a`/`b`.
    #[allow(clippy::too_many_arguments)]
    unsafe fn gemm_raw(
        m: usize,
        k: usize,
        n: usize,
        alpha: Self,
        a: *const Self,
        rsa: isize,
        csa: isize,
        b: *const Self,
        rsb: isize,
        csb: isize,
        beta: Self,
        c: *mut Self,
        rsc: isize,
        csc: isize,
    );

    /// Converts a constant. Implemented as a plain cast per type, inlined, so that constants in
    /// kernels fold at compile time (a library call here would stop loops from vectorizing).
    fn of(x: f64) -> Self;

    /// eˣ for the hot kernels (softmax, cross-entropy, GELU): exact (`exp`) in f64, a branch-free
    /// polynomial in f32 that the compiler vectorizes (see [`exp_f32`]). −∞ gives exactly 0.
    fn fast_exp(self) -> Self;

    /// tanh for the hot kernels (the rnn head's gates): exact (`tanh`) in f64, a branch-free form
    /// in f32 that the compiler vectorizes (see [`tanh_f32`]).
    fn fast_tanh(self) -> Self;

    /// Widens to f64 (for sums that must not lose precision, and for reporting).
    fn f64(self) -> f64;
}

impl Float for f32 {
    const NAME: &'static str = "f32";
    #[inline(always)]
    fn of(x: f64) -> f32 {
        x as f32
    }
    #[inline(always)]
    fn f64(self) -> f64 {
        self as f64
    }
    #[inline(always)]
    fn fast_exp(self) -> f32 {
        exp_f32(self)
    }
    #[inline(always)]
    fn fast_tanh(self) -> f32 {
        tanh_f32(self)
    }
    unsafe fn gemm_raw(
        m: usize,
        k: usize,
        n: usize,
        alpha: f32,
        a: *const f32,
        rsa: isize,
        csa: isize,
        b: *const f32,
        rsb: isize,
        csb: isize,
        beta: f32,
        c: *mut f32,
        rsc: isize,
        csc: isize,
    ) {
        gemm_crate(m, k, n, alpha, a, rsa, csa, b, rsb, csb, beta, c, rsc, csc)
    }
}

impl Float for f64 {
    const NAME: &'static str = "f64";
    #[inline(always)]
    fn of(x: f64) -> f64 {
        x
    }
    #[inline(always)]
    fn f64(self) -> f64 {
        self
    }
    #[inline(always)]
    fn fast_exp(self) -> f64 {
        self.exp()
    }
    #[inline(always)]
    fn fast_tanh(self) -> f64 {
        self.tanh()
    }
    unsafe fn gemm_raw(
        m: usize,
        k: usize,
        n: usize,
        alpha: f64,
        a: *const f64,
        rsa: isize,
        csa: isize,
        b: *const f64,
        rsb: isize,
        csb: isize,
        beta: f64,
        c: *mut f64,
        rsc: isize,
        csc: isize,
    ) {
        gemm_crate(m, k, n, alpha, a, rsa, csa, b, rsb, csb, beta, c, rsc, csc)
    }
}

/// `C = alpha·A·B + beta·C` through the `gemm` crate, on the calling thread (overfit splits work
/// across threads itself, in fixed chunks). `gemm` writes `dst = α·dst + β·lhs·rhs`: the roles of
/// the two scalars are swapped, and with beta = 0 the old C is not read at all (it may be garbage).
///
/// # Safety
/// As [`Float::gemm_raw`].
#[allow(clippy::too_many_arguments)]
#[inline]
unsafe fn gemm_crate<T: 'static + Copy + PartialEq + num_traits::Zero>(
    m: usize,
    k: usize,
    n: usize,
    alpha: T,
    a: *const T,
    rsa: isize,
    csa: isize,
    b: *const T,
    rsb: isize,
    csb: isize,
    beta: T,
    c: *mut T,
    rsc: isize,
    csc: isize,
) {
    let read_dst = beta != T::zero();
    gemm::gemm(
        m,
        n,
        k,
        c,
        csc,
        rsc,
        read_dst,
        a,
        csa,
        rsa,
        b,
        csb,
        rsb,
        beta,
        alpha,
        false,
        false,
        false,
        gemm::Parallelism::None,
    )
}

/// a·b + c in one rounding where the CPU fuses it (one instruction, and half the latency of a
/// multiply then an add); else the two operations, since `mul_add` without the instruction is a
/// slow library call. So the exponential's last bit depends on the build's target (see
/// `.cargo/config.toml`), never on the run.
#[inline(always)]
fn fma(a: f32, b: f32, c: f32) -> f32 {
    if cfg!(target_feature = "fma") {
        a.mul_add(b, c)
    } else {
        a * b + c
    }
}

/// eˣ in f32 without a library call, so that loops around it vectorize: x = k·ln2 + r with
/// |r| ≤ ln2/2, eʳ by Cephes' degree-6 polynomial for expf, 2ᵏ by building the exponent bits.
/// Relative error below 2e-7 over the whole range (tested against f64 `exp`); below the smallest
/// normal result it returns exactly 0 (so masked scores of −∞ weigh nothing), above ln(f32::MAX) ∞.
#[inline(always)]
pub fn exp_f32(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    const LO: f32 = -87.33654; // ln(f32::MIN_POSITIVE)
    const HI: f32 = 88.72283; // ln(f32::MAX)
    let xc = x.clamp(LO, HI);
    // Round to nearest with the 1.5·2²³ trick: k lands in the low mantissa bits of kb, so the
    // integer k is read off kb's bits (an `as i32` cast would saturate, scalar, and stop the loop
    // from vectorizing).
    const MAGIC: f32 = 12_582_912.0;
    let kb = fma(xc, LOG2E, MAGIC);
    let k = kb - MAGIC;
    let r = fma(k, -LN2_LO, fma(k, -LN2_HI, xc));
    let mut p = 1.987_569_1e-4f32;
    p = fma(p, r, 1.398_199_9e-3);
    p = fma(p, r, 8.333_452e-3);
    p = fma(p, r, 4.166_579_6e-2);
    p = fma(p, r, 1.666_666_5e-1);
    p = fma(p, r, 5e-1);
    let er = fma(p * r, r, r + 1.0);
    // 2^k for k in [-126, 128]: split in two factors so k = 128 (x near HI) does not overflow the bits.
    let ki = (kb.to_bits() as i32).wrapping_sub(MAGIC.to_bits() as i32);
    let half = ki >> 1;
    let s1 = f32::from_bits(((half + 127) as u32) << 23);
    let s2 = f32::from_bits(((ki - half + 127) as u32) << 23);
    let y = er * s1 * s2;
    if x < LO {
        0.0
    } else if x > HI {
        f32::INFINITY
    } else {
        y
    }
}

/// tanh in f32 without a library call, so that loops around it vectorize. Both of Cephes' tanhf
/// forms are computed and one selected: below |x| = 0.625 an odd polynomial (no cancellation near
/// 0, so the relative error stays near f32's), above it 1 − 2/(e^{2|x|} + 1) with [`exp_f32`],
/// whose e^{2|x|} saturates to ∞ for large |x| and gives exactly ±1. Tested against f64 `tanh`.
#[inline(always)]
pub fn tanh_f32(x: f32) -> f32 {
    let a = x.abs();
    let s = x * x;
    let mut p = -5.704_988_7e-3f32;
    p = fma(p, s, 2.063_909e-2);
    p = fma(p, s, -5.373_971_6e-2);
    p = fma(p, s, 1.333_144_2e-1);
    p = fma(p, s, -3.333_328e-1);
    let small = fma(p * s, x, x);
    let large = (1.0 - 2.0 / (exp_f32(a + a) + 1.0)).copysign(x);
    if a < 0.625 {
        small
    } else {
        large
    }
}
