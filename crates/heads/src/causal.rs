//! `causal`: what GPT-2 really does, and the answer to the log's open question. Every position t
//! predicts byte t+1 from positions 0..=t (a causal mask in every block), through the tied token
//! embedding: logits_t = H_t·tok_embᵀ (+ an optional bias). The head owns no matrix at all, so the
//! `L·d·V` (or `L·d²`) term the log computed for GPT-2 does not exist.
//!
//! Two variants (SPEC §4) separate what the answer rests on: `--untied` reads every position out
//! through a Linear(d, V) `head.out` of its own (`d·V + V`: still no `L·d`-wide matrix), and
//! `--loss-positions last` keeps the mask but trains on the last position's target only, the one
//! target of a window head.

use crate::last::last_position;
use crate::{Head, HeadSpec, LayerInfo, LossPositions, ModelConfig, Own};
use autograd::{Float, ParamId, ParamSet, Tape, Var};
use layers::{Linear, INIT_STD};
use rand_chacha::ChaCha8Rng;

pub struct Causal {
    /// `--output-bias`: a bias on the tied logits.
    bias: Option<ParamId>,
    /// `--untied`: the read-out matrix of its own.
    out: Option<Linear>,
    /// `--loss-positions last`: only the last position is read out.
    last_only: bool,
}

impl<F: Float> Head<F> for Causal {
    fn spec() -> HeadSpec {
        HeadSpec {
            name: "causal",
            about: "per-position H_t·tok_embᵀ with a causal mask: what GPT-2 really does",
            causal_mask: true,
            // The default reads through tok_emb; `--untied` is taken into account by
            // ModelConfig::reads_through_tok_emb, since a spec cannot see the flags.
            tied: true,
            formula: |c| match (c.untied, c.output_bias) {
                (true, _) => c.d_model * c.vocab_size + c.vocab_size,
                (false, true) => c.vocab_size,
                (false, false) => 0,
            },
            own: &[Own::OutputBias, Own::Untied, Own::LossPositions],
        }
    }
    fn build(c: &ModelConfig, params: &mut ParamSet<F>, rng: &mut ChaCha8Rng) -> Self {
        let bias = c.output_bias.then(|| params.add_constant("head.bias", &[c.vocab_size], 0.0, false));
        let out = c.untied.then(|| Linear::new(params, "head.out", c.d_model, c.vocab_size, INIT_STD, rng));
        Causal { bias, out, last_only: c.loss_positions == LossPositions::Last }
    }
    // h is [B, L, d] → rows [B·L, d] (or [B, d], the last position) → logits [B·L, V] (or [B, V])
    fn forward(&self, t: &mut Tape<'_, F>, h: Var, tok_emb: Var) -> Var {
        let rows = if self.last_only {
            last_position(t, h)
        } else {
            let s = t.shape(h).to_vec();
            t.reshape(h, &[s[0] * s[1], s[2]])
        };
        match &self.out {
            Some(out) => out.forward(t, rows),
            None => {
                let bias = self.bias.map(|b| t.param(b));
                t.linear(rows, tok_emb, bias)
            }
        }
    }
    fn layers(&self, c: &ModelConfig) -> Vec<LayerInfo> {
        let mut rows = Vec::new();
        let logits = if self.last_only {
            rows.push(LayerInfo::new("head.last", "LastPosition", vec![c.d_model]));
            vec![c.vocab_size]
        } else {
            vec![c.seq_length, c.vocab_size]
        };
        if self.out.is_some() {
            rows.push(LayerInfo::new("head.out", "Linear", logits));
            return rows;
        }
        rows.push(LayerInfo::new("head.logits", "TiedEmbedding(tok_emb)", logits.clone()));
        if self.bias.is_some() {
            rows.push(LayerInfo::new("head.bias", "Bias", logits));
        }
        rows
    }
}
