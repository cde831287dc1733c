//! Export: the ledger up to a stored checkpoint as a stream of `ExportRecord`s (the archive
//! format of docs/FORMAT.md). Entries the caller may not read travel as their leaf hash only,
//! and payloads follow the same access rules as GetEntry, so an export never shows a caller
//! more than GetEntry would.

use std::collections::VecDeque;
use std::sync::Arc;

use tokio::sync::mpsc;
use tonic::Status;

use super::{get_entry, off_runtime, server_stream};
use crate::audit::export::FORMAT;
use crate::format::{LeafIndex, TreeSize};
use crate::pb::{self, export_record::Record};
use crate::service::access::Caller;
use crate::service::{ExportStream, RequestError, State};

/// Records buffered ahead of a slow reader; bounds memory per stream.
const BUFFER: usize = 256;
/// Entries read per step on the blocking pool (with the checkpoints between them).
const PAGE: u64 = 64;
/// Checkpoints read from the index per step.
const CHECKPOINT_PAGE: usize = 1024;

/// Handles one Export call: resolves the checkpoint to export up to, then streams from a task.
/// Every store read runs on the blocking pool, a page of entries at a time.
pub async fn handle(
    state: Arc<State>,
    caller: Caller,
    request: pb::ExportRequest,
) -> Result<ExportStream, Status> {
    let wanted = (request.tree_size != 0).then_some(TreeSize(request.tree_size));
    let (s, name) = (state.clone(), caller.name.clone());
    let header = off_runtime(move || header(&s, name, wanted)).await?;
    let (s, name) = (state.clone(), caller.name.clone());
    server_stream(&s, &name, BUFFER, move |tx| async move {
        stream(state, caller, header, &tx).await
    })
}

/// The export's header: the stored checkpoint it ends at (`wanted`, or the latest).
fn header(
    state: &State,
    exported_for: String,
    wanted: Option<TreeSize>,
) -> Result<pb::ExportHeader, Status> {
    let note = state.store.checkpoint(wanted)?.ok_or_else(|| match wanted {
        Some(size) => RequestError::NotFound(format!(
            "no checkpoint was signed at tree size {}; an export ends at a stored checkpoint (ask for 0 to get the latest)",
            size.0
        )),
        None => RequestError::NotFound("the log has no checkpoint yet".into()),
    })?;
    let (checkpoint, _) = state.open_checkpoint(&note)?;
    Ok(pb::ExportHeader {
        format: FORMAT.into(),
        origin: checkpoint.origin,
        tree_size: checkpoint.size,
        exported_for,
        exported_at_ms: crate::clock::now_ms(),
    })
}

/// Where a stream is: the next entry, and the checkpoints read ahead of it.
struct Cursor {
    next: u64,
    size: u64,
    checkpoints: VecDeque<(TreeSize, String)>,
    next_checkpoint_from: u64,
}

async fn stream(
    state: Arc<State>,
    caller: Caller,
    header: pb::ExportHeader,
    tx: &mpsc::Sender<Result<pb::ExportRecord, Status>>,
) -> Result<(), Status> {
    let mut cursor = Cursor {
        next: 0,
        size: header.tree_size,
        checkpoints: VecDeque::new(),
        next_checkpoint_from: 1,
    };
    let mut records = vec![Record::Header(header)];
    loop {
        for r in records {
            let record = pb::ExportRecord { record: Some(r) };
            if tx.send(Ok(record)).await.is_err() {
                return Ok(()); // the client went away
            }
        }
        if cursor.next >= cursor.size {
            return Ok(());
        }
        let (s, c) = (state.clone(), caller.clone());
        (records, cursor) = off_runtime(move || {
            let mut cursor = cursor;
            let page = read_page(&s, &c, &mut cursor)?;
            Ok((page, cursor))
        })
        .await?;
    }
}

/// Up to [`PAGE`] entries from the cursor on, as the caller may see them, each followed by the
/// checkpoint signed at its size (with the witnesses' cosignatures, as GetCheckpoint serves
/// it), if one was.
fn read_page(state: &State, caller: &Caller, cursor: &mut Cursor) -> Result<Vec<Record>, Status> {
    let size = cursor.size;
    let end = cursor.next.saturating_add(PAGE).min(size);
    let mut records = Vec::new();
    for index in cursor.next..end {
        records.push(match get_entry::read(state, caller, LeafIndex(index))? {
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
        });
        // The checkpoint of size index + 1, if one was signed, goes right after this entry.
        if cursor.checkpoints.is_empty() && cursor.next_checkpoint_from <= size {
            let page = state.store.checkpoints(
                TreeSize(cursor.next_checkpoint_from),
                TreeSize(size),
                CHECKPOINT_PAGE,
            )?;
            cursor.next_checkpoint_from = match page.last() {
                Some((last, _)) => last.0 + 1,
                None => size + 1,
            };
            cursor.checkpoints.extend(page);
        }
        if cursor
            .checkpoints
            .front()
            .is_some_and(|(s, _)| s.0 == index + 1)
        {
            let (size, note) = cursor.checkpoints.pop_front().expect("front exists");
            let note = super::get_checkpoint::append_cosignatures(state, note, size)?;
            records.push(Record::Checkpoint(note));
        }
    }
    cursor.next = end;
    Ok(records)
}
