//! Identity end to end on real files: `init`, partners.toml validation, and mTLS on loopback
//! with the certificates `init` makes.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use borderlog::identity::{
    IdentityError, InitOptions, Principal, Registry, authenticate, authenticate_request,
    client_tls, init, issue_client_cert, load_log_key, load_signing_key, peer_name, server_tls,
};
use borderlog::pb::Role;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{CertificateDer, Channel, ClientTlsConfig, Server};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

const PARTIES: [&str; 4] = ["vendor-research", "police-network", "auditor", "compliance"];

fn fresh() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("keys");
    init(&dir, &InitOptions::default()).unwrap();
    (tmp, dir)
}

/// Every file in `dir` with its bytes, to prove a refused init changed nothing.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let p = e.unwrap().path();
            let bytes = std::fs::read(&p).unwrap();
            (p, bytes)
        })
        .collect()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        std::fs::copy(&p, to.join(p.file_name().unwrap())).unwrap();
    }
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn init_creates_every_file_with_private_keys_owner_only() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("keys");
    let report = init(&dir, &InitOptions::default()).unwrap();

    let mut private = vec![
        "ca.key".to_string(),
        "server.key".into(),
        "log.ed25519".into(),
    ];
    let mut public = vec![
        "ca.crt".to_string(),
        "server.crt".into(),
        "partners.toml".into(),
    ];
    for p in PARTIES {
        private.push(format!("{p}.key"));
        public.push(format!("{p}.crt"));
    }
    private.push("vendor-research.ed25519".into());
    private.push("police-network.ed25519".into());
    // The data owner's customer-register key and default screening policy.
    private.push("vendor-research.register-key".into());
    public.push("vendor-research.policy.toml".into());
    // The compliance report's GDPR Art. 30 profile.
    public.push("report-profile.toml".into());
    // TAXII Basic credentials: each party's generated password, and their Argon2 hashes.
    for p in PARTIES {
        private.push(format!("{p}.taxii-password"));
    }
    private.push("taxii-users.toml".into());
    for f in private.iter().chain(&public) {
        assert!(dir.join(f).is_file(), "{f} missing");
    }
    // Read-only roles sign nothing, so they get no Ed25519 key.
    assert!(!dir.join("auditor.ed25519").exists());
    assert!(!dir.join("compliance.ed25519").exists());
    assert_eq!(snapshot(&dir).len(), private.len() + public.len());
    assert_eq!(report.files.len(), private.len() + public.len());
    assert_eq!(report.files.last(), Some(&dir.join("partners.toml")));
    #[cfg(unix)]
    {
        for f in &private {
            assert_eq!(mode(&dir.join(f)), 0o600, "{f}");
        }
        assert_eq!(mode(&dir), 0o700);
    }

    let registry = Registry::load(&dir).unwrap();
    assert_eq!(registry, report.registry);
    let origin = registry.origin().strip_prefix("borderlog.local/").unwrap();
    assert!(origin.len() == 8 && origin.bytes().all(|b| b.is_ascii_hexdigit()));
    let roles: Vec<_> = registry
        .parties()
        .iter()
        .map(|p| (p.name.as_str(), p.role))
        .collect();
    assert_eq!(
        roles,
        [
            ("vendor-research", Role::Sender),
            ("police-network", Role::Recipient),
            ("auditor", Role::Auditor),
            ("compliance", Role::Compliance),
        ]
    );
    assert_eq!(
        registry.party("police-network").unwrap().organisation_kind,
        "international organisation"
    );
    for name in ["vendor-research", "police-network"] {
        let key = load_signing_key(&dir, name).unwrap();
        assert_eq!(
            Some(key.verifying_key()),
            registry.party(name).unwrap().public_key
        );
    }
    assert_eq!(
        load_log_key(&dir).unwrap().verifying_key(),
        registry.log_public_key()
    );
    assert_eq!(
        Registry::from_genesis(&registry.to_genesis()).unwrap(),
        registry
    );
}

#[test]
fn second_init_needs_force_and_changes_nothing_without_it() {
    let (_tmp, dir) = fresh();
    let before = snapshot(&dir);
    let err = init(&dir, &InitOptions::default()).unwrap_err();
    assert!(
        matches!(err, IdentityError::AlreadyInitialised { .. }),
        "{err}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("--force") && msg.contains("partners.toml"),
        "{msg}"
    );
    assert_eq!(snapshot(&dir), before);

    let opts = InitOptions {
        force: true,
        ..InitOptions::default()
    };
    init(&dir, &opts).unwrap();
    let after = snapshot(&dir);
    assert_eq!(after.len(), before.len());
    for (path, bytes) in &before {
        let name = path.file_name().unwrap().to_string_lossy();
        if name.ends_with(".policy.toml")
            || name.ends_with(".register-key")
            || name == "report-profile.toml"
        {
            // The owner's policy and register key, and the report profile (the
            // organisation's edits), survive a forced re-init.
            assert_eq!(&after[path], bytes, "{} was replaced", path.display());
        } else {
            assert_ne!(&after[path], bytes, "{} was not replaced", path.display());
        }
    }
    #[cfg(unix)]
    assert_eq!(mode(&dir.join("log.ed25519")), 0o600);
}

#[test]
fn init_refuses_bad_options_before_writing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("keys");
    let mut opts = InitOptions::default();
    opts.parties.retain(|p| p.role != Role::Sender);
    let err = init(&dir, &opts).unwrap_err().to_string();
    assert!(err.contains("sender"), "{err}");
    assert!(!dir.exists());

    let mut opts = InitOptions::default();
    opts.parties[0].name = "../evil".into();
    assert!(init(&dir, &opts).is_err());
    assert!(!dir.exists());

    for validity in [Duration::MAX, Duration::from_secs(20_000 * 365 * 24 * 3600)] {
        let opts = InitOptions {
            validity,
            ..InitOptions::default()
        };
        let err = init(&dir, &opts).unwrap_err();
        assert!(matches!(err, IdentityError::InvalidValidity(_)), "{err}");
        assert!(!dir.exists());
    }
}

#[test]
fn issue_client_cert_refuses_an_empty_window() {
    let (_tmp, dir) = fresh();
    let now = SystemTime::now();
    let err = issue_client_cert(&dir, "x", now, now).unwrap_err();
    assert!(matches!(err, IdentityError::InvalidValidity(_)), "{err}");
    let err = issue_client_cert(
        &dir,
        "x",
        SystemTime::UNIX_EPOCH - Duration::from_secs(1),
        now,
    )
    .unwrap_err();
    assert!(matches!(err, IdentityError::InvalidValidity(_)), "{err}");
    assert!(!dir.join("x.crt").exists());
}

/// Writes `text` as partners.toml in a fresh directory and loads it.
fn load_text(text: &str) -> Result<Registry, IdentityError> {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("partners.toml"), text).unwrap();
    Registry::load(tmp.path())
}

fn key_b64(seed: u8) -> String {
    let key = ed25519_dalek::SigningKey::from_bytes(&[seed; 32]);
    BASE64.encode(key.verifying_key().to_bytes())
}

fn partners(parties: &str) -> String {
    format!(
        "origin = \"borderlog.local/test\"\nlog_public_key = \"{}\"\n{parties}",
        key_b64(1)
    )
}

fn party(name: &str, role: &str, key: Option<&str>) -> String {
    let key = key
        .map(|k| format!("public_key = \"{k}\"\n"))
        .unwrap_or_default();
    format!("[[party]]\nname = \"{name}\"\nrole = \"{role}\"\n{key}organisation_kind = \"x\"\n")
}

#[test]
fn valid_partners_file_loads() {
    let text = partners(&format!(
        "{}{}{}",
        party("a", "sender", Some(&key_b64(2))),
        party("b", "recipient", Some(&key_b64(3))),
        party("c", "compliance", None)
    ));
    let reg = load_text(&text).unwrap();
    assert_eq!(reg.parties().len(), 3);
    assert_eq!(load_text(&reg.to_toml().unwrap()).unwrap(), reg);
}

#[test]
fn invalid_partners_files_are_refused_with_the_reason() {
    let sender = party("a", "sender", Some(&key_b64(2)));
    let recipient = party("b", "recipient", Some(&key_b64(3)));
    let mut weak = [0u8; 32];
    weak[0] = 1; // the identity point: small order
    let cases = [
        (
            "duplicate name",
            partners(&format!(
                "{sender}{recipient}{}",
                party("a", "auditor", None)
            )),
            "listed more than once",
        ),
        (
            "bad base64 key",
            partners(&format!("{}{recipient}", party("a", "sender", Some("%%%")))),
            "not valid base64",
        ),
        (
            "short key",
            partners(&format!(
                "{}{recipient}",
                party("a", "sender", Some("AAAA"))
            )),
            "canonical, strong Ed25519",
        ),
        (
            "weak key",
            partners(&format!(
                "{}{recipient}",
                party("a", "sender", Some(&BASE64.encode(weak)))
            )),
            "canonical, strong Ed25519",
        ),
        (
            "auditor with key",
            partners(&format!(
                "{sender}{recipient}{}",
                party("c", "auditor", Some(&key_b64(4)))
            )),
            "must not have a public_key",
        ),
        (
            "partner without key",
            partners(&format!("{}{recipient}", party("a", "sender", None))),
            "needs a public_key",
        ),
        (
            "missing sender",
            partners(&recipient),
            "no party has role \"sender\"",
        ),
        (
            "missing recipient",
            partners(&sender),
            "no party has role \"recipient\"",
        ),
        (
            "bad name",
            partners(&format!(
                "{}{recipient}",
                party("Alice", "sender", Some(&key_b64(2)))
            )),
            "invalid party name 'Alice'",
        ),
        (
            "unknown role",
            partners(&format!("{sender}{recipient}{}", party("c", "admin", None))),
            "admin",
        ),
        (
            "unknown field",
            partners(&format!("{sender}{recipient}colour = \"red\"\n")),
            "colour",
        ),
        (
            "no origin",
            format!("log_public_key = \"{}\"\n{sender}{recipient}", key_b64(1)),
            "origin",
        ),
    ];
    for (what, text, expect) in cases {
        let err = load_text(&text).expect_err(what);
        let msg = err.to_string();
        assert!(
            matches!(err, IdentityError::InvalidRegistry { .. }),
            "{what}: {msg}"
        );
        assert!(msg.contains(expect), "{what}: {msg}");
        assert!(msg.contains("partners.toml"), "{what}: {msg}");
    }
}

#[test]
fn missing_partners_file_names_the_path() {
    let tmp = tempfile::tempdir().unwrap();
    let msg = Registry::load(tmp.path()).unwrap_err().to_string();
    assert!(msg.contains("partners.toml"), "{msg}");
}

/// The DER of the first certificate in a PEM file.
fn cert_der(path: &Path) -> CertificateDer<'static> {
    let pem = std::fs::read(path).unwrap();
    let (_, block) = x509_parser::pem::parse_x509_pem(&pem).unwrap();
    CertificateDer::from(block.contents)
}

#[test]
fn peer_name_and_authenticate_read_the_client_certificate() {
    let (_tmp, dir) = fresh();
    let registry = Registry::load(&dir).unwrap();
    for name in PARTIES {
        let der = cert_der(&dir.join(format!("{name}.crt")));
        assert_eq!(peer_name(std::slice::from_ref(&der)).as_deref(), Some(name));
        let who = authenticate(&registry, Some(&[der])).unwrap();
        assert_eq!(who.name, name);
        assert_eq!(Some(who.role), registry.party(name).map(|p| p.role));
    }
    assert_eq!(peer_name(&[]), None);
    assert_eq!(peer_name(&[CertificateDer::from(vec![1, 2, 3])]), None);
    assert!(matches!(
        authenticate(&registry, None),
        Err(IdentityError::NoClientCertificate)
    ));
    assert!(matches!(
        authenticate(&registry, Some(&[])),
        Err(IdentityError::NoClientCertificate)
    ));
    // The server certificate is CA-signed too, but names no party.
    let server = cert_der(&dir.join("server.crt"));
    let err = authenticate(&registry, Some(&[server])).unwrap_err();
    assert!(
        matches!(err, IdentityError::UnknownParty(ref n) if n == "borderlog server"),
        "{err}"
    );
}

#[test]
fn client_tls_names_a_missing_certificate() {
    let (_tmp, dir) = fresh();
    let msg = client_tls(&dir, "nobody").unwrap_err().to_string();
    assert!(
        msg.contains("nobody.crt") && msg.contains("borderlog init"),
        "{msg}"
    );
    std::fs::write(dir.join("nobody.crt"), "not pem").unwrap();
    std::fs::write(dir.join("nobody.key"), "not pem").unwrap();
    let err = client_tls(&dir, "nobody").unwrap_err();
    assert!(matches!(err, IdentityError::BadCertificate { .. }), "{err}");
}

/// A TLS server on loopback serving grpc.health.v1, that authenticates every call as the
/// service will and records who called.
struct TestServer {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<Principal>>>,
}

async fn serve(dir: &Path) -> TestServer {
    let registry = Arc::new(Registry::load(dir).unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let recorder = seen.clone();
    let interceptor = move |req: tonic::Request<()>| {
        let who = authenticate_request(&registry, &req)?;
        recorder.lock().unwrap().push(who);
        Ok(req)
    };
    let (_reporter, health) = tonic_health::server::health_reporter();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = Server::builder()
        .tls_config(server_tls(dir).unwrap())
        .unwrap()
        .layer(tonic::service::InterceptorLayer::new(interceptor))
        .add_service(health)
        .serve_with_incoming(TcpIncoming::from(listener));
    tokio::spawn(server);
    TestServer { addr, seen }
}

/// One health Check over TLS; connection failures come back as UNAVAILABLE.
async fn check(addr: SocketAddr, tls: ClientTlsConfig) -> Result<(), tonic::Status> {
    let unavailable = |e: tonic::transport::Error| tonic::Status::unavailable(format!("{e:?}"));
    let channel = Channel::from_shared(format!("https://{addr}"))
        .unwrap()
        .tls_config(tls)
        .map_err(unavailable)?
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(5))
        .connect()
        .await
        .map_err(unavailable)?;
    HealthClient::new(channel)
        .check(HealthCheckRequest::default())
        .await
        .map(drop)
}

/// Asserts the call failed in the TLS handshake for `reason` (a rustls alert or error name).
fn refused_by_tls(result: Result<(), tonic::Status>, reason: &str) {
    let status = result.expect_err(reason);
    let detail = format!("{status:?}");
    assert!(detail.contains(reason), "expected {reason}: {detail}");
}

#[tokio::test]
async fn mtls_on_loopback_identifies_the_caller() {
    let (tmp, dir) = fresh();
    let server = serve(&dir).await;

    check(server.addr, client_tls(&dir, "vendor-research").unwrap())
        .await
        .unwrap();
    check(server.addr, client_tls(&dir, "auditor").unwrap())
        .await
        .unwrap();
    assert_eq!(
        *server.seen.lock().unwrap(),
        [
            Principal {
                name: "vendor-research".into(),
                role: Role::Sender
            },
            Principal {
                name: "auditor".into(),
                role: Role::Auditor
            },
        ]
    );

    // TLS without a client certificate gets through the handshake, and a clear refusal.
    let anonymous = ClientTlsConfig::new()
        .ca_certificate(tonic::transport::Certificate::from_pem(
            std::fs::read(dir.join("ca.crt")).unwrap(),
        ))
        .domain_name("localhost");
    let status = check(server.addr, anonymous).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unauthenticated, "{status:?}");
    assert!(
        status.message().contains("no client certificate"),
        "{status:?}"
    );

    // A certificate from the right CA for a name that is not registered.
    let now = SystemTime::now();
    issue_client_cert(
        &dir,
        "stranger",
        now - Duration::from_secs(60),
        now + Duration::from_secs(3600),
    )
    .unwrap();
    let status = check(server.addr, client_tls(&dir, "stranger").unwrap())
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unauthenticated, "{status:?}");
    assert!(status.message().contains("'stranger'"), "{status:?}");

    // An expired certificate from the right CA: refused by TLS itself.
    let expired = tmp.path().join("expired");
    copy_dir(&dir, &expired);
    let day = Duration::from_secs(24 * 60 * 60);
    issue_client_cert(&expired, "vendor-research", now - 2 * day, now - day).unwrap();
    let result = check(
        server.addr,
        client_tls(&expired, "vendor-research").unwrap(),
    )
    .await;
    refused_by_tls(result, "CertificateExpired");

    // A certificate for a registered name, from another CA.
    let other = tmp.path().join("other");
    init(&other, &InitOptions::default()).unwrap();
    let forged = tmp.path().join("forged");
    copy_dir(&dir, &forged);
    for ext in ["crt", "key"] {
        let file = format!("vendor-research.{ext}");
        std::fs::copy(other.join(&file), forged.join(&file)).unwrap();
    }
    let result = check(server.addr, client_tls(&forged, "vendor-research").unwrap()).await;
    refused_by_tls(result, "UnknownCA");

    // And a client of the other CA does not trust this server either.
    let result = check(server.addr, client_tls(&other, "vendor-research").unwrap()).await;
    refused_by_tls(result, "UnknownIssuer");

    // None of the refused callers reached the service.
    assert_eq!(server.seen.lock().unwrap().len(), 2);
}
