//! Export: the ledger up to a stored checkpoint as a stream of `ExportRecord`s (the archive
//! format of docs/FORMAT.md). Entries the caller may not read travel as their leaf hash only,
//! and payloads follow the same access rules as GetEntry, so an export never shows a caller
//! more than GetEntry would.

use std::sync::Arc;

use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Status;

use super::get_entry;
use crate::audit::export::FORMAT;
use crate::format::{LeafIndex, TreeSize};
use crate::pb::{self, export_record::Record};
use crate::service::access::Caller;
use crate::service::{ExportStream, RequestError, State};

/// Records buffered ahead of a slow reader; bounds memory per stream.
const BUFFER: usize = 256;
/// Checkpoints read from the index per step.
const CHECKPOINT_PAGE: usize = 1024;

/// Handles one Export call: resolves the checkpoint to export up to, then streams from a task.
pub fn handle(
    state: Arc<State>,
    caller: Caller,
    request: pb::ExportRequest,
) -> Result<ExportStream, Status> {
    let wanted = (request.tree_size != 0).then_some(TreeSize(request.tree_size));
    let note = state.store.checkpoint(wanted)?.ok_or_else(|| match wanted {
        Some(size) => RequestError::NotFound(format!(
            "no checkpoint was signed at tree size {}; an export ends at a stored checkpoint (ask for 0 to get the latest)",
            size.0
        )),
        None => RequestError::NotFound("the log has no checkpoint yet".into()),
    })?;
    let (checkpoint, _) = state.open_checkpoint(&note)?;
    let header = pb::ExportHeader {
        format: FORMAT.into(),
        origin: checkpoint.origin,
        tree_size: checkpoint.size,
        exported_for: caller.name.clone(),
        exported_at_ms: crate::clock::now_ms(),
    };
    let slot = state
        .streams
        .acquire(&caller.name, state.limits.max_streams_per_caller)?;
    let (tx, rx) = mpsc::channel(BUFFER);
    tokio::spawn(async move {
        let _slot = slot; // held until the stream ends
        if let Err(status) = stream(&state, &caller, header, &tx).await {
            let _ = tx.send(Err(status)).await;
        }
    });
    Ok(Box::pin(ReceiverStream::new(rx)))
}

async fn stream(
    state: &State,
    caller: &Caller,
    header: pb::ExportHeader,
    tx: &mpsc::Sender<Result<pb::ExportRecord, Status>>,
) -> Result<(), Status> {
    let size = header.tree_size;
    let record = |r: Record| Ok(pb::ExportRecord { record: Some(r) });
    if tx.send(record(Record::Header(header))).await.is_err() {
        return Ok(());
    }
    let mut checkpoints = std::collections::VecDeque::new();
    let mut next_checkpoint_from = 1u64;
    for index in 0..size {
        let r = match get_entry::read(state, caller, LeafIndex(index))? {
            Some(response) => Record::Entry(response),
            None => Record::WithheldEntry(pb::WithheldEntry {
                index,
                leaf_hash: state
                    .store
                    .leaf_hash(LeafIndex(index))?
                    .unwrap_or_default()
                    .to_vec(),
                reason: format!("{} reads only the entries it takes part in", caller.name),
            }),
        };
        if tx.send(record(r)).await.is_err() {
            return Ok(()); // the client went away
        }
        // The checkpoint of size index + 1, if one was signed, goes right after this entry.
        if checkpoints.is_empty() && next_checkpoint_from <= size {
            let page = state.store.checkpoints(
                TreeSize(next_checkpoint_from),
                TreeSize(size),
                CHECKPOINT_PAGE,
            )?;
            if let Some((last, _)) = page.last() {
                next_checkpoint_from = last.0 + 1;
            } else {
                next_checkpoint_from = size + 1;
            }
            checkpoints.extend(page);
        }
        if checkpoints.front().is_some_and(|(s, _)| s.0 == index + 1) {
            let (size, note) = checkpoints.pop_front().expect("front exists");
            // With the witnesses' cosignatures, as GetCheckpoint serves it.
            let note = super::get_checkpoint::append_cosignatures(state, note, size)?;
            if tx.send(record(Record::Checkpoint(note))).await.is_err() {
                return Ok(());
            }
        }
    }
    Ok(())
}
