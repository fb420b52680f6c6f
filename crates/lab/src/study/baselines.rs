//! What the models are measured against, computed from the same bytes: the data's checksum, how
//! many windows can be memorized at all (a context followed by different bytes can be right only
//! once), the entropy of the training bytes, and unigram and n-gram predictors trained on each
//! training subset, their order chosen on the validation targets and reported on the test
//! targets the models are reported on.

use serde::Serialize;
use std::collections::HashMap;
use std::path::Path;
use train::data::{eval_starts, Corpus, Split};
use train::error::Result;
use train::provenance::DataInfo;

/// The study's text.
pub struct Data {
    pub info: DataInfo,
    corpus: Corpus,
}

impl Data {
    pub fn open(path: Option<&Path>) -> Result<Data> {
        let corpus = match path {
            None => Corpus::Embedded,
            Some(p) => Corpus::open(p)?,
        };
        let info = DataInfo::of(path.map(|p| p.display().to_string()).as_deref())?;
        Ok(Data { info, corpus })
    }

    pub fn bytes(&self) -> &[u8] {
        self.corpus.bytes()
    }

    /// Training windows at window length `l`, with (validation, test) tails held out or without.
    pub fn windows_at(&self, l: usize, held_out: Option<(f64, f64)>) -> usize {
        let (val, test) = held_out.map_or((None, None), |(v, t)| (Some(v), Some(t)));
        Split::with_test(self.bytes().len(), l, false, None, (val, test), "").map_or(0, |s| s.train_windows)
    }

    /// The split a window head's run with these settings uses.
    pub fn split(&self, l: usize, samples: usize, val: f64, test: f64) -> Result<Split> {
        Split::with_test(self.bytes().len(), l, false, Some(samples), (Some(val), Some(test)), &self.corpus.name())
    }
}

/// The most of the first `n` windows of length `l` that any model can memorize: for every distinct
/// context, only its most frequent next byte can be the prediction.
pub fn ambiguity_cap(bytes: &[u8], l: usize, n: usize) -> usize {
    let mut next: HashMap<&[u8], HashMap<u8, usize>> = HashMap::new();
    for i in 0..n.min(bytes.len().saturating_sub(l)) {
        *next.entry(&bytes[i..i + l]).or_default().entry(bytes[i + l]).or_default() += 1;
    }
    next.values().map(|m| m.values().copied().max().unwrap_or(0)).sum()
}

/// Empirical entropy (bits per byte) of a byte string's unigram distribution.
pub fn entropy(bytes: &[u8]) -> f64 {
    let mut counts = [0usize; 256];
    bytes.iter().for_each(|&b| counts[b as usize] += 1);
    let n = bytes.len().max(1) as f64;
    counts.iter().filter(|&&c| c > 0).map(|&c| -(c as f64 / n) * (c as f64 / n).log2()).sum()
}

/// Counts of an n-gram model: for every context of `order − 1` bytes, its total, its number of
/// distinct next bytes, and each (context, next byte) pair.
struct Counts {
    order: usize,
    pairs: HashMap<(u64, u8), u32>,
    contexts: HashMap<u64, (u32, u32)>,
}

/// A context of up to 7 bytes as one key (the order is part of the table, not of the key).
fn key(ctx: &[u8]) -> u64 {
    ctx.iter().fold(0u64, |k, &b| (k << 8) | b as u64)
}

impl Counts {
    fn of(text: &[u8], order: usize) -> Counts {
        let (mut pairs, mut contexts) = (HashMap::new(), HashMap::<u64, (u32, u32)>::new());
        for i in order - 1..text.len() {
            let k = key(&text[i + 1 - order..i]);
            let c: &mut u32 = pairs.entry((k, text[i])).or_default();
            *c += 1;
            let e = contexts.entry(k).or_default();
            e.0 += 1;
            e.1 += (*c == 1) as u32;
        }
        Counts { order, pairs, contexts }
    }
}

/// Interpolated absolute discounting (the core of Kneser–Ney without its continuation counts):
/// P_n(c|h) = max(C(hc) − D, 0)/C(h) + D·T(h)/C(h)·P_{n−1}(c|h′), down to an add-one unigram
/// over the 256 byte values. D = 0.75.
pub struct NGram {
    tables: Vec<Counts>,
}

const DISCOUNT: f64 = 0.75;

impl NGram {
    pub fn train(text: &[u8], max_order: usize) -> NGram {
        NGram { tables: (1..=max_order.clamp(1, 8)).map(|n| Counts::of(text, n)).collect() }
    }

    /// P(next | the bytes before it), with the model cut at `order`.
    fn prob(&self, order: usize, before: &[u8], next: u8) -> f64 {
        let uni = &self.tables[0];
        let total = uni.contexts.get(&0).map_or(0, |c| c.0) as f64;
        let mut p = (uni.pairs.get(&(0, next)).copied().unwrap_or(0) as f64 + 1.0) / (total + 256.0);
        for t in &self.tables[1..order] {
            let ctx = &before[before.len() + 1 - t.order..];
            let k = key(ctx);
            if let Some(&(n, distinct)) = t.contexts.get(&k) {
                let c = t.pairs.get(&(k, next)).copied().unwrap_or(0) as f64;
                p = (c - DISCOUNT).max(0.0) / n as f64 + DISCOUNT * distinct as f64 / n as f64 * p;
            }
        }
        p
    }

    /// Mean bits of the targets at `positions` of `bytes` (each predicted from the bytes before it).
    pub fn bits(&self, order: usize, bytes: &[u8], positions: impl Iterator<Item = usize>) -> f64 {
        let (mut sum, mut n) = (0.0, 0usize);
        for i in positions {
            sum -= self.prob(order, &bytes[i + 1 - order.max(1)..i], bytes[i]).log2();
            n += 1;
        }
        sum / n.max(1) as f64
    }
}

/// The baselines of one training subset: the n-gram order is chosen on the validation targets
/// and reported on the test targets the heads are reported on.
#[derive(Clone, Debug, Serialize)]
pub struct Baseline {
    pub windows: usize,
    /// The bytes the models saw: every window's bytes and targets.
    pub train_bytes: usize,
    /// Entropy of the training bytes' own unigram distribution (bits/byte).
    pub train_entropy: f64,
    /// Validation bits/byte of the add-one unigram (order 1) and each longer order.
    /// Validation bits/byte of each order (1 = unigram), on every validation window's last target.
    pub bits_by_order: Vec<f64>,
    /// The order with the fewest validation bits, and its validation bits.
    pub best_order: usize,
    pub best_bits: f64,
    /// The chosen order's bits on the test targets: every test window's last target, the targets
    /// every head's test figure reads.
    pub test_bits: f64,
    pub val_targets: usize,
    pub test_targets: usize,
}

/// Baselines trained on the first `windows` windows' bytes: the order chosen on the validation
/// targets, reported on the test targets (both as the runs read them: every window, up to
/// `FINAL_EVAL_MAX` evenly spaced ones).
pub fn baseline(data: &Data, l: usize, windows: usize, held_out: (f64, f64), max_order: usize) -> Result<Baseline> {
    let split = data.split(l, windows, held_out.0, held_out.1)?;
    let bytes = data.bytes();
    let train = &bytes[..windows + l];
    let model = NGram::train(train, max_order);
    let cap = train::eval::FINAL_EVAL_MAX;
    let val = eval_starts(split.val_start, split.val_windows, 1, cap);
    let test = eval_starts(split.test_start, split.test_windows, 1, cap);
    let targets = |starts: &[usize]| starts.iter().map(|&s| s + l).collect::<Vec<_>>();
    let (val, test) = (targets(&val), targets(&test));
    let bits_by_order: Vec<f64> = (1..=max_order).map(|n| model.bits(n, bytes, val.iter().copied())).collect();
    let (best, best_bits) =
        bits_by_order.iter().enumerate().fold((0, f64::INFINITY), |a, (i, &b)| if b < a.1 { (i, b) } else { a });
    Ok(Baseline {
        windows,
        train_bytes: train.len(),
        train_entropy: entropy(train),
        test_bits: model.bits(best + 1, bytes, test.iter().copied()),
        bits_by_order,
        best_order: best + 1,
        best_bits,
        val_targets: val.len(),
        test_targets: test.len(),
    })
}
