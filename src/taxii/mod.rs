//! TAXII 2.1 (OASIS) over HTTPS: the read side on the ledger server ([`serve`]) and the
//! sender's gateway ([`gateway`]). Partners' threat-intelligence platforms discover, page
//! through and fetch what was disclosed to them, authenticated by their client certificate or
//! HTTP Basic credentials, and see exactly what GetEntry would show them.
//!
//! Layout: `https` (TLS and the client certificate's party), `auth` (Basic or certificate),
//! `users` (the Argon2id credentials file), `media` (content negotiation), `error` (error
//! message resources), `discovery` (discovery, API root, status), `collections`, `query`
//! (filters and the `next` cursor), `records` (the collection's objects as the caller may read
//! them), `objects`, `manifest`, and `provenance` (checking an envelope against the ledger).

mod auth;
mod collections;
mod discovery;
mod error;
pub mod gateway;
mod https;
mod manifest;
mod media;
mod objects;
pub mod provenance;
mod query;
mod records;
pub mod users;

use std::future::Future;
use std::path::Path;
use std::sync::Arc;

use axum::Router;
use axum::http::HeaderMap;
use axum::routing::get;
use tokio::net::TcpListener;

pub use error::TaxiiError;
pub use media::{STIX as STIX_MEDIA_TYPE, TAXII as TAXII_MEDIA_TYPE};
pub use query::MAX_PAGE;

use collections::Collection;
use https::Peer;
use users::Credentials;

use crate::service::{Caller, Node, State};

/// The path of the one API root: `https://HOST:PORT/ledger/`.
pub const API_ROOT: &str = "ledger";

/// The read side's shared state.
pub(crate) struct App {
    state: Arc<State>,
    credentials: Arc<Credentials>,
    collections: Vec<Collection>,
}

impl App {
    /// The caller, from Basic credentials or the client certificate (401 otherwise).
    async fn authenticate(&self, headers: &HeaderMap, peer: &Peer) -> Result<Caller, TaxiiError> {
        let name = auth::party_name(&self.credentials, headers, peer).await?;
        Caller::for_party(&self.state, name).map_err(|e| match e {
            crate::service::RequestError::UnknownCaller(n) => {
                TaxiiError::Unauthorized(format!("{n:?} is not a party of this log"))
            }
            e => e.into(),
        })
    }

    /// What every API-root request checks first: the caller, that it accepts TAXII 2.1, and
    /// that the API root exists.
    async fn begin(
        &self,
        headers: &HeaderMap,
        peer: &Peer,
        root: &str,
    ) -> Result<Caller, TaxiiError> {
        let caller = self.authenticate(headers, peer).await?;
        media::check_accept(headers)?;
        if root != API_ROOT {
            return Err(TaxiiError::NotFound(format!(
                "no API root {root:?}; this server's is /{API_ROOT}/"
            )));
        }
        Ok(caller)
    }

    /// One page of a collection's objects, read off the async workers.
    async fn page(
        self: &Arc<Self>,
        headers: &HeaderMap,
        peer: &Peer,
        root: &str,
        collection: &str,
        query: query::Query,
    ) -> Result<records::Page, TaxiiError> {
        let caller = self.begin(headers, peer, root).await?;
        let collection = self.readable(&caller, collection)?.clone();
        let app = self.clone();
        tokio::task::spawn_blocking(move || records::page(&app.state, &caller, &collection, &query))
            .await
            .map_err(|e| TaxiiError::Internal(format!("reading the page failed: {e}")))?
    }
}

/// Any other path: a TAXII error message, not an empty 404.
async fn not_found(uri: axum::http::Uri) -> TaxiiError {
    TaxiiError::NotFound(format!(
        "{} is not a TAXII 2.1 endpoint of this server",
        uri.path()
    ))
}

/// The read side's routes.
fn router(app: Arc<App>) -> Router {
    let objects = "/{root}/collections/{id}/objects/";
    Router::new()
        .route("/taxii2/", get(discovery::discovery))
        .route("/{root}/", get(discovery::api_root))
        .route("/{root}/status/{status}/", get(discovery::status))
        // taxii2-client follows a status at "../../status/{id}", without the slash.
        .route("/{root}/status/{status}", get(discovery::status))
        .route("/{root}/collections/", get(collections::list))
        .route("/{root}/collections/{id}/", get(collections::get))
        .route(
            "/{root}/collections/{id}/manifest/",
            get(manifest::get_manifest),
        )
        .route(objects, get(objects::get_objects).post(objects::read_only))
        .route(
            "/{root}/collections/{id}/objects/{object}/",
            get(objects::get_object).delete(objects::read_only),
        )
        .route(
            "/{root}/collections/{id}/objects/{object}/versions/",
            get(objects::get_versions),
        )
        .fallback(not_found)
        .with_state(app)
}

/// Serves the node's TAXII 2.1 read side over HTTPS on `listener` until `shutdown`, with the
/// server certificate and client CA in `keys_dir` (the same as gRPC's).
pub async fn serve(
    node: &Node,
    keys_dir: &Path,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), TaxiiError> {
    let tls = crate::identity::tls::rustls_server_config(keys_dir)
        .map_err(|e| TaxiiError::Internal(format!("TLS set-up: {e}")))?;
    let credentials = Credentials::new(keys_dir)
        .map_err(|e| TaxiiError::Internal(format!("credentials: {e}")))?;
    let state = node.state().clone();
    let app = Arc::new(App {
        collections: Collection::all(&state.registry),
        state,
        credentials: Arc::new(credentials),
    });
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "serving TAXII 2.1 at https://{addr}/taxii2/");
    }
    https::serve(listener, Arc::new(tls), router(app), shutdown).await;
    Ok(())
}
