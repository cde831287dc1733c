//! PublishPolicy: the data owner's signed screening policy becomes a PolicyChange entry, and
//! from then on the policy in force for the owner's disclosures.

use std::sync::Arc;

use tonic::Status;

use crate::format::signature::{self, Purpose};
use crate::guard::GuardError;
use crate::pb::{self, Role};
use crate::sequencer::{Append, SignedBy};
use crate::service::access::{Caller, partner};
use crate::service::{RequestError, State};

/// Handles one PublishPolicy call.
pub async fn handle(
    state: &Arc<State>,
    caller: &Caller,
    request: pb::PublishPolicyRequest,
) -> Result<pb::LogReceipt, Status> {
    caller.require(Role::Sender, "PublishPolicy")?;
    let append = parse(state, &caller.name, request)?;
    super::append(state, append).await
}

/// Checks `owner`'s signed policy and turns it into a PolicyChange entry. Also used when a
/// node publishes the owner's default policy on first start.
pub(crate) fn parse(
    state: &State,
    owner: &str,
    request: pb::PublishPolicyRequest,
) -> Result<Append, RequestError> {
    let (_, key) = partner(state, owner, "owner")?;
    signature::verify(&key, Purpose::Policy, &request.policy, &request.signature).map_err(|_| {
        state.metrics.signature_failure("PublishPolicy");
        RequestError::BadSignature(format!(
            "the policy signature does not verify under {owner}'s key; sign {:?} || policy bytes with that key",
            Purpose::Policy.domain_text()
        ))
    })?;
    let policy = state
        .policies
        .parse(owner, &request.policy)
        .map_err(|e| match e {
            GuardError::RegisterKeyRequired(_) | GuardError::RegisterKeyMismatch(_) => {
                RequestError::Precondition(format!(
                    "{e}: the server screens with it, so place {owner}'s register key in keys/{owner}.register-key on the server and restart it"
                ))
            }
            other => RequestError::invalid("policy", other.to_string()),
        })?;
    if policy.owner() != owner {
        return Err(RequestError::invalid(
            "policy",
            format!(
                "the document names owner {:?} but it is published by {owner:?}; set `owner = \"{owner}\"`",
                policy.owner()
            ),
        ));
    }
    if let Some(current) = state.sequencer.policy_in_force(owner)
        && current.hash == policy.hash()
    {
        return Err(RequestError::AlreadyExists(format!(
            "this policy is already in force for {owner} (entry {})",
            current.index.0
        )));
    }
    Ok(Append {
        kind: pb::entry::Kind::PolicyChange(pb::PolicyChange {
            owner: owner.to_owned(),
            policy: request.policy,
            signature: request.signature,
        }),
        payloads: Vec::new(),
        claims: Vec::new(),
        screened_under: None,
        signed_by: Some(SignedBy::new(owner, key)),
    })
}
