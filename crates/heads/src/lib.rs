//! The output strategies of the research log behind one trait, the whole model, and exact
//! parameter accounting.
//!
//! A head turns the trunk's output `H` (`[B, L, d]`, after the final LayerNorm) into logits. The
//! strategies of SPEC §1 and §4 are one file each (the causal variants are flags of `causal`); adding
//! another is a new file implementing [`Head`] and one line in the [`registry!`] call below.

pub mod accounting;
pub mod config;
pub mod model;

mod bottleneck;
mod causal;
mod conv;
mod flatten;
mod last;
pub mod rnn;
mod td_dense;
mod tied;

pub use accounting::{ParamCounts, Summary};
pub use config::{ConfigError, LossPositions, ModelConfig, Positions, BYTE_VOCAB, SPECIAL_TOKEN};
pub use model::Model;

use autograd::{Float, ParamSet, Tape, Var};
use rand_chacha::ChaCha8Rng;

/// What the registry knows of a strategy without building it.
#[derive(Clone, Copy, Debug)]
pub struct HeadSpec {
    pub name: &'static str,
    pub about: &'static str,
    /// A causal mask in every block (position t sees 0..=t). Whether the head also predicts at every
    /// position depends on its config too: see [`ModelConfig::per_position`].
    pub causal_mask: bool,
    /// Reads the output through the token embedding: the log's approximations use `L·d²` for it
    /// (unless a flag unties it: [`ModelConfig::reads_through_tok_emb`]).
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
    /// `--rnn-hidden g`
    RnnHidden,
    /// `--untied`
    Untied,
    /// `--loss-positions all|last`
    LossPositions,
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
    /// h is [B, L, d] and tok_emb is [V, d]; logits are [B, V], or [B·L, V] for a per-position
    /// model ([`ModelConfig::per_position`]).
    fn forward(&self, t: &mut Tape<'_, F>, h: Var, tok_emb: Var) -> Var;
    /// The head's layers for the summary table.
    fn layers(&self, config: &ModelConfig) -> Vec<LayerInfo>;
}

/// Registers the strategies: each entry is `module::Type`. Generates [`specs`] and [`build`].
macro_rules! registry {
    ($($module:ident :: $ty:ident),* $(,)?) => {
        /// Every registered strategy, in the order of SPEC §1 and §4.
        pub fn specs() -> Vec<HeadSpec> {
            vec![$(<$module::$ty as Head<f32>>::spec()),*]
        }

        /// Builds the head named in `config` (already validated) on its own: [`Model`] builds it
        /// after the trunk; tests check a head's gradients apart from the model.
        pub fn build<F: Float>(config: &ModelConfig, params: &mut ParamSet<F>, rng: &mut ChaCha8Rng) -> Box<dyn Head<F>> {
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
    rnn::Rnn,
    last::Last,
}

/// The spec of a registered head.
pub fn spec(name: &str) -> Option<HeadSpec> {
    specs().into_iter().find(|s| s.name == name)
}

/// Names of every registered head.
pub fn head_names() -> Vec<&'static str> {
    specs().iter().map(|s| s.name).collect()
}
