//! What a caller did wrong, in the service's words. Mapped to gRPC statuses in `status.rs`.

use thiserror::Error;

use crate::format::{Hash, LeafIndex};
use crate::guard::Finding;

/// A request the service will not carry out, and what the caller should fix.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum RequestError {
    /// The connection carried no client certificate.
    #[error(
        "no client certificate: connect with mutual TLS using the certificate `borderlog init` made for you (keys/<name>.crt and keys/<name>.key)"
    )]
    NoCertificate,
    /// A plaintext (loopback) request did not name its party.
    #[error(
        "this server runs in plaintext on loopback: name your party in the `borderlog-as` request header (the CLI does this for http:// addresses)"
    )]
    NoPlaintextIdentity,
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
    /// The boundary guard refused an item; the refusal is recorded in the log without content.
    #[error("{0}")]
    Refused(Refused),
    /// A key rule: the signer was revoked, a KeyChange breaks a rule, or the signer's key
    /// changed meanwhile.
    #[error(transparent)]
    Key(#[from] crate::keys_in_force::KeyError),
    /// The caller made more requests per second than `Limits::rate_per_second` allows.
    #[error(
        "{caller} is over its rate limit of {per_second} requests per second (rate_per_second); retry in {retry_after_ms} ms"
    )]
    RateLimited {
        /// The authenticated caller.
        caller: String,
        /// The limit.
        per_second: u32,
        /// When the next request would be allowed.
        retry_after_ms: u64,
    },
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

/// A submission the guard refused, as recorded in the Refusal entry at `index`.
#[derive(Debug)]
pub struct Refused {
    /// The Refusal entry.
    pub index: LeafIndex,
    /// The policy in force.
    pub policy_hash: Hash,
    /// That policy's own version string.
    pub policy_version: String,
    /// Where and what, the body's findings first, then by item and path; never empty.
    pub findings: Vec<(crate::guard::Place, Finding)>,
}

impl Refused {
    /// True when every finding is a schema finding: the client sent invalid STIX, rather than
    /// data the policy keeps in.
    pub fn is_schema_only(&self) -> bool {
        self.findings
            .iter()
            .all(|(_, f)| f.class == crate::guard::FindingClass::Schema)
    }
}

/// Findings shown in the message; all of them are in the error details.
const FINDINGS_IN_MESSAGE: usize = 5;

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let what = if self.is_schema_only() {
            "not valid STIX 2.1 / TLP 2.0"
        } else {
            "refused by the boundary guard"
        };
        write!(
            f,
            "{what} under policy {} ({}); nothing was disclosed and the refusal is recorded, without the content, as entry {}:",
            self.policy_version,
            &hex::encode(self.policy_hash)[..16],
            self.index.0
        )?;
        for (place, finding) in self.findings.iter().take(FINDINGS_IN_MESSAGE) {
            write!(
                f,
                " {place} at {}: {} — {};",
                finding.path, finding.rule, finding.hint
            )?;
        }
        if self.findings.len() > FINDINGS_IN_MESSAGE {
            write!(
                f,
                " and {} more findings (see the error details)",
                self.findings.len() - FINDINGS_IN_MESSAGE
            )?;
        }
        Ok(())
    }
}
