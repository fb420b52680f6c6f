//! The whole model of SPEC §1: embedding → N pre-LN blocks → ln_f → head → loss.

use crate::{ConfigError, Head, HeadSpec, LayerInfo, ModelConfig, Positions};
use autograd::{Float, ParamId, ParamSet, Tape, Var};
use layers::{Block, BlockDims, Embedding, LayerNorm, PositionalEmbedding};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

pub struct Model<F: Float> {
    pub config: ModelConfig,
    pub spec: HeadSpec,
    tok_emb: Embedding,
    pos_emb: PositionalEmbedding,
    blocks: Vec<Block>,
    ln_f: LayerNorm,
    head: Box<dyn Head<F>>,
}

impl<F: Float> Model<F> {
    /// Builds the model and its parameters, initialised from `seed` (SPEC §1's init). Parameters are
    /// created (and the generator drawn) in export order: tok_emb, pos_emb, blocks, ln_f, head.
    pub fn new(config: &ModelConfig, seed: u64) -> Result<(Self, ParamSet<F>), ConfigError> {
        Self::build(config, ParamSet::new(), seed)
    }

    /// The same model with shapes only: no parameter is allocated (accounting of GPT-2 and CTRL).
    pub fn shapes_only(config: &ModelConfig) -> Result<(Self, ParamSet<F>), ConfigError> {
        Self::build(config, ParamSet::shapes_only(), 0)
    }

    fn build(config: &ModelConfig, mut params: ParamSet<F>, seed: u64) -> Result<(Self, ParamSet<F>), ConfigError> {
        config.validate()?;
        let spec = config.head.spec();
        let c = config;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let tok_emb = Embedding::new(&mut params, "tok_emb", c.vocab_size, c.d_model, &mut rng);
        let pos_emb = match c.positions {
            Positions::Learned => {
                PositionalEmbedding::learned(&mut params, "pos_emb", c.seq_length, c.d_model, &mut rng)
            }
            Positions::Sinusoidal => PositionalEmbedding::sinusoidal(c.seq_length, c.d_model),
        };
        let dims = BlockDims {
            d: c.d_model,
            heads: c.num_heads,
            d_ff: c.d_ff,
            num_blocks: c.num_blocks,
            causal: spec.causal_mask,
        };
        let blocks = (0..c.num_blocks).map(|i| Block::new(&mut params, i, dims, &mut rng)).collect();
        let ln_f = LayerNorm::new(&mut params, "ln_f", c.d_model);
        let head = crate::build(c, &mut params, &mut rng);
        Ok((Model { config: c.clone(), spec, tok_emb, pos_emb, blocks, ln_f, head }, params))
    }

    /// The token embedding, shared with the tied and causal heads.
    pub fn tok_emb(&self) -> ParamId {
        self.tok_emb.table
    }

    /// Windows per batch of a flat id buffer.
    fn batch_of(&self, ids: &[u32]) -> usize {
        let l = self.config.seq_length;
        assert!(!ids.is_empty() && ids.len().is_multiple_of(l), "ids hold whole windows of {l}");
        ids.len() / l
    }

    /// The trunk: ids (B·L, row-major windows) → H `[B, L, d]` after the final LayerNorm.
    pub fn trunk(&self, t: &mut Tape<'_, F>, ids: &[u32]) -> Var {
        let b = self.batch_of(ids);
        let x = self.tok_emb.forward(t, ids);
        let x = t.reshape(x, &[b, self.config.seq_length, self.config.d_model]);
        let mut x = self.pos_emb.forward(t, x);
        for block in &self.blocks {
            x = block.forward(t, x);
        }
        self.ln_f.forward(t, x)
    }

    /// Logits: `[B, V]`, or `[B·L, V]` for a per-position model ([`ModelConfig::per_position`]).
    pub fn logits(&self, t: &mut Tape<'_, F>, ids: &[u32]) -> Var {
        let out_emb = t.param(self.tok_emb.table);
        self.logits_with_output_embedding(t, ids, out_emb)
    }

    /// Logits with the head reading `out_emb` instead of the input embedding: used to check that the
    /// tied gradient is the sum of its two paths.
    pub fn logits_with_output_embedding(&self, t: &mut Tape<'_, F>, ids: &[u32], out_emb: Var) -> Var {
        let h = self.trunk(t, ids);
        self.head.forward(t, h, out_emb)
    }

    /// Mean cross-entropy over every target of the batch: B targets, or B·L for a per-position model.
    pub fn loss(&self, t: &mut Tape<'_, F>, ids: &[u32], targets: &[u32]) -> (Var, Var) {
        let logits = self.logits(t, ids);
        (t.cross_entropy(logits, targets), logits)
    }

    /// Every layer for the summary, in forward order.
    pub fn layers(&self) -> Vec<LayerInfo> {
        let c = &self.config;
        let (l, d) = (c.seq_length, c.d_model);
        let mut rows = vec![LayerInfo::new("tok_emb", "Embedding", vec![l, d])];
        rows.push(LayerInfo::new(
            "pos_emb",
            match c.positions {
                Positions::Learned => "PositionalEmbedding(learned)",
                Positions::Sinusoidal => "PositionalEmbedding(sinusoidal)",
            },
            vec![l, d],
        ));
        for i in 0..c.num_blocks {
            rows.push(LayerInfo::new(&format!("blocks.{i}.ln1"), "LayerNorm", vec![l, d]));
            rows.push(LayerInfo::new(
                &format!("blocks.{i}.attn"),
                if self.spec.causal_mask { "CausalSelfAttention" } else { "SelfAttention" },
                vec![l, d],
            ));
            rows.push(LayerInfo::new(&format!("blocks.{i}.ln2"), "LayerNorm", vec![l, d]));
            rows.push(LayerInfo::new(&format!("blocks.{i}.ffn"), "FeedForward", vec![l, d]));
        }
        rows.push(LayerInfo::new("ln_f", "LayerNorm", vec![l, d]));
        rows.extend(self.head.layers(c));
        rows
    }
}
