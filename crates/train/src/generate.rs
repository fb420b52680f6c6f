//! Sampling bytes from a model: greedy, or with temperature and top-k.

use autograd::{ParamSet, Tape};
use heads::{Model, SPECIAL_TOKEN};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::VecDeque;

#[derive(Clone, Copy, Debug)]
pub struct Sampling {
    /// Always the most likely byte (also when temperature is 0).
    pub greedy: bool,
    pub temperature: f64,
    /// Sample among the k most likely bytes only (0: all).
    pub top_k: usize,
    pub seed: u64,
}

impl Sampling {
    /// Refuses a temperature that is not a number of 0 (greedy) or more, naming `--temperature`.
    pub fn check(&self) -> crate::Result<()> {
        if !(self.temperature.is_finite() && self.temperature >= 0.0) {
            let got = self.temperature;
            return Err(crate::Error::usage("--temperature", format!("must be 0 (greedy) or more, got {got}")));
        }
        Ok(())
    }
}

/// A window head reads a whole window: a shorter prompt is padded with a token it never saw in
/// training. The warning for that, or None when the prompt is long enough or the head per-position.
pub fn short_prompt_warning(config: &heads::ModelConfig, prompt_len: usize) -> Option<String> {
    let l = config.seq_length;
    (!config.per_position() && prompt_len < l).then(|| {
        format!(
            "head {} reads a window of {l} bytes and the prompt has {prompt_len}: it is padded on the left with \
             {} special tokens (id 256), which this model never saw in training. Give a prompt of {l} bytes or more \
             (e.g. the first {l} bytes of the training text) for what it memorized.",
            config.head,
            l - prompt_len
        )
    })
}

/// Writes the prompt (when `echo`) and its continuation by `n` bytes to `out`, each byte as it is
/// sampled, so any `n` works in constant memory; flushes at each newline, ends with a newline.
pub fn stream(
    model: &Model<f32>,
    params: &ParamSet<f32>,
    prompt: &[u8],
    n: u64,
    sampling: Sampling,
    echo: bool,
    out: &mut impl std::io::Write,
) -> std::io::Result<()> {
    if echo {
        out.write_all(prompt)?;
    }
    generate::<std::io::Error>(model, params, prompt, n, sampling, |b| {
        out.write_all(&[b])?;
        if b == b'\n' {
            out.flush()?;
        }
        Ok(())
    })?;
    out.write_all(b"\n")?;
    out.flush()
}

/// Continues `prompt` by `n` bytes, handing each to `emit` as it is sampled (so that output
/// streams, and `n` may be as large as the caller likes: nothing grows with it). The model sees
/// the last L bytes; a shorter context is padded with the special token, on the left for a window
/// model (so the prediction stays at the end) and on the right for a per-position model (which
/// reads the prediction at the context's last position and cannot see the padding after it).
pub fn generate<E>(
    model: &Model<f32>,
    params: &ParamSet<f32>,
    prompt: &[u8],
    n: u64,
    sampling: Sampling,
    mut emit: impl FnMut(u8) -> Result<(), E>,
) -> Result<(), E> {
    let l = model.config.seq_length;
    let v = model.config.vocab_size;
    let mut rng = ChaCha8Rng::seed_from_u64(sampling.seed);
    let mut ctx: VecDeque<u32> = prompt[prompt.len().saturating_sub(l)..].iter().map(|&b| b as u32).collect();
    for _ in 0..n {
        let window: Vec<u32> = ctx.iter().copied().collect();
        let pad = vec![SPECIAL_TOKEN; l - window.len()];
        let (ids, row) = if model.config.per_position() {
            ([&window[..], &pad].concat(), window.len().max(1) - 1)
        } else {
            ([&pad[..], &window[..]].concat(), 0)
        };
        let mut tape = Tape::no_record(params);
        let logits = model.logits(&mut tape, &ids);
        let all = tape.value(logits).as_slice().expect("contiguous");
        // Only byte values may be produced: the special token is never sampled.
        let row = &all[row * v..row * v + 256.min(v)];
        let next = pick(row, sampling, &mut rng) as u8;
        emit(next)?;
        if ctx.len() == l {
            ctx.pop_front();
        }
        ctx.push_back(next as u32);
    }
    Ok(())
}

/// The whole continuation as bytes (for tests and short outputs).
pub fn generate_vec(model: &Model<f32>, params: &ParamSet<f32>, prompt: &[u8], n: usize, s: Sampling) -> Vec<u8> {
    let mut out = Vec::with_capacity(n);
    let done: Result<(), std::convert::Infallible> = generate(model, params, prompt, n as u64, s, |b| {
        out.push(b);
        Ok(())
    });
    let Ok(()) = done;
    out
}

fn pick(logits: &[f32], s: Sampling, rng: &mut ChaCha8Rng) -> usize {
    if s.greedy || s.temperature <= 0.0 {
        return crate::eval::argmax(logits);
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
