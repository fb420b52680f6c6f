//! Checkpoints: the full training state, versioned, checksummed and written atomically.
//!
//! File layout: `OVERFIT\0` (8 bytes) · format version (u32 LE) · payload length (u64 LE) ·
//! CRC-32 of the payload (u32 LE) · payload (bincode 2 of [`Checkpoint`], serde). A truncated file,
//! a flipped byte, a foreign file or another version is refused with a message before any of it is
//! decoded, and decoding is bounded so a corrupt length prefix cannot claim terabytes.

use crate::config::TrainConfig;
use crate::error::{Error, Result};
use crate::optim::Adam;
use autograd::ParamSet;
use serde::{Deserialize, Serialize};
use std::path::Path;

pub const MAGIC: &[u8; 8] = b"OVERFIT\0";
pub const VERSION: u32 = 2;
const HEADER: usize = 8 + 4 + 8 + 4;
/// The most a payload may decode to (bincode's allocation limit): a corrupt or hostile length
/// prefix that claims more is refused before anything is allocated. 8 GiB covers the optimizer
/// state of any model this machine can train.
const LIMIT: usize = 1 << 33;

/// One named tensor.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SavedTensor {
    pub name: String,
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

/// Everything needed to continue a run exactly where it stopped.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub config: TrainConfig,
    pub params: Vec<SavedTensor>,
    pub optimizer: Adam,
    /// Optimizer steps taken. With the seed it fixes all remaining randomness: the order of the
    /// windows in epoch e is a shuffle seeded by (seed, e), and step s is batch s mod steps-per-epoch.
    pub step: u64,
    /// The data RNG's state: the window order of epoch e is a shuffle seeded by (this seed, e), and
    /// e = step / steps_per_epoch, so (data_seed, step) is the whole state. Kept beside the config's
    /// seed so that a reader of the file sees it; resume checks nothing against it.
    pub data_seed: u64,
    /// CRC-32 of the training bytes, so a resume on other data is refused.
    pub data_fingerprint: u32,
    pub samples_seen: u64,
    pub wall_seconds: f64,
    /// Of wall_seconds, the time spent evaluating.
    pub eval_seconds: f64,
    /// The loss of the run's first step (the divergence rule's yardstick).
    pub first_loss: Option<f64>,
    /// Training losses summed since the last regular metrics row, and their count: a resumed run
    /// continues the running mean, so its metrics.jsonl matches an uninterrupted run's.
    pub pending_loss: (f64, u64),
}

impl Checkpoint {
    pub fn params_from(set: &ParamSet<f32>) -> Vec<SavedTensor> {
        set.iter()
            .map(|(_, p)| SavedTensor {
                name: p.name.clone(),
                shape: p.shape.clone(),
                data: p.value.iter().copied().collect(),
            })
            .collect()
    }

    /// Copies saved values into a freshly built parameter set, checking every name and shape.
    pub fn restore_into(saved: &[SavedTensor], set: &mut ParamSet<f32>, what: &str) -> Result<()> {
        let expected: Vec<(String, Vec<usize>)> = set.iter().map(|(_, p)| (p.name.clone(), p.shape.clone())).collect();
        for (name, shape) in &expected {
            let Some(s) = saved.iter().find(|s| &s.name == name) else {
                return Err(Error::input(what, format!("tensor '{name}' is missing")));
            };
            if &s.shape != shape || s.data.len() != shape.iter().product::<usize>() {
                return Err(Error::input(
                    what,
                    format!("tensor '{name}' has shape {:?}; the model needs {:?}", s.shape, shape),
                ));
            }
        }
        if let Some(extra) = saved.iter().find(|s| !expected.iter().any(|(n, _)| n == &s.name)) {
            return Err(Error::input(what, format!("tensor '{}' does not belong to this model", extra.name)));
        }
        for p in set.iter_mut() {
            let s = saved.iter().find(|s| s.name == p.name).expect("checked above");
            p.value = tensor::from_vec(&p.shape, s.data.clone());
        }
        Ok(())
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let payload = bincode::serde::encode_to_vec(self, bincode::config::standard()).expect("checkpoints serialize");
        let mut out = Vec::with_capacity(HEADER + payload.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
        out.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
        out.extend_from_slice(&payload);
        out
    }

    /// Checks that the decoded state is one overfit can use, before anything is allocated for it:
    /// a valid config, every tensor of that config's model with its shape, optimizer moments of the
    /// same sizes, sane Adam constants. A file whose checksum was forged can still fail here.
    pub fn check(&self, what: &str) -> Result<()> {
        self.config.validate().map_err(|e| Error::input(what, format!("holds an invalid config: {e}")))?;
        let (_, shapes) = heads::Model::<f32>::shapes_only(&self.config.model)?;
        let expected: Vec<(String, Vec<usize>)> =
            shapes.iter().map(|(_, p)| (p.name.clone(), p.shape.clone())).collect();
        for (name, shape) in &expected {
            let Some(s) = self.params.iter().find(|s| &s.name == name) else {
                return Err(Error::input(what, format!("tensor '{name}' is missing")));
            };
            if &s.shape != shape || s.data.len() != shape.iter().product::<usize>() {
                return Err(Error::input(
                    what,
                    format!("tensor '{name}' has shape {:?}; the model needs {:?}", s.shape, shape),
                ));
            }
        }
        if let Some(extra) = self.params.iter().find(|s| !expected.iter().any(|(n, _)| n == &s.name)) {
            return Err(Error::input(what, format!("tensor '{}' does not belong to this model", extra.name)));
        }
        let o = &self.optimizer;
        let sizes_fit = |moments: &Vec<Vec<f32>>| {
            moments.len() == expected.len()
                && moments.iter().zip(&expected).all(|(m, (_, s))| m.len() == s.iter().product::<usize>())
        };
        if !sizes_fit(&o.m) || !sizes_fit(&o.v) {
            return Err(Error::input(what, "its optimizer state does not fit its parameters"));
        }
        let unit = |x: f64| x.is_finite() && (0.0..1.0).contains(&x);
        if !(unit(o.beta1) && unit(o.beta2) && o.eps.is_finite() && o.eps > 0.0) {
            return Err(Error::input(what, "its optimizer constants are out of range"));
        }
        Ok(())
    }

    pub fn from_bytes(bytes: &[u8], what: &str) -> Result<Checkpoint> {
        if bytes.len() < HEADER || &bytes[..8] != MAGIC {
            return Err(Error::input(what, "is not an overfit checkpoint (no OVERFIT header)"));
        }
        let version = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes"));
        if version != VERSION {
            return Err(Error::input(
                what,
                format!("is a checkpoint of format version {version}; this overfit reads version {VERSION}"),
            ));
        }
        let len = u64::from_le_bytes(bytes[12..20].try_into().expect("8 bytes"));
        let crc = u32::from_le_bytes(bytes[20..24].try_into().expect("4 bytes"));
        let payload = &bytes[HEADER..];
        if payload.len() as u64 != len {
            return Err(Error::input(
                what,
                format!(
                    "is truncated or padded: the header announces {len} bytes of state, the file holds {}",
                    payload.len()
                ),
            ));
        }
        if crc32fast::hash(payload) != crc {
            return Err(Error::input(what, "is corrupt: its checksum does not match (a changed or damaged byte)"));
        }
        let config = bincode::config::standard().with_limit::<LIMIT>();
        let (ck, used): (Checkpoint, usize) = bincode::serde::decode_from_slice(payload, config)
            .map_err(|e| Error::input(what, format!("cannot be decoded: {e}")))?;
        if used != payload.len() {
            return Err(Error::input(what, "has trailing bytes after the training state"));
        }
        ck.check(what)?;
        Ok(ck)
    }

    /// Writes atomically: the previous checkpoint stays whole until the new one is on disk.
    pub fn save(&self, path: &Path) -> Result<()> {
        crate::fsutil::write_atomic(path, &self.to_bytes())
    }

    pub fn load(path: &Path) -> Result<Checkpoint> {
        let shown = path.display().to_string();
        let meta = std::fs::metadata(path)
            .map_err(|e| Error::input(&shown, format!("cannot read the checkpoint: {}", crate::data::io_reason(&e))))?;
        if meta.is_dir() {
            return Err(Error::input(&shown, "is a directory, not a checkpoint file"));
        }
        let bytes = std::fs::read(path)
            .map_err(|e| Error::input(&shown, format!("cannot read the checkpoint: {}", crate::data::io_reason(&e))))?;
        Self::from_bytes(&bytes, &shown)
    }
}
