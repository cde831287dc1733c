//! The one place where errors of every layer become gRPC statuses.

use std::collections::HashMap;

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
            SequencerError::Stopped => Status::unavailable("the log is shutting down"),
            SequencerError::Store(err) => err.into(),
        }
    }
}

impl From<StoreError> for Status {
    fn from(err: StoreError) -> Status {
        match err {
            // A shared store's database is down or failing over, or another node writes: the
            // client may try again (there, or later).
            StoreError::Unavailable(_) | StoreError::NotWriter { .. } => {
                tracing::warn!(error = %err, "store unavailable while serving a request");
                Status::unavailable(err.to_string())
            }
            StoreError::OutcomeUnknown(_) => {
                tracing::error!(error = %err, "an append's outcome is unknown");
                Status::unavailable(err.to_string())
            }
            _ => {
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
