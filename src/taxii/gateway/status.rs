//! Status resources (specification section 4.3.1): one per envelope pushed, kept as a JSON
//! file in the gateway's state directory so that `GET status/{id}` and a resubmitted envelope
//! find it after a restart too.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::taxii::error::TaxiiError;

/// One object's outcome (a status-details resource).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Detail {
    /// The object's STIX id.
    pub id: String,
    /// Its version (`modified`, else `created`).
    pub version: String,
    /// What happened: the entry for a success, the guard's rule and path for a refusal.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub message: Option<String>,
}

/// A TAXII status resource.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Status {
    /// A UUID derived from the envelope's content hash: the same envelope, the same status.
    pub id: String,
    /// `pending` until the ledger has answered, then `complete`.
    pub status: String,
    /// When the envelope arrived, RFC 3339.
    pub request_timestamp: String,
    /// Objects in the envelope.
    pub total_count: usize,
    /// Objects disclosed.
    pub success_count: usize,
    /// Their details.
    pub successes: Vec<Detail>,
    /// Objects not disclosed.
    pub failure_count: usize,
    /// Their details.
    pub failures: Vec<Detail>,
    /// Objects waiting for the ledger.
    pub pending_count: usize,
    /// Their details.
    pub pendings: Vec<Detail>,
}

impl Status {
    /// A status with every object pending.
    pub fn pending(id: String, objects: Vec<Detail>) -> Status {
        Status {
            id,
            status: "pending".into(),
            request_timestamp: crate::clock::format_rfc3339(crate::clock::now_ms()),
            total_count: objects.len(),
            success_count: 0,
            successes: Vec::new(),
            failure_count: 0,
            failures: Vec::new(),
            pending_count: objects.len(),
            pendings: objects,
        }
    }

    /// Completes it: every pending object moves to `successes` or `failures`.
    pub fn complete(&mut self, successes: Vec<Detail>, failures: Vec<Detail>) {
        self.status = "complete".into();
        self.success_count = successes.len();
        self.successes = successes;
        self.failure_count = failures.len();
        self.failures = failures;
        self.pending_count = 0;
        self.pendings.clear();
    }
}

/// The directory of status files.
pub struct Statuses {
    dir: PathBuf,
}

impl Statuses {
    /// Status files under `<state>/status/`, created if missing.
    pub fn open(state_dir: &Path) -> std::io::Result<Statuses> {
        let dir = state_dir.join("status");
        std::fs::create_dir_all(&dir)?;
        Ok(Statuses { dir })
    }

    fn path(&self, id: &str) -> Option<PathBuf> {
        // Ids are UUIDs this gateway made; anything else cannot name a file of ours.
        let ok = id.len() == 36 && id.chars().all(|c| c.is_ascii_hexdigit() || c == '-');
        ok.then(|| self.dir.join(format!("{id}.json")))
    }

    /// The status `id`, if this gateway made it.
    pub fn get(&self, id: &str) -> Result<Option<Status>, TaxiiError> {
        let Some(path) = self.path(id) else {
            return Ok(None);
        };
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| TaxiiError::Internal(format!("status file {id}: {e}"))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(TaxiiError::Internal(format!("status file {id}: {e}"))),
        }
    }

    /// Writes `status` durably (temporary file, fsync, rename).
    pub fn put(&self, status: &Status) -> Result<(), TaxiiError> {
        let path = self
            .path(&status.id)
            .ok_or_else(|| TaxiiError::Internal("a status id that is not a UUID".into()))?;
        let bytes = serde_json::to_vec_pretty(status)
            .map_err(|e| TaxiiError::Internal(format!("status: {e}")))?;
        crate::identity::keys::write_public(&path, &bytes)
            .map_err(|e| TaxiiError::Internal(format!("writing the status: {e}")))
    }
}
