//! Prometheus metrics: what was appended, batched and refused, and how calls ended, served on
//! a loopback port of their own.

mod common;

use borderlog::metrics;
use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// `GET /metrics` over plain HTTP/1.1, as a scraper does.
async fn scrape(addr: std::net::SocketAddr) -> String {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    response
}

fn has_line(text: &str, prefix: &str, value: &str) -> bool {
    text.lines()
        .any(|l| l.starts_with(prefix) && l.split_whitespace().last() == Some(value))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_appends_batches_refusals_and_calls() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), Backend::Embedded).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let metrics_addr = listener.local_addr().unwrap();
    tokio::spawn(metrics::serve(
        server.node.metrics().clone(),
        listener,
        std::future::pending(),
    ));

    let mut sender = server.client(SENDER).await;
    sender.submit(submission(&server.keys, 1)).await.unwrap();
    let mut inside = indicator_json(2);
    inside["pattern"] = "[ipv4-addr:value = '192.168.7.7']".into();
    let key = borderlog::identity::load_signing_key(&server.keys, SENDER).unwrap();
    let leaky = borderlog::client::prepare_submission(
        &key,
        &header(),
        vec![serde_json::to_vec(&inside).unwrap()],
        now_ms(),
    )
    .unwrap();
    sender.submit(leaky).await.unwrap_err();

    let text = scrape(metrics_addr).await;
    assert!(
        has_line(
            &text,
            "borderlog_entries_appended_total{kind=\"ENTRY_KIND_DISCLOSURE\"}",
            "1"
        ),
        "{text}"
    );
    assert!(
        has_line(
            &text,
            "borderlog_entries_appended_total{kind=\"ENTRY_KIND_REFUSAL\"}",
            "1"
        ),
        "{text}"
    );
    assert!(
        has_line(
            &text,
            "borderlog_refusal_findings_total{rule=\"inside.ip/1\"}",
            "1"
        ),
        "{text}"
    );
    assert!(
        has_line(
            &text,
            "borderlog_requests_total{call=\"Submit\",code=\"Ok\"}",
            "1"
        ),
        "{text}"
    );
    assert!(
        has_line(
            &text,
            "borderlog_requests_total{call=\"Submit\",code=\"FailedPrecondition\"}",
            "1"
        ),
        "{text}"
    );
    // Genesis, the policy, the disclosure and the refusal.
    assert!(has_line(&text, "borderlog_log_size ", "4"), "{text}");
    assert!(text.contains("borderlog_batch_seconds_bucket"), "{text}");
    // No value from a request ever becomes a label.
    assert!(!text.contains("192.168"), "{text}");
    server.stop().await;
}

#[tokio::test]
async fn metrics_are_served_on_loopback_only() {
    let node_metrics = std::sync::Arc::new(metrics::Metrics::new());
    let listener = tokio::net::TcpListener::bind("0.0.0.0:0").await.unwrap();
    let err = metrics::serve(node_metrics, listener, std::future::pending())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("loopback"), "{err}");
}
