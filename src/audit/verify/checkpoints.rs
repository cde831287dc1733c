//! Checkpoints: the stored ones (the log's signature, the root over the entries read, partners'
//! cosignatures) and the ones the auditor already holds (rollback and fork).

use std::sync::Arc;

use ed25519_dalek::{Signature, VerifyingKey};

use super::deferred::Job;

use super::{Auditor, VerifyError};

use crate::format::checkpoint::Checkpoint;

use crate::format::note::{KeyType, Note, NoteSignature, Verifier};

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
        // Cosignatures (docs/DESIGN.md, "Checkpoints"): a partner's line under its key in force
        // at this size is checked now; one under another key id may be by a key a later
        // KeyChange gives it (a witness cosigning an older checkpoint after rotating), so it
        // waits for one. Lines by other names are counted, as signed-note verifiers ignore
        // unknown keys.
        let text: Arc<str> = Arc::from(parsed.text.as_str());
        for sig in parsed.signatures.into_iter().filter(|s| s.name != log.name) {
            let Some(key) = self.parties.get(&sig.name).and_then(|p| p.key) else {
                self.report.unknown_signatures += 1;
                continue;
            };
            let Ok(cosigner) = Verifier::new(&sig.name, KeyType::Cosignature, key) else {
                self.report.unknown_signatures += 1;
                continue;
            };
            if cosigner.matches(&sig) {
                self.cosignature(size, &sig, &cosigner, &text)?;
            } else if self.later_cosignatures.len() < MAX_LATER_COSIGNATURES {
                self.later_cosignatures.push(LaterCosignature {
                    size,
                    text: text.clone(),
                    sig,
                });
            } else {
                self.report.unknown_signatures += 1;
            }
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

    /// Checks a cosignature line under the partner key it names by its key id.
    fn cosignature(
        &mut self,
        size: u64,
        sig: &NoteSignature,
        cosigner: &Verifier,
        text: &str,
    ) -> Result<(), VerifyError> {
        if cosignature::verify(sig, cosigner, text).is_err() {
            return Err(VerifyError::BadCosignature {
                size,
                cosigner: sig.name.clone(),
            });
        }
        *self.report.cosigned.entry(sig.name.clone()).or_default() += 1;
        Ok(())
    }

    /// After `party` rotated to `key`: the waiting cosignatures by that key are checked now.
    pub(super) fn cosignatures_by_new_key(
        &mut self,
        party: &str,
        key: VerifyingKey,
    ) -> Result<(), VerifyError> {
        let Ok(cosigner) = Verifier::new(party, KeyType::Cosignature, key) else {
            return Ok(());
        };
        let (now, later): (Vec<_>, Vec<_>) = std::mem::take(&mut self.later_cosignatures)
            .into_iter()
            .partition(|c| cosigner.matches(&c.sig));
        self.later_cosignatures = later;
        for c in now {
            self.cosignature(c.size, &c.sig, &cosigner, &c.text)?;
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

/// Cosignature lines kept waiting for a later key at most; past it, further ones count as
/// unknown keys, so an export stuffed with lines under no key cannot grow the verifier's memory.
const MAX_LATER_COSIGNATURES: usize = 4096;

/// A partner's cosignature line under a key id other than its key in force at the checkpoint:
/// checked if a later KeyChange gives the partner that key, else counted as an unknown key.
pub(super) struct LaterCosignature {
    size: u64,
    text: Arc<str>,
    sig: NoteSignature,
}
