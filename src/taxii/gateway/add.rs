//! Add Objects (specification section 5.5) on the gateway: envelope → local screening → one
//! signed disclosure → the ledger, with a status resource for the outcome.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};
use tonic_types::StatusExt as _;

use super::status::{Detail, Status};
use super::{Gateway, PeerExt};
use crate::client::{self, DisclosureHeader};
use crate::guard::{self, Verdict};
use crate::taxii::collections::Collection;
use crate::taxii::error::{TaxiiError, json_body};
use crate::taxii::media;

/// POST {api-root}/collections/{id}/objects/
pub async fn add_objects(
    State(gw): State<Arc<Gateway>>,
    axum::Extension(peer): PeerExt,
    Path((root, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, TaxiiError> {
    gw.begin(&headers, &peer, &root).await?;
    let collection = gw.collection(&id)?.clone();
    media::check_content_type(&headers)?;
    let max = gw.config.max_content_length;
    let too_large = || {
        TaxiiError::TooLarge(format!(
            "the envelope is larger than this API root's max_content_length of {max} bytes; split it"
        ))
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > max) {
        return Err(too_large());
    }
    let bytes = axum::body::to_bytes(body, max)
        .await
        .map_err(|_| too_large())?;
    let objects = parse_envelope(&bytes)?;

    let digest = envelope_digest(&collection, &objects);
    let status_id = uuid(&digest);
    // One admission at a time: a copy of an envelope arriving meanwhile finds its status.
    let _admitting = gw.admit.lock().await;
    if let Some(existing) = gw.statuses.get(&status_id)? {
        tracing::info!(status = %status_id, "envelope already received: not disclosed again");
        return Ok(accepted(&existing));
    }
    let bundle = serde_json::json!({ "type": "bundle", "objects": objects });
    let items = crate::cli::submit::load_items(
        &serde_json::to_vec(&bundle).unwrap_or_default(),
        gw.config.default_tlp.as_deref(),
    )
    .map_err(|e| TaxiiError::Unprocessable(format!("{e:#}")))?;
    // Each item's STIX id, to tell an object's outcome from the item it became.
    let item_ids: Vec<String> = items
        .iter()
        .map(|i| {
            serde_json::from_slice::<serde_json::Value>(i)
                .ok()
                .and_then(|v| v.get("id").and_then(|x| x.as_str()).map(str::to_owned))
                .unwrap_or_default()
        })
        .collect();
    let mut status = Status::pending(status_id, objects.iter().map(detail).collect());

    if let Some(failures) = screen(&gw, &collection, &objects, &items, &item_ids) {
        status.complete(Vec::new(), failures);
        gw.statuses.put(&status)?;
        tracing::info!(status = %status.id, "envelope refused by the local screening: nothing disclosed");
        return Ok(accepted(&status));
    }
    gw.statuses.put(&status)?;
    let answer = accepted(&status);
    let gateway = gw.clone();
    tokio::spawn(async move {
        let (successes, failures) =
            submit(&gateway, &collection, &objects, items, &item_ids, &digest).await;
        status.complete(successes, failures);
        if let Err(e) = gateway.statuses.put(&status) {
            tracing::error!(status = %status.id, error = %e, "cannot record the outcome");
        }
    });
    Ok(answer)
}

/// 202 with the status resource.
fn accepted(status: &Status) -> Response {
    let value = serde_json::to_value(status).unwrap_or_default();
    (StatusCode::ACCEPTED, json_body(&value)).into_response()
}

/// The envelope's objects: 400 if it is not JSON, 422 if it is not an envelope of STIX objects.
fn parse_envelope(bytes: &[u8]) -> Result<Vec<serde_json::Value>, TaxiiError> {
    let value: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|e| TaxiiError::BadRequest(format!("the body is not JSON: {e}")))?;
    let unprocessable = |why: &str| {
        TaxiiError::Unprocessable(format!("not a TAXII envelope of STIX objects: {why}"))
    };
    let objects = value
        .get("objects")
        .and_then(|o| o.as_array())
        .ok_or_else(|| unprocessable("no \"objects\" list"))?;
    if objects.is_empty() {
        return Err(unprocessable("\"objects\" is empty"));
    }
    for (i, o) in objects.iter().enumerate() {
        let text = |k: &str| o.get(k).and_then(|v| v.as_str()).is_some();
        if !(text("type") && text("id")) {
            return Err(unprocessable(&format!(
                "object {i} has no string \"type\" and \"id\""
            )));
        }
    }
    Ok(objects.clone())
}

/// SHA-256 over the collection and the objects with sorted keys: the same objects pushed to the
/// same recipient give the same digest, however a platform orders their properties.
fn envelope_digest(collection: &Collection, objects: &[serde_json::Value]) -> [u8; 32] {
    fn canonical(v: &serde_json::Value) -> serde_json::Value {
        match v {
            serde_json::Value::Object(m) => {
                let sorted: std::collections::BTreeMap<_, _> =
                    m.iter().map(|(k, v)| (k.clone(), canonical(v))).collect();
                serde_json::to_value(sorted).unwrap_or_default()
            }
            serde_json::Value::Array(a) => a.iter().map(canonical).collect(),
            other => other.clone(),
        }
    }
    let mut h = Sha256::new();
    h.update(b"borderlog/gateway/envelope/v1\n");
    h.update(collection.id.as_bytes());
    h.update(b"\n");
    let objects: Vec<_> = objects.iter().map(canonical).collect();
    h.update(serde_json::to_vec(&objects).unwrap_or_default());
    h.finalize().into()
}

/// A UUID (version 8) from a digest: the status id.
fn uuid(digest: &[u8; 32]) -> String {
    let mut b = [0u8; 16];
    b.copy_from_slice(&digest[..16]);
    b[6] = (b[6] & 0x0f) | 0x80;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// An object's id and version for its status details.
fn detail(object: &serde_json::Value) -> Detail {
    let text = |k: &str| object.get(k).and_then(|v| v.as_str()).map(str::to_owned);
    Detail {
        id: text("id").unwrap_or_default(),
        version: text("modified")
            .or_else(|| text("created"))
            .unwrap_or_default(),
        message: None,
    }
}

/// `detail` with a message.
fn with(mut d: Detail, message: String) -> Detail {
    d.message = Some(message);
    d
}

/// Screens the items and the gateway's body text under the sender's policy; `Some(failures)`
/// for every object when anything is refused (an envelope crosses whole or not at all).
fn screen(
    gw: &Gateway,
    collection: &Collection,
    objects: &[serde_json::Value],
    items: &[Vec<u8>],
    item_ids: &[String],
) -> Option<Vec<Detail>> {
    let c = &gw.config;
    let context = guard::Context {
        sender: &c.sender,
        recipient: &collection.recipient,
        purpose: &c.purpose,
        legal_basis: &c.legal_basis,
    };
    let verdicts: Vec<Verdict> = items.iter().map(|i| c.policy.screen(&context, i)).collect();
    let body = c.policy.screen_body(&context, &c.case_reference);
    let refused = verdicts.iter().filter(|v| !v.is_accepted()).count();
    if refused == 0 && body.is_empty() {
        return None;
    }
    let findings = |list: &[guard::Finding], at: &str| {
        list.iter()
            .map(|f| format!("{} at {at}{}", f.rule, f.path.trim_start_matches('$')))
            .collect::<Vec<_>>()
            .join("; ")
    };
    let body_text = (!body.is_empty()).then(|| {
        format!(
            "the gateway's configured text is refused: {}",
            findings(&body, "body")
        )
    });
    Some(
        objects
            .iter()
            .map(|o| {
                let d = detail(o);
                let own = item_of_ids(item_ids, &d.id).and_then(|i| match &verdicts[i] {
                    Verdict::Refused(f) => Some(format!("refused by the boundary guard: {}", findings(f, "$"))),
                    Verdict::Accepted(_) => None,
                });
                let message = own.or_else(|| body_text.clone()).unwrap_or_else(|| {
                    format!(
                        "not disclosed: {refused} other object(s) of this envelope were refused; an envelope is disclosed whole or not at all"
                    )
                });
                with(d, message)
            })
            .collect(),
    )
}

/// Signs and submits one disclosure; every object's outcome.
async fn submit(
    gw: &Gateway,
    collection: &Collection,
    objects: &[serde_json::Value],
    items: Vec<Vec<u8>>,
    item_ids: &[String],
    digest: &[u8; 32],
) -> (Vec<Detail>, Vec<Detail>) {
    let c = &gw.config;
    let all_fail = |message: String| -> (Vec<Detail>, Vec<Detail>) {
        (
            Vec::new(),
            objects
                .iter()
                .map(|o| with(detail(o), message.clone()))
                .collect(),
        )
    };
    // The nonce follows from the envelope and the sender's key: a second submission of the
    // same envelope, even after the gateway lost its state, is a replay the ledger refuses.
    let mut mac = match Hmac::<Sha256>::new_from_slice(gw.key.as_bytes()) {
        Ok(m) => m,
        Err(e) => return all_fail(format!("not disclosed: {e}")),
    };
    mac.update(b"borderlog/gateway/nonce/v1\n");
    mac.update(digest);
    let nonce: [u8; 32] = mac.finalize().into_bytes().into();
    let header = DisclosureHeader {
        sender: c.sender.clone(),
        recipient: collection.recipient.clone(),
        purpose: c.purpose.clone(),
        legal_basis: c.legal_basis.clone(),
        case_reference: c.case_reference.clone(),
    };
    let request = match client::prepare_submission_with_nonce(
        &gw.key,
        &header,
        items,
        crate::clock::now_ms(),
        &nonce,
    ) {
        Ok(r) => r,
        Err(e) => return all_fail(format!("not disclosed: {e}")),
    };
    let answer = async {
        let mut api = client::connect(&c.ledger_addr, &c.keys_dir, &c.sender)
            .await
            .map_err(|e| tonic::Status::unavailable(e.to_string()))?;
        api.submit(request).await.map(tonic::Response::into_inner)
    }
    .await;
    match answer {
        Ok(receipt) => match client::verify_receipt(&receipt, &gw.log) {
            Ok(checkpoint) => {
                let successes = objects
                    .iter()
                    .map(|o| {
                        let d = detail(o);
                        let at = item_of_ids(item_ids, &d.id)
                            .map_or_else(|| "a marking definition the disclosed objects reference".to_owned(), |i| format!("item {i}"));
                        with(d, format!(
                            "disclosed as entry {} ({at}; leaf {}); receipt verified against checkpoint {}",
                            receipt.index,
                            hex::encode(&receipt.leaf_hash),
                            checkpoint.size
                        ))
                    })
                    .collect();
                tracing::info!(entry = receipt.index, "envelope disclosed");
                (successes, Vec::new())
            }
            Err(e) => all_fail(format!("the ledger's receipt does not verify: {e}")),
        },
        Err(status) => (Vec::new(), refusal_details(&status, objects, item_ids)),
    }
}

/// The item an object became (referenced marking definitions are not items of their own).
fn item_of_ids(ids: &[String], id: &str) -> Option<usize> {
    ids.iter().position(|i| i == id)
}

/// The ledger's refusal per object: the findings (rule and path) on the items they concern.
fn refusal_details(
    status: &tonic::Status,
    objects: &[serde_json::Value],
    item_ids: &[String],
) -> Vec<Detail> {
    let details = status.get_error_details();
    let mut per_item: Vec<(usize, String)> = Vec::new();
    let mut add = |at: &str, rule: &str| {
        let item = at
            .strip_prefix("items[")
            .and_then(|r| r.split(']').next())
            .and_then(|n| n.parse::<usize>().ok());
        per_item.push((item.unwrap_or(usize::MAX), format!("{rule} at {at}")));
    };
    if let Some(p) = details.precondition_failure() {
        for v in &p.violations {
            add(&v.subject, &v.r#type);
        }
    }
    if let Some(b) = details.bad_request() {
        for v in &b.field_violations {
            add(&v.field, v.description.split(':').next().unwrap_or(""));
        }
    }
    objects
        .iter()
        .map(|o| {
            let d = detail(o);
            let mine: Vec<&str> = item_of_ids(item_ids, &d.id)
                .map(|i| {
                    per_item
                        .iter()
                        .filter(|(j, _)| *j == i || *j == usize::MAX)
                        .map(|(_, m)| m.as_str())
                        .collect()
                })
                .unwrap_or_default();
            let message = if mine.is_empty() {
                format!(
                    "not disclosed: the ledger answered {:?}: {}",
                    status.code(),
                    status.message()
                )
            } else {
                format!("refused by the ledger's guard: {}", mine.join("; "))
            };
            with(d, message)
        })
        .collect()
}
