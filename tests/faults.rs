//! Disk faults injected into a real server's store (`store::Faults`): while the disk is full
//! or fdatasync fails, Submit answers UNAVAILABLE with the reason and nothing of the failed
//! batch stays in the segments; when the fault clears, the same server appends again, without
//! a restart. A fault that cannot be undone in place (the cut itself fails) answers "outcome
//! unknown" (UNKNOWN), fails the log (health NOT_SERVING, writes UNAVAILABLE, the server's run
//! ends with the failure), and recovery settles what happened, which FindDisclosure tells.

mod common;

use std::path::Path;

use borderlog::client::verify_receipt;
use borderlog::format::entry;
use borderlog::pb;
use borderlog::service::NodeConfig;
use borderlog::store::Faults;
use common::*;
use tonic::Code;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

/// Every segment file's bytes, by name.
fn segments(data: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<_> = std::fs::read_dir(data.join("segments"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&p).unwrap())
        })
        .collect()
}

/// Submits `request`, expecting UNAVAILABLE naming `reason`, and checks that neither the log
/// nor the segment files changed.
async fn refused_while_faulty(
    server: &TestServer,
    api: &mut borderlog::client::Api,
    request: pb::SubmitRequest,
    reason: &str,
) {
    let (size, files) = (server.node.store().size(), segments(&server.data));
    let status = api.submit(request).await.expect_err("the disk is failing");
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert!(
        status.message().contains(reason) && status.message().contains("nothing was appended"),
        "the message names the reason {reason:?}: {}",
        status.message()
    );
    assert_eq!(server.node.store().size(), size, "nothing appended");
    assert_eq!(
        segments(&server.data),
        files,
        "not a byte of the failed batch is left in the segment files"
    );
}

/// The names grpc.health.v1 answers for: the server as a whole, then each service.
const HEALTH_NAMES: [&str; 5] = [
    "",
    "borderlog.v1.Ledger",
    "borderlog.v1.Witness",
    "borderlog.v1.Audit",
    "borderlog.v1.Reports",
];

/// grpc.health.v1's answer for the server as a whole and for each service.
async fn health(server: &TestServer) -> [ServingStatus; 5] {
    let channel = borderlog::client::channel(&server.addr, &server.keys, AUDITOR)
        .await
        .unwrap();
    let mut client = HealthClient::new(channel);
    let mut out = [ServingStatus::Unknown; 5];
    for (i, service) in HEALTH_NAMES.into_iter().enumerate() {
        out[i] = client
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap()
            .into_inner()
            .status();
    }
    out
}

/// A health check says SERVING and a read succeeds: the server itself stayed up.
async fn healthy(server: &TestServer) {
    assert_eq!(health(server).await, [ServingStatus::Serving; 5]);
    readable(server).await;
}

/// Reads still work (a failed log keeps serving what it holds until it stops).
async fn readable(server: &TestServer) {
    let mut auditor = server.client(AUDITOR).await;
    auditor
        .get_checkpoint(pb::GetCheckpointRequest { tree_size: 0 })
        .await
        .unwrap();
}

/// The log has failed: health says NOT_SERVING, a write is refused at once with UNAVAILABLE
/// saying to restart, and reads still work.
async fn failed(server: &TestServer, api: &mut borderlog::client::Api, n: u64) {
    // The health service hears of the failure from a task of its own: wait for it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while health(server).await != [ServingStatus::NotServing; 5] {
        assert!(
            std::time::Instant::now() < deadline,
            "health still says SERVING"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let size = server.node.store().size();
    let status = api.submit(submission(&server.keys, n)).await.unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert!(
        status.message().contains("until the server restarts")
            && status.message().contains("nothing was appended"),
        "{status:?}"
    );
    assert_eq!(server.node.store().size(), size);
    readable(server).await;
}

/// A failed server gets a lot of time before it stops on its own, so tests watch it failed.
fn config(keys: &Path, data: &Path, faults: &Faults) -> NodeConfig {
    let mut config = NodeConfig::new(keys, data);
    config.store.faults = faults.clone();
    config.failure_grace = std::time::Duration::from_secs(3600);
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disk_full_and_failing_fsync_append_nothing_and_clear_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let keys = init_keys(dir.path());
    let faults = Faults::default();
    let server = TestServer::start_config(
        config(&keys, &dir.path().join("data"), &faults),
        Backend::Embedded,
    )
    .await;
    let mut api = server.client(SENDER).await;
    let mut acknowledged = vec![api.submit(submission(&keys, 1)).await.unwrap().into_inner()];

    type Switch = fn(&Faults, bool);
    let cases: [(Switch, &str); 2] = [
        (Faults::set_disk_full, "no space left on device"),
        (Faults::set_fsync_fails, "fdatasync failed"),
    ];
    for (n, (switch, reason)) in cases.into_iter().enumerate() {
        let n = 10 + n as u64 * 10;
        switch(&faults, true);
        let retried = submission(&keys, n);
        refused_while_faulty(&server, &mut api, retried.clone(), reason).await;
        refused_while_faulty(&server, &mut api, submission(&keys, n + 1), reason).await;
        healthy(&server).await;

        // The fault clears: the very same submission (same nonce, nothing of it was kept) is
        // appended, right after the last acknowledged entry.
        switch(&faults, false);
        let receipt = api.submit(retried).await.unwrap().into_inner();
        assert_eq!(
            receipt.index,
            acknowledged.last().unwrap().index + 1,
            "appending resumed where the log ended"
        );
        verify_receipt(&receipt, &server.log).unwrap();
        acknowledged.push(receipt);
        acknowledged.push(
            api.submit(submission(&keys, n + 2))
                .await
                .unwrap()
                .into_inner(),
        );
    }

    // A fault the store cannot undo in place: the cut of the failed batch fails too. The
    // half-written batch is still in the segment, so the reply cannot say "nothing was
    // appended": it says the outcome is unknown (UNKNOWN). The log has failed: health says
    // NOT_SERVING, and appends stop (UNAVAILABLE, saying to restart) even after the disk
    // recovers...
    faults.set_disk_full(true);
    faults.set_truncate_fails(true);
    let unknown = submission(&keys, 100);
    let status = api.submit(unknown.clone()).await.unwrap_err();
    assert_eq!(status.code(), Code::Unknown, "{status:?}");
    assert!(
        status.message().contains("no space left")
            && status
                .message()
                .contains("may or may not have been appended")
            && !status.message().contains("nothing was appended"),
        "{status:?}"
    );
    faults.set_disk_full(false);
    faults.set_truncate_fails(false);
    failed(&server, &mut api, 101).await;
    let size = server.node.store().size();
    let bytes = |files: Vec<(String, Vec<u8>)>| files.iter().map(|(_, b)| b.len()).sum::<usize>();
    let torn = bytes(segments(&server.data));
    drop(api);
    let error = server.stop_failed().await;
    assert!(error.to_string().contains("restart"), "{error}");

    // ...and a restart recovers: the half-written batch is cut, every acknowledged entry is
    // there unchanged, and nothing else.
    let server = TestServer::start_with(&keys, &dir.path().join("data"), Backend::Embedded).await;
    assert_eq!(
        server.node.store().size(),
        size,
        "nothing of the failed batch"
    );
    assert!(
        bytes(segments(&server.data)) < torn,
        "recovery cut the half-written batch off"
    );
    let mut auditor = server.client(AUDITOR).await;
    let (_, leaves) = verify_chain(&mut auditor, &server.log).await;
    let disclosures: Vec<u64> = leaves
        .iter()
        .enumerate()
        .filter(|&(i, _)| {
            let bytes = server
                .node
                .store()
                .entry(borderlog::format::LeafIndex(i as u64));
            let e = entry::decode(&bytes.unwrap().unwrap()).unwrap();
            matches!(e.kind, Some(pb::entry::Kind::Disclosure(_)))
        })
        .map(|(i, _)| i as u64)
        .collect();
    let receipts: Vec<u64> = acknowledged.iter().map(|r| r.index).collect();
    assert_eq!(
        disclosures, receipts,
        "exactly the acknowledged disclosures"
    );
    for r in &acknowledged {
        assert_eq!(leaves[r.index as usize].to_vec(), r.leaf_hash);
    }
    // The sender learns the outcome: no entry holds the nonce, so the same signed body is
    // appended when sent again.
    let mut api = server.client(SENDER).await;
    let status = api
        .find_disclosure(pb::FindDisclosureRequest {
            body: unknown.body.clone(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound, "{status:?}");
    assert!(status.message().contains("not appended"), "{status:?}");
    let receipt = api.submit(unknown).await.unwrap().into_inner();
    verify_receipt(&receipt, &server.log).unwrap();
    api.submit(submission(&keys, 101)).await.unwrap();
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_durable_before_its_failure_is_unknown_then_found_never_denied() {
    let dir = tempfile::tempdir().unwrap();
    let keys = init_keys(dir.path());
    let data = dir.path().join("data");
    let faults = Faults::default();
    let server = TestServer::start_config(config(&keys, &data, &faults), Backend::Embedded).await;
    let mut api = server.client(SENDER).await;
    api.submit(submission(&keys, 1)).await.unwrap();

    // The whole batch reaches the segment file, fdatasync fails, and so does cutting it off:
    // the entry may be recovered on the next start. The client must not hear "nothing was
    // appended".
    faults.set_fsync_fails(true);
    faults.set_truncate_fails(true);
    let request = submission(&keys, 2);
    let status = api.submit(request.clone()).await.unwrap_err();
    assert_eq!(status.code(), Code::Unknown, "{status:?}");
    assert!(
        status
            .message()
            .contains("may or may not have been appended")
            && status.message().contains("FindDisclosure"),
        "{status:?}"
    );
    faults.set_fsync_fails(false);
    faults.set_truncate_fails(false);
    failed(&server, &mut api, 3).await;
    // Until the restart the index may lag the segment, so a lookup is refused, not answered.
    let status = api
        .find_disclosure(pb::FindDisclosureRequest {
            body: request.body.clone(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    drop(api);
    server.stop_failed().await;

    // After the restart recovery has kept the batch: the lookup finds the disclosure, with a
    // receipt that verifies against the log's checkpoint, and the same body again is refused
    // as a replay naming that entry.
    let server = TestServer::start_with(&keys, &data, Backend::Embedded).await;
    let mut api = server.client(SENDER).await;
    let found = api
        .find_disclosure(pb::FindDisclosureRequest {
            body: request.body.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(found.kind(), pb::EntryKind::Disclosure);
    let receipt = found.receipt.unwrap();
    verify_receipt(&receipt, &server.log).unwrap();
    let stored = entry::decode(&receipt.entry).unwrap();
    let Some(pb::entry::Kind::Disclosure(d)) = stored.kind else {
        panic!("a disclosure entry")
    };
    assert_eq!(d.body, request.body, "exactly the body the client sent");
    // By nonce alone too.
    let body = <pb::DisclosureBody as prost::Message>::decode(request.body.as_slice()).unwrap();
    let by_nonce = api
        .find_disclosure(pb::FindDisclosureRequest {
            nonce: body.nonce.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(by_nonce.receipt.unwrap().index, receipt.index);
    let status = api.submit(request).await.unwrap_err();
    assert_eq!(status.code(), Code::AlreadyExists, "{status:?}");
    assert!(
        status
            .message()
            .contains(&format!("entry {}", receipt.index)),
        "{status:?}"
    );
    // Only the sender looks up its nonces.
    let mut recipient = server.client(RECIPIENT).await;
    let status = recipient
        .find_disclosure(pb::FindDisclosureRequest {
            nonce: body.nonce,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    drop((api, recipient));
    server.stop().await;
}
