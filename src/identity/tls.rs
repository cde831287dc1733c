//! mTLS between every client and the server, and the step from a verified client certificate
//! to a registered party.
//!
//! The server asks for a client certificate but does not require one at the handshake
//! (`client_auth_optional`): a certificate that is presented must chain to the dev CA and be in
//! date, or the handshake fails; a caller with none gets through TLS so that the service can
//! answer UNAUTHENTICATED with a message saying what to do ([`authenticate`]).

use std::path::Path;

use tonic::transport::{Certificate, CertificateDer, ClientTlsConfig, Identity, ServerTlsConfig};
use x509_parser::pem::parse_x509_pem;
use x509_parser::prelude::{FromDer as _, X509Certificate};

use super::init::{CA_CERT, SERVER_CERT, SERVER_KEY};
use super::keys::read_private;
use super::{IdentityError, Principal, Registry, validate_name};

/// The name clients expect on the server certificate (one of the names `init` puts in it).
pub const SERVER_NAME: &str = "localhost";

/// The server side: its certificate and key, and the dev CA as the root for client certificates.
pub fn server_tls(dir: &Path) -> Result<ServerTlsConfig, IdentityError> {
    let ca = read_certificate(&dir.join(CA_CERT))?;
    let cert = read_certificate(&dir.join(SERVER_CERT))?;
    let key = read_key(&dir.join(SERVER_KEY))?;
    Ok(ServerTlsConfig::new()
        .identity(Identity::from_pem(cert.pem, key))
        .client_ca_root(Certificate::from_pem(ca.pem))
        .client_auth_optional(true))
}

/// The same server certificate and client CA as [`server_tls`], as a rustls configuration for
/// the HTTPS endpoints (TAXII): a client certificate is optional, but one that is presented
/// must chain to the dev CA and be in date. Offers HTTP/2 and HTTP/1.1 by ALPN.
pub fn rustls_server_config(dir: &Path) -> Result<rustls::ServerConfig, IdentityError> {
    use rustls::pki_types::pem::PemObject as _;
    use rustls::pki_types::{CertificateDer as Der, PrivateKeyDer};
    let ca = read_certificate(&dir.join(CA_CERT))?;
    let cert = read_certificate(&dir.join(SERVER_CERT))?;
    let key_path = dir.join(SERVER_KEY);
    let key = PrivateKeyDer::from_pem_slice(&read_key(&key_path)?).map_err(|e| {
        IdentityError::BadKeyFile {
            path: key_path.clone(),
            reason: e.to_string(),
        }
    })?;
    let bad = |reason: String| IdentityError::BadCertificate {
        path: dir.join(CA_CERT),
        reason,
    };
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(Der::from(ca.der))
        .map_err(|e| bad(e.to_string()))?;
    let verifier =
        rustls::server::WebPkiClientVerifier::builder_with_provider(roots.into(), provider.clone())
            .allow_unauthenticated()
            .build()
            .map_err(|e| bad(e.to_string()))?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| bad(e.to_string()))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(vec![Der::from(cert.der)], key)
        .map_err(|e| IdentityError::BadCertificate {
            path: dir.join(SERVER_CERT),
            reason: e.to_string(),
        })?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// A client acting as party `name`: the dev CA as the server's root, and the party's
/// certificate and key from `<dir>/<name>.crt` and `<dir>/<name>.key`.
pub fn client_tls(dir: &Path, name: &str) -> Result<ClientTlsConfig, IdentityError> {
    validate_name(name)?;
    let ca = read_certificate(&dir.join(CA_CERT))?;
    let cert_path = dir.join(format!("{name}.crt"));
    let key_path = dir.join(format!("{name}.key"));
    for path in [&cert_path, &key_path] {
        if !path.exists() {
            return Err(IdentityError::MissingCertificate {
                name: name.to_string(),
                path: path.clone(),
            });
        }
    }
    let cert = read_certificate(&cert_path)?;
    let key = read_key(&key_path)?;
    Ok(ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(ca.pem))
        .identity(Identity::from_pem(cert.pem, key))
        .domain_name(SERVER_NAME))
}

/// The subject common name of the peer's leaf certificate: the party name it claims.
///
/// Only meaningful for certificates the TLS layer has already verified against the CA.
/// `None` when there is no certificate, it does not parse, or it has no single CN.
pub fn peer_name(certs: &[CertificateDer<'_>]) -> Option<String> {
    common_name(certs.first()?)
}

/// Maps the verified client certificate to a registered party.
///
/// `peer_certs` is what `tonic::Request::peer_certs()` gives; see [`authenticate_request`].
pub fn authenticate(
    registry: &Registry,
    peer_certs: Option<&[CertificateDer<'_>]>,
) -> Result<Principal, IdentityError> {
    let certs = match peer_certs {
        Some(certs) if !certs.is_empty() => certs,
        _ => return Err(IdentityError::NoClientCertificate),
    };
    let name = peer_name(certs).ok_or(IdentityError::NoCommonName)?;
    let party = registry
        .party(&name)
        .ok_or_else(|| IdentityError::UnknownParty(name.clone()))?;
    Ok(Principal {
        name,
        role: party.role,
    })
}

/// [`authenticate`] for a request as a service handler receives it.
pub fn authenticate_request<T>(
    registry: &Registry,
    request: &tonic::Request<T>,
) -> Result<Principal, IdentityError> {
    let certs = request.peer_certs();
    authenticate(registry, certs.as_deref().map(Vec::as_slice))
}

/// The single subject CN of a DER certificate; `None` if absent, repeated or not a string.
pub(crate) fn common_name(der: &[u8]) -> Option<String> {
    let (_, cert) = X509Certificate::from_der(der).ok()?;
    let mut names = cert.subject().iter_common_name();
    let first = names.next()?.as_str().ok()?.to_string();
    // Two CNs would leave it to chance which party the certificate names.
    if names.next().is_some() {
        return None;
    }
    Some(first)
}

/// A certificate file as PEM (for tonic) and DER (for inspection).
pub(crate) struct CertificateFile {
    pub(crate) pem: Vec<u8>,
    pub(crate) der: Vec<u8>,
}

/// Reads and checks a PEM certificate file, warning when it is out of date: a certificate that
/// has expired makes the other side refuse the handshake, with a less helpful message.
pub(crate) fn read_certificate(path: &Path) -> Result<CertificateFile, IdentityError> {
    let pem = std::fs::read(path).map_err(|source| IdentityError::Io {
        action: "read",
        path: path.to_path_buf(),
        source,
    })?;
    let bad = |reason: String| IdentityError::BadCertificate {
        path: path.to_path_buf(),
        reason,
    };
    let (_, block) = parse_x509_pem(&pem).map_err(|e| bad(format!("not PEM: {e}")))?;
    if block.label != "CERTIFICATE" {
        return Err(bad(format!(
            "holds a PEM \"{}\" block, expected \"CERTIFICATE\"",
            block.label
        )));
    }
    {
        let cert = block
            .parse_x509()
            .map_err(|e| bad(format!("not an X.509 certificate: {e}")))?;
        if !cert.validity().is_valid() {
            tracing::warn!(
                path = %path.display(),
                not_before = %cert.validity().not_before,
                not_after = %cert.validity().not_after,
                "certificate is not valid now; peers will refuse it: re-issue it (borderlog init --force)"
            );
        }
    }
    Ok(CertificateFile {
        pem,
        der: block.contents,
    })
}

/// Reads a PEM private key file, checking it holds a private key (not, say, a certificate).
fn read_key(path: &Path) -> Result<Vec<u8>, IdentityError> {
    let pem = read_private(path)?;
    let bad = |reason: String| IdentityError::BadKeyFile {
        path: path.to_path_buf(),
        reason,
    };
    let (_, block) = parse_x509_pem(&pem).map_err(|e| bad(format!("not PEM: {e}")))?;
    if !block.label.ends_with("PRIVATE KEY") {
        return Err(bad(format!(
            "holds a PEM \"{}\" block, expected a private key",
            block.label
        )));
    }
    Ok(pem)
}
