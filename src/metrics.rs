//! Prometheus metrics of a node, served as OpenMetrics text on their own loopback port
//! (`serve --metrics-addr`), so scraping never shares a port with the partners' traffic and
//! never needs their certificates.
//!
//! Labels carry only names fixed by the code or the genesis entry (call names, status codes,
//! entry kinds, rule ids) — never a value from a request.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// A label set: (name, value) pairs.
type Labels = Vec<(&'static str, String)>;

/// Every metric a node keeps, and the registry that renders them.
pub struct Metrics {
    registry: Registry,
    /// Entries appended, by kind.
    pub appended: Family<Labels, Counter>,
    /// Batches written (one fdatasync and one signed checkpoint each).
    pub batches: Counter,
    /// Entries per batch.
    pub batch_entries: Histogram,
    /// Seconds per batch for write + fdatasync + index.
    pub batch_seconds: Histogram,
    /// Batches that could not be made durable (the store failed).
    pub batch_failures: Counter,
    /// Entries in the log.
    pub log_size: Gauge,
    /// Findings of refused submissions, by rule id.
    pub refusals: Family<Labels, Counter>,
    /// Finished gRPC calls, by call and status code.
    pub requests: Family<Labels, Counter>,
    /// Signatures in requests that did not verify, by call (forgeries, wrong keys).
    pub signature_failures: Family<Labels, Counter>,
}

impl Metrics {
    /// A fresh set of metrics, registered under the `borderlog_` prefix.
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("borderlog");
        let appended = Family::<Labels, Counter>::default();
        registry.register(
            "entries_appended",
            "Entries appended, by kind",
            appended.clone(),
        );
        let batches = Counter::default();
        registry.register(
            "batches",
            "Batches made durable (one fdatasync and one checkpoint each)",
            batches.clone(),
        );
        let batch_entries = Histogram::new(exponential_buckets(1.0, 2.0, 13));
        registry.register("batch_entries", "Entries per batch", batch_entries.clone());
        let batch_seconds = Histogram::new(exponential_buckets(0.000_05, 2.0, 16));
        registry.register(
            "batch_seconds",
            "Seconds per batch for segment write, fdatasync and index",
            batch_seconds.clone(),
        );
        let batch_failures = Counter::default();
        registry.register(
            "batch_failures",
            "Batches that could not be made durable; none of their entries was acknowledged",
            batch_failures.clone(),
        );
        let log_size = Gauge::default();
        registry.register("log_size", "Entries in the log", log_size.clone());
        let refusals = Family::<Labels, Counter>::default();
        registry.register(
            "refusal_findings",
            "Findings of submissions the boundary guard refused, by rule",
            refusals.clone(),
        );
        let requests = Family::<Labels, Counter>::default();
        registry.register(
            "requests",
            "Finished gRPC calls, by call and status code",
            requests.clone(),
        );
        let signature_failures = Family::<Labels, Counter>::default();
        registry.register(
            "signature_failures",
            "Request signatures that did not verify, by call",
            signature_failures.clone(),
        );
        Metrics {
            registry,
            appended,
            batches,
            batch_entries,
            batch_seconds,
            batch_failures,
            log_size,
            refusals,
            requests,
            signature_failures,
        }
    }

    /// Counts one finished call.
    pub fn request(&self, call: &'static str, code: tonic::Code) {
        self.requests
            .get_or_create(&vec![
                ("call", call.to_owned()),
                ("code", format!("{code:?}")),
            ])
            .inc();
    }

    /// Counts a request signature that did not verify.
    pub fn signature_failure(&self, call: &'static str) {
        self.signature_failures
            .get_or_create(&vec![("call", call.to_owned())])
            .inc();
    }

    /// One label set with a single pair, for the families keyed by one name.
    pub fn label(name: &'static str, value: impl Into<String>) -> Labels {
        vec![(name, value.into())]
    }

    /// The metrics as OpenMetrics text.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

/// Serves `GET /metrics` on `listener` until `shutdown` completes. Only loopback addresses are
/// accepted: the counts name parties and rules, which is nobody else's business.
pub async fn serve(
    metrics: Arc<Metrics>,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let local: SocketAddr = listener.local_addr()?;
    if !local.ip().is_loopback() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("metrics are only served on a loopback address, not on {local}"),
        ));
    }
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let metrics = metrics.clone();
            async move {
                (
                    [(
                        axum::http::header::CONTENT_TYPE,
                        "application/openmetrics-text; version=1.0.0; charset=utf-8",
                    )],
                    metrics.render(),
                )
            }
        }),
    );
    tracing::info!(addr = %local, "serving Prometheus metrics at /metrics");
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}
