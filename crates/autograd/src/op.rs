//! The op enum: what produced each node of the tape, with the inputs (each a [`Var`], a node's
//! index) and any saved state its gradient rule needs. Its one consumer is the exhaustive `match` in `backward.rs`.

use crate::function::CustomFn;
use crate::params::ParamId;
use tensor::norm::LayerNormSaved;
use tensor::Tensor;

/// A value on the tape (an index; cheap to copy).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Var(pub(crate) u32);

impl Var {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

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
    Sigmoid(Var),
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
        causal: bool,
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
    /// A user-defined function (see `function.rs`).
    Custom {
        inputs: Vec<Var>,
        function: CustomFn<F>,
    },
}

impl<F> Op<F> {
    /// The op's name, for the profiler.
    pub fn name(&self) -> &'static str {
        match self {
            Op::Leaf => "leaf",
            Op::Param(_) => "param",
            Op::Add(..) => "add",
            Op::Sub(..) => "sub",
            Op::Mul(..) => "mul",
            Op::Div(..) => "div",
            Op::Scale(..) => "scale",
            Op::Exp(_) => "exp",
            Op::Log(_) => "log",
            Op::Tanh(_) => "tanh",
            Op::Sigmoid(_) => "sigmoid",
            Op::Relu(_) => "relu",
            Op::Gelu(_) => "gelu",
            Op::Sum { .. } => "sum",
            Op::Mean { .. } => "mean",
            Op::MatMul { .. } => "matmul",
            Op::Linear { .. } => "linear",
            Op::Conv1d { .. } => "conv1d",
            Op::LayerNorm { .. } => "layer_norm",
            Op::Softmax(_) => "softmax",
            Op::LogSoftmax(_) => "log_softmax",
            Op::CrossEntropy { .. } => "cross_entropy",
            Op::CausalMask(_) => "causal_mask",
            Op::Attention { .. } => "attention",
            Op::Embedding { .. } => "embedding",
            Op::Reshape(_) => "reshape",
            Op::Permute { .. } => "permute",
            Op::Concat { .. } => "concat",
            Op::Slice { .. } => "slice",
            Op::Custom { .. } => "custom",
        }
    }
}
