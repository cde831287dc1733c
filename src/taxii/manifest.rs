//! Get Object Manifests (specification section 5.3): one record per object, carrying beside
//! the TAXII fields where the object is in the ledger (`x_borderlog_provenance`).

use std::sync::Arc;

use axum::extract::{Path, Query as Params, State};
use axum::http::HeaderMap;
use axum::response::Response;

use super::error::{TaxiiError, json_body};
use super::https::Peer;
use super::objects::{COLLECTION_FILTERS, RawParams, paging, with_dates};
use super::query::Query;
use super::{App, media};

/// GET {api-root}/collections/{id}/manifest/
pub async fn get_manifest(
    State(app): State<Arc<App>>,
    axum::Extension(peer): axum::Extension<Peer>,
    Path((root, collection)): Path<(String, String)>,
    Params(params): RawParams,
    headers: HeaderMap,
) -> Result<Response, TaxiiError> {
    let query = Query::parse(&params, COLLECTION_FILTERS)?;
    let page = app.page(&headers, &peer, &root, &collection, query).await?;
    let mut body = paging(&page);
    if !page.records.is_empty() {
        let objects: Vec<_> = page
            .records
            .iter()
            .map(|r| {
                serde_json::json!({
                    "id": r.id,
                    "date_added": r.date_added(),
                    "version": r.version,
                    "media_type": media::STIX,
                    "x_borderlog_provenance": r.provenance(),
                })
            })
            .collect();
        body["objects"] = serde_json::json!(objects);
    }
    Ok(with_dates(json_body(&body), &page))
}
