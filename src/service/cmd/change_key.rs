//! ChangeKey: a partner rotates its own key (a new key signed by the key in force) or revokes
//! itself (no new key); the log appends the KeyChange entry, and from then on every signature
//! of the partner is checked against the new key (or refused, once revoked). The rules are
//! `keys_in_force`'s; the sequencer checks them again when it appends, so two racing changes
//! cannot both pass.

use std::sync::Arc;

use tonic::Status;

use crate::keys_in_force::Change;
use crate::pb;
use crate::sequencer::{Append, SignedBy};
use crate::service::access::Caller;
use crate::service::{RequestError, State};

/// Handles one ChangeKey call.
pub async fn handle(
    state: &Arc<State>,
    caller: &Caller,
    request: pb::ChangeKeyRequest,
) -> Result<pb::LogReceipt, Status> {
    super::append(state, parse(state, caller, request)?).await
}

/// Checks that the caller changes its own key, by the rules of the keys in force.
fn parse(state: &State, caller: &Caller, request: pb::ChangeKeyRequest) -> Result<Append, Status> {
    if !caller.is_partner() {
        return Err(RequestError::Forbidden(format!(
            "ChangeKey is for partners, who hold signing keys; {} is not a partner",
            caller.name
        ))
        .into());
    }
    let change = request.key_change.ok_or_else(|| {
        RequestError::invalid(
            "key_change",
            "missing; send the KeyChange {party, new_public_key, signature}",
        )
    })?;
    if change.party != caller.name {
        return Err(RequestError::Forbidden(format!(
            "the key change is for {:?}, but you are {}: a partner changes only its own key",
            change.party, caller.name
        ))
        .into());
    }
    let (checked, signer) = state.sequencer.with_keys(|keys| {
        let checked = keys.check(&change)?;
        // Who signed: the party's key in force, or for a revocation possibly the log key.
        let signer = match checked {
            Change::Revoke { by_log: true } => keys
                .log()
                .and_then(|l| l.key)
                .map(|k| (keys.origin().to_owned(), k)),
            _ => keys
                .party(&change.party)
                .and_then(|p| p.key)
                .map(|k| (change.party.clone(), k)),
        };
        Ok::<_, RequestError>((checked, signer))
    })?;
    tracing::info!(party = %change.party, ?checked, "key change checked");
    Ok(Append {
        kind: pb::entry::Kind::KeyChange(change),
        payloads: Vec::new(),
        claims: Vec::new(),
        screened_under: None,
        signed_by: signer.map(|(party, key)| SignedBy::new(&party, key)),
    })
}
