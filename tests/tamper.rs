//! Tampering with a real ledger, and the auditor catching it: a real server over mTLS builds the
//! ledger (disclosures, receipts, a refusal, policy changes), the Audit/Export call exports it,
//! and each test alters the segments or the export the way an attacker would. Every alteration
//! must fail verification with its own error, naming the entry; untouched exports must pass.

mod common;

use std::path::{Path, PathBuf};

use borderlog::audit::export::{RecordReader, RecordWriter};
use borderlog::audit::verify::{Report, VerifyError, VerifyOptions, verify_records};
use borderlog::client;
use borderlog::format::checkpoint::Checkpoint;
use borderlog::format::hash::{hash_from_slice, leaf_hash};
use borderlog::format::note::Signer;
use borderlog::format::signature::{self, Purpose};
use borderlog::format::{LeafIndex, tree::Frontier};
use borderlog::guard;
use borderlog::identity::Registry;
use borderlog::identity::keys::{load_log_key, load_signing_key};
use borderlog::pb::{self, entry::Kind, export_record::Record};
use borderlog::store::{Store, StoreError};
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
        guard::default_policy_for(SENDER).replace("version = \"2026.1\"", "version = \"2026.2\"");
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

fn verify(records: Vec<pb::ExportRecord>) -> Result<Report, VerifyError> {
    verify_trusting(records, Vec::new())
}

fn verify_trusting(
    records: Vec<pb::ExportRecord>,
    trusted: Vec<String>,
) -> Result<Report, VerifyError> {
    verify_records(
        records,
        VerifyOptions {
            trusted_checkpoints: trusted,
            threads: 2,
            ..Default::default()
        },
    )
}

fn last_checkpoint(records: &[pb::ExportRecord]) -> String {
    match &records.last().unwrap().record {
        Some(Record::Checkpoint(n)) => n.clone(),
        other => panic!("export does not end with a checkpoint: {other:?}"),
    }
}

fn entry_mut(records: &mut [pb::ExportRecord], index: u64) -> &mut pb::EntryResponse {
    records
        .iter_mut()
        .find_map(|r| match &mut r.record {
            Some(Record::Entry(e)) if e.index == index => Some(e),
            _ => None,
        })
        .expect("entry in export")
}

fn write_export(path: &Path, records: &[pb::ExportRecord]) {
    let mut w = RecordWriter::new(std::fs::File::create(path).unwrap());
    for r in records {
        w.write(r).unwrap();
    }
    w.finish().unwrap();
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn untouched_exports_verify_for_every_party_and_the_cli_exit_codes_say_so() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flipped_byte_in_a_segment_is_refused_by_the_store_and_caught_in_the_export() {
    if embedded_only("a_flipped_byte_in_a_segment_is_refused_by_the_store_and_caught_in_the_export")
    {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_last_entries_is_a_rollback_against_a_held_checkpoint() {
    if embedded_only("dropping_the_last_entries_is_a_rollback_against_a_held_checkpoint") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
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

    let server = TestServer::start_with(&keys, &data).await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swapped_entries_replaced_payloads_and_forged_disclosures_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
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
    forged.pop();
    let last_leaf = forged
        .iter()
        .rev()
        .find_map(|r| match &r.record {
            Some(Record::Entry(e)) => Some(e.clone()),
            _ => None,
        })
        .unwrap();
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
    let index = last_leaf.index + 1;
    let bytes = pb::Entry {
        index,
        time_ms: now_ms(),
        prev_leaf_hash: last_leaf.leaf_hash.clone(),
        kind: Some(Kind::Disclosure(disclosure)),
    }
    .encode_to_vec();
    let items = entry_mut(&mut forged, d[3]).items.clone();
    forged.push(pb::ExportRecord {
        record: Some(Record::Entry(pb::EntryResponse {
            index,
            leaf_hash: leaf_hash(&bytes).to_vec(),
            entry: bytes,
            items,
        })),
    });
    rechain(&mut forged, Some(&server.keys));
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

/// Rewrites indexes, links and leaf hashes of every entry record in order, as anyone could;
/// with the operator's `keys`, also re-signs every checkpoint with the log key — what a
/// dishonest operator could do. Without them the checkpoints keep what the log signed.
fn rechain(records: &mut Vec<pb::ExportRecord>, keys: Option<&Path>) {
    let mut prev = [0u8; 32];
    let mut frontier = Frontier::new();
    let mut signer: Option<Signer> = None;
    let origin = match &records[0].record {
        Some(Record::Header(h)) => h.origin.clone(),
        _ => panic!("no header"),
    };
    let mut size = 0;
    for r in records.iter_mut() {
        match &mut r.record {
            Some(Record::Entry(e)) => {
                let mut decoded = pb::Entry::decode(e.entry.as_slice()).unwrap();
                decoded.index = size;
                decoded.prev_leaf_hash = prev.to_vec();
                e.index = size;
                e.entry = decoded.encode_to_vec();
                let leaf = leaf_hash(&e.entry);
                e.leaf_hash = leaf.to_vec();
                prev = leaf;
                frontier.push(leaf);
                size += 1;
            }
            Some(Record::Checkpoint(note)) => {
                let Some(keys) = keys else { continue };
                let s = signer.get_or_insert_with(|| log_signer(keys, &origin));
                *note = Checkpoint {
                    origin: origin.clone(),
                    size,
                    root: frontier.root(),
                    extensions: Vec::new(),
                }
                .sign(s)
                .unwrap();
            }
            _ => {}
        }
    }
    if let (Some(keys), false) = (
        keys,
        matches!(
            records.last().and_then(|r| r.record.as_ref()),
            Some(Record::Checkpoint(_))
        ),
    ) {
        let s = signer.get_or_insert_with(|| log_signer(keys, &origin));
        records.push(pb::ExportRecord {
            record: Some(Record::Checkpoint(
                Checkpoint {
                    origin: origin.clone(),
                    size,
                    root: frontier.root(),
                    extensions: Vec::new(),
                }
                .sign(s)
                .unwrap(),
            )),
        });
    }
    if let Some(Record::Header(h)) = &mut records[0].record {
        h.tree_size = size;
    }
}

/// The log's checkpoint signer, from the operator's keys directory.
fn log_signer(keys: &Path, origin: &str) -> Signer {
    let registry = Registry::load(keys).unwrap();
    assert_eq!(registry.origin(), origin);
    Signer::new(origin, load_log_key(keys).unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_re_signed_fork_is_caught_by_an_earlier_held_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    build(&server).await;
    let held = last_checkpoint(&server.export(AUDITOR, 0).await);
    let keys = server.keys.clone();
    server.stop().await;

    // The operator starts over with the same log key and writes another history, longer than
    // what the auditor holds; every checkpoint of it is validly signed.
    let forked = TestServer::start_with(&keys, &dir.path().join("forked")).await;
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

/// Erasure keeps every proof: after a real redaction the exports still verify, the erased
/// payload is accounted for by the Redaction entry, and the other payloads still replay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ledger_with_a_redaction_still_verifies_for_every_party() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
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

/// A policy-violating payload slipped into the store behind the server's back — a disclosure
/// properly signed by the sender and recording the policy in force, but never screened, written
/// straight into the segments with a checkpoint the log key signs — is named by the guard replay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payload_slipped_past_the_guard_is_caught_by_the_replay() {
    if embedded_only("a_payload_slipped_past_the_guard_is_caught_by_the_replay") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
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
    let store = Store::open(&data, Default::default()).unwrap();
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
            content: item.content.clone(),
        })
        .collect();
    let signer = log_signer(&keys, &origin);
    store
        .append(&[bytes], &payloads, |size, root| {
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
    let slipped = size.0;
    drop(store);

    // Every signature, link and root holds; only the replay of the recorded policy fails.
    let server = TestServer::start_with(&keys, &data).await;
    let err = verify(server.export(SENDER, 0).await).unwrap_err();
    assert!(
        matches!(&err, VerifyError::GuardReplay { index, item: 0, .. } if *index == slipped),
        "{err}"
    );
    assert!(err.to_string().contains("inside.ip/1"), "{err}");
    server.stop().await;
}
