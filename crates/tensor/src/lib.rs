//! Tensors and kernels.
//!
//! A tensor is an [`ndarray::ArrayD`]; the kernels below read and write its contiguous buffer.
//! Every differentiable kernel is a `*_forward` / `*_backward` pair of plain functions in the same
//! file, with the shapes in comments (`x is [M, d]`), and a slow, obviously correct reference
//! beside each optimised kernel that the tests hold it to (the llm.c way).
//!
//! Parallel kernels split their work in fixed chunks whose size depends only on the shapes, never on
//! the number of threads, and never split a sum: results are bit-identical on 1 or 64 threads.
//! Inside [`serially`] they do not split at all.

pub mod attention;
pub mod conv;
pub mod elementwise;
pub mod embedding;
pub mod float;
pub mod lanes;
pub mod linear;
pub mod matmul;
pub mod norm;
pub mod reduce;
pub mod shape;
pub mod softmax;
pub mod tiny;

pub use float::Float;
pub use ndarray;

/// The tensor type of overfit: an n-dimensional array in standard (row-major) layout.
pub type Tensor<F> = ndarray::ArrayD<F>;

/// A tensor of the given shape filled with zeros.
pub fn zeros<F: Float>(shape: &[usize]) -> Tensor<F> {
    Tensor::zeros(ndarray::IxDyn(shape))
}

/// A tensor of the given shape from a row-major buffer.
///
/// Panics when the buffer length is not the product of the shape: kernels only call it with
/// lengths they computed themselves.
pub fn from_vec<F: Float>(shape: &[usize], data: Vec<F>) -> Tensor<F> {
    Tensor::from_shape_vec(ndarray::IxDyn(shape), data).expect("buffer length matches shape")
}

/// The contiguous row-major buffer of a tensor, copying only when it is not already contiguous.
pub fn contiguous<F: Float>(x: &Tensor<F>) -> std::borrow::Cow<'_, [F]> {
    match x.as_slice() {
        Some(s) => std::borrow::Cow::Borrowed(s),
        None => std::borrow::Cow::Owned(x.iter().copied().collect()),
    }
}

/// The mutable contiguous buffer of a tensor this crate allocated (always standard layout).
pub(crate) fn buf_mut<F: Float>(x: &mut Tensor<F>) -> &mut [F] {
    x.as_slice_mut().expect("kernel outputs are contiguous")
}

/// Elementwise and row-wise kernels stay on the calling thread below this many elements: waking a
/// rayon worker costs 10–20 µs (BENCHMARKS.md), more than such a kernel's work.
pub const PARALLEL_MIN_ELEMS: usize = 1 << 16;

thread_local! {
    static SERIAL: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `f` with every kernel it calls kept on the calling thread, whatever the sizes. For callers
/// that already keep every thread busy (the trainer's micro-batches): there, splitting a product
/// only repacks its shared operand once per chunk and queues tasks that the same thread ends up
/// running. A product computed in one call may differ in its last bits from the same product in
/// chunks, so callers must decide this from the configuration, never from the thread count.
pub fn serially<T>(f: impl FnOnce() -> T) -> T {
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            SERIAL.with(|s| s.set(self.0));
        }
    }
    let _restore = Restore(SERIAL.with(|s| s.replace(true)));
    f()
}

/// Whether a kernel may split its work into tasks here (not inside [`serially`]).
pub(crate) fn may_split() -> bool {
    !SERIAL.with(|s| s.get())
}

/// A raw pointer that may cross threads. Used only where tasks write provably disjoint parts of
/// one output buffer (strided per-head slices, say), which `chunks_mut` cannot express.
#[derive(Clone, Copy)]
pub(crate) struct SendPtr<F>(pub *mut F);
unsafe impl<F> Send for SendPtr<F> {}
unsafe impl<F> Sync for SendPtr<F> {}
impl<F> SendPtr<F> {
    /// Returns the pointer; a method (not field access) so closures capture the whole wrapper.
    pub fn get(self) -> *mut F {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::{may_split, serially};

    #[test]
    fn serially_nests_and_restores_splitting_even_after_a_panic() {
        assert!(may_split());
        serially(|| {
            assert!(!may_split());
            serially(|| assert!(!may_split()));
            assert!(!may_split(), "the inner scope must not end the outer one");
        });
        assert!(may_split());
        let caught = std::panic::catch_unwind(|| serially(|| panic!("inside")));
        assert!(caught.is_err());
        assert!(may_split(), "a panic inside must not leave the thread serial");
    }
}
