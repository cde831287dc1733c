//! One file per call of `borderlog.v1.Ledger`, each parse → apply → reply.

pub mod acknowledge;
pub mod add_cosignature;
pub mod change_key;
pub mod export;
pub mod find_disclosure;
pub mod get_checkpoint;
pub mod get_consistency_proof;
pub mod get_entry;
pub mod get_inclusion_proof;
pub mod list_entries;
pub mod list_expired;
pub mod publish_policy;
pub mod redact;
pub mod report;
pub(crate) mod signatures;
pub mod submit;
pub mod submit_stream;

use std::future::Future;
use std::sync::Arc;

use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Status;

use super::{ReplyStream, State};
use crate::pb;
use crate::sequencer::{Append, Appended};

/// Runs `read` (store reads: disk I/O, or a database round trip) on tokio's blocking pool, so
/// a slow read never holds up the runtime threads that serve every other call.
pub(crate) async fn off_runtime<T: Send + 'static>(
    read: impl FnOnce() -> Result<T, Status> + Send + 'static,
) -> Result<T, Status> {
    tokio::task::spawn_blocking(read)
        .await
        .map_err(|e| Status::internal(format!("a read task failed: {e}")))?
}

/// A server-streaming reply fed by `produce` in a task of its own, which holds one of the
/// caller's stream slots until it ends (so a caller's open streams stay within its limit);
/// an error `produce` returns is the stream's last item. `buffer` items wait for a slow reader.
pub(super) fn server_stream<T, F>(
    state: &State,
    caller: &str,
    buffer: usize,
    produce: impl FnOnce(mpsc::Sender<Result<T, Status>>) -> F,
) -> Result<ReplyStream<T>, Status>
where
    T: Send + 'static,
    F: Future<Output = Result<(), Status>> + Send + 'static,
{
    let slot = state
        .streams
        .acquire(caller, state.limits.max_streams_per_caller)?;
    let (tx, rx) = mpsc::channel(buffer);
    let produced = produce(tx.clone());
    tokio::spawn(async move {
        let _slot = slot; // held until the stream ends
        if let Err(status) = produced.await {
            let _ = tx.send(Err(status)).await;
        }
    });
    Ok(Box::pin(ReceiverStream::new(rx)))
}

/// Apply and reply for every call that appends: sequence the entry, wait until it is durable,
/// answer with its receipt.
pub(super) async fn append(state: &Arc<State>, append: Append) -> Result<pb::LogReceipt, Status> {
    let appended = state.sequencer.append(append).await?;
    receipt(state, appended).await
}

/// [`log_receipt`]: at once when the proof's nodes are in memory (a fresh entry's usually
/// are), else on the blocking pool, where the proof may read Merkle node files (or ask the
/// database). Handing each receipt to the pool cost a thread wake-up per disclosure.
pub(super) async fn receipt(
    state: &Arc<State>,
    appended: Appended,
) -> Result<pb::LogReceipt, Status> {
    if let Some(proof) = state
        .store
        .inclusion_proof_in_memory(appended.index, appended.tree_size)
    {
        return Ok(receipt_with(appended, &proof));
    }
    let state = state.clone();
    off_runtime(move || log_receipt(&state, appended)).await
}

/// The reply to an append: the entry, where it is, and its proof against the batch's signed
/// checkpoint. The proof is computed by the handler (see [`receipt`]), not in the sequencer.
pub(super) fn log_receipt(state: &State, appended: Appended) -> Result<pb::LogReceipt, Status> {
    let proof = state
        .store
        .inclusion_proof(appended.index, appended.tree_size)?;
    Ok(receipt_with(appended, &proof))
}

/// The receipt of an appended entry with its inclusion proof.
fn receipt_with(appended: Appended, proof: &[crate::format::Hash]) -> pb::LogReceipt {
    pb::LogReceipt {
        index: appended.index.0,
        leaf_hash: appended.leaf_hash.to_vec(),
        checkpoint: appended.checkpoint.to_string(),
        inclusion_proof: proof.iter().map(|h| h.to_vec()).collect(),
        entry: appended.entry,
    }
}
