//! Submit: a partner's signed disclosure, with its item payloads, becomes a Disclosure entry —
//! or, when the boundary guard refuses an item, a Refusal entry that records where and why
//! without the content.
//!
//! Parse checks everything that needs no log state (shape, limits, signature, commitments);
//! screen runs every item through the policy in force for the sender; apply hands the entry to
//! the sequencer, which alone decides whether the nonce is fresh and the policy still in force;
//! reply returns the receipt with its inclusion proof, or the refusal with its findings.

use std::sync::Arc;

use prost::Message;
use tonic::Status;

use crate::format::entry::{Claim, NONCE_LEN};
use crate::format::hash::{SALT_LEN, sha256};
use crate::format::signature::{self, Purpose};
use crate::guard::{self, Policy, Verdict};
use crate::identity::role_name;
use crate::pb::{self, Role};
use crate::sequencer::{Append, Appended, ScreenedUnder, SequencerError, SignedBy};
use crate::service::access::{Caller, not_revoked, partner};
use crate::service::error::Refused;
use crate::service::{RequestError, State};
use crate::store::CheckedPayload;

/// How often a submission is screened again when the owner publishes a new policy meanwhile.
const SCREEN_ATTEMPTS: usize = 3;

/// Screening above this many payload bytes runs on the blocking pool, not the async runtime.
const INLINE_SCREEN_BYTES: usize = 64 << 10;

/// Guard rules that mean the bytes are not a JSON object at all.
const NOT_AN_OBJECT: [&str; 3] = [
    guard::rules::SCHEMA_JSON,
    guard::rules::SCHEMA_DUPLICATE_KEY,
    guard::rules::SCHEMA_SIZE,
];

/// A submission whose shape holds, its signature not yet checked: what SubmitStream gathers
/// to verify several signatures at once.
pub(super) struct Unverified {
    body: pb::DisclosureBody,
    /// The sender's key in force, which the signature must verify under.
    sender_key: ed25519_dalek::VerifyingKey,
    request: pb::SubmitRequest,
}

impl Unverified {
    /// What the sender signed: the domain and the body bytes.
    pub(super) fn signed_message(&self) -> Vec<u8> {
        signature::message(Purpose::Disclosure, &self.request.body)
    }

    /// The signature's bytes as sent (not yet known to be 64 bytes).
    pub(super) fn signature(&self) -> &[u8] {
        &self.request.signature
    }

    /// The key the signature must verify under.
    pub(super) fn sender_key(&self) -> &ed25519_dalek::VerifyingKey {
        &self.sender_key
    }
}

/// A submission whose shape, signature and commitments hold, ready to be screened.
pub(super) struct Submission {
    body: pb::DisclosureBody,
    /// The sender's key in force the signature verified under.
    sender_key: ed25519_dalek::VerifyingKey,
    body_bytes: Vec<u8>,
    signature: Vec<u8>,
    payloads: Vec<CheckedPayload>,
}

/// What the policy made of a submission.
enum Screened {
    /// Every item may cross: append this Disclosure.
    Accepted(Append),
    /// Some item may not: append this Refusal, then tell the client why.
    Refused(Append, Vec<(guard::Place, guard::Finding)>),
}

/// Handles one Submit call.
pub async fn handle(
    state: &Arc<State>,
    caller: &Caller,
    request: pb::SubmitRequest,
) -> Result<pb::LogReceipt, Status> {
    let unverified = parse(state, caller, request)?;
    // With the signatures of other Submits waiting meanwhile, as one batch.
    let verified = super::signatures::verify(state, unverified).await?;
    apply(state, check_payloads(state, verified)?).await
}

/// Screens a checked submission under the policy in force, appends the Disclosure (or the
/// Refusal) and answers with the receipt (or the refusal's findings).
pub(super) async fn apply(
    state: &Arc<State>,
    submission: Submission,
) -> Result<pb::LogReceipt, Status> {
    apply_from(state, Arc::new(submission), SCREEN_ATTEMPTS).await
}

/// [`apply`], again, for a streamed disclosure whose append found the policy changed.
pub(super) async fn apply_again(
    state: &Arc<State>,
    answer: Answer,
) -> Result<pb::LogReceipt, Status> {
    apply_from(state, answer.submission, SCREEN_ATTEMPTS - 1).await
}

async fn apply_from(
    state: &Arc<State>,
    mut submission: Arc<Submission>,
    attempts: usize,
) -> Result<pb::LogReceipt, Status> {
    for _ in 0..attempts {
        let (append, answer) = screen_in_force(state, submission).await?;
        match state.sequencer.append(append).await {
            Err(SequencerError::PolicyChanged { .. }) => submission = answer.submission,
            other => return answer.reply(state, other?).await,
        }
    }
    Err(Status::aborted(format!(
        "the screening policy changed {SCREEN_ATTEMPTS} times while this disclosure was screened; nothing was appended, submit it again"
    )))
}

/// What answers a screened submission once its entry is appended.
pub(super) struct Answer {
    submission: Arc<Submission>,
    policy: Arc<Policy>,
    /// The refusal's findings; None when the Disclosure was accepted.
    findings: Option<Vec<(guard::Place, guard::Finding)>>,
}

impl Answer {
    /// The receipt of the appended Disclosure, or the refusal the appended Refusal records.
    pub(super) async fn reply(
        self,
        state: &Arc<State>,
        appended: Appended,
    ) -> Result<pb::LogReceipt, Status> {
        match self.findings {
            None => super::receipt(state, appended).await,
            Some(findings) => Err(RequestError::Refused(Refused {
                index: appended.index,
                policy_hash: self.policy.hash(),
                policy_version: self.policy.version().to_owned(),
                findings: count_refusal(state, findings),
            })
            .into()),
        }
    }
}

/// Screens a submission under the policy in force for its sender: the entry to append, and
/// what will answer it.
pub(super) async fn screen_in_force(
    state: &Arc<State>,
    submission: Arc<Submission>,
) -> Result<(Append, Answer), Status> {
    let policy = match state.policies.cached(state, &submission.body.sender) {
        Some(policy) => policy,
        // A policy not parsed yet is read from the store: on the blocking pool.
        None => {
            let (s, owner) = (state.clone(), submission.body.sender.clone());
            super::off_runtime(move || s.policies.in_force(&s, &owner)).await?
        }
    };
    let (screened, submission) = screen_off_runtime(policy.clone(), submission).await?;
    let (append, findings) = match screened {
        Screened::Accepted(append) => (append, None),
        Screened::Refused(append, findings) => (append, Some(findings)),
    };
    let answer = Answer {
        submission,
        policy,
        findings,
    };
    Ok((append, answer))
}

/// Counts each finding of a refusal by rule, and passes them on.
fn count_refusal(
    state: &State,
    findings: Vec<(guard::Place, guard::Finding)>,
) -> Vec<(guard::Place, guard::Finding)> {
    for (_, finding) in &findings {
        state
            .metrics
            .refusals
            .get_or_create(&crate::metrics::Metrics::label("rule", finding.rule))
            .inc();
    }
    findings
}

/// Screens on the blocking pool when the payloads are large, so a big disclosure does not
/// stall other requests; small ones (the common case) are screened in place.
async fn screen_off_runtime(
    policy: Arc<Policy>,
    submission: Arc<Submission>,
) -> Result<(Screened, Arc<Submission>), Status> {
    let bytes: usize = submission
        .payloads
        .iter()
        .map(|p| p.payload().content.len())
        .sum();
    if bytes <= INLINE_SCREEN_BYTES {
        let screened = screen(&policy, &submission)?;
        return Ok((screened, submission));
    }
    tokio::task::spawn_blocking(move || {
        screen(&policy, &submission).map(|screened| (screened, submission))
    })
    .await
    .map_err(|e| Status::internal(format!("screening task failed: {e}")))?
    .map_err(Status::from)
}

/// Runs every item through `policy` under the body's declared context.
fn screen(policy: &Policy, s: &Submission) -> Result<Screened, RequestError> {
    let body = &s.body;
    let context = guard::Context {
        sender: &body.sender,
        recipient: &body.recipient,
        purpose: &body.purpose,
        legal_basis: &body.legal_basis,
    };
    // The body's own text crosses with the items, and is never erasable: screened first.
    let mut findings: Vec<_> = policy
        .screen_body(&context, &body.case_reference)
        .into_iter()
        .map(|f| (guard::Place::Body, f))
        .collect();
    let mut mismatch = None;
    for (i, (payload, declared)) in s.payloads.iter().zip(&body.items).enumerate() {
        match policy.screen(&context, &payload.payload().content) {
            Verdict::Accepted(found) => {
                let said = (
                    &declared.stix_type,
                    &declared.stix_id,
                    declared.tlp.as_str(),
                );
                let is = (&found.stix_type, &found.stix_id, found.tlp.as_str());
                if said != is && mismatch.is_none() {
                    mismatch = Some(RequestError::invalid(
                        "body.items",
                        format!(
                            "item {i}: the body declares {} {:?} at TLP:{} but the item is {} {:?} at TLP:{}; declare what the item is",
                            said.0, said.1, said.2, is.0, is.1, is.2
                        ),
                    ));
                }
            }
            Verdict::Refused(found) => {
                // Bytes that are not one JSON object are a broken client, not an attempt to
                // disclose something: refused outright, nothing recorded.
                if let Some(f) = found.iter().find(|f| NOT_AN_OBJECT.contains(&f.rule)) {
                    return Err(RequestError::invalid(
                        "items.content",
                        format!(
                            "item {i} is not one STIX object as JSON ({}): {}",
                            f.rule, f.hint
                        ),
                    ));
                }
                findings.extend(found.into_iter().map(|f| (guard::Place::Item(i as u32), f)));
            }
        }
    }
    let screened_under = Some(ScreenedUnder {
        owner: body.sender.clone(),
        policy_hash: policy.hash(),
    });
    // A replayed body is refused as a replay, never recorded twice.
    let claims = vec![Claim::Nonce {
        sender: body.sender.clone(),
        nonce: body.nonce.clone(),
    }];
    if !findings.is_empty() {
        let refusal = pb::Refusal {
            sender: body.sender.clone(),
            recipient: body.recipient.clone(),
            body_hash: sha256(&s.body_bytes).to_vec(),
            policy_hash: policy.hash().to_vec(),
            findings: findings
                .iter()
                .map(|(place, f)| pb::Finding {
                    item: match place {
                        guard::Place::Item(i) => *i,
                        guard::Place::Body => 0,
                    },
                    path: f.path.clone(),
                    rule: f.rule.to_owned(),
                    body: *place == guard::Place::Body,
                })
                .collect(),
            nonce: body.nonce.clone(),
        };
        let append = Append {
            kind: pb::entry::Kind::Refusal(refusal),
            payloads: Vec::new(),
            claims,
            screened_under,
            signed_by: Some(SignedBy::new(&body.sender, s.sender_key)),
        };
        return Ok(Screened::Refused(append, findings));
    }
    if let Some(err) = mismatch {
        return Err(err);
    }
    Ok(Screened::Accepted(Append {
        kind: pb::entry::Kind::Disclosure(pb::Disclosure {
            body: s.body_bytes.clone(),
            signature: s.signature.clone(),
            policy_hash: policy.hash().to_vec(),
        }),
        payloads: s.payloads.clone(),
        claims,
        screened_under,
        signed_by: Some(SignedBy::new(&body.sender, s.sender_key)),
    }))
}

/// Decodes a DisclosureBody the caller sent as its own: its sender must be the caller.
pub(crate) fn own_body(caller: &Caller, bytes: &[u8]) -> Result<pb::DisclosureBody, RequestError> {
    let body = pb::DisclosureBody::decode(bytes).map_err(|e| {
        RequestError::invalid(
            "body",
            format!("not an encoded borderlog.v1.DisclosureBody: {e}"),
        )
    })?;
    if body.sender != caller.name {
        return Err(RequestError::Forbidden(format!(
            "the body's sender is {:?} but the client certificate is {:?}: a partner submits and looks up only its own disclosures",
            body.sender, caller.name
        )));
    }
    Ok(body)
}

/// Checks the submission's shape and limits, and finds the sender's key in force; the
/// signature is checked next ([`verify_signature`], or a batch of them on a stream), then the
/// payloads ([`check_payloads`]).
pub(super) fn parse(
    state: &State,
    caller: &Caller,
    request: pb::SubmitRequest,
) -> Result<Unverified, RequestError> {
    caller.require(Role::Sender, "Submit")?;
    let limits = &state.limits;
    let body = own_body(caller, &request.body)?;
    let (_, sender_key) = partner(state, &body.sender, "body.sender")?;
    let recipient = state.registry.party(&body.recipient).ok_or_else(|| {
        RequestError::invalid(
            "body.recipient",
            format!("{:?} is not a party of this log", body.recipient),
        )
    })?;
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
    not_revoked(state, &body.recipient)?;
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
        (
            "body.purpose length in bytes (max_text_bytes)",
            &body.purpose,
        ),
        (
            "body.legal_basis length in bytes (max_text_bytes)",
            &body.legal_basis,
        ),
        (
            "body.case_reference length in bytes (max_text_bytes)",
            &body.case_reference,
        ),
    ] {
        RequestError::check_limit(what, text.len(), limits.max_text_bytes)?;
    }
    if !NONCE_LEN.contains(&body.nonce.len()) {
        return Err(RequestError::invalid(
            "body.nonce",
            format!(
                "{} bytes; use {} to {} random bytes",
                body.nonce.len(),
                NONCE_LEN.start(),
                NONCE_LEN.end()
            ),
        ));
    }
    let now = crate::clock::now_ms();
    // Checked: a client time near i64::MIN or MAX must not wrap into a small skew.
    let skew = body.client_time_ms.checked_sub(now);
    if skew
        .and_then(i64::checked_abs)
        .is_none_or(|s| s > limits.max_clock_skew_ms)
    {
        return Err(RequestError::invalid(
            "body.client_time_ms",
            format!(
                "{} ms away from the server's clock (at most {} ms allowed); sign with the current time",
                body.client_time_ms.saturating_sub(now),
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
    RequestError::check_limit(
        "items per disclosure (max_items)",
        body.items.len(),
        limits.max_items,
    )?;
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
    Ok(Unverified {
        body,
        sender_key,
        request,
    })
}

/// Checks the disclosure's signature under the sender's key in force, one by one.
pub(super) fn verify_signature(state: &State, u: &Unverified) -> Result<(), RequestError> {
    let request = &u.request;
    signature::verify(&u.sender_key, Purpose::Disclosure, &request.body, &request.signature).map_err(
        |_| {
            state.metrics.signature_failure("Submit");
            RequestError::BadSignature(format!(
                "the disclosure signature does not verify under {}'s key in force (pinned in the genesis entry or set by its latest KeyChange); sign {:?} || body with that key",
                u.body.sender,
                Purpose::Disclosure.domain_text()
            ))
        },
    )
}

/// Checks each payload's size, JSON limits and commitment against the signed body; call only
/// once the signature verified.
pub(super) fn check_payloads(state: &State, u: Unverified) -> Result<Submission, RequestError> {
    let limits = &state.limits;
    let Unverified {
        body,
        sender_key,
        request,
    } = u;
    let mut payloads = Vec::with_capacity(request.items.len());
    for (i, (committed, item)) in body.items.iter().zip(request.items).enumerate() {
        RequestError::check_limit(
            "item size in bytes (max_item_bytes)",
            item.content.len(),
            limits.max_item_bytes,
        )?;
        crate::service::limits::check_json(limits, &item.content)?;
        let salt: [u8; SALT_LEN] = item.salt.as_slice().try_into().map_err(|_| {
            RequestError::invalid(
                "items.salt",
                format!("item {i}: the salt must be {SALT_LEN} bytes"),
            )
        })?;
        // Hashed once: the store takes the payload as checked.
        let payload = CheckedPayload::new(salt, item.content.into());
        if committed.commitment != payload.payload().commitment {
            return Err(RequestError::invalid(
                "items",
                format!(
                    "item {i}: its salt and content do not match the commitment in the signed body"
                ),
            ));
        }
        payloads.push(payload);
    }
    Ok(Submission {
        body,
        sender_key,
        body_bytes: request.body,
        signature: request.signature,
        payloads,
    })
}
