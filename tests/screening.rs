//! The boundary guard in the service: every Submit is screened under the sender's published
//! policy; a refusal is recorded without its content and explained to the client; policies
//! are published by their owner only. Real gRPC over mTLS on loopback. Each test runs on both backends
//! (`name::embedded`, `name::postgres`: `both_backends!` in tests/common/mod.rs).

mod common;

use borderlog::client;
use borderlog::format::entry;
use borderlog::format::hash::sha256;
use borderlog::format::signature::{self, Purpose};
use borderlog::guard::{self, customer::with_register};
use borderlog::identity::{self, keys::load_signing_key};
use borderlog::pb;
use borderlog::service::NodeConfig;
use common::*;
use prost::Message;
use tonic::Code;
use tonic_types::StatusExt;

/// A signed submission of the given items by the sender.
fn submit_items(keys: &std::path::Path, items: Vec<serde_json::Value>) -> pb::SubmitRequest {
    let key = load_signing_key(keys, SENDER).unwrap();
    let items = items
        .iter()
        .map(|v| serde_json::to_vec(v).unwrap())
        .collect();
    client::prepare_submission(&key, &header(), items, now_ms()).unwrap()
}

/// `policy` signed by `who`'s key, ready to publish.
fn signed_policy(keys: &std::path::Path, who: &str, policy: &[u8]) -> pb::PublishPolicyRequest {
    let key = load_signing_key(keys, who).unwrap();
    pb::PublishPolicyRequest {
        policy: policy.to_vec(),
        signature: signature::sign(&key, Purpose::Policy, policy).to_vec(),
    }
}

async fn entry_at(server: &TestServer, index: u64) -> (Vec<u8>, pb::Entry) {
    let got = server
        .client(AUDITOR)
        .await
        .get_entry(pb::GetEntryRequest { index })
        .await
        .unwrap()
        .into_inner();
    let decoded = entry::decode(&got.entry).unwrap();
    (got.entry, decoded)
}

both_backends!(a_refused_item_is_recorded_without_its_value_and_explained);
async fn a_refused_item_is_recorded_without_its_value_and_explained(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), backend).await;
    let mut sender = server.client(SENDER).await;
    let before = server.node.store().size().0;

    // Item 0 is fine; item 1 points into a customer's network (an RFC 1918 address).
    let mut inside = indicator_json(2);
    inside["pattern"] = "[ipv4-addr:value = '10.20.30.40']".into();
    let request = submit_items(&server.keys, vec![indicator_json(1), inside]);
    let status = sender.submit(request.clone()).await.unwrap_err();

    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    assert!(!status.message().contains("10.20.30.40"), "{status:?}");
    assert!(status.message().contains("inside.ip/1"), "{status:?}");
    let details = status.get_error_details();
    let info = details.error_info().expect("ErrorInfo names the refusal");
    assert_eq!(info.reason, "REFUSED_BY_POLICY");
    let refusal_index: u64 = info.metadata["refusal_index"].parse().unwrap();
    assert_eq!(refusal_index, before, "the refusal is the next entry");
    let violations = &details.precondition_failure().unwrap().violations;
    assert!(
        violations
            .iter()
            .any(|v| v.r#type == "inside.ip/1" && v.subject == "items[1].content.pattern"),
        "{violations:?}"
    );

    // The log holds the refusal — who, which body, which policy, where and which rule — and
    // nothing of the value.
    assert_eq!(server.node.store().size().0, before + 1);
    let (bytes, e) = entry_at(&server, refusal_index).await;
    let Some(pb::entry::Kind::Refusal(refusal)) = e.kind else {
        panic!("expected a Refusal entry, got {:?}", e.kind);
    };
    assert_eq!(refusal.sender, SENDER);
    assert_eq!(refusal.recipient, RECIPIENT);
    assert_eq!(refusal.body_hash, sha256(&request.body).to_vec());
    let policy_file = std::fs::read(identity::policy_path(&server.keys, SENDER)).unwrap();
    assert_eq!(refusal.policy_hash, sha256(&policy_file).to_vec());
    assert!(
        refusal
            .findings
            .iter()
            .all(|f| f.item == 1 && f.path == "$.pattern"),
        "{:?}",
        refusal.findings
    );
    assert!(refusal.findings.iter().any(|f| f.rule == "inside.ip/1"));
    assert_eq!(
        refusal.nonce,
        pb::DisclosureBody::decode(request.body.as_slice())
            .unwrap()
            .nonce
    );
    let needle = b"10.20.30.40";
    assert!(!bytes.windows(needle.len()).any(|w| w == needle));
    assert_eq!(
        info.metadata["policy_hash"],
        hex::encode(&refusal.policy_hash)
    );

    // The body's nonce is spent: the same submission again is a replay, not a second refusal.
    let again = sender.submit(request).await.unwrap_err();
    assert_eq!(again.code(), Code::AlreadyExists, "{again:?}");
    assert_eq!(server.node.store().size().0, before + 1);
    server.stop().await;
}

both_backends!(invalid_stix_is_invalid_argument_and_recorded_but_non_json_is_not);
async fn invalid_stix_is_invalid_argument_and_recorded_but_non_json_is_not(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), backend).await;
    let mut sender = server.client(SENDER).await;
    let before = server.node.store().size().0;

    // Valid JSON, invalid STIX: no pattern_type, and an id that is not `<type>--<uuid>`.
    let mut broken = indicator_json(3);
    broken.as_object_mut().unwrap().remove("pattern_type");
    let status = sender
        .submit(submit_items(&server.keys, vec![broken]))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    let details = status.get_error_details();
    assert_eq!(details.error_info().unwrap().reason, "INVALID_STIX");
    let fields = &details.bad_request().unwrap().field_violations;
    assert!(
        fields
            .iter()
            .any(|f| f.field == "items[0].content.pattern_type"
                && f.description.starts_with("schema.required/1")),
        "{fields:?}"
    );
    assert_eq!(server.node.store().size().0, before + 1, "a Refusal entry");

    // Bytes that are not a JSON object at all: a broken client, refused with nothing recorded.
    let mut request = submission(&server.keys, 4);
    let key = load_signing_key(&server.keys, SENDER).unwrap();
    let not_json = b"{\"type\": \"indicator\",".to_vec();
    let salt = [9u8; 32];
    let mut body = pb::DisclosureBody::decode(request.body.as_slice()).unwrap();
    body.items[0].commitment = borderlog::format::hash::item_commitment(&salt, &not_json).to_vec();
    request.body = body.encode_to_vec();
    request.signature = signature::sign(&key, Purpose::Disclosure, &request.body).to_vec();
    request.items[0] = pb::ItemPayload {
        salt: salt.to_vec(),
        content: not_json,
    };
    let status = sender.submit(request).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert!(status.message().contains("schema.json/1"), "{status:?}");
    assert_eq!(server.node.store().size().0, before + 1, "nothing more");
    server.stop().await;
}

both_backends!(the_body_must_declare_what_each_item_is);
async fn the_body_must_declare_what_each_item_is(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), backend).await;
    let before = server.node.store().size().0;
    let key = load_signing_key(&server.keys, SENDER).unwrap();
    let mut request = submission(&server.keys, 5);
    let mut body = pb::DisclosureBody::decode(request.body.as_slice()).unwrap();
    body.items[0].tlp = "clear".into(); // the item is TLP:GREEN
    request.body = body.encode_to_vec();
    request.signature = signature::sign(&key, Purpose::Disclosure, &request.body).to_vec();
    let status = server
        .client(SENDER)
        .await
        .submit(request)
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert!(status.message().contains("TLP:green"), "{status:?}");
    assert_eq!(server.node.store().size().0, before);
    server.stop().await;
}

both_backends!(no_published_policy_no_disclosure_and_only_the_owner_publishes);
async fn no_published_policy_no_disclosure_and_only_the_owner_publishes(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let keys = init_keys(dir.path());
    let mut config = NodeConfig::new(&keys, dir.path().join("data"));
    config.publish_default_policies = false;
    let server = TestServer::start_config(config, backend).await;
    let mut sender = server.client(SENDER).await;
    assert_eq!(server.node.store().size().0, 1, "only the genesis");

    let status = sender.submit(submission(&keys, 1)).await.unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    assert!(
        status.message().contains("borderlog policy publish"),
        "{status:?}"
    );
    assert_eq!(server.node.store().size().0, 1, "nothing appended");

    let policy = guard::default_policy_for(SENDER);
    // Not the owner: the recipient may not publish the sender's policy, nor its own.
    let status = server
        .client(RECIPIENT)
        .await
        .publish_policy(signed_policy(&keys, RECIPIENT, policy.as_bytes()))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    // Signed by another key.
    let status = sender
        .publish_policy(signed_policy(&keys, RECIPIENT, policy.as_bytes()))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    // A document naming another owner, and one that does not parse.
    let other = guard::default_policy_for(RECIPIENT);
    let status = sender
        .publish_policy(signed_policy(&keys, SENDER, other.as_bytes()))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert!(status.message().contains("owner"), "{status:?}");
    let status = sender
        .publish_policy(signed_policy(&keys, SENDER, b"version = [unclosed"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert_eq!(server.node.store().size().0, 1, "nothing appended");

    // The owner publishes; disclosures then record its hash.
    let published = sender
        .publish_policy(signed_policy(&keys, SENDER, policy.as_bytes()))
        .await
        .unwrap()
        .into_inner();
    verify_receipt_ok(&server, &published);
    let Some(pb::entry::Kind::PolicyChange(change)) = entry::decode(&published.entry).unwrap().kind
    else {
        panic!("expected a PolicyChange entry");
    };
    assert_eq!(change.owner, SENDER);
    assert_eq!(change.policy, policy.as_bytes());
    let again = sender
        .publish_policy(signed_policy(&keys, SENDER, policy.as_bytes()))
        .await
        .unwrap_err();
    assert_eq!(again.code(), Code::AlreadyExists, "{again:?}");

    let receipt = sender
        .submit(submission(&keys, 2))
        .await
        .unwrap()
        .into_inner();
    let Some(pb::entry::Kind::Disclosure(d)) = entry::decode(&receipt.entry).unwrap().kind else {
        panic!("expected a Disclosure entry");
    };
    assert_eq!(d.policy_hash, sha256(policy.as_bytes()).to_vec());
    server.stop().await;
}

fn verify_receipt_ok(server: &TestServer, receipt: &pb::LogReceipt) {
    client::verify_receipt(receipt, &server.log).expect("the receipt's proof verifies");
}

both_backends!(a_new_policy_governs_the_disclosures_after_it);
/// TLP:RED crosses only to recipients the policy names: refused under the default policy,
/// accepted once the owner publishes a policy that names the recipient.
async fn a_new_policy_governs_the_disclosures_after_it(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), backend).await;
    let mut sender = server.client(SENDER).await;
    let red = |n| {
        let mut v = indicator_json(n);
        v["object_marking_refs"] =
            serde_json::json!(["marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1"]);
        v
    };
    let status = sender
        .submit(submit_items(&server.keys, vec![red(1)]))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    assert!(
        status.message().contains("tlp.red-recipient/1"),
        "{status:?}"
    );

    let stricter = guard::default_policy_for(SENDER)
        .replace("version = \"2026.4\"", "version = \"2026.5\"")
        .replace(
            "red_recipients = []",
            &format!("red_recipients = [\"{RECIPIENT}\"]"),
        );
    let published = sender
        .publish_policy(signed_policy(&server.keys, SENDER, stricter.as_bytes()))
        .await
        .unwrap()
        .into_inner();
    let receipt = sender
        .submit(submit_items(&server.keys, vec![red(2)]))
        .await
        .unwrap()
        .into_inner();
    assert!(receipt.index > published.index);
    let Some(pb::entry::Kind::Disclosure(d)) = entry::decode(&receipt.entry).unwrap().kind else {
        panic!("expected a Disclosure entry");
    };
    assert_eq!(d.policy_hash, sha256(stricter.as_bytes()).to_vec());

    // The policy in force survives a restart.
    let (keys, data) = (server.keys.clone(), server.data.clone());
    server.stop().await;
    let server = TestServer::start_with(&keys, &data, backend).await;
    let receipt = server
        .client(SENDER)
        .await
        .submit(submit_items(&keys, vec![red(3)]))
        .await
        .unwrap()
        .into_inner();
    let Some(pb::entry::Kind::Disclosure(d)) = entry::decode(&receipt.entry).unwrap().kind else {
        panic!("expected a Disclosure entry");
    };
    assert_eq!(d.policy_hash, sha256(stricter.as_bytes()).to_vec());
    server.stop().await;
}

/// Publishes the sender's default policy with a customer register naming acme-bank.example
/// and 198.18.0.0/15, keyed with the register key `init` made.
async fn publish_customer_register(server: &TestServer, sender: &mut client::Api) {
    let key = identity::load_register_key(&server.keys, SENDER)
        .unwrap()
        .expect("init made a register key");
    let register = guard::build_register(
        &key,
        "k2026",
        "domain,acme-bank.example\ncidr,198.18.0.0/15\n",
    )
    .unwrap();
    let policy = with_register(&guard::default_policy_for(SENDER), &register);
    sender
        .publish_policy(signed_policy(&server.keys, SENDER, policy.as_bytes()))
        .await
        .unwrap();
}

both_backends!(customer_identifiers_never_cross);
/// The customer register: the server screens with the owner's register key (from keys/), the
/// log holds only digests, and a customer's domain is refused even defanged and in mixed case.
async fn customer_identifiers_never_cross(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), backend).await;
    let mut sender = server.client(SENDER).await;
    publish_customer_register(&server, &mut sender).await;

    let mut leak = indicator_json(7);
    leak["description"] = "Seen phishing login.ACME-BANK[.]example users".into();
    let status = sender
        .submit(submit_items(&server.keys, vec![leak]))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    assert!(status.message().contains("customer.domain/1"), "{status:?}");
    assert!(
        !status.message().to_lowercase().contains("acme"),
        "{status:?}"
    );
    let index: u64 = status.get_error_details().error_info().unwrap().metadata["refusal_index"]
        .parse()
        .unwrap();
    let (bytes, _) = entry_at(&server, index).await;
    assert!(
        !String::from_utf8_lossy(&bytes)
            .to_lowercase()
            .contains("acme")
    );

    // Threat data still crosses under the same policy.
    sender
        .submit(submit_items(&server.keys, vec![indicator_json(8)]))
        .await
        .unwrap();
    server.stop().await;
}

both_backends!(the_bodys_free_text_is_screened_like_an_item);
/// The body's free text crosses with the items and, being signed, can never be erased: a
/// customer's domain in the purpose or an inside address in the case reference is refused
/// like one in an item, and recorded as the body's finding without the value.
async fn the_bodys_free_text_is_screened_like_an_item(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), backend).await;
    let mut sender = server.client(SENDER).await;
    publish_customer_register(&server, &mut sender).await;
    let key = load_signing_key(&server.keys, SENDER).unwrap();
    let before = server.node.store().size().0;

    let mut leaky = header();
    leaky.purpose = "phishing against login.ACME-BANK[.]example customers".into();
    leaky.case_reference = "seen from 10.20.30.40".into();
    let request = client::prepare_submission(&key, &leaky, vec![indicator(1)], now_ms()).unwrap();
    let status = sender.submit(request).await.unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    let message = status.message().to_lowercase();
    assert!(
        message.contains("the body at $.purpose: customer.domain/1"),
        "{status:?}"
    );
    assert!(
        !message.contains("acme") && !message.contains("10.20.30.40"),
        "{status:?}"
    );
    let details = status.get_error_details();
    let violations = &details.precondition_failure().unwrap().violations;
    for (subject, rule) in [
        ("body.purpose", "customer.domain/1"),
        ("body.case_reference", "inside.ip/1"),
    ] {
        assert!(
            violations
                .iter()
                .any(|v| v.subject == subject && v.r#type == rule),
            "{subject} {rule}: {violations:?}"
        );
    }

    // Only the refusal was appended; it names the body's fields, not their values.
    assert_eq!(server.node.store().size().0, before + 1);
    let (bytes, e) = entry_at(&server, before).await;
    let Some(pb::entry::Kind::Refusal(refusal)) = e.kind else {
        panic!("expected a Refusal entry, got {:?}", e.kind);
    };
    assert!(
        refusal.findings.iter().all(|f| f.body && f.item == 0),
        "{:?}",
        refusal.findings
    );
    let mut paths: Vec<_> = refusal.findings.iter().map(|f| f.path.as_str()).collect();
    paths.dedup();
    assert_eq!(paths, ["$.case_reference", "$.purpose"]);
    let text = String::from_utf8_lossy(&bytes).to_lowercase();
    assert!(!text.contains("acme") && !text.contains("10.20.30.40"));

    // A phone number in the case reference is refused too (format 2: wherever it appears).
    let mut phone = header();
    phone.case_reference = "EUROPOL-2026-004512, call back on 0171 5550199".into();
    let request = client::prepare_submission(&key, &phone, vec![indicator(3)], now_ms()).unwrap();
    let status = sender.submit(request).await.unwrap_err();
    assert!(
        status
            .message()
            .contains("the body at $.case_reference: personal.phone/2"),
        "{status:?}"
    );

    // An ordinary case number and purpose still cross under the same policy.
    let mut fine = header();
    fine.case_reference = "EUROPOL-2026-004512, ref 2026/0171, file 18 of 2026".into();
    let request = client::prepare_submission(&key, &fine, vec![indicator(2)], now_ms()).unwrap();
    sender.submit(request).await.unwrap();
    server.stop().await;
}

/// Policy formats: an entry screened under a format-1 policy is replayed by `verify` under
/// format 1's rules, and one under a format-2 policy under format 2's, each from the policy
/// bytes recorded in the log. The item (an actor's indicator whose description gives a phone
/// number, without victim words) crossed under format 1 and would be refused under format 2.
#[test]
fn verify_replays_each_entry_under_its_own_policy_format() {
    use borderlog::audit::synthetic::{self, Builder};
    use borderlog::audit::verify::{VerifyError, VerifyOptions, verify_records};

    const FORMAT_1: &str = include_str!("../policy/format-1.toml");
    let mut item: serde_json::Value = serde_json::from_slice(&synthetic::indicator(1)).unwrap();
    item["description"] = "Scam call centre answers on +44 20 7946 0018.".into();
    let item = serde_json::to_vec(&item).unwrap();
    let ctx = guard::Context {
        sender: synthetic::SENDER,
        recipient: synthetic::RECIPIENT,
        purpose: "cybercrime investigation support",
        legal_basis: "agreement",
    };
    assert!(
        guard::replay(FORMAT_1.as_bytes(), &ctx, &item)
            .unwrap()
            .is_accepted()
    );
    let v2 = guard::replay(guard::DEFAULT_POLICY.as_bytes(), &ctx, &item).unwrap();
    assert!(
        v2.findings().iter().any(|f| f.rule == "personal.phone/2"),
        "{v2:?}"
    );

    // Old entry under the format-1 policy, then the format-2 default in force: verifies.
    let mut b = Builder::new(true);
    b.policy(FORMAT_1.as_bytes());
    b.disclosure(1, std::slice::from_ref(&item));
    b.policy(guard::DEFAULT_POLICY.as_bytes());
    b.disclosure(2, &[synthetic::indicator(2)]);
    b.checkpoint();
    let report = verify_records(b.finish(), VerifyOptions::default()).expect("verifies");
    assert_eq!(report.replays_passed, 2);

    // The same item recorded as accepted under the format-2 policy does not.
    let mut b = Builder::new(true);
    let (index, _) = b.disclosure(1, &[item]);
    b.checkpoint();
    match verify_records(b.finish(), VerifyOptions::default()) {
        Err(VerifyError::GuardReplay { index: i, .. }) => assert_eq!(i, index),
        other => panic!("{other:?}"),
    }
}
