//! The sender's TAXII 2.1 gateway over real HTTPS, disclosing to a live ledger over real mTLS:
//! a customer's domain comes back as a failure and nothing is disclosed; a good envelope
//! becomes one disclosure whose receipt verifies; a repeated envelope is not disclosed twice;
//! the key never leaves its directory; and the limits and errors of Add Objects.

mod common;
#[path = "common/taxii.rs"]
mod taxii_common;

use std::path::Path;
use std::time::Duration;

use base64::Engine as _;
use borderlog::client;
use borderlog::format::LeafIndex;
use borderlog::format::checkpoint::Checkpoint;
use borderlog::format::hash::hash_from_slice;
use borderlog::guard::{self, Policy};
use borderlog::identity;
use borderlog::pb::{self, get_inclusion_proof_request::Leaf};
use borderlog::taxii::TAXII_MEDIA_TYPE;
use borderlog::taxii::gateway::{self, GatewayConfig};
use common::{Backend, RECIPIENT, SENDER, TestServer, indicator_json};
use serde_json::Value;
use taxii_common::{Endpoint, Reply, Session, Who};

/// Starts a gateway for SENDER against `server`, screening with `policy`.
async fn start_gateway(server: &TestServer, state: &Path, policy: Policy, max: usize) -> Endpoint {
    let config = GatewayConfig {
        keys_dir: server.keys.clone(),
        sender: SENDER.into(),
        ledger_addr: server.addr.clone(),
        state_dir: state.to_owned(),
        purpose: "cybercrime investigation support".into(),
        legal_basis: "data sharing agreement 2026-04; GDPR Art. 6(1)(f)".into(),
        case_reference: String::new(),
        default_tlp: Some("amber".into()),
        policy,
        max_content_length: max,
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        gateway::serve(config, listener, async {
            let _ = stopped.await;
        })
        .await
        .expect("gateway serve");
    });
    Endpoint::from_task(addr, stop, task)
}

/// The sender's default policy, with a customer register naming acme-bank.example.
fn policy_with_customers(keys: &Path) -> Policy {
    let key = identity::load_register_key(keys, SENDER).unwrap().unwrap();
    let register = guard::build_register(&key, "k2026", "domain,acme-bank.example\n").unwrap();
    let text = guard::customer::with_register(&guard::default_policy_for(SENDER), &register);
    Policy::parse_keyed(text.as_bytes(), &key).unwrap()
}

/// The gateway's one collection (disclose to RECIPIENT).
async fn collection(session: &Session) -> String {
    let list = session.get("/gateway/collections/").await.json();
    let c = &list["collections"][0];
    assert_eq!(c["can_write"], true);
    assert_eq!(c["can_read"], false);
    c["id"].as_str().unwrap().to_owned()
}

async fn push(session: &Session, id: &str, envelope: &Value) -> Reply {
    session
        .post(
            &format!("/gateway/collections/{id}/objects/"),
            TAXII_MEDIA_TYPE,
            serde_json::to_vec(envelope).unwrap(),
        )
        .await
}

/// Follows `GET status/{id}/` until it is complete.
async fn follow(session: &Session, status: &Value) -> Value {
    let id = status["id"].as_str().unwrap();
    for _ in 0..400 {
        let now = session.get(&format!("/gateway/status/{id}/")).await;
        assert_eq!(now.status, 200);
        let now = now.json();
        if now["status"] == "complete" {
            return now;
        }
        assert_eq!(now["status"], "pending");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("status {id} never completed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn envelopes_become_disclosures_once_and_refusals_name_rules() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), Backend::Embedded).await;
    let state = dir.path().join("gateway-state");
    let gw = start_gateway(
        &server,
        &state,
        policy_with_customers(&server.keys),
        1 << 20,
    )
    .await;
    let vendor = gw.session(&server.keys, Who::Basic(SENDER));
    let id = collection(&vendor).await;
    let root = vendor.get("/gateway/").await.json();
    assert_eq!(root["max_content_length"], 1 << 20);

    // A customer's domain: a failure naming rule and path, never the value; nothing disclosed.
    let size = server.node.store().size();
    let mut leak = indicator_json(7);
    leak["description"] = "phishing login.ACME-BANK[.]example users".into();
    let refused = push(
        &vendor,
        &id,
        &serde_json::json!({ "objects": [indicator_json(6), leak] }),
    )
    .await;
    assert_eq!(
        refused.status,
        202,
        "{}",
        String::from_utf8_lossy(&refused.bytes)
    );
    let refused = follow(&vendor, &refused.json()).await;
    assert_eq!(refused["failure_count"], 2);
    assert_eq!(refused["success_count"], 0);
    let message = refused["failures"][1]["message"].as_str().unwrap();
    assert!(
        message.contains("customer.domain/1") && message.contains("$.description"),
        "{message}"
    );
    assert!(
        !refused.to_string().to_lowercase().contains("acme"),
        "{refused}"
    );
    assert!(
        refused["failures"][0]["message"]
            .as_str()
            .unwrap()
            .contains("not disclosed")
    );
    assert_eq!(
        server.node.store().size(),
        size,
        "nothing reached the ledger"
    );

    // A good envelope: one disclosure, its receipt verified; the object's own TLP wins, the
    // default (amber) marks the unmarked one.
    let mut unmarked = indicator_json(9);
    unmarked
        .as_object_mut()
        .unwrap()
        .remove("object_marking_refs");
    let good = serde_json::json!({ "objects": [indicator_json(8), unmarked] });
    let first = push(&vendor, &id, &good).await;
    assert_eq!(first.status, 202);
    assert_eq!(first.content_type(), TAXII_MEDIA_TYPE);
    let pending = first.json();
    assert_eq!(pending["total_count"], 2);
    let done = follow(&vendor, &pending).await;
    assert_eq!(done["success_count"], 2, "{done}");
    assert_eq!(done["pending_count"], 0);
    let entry_index = server.node.store().size().0 - 1;
    let message = done["successes"][0]["message"].as_str().unwrap();
    assert!(
        message.contains(&format!("entry {entry_index}")),
        "{message}"
    );

    // The recipient finds it in the ledger and checks it against a signed checkpoint.
    let mut police = server.client(RECIPIENT).await;
    let entry = police
        .get_entry(pb::GetEntryRequest { index: entry_index })
        .await
        .unwrap()
        .into_inner();
    let checkpoint = police
        .get_checkpoint(pb::GetCheckpointRequest { tree_size: 0 })
        .await
        .unwrap()
        .into_inner();
    let (checkpoint, _) = Checkpoint::open(&checkpoint.checkpoint, &server.log).unwrap();
    let proof = police
        .get_inclusion_proof(pb::GetInclusionProofRequest {
            leaf: Some(Leaf::Index(entry_index)),
            tree_size: checkpoint.size,
        })
        .await
        .unwrap()
        .into_inner();
    let leaf = hash_from_slice(&entry.leaf_hash).unwrap();
    client::verify_inclusion(LeafIndex(entry_index), &leaf, &proof.hashes, &checkpoint).unwrap();
    let d = match borderlog::format::entry::decode(&entry.entry).unwrap().kind {
        Some(pb::entry::Kind::Disclosure(d)) => d,
        other => panic!("not a disclosure: {other:?}"),
    };
    let body = borderlog::format::entry::disclosure_body(&d).unwrap();
    assert_eq!(body.recipient, RECIPIENT);
    let tlps: Vec<_> = body.items.iter().map(|i| i.tlp.as_str()).collect();
    assert_eq!(tlps, ["green", "amber"]);

    // The same envelope again, its properties in another order: the same status, no second
    // disclosure.
    let size = server.node.store().size();
    let mut reordered = serde_json::Map::new();
    let original = indicator_json(8);
    for (k, v) in original.as_object().unwrap().iter().rev() {
        reordered.insert(k.clone(), v.clone());
    }
    let mut unmarked = indicator_json(9);
    unmarked
        .as_object_mut()
        .unwrap()
        .remove("object_marking_refs");
    let again = push(
        &vendor,
        &id,
        &serde_json::json!({ "objects": [reordered, unmarked] }),
    )
    .await;
    assert_eq!(again.status, 202);
    assert_eq!(again.json()["id"], pending["id"]);
    assert_eq!(again.json()["status"], "complete");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(server.node.store().size(), size, "not disclosed twice");

    // Even with the gateway's state lost, the ledger refuses the replayed nonce.
    gw.stop().await;
    std::fs::remove_dir_all(&state).unwrap();
    let gw = start_gateway(
        &server,
        &state,
        policy_with_customers(&server.keys),
        1 << 20,
    )
    .await;
    let vendor = gw.session(&server.keys, Who::Cert(SENDER));
    let replay = follow(&vendor, &push(&vendor, &id, &good).await.json()).await;
    assert_eq!(replay["success_count"], 0, "{replay}");
    assert_eq!(replay["failure_count"], 2);
    assert_eq!(
        server.node.store().size(),
        size,
        "no second disclosure entry"
    );
    gw.stop().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn add_objects_limits_errors_and_the_key_stays_home() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), Backend::Embedded).await;
    let state = dir.path().join("gateway-state");
    let policy = Policy::parse(guard::default_policy_for(SENDER).as_bytes()).unwrap();
    let gw = start_gateway(&server, &state, policy, 4096).await;
    let keys = &server.keys;
    let vendor = gw.session(keys, Who::Basic(SENDER));
    let id = collection(&vendor).await;
    let objects = format!("/gateway/collections/{id}/objects/");

    // 413 over max_content_length; 415 for another media type; 400 not JSON; 422 not an
    // envelope; 404 unknown collection and status; 403 reading or pushing as another party.
    let big = serde_json::json!({ "objects": [indicator_json(1)], "pad": "x".repeat(5000) });
    vendor
        .post(
            &objects,
            TAXII_MEDIA_TYPE,
            serde_json::to_vec(&big).unwrap(),
        )
        .await
        .assert_error(413);
    vendor
        .post(&objects, "application/json", b"{}".to_vec())
        .await
        .assert_error(415);
    vendor
        .post(&objects, TAXII_MEDIA_TYPE, b"{not json".to_vec())
        .await
        .assert_error(400);
    vendor
        .post(
            &objects,
            TAXII_MEDIA_TYPE,
            br#"{"objects":[{"no":"id"}]}"#.to_vec(),
        )
        .await
        .assert_error(422);
    vendor
        .post(&objects, TAXII_MEDIA_TYPE, br#"{"more":false}"#.to_vec())
        .await
        .assert_error(422);
    vendor
        .post(
            "/gateway/collections/00000000-0000-8000-8000-000000000000/objects/",
            TAXII_MEDIA_TYPE,
            b"{}".to_vec(),
        )
        .await
        .assert_error(404);
    vendor
        .get("/gateway/status/00000000-0000-8000-8000-000000000000/")
        .await
        .assert_error(404);
    vendor.get(&objects).await.assert_error(403);
    let police = gw.session(keys, Who::Basic(RECIPIENT));
    police
        .post(
            &objects,
            TAXII_MEDIA_TYPE,
            serde_json::to_vec(&serde_json::json!({"objects": [indicator_json(1)]})).unwrap(),
        )
        .await
        .assert_error(403);
    gw.session(keys, Who::Nobody)
        .get("/taxii2/")
        .await
        .assert_error(401);
    vendor
        .get_accepting("/taxii2/", "text/html")
        .await
        .assert_error(406);
    let size = server.node.store().size();

    // A disclosure through the gateway; then the key is nowhere but in its own file.
    let status = push(
        &vendor,
        &id,
        &serde_json::json!({ "objects": [indicator_json(2)] }),
    )
    .await;
    assert_eq!(follow(&vendor, &status.json()).await["success_count"], 1);
    assert_eq!(server.node.store().size().0, size.0 + 1);
    let seed = identity::keys::load_signing_key(keys, SENDER)
        .unwrap()
        .to_bytes();
    let needles = [
        seed.to_vec(),
        base64::engine::general_purpose::STANDARD
            .encode(seed)
            .into_bytes(),
        hex::encode(seed).into_bytes(),
    ];
    let mut stack = vec![dir.path().to_owned()];
    let key_file = identity::keys::signing_key_path(keys, SENDER);
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let path = e.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path == key_file {
                continue;
            }
            let bytes = std::fs::read(&path).unwrap();
            for needle in &needles {
                assert!(
                    !bytes.windows(needle.len()).any(|w| w == needle.as_slice()),
                    "the sender's key is in {}",
                    path.display()
                );
            }
        }
    }
    gw.stop().await;
    server.stop().await;
}
