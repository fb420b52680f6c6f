//! Sampling bytes from a model: greedy, or with temperature and top-k.

use autograd::{ParamSet, Tape};
use heads::{Model, SPECIAL_TOKEN};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

#[derive(Clone, Copy, Debug)]
pub struct Sampling {
    /// Always the most likely byte (also when temperature is 0).
    pub greedy: bool,
    pub temperature: f64,
    /// Sample among the k most likely bytes only (0: all).
    pub top_k: usize,
    pub seed: u64,
}

/// Continues `prompt` by `n` bytes. The model sees the last L bytes; a shorter context is padded
/// with the special token, on the left for a window head (so the prediction stays at the end) and
/// on the right for a causal head (which reads the prediction at the context's last position and
/// cannot see the padding after it).
pub fn generate(model: &Model<f32>, params: &ParamSet<f32>, prompt: &[u8], n: usize, sampling: Sampling) -> Vec<u8> {
    let l = model.config.seq_length;
    let v = model.config.vocab_size;
    let mut rng = ChaCha8Rng::seed_from_u64(sampling.seed);
    let mut text: Vec<u32> = prompt.iter().map(|&b| b as u32).collect();
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let ctx = &text[text.len().saturating_sub(l)..];
        let pad = vec![SPECIAL_TOKEN; l - ctx.len()];
        let (ids, row) = if model.spec.per_position {
            ([ctx, &pad].concat(), ctx.len().max(1) - 1)
        } else {
            ([&pad[..], ctx].concat(), 0)
        };
        let mut tape = Tape::no_record(params);
        let logits = model.logits(&mut tape, &ids);
        let all = tape.value(logits).as_slice().expect("contiguous");
        // Only byte values may be produced: the special token is never sampled.
        let row = &all[row * v..row * v + 256.min(v)];
        let next = pick(row, sampling, &mut rng);
        out.push(next as u8);
        text.push(next as u32);
    }
    out
}

fn pick(logits: &[f32], s: Sampling, rng: &mut ChaCha8Rng) -> usize {
    if s.greedy || s.temperature <= 0.0 {
        return crate::session::argmax(logits);
    }
    let mut idx: Vec<usize> = (0..logits.len()).collect();
    idx.sort_by(|&a, &b| logits[b].total_cmp(&logits[a]));
    if s.top_k > 0 {
        idx.truncate(s.top_k);
    }
    let max = logits[idx[0]] as f64;
    let weights: Vec<f64> = idx.iter().map(|&i| ((logits[i] as f64 - max) / s.temperature).exp()).collect();
    let total: f64 = weights.iter().sum();
    let mut r = rng.random::<f64>() * total;
    for (k, w) in weights.iter().enumerate() {
        if r < *w {
            return idx[k];
        }
        r -= w;
    }
    idx[idx.len() - 1]
}
