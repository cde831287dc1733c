//! Parties, keys, certificates and TLS: who takes part in the log and how each side proves it.
//!
//! - [`Registry`]: the parties, their roles and public keys, as pinned in `keys/partners.toml`
//!   and in the genesis entry (docs/DESIGN.md, "Parties and keys").
//! - [`keys`]: private key files (Ed25519 seeds) and how they are written and read.
//! - [`init`](mod@init): the `init` operation that makes a dev CA, certificates and keys.
//! - [`tls`]: the mTLS configurations and the mapping from a client certificate to a party.
//!
//! The keys directory, as written by [`init()`]:
//!
//! ```text
//! keys/
//!   ca.crt  ca.key                  dev CA (trust root for both sides of mTLS)
//!   server.crt  server.key          server certificate: localhost, 127.0.0.1, ::1
//!   <party>.crt  <party>.key        client certificate per party, CN = party name
//!   <partner>.ed25519               partner signing key (base64 of the 32-byte seed)
//!   log.ed25519                     the log's checkpoint signing key
//!   partners.toml                   public: origin, log key, parties (written last)
//! ```

use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use ed25519_dalek::VerifyingKey;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::format::signature::public_key;
use crate::pb;

pub mod init;
pub mod keys;
pub mod tls;

pub use init::{InitOptions, InitReport, PartySpec, init, issue_client_cert, policy_path};
pub use keys::{load_log_key, load_register_key, load_signing_key};
pub use tls::{authenticate, authenticate_request, client_tls, peer_name, server_tls};

/// File name of the public registry inside the keys directory.
pub const PARTNERS_FILE: &str = "partners.toml";

/// Names a party may not take, because their key or certificate files would collide with the
/// CA's, the server's or the log's.
const RESERVED_NAMES: [&str; 3] = ["ca", "server", "log"];

/// Everything that can go wrong with parties, keys, certificates and TLS set-up.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum IdentityError {
    /// `init` found an existing registry and was not told to replace it.
    #[error(
        "{} already exists: pass --force to replace every key and certificate in it, \
         or use another directory",
        path.display()
    )]
    AlreadyInitialised {
        /// The existing `partners.toml`.
        path: PathBuf,
    },
    /// A file or directory could not be read or written.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        /// What was being done, e.g. "read" or "create".
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A party has no Ed25519 signing key file.
    #[error(
        "no signing key for '{name}' at {}: run `borderlog init` or pass --keys",
        path.display()
    )]
    MissingSigningKey {
        /// The party (or "log").
        name: String,
        /// Where the key was looked for.
        path: PathBuf,
    },
    /// A party has no client certificate or key.
    #[error(
        "no client certificate for '{name}' at {}: run `borderlog init` or pass --keys",
        path.display()
    )]
    MissingCertificate {
        /// The party.
        name: String,
        /// The missing file.
        path: PathBuf,
    },
    /// A key file whose content is not what it should be.
    #[error("bad key file {}: {reason}", path.display())]
    BadKeyFile {
        /// The key file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A certificate file whose content is not a usable certificate.
    #[error("bad certificate file {}: {reason}", path.display())]
    BadCertificate {
        /// The certificate file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The registry (partners.toml or the genesis entry) breaks a rule.
    #[error("invalid registry in {source_name}: {reason}")]
    InvalidRegistry {
        /// Where the registry came from: a file path or "the genesis entry".
        source_name: String,
        /// Which rule is broken and how to fix it.
        reason: String,
    },
    /// A party name that cannot be used (also guards file paths built from names).
    #[error(
        "invalid party name '{0}': use 1 to 63 characters from a-z, 0-9, '.', '_', '-', \
         starting with a letter or digit, and not 'ca', 'server' or 'log'"
    )]
    InvalidName(String),
    /// Certificate generation failed (rcgen).
    #[error("cannot generate {what}: {reason}")]
    CertificateGeneration {
        /// Which certificate or key.
        what: String,
        /// The generator's error.
        reason: String,
    },
    /// The operating system's random source failed.
    #[error("cannot get random bytes from the operating system: {0}")]
    Random(String),
    /// A TLS connection without a client certificate.
    #[error(
        "no client certificate presented: connect with a registered party's certificate \
         (keys/<name>.crt and keys/<name>.key, made by `borderlog init`)"
    )]
    NoClientCertificate,
    /// A client certificate whose subject has no single common name.
    #[error("the client certificate has no single subject common name to identify a party by")]
    NoCommonName,
    /// A certificate validity window that is empty or outside what X.509 can encode.
    #[error("invalid certificate validity: {0}")]
    InvalidValidity(String),
    /// A client certificate for a name the registry does not know.
    #[error("the client certificate names '{0}', which is not a party in partners.toml")]
    UnknownParty(String),
}

impl From<IdentityError> for tonic::Status {
    /// Failures to identify the caller are UNAUTHENTICATED, with the fix in the message.
    /// Anything else is the server's own set-up: INTERNAL, with the detail (file paths) kept in
    /// the server's log rather than sent to the caller.
    fn from(err: IdentityError) -> Self {
        match err {
            IdentityError::NoClientCertificate
            | IdentityError::NoCommonName
            | IdentityError::UnknownParty(_) => tonic::Status::unauthenticated(err.to_string()),
            other => {
                tracing::error!(error = %other, "identity set-up error while serving a call");
                tonic::Status::internal("the server's identity set-up is broken; see its log")
            }
        }
    }
}

/// Who is calling, as established by the client certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The party's registered name (the certificate's common name).
    pub name: String,
    /// The party's registered role.
    pub role: pb::Role,
}

/// One registered party: what the log knows about a participant.
#[derive(Clone, PartialEq, Eq)]
pub struct PartyInfo {
    /// Stable name; also the common name of the party's client certificate.
    pub name: String,
    /// What the party may do.
    pub role: pb::Role,
    /// Ed25519 key for partners (sender, recipient); `None` for read-only roles.
    pub public_key: Option<VerifyingKey>,
    /// What kind of organisation this is, for reports.
    pub organisation_kind: String,
}

impl fmt::Debug for PartyInfo {
    // Keys as base64, so a debug print matches partners.toml.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PartyInfo")
            .field("name", &self.name)
            .field("role", &role_name(self.role))
            .field("public_key", &self.public_key.map(|k| BASE64.encode(k)))
            .field("organisation_kind", &self.organisation_kind)
            .finish()
    }
}

/// Whether a role signs entries (and so must have a key); auditors and compliance only read.
pub fn is_partner(role: pb::Role) -> bool {
    matches!(role, pb::Role::Sender | pb::Role::Recipient)
}

/// The role's name as written in partners.toml and in messages, e.g. "sender".
pub fn role_name(role: pb::Role) -> &'static str {
    match role {
        pb::Role::Unspecified => "unspecified",
        pb::Role::Sender => "sender",
        pb::Role::Recipient => "recipient",
        pb::Role::Auditor => "auditor",
        pb::Role::Compliance => "compliance",
    }
}

/// Checks a party name: `[a-z0-9][a-z0-9._-]{0,62}`, and not a reserved file name.
///
/// Names become file names (`<name>.crt`), so this also keeps paths inside the keys directory.
pub fn validate_name(name: &str) -> Result<(), IdentityError> {
    let bytes = name.as_bytes();
    let first_ok = bytes
        .first()
        .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    let rest_ok = bytes
        .iter()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(b));
    if first_ok && rest_ok && bytes.len() <= 63 && !RESERVED_NAMES.contains(&name) {
        Ok(())
    } else {
        Err(IdentityError::InvalidName(name.to_string()))
    }
}

/// The parties of one log, validated: the public half of identity that both partners pin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registry {
    origin: String,
    log_public_key: VerifyingKey,
    parties: Vec<PartyInfo>,
}

/// partners.toml as written on disk.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct PartnersFile {
    origin: String,
    log_public_key: String,
    #[serde(rename = "party", default)]
    parties: Vec<PartyEntry>,
}

/// One `[[party]]` table.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct PartyEntry {
    name: String,
    role: RoleName,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    public_key: Option<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    organisation_kind: String,
}

/// Roles as spelled in partners.toml.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum RoleName {
    Sender,
    Recipient,
    Auditor,
    Compliance,
}

impl From<RoleName> for pb::Role {
    fn from(r: RoleName) -> Self {
        match r {
            RoleName::Sender => pb::Role::Sender,
            RoleName::Recipient => pb::Role::Recipient,
            RoleName::Auditor => pb::Role::Auditor,
            RoleName::Compliance => pb::Role::Compliance,
        }
    }
}

impl RoleName {
    fn from_role(role: pb::Role) -> Option<Self> {
        match role {
            pb::Role::Sender => Some(RoleName::Sender),
            pb::Role::Recipient => Some(RoleName::Recipient),
            pb::Role::Auditor => Some(RoleName::Auditor),
            pb::Role::Compliance => Some(RoleName::Compliance),
            pb::Role::Unspecified => None,
        }
    }
}

impl Registry {
    /// Builds a registry from its parts, checking every rule (see [`Registry::load`]).
    pub fn new(
        origin: String,
        log_public_key: VerifyingKey,
        parties: Vec<PartyInfo>,
    ) -> Result<Registry, IdentityError> {
        Self::validated(origin, log_public_key, parties, "the registry")
    }

    /// Reads and validates `<dir>/partners.toml`.
    ///
    /// Rules: a valid origin; unique, valid names; partners (sender, recipient) have valid,
    /// non-weak Ed25519 keys, distinct from each other and from the log key; auditors and
    /// compliance have none; at least one sender and one recipient.
    pub fn load(dir: &Path) -> Result<Registry, IdentityError> {
        let path = dir.join(PARTNERS_FILE);
        let text = std::fs::read_to_string(&path).map_err(|source| IdentityError::Io {
            action: "read",
            path: path.clone(),
            source,
        })?;
        Self::from_toml(&text, &path.display().to_string())
    }

    /// Parses partners.toml text; `source_name` names it in errors.
    pub fn from_toml(text: &str, source_name: &str) -> Result<Registry, IdentityError> {
        let invalid = |reason: String| IdentityError::InvalidRegistry {
            source_name: source_name.to_string(),
            reason,
        };
        let file: PartnersFile = toml::from_str(text).map_err(|e| invalid(e.to_string()))?;
        let log_public_key = decode_key(&file.log_public_key)
            .map_err(|why| invalid(format!("log_public_key {why}")))?;
        let mut parties = Vec::with_capacity(file.parties.len());
        for p in file.parties {
            let public_key =
                match &p.public_key {
                    None => None,
                    Some(text) => Some(decode_key(text).map_err(|why| {
                        invalid(format!("public_key of party '{}' {why}", p.name))
                    })?),
                };
            parties.push(PartyInfo {
                name: p.name,
                role: p.role.into(),
                public_key,
                organisation_kind: p.organisation_kind,
            });
        }
        Self::validated(file.origin, log_public_key, parties, source_name)
    }

    /// Rebuilds the registry pinned in a genesis entry: once the log exists, it is the truth.
    pub fn from_genesis(genesis: &pb::Genesis) -> Result<Registry, IdentityError> {
        const SOURCE: &str = "the genesis entry";
        let invalid = |reason: String| IdentityError::InvalidRegistry {
            source_name: SOURCE.to_string(),
            reason,
        };
        let log_public_key = public_key(&genesis.log_public_key).map_err(|_| {
            invalid(
                "log_public_key is not a canonical, strong Ed25519 public key (RFC 8032)".into(),
            )
        })?;
        let mut parties = Vec::with_capacity(genesis.parties.len());
        for p in &genesis.parties {
            let role = pb::Role::try_from(p.role)
                .map_err(|_| invalid(format!("party '{}' has unknown role {}", p.name, p.role)))?;
            // Empty bytes mean "no key" (read-only roles); the rules below decide if that fits.
            let public_key = if p.public_key.is_empty() {
                None
            } else {
                Some(public_key(&p.public_key).map_err(|_| {
                    invalid(format!(
                        "public_key of party '{}' is not a canonical, strong Ed25519 public key (RFC 8032)",
                        p.name
                    ))
                })?)
            };
            parties.push(PartyInfo {
                name: p.name.clone(),
                role,
                public_key,
                organisation_kind: p.organisation_kind.clone(),
            });
        }
        Self::validated(genesis.origin.clone(), log_public_key, parties, SOURCE)
    }

    fn validated(
        origin: String,
        log_public_key: VerifyingKey,
        parties: Vec<PartyInfo>,
        source_name: &str,
    ) -> Result<Registry, IdentityError> {
        let invalid = |reason: String| IdentityError::InvalidRegistry {
            source_name: source_name.to_string(),
            reason,
        };
        validate_origin(&origin).map_err(invalid)?;
        if log_public_key.is_weak() {
            return Err(invalid("log_public_key is a weak Ed25519 key".into()));
        }
        let mut names = HashSet::new();
        let mut keys = HashSet::from([log_public_key.to_bytes()]);
        for p in &parties {
            validate_name(&p.name).map_err(|e| invalid(e.to_string()))?;
            if !names.insert(p.name.as_str()) {
                return Err(invalid(format!(
                    "party '{}' is listed more than once; names must be unique",
                    p.name
                )));
            }
            if p.role == pb::Role::Unspecified {
                return Err(invalid(format!("party '{}' has no role", p.name)));
            }
            match (is_partner(p.role), &p.public_key) {
                (true, None) => {
                    return Err(invalid(format!(
                        "party '{}' is a {} and needs a public_key (base64 of 32 bytes)",
                        p.name,
                        role_name(p.role)
                    )));
                }
                (false, Some(_)) => {
                    return Err(invalid(format!(
                        "party '{}' is {} (read-only) and must not have a public_key",
                        p.name,
                        role_name(p.role)
                    )));
                }
                (true, Some(key)) => {
                    if key.is_weak() {
                        return Err(invalid(format!(
                            "public_key of party '{}' is a weak Ed25519 key",
                            p.name
                        )));
                    }
                    // One key, one signer: a shared key would make signatures unattributable.
                    if !keys.insert(key.to_bytes()) {
                        return Err(invalid(format!(
                            "public_key of party '{}' is already used by the log or another party",
                            p.name
                        )));
                    }
                }
                (false, None) => {}
            }
        }
        for role in [pb::Role::Sender, pb::Role::Recipient] {
            if !parties.iter().any(|p| p.role == role) {
                return Err(invalid(format!(
                    "no party has role \"{}\"; a log needs at least one sender and one recipient",
                    role_name(role)
                )));
            }
        }
        Ok(Registry {
            origin,
            log_public_key,
            parties,
        })
    }

    /// The registered party called `name`, if any.
    pub fn party(&self, name: &str) -> Option<&PartyInfo> {
        self.parties.iter().find(|p| p.name == name)
    }

    /// Every registered party, in registry order.
    pub fn parties(&self) -> &[PartyInfo] {
        &self.parties
    }

    /// The log's checkpoint origin line.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The key that verifies the log's checkpoints.
    pub fn log_public_key(&self) -> VerifyingKey {
        self.log_public_key
    }

    /// The genesis entry body that pins this registry in the log.
    pub fn to_genesis(&self) -> pb::Genesis {
        pb::Genesis {
            origin: self.origin.clone(),
            log_public_key: self.log_public_key.to_bytes().to_vec(),
            parties: self
                .parties
                .iter()
                .map(|p| pb::Party {
                    name: p.name.clone(),
                    role: p.role.into(),
                    public_key: p
                        .public_key
                        .map(|k| k.to_bytes().to_vec())
                        .unwrap_or_default(),
                    organisation_kind: p.organisation_kind.clone(),
                })
                .collect(),
        }
    }

    /// The registry after a KeyChange gave `name` (a partner, or the log's origin) a new key,
    /// so clients reading partners.toml pin the key in force.
    pub fn with_key(&self, name: &str, key: VerifyingKey) -> Result<Registry, IdentityError> {
        let mut next = self.clone();
        if name == self.origin {
            next.log_public_key = key;
        } else {
            let party = next
                .parties
                .iter_mut()
                .find(|p| p.name == name)
                .ok_or_else(|| IdentityError::InvalidRegistry {
                    source_name: "the registry".into(),
                    reason: format!("no party '{name}' to give a new key"),
                })?;
            party.public_key = Some(key);
        }
        Self::validated(
            next.origin,
            next.log_public_key,
            next.parties,
            "the registry",
        )
    }

    /// Writes the registry to `<dir>/partners.toml` (via a temporary file and a rename).
    pub fn save(&self, dir: &Path) -> Result<(), IdentityError> {
        keys::write_public(&dir.join(PARTNERS_FILE), self.to_toml()?.as_bytes())
    }

    /// partners.toml text for this registry (public keys only).
    pub fn to_toml(&self) -> Result<String, IdentityError> {
        let invalid = |reason: String| IdentityError::InvalidRegistry {
            source_name: "the registry".into(),
            reason,
        };
        let file = PartnersFile {
            origin: self.origin.clone(),
            log_public_key: BASE64.encode(self.log_public_key),
            parties: self
                .parties
                .iter()
                .map(|p| {
                    let role = RoleName::from_role(p.role)
                        .ok_or_else(|| invalid(format!("party '{}' has no role", p.name)))?;
                    Ok(PartyEntry {
                        name: p.name.clone(),
                        role,
                        public_key: p.public_key.map(|k| BASE64.encode(k)),
                        organisation_kind: p.organisation_kind.clone(),
                    })
                })
                .collect::<Result<_, IdentityError>>()?,
        };
        let body = toml::to_string(&file).map_err(|e| invalid(e.to_string()))?;
        Ok(format!(
            "# borderlog parties: public keys only. Pinned in the log's genesis entry;\n\
             # once the log exists, changing this file does not change who the log trusts.\n\n\
             {body}"
        ))
    }
}

/// A C2SP note key name: non-empty, no whitespace, no '+', printable.
fn validate_origin(origin: &str) -> Result<(), String> {
    if origin.is_empty() {
        return Err("origin is empty; set it to e.g. \"borderlog.example/dev-1a2b3c4d\"".into());
    }
    if origin
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || c == '+')
    {
        return Err(format!(
            "origin {origin:?} contains whitespace, a control character or '+', \
             which a signed-note key name cannot hold"
        ));
    }
    Ok(())
}

/// Decodes a base64 Ed25519 public key; the error completes "<field> ...".
fn decode_key(text: &str) -> Result<VerifyingKey, String> {
    let bytes = BASE64
        .decode(text.trim())
        .map_err(|e| format!("is not valid base64: {e}"))?;
    public_key(&bytes).map_err(|_| {
        format!(
            "is not a canonical, strong Ed25519 public key (RFC 8032; {} bytes, need 32)",
            bytes.len()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::SigningKey;

    fn key(seed: u8) -> VerifyingKey {
        SigningKey::from_bytes(&[seed; 32]).verifying_key()
    }

    fn party(name: &str, role: pb::Role, key: Option<VerifyingKey>) -> PartyInfo {
        PartyInfo {
            name: name.into(),
            role,
            public_key: key,
            organisation_kind: "company".into(),
        }
    }

    fn sample() -> Registry {
        Registry::new(
            "borderlog.local/test".into(),
            key(1),
            vec![
                party("alice", pb::Role::Sender, Some(key(2))),
                party("bob", pb::Role::Recipient, Some(key(3))),
                party("audit", pb::Role::Auditor, None),
            ],
        )
        .unwrap()
    }

    #[test]
    fn names_follow_the_pattern() {
        for ok in ["a", "vendor-research", "0.x_y-z", &"a".repeat(63)] {
            assert!(validate_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "-a",
            ".a",
            "A",
            "a/b",
            "../x",
            "a b",
            "é",
            "ca",
            "log",
            "server",
            &"a".repeat(64),
        ] {
            assert!(validate_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn toml_and_genesis_round_trip() {
        let reg = sample();
        let text = reg.to_toml().unwrap();
        assert_eq!(Registry::from_toml(&text, "test").unwrap(), reg);
        assert_eq!(Registry::from_genesis(&reg.to_genesis()).unwrap(), reg);
        assert_eq!(reg.party("bob").unwrap().role, pb::Role::Recipient);
        assert!(reg.party("carol").is_none());
    }

    #[test]
    fn genesis_with_unknown_role_is_refused() {
        let mut g = sample().to_genesis();
        g.parties[2].role = 99;
        let err = Registry::from_genesis(&g).unwrap_err().to_string();
        assert!(err.contains("unknown role 99"), "{err}");
        g.parties[2].role = 0;
        assert!(Registry::from_genesis(&g).is_err());
    }

    #[test]
    fn shared_and_missing_keys_are_refused() {
        let shared = Registry::new(
            "o".into(),
            key(1),
            vec![
                party("alice", pb::Role::Sender, Some(key(1))),
                party("bob", pb::Role::Recipient, Some(key(3))),
            ],
        );
        assert!(shared.unwrap_err().to_string().contains("already used"));
        let missing = Registry::new(
            "o".into(),
            key(1),
            vec![
                party("alice", pb::Role::Sender, None),
                party("bob", pb::Role::Recipient, Some(key(3))),
            ],
        );
        assert!(
            missing
                .unwrap_err()
                .to_string()
                .contains("needs a public_key")
        );
    }

    #[test]
    fn bad_origin_is_refused() {
        for origin in ["", "a b", "a+b", "a\nb"] {
            let r = Registry::new(origin.into(), key(1), sample().parties);
            assert!(r.is_err(), "{origin:?}");
        }
    }

    #[test]
    fn identification_failures_are_unauthenticated() {
        let s: tonic::Status = IdentityError::UnknownParty("x".into()).into();
        assert_eq!(s.code(), tonic::Code::Unauthenticated);
        let s: tonic::Status = IdentityError::MissingSigningKey {
            name: "x".into(),
            path: "/secret/x.ed25519".into(),
        }
        .into();
        assert_eq!(s.code(), tonic::Code::Internal);
        assert!(!s.message().contains("/secret"), "{}", s.message());
    }
}
