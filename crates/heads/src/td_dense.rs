//! `td-dense`: the log's idea 6. A time-distributed Linear(d, d/r) at every position, then
//! flatten → Linear(L·d/r, V): the big matrix shrinks by r (`--reduce`, default 8).

use crate::{Head, HeadSpec, LayerInfo, ModelConfig, Own};
use autograd::{Float, ParamSet, Tape, Var};
use layers::{Linear, TimeDistributed, INIT_STD};
use rand_chacha::ChaCha8Rng;

pub struct TdDense {
    reduce: TimeDistributed,
    out: Linear,
}

impl<F: Float> Head<F> for TdDense {
    fn spec() -> HeadSpec {
        HeadSpec {
            name: "td-dense",
            about: "per-position Linear(d, d/r) → flatten → Linear(L·d/r, V): the log's idea 6",
            causal_mask: false,
            tied: false,
            formula: |c| {
                c.d_model * c.reduced() + c.reduced() + c.seq_length * c.reduced() * c.vocab_size + c.vocab_size
            },
            own: &[Own::Reduce],
        }
    }
    fn build(c: &ModelConfig, params: &mut ParamSet<F>, rng: &mut ChaCha8Rng) -> Self {
        let reduce = Linear::new(params, "head.reduce", c.d_model, c.reduced(), INIT_STD, rng);
        let out = Linear::new(params, "head.out", c.seq_length * c.reduced(), c.vocab_size, INIT_STD, rng);
        TdDense { reduce, out }
    }
    // h is [B, L, d] → [B, L, d/r] → [B, L·d/r] → logits [B, V]
    fn forward(&self, t: &mut Tape<'_, F>, h: Var, _tok_emb: Var) -> Var {
        let b = t.shape(h)[0];
        let z = self.reduce.forward(t, h);
        let flat = t.reshape(z, &[b, self.out.inp]);
        self.out.forward(t, flat)
    }
    fn layers(&self, c: &ModelConfig) -> Vec<LayerInfo> {
        vec![
            LayerInfo::new("head.reduce", "TimeDistributed(Linear)", vec![c.seq_length, c.reduced()]),
            LayerInfo::new("head.flatten", "Flatten", vec![c.seq_length * c.reduced()]),
            LayerInfo::new("head.out", "Linear", vec![c.vocab_size]),
        ]
    }
}
