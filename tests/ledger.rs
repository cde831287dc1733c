//! The ledger end to end over real gRPC with mutual TLS on loopback: submit, acknowledge,
//! read back, restart, and many submitters at once. Each test runs on both backends
//! (`name::embedded`, `name::postgres`: `both_backends!` in tests/common/mod.rs).

mod common;

use borderlog::client::{self, verify_receipt};
use borderlog::format::hash::hash_from_slice;
use borderlog::format::{LeafIndex, TreeSize, consistency, entry};
use borderlog::identity::keys::load_signing_key;
use borderlog::pb::{self, get_inclusion_proof_request::Leaf};
use common::*;

both_backends!(submit_acknowledge_and_restart);
async fn submit_acknowledge_and_restart(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), backend).await;
    let mut sender = server.client(SENDER).await;

    // Submit: the receipt's proof verifies against the log-signed checkpoint.
    let receipt = sender
        .submit(submission(&server.keys, 1))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        receipt.index, 2,
        "entry 0 is the genesis, entry 1 the sender's screening policy"
    );
    let checkpoint = verify_receipt(&receipt, &server.log).expect("receipt verifies");
    assert_eq!(checkpoint.size, 3);
    let decoded = entry::decode(&receipt.entry).unwrap();
    assert!(matches!(decoded.kind, Some(pb::entry::Kind::Disclosure(_))));

    // Acknowledge as the recipient.
    let mut recipient = server.client(RECIPIENT).await;
    let key = load_signing_key(&server.keys, RECIPIENT).unwrap();
    let leaf = hash_from_slice(&receipt.leaf_hash).unwrap();
    let ack = recipient
        .acknowledge(client::sign_receipt(&key, LeafIndex(2), &leaf))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(ack.index, 3);
    verify_receipt(&ack, &server.log).unwrap();
    match entry::decode(&ack.entry).unwrap().kind {
        Some(pb::entry::Kind::Receipt(r)) => {
            assert_eq!(r.disclosure_index, 2);
            assert_eq!(r.recipient, RECIPIENT);
        }
        other => panic!("expected a receipt entry, got {other:?}"),
    }
    // A second receipt for the same disclosure is refused.
    let again = recipient
        .acknowledge(client::sign_receipt(&key, LeafIndex(2), &leaf))
        .await
        .unwrap_err();
    assert_eq!(again.code(), tonic::Code::AlreadyExists);

    // The recipient sees the payload; the auditor sees only the commitment.
    let seen = recipient
        .get_entry(pb::GetEntryRequest { index: 2 })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        seen.items[0].payload.as_ref().unwrap().content,
        indicator(1)
    );
    let mut auditor = server.client(AUDITOR).await;
    let audited = auditor
        .get_entry(pb::GetEntryRequest { index: 2 })
        .await
        .unwrap()
        .into_inner();
    assert!(audited.items[0].payload.is_none());
    assert!(!audited.items[0].withheld.is_empty());

    // Inclusion by leaf hash, and consistency between the first two checkpoints.
    let by_hash = auditor
        .get_inclusion_proof(pb::GetInclusionProofRequest {
            leaf: Some(Leaf::LeafHash(receipt.leaf_hash.clone())),
            tree_size: 0,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(by_hash.index, 2);
    assert_eq!(by_hash.tree_size, 4);
    let (before, _) = verify_chain(&mut auditor, &server.log).await;
    let proof = auditor
        .get_consistency_proof(pb::GetConsistencyProofRequest {
            old_size: 3,
            new_size: 4,
        })
        .await
        .unwrap()
        .into_inner();
    let hashes: Vec<_> = proof
        .hashes
        .iter()
        .map(|h| hash_from_slice(h).unwrap())
        .collect();
    consistency::verify(
        TreeSize(3),
        TreeSize(4),
        &checkpoint.root,
        &before.root,
        &hashes,
    )
    .unwrap();

    // Restart on the same data: same root, same entries.
    let (keys, data) = (server.keys.clone(), server.data.clone());
    server.stop().await;
    let server = TestServer::start_with(&keys, &data, backend).await;
    let mut auditor = server.client(AUDITOR).await;
    let (after, _) = verify_chain(&mut auditor, &server.log).await;
    assert_eq!(after.size, before.size);
    assert_eq!(after.root, before.root);
    let again = auditor
        .get_entry(pb::GetEntryRequest { index: 2 })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again.entry, receipt.entry);
    server.stop().await;
}

both_backends!(two_hundred_concurrent_submitters_share_one_chain);
async fn two_hundred_concurrent_submitters_share_one_chain(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), backend).await;
    let api = server.client(SENDER).await;
    let mut tasks = Vec::new();
    for n in 0..200 {
        let mut api = api.clone();
        let request = submission(&server.keys, n);
        tasks.push(tokio::spawn(async move {
            api.submit(request).await.map(|r| r.into_inner())
        }));
    }
    let mut indexes = std::collections::BTreeSet::new();
    for task in tasks {
        let receipt = task.await.unwrap().expect("every submission is accepted");
        verify_receipt(&receipt, &server.log).expect("every proof verifies");
        assert!(
            indexes.insert(receipt.index),
            "index {} given twice",
            receipt.index
        );
    }
    assert_eq!(indexes.len(), 200);
    // Entry 0 is the genesis, entry 1 the sender's screening policy.
    assert_eq!(indexes.first(), Some(&2));
    assert_eq!(indexes.last(), Some(&201));
    let mut auditor = server.client(AUDITOR).await;
    let (checkpoint, _) = verify_chain(&mut auditor, &server.log).await;
    assert_eq!(checkpoint.size, 202);
    let batches = server
        .node
        .sequencer()
        .stats()
        .batches
        .load(std::sync::atomic::Ordering::Relaxed);
    assert!(
        batches < 202,
        "group commit put several submissions in one batch ({batches} batches)"
    );
    server.stop().await;
}

both_backends!(partners_see_only_their_own_entries);
async fn partners_see_only_their_own_entries(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), backend).await;
    let mut sender = server.client(SENDER).await;
    let receipt = sender
        .submit(submission(&server.keys, 7))
        .await
        .unwrap()
        .into_inner();
    // A partner may not list another party's entries.
    let mut recipient = server.client(RECIPIENT).await;
    let Err(err) = recipient
        .list_entries(pb::ListEntriesRequest {
            party: SENDER.into(),
            ..Default::default()
        })
        .await
    else {
        panic!("listing another party's entries must be refused");
    };
    assert_eq!(err.code(), tonic::Code::PermissionDenied);
    // The compliance officer reads metadata but no payload.
    let mut compliance = server.client("compliance").await;
    let e = compliance
        .get_entry(pb::GetEntryRequest {
            index: receipt.index,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!e.items.is_empty());
    assert!(e.items.iter().all(|i| i.payload.is_none()));
    server.stop().await;
}

both_backends!(health_and_reflection_serve_generic_tools);
async fn health_and_reflection_serve_generic_tools(backend: Backend) {
    use tokio_stream::StreamExt;
    use tonic_health::pb::{
        HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
    };
    use tonic_reflection::pb::v1::{
        ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
        server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
    };

    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), backend).await;
    let channel = client::channel(&server.addr, &server.keys, AUDITOR)
        .await
        .unwrap();
    let health = HealthClient::new(channel.clone())
        .check(HealthCheckRequest {
            service: "borderlog.v1.Ledger".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(health.status(), ServingStatus::Serving);

    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut responses = ServerReflectionClient::new(channel.clone())
        .server_reflection_info(tokio_stream::iter(vec![request]))
        .await
        .unwrap()
        .into_inner();
    let Some(Ok(response)) = responses.next().await else {
        panic!("no reflection answer")
    };
    let Some(MessageResponse::ListServicesResponse(list)) = response.message_response else {
        panic!("unexpected reflection answer")
    };
    let names: Vec<_> = list.service.iter().map(|s| s.name.as_str()).collect();
    assert!(names.contains(&"borderlog.v1.Ledger"), "{names:?}");
    assert!(names.contains(&"grpc.health.v1.Health"), "{names:?}");

    // The older v1alpha protocol too (older grpcurl speaks only it): the same services, and
    // the file that defines Submit.
    use tonic_reflection::pb::v1alpha::{
        ServerReflectionRequest as AlphaRequest,
        server_reflection_client::ServerReflectionClient as AlphaClient,
        server_reflection_request::MessageRequest as AlphaMessageRequest,
        server_reflection_response::MessageResponse as AlphaMessageResponse,
    };
    let requests = vec![
        AlphaRequest {
            host: String::new(),
            message_request: Some(AlphaMessageRequest::ListServices(String::new())),
        },
        AlphaRequest {
            host: String::new(),
            message_request: Some(AlphaMessageRequest::FileContainingSymbol(
                "borderlog.v1.Ledger".into(),
            )),
        },
    ];
    let mut responses = AlphaClient::new(channel)
        .server_reflection_info(tokio_stream::iter(requests))
        .await
        .unwrap()
        .into_inner();
    let Some(Ok(response)) = responses.next().await else {
        panic!("no v1alpha reflection answer")
    };
    let Some(AlphaMessageResponse::ListServicesResponse(list)) = response.message_response else {
        panic!("unexpected v1alpha reflection answer")
    };
    let alpha: Vec<_> = list.service.iter().map(|s| s.name.as_str()).collect();
    for service in [
        "borderlog.v1.Ledger",
        "borderlog.v1.Audit",
        "grpc.health.v1.Health",
    ] {
        assert!(alpha.contains(&service), "{alpha:?}");
    }
    let Some(Ok(response)) = responses.next().await else {
        panic!("no v1alpha file answer")
    };
    let Some(AlphaMessageResponse::FileDescriptorResponse(files)) = response.message_response
    else {
        panic!("unexpected v1alpha reflection answer")
    };
    let file = <prost_types::FileDescriptorProto as prost::Message>::decode(
        files.file_descriptor_proto[0].as_slice(),
    )
    .unwrap();
    assert!(
        file.service
            .iter()
            .flat_map(|s| &s.method)
            .any(|m| m.name() == "Submit"),
        "{file:?}"
    );
    server.stop().await;
}
