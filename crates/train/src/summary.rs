//! `overfit summary`: a model's parameter accounting (`heads::accounting`) rendered as a
//! Keras-style table, with plain-language notes on where the exact counts and the research log's
//! formulas part. The same table is each run folder's summary.txt.

use crate::error::Result;
use crate::settings::{self, Overrides};
use heads::accounting::{fmt_ratio, thousands, Accounting, BlockBreakdown, LogApprox, ParamCounts};
use heads::ModelConfig;
use serde::Serialize;

/// Everything `overfit summary` prints: the accounting, and the notes.
#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    #[serde(flatten)]
    pub counts: Accounting,
    /// Plain-language notes on where the exact figures and the log's formulas differ.
    pub explain: Vec<String>,
}

impl Summary {
    /// The summary of a configuration (shapes only: a GPT-2 summary allocates nothing).
    pub fn of(config: &ModelConfig) -> Result<Summary> {
        let counts = Accounting::of(config)?;
        let tied = config.reads_through_tok_emb();
        let explain = explain(config, &counts.params, &counts.approx, &counts.blocks_breakdown, tied);
        Ok(Summary { counts, explain })
    }

    /// The summary of a preset with model flags applied (`overfit summary --preset … --d-model …`).
    pub fn of_flags(preset: Option<&str>, flags: &Overrides) -> Result<Summary> {
        Summary::of(&settings::resolve_model(preset, flags)?)
    }

    /// The Keras-style table, group totals, ratio, approximations and notes.
    pub fn table(&self) -> String {
        let c = &self.counts;
        let w = (c.layers.iter().map(|r| r.name.len() + r.kind.len() + 3).max().unwrap_or(20) + 2).max(30);
        let line = |ch: char| ch.to_string().repeat(w + 40) + "\n";
        let mut s = String::new();
        s.push_str(&format!(
            "Model: head {}{}, L={} d={} N={} h={} F={} V={}\n",
            c.head,
            head_flags(&c.config),
            c.config.seq_length,
            c.config.d_model,
            c.config.num_blocks,
            c.config.num_heads,
            c.config.d_ff,
            c.config.vocab_size
        ));
        s.push_str(&line('_'));
        s.push_str(&format!(" {:<w$} {:<24} {:>13}\n", "Layer (type)", "Output Shape", "Param #"));
        s.push_str(&line('='));
        for r in &c.layers {
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
        s.push_str(&self.totals());
        s.push_str(&line('_'));
        for note in &self.explain {
            s.push_str(&format!("- {note}\n"));
        }
        s
    }

    /// The table's foot: totals by group, the ratio, and the log's approximations of them.
    fn totals(&self) -> String {
        let (p, a) = (&self.counts.params, &self.counts.approx);
        let ratio = self.counts.ratio.map_or("none (the head has no parameters)".to_string(), fmt_ratio);
        let tied = self.is_tied_formula();
        format!(
            "Total params: {}\n  embeddings: {}   blocks: {}   head: {}\n  ratio blocks/head: {ratio}\n\
             The log's approximations: n_params_blocks ≈ 4·N·d² = {}   n_params_dense ≈ {} = {}   ratio ≈ {} = {}\n",
            thousands(p.total),
            thousands(p.embeddings),
            thousands(p.blocks),
            thousands(p.head),
            thousands(a.n_params_blocks),
            if tied { "L·d²" } else { "L·d·V" },
            thousands(a.n_params_dense),
            if tied { "4·N/L" } else { "4·N·d/(L·V)" },
            fmt_ratio(a.ratio)
        )
    }

    fn is_tied_formula(&self) -> bool {
        self.counts.config.reads_through_tok_emb()
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
    if own.contains(&heads::Own::RnnHidden) {
        s += &format!(" --rnn-hidden {}", c.rnn_hidden_size());
    }
    if own.contains(&heads::Own::Untied) && c.untied {
        s += " --untied";
    }
    if own.contains(&heads::Own::LossPositions) && c.loss_positions != heads::LossPositions::All {
        s += &format!(" --loss-positions {}", c.loss_positions);
    }
    if own.contains(&heads::Own::OutputBias) && c.output_bias {
        s += " --output-bias";
    }
    s
}

/// The head's exact count beside the log's dense-layer formula.
fn head_note(c: &ModelConfig, p: &ParamCounts, a: &LogApprox, tied: bool) -> String {
    let (l, d, v) = (c.seq_length as u64, c.d_model as u64, c.vocab_size as u64);
    // The heads that read out position by position (causal and its variants, last) have no
    // L·d-wide matrix: the log's formulas count one that is not there.
    let per_row = c.head.spec().causal_mask || c.head == heads::HeadKind::Last;
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
    } else if c.head == heads::HeadKind::Flatten || tied {
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
