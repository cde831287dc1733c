//! The one place where errors of every layer become gRPC statuses.

use tonic::{Code, Status};

use super::RequestError;
use crate::format::FormatError;
use crate::retention::RetentionError;
use crate::sequencer::SequencerError;
use crate::store::StoreError;

impl From<RequestError> for Status {
    fn from(err: RequestError) -> Status {
        let code = match &err {
            RequestError::NoCertificate | RequestError::UnknownCaller(_) => Code::Unauthenticated,
            RequestError::Forbidden(_) => Code::PermissionDenied,
            RequestError::Invalid { .. } | RequestError::BadSignature(_) => Code::InvalidArgument,
            RequestError::NotFound(_) => Code::NotFound,
            RequestError::AlreadyExists(_) => Code::AlreadyExists,
            RequestError::Precondition(_) => Code::FailedPrecondition,
            RequestError::TooLarge { .. } => Code::ResourceExhausted,
        };
        Status::new(code, err.to_string())
    }
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
            SequencerError::Stopped => Status::unavailable("the log is shutting down"),
            SequencerError::Store(err) => err.into(),
        }
    }
}

impl From<StoreError> for Status {
    fn from(err: StoreError) -> Status {
        tracing::error!(error = %err, "store error while serving a request");
        Status::internal(format!("ledger store error: {err}"))
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
