//! Parameters: named tensors that persist across steps, apart from the per-step tape.

use rand::Rng;
use rand_distr::{Distribution, Normal};
use tensor::{Float, Tensor};

/// Index of a parameter in its [`ParamSet`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ParamId(pub usize);

/// One parameter: its SPEC name (`blocks.0.attn.q.weight`), value, and whether weight decay applies.
#[derive(Clone, Debug)]
pub struct Param<F> {
    pub name: String,
    pub shape: Vec<usize>,
    pub value: Tensor<F>,
    /// AdamW decays matrices only: never biases, norms or embeddings.
    pub decay: bool,
}

impl<F> Param<F> {
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }
}

/// All parameters of a model, in creation order.
///
/// A set made with [`ParamSet::shapes_only`] records names and shapes but allocates nothing, so the
/// parameter accounting of a 1.6-billion-parameter model runs from the same constructor as training.
#[derive(Clone, Debug, Default)]
pub struct ParamSet<F> {
    params: Vec<Param<F>>,
    shapes_only: bool,
}

impl<F: Float> ParamSet<F> {
    pub fn new() -> Self {
        ParamSet { params: Vec::new(), shapes_only: false }
    }

    /// A set that records shapes without allocating values.
    pub fn shapes_only() -> Self {
        ParamSet { params: Vec::new(), shapes_only: true }
    }

    /// Adds a parameter with the given value (ignored in a shapes-only set).
    pub fn add(
        &mut self,
        name: impl Into<String>,
        shape: &[usize],
        decay: bool,
        init: impl FnOnce() -> Tensor<F>,
    ) -> ParamId {
        let name = name.into();
        assert!(self.find(&name).is_none(), "parameter {name} registered twice");
        let value = if self.shapes_only {
            tensor::zeros(&[0])
        } else {
            let v = init();
            assert_eq!(v.shape(), shape, "initial value of {name} has the wrong shape");
            v
        };
        self.params.push(Param { name, shape: shape.to_vec(), value, decay });
        ParamId(self.params.len() - 1)
    }

    /// Adds a parameter drawn from normal(0, std).
    pub fn add_normal(
        &mut self,
        name: impl Into<String>,
        shape: &[usize],
        std: f64,
        decay: bool,
        rng: &mut impl Rng,
    ) -> ParamId {
        let shapes_only = self.shapes_only;
        self.add(name, shape, decay, || {
            debug_assert!(!shapes_only);
            let normal = Normal::new(0.0, std).expect("std is finite and positive");
            let n: usize = shape.iter().product();
            tensor::from_vec(shape, (0..n).map(|_| F::of(normal.sample(rng))).collect())
        })
    }

    /// Adds a parameter drawn from uniform(−bound, bound): PyTorch's init of recurrent layers.
    pub fn add_uniform(
        &mut self,
        name: impl Into<String>,
        shape: &[usize],
        bound: f64,
        decay: bool,
        rng: &mut impl Rng,
    ) -> ParamId {
        self.add(name, shape, decay, || {
            let n: usize = shape.iter().product();
            tensor::from_vec(shape, (0..n).map(|_| F::of(rng.random_range(-bound..bound))).collect())
        })
    }

    /// Adds a parameter filled with a constant.
    pub fn add_constant(&mut self, name: impl Into<String>, shape: &[usize], value: f64, decay: bool) -> ParamId {
        self.add(name, shape, decay, || Tensor::from_elem(ndarray_shape(shape), F::of(value)))
    }

    pub fn get(&self, id: ParamId) -> &Param<F> {
        &self.params[id.0]
    }
    pub fn get_mut(&mut self, id: ParamId) -> &mut Param<F> {
        &mut self.params[id.0]
    }
    pub fn value(&self, id: ParamId) -> &Tensor<F> {
        &self.params[id.0].value
    }
    pub fn find(&self, name: &str) -> Option<ParamId> {
        self.params.iter().position(|p| p.name == name).map(ParamId)
    }
    pub fn len(&self) -> usize {
        self.params.len()
    }
    pub fn is_empty(&self) -> bool {
        self.params.is_empty()
    }
    pub fn iter(&self) -> impl Iterator<Item = (ParamId, &Param<F>)> {
        self.params.iter().enumerate().map(|(i, p)| (ParamId(i), p))
    }
    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut Param<F>> {
        self.params.iter_mut()
    }
    /// Total number of scalar parameters.
    pub fn numel(&self) -> usize {
        self.params.iter().map(Param::numel).sum()
    }
}

fn ndarray_shape(shape: &[usize]) -> tensor::ndarray::IxDyn {
    tensor::ndarray::IxDyn(shape)
}

/// Gradients of every parameter of a set, in the same order. A `None` entry is a zero gradient
/// that has not been materialised (so a step allocates nothing for parameters it did not touch).
#[derive(Clone, Debug)]
pub struct Grads<F> {
    pub tensors: Vec<Option<Tensor<F>>>,
}

impl<F: Float> Grads<F> {
    pub fn new(params: &ParamSet<F>) -> Self {
        Grads { tensors: vec![None; params.len()] }
    }
    pub fn get(&self, id: ParamId) -> Option<&Tensor<F>> {
        self.tensors[id.0].as_ref()
    }
    /// Adds `g` to the gradient of `id` (takes it as is when there is none yet).
    pub fn accumulate(&mut self, id: ParamId, g: Tensor<F>) {
        match &mut self.tensors[id.0] {
            Some(existing) => {
                // `+=` would broadcast a wrongly shaped gradient into the right one without a word.
                debug_assert_eq!(existing.shape(), g.shape(), "gradient of parameter {} changes shape", id.0);
                *existing += &g
            }
            slot @ None => *slot = Some(g),
        }
    }
    pub fn clear(&mut self) {
        self.tensors.iter_mut().for_each(|g| *g = None);
    }
    /// √(Σ g²) over every parameter, summed in f64 in a fixed order.
    pub fn global_norm(&self) -> f64 {
        let slices = self.tensors.iter().flatten().map(|g| g.as_slice().expect("gradients are contiguous"));
        slices.map(tensor::reduce::sum_of_squares).sum::<f64>().sqrt()
    }
    pub fn scale(&mut self, s: F) {
        self.tensors.iter_mut().flatten().for_each(|g| g.mapv_inplace(|x| x * s));
    }
}
