//! `bottleneck`: the log's run id 2. flatten(H) → Linear(L·d, k) → Linear(k, V), no activation in
//! between: every prediction must pass through k numbers (`--bottleneck`, default 16).

use crate::{Head, HeadSpec, LayerInfo, ModelConfig, Own};
use autograd::{Float, ParamSet, Tape, Var};
use layers::{Linear, INIT_STD};
use rand_chacha::ChaCha8Rng;

pub struct Bottleneck {
    down: Linear,
    out: Linear,
}

impl<F: Float> Head<F> for Bottleneck {
    fn spec() -> HeadSpec {
        HeadSpec {
            name: "bottleneck",
            about: "flatten(H) → Linear(L·d, k) → Linear(k, V): the log's run id 2",
            causal_mask: false,
            tied: false,
            formula: |c| {
                c.seq_length * c.d_model * c.bottleneck + c.bottleneck + c.bottleneck * c.vocab_size + c.vocab_size
            },
            own: &[Own::Bottleneck],
        }
    }
    fn build(c: &ModelConfig, params: &mut ParamSet<F>, rng: &mut ChaCha8Rng) -> Self {
        let down = Linear::new(params, "head.down", c.seq_length * c.d_model, c.bottleneck, INIT_STD, rng);
        let out = Linear::new(params, "head.out", c.bottleneck, c.vocab_size, INIT_STD, rng);
        Bottleneck { down, out }
    }
    // h is [B, L, d] → [B, L·d] → [B, k] → logits [B, V]
    fn forward(&self, t: &mut Tape<'_, F>, h: Var, _tok_emb: Var) -> Var {
        let b = t.shape(h)[0];
        let flat = t.reshape(h, &[b, self.down.inp]);
        let z = self.down.forward(t, flat);
        self.out.forward(t, z)
    }
    fn layers(&self, c: &ModelConfig) -> Vec<LayerInfo> {
        vec![
            LayerInfo::new("head.flatten", "Flatten", vec![c.seq_length * c.d_model]),
            LayerInfo::new("head.down", "Linear", vec![c.bottleneck]),
            LayerInfo::new("head.out", "Linear", vec![c.vocab_size]),
        ]
    }
}
