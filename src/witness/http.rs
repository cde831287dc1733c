//! C2SP tlog-witness over HTTP, both ways: the `add-checkpoint` endpoint a witness serves
//! (`borderlog witness --serve`), and the client a log uses to ask witnesses for cosignatures.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use http_body_util::{BodyExt as _, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tokio::net::TcpListener;

use super::protocol::{self, AddCheckpoint, SIZE_CONTENT_TYPE};
use super::{Witness, WitnessError, now_secs};
use crate::format::note::NoteSignature;

/// Largest add-checkpoint body accepted: a checkpoint with its signatures and 63 proof lines
/// fit many times over.
const MAX_BODY: usize = 64 << 10;

/// Longest a log waits for one witness's answer.
const TIMEOUT: Duration = Duration::from_secs(10);

/// The witness's HTTP routes: `POST /add-checkpoint`.
pub fn router(witness: Arc<Witness>) -> axum::Router {
    axum::Router::new()
        .route("/add-checkpoint", post(add_checkpoint))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY))
        .with_state(witness)
}

/// Serves the tlog-witness endpoint on `listener` until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    witness: Arc<Witness>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(witness))
        .with_graceful_shutdown(shutdown)
        .await
}

async fn add_checkpoint(State(witness): State<Arc<Witness>>, body: Bytes) -> Response {
    let text = |status: StatusCode, body: String| {
        (
            status,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            body,
        )
            .into_response()
    };
    let request = match std::str::from_utf8(&body)
        .map_err(|_| WitnessError::Malformed("the body is not UTF-8".into()))
        .and_then(AddCheckpoint::parse)
    {
        Ok(r) => r,
        Err(e) => return text(StatusCode::BAD_REQUEST, format!("{e}\n")),
    };
    // Checking, recording (an fsync) and signing are blocking work.
    let decided = tokio::task::spawn_blocking(move || {
        witness.add_checkpoint(
            request.old_size,
            &request.proof,
            &request.checkpoint,
            now_secs(),
        )
    })
    .await;
    match decided {
        Ok(Ok(sig)) => text(StatusCode::OK, protocol::cosignatures_body(&[sig])),
        Ok(Err(e)) if e.http_status() == 409 => {
            if e.is_misbehaviour() {
                tracing::error!("{e}");
            }
            // The body of a 409 is the witness's size, nothing else.
            (
                StatusCode::CONFLICT,
                [(header::CONTENT_TYPE, SIZE_CONTENT_TYPE)],
                format!("{}\n", e.held_size().unwrap_or_default()),
            )
                .into_response()
        }
        Ok(Err(e)) => {
            if e.is_misbehaviour() {
                tracing::error!("{e}");
            } else {
                tracing::warn!("add-checkpoint refused: {e}");
            }
            let status =
                StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            text(status, format!("{e}\n"))
        }
        Err(e) => text(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("the witness failed: {e}\n"),
        ),
    }
}

/// What a witness answered to add-checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// 200: its cosignature lines (unverified: check them against its key).
    Cosigned(Vec<NoteSignature>),
    /// 409 with a size: the size it last cosigned; ask again from there.
    Conflict(u64),
    /// Any other status, with the body it sent (what to fix, or a refusal).
    Refused {
        /// The HTTP status.
        status: u16,
        /// The body, for the operator's log.
        message: String,
    },
}

/// A keep-alive HTTP/1.1 client for witnesses, over http:// or https:// (Mozilla's roots).
#[derive(Clone, Debug)]
pub struct WitnessClient {
    client: Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>,
}

impl Default for WitnessClient {
    fn default() -> Self {
        Self::new()
    }
}

impl WitnessClient {
    /// A new client with its own connection pool.
    pub fn new() -> WitnessClient {
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_webpki_roots()
            .https_or_http()
            .enable_http1()
            .build();
        WitnessClient {
            client: Client::builder(TokioExecutor::new()).build(https),
        }
    }

    /// POSTs `request` to `<url>/add-checkpoint` and reads the answer.
    pub async fn add_checkpoint(
        &self,
        url: &str,
        request: &AddCheckpoint,
    ) -> Result<Answer, WitnessError> {
        let remote = |why: String| WitnessError::Remote {
            url: url.to_owned(),
            why,
        };
        let http_request = axum::http::Request::post(format!("{url}/add-checkpoint"))
            .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
            .body(Full::new(Bytes::from(request.to_body())))
            .map_err(|e| remote(format!("bad request: {e}")))?;
        let exchange = async {
            let response = self
                .client
                .request(http_request)
                .await
                .map_err(|e| remote(format!("request failed: {e}")))?;
            let status = response.status();
            let body = response
                .into_body()
                .collect()
                .await
                .map_err(|e| remote(format!("reading the answer: {e}")))?
                .to_bytes();
            Ok::<_, WitnessError>((status, body))
        };
        let (status, body) = tokio::time::timeout(TIMEOUT, exchange)
            .await
            .map_err(|_| remote(format!("no answer within {TIMEOUT:?}")))??;
        let body = String::from_utf8_lossy(&body).into_owned();
        Ok(match status {
            StatusCode::OK => Answer::Cosigned(protocol::parse_cosignatures(&body)?),
            StatusCode::CONFLICT => match protocol::parse_size_body(&body) {
                Ok(size) => Answer::Conflict(size),
                Err(_) => Answer::Refused {
                    status: 409,
                    message: body,
                },
            },
            other => Answer::Refused {
                status: other.as_u16(),
                message: body,
            },
        })
    }
}
