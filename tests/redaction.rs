//! Erasure and retention over real gRPC with mutual TLS on loopback: the data owner erases a
//! payload, every proof and signature still verifies, the bytes are gone from every file of
//! the data directory (segments and index) or from every live row of the database, refusals
//! append nothing, erasing twice is idempotent, retention erases exactly what has expired, and
//! a crash between the Redaction entry and the overwrite (or during it) is finished on reopen.
//! Each test runs on both backends (`name::embedded`, `name::postgres`: `both_backends!` in
//! tests/common/mod.rs) except the crash test, which builds its crash states in the embedded
//! store's files.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use borderlog::client::{self, verify_receipt};
use borderlog::format::hash::{Hash, hash_from_slice, sha256};
use borderlog::format::signature::{self, Purpose};
use borderlog::format::{LeafIndex, TreeSize, consistency, entry, inclusion};
use borderlog::guard::DEFAULT_POLICY;
use borderlog::identity::keys::load_signing_key;
use borderlog::pb::{self, get_inclusion_proof_request::Leaf};
use borderlog::service::NodeConfig;
use common::*;
use prost::Message;
use tonic::Code;

const GREEN: &str = "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb";
const AMBER: &str = "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421";
const DAY_MS: i64 = 86_400_000;

/// A STIX item of `stix_type` (indicator or campaign) whose name carries `marker`: the marker
/// is in the payload only, never in the signed body (which holds id, type and TLP).
fn item(stix_type: &str, n: u64, tlp: &str, marker: &str) -> Vec<u8> {
    let id = format!("{stix_type}--5d3c1a2b-17d4-4cbf-938f-{n:012x}");
    let mut v = serde_json::json!({
        "type": stix_type,
        "spec_version": "2.1",
        "id": id,
        "created": "2026-11-01T10:00:00.000Z",
        "modified": "2026-11-01T10:00:00.000Z",
        "name": format!("Emotet wave {marker}"),
        "object_marking_refs": [tlp],
    });
    if stix_type == "indicator" {
        v["indicator_types"] = serde_json::json!(["malicious-activity"]);
        v["pattern"] = format!("[domain-name:value = 'c2-{n}.badcdn.example']").into();
        v["pattern_type"] = "stix".into();
        v["valid_from"] = "2026-11-01T10:00:00Z".into();
    }
    serde_json::to_vec(&v).unwrap()
}

/// Submits `items` as one disclosure by the sender; returns the receipt, the request sent
/// (salts and contents) and the item commitments.
async fn disclose(
    server: &TestServer,
    items: Vec<Vec<u8>>,
) -> (pb::LogReceipt, pb::SubmitRequest, Vec<Hash>) {
    let key = load_signing_key(&server.keys, SENDER).unwrap();
    let request = client::prepare_submission(&key, &header(), items, now_ms()).unwrap();
    let receipt = server
        .client(SENDER)
        .await
        .submit(request.clone())
        .await
        .expect("submit")
        .into_inner();
    let body = pb::DisclosureBody::decode(request.body.as_slice()).unwrap();
    let commitments = body
        .items
        .iter()
        .map(|i| hash_from_slice(&i.commitment).unwrap())
        .collect();
    (receipt, request, commitments)
}

/// A Redact call over the wire as `caller`, signed with `signer`'s key.
async fn redact(
    server: &TestServer,
    caller: &str,
    signer: &str,
    index: u64,
    commitment: &Hash,
    reason: &str,
) -> Result<pb::LogReceipt, tonic::Status> {
    let key = load_signing_key(&server.keys, signer).unwrap();
    let request = client::sign_redaction(&key, LeafIndex(index), commitment, reason);
    server
        .client(caller)
        .await
        .redact(request)
        .await
        .map(|r| r.into_inner())
}

async fn get(server: &TestServer, who: &str, index: u64) -> pb::EntryResponse {
    server
        .client(who)
        .await
        .get_entry(pb::GetEntryRequest { index })
        .await
        .unwrap()
        .into_inner()
}

/// Every file under `dir` (segments, the index's files, anything else) that contains `needle`.
fn files_containing(dir: &Path, needle: &[u8]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let path = e.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if std::fs::read(&path)
                .unwrap()
                .windows(needle.len())
                .any(|w| w == needle)
            {
                out.push(path);
            }
        }
    }
    out
}

/// Where the server's store holds `needle`: the files under its data directory, or with the
/// PostgreSQL backend the live rows' columns that contain it (`payloads.content`, ...).
fn stored_in(server: &TestServer, needle: &[u8]) -> Vec<String> {
    match &server.url {
        Some(url) => common::pg::columns_containing(url, needle),
        None => files_containing(&server.data, needle)
            .into_iter()
            .map(|p| p.display().to_string())
            .collect(),
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.path().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

/// Checks every entry's inclusion proof against the latest checkpoint, the consistency of the
/// checkpoint at `old_size` with it, and every signature in the log: disclosures by their
/// sender, receipts by their recipient, redactions by their owner.
async fn verify_everything(server: &TestServer, old_size: u64) {
    let mut auditor = server.client(AUDITOR).await;
    let (checkpoint, leaves) = verify_chain(&mut auditor, &server.log).await;
    for (i, leaf) in leaves.iter().enumerate() {
        let p = auditor
            .get_inclusion_proof(pb::GetInclusionProofRequest {
                leaf: Some(Leaf::Index(i as u64)),
                tree_size: checkpoint.size,
            })
            .await
            .unwrap()
            .into_inner();
        let hashes: Vec<Hash> = p
            .hashes
            .iter()
            .map(|h| hash_from_slice(h).unwrap())
            .collect();
        inclusion::verify(
            LeafIndex(i as u64),
            TreeSize(checkpoint.size),
            leaf,
            &hashes,
            &checkpoint.root,
        )
        .unwrap_or_else(|e| panic!("inclusion of entry {i}: {e}"));
    }
    let old = auditor
        .get_checkpoint(pb::GetCheckpointRequest {
            tree_size: old_size,
        })
        .await
        .unwrap()
        .into_inner();
    let proof = auditor
        .get_consistency_proof(pb::GetConsistencyProofRequest {
            old_size,
            new_size: checkpoint.size,
        })
        .await
        .unwrap()
        .into_inner();
    let hashes: Vec<Hash> = proof
        .hashes
        .iter()
        .map(|h| hash_from_slice(h).unwrap())
        .collect();
    consistency::verify(
        TreeSize(old_size),
        TreeSize(checkpoint.size),
        &hash_from_slice(&old.root_hash).unwrap(),
        &checkpoint.root,
        &hashes,
    )
    .expect("the log before the redaction is consistent with the log after it");

    let key = |name: &str| {
        load_signing_key(&server.keys, name)
            .unwrap()
            .verifying_key()
    };
    let mut signatures = 0;
    for i in 0..checkpoint.size {
        let e = entry::decode(&get(server, AUDITOR, i).await.entry).unwrap();
        match e.kind {
            Some(pb::entry::Kind::Disclosure(d)) => {
                let body = entry::disclosure_body(&d).unwrap();
                signature::verify(
                    &key(&body.sender),
                    Purpose::Disclosure,
                    &d.body,
                    &d.signature,
                )
                .unwrap();
                signatures += 1;
            }
            Some(pb::entry::Kind::Receipt(r)) => {
                assert_eq!(r.disclosure_leaf_hash, leaves[r.disclosure_index as usize]);
                let payload = signature::index_and_hash(
                    r.disclosure_index,
                    &hash_from_slice(&r.disclosure_leaf_hash).unwrap(),
                );
                signature::verify(&key(&r.recipient), Purpose::Receipt, &payload, &r.signature)
                    .unwrap();
                signatures += 1;
            }
            Some(pb::entry::Kind::PolicyChange(p)) => {
                signature::verify(&key(&p.owner), Purpose::Policy, &p.policy, &p.signature)
                    .unwrap();
                signatures += 1;
            }
            Some(pb::entry::Kind::Redaction(r)) => {
                let payload = signature::index_and_hash(
                    r.disclosure_index,
                    &hash_from_slice(&r.commitment).unwrap(),
                );
                signature::verify(&key(&r.owner), Purpose::Redaction, &payload, &r.signature)
                    .unwrap();
                signatures += 1;
            }
            _ => {}
        }
    }
    assert!(
        signatures >= 4,
        "a policy, a disclosure, a receipt and a redaction were checked"
    );
}

both_backends!(redact_restart_verify_and_the_bytes_are_gone);
async fn redact_restart_verify_and_the_bytes_are_gone(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), backend).await;
    let (gone, kept) = ("QXREDACTgoneMARKER", "QXREDACTkeptMARKER");
    let (receipt, request, c) = disclose(
        &server,
        vec![
            item("indicator", 1, GREEN, gone),
            item("indicator", 2, GREEN, kept),
        ],
    )
    .await;
    let salt = request.items[0].salt.clone();
    // The recipient signs a receipt for the disclosure before the erasure.
    let ack_key = load_signing_key(&server.keys, RECIPIENT).unwrap();
    let leaf = hash_from_slice(&receipt.leaf_hash).unwrap();
    server
        .client(RECIPIENT)
        .await
        .acknowledge(client::sign_receipt(
            &ack_key,
            LeafIndex(receipt.index),
            &leaf,
        ))
        .await
        .unwrap();
    let before = server.node.store().size().0;
    // The search works: the payload and its salt are stored before the erasure.
    assert!(!stored_in(&server, gone.as_bytes()).is_empty());
    assert!(!stored_in(&server, &salt).is_empty());

    let reason = "holds a customer's address the guard missed";
    let r = redact(&server, SENDER, SENDER, receipt.index, &c[0], reason)
        .await
        .expect("the owner erases its item");
    verify_receipt(&r, &server.log).expect("the redaction's receipt verifies");
    match entry::decode(&r.entry).unwrap().kind {
        Some(pb::entry::Kind::Redaction(x)) => {
            assert_eq!(x.disclosure_index, receipt.index);
            assert_eq!(x.commitment, c[0].to_vec());
            assert_eq!((x.owner.as_str(), x.reason.as_str()), (SENDER, reason));
        }
        other => panic!("expected a redaction entry, got {other:?}"),
    }

    let check_reads = |resp: pb::EntryResponse| {
        assert_eq!(resp.items[0].commitment, c[0].to_vec());
        assert!(resp.items[0].payload.is_none());
        assert_eq!(
            resp.items[0].withheld,
            format!("erased by entry {}: {reason}", r.index)
        );
        assert_eq!(resp.items[0].erased_by, r.index);
        resp
    };
    let seen = check_reads(get(&server, RECIPIENT, receipt.index).await);
    assert_eq!(
        seen.items[1]
            .payload
            .as_ref()
            .expect("the other item stays")
            .content,
        request.items[1].content
    );
    check_reads(get(&server, AUDITOR, receipt.index).await);
    assert_eq!(stored_in(&server, gone.as_bytes()), Vec::<String>::new());
    assert_eq!(stored_in(&server, &salt), Vec::<String>::new());
    if let Some(url) = &server.url {
        // In PostgreSQL the payload's row is overwritten in place, not deleted.
        let hex: String = c[0].iter().map(|b| format!("{b:02x}")).collect();
        let row = common::pg::query(
            url,
            &format!(
                "SELECT erased, length(salt), length(content) FROM payloads \
                 WHERE commitment = '\\x{hex}'::bytea"
            ),
        );
        assert_eq!(row, "t|0|0");
    }
    assert!(!stored_in(&server, kept.as_bytes()).is_empty());

    // Restart: the chain, every proof and every signature verify; the erasure stays.
    let (keys, data) = (server.keys.clone(), server.data.clone());
    server.stop().await;
    let server = TestServer::start_with(&keys, &data, backend).await;
    verify_everything(&server, before).await;
    check_reads(get(&server, RECIPIENT, receipt.index).await);
    // The recipient's receipt in the log (entry index + 1) still names the same leaf hash.
    let ack = entry::decode(&get(&server, AUDITOR, receipt.index + 1).await.entry).unwrap();
    assert!(matches!(ack.kind, Some(pb::entry::Kind::Receipt(_))));

    // A rebuilt index brings nothing back either.
    server.stop().await;
    if backend == Backend::Embedded {
        std::fs::remove_dir_all(data.join("index")).unwrap();
    }
    let server = TestServer::start_with(&keys, &data, backend).await;
    check_reads(get(&server, RECIPIENT, receipt.index).await);
    verify_everything(&server, before).await;
    assert_eq!(stored_in(&server, gone.as_bytes()), Vec::<String>::new());
    assert_eq!(stored_in(&server, &salt), Vec::<String>::new());
    server.stop().await;
}

both_backends!(only_the_owner_redacts_and_refusals_append_nothing);
async fn only_the_owner_redacts_and_refusals_append_nothing(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), backend).await;
    let (receipt, request, c) = disclose(&server, vec![item("indicator", 1, GREEN, "x")]).await;
    let size = server.node.store().size();
    let i = receipt.index;

    let refusals = [
        // The recipient, with its own key.
        (RECIPIENT, RECIPIENT, i, c[0], "no", Code::PermissionDenied),
        // The owner's certificate, but another key's signature.
        (SENDER, RECIPIENT, i, c[0], "no", Code::PermissionDenied),
        // A read-only role.
        (AUDITOR, SENDER, i, c[0], "no", Code::PermissionDenied),
        // No such entry, not a disclosure, no such item.
        (SENDER, SENDER, 99, c[0], "no", Code::NotFound),
        (SENDER, SENDER, 0, c[0], "no", Code::NotFound),
        (SENDER, SENDER, i, [7; 32], "no", Code::NotFound),
        // No reason.
        (SENDER, SENDER, i, c[0], " ", Code::InvalidArgument),
    ];
    for (caller, signer, index, commitment, reason, code) in refusals {
        let status = redact(&server, caller, signer, index, &commitment, reason)
            .await
            .expect_err("refused");
        assert_eq!(
            status.code(),
            code,
            "{caller} signing as {signer} on entry {index}: {}",
            status.message()
        );
        assert!(!status.message().is_empty());
    }
    // A signature over another index is not the owner's signature for this one.
    let key = load_signing_key(&server.keys, SENDER).unwrap();
    let mut replayed = client::sign_redaction(&key, LeafIndex(i + 1), &c[0], "no");
    replayed.disclosure_index = i;
    let status = server
        .client(SENDER)
        .await
        .redact(replayed)
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);

    assert_eq!(server.node.store().size(), size, "nothing was appended");
    let seen = get(&server, RECIPIENT, i).await;
    assert_eq!(
        seen.items[0].payload.as_ref().unwrap().content,
        request.items[0].content
    );
    server.stop().await;
}

both_backends!(redacting_twice_is_idempotent);
async fn redacting_twice_is_idempotent(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), backend).await;
    let (receipt, _, c) = disclose(
        &server,
        vec![
            item("indicator", 1, GREEN, "a"),
            item("indicator", 2, GREEN, "b"),
        ],
    )
    .await;
    let first = redact(&server, SENDER, SENDER, receipt.index, &c[0], "first")
        .await
        .unwrap();
    let size = server.node.store().size();
    let again = redact(&server, SENDER, SENDER, receipt.index, &c[0], "second")
        .await
        .unwrap();
    assert_eq!(
        (again.index, &again.leaf_hash),
        (first.index, &first.leaf_hash)
    );
    assert_eq!(
        again.entry, first.entry,
        "the first redaction and its reason stand"
    );
    verify_receipt(&again, &server.log).unwrap();
    assert_eq!(server.node.store().size(), size, "no second entry");

    // Concurrent redactions of one item: one entry, every caller gets its receipt.
    let key = load_signing_key(&server.keys, SENDER).unwrap();
    let mut calls = tokio::task::JoinSet::new();
    for n in 0..8 {
        let mut api = server.client(SENDER).await;
        let request =
            client::sign_redaction(&key, LeafIndex(receipt.index), &c[1], &format!("race {n}"));
        calls.spawn(async move { api.redact(request).await.unwrap().into_inner() });
    }
    let receipts = calls.join_all().await;
    assert!(receipts.iter().all(|r| r.index == receipts[0].index));
    for r in &receipts {
        verify_receipt(r, &server.log).unwrap();
    }
    assert_eq!(server.node.store().size().0, size.0 + 1);
    let redactions = server
        .node
        .store()
        .scan(LeafIndex(0), None, &[pb::EntryKind::Redaction], 100)
        .unwrap();
    assert_eq!(redactions.len(), 2);
    server.stop().await;
}

/// The default policy with `rules` in its `[retention]` section.
fn retention_policy(rules: &str) -> String {
    let policy = DEFAULT_POLICY.replacen("[retention]\n", &format!("[retention]\n{rules}\n"), 1);
    assert_ne!(
        policy, DEFAULT_POLICY,
        "the default policy has a [retention] section"
    );
    policy
}

/// Keys in `dir/keys` with `policy` as the sender's policy file (which `serve` publishes).
fn keys_with_policy(dir: &Path, policy: &str) -> PathBuf {
    let keys = init_keys(dir);
    std::fs::write(borderlog::identity::policy_path(&keys, SENDER), policy).unwrap();
    keys
}

/// The server published the sender's policy file on first start: it is the one in force.
fn assert_in_force(server: &TestServer, policy: &str) {
    let in_force = borderlog::retention::policies_in_force(&**server.node.store()).unwrap();
    assert_eq!(
        in_force.get(SENDER).map(|p| p.hash()),
        Some(sha256(policy.as_bytes()))
    );
}

both_backends!(retention_erases_exactly_what_has_expired);
async fn retention_erases_exactly_what_has_expired(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let policy = retention_policy("tlp = { amber = \"30d\" }\ntypes = { indicator = \"10d\" }");
    let keys = keys_with_policy(dir.path(), &policy);
    let server = TestServer::start_with(&keys, &dir.path().join("data"), backend).await;
    assert_in_force(&server, &policy);
    // Green indicator: 10d. Amber campaign: 30d. Green campaign: kept. Amber indicator: 10d.
    let (receipt, _, c) = disclose(
        &server,
        vec![
            item("indicator", 1, GREEN, "ret-a"),
            item("campaign", 2, AMBER, "ret-b"),
            item("campaign", 3, GREEN, "ret-c"),
            item("indicator", 4, AMBER, "ret-d"),
        ],
    )
    .await;
    let t0 = entry::decode(&receipt.entry).unwrap().time_ms;
    let d = receipt.index;

    let mut owner = server.client(SENDER).await;
    let lister = owner.clone();
    let listed = |as_of_ms: i64| {
        let mut lister = lister.clone();
        async move {
            let r = lister
                .list_expired(pb::ListExpiredRequest { as_of_ms })
                .await
                .unwrap()
                .into_inner();
            if as_of_ms == 0 {
                assert!(r.as_of_ms >= t0, "0 asks for the server's clock");
            } else {
                assert_eq!(r.as_of_ms, as_of_ms);
            }
            r.items
                .iter()
                .map(|x| {
                    assert_eq!(x.disclosure_index, d);
                    assert_eq!(x.disclosed_ms, t0);
                    (
                        hash_from_slice(&x.commitment).unwrap(),
                        x.expired_ms,
                        x.rule.clone(),
                    )
                })
                .collect::<Vec<_>>()
        }
    };
    assert!(
        listed(t0 + 10 * DAY_MS - 1).await.is_empty(),
        "nothing before 10 days"
    );
    assert_eq!(
        listed(t0 + 10 * DAY_MS).await,
        vec![
            (c[0], t0 + 10 * DAY_MS, "type indicator: 10d".to_string()),
            (c[3], t0 + 10 * DAY_MS, "type indicator: 10d".to_string()),
        ]
    );
    let at_31 = listed(t0 + 31 * DAY_MS).await;
    assert_eq!(
        at_31.iter().map(|x| x.0).collect::<Vec<_>>(),
        vec![c[0], c[1], c[3]]
    );
    assert_eq!(
        at_31[1],
        (c[1], t0 + 30 * DAY_MS, "tlp amber: 30d".to_string())
    );
    assert!(
        listed(0).await.is_empty(),
        "nothing has expired yet by the server's clock"
    );
    // Only the owner asks.
    let status = server
        .client(RECIPIENT)
        .await
        .list_expired(pb::ListExpiredRequest { as_of_ms: 0 })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);

    // The server's run (the schedule's path) at day 11 erases exactly the two indicators.
    let erased = server.node.run_retention(t0 + 11 * DAY_MS).await.unwrap();
    assert_eq!(erased.len(), 2);
    let mut erased_commitments = Vec::new();
    for r in &erased {
        verify_receipt(r, &server.log).unwrap();
        match entry::decode(&r.entry).unwrap().kind {
            Some(pb::entry::Kind::Redaction(x)) => {
                assert_eq!((x.reason.as_str(), x.owner.as_str()), ("retention", SENDER));
                erased_commitments.push(hash_from_slice(&x.commitment).unwrap());
            }
            other => panic!("expected a redaction, got {other:?}"),
        }
    }
    erased_commitments.sort();
    let mut want = vec![c[0], c[3]];
    want.sort();
    assert_eq!(erased_commitments, want);
    let seen = get(&server, RECIPIENT, d).await;
    let erased_items: Vec<bool> = seen.items.iter().map(|i| i.payload.is_none()).collect();
    assert_eq!(erased_items, vec![true, false, false, true]);
    assert!(seen.items[0].withheld.ends_with(": retention"));

    // Day 31, by the owner's path (list, sign, Redact): the amber campaign goes; the green
    // campaign never does.
    let key = load_signing_key(&server.keys, SENDER).unwrap();
    let due = listed(t0 + 31 * DAY_MS).await;
    assert_eq!(due.iter().map(|x| x.0).collect::<Vec<_>>(), vec![c[1]]);
    for (commitment, _, _) in due {
        owner
            .redact(client::sign_redaction(
                &key,
                LeafIndex(d),
                &commitment,
                "retention",
            ))
            .await
            .unwrap();
    }
    let seen = get(&server, RECIPIENT, d).await;
    let erased_items: Vec<bool> = seen.items.iter().map(|i| i.payload.is_none()).collect();
    assert_eq!(erased_items, vec![true, true, false, true]);
    assert!(listed(t0 + 10_000 * DAY_MS).await.is_empty());
    assert!(
        server
            .node
            .run_retention(t0 + 10_000 * DAY_MS)
            .await
            .unwrap()
            .is_empty()
    );
    server.stop().await;
}

both_backends!(the_schedule_erases_on_its_own);
async fn the_schedule_erases_on_its_own(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let policy = retention_policy("types = { indicator = \"2s\" }");
    let keys = keys_with_policy(dir.path(), &policy);
    let mut config = NodeConfig::new(&keys, dir.path().join("data"));
    config.retention_interval = Some(Duration::from_millis(200));
    let server = TestServer::start_config(config, backend).await;
    assert_in_force(&server, &policy);
    let (receipt, _, _) = disclose(
        &server,
        vec![
            item("indicator", 1, GREEN, "s-a"),
            item("campaign", 2, GREEN, "s-b"),
        ],
    )
    .await;
    let t0 = entry::decode(&receipt.entry).unwrap().time_ms;
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let seen = loop {
        let seen = get(&server, RECIPIENT, receipt.index).await;
        if seen.items[0].erased_by != 0 {
            break seen;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the schedule never erased"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        seen.items[1].payload.is_some(),
        "the campaign has no retention rule"
    );
    let redaction =
        entry::decode(&get(&server, AUDITOR, seen.items[0].erased_by).await.entry).unwrap();
    assert!(
        redaction.time_ms >= t0 + 2000,
        "not erased before it expired"
    );
    match redaction.kind {
        Some(pb::entry::Kind::Redaction(x)) => assert_eq!(x.reason, "retention"),
        other => panic!("expected a redaction, got {other:?}"),
    }
    server.stop().await;
}

/// The state a crash leaves: the segments hold the Redaction entry, but the payload record
/// holds what it held before the overwrite (the pre-redaction bytes of every segment are a
/// prefix of the later ones, except for the erased records).
fn undo_erasures(before: &Path, after: &Path) {
    for e in std::fs::read_dir(before.join("segments")).unwrap() {
        let e = e.unwrap();
        let old = std::fs::read(e.path()).unwrap();
        let path = after.join("segments").join(e.file_name());
        let mut new = std::fs::read(&path).unwrap();
        new[..old.len()].copy_from_slice(&old);
        std::fs::write(&path, new).unwrap();
    }
}

/// Embedded store only: it recreates crash states in the segment and index files. In
/// PostgreSQL the overwrite is in the Redaction entry's own transaction, so there is no state
/// between them to finish.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_between_the_entry_and_the_overwrite_is_finished_on_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), Backend::Embedded).await;
    let marker = "QXCRASHMARKERpayload";
    let (receipt, _, c) = disclose(&server, vec![item("indicator", 1, GREEN, marker)]).await;
    let (keys, data) = (server.keys.clone(), server.data.clone());
    server.stop().await;
    let before = dir.path().join("before");
    copy_dir(&data, &before);

    let server = TestServer::start_with(&keys, &data, Backend::Embedded).await;
    let r = redact(&server, SENDER, SENDER, receipt.index, &c[0], "crash test")
        .await
        .unwrap();
    server.stop().await;
    let erased_segments = dir.path().join("erased");
    copy_dir(&data.join("segments"), &erased_segments);

    // Crash states: (a) the index behind the segments (its files from before the redaction),
    // or lost; (b) the overwrite itself torn — half the record new, half old.
    for case in ["index behind", "index lost", "torn overwrite"] {
        std::fs::remove_dir_all(data.join("segments")).unwrap();
        copy_dir(&erased_segments, &data.join("segments"));
        undo_erasures(&before, &data);
        std::fs::remove_dir_all(data.join("index")).unwrap();
        if case == "index behind" {
            copy_dir(&before.join("index"), &data.join("index"));
        }
        if case == "torn overwrite" {
            let seg = data.join("segments").join("00000000.seg");
            let mut bytes = std::fs::read(&seg).unwrap();
            let erased = std::fs::read(erased_segments.join("00000000.seg")).unwrap();
            let at = bytes.windows(32).position(|w| w == c[0]).unwrap() - 9;
            // Header, commitment, salt and the first bytes of the content are the erased
            // record's; the rest (holding the marker) is still the payload's.
            let mid = at + 9 + 64 + 8;
            bytes[at..mid].copy_from_slice(&erased[at..mid]);
            std::fs::write(&seg, bytes).unwrap();
        }
        assert!(
            !files_containing(&data.join("segments"), marker.as_bytes()).is_empty(),
            "{case}: the simulated crash left the payload on disk"
        );

        // The open finishes the interrupted erasure (the embedded store reports it), then
        // the server, opening the same directory, serves the erased item as erased.
        let store = borderlog::store::Store::open(&data, borderlog::store::StoreOptions::default())
            .unwrap();
        assert_eq!(store.open_report().erasures_finished, 1, "{case}");
        drop(store);
        let server = TestServer::start_with(&keys, &data, Backend::Embedded).await;
        let seen = get(&server, RECIPIENT, receipt.index).await;
        assert_eq!(
            seen.items[0].withheld,
            format!("erased by entry {}: crash test", r.index),
            "{case}"
        );
        assert_eq!(
            files_containing(&data, marker.as_bytes()),
            Vec::<PathBuf>::new(),
            "{case}"
        );
        let mut auditor = server.client(AUDITOR).await;
        let (checkpoint, _) = verify_chain(&mut auditor, &server.log).await;
        assert_eq!(checkpoint.size, r.index + 1, "{case}");
        server.stop().await;
        // Once finished, the next open has nothing left to do.
        let store = borderlog::store::Store::open(&data, Default::default()).unwrap();
        assert_eq!(store.open_report().erasures_finished, 0, "{case}");
    }
}
