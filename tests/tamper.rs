//! Tampering with a real ledger, and the auditor catching it: a real server over mTLS builds the
//! ledger (disclosures, receipts, a refusal, policy changes), the Audit/Export call exports it,
//! and each test alters the store (segments, rows, an older copy) or the export the way an
//! attacker would. Every alteration must fail verification with its own error, naming the
//! entry; untouched exports must pass. Each test runs on both backends (`name::embedded`,
//! `name::postgres`: `both_backends!` in tests/common/mod.rs), except those that damage one
//! backend's storage, which say which.

mod common;

use std::path::{Path, PathBuf};

use borderlog::audit::export::RecordReader;
use borderlog::audit::verify::{VerifyError, VerifyOptions, verify_records};
use borderlog::client;
use borderlog::format::LeafIndex;
use borderlog::format::checkpoint::Checkpoint;
use borderlog::format::hash::{hash_from_slice, leaf_hash};
use borderlog::format::signature::{self, Purpose};
use borderlog::guard;
use borderlog::identity::Registry;
use borderlog::identity::keys::load_signing_key;
use borderlog::pb::{self, entry::Kind, export_record::Record};
use borderlog::store::{PreparedBatch, Store, StoreError};
use common::export::*;
use common::*;
use prost::Message;

/// A signed submission of one indicator, the pattern replaced when `pattern` is given.
fn submission_with(keys: &Path, n: u64, pattern: Option<&str>) -> pb::SubmitRequest {
    let mut item = indicator_json(n);
    if let Some(p) = pattern {
        item["pattern"] = p.into();
    }
    let key = load_signing_key(keys, SENDER).unwrap();
    client::prepare_submission(
        &key,
        &header(),
        vec![serde_json::to_vec(&item).unwrap()],
        now_ms(),
    )
    .unwrap()
}

/// Builds a ledger: genesis, the default policy, three disclosures (two acknowledged), a
/// refusal, a second policy, one more disclosure. Returns the disclosures' indexes.
async fn build(server: &TestServer) -> Vec<u64> {
    let mut sender = server.client(SENDER).await;
    let mut recipient = server.client(RECIPIENT).await;
    let rkey = load_signing_key(&server.keys, RECIPIENT).unwrap();
    let mut disclosures = Vec::new();
    for n in 1..=3 {
        let r = sender
            .submit(submission_with(&server.keys, n, None))
            .await
            .unwrap()
            .into_inner();
        disclosures.push(r.index);
        if n < 3 {
            let leaf = hash_from_slice(&r.leaf_hash).unwrap();
            recipient
                .acknowledge(client::sign_receipt(&rkey, LeafIndex(r.index), &leaf))
                .await
                .unwrap();
        }
    }
    // A customer's inside address: refused, and recorded as a Refusal entry.
    sender
        .submit(submission_with(
            &server.keys,
            9,
            Some("[ipv4-addr:value = '10.20.30.40']"),
        ))
        .await
        .unwrap_err();
    let policy =
        guard::default_policy_for(SENDER).replace("version = \"2026.4\"", "version = \"2026.5\"");
    let skey = load_signing_key(&server.keys, SENDER).unwrap();
    sender
        .publish_policy(pb::PublishPolicyRequest {
            signature: signature::sign(&skey, Purpose::Policy, policy.as_bytes()).to_vec(),
            policy: policy.into_bytes(),
        })
        .await
        .unwrap();
    let r = sender
        .submit(submission_with(&server.keys, 4, None))
        .await
        .unwrap()
        .into_inner();
    disclosures.push(r.index);
    disclosures
}

/// The single segment file of a small ledger.
fn segment(data: &Path) -> PathBuf {
    let seg = data.join("segments").join("00000000.seg");
    assert!(seg.exists());
    seg
}

/// Offsets, kinds and body lengths of the records of a segment file (format in
/// src/store/segment.rs: len u32 LE, crc u32 LE, kind u8, body).
fn records_of(bytes: &[u8]) -> Vec<(usize, u8, usize)> {
    let mut out = Vec::new();
    let mut at = 0;
    while at + 9 <= bytes.len() {
        let len = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        out.push((at, bytes[at + 8], len));
        at += 9 + len;
    }
    out
}

/// Recomputes a record's CRC after its body was changed behind the store's back.
fn fix_crc(bytes: &mut [u8], at: usize, len: usize) {
    let crc = crc32fast::hash(&bytes[at + 8..at + 9 + len]);
    bytes[at + 4..at + 8].copy_from_slice(&crc.to_le_bytes());
}

both_backends!(untouched_exports_verify_for_every_party_and_the_cli_exit_codes_say_so);
async fn untouched_exports_verify_for_every_party_and_the_cli_exit_codes_say_so(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), backend).await;
    let disclosures = build(&server).await;

    let auditor = verify(server.export(AUDITOR, 0).await).expect("auditor's export verifies");
    assert_eq!(auditor.disclosures, 4);
    assert_eq!(auditor.receipts, 2);
    assert_eq!(auditor.receipts_pending, 2);
    assert_eq!(auditor.refusals, 1);
    assert_eq!(auditor.refusals_by_rule.get("inside.ip/1"), Some(&1));
    assert_eq!(auditor.policy_changes, 2);
    assert_eq!(auditor.payloads_not_visible, 4);
    assert_eq!(auditor.entries_withheld, 0);
    assert_eq!(auditor.entries, server.node.store().size().0);
    // Bodies carry no payload: even the auditor replays the guard over each one's text.
    assert_eq!(auditor.body_replays_passed, auditor.disclosures);

    // The sender sees its payloads: each is checked and replayed through the guard.
    let sender = verify(server.export(SENDER, 0).await).expect("sender's export verifies");
    assert_eq!(sender.payloads_checked, 4);
    assert_eq!(sender.replays_passed, 4);
    assert_eq!(sender.root, auditor.root);

    // The sender also sees the receipts for its disclosures.
    assert_eq!(sender.entries_withheld, 0, "{sender:?}");
    assert_eq!(sender.receipts, 2);

    // The recipient sees the policies that screened what it received, so it replays too.
    let recipient = verify(server.export(RECIPIENT, 0).await).expect("recipient's export");
    assert_eq!(recipient.entries_withheld, 0, "{recipient:?}");
    assert_eq!(recipient.payloads_checked, 4);
    assert_eq!(recipient.replays_passed, 4);

    // The command line: 0 for a good export, 1 for a bad one, 2 when nothing could be read.
    let good = dir.path().join("good.export");
    let mut records = server.export(AUDITOR, 0).await;
    write_export(&good, &records);
    let back: Vec<_> =
        RecordReader::new(std::io::BufReader::new(std::fs::File::open(&good).unwrap()))
            .collect::<Result<_, _>>()
            .unwrap();
    assert_eq!(back, records);
    let bad = dir.path().join("bad.export");
    entry_mut(&mut records, disclosures[1]).entry[3] ^= 0x40;
    write_export(&bad, &records);
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_borderlog"))
            .args(args)
            .output()
            .unwrap()
    };
    let ok = run(&["verify", good.to_str().unwrap()]);
    assert_eq!(ok.status.code(), Some(0), "{ok:?}");
    assert!(String::from_utf8_lossy(&ok.stdout).starts_with("OK: "));
    let failed = run(&["verify", "--json", bad.to_str().unwrap()]);
    assert_eq!(failed.status.code(), Some(1), "{failed:?}");
    let json: serde_json::Value = serde_json::from_slice(&failed.stdout).unwrap();
    assert_eq!(json["ok"], false);
    assert_eq!(json["check"], "leaf_hash");
    assert_eq!(json["entry"], disclosures[1]);
    // Live: the export streamed from the server and verified in memory.
    let keys = server.keys.to_str().unwrap().to_owned();
    let live = run(&["verify", "--addr", &server.addr, "--keys", &keys]);
    assert_eq!(live.status.code(), Some(0), "{live:?}");
    let missing = run(&["verify", dir.path().join("none").to_str().unwrap()]);
    assert_eq!(missing.status.code(), Some(2), "{missing:?}");
    server.stop().await;
}

/// Embedded store only: it damages a segment file
/// (`a_changed_entry_row_is_caught_by_verify` is PostgreSQL's counterpart).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flipped_byte_in_a_segment_is_refused_by_the_store_and_caught_in_the_export() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), Backend::Embedded).await;
    let disclosures = build(&server).await;
    let mut records = server.export(AUDITOR, 0).await;
    let target = disclosures[1];
    let stored = entry_mut(&mut records, target).entry.clone();
    let data = server.data.clone();
    server.stop().await;

    // Flip one bit of the entry's signature where it lies in the segment file.
    let seg = segment(&data);
    let mut bytes = std::fs::read(&seg).unwrap();
    let at = bytes
        .windows(stored.len())
        .position(|w| w == stored.as_slice())
        .expect("entry bytes in the segment");
    let pb::Entry {
        kind: Some(Kind::Disclosure(d)),
        ..
    } = pb::Entry::decode(stored.as_slice()).unwrap()
    else {
        panic!("not a disclosure")
    };
    let sig_at = stored
        .windows(64)
        .position(|w| w == d.signature.as_slice())
        .unwrap();
    bytes[at + sig_at + 10] ^= 0x01;
    std::fs::write(&seg, &bytes).unwrap();

    // The store's checksum catches it: committed data gone bad is an error, never repaired.
    match Store::open(&data, Default::default()) {
        Err(StoreError::Corrupt { segment: 0, .. }) => {}
        Err(e) => panic!("expected Corrupt, got {e}"),
        Ok(_) => panic!("the store opened a segment with a flipped byte"),
    }
    // With its checksum recomputed too, the store still refuses: the next entry's link breaks.
    let (rec_at, _, len) = records_of(&bytes)
        .into_iter()
        .find(|(o, _, len)| *o + 9 <= at && at < *o + 9 + len)
        .unwrap();
    fix_crc(&mut bytes, rec_at, len);
    std::fs::write(&seg, &bytes).unwrap();
    assert!(Store::open(&data, Default::default()).is_err());

    // The same flip in an export names the entry and the signature.
    let e = entry_mut(&mut records, target);
    e.entry[sig_at + 10] ^= 0x01;
    e.leaf_hash = leaf_hash(&e.entry).to_vec();
    let err = verify(records).unwrap_err();
    assert!(
        matches!(&err, VerifyError::BadSignature { index, purpose: "disclosure", signer } if *index == target && signer == SENDER),
        "{err}"
    );
}

/// Embedded store only: it cuts the segment file
/// (`a_restored_older_copy_is_a_rollback_against_a_held_checkpoint` runs on both backends).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_last_entries_is_a_rollback_against_a_held_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), Backend::Embedded).await;
    build(&server).await;
    let full = server.export(AUDITOR, 0).await;
    let held = last_checkpoint(&full);
    let size = server.node.store().size().0;
    let data = server.data.clone();
    let keys = server.keys.clone();
    server.stop().await;

    // Cut the segment after an earlier batch: a shorter log that is valid on its own.
    let seg = segment(&data);
    let bytes = std::fs::read(&seg).unwrap();
    let checkpoints: Vec<_> = records_of(&bytes)
        .into_iter()
        .filter(|(_, kind, _)| *kind == 3)
        .collect();
    let (at, _, len) = checkpoints[checkpoints.len() - 3];
    std::fs::write(&seg, &bytes[..at + 9 + len]).unwrap();
    std::fs::remove_dir_all(data.join("index")).unwrap();

    let server = TestServer::start_with(&keys, &data, Backend::Embedded).await;
    let shorter = server.node.store().size().0;
    assert!(shorter < size, "{shorter} < {size}");
    let rolled_back = server.export(AUDITOR, 0).await;
    verify(rolled_back.clone()).expect("the shorter log verifies on its own");
    let err = verify_trusting(rolled_back, vec![held]).unwrap_err();
    assert_eq!(
        err,
        VerifyError::Rollback {
            trusted_size: size,
            export_size: shorter
        }
    );
    server.stop().await;
}

/// PostgreSQL only (the counterpart of the flipped segment byte above): an entry's row changed
/// in the database behind the server's back — one bit of a disclosure's signature, then the
/// stored leaf hash recomputed to match — is served as stored, and verify names the entry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_entry_row_is_caught_by_verify() {
    if !pg::available("tamper::a_changed_entry_row_is_caught_by_verify") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), Backend::Postgres).await;
    let disclosures = build(&server).await;
    let url = server.url.clone().unwrap();
    let target = disclosures[1];
    let mut records = server.export(AUDITOR, 0).await;
    let stored = entry_mut(&mut records, target).entry.clone();
    let pb::Entry {
        kind: Some(Kind::Disclosure(d)),
        ..
    } = pb::Entry::decode(stored.as_slice()).unwrap()
    else {
        panic!("not a disclosure")
    };
    let flip = stored
        .windows(64)
        .position(|w| w == d.signature.as_slice())
        .unwrap()
        + 10;

    // The bytes changed, the leaf hash column left: the record's leaf hash is not theirs.
    pg::query(
        &url,
        &format!(
            "UPDATE entries SET bytes = set_byte(bytes, {flip}, get_byte(bytes, {flip}) # 1) \
             WHERE idx = {target}"
        ),
    );
    let err = verify(server.export(AUDITOR, 0).await).unwrap_err();
    assert_eq!(err, VerifyError::LeafHash { index: target });
    // The leaf hash recomputed too (RFC 6962: SHA-256 of 0x00 || bytes): the signature fails.
    pg::query(
        &url,
        &format!("UPDATE entries SET leaf = sha256('\\x00'::bytea || bytes) WHERE idx = {target}"),
    );
    let err = verify(server.export(AUDITOR, 0).await).unwrap_err();
    assert!(
        matches!(&err, VerifyError::BadSignature { index, purpose: "disclosure", signer } if *index == target && signer == SENDER),
        "{err}"
    );
    // And `borderlog verify` against the live server exits 1.
    let live = std::process::Command::new(env!("CARGO_BIN_EXE_borderlog"))
        .args(["verify", "--addr", &server.addr, "--keys"])
        .arg(&server.keys)
        .output()
        .unwrap();
    assert_eq!(live.status.code(), Some(1), "{live:?}");
    server.stop().await;
}

both_backends!(a_restored_older_copy_is_a_rollback_against_a_held_checkpoint);
/// The operator restores an older copy of the log (a backup of the segments, or of the
/// database) and serves it: valid on its own, and a rollback against the checkpoint an
/// auditor already holds.
async fn a_restored_older_copy_is_a_rollback_against_a_held_checkpoint(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), backend).await;
    build(&server).await;
    let (keys, data) = (server.keys.clone(), server.data.clone());
    server.stop().await;
    let backup = dir.path().join("backup");
    backend.copy_log(&data, &backup);

    let server = TestServer::start_with(&keys, &data, backend).await;
    let mut sender = server.client(SENDER).await;
    for n in 10..13 {
        sender.submit(submission(&keys, n)).await.unwrap();
    }
    let held = last_checkpoint(&server.export(AUDITOR, 0).await);
    let size = server.node.store().size().0;
    server.stop().await;

    let server = TestServer::start_with(&keys, &backup, backend).await;
    let shorter = server.node.store().size().0;
    assert!(shorter < size, "{shorter} < {size}");
    let restored = server.export(AUDITOR, 0).await;
    verify(restored.clone()).expect("the older copy verifies on its own");
    assert_eq!(
        verify_trusting(restored, vec![held]).unwrap_err(),
        VerifyError::Rollback {
            trusted_size: size,
            export_size: shorter
        }
    );
    server.stop().await;
}

both_backends!(swapped_entries_replaced_payloads_and_forged_disclosures_are_named);
async fn swapped_entries_replaced_payloads_and_forged_disclosures_are_named(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), backend).await;
    let d = build(&server).await;
    let records = server.export(AUDITOR, 0).await;
    let (a, b) = (d[0], d[2]);

    // Two entries swapped in place: the first out of place is named.
    let mut swapped = records.clone();
    let ia = swapped
        .iter()
        .position(|r| matches!(&r.record, Some(Record::Entry(e)) if e.index == a))
        .unwrap();
    let ib = swapped
        .iter()
        .position(|r| matches!(&r.record, Some(Record::Entry(e)) if e.index == b))
        .unwrap();
    swapped.swap(ia, ib);
    assert_eq!(
        verify(swapped).unwrap_err(),
        VerifyError::IndexGap {
            position: a,
            found: b
        }
    );

    // Swapped and renumbered and re-chained (signatures still hold): the signed root does not.
    let mut renumbered = records.clone();
    let bodies: Vec<_> = [a, b]
        .iter()
        .map(|i| {
            pb::Entry::decode(entry_mut(&mut renumbered, *i).entry.as_slice())
                .unwrap()
                .kind
        })
        .collect();
    let items_a = entry_mut(&mut renumbered, a).items.clone();
    let items_b = entry_mut(&mut renumbered, b).items.clone();
    for (i, kind, items) in [
        (a, bodies[1].clone(), items_b),
        (b, bodies[0].clone(), items_a),
    ] {
        let e = entry_mut(&mut renumbered, i);
        let mut decoded = pb::Entry::decode(e.entry.as_slice()).unwrap();
        decoded.kind = kind;
        e.entry = decoded.encode_to_vec();
        e.items = items;
    }
    rechain(&mut renumbered, None);
    let err = verify(renumbered).unwrap_err();
    assert!(matches!(err, VerifyError::RootMismatch { .. }), "{err}");

    // A payload replaced (the sender's export carries payloads).
    let mut replaced = server.export(SENDER, 0).await;
    replaced_payload(entry_mut(&mut replaced, b));
    assert_eq!(
        verify(replaced).unwrap_err(),
        VerifyError::PayloadMismatch { index: b, item: 0 }
    );

    // A disclosure forged by the log operator with another partner's key, appended and
    // re-signed with the log key: the signature names it.
    let mut forged = records.clone();
    // Modelled on the last disclosure, so it records the policy in force.
    let template = pb::Entry::decode(entry_mut(&mut forged, d[3]).entry.as_slice()).unwrap();
    let Some(Kind::Disclosure(mut disclosure)) = template.kind else {
        panic!("not a disclosure")
    };
    let wrong_key = load_signing_key(&server.keys, RECIPIENT).unwrap();
    let mut body = pb::DisclosureBody::decode(disclosure.body.as_slice()).unwrap();
    body.nonce = vec![42; 16];
    disclosure.body = body.encode_to_vec();
    disclosure.signature =
        signature::sign(&wrong_key, Purpose::Disclosure, &disclosure.body).to_vec();
    let items = entry_mut(&mut forged, d[3]).items.clone();
    let index = append_entry(
        &mut forged,
        &server.keys,
        Kind::Disclosure(disclosure),
        items,
    );
    let err = verify(forged).unwrap_err();
    assert_eq!(
        err,
        VerifyError::BadSignature {
            index,
            purpose: "disclosure",
            signer: SENDER.into()
        }
    );

    // A receipt removed: the gap is named.
    let mut removed = records.clone();
    let at = removed
        .iter()
        .position(|r| matches!(&r.record, Some(Record::Entry(e)) if e.index == a + 1))
        .unwrap();
    removed.remove(at);
    // Its batch's checkpoint (or the next entry) now stands where the receipt was.
    let err = verify(removed).unwrap_err();
    assert!(
        matches!(
            err,
            VerifyError::IndexGap { position, .. } | VerifyError::CheckpointMisplaced { size: position, .. }
                if position == a + 1
        ),
        "{err}"
    );
    server.stop().await;
}

/// Changes the first item's content, keeping its length.
fn replaced_payload(e: &mut pb::EntryResponse) {
    let p = e.items[0].payload.as_mut().unwrap();
    let text = String::from_utf8(p.content.clone()).unwrap();
    p.content = text.replace("badcdn", "evilcd").into_bytes();
}

both_backends!(a_re_signed_fork_is_caught_by_an_earlier_held_checkpoint);
async fn a_re_signed_fork_is_caught_by_an_earlier_held_checkpoint(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), backend).await;
    build(&server).await;
    let held = last_checkpoint(&server.export(AUDITOR, 0).await);
    let keys = server.keys.clone();
    server.stop().await;

    // The operator starts over with the same log key and writes another history, longer than
    // what the auditor holds; every checkpoint of it is validly signed.
    let forked = TestServer::start_with(&keys, &dir.path().join("forked"), backend).await;
    build(&forked).await;
    let mut sender = forked.client(SENDER).await;
    for n in 10..16 {
        sender.submit(submission(&keys, n)).await.unwrap();
    }
    let records = forked.export(AUDITOR, 0).await;
    verify(records.clone()).expect("the fork is consistent with itself");
    let err = verify_trusting(records, vec![held.clone()]).unwrap_err();
    let (held_cp, _) = Checkpoint::open(&held, &forked.log).unwrap();
    assert!(
        matches!(&err, VerifyError::Fork { size, .. } if *size == held_cp.size),
        "{err}"
    );
    forked.stop().await;
}

both_backends!(a_ledger_with_a_redaction_still_verifies_for_every_party);
/// Erasure keeps every proof: after a real redaction the exports still verify, the erased
/// payload is accounted for by the Redaction entry, and the other payloads still replay.
async fn a_ledger_with_a_redaction_still_verifies_for_every_party(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), backend).await;
    let disclosures = build(&server).await;
    let first = disclosures[0];
    let entry = server
        .client(SENDER)
        .await
        .get_entry(pb::GetEntryRequest { index: first })
        .await
        .unwrap()
        .into_inner();
    let commitment: [u8; 32] = entry.items[0].commitment.as_slice().try_into().unwrap();
    let key = load_signing_key(&server.keys, SENDER).unwrap();
    server
        .client(SENDER)
        .await
        .redact(client::sign_redaction(
            &key,
            borderlog::format::LeafIndex(first),
            &commitment,
            "found to name a customer after all",
        ))
        .await
        .unwrap();

    for who in [AUDITOR, SENDER, RECIPIENT] {
        let report = verify(server.export(who, 0).await)
            .unwrap_or_else(|e| panic!("{who}'s export after a redaction: {e}"));
        assert_eq!(report.redactions, 1, "{who}");
        if who != AUDITOR {
            // The auditor sees no payload at all; the partners see the erasure as such.
            assert_eq!(report.payloads_erased, 1, "{who}");
            assert_eq!(report.payloads_checked, 3, "{who}");
            assert_eq!(report.replays_passed, 3, "{who}");
        }
    }
    server.stop().await;
}

both_backends!(a_payload_slipped_past_the_guard_is_caught_by_the_replay);
/// A policy-violating payload slipped into the store behind the server's back — a disclosure
/// properly signed by the sender and recording the policy in force, but never screened, written
/// straight into the segments or the database with a checkpoint the log key signs — is named
/// by the guard replay.
async fn a_payload_slipped_past_the_guard_is_caught_by_the_replay(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), backend).await;
    build(&server).await;
    let policy_hash = server
        .node
        .sequencer()
        .policy_in_force(SENDER)
        .expect("the sender's policy is in force")
        .hash;
    let (keys, data) = (server.keys.clone(), server.data.clone());
    let origin = Registry::load(&keys).unwrap().origin().to_owned();
    server.stop().await;

    // The operator (or a colluding sender) writes the entry directly into the store.
    let request = submission_with(&keys, 99, Some("[ipv4-addr:value = '172.16.9.9']"));
    let body = pb::DisclosureBody::decode(request.body.as_slice()).unwrap();
    let signer = log_signer(&keys, &origin);
    let slipped = backend.with_store(&data, |store| {
        let (size, prev) = store.tip();
        let bytes = pb::Entry {
            index: size.0,
            time_ms: now_ms(),
            prev_leaf_hash: prev.to_vec(),
            kind: Some(Kind::Disclosure(pb::Disclosure {
                body: request.body.clone(),
                signature: request.signature.clone(),
                policy_hash: policy_hash.to_vec(),
            })),
        }
        .encode_to_vec();
        let payloads: Vec<_> = request
            .items
            .iter()
            .zip(&body.items)
            .map(|(item, signed)| borderlog::store::Payload {
                commitment: hash_from_slice(&signed.commitment).unwrap(),
                salt: item.salt.as_slice().try_into().unwrap(),
                content: item.content.clone().into(),
            })
            .collect();
        let batch = PreparedBatch::from_bytes(size.0, &[bytes], &payloads).unwrap();
        store
            .append(&batch, &mut |size, root| {
                Checkpoint {
                    origin: origin.clone(),
                    size: size.0,
                    root,
                    extensions: Vec::new(),
                }
                .sign(&signer)
                .unwrap()
            })
            .unwrap();
        size.0
    });

    // Every signature, link and root holds; only the replay of the recorded policy fails.
    let server = TestServer::start_with(&keys, &data, backend).await;
    let err = verify(server.export(SENDER, 0).await).unwrap_err();
    assert!(
        matches!(&err, VerifyError::GuardReplay { index, item: 0, .. } if *index == slipped),
        "{err}"
    );
    assert!(err.to_string().contains("inside.ip/1"), "{err}");
    server.stop().await;
}

/// Sets whom the (unsigned) header says the export was made for.
fn relabel(records: &mut [pb::ExportRecord], exported_for: &str) {
    let Some(Record::Header(h)) = &mut records[0].record else {
        panic!("no header")
    };
    h.exported_for = exported_for.into();
}

both_backends!(an_entry_withheld_from_an_auditors_export_is_named);
async fn an_entry_withheld_from_an_auditors_export_is_named(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), backend).await;
    let d = build(&server).await;

    // The operator hides a disclosure from the auditor: same index, same leaf hash, so the
    // chain, the tree and every signed root still hold.
    let mut hidden = server.export(AUDITOR, 0).await;
    withhold(&mut hidden, d[1]);
    let err = verify(hidden.clone()).unwrap_err();
    assert!(
        matches!(&err, VerifyError::Incomplete { index, exported_for, .. }
            if *index == d[1] && exported_for == AUDITOR),
        "{err}"
    );
    assert_eq!(err.check(), "incomplete");

    // Relabelled for a name that is no party (the header is unsigned), it is no partner's
    // export either.
    let mut relabelled = hidden.clone();
    relabel(&mut relabelled, "nobody");
    assert!(matches!(
        verify(relabelled).unwrap_err(),
        VerifyError::Incomplete { index, .. } if index == d[1]
    ));

    // A partner's export may withhold entries; the auditor who asks for a complete export
    // (whatever the header says) still catches it.
    let mut hidden = server.export(SENDER, 0).await;
    let complete = VerifyOptions {
        complete: true,
        ..Default::default()
    };
    verify_records(hidden.clone(), complete.clone()).expect("the sender's real export is whole");
    withhold(&mut hidden, d[1]);
    let partners = verify(hidden.clone()).expect("a partner's export may withhold entries");
    assert_eq!(partners.entries_withheld, 1);
    assert!(matches!(
        verify_records(hidden.clone(), complete).unwrap_err(),
        VerifyError::Incomplete { index, .. } if index == d[1]
    ));

    // The command line: `--complete` fails it with exit status 1.
    let file = dir.path().join("hidden.export");
    write_export(&file, &hidden);
    let run = |extra: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_borderlog"))
            .args(["verify", "--json"])
            .args(extra)
            .arg(&file)
            .output()
            .unwrap()
    };
    assert_eq!(run(&[]).status.code(), Some(0));
    let out = run(&["--complete"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["check"], "incomplete");
    assert_eq!(json["entry"], d[1]);
    server.stop().await;
}

both_backends!(fields_the_format_fixes_are_checked_without_payloads);
async fn fields_the_format_fixes_are_checked_without_payloads(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), backend).await;
    let d = build(&server).await;
    let records = server.export(AUDITOR, 0).await;
    let keys = server.keys.clone();

    // Each change is signed by the sender and re-signed into the log by the operator: only
    // the field's value is wrong, and the auditor's export has no payload to replay.
    let cases: Vec<(&str, BodyChange)> = vec![
        (
            "TLP \"purple\"",
            Box::new(|b| b.items[0].tlp = "purple".into()),
        ),
        (
            "TLP \"GREEN\"",
            Box::new(|b| b.items[0].tlp = "GREEN".into()),
        ),
        (
            "STIX id",
            Box::new(|b| b.items[0].stix_type = "malware".into()),
        ),
        (
            "STIX id",
            Box::new(|b| b.items[0].stix_id = "indicator--not-a-uuid".into()),
        ),
        ("nonce is 8 bytes", Box::new(|b| b.nonce = vec![1; 8])),
        ("nonce is 65 bytes", Box::new(|b| b.nonce = vec![1; 65])),
        ("no legal_basis", Box::new(|b| b.legal_basis = " ".into())),
        ("no item", Box::new(|b| b.items.clear())),
    ];
    for (what, change) in cases {
        let mut forged = records.clone();
        resign_body(&mut forged, &keys, d[1], change);
        let err = verify(forged).unwrap_err();
        assert!(
            matches!(&err, VerifyError::Malformed { index, reason }
                if *index == d[1] && reason.contains(what)),
            "{what}: {err}"
        );
    }
    // The same body re-signed unchanged still verifies: the checks above are the fields'.
    let mut same = records.clone();
    resign_body(&mut same, &keys, d[1], |_| {});
    verify(same).expect("an unchanged body re-signed verifies");
    server.stop().await;
}

both_backends!(non_canonical_keys_in_genesis_or_a_key_change_fail);
async fn non_canonical_keys_in_genesis_or_a_key_change_fail(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), backend).await;
    build(&server).await;
    let records = server.export(AUDITOR, 0).await;
    let keys = server.keys.clone();

    // Genesis pins 32 bytes of 0xff (a non-canonical encoding of a point) for the recipient.
    let mut genesis = records.clone();
    let e = entry_mut(&mut genesis, 0);
    let mut entry = pb::Entry::decode(e.entry.as_slice()).unwrap();
    let Some(Kind::Genesis(g)) = &mut entry.kind else {
        panic!("entry 0 is not genesis")
    };
    let p = g.parties.iter_mut().find(|p| p.name == RECIPIENT).unwrap();
    p.public_key = vec![0xff; 32];
    e.entry = entry.encode_to_vec();
    rechain(&mut genesis, Some(&keys));
    let err = verify(genesis).unwrap_err();
    assert!(
        matches!(&err, VerifyError::Genesis { index: 0, reason } if reason.contains(RECIPIENT)),
        "{err}"
    );

    // The sender rotates to 0xff..ff, signed by its key in force, appended by the operator.
    let mut rotated = records.clone();
    let sender = load_signing_key(&keys, SENDER).unwrap();
    let index = append_entry(
        &mut rotated,
        &keys,
        Kind::KeyChange(pb::KeyChange {
            party: SENDER.into(),
            new_public_key: vec![0xff; 32],
            signature: signature::sign(&sender, Purpose::KeyChange, &[0xff; 32]).to_vec(),
        }),
        Vec::new(),
    );
    let err = verify(rotated).unwrap_err();
    assert!(
        matches!(&err, VerifyError::KeyChange { index: i, party, .. }
            if *i == index && party == SENDER),
        "{err}"
    );
    server.stop().await;
}

/// A change to a disclosure body, for the field-value cases above.
type BodyChange = Box<dyn FnOnce(&mut pb::DisclosureBody)>;
