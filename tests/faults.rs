//! Disk faults injected into a real server's store (`store::Faults`): while the disk is full
//! or fdatasync fails, Submit answers UNAVAILABLE with the reason and nothing of the failed
//! batch stays in the segments; when the fault clears, the same server appends again, without
//! a restart. Only a fault that cannot be undone in place (the cut itself fails) stops appends
//! until a restart, and recovery then shows nothing of it either.

mod common;

use std::path::Path;

use borderlog::client::verify_receipt;
use borderlog::format::entry;
use borderlog::pb;
use borderlog::service::NodeConfig;
use borderlog::store::Faults;
use common::*;
use tonic::Code;

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

/// A health check and a read succeed: the server itself stayed up.
async fn healthy(server: &TestServer) {
    let channel = borderlog::client::channel(&server.addr, &server.keys, AUDITOR)
        .await
        .unwrap();
    let health = tonic_health::pb::health_client::HealthClient::new(channel)
        .check(tonic_health::pb::HealthCheckRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(health.status, 1, "SERVING");
    let mut auditor = server.client(AUDITOR).await;
    auditor
        .get_checkpoint(pb::GetCheckpointRequest { tree_size: 0 })
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disk_full_and_failing_fsync_append_nothing_and_clear_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let keys = init_keys(dir.path());
    let faults = Faults::default();
    let mut config = NodeConfig::new(&keys, dir.path().join("data"));
    config.store.faults = faults.clone();
    let server = TestServer::start_config(config).await;
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

    // A fault the store cannot undo in place: the cut of the failed batch fails too. Appends
    // stop (UNAVAILABLE, saying to restart) even after the disk recovers...
    faults.set_disk_full(true);
    faults.set_truncate_fails(true);
    let status = api.submit(submission(&keys, 100)).await.unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert!(status.message().contains("no space left"), "{status:?}");
    faults.set_disk_full(false);
    faults.set_truncate_fails(false);
    let status = api.submit(submission(&keys, 101)).await.unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert!(status.message().contains("restart"), "{status:?}");
    healthy(&server).await;
    let size = server.node.store().size();
    let bytes = |files: Vec<(String, Vec<u8>)>| files.iter().map(|(_, b)| b.len()).sum::<usize>();
    let torn = bytes(segments(&server.data));
    drop(api);
    server.stop().await;

    // ...and a restart recovers: the half-written batch is cut, every acknowledged entry is
    // there unchanged, and nothing else.
    let server = TestServer::start_with(&keys, &dir.path().join("data")).await;
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
    let mut api = server.client(SENDER).await;
    api.submit(submission(&keys, 101)).await.unwrap();
    server.stop().await;
}
