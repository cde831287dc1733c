//! Server Discovery (specification section 4.1), the API root's information (4.2) and its
//! status resources (4.3): the ledger accepts no writes, so it holds no status.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;

use super::error::{TaxiiError, json_body};
use super::https::Peer;
use super::{API_ROOT, App, media};

/// GET /taxii2/
pub async fn discovery(
    State(app): State<Arc<App>>,
    axum::Extension(peer): axum::Extension<Peer>,
    headers: HeaderMap,
) -> Result<Response, TaxiiError> {
    app.authenticate(&headers, &peer).await?;
    let root = format!("/{API_ROOT}/");
    Ok(json_body(&serde_json::json!({
        "title": format!("borderlog ledger {}", app.state.registry.origin()),
        "description": "Threat intelligence disclosed through a signed, append-only ledger. Every object is exactly the bytes its sender signed; see x_borderlog_provenance to prove it.",
        "default": root,
        "api_roots": [root],
    })))
}

/// GET {api-root}/
pub async fn api_root(
    State(app): State<Arc<App>>,
    axum::Extension(peer): axum::Extension<Peer>,
    Path(root): Path<String>,
    headers: HeaderMap,
) -> Result<Response, TaxiiError> {
    app.begin(&headers, &peer, &root).await?;
    Ok(json_body(&serde_json::json!({
        "title": "borderlog disclosures",
        "description": "One read-only collection per sender and recipient.",
        "versions": [media::TAXII],
        // The ledger takes no Add Objects, so any body is too large.
        "max_content_length": 0,
    })))
}

/// GET {api-root}/status/{status-id}/
pub async fn status(
    State(app): State<Arc<App>>,
    axum::Extension(peer): axum::Extension<Peer>,
    Path((root, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, TaxiiError> {
    app.begin(&headers, &peer, &root).await?;
    Err(TaxiiError::NotFound(format!(
        "no status {id:?}: the ledger's collections take no writes, so it keeps no status resources"
    )))
}
