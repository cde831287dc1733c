//! Keys: a partner's key rotation, a partner's revocation, and the log key's rotation, over
//! real gRPC and mutual TLS on loopback, through the `borderlog key` commands and their files;
//! and the verifier following all three (plus a retired key slipped into a synthetic ledger).

mod common;

use borderlog::audit::synthetic::{self, Builder};
use borderlog::audit::verify::{Report, VerifyError, VerifyOptions, verify_records};
use borderlog::cli::ClientArgs;
use borderlog::cli::key::{self, KeyArgs, KeyCommand, RevokeArgs, RotateArgs};
use borderlog::client;
use borderlog::format::LeafIndex;
use borderlog::format::checkpoint::Checkpoint;
use borderlog::format::hash::hash_from_slice;
use borderlog::format::note::{Note, Signer, Verifier};
use borderlog::identity::keys::{
    load_log_key, load_signing_key, retired_key_path, signing_key_path,
};
use borderlog::pb::{self, entry::Kind};
use borderlog::service::{Node, NodeConfig};
use common::*;
use ed25519_dalek::SigningKey;
use tonic::Code;

fn args(server: &TestServer, name: &str) -> ClientArgs {
    ClientArgs {
        keys: server.keys.clone(),
        addr: server.addr.clone(),
        as_name: Some(name.into()),
        json: false,
    }
}

async fn rotate(server: &TestServer, name: &str) {
    key::run(KeyArgs {
        command: KeyCommand::Rotate(RotateArgs {
            client: args(server, name),
        }),
    })
    .await
    .expect("rotate");
}

async fn revoke_self(server: &TestServer, name: &str) {
    key::run(KeyArgs {
        command: KeyCommand::Revoke(RevokeArgs {
            party: None,
            log: false,
            data: server.data.clone(),
            client: args(server, name),
        }),
    })
    .await
    .expect("revoke");
}

/// The whole log exported as `who`, verified offline.
async fn export_and_verify(server: &TestServer, who: &str) -> Result<Report, VerifyError> {
    let records = server.export(who, 0).await;
    verify_records(
        records,
        VerifyOptions {
            threads: 2,
            ..Default::default()
        },
    )
}

/// A compliance report over the whole log verifies under `log` (a pinned log key).
async fn report_verifies(server: &TestServer, log: &Verifier) {
    let mut api = client::connect_reports(&server.addr, &server.keys, "compliance")
        .await
        .unwrap();
    let r = api
        .get_report(pb::ReportRequest {
            from_ms: 0,
            to_ms: now_ms() + 3_600_000,
            bucket: "week".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let report = borderlog::report::Report::from_json(&r.report_json).unwrap();
    borderlog::report::verify::verify(&report, log).expect("the report verifies");
}

/// The latest KeyChange entry in the log.
fn last_key_change(server: &TestServer) -> (u64, pb::KeyChange) {
    let store = server.node.store();
    for i in (0..store.size().0).rev() {
        let bytes = store.entry(LeafIndex(i)).unwrap().unwrap();
        if let Some(Kind::KeyChange(k)) = borderlog::format::entry::decode(&bytes).unwrap().kind {
            return (i, k);
        }
    }
    panic!("no key change in the log");
}

async fn change_key(server: &TestServer, name: &str, change: pb::KeyChange) -> tonic::Status {
    server
        .client(name)
        .await
        .change_key(pb::ChangeKeyRequest {
            key_change: Some(change),
        })
        .await
        .expect_err("the key change is refused")
}

/// The sender submits its disclosure `n` now: the receipt, or the refusal.
async fn submit(server: &TestServer, n: u64) -> Result<pb::LogReceipt, tonic::Status> {
    let request = submission(&server.keys, n);
    let reply = server.client(SENDER).await.submit(request).await;
    reply.map(tonic::Response::into_inner)
}

fn fresh_key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

#[tokio::test]
async fn a_rotated_key_replaces_the_old_one_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), Backend::Embedded).await;
    let old_key = load_signing_key(&server.keys, SENDER).unwrap();
    let signed_with_old = submission(&server.keys, 1);
    let another_with_old = submission(&server.keys, 2);
    // One disclosure under the old key, before the rotation: it stays valid.
    submit(&server, 0).await.unwrap();

    rotate(&server, SENDER).await;
    let (at, change) = last_key_change(&server);
    // The old key is kept, the new one is owner-only and pinned in partners.toml.
    let retired = retired_key_path(&server.keys, SENDER, at);
    assert_eq!(
        load_signing_key(&server.keys, SENDER)
            .unwrap()
            .verifying_key()
            .to_bytes()
            .to_vec(),
        change.new_public_key
    );
    assert!(retired.exists(), "{} kept", retired.display());
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(signing_key_path(&server.keys, SENDER))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let registry = borderlog::identity::Registry::load(&server.keys).unwrap();
    assert_eq!(
        registry
            .party(SENDER)
            .unwrap()
            .public_key
            .unwrap()
            .to_bytes()
            .to_vec(),
        change.new_public_key
    );

    let mut sender = server.client(SENDER).await;
    let refused = sender.submit(signed_with_old).await.unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument, "{refused:?}");
    assert!(refused.message().contains("key in force"), "{refused:?}");
    sender.submit(submission(&server.keys, 3)).await.unwrap();

    // The same KeyChange again, and a rotation back to the old key: both refused.
    let replay = change_key(&server, SENDER, change.clone()).await;
    assert_eq!(replay.code(), Code::AlreadyExists, "{replay:?}");
    let new_key = load_signing_key(&server.keys, SENDER).unwrap();
    let back = client::sign_key_change(&new_key, SENDER, Some(&old_key.verifying_key()));
    let back = change_key(&server, SENDER, back).await;
    assert_eq!(back.code(), Code::AlreadyExists, "{back:?}");
    // Signed by the retired key: refused.
    let by_old = client::sign_key_change(&old_key, SENDER, Some(&fresh_key(77).verifying_key()));
    let by_old = change_key(&server, SENDER, by_old).await;
    assert_eq!(by_old.code(), Code::InvalidArgument, "{by_old:?}");
    // Nobody changes another partner's key.
    let theirs = client::sign_key_change(&new_key, SENDER, Some(&fresh_key(78).verifying_key()));
    let theirs = change_key(&server, RECIPIENT, theirs).await;
    assert_eq!(theirs.code(), Code::PermissionDenied, "{theirs:?}");

    let (keys, data) = (server.keys.clone(), server.data.clone());
    server.stop().await;
    let server = TestServer::start_with(&keys, &data, Backend::Embedded).await;
    let mut sender = server.client(SENDER).await;
    let refused = sender.submit(another_with_old).await.unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument, "{refused:?}");
    sender.submit(submission(&server.keys, 4)).await.unwrap();

    for who in [SENDER, RECIPIENT, AUDITOR] {
        let report = export_and_verify(&server, who).await.expect(who);
        assert_eq!(report.key_rotations, vec![(SENDER.to_owned(), at)], "{who}");
        assert_eq!(report.disclosures, 3, "{who}");
    }
    report_verifies(&server, &server.log).await;
    server.stop().await;
}

/// The race the sequencer closes: an entry whose signature the service checked against the old
/// key reaches the sequencer after the KeyChange. Handed to the sequencer directly (as a
/// request checked just before the change would be), it is refused, in the same batch or later.
#[tokio::test]
async fn the_sequencer_refuses_an_entry_checked_against_a_key_retired_meanwhile() {
    use borderlog::keys_in_force::KeyError;
    use borderlog::sequencer::{Append, SequencerError, SignedBy};
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), Backend::Embedded).await;
    let old = load_signing_key(&server.keys, SENDER).unwrap();
    let checked_against_old = |n: u64| {
        let request = submission(&server.keys, n);
        Append {
            kind: Kind::Disclosure(pb::Disclosure {
                body: request.body,
                signature: request.signature,
                policy_hash: Vec::new(),
            }),
            payloads: Vec::new(),
            claims: Vec::new(),
            screened_under: None,
            signed_by: Some(SignedBy {
                party: SENDER.into(),
                key: old.verifying_key(),
            }),
        }
    };
    let sequencer = server.node.sequencer().clone();
    sequencer.append(checked_against_old(1)).await.unwrap();

    // The KeyChange and an entry checked against the old key, queued together.
    let change = client::sign_key_change(&old, SENDER, Some(&fresh_key(60).verifying_key()));
    let rotation = Append {
        kind: Kind::KeyChange(change),
        payloads: Vec::new(),
        claims: Vec::new(),
        screened_under: None,
        signed_by: Some(SignedBy {
            party: SENDER.into(),
            key: old.verifying_key(),
        }),
    };
    let (rotated, late) = tokio::join!(
        sequencer.append(rotation),
        sequencer.append(checked_against_old(2))
    );
    let at = rotated.unwrap().index;
    match late {
        Err(SequencerError::KeyNotInForce(KeyError::Retired { party, index })) => {
            assert_eq!((party.as_str(), index), (SENDER, at));
        }
        other => panic!("{other:?}"),
    }
    let later = sequencer.append(checked_against_old(3)).await.unwrap_err();
    assert!(
        matches!(
            later,
            SequencerError::KeyNotInForce(KeyError::Retired { .. })
        ),
        "{later:?}"
    );
    // And a second KeyChange signed by the retired key: refused too.
    let again = client::sign_key_change(&old, SENDER, Some(&fresh_key(61).verifying_key()));
    let again = Append {
        kind: Kind::KeyChange(again),
        payloads: Vec::new(),
        claims: Vec::new(),
        screened_under: None,
        signed_by: None,
    };
    assert!(matches!(
        sequencer.append(again).await,
        Err(SequencerError::KeyNotInForce(KeyError::BadSignature { .. }))
    ));
    drop(sequencer);
    server.stop().await;
}

#[tokio::test]
async fn a_revoked_partner_writes_nothing_and_receives_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), Backend::Embedded).await;
    let mut sender = server.client(SENDER).await;
    let d = sender
        .submit(submission(&server.keys, 1))
        .await
        .unwrap()
        .into_inner();
    let police = load_signing_key(&server.keys, RECIPIENT).unwrap();

    revoke_self(&server, RECIPIENT).await;
    let (revoked_at, change) = last_key_change(&server);
    assert!(change.new_public_key.is_empty());
    assert!(retired_key_path(&server.keys, RECIPIENT, revoked_at).exists());

    let leaf = hash_from_slice(&d.leaf_hash).unwrap();
    let ack = server
        .client(RECIPIENT)
        .await
        .acknowledge(client::sign_receipt(&police, LeafIndex(d.index), &leaf))
        .await
        .unwrap_err();
    assert_eq!(ack.code(), Code::PermissionDenied, "{ack:?}");
    assert!(
        ack.message()
            .contains(&format!("revoked by entry {revoked_at}")),
        "{ack:?}"
    );
    let to_revoked = sender
        .submit(submission(&server.keys, 2))
        .await
        .unwrap_err();
    assert_eq!(
        to_revoked.code(),
        Code::FailedPrecondition,
        "{to_revoked:?}"
    );
    assert!(to_revoked.message().contains("revoked"), "{to_revoked:?}");
    // Checked before the revocation, sequenced after it: refused by the sequencer too.
    let late = submission(&server.keys, 9);
    let late = server
        .node
        .sequencer()
        .append(borderlog::sequencer::Append {
            kind: Kind::Disclosure(pb::Disclosure {
                body: late.body,
                signature: late.signature,
                policy_hash: Vec::new(),
            }),
            payloads: Vec::new(),
            claims: Vec::new(),
            screened_under: None,
            signed_by: None,
        })
        .await
        .unwrap_err();
    assert!(
        matches!(
            late,
            borderlog::sequencer::SequencerError::KeyNotInForce(
                borderlog::keys_in_force::KeyError::RecipientRevoked { .. }
            )
        ),
        "{late:?}"
    );
    // A revoked partner cannot come back with a new key.
    let again = client::sign_key_change(&police, RECIPIENT, Some(&fresh_key(79).verifying_key()));
    let again = change_key(&server, RECIPIENT, again).await;
    assert_eq!(again.code(), Code::PermissionDenied, "{again:?}");
    // Nor does it witness the log any more: its cosignature is refused naming the revocation
    // (it was INTERNAL, "no usable key in genesis").
    let cp = server
        .client(RECIPIENT)
        .await
        .get_checkpoint(pb::GetCheckpointRequest { tree_size: 0 })
        .await
        .unwrap()
        .into_inner();
    let (opened, note) = Checkpoint::open(&cp.checkpoint, &server.log).unwrap();
    let now = (now_ms() / 1000) as u64;
    let line = borderlog::format::cosignature::cosign(RECIPIENT, &police, now, &note.text)
        .unwrap()
        .line();
    let channel = client::channel(&server.addr, &server.keys, RECIPIENT)
        .await
        .unwrap();
    let cosigned = pb::witness_client::WitnessClient::new(channel)
        .add_cosignature(pb::AddCosignatureRequest {
            tree_size: opened.size,
            root_hash: opened.root.to_vec(),
            cosignature: line,
        })
        .await
        .unwrap_err();
    assert_eq!(cosigned.code(), Code::PermissionDenied, "{cosigned:?}");
    assert!(
        cosigned
            .message()
            .contains(&format!("revoked by entry {revoked_at}")),
        "{cosigned:?}"
    );
    // It still reads what it took part in, payloads included.
    let read = server
        .client(RECIPIENT)
        .await
        .get_entry(pb::GetEntryRequest { index: d.index })
        .await
        .unwrap()
        .into_inner();
    assert!(read.items.iter().all(|i| i.payload.is_some()), "{read:?}");

    let size_before = server.node.store().size();
    let report = export_and_verify(&server, AUDITOR).await.unwrap();
    assert_eq!(
        report.revocations,
        vec![(RECIPIENT.to_owned(), revoked_at, "partner".to_owned())]
    );
    assert_eq!(server.node.store().size(), size_before, "nothing appended");

    // The operator revokes the sender with the log key, offline; a running server is named.
    let (keys, data) = (server.keys.clone(), server.data.clone());
    let busy = key::revoke_with_log_key(&keys, &data, SENDER)
        .await
        .unwrap_err();
    assert!(busy.to_string().contains("running"), "{busy:#}");
    server.stop().await;
    key::revoke_with_log_key(&keys, &data, SENDER)
        .await
        .unwrap();
    let server = TestServer::start_with(&keys, &data, Backend::Embedded).await;
    let refused = submit(&server, 3).await.unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied, "{refused:?}");
    let report = export_and_verify(&server, AUDITOR).await.unwrap();
    assert_eq!(report.revocations.len(), 2);
    assert_eq!(report.revocations[1].2, "log");
    server.stop().await;
}

/// The log's signatures on a checkpoint note (same key name, one line per key).
fn log_signature_count(note: &str, origin: &str) -> usize {
    Note::parse(note)
        .unwrap()
        .signatures
        .iter()
        .filter(|s| s.name == origin)
        .count()
}

#[tokio::test]
async fn the_log_key_rotates_with_both_keys_signing_during_the_switch() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), Backend::Embedded).await;
    submit(&server, 1).await.unwrap();
    let pinned_old = server.log.clone();
    let origin = pinned_old.name.clone();
    let (keys, data) = (server.keys.clone(), server.data.clone());
    let busy = key::rotate_log(&keys, &data).await.unwrap_err();
    assert!(
        busy.to_string().contains("running `borderlog serve`"),
        "{busy:#}"
    );
    let old_log_key = load_log_key(&keys).unwrap();
    server.stop().await;

    let rotated = key::rotate_log(&keys, &data).await.unwrap();
    assert_eq!(log_signature_count(&rotated.checkpoint, &origin), 2);
    let server = TestServer::start_with(&keys, &data, Backend::Embedded).await;
    let pinned_new = log_verifier(&keys);
    assert_ne!(
        pinned_new.key, pinned_old.key,
        "partners.toml pins the new key"
    );
    let receipt = submit(&server, 2).await.unwrap();
    assert_eq!(log_signature_count(&receipt.checkpoint, &origin), 2);
    // A client that pinned the old key still verifies, and so does one with the new key.
    client::verify_receipt(&receipt, &pinned_old).expect("old pinned key verifies");
    client::verify_receipt(&receipt, &pinned_new).expect("new key verifies");
    let report = export_and_verify(&server, AUDITOR).await.unwrap();
    assert_eq!(report.log_key_rotations, vec![rotated.index.0]);
    report_verifies(&server, &pinned_old).await;
    report_verifies(&server, &pinned_new).await;
    // The checkpoint before the rotation is still served and verifies under the old key.
    let early = server
        .client(AUDITOR)
        .await
        .get_checkpoint(pb::GetCheckpointRequest { tree_size: 2 })
        .await
        .unwrap()
        .into_inner();
    Checkpoint::open(&early.checkpoint, &pinned_old).unwrap();
    server.stop().await;

    // Finishing the switch: the new key alone signs.
    let kept = key::finish_log(&keys, &data).unwrap();
    assert!(kept.exists());
    let server = TestServer::start_with(&keys, &data, Backend::Embedded).await;
    let receipt = submit(&server, 3).await.unwrap();
    assert_eq!(log_signature_count(&receipt.checkpoint, &origin), 1);
    client::verify_receipt(&receipt, &pinned_new).unwrap();
    assert!(client::verify_receipt(&receipt, &pinned_old).is_err());
    export_and_verify(&server, SENDER).await.unwrap();
    report_verifies(&server, &pinned_new).await;
    server.stop().await;

    // serve refuses a log key that is not the one in force: the retired one, or a stranger.
    let live = signing_key_path(&keys, "log");
    let new_log_key = std::fs::read(&live).unwrap();
    borderlog::identity::keys::write_key_file(&keys, "log", &old_log_key).unwrap();
    let err = Node::open(NodeConfig::new(&keys, &data))
        .await
        .err()
        .unwrap();
    assert!(err.to_string().contains("retired log key"), "{err}");
    borderlog::identity::keys::write_key_file(&keys, "log", &fresh_key(91)).unwrap();
    let err = Node::open(NodeConfig::new(&keys, &data))
        .await
        .err()
        .unwrap();
    assert!(
        err.to_string().contains("is not the log key in force"),
        "{err}"
    );
    std::fs::write(&live, new_log_key).unwrap();
    let server = TestServer::start_with(&keys, &data, Backend::Embedded).await;
    server.stop().await;
}

fn verify(records: Vec<pb::ExportRecord>) -> Result<Report, VerifyError> {
    verify_records(records, VerifyOptions::default())
}

fn key_change(party: &str, new: Option<&SigningKey>, by: &SigningKey) -> Kind {
    Kind::KeyChange(client::sign_key_change(
        by,
        party,
        new.map(|k| k.verifying_key()).as_ref(),
    ))
}

#[test]
fn verify_names_entries_signed_by_a_retired_or_revoked_key() {
    // Rotation, then a disclosure signed with the retired key slipped in.
    let mut b = Builder::new(true);
    let old = b.keys.sender.clone();
    let new = fresh_key(40);
    b.push(key_change(synthetic::SENDER, Some(&new), &old), Vec::new());
    b.keys.sender = new.clone();
    b.disclosure(1, &[synthetic::indicator(1)]);
    b.keys.sender = old;
    let (slipped, _) = b.disclosure(2, &[synthetic::indicator(2)]);
    b.checkpoint();
    match verify(b.finish()) {
        Err(VerifyError::BadSignature { index, signer, .. }) => {
            assert_eq!((index, signer.as_str()), (slipped, synthetic::SENDER));
        }
        other => panic!("{other:?}"),
    }

    // Revocation by the log key, then a receipt by the revoked recipient.
    let mut b = Builder::new(true);
    let (d, leaf) = b.disclosure(1, &[synthetic::indicator(1)]);
    let log_key = load_test_log_key();
    let (revoked_at, _) = b.push(key_change(synthetic::RECIPIENT, None, &log_key), Vec::new());
    let receipt = b.receipt(d, &leaf);
    b.checkpoint();
    assert_eq!(
        verify(b.finish()).unwrap_err(),
        VerifyError::Revoked {
            index: receipt,
            field: "recipient",
            party: synthetic::RECIPIENT.into(),
            revoked_at,
        }
    );

    // A KeyChange back to a key held before, and one signed by the wrong key.
    let mut b = Builder::new(true);
    let old = b.keys.sender.clone();
    let recipient = b.keys.recipient.clone();
    let (bad, _) = b.push(
        key_change(synthetic::SENDER, Some(&recipient), &old),
        Vec::new(),
    );
    b.checkpoint();
    assert!(
        matches!(verify(b.finish()), Err(VerifyError::KeyChange { index, .. }) if index == bad)
    );
    let mut b = Builder::new(true);
    let recipient = b.keys.recipient.clone();
    let (bad, _) = b.push(
        key_change(synthetic::SENDER, Some(&fresh_key(41)), &recipient),
        Vec::new(),
    );
    b.checkpoint();
    assert!(
        matches!(verify(b.finish()), Err(VerifyError::BadSignature { index, .. }) if index == bad)
    );
}

/// The synthetic ledger's log key (the seed `synthetic::Keys` uses).
fn load_test_log_key() -> SigningKey {
    SigningKey::from_bytes(&[1; 32])
}

#[test]
fn verify_wants_the_log_key_in_force_on_every_checkpoint() {
    let origin = synthetic::ORIGIN;
    let old = load_test_log_key();
    let new = fresh_key(50);
    let rotation = |b: &mut Builder| {
        b.checkpoint();
        b.push(key_change(origin, Some(&new), &old), Vec::new()).0
    };
    // Both keys sign after the rotation: verifies.
    let mut b = Builder::new(true);
    let at = rotation(&mut b);
    let old_signer = Signer::new(origin, old.clone()).unwrap();
    let new_signer = Signer::new(origin, new.clone()).unwrap();
    b.keys.log = new_signer.clone();
    let note = b.checkpoint();
    let both = Checkpoint::parse_body(&Note::parse(&note).unwrap().text)
        .unwrap()
        .sign_with_all(&new_signer, std::slice::from_ref(&old_signer))
        .unwrap();
    let mut records = b.finish();
    let last = records.len() - 1;
    records[last].record = Some(pb::export_record::Record::Checkpoint(both.clone()));
    let report = verify(records).unwrap();
    assert_eq!(report.log_key_rotations, vec![at]);
    // An auditor holding the dual-signed checkpoint checks it against the export.
    let mut b = Builder::new(true);
    rotation(&mut b);
    b.keys.log = new_signer;
    b.checkpoint();
    let records = b.finish();
    verify_records(
        records,
        VerifyOptions {
            trusted_checkpoints: vec![note],
            ..Default::default()
        },
    )
    .unwrap();

    // Only the old key signs after the rotation: the checkpoint is named.
    let mut b = Builder::new(true);
    let at = rotation(&mut b);
    b.checkpoint();
    match verify(b.finish()) {
        Err(VerifyError::Checkpoint { size, .. }) => assert_eq!(size, at + 1),
        other => panic!("{other:?}"),
    }

    // A log KeyChange signed by something else than the log key.
    let mut b = Builder::new(true);
    let sender = b.keys.sender.clone();
    b.checkpoint();
    let (bad, _) = b.push(key_change(origin, Some(&new), &sender), Vec::new());
    b.keys.log = Signer::new(origin, new.clone()).unwrap();
    b.checkpoint();
    assert!(
        matches!(verify(b.finish()), Err(VerifyError::BadSignature { index, .. }) if index == bad)
    );
}
