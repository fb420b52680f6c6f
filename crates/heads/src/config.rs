//! The model configuration, the SPEC's presets, and validation with messages that name the flag.

use crate::{HeadKind, Own};
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Positional embeddings: learned (default) or fixed sinusoids with no parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Positions {
    #[default]
    Learned,
    Sinusoidal,
}

impl std::fmt::Display for Positions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Positions::Learned => "learned",
            Positions::Sinusoidal => "sinusoidal",
        })
    }
}

/// The positions a causal head is trained on (SPEC §4): every one (`all`, GPT-2's way) or the
/// last one only (`last`, the window heads' single target, read through the causal model).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LossPositions {
    #[default]
    All,
    Last,
}

impl std::fmt::Display for LossPositions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            LossPositions::All => "all",
            LossPositions::Last => "last",
        })
    }
}

/// Every hyperparameter that fixes the model's shape (SPEC §1). Field names are the flags' names
/// with underscores; unknown fields in a config file are an error, not silently ignored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModelConfig {
    pub vocab_size: usize,
    pub seq_length: usize,
    pub d_model: usize,
    pub num_blocks: usize,
    pub num_heads: usize,
    pub d_ff: usize,
    pub head: HeadKind,
    /// k of the `bottleneck` head.
    pub bottleneck: usize,
    /// r of the `td-dense` and `conv` heads (d_model → d_model/r).
    pub reduce: usize,
    /// K of the `conv` head (odd).
    pub kernel: usize,
    pub positions: Positions,
    /// A bias on the `causal` or `last` head's logits (CTRL has one).
    pub output_bias: bool,
    /// g, the hidden size of the `rnn` head's GRU. `None` (JSON `null`) means d_model, SPEC §4's
    /// default, resolved when the model is built: so `--d-model 32 --head rnn` gets g = 32 and a
    /// sweep over d_model keeps g = d, where a number filled in from the preset would not follow.
    pub rnn_hidden: Option<usize>,
    /// The `causal` head reads out through its own Linear(d, V) `head.out` instead of tok_embᵀ.
    pub untied: bool,
    /// The positions the `causal` head is trained on.
    pub loss_positions: LossPositions,
}

impl Default for ModelConfig {
    /// The default preset, seed-id4.
    fn default() -> Self {
        ModelConfig::preset(DEFAULT_PRESET).expect("the default preset exists")
    }
}

/// A named configuration from SPEC §1.
#[derive(Clone, Debug)]
pub struct Preset {
    pub name: &'static str,
    pub about: &'static str,
    pub config: ModelConfig,
}

/// Largest accepted size of any one dimension: keeps every parameter formula inside 64 bits.
pub const MAX_DIM: usize = 1 << 20;

/// The byte vocabulary: 256 byte values and one special token (id 256).
pub const BYTE_VOCAB: usize = 257;
/// The special token: padding, or the start of a text.
pub const SPECIAL_TOKEN: u32 = 256;

fn base(l: usize, d: usize, n: usize, h: usize, f: usize, v: usize, head: HeadKind) -> ModelConfig {
    ModelConfig {
        vocab_size: v,
        seq_length: l,
        d_model: d,
        num_blocks: n,
        num_heads: h,
        d_ff: f,
        head,
        bottleneck: 16,
        reduce: 8,
        kernel: 3,
        positions: Positions::Learned,
        output_bias: false,
        rnn_hidden: None,
        untied: false,
        loss_positions: LossPositions::All,
    }
}

/// The presets of SPEC §1, in the order `--help` lists them.
pub fn presets() -> Vec<Preset> {
    let gpt2 = |d: usize, n: usize, h: usize| base(1024, d, n, h, 4 * d, 50257, HeadKind::Causal);
    vec![
        Preset {
            name: "seed-id4",
            about: "the research log's run id 4 (default)",
            config: base(32, 16, 1, 2, 16, BYTE_VOCAB, HeadKind::Flatten),
        },
        Preset {
            name: "small",
            about: "a small byte model",
            config: base(64, 64, 2, 4, 256, BYTE_VOCAB, HeadKind::Flatten),
        },
        Preset {
            name: "medium",
            about: "a medium byte model",
            config: base(128, 128, 4, 4, 512, BYTE_VOCAB, HeadKind::Flatten),
        },
        Preset { name: "gpt2-small", about: "GPT-2 124M (published count)", config: gpt2(768, 12, 12) },
        Preset { name: "gpt2-medium", about: "GPT-2 355M (published count)", config: gpt2(1024, 24, 16) },
        Preset { name: "gpt2-large", about: "GPT-2 774M (published count)", config: gpt2(1280, 36, 20) },
        Preset { name: "gpt2-xl", about: "GPT-2 1.5B (published count)", config: gpt2(1600, 48, 25) },
        Preset {
            name: "ctrl",
            about: "CTRL 1.6B (published count)",
            config: ModelConfig {
                positions: Positions::Sinusoidal,
                output_bias: true,
                ..base(256, 1280, 48, 16, 8192, 246534, HeadKind::Causal)
            },
        },
    ]
}

/// The default preset's name.
pub const DEFAULT_PRESET: &str = "seed-id4";

/// What is wrong with a configuration, naming the flag and saying what is allowed.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ConfigError {
    #[error("{flag}: {message}")]
    Invalid { flag: &'static str, message: String },
    /// `allowed`: a tip when the name is a typo, and the presets.
    #[error("--preset: unknown preset '{name}'; {allowed}")]
    UnknownPreset { name: String, allowed: String },
    /// `allowed`: the tip and the list of heads ([`crate::unknown_head_help`]).
    #[error("--head: unknown head '{name}'; {allowed}")]
    UnknownHead { name: String, allowed: String },
}

fn invalid(flag: &'static str, message: String) -> ConfigError {
    ConfigError::Invalid { flag, message }
}

/// The divisors of n, abridged when there are many: the allowed values of `--num-heads` or `--reduce`.
pub fn divisors(n: usize) -> String {
    let ds: Vec<String> = (1..=n).filter(|k| n.is_multiple_of(*k)).map(|k| k.to_string()).collect();
    if ds.len() > 12 {
        format!("{} … {}", ds[..6].join(", "), ds[ds.len() - 3..].join(", "))
    } else {
        ds.join(", ")
    }
}

impl ModelConfig {
    /// The configuration of a preset.
    pub fn preset(name: &str) -> Result<ModelConfig, ConfigError> {
        presets().into_iter().find(|p| p.name == name).map(|p| p.config).ok_or_else(|| {
            let names: Vec<&str> = presets().iter().map(|p| p.name).collect();
            let tip = crate::words::did_you_mean(name, &names);
            ConfigError::UnknownPreset {
                name: name.to_string(),
                allowed: format!("{tip}allowed: {}", names.join(", ")),
            }
        })
    }

    /// d_model / reduce: the channels the td-dense and conv heads reduce to.
    pub fn reduced(&self) -> usize {
        self.d_model / self.reduce.max(1)
    }

    /// g of the `rnn` head: `--rnn-hidden`, or d_model when it is not given.
    pub fn rnn_hidden_size(&self) -> usize {
        self.rnn_hidden.unwrap_or(self.d_model)
    }

    /// One target per position (targets `b[i+1..i+L+1]`, logits `[B·L, V]`) rather than one per
    /// window (target `b[i+L]`, logits `[B, V]`): a causally masked head trained on every position.
    /// The mask alone does not decide it: `causal --loss-positions last` is masked, with one target.
    pub fn per_position(&self) -> bool {
        self.head.spec().causal_mask && self.loss_positions == LossPositions::All
    }

    /// Whether the logits are read through tok_embᵀ: the head's `tied`, unless `--untied` gave
    /// the causal head a matrix of its own. The log's approximations use `L·d²` for these.
    pub fn reads_through_tok_emb(&self) -> bool {
        self.head.spec().tied && !self.untied
    }

    /// Resets the flags that only some heads take (`--output-bias`, `--untied`, `--loss-positions`)
    /// when this config's head does not take them: `compare` gives each head the flags it can use.
    pub fn drop_flags_not_taken(&mut self) {
        let takes = |own| self.head.spec().own.contains(&own);
        let (bias, untied, positions) = (takes(Own::OutputBias), takes(Own::Untied), takes(Own::LossPositions));
        self.output_bias &= bias;
        self.untied &= untied;
        if !positions {
            self.loss_positions = LossPositions::All;
        }
    }

    /// Checks every constraint of SPEC §1. The first violation is returned. A head's own
    /// hyperparameters are checked only when that head is chosen (SPEC §4).
    pub fn validate(&self) -> Result<(), ConfigError> {
        let sizes: [(&'static str, usize); 6] = [
            ("--vocab-size", self.vocab_size),
            ("--seq-length", self.seq_length),
            ("--d-model", self.d_model),
            ("--num-blocks", self.num_blocks),
            ("--num-heads", self.num_heads),
            ("--d-ff", self.d_ff),
        ];
        for (flag, v) in sizes {
            check_size(flag, v)?;
        }
        if self.vocab_size < 2 {
            return Err(invalid("--vocab-size", "must be at least 2".into()));
        }
        if !self.d_model.is_multiple_of(self.num_heads) {
            return Err(invalid(
                "--num-heads",
                format!(
                    "d_model {} does not split into {} heads; allowed: a divisor of d_model ({})",
                    self.d_model,
                    self.num_heads,
                    divisors(self.d_model)
                ),
            ));
        }
        let spec = self.head.spec();
        // A switch of some heads, given to another, is an error: it would silently do nothing.
        let switches = [
            (Own::OutputBias, "--output-bias", self.output_bias),
            (Own::Untied, "--untied", self.untied),
            (Own::LossPositions, "--loss-positions", self.loss_positions != LossPositions::All),
        ];
        for (own, flag, given) in switches {
            if given && !spec.own.contains(&own) {
                let allowed: Vec<&str> =
                    crate::specs().into_iter().filter(|s| s.own.contains(&own)).map(|s| s.name).collect();
                let heads = if allowed.len() == 1 { "head" } else { "heads" };
                return Err(invalid(
                    flag,
                    format!("applies to the {} {heads} only, not '{}'", allowed.join(", "), spec.name),
                ));
            }
        }
        spec.own.iter().try_for_each(|own| self.check_own(*own))
    }

    /// The check of one head-specific hyperparameter.
    fn check_own(&self, own: Own) -> Result<(), ConfigError> {
        match own {
            Own::Bottleneck => check_size("--bottleneck", self.bottleneck),
            Own::Reduce => {
                check_size("--reduce", self.reduce)?;
                if self.reduce > self.d_model || !self.d_model.is_multiple_of(self.reduce) {
                    return Err(invalid(
                        "--reduce",
                        format!("must divide d_model {} exactly; allowed: {}", self.d_model, divisors(self.d_model)),
                    ));
                }
                Ok(())
            }
            Own::Kernel => {
                check_size("--kernel", self.kernel)?;
                if self.kernel.is_multiple_of(2) {
                    return Err(invalid(
                        "--kernel",
                        format!("must be odd (same padding of K//2 on each side), got {}", self.kernel),
                    ));
                }
                Ok(())
            }
            Own::RnnHidden => self.rnn_hidden.map_or(Ok(()), |g| check_size("--rnn-hidden", g)),
            Own::OutputBias if self.output_bias && self.untied => Err(invalid(
                "--output-bias",
                "the untied causal head's head.out Linear has a bias already; give one of --output-bias, --untied"
                    .into(),
            )),
            Own::OutputBias | Own::Untied | Own::LossPositions => Ok(()),
        }
    }
}

/// A size of 1 ..= MAX_DIM.
fn check_size(flag: &'static str, v: usize) -> Result<(), ConfigError> {
    if v == 0 {
        return Err(invalid(flag, "must be at least 1, got 0".to_string()));
    }
    if v > MAX_DIM {
        return Err(invalid(flag, format!("{v} is larger than the largest size accepted, {MAX_DIM}")));
    }
    Ok(())
}
