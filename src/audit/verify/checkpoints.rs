//! Checkpoints: the stored ones (the log's signature, the root over the entries read, partners'
//! cosignatures) and the ones the auditor already holds (rollback and fork).

use ed25519_dalek::Signature;

use super::deferred::Job;

use super::{Auditor, VerifyError};

use crate::format::checkpoint::Checkpoint;

use crate::format::note::{KeyType, Note, Verifier};

use crate::format::cosignature;

impl Auditor {
    /// Opens the held checkpoints the log key in force signed; the others wait for a later
    /// log key. A checkpoint signed by a key that came into force at entry `from` must be of a
    /// size after that entry.
    pub(super) fn open_trusted(&mut self, from: u64) -> Result<(), VerifyError> {
        let header_size = self.header.as_ref().map_or(0, |h| h.tree_size);
        let log = self.log.clone().expect("the log key is known");
        for note in std::mem::take(&mut self.trusted_notes) {
            let Ok((c, _)) = Checkpoint::open(&note, &log) else {
                self.trusted_notes.push(note);
                continue;
            };
            if from > 0 && c.size <= from {
                return Err(VerifyError::TrustedCheckpoint(format!(
                    "the checkpoint of size {} is signed by the log key that entry {from} put in force, after that size",
                    c.size
                )));
            }
            if c.size > header_size {
                return Err(VerifyError::Rollback {
                    trusted_size: c.size,
                    export_size: header_size,
                });
            }
            self.trusted.push(c);
        }
        Ok(())
    }

    pub(super) fn check_checkpoint(&mut self, note: &str) -> Result<(), VerifyError> {
        let size = self.size;
        let bad = |reason: String| VerifyError::Checkpoint { size, reason };
        let log = self
            .log
            .clone()
            .ok_or_else(|| bad("a checkpoint before the genesis entry".into()))?;
        // The signed-note rules of `Checkpoint::open`, with the log's signature itself queued
        // for batch verification like every other signature (one per checkpoint adds up).
        let parsed = Note::parse(note).map_err(|e| bad(e.to_string()))?;
        let mut signed = 0;
        for sig in parsed.signatures.iter().filter(|s| log.matches(s)) {
            let signature = Signature::from_slice(&sig.signature)
                .map_err(|_| bad("the log's signature is malformed".into()))?;
            self.defer(Job::CheckpointSignature {
                size,
                key: log.key,
                message: parsed.text.as_bytes().to_vec(),
                signature,
            });
            signed += 1;
        }
        if signed == 0 {
            return Err(bad("no signature by the log key".into()));
        }
        let c = Checkpoint::parse_body(&parsed.text).map_err(|e| bad(e.to_string()))?;
        if c.origin != log.name {
            return Err(bad("checkpoint origin is not the log key name".into()));
        }
        if c.size != size {
            return Err(VerifyError::CheckpointMisplaced {
                size,
                claimed: c.size,
            });
        }
        let root = self.frontier.root();
        if c.root != root {
            return Err(VerifyError::RootMismatch {
                size,
                signed: hex::encode(c.root),
                computed: hex::encode(root),
            });
        }
        // Cosignatures: partners' lines are checked; other names are counted, as signed-note
        // verifiers ignore unknown keys.
        for sig in parsed.signatures.iter().filter(|s| s.name != log.name) {
            let Some(key) = self.parties.get(&sig.name).and_then(|p| p.key) else {
                self.report.unknown_signatures += 1;
                continue;
            };
            let cosigner = Verifier::new(&sig.name, KeyType::Cosignature, key)
                .and_then(|v| cosignature::verify(sig, &v, &parsed.text));
            if cosigner.is_err() {
                return Err(VerifyError::BadCosignature {
                    size,
                    cosigner: sig.name.clone(),
                });
            }
            *self.report.cosigned.entry(sig.name.clone()).or_default() += 1;
        }
        self.report.checkpoints += 1;
        if self.report.checkpoints == 1 {
            self.report.checkpoint_sizes.0 = size;
        }
        self.report.checkpoint_sizes.1 = size;
        let header_size = self.header.as_ref().map_or(0, |h| h.tree_size);
        if size == header_size {
            self.ended = true;
        }
        Ok(())
    }

    /// Each held checkpoint must be on the exported history: the same root at its size,
    /// whether or not the export stores a checkpoint of that size.
    pub(super) fn check_trusted_at_size(&self) -> Result<(), VerifyError> {
        let size = self.frontier.size().0;
        for t in self.trusted.iter().filter(|t| t.size == size) {
            let root = self.frontier.root();
            if t.root != root {
                return Err(VerifyError::Fork {
                    size,
                    trusted: hex::encode(t.root),
                    computed: hex::encode(root),
                });
            }
        }
        Ok(())
    }
}
