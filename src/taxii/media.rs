//! TAXII 2.1 media types and content negotiation (specification section 1.6.8): every
//! response is `application/taxii+json;version=2.1`; a request that accepts nothing we
//! serve gets 406, a body of any other type 415.

use axum::http::HeaderMap;
use axum::http::header::{ACCEPT, CONTENT_TYPE};

use super::error::TaxiiError;

/// The TAXII 2.1 media type of every resource this server sends and takes.
pub const TAXII: &str = "application/taxii+json;version=2.1";
/// The media type of the STIX 2.1 objects a collection holds (its `media_types`, and each
/// manifest record's `media_type`).
pub const STIX: &str = "application/stix+json;version=2.1";

/// One media range of an Accept or Content-Type header: type/subtype and its version
/// parameter, if any (other parameters such as `q` are ignored).
fn parse(range: &str) -> (String, Option<String>) {
    let mut parts = range.split(';');
    let essence = parts.next().unwrap_or("").trim().to_ascii_lowercase();
    let version = parts.find_map(|p| {
        let (key, value) = p.split_once('=')?;
        (key.trim().eq_ignore_ascii_case("version"))
            .then(|| value.trim().trim_matches('"').to_owned())
    });
    (essence, version)
}

/// Does this media range name TAXII 2.1 (an absent version means the latest, 2.1)?
fn is_taxii_21(essence: &str, version: Option<&str>) -> bool {
    essence == "application/taxii+json" && version.is_none_or(|v| v == "2.1")
}

/// Fails with 406 unless the request accepts TAXII 2.1. A request without an Accept header
/// accepts anything (RFC 9110 §12.5.1), as do `*/*` and `application/*`.
pub fn check_accept(headers: &HeaderMap) -> Result<(), TaxiiError> {
    let Some(value) = headers.get(ACCEPT) else {
        return Ok(());
    };
    let text = value
        .to_str()
        .map_err(|_| TaxiiError::NotAcceptable("the Accept header is not ASCII".into()))?;
    let ok = text.split(',').any(|range| {
        let (essence, version) = parse(range);
        is_taxii_21(&essence, version.as_deref()) || essence == "*/*" || essence == "application/*"
    });
    if ok {
        Ok(())
    } else {
        Err(TaxiiError::NotAcceptable(format!(
            "this server sends only {TAXII}; the request accepts {text:?}"
        )))
    }
}

/// Fails with 415 unless the request body is TAXII 2.1.
pub fn check_content_type(headers: &HeaderMap) -> Result<(), TaxiiError> {
    let text = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let (essence, version) = parse(text);
    if is_taxii_21(&essence, version.as_deref()) {
        Ok(())
    } else {
        Err(TaxiiError::UnsupportedMediaType(format!(
            "send the envelope as {TAXII}, not {text:?}"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(name: axum::http::HeaderName, value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(name, value.parse().unwrap());
        h
    }

    #[test]
    fn accept_negotiation() {
        for ok in [
            TAXII,
            "application/taxii+json",
            "application/taxii+json; version=2.1",
            "text/html, application/taxii+json;version=2.1;q=0.9",
            "*/*",
        ] {
            assert!(check_accept(&headers(ACCEPT, ok)).is_ok(), "{ok}");
        }
        assert!(check_accept(&HeaderMap::new()).is_ok());
        for bad in [
            "application/taxii+json;version=2.0",
            "application/json",
            "application/stix+json;version=2.1",
        ] {
            assert!(
                matches!(
                    check_accept(&headers(ACCEPT, bad)),
                    Err(TaxiiError::NotAcceptable(_))
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn content_type() {
        assert!(check_content_type(&headers(CONTENT_TYPE, TAXII)).is_ok());
        assert!(check_content_type(&headers(CONTENT_TYPE, "application/taxii+json")).is_ok());
        for bad in ["application/json", "application/taxii+json;version=2.0", ""] {
            assert!(matches!(
                check_content_type(&headers(CONTENT_TYPE, bad)),
                Err(TaxiiError::UnsupportedMediaType(_))
            ));
        }
        assert!(check_content_type(&HeaderMap::new()).is_err());
    }
}
