//! Submit: a partner's signed disclosure, with its item payloads, becomes a Disclosure entry.
//!
//! Parse checks everything that needs no log state (shape, limits, signature, commitments);
//! apply hands the entry to the sequencer, which alone decides whether the nonce is fresh;
//! reply returns the receipt with its inclusion proof.

use prost::Message;
use tonic::Status;

use crate::format::entry::Claim;
use crate::format::hash::{SALT_LEN, item_commitment};
use crate::format::signature::{self, Purpose};
use crate::identity::role_name;
use crate::pb::{self, Role};
use crate::sequencer::Append;
use crate::service::access::{Caller, partner};
use crate::service::{RequestError, State};
use crate::store::Payload;

/// Smallest and largest nonce, bytes: enough entropy never to repeat by chance.
const NONCE_LEN: std::ops::RangeInclusive<usize> = 16..=64;

/// Handles one Submit call.
pub async fn handle(
    state: &State,
    caller: &Caller,
    request: pb::SubmitRequest,
) -> Result<pb::LogReceipt, Status> {
    super::append(state, parse(state, caller, request)?).await
}

/// Checks the submission and turns it into an entry for the sequencer.
fn parse(
    state: &State,
    caller: &Caller,
    request: pb::SubmitRequest,
) -> Result<Append, RequestError> {
    caller.require(Role::Sender, "Submit")?;
    let limits = &state.limits;
    let body = pb::DisclosureBody::decode(request.body.as_slice()).map_err(|e| {
        RequestError::invalid(
            "body",
            format!("not an encoded borderlog.v1.DisclosureBody: {e}"),
        )
    })?;
    if body.sender != caller.name {
        return Err(RequestError::Forbidden(format!(
            "the body's sender is {:?} but the client certificate is {:?}: a partner submits only its own disclosures",
            body.sender, caller.name
        )));
    }
    let (_, sender_key) = partner(state, &body.sender, "body.sender")?;
    let (recipient, _) = partner(state, &body.recipient, "body.recipient")?;
    if recipient.role != Role::Recipient {
        return Err(RequestError::invalid(
            "body.recipient",
            format!(
                "{:?} is a {}, not a recipient",
                body.recipient,
                role_name(recipient.role)
            ),
        ));
    }
    for (field, text) in [
        ("body.purpose", &body.purpose),
        ("body.legal_basis", &body.legal_basis),
    ] {
        if text.trim().is_empty() {
            return Err(RequestError::invalid(
                field,
                "must say why and under which law the data is shared",
            ));
        }
    }
    for (what, text) in [
        ("body.purpose length", &body.purpose),
        ("body.legal_basis length", &body.legal_basis),
        ("body.case_reference length", &body.case_reference),
    ] {
        RequestError::check_limit(what, text.len(), limits.max_text_bytes)?;
    }
    if !NONCE_LEN.contains(&body.nonce.len()) {
        return Err(RequestError::invalid(
            "body.nonce",
            format!("{} bytes; use 16 to 64 random bytes", body.nonce.len()),
        ));
    }
    let now = crate::clock::now_ms();
    if (body.client_time_ms - now).abs() > limits.max_clock_skew_ms {
        return Err(RequestError::invalid(
            "body.client_time_ms",
            format!(
                "{} ms away from the server's clock (at most {} ms allowed); sign with the current time",
                body.client_time_ms - now,
                limits.max_clock_skew_ms
            ),
        ));
    }
    if body.items.is_empty() {
        return Err(RequestError::invalid(
            "body.items",
            "a disclosure carries at least one item",
        ));
    }
    RequestError::check_limit("items per disclosure", body.items.len(), limits.max_items)?;
    if body.items.len() != request.items.len() {
        return Err(RequestError::invalid(
            "items",
            format!(
                "the body commits to {} items but {} payloads were sent; send one payload per item, in order",
                body.items.len(),
                request.items.len()
            ),
        ));
    }
    signature::verify(sender_key, Purpose::Disclosure, &request.body, &request.signature).map_err(
        |_| {
            RequestError::BadSignature(format!(
                "the disclosure signature does not verify under {}'s key pinned in the genesis entry; sign \"borderlog/disclosure/v1\\n\" || body with that key",
                body.sender
            ))
        },
    )?;

    let mut payloads = Vec::with_capacity(request.items.len());
    for (i, (committed, item)) in body.items.iter().zip(request.items).enumerate() {
        RequestError::check_limit(
            "item size in bytes",
            item.content.len(),
            limits.max_item_bytes,
        )?;
        let salt: [u8; SALT_LEN] = item.salt.as_slice().try_into().map_err(|_| {
            RequestError::invalid(
                "items.salt",
                format!("item {i}: the salt must be {SALT_LEN} bytes"),
            )
        })?;
        let commitment = item_commitment(&salt, &item.content);
        if committed.commitment != commitment {
            return Err(RequestError::invalid(
                "items",
                format!(
                    "item {i}: its salt and content do not match the commitment in the signed body"
                ),
            ));
        }
        check_item_json(i, committed, &item.content)?;
        payloads.push(Payload {
            commitment,
            salt,
            content: item.content,
        });
    }

    let claims = vec![Claim::Nonce {
        sender: body.sender.clone(),
        nonce: body.nonce.clone(),
    }];
    Ok(Append {
        kind: pb::entry::Kind::Disclosure(pb::Disclosure {
            body: request.body,
            signature: request.signature,
            policy_hash: Vec::new(),
        }),
        payloads,
        claims,
    })
}

/// The item must be a JSON object whose `type` and `id` are the ones the body declares.
fn check_item_json(
    i: usize,
    committed: &pb::ItemCommitment,
    content: &[u8],
) -> Result<(), RequestError> {
    let value: serde_json::Value = serde_json::from_slice(content).map_err(|e| {
        RequestError::invalid("items.content", format!("item {i} is not valid JSON: {e}"))
    })?;
    let field = |name: &str| {
        value
            .get(name)
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_owned()
    };
    if field("type") != committed.stix_type || field("id") != committed.stix_id {
        return Err(RequestError::invalid(
            "body.items",
            format!(
                "item {i}: the body declares {} {:?} but the item is {} {:?}",
                committed.stix_type,
                committed.stix_id,
                field("type"),
                field("id")
            ),
        ));
    }
    Ok(())
}
