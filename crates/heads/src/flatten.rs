//! `flatten`: the log's baseline. flatten(H) → Linear(L·d, V). Almost every parameter of a small
//! model lands here: `L·d·V + V`.

use crate::{Head, HeadSpec, LayerInfo, ModelConfig};
use autograd::{Float, ParamSet, Tape, Var};
use layers::{Linear, INIT_STD};
use rand_chacha::ChaCha8Rng;

pub struct Flatten {
    out: Linear,
}

impl<F: Float> Head<F> for Flatten {
    fn spec() -> HeadSpec {
        HeadSpec {
            name: "flatten",
            about: "flatten(H) → Linear(L·d, V): the log's baseline",
            causal_mask: false,
            tied: false,
            formula: |c| c.seq_length * c.d_model * c.vocab_size + c.vocab_size,
            own: &[],
        }
    }
    fn build(c: &ModelConfig, params: &mut ParamSet<F>, rng: &mut ChaCha8Rng) -> Self {
        Flatten { out: Linear::new(params, "head.out", c.seq_length * c.d_model, c.vocab_size, INIT_STD, rng) }
    }
    // h is [B, L, d] → [B, L·d] → logits [B, V]
    fn forward(&self, t: &mut Tape<'_, F>, h: Var, _tok_emb: Var) -> Var {
        let b = t.shape(h)[0];
        let flat = t.reshape(h, &[b, self.out.inp]);
        self.out.forward(t, flat)
    }
    fn layers(&self, c: &ModelConfig) -> Vec<LayerInfo> {
        vec![
            LayerInfo::new("head.flatten", "Flatten", vec![c.seq_length * c.d_model]),
            LayerInfo::new("head.out", "Linear", vec![c.vocab_size]),
        ]
    }
}
