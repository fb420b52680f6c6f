//! Backward: every op's gradient rule, in one exhaustive `match`.
//!
//! Nodes are visited in reverse order of creation, which is a topological order because a node's
//! inputs are always created before it. Each rule calls the `*_backward` kernel that sits beside the
//! op's `*_forward` in the `tensor` crate, and adds the result into each input's gradient.

use crate::op::Op;
use crate::op::Var;
use crate::tape::{Node, Tape};
use tensor::{
    attention, conv, elementwise as ew, embedding, linear, matmul, norm, reduce, shape, softmax, Float, Tensor,
};

/// Gradients of one backward pass, for the leaves and parameters of the tape.
pub struct Gradients<F> {
    grads: Vec<Option<Tensor<F>>>,
}

impl<F: Float> Gradients<F> {
    /// The gradient with respect to a leaf or parameter node (None when nothing reached it).
    pub fn wrt(&self, v: Var) -> Option<&Tensor<F>> {
        self.grads[v.index()].as_ref()
    }
    /// The parameter gradients, taken out of the pass: (parameter, gradient) in parameter order.
    pub fn into_param_grads(mut self, tape: &Tape<'_, F>) -> Vec<(crate::ParamId, Tensor<F>)> {
        let mut out: Vec<_> =
            tape.used_params().filter_map(|(id, v)| Some((id, self.grads[v.index()].take()?))).collect();
        out.sort_by_key(|(id, _)| id.0);
        out
    }
}

/// Adds gradients into the slots of the nodes that want one.
struct Sink<'a, F> {
    nodes: &'a [Node<F>],
    grads: &'a mut [Option<Tensor<F>>],
}

impl<F: Float> Sink<'_, F> {
    fn wants(&self, v: Var) -> bool {
        self.nodes[v.index()].needs_grad
    }
    fn add(&mut self, v: Var, g: Tensor<F>) {
        if !self.wants(v) {
            return;
        }
        match &mut self.grads[v.index()] {
            Some(existing) => {
                // `+=` would broadcast a wrongly shaped gradient into the right one without a word.
                debug_assert_eq!(existing.shape(), g.shape(), "gradient of node {} changes shape", v.index());
                *existing += &g
            }
            slot @ None => *slot = Some(g),
        }
    }
}

impl<F: Float> Tape<'_, F> {
    /// Gradients of a scalar `loss` with respect to every leaf and parameter that reaches it.
    pub fn backward(&self, loss: Var) -> Gradients<F> {
        assert_eq!(self.value(loss).len(), 1, "backward() starts from a scalar; use backward_with for a tensor");
        let seed = Tensor::from_elem(tensor::ndarray::IxDyn(self.shape(loss)), F::one());
        self.backward_with(loss, seed)
    }

    /// Backward from any output, given the gradient of the loss with respect to it.
    pub fn backward_with(&self, out: Var, seed: Tensor<F>) -> Gradients<F> {
        assert!(self.is_recording(), "backward() on a tape made with no_record()");
        assert_eq!(seed.shape(), self.shape(out), "seed gradient shape");
        let mut grads: Vec<Option<Tensor<F>>> = vec![None; self.nodes.len()];
        grads[out.index()] = Some(seed);
        for i in (0..=out.index()).rev() {
            let Some(g) = grads[i].take() else { continue };
            let op = &self.nodes[i].op;
            if matches!(op, Op::Leaf | Op::Param(_)) {
                grads[i] = Some(g); // kept: these are the gradients the caller asked for
                continue;
            }
            let y = self.nodes[i].value.as_ref().expect("op nodes hold their value");
            let mut sink = Sink { nodes: &self.nodes, grads: &mut grads };
            if crate::profile::enabled() {
                let t0 = std::time::Instant::now();
                self.apply_rule(op, y, &g, &mut sink);
                crate::profile::backward(op.name(), t0.elapsed().as_secs_f64());
            } else {
                self.apply_rule(op, y, &g, &mut sink);
            }
        }
        Gradients { grads }
    }

    /// The gradient rule of one op: given its output `y` and the gradient `g` of the loss with
    /// respect to `y`, add its inputs' gradients. This match is exhaustive, so an op added to
    /// [`Op`] does not compile until it is routed to its family's rules below.
    fn apply_rule(&self, op: &Op<F>, y: &Tensor<F>, g: &Tensor<F>, sink: &mut Sink<'_, F>) {
        match op {
            Op::Leaf | Op::Param(_) => unreachable!("leaves are handled by the caller"),
            Op::Add(..) | Op::Sub(..) | Op::Mul(..) | Op::Div(..) => self.arithmetic_rule(op, g, sink),
            Op::Scale(..) | Op::Exp(_) | Op::Log(_) | Op::Tanh(_) | Op::Sigmoid(_) | Op::Relu(_) | Op::Gelu(_) => {
                self.unary_rule(op, y, g, sink)
            }
            Op::Sum { .. } | Op::Mean { .. } | Op::MatMul { .. } | Op::Linear { .. } | Op::Conv1d { .. } => {
                self.product_rule(op, g, sink)
            }
            Op::LayerNorm { .. }
            | Op::Softmax(_)
            | Op::LogSoftmax(_)
            | Op::CrossEntropy { .. }
            | Op::CausalMask(_)
            | Op::Attention { .. } => self.probability_rule(op, y, g, sink),
            Op::Embedding { .. } | Op::Reshape(_) | Op::Permute { .. } | Op::Concat { .. } | Op::Slice { .. } => {
                self.shape_rule(op, g, sink)
            }
            Op::Custom { inputs, function } => {
                let xs: Vec<&Tensor<F>> = inputs.iter().map(|&v| self.value(v)).collect();
                let dxs = function.0.backward(&xs, y, g);
                assert_eq!(
                    dxs.len(),
                    inputs.len(),
                    "{}: backward returned the wrong number of gradients",
                    function.0.name()
                );
                for (v, dx) in inputs.iter().zip(dxs) {
                    sink.add(*v, dx);
                }
            }
        }
    }

    /// Broadcasting arithmetic of two operands: a gradient for each, reduced back to its shape.
    fn arithmetic_rule(&self, op: &Op<F>, g: &Tensor<F>, sink: &mut Sink<'_, F>) {
        let val = |v: Var| self.value(v);
        let (a, b, (da, db)) = match op {
            Op::Add(a, b) => (a, b, ew::add_backward(val(*a).shape(), val(*b).shape(), g)),
            Op::Sub(a, b) => (a, b, ew::sub_backward(val(*a).shape(), val(*b).shape(), g)),
            Op::Mul(a, b) => (a, b, ew::mul_backward(val(*a), val(*b), g)),
            Op::Div(a, b) => (a, b, ew::div_backward(val(*a), val(*b), g)),
            _ => unreachable!("apply_rule routes only arithmetic here"),
        };
        sink.add(*a, da);
        sink.add(*b, db);
    }

    /// Functions of one input: each rule reads the input `x` or the output `y`, whichever is cheaper.
    fn unary_rule(&self, op: &Op<F>, y: &Tensor<F>, g: &Tensor<F>, sink: &mut Sink<'_, F>) {
        let val = |v: Var| self.value(v);
        match op {
            Op::Scale(x, s) => sink.add(*x, ew::scale_backward(*s, g)),
            Op::Exp(x) => sink.add(*x, ew::exp_backward(y, g)),
            Op::Log(x) => sink.add(*x, ew::log_backward(val(*x), g)),
            Op::Tanh(x) => sink.add(*x, ew::tanh_backward(y, g)),
            Op::Sigmoid(x) => sink.add(*x, ew::sigmoid_backward(y, g)),
            Op::Relu(x) => sink.add(*x, ew::relu_backward(val(*x), g)),
            Op::Gelu(x) => sink.add(*x, ew::gelu_backward(val(*x), g)),
            _ => unreachable!("apply_rule routes only functions of one input here"),
        }
    }

    /// Reductions and products.
    fn product_rule(&self, op: &Op<F>, g: &Tensor<F>, sink: &mut Sink<'_, F>) {
        let val = |v: Var| self.value(v);
        match op {
            Op::Sum { x, axes } => sink.add(*x, reduce::sum_backward(val(*x).shape(), axes, g)),
            Op::Mean { x, axes } => sink.add(*x, reduce::mean_backward(val(*x).shape(), axes, g)),
            Op::MatMul { a, ta, b, tb } => {
                let (da, db) = matmul::matmul_backward(val(*a), *ta, val(*b), *tb, g);
                sink.add(*a, da);
                sink.add(*b, db);
            }
            Op::Linear { x, w, b } => {
                // dx is not computed when nothing wants it (an input that is data).
                let (dx, dw, db) = linear::linear_backward(val(*x), val(*w), g, sink.wants(*x));
                if let Some(dx) = dx {
                    sink.add(*x, dx);
                }
                sink.add(*w, dw);
                if let Some(b) = b {
                    sink.add(*b, db);
                }
            }
            Op::Conv1d { x, w, b } => {
                let (dx, dw, db) = conv::conv1d_backward(val(*x), val(*w), g);
                sink.add(*x, dx);
                sink.add(*w, dw);
                sink.add(*b, db);
            }
            _ => unreachable!("apply_rule routes only reductions and products here"),
        }
    }

    /// Normalisation, probabilities and attention: rules that reuse what the forward saved.
    fn probability_rule(&self, op: &Op<F>, y: &Tensor<F>, g: &Tensor<F>, sink: &mut Sink<'_, F>) {
        let val = |v: Var| self.value(v);
        match op {
            Op::LayerNorm { x, w, b, saved } => {
                let (dx, dw, db) = norm::layer_norm_backward(val(*x), val(*w), saved, g);
                sink.add(*x, dx);
                sink.add(*w, dw);
                sink.add(*b, db);
            }
            Op::Softmax(x) => sink.add(*x, softmax::softmax_backward(y, g)),
            Op::LogSoftmax(x) => sink.add(*x, softmax::log_softmax_backward(y, g)),
            Op::CrossEntropy { logits, targets, probs } => {
                let dloss = *g.iter().next().expect("scalar gradient");
                sink.add(*logits, softmax::cross_entropy_backward(probs, targets, dloss));
            }
            Op::CausalMask(x) => sink.add(*x, attention::causal_mask_backward(g)),
            Op::Attention { q, k, v, heads, causal, probs } => {
                let (dq, dk, dv) = attention::attention_backward(val(*q), val(*k), val(*v), probs, *heads, *causal, g);
                sink.add(*q, dq);
                sink.add(*k, dk);
                sink.add(*v, dv);
            }
            _ => unreachable!("apply_rule routes only normalisation, probabilities and attention here"),
        }
    }

    /// Lookup and shapes: gradients move back to where the values came from.
    fn shape_rule(&self, op: &Op<F>, g: &Tensor<F>, sink: &mut Sink<'_, F>) {
        let val = |v: Var| self.value(v);
        match op {
            Op::Embedding { table, ids } => {
                sink.add(*table, embedding::embedding_backward(val(*table).shape(), ids, g))
            }
            Op::Reshape(x) => {
                let dx = g.clone().into_shape_with_order(tensor::ndarray::IxDyn(val(*x).shape())).expect("same size");
                sink.add(*x, dx);
            }
            Op::Permute { x, perm } => sink.add(*x, shape::permute_backward(perm, g)),
            Op::Concat { xs, axis } => {
                let sizes: Vec<usize> = xs.iter().map(|&v| val(v).shape()[*axis]).collect();
                for (v, dx) in xs.iter().zip(shape::concat_backward(&sizes, *axis, g)) {
                    sink.add(*v, dx);
                }
            }
            Op::Slice { x, axis, start } => sink.add(*x, shape::slice_backward(val(*x).shape(), *axis, *start, g)),
            _ => unreachable!("apply_rule routes only lookup and shape ops here"),
        }
    }
}
