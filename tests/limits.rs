//! Every request limit (`service::Limits`), over real mTLS: each exceeded limit is answered
//! RESOURCE_EXHAUSTED with the limit's name in the message, appends nothing, and the server
//! stays healthy — a normal call succeeds right after.

mod common;

use std::time::Duration;

use borderlog::client;
use borderlog::identity;
use borderlog::pb;
use borderlog::service::{Limits, NodeConfig};
use common::*;
use tokio_stream::StreamExt;
use tonic::Code;

/// A server on fresh keys in `dir` with `limits`.
async fn start(dir: &std::path::Path, limits: Limits) -> TestServer {
    let keys = init_keys(dir);
    let mut config = NodeConfig::new(&keys, dir.join("data"));
    config.limits = limits;
    TestServer::start_config(config, Backend::Embedded).await
}

/// Asserts `result` is RESOURCE_EXHAUSTED naming `limit`.
fn exhausted<T: std::fmt::Debug>(result: Result<T, tonic::Status>, limit: &str) {
    let status = result.expect_err(limit);
    assert_eq!(
        status.code(),
        Code::ResourceExhausted,
        "{limit}: {}",
        status.message()
    );
    assert!(
        status.message().contains(limit),
        "the message names {limit}: {}",
        status.message()
    );
}

/// A submission of `items` by the sender, with `header` changed by `edit`.
fn submit_items(
    server: &TestServer,
    items: Vec<Vec<u8>>,
    edit: impl FnOnce(&mut client::DisclosureHeader),
) -> pb::SubmitRequest {
    let key = identity::keys::load_signing_key(&server.keys, SENDER).unwrap();
    let mut header = header();
    edit(&mut header);
    client::prepare_submission(&key, &header, items, now_ms()).unwrap()
}

/// Submits `request`, expects RESOURCE_EXHAUSTED naming `limit`, checks nothing was appended
/// (not even a Refusal), then that a normal submission still goes through.
async fn refused(server: &TestServer, request: pb::SubmitRequest, limit: &str, n: u64) {
    let before = server.node.store().size();
    let mut api = server.client(SENDER).await;
    exhausted(api.submit(request).await, limit);
    assert_eq!(
        server.node.store().size(),
        before,
        "{limit}: nothing appended"
    );
    api.submit(submission(&server.keys, n))
        .await
        .unwrap_or_else(|e| panic!("a normal submission right after {limit}: {e:?}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_submission_limit_is_named_and_appends_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let limits = Limits {
        max_message_bytes: 64 << 10,
        max_items: 3,
        max_item_bytes: 48 << 10,
        max_json_string_bytes: 8 << 10,
        ..Limits::default()
    };
    let server = start(dir.path(), limits).await;

    // The whole request message: two items of 40 KiB each are under max_item_bytes but over
    // max_message_bytes together. The transport refuses it before any handler runs.
    let big = |n: u64| {
        let mut json = indicator_json(n);
        json["description"] = " ".repeat(7 << 10).into();
        json["labels"] = (0..5).map(|i| format!("{i:07000}")).collect();
        serde_json::to_vec(&json).unwrap()
    };
    assert!(big(0).len() > 40 << 10);
    let request = submit_items(&server, vec![big(1), big(2)], |_| {});
    refused(&server, request, "max_message_bytes", 1).await;

    // Items per disclosure.
    let request = submit_items(&server, (10..14).map(indicator).collect(), |_| {});
    refused(&server, request, "max_items", 2).await;

    // One item over its size limit (the message itself is under its limit).
    let mut json = indicator_json(20);
    json["labels"] = (0..7).map(|i| format!("{i:07000}")).collect();
    let request = submit_items(&server, vec![serde_json::to_vec(&json).unwrap()], |_| {});
    refused(&server, request, "max_item_bytes", 3).await;

    // JSON nesting, counted before the guard parses anything (serde_json's own recursion
    // limit of 128 is never reached).
    let mut json = indicator_json(30);
    let mut deep = serde_json::json!("bottom");
    for _ in 0..40 {
        deep = serde_json::json!([deep]);
    }
    json["x_nested"] = deep;
    let request = submit_items(&server, vec![serde_json::to_vec(&json).unwrap()], |_| {});
    refused(&server, request, "max_json_depth", 4).await;

    // One JSON string over its limit.
    let mut json = indicator_json(40);
    json["description"] = "a".repeat(9 << 10).into();
    let request = submit_items(&server, vec![serde_json::to_vec(&json).unwrap()], |_| {});
    refused(&server, request, "max_json_string_bytes", 5).await;

    // The body's free-text fields.
    let request = submit_items(&server, vec![indicator(50)], |h| {
        h.purpose = "p".repeat(2000)
    });
    refused(&server, request, "max_text_bytes", 6).await;
    let request = submit_items(&server, vec![indicator(51)], |h| {
        h.case_reference = "c".repeat(2000)
    });
    refused(&server, request, "max_text_bytes", 7).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_length_and_open_streams_are_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let limits = Limits {
        max_list: 3,
        max_streams_per_caller: 2,
        ..Limits::default()
    };
    let server = start(dir.path(), limits).await;
    let mut sender = server.client(SENDER).await;
    for n in 0..5 {
        sender.submit(submission(&server.keys, n)).await.unwrap();
    }
    let list = |limit, follow| pb::ListEntriesRequest {
        limit,
        follow,
        ..Default::default()
    };

    // Without `follow`: at most max_list entries, and a larger explicit limit is refused.
    let mut auditor = server.client(AUDITOR).await;
    let all: Vec<_> = auditor
        .list_entries(list(0, false))
        .await
        .unwrap()
        .into_inner()
        .collect()
        .await;
    assert_eq!(all.len(), 3, "max_list entries by default");
    exhausted(auditor.list_entries(list(4, false)).await, "max_list");

    // Open streams per caller: two follow streams are open, the third is refused — for
    // ListEntries and Export alike — while another caller is not affected.
    let first = sender
        .list_entries(list(0, true))
        .await
        .unwrap()
        .into_inner();
    let mut second = sender
        .list_entries(list(0, true))
        .await
        .unwrap()
        .into_inner();
    second.next().await.unwrap().unwrap();
    exhausted(
        sender.list_entries(list(0, true)).await,
        "max_streams_per_caller",
    );
    let mut sender_audit = client::connect_audit(&server.addr, &server.keys, SENDER)
        .await
        .unwrap();
    exhausted(
        sender_audit.export(pb::ExportRequest::default()).await,
        "max_streams_per_caller",
    );
    auditor.list_entries(list(0, true)).await.unwrap();

    // A stream closed by its client frees its slot.
    drop(first);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        match sender.list_entries(list(0, true)).await {
            Ok(_) => break,
            Err(s) if s.code() == Code::ResourceExhausted => {
                assert!(std::time::Instant::now() < deadline, "the slot was freed");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(s) => panic!("{s:?}"),
        }
    }
    sender.submit(submission(&server.keys, 9)).await.unwrap();
    drop(second);
    server.stop().await;
}

/// The rate-limit test's quota: a burst of 5, then one request a second.
const RATE: u32 = 1;
const BURST: u32 = 5;

/// Asserts that `passed` calls before the first refusal, made within `elapsed`, kept the
/// quota: the whole burst (the budget starts full), and no more than the burst plus what
/// `elapsed` refilled. A loaded machine makes the calls slower and so may refill a request or
/// two; the bound allows for exactly that, so it holds at any speed and still fails when the
/// limiter lets more through, or refuses too early.
fn kept_the_quota(who: &str, passed: u32, elapsed: Duration) {
    let refilled = (elapsed.as_secs_f64() * f64::from(RATE)).floor() as u32;
    assert!(
        (BURST..=BURST + refilled).contains(&passed),
        "{who}: {passed} calls passed in {elapsed:?}; the quota allows {BURST} to {}",
        BURST + refilled
    );
}

/// Calls past which a limiter that never refuses fails the test (at one request a second,
/// only calls taking over a second each could pass that many).
const CALLS_AT_MOST: u32 = 200;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_caller_has_its_own_rate_limit() {
    let dir = tempfile::tempdir().unwrap();
    let limits = Limits {
        rate_per_second: RATE,
        rate_burst: BURST,
        ..Limits::default()
    };
    let server = start(dir.path(), limits).await;
    let checkpoint = pb::GetCheckpointRequest { tree_size: 0 };
    let mut auditor = server.client(AUDITOR).await;
    let started = std::time::Instant::now();
    let mut passed = 0;
    let status = loop {
        match auditor.get_checkpoint(checkpoint).await {
            Ok(_) => passed += 1,
            Err(status) => break status,
        }
        assert!(passed < CALLS_AT_MOST, "never refused");
    };
    kept_the_quota("auditor", passed, started.elapsed());
    let message = status.message().to_owned();
    exhausted(Err::<(), _>(status), "rate_per_second");
    assert!(message.contains("auditor"), "{message}");

    // The sender has its own budget (a whole burst, though the auditor spent its own), and a
    // submission over the limit appends nothing.
    let mut sender = server.client(SENDER).await;
    let before = server.node.store().size();
    let started = std::time::Instant::now();
    let mut passed = 0;
    let refused = loop {
        match sender.submit(submission(&server.keys, passed.into())).await {
            Ok(_) => passed += 1,
            Err(status) => break status,
        }
        assert!(passed < CALLS_AT_MOST, "never refused");
    };
    kept_the_quota("sender", passed, started.elapsed());
    exhausted(Err::<(), _>(refused), "rate_per_second");
    assert_eq!(server.node.store().size().0, before.0 + u64::from(passed));

    // The health service is not throttled, and the budget refills: a refused caller waits one
    // interval (load only makes the wait longer) and is served again.
    let channel = client::channel(&server.addr, &server.keys, AUDITOR)
        .await
        .unwrap();
    tonic_health::pb::health_client::HealthClient::new(channel)
        .check(tonic_health::pb::HealthCheckRequest::default())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs_f64(1.05 / f64::from(RATE))).await;
    auditor.get_checkpoint(checkpoint).await.unwrap();
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_in_flight_per_connection_wait_for_a_free_stream() {
    let dir = tempfile::tempdir().unwrap();
    let limits = Limits {
        max_concurrent_streams_per_connection: 1,
        ..Limits::default()
    };
    let server = start(dir.path(), limits).await;
    let mut auditor = server.client(AUDITOR).await;
    let follow = pb::ListEntriesRequest {
        follow: true,
        ..Default::default()
    };
    let open = auditor
        .list_entries(follow.clone())
        .await
        .unwrap()
        .into_inner();
    // A second call on the same connection waits (HTTP/2 flow control, not an error)...
    let waiting = tokio::time::timeout(
        Duration::from_millis(500),
        auditor.get_checkpoint(pb::GetCheckpointRequest { tree_size: 0 }),
    )
    .await;
    assert!(waiting.is_err(), "the second stream waits for the first");
    // ...while another connection is served, and the call goes through once the first ends.
    server
        .client(AUDITOR)
        .await
        .get_checkpoint(pb::GetCheckpointRequest { tree_size: 0 })
        .await
        .unwrap();
    drop(open);
    tokio::time::timeout(
        Duration::from_secs(10),
        auditor.get_checkpoint(pb::GetCheckpointRequest { tree_size: 0 }),
    )
    .await
    .expect("served once the first stream ended")
    .unwrap();
    server.stop().await;
}
