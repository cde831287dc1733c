//! Checks deferred to batches: signatures (Ed25519 batch verification) and guard replays are
//! the expensive part of verifying, so they are queued and run together, on worker threads
//! when there are any, and only their first failure by log position is kept.

use std::sync::Arc;

use ed25519_dalek::{Signature, VerifyingKey};

use super::{Auditor, VerifyError};

use crate::format::signature::{self, Purpose};

use crate::guard::{self, Policy, Verdict};
use crate::pb::{self};

/// A check deferred to the workers.
pub(super) enum Job {
    Signature {
        index: u64,
        purpose: Purpose,
        signer: Arc<str>,
        key: VerifyingKey,
        message: Vec<u8>,
        signature: Signature,
    },
    /// The log's signature on the checkpoint of `size` (Ed25519 over the note text).
    CheckpointSignature {
        size: u64,
        key: VerifyingKey,
        message: Vec<u8>,
        signature: Signature,
    },
    Replay {
        index: u64,
        item: usize,
        policy: Arc<Policy>,
        context: Arc<ReplayContext>,
        content: Vec<u8>,
        expected: pb::ItemCommitment,
    },
    /// The guard over the disclosure body's own free text (purpose, legal basis, case
    /// reference), as the service screened it: it crosses with the items and is never erased.
    ReplayBody {
        index: u64,
        policy: Arc<Policy>,
        context: Arc<ReplayContext>,
        case_reference: String,
    },
}

/// What a disclosure body declares about the sharing, owned, so a worker thread can replay the
/// guard under it.
pub(super) struct ReplayContext {
    sender: String,
    recipient: String,
    purpose: String,
    legal_basis: String,
}

impl ReplayContext {
    pub(super) fn of(body: &pb::DisclosureBody) -> Arc<Self> {
        Arc::new(ReplayContext {
            sender: body.sender.clone(),
            recipient: body.recipient.clone(),
            purpose: body.purpose.clone(),
            legal_basis: body.legal_basis.clone(),
        })
    }

    fn guard(&self) -> guard::Context<'_> {
        guard::Context {
            sender: &self.sender,
            recipient: &self.recipient,
            purpose: &self.purpose,
            legal_basis: &self.legal_basis,
        }
    }
}

/// Jobs per batch: large enough for batch verification to pay off.
pub(super) const BATCH: usize = 4096;

impl Auditor {
    /// Queues a signature check.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn signature(
        &mut self,
        index: u64,
        purpose: Purpose,
        signer: Arc<str>,
        key: VerifyingKey,
        payload: &[u8],
        sig: &[u8],
    ) -> Result<(), VerifyError> {
        let signature = Signature::from_slice(sig).map_err(|_| VerifyError::BadSignature {
            index,
            purpose: purpose_name(purpose),
            signer: signer.to_string(),
        })?;
        self.report.signatures += 1;
        self.defer(Job::Signature {
            index,
            purpose,
            signer,
            key,
            message: signature::message(purpose, payload),
            signature,
        });
        Ok(())
    }

    pub(super) fn defer(&mut self, job: Job) {
        self.batch.push(job);
        if self.batch.len() >= BATCH {
            self.flush();
        }
    }

    /// Hands the queued batch to a worker (or runs it here without workers).
    pub(super) fn flush(&mut self) {
        if self.batch.is_empty() {
            return;
        }
        let batch = std::mem::replace(&mut self.batch, Vec::with_capacity(BATCH));
        match &mut self.pool {
            Some(pool) => {
                pool.submit(batch);
                // Collect whatever is done, without waiting.
                let mut done = Vec::new();
                while let Some(r) = pool.try_result() {
                    done.push(r);
                }
                for r in done {
                    self.note_deferred(r);
                }
            }
            None => {
                let r = run_batch(batch);
                self.note_deferred(r);
            }
        }
    }

    /// Waits for every batch handed to the workers.
    pub(super) fn drain(&mut self) {
        if let Some(pool) = &mut self.pool {
            let results = pool.wait_all();
            for r in results {
                self.note_deferred(r);
            }
        }
    }

    pub(super) fn note_deferred(&mut self, r: BatchResult) {
        self.report.replays_passed += r.replays_passed;
        self.report.body_replays_passed += r.body_replays_passed;
        if let Some(e) = r.error {
            match &self.deferred_error {
                Some(d) if d.position() <= e.position() => {}
                _ => self.deferred_error = Some(e),
            }
        }
    }
}

pub(super) fn purpose_name(p: Purpose) -> &'static str {
    match p {
        Purpose::Disclosure => "disclosure",
        Purpose::Receipt => "receipt",
        Purpose::Policy => "policy",
        Purpose::Redaction => "redaction",
        Purpose::KeyChange => "key-change",
    }
}

/// What one batch of deferred checks found.
pub(super) struct BatchResult {
    /// Its first failure by position.
    error: Option<VerifyError>,
    /// Guard replays that accepted the item as recorded.
    replays_passed: u64,
    /// Guard replays that accepted a disclosure body's free text.
    body_replays_passed: u64,
}

/// Runs one batch of deferred checks.
pub(super) fn run_batch(batch: Vec<Job>) -> BatchResult {
    let mut first: Option<VerifyError> = None;
    let mut replays_passed = 0;
    let mut body_replays_passed = 0;
    let mut note = |e: VerifyError| match &first {
        Some(f) if f.position() <= e.position() => {}
        _ => first = Some(e),
    };
    let mut messages: Vec<&[u8]> = Vec::with_capacity(batch.len());
    let mut signatures = Vec::with_capacity(batch.len());
    let mut keys = Vec::with_capacity(batch.len());
    for job in &batch {
        match job {
            Job::Signature {
                message,
                signature,
                key,
                ..
            }
            | Job::CheckpointSignature {
                message,
                signature,
                key,
                ..
            } => {
                messages.push(message);
                signatures.push(*signature);
                keys.push(*key);
            }
            Job::Replay { .. } | Job::ReplayBody { .. } => {}
        }
    }
    // One batch equation for all; only when it fails, find the culprit one by one.
    let batch_ok = crate::audit::batch::verify_batch(&messages, &signatures, &keys);
    for job in batch {
        match job {
            Job::Signature {
                index,
                purpose,
                signer,
                key,
                message,
                signature,
            } => {
                if !batch_ok && key.verify_strict(&message, &signature).is_err() {
                    note(VerifyError::BadSignature {
                        index,
                        purpose: purpose_name(purpose),
                        signer: signer.to_string(),
                    });
                }
            }
            Job::CheckpointSignature {
                size,
                key,
                message,
                signature,
            } => {
                if !batch_ok && key.verify_strict(&message, &signature).is_err() {
                    note(VerifyError::Checkpoint {
                        size,
                        reason: "the log's signature does not verify".into(),
                    });
                }
            }
            Job::Replay {
                index,
                item,
                policy,
                context,
                content,
                expected,
            } => {
                let bad = |reason: String| VerifyError::GuardReplay {
                    index,
                    item,
                    reason,
                };
                match policy.screen(&context.guard(), &content) {
                    Verdict::Refused(findings) => {
                        let rules: Vec<_> = findings.iter().map(|f| f.rule).collect();
                        note(bad(format!(
                            "the recorded policy refuses this item ({})",
                            rules.join(", ")
                        )))
                    }
                    Verdict::Accepted(s) => {
                        if s.stix_id != expected.stix_id
                            || s.stix_type != expected.stix_type
                            || s.tlp.as_str() != expected.tlp
                        {
                            note(bad(format!(
                                "accepted as {} {} TLP:{}, but the body says {} {} TLP:{}",
                                s.stix_type,
                                s.stix_id,
                                s.tlp.as_str(),
                                expected.stix_type,
                                expected.stix_id,
                                expected.tlp
                            )))
                        } else {
                            replays_passed += 1;
                        }
                    }
                }
            }
            Job::ReplayBody {
                index,
                policy,
                context,
                case_reference,
            } => {
                let findings = policy.screen_body(&context.guard(), &case_reference);
                if findings.is_empty() {
                    body_replays_passed += 1;
                } else {
                    let fields: Vec<_> = findings
                        .iter()
                        .map(|f| format!("{} ({})", f.path, f.rule))
                        .collect();
                    note(VerifyError::GuardReplayBody {
                        index,
                        fields: fields.join(", "),
                    });
                }
            }
        }
    }
    BatchResult {
        error: first,
        replays_passed,
        body_replays_passed,
    }
}
