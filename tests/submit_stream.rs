//! SubmitStream over real gRPC and mTLS on loopback: the same checks and the same entries as
//! unary Submit, answers in request order, a failed disclosure answered on an open stream, and
//! the `borderlog submit` command sending many files on one stream. Each test runs on both backends
//! (`name::embedded`, `name::postgres`: `both_backends!` in tests/common/mod.rs).

mod common;

use std::process::Command;

use borderlog::client::{self, verify_receipt};
use borderlog::format::entry;
use borderlog::identity::keys::load_signing_key;
use borderlog::pb;
use common::*;
use prost::Message;
use tokio_stream::StreamExt;
use tonic::Code;
use tonic_types::StatusExt;

/// A signed disclosure whose second item points into a customer's network: the default
/// policy refuses it (inside.ip/1), and a Refusal entry records that.
fn refused(keys: &std::path::Path, n: u64) -> pb::SubmitRequest {
    let key = load_signing_key(keys, SENDER).unwrap();
    let mut inside = indicator_json(n + 1);
    inside["pattern"] = "[ipv4-addr:value = '10.20.30.40']".into();
    let items = vec![indicator(n), serde_json::to_vec(&inside).unwrap()];
    client::prepare_submission(&key, &header(), items, now_ms()).unwrap()
}

/// A disclosure whose signature is of another body.
fn badly_signed(keys: &std::path::Path, n: u64) -> pb::SubmitRequest {
    let mut request = submission(keys, n);
    request.signature = submission(keys, n + 1).signature;
    request
}

/// Sends `requests` on one SubmitStream and collects every answer, in the order received.
async fn stream_all(
    api: &mut client::Api,
    requests: Vec<pb::SubmitRequest>,
) -> Vec<pb::SubmitStreamResponse> {
    let mut answers = api
        .submit_stream(tokio_stream::iter(requests))
        .await
        .expect("stream opens")
        .into_inner();
    let mut got = Vec::new();
    while let Some(answer) = answers.next().await {
        got.push(answer.expect("the stream stays open after a failed disclosure"));
    }
    got
}

/// An answer as unary Submit gives it.
fn as_unary(answer: pb::SubmitStreamResponse) -> Result<pb::LogReceipt, tonic::Status> {
    match answer.result.expect("an answer holds a result") {
        pb::submit_stream_response::Result::Receipt(r) => Ok(r),
        pb::submit_stream_response::Result::Error(e) => Err(client::submit_error_status(&e)),
    }
}

/// The entry's own content: its bytes with the server's time and the chain link left out
/// (the two logs were written at different times).
fn content_of(entry_bytes: &[u8]) -> (u64, Vec<u8>) {
    let e = entry::decode(entry_bytes).unwrap();
    let content = pb::Entry {
        index: e.index,
        time_ms: 0,
        prev_leaf_hash: Vec::new(),
        kind: e.kind,
    };
    (e.index, content.encode_to_vec())
}

/// Every entry of a log after genesis, as [`content_of`], with each item's stored payload.
async fn log_contents(server: &TestServer) -> Vec<((u64, Vec<u8>), Vec<Option<pb::ItemPayload>>)> {
    let mut api = server.client(SENDER).await;
    let size = server.node.store().size().0;
    let mut out = Vec::new();
    for index in 1..size {
        let got = api
            .get_entry(pb::GetEntryRequest { index })
            .await
            .unwrap()
            .into_inner();
        let payloads = got.items.into_iter().map(|i| i.payload).collect();
        out.push((content_of(&got.entry), payloads));
    }
    out
}

both_backends!(streamed_disclosures_make_the_same_entries_and_answers_as_unary_submit);
async fn streamed_disclosures_make_the_same_entries_and_answers_as_unary_submit(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let keys = init_keys(dir.path());
    // The same signed requests (nonces, salts, signatures) to two logs on the same keys.
    let requests = vec![
        submission(&keys, 1),
        refused(&keys, 10),
        badly_signed(&keys, 20),
        submission(&keys, 2),
        submission(&keys, 3),
    ];
    let unary_server = TestServer::start_with(&keys, &dir.path().join("unary"), backend).await;
    let mut api = unary_server.client(SENDER).await;
    let mut unary = Vec::new();
    for request in requests.clone() {
        unary.push(api.submit(request).await.map(tonic::Response::into_inner));
    }
    let stream_server = TestServer::start_with(&keys, &dir.path().join("stream"), backend).await;
    let answers = stream_all(&mut stream_server.client(SENDER).await, requests).await;

    assert_eq!(answers.len(), unary.len(), "one answer per disclosure");
    for (position, (answer, unary)) in answers.into_iter().zip(unary).enumerate() {
        assert_eq!(answer.position, position as u64, "answers in request order");
        match (as_unary(answer), unary) {
            (Ok(streamed), Ok(unary)) => {
                verify_receipt(&streamed, &stream_server.log).expect("the receipt verifies");
                assert_eq!(content_of(&streamed.entry), content_of(&unary.entry));
            }
            (Err(streamed), Err(unary)) => {
                assert_eq!(streamed.code(), unary.code(), "{streamed:?} {unary:?}");
                assert_eq!(streamed.message(), unary.message());
                // The same google.rpc details (ErrorInfo's metadata is a map: compared as one).
                let (a, b) = (streamed.get_error_details(), unary.get_error_details());
                assert_eq!(
                    a.error_info().map(|i| (&i.reason, &i.domain, &i.metadata)),
                    b.error_info().map(|i| (&i.reason, &i.domain, &i.metadata))
                );
                assert_eq!(
                    format!("{:?}", a.precondition_failure()),
                    format!("{:?}", b.precondition_failure())
                );
                assert_eq!(
                    format!("{:?}", a.bad_request()),
                    format!("{:?}", b.bad_request())
                );
            }
            (streamed, unary) => panic!("position {position}: {streamed:?} vs {unary:?}"),
        }
    }
    // Byte for byte the same entries (but for time and chain link), in the same order, and the
    // same payloads stored beside them.
    let (a, b) = (
        log_contents(&unary_server).await,
        log_contents(&stream_server).await,
    );
    assert_eq!(a.len(), 1 + 4, "policy, three disclosures and a refusal");
    assert_eq!(a, b);
    unary_server.stop().await;
    stream_server.stop().await;
}

both_backends!(a_refusal_mid_stream_is_answered_and_the_stream_goes_on_in_order);
async fn a_refusal_mid_stream_is_answered_and_the_stream_goes_on_in_order(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), backend).await;
    let mut requests: Vec<_> = (0..30).map(|n| submission(&server.keys, n)).collect();
    requests[12] = refused(&server.keys, 100);
    requests[13] = badly_signed(&server.keys, 200);
    // A replayed nonce: the same signed body as request 3.
    requests[20] = requests[3].clone();
    let answers = stream_all(&mut server.client(SENDER).await, requests).await;

    assert_eq!(
        answers.len(),
        30,
        "every disclosure answered; the stream ended cleanly"
    );
    let mut last_index = 0;
    for (position, answer) in answers.into_iter().enumerate() {
        assert_eq!(answer.position, position as u64);
        match (position, as_unary(answer)) {
            (12, Err(status)) => {
                assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
                let details = status.get_error_details();
                let info = details.error_info().expect("the refusal's ErrorInfo");
                let at: u64 = info.metadata["refusal_index"].parse().unwrap();
                assert!(at > last_index, "the Refusal entry is in request order");
                last_index = at;
            }
            (13, Err(status)) => {
                assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
                assert!(status.message().contains("signature"), "{status:?}");
            }
            (20, Err(status)) => assert_eq!(status.code(), Code::AlreadyExists, "{status:?}"),
            (_, Ok(receipt)) => {
                verify_receipt(&receipt, &server.log).expect("every receipt verifies");
                assert!(
                    receipt.index > last_index,
                    "entries are appended in request order"
                );
                last_index = receipt.index;
            }
            (position, other) => panic!("position {position}: {other:?}"),
        }
    }
    let (checkpoint, _) = verify_chain(&mut server.client(AUDITOR).await, &server.log).await;
    assert_eq!(checkpoint.size, last_index + 1);
    server.stop().await;
}

both_backends!(only_senders_open_a_stream);
async fn only_senders_open_a_stream(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), backend).await;
    let mut recipient = server.client(RECIPIENT).await;
    let before = server.node.store().size().0;
    let status = recipient
        .submit_stream(tokio_stream::iter(vec![submission(&server.keys, 1)]))
        .await
        .expect_err("a recipient may not submit");
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    assert_eq!(server.node.store().size().0, before, "nothing appended");
    server.stop().await;
}

both_backends!(the_submit_command_sends_a_directory_on_one_stream);
async fn the_submit_command_sends_a_directory_on_one_stream(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), backend).await;
    let feed = dir.path().join("feed");
    std::fs::create_dir(&feed).unwrap();
    for n in 0..12 {
        std::fs::write(feed.join(format!("{n:02}.json")), indicator(n)).unwrap();
    }
    let mut inside = indicator_json(99);
    inside["pattern"] = "[ipv4-addr:value = '10.20.30.40']".into();
    std::fs::write(feed.join("05b.json"), serde_json::to_vec(&inside).unwrap()).unwrap();
    std::fs::write(feed.join("notes.txt"), "not a disclosure").unwrap();
    let before = server.node.store().size().0;

    let out = Command::new(env!("CARGO_BIN_EXE_borderlog"))
        .args(["submit", "--json", "--addr", &server.addr, "--keys"])
        .arg(&server.keys)
        .arg(&feed)
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        !out.status.success(),
        "one disclosure was refused: exit non-zero"
    );
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        lines.len(),
        13,
        "one line per file, the .txt left out: {stdout}"
    );
    let refused: Vec<_> = lines.iter().filter(|l| l.get("error").is_some()).collect();
    assert_eq!(refused.len(), 1, "{stdout}");
    assert!(refused[0]["input"].as_str().unwrap().ends_with("05b.json"));
    assert!(
        refused[0]["error"]
            .as_str()
            .unwrap()
            .contains("inside.ip/1")
    );
    let indexes: Vec<u64> = lines.iter().filter_map(|l| l["index"].as_u64()).collect();
    assert_eq!(indexes.len(), 12);
    assert!(indexes.windows(2).all(|w| w[0] < w[1]), "in file order");
    assert_eq!(
        server.node.store().size().0,
        before + 13,
        "12 disclosures and the refusal"
    );

    // JSON lines on stdin: one disclosure per line.
    let mut child = Command::new(env!("CARGO_BIN_EXE_borderlog"))
        .args(["submit", "--addr", &server.addr, "--keys"])
        .arg(&server.keys)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        for n in 100..105 {
            stdin.write_all(&indicator(n)).unwrap();
            stdin.write_all(b"\n").unwrap();
        }
    }
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("disclosed 5 of 5"), "{stdout}");
    server.stop().await;
}
