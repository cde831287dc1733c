//! Hostile input a careful attacker would try, over real mTLS: integers at the ends of their
//! range, bytes that are not the call's message, times past what a date can say. Each gets
//! INVALID_ARGUMENT with a message naming what is wrong, never INTERNAL or a panic, and
//! appends nothing.

mod common;

use borderlog::client;
use borderlog::identity;
use borderlog::pb;
use common::*;
use tokio_stream::StreamExt;
use tonic::Code;
use tonic::codegen::http::uri::PathAndQuery;

/// A submission whose body says the sender signed it at `client_time_ms`.
fn submission_at(keys: &std::path::Path, n: u64, client_time_ms: i64) -> pb::SubmitRequest {
    let key = identity::keys::load_signing_key(keys, SENDER).unwrap();
    client::prepare_submission(&key, &header(), vec![indicator(n)], client_time_ms).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_times_at_the_ends_of_i64_are_refused_not_wrapped() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), Backend::Embedded).await;
    let mut api = server.client(SENDER).await;
    let now = now_ms();
    // i64::MIN + now: `client_time_ms - now` is i64::MIN, whose abs() wrapped to a negative
    // "skew" that passed the check (and panicked in a debug build).
    for (n, time) in [
        i64::MIN,
        i64::MIN + now,
        i64::MIN + 1,
        i64::MAX,
        i64::MAX - 1,
        -1,
        0,
        now + 11 * 60 * 1000,
        now - 11 * 60 * 1000,
    ]
    .into_iter()
    .enumerate()
    {
        let before = server.node.store().size();
        let status = api
            .submit(submission_at(&server.keys, n as u64, time))
            .await
            .expect_err("a time this far off is refused");
        assert_eq!(status.code(), Code::InvalidArgument, "{time}: {status:?}");
        assert!(
            status.message().contains("client_time_ms")
                && status.message().contains("from the server's clock"),
            "{time}: {}",
            status.message()
        );
        assert_eq!(
            server.node.store().size(),
            before,
            "{time}: nothing appended"
        );
    }
    // The check still takes a current time.
    api.submit(submission_at(&server.keys, 100, now_ms()))
        .await
        .unwrap();
    drop(api);
    server.stop().await;
}

/// A message whose field 1 is a fixed32: no request of the API has one, so its bytes decode
/// as no request type ("invalid wire type").
#[derive(Clone, PartialEq, prost::Message)]
struct NotARequest {
    #[prost(fixed32, tag = "1")]
    a: u32,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bytes_that_are_not_the_calls_message_are_invalid_argument() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), Backend::Embedded).await;
    let before = server.node.store().size();
    let channel = client::channel(&server.addr, &server.keys, SENDER)
        .await
        .unwrap();
    let mut grpc = tonic::client::Grpc::new(channel.clone());
    for path in [
        "/borderlog.v1.Ledger/Submit",
        "/borderlog.v1.Ledger/Acknowledge",
        "/borderlog.v1.Ledger/GetEntry",
        "/borderlog.v1.Ledger/ChangeKey",
        "/borderlog.v1.Ledger/FindDisclosure",
        "/borderlog.v1.Witness/AddCosignature",
        "/borderlog.v1.Reports/GetReport",
    ] {
        grpc.ready().await.unwrap();
        let status = grpc
            .unary::<_, pb::LogReceipt, _>(
                tonic::Request::new(NotARequest { a: 7 }),
                PathAndQuery::from_static(path),
                tonic_prost::ProstCodec::default(),
            )
            .await
            .expect_err("garbage is refused");
        assert_eq!(status.code(), Code::InvalidArgument, "{path}: {status:?}");
        assert!(
            status.message().contains("not an encoded message"),
            "{path}: {}",
            status.message()
        );
    }
    for path in [
        "/borderlog.v1.Ledger/ListEntries",
        "/borderlog.v1.Audit/Export",
    ] {
        grpc.ready().await.unwrap();
        let status = match grpc
            .server_streaming::<_, pb::EntryResponse, _>(
                tonic::Request::new(NotARequest { a: 7 }),
                PathAndQuery::from_static(path),
                tonic_prost::ProstCodec::default(),
            )
            .await
        {
            Err(status) => status,
            Ok(stream) => stream
                .into_inner()
                .next()
                .await
                .expect("an answer")
                .expect_err("garbage is refused"),
        };
        assert_eq!(status.code(), Code::InvalidArgument, "{path}: {status:?}");
    }
    assert_eq!(server.node.store().size(), before, "nothing appended");
    // The server's own metrics count them as the client's fault.
    let metrics = server.node.metrics().render();
    assert!(
        metrics.contains(r#"call="Submit",code="InvalidArgument""#),
        "{metrics}"
    );
    assert!(!metrics.contains(r#"code="Internal""#), "{metrics}");
    server.stop().await;
}

/// The call layer establishes the caller before tonic decodes the request: bytes that are
/// not the call's message from a caller the log does not know are UNAUTHENTICATED (a plaintext
/// loopback server, where the caller names itself, so "nobody" can be sent).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_caller_is_authenticated_before_the_request_is_decoded() {
    let dir = tempfile::tempdir().unwrap();
    let keys = init_keys(dir.path());
    let mut config = borderlog::service::NodeConfig::new(&keys, dir.path().join("data"));
    config.plaintext = true;
    let server = TestServer::start_config(config, Backend::Embedded).await;
    let url = format!("http://{}", server.addr);
    let channel = client::channel(&url, &server.keys, SENDER).await.unwrap();
    let call = |name: Option<&'static str>| {
        let channel = channel.clone();
        async move {
            let mut request = tonic::Request::new(NotARequest { a: 7 });
            if let Some(name) = name {
                request
                    .metadata_mut()
                    .insert(client::PLAINTEXT_IDENTITY_HEADER, name.parse().unwrap());
            }
            let mut grpc = tonic::client::Grpc::new(channel);
            grpc.ready().await.unwrap();
            grpc.unary::<_, pb::LogReceipt, _>(
                request,
                PathAndQuery::from_static("/borderlog.v1.Ledger/Submit"),
                tonic_prost::ProstCodec::default(),
            )
            .await
            .expect_err("garbage is refused")
        }
    };
    for nobody in [None, Some("mallory")] {
        let status = call(nobody).await;
        assert_eq!(
            status.code(),
            Code::Unauthenticated,
            "{nobody:?}: {status:?}"
        );
    }
    // The same bytes from the sender, named: now they are decoded, and refused as such.
    let status = call(Some(SENDER)).await;
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_periods_past_year_9999_or_before_1970_are_invalid_argument() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), Backend::Embedded).await;
    let mut reports = client::connect_reports(&server.addr, &server.keys, "compliance")
        .await
        .unwrap();
    let now = now_ms();
    let end_of_9999 = borderlog::clock::MAX_RFC3339_MS;
    for (from_ms, to_ms) in [
        (0, end_of_9999 + 1),
        (0, i64::MAX),
        (i64::MIN, now),
        (-1, now),
        (i64::MAX - 1, i64::MAX),
        (i64::MIN, i64::MAX),
    ] {
        let status = reports
            .get_report(pb::ReportRequest {
                from_ms,
                to_ms,
                ..Default::default()
            })
            .await
            .expect_err("not a period a report can cover");
        assert_eq!(
            status.code(),
            Code::InvalidArgument,
            "[{from_ms}, {to_ms}): {status:?}"
        );
        assert!(
            status.message().contains("not a date from 1970 to 9999"),
            "{}",
            status.message()
        );
    }
    // A period inside the range still works.
    reports
        .get_report(pb::ReportRequest {
            from_ms: 0,
            to_ms: now + 1,
            ..Default::default()
        })
        .await
        .unwrap();
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sizes_and_indexes_at_u64_max_are_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), Backend::Embedded).await;
    let mut api = server.client(SENDER).await;
    api.submit(submission(&server.keys, 1)).await.unwrap();
    let before = server.node.store().size();
    let status = api
        .get_inclusion_proof(pb::GetInclusionProofRequest {
            leaf: Some(pb::get_inclusion_proof_request::Leaf::Index(u64::MAX)),
            tree_size: u64::MAX,
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    let status = api
        .get_inclusion_proof(pb::GetInclusionProofRequest {
            leaf: Some(pb::get_inclusion_proof_request::Leaf::Index(u64::MAX)),
            tree_size: 0,
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    let status = api
        .get_consistency_proof(pb::GetConsistencyProofRequest {
            old_size: u64::MAX,
            new_size: 0,
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    let status = api
        .get_checkpoint(pb::GetCheckpointRequest {
            tree_size: u64::MAX,
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound, "{status:?}");
    let status = api
        .get_entry(pb::GetEntryRequest { index: u64::MAX })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound, "{status:?}");
    // As the recipient, who may acknowledge (the sender would be refused before the index is
    // looked at).
    let status = server
        .client(RECIPIENT)
        .await
        .acknowledge(pb::AcknowledgeRequest {
            disclosure_index: u64::MAX,
            disclosure_leaf_hash: vec![0; 32],
            signature: vec![0; 64],
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound, "{status:?}");
    let status = api
        .redact(pb::RedactRequest {
            disclosure_index: u64::MAX,
            commitment: vec![0; 32],
            reason: "x".into(),
            signature: vec![0; 64],
        })
        .await
        .unwrap_err();
    assert!(
        [Code::InvalidArgument, Code::NotFound].contains(&status.code()),
        "{status:?}"
    );
    let status = api
        .list_expired(pb::ListExpiredRequest { as_of_ms: i64::MIN })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    api.list_expired(pb::ListExpiredRequest { as_of_ms: i64::MAX })
        .await
        .unwrap();
    // ListEntries from u64::MAX: nothing, not an error.
    let mut stream = api
        .list_entries(pb::ListEntriesRequest {
            from_index: u64::MAX,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(stream.next().await.is_none());
    // An export or a cosignature of a checkpoint at u64::MAX: no such checkpoint.
    let mut audit = client::connect_audit(&server.addr, &server.keys, SENDER)
        .await
        .unwrap();
    let status = audit
        .export(pb::ExportRequest {
            tree_size: u64::MAX,
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound, "{status:?}");
    let channel = client::channel(&server.addr, &server.keys, SENDER)
        .await
        .unwrap();
    let status = pb::witness_client::WitnessClient::new(channel)
        .add_cosignature(pb::AddCosignatureRequest {
            tree_size: u64::MAX,
            root_hash: vec![0; 32],
            cosignature: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound, "{status:?}");
    assert_eq!(server.node.store().size(), before, "nothing appended");
    drop(api);
    server.stop().await;
}
