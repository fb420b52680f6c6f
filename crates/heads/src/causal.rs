//! `causal`: what GPT-2 really does, and the answer to the log's open question. Every position t
//! predicts byte t+1 from positions 0..=t (a causal mask in every block), through the tied token
//! embedding: logits_t = H_t·tok_embᵀ (+ an optional bias). The head owns no matrix at all, so the
//! `L·d·V` (or `L·d²`) term the log computed for GPT-2 does not exist.

use crate::{Head, HeadSpec, LayerInfo, ModelConfig, Own};
use autograd::{Float, ParamId, ParamSet, Tape, Var};
use rand_chacha::ChaCha8Rng;

pub struct Causal {
    bias: Option<ParamId>,
}

impl<F: Float> Head<F> for Causal {
    fn spec() -> HeadSpec {
        HeadSpec {
            name: "causal",
            about: "per-position H_t·tok_embᵀ with a causal mask: what GPT-2 really does",
            per_position: true,
            tied: true,
            formula: |c| if c.output_bias { c.vocab_size } else { 0 },
            own: &[Own::OutputBias],
        }
    }
    fn build(c: &ModelConfig, params: &mut ParamSet<F>, _rng: &mut ChaCha8Rng) -> Self {
        let bias = c.output_bias.then(|| params.add_constant("head.bias", &[c.vocab_size], 0.0, false));
        Causal { bias }
    }
    // h is [B, L, d] → [B·L, d] → logits [B·L, V] = H·tok_embᵀ (+ bias)
    fn forward(&self, t: &mut Tape<'_, F>, h: Var, tok_emb: Var) -> Var {
        let s = t.shape(h).to_vec();
        let rows = t.reshape(h, &[s[0] * s[1], s[2]]);
        let bias = self.bias.map(|b| t.param(b));
        t.linear(rows, tok_emb, bias)
    }
    fn layers(&self, c: &ModelConfig) -> Vec<LayerInfo> {
        let mut rows = vec![LayerInfo::new("head.logits", "TiedEmbedding(tok_emb)", vec![c.seq_length, c.vocab_size])];
        if self.bias.is_some() {
            rows.push(LayerInfo::new("head.bias", "Bias", vec![c.seq_length, c.vocab_size]));
        }
        rows
    }
}
