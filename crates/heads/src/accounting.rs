//! Exact parameter accounting, beside the research log's approximations.
//!
//! Groups (SPEC §1): `embeddings` (tok_emb, pos_emb), `blocks` (every block and ln_f), `head`. A tied
//! tensor exists once in the parameter set, so it is counted once, in `embeddings`.

use crate::{ConfigError, Model, ModelConfig};
use autograd::ParamSet;
use serde::{Deserialize, Serialize};

/// Parameter counts by group.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParamCounts {
    pub embeddings: u64,
    pub blocks: u64,
    pub head: u64,
    pub total: u64,
}

/// The group a parameter belongs to, from its SPEC name.
pub fn group_of(name: &str) -> &'static str {
    if name.starts_with("tok_emb.") || name.starts_with("pos_emb.") {
        "embeddings"
    } else if name.starts_with("head.") {
        "head"
    } else {
        "blocks"
    }
}

impl ParamCounts {
    pub fn of<F: tensor::Float>(params: &ParamSet<F>) -> Self {
        let mut c = ParamCounts { embeddings: 0, blocks: 0, head: 0, total: 0 };
        for (_, p) in params.iter() {
            let n = p.numel() as u64;
            match group_of(&p.name) {
                "embeddings" => c.embeddings += n,
                "head" => c.head += n,
                _ => c.blocks += n,
            }
            c.total += n;
        }
        c
    }
    /// blocks / head, or None when the head has no parameters.
    pub fn ratio(&self) -> Option<f64> {
        (self.head > 0).then(|| self.blocks as f64 / self.head as f64)
    }
}

/// The log's formulas: `n_params_blocks ≈ 4·N·d²`, `n_params_dense ≈ L·d·V` (untied) or `L·d²`
/// (tied), `ratio ≈ 4·N·d/(L·V)` or `4·N/L`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct LogApprox {
    pub n_params_blocks: u64,
    pub n_params_dense: u64,
    pub ratio: f64,
}

impl LogApprox {
    pub fn of(c: &ModelConfig, tied: bool) -> Self {
        let (l, d, n, v) = (c.seq_length as u64, c.d_model as u64, c.num_blocks as u64, c.vocab_size as u64);
        let n_params_blocks = 4 * n * d * d;
        let n_params_dense = if tied { l * d * d } else { l * d * v };
        LogApprox { n_params_blocks, n_params_dense, ratio: n_params_blocks as f64 / n_params_dense as f64 }
    }
}

/// One row of the summary table.
#[derive(Clone, Debug, Serialize)]
pub struct LayerRow {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    /// With `null` for the batch axis, as Keras prints `None`.
    pub output_shape: Vec<Option<usize>>,
    pub params: u64,
}

/// Where the exact block count parts from the log's `4·N·d²`, term by term.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct BlockBreakdown {
    /// q, k, v and o: 4·N·d² (the log counted 3 of them).
    pub attention_weights: u64,
    /// fc1 and fc2: 2·N·d·F (the log counted d² for the feed-forward).
    pub ffn_weights: u64,
    /// Every Linear bias of the blocks: N·(4d + F + d).
    pub biases: u64,
    /// ln1, ln2 per block and ln_f: 4·N·d + 2d.
    pub layer_norms: u64,
}

/// Everything counted about a model: its parameters by group and by layer, beside the log's
/// formulas. `train::summary` renders it as a table, with notes on where the two differ.
#[derive(Clone, Debug, Serialize)]
pub struct Accounting {
    pub config: ModelConfig,
    pub head: crate::HeadKind,
    pub params: ParamCounts,
    pub ratio: Option<f64>,
    pub approx: LogApprox,
    pub blocks_breakdown: BlockBreakdown,
    pub layers: Vec<LayerRow>,
}

/// 1234567 → "1,234,567". (With [`fmt_ratio`], how counts and ratios are written everywhere;
/// `train::summary` renders with them, and so does `train::study`.)
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

/// A ratio as "0.0131 (1/76.3)".
pub fn fmt_ratio(r: f64) -> String {
    if r == 0.0 {
        "0".into()
    } else if r < 1.0 {
        format!("{r:.4} (1/{:.1})", 1.0 / r)
    } else {
        format!("{r:.2}")
    }
}

impl Accounting {
    /// The accounting of a configuration, computed from the model's own constructor with shapes only
    /// (so a GPT-2 summary allocates nothing).
    pub fn of(config: &ModelConfig) -> Result<Accounting, ConfigError> {
        let (model, params) = Model::<f32>::shapes_only(config)?;
        let counts = ParamCounts::of(&params);
        let layers = model
            .layers()
            .into_iter()
            .map(|info| {
                let prefix = format!("{}.", info.name);
                let n: usize = params
                    .iter()
                    .filter(|(_, p)| p.name == info.name || p.name.starts_with(&prefix))
                    .map(|(_, p)| p.numel())
                    .sum();
                let mut shape = vec![None];
                shape.extend(info.output_shape.iter().map(|&s| Some(s)));
                LayerRow { name: info.name, kind: info.kind.to_string(), output_shape: shape, params: n as u64 }
            })
            .collect();
        let approx = LogApprox::of(config, config.reads_through_tok_emb());
        let (d, f, n) = (config.d_model as u64, config.d_ff as u64, config.num_blocks as u64);
        let breakdown = BlockBreakdown {
            attention_weights: 4 * n * d * d,
            ffn_weights: 2 * n * d * f,
            biases: n * (4 * d + f + d),
            layer_norms: 4 * n * d + 2 * d,
        };
        Ok(Accounting {
            config: config.clone(),
            head: config.head,
            ratio: counts.ratio(),
            params: counts,
            approx,
            blocks_breakdown: breakdown,
            layers,
        })
    }
}
