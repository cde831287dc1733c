//! `borderlog gateway`: a TAXII 2.1 API root beside the sender's platform, with one writable
//! collection per recipient ("disclose to <recipient>"). Add Objects screens the envelope
//! locally under the sender's policy, signs one disclosure with the sender's key (which never
//! leaves this machine), submits it to the ledger over gRPC, and answers 202 with a status
//! resource that `GET status/{id}/` follows to completion. An envelope's status id is derived
//! from its content, and so is the disclosure's nonce: the same envelope is disclosed once,
//! even if the gateway's state is lost (the ledger refuses a replayed nonce).

mod add;
mod status;

use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::get;
use ed25519_dalek::SigningKey;
use tokio::net::TcpListener;

use super::auth;
use super::collections::Collection;
use super::error::{TaxiiError, json_body};
use super::https::{self, Peer};
use super::media;
use super::users::Credentials;
use crate::format::note::Verifier;
use crate::guard::Policy;
use crate::identity::Registry;
use crate::pb::Role;

/// The gateway's API root path: `https://HOST:PORT/gateway/`.
pub const GATEWAY_ROOT: &str = "gateway";

/// The largest envelope accepted unless configured otherwise (the ledger's own message limit).
pub const DEFAULT_MAX_CONTENT_LENGTH: usize = 4 << 20;

/// How the gateway discloses.
pub struct GatewayConfig {
    /// The sender's keys directory: its signing key, certificates, partners.toml, TAXII
    /// credentials.
    pub keys_dir: PathBuf,
    /// The sender the gateway discloses as.
    pub sender: String,
    /// The ledger's gRPC address.
    pub ledger_addr: String,
    /// Where status resources are kept.
    pub state_dir: PathBuf,
    /// The purpose every disclosure declares.
    pub purpose: String,
    /// The legal basis every disclosure declares.
    pub legal_basis: String,
    /// The case reference every disclosure declares (may be empty).
    pub case_reference: String,
    /// TLP for objects without a TLP marking of their own (theirs wins); `None`: such objects
    /// are refused by the guard.
    pub default_tlp: Option<String>,
    /// The sender's screening policy, as the ledger will apply it.
    pub policy: Policy,
    /// Largest envelope, bytes (advertised as the API root's `max_content_length`).
    pub max_content_length: usize,
}

/// The gateway's shared state.
pub(crate) struct Gateway {
    config: GatewayConfig,
    key: SigningKey,
    log: Verifier,
    credentials: Arc<Credentials>,
    collections: Vec<Collection>,
    statuses: status::Statuses,
    /// Held while an envelope is admitted, so two copies of it arriving at once make one status.
    admit: tokio::sync::Mutex<()>,
}

impl Gateway {
    /// Authenticates the caller (only the sender's own credential or certificate), checks
    /// Accept and the API root.
    async fn begin(&self, headers: &HeaderMap, peer: &Peer, root: &str) -> Result<(), TaxiiError> {
        self.authorize(headers, peer).await?;
        if root != GATEWAY_ROOT {
            return Err(TaxiiError::NotFound(format!(
                "no API root {root:?}; this gateway's is /{GATEWAY_ROOT}/"
            )));
        }
        Ok(())
    }

    /// Only the sender's own credential or certificate, and a request that accepts TAXII 2.1.
    async fn authorize(&self, headers: &HeaderMap, peer: &Peer) -> Result<(), TaxiiError> {
        let name = auth::party_name(&self.credentials, headers, peer).await?;
        if name != self.config.sender {
            return Err(TaxiiError::Forbidden(format!(
                "this gateway discloses as {}; {name} may not push through it",
                self.config.sender
            )));
        }
        media::check_accept(headers)
    }

    fn collection(&self, id: &str) -> Result<&Collection, TaxiiError> {
        self.collections
            .iter()
            .find(|c| c.id == id)
            .ok_or_else(|| TaxiiError::NotFound(format!("no collection {id:?}")))
    }
}

type Shared = State<Arc<Gateway>>;
type PeerExt = axum::Extension<Peer>;

async fn discovery(
    State(gw): Shared,
    axum::Extension(peer): PeerExt,
    headers: HeaderMap,
) -> Result<Response, TaxiiError> {
    gw.authorize(&headers, &peer).await?;
    let root = format!("/{GATEWAY_ROOT}/");
    Ok(json_body(&serde_json::json!({
        "title": format!("borderlog gateway for {}", gw.config.sender),
        "description": "Push STIX 2.1 to a recipient's collection: screened here, signed here, recorded in the ledger.",
        "default": root,
        "api_roots": [root],
    })))
}

async fn api_root(
    State(gw): Shared,
    axum::Extension(peer): PeerExt,
    Path(root): Path<String>,
    headers: HeaderMap,
) -> Result<Response, TaxiiError> {
    gw.begin(&headers, &peer, &root).await?;
    Ok(json_body(&serde_json::json!({
        "title": format!("disclosures by {}", gw.config.sender),
        "description": "One write-only collection per recipient; each Add Objects becomes one signed disclosure.",
        "versions": [media::TAXII],
        "max_content_length": gw.config.max_content_length,
    })))
}

fn collection_resource(gw: &Gateway, c: &Collection) -> serde_json::Value {
    serde_json::json!({
        "id": c.id,
        "title": format!("disclose to {}", c.recipient),
        "description": format!(
            "Objects added here are screened under {}'s policy and disclosed to {} as one signed ledger entry per envelope; read them back from the ledger's collection with the same id",
            gw.config.sender, c.recipient
        ),
        "can_read": false,
        "can_write": true,
        "media_types": [media::STIX],
    })
}

async fn list_collections(
    State(gw): Shared,
    axum::Extension(peer): PeerExt,
    Path(root): Path<String>,
    headers: HeaderMap,
) -> Result<Response, TaxiiError> {
    gw.begin(&headers, &peer, &root).await?;
    let list: Vec<_> = gw
        .collections
        .iter()
        .map(|c| collection_resource(&gw, c))
        .collect();
    Ok(json_body(&serde_json::json!({ "collections": list })))
}

async fn get_collection(
    State(gw): Shared,
    axum::Extension(peer): PeerExt,
    Path((root, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, TaxiiError> {
    gw.begin(&headers, &peer, &root).await?;
    Ok(json_body(&collection_resource(&gw, gw.collection(&id)?)))
}

/// GET objects/ and manifest/: the gateway's collections are write-only.
async fn write_only(
    State(gw): Shared,
    axum::Extension(peer): PeerExt,
    Path((root, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, TaxiiError> {
    gw.begin(&headers, &peer, &root).await?;
    gw.collection(&id)?;
    Err(TaxiiError::Forbidden(
        "the gateway's collections are write-only (can_read is false): read disclosures from the ledger's TAXII collection with the same id".into(),
    ))
}

async fn get_status(
    State(gw): Shared,
    axum::Extension(peer): PeerExt,
    Path((root, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, TaxiiError> {
    gw.begin(&headers, &peer, &root).await?;
    let status = gw
        .statuses
        .get(&id)?
        .ok_or_else(|| TaxiiError::NotFound(format!("no status {id:?}")))?;
    Ok(json_body(
        &serde_json::to_value(&status).map_err(|e| TaxiiError::Internal(e.to_string()))?,
    ))
}

async fn not_found(uri: axum::http::Uri) -> TaxiiError {
    TaxiiError::NotFound(format!(
        "{} is not a TAXII 2.1 endpoint of this gateway",
        uri.path()
    ))
}

/// Runs the gateway over HTTPS on `listener` until `shutdown`, with the server certificate and
/// client CA in the keys directory.
pub async fn serve(
    config: GatewayConfig,
    listener: TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send,
) -> Result<(), TaxiiError> {
    let setup =
        |what: &str, e: &dyn std::fmt::Display| TaxiiError::Internal(format!("{what}: {e}"));
    let registry = Registry::load(&config.keys_dir).map_err(|e| setup("partners.toml", &e))?;
    match registry.party(&config.sender) {
        Some(p) if p.role == Role::Sender => {}
        _ => {
            return Err(TaxiiError::Internal(format!(
                "{:?} is not a sender in partners.toml",
                config.sender
            )));
        }
    }
    let key = crate::identity::keys::load_signing_key(&config.keys_dir, &config.sender)
        .map_err(|e| setup("the sender's key", &e))?;
    let log = crate::cli::log_verifier(&registry).map_err(|e| setup("the log key", &e))?;
    let tls = crate::identity::tls::rustls_server_config(&config.keys_dir)
        .map_err(|e| setup("TLS set-up", &e))?;
    let credentials = Credentials::new(&config.keys_dir).map_err(|e| setup("credentials", &e))?;
    let statuses =
        status::Statuses::open(&config.state_dir).map_err(|e| setup("state directory", &e))?;
    let collections = registry
        .parties()
        .iter()
        .filter(|p| p.role == Role::Recipient)
        .map(|p| Collection::new(registry.origin(), &config.sender, &p.name))
        .collect();
    let gateway = Arc::new(Gateway {
        config,
        key,
        log,
        credentials: Arc::new(credentials),
        collections,
        statuses,
        admit: tokio::sync::Mutex::new(()),
    });
    let objects = "/{root}/collections/{id}/objects/";
    let app = Router::new()
        .route("/taxii2/", get(discovery))
        .route("/{root}/", get(api_root))
        .route("/{root}/status/{status}/", get(get_status))
        // taxii2-client follows a status at "../../status/{id}", without the slash.
        .route("/{root}/status/{status}", get(get_status))
        .route("/{root}/collections/", get(list_collections))
        .route("/{root}/collections/{id}/", get(get_collection))
        .route("/{root}/collections/{id}/manifest/", get(write_only))
        .route(objects, get(write_only).post(add::add_objects))
        // Bodies are limited by `max_content_length` in Add Objects itself (413 as TAXII says).
        .layer(axum::extract::DefaultBodyLimit::disable())
        .fallback(not_found)
        .with_state(gateway);
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "TAXII gateway at https://{addr}/taxii2/");
    }
    https::serve(listener, Arc::new(tls), app, shutdown).await;
    Ok(())
}
