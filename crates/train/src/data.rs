//! Data: any file as bytes, windows and targets (SPEC §1), a held-out tail, seeded shuffling.
//!
//! A file is memory-mapped, never copied: an epoch over a file of several hundred MB reads the
//! windows in place. Sample i is the window `b[i..i+L]`; its target is `b[i+L]`, or `b[i+1..i+L+1]`
//! for a per-position head.

use crate::error::{Error, Result};
use memmap2::Mmap;
use rand::seq::SliceRandom;
use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::path::Path;

/// The built-in corpus: a few KB of original prose written for this project, so that the README's
/// run command needs no file and no download.
pub const EMBEDDED_CORPUS: &str = include_str!("corpus.txt");

/// Windows the default run learns when no `--data` is given: the research log's 432-sample set.
pub const DEFAULT_SAMPLES: usize = 432;

/// The bytes of a corpus: the embedded text or a memory-mapped file.
pub enum Corpus {
    Embedded,
    File {
        path: String,
        map: Mmap,
    },
    /// Seeded, uniformly random bytes (SPEC §4, capacity): `n` independent samples of L+1 bytes.
    Random {
        seed: u64,
        bytes: Vec<u8>,
    },
}

impl Corpus {
    /// Opens a file for reading as bytes. Errors name the file and say what is wrong.
    pub fn open(path: &Path) -> Result<Corpus> {
        let shown = path.display().to_string();
        let meta = std::fs::metadata(path)
            .map_err(|e| Error::input(&shown, format!("cannot read the data file: {}", io_reason(&e))))?;
        if meta.is_dir() {
            return Err(Error::input(&shown, "is a directory; --data takes a file"));
        }
        let file = std::fs::File::open(path)
            .map_err(|e| Error::input(&shown, format!("cannot open the data file: {}", io_reason(&e))))?;
        if meta.len() == 0 {
            return Err(Error::input(&shown, "the data file is empty"));
        }
        // SAFETY: not guaranteed by us. A memory map is only sound while no other process changes
        // the file: a write to it while mapped is undefined behaviour in Rust's model (the bytes of a
        // `&[u8]` change under us), and truncating it makes a later read fault with SIGBUS. We map
        // anyway, as every tool that trains on large files does, because copying a file of several
        // hundred MB into memory is the worse trade; README asks users not to edit a file during a run,
        // and the checksum taken at the start (Session::fingerprint) makes a resume on changed data fail.
        let map =
            unsafe { Mmap::map(&file) }.map_err(|e| Error::input(&shown, format!("cannot map the data file: {e}")))?;
        Ok(Corpus::File { path: shown, map })
    }

    /// `samples` independent samples of `seq_length` + 1 uniformly random bytes (values 0..=255),
    /// drawn from `seed`: a window head reads L bytes and predicts the last; a per-position head
    /// predicts bytes 1..=L. Nothing in such data can be generalised, and its entropy is exactly
    /// 8 bits per target, so whatever the model gets right it has stored.
    pub fn random(seed: u64, samples: usize, seq_length: usize) -> Corpus {
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x7a2d_0b17_e5ca_1e00);
        let mut bytes = vec![0u8; samples * (seq_length + 1)];
        rng.fill_bytes(&mut bytes);
        Corpus::Random { seed, bytes }
    }

    pub fn bytes(&self) -> &[u8] {
        match self {
            Corpus::Embedded => EMBEDDED_CORPUS.as_bytes(),
            Corpus::File { map, .. } => map,
            Corpus::Random { bytes, .. } => bytes,
        }
    }

    /// How the corpus is named in messages and reports.
    pub fn name(&self) -> String {
        match self {
            Corpus::Embedded => "the embedded corpus".to_string(),
            Corpus::File { path, .. } => path.clone(),
            Corpus::Random { seed, .. } => format!("random bytes (seed {seed})"),
        }
    }
}

/// The reason of an I/O error, in words a user can act on.
pub fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}

/// Which windows of a corpus train, and which validate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Split {
    /// Window length L.
    pub seq_length: usize,
    /// Bytes from one window's start to the next's: 1 in a text (every window overlaps the next),
    /// L + 1 in random data (independent samples).
    pub stride: usize,
    /// Targets per window: 1, or L for a per-position head.
    pub targets_per_window: usize,
    /// Training windows start at 0..train_windows.
    pub train_windows: usize,
    /// Validation windows start at val_start..val_start + val_windows.
    pub val_start: usize,
    pub val_windows: usize,
    /// Test windows start at test_start..test_start + test_windows (after the validation part).
    pub test_start: usize,
    pub test_windows: usize,
}

impl Split {
    /// Lays out the windows of `len` bytes: the first `samples` windows (all by default) of the head
    /// of the file, and a validation tail of `val_fraction` of the bytes.
    pub fn new(
        len: usize,
        seq_length: usize,
        per_position: bool,
        samples: Option<usize>,
        val_fraction: Option<f64>,
        name: &str,
    ) -> Result<Split> {
        let l = seq_length;
        if len <= l {
            return Err(Error::input(
                name,
                format!("has {len} bytes; a window of --seq-length {l} and its target need at least {} bytes", l + 1),
            ));
        }
        let (train_end, val_start, val_windows) = match val_fraction {
            None => (len, len, 0),
            Some(f) => {
                if !(f > 0.0 && f < 1.0) {
                    return Err(Error::usage("--val-fraction", format!("must be strictly between 0 and 1, got {f}")));
                }
                let split = ((len as f64) * (1.0 - f)).floor() as usize;
                let val_bytes = len - split;
                if val_bytes <= l {
                    return Err(Error::usage("--val-fraction", format!("{f} leaves {val_bytes} bytes for validation; at least {} are needed for one window of --seq-length {l}", l + 1)));
                }
                (split, split, val_bytes - l)
            }
        };
        if train_end <= l {
            return Err(Error::usage(
                "--val-fraction",
                format!("leaves {train_end} bytes for training, no window of --seq-length {l} fits"),
            ));
        }
        let available = train_end - l;
        let train_windows = match samples {
            None => available,
            Some(0) => return Err(Error::usage("--samples", "must be at least 1")),
            Some(n) if n > available => {
                return Err(Error::usage(
                    "--samples",
                    format!("{n} is more than the {available} training windows {name} allows at --seq-length {l}"),
                ));
            }
            Some(n) => n,
        };
        Ok(Split {
            seq_length: l,
            stride: 1,
            targets_per_window: if per_position { l } else { 1 },
            train_windows,
            val_start,
            val_windows,
            test_start: len,
            test_windows: 0,
        })
    }

    /// [`Split::new`] with a test tail of `test_fraction` of the `len` bytes held out first: the
    /// training and validation parts are laid out in the bytes before it.
    pub fn with_test(
        len: usize,
        seq_length: usize,
        per_position: bool,
        samples: Option<usize>,
        fractions: (Option<f64>, Option<f64>),
        name: &str,
    ) -> Result<Split> {
        let (val_fraction, test_fraction) = fractions;
        let Some(f) = test_fraction else {
            return Split::new(len, seq_length, per_position, samples, val_fraction, name);
        };
        if !(f > 0.0 && f < 1.0) {
            return Err(Error::usage("--test-fraction", format!("must be strictly between 0 and 1, got {f}")));
        }
        let test_start = ((len as f64) * (1.0 - f)).floor() as usize;
        if len - test_start <= seq_length {
            return Err(Error::usage(
                "--test-fraction",
                format!("{f} leaves {} bytes for testing; at least {} are needed", len - test_start, seq_length + 1),
            ));
        }
        let split = Split::new(test_start, seq_length, per_position, samples, val_fraction, name)?;
        Ok(Split { test_start, test_windows: len - test_start - seq_length, ..split })
    }
}

impl Split {
    /// The layout of [`Corpus::random`]: `samples` independent windows, no validation split.
    pub fn independent(samples: usize, seq_length: usize, per_position: bool) -> Result<Split> {
        if samples == 0 {
            return Err(Error::usage("--samples", "must be at least 1"));
        }
        Ok(Split {
            seq_length,
            stride: seq_length + 1,
            targets_per_window: if per_position { seq_length } else { 1 },
            train_windows: samples,
            val_start: samples * (seq_length + 1),
            val_windows: 0,
            test_start: samples * (seq_length + 1),
            test_windows: 0,
        })
    }

    /// Where window `i` starts in the bytes.
    pub fn offset(&self, i: usize) -> usize {
        i * self.stride
    }
}

/// A batch: B windows of ids and their targets.
#[derive(Clone, Debug, Default)]
pub struct Batch {
    /// B·L ids, window after window.
    pub ids: Vec<u32>,
    /// B targets, or B·L for a per-position head.
    pub targets: Vec<u32>,
}

impl Batch {
    pub fn windows(&self, seq_length: usize) -> usize {
        self.ids.len() / seq_length
    }
    /// Fills the batch with the windows `windows` (a window's start is [`Split::offset`]; in a
    /// text they are the same), reusing its buffers.
    pub fn fill(&mut self, bytes: &[u8], split: &Split, windows: impl Iterator<Item = usize>) {
        let l = split.seq_length;
        self.ids.clear();
        self.targets.clear();
        for i in windows.map(|w| split.offset(w)) {
            self.ids.extend(bytes[i..i + l].iter().map(|&b| b as u32));
            if split.targets_per_window == 1 {
                self.targets.push(bytes[i + l] as u32);
            } else {
                self.targets.extend(bytes[i + 1..i + l + 1].iter().map(|&b| b as u32));
            }
        }
    }
}

/// The order of the training windows in one epoch: a seeded shuffle that depends only on the seed
/// and the epoch, so that a resumed run replays exactly the order an uninterrupted one would.
pub struct EpochOrder {
    order: Vec<u32>,
    affine: Option<(u64, u64)>,
    n: usize,
}

/// Above this many windows the order is an affine permutation (constant memory) instead of a
/// full shuffle (4 bytes a window).
const FULL_SHUFFLE_MAX: usize = 1 << 24;

impl EpochOrder {
    pub fn new(n: usize, seed: u64, epoch: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5eed_da7a_0000_0000);
        rng.set_stream(epoch);
        if n <= FULL_SHUFFLE_MAX {
            let mut order: Vec<u32> = (0..n as u32).collect();
            order.shuffle(&mut rng);
            EpochOrder { order, affine: None, n }
        } else {
            // i ↦ (a·i + c) mod n is a permutation when gcd(a, n) = 1.
            let a = loop {
                let a = rng.random_range(1..n as u64);
                if gcd(a, n as u64) == 1 {
                    break a;
                }
            };
            EpochOrder { order: Vec::new(), affine: Some((a, rng.random_range(0..n as u64))), n }
        }
    }
    /// The window at position j of the epoch.
    pub fn get(&self, j: usize) -> usize {
        match self.affine {
            None => self.order[j] as usize,
            Some((a, c)) => ((a as u128 * j as u128 + c as u128) % self.n as u128) as usize,
        }
    }
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// The windows `first, first+stride, …` below `first + count`: all of them up to `cap`, else
/// `cap` evenly spaced ones. A stride of L gives a per-position head non-overlapping windows, so
/// that each byte is predicted once.
pub fn eval_starts(first: usize, count: usize, stride: usize, cap: usize) -> Vec<usize> {
    let n = count.div_ceil(stride.max(1));
    let pick = |j: usize| first + j * stride.max(1);
    if n <= cap {
        (0..n).map(pick).collect()
    } else {
        (0..cap).map(|j| pick(j * n / cap)).collect()
    }
}
