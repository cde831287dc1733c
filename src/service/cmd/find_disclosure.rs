//! FindDisclosure: the entry that spent one of the caller's disclosure nonces, so that a
//! sender whose Submit answered UNKNOWN learns what became of it.
//!
//! Every Disclosure and Refusal claims its (sender, nonce) in the store's claims index, so the
//! lookup is one index read. While the log has failed the answer would not be trustworthy (a
//! batch made durable just before the failure is indexed only by the recovery of the next
//! start), so the call is refused with UNAVAILABLE until then.

use std::sync::Arc;

use tonic::Status;

use crate::format::entry::{self, Claim};
use crate::format::hash::sha256;
use crate::pb::{self, Role};
use crate::sequencer::Appended;
use crate::service::access::Caller;
use crate::service::{RequestError, State};

/// Handles one FindDisclosure call. It blocks on the store, so the service runs it on
/// the blocking pool (`cmd::off_runtime`).
pub fn handle(
    state: &State,
    caller: &Caller,
    request: pb::FindDisclosureRequest,
) -> Result<pb::FindDisclosureResponse, Status> {
    caller.require(Role::Sender, "FindDisclosure")?;
    let (nonce, body_hash) = parse(caller, request)?;
    state.sequencer.writable()?;
    let claim = Claim::Nonce {
        sender: caller.name.clone(),
        nonce,
    };
    let size = super::get_checkpoint::latest_size(state)?;
    let index = state
        .store
        .claimed(&claim)?
        .filter(|i| i.0 < size.0)
        .ok_or_else(|| {
            RequestError::NotFound(format!(
                "no entry of the log's {} holds this nonce of {}: the disclosure was not appended; the same signed body may be submitted again",
                size.0, caller.name
            ))
        })?;
    let bytes = state.store.entry(index)?.ok_or_else(|| {
        Status::internal(format!(
            "entry {} is in the claims index but not stored",
            index.0
        ))
    })?;
    let stored = entry::decode(&bytes)?;
    let (kind, held) = match &stored.kind {
        Some(pb::entry::Kind::Disclosure(d)) => (pb::EntryKind::Disclosure, sha256(&d.body)),
        Some(pb::entry::Kind::Refusal(r)) => (
            pb::EntryKind::Refusal,
            crate::format::hash::hash_from_slice(&r.body_hash)?,
        ),
        _ => {
            return Err(Status::internal(format!(
                "entry {} holds a nonce claim but is neither a disclosure nor a refusal",
                index.0
            )));
        }
    };
    if body_hash.is_some_and(|h| h != held) {
        return Err(RequestError::Precondition(format!(
            "this nonce of {} was spent by entry {} on another body: this body was not appended; sign it again with a fresh nonce",
            caller.name, index.0
        ))
        .into());
    }
    let note = state
        .store
        .checkpoint(Some(size))?
        .ok_or_else(|| Status::internal("the latest checkpoint is not stored"))?;
    let receipt = super::log_receipt(
        state,
        Appended {
            index,
            leaf_hash: crate::format::hash::leaf_hash(&bytes),
            entry: bytes,
            checkpoint: Arc::from(note),
            tree_size: size,
        },
    )?;
    Ok(pb::FindDisclosureResponse {
        kind: kind as i32,
        receipt: Some(receipt),
        body_hash: held.to_vec(),
    })
}

/// The nonce to look up, and the body hash the entry must hold when a body was given.
fn parse(
    caller: &Caller,
    request: pb::FindDisclosureRequest,
) -> Result<(Vec<u8>, Option<crate::format::Hash>), RequestError> {
    match (request.nonce.is_empty(), request.body.is_empty()) {
        (false, true) => Ok((request.nonce, None)),
        (true, false) => {
            let body = super::submit::own_body(caller, &request.body)?;
            Ok((body.nonce, Some(sha256(&request.body))))
        }
        _ => Err(RequestError::invalid(
            "nonce, body",
            "give exactly one: the nonce of your DisclosureBody, or the body as signed",
        )),
    }
}
