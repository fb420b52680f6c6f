//! The output strategies of the research log behind one trait, the whole model, and exact
//! parameter accounting.
//!
//! A head turns the trunk's output `H` (`[B, L, d]`, after the final LayerNorm) into logits. The six
//! strategies of SPEC §1 are one file each; adding a seventh is a new file implementing [`Head`] and
//! one line in the [`registry!`] call below.

pub mod accounting;
pub mod config;
pub mod model;

mod bottleneck;
mod causal;
mod conv;
mod flatten;
mod td_dense;
mod tied;

pub use accounting::{ParamCounts, Summary};
pub use config::{ConfigError, ModelConfig, Positions, BYTE_VOCAB, SPECIAL_TOKEN};
pub use model::Model;

use autograd::{Float, ParamSet, Tape, Var};
use rand_chacha::ChaCha8Rng;

/// What the registry knows of a strategy without building it.
#[derive(Clone, Copy, Debug)]
pub struct HeadSpec {
    pub name: &'static str,
    pub about: &'static str,
    /// Predicts at every position (causal mask in the blocks, targets `b[i+1..i+L+1]`), instead
    /// of once per window (target `b[i+L]`).
    pub per_position: bool,
    /// Reads the output through the token embedding: the log's approximations use `L·d²` for it.
    pub tied: bool,
    /// The head's parameter count by SPEC §1's formula (tests hold the built model to it).
    pub formula: fn(&ModelConfig) -> usize,
    /// The hyperparameters of its own that it reads: only these are validated when it is chosen.
    pub own: &'static [Own],
}

/// A hyperparameter that belongs to some heads only (SPEC §4: it is validated only when one of
/// those heads is chosen, so a default `--reduce 8` never stops `--d-model 12 --head flatten`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Own {
    /// `--bottleneck k`
    Bottleneck,
    /// `--reduce r` (d_model → d_model/r)
    Reduce,
    /// `--kernel K`
    Kernel,
    /// `--output-bias`
    OutputBias,
}

/// A row of the model summary: a layer's name, kind and output shape without the batch axis.
/// Its parameter count is read off the [`ParamSet`] by name, so it cannot disagree with the model.
#[derive(Clone, Debug)]
pub struct LayerInfo {
    pub name: String,
    pub kind: &'static str,
    pub output_shape: Vec<usize>,
}

impl LayerInfo {
    pub fn new(name: &str, kind: &'static str, output_shape: Vec<usize>) -> Self {
        LayerInfo { name: name.to_string(), kind, output_shape }
    }
}

/// An output strategy.
pub trait Head<F: Float>: Send + Sync {
    /// Name, description and parameter formula.
    fn spec() -> HeadSpec
    where
        Self: Sized;
    /// Registers the head's parameters (names `head.*`) and returns it.
    fn build(config: &ModelConfig, params: &mut ParamSet<F>, rng: &mut ChaCha8Rng) -> Self
    where
        Self: Sized;
    /// h is [B, L, d] and tok_emb is [V, d]; logits are [B, V], or [B·L, V] for a per-position head.
    fn forward(&self, t: &mut Tape<'_, F>, h: Var, tok_emb: Var) -> Var;
    /// The head's layers for the summary table.
    fn layers(&self, config: &ModelConfig) -> Vec<LayerInfo>;
}

/// Registers the strategies: each entry is `module::Type`. Generates [`specs`] and [`build`].
macro_rules! registry {
    ($($module:ident :: $ty:ident),* $(,)?) => {
        /// Every registered strategy, in the order of SPEC §1.
        pub fn specs() -> Vec<HeadSpec> {
            vec![$(<$module::$ty as Head<f32>>::spec()),*]
        }

        /// Builds the head named in `config` (already validated).
        pub(crate) fn build<F: Float>(config: &ModelConfig, params: &mut ParamSet<F>, rng: &mut ChaCha8Rng) -> Box<dyn Head<F>> {
            $(
                if config.head == <$module::$ty as Head<F>>::spec().name {
                    return Box::new(<$module::$ty as Head<F>>::build(config, params, rng));
                }
            )*
            unreachable!("validate() accepts registered heads only")
        }
    };
}

registry! {
    flatten::Flatten,
    bottleneck::Bottleneck,
    td_dense::TdDense,
    conv::Conv,
    tied::Tied,
    causal::Causal,
}

/// The spec of a registered head.
pub fn spec(name: &str) -> Option<HeadSpec> {
    specs().into_iter().find(|s| s.name == name)
}

/// Names of every registered head.
pub fn head_names() -> Vec<&'static str> {
    specs().iter().map(|s| s.name).collect()
}
