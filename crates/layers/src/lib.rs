//! Transformer layers on the autodiff tape.
//!
//! A layer owns the [`ParamId`]s of its weights (registered under their SPEC names, e.g.
//! `blocks.0.attn.q.weight`) and nothing else: values live in the [`ParamSet`], so one layer
//! definition serves f32 training, f64 gradient checks and shape-only accounting. `forward` takes
//! the tape and the input variable and returns the output variable; shapes are in the comments.

use autograd::{Float, ParamId, ParamSet, Tape, Var};
use rand::Rng;

/// The SPEC's initialisation scale for weights: normal(0, 0.02).
pub const INIT_STD: f64 = 0.02;
/// LayerNorm epsilon (SPEC §1).
pub const LN_EPS: f64 = 1e-5;

/// A dense layer `y = x·Wᵀ + b` over the last axis, W `[out, in]`. Applied to `[B, L, d]` it acts at
/// every position with the same weights: the research log's "time-distributed dense".
#[derive(Clone, Debug)]
pub struct Linear {
    pub name: String,
    pub w: ParamId,
    pub b: ParamId,
    pub inp: usize,
    pub out: usize,
}

/// The log's time-distributed dense is a [`Linear`] applied to a `[B, L, d]` input.
pub type TimeDistributed = Linear;

impl Linear {
    /// Weight normal(0, std), bias zero.
    pub fn new<F: Float>(
        params: &mut ParamSet<F>,
        name: &str,
        inp: usize,
        out: usize,
        std: f64,
        rng: &mut impl Rng,
    ) -> Self {
        let w = params.add_normal(format!("{name}.weight"), &[out, inp], std, true, rng);
        let b = params.add_constant(format!("{name}.bias"), &[out], 0.0, false);
        Linear { name: name.to_string(), w, b, inp, out }
    }
    // x is [..., in]; y is [..., out]
    pub fn forward<F: Float>(&self, t: &mut Tape<'_, F>, x: Var) -> Var {
        let (w, b) = (t.param(self.w), t.param(self.b));
        t.linear(x, w, Some(b))
    }
}

/// Conv1d over the sequence axis: `[B, L, Cin]` → `[B, L, Cout]`, kernel K (odd), zero "same" padding.
#[derive(Clone, Debug)]
pub struct Conv1d {
    pub name: String,
    pub w: ParamId,
    pub b: ParamId,
    pub kernel: usize,
}

impl Conv1d {
    pub fn new<F: Float>(
        params: &mut ParamSet<F>,
        name: &str,
        cin: usize,
        cout: usize,
        kernel: usize,
        rng: &mut impl Rng,
    ) -> Self {
        assert!(kernel % 2 == 1, "conv kernel must be odd for same padding");
        let w = params.add_normal(format!("{name}.weight"), &[cout, cin, kernel], INIT_STD, true, rng);
        let b = params.add_constant(format!("{name}.bias"), &[cout], 0.0, false);
        Conv1d { name: name.to_string(), w, b, kernel }
    }
    // x is [B, L, Cin]; y is [B, L, Cout]
    pub fn forward<F: Float>(&self, t: &mut Tape<'_, F>, x: Var) -> Var {
        let (w, b) = (t.param(self.w), t.param(self.b));
        t.conv1d(x, w, b)
    }
}

/// LayerNorm over the last axis, weight 1 and bias 0 at init, eps 1e-5.
#[derive(Clone, Debug)]
pub struct LayerNorm {
    pub name: String,
    pub w: ParamId,
    pub b: ParamId,
}

impl LayerNorm {
    pub fn new<F: Float>(params: &mut ParamSet<F>, name: &str, d: usize) -> Self {
        let w = params.add_constant(format!("{name}.weight"), &[d], 1.0, false);
        let b = params.add_constant(format!("{name}.bias"), &[d], 0.0, false);
        LayerNorm { name: name.to_string(), w, b }
    }
    // x is [..., d]; y is [..., d]
    pub fn forward<F: Float>(&self, t: &mut Tape<'_, F>, x: Var) -> Var {
        let (w, b) = (t.param(self.w), t.param(self.b));
        t.layer_norm(x, w, b, LN_EPS)
    }
}

/// Token embedding: a `[V, d]` table, rows looked up by byte id.
#[derive(Clone, Debug)]
pub struct Embedding {
    pub table: ParamId,
    pub vocab: usize,
    pub d: usize,
}

impl Embedding {
    pub fn new<F: Float>(params: &mut ParamSet<F>, name: &str, vocab: usize, d: usize, rng: &mut impl Rng) -> Self {
        // Embeddings are not decayed by AdamW (GPT-2 practice).
        let table = params.add_normal(format!("{name}.weight"), &[vocab, d], INIT_STD, false, rng);
        Embedding { table, vocab, d }
    }
    // ids has n entries; y is [n, d]
    pub fn forward<F: Float>(&self, t: &mut Tape<'_, F>, ids: &[u32]) -> Var {
        let table = t.param(self.table);
        t.embedding(table, ids)
    }
}

/// Positions: a learned `[L, d]` table, or fixed sinusoids with no parameters.
#[derive(Clone, Debug)]
pub enum PositionalEmbedding {
    Learned(ParamId),
    /// The table `PE[t, 2i] = sin(t / 10000^(2i/d))`, `PE[t, 2i+1] = cos(…)`, row-major `[L, d]`.
    Sinusoidal {
        table: Vec<f64>,
        l: usize,
        d: usize,
    },
}

impl PositionalEmbedding {
    pub fn learned<F: Float>(params: &mut ParamSet<F>, name: &str, l: usize, d: usize, rng: &mut impl Rng) -> Self {
        PositionalEmbedding::Learned(params.add_normal(format!("{name}.weight"), &[l, d], INIT_STD, false, rng))
    }
    pub fn sinusoidal(l: usize, d: usize) -> Self {
        let mut table = vec![0.0; l * d];
        for t in 0..l {
            for j in 0..d {
                let i2 = (j / 2 * 2) as f64; // the "2i" of the pair this feature belongs to
                let angle = t as f64 / 10000f64.powf(i2 / d as f64);
                table[t * d + j] = if j % 2 == 0 { angle.sin() } else { angle.cos() };
            }
        }
        PositionalEmbedding::Sinusoidal { table, l, d }
    }
    /// x is [B, L, d]; returns x + pos[0..L] (broadcast over the batch).
    pub fn forward<F: Float>(&self, t: &mut Tape<'_, F>, x: Var) -> Var {
        let pos = match self {
            PositionalEmbedding::Learned(id) => t.param(*id),
            PositionalEmbedding::Sinusoidal { table, l, d } => {
                t.input(tensor::from_vec(&[*l, *d], table.iter().map(|&v| F::of(v)).collect()))
            }
        };
        t.add(x, pos)
    }
}

/// Multi-head self-attention: q, k, v, o are Linear(d, d); h heads of d/h features each.
#[derive(Clone, Debug)]
pub struct Attention {
    pub q: Linear,
    pub k: Linear,
    pub v: Linear,
    pub o: Linear,
    pub heads: usize,
    pub causal: bool,
}

impl Attention {
    /// `residual_std` initialises the output projection (SPEC: 0.02/√(2N)).
    pub fn new<F: Float>(
        params: &mut ParamSet<F>,
        name: &str,
        d: usize,
        heads: usize,
        causal: bool,
        residual_std: f64,
        rng: &mut impl Rng,
    ) -> Self {
        let q = Linear::new(params, &format!("{name}.q"), d, d, INIT_STD, rng);
        let k = Linear::new(params, &format!("{name}.k"), d, d, INIT_STD, rng);
        let v = Linear::new(params, &format!("{name}.v"), d, d, INIT_STD, rng);
        let o = Linear::new(params, &format!("{name}.o"), d, d, residual_std, rng);
        Attention { q, k, v, o, heads, causal }
    }
    // x is [B, L, d]; y is [B, L, d]
    pub fn forward<F: Float>(&self, t: &mut Tape<'_, F>, x: Var) -> Var {
        let q = self.q.forward(t, x);
        let k = self.k.forward(t, x);
        let v = self.v.forward(t, x);
        let a = t.attention(q, k, v, self.heads, self.causal);
        self.o.forward(t, a)
    }
}

/// Feed-forward: Linear(d, F) → GELU (tanh form) → Linear(F, d).
#[derive(Clone, Debug)]
pub struct FeedForward {
    pub fc1: Linear,
    pub fc2: Linear,
}

impl FeedForward {
    pub fn new<F: Float>(
        params: &mut ParamSet<F>,
        name: &str,
        d: usize,
        d_ff: usize,
        residual_std: f64,
        rng: &mut impl Rng,
    ) -> Self {
        let fc1 = Linear::new(params, &format!("{name}.fc1"), d, d_ff, INIT_STD, rng);
        let fc2 = Linear::new(params, &format!("{name}.fc2"), d_ff, d, residual_std, rng);
        FeedForward { fc1, fc2 }
    }
    // x is [B, L, d]; y is [B, L, d]
    pub fn forward<F: Float>(&self, t: &mut Tape<'_, F>, x: Var) -> Var {
        let h = self.fc1.forward(t, x);
        let h = t.gelu(h);
        self.fc2.forward(t, h)
    }
}

/// A pre-LayerNorm encoder block: `x + attn(ln1(x))`, then `x + ffn(ln2(x))`.
#[derive(Clone, Debug)]
pub struct Block {
    pub ln1: LayerNorm,
    pub attn: Attention,
    pub ln2: LayerNorm,
    pub ffn: FeedForward,
}

/// The shape of one block.
#[derive(Clone, Copy, Debug)]
pub struct BlockDims {
    pub d: usize,
    pub heads: usize,
    pub d_ff: usize,
    /// Total blocks of the model: sets the residual projections' init scale 0.02/√(2N).
    pub num_blocks: usize,
    pub causal: bool,
}

impl Block {
    pub fn new<F: Float>(params: &mut ParamSet<F>, index: usize, dims: BlockDims, rng: &mut impl Rng) -> Self {
        let name = format!("blocks.{index}");
        let residual_std = INIT_STD / (2.0 * dims.num_blocks as f64).sqrt();
        let ln1 = LayerNorm::new(params, &format!("{name}.ln1"), dims.d);
        let attn = Attention::new(params, &format!("{name}.attn"), dims.d, dims.heads, dims.causal, residual_std, rng);
        let ln2 = LayerNorm::new(params, &format!("{name}.ln2"), dims.d);
        let ffn = FeedForward::new(params, &format!("{name}.ffn"), dims.d, dims.d_ff, residual_std, rng);
        Block { ln1, attn, ln2, ffn }
    }
    // x is [B, L, d]; y is [B, L, d]
    pub fn forward<F: Float>(&self, t: &mut Tape<'_, F>, x: Var) -> Var {
        let h = self.ln1.forward(t, x);
        let h = self.attn.forward(t, h);
        let x = t.add(x, h);
        let h = self.ln2.forward(t, x);
        let h = self.ffn.forward(t, h);
        t.add(x, h)
    }
}
