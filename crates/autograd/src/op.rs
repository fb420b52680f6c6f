//! The op enum: what produced each node of the tape, with the inputs and any saved state its
//! gradient rule needs. Its one consumer is the exhaustive `match` in `backward.rs`.

use crate::params::ParamId;
use crate::tape::Var;
use tensor::norm::LayerNormSaved;
use tensor::Tensor;

#[derive(Clone, Debug)]
pub enum Op<F> {
    /// A value from outside: data, a constant, or (with `needs_grad`) a variable of a gradient check.
    Leaf,
    /// A parameter of the tape's [`crate::ParamSet`]; its value lives there, not on the tape.
    Param(ParamId),
    // Broadcasting arithmetic.
    Add(Var, Var),
    Sub(Var, Var),
    Mul(Var, Var),
    Div(Var, Var),
    Scale(Var, F),
    // Unary functions.
    Exp(Var),
    Log(Var),
    Tanh(Var),
    Relu(Var),
    Gelu(Var),
    // Reductions.
    Sum {
        x: Var,
        axes: Vec<usize>,
    },
    Mean {
        x: Var,
        axes: Vec<usize>,
    },
    // Products.
    MatMul {
        a: Var,
        ta: bool,
        b: Var,
        tb: bool,
    },
    Linear {
        x: Var,
        w: Var,
        b: Option<Var>,
    },
    Conv1d {
        x: Var,
        w: Var,
        b: Var,
    },
    // Normalisation and probabilities.
    LayerNorm {
        x: Var,
        w: Var,
        b: Var,
        saved: LayerNormSaved<F>,
    },
    Softmax(Var),
    LogSoftmax(Var),
    CrossEntropy {
        logits: Var,
        targets: Vec<u32>,
        probs: Tensor<F>,
    },
    // Attention.
    CausalMask(Var),
    Attention {
        q: Var,
        k: Var,
        v: Var,
        heads: usize,
        probs: Tensor<F>,
    },
    // Lookup and shapes.
    Embedding {
        table: Var,
        ids: Vec<u32>,
    },
    Reshape(Var),
    Permute {
        x: Var,
        perm: Vec<usize>,
    },
    Concat {
        xs: Vec<Var>,
        axis: usize,
    },
    Slice {
        x: Var,
        axis: usize,
        start: usize,
    },
}
