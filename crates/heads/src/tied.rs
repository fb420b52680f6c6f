//! `tied`: the log's reading of GPT-2. flatten(H) → Linear(L·d, d) gives one d-vector z per window;
//! logits = z·tok_embᵀ through the very tensor that embeds the input. Head: `L·d·d + d`.

use crate::{Head, HeadSpec, LayerInfo, ModelConfig};
use autograd::{Float, ParamSet, Tape, Var};
use layers::{Linear, INIT_STD};
use rand_chacha::ChaCha8Rng;

pub struct Tied {
    proj: Linear,
}

impl<F: Float> Head<F> for Tied {
    fn spec() -> HeadSpec {
        HeadSpec {
            name: "tied",
            about: "flatten(H) → Linear(L·d, d) → z·tok_embᵀ: the log's reading of GPT-2",
            causal_mask: false,
            tied: true,
            formula: |c| c.seq_length * c.d_model * c.d_model + c.d_model,
            own: &[],
        }
    }
    fn build(c: &ModelConfig, params: &mut ParamSet<F>, rng: &mut ChaCha8Rng) -> Self {
        Tied { proj: Linear::new(params, "head.proj", c.seq_length * c.d_model, c.d_model, INIT_STD, rng) }
    }
    // h is [B, L, d] → [B, L·d] → z [B, d] → logits [B, V] = z·tok_embᵀ
    fn forward(&self, t: &mut Tape<'_, F>, h: Var, tok_emb: Var) -> Var {
        let b = t.shape(h)[0];
        let flat = t.reshape(h, &[b, self.proj.inp]);
        let z = self.proj.forward(t, flat);
        // tok_emb is [V, d]: read as the weight of a Linear(d, V) with no bias.
        t.linear(z, tok_emb, None)
    }
    fn layers(&self, c: &ModelConfig) -> Vec<LayerInfo> {
        vec![
            LayerInfo::new("head.flatten", "Flatten", vec![c.seq_length * c.d_model]),
            LayerInfo::new("head.proj", "Linear", vec![c.d_model]),
            LayerInfo::new("head.logits", "TiedEmbedding(tok_emb)", vec![c.vocab_size]),
        ]
    }
}
