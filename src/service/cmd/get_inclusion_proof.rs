//! GetInclusionProof: the audit path of a leaf (by index or leaf hash) to a tree size.

use tonic::Status;

use super::get_checkpoint::latest_size;
use crate::format::hash::hash_from_slice;
use crate::format::{LeafIndex, TreeSize};
use crate::pb::{self, get_inclusion_proof_request::Leaf};
use crate::service::{RequestError, State};

/// Handles one GetInclusionProof call. It blocks on the store, so the service runs it on
/// the blocking pool (`cmd::off_runtime`).
pub fn handle(
    state: &State,
    request: pb::GetInclusionProofRequest,
) -> Result<pb::InclusionProof, Status> {
    let size = match request.tree_size {
        0 => latest_size(state)?,
        n => TreeSize(n),
    };
    if size > state.store.size() {
        return Err(RequestError::invalid(
            "tree_size",
            format!(
                "{} is larger than the log ({} entries)",
                size.0,
                state.store.size().0
            ),
        )
        .into());
    }
    let index = match request.leaf {
        Some(Leaf::Index(i)) => LeafIndex(i),
        Some(Leaf::LeafHash(h)) => {
            let hash = hash_from_slice(&h)
                .map_err(|e| RequestError::invalid("leaf_hash", e.to_string()))?;
            state
                .store
                .find_leaf(&hash)?
                .ok_or_else(|| RequestError::NotFound("no entry has this leaf hash".into()))?
        }
        None => return Err(RequestError::invalid("leaf", "give an index or a leaf hash").into()),
    };
    if index.0 >= size.0 {
        return Err(RequestError::invalid(
            "tree_size",
            format!(
                "entry {} is not inside a tree of size {}; ask for a larger tree",
                index.0, size.0
            ),
        )
        .into());
    }
    let leaf_hash = state.store.leaf_hash(index)?.unwrap_or_default();
    let hashes = state.store.inclusion_proof(index, size)?;
    Ok(pb::InclusionProof {
        index: index.0,
        tree_size: size.0,
        leaf_hash: leaf_hash.to_vec(),
        hashes: hashes.iter().map(|h| h.to_vec()).collect(),
        checkpoint: state.store.checkpoint(Some(size))?.unwrap_or_default(),
    })
}
