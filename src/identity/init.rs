//! `borderlog init`: a dev CA, the server's and every party's certificates, the Ed25519 keys of
//! the partners and the log, and `partners.toml` — everything two partners need to start a log
//! on one machine.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

use super::keys::{
    LOG_KEY_NAME, generate_signing_key, read_private, register_key_path, write_new_register_key,
    write_private, write_public, write_signing_key,
};
use super::tls::{common_name, read_certificate};
use super::{IdentityError, PARTNERS_FILE, PartyInfo, Registry, is_partner, validate_name};
use crate::pb;

/// The CA certificate and key file names.
pub const CA_CERT: &str = "ca.crt";
/// The CA's private key file name.
pub const CA_KEY: &str = "ca.key";
/// The server certificate file name.
pub const SERVER_CERT: &str = "server.crt";
/// The server's private key file name.
pub const SERVER_KEY: &str = "server.key";

/// Names the server certificate is valid for: the loopback names a dev set-up connects to.
pub const SERVER_NAMES: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

/// Certificates start a little in the past, so a peer whose clock is slightly behind accepts them.
const CLOCK_SKEW: Duration = Duration::from_secs(5 * 60);

/// Where a data owner's screening policy lives: `<dir>/<owner>.policy.toml`.
pub fn policy_path(dir: &Path, owner: &str) -> PathBuf {
    dir.join(format!("{owner}.policy.toml"))
}

/// One party to create: its name, role and kind of organisation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartySpec {
    /// Stable name; becomes the certificate's common name and the key file names.
    pub name: String,
    /// What the party may do; partners (sender, recipient) get an Ed25519 key.
    pub role: pb::Role,
    /// What kind of organisation this is, for reports.
    pub organisation_kind: String,
}

impl PartySpec {
    /// A party to create, for building [`InitOptions::parties`] briefly.
    pub fn new(name: &str, role: pb::Role, organisation_kind: &str) -> Self {
        PartySpec {
            name: name.to_string(),
            role,
            organisation_kind: organisation_kind.to_string(),
        }
    }
}

/// What `init` creates, and whether it may replace an existing set-up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitOptions {
    /// The parties; by default a sender, a recipient, an auditor and a compliance officer.
    pub parties: Vec<PartySpec>,
    /// The checkpoint origin; `None` draws `borderlog.local/<8 random hex>` at init time, so
    /// that two dev logs never share an origin.
    pub origin: Option<String>,
    /// How long the CA and every certificate stay valid.
    pub validity: Duration,
    /// Replace an existing `partners.toml` and every key and certificate `init` writes.
    pub force: bool,
}

impl Default for InitOptions {
    fn default() -> Self {
        InitOptions {
            parties: vec![
                PartySpec::new("vendor-research", pb::Role::Sender, "company"),
                PartySpec::new(
                    "police-network",
                    pb::Role::Recipient,
                    "international organisation",
                ),
                PartySpec::new("auditor", pb::Role::Auditor, ""),
                PartySpec::new("compliance", pb::Role::Compliance, ""),
            ],
            origin: None,
            validity: Duration::from_secs(365 * 24 * 60 * 60),
            force: false,
        }
    }
}

/// What `init` did, for the CLI to print.
#[derive(Debug, Clone)]
pub struct InitReport {
    /// The keys directory.
    pub dir: PathBuf,
    /// The registry written to `partners.toml`.
    pub registry: Registry,
    /// Every file written, in order; `partners.toml` is last.
    pub files: Vec<PathBuf>,
}

/// Creates a keys directory: dev CA, server and client certificates, Ed25519 keys for the
/// partners and the log, and `partners.toml`.
///
/// Refuses to touch a directory that already has `partners.toml` unless `opts.force`.
/// `partners.toml` is written last, so an interrupted init never looks complete.
pub fn init(dir: &Path, opts: &InitOptions) -> Result<InitReport, IdentityError> {
    let partners_path = dir.join(PARTNERS_FILE);
    let exists = partners_path
        .try_exists()
        .map_err(|source| IdentityError::Io {
            action: "check",
            path: partners_path.clone(),
            source,
        })?;
    if exists && !opts.force {
        return Err(IdentityError::AlreadyInitialised {
            path: partners_path,
        });
    }

    // Everything that can be refused is checked before the first file is written.
    let origin = match &opts.origin {
        Some(origin) => origin.clone(),
        None => random_origin()?,
    };
    let log_key = generate_signing_key()?;
    let mut signing_keys = Vec::new();
    let mut parties = Vec::with_capacity(opts.parties.len());
    for spec in &opts.parties {
        let public_key = if is_partner(spec.role) {
            let key = generate_signing_key()?;
            let public = key.verifying_key();
            signing_keys.push((spec.name.as_str(), key));
            Some(public)
        } else {
            None
        };
        parties.push(PartyInfo {
            name: spec.name.clone(),
            role: spec.role,
            public_key,
            organisation_kind: spec.organisation_kind.clone(),
        });
    }
    let registry = Registry::new(origin, log_key.verifying_key(), parties)?;
    let now = SystemTime::now();
    let not_before = now.checked_sub(CLOCK_SKEW).unwrap_or(now);
    let not_after = now
        .checked_add(opts.validity)
        .ok_or_else(|| IdentityError::InvalidValidity("validity is too long".into()))?;
    check_validity(not_before, not_after)?;

    create_private_dir(dir)?;
    let mut files = Vec::new();

    let (ca, ca_pem) = Ca::generate(registry.origin(), not_before, not_after)?;
    files.extend(write_pair(dir, "ca", &ca_pem, &ca.key.serialize_pem())?);
    let (cert, key) = ca.issue_server(not_before, not_after)?;
    files.extend(write_pair(dir, "server", &cert, &key)?);
    for party in registry.parties() {
        let (cert, key) = ca.issue_client(&party.name, not_before, not_after)?;
        files.extend(write_pair(dir, &party.name, &cert, &key)?);
    }
    for (name, key) in &signing_keys {
        files.push(write_signing_key(dir, name, key)?);
    }
    // TAXII Basic credentials per party: the hash in taxii-users.toml, the password beside
    // the party's other secrets for the dev set-up (hand it to the party's platform).
    for party in registry.parties() {
        let password = crate::taxii::users::add(dir, &party.name)?;
        let path = crate::taxii::users::password_path(dir, &party.name);
        write_private(&path, format!("{password}\n").as_bytes())?;
        files.push(path);
    }
    files.push(dir.join(crate::taxii::users::USERS_FILE));
    // Each data owner gets the default screening policy (which `serve` publishes on first
    // start) and a register key for `borderlog policy customers`. Both are kept when they
    // exist, even with `force`: a policy may carry the owner's edits, and a register built
    // under a key is useless without that key.
    for party in registry.parties() {
        if party.role != pb::Role::Sender {
            continue;
        }
        let path = policy_path(dir, &party.name);
        if !path.exists() {
            write_public(
                &path,
                crate::guard::default_policy_for(&party.name).as_bytes(),
            )?;
            files.push(path);
        }
        if !register_key_path(dir, &party.name).exists() {
            files.push(write_new_register_key(dir, &party.name)?);
        }
    }
    // The compliance report's GDPR Art. 30 fields, for the organisation to edit; kept if present.
    let profile = dir.join(crate::report::profile::PROFILE_FILE);
    if !profile.exists() {
        write_public(&profile, crate::report::profile::DEFAULT_PROFILE.as_bytes())?;
        files.push(profile);
    }
    files.push(write_signing_key(dir, LOG_KEY_NAME, &log_key)?);
    write_public(&partners_path, registry.to_toml()?.as_bytes())?;
    files.push(partners_path);

    Ok(InitReport {
        dir: dir.to_path_buf(),
        registry,
        files,
    })
}

/// Issues `<dir>/<name>.crt` and `<name>.key` from the CA in `dir`, valid over the given
/// window; replaces any existing pair.
///
/// For re-issuing a party's certificate, and for tests that need an expired one.
pub fn issue_client_cert(
    dir: &Path,
    name: &str,
    not_before: SystemTime,
    not_after: SystemTime,
) -> Result<(), IdentityError> {
    validate_name(name)?;
    check_validity(not_before, not_after)?;
    let ca = Ca::load(dir)?;
    let (cert, key) = ca.issue_client(name, not_before, not_after)?;
    write_pair(dir, name, &cert, &key)?;
    Ok(())
}

/// The dev CA: its parameters (which name it as issuer) and its key.
struct Ca {
    params: CertificateParams,
    key: KeyPair,
}

impl Ca {
    fn generate(
        origin: &str,
        not_before: SystemTime,
        not_after: SystemTime,
    ) -> Result<(Ca, String), IdentityError> {
        let key = generated("the CA key", KeyPair::generate())?;
        let params = ca_params(
            &format!("borderlog dev CA for {origin}"),
            not_before,
            not_after,
        );
        let cert = generated("the CA certificate", params.self_signed(&key))?;
        Ok((Ca { params, key }, cert.pem()))
    }

    /// Rebuilds the issuer from `ca.crt` (its name) and `ca.key`. The issuer name is copied as
    /// the same single CN that [`Ca::generate`] wrote, so chains still link byte for byte.
    fn load(dir: &Path) -> Result<Ca, IdentityError> {
        let cert_path = dir.join(CA_CERT);
        let cert = read_certificate(&cert_path)?;
        let cn = common_name(&cert.der).ok_or_else(|| IdentityError::BadCertificate {
            path: cert_path.clone(),
            reason: "the CA certificate has no single common name".into(),
        })?;
        let key_path = dir.join(CA_KEY);
        let key_pem = read_private(&key_path)?;
        let key_pem = String::from_utf8(key_pem).map_err(|_| IdentityError::BadKeyFile {
            path: key_path.clone(),
            reason: "not PEM text".into(),
        })?;
        let key = KeyPair::from_pem(&key_pem).map_err(|e| IdentityError::BadKeyFile {
            path: key_path,
            reason: e.to_string(),
        })?;
        // Signing a leaf uses only the issuer's name, key usages and key; not its validity.
        let now = SystemTime::now();
        Ok(Ca {
            params: ca_params(&cn, now, now),
            key,
        })
    }

    fn issuer(&self) -> Issuer<'_, &KeyPair> {
        Issuer::from_params(&self.params, &self.key)
    }

    fn issue_server(
        &self,
        not_before: SystemTime,
        not_after: SystemTime,
    ) -> Result<(String, String), IdentityError> {
        let names: Vec<String> = SERVER_NAMES.iter().map(|s| s.to_string()).collect();
        let mut params = generated("the server certificate", CertificateParams::new(names))?;
        params
            .distinguished_name
            .push(DnType::CommonName, "borderlog server");
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        self.issue(params, "the server certificate", not_before, not_after)
    }

    fn issue_client(
        &self,
        name: &str,
        not_before: SystemTime,
        not_after: SystemTime,
    ) -> Result<(String, String), IdentityError> {
        let mut params = CertificateParams::default();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, name);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        self.issue(
            params,
            &format!("the client certificate for '{name}'"),
            not_before,
            not_after,
        )
    }

    /// Signs a leaf certificate with a fresh key; returns (certificate PEM, key PEM).
    fn issue(
        &self,
        mut params: CertificateParams,
        what: &str,
        not_before: SystemTime,
        not_after: SystemTime,
    ) -> Result<(String, String), IdentityError> {
        params.not_before = not_before.into();
        params.not_after = not_after.into();
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.use_authority_key_identifier_extension = true;
        let key = generated(what, KeyPair::generate())?;
        let cert = generated(what, params.signed_by(&key, &self.issuer()))?;
        Ok((cert.pem(), key.serialize_pem()))
    }
}

fn ca_params(cn: &str, not_before: SystemTime, not_after: SystemTime) -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, cn);
    // Leaves only: the dev CA never signs another CA.
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.not_before = not_before.into();
    params.not_after = not_after.into();
    params
}

/// Refuses windows that are empty or that X.509 (and the date type rcgen converts to) cannot
/// hold: from 1970 to the end of year 9999.
fn check_validity(not_before: SystemTime, not_after: SystemTime) -> Result<(), IdentityError> {
    const END_OF_9999: Duration = Duration::from_secs(253_402_300_799);
    let in_range = |t: SystemTime| {
        t.duration_since(SystemTime::UNIX_EPOCH)
            .is_ok_and(|d| d <= END_OF_9999)
    };
    if !in_range(not_before) || !in_range(not_after) {
        return Err(IdentityError::InvalidValidity(
            "certificate dates must fall between 1970 and 9999".into(),
        ));
    }
    if not_after <= not_before {
        return Err(IdentityError::InvalidValidity(
            "not_after must be later than not_before".into(),
        ));
    }
    Ok(())
}

fn generated<T>(what: &str, result: Result<T, rcgen::Error>) -> Result<T, IdentityError> {
    result.map_err(|e| IdentityError::CertificateGeneration {
        what: what.to_string(),
        reason: e.to_string(),
    })
}

/// Writes `<stem>.crt` (public) and `<stem>.key` (owner-only).
fn write_pair(
    dir: &Path,
    stem: &str,
    cert_pem: &str,
    key_pem: &str,
) -> Result<[PathBuf; 2], IdentityError> {
    let cert_path = dir.join(format!("{stem}.crt"));
    let key_path = dir.join(format!("{stem}.key"));
    // Key first: a certificate on disk without its key would look usable and fail later.
    write_private(&key_path, key_pem.as_bytes())?;
    write_public(&cert_path, cert_pem.as_bytes())?;
    Ok([cert_path, key_path])
}

/// Creates the keys directory, owner-only when it is new (it holds private keys).
fn create_private_dir(dir: &Path) -> Result<(), IdentityError> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).map_err(|source| IdentityError::Io {
        action: "create directory",
        path: dir.to_path_buf(),
        source,
    })
}

fn random_origin() -> Result<String, IdentityError> {
    let mut bytes = [0u8; 4];
    getrandom::fill(&mut bytes).map_err(|e| IdentityError::Random(e.to_string()))?;
    Ok(format!("borderlog.local/{}", hex::encode(bytes)))
}
