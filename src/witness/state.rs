//! The witness's record: per log origin, the last checkpoint it cosigned (and the cosignature
//! it gave), in one small JSON file replaced atomically (write a temporary file beside it,
//! fsync, rename over, fsync the directory), so a crash leaves the old record or the new one,
//! never a mix. A lock file held for the witness's lifetime keeps a second process from
//! cosigning from the same record.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Serialize};

use super::{Summary, WitnessError};
use crate::format::Hash;
use crate::format::hash::hash_from_slice;

/// What a witness cosigned last for one origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    /// Tree size.
    pub size: u64,
    /// Root hash at that size.
    pub root: Hash,
    /// The log-signed checkpoint note as it was offered (evidence, should the log later
    /// show another view).
    pub checkpoint: String,
    /// The cosignature line the witness gave for it.
    pub cosignature: String,
}

impl Held {
    /// One-line description naming the origin.
    pub fn summary(&self, origin: &str) -> Summary {
        Summary {
            origin: origin.to_owned(),
            size: self.size,
            root: self.root,
        }
    }
}

/// The file's JSON shape; the root is base64 as in checkpoints.
#[derive(Debug, Default, Serialize, Deserialize)]
struct StateFile {
    logs: BTreeMap<String, Record>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Record {
    size: u64,
    root: String,
    checkpoint: String,
    cosignature: String,
}

/// The witness's state: loaded on open, replaced on disk before any change is visible.
#[derive(Debug)]
pub struct WitnessState {
    path: PathBuf,
    logs: BTreeMap<String, Held>,
    _lock: File,
}

impl WitnessState {
    /// Loads `path` (empty if it does not exist yet) and takes `<path>.lock`.
    pub fn open(path: &Path) -> Result<WitnessState, WitnessError> {
        let err = |why: String| WitnessError::State {
            path: path.to_owned(),
            why,
        };
        let lock_path = lock_path(path);
        let lock = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&lock_path)
            .map_err(|e| err(format!("opening {}: {e}", lock_path.display())))?;
        lock.try_lock().map_err(|_| {
            err(format!(
                "{} is held by another witness process; one witness per state file",
                lock_path.display()
            ))
        })?;
        let logs = match std::fs::read(path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => return Err(err(format!("reading: {e}"))),
            Ok(bytes) => {
                let file: StateFile =
                    serde_json::from_slice(&bytes).map_err(|e| err(format!("not JSON: {e}")))?;
                let mut logs = BTreeMap::new();
                for (origin, r) in file.logs {
                    let root = BASE64
                        .decode(&r.root)
                        .ok()
                        .and_then(|b| hash_from_slice(&b).ok())
                        .ok_or_else(|| err(format!("the root held for {origin} is malformed")))?;
                    logs.insert(
                        origin,
                        Held {
                            size: r.size,
                            root,
                            checkpoint: r.checkpoint,
                            cosignature: r.cosignature,
                        },
                    );
                }
                logs
            }
        };
        Ok(WitnessState {
            path: path.to_owned(),
            logs,
            _lock: lock,
        })
    }

    /// What was cosigned last for `origin`.
    pub fn get(&self, origin: &str) -> Option<&Held> {
        self.logs.get(origin)
    }

    /// Replaces the record for `origin`, on disk first: when this returns Ok the new record
    /// survives a crash; when it fails, nothing changed (in memory or on disk).
    pub fn record(&mut self, origin: &str, held: Held) -> Result<(), WitnessError> {
        let mut next = self.logs.clone();
        next.insert(origin.to_owned(), held);
        write_atomically(&self.path, &next).map_err(|why| WitnessError::State {
            path: self.path.clone(),
            why,
        })?;
        self.logs = next;
        Ok(())
    }
}

fn lock_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".lock");
    path.with_file_name(name)
}

fn write_atomically(path: &Path, logs: &BTreeMap<String, Held>) -> Result<(), String> {
    let file = StateFile {
        logs: logs
            .iter()
            .map(|(o, h)| {
                (
                    o.clone(),
                    Record {
                        size: h.size,
                        root: BASE64.encode(h.root),
                        checkpoint: h.checkpoint.clone(),
                        cosignature: h.cosignature.clone(),
                    },
                )
            })
            .collect(),
    };
    let json = serde_json::to_vec_pretty(&file).map_err(|e| e.to_string())?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::NamedTempFile::new_in(dir)
        .map_err(|e| format!("creating a temporary file in {}: {e}", dir.display()))?;
    tmp.write_all(&json)
        .and_then(|_| tmp.as_file().sync_all())
        .map_err(|e| format!("writing: {e}"))?;
    tmp.persist(path)
        .map_err(|e| format!("replacing: {}", e.error))?;
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| format!("syncing {}: {e}", dir.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_survives_reopen_and_lock_excludes_a_second_witness() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.witness-state");
        let mut s = WitnessState::open(&path).unwrap();
        assert!(s.get("o").is_none());
        let held = Held {
            size: 7,
            root: [3; 32],
            checkpoint: "o\n7\n...\n".into(),
            cosignature: "— w AAAA\n".into(),
        };
        s.record("o", held.clone()).unwrap();
        assert!(matches!(
            WitnessState::open(&path),
            Err(WitnessError::State { why, .. }) if why.contains("another witness")
        ));
        drop(s);
        let s = WitnessState::open(&path).unwrap();
        assert_eq!(s.get("o"), Some(&held));
    }

    #[test]
    fn damaged_state_is_an_error_not_a_fresh_start() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.witness-state");
        std::fs::write(&path, b"{\"logs\": {\"o\": ").unwrap();
        assert!(matches!(
            WitnessState::open(&path),
            Err(WitnessError::State { .. })
        ));
    }
}
