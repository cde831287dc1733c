//! Bad input gets the right gRPC status, a message that says what to fix, and appends nothing.
//! Each test runs on both backends
//! (`name::embedded`, `name::postgres`: `both_backends!` in tests/common/mod.rs).

mod common;

use borderlog::client;
use borderlog::format::signature::{self, Purpose};
use borderlog::identity;
use borderlog::pb::{self, ledger_client::LedgerClient};
use common::*;
use prost::Message;
use tonic::Code;
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint};

/// Submits `request` as `who`, expects `code` with `hint` in the message, and checks the log
/// did not grow.
async fn refused(
    server: &TestServer,
    who: &str,
    request: pb::SubmitRequest,
    code: Code,
    hint: &str,
) {
    let before = server.node.store().size();
    let mut api = server.client(who).await;
    let status = api.submit(request).await.expect_err("must be refused");
    assert_eq!(
        status.code(),
        code,
        "status for {hint:?}: {}",
        status.message()
    );
    assert!(
        status.message().contains(hint),
        "message {:?} should mention {hint:?}",
        status.message()
    );
    assert_eq!(server.node.store().size(), before, "nothing was appended");
}

fn resign(
    request: &mut pb::SubmitRequest,
    body: &pb::DisclosureBody,
    keys: &std::path::Path,
    who: &str,
) {
    request.body = body.encode_to_vec();
    let key = identity::keys::load_signing_key(keys, who).unwrap();
    request.signature = signature::sign(&key, Purpose::Disclosure, &request.body).to_vec();
}

both_backends!(every_bad_submission_is_refused_and_changes_nothing);
async fn every_bad_submission_is_refused_and_changes_nothing(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), backend).await;
    let keys = server.keys.clone();

    // Body signed by another key (the recipient's).
    let mut r = submission(&keys, 1);
    let other = identity::keys::load_signing_key(&keys, RECIPIENT).unwrap();
    r.signature = signature::sign(&other, Purpose::Disclosure, &r.body).to_vec();
    refused(&server, SENDER, r, Code::InvalidArgument, "does not verify").await;

    // Unsigned body.
    let mut r = submission(&keys, 2);
    r.signature.clear();
    refused(&server, SENDER, r, Code::InvalidArgument, "signature").await;

    // Sender is not the authenticated partner: the recipient submits the sender's body.
    refused(
        &server,
        RECIPIENT,
        submission(&keys, 3),
        Code::PermissionDenied,
        "Submit",
    )
    .await;

    // A body naming someone else as sender, from the sender's connection.
    let mut r = submission(&keys, 4);
    let mut body = pb::DisclosureBody::decode(r.body.as_slice()).unwrap();
    body.sender = RECIPIENT.into();
    resign(&mut r, &body, &keys, RECIPIENT);
    refused(
        &server,
        SENDER,
        r,
        Code::PermissionDenied,
        "client certificate",
    )
    .await;

    // Unknown recipient.
    let mut r = submission(&keys, 5);
    let mut body = pb::DisclosureBody::decode(r.body.as_slice()).unwrap();
    body.recipient = "interpol-unknown".into();
    resign(&mut r, &body, &keys, SENDER);
    refused(&server, SENDER, r, Code::InvalidArgument, "not a party").await;

    // Payload not matching its commitment.
    let mut r = submission(&keys, 6);
    r.items[0].content = indicator(66);
    refused(&server, SENDER, r, Code::InvalidArgument, "commitment").await;

    // Malformed JSON, correctly committed and signed.
    let key = identity::keys::load_signing_key(&keys, SENDER).unwrap();
    let mut r = client::prepare_submission(&key, &header(), vec![indicator(7)], now_ms()).unwrap();
    let salt: [u8; 32] = r.items[0].salt.as_slice().try_into().unwrap();
    let broken = b"{\"type\": \"indicator\", \"id\": ".to_vec();
    let mut body = pb::DisclosureBody::decode(r.body.as_slice()).unwrap();
    body.items[0].commitment = borderlog::format::hash::item_commitment(&salt, &broken).to_vec();
    r.items[0].content = broken;
    resign(&mut r, &body, &keys, SENDER);
    refused(&server, SENDER, r, Code::InvalidArgument, "JSON").await;

    // Oversize message: a 5 MiB item is over the 4 MiB message limit.
    let mut r = submission(&keys, 8);
    r.items[0].content = vec![b' '; 5 << 20];
    let before = server.node.store().size();
    let status = server.client(SENDER).await.submit(r).await.unwrap_err();
    assert!(
        matches!(status.code(), Code::ResourceExhausted | Code::OutOfRange),
        "oversize message: {status:?}"
    );
    assert_eq!(server.node.store().size(), before);

    // Replayed nonce: the same signed submission twice.
    let r = submission(&keys, 9);
    server
        .client(SENDER)
        .await
        .submit(r.clone())
        .await
        .expect("first submission is accepted");
    refused(&server, SENDER, r, Code::AlreadyExists, "nonce").await;

    // Ill-formed nonce.
    let mut r = submission(&keys, 10);
    let mut body = pb::DisclosureBody::decode(r.body.as_slice()).unwrap();
    body.nonce = vec![1, 2, 3];
    resign(&mut r, &body, &keys, SENDER);
    refused(&server, SENDER, r, Code::InvalidArgument, "nonce").await;

    // Body that is not a DisclosureBody at all.
    let mut r = submission(&keys, 11);
    r.body = vec![0xff; 7];
    refused(&server, SENDER, r, Code::InvalidArgument, "DisclosureBody").await;

    server.stop().await;
}

both_backends!(a_client_without_a_certificate_is_unauthenticated);
async fn a_client_without_a_certificate_is_unauthenticated(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), backend).await;
    let ca = std::fs::read(server.keys.join("ca.crt")).unwrap();
    let tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(ca))
        .domain_name("localhost");
    let channel = Endpoint::from_shared(format!("https://{}", server.addr))
        .unwrap()
        .tls_config(tls)
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut api = LedgerClient::new(channel);
    let status = api
        .get_checkpoint(pb::GetCheckpointRequest { tree_size: 0 })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    assert!(status.message().contains("certificate"));
    let before = server.node.store().size();
    let status = api.submit(submission(&server.keys, 1)).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    assert_eq!(server.node.store().size(), before);
    server.stop().await;
}

both_backends!(bad_acknowledgements_are_refused);
async fn bad_acknowledgements_are_refused(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), backend).await;
    let receipt = server
        .client(SENDER)
        .await
        .submit(submission(&server.keys, 1))
        .await
        .unwrap()
        .into_inner();
    let leaf: [u8; 32] = receipt.leaf_hash.as_slice().try_into().unwrap();
    let recipient_key = identity::keys::load_signing_key(&server.keys, RECIPIENT).unwrap();
    let sender_key = identity::keys::load_signing_key(&server.keys, SENDER).unwrap();
    let mut recipient = server.client(RECIPIENT).await;
    let before = server.node.store().size();

    // Signed by the wrong key.
    let bad = client::sign_receipt(
        &sender_key,
        borderlog::format::LeafIndex(receipt.index),
        &leaf,
    );
    assert_eq!(
        recipient.acknowledge(bad).await.unwrap_err().code(),
        Code::InvalidArgument
    );
    // The sender may not acknowledge its own disclosure.
    let own = client::sign_receipt(
        &sender_key,
        borderlog::format::LeafIndex(receipt.index),
        &leaf,
    );
    assert_eq!(
        server
            .client(SENDER)
            .await
            .acknowledge(own)
            .await
            .unwrap_err()
            .code(),
        Code::PermissionDenied
    );
    // No such entry.
    let missing = client::sign_receipt(&recipient_key, borderlog::format::LeafIndex(99), &leaf);
    assert_eq!(
        recipient.acknowledge(missing).await.unwrap_err().code(),
        Code::NotFound
    );
    // The genesis is not a disclosure.
    let genesis = client::sign_receipt(&recipient_key, borderlog::format::LeafIndex(0), &leaf);
    assert_eq!(
        recipient.acknowledge(genesis).await.unwrap_err().code(),
        Code::FailedPrecondition
    );
    // A leaf hash that is not the stored one.
    let wrong = client::sign_receipt(
        &recipient_key,
        borderlog::format::LeafIndex(receipt.index),
        &[7; 32],
    );
    assert_eq!(
        recipient.acknowledge(wrong).await.unwrap_err().code(),
        Code::InvalidArgument
    );
    assert_eq!(server.node.store().size(), before, "nothing was appended");

    // Proofs beyond the log are refused with a clear message.
    let mut auditor = server.client(AUDITOR).await;
    let status = auditor
        .get_consistency_proof(pb::GetConsistencyProofRequest {
            old_size: 5,
            new_size: 2,
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    let status = auditor
        .get_checkpoint(pb::GetCheckpointRequest { tree_size: 1000 })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    server.stop().await;
}

both_backends!(a_bad_signature_among_concurrent_submits_is_refused_alone);
/// Unary Submits that arrive together have their signatures verified as one batch: a bad one
/// among them still gets its own error, and the others their receipts.
async fn a_bad_signature_among_concurrent_submits_is_refused_alone(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), backend).await;
    let api = server.client(SENDER).await;
    let bad = [7, 23];
    let calls: Vec<_> = (0..40u64)
        .map(|n| {
            let mut request = submission(&server.keys, n);
            if bad.contains(&n) {
                // Signed over another body.
                request.signature = submission(&server.keys, n + 100).signature;
            }
            let mut api = api.clone();
            tokio::spawn(async move { api.submit(request).await })
        })
        .collect();
    for (n, call) in calls.into_iter().enumerate() {
        match call.await.unwrap() {
            Ok(receipt) if !bad.contains(&(n as u64)) => {
                client::verify_receipt(&receipt.into_inner(), &server.log)
                    .expect("every receipt verifies");
            }
            Err(status) if bad.contains(&(n as u64)) => {
                assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
                assert!(status.message().contains("signature"), "{status:?}");
            }
            other => panic!("submission {n}: {other:?}"),
        }
    }
    server.stop().await;
}
