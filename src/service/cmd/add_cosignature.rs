//! AddCosignature (service `borderlog.v1.Witness`): a partner, as a witness of the log, hands
//! in its C2SP cosignature/v1 of a checkpoint; the log verifies it against the partner's key
//! in force when it receives it (the genesis key, or the one its latest KeyChange set; a
//! revoked partner cosigns nothing) and stores it durably beside the checkpoint. Key name =
//! the partner's name, key = its partner key, signature type 0x04. docs/DESIGN.md,
//! "Checkpoints", says which keys a verifier accepts for a cosignature made before a rotation.

use std::sync::Arc;

use tonic::Status;

use super::off_runtime;
use crate::format::hash::hash_from_slice;
use crate::format::note::{NoteSignature, Verifier};
use crate::format::{TreeSize, cosignature};
use crate::pb;
use crate::service::access::partner;
use crate::service::{Caller, RequestError, State};

/// Handles one AddCosignature call. Every store read and the write run on the blocking pool.
pub async fn handle(
    state: &Arc<State>,
    caller: &Caller,
    request: pb::AddCosignatureRequest,
) -> Result<pb::CheckpointResponse, Status> {
    let (s, c) = (state.clone(), caller.clone());
    let (size, note, sig) = off_runtime(move || parse(&s, &c, request)).await?;
    state.sequencer.writable()?;
    let s = state.clone();
    let stored = off_runtime(move || {
        // A write that failed part-way poisons the store: the log has failed, not just this call.
        Ok(s.store
            .add_cosignature(size, &sig)
            .inspect_err(|_| s.sequencer.check_store())?)
    })
    .await?;
    if stored {
        tracing::info!(cosigner = %caller.name, size = size.0, "stored a partner's cosignature");
    }
    let s = state.clone();
    off_runtime(move || super::get_checkpoint::with_cosignatures(&s, &note)).await
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
    // The key in force: a revoked partner is refused naming the revocation (PERMISSION_DENIED).
    let (_, key) = partner(state, &caller.name, "cosignature")?;
    let verifier = crate::witness::cosigner_verifier(&caller.name, key).map_err(|e| {
        Status::internal(format!(
            "partner {}'s key in force makes no cosignature verifier: {e}",
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
