//! `last`: the causal head's read-out on a window model (SPEC §4). Full attention, no mask; only
//! the last position is read, through the tied token embedding: logits = H_{L−1}·tok_embᵀ (+ an
//! optional bias). No matrix of its own, and one target per window, as every window head has: it
//! tells whether the causal head's small size or its L targets per window make the difference.

use crate::{Head, HeadSpec, LayerInfo, ModelConfig, Own};
use autograd::{Float, ParamId, ParamSet, Tape, Var};
use rand_chacha::ChaCha8Rng;

pub struct Last {
    bias: Option<ParamId>,
}

/// The last position of `h`: [B, L, d] → [B, d].
pub(crate) fn last_position<F: Float>(t: &mut Tape<'_, F>, h: Var) -> Var {
    let s = t.shape(h).to_vec();
    let last = t.slice(h, 1, s[1] - 1, 1);
    t.reshape(last, &[s[0], s[2]])
}

impl<F: Float> Head<F> for Last {
    fn spec() -> HeadSpec {
        HeadSpec {
            name: "last",
            about: "H_{L−1}·tok_embᵀ with full attention: the causal head's read-out, one target per window",
            causal_mask: false,
            // Its logits go through tok_emb: the log's tied formula is the one to set beside it.
            tied: true,
            formula: |c| if c.output_bias { c.vocab_size } else { 0 },
            own: &[Own::OutputBias],
        }
    }
    fn build(c: &ModelConfig, params: &mut ParamSet<F>, _rng: &mut ChaCha8Rng) -> Self {
        let bias = c.output_bias.then(|| params.add_constant("head.bias", &[c.vocab_size], 0.0, false));
        Last { bias }
    }
    // h is [B, L, d] → [B, d] → logits [B, V] = H_{L−1}·tok_embᵀ (+ bias)
    fn forward(&self, t: &mut Tape<'_, F>, h: Var, tok_emb: Var) -> Var {
        let rows = last_position(t, h);
        let bias = self.bias.map(|b| t.param(b));
        t.linear(rows, tok_emb, bias)
    }
    fn layers(&self, c: &ModelConfig) -> Vec<LayerInfo> {
        let mut rows = vec![
            LayerInfo::new("head.last", "LastPosition", vec![c.d_model]),
            LayerInfo::new("head.logits", "TiedEmbedding(tok_emb)", vec![c.vocab_size]),
        ];
        if self.bias.is_some() {
            rows.push(LayerInfo::new("head.bias", "Bias", vec![c.vocab_size]));
        }
        rows
    }
}
