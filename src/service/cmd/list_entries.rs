//! ListEntries: entries from an index on, filtered by party and kind, as a server stream.
//! Resumable (ask again from the last index seen + 1); with `follow` the stream stays open and
//! sends each new entry once its batch is durable.

use std::sync::Arc;

use tokio::sync::mpsc;
use tonic::Status;

use super::{get_entry, server_stream};
use crate::format::LeafIndex;
use crate::pb::{self, EntryKind};
use crate::service::access::Caller;
use crate::service::{EntryStream, RequestError, State};

/// Entries read from the index per step; bounds memory per stream.
const PAGE: usize = 256;

/// Handles one ListEntries call: checks the filter, then streams from a task of its own.
pub fn handle(
    state: Arc<State>,
    caller: Caller,
    request: pb::ListEntriesRequest,
) -> Result<EntryStream, Status> {
    let party = filter_party(&caller, &request)?;
    let kinds = request
        .kinds
        .iter()
        .map(|&k| {
            EntryKind::try_from(k)
                .ok()
                .filter(|k| *k != EntryKind::Unspecified)
                .ok_or_else(|| RequestError::invalid("kinds", format!("{k} is not an entry kind")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let limit = match (request.limit, request.follow) {
        (0, true) => u64::MAX,
        (0, false) => state.limits.max_list as u64,
        (n, true) => n,
        (n, false) => {
            RequestError::check_limit(
                "limit without follow (max_list; page with from_index)",
                usize::try_from(n).unwrap_or(usize::MAX),
                state.limits.max_list,
            )?;
            n
        }
    };
    let (s, name) = (state.clone(), caller.name.clone());
    server_stream(&s, &name, PAGE, move |tx| async move {
        let (from, follow) = (request.from_index, request.follow);
        stream(state, caller, party, kinds, from, limit, follow, &tx).await
    })
}

/// The party filter asked for. A partner may ask only for itself; without a filter it gets
/// every entry GetEntry would show it (those naming it, every policy, the receipts and
/// redactions of its disclosures, log-wide entries), as the per-entry check in
/// [`get_entry::read`] decides.
fn filter_party(
    caller: &Caller,
    request: &pb::ListEntriesRequest,
) -> Result<Option<String>, RequestError> {
    let asked = (!request.party.is_empty()).then(|| request.party.clone());
    match asked {
        Some(p) if caller.is_partner() && p != caller.name => Err(RequestError::Forbidden(
            format!("{} may list only its own entries, not {p:?}'s", caller.name),
        )),
        asked => Ok(asked),
    }
}

#[allow(clippy::too_many_arguments)]
async fn stream(
    state: Arc<State>,
    caller: Caller,
    party: Option<String>,
    kinds: Vec<EntryKind>,
    mut from: u64,
    limit: u64,
    follow: bool,
    tx: &mpsc::Sender<Result<pb::EntryResponse, Status>>,
) -> Result<(), Status> {
    let mut sent = 0u64;
    let mut size = state.sequencer.size();
    let filter = Arc::new((caller, party, kinds));
    while sent < limit {
        let page = (limit - sent).min(PAGE as u64) as usize;
        let (state_, filter_) = (state.clone(), filter.clone());
        let (responses, next, found) =
            super::off_runtime(move || read_page(&state_, &filter_, from, page)).await?;
        from = next;
        for response in responses {
            if tx.send(Ok(response)).await.is_err() {
                return Ok(()); // the client went away
            }
            sent += 1;
        }
        if found < page {
            if !follow {
                return Ok(());
            }
            // Everything up to the current size was scanned: resume there once it grows.
            from = from.max(*size.borrow_and_update());
            tokio::select! {
                changed = size.changed() => if changed.is_err() { return Ok(()) },
                _ = tx.closed() => return Ok(()),
            }
        }
    }
    Ok(())
}

/// One page, on the blocking pool: up to `page` indexes from `from` on that pass the filter
/// (caller, party, kinds), read as the caller may see them. Returns the responses, the index
/// to go on from, and how many indexes the filter found (fewer than `page`: the log's end).
fn read_page(
    state: &State,
    (caller, party, kinds): &(Caller, Option<String>, Vec<EntryKind>),
    from: u64,
    page: usize,
) -> Result<(Vec<pb::EntryResponse>, u64, usize), Status> {
    let found = state
        .store
        .scan(LeafIndex(from), party.as_deref(), kinds, page)?;
    let mut responses = Vec::with_capacity(found.len());
    let mut next = from;
    for index in &found {
        if let Some(response) = get_entry::read(state, caller, *index)? {
            responses.push(response);
        }
        next = index.0 + 1;
    }
    Ok((responses, next, found.len()))
}
