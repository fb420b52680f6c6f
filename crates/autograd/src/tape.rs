//! The tape: one step's computation, recorded as it runs.
//!
//! Each method below computes its op's forward value with a `tensor` kernel and records the op;
//! `backward.rs` holds the matching gradient rules. Shapes are checked here, with messages that say
//! which op got what: a mismatch is a bug in the model code, never a user error.

use crate::op::{Op, Var};
use crate::params::{ParamId, ParamSet};
use tensor::{
    attention, conv, elementwise as ew, embedding, linear, matmul, norm, reduce, shape, softmax, Float, Tensor,
};

pub(crate) struct Node<F> {
    /// None for parameters, whose value stays in the ParamSet.
    pub value: Option<Tensor<F>>,
    pub op: Op<F>,
    /// Whether any parameter or gradient-check leaf flows into this node.
    pub needs_grad: bool,
}

/// One step's computation graph.
pub struct Tape<'p, F: Float> {
    params: Option<&'p ParamSet<F>>,
    pub(crate) nodes: Vec<Node<F>>,
    param_vars: Vec<Option<Var>>,
    record: bool,
}

impl<'p, F: Float> Tape<'p, F> {
    /// A tape that records for backward, reading parameters from `params`.
    pub fn new(params: &'p ParamSet<F>) -> Self {
        crate::profile::start();
        Tape { params: Some(params), nodes: Vec::with_capacity(64), param_vars: vec![None; params.len()], record: true }
    }

    /// A tape with no parameters (for tests of single ops).
    pub fn empty() -> Self {
        Tape { params: None, nodes: Vec::new(), param_vars: Vec::new(), record: true }
    }

    /// Inference: values only, no graph and no saved state for backward.
    pub fn no_record(params: &'p ParamSet<F>) -> Self {
        Tape { record: false, ..Tape::new(params) }
    }

    pub fn is_recording(&self) -> bool {
        self.record
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    pub fn value(&self, v: Var) -> &Tensor<F> {
        let node = &self.nodes[v.index()];
        match (&node.value, &node.op) {
            (Some(t), _) => t,
            (None, Op::Param(id)) => self.params.expect("param nodes have params").value(*id),
            (None, _) => unreachable!("only parameters are stored off the tape"),
        }
    }
    pub fn shape(&self, v: Var) -> &[usize] {
        self.value(v).shape()
    }
    /// The single value of a scalar (rank 0 or one element).
    pub fn scalar(&self, v: Var) -> F {
        let t = self.value(v);
        assert_eq!(t.len(), 1, "scalar() of a tensor of shape {:?}", t.shape());
        *t.iter().next().expect("one element")
    }
    pub(crate) fn param_var(&self, id: ParamId) -> Option<Var> {
        self.param_vars.get(id.0).copied().flatten()
    }
    /// The parameter variables this tape used, with their ids.
    pub fn used_params(&self) -> impl Iterator<Item = (ParamId, Var)> + '_ {
        self.param_vars.iter().enumerate().filter_map(|(i, v)| v.map(|v| (ParamId(i), v)))
    }

    fn push(&mut self, value: Tensor<F>, op: Op<F>, needs_grad: bool) -> Var {
        crate::profile::forward(op.name());
        let (op, needs_grad) = if self.record { (op, needs_grad) } else { (Op::Leaf, false) };
        self.nodes.push(Node { value: Some(value), op, needs_grad });
        Var(u32::try_from(self.nodes.len() - 1).expect("fewer than 2^32 nodes"))
    }
    fn needs(&self, vars: &[Var]) -> bool {
        vars.iter().any(|v| self.nodes[v.index()].needs_grad)
    }
    /// Records `op` over `inputs`; the common tail of every op method.
    fn record_op(&mut self, value: Tensor<F>, op: Op<F>, inputs: &[Var]) -> Var {
        let needs = self.needs(inputs);
        self.push(value, op, needs)
    }

    // ---- leaves ---------------------------------------------------------------------------------

    /// Data or a constant: no gradient flows to it.
    pub fn input(&mut self, value: Tensor<F>) -> Var {
        self.push(value, Op::Leaf, false)
    }
    /// A variable whose gradient is wanted (gradient checks, tests).
    pub fn leaf(&mut self, value: Tensor<F>) -> Var {
        self.push(value, Op::Leaf, true)
    }
    /// A parameter. Asking twice gives the same node, so a tied tensor collects every use's gradient.
    pub fn param(&mut self, id: ParamId) -> Var {
        if let Some(v) = self.param_var(id) {
            return v;
        }
        self.nodes.push(Node { value: None, op: Op::Param(id), needs_grad: self.record });
        let v = Var((self.nodes.len() - 1) as u32);
        self.param_vars[id.0] = Some(v);
        v
    }

    // ---- broadcasting arithmetic ----------------------------------------------------------------

    fn check_broadcast(&self, what: &str, a: Var, b: Var) {
        assert!(
            ew::broadcast_shape(self.shape(a), self.shape(b)).is_some(),
            "{what}: shapes {:?} and {:?} do not broadcast",
            self.shape(a),
            self.shape(b)
        );
    }
    pub fn add(&mut self, a: Var, b: Var) -> Var {
        self.check_broadcast("add", a, b);
        let y = ew::add_forward(self.value(a), self.value(b));
        self.record_op(y, Op::Add(a, b), &[a, b])
    }
    pub fn sub(&mut self, a: Var, b: Var) -> Var {
        self.check_broadcast("sub", a, b);
        let y = ew::sub_forward(self.value(a), self.value(b));
        self.record_op(y, Op::Sub(a, b), &[a, b])
    }
    pub fn mul(&mut self, a: Var, b: Var) -> Var {
        self.check_broadcast("mul", a, b);
        let y = ew::mul_forward(self.value(a), self.value(b));
        self.record_op(y, Op::Mul(a, b), &[a, b])
    }
    pub fn div(&mut self, a: Var, b: Var) -> Var {
        self.check_broadcast("div", a, b);
        let y = ew::div_forward(self.value(a), self.value(b));
        self.record_op(y, Op::Div(a, b), &[a, b])
    }
    pub fn scale(&mut self, x: Var, s: F) -> Var {
        let y = ew::scale_forward(self.value(x), s);
        self.record_op(y, Op::Scale(x, s), &[x])
    }

    // ---- unary functions ------------------------------------------------------------------------

    pub fn exp(&mut self, x: Var) -> Var {
        let y = ew::exp_forward(self.value(x));
        self.record_op(y, Op::Exp(x), &[x])
    }
    pub fn log(&mut self, x: Var) -> Var {
        let y = ew::log_forward(self.value(x));
        self.record_op(y, Op::Log(x), &[x])
    }
    pub fn tanh(&mut self, x: Var) -> Var {
        let y = ew::tanh_forward(self.value(x));
        self.record_op(y, Op::Tanh(x), &[x])
    }
    /// The logistic function (the gates of the rnn head's GRU).
    pub fn sigmoid(&mut self, x: Var) -> Var {
        let y = ew::sigmoid_forward(self.value(x));
        self.record_op(y, Op::Sigmoid(x), &[x])
    }
    pub fn relu(&mut self, x: Var) -> Var {
        let y = ew::relu_forward(self.value(x));
        self.record_op(y, Op::Relu(x), &[x])
    }
    pub fn gelu(&mut self, x: Var) -> Var {
        let y = ew::gelu_forward(self.value(x));
        self.record_op(y, Op::Gelu(x), &[x])
    }

    // ---- reductions -----------------------------------------------------------------------------

    fn check_axes(&self, x: Var, axes: &[usize]) {
        let rank = self.shape(x).len();
        let mut seen = vec![false; rank];
        for &a in axes {
            assert!(a < rank && !seen[a], "reduction axes {axes:?} invalid for shape {:?}", self.shape(x));
            seen[a] = true;
        }
    }
    /// Sum over `axes`, dropping them.
    pub fn sum(&mut self, x: Var, axes: &[usize]) -> Var {
        self.check_axes(x, axes);
        let y = reduce::sum_forward(self.value(x), axes);
        self.record_op(y, Op::Sum { x, axes: axes.to_vec() }, &[x])
    }
    /// Sum of every element: a scalar.
    pub fn sum_all(&mut self, x: Var) -> Var {
        let axes: Vec<usize> = (0..self.shape(x).len()).collect();
        self.sum(x, &axes)
    }
    /// Mean over `axes`, dropping them.
    pub fn mean(&mut self, x: Var, axes: &[usize]) -> Var {
        self.check_axes(x, axes);
        let y = reduce::mean_forward(self.value(x), axes);
        self.record_op(y, Op::Mean { x, axes: axes.to_vec() }, &[x])
    }

    // ---- products -------------------------------------------------------------------------------

    /// `op(a)·op(b)`, op transposing the last two axes when its flag is set (by striding, not
    /// copying). Ranks (2,2), (3,3) with equal batch, or (3,2) with `a` untransposed.
    pub fn matmul(&mut self, a: Var, ta: bool, b: Var, tb: bool) -> Var {
        let (ra, rb) = (self.shape(a).len(), self.shape(b).len());
        assert!(matches!((ra, rb), (2, 2) | (3, 3) | (3, 2)), "matmul: ranks {ra} and {rb} not supported");
        assert!(!(ra == 3 && rb == 2 && ta), "matmul: shared-weight product takes `a` untransposed");
        let y = matmul::matmul_forward(self.value(a), ta, self.value(b), tb);
        self.record_op(y, Op::MatMul { a, ta, b, tb }, &[a, b])
    }
    /// A dense layer: `x·Wᵀ + b` over the last axis, W `[out, in]`.
    pub fn linear(&mut self, x: Var, w: Var, b: Option<Var>) -> Var {
        let (ws, xs) = (self.shape(w), self.shape(x));
        assert!(ws.len() == 2 && xs.last() == Some(&ws[1]), "linear: input {xs:?} does not fit weight {ws:?}");
        if let Some(b) = b {
            assert_eq!(self.shape(b), &[ws[0]], "linear: bias shape");
        }
        let y = linear::linear_forward(self.value(x), self.value(w), b.map(|b| self.value(b)));
        let inputs: Vec<Var> = [Some(x), Some(w), b].into_iter().flatten().collect();
        self.record_op(y, Op::Linear { x, w, b }, &inputs)
    }
    /// Conv1d over the sequence with zero "same" padding: x `[B, L, Cin]`, w `[Cout, Cin, K]`, K odd.
    pub fn conv1d(&mut self, x: Var, w: Var, b: Var) -> Var {
        let (xs, ws) = (self.shape(x), self.shape(w));
        assert!(
            xs.len() == 3 && ws.len() == 3 && xs[2] == ws[1] && ws[2] % 2 == 1,
            "conv1d: input {xs:?}, weight {ws:?}"
        );
        let y = conv::conv1d_forward(self.value(x), self.value(w), self.value(b));
        self.record_op(y, Op::Conv1d { x, w, b }, &[x, w, b])
    }

    // ---- normalisation and probabilities --------------------------------------------------------

    /// LayerNorm over the last axis with weight and bias.
    pub fn layer_norm(&mut self, x: Var, w: Var, b: Var, eps: f64) -> Var {
        let d = *self.shape(x).last().expect("rank >= 1");
        assert!(self.shape(w) == [d] && self.shape(b) == [d], "layer_norm: weight/bias must be [{d}]");
        let (y, saved) = norm::layer_norm_forward(self.value(x), self.value(w), self.value(b), eps);
        self.record_op(y, Op::LayerNorm { x, w, b, saved }, &[x, w, b])
    }
    /// Softmax over the last axis.
    pub fn softmax(&mut self, x: Var) -> Var {
        let y = softmax::softmax_forward(self.value(x));
        self.record_op(y, Op::Softmax(x), &[x])
    }
    /// Log-softmax over the last axis.
    pub fn log_softmax(&mut self, x: Var) -> Var {
        let y = softmax::log_softmax_forward(self.value(x));
        self.record_op(y, Op::LogSoftmax(x), &[x])
    }
    /// Mean cross-entropy of logits `[M, V]` against M targets, fused with the softmax: a scalar.
    pub fn cross_entropy(&mut self, logits: Var, targets: &[u32]) -> Var {
        let s = self.shape(logits);
        assert!(s.len() == 2 && s[0] == targets.len(), "cross_entropy: logits {s:?} for {} targets", targets.len());
        assert!(targets.iter().all(|&t| (t as usize) < s[1]), "cross_entropy: a target is outside the vocabulary");
        let (loss, probs) = softmax::cross_entropy_forward(self.value(logits), targets);
        let probs = if self.record { probs } else { tensor::zeros(&[0]) };
        self.record_op(
            Tensor::from_elem(tensor::ndarray::IxDyn(&[]), loss),
            Op::CrossEntropy { logits, targets: targets.to_vec(), probs },
            &[logits],
        )
    }

    // ---- attention ------------------------------------------------------------------------------

    /// Sets entries above the diagonal of the last two axes (`[..., L, L]`) to −∞.
    pub fn causal_mask(&mut self, x: Var) -> Var {
        let s = self.shape(x);
        assert!(s.len() >= 2 && s[s.len() - 1] == s[s.len() - 2], "causal_mask: needs [..., L, L], got {s:?}");
        let y = attention::causal_mask_forward(self.value(x));
        self.record_op(y, Op::CausalMask(x), &[x])
    }
    /// Fused multi-head attention: q, k, v `[B, L, d]` → softmax(QKᵀ/√(d/h))V per head, `[B, L, d]`.
    pub fn attention(&mut self, q: Var, k: Var, v: Var, heads: usize, causal: bool) -> Var {
        let s = self.shape(q).to_vec();
        assert!(
            s.len() == 3 && self.shape(k) == s && self.shape(v) == s,
            "attention: q, k, v must share one [B, L, d] shape"
        );
        assert!(
            heads > 0 && s[2].is_multiple_of(heads),
            "attention: d_model {} does not split into {heads} heads",
            s[2]
        );
        let (y, probs) = attention::attention_forward(self.value(q), self.value(k), self.value(v), heads, causal);
        let probs = if self.record { probs } else { tensor::zeros(&[0]) };
        self.record_op(y, Op::Attention { q, k, v, heads, causal, probs }, &[q, k, v])
    }

    // ---- lookup and shapes ----------------------------------------------------------------------

    /// Rows `ids` of a `[V, d]` table: `[ids.len(), d]`.
    pub fn embedding(&mut self, table: Var, ids: &[u32]) -> Var {
        let s = self.shape(table);
        assert!(
            s.len() == 2 && ids.iter().all(|&i| (i as usize) < s[0]),
            "embedding: an id is outside the table of {} rows",
            s[0]
        );
        let y = embedding::embedding_forward(self.value(table), ids);
        self.record_op(y, Op::Embedding { table, ids: ids.to_vec() }, &[table])
    }
    pub fn reshape(&mut self, x: Var, shape: &[usize]) -> Var {
        let n: usize = shape.iter().product();
        assert_eq!(n, self.value(x).len(), "reshape {:?} to {shape:?}", self.shape(x));
        let y = self
            .value(x)
            .as_standard_layout()
            .into_owned()
            .into_shape_with_order(tensor::ndarray::IxDyn(shape))
            .expect("standard layout");
        self.record_op(y, Op::Reshape(x), &[x])
    }
    /// Reorders axes: the output's axis i is the input's axis `perm[i]`.
    pub fn permute(&mut self, x: Var, perm: &[usize]) -> Var {
        let mut sorted = perm.to_vec();
        sorted.sort_unstable();
        assert!(
            sorted.iter().copied().eq(0..self.shape(x).len()),
            "permute: {perm:?} is not a permutation of the axes of {:?}",
            self.shape(x)
        );
        let y = shape::permute_forward(self.value(x), perm);
        self.record_op(y, Op::Permute { x, perm: perm.to_vec() }, &[x])
    }
    /// Swaps the last two axes (a copy; matmul reads transposes without one).
    pub fn transpose(&mut self, x: Var) -> Var {
        let r = self.shape(x).len();
        assert!(r >= 2, "transpose needs rank >= 2");
        let mut perm: Vec<usize> = (0..r).collect();
        perm.swap(r - 1, r - 2);
        self.permute(x, &perm)
    }
    pub fn concat(&mut self, xs: &[Var], axis: usize) -> Var {
        let y = {
            let values: Vec<&Tensor<F>> = xs.iter().map(|&v| self.value(v)).collect();
            shape::concat_forward(&values, axis)
        };
        self.record_op(y, Op::Concat { xs: xs.to_vec(), axis }, xs)
    }
    /// A user-defined function of `inputs` (see [`crate::Function`]).
    pub fn custom(&mut self, inputs: &[Var], function: std::sync::Arc<dyn crate::Function<F>>) -> Var {
        let y = {
            let values: Vec<&Tensor<F>> = inputs.iter().map(|&v| self.value(v)).collect();
            function.forward(&values)
        };
        let op = Op::Custom { inputs: inputs.to_vec(), function: crate::function::CustomFn(function) };
        self.record_op(y, op, inputs)
    }
    /// `x[start .. start+len]` along `axis`.
    pub fn slice(&mut self, x: Var, axis: usize, start: usize, len: usize) -> Var {
        assert!(axis < self.shape(x).len() && start + len <= self.shape(x)[axis], "slice out of range");
        let y = shape::slice_forward(self.value(x), axis, start, len);
        self.record_op(y, Op::Slice { x, axis, start }, &[x])
    }
}
