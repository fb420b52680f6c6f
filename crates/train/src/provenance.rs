//! Where a run came from: the program's version and commit, the command line, when it ran, and
//! the exact data (path, size, sha256). Written into config.json and report.json.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::Path;
use std::time::SystemTime;

/// The program and the moment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    pub version: String,
    /// The git commit the binary was built from ("-dirty": with uncommitted changes).
    pub commit: String,
    /// The full command line.
    pub command: Vec<String>,
    /// RFC 3339, UTC.
    pub started: String,
    pub data: DataInfo,
}

/// The bytes a run trained on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DataInfo {
    /// The file, or "the embedded corpus".
    pub path: String,
    pub bytes: u64,
    pub sha256: String,
}

/// Now, as RFC 3339 in UTC (seconds).
pub fn now() -> String {
    humantime::format_rfc3339_seconds(SystemTime::now()).to_string()
}

impl Provenance {
    /// The provenance of a run starting now on `data` (None: the embedded corpus).
    pub fn now(data: Option<&str>) -> Result<Provenance> {
        Ok(Provenance {
            version: env!("CARGO_PKG_VERSION").to_string(),
            commit: env!("OVERFIT_GIT_COMMIT").to_string(),
            command: std::env::args().collect(),
            started: now(),
            data: DataInfo::of(data)?,
        })
    }
}

impl DataInfo {
    pub fn of(data: Option<&str>) -> Result<DataInfo> {
        let Some(path) = data else {
            let bytes = crate::data::EMBEDDED_CORPUS.as_bytes();
            return Ok(DataInfo {
                path: "the embedded corpus".into(),
                bytes: bytes.len() as u64,
                sha256: hex(&Sha256::digest(bytes)),
            });
        };
        let err = |e: std::io::Error| {
            Error::input(path, format!("cannot read the data file: {}", crate::data::io_reason(&e)))
        };
        let mut file = std::fs::File::open(Path::new(path)).map_err(err)?;
        let (mut hasher, mut buf, mut bytes) = (Sha256::new(), vec![0u8; 1 << 20], 0u64);
        loop {
            let n = file.read(&mut buf).map_err(err)?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            bytes += n as u64;
        }
        Ok(DataInfo { path: path.to_string(), bytes, sha256: hex(&hasher.finalize()) })
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
