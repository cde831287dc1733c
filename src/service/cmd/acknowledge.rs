//! Acknowledge: the recipient signs a disclosure's index and leaf hash; the log appends a
//! Receipt entry. A disclosure with a receipt is signed by both partners.

use std::sync::Arc;

use prost::Message;
use tonic::Status;

use crate::format::LeafIndex;
use crate::format::entry::{self, Claim};
use crate::format::hash::hash_from_slice;
use crate::format::signature::{self, Purpose};
use crate::pb::{self, Role};
use crate::sequencer::{Append, SignedBy};
use crate::service::access::{Caller, partner};
use crate::service::{RequestError, State};

/// Handles one Acknowledge call.
pub async fn handle(
    state: &Arc<State>,
    caller: &Caller,
    request: pb::AcknowledgeRequest,
) -> Result<pb::LogReceipt, Status> {
    // The disclosure is read from the store: on the blocking pool.
    let (s, c) = (state.clone(), caller.clone());
    let append = super::off_runtime(move || parse(&s, &c, request)).await?;
    super::append(state, append).await
}

fn parse(
    state: &State,
    caller: &Caller,
    request: pb::AcknowledgeRequest,
) -> Result<Append, Status> {
    caller.require(Role::Recipient, "Acknowledge")?;
    let index = LeafIndex(request.disclosure_index);
    let claimed_hash = hash_from_slice(&request.disclosure_leaf_hash)
        .map_err(|e| RequestError::invalid("disclosure_leaf_hash", e.to_string()))?;
    let bytes = state
        .store
        .entry(index)?
        .ok_or_else(|| RequestError::NotFound(format!("there is no entry {}", index.0)))?;
    let stored_hash = state.store.leaf_hash(index)?.unwrap_or_default();
    let disclosure = match entry::decode(&bytes)?.kind {
        Some(pb::entry::Kind::Disclosure(d)) => d,
        _ => {
            return Err(RequestError::Precondition(format!(
                "entry {} is not a disclosure; only disclosures are acknowledged",
                index.0
            ))
            .into());
        }
    };
    let body = pb::DisclosureBody::decode(disclosure.body.as_slice())
        .map_err(|e| Status::internal(format!("stored disclosure body does not decode: {e}")))?;
    if body.recipient != caller.name {
        return Err(RequestError::Forbidden(format!(
            "entry {} is a disclosure to {:?}; only its recipient acknowledges it",
            index.0, body.recipient
        ))
        .into());
    }
    if claimed_hash != stored_hash {
        return Err(RequestError::invalid(
            "disclosure_leaf_hash",
            format!(
                "does not match entry {}'s leaf hash; fetch the entry and sign the hash the log holds",
                index.0
            ),
        )
        .into());
    }
    let (_, key) = partner(state, &caller.name, "recipient")?;
    let payload = signature::index_and_hash(index.0, &stored_hash);
    signature::verify(&key, Purpose::Receipt, &payload, &request.signature).map_err(|_| {
        state.metrics.signature_failure("Acknowledge");
        RequestError::BadSignature(format!(
            "the receipt signature does not verify under {}'s key; sign {:?} || u64be(index) || leaf_hash",
            caller.name,
            Purpose::Receipt.domain_text()
        ))
    })?;
    Ok(Append {
        kind: pb::entry::Kind::Receipt(pb::Receipt {
            disclosure_index: index.0,
            disclosure_leaf_hash: stored_hash.to_vec(),
            recipient: caller.name.clone(),
            signature: request.signature,
        }),
        payloads: Vec::new(),
        claims: vec![Claim::ReceiptFor(index.0)],
        screened_under: None,
        signed_by: Some(SignedBy::new(&caller.name, key)),
    })
}
