//! The output strategies of the research log behind one trait, the whole model, and exact
//! parameter accounting.
//!
//! A head turns the trunk's output `H` (`[B, L, d]`, after the final LayerNorm) into logits. The
//! strategies of SPEC §1 and §4 are one file each (the causal variants are flags of `causal`); adding
//! another is a new file implementing [`Head`] and one line in the [`registry!`] call below.

pub mod accounting;
pub mod config;
pub mod model;
pub mod words;

mod bottleneck;
mod causal;
mod conv;
mod flatten;
mod last;
pub mod rnn;
mod td_dense;
mod tied;

pub use accounting::{Accounting, ParamCounts};
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

/// Registers the strategies: each entry is `Kind => module::Type`. Generates [`HeadKind`], its
/// specs, and [`build`].
macro_rules! registry {
    ($($kind:ident => $module:ident :: $ty:ident),* $(,)?) => {
        /// A registered output strategy. Outside this crate a head is named by this type, never
        /// compared as a string; its text form (flags, JSON) is its spec's name, e.g. `td-dense`.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum HeadKind {
            $($kind),*
        }

        impl HeadKind {
            /// Every head, in the order of SPEC §1 and §4.
            pub const ALL: &'static [HeadKind] = &[$(HeadKind::$kind),*];

            /// Name, description, parameter formula and own hyperparameters.
            pub fn spec(self) -> HeadSpec {
                match self {
                    $(HeadKind::$kind => <$module::$ty as Head<f32>>::spec()),*
                }
            }
        }

        /// Builds the head of `config` (already validated) on its own: [`Model`] builds it
        /// after the trunk; tests check a head's gradients apart from the model.
        pub fn build<F: Float>(config: &ModelConfig, params: &mut ParamSet<F>, rng: &mut ChaCha8Rng) -> Box<dyn Head<F>> {
            match config.head {
                $(HeadKind::$kind => Box::new(<$module::$ty as Head<F>>::build(config, params, rng))),*
            }
        }
    };
}

registry! {
    Flatten => flatten::Flatten,
    Bottleneck => bottleneck::Bottleneck,
    TdDense => td_dense::TdDense,
    Conv => conv::Conv,
    Tied => tied::Tied,
    Causal => causal::Causal,
    Rnn => rnn::Rnn,
    Last => last::Last,
}

impl HeadKind {
    /// The name flags and files use.
    pub fn name(self) -> &'static str {
        self.spec().name
    }
}

impl std::fmt::Display for HeadKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // pad, not write_str: a table's `{:<11}` must widen a head's name like any string's.
        f.pad(self.name())
    }
}

impl std::str::FromStr for HeadKind {
    type Err = ConfigError;
    fn from_str(name: &str) -> Result<HeadKind, ConfigError> {
        HeadKind::ALL
            .iter()
            .copied()
            .find(|k| k.name() == name)
            .ok_or_else(|| ConfigError::UnknownHead { name: name.to_string(), allowed: unknown_head_help(name) })
    }
}

/// What to say of a name that is no head, without naming a flag (the caller's message does):
/// "did you mean `flatten`? heads: flatten, bottleneck, …".
pub fn unknown_head_help(name: &str) -> String {
    let names = head_names();
    format!("{}heads: {}", words::did_you_mean(name, &names), names.join(", "))
}

impl serde::Serialize for HeadKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> serde::Deserialize<'de> for HeadKind {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<HeadKind, D::Error> {
        let name = String::deserialize(d)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}

/// Every registered strategy's spec, in the order of SPEC §1 and §4.
pub fn specs() -> Vec<HeadSpec> {
    HeadKind::ALL.iter().map(|k| k.spec()).collect()
}

/// Names of every registered head.
pub fn head_names() -> Vec<&'static str> {
    HeadKind::ALL.iter().map(|k| k.name()).collect()
}
