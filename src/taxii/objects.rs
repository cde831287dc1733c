//! Get Objects, Get an Object and Get Object Versions (specification sections 5.4, 5.6 and
//! 5.8). Envelopes carry each object's committed bytes untouched, and beside them
//! `x_borderlog_provenance`: per object, the entry that disclosed it (docs/TAXII.md).

use std::sync::Arc;

use axum::extract::{Path, Query as Params, State};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::Response;

use super::App;
use super::error::{TaxiiError, json_body, taxii_bytes};
use super::https::Peer;
use super::query::Query;
use super::records::{self, Page};

/// The filters Get Objects and Get Object Manifests take.
pub const COLLECTION_FILTERS: &[&str] = &["id", "type", "version", "spec_version"];
/// The filters Get an Object takes.
const OBJECT_FILTERS: &[&str] = &["version", "spec_version"];
/// The filters Get Object Versions takes.
const VERSIONS_FILTERS: &[&str] = &["spec_version"];

/// Query parameters as sent, in order (`match[type]` and friends are not identifiers).
pub type RawParams = Params<Vec<(String, String)>>;

/// GET {api-root}/collections/{id}/objects/
pub async fn get_objects(
    State(app): State<Arc<App>>,
    axum::Extension(peer): axum::Extension<Peer>,
    Path((root, collection)): Path<(String, String)>,
    Params(params): RawParams,
    headers: HeaderMap,
) -> Result<Response, TaxiiError> {
    let query = Query::parse(&params, COLLECTION_FILTERS)?;
    let page = app.page(&headers, &peer, &root, &collection, query).await?;
    Ok(envelope(&page))
}

/// GET {api-root}/collections/{id}/objects/{object_id}/
pub async fn get_object(
    State(app): State<Arc<App>>,
    axum::Extension(peer): axum::Extension<Peer>,
    Path((root, collection, object)): Path<(String, String, String)>,
    Params(params): RawParams,
    headers: HeaderMap,
) -> Result<Response, TaxiiError> {
    let mut query = Query::parse(&params, OBJECT_FILTERS)?;
    query.ids = vec![object.clone()];
    let filtered = query.filtered || query.next.is_some();
    let page = app.page(&headers, &peer, &root, &collection, query).await?;
    if page.records.is_empty() && !filtered {
        return Err(TaxiiError::NotFound(format!(
            "no object {object:?} in collection {collection:?}"
        )));
    }
    Ok(envelope(&page))
}

/// GET {api-root}/collections/{id}/objects/{object_id}/versions/
pub async fn get_versions(
    State(app): State<Arc<App>>,
    axum::Extension(peer): axum::Extension<Peer>,
    Path((root, collection, object)): Path<(String, String, String)>,
    Params(params): RawParams,
    headers: HeaderMap,
) -> Result<Response, TaxiiError> {
    let mut query = Query::parse(&params, VERSIONS_FILTERS)?;
    query.ids = vec![object.clone()];
    query.versions = vec![super::query::Version::All];
    let filtered = query.filtered || query.next.is_some();
    let page = app.page(&headers, &peer, &root, &collection, query).await?;
    if page.records.is_empty() && !filtered {
        return Err(TaxiiError::NotFound(format!(
            "no object {object:?} in collection {collection:?}"
        )));
    }
    let mut versions: Vec<&str> = Vec::new();
    for r in &page.records {
        if !versions.contains(&r.version.as_str()) {
            versions.push(&r.version);
        }
    }
    let mut body = paging(&page);
    body["versions"] = serde_json::json!(versions);
    Ok(with_dates(json_body(&body), &page))
}

/// POST objects/ and DELETE objects/{id}/ on the ledger: its collections are read-only.
pub async fn read_only(
    State(app): State<Arc<App>>,
    axum::Extension(peer): axum::Extension<Peer>,
    Path(path): Path<Vec<(String, String)>>,
    headers: HeaderMap,
) -> Result<Response, TaxiiError> {
    let root = path.first().map(|(_, v)| v.clone()).unwrap_or_default();
    let id = path.get(1).map(|(_, v)| v.clone()).unwrap_or_default();
    let caller = app.begin(&headers, &peer, &root).await?;
    app.collection(&caller, &id)?;
    Err(TaxiiError::Forbidden(
        "the ledger's collections are read-only (can_write is false): disclose through the sender's `borderlog gateway` or `borderlog submit`".into(),
    ))
}

/// `more` and `next` of a page.
pub fn paging(page: &Page) -> serde_json::Value {
    let mut body = serde_json::json!({ "more": page.next.is_some() });
    if let Some(next) = page.next {
        body["next"] = serde_json::json!(next.token());
    }
    body
}

/// The X-TAXII-Date-Added-First/Last headers of a non-empty page.
pub fn with_dates(mut response: Response, page: &Page) -> Response {
    if let (Some(first), Some(last)) = (page.records.first(), page.records.last()) {
        for (name, record) in [
            ("x-taxii-date-added-first", first),
            ("x-taxii-date-added-last", last),
        ] {
            if let Ok(value) = HeaderValue::from_str(&record.date_added()) {
                response.headers_mut().insert(name, value);
            }
        }
    }
    response
}

/// An envelope: `more`, `next`, the objects' committed bytes spliced in as they are, and their
/// provenance.
fn envelope(page: &Page) -> Response {
    let mut out = Vec::with_capacity(
        page.records
            .iter()
            .map(|r| r.content.len() + 400)
            .sum::<usize>()
            + 64,
    );
    out.extend_from_slice(br#"{"more":"#);
    out.extend_from_slice(if page.next.is_some() {
        b"true"
    } else {
        b"false"
    });
    if let Some(next) = page.next {
        out.extend_from_slice(br#","next":"#);
        out.extend_from_slice(&serde_json::to_vec(&next.token()).unwrap_or_default());
    }
    if !page.records.is_empty() {
        out.extend_from_slice(br#","objects":["#);
        for (i, r) in page.records.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(&r.content);
        }
        out.extend_from_slice(br#"],"x_borderlog_provenance":"#);
        let provenance: Vec<_> = page
            .records
            .iter()
            .map(records::Record::provenance)
            .collect();
        out.extend_from_slice(&serde_json::to_vec(&provenance).unwrap_or_default());
    }
    out.push(b'}');
    with_dates(taxii_bytes(out), page)
}
