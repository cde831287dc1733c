//! ListExpired: the caller's stored items whose retention has run out — what
//! `borderlog retention run` then erases, one signed Redact call each.

use std::sync::Arc;

use tonic::Status;

use crate::pb::{self, Role};
use crate::retention;
use crate::service::access::Caller;
use crate::service::{RequestError, State};

/// Handles one ListExpired call; the scan reads the store, so it runs off the async threads.
pub async fn handle(
    state: Arc<State>,
    caller: &Caller,
    request: pb::ListExpiredRequest,
) -> Result<pb::ListExpiredResponse, Status> {
    caller.require(Role::Sender, "ListExpired")?;
    let as_of_ms = match request.as_of_ms {
        0 => crate::clock::now_ms(),
        t if t < 0 => {
            return Err(RequestError::invalid(
                "as_of_ms",
                "a time before 1970; send 0 for the server's clock",
            )
            .into());
        }
        t => t,
    };
    let owner = caller.name.clone();
    let items = tokio::task::spawn_blocking(move || {
        retention::expired(&*state.store, Some(&owner), as_of_ms)
    })
    .await
    .map_err(|e| Status::internal(format!("the retention scan failed: {e}")))??;
    Ok(pb::ListExpiredResponse {
        as_of_ms,
        items: items
            .into_iter()
            .map(|x| pb::ExpiredItem {
                disclosure_index: x.disclosure_index.0,
                commitment: x.commitment.to_vec(),
                stix_id: x.stix_id,
                stix_type: x.stix_type,
                tlp: x.tlp,
                disclosed_ms: x.disclosed_ms,
                expired_ms: x.expired_ms,
                rule: x.rule,
            })
            .collect(),
    })
}
