//! GetEntry: one entry as stored, with the payloads the caller may see.

use std::sync::Arc;

use prost::Message;
use tonic::Status;

use super::off_runtime;
use crate::format::LeafIndex;
use crate::format::entry;
use crate::pb;
use crate::service::access::Caller;
use crate::service::{RequestError, State};

/// Handles one GetEntry call. The store's reads (the entry, its payloads, redactions) run on
/// the blocking pool, never on a runtime thread.
pub async fn handle(
    state: Arc<State>,
    caller: Caller,
    request: pb::GetEntryRequest,
) -> Result<pb::EntryResponse, Status> {
    let index = LeafIndex(request.index);
    let name = caller.name.clone();
    let found = off_runtime(move || read(&state, &caller, index)).await?;
    match found {
        Some(response) => Ok(response),
        None => Err(RequestError::Forbidden(format!(
            "entry {} does not involve {name}; partners read only the entries they take part in",
            index.0
        ))
        .into()),
    }
}

/// The entry at `index` as the caller may see it; `None` when it may not see it at all.
/// Shared with ListEntries so both calls apply the same rules.
pub(crate) fn read(
    state: &State,
    caller: &Caller,
    index: LeafIndex,
) -> Result<Option<pb::EntryResponse>, Status> {
    let size = state.store.size();
    let bytes = state.store.entry(index)?.ok_or_else(|| {
        RequestError::NotFound(format!(
            "there is no entry {}; the log has {} entries",
            index.0, size.0
        ))
    })?;
    let leaf_hash = state.store.leaf_hash(index)?.unwrap_or_default();
    let decoded = entry::decode(&bytes)?;
    if !caller.may_read_entry(state, &decoded, &entry::index_keys(&decoded)?)? {
        return Ok(None);
    }
    let mut items = Vec::new();
    if let Some(pb::entry::Kind::Disclosure(d)) = &decoded.kind {
        let body = pb::DisclosureBody::decode(d.body.as_slice()).map_err(|e| {
            Status::internal(format!("stored disclosure body does not decode: {e}"))
        })?;
        let visible = caller.may_read_payloads(&body, state.auditor_reads_payloads);
        for item in &body.items {
            let mut stored = pb::StoredItem {
                commitment: item.commitment.clone(),
                payload: None,
                withheld: String::new(),
                erased_by: 0,
            };
            let commitment = crate::format::hash::hash_from_slice(&item.commitment)?;
            if let Some(redaction) = state.store.redaction_of(&commitment)? {
                // Erasure is on the record for everyone who may read the disclosure.
                stored.erased_by = redaction.0;
                stored.withheld = format!(
                    "erased by entry {}: {}",
                    redaction.0,
                    redaction_reason(state, redaction)?
                );
            } else if !visible {
                stored.withheld =
                    "payloads are visible only to the disclosure's sender and recipient".into();
            } else {
                match state.store.payload(&commitment)? {
                    Some(p) => {
                        stored.payload = Some(pb::ItemPayload {
                            salt: p.salt.to_vec(),
                            content: p.content.into(),
                        })
                    }
                    None => stored.withheld = "the payload is no longer stored".into(),
                }
            }
            items.push(stored);
        }
    }
    Ok(Some(pb::EntryResponse {
        index: index.0,
        leaf_hash: leaf_hash.to_vec(),
        entry: bytes,
        items,
    }))
}

/// The reason recorded in Redaction entry `index`.
fn redaction_reason(state: &State, index: LeafIndex) -> Result<String, Status> {
    let bytes = state.store.entry(index)?.unwrap_or_default();
    match entry::decode(&bytes)?.kind {
        Some(pb::entry::Kind::Redaction(r)) => Ok(r.reason),
        _ => Err(Status::internal(format!(
            "the index names entry {} as a redaction, but it is not one",
            index.0
        ))),
    }
}
