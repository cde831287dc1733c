//! Keys are canonical: a public key whose bytes are not the canonical RFC 8032 encoding of its
//! point (such as 32 bytes of 0xff), or a small-order key, is refused wherever a key enters —
//! a KeyChange over real mTLS, partners.toml (and so genesis), a witness's key in
//! witnesses.toml — by the one check in `format::signature::public_key`.

mod common;

use std::path::Path;

use borderlog::format::note::{KeyType, key_id};
use borderlog::format::signature::{self, Purpose};
use borderlog::identity::{self, Registry};
use borderlog::pb;
use common::*;
use tonic::Code;

/// Public keys nobody holds: 0xff × 32 (y = 2^255 - 1, not below p), y = p exactly with the
/// sign bit set, and the identity point (small order), plain and as a "negative zero".
fn bad_keys() -> Vec<[u8; 32]> {
    let mut y_is_p = [0xff; 32];
    y_is_p[0] = 0xed;
    y_is_p[31] = 0xff;
    let mut identity = [0u8; 32];
    identity[0] = 1;
    let mut negative_identity = identity;
    negative_identity[31] = 0x80;
    vec![[0xff; 32], y_is_p, identity, negative_identity]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn change_key_refuses_a_non_canonical_or_small_order_new_key() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), Backend::Embedded).await;
    let old = identity::keys::load_signing_key(&server.keys, SENDER).unwrap();
    let mut api = server.client(SENDER).await;
    for bad in bad_keys() {
        let before = server.node.store().size();
        let change = pb::KeyChange {
            party: SENDER.into(),
            new_public_key: bad.to_vec(),
            signature: signature::sign(&old, Purpose::KeyChange, &bad).to_vec(),
        };
        let status = api
            .change_key(pb::ChangeKeyRequest {
                key_change: Some(change),
            })
            .await
            .expect_err("a key nobody holds is refused");
        assert_eq!(
            status.code(),
            Code::InvalidArgument,
            "{bad:02x?}: {status:?}"
        );
        assert!(status.message().contains("canonical"), "{status:?}");
        assert_eq!(server.node.store().size(), before, "nothing appended");
    }
    // The sender is not locked out: its key still signs.
    api.submit(submission(&server.keys, 1)).await.unwrap();
    drop(api);
    server.stop().await;
}

/// Replaces the base64 `public_key` of `party` in keys/partners.toml with `key`.
fn set_partner_key(keys: &Path, party: &str, key: &[u8; 32]) {
    use base64::Engine as _;
    let path = keys.join("partners.toml");
    let mut file: toml::Table = std::fs::read_to_string(&path).unwrap().parse().unwrap();
    let parties = file["party"].as_array_mut().unwrap();
    let entry = parties
        .iter_mut()
        .find(|p| p["name"].as_str() == Some(party))
        .unwrap();
    entry["public_key"] = base64::engine::general_purpose::STANDARD.encode(key).into();
    std::fs::write(&path, toml::to_string(&file).unwrap()).unwrap();
}

#[test]
fn partners_toml_and_so_genesis_refuse_a_non_canonical_key() {
    for bad in bad_keys() {
        let dir = tempfile::tempdir().unwrap();
        let keys = init_keys(dir.path());
        Registry::load(&keys).expect("the keys init made load");
        set_partner_key(&keys, RECIPIENT, &bad);
        let err = Registry::load(&keys).expect_err("the key is refused");
        assert!(err.to_string().contains("canonical"), "{bad:02x?}: {err}");
    }
}

#[test]
fn a_witness_key_that_is_not_canonical_is_refused() {
    for bad in bad_keys() {
        let name = "witness.example/w1";
        let id = key_id(name, KeyType::Cosignature, &bad);
        let mut raw = vec![KeyType::Cosignature.byte()];
        raw.extend_from_slice(&bad);
        use base64::Engine as _;
        let vkey = format!(
            "{name}+{}+{}",
            hex::encode(id),
            base64::engine::general_purpose::STANDARD.encode(raw)
        );
        let text = format!("[[witness]]\nurl = \"https://witness.example\"\nkey = \"{vkey}\"\n");
        let err = borderlog::witness::config::Witnesses::parse(&text, Path::new("witnesses.toml"))
            .expect_err("the key is refused");
        assert!(err.to_string().contains("canonical"), "{bad:02x?}: {err}");
    }
}

#[test]
fn verify_refuses_a_key_change_to_a_non_canonical_key() {
    use borderlog::audit::synthetic::{self, Builder};
    use borderlog::audit::verify::{VerifyError, VerifyOptions, verify_records};
    for bad in bad_keys() {
        // A log operator (or a server before this fix) appended a KeyChange to a key nobody
        // holds, signed by the sender's real key.
        let mut b = Builder::new(true);
        let change = pb::KeyChange {
            party: synthetic::SENDER.into(),
            new_public_key: bad.to_vec(),
            signature: signature::sign(&b.keys.sender, Purpose::KeyChange, &bad).to_vec(),
        };
        let (index, _) = b.push(pb::entry::Kind::KeyChange(change), Vec::new());
        b.checkpoint();
        match verify_records(b.finish(), VerifyOptions::default()) {
            Err(VerifyError::KeyChange {
                index: at, reason, ..
            }) => {
                assert_eq!(at, index);
                assert!(reason.contains("canonical"), "{reason}");
            }
            other => panic!("{bad:02x?}: {other:?}"),
        }
    }
}
