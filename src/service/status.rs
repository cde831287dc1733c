//! The one place where errors of every layer become gRPC statuses.

use std::collections::HashMap;

use tonic::codegen::http;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, FieldViolation, PreconditionViolation, StatusExt};

use super::RequestError;
use super::error::Refused;
use crate::format::FormatError;
use crate::guard::{FindingClass, Place};
use crate::keys_in_force::KeyError;
use crate::report::ReportError;
use crate::retention::RetentionError;
use crate::sequencer::SequencerError;
use crate::store::StoreError;

impl From<RequestError> for Status {
    fn from(err: RequestError) -> Status {
        let code = match &err {
            RequestError::NoCertificate
            | RequestError::NoPlaintextIdentity
            | RequestError::UnknownCaller(_) => Code::Unauthenticated,
            RequestError::Forbidden(_) => Code::PermissionDenied,
            RequestError::Invalid { .. } | RequestError::BadSignature(_) => Code::InvalidArgument,
            RequestError::NotFound(_) => Code::NotFound,
            RequestError::AlreadyExists(_) => Code::AlreadyExists,
            RequestError::Precondition(_) => Code::FailedPrecondition,
            RequestError::TooLarge { .. } | RequestError::RateLimited { .. } => {
                Code::ResourceExhausted
            }
            RequestError::Refused(refused) => return refusal_status(refused),
            RequestError::Key(e) => return key_status(e),
        };
        Status::new(code, err.to_string())
    }
}

/// A refusal as google.rpc error details: ErrorInfo names the Refusal entry and the policy;
/// each finding becomes a BadRequest field violation (schema) or a PreconditionFailure
/// violation (policy), so a client can show every finding without parsing the message.
fn refusal_status(refused: &Refused) -> Status {
    let (code, reason) = if refused.is_schema_only() {
        (Code::InvalidArgument, "INVALID_STIX")
    } else {
        (Code::FailedPrecondition, "REFUSED_BY_POLICY")
    };
    let metadata = HashMap::from([
        ("refusal_index".to_owned(), refused.index.0.to_string()),
        ("policy_hash".to_owned(), hex::encode(refused.policy_hash)),
        ("policy_version".to_owned(), refused.policy_version.clone()),
    ]);
    let mut details = ErrorDetails::with_error_info(reason, "borderlog.v1", metadata);
    let mut bad_request = Vec::new();
    let mut preconditions = Vec::new();
    for (place, f) in &refused.findings {
        let at = match place {
            Place::Item(item) => format!("items[{item}].content{}", f.path.trim_start_matches('$')),
            Place::Body => format!("body{}", f.path.trim_start_matches('$')),
        };
        match f.class {
            FindingClass::Schema => {
                bad_request.push(FieldViolation::new(at, format!("{}: {}", f.rule, f.hint)))
            }
            FindingClass::Policy => {
                preconditions.push(PreconditionViolation::new(f.rule, at, f.hint.clone()))
            }
        }
    }
    if !bad_request.is_empty() {
        details.set_bad_request(bad_request);
    }
    if !preconditions.is_empty() {
        details.set_precondition_failure(preconditions);
    }
    Status::with_error_details(code, refused.to_string(), details)
}

/// A key rule broken: a revoked signer may do nothing (PERMISSION_DENIED, naming the revoking
/// entry); a KeyChange that breaks a rule is the caller's to fix; a key retired while the
/// entry was checked is worth one more try with the key in force (ABORTED).
fn key_status(err: &KeyError) -> Status {
    let code = match err {
        KeyError::Revoked { .. } => Code::PermissionDenied,
        KeyError::KeyUsedBefore { .. } => Code::AlreadyExists,
        KeyError::Retired { .. } => Code::Aborted,
        KeyError::UnknownParty(_)
        | KeyError::BadNewKey { .. }
        | KeyError::LogKeyNotRevocable
        | KeyError::BadSignature { .. } => Code::InvalidArgument,
        KeyError::RecipientRevoked { .. } => Code::FailedPrecondition,
    };
    Status::new(code, err.to_string())
}

impl From<SequencerError> for Status {
    fn from(err: SequencerError) -> Status {
        match err {
            SequencerError::AlreadyClaimed { claim, index } => {
                let what = match claim {
                    crate::format::entry::Claim::Nonce { .. } => {
                        "this nonce was already used by the sender; sign a new body with a fresh nonce"
                    }
                    crate::format::entry::Claim::ReceiptFor(_) => {
                        "this disclosure is already acknowledged"
                    }
                    crate::format::entry::Claim::RedactionOf(_) => "this item is already erased",
                };
                Status::already_exists(format!("{what} (entry {})", index.0))
            }
            SequencerError::Unavailable(why) => Status::unavailable(format!(
                "the log cannot make entries durable right now, nothing was appended: {why}"
            )),
            SequencerError::PolicyChanged { owner } => Status::aborted(format!(
                "the screening policy of {owner} changed while this entry was screened; nothing was appended, submit it again"
            )),
            SequencerError::KeyNotInForce(e) => key_status(&e),
            SequencerError::Stopped => {
                Status::unavailable("the log is shutting down; nothing was appended")
            }
            SequencerError::Failed(why) => Status::unavailable(format!(
                "the log takes no writes until the server restarts ({why}); nothing was appended"
            )),
            // Its own code: neither "appended" nor "nothing was appended" would be true.
            SequencerError::OutcomeUnknown(why) => Status::unknown(format!(
                "{OUTCOME_UNKNOWN} ({why}); once the server is back, look a disclosure up with FindDisclosure (by its nonce), or send the same signed request again: if it was appended, the answer names its entry (ALREADY_EXISTS)"
            )),
            SequencerError::Store(err) => err.into(),
        }
    }
}

/// How an UNKNOWN reply to a write begins.
pub const OUTCOME_UNKNOWN: &str =
    "the outcome is unknown: this entry may or may not have been appended";

impl From<StoreError> for Status {
    fn from(err: StoreError) -> Status {
        match err {
            // A size or index the request named, past what the log holds (a handler's own
            // check comes first; this catches the log moving underneath it).
            StoreError::TreeSize { .. } | StoreError::IndexOutOfRange { .. } => {
                Status::invalid_argument(err.to_string())
            }
            StoreError::NoCheckpoint { .. } => Status::not_found(err.to_string()),
            // The store refuses appends until the server restarts: retry elsewhere or later.
            StoreError::Poisoned => Status::unavailable(err.to_string()),
            // A shared store's database is down or failing over, or another node writes: the
            // client may try again (there, or later).
            StoreError::Unavailable(_) | StoreError::NotWriter { .. } => {
                tracing::warn!(error = %err, "store unavailable while serving a request");
                Status::unavailable(err.to_string())
            }
            // Its own code: neither "appended" nor "nothing was appended" would be true.
            StoreError::OutcomeUnknown(_) => {
                tracing::error!(error = %err, "an append's outcome is unknown");
                Status::unknown(format!("{OUTCOME_UNKNOWN}: {err}"))
            }
            err => {
                tracing::error!(error = %err, "store error while serving a request");
                Status::internal(format!("ledger store error: {err}"))
            }
        }
    }
}

impl From<RetentionError> for Status {
    fn from(err: RetentionError) -> Status {
        match err {
            RetentionError::Store(e) => e.into(),
            RetentionError::Format(e) => {
                tracing::error!(error = %e, "a stored entry does not decode");
                Status::internal(format!("a stored entry does not decode: {e}"))
            }
        }
    }
}

impl From<FormatError> for Status {
    fn from(err: FormatError) -> Status {
        Status::invalid_argument(err.to_string())
    }
}

impl From<ReportError> for Status {
    fn from(err: ReportError) -> Status {
        match err {
            ReportError::Scope(_) | ReportError::Profile(_) => {
                Status::invalid_argument(err.to_string())
            }
            // Anything else means the stored ledger could not be reported on as it is.
            other => {
                tracing::error!(error = %other, "building a report failed");
                Status::internal(other.to_string())
            }
        }
    }
}

/// What tonic says when a request is over its decoding limit (OUT_OF_RANGE, before any handler
/// runs).
const TONIC_TOO_LARGE: &str = "decoded message length too large";

/// How tonic words the request errors it answers INTERNAL before any handler runs, though the
/// client caused them: bytes that are not the call's protobuf message, a body cut short, a bad
/// compression flag, a unary call with no message.
const TONIC_UNDECODABLE: [&str; 4] = [
    "failed to decode Protobuf message",
    "Unexpected EOF decoding stream",
    "protocol error: received message with",
    "Missing request message",
];

/// Bytes percent-encoded in a `grpc-message` header (the gRPC spec: all but printable ASCII,
/// and `%`).
const GRPC_MESSAGE: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS.add(b'%');

/// Rewrites the statuses tonic itself gives requests it cannot take, before any handler runs,
/// into the codes gRPC's own servers use: an oversized request (tonic: OUT_OF_RANGE) becomes
/// RESOURCE_EXHAUSTED naming `max_message_bytes`; a request whose bytes do not decode (tonic:
/// INTERNAL) becomes INVALID_ARGUMENT, since the client sent them. Such a refusal is always a
/// trailers-only response, so its status is in the headers; a handler's own statuses never
/// start with tonic's words.
pub(crate) fn transport_status<B>(
    max: usize,
) -> impl Fn(http::Response<B>) -> http::Response<B> + Clone {
    move |mut response| {
        let headers = response.headers_mut();
        let code = headers
            .get("grpc-status")
            .and_then(|s| s.to_str().ok())
            .and_then(|s| s.parse::<i32>().ok())
            .map(Code::from_i32);
        if !matches!(code, Some(Code::OutOfRange | Code::Internal)) {
            return response;
        }
        let message = headers
            .get("grpc-message")
            .and_then(|m| m.to_str().ok())
            .map(|m| {
                percent_encoding::percent_decode_str(m)
                    .decode_utf8_lossy()
                    .into_owned()
            })
            .unwrap_or_default();
        let (code, text) = if code == Some(Code::OutOfRange) && message.contains(TONIC_TOO_LARGE) {
            // "... found 5000000 bytes, the limit is: 4194304 bytes"
            let found = message
                .split("found ")
                .nth(1)
                .and_then(|rest| rest.split(' ').next())
                .unwrap_or("?");
            (
                Code::ResourceExhausted,
                format!(
                    "the request message is {found} bytes, over the limit of {max} (max_message_bytes); send fewer or smaller items"
                ),
            )
        } else if code == Some(Code::Internal)
            && TONIC_UNDECODABLE.iter().any(|t| message.starts_with(t))
        {
            (
                Code::InvalidArgument,
                format!(
                    "the request is not an encoded message of this call's request type (see the borderlog.v1 proto): {message}"
                ),
            )
        } else {
            return response;
        };
        let encoded = percent_encoding::utf8_percent_encode(&text, GRPC_MESSAGE).to_string();
        if let (Ok(code), Ok(encoded)) = ((code as i32).to_string().parse(), encoded.parse()) {
            headers.insert("grpc-status", code);
            headers.insert("grpc-message", encoded);
        }
        response
    }
}
