//! Plaintext serving: only when asked for, only on loopback, and callers still need a party
//! name the log knows (and partners' signatures for anything they write).

mod common;

use borderlog::client;
use borderlog::pb::{self, ledger_client::LedgerClient};
use borderlog::service::{Node, NodeConfig, ServiceError};
use common::*;
use tonic::Code;

fn plaintext_config(dir: &std::path::Path) -> NodeConfig {
    let keys = init_keys(dir);
    let mut config = NodeConfig::new(&keys, dir.join("data"));
    config.plaintext = true;
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plaintext_on_loopback_serves_callers_that_name_themselves() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_config(plaintext_config(dir.path()), Backend::Embedded).await;
    let url = format!("http://{}", server.addr);

    // The CLI's client names its party in a header on http:// addresses.
    let mut sender = client::connect(&url, &server.keys, SENDER).await.unwrap();
    let receipt = sender
        .submit(submission(&server.keys, 1))
        .await
        .unwrap()
        .into_inner();
    client::verify_receipt(&receipt, &server.log).unwrap();

    // Roles still hold: the auditor may not submit, even in plaintext.
    let mut auditor = client::connect(&url, &server.keys, AUDITOR).await.unwrap();
    let status = auditor
        .submit(submission(&server.keys, 2))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");

    // No name, or a name the log does not know: unauthenticated.
    let channel = client::channel(&url, &server.keys, AUDITOR).await.unwrap();
    let status = LedgerClient::new(channel)
        .get_checkpoint(pb::GetCheckpointRequest::default())
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    assert!(status.message().contains("borderlog-as"), "{status:?}");
    let mut stranger = client::connect(&url, &server.keys, "mallory")
        .await
        .unwrap();
    let status = stranger
        .get_checkpoint(pb::GetCheckpointRequest::default())
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");

    // A mutual-TLS client gets nowhere on a plaintext port.
    let tls = client::connect(&server.addr, &server.keys, AUDITOR).await;
    match tls {
        Err(_) => {}
        Ok(mut api) => {
            assert!(
                api.get_checkpoint(pb::GetCheckpointRequest::default())
                    .await
                    .is_err()
            );
        }
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plaintext_is_refused_off_loopback_and_the_header_means_nothing_over_tls() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::open(plaintext_config(dir.path())).await.unwrap();
    let listener = tokio::net::TcpListener::bind("0.0.0.0:0").await.unwrap();
    let err = node.run(listener, async {}).await.unwrap_err();
    assert!(
        matches!(err, ServiceError::PlaintextNotLoopback(_)),
        "{err}"
    );

    // Over mutual TLS the certificate names the caller; a header claiming otherwise is ignored.
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), Backend::Embedded).await;
    let channel = client::channel(&server.addr, &server.keys, AUDITOR)
        .await
        .unwrap();
    let mut request = tonic::Request::new(submission(&server.keys, 3));
    request
        .metadata_mut()
        .insert(client::PLAINTEXT_IDENTITY_HEADER, SENDER.parse().unwrap());
    let status = LedgerClient::new(channel)
        .submit(request)
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    server.stop().await;
}
