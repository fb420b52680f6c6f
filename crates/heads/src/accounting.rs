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

/// Everything `overfit summary` prints.
#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    pub config: ModelConfig,
    pub head: crate::HeadKind,
    pub params: ParamCounts,
    pub ratio: Option<f64>,
    pub approx: LogApprox,
    pub blocks_breakdown: BlockBreakdown,
    pub layers: Vec<LayerRow>,
    /// Plain-language notes on where the exact figures and the log's formulas differ.
    pub explain: Vec<String>,
}

/// 1234567 → "1,234,567".
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

impl Summary {
    /// The summary of a configuration, computed from the model's own constructor with shapes only
    /// (so a GPT-2 summary allocates nothing).
    pub fn of(config: &ModelConfig) -> Result<Summary, ConfigError> {
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
        let tied = config.reads_through_tok_emb();
        let approx = LogApprox::of(config, tied);
        let (d, f, n) = (config.d_model as u64, config.d_ff as u64, config.num_blocks as u64);
        let breakdown = BlockBreakdown {
            attention_weights: 4 * n * d * d,
            ffn_weights: 2 * n * d * f,
            biases: n * (4 * d + f + d),
            layer_norms: 4 * n * d + 2 * d,
        };
        let explain = explain(config, &counts, &approx, &breakdown, tied);
        Ok(Summary {
            config: config.clone(),
            head: config.head,
            ratio: counts.ratio(),
            params: counts,
            approx,
            blocks_breakdown: breakdown,
            layers,
            explain,
        })
    }

    /// The Keras-style table, group totals, ratio, approximations and notes.
    pub fn table(&self) -> String {
        let w = (self.layers.iter().map(|r| r.name.len() + r.kind.len() + 3).max().unwrap_or(20) + 2).max(30);
        let line = |c: char| c.to_string().repeat(w + 40);
        let mut s = String::new();
        s.push_str(&format!(
            "Model: head {}{}, L={} d={} N={} h={} F={} V={}\n",
            self.head,
            head_flags(&self.config),
            self.config.seq_length,
            self.config.d_model,
            self.config.num_blocks,
            self.config.num_heads,
            self.config.d_ff,
            self.config.vocab_size
        ));
        s.push_str(&line('_'));
        s.push('\n');
        s.push_str(&format!(" {:<w$} {:<24} {:>13}\n", "Layer (type)", "Output Shape", "Param #"));
        s.push_str(&line('='));
        s.push('\n');
        for r in &self.layers {
            let shape: Vec<String> =
                r.output_shape.iter().map(|d| d.map_or("None".to_string(), |d| d.to_string())).collect();
            s.push_str(&format!(
                " {:<w$} {:<24} {:>13}\n",
                format!("{} ({})", r.name, r.kind),
                format!("({})", shape.join(", ")),
                thousands(r.params)
            ));
        }
        s.push_str(&line('='));
        s.push('\n');
        let p = &self.params;
        s.push_str(&format!("Total params: {}\n", thousands(p.total)));
        s.push_str(&format!(
            "  embeddings: {}   blocks: {}   head: {}\n",
            thousands(p.embeddings),
            thousands(p.blocks),
            thousands(p.head)
        ));
        s.push_str(&format!(
            "  ratio blocks/head: {}\n",
            self.ratio.map_or("none (the head has no parameters)".to_string(), fmt_ratio)
        ));
        let a = &self.approx;
        s.push_str(&format!(
            "The log's approximations: n_params_blocks ≈ 4·N·d² = {}   n_params_dense ≈ {} = {}   ratio ≈ {} = {}\n",
            thousands(a.n_params_blocks),
            if self.is_tied_formula() { "L·d²" } else { "L·d·V" },
            thousands(a.n_params_dense),
            if self.is_tied_formula() { "4·N/L" } else { "4·N·d/(L·V)" },
            fmt_ratio(a.ratio)
        ));
        s.push_str(&line('_'));
        s.push('\n');
        for note in &self.explain {
            s.push_str(&format!("- {note}\n"));
        }
        s
    }

    fn is_tied_formula(&self) -> bool {
        self.config.reads_through_tok_emb()
    }
}

fn explain(c: &ModelConfig, p: &ParamCounts, a: &LogApprox, b: &BlockBreakdown, tied: bool) -> Vec<String> {
    let mut notes = Vec::new();
    let (d, f) = (c.d_model as u64, c.d_ff as u64);
    notes.push(format!(
        "blocks: exact {} vs the log's 4·N·d² = {} ({:.2}×). The log counts 3 attention matrices (q, k, v) and a d×d feed-forward; \
         the model has 4 attention matrices (q, k, v, o: {}), a feed-forward of 2·d·F = {}·d² per block ({}), biases ({}) and LayerNorms ({}).",
        thousands(p.blocks),
        thousands(a.n_params_blocks),
        p.blocks as f64 / a.n_params_blocks.max(1) as f64,
        thousands(b.attention_weights),
        fmt_num(2.0 * f as f64 / d as f64),
        thousands(b.ffn_weights),
        thousands(b.biases),
        thousands(b.layer_norms),
    ));
    notes.push(head_note(c, p, a, tied));
    notes.extend(log_arithmetic(c, p));
    if let Some(r) = p.ratio() {
        notes.push(format!(
            "ratio: exact {} vs the log's {}: the blocks are undercounted by the log's formula, the head is not.",
            fmt_ratio(r),
            fmt_ratio(a.ratio)
        ));
    }
    notes
}

/// The head's own switches and sizes, as flags (" --untied --loss-positions last"), for the title.
fn head_flags(c: &ModelConfig) -> String {
    let own = c.head.spec().own;
    let mut s = String::new();
    if own.contains(&crate::Own::RnnHidden) {
        s += &format!(" --rnn-hidden {}", c.rnn_hidden_size());
    }
    if own.contains(&crate::Own::Untied) && c.untied {
        s += " --untied";
    }
    if own.contains(&crate::Own::LossPositions) && c.loss_positions != crate::LossPositions::All {
        s += &format!(" --loss-positions {}", c.loss_positions);
    }
    if own.contains(&crate::Own::OutputBias) && c.output_bias {
        s += " --output-bias";
    }
    s
}

/// The head's exact count beside the log's dense-layer formula.
fn head_note(c: &ModelConfig, p: &ParamCounts, a: &LogApprox, tied: bool) -> String {
    let (l, d, v) = (c.seq_length as u64, c.d_model as u64, c.vocab_size as u64);
    // The heads that read out position by position (causal and its variants, last) have no
    // L·d-wide matrix: the log's formulas count one that is not there.
    let per_row = c.head.spec().causal_mask || c.head == crate::HeadKind::Last;
    if per_row && tied {
        format!(
            "head: exact {} vs the log's tied estimate L·d² = {} (and its untied L·d·V = {}). Reading H_t out through \
             the tied embedding needs no L·d-wide matrix at all: this is why GPT-2 is far smaller than the log's formulas say.",
            thousands(p.head),
            thousands(a.n_params_dense),
            thousands(l * d * v)
        )
    } else if per_row {
        format!(
            "head: exact {} vs the log's L·d·V = {}: one Linear(d, V) shared by every position, not one per position.",
            thousands(p.head),
            thousands(a.n_params_dense)
        )
    } else if c.head == crate::HeadKind::Flatten || tied {
        let formula = if tied { "L·d²" } else { "L·d·V" };
        format!(
            "head: exact {} vs the log's {formula} = {}: the difference is the head's bias.",
            thousands(p.head),
            thousands(a.n_params_dense)
        )
    } else {
        format!(
            "head: exact {} vs the log's L·d·V = {} (the flatten head's formula): this head is {:.1}× smaller.",
            thousands(p.head),
            thousands(a.n_params_dense),
            a.n_params_dense as f64 / p.head.max(1) as f64
        )
    }
}

fn fmt_num(x: f64) -> String {
    if x.fract() == 0.0 {
        format!("{x:.0}")
    } else {
        format!("{x:.2}")
    }
}

/// The research log's own figures for GPT-2 (full size) and CTRL, checked against the exact model.
fn log_arithmetic(c: &ModelConfig, p: &ParamCounts) -> Vec<String> {
    let is = |name: &str| ModelConfig::preset(name).is_ok_and(|preset| &preset == c);
    if is("gpt2-xl") {
        vec![format!(
            "the log's GPT-2 arithmetic: n_params_dense = L·d·V = 82G and n_params_blocks = 4·N·d² = 491M. Exact: the head has {} \
             parameters and the blocks {}, 3× the log's figure: a block has 12·d² weights (q, k, v, o and a feed-forward of \
             width 4d), not 4·d². Total {} (the published 1.5B).",
            thousands(p.head),
            thousands(p.blocks),
            thousands(p.total)
        )]
    } else if is("ctrl") {
        let (l, d, n, v) = (c.seq_length as u64, c.d_model as u64, c.num_blocks as u64, c.vocab_size as u64);
        vec![format!(
            "the log's CTRL arithmetic took d_model = 8192 and seq_length = 512 (n_params_dense = 1e12, n_params_blocks = 1e10); \
             8192 is CTRL's feed-forward width d_ff. With CTRL's d_model = {d} and window {l}, the log's formulas give L·d·V = {} and \
             4·N·d² = {}. Exact: blocks {}, head {} (the output bias), total {} (the published 1.6B).",
            thousands(l * d * v),
            thousands(4 * n * d * d),
            thousands(p.blocks),
            thousands(p.head),
            thousands(p.total)
        )]
    } else {
        Vec::new()
    }
}
