//! `conv`: the log's "alien" (idea 7). Conv1d over the sequence, d → d/r channels, kernel K with zero
//! "same" padding, then flatten → Linear(L·d/r, V). With K = 1 it is exactly td-dense.

use crate::{Head, HeadSpec, LayerInfo, ModelConfig, Own};
use autograd::{Float, ParamSet, Tape, Var};
use layers::{Conv1d, Linear, INIT_STD};
use rand_chacha::ChaCha8Rng;

pub struct Conv {
    conv: Conv1d,
    out: Linear,
}

impl<F: Float> Head<F> for Conv {
    fn spec() -> HeadSpec {
        HeadSpec {
            name: "conv",
            about: "Conv1d(d → d/r, kernel K, same padding) → flatten → Linear(L·d/r, V): the log's \"alien\"",
            causal_mask: false,
            tied: false,
            formula: |c| {
                c.kernel * c.d_model * c.reduced()
                    + c.reduced()
                    + c.seq_length * c.reduced() * c.vocab_size
                    + c.vocab_size
            },
            own: &[Own::Reduce, Own::Kernel],
        }
    }
    fn build(c: &ModelConfig, params: &mut ParamSet<F>, rng: &mut ChaCha8Rng) -> Self {
        let conv = Conv1d::new(params, "head.conv", c.d_model, c.reduced(), c.kernel, rng);
        let out = Linear::new(params, "head.out", c.seq_length * c.reduced(), c.vocab_size, INIT_STD, rng);
        Conv { conv, out }
    }
    // h is [B, L, d] → [B, L, d/r] → [B, L·d/r] → logits [B, V]
    fn forward(&self, t: &mut Tape<'_, F>, h: Var, _tok_emb: Var) -> Var {
        let b = t.shape(h)[0];
        let z = self.conv.forward(t, h);
        let flat = t.reshape(z, &[b, self.out.inp]);
        self.out.forward(t, flat)
    }
    fn layers(&self, c: &ModelConfig) -> Vec<LayerInfo> {
        vec![
            LayerInfo::new("head.conv", "Conv1d", vec![c.seq_length, c.reduced()]),
            LayerInfo::new("head.flatten", "Flatten", vec![c.seq_length * c.reduced()]),
            LayerInfo::new("head.out", "Linear", vec![c.vocab_size]),
        ]
    }
}
