//! Collections: one per (sender, recipient) pair of the log, holding the objects the sender
//! disclosed to the recipient. Partners see the collections they are a party to; auditors and
//! compliance officers see every collection but may not read its objects (they see no
//! payloads), unless the node lets auditors read payloads.

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use sha2::{Digest, Sha256};

use super::error::{TaxiiError, json_body};
use super::https::Peer;
use super::{App, media};
use crate::pb::{self, Role};
use crate::service::Caller;

/// One collection: what `sender` disclosed to `recipient`.
#[derive(Debug, Clone)]
pub struct Collection {
    /// A UUID derived from the log's origin and the two names: stable across restarts.
    pub id: String,
    /// The disclosing party.
    pub sender: String,
    /// The receiving party.
    pub recipient: String,
}

impl Collection {
    /// The collection of `sender`'s disclosures to `recipient` in the log `origin`.
    pub fn new(origin: &str, sender: &str, recipient: &str) -> Collection {
        let digest = Sha256::digest(
            format!("borderlog/taxii/collection\n{origin}\n{sender}\n{recipient}").as_bytes(),
        );
        let mut b = [0u8; 16];
        b.copy_from_slice(&digest[..16]);
        // An RFC 9562 name-based UUID (version 8: "custom", here SHA-256 based).
        b[6] = (b[6] & 0x0f) | 0x80;
        b[8] = (b[8] & 0x3f) | 0x80;
        let h = hex::encode(b);
        Collection {
            id: format!(
                "{}-{}-{}-{}-{}",
                &h[0..8],
                &h[8..12],
                &h[12..16],
                &h[16..20],
                &h[20..32]
            ),
            sender: sender.to_owned(),
            recipient: recipient.to_owned(),
        }
    }

    /// Every sender → recipient pair of the registry.
    pub fn all(registry: &crate::identity::Registry) -> Vec<Collection> {
        let parties = registry.parties();
        let mut out = Vec::new();
        for sender in parties.iter().filter(|p| p.role == Role::Sender) {
            for recipient in parties.iter().filter(|p| p.role == Role::Recipient) {
                out.push(Collection::new(
                    registry.origin(),
                    &sender.name,
                    &recipient.name,
                ));
            }
        }
        out
    }

    /// Does the caller see this collection at all? Partners only their own pairs.
    pub fn visible_to(&self, caller: &Caller) -> bool {
        !caller.is_partner() || caller.name == self.sender || caller.name == self.recipient
    }

    /// May the caller read its objects? Exactly who GetEntry shows the payloads to.
    pub fn readable_by(&self, caller: &Caller, auditor_reads_payloads: bool) -> bool {
        let body = pb::DisclosureBody {
            sender: self.sender.clone(),
            recipient: self.recipient.clone(),
            ..Default::default()
        };
        self.visible_to(caller) && caller.may_read_payloads(&body, auditor_reads_payloads)
    }

    /// The TAXII collection resource.
    fn resource(&self, caller: &Caller, auditor_reads_payloads: bool) -> serde_json::Value {
        serde_json::json!({
            "id": self.id,
            "title": format!("{} to {}", self.sender, self.recipient),
            "description": format!(
                "STIX objects {} disclosed to {} in the ledger; read-only (push through the sender's `borderlog gateway`)",
                self.sender, self.recipient
            ),
            "can_read": self.readable_by(caller, auditor_reads_payloads),
            "can_write": false,
            "media_types": [media::STIX],
        })
    }
}

impl App {
    /// The collection with `id` if the caller may see it; 404 otherwise (whether it exists
    /// is nobody else's business).
    pub(crate) fn collection(&self, caller: &Caller, id: &str) -> Result<&Collection, TaxiiError> {
        self.collections
            .iter()
            .find(|c| c.id == id && c.visible_to(caller))
            .ok_or_else(|| {
                TaxiiError::NotFound(format!("no collection {id:?} for {}", caller.name))
            })
    }

    /// The collection if the caller may read its objects: 404 if it does not see it, 403 if it
    /// sees it but may not read payloads.
    pub(crate) fn readable(&self, caller: &Caller, id: &str) -> Result<&Collection, TaxiiError> {
        let collection = self.collection(caller, id)?;
        if !collection.readable_by(caller, self.state.auditor_reads_payloads) {
            return Err(TaxiiError::Forbidden(format!(
                "{} is {} and may not read objects: payloads are visible only to the disclosure's sender and recipient",
                caller.name,
                crate::identity::role_name(caller.role)
            )));
        }
        Ok(collection)
    }
}

/// GET {api-root}/collections/
pub async fn list(
    State(app): State<std::sync::Arc<App>>,
    axum::Extension(peer): axum::Extension<Peer>,
    Path(root): Path<String>,
    headers: HeaderMap,
) -> Result<Response, TaxiiError> {
    let caller = app.begin(&headers, &peer, &root).await?;
    let collections: Vec<_> = app
        .collections
        .iter()
        .filter(|c| c.visible_to(&caller))
        .map(|c| c.resource(&caller, app.state.auditor_reads_payloads))
        .collect();
    Ok(json_body(
        &serde_json::json!({ "collections": collections }),
    ))
}

/// GET {api-root}/collections/{id}/
pub async fn get(
    State(app): State<std::sync::Arc<App>>,
    axum::Extension(peer): axum::Extension<Peer>,
    Path((root, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, TaxiiError> {
    let caller = app.begin(&headers, &peer, &root).await?;
    let collection = app.collection(&caller, &id)?;
    Ok(json_body(
        &collection.resource(&caller, app.state.auditor_reads_payloads),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_stable_uuids_per_pair() {
        let a = Collection::new("o", "vendor", "police");
        assert_eq!(a.id, Collection::new("o", "vendor", "police").id);
        assert_ne!(a.id, Collection::new("o", "police", "vendor").id);
        assert_ne!(a.id, Collection::new("p", "vendor", "police").id);
        assert_eq!(a.id.len(), 36);
        assert_eq!(&a.id[14..15], "8", "version 8");
    }
}
