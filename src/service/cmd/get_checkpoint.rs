//! GetCheckpoint: the latest signed checkpoint, or the one signed at a given tree size.

use tonic::Status;

use crate::format::TreeSize;
use crate::format::note::{Note, NoteSignature};
use crate::pb;
use crate::service::{RequestError, State};

/// Handles one GetCheckpoint call. It blocks on the store, so the service runs it on
/// the blocking pool (`cmd::off_runtime`).
pub fn handle(
    state: &State,
    request: pb::GetCheckpointRequest,
) -> Result<pb::CheckpointResponse, Status> {
    let wanted = (request.tree_size != 0).then_some(TreeSize(request.tree_size));
    let note = state.store.checkpoint(wanted)?.ok_or_else(|| match wanted {
        Some(size) => RequestError::NotFound(format!(
            "no checkpoint was signed at tree size {}; checkpoints exist only at batch ends (ask for 0 to get the latest)",
            size.0
        )),
        None => RequestError::NotFound("the log has no checkpoint yet".into()),
    })?;
    with_cosignatures(state, &note)
}

/// The reply for a stored checkpoint note: the note with every cosignature stored for its size
/// appended (one signed note the log and its witnesses have signed), and who cosigned.
pub(crate) fn with_cosignatures(
    state: &State,
    note: &str,
) -> Result<pb::CheckpointResponse, Status> {
    let (checkpoint, _) = state.open_checkpoint(note)?;
    let size = TreeSize(checkpoint.size);
    let cosignatures = state.store.cosignatures(size)?;
    let cosigners = cosignatures
        .iter()
        .map(|sig| pb::Cosigner {
            name: sig.name.clone(),
            key_id: hex::encode(sig.key_id),
            timestamp: crate::witness::cosignature_time(sig).unwrap_or_default(),
            partner: super::add_cosignature::partner_verifier(state, &sig.name)
                .is_some_and(|v| v.matches(sig)),
        })
        .collect();
    Ok(pb::CheckpointResponse {
        checkpoint: append(note, cosignatures)?,
        tree_size: checkpoint.size,
        root_hash: checkpoint.root.to_vec(),
        cosigners,
    })
}

/// A stored checkpoint note with the cosignatures stored for `size` appended (unchanged when
/// there are none); for readers that pass checkpoints on, like Export.
pub(crate) fn append_cosignatures(
    state: &State,
    note: String,
    size: TreeSize,
) -> Result<String, Status> {
    let cosignatures = state.store.cosignatures(size)?;
    if cosignatures.is_empty() {
        return Ok(note);
    }
    append(&note, cosignatures)
}

fn append(note: &str, cosignatures: Vec<NoteSignature>) -> Result<String, Status> {
    if cosignatures.is_empty() {
        return Ok(note.to_owned());
    }
    let mut parsed = Note::parse(note)
        .map_err(|e| Status::internal(format!("stored checkpoint does not parse: {e}")))?;
    parsed.signatures.extend(cosignatures);
    Ok(parsed.to_text())
}
/// The size of the latest checkpoint: what "0 = latest" means in proof requests.
pub(crate) fn latest_size(state: &State) -> Result<TreeSize, Status> {
    let note = state
        .store
        .checkpoint(None)?
        .ok_or_else(|| RequestError::NotFound("the log has no checkpoint yet".into()))?;
    let (checkpoint, _) = state.open_checkpoint(&note)?;
    Ok(TreeSize(checkpoint.size))
}
