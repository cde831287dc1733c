//! AddCosignature (service `borderlog.v1.Witness`): a partner, as a witness of the log, hands
//! in its C2SP cosignature/v1 of a checkpoint; the log verifies it against the partner's key
//! pinned in genesis and stores it durably beside the checkpoint. Key name = the partner's
//! name, key = its partner key, signature type 0x04.

use tonic::Status;

use crate::format::hash::hash_from_slice;
use crate::format::note::{NoteSignature, Verifier};
use crate::format::{TreeSize, cosignature};
use crate::pb;
use crate::service::{Caller, RequestError, State};

/// Handles one AddCosignature call.
pub async fn handle(
    state: &State,
    caller: &Caller,
    request: pb::AddCosignatureRequest,
) -> Result<pb::CheckpointResponse, Status> {
    let (size, note, sig) = parse(state, caller, request)?;
    state.sequencer.writable()?;
    let store = state.store.clone();
    let stored = tokio::task::spawn_blocking(move || store.add_cosignature(size, &sig))
        .await
        .map_err(|e| Status::internal(format!("storing the cosignature failed: {e}")))?
        // A write that failed part-way poisons the store: the log has failed, not just this call.
        .inspect_err(|_| state.sequencer.check_store())?;
    if stored {
        tracing::info!(cosigner = %caller.name, size = size.0, "stored a partner's cosignature");
    }
    super::get_checkpoint::with_cosignatures(state, &note)
}

/// The cosignature/v1 verifier of partner `name` under its key in force (None for read-only
/// roles, strangers and revoked partners).
pub(crate) fn partner_verifier(state: &State, name: &str) -> Option<Verifier> {
    let key = state
        .sequencer
        .with_keys(|keys| keys.signing_key(name))
        .ok()?;
    crate::witness::cosigner_verifier(name, key).ok()
}

fn parse(
    state: &State,
    caller: &Caller,
    request: pb::AddCosignatureRequest,
) -> Result<(TreeSize, String, NoteSignature), Status> {
    if !caller.is_partner() {
        return Err(RequestError::Forbidden(format!(
            "AddCosignature is for partners, who witness the log; {} is not a partner",
            caller.name
        ))
        .into());
    }
    if request.tree_size == 0 {
        return Err(RequestError::invalid(
            "tree_size",
            "0 is not a checkpoint's size; give the size of the checkpoint you cosigned",
        )
        .into());
    }
    let size = TreeSize(request.tree_size);
    let note = state.store.checkpoint(Some(size))?.ok_or_else(|| {
        RequestError::NotFound(format!(
            "no checkpoint was signed at tree size {}; cosign a checkpoint GetCheckpoint returned",
            size.0
        ))
    })?;
    let (checkpoint, parsed) = state.open_checkpoint(&note)?;
    let root = hash_from_slice(&request.root_hash)
        .map_err(|e| RequestError::invalid("root_hash", e.to_string()))?;
    if root != checkpoint.root {
        return Err(RequestError::invalid(
            "root_hash",
            format!(
                "{} is not the root the log signed at size {} ({}); you hold another view of the log",
                hex::encode(root),
                size.0,
                hex::encode(checkpoint.root)
            ),
        )
        .into());
    }
    let line = request.cosignature.trim_end_matches('\n');
    let sig = NoteSignature::parse_line(line).map_err(|e| {
        RequestError::invalid(
            "cosignature",
            format!("{e}; send one signed-note line \"— <name> <base64>\""),
        )
    })?;
    if sig.name != caller.name {
        return Err(RequestError::Forbidden(format!(
            "the cosignature is by key name {:?}, but you are {}: a partner cosigns under its own name",
            sig.name, caller.name
        ))
        .into());
    }
    let verifier = partner_verifier(state, &caller.name).ok_or_else(|| {
        Status::internal(format!(
            "partner {} has no usable key in genesis",
            caller.name
        ))
    })?;
    let bad = |why: String| {
        RequestError::BadSignature(format!(
            "the cosignature does not verify under {}'s partner key ({verifier}): {why}; sign \
             \"cosignature/v1\\ntime <secs>\\n\" || the checkpoint body with your partner key",
            caller.name
        ))
    };
    if !verifier.matches(&sig) {
        return Err(bad("its key id is not that key's".into()).into());
    }
    let time =
        cosignature::verify(&sig, &verifier, &parsed.text).map_err(|e| bad(e.to_string()))?;
    let now = crate::witness::now_secs();
    let skew = (state.limits.max_clock_skew_ms / 1000).max(0) as u64;
    if time > now.saturating_add(skew) {
        return Err(RequestError::invalid(
            "cosignature",
            format!("its timestamp {time} is in the future (now {now}); check your clock"),
        )
        .into());
    }
    Ok((size, note, sig))
}
