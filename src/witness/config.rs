//! `keys/witnesses.toml`: the witnesses a log submits each new checkpoint to (C2SP
//! tlog-witness), with the cosignature/v1 key each must cosign with.
//!
//! ```toml
//! # Optional: least time between two submissions to one witness (default 1000 ms).
//! push_interval_ms = 1000
//!
//! [[witness]]
//! # Submission prefix: the log POSTs to <url>/add-checkpoint.
//! url = "http://127.0.0.1:7460"
//! # The witness's verifier key, as `borderlog witness --serve` prints it.
//! key = "police-network+1a2b3c4d+BD..."
//! ```

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::WitnessError;
use crate::format::note::{KeyType, Verifier};

/// File name of the witness list in the keys directory.
pub const WITNESSES_FILE: &str = "witnesses.toml";

/// One witness the log asks for cosignatures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteWitness {
    /// Submission prefix (without the trailing `/add-checkpoint`).
    pub url: String,
    /// Its cosignature/v1 key; cosignatures by any other key are ignored.
    pub verifier: Verifier,
}

/// The log's witness configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Witnesses {
    /// Whom to ask.
    pub witnesses: Vec<RemoteWitness>,
    /// Least time between two submissions to one witness.
    pub push_interval: Duration,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileShape {
    push_interval_ms: Option<u64>,
    #[serde(default)]
    witness: Vec<WitnessShape>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WitnessShape {
    url: String,
    key: String,
}

impl Witnesses {
    /// Reads `<keys_dir>/witnesses.toml`; no file means no witnesses.
    pub fn load(keys_dir: &Path) -> Result<Witnesses, WitnessError> {
        let path = keys_dir.join(WITNESSES_FILE);
        match std::fs::read_to_string(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Witnesses {
                witnesses: Vec::new(),
                push_interval: Duration::from_secs(1),
            }),
            Err(e) => Err(bad(&path, format!("cannot read it: {e}"))),
            Ok(text) => Self::parse(&text, &path),
        }
    }

    /// Parses the file's text; `path` names it in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Witnesses, WitnessError> {
        let shape: FileShape = toml::from_str(text).map_err(|e| bad(path, e.to_string()))?;
        let mut witnesses = Vec::new();
        for (i, w) in shape.witness.into_iter().enumerate() {
            let verifier = Verifier::parse(&w.key)
                .map_err(|e| bad(path, format!("witness {}: key: {e}", i + 1)))?;
            if verifier.kind != KeyType::Cosignature {
                return Err(bad(
                    path,
                    format!("witness {}: key is not a cosignature/v1 key", i + 1),
                ));
            }
            let url = w.url.trim_end_matches('/').to_owned();
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(bad(
                    path,
                    format!("witness {}: url {url:?} is not http:// or https://", i + 1),
                ));
            }
            witnesses.push(RemoteWitness { url, verifier });
        }
        Ok(Witnesses {
            witnesses,
            push_interval: Duration::from_millis(shape.push_interval_ms.unwrap_or(1000)),
        })
    }
}

fn bad(path: &Path, why: String) -> WitnessError {
    WitnessError::Config {
        path: PathBuf::from(path),
        why,
    }
}
