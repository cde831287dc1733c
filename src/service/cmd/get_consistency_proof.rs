//! GetConsistencyProof: proof that the tree of `old_size` is a prefix of the tree of `new_size`.

use tonic::Status;

use super::get_checkpoint::latest_size;
use crate::format::TreeSize;
use crate::pb;
use crate::service::{RequestError, State};

/// Handles one GetConsistencyProof call. It blocks on the store, so the service runs it on
/// the blocking pool (`cmd::off_runtime`).
pub fn handle(
    state: &State,
    request: pb::GetConsistencyProofRequest,
) -> Result<pb::ConsistencyProof, Status> {
    let new = match request.new_size {
        0 => latest_size(state)?,
        n => TreeSize(n),
    };
    let old = TreeSize(request.old_size);
    if new > state.store.size() {
        return Err(RequestError::invalid(
            "new_size",
            format!(
                "{} is larger than the log ({} entries)",
                new.0,
                state.store.size().0
            ),
        )
        .into());
    }
    if old > new {
        return Err(RequestError::invalid(
            "old_size",
            format!("{} is larger than new_size {}", old.0, new.0),
        )
        .into());
    }
    let hashes = state.store.consistency_proof(old, new)?;
    Ok(pb::ConsistencyProof {
        old_size: old.0,
        new_size: new.0,
        hashes: hashes.iter().map(|h| h.to_vec()).collect(),
    })
}
