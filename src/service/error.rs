//! What a caller did wrong, in the service's words. Mapped to gRPC statuses in `status.rs`.

use thiserror::Error;

/// A request the service will not carry out, and what the caller should fix.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum RequestError {
    /// The connection carried no client certificate.
    #[error(
        "no client certificate: connect with mutual TLS using the certificate `borderlog init` made for you (keys/<name>.crt and keys/<name>.key)"
    )]
    NoCertificate,
    /// The certificate's name is not a party in the log's genesis.
    #[error("certificate name {0:?} is not a party of this log (see keys/partners.toml)")]
    UnknownCaller(String),
    /// The caller's identity or role may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// A field is missing, malformed or out of range.
    #[error("invalid {field}: {why}")]
    Invalid {
        /// The field, as named in the proto.
        field: &'static str,
        /// What is wrong and what would be right.
        why: String,
    },
    /// A signature in the request does not verify.
    #[error("{0}")]
    BadSignature(String),
    /// The entry, checkpoint or leaf asked for does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The log already holds this (a replayed nonce, a second receipt).
    #[error("{0}")]
    AlreadyExists(String),
    /// The request is well formed but the ledger's state does not allow it.
    #[error("{0}")]
    Precondition(String),
    /// A size or count limit was exceeded.
    #[error("{what} is {got}, over the limit of {max}")]
    TooLarge {
        /// What was too large.
        what: &'static str,
        /// The limit.
        max: u64,
        /// What the request had.
        got: u64,
    },
}

impl RequestError {
    /// Shorthand for [`RequestError::Invalid`].
    pub fn invalid(field: &'static str, why: impl Into<String>) -> Self {
        RequestError::Invalid {
            field,
            why: why.into(),
        }
    }

    /// Fails with [`RequestError::TooLarge`] when `got > max`.
    pub fn check_limit(what: &'static str, got: usize, max: usize) -> Result<(), Self> {
        if got > max {
            return Err(RequestError::TooLarge {
                what,
                max: max as u64,
                got: got as u64,
            });
        }
        Ok(())
    }
}
