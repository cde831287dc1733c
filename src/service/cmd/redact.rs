//! Redact: the data owner erases one item's payload. The log appends a Redaction entry signed
//! by the owner; the store then overwrites the payload in place before the entry becomes
//! visible (and finishes the job on open if a crash came in between). The chain, the tree
//! and every signature stay as they were: the disclosure commits to the item through a salted
//! hash, and the salt goes with the content.
//!
//! Idempotent: an item is erased once (the store's `RedactionOf` claim), and asking again
//! returns the receipt of the Redaction entry that erased it, so a retry after a lost reply,
//! or the retention schedule racing the owner's own run, succeeds without a second entry.

use std::sync::Arc;
use std::time::Duration;

use prost::Message;
use tonic::Status;

use super::off_runtime;
use crate::format::LeafIndex;
use crate::format::entry::{self, Claim};
use crate::format::hash::{Hash, hash_from_slice};
use crate::format::signature::{self, Purpose};
use crate::pb::{self, Role};
use crate::sequencer::{Append, SequencerError, SignedBy};
use crate::service::access::{Caller, partner};
use crate::service::{RequestError, State};

/// How long a redaction that lost a race to an identical one in the same batch waits for that
/// batch to become visible.
const RACE_WAIT: Duration = Duration::from_secs(5);

/// Handles one Redact call.
pub async fn handle(
    state: &Arc<State>,
    caller: &Caller,
    request: pb::RedactRequest,
) -> Result<pb::LogReceipt, Status> {
    caller.require(Role::Sender, "Redact")?;
    // The checks read the disclosure and the redactions from the store: on the blocking pool.
    let (s, owner) = (state.clone(), caller.name.clone());
    let checked = off_runtime(move || check(&s, &owner, request)).await?;
    apply(state, checked).await
}

/// A redaction request that passed every check.
pub(crate) enum Checked {
    /// Not erased yet: the entry to append, and the item it erases.
    New(Box<Append>, Hash),
    /// Already erased by this Redaction entry.
    Done(LeafIndex),
}

/// Checks that `owner` may erase the item and signed the request. Shared with the server's
/// retention schedule, which signs with the owner's key and goes through the same checks.
pub(crate) fn check(
    state: &State,
    owner: &str,
    request: pb::RedactRequest,
) -> Result<Checked, Status> {
    let commitment = hash_from_slice(&request.commitment)
        .map_err(|e| RequestError::invalid("commitment", e.to_string()))?;
    if request.reason.trim().is_empty() {
        return Err(RequestError::invalid(
            "reason",
            "say why the item is erased (e.g. \"retention\"); it goes on the record",
        )
        .into());
    }
    RequestError::check_limit(
        "reason length in bytes (max_text_bytes)",
        request.reason.len(),
        state.limits.max_text_bytes,
    )?;
    let index = LeafIndex(request.disclosure_index);
    let bytes = state.store.entry(index)?.ok_or_else(|| {
        RequestError::NotFound(format!(
            "there is no entry {}; the log has {} entries",
            index.0,
            state.store.size().0
        ))
    })?;
    let disclosure = match entry::decode(&bytes)?.kind {
        Some(pb::entry::Kind::Disclosure(d)) => d,
        _ => {
            return Err(RequestError::NotFound(format!(
                "entry {} is not a disclosure: it has no item to erase",
                index.0
            ))
            .into());
        }
    };
    let body = pb::DisclosureBody::decode(disclosure.body.as_slice())
        .map_err(|e| Status::internal(format!("stored disclosure body does not decode: {e}")))?;
    if body.sender != owner {
        return Err(RequestError::Forbidden(format!(
            "entry {} is {:?}'s disclosure; only its data owner erases its items",
            index.0, body.sender
        ))
        .into());
    }
    if !body.items.iter().any(|i| i.commitment == commitment) {
        return Err(RequestError::NotFound(format!(
            "entry {} commits to no item {}",
            index.0,
            hex::encode(commitment)
        ))
        .into());
    }
    let (_, key) = partner(state, owner, "owner")?;
    let payload = signature::index_and_hash(index.0, &commitment);
    signature::verify(&key, Purpose::Redaction, &payload, &request.signature).map_err(|_| {
        state.metrics.signature_failure("Redact");
        RequestError::Forbidden(format!(
            "the redaction is not signed by {owner}'s key: only the data owner erases; sign {:?} || u64be(disclosure_index) || commitment with its partner key",
            Purpose::Redaction.domain_text()
        ))
    })?;
    if let Some(done) = state.store.redaction_of(&commitment)? {
        return Ok(Checked::Done(done));
    }
    Ok(Checked::New(
        Box::new(Append {
            kind: pb::entry::Kind::Redaction(pb::Redaction {
                disclosure_index: index.0,
                commitment: commitment.to_vec(),
                owner: owner.to_owned(),
                reason: request.reason,
                signature: request.signature,
            }),
            payloads: Vec::new(),
            claims: vec![Claim::RedactionOf(commitment)],
            screened_under: None,
            signed_by: Some(SignedBy::new(owner, key)),
        }),
        commitment,
    ))
}

/// Appends the Redaction entry (the store erases the payload before it is visible), or hands
/// back the receipt of the one that already erased the item.
pub(crate) async fn apply(state: &Arc<State>, checked: Checked) -> Result<pb::LogReceipt, Status> {
    let (append, commitment) = match checked {
        Checked::Done(index) => return existing_receipt(state, index).await,
        Checked::New(append, commitment) => (append, commitment),
    };
    match state.sequencer.append(*append).await {
        Ok(appended) => super::receipt(state, appended).await,
        Err(SequencerError::AlreadyClaimed {
            claim: Claim::RedactionOf(_),
            ..
        }) => {
            // Another redaction of the item won the race; it may still be in its batch.
            let mut size = state.sequencer.size();
            let wait = async {
                loop {
                    let s = state.clone();
                    let erased_by =
                        off_runtime(move || Ok(s.store.redaction_of(&commitment)?)).await?;
                    if let Some(index) = erased_by {
                        return existing_receipt(state, index).await;
                    }
                    if size.changed().await.is_err() {
                        return Err(SequencerError::Stopped.into());
                    }
                }
            };
            tokio::time::timeout(RACE_WAIT, wait)
                .await
                .unwrap_or_else(|_| {
                    Err(RequestError::AlreadyExists(
                        "this item is being erased by another request; ask again for its receipt"
                            .into(),
                    )
                    .into())
                })
        }
        Err(e) => Err(e.into()),
    }
}

/// The receipt of an entry already in the log, proved against the latest checkpoint; read on
/// the blocking pool.
async fn existing_receipt(state: &Arc<State>, index: LeafIndex) -> Result<pb::LogReceipt, Status> {
    let state = state.clone();
    off_runtime(move || read_receipt(&state, index)).await
}

fn read_receipt(state: &State, index: LeafIndex) -> Result<pb::LogReceipt, Status> {
    let size = state.store.size();
    let missing = || Status::internal(format!("entry {} or its checkpoint is missing", index.0));
    let entry = state.store.entry(index)?.ok_or_else(missing)?;
    let leaf_hash = state.store.leaf_hash(index)?.ok_or_else(missing)?;
    let checkpoint = state.store.checkpoint(Some(size))?.ok_or_else(missing)?;
    let proof = state.store.inclusion_proof(index, size)?;
    Ok(pb::LogReceipt {
        index: index.0,
        leaf_hash: leaf_hash.to_vec(),
        checkpoint,
        inclusion_proof: proof.iter().map(|h| h.to_vec()).collect(),
        entry,
    })
}
