//! User-defined differentiable functions: a forward and its backward, supplied from outside the
//! engine (PyTorch's `torch.autograd.Function`, candle's `CustomOp`). The model uses none; they
//! exist so that a new op can be tried before it earns a kernel of its own, and so that the
//! gradient checker can be shown a deliberately wrong backward and be seen to reject it.

use std::fmt;
use std::sync::Arc;
use tensor::Tensor;

/// A differentiable function of one or more tensors.
pub trait Function<F>: Send + Sync {
    /// Its name, for messages and the profiler.
    fn name(&self) -> &'static str;
    /// The output, from the inputs' values.
    fn forward(&self, inputs: &[&Tensor<F>]) -> Tensor<F>;
    /// The gradient of the loss with respect to each input (in the input's shape), given the
    /// inputs, the output and the gradient `dy` of the loss with respect to the output.
    fn backward(&self, inputs: &[&Tensor<F>], output: &Tensor<F>, dy: &Tensor<F>) -> Vec<Tensor<F>>;
}

/// A function as the tape holds it: shared, and printable in the op enum's debug output.
#[derive(Clone)]
pub struct CustomFn<F>(pub Arc<dyn Function<F>>);

impl<F> fmt::Debug for CustomFn<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CustomFn({})", self.0.name())
    }
}
