//! `rnn`: the log's other "alien" (SPEC §4). A GRU reads H position by position, 0..L−1, from
//! h_0 = 0; its last state goes through Linear(g, V). Like `conv` it is a small head that still sees
//! every position, but in order, with a state of g numbers instead of an `L·d`-wide matrix.
//!
//! The GRU is composed from tape ops (one linear for the input side of every position, then per
//! step a linear on h, slices, sigmoid, tanh, mul and add) rather than a fused kernel with a
//! hand-written backward through time: every piece already has a gradient rule checked on its own,
//! so the recurrence needs no rule of its own and cannot get one wrong. The price is ~15 tape nodes
//! per position and a slice backward that writes a full `[B, L, 3g]` gradient per step: small next
//! to the blocks at the presets' sizes (L ≤ 128), and a fused kernel can replace it if a profile
//! ever says otherwise.

use crate::{Head, HeadSpec, LayerInfo, ModelConfig, Own};
use autograd::{Float, ParamId, ParamSet, Tape, Var};
use layers::{Linear, INIT_STD};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// A one-layer GRU with PyTorch's layout: `weight_ih` `[3g, d]`, `weight_hh` `[3g, g]`, `bias_ih`
/// and `bias_hh` `[3g]`, the gates stacked in the order r, z, n.
pub struct Gru {
    pub w_ih: ParamId,
    pub w_hh: ParamId,
    pub b_ih: ParamId,
    pub b_hh: ParamId,
    pub hidden: usize,
}

impl Gru {
    /// Every tensor uniform(−1/√g, 1/√g), as `torch.nn.GRU` initialises them (SPEC §4).
    pub fn new<F: Float>(
        params: &mut ParamSet<F>,
        name: &str,
        input: usize,
        hidden: usize,
        rng: &mut impl Rng,
    ) -> Self {
        let k = 1.0 / (hidden as f64).sqrt();
        let (g3, n) = (3 * hidden, name);
        let w_ih = params.add_uniform(format!("{n}.weight_ih"), &[g3, input], k, true, rng);
        let w_hh = params.add_uniform(format!("{n}.weight_hh"), &[g3, hidden], k, true, rng);
        let b_ih = params.add_uniform(format!("{n}.bias_ih"), &[g3], k, false, rng);
        let b_hh = params.add_uniform(format!("{n}.bias_hh"), &[g3], k, false, rng);
        Gru { w_ih, w_hh, b_ih, b_hh, hidden }
    }
    // x is [B, L, d] → the last state [B, g]
    pub fn forward<F: Float>(&self, t: &mut Tape<'_, F>, x: Var) -> Var {
        let [w_ih, w_hh, b_ih, b_hh] = [self.w_ih, self.w_hh, self.b_ih, self.b_hh].map(|p| t.param(p));
        gru_last_state(t, x, w_ih, w_hh, b_ih, b_hh)
    }
}

/// The GRU over x `[B, L, d]` from h_0 = 0; returns its last state `[B, g]`. PyTorch's equations:
///
/// ```text
/// r = σ(W_ir x + b_ir + W_hr h + b_hr)
/// z = σ(W_iz x + b_iz + W_hz h + b_hz)
/// n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))
/// h' = (1 − z) ⊙ n + z ⊙ h
/// ```
pub fn gru_last_state<F: Float>(t: &mut Tape<'_, F>, x: Var, w_ih: Var, w_hh: Var, b_ih: Var, b_hh: Var) -> Var {
    let s = t.shape(x).to_vec();
    let (b, l, g) = (s[0], s[1], t.shape(w_hh)[1]);
    assert!(s.len() == 3 && t.shape(w_ih) == [3 * g, s[2]], "gru: input {s:?}, weight_ih {:?}", t.shape(w_ih));
    // The input side does not depend on h: one product for every position, [B, L, 3g].
    let gi = t.linear(x, w_ih, Some(b_ih));
    let mut h = t.input(tensor::zeros(&[b, g]));
    for step in 0..l {
        let gi_t = t.slice(gi, 1, step, 1);
        let gi_t = t.reshape(gi_t, &[b, 3 * g]);
        let gh = t.linear(h, w_hh, Some(b_hh));
        h = gru_cell(t, gi_t, gh, h, g);
    }
    h
}

/// One step: gi and gh are the input and hidden sides `[B, 3g]` (r, z, n), h the state `[B, g]`.
fn gru_cell<F: Float>(t: &mut Tape<'_, F>, gi: Var, gh: Var, h: Var, g: usize) -> Var {
    // r and z add their two sides before the sigmoid: one op for both gates.
    let (rz_i, rz_h) = (t.slice(gi, 1, 0, 2 * g), t.slice(gh, 1, 0, 2 * g));
    let rz = t.add(rz_i, rz_h);
    let rz = t.sigmoid(rz);
    let (r, z) = (t.slice(rz, 1, 0, g), t.slice(rz, 1, g, g));
    // r gates only the hidden side of n, bias included (PyTorch's GRU, not the original paper's).
    let (n_i, n_h) = (t.slice(gi, 1, 2 * g, g), t.slice(gh, 1, 2 * g, g));
    let rn = t.mul(r, n_h);
    let n = t.add(n_i, rn);
    let n = t.tanh(n);
    // (1 − z) ⊙ n + z ⊙ h = n + z ⊙ (h − n): no constant 1 on the tape.
    let h_minus_n = t.sub(h, n);
    let step = t.mul(z, h_minus_n);
    t.add(n, step)
}

pub struct Rnn {
    gru: Gru,
    out: Linear,
}

impl<F: Float> Head<F> for Rnn {
    fn spec() -> HeadSpec {
        HeadSpec {
            name: "rnn",
            about: "a GRU over H's positions → its last state → Linear(g, V): the log's other \"alien\"",
            causal_mask: false,
            // Its output matrix is its own (g·V), not tok_emb: the log's untied formula applies.
            tied: false,
            formula: |c| {
                let (d, g, v) = (c.d_model, c.rnn_hidden_size(), c.vocab_size);
                3 * (d * g + g * g + 2 * g) + g * v + v
            },
            own: &[Own::RnnHidden],
        }
    }
    fn build(c: &ModelConfig, params: &mut ParamSet<F>, rng: &mut ChaCha8Rng) -> Self {
        let g = c.rnn_hidden_size();
        let gru = Gru::new(params, "head.gru", c.d_model, g, rng);
        let out = Linear::new(params, "head.out", g, c.vocab_size, INIT_STD, rng);
        Rnn { gru, out }
    }
    // h is [B, L, d] → the GRU's last state [B, g] → logits [B, V]
    fn forward(&self, t: &mut Tape<'_, F>, h: Var, _tok_emb: Var) -> Var {
        let state = self.gru.forward(t, h);
        self.out.forward(t, state)
    }
    fn layers(&self, c: &ModelConfig) -> Vec<LayerInfo> {
        vec![
            LayerInfo::new("head.gru", "GRU(last state)", vec![self.gru.hidden]),
            LayerInfo::new("head.out", "Linear", vec![c.vocab_size]),
        ]
    }
}
