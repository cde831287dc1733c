//! The TAXII layer's errors and their answer: an error message resource (specification
//! section 3.6.1) with the HTTP status, as `application/taxii+json;version=2.1`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use thiserror::Error;

use super::media;
use crate::service::RequestError;

/// Why a TAXII request was not served. Each variant is one HTTP status.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum TaxiiError {
    /// 400: a parameter or body that does not parse.
    #[error("{0}")]
    BadRequest(String),
    /// 401: no credentials, or wrong ones (answered with `WWW-Authenticate: Basic`).
    #[error("{0}")]
    Unauthorized(String),
    /// 403: authenticated, but the party may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// 404: no such API root, collection, object or status (or not visible to the caller).
    #[error("{0}")]
    NotFound(String),
    /// 405: the resource exists but not with this method.
    #[error("{0}")]
    MethodNotAllowed(String),
    /// 406: the client accepts no media type the server sends.
    #[error("{0}")]
    NotAcceptable(String),
    /// 413: the request body is larger than the API root's `max_content_length`.
    #[error("{0}")]
    TooLarge(String),
    /// 415: the request body is not TAXII 2.1.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// 422: the body parses but cannot be processed (not an envelope of STIX objects).
    #[error("{0}")]
    Unprocessable(String),
    /// 429: the caller is over its request rate.
    #[error("{0}")]
    TooManyRequests(String),
    /// 500: the server failed; the message names what, never a request value.
    #[error("{0}")]
    Internal(String),
    /// 503: a service the request needs (the ledger, for the gateway) is unavailable.
    #[error("{0}")]
    Unavailable(String),
}

impl TaxiiError {
    /// The HTTP status and the error resource's title.
    fn status(&self) -> (StatusCode, &'static str) {
        match self {
            TaxiiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "Bad request"),
            TaxiiError::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "Authentication required"),
            TaxiiError::Forbidden(_) => (StatusCode::FORBIDDEN, "Forbidden"),
            TaxiiError::NotFound(_) => (StatusCode::NOT_FOUND, "Not found"),
            TaxiiError::MethodNotAllowed(_) => {
                (StatusCode::METHOD_NOT_ALLOWED, "Method not allowed")
            }
            TaxiiError::NotAcceptable(_) => (StatusCode::NOT_ACCEPTABLE, "Not acceptable"),
            TaxiiError::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "Request too large"),
            TaxiiError::UnsupportedMediaType(_) => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "Unsupported media type")
            }
            TaxiiError::Unprocessable(_) => (StatusCode::UNPROCESSABLE_ENTITY, "Unprocessable"),
            TaxiiError::TooManyRequests(_) => (StatusCode::TOO_MANY_REQUESTS, "Too many requests"),
            TaxiiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "Server error"),
            TaxiiError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "Unavailable"),
        }
    }
}

impl IntoResponse for TaxiiError {
    fn into_response(self) -> Response {
        let (status, title) = self.status();
        let body = serde_json::json!({
            "title": title,
            "description": self.to_string(),
            // A string in TAXII 2.1's error message resource.
            "http_status": status.as_u16().to_string(),
        });
        let mut response = (status, json_body(&body)).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"borderlog TAXII\", charset=\"UTF-8\""),
            );
        }
        response
    }
}

/// A TAXII resource as the response body, with the TAXII 2.1 media type.
pub fn json_body(value: &serde_json::Value) -> Response {
    taxii_bytes(serde_json::to_vec(value).unwrap_or_default())
}

/// Bytes already serialised as a TAXII resource, with the TAXII 2.1 media type.
pub fn taxii_bytes(bytes: Vec<u8>) -> Response {
    (
        [(header::CONTENT_TYPE, HeaderValue::from_static(media::TAXII))],
        bytes,
    )
        .into_response()
}

impl From<tonic::Status> for TaxiiError {
    fn from(status: tonic::Status) -> Self {
        let text = status.message().to_owned();
        match status.code() {
            tonic::Code::InvalidArgument | tonic::Code::OutOfRange => TaxiiError::BadRequest(text),
            tonic::Code::Unauthenticated => TaxiiError::Unauthorized(text),
            tonic::Code::PermissionDenied => TaxiiError::Forbidden(text),
            tonic::Code::NotFound => TaxiiError::NotFound(text),
            tonic::Code::ResourceExhausted => TaxiiError::TooManyRequests(text),
            tonic::Code::FailedPrecondition => TaxiiError::Unprocessable(text),
            tonic::Code::Unavailable => TaxiiError::Unavailable(text),
            _ => TaxiiError::Internal(text),
        }
    }
}

impl From<RequestError> for TaxiiError {
    fn from(e: RequestError) -> Self {
        tonic::Status::from(e).into()
    }
}

impl From<crate::store::StoreError> for TaxiiError {
    fn from(e: crate::store::StoreError) -> Self {
        TaxiiError::Internal(format!("store: {e}"))
    }
}
