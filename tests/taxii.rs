//! TAXII 2.1 read side: every endpoint and filter over real HTTPS on loopback, against a live
//! ledger, with a real HTTP client; Basic and certificate authentication and their refusals;
//! each role's visibility; pagination while the log grows; erased items disappear.

mod common;
#[path = "common/taxii.rs"]
mod taxii_common;

use borderlog::client;
use borderlog::format::LeafIndex;
use borderlog::format::hash::hash_from_slice;
use borderlog::identity::{self, InitOptions, PartySpec, keys::load_signing_key};
use borderlog::pb::{self, Role};
use borderlog::service::NodeConfig;
use borderlog::taxii::{TAXII_MEDIA_TYPE, provenance};
use common::{AUDITOR, Backend, RECIPIENT, SENDER, TestServer, header, indicator_json, now_ms};
use serde_json::Value;
use taxii_common::{Endpoint, Session, Who};

/// The one collection of SENDER → RECIPIENT, as `who` lists it.
async fn collection_id(session: &Session) -> String {
    let list = session.get("/ledger/collections/").await;
    assert_eq!(list.status, 200);
    list.json()["collections"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Submits these objects as one disclosure from SENDER to RECIPIENT; returns its index.
async fn disclose(server: &TestServer, objects: Vec<Value>) -> u64 {
    let key = load_signing_key(&server.keys, SENDER).unwrap();
    let items = objects
        .iter()
        .map(|o| serde_json::to_vec(o).unwrap())
        .collect();
    let request = client::prepare_submission(&key, &header(), items, now_ms()).unwrap();
    server
        .client(SENDER)
        .await
        .submit(request)
        .await
        .unwrap()
        .into_inner()
        .index
}

fn ids(envelope: &Value) -> Vec<String> {
    envelope["objects"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|o| o["id"].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_collections_objects_and_filters() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), Backend::Embedded).await;
    let first = disclose(&server, vec![indicator_json(1), indicator_json(2)]).await;
    // A later millisecond for the second disclosure, for added_after to tell them apart.
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let mut malware = indicator_json(3);
    malware["type"] = "malware".into();
    malware["id"] = "malware--8e2e2d2b-17d4-4cbf-938f-000000000003".into();
    malware["is_family"] = true.into();
    malware.as_object_mut().unwrap().remove("pattern");
    malware.as_object_mut().unwrap().remove("pattern_type");
    malware.as_object_mut().unwrap().remove("valid_from");
    malware.as_object_mut().unwrap().remove("indicator_types");
    let second = disclose(&server, vec![malware]).await;
    let taxii = Endpoint::ledger(&server).await;
    let police = taxii.session(&server.keys, Who::Basic(RECIPIENT));

    let discovery = police.get("/taxii2/").await;
    assert_eq!(discovery.status, 200);
    assert_eq!(discovery.content_type(), TAXII_MEDIA_TYPE);
    assert_eq!(discovery.json()["api_roots"][0], "/ledger/");
    let root = police.get("/ledger/").await.json();
    assert_eq!(root["versions"][0], TAXII_MEDIA_TYPE);

    let collections = police.get("/ledger/collections/").await.json();
    let list = collections["collections"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{collections}");
    assert_eq!(list[0]["can_read"], true);
    assert_eq!(list[0]["can_write"], false);
    assert_eq!(
        list[0]["media_types"][0],
        "application/stix+json;version=2.1"
    );
    let id = list[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        police
            .get(&format!("/ledger/collections/{id}/"))
            .await
            .json()["id"],
        id
    );

    // Get Objects: every object, each exactly the committed bytes.
    let objects_path = format!("/ledger/collections/{id}/objects/");
    let all = police.get(&objects_path).await;
    assert_eq!(all.status, 200);
    assert_eq!(all.content_type(), TAXII_MEDIA_TYPE);
    let envelope = all.json();
    assert_eq!(envelope["more"], false);
    assert_eq!(ids(&envelope).len(), 3);
    let mut api = server.client(RECIPIENT).await;
    for index in [first, second] {
        let entry = api
            .get_entry(pb::GetEntryRequest { index })
            .await
            .unwrap()
            .into_inner();
        for item in entry.items {
            let content = item.payload.unwrap().content;
            assert!(
                all.bytes
                    .windows(content.len())
                    .any(|w| w == content.as_slice()),
                "the envelope holds the committed bytes untouched"
            );
        }
    }
    let first_added = all.headers["x-taxii-date-added-first"]
        .to_str()
        .unwrap()
        .to_owned();
    let last_added = all.headers["x-taxii-date-added-last"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(first_added <= last_added);
    let provenance = &envelope["x_borderlog_provenance"];
    assert_eq!(provenance[0]["entry"], first);
    assert_eq!(provenance[2]["entry"], second);
    assert_eq!(provenance[2]["tlp"], "green");

    // The same over a client certificate, without Basic.
    let by_cert = taxii.session(&server.keys, Who::Cert(RECIPIENT));
    assert_eq!(
        by_cert.get(&objects_path).await.json()["objects"],
        envelope["objects"]
    );

    // Filters.
    let get_ids = |query: String| {
        let police = &police;
        let path = format!("{objects_path}?{query}");
        async move { ids(&police.get(&path).await.json()) }
    };
    assert_eq!(get_ids("match[type]=malware".into()).await.len(), 1);
    assert_eq!(
        get_ids("match[type]=indicator,malware".into()).await.len(),
        3
    );
    let one = ids(&envelope)[1].clone();
    assert_eq!(
        get_ids(format!("match[id]={one}")).await,
        std::slice::from_ref(&one)
    );
    assert_eq!(get_ids("match[spec_version]=2.1".into()).await.len(), 3);
    assert!(get_ids("match[spec_version]=2.0".into()).await.is_empty());
    let empty = police
        .get(&format!("{objects_path}?match[type]=campaign"))
        .await;
    assert_eq!(empty.status, 200);
    assert_eq!(empty.json()["more"], false);
    assert!(empty.headers.get("x-taxii-date-added-first").is_none());
    let after_first = provenance[0]["date_added"].as_str().unwrap();
    let later = get_ids(format!("added_after={after_first}")).await;
    assert!(
        later.len() < 3 && later.contains(&ids(&envelope)[2]),
        "{later:?}"
    );
    assert!(
        get_ids(format!("added_after={last_added}"))
            .await
            .is_empty()
    );

    // Get an Object, Object Versions, Manifest.
    let object = police.get(&format!("{objects_path}{one}/")).await.json();
    assert_eq!(ids(&object), std::slice::from_ref(&one));
    let versions = police
        .get(&format!("{objects_path}{one}/versions/"))
        .await
        .json();
    assert_eq!(
        versions["versions"],
        serde_json::json!(["2026-11-01T10:00:00.000Z"])
    );
    let manifest = police
        .get(&format!("/ledger/collections/{id}/manifest/"))
        .await;
    assert!(manifest.headers.contains_key("x-taxii-date-added-last"));
    let manifest = manifest.json();
    let records = manifest["objects"].as_array().unwrap();
    assert_eq!(records.len(), 3);
    assert_eq!(records[1]["id"], one);
    assert_eq!(records[1]["version"], "2026-11-01T10:00:00.000Z");
    assert_eq!(
        records[1]["media_type"],
        "application/stix+json;version=2.1"
    );
    assert_eq!(records[1]["x_borderlog_provenance"]["entry"], first);
    assert_eq!(records[1]["x_borderlog_provenance"]["item"], 1);
    taxii.stop().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn versions_first_last_all_and_at() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), Backend::Embedded).await;
    let stamps = [
        "2026-11-01T10:00:00.000Z",
        "2026-11-02T10:00:00.000Z",
        "2026-11-03T10:00:00.000Z",
    ];
    // Disclosed out of order: the newest version is not the last added.
    for stamp in [stamps[1], stamps[0], stamps[2]] {
        let mut v = indicator_json(7);
        v["modified"] = stamp.into();
        disclose(&server, vec![v]).await;
    }
    disclose(&server, vec![indicator_json(8)]).await;
    let taxii = Endpoint::ledger(&server).await;
    let police = taxii.session(&server.keys, Who::Basic(RECIPIENT));
    let id = collection_id(&police).await;
    let seven = indicator_json(7)["id"].as_str().unwrap().to_owned();
    let modified = |query: &str| {
        let path = format!("/ledger/collections/{id}/objects/?match[id]={seven}&{query}");
        let police = &police;
        async move {
            police.get(&path).await.json()["objects"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|o| o["modified"].as_str().unwrap().to_owned())
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default()
        }
    };
    assert_eq!(
        modified("").await,
        [stamps[2]],
        "the default is the last version"
    );
    assert_eq!(modified("match[version]=last").await, [stamps[2]]);
    assert_eq!(modified("match[version]=first").await, [stamps[0]]);
    assert_eq!(
        modified("match[version]=all").await,
        [stamps[1], stamps[0], stamps[2]]
    );
    assert_eq!(
        modified("match[version]=first,last").await,
        [stamps[0], stamps[2]]
    );
    assert_eq!(
        modified(&format!("match[version]={}", stamps[1])).await,
        [stamps[1]]
    );
    // Without match[id], the default still holds one version per object.
    let all = police
        .get(&format!("/ledger/collections/{id}/objects/"))
        .await
        .json();
    assert_eq!(ids(&all).len(), 2);
    let versions = police
        .get(&format!(
            "/ledger/collections/{id}/objects/{seven}/versions/"
        ))
        .await
        .json();
    assert_eq!(
        versions["versions"],
        serde_json::json!([stamps[1], stamps[0], stamps[2]])
    );
    let object = police
        .get(&format!(
            "/ledger/collections/{id}/objects/{seven}/?match[version]=first"
        ))
        .await
        .json();
    assert_eq!(object["objects"][0]["modified"], stamps[0]);
    taxii.stop().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pagination_is_stable_while_the_log_grows() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), Backend::Embedded).await;
    for n in 0..12 {
        disclose(
            &server,
            vec![indicator_json(100 + 2 * n), indicator_json(101 + 2 * n)],
        )
        .await;
    }
    let taxii = Endpoint::ledger(&server).await;
    let police = taxii.session(&server.keys, Who::Cert(RECIPIENT));
    let id = collection_id(&police).await;
    let mut seen = Vec::new();
    let mut next: Option<String> = None;
    let mut pages = 0;
    let mut added = 0;
    loop {
        let path = match &next {
            Some(n) => format!("/ledger/collections/{id}/objects/?limit=5&next={n}"),
            None => format!("/ledger/collections/{id}/objects/?limit=5"),
        };
        let page = police.get(&path).await.json();
        pages += 1;
        let got = ids(&page);
        assert!(got.len() <= 5);
        seen.extend(got);
        // New disclosures arrive between pages (the first three pages).
        if added < 3 {
            disclose(&server, vec![indicator_json(500 + added)]).await;
            added += 1;
        }
        if page["more"] == true {
            next = Some(page["next"].as_str().unwrap().to_owned());
        } else {
            assert!(page.get("next").is_none());
            break;
        }
    }
    assert!(pages > 5, "{pages} pages");
    let mut expected: Vec<String> = (0..24)
        .map(|n| indicator_json(100 + n)["id"].as_str().unwrap().to_owned())
        .collect();
    expected.extend((500..503).map(|n| indicator_json(n)["id"].as_str().unwrap().to_owned()));
    assert_eq!(
        seen, expected,
        "every object once, in log order, the new ones at the end"
    );
    taxii.stop().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_error_has_its_status_and_an_error_resource() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), Backend::Embedded).await;
    disclose(&server, vec![indicator_json(1)]).await;
    let taxii = Endpoint::ledger(&server).await;
    let keys = &server.keys;
    let police = taxii.session(keys, Who::Basic(RECIPIENT));
    let id = collection_id(&police).await;
    let objects = format!("/ledger/collections/{id}/objects/");

    // 401: no credentials, a wrong password, an unknown user; with WWW-Authenticate: Basic.
    for who in [
        Who::Nobody,
        Who::BasicWith(RECIPIENT, "hunter2-guess"),
        Who::BasicWith("nobody", "x"),
    ] {
        let reply = taxii.session(keys, who).get(&objects).await;
        reply.assert_error(401);
        let challenge = reply.headers["www-authenticate"].to_str().unwrap();
        assert!(challenge.starts_with("Basic realm="), "{challenge}");
        let text = String::from_utf8_lossy(&reply.bytes).to_string();
        assert!(
            !text.contains("hunter2"),
            "the password is never echoed: {text}"
        );
    }
    // 406: asks for a media type the server does not send.
    police
        .get_accepting(&objects, "application/json")
        .await
        .assert_error(406);
    police
        .get_accepting(&objects, "application/taxii+json;version=2.0")
        .await
        .assert_error(406);
    // 400: parameters that do not parse.
    for query in [
        "limit=0",
        "limit=x",
        "next=zzz",
        "added_after=yesterday",
        "match[version]=newest",
        "match[color]=red",
    ] {
        police
            .get(&format!("{objects}?{query}"))
            .await
            .assert_error(400);
    }
    // 404: no such API root, collection, object, status, endpoint.
    police.get("/nope/collections/").await.assert_error(404);
    police
        .get("/ledger/collections/00000000-0000-8000-8000-000000000000/objects/")
        .await
        .assert_error(404);
    police
        .get(&format!(
            "{objects}indicator--00000000-0000-4000-8000-000000000000/"
        ))
        .await
        .assert_error(404);
    police
        .get("/ledger/status/00000000-0000-8000-8000-000000000000/")
        .await
        .assert_error(404);
    police.get("/elsewhere").await.assert_error(404);
    // 403: the ledger's collections are read-only; auditors read no objects.
    police
        .post(&objects, TAXII_MEDIA_TYPE, br#"{"objects":[]}"#.to_vec())
        .await
        .assert_error(403);
    police
        .delete(&format!(
            "{objects}{}/",
            indicator_json(1)["id"].as_str().unwrap()
        ))
        .await
        .assert_error(403);
    taxii
        .session(keys, Who::Basic(AUDITOR))
        .get(&objects)
        .await
        .assert_error(403);
    // A TLS client certificate from another CA is refused at the handshake.
    let other = tempfile::tempdir().unwrap();
    let other_keys = common::init_keys(other.path());
    let ca = std::fs::read(keys.join("ca.crt")).unwrap();
    let stranger = reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(&ca).unwrap())
        .identity(taxii_common::identity(&other_keys, RECIPIENT))
        .resolve("localhost", taxii.addr)
        .build()
        .unwrap();
    let refused = stranger
        .get(format!("{}{objects}", taxii.base()))
        .header("accept", TAXII_MEDIA_TYPE)
        .send()
        .await;
    assert!(refused.is_err(), "{refused:?}");
    // And nothing of this changed the log.
    let size = server.node.store().size();
    assert_eq!(police.get(&objects).await.status, 200);
    assert_eq!(server.node.store().size(), size);
    taxii.stop().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_role_sees_what_get_entry_shows_it() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    let mut opts = InitOptions::default();
    opts.parties
        .push(PartySpec::new("other-police", Role::Recipient, "police"));
    identity::init(&keys, &opts).unwrap();
    let server = TestServer::start_with(&keys, &dir.path().join("data"), Backend::Embedded).await;
    disclose(&server, vec![indicator_json(1)]).await;
    // A disclosure to the other recipient.
    let key = load_signing_key(&keys, SENDER).unwrap();
    let mut to_other = header();
    to_other.recipient = "other-police".into();
    let request = client::prepare_submission(
        &key,
        &to_other,
        vec![serde_json::to_vec(&indicator_json(2)).unwrap()],
        now_ms(),
    )
    .unwrap();
    server.client(SENDER).await.submit(request).await.unwrap();
    let taxii = Endpoint::ledger(&server).await;

    let listed = |who| {
        let session = taxii.session(&keys, who);
        async move {
            let list = session.get("/ledger/collections/").await.json();
            list["collections"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| {
                    (
                        c["title"].as_str().unwrap().to_owned(),
                        c["id"].as_str().unwrap().to_owned(),
                        c["can_read"].as_bool().unwrap(),
                    )
                })
                .collect::<Vec<_>>()
        }
    };
    let police = listed(Who::Basic(RECIPIENT)).await;
    assert_eq!(police.len(), 1);
    assert_eq!(police[0].0, format!("{SENDER} to {RECIPIENT}"));
    let other = listed(Who::Cert("other-police")).await;
    assert_eq!(other.len(), 1);
    assert_ne!(other[0].1, police[0].1);
    let vendor = listed(Who::Basic(SENDER)).await;
    assert_eq!(vendor.len(), 2);
    assert!(vendor.iter().all(|c| c.2));
    for who in [AUDITOR, "compliance"] {
        let seen = listed(Who::Basic(who)).await;
        assert_eq!(seen.len(), 2, "{who} sees every collection");
        assert!(seen.iter().all(|c| !c.2), "{who} may read no objects");
        let session = taxii.session(&keys, Who::Basic(who));
        for (_, id, _) in &seen {
            session
                .get(&format!("/ledger/collections/{id}/objects/"))
                .await
                .assert_error(403);
            session
                .get(&format!("/ledger/collections/{id}/manifest/"))
                .await
                .assert_error(403);
        }
    }
    // A partner does not see the other recipient's collection at all.
    let session = taxii.session(&keys, Who::Basic(RECIPIENT));
    session
        .get(&format!("/ledger/collections/{}/objects/", other[0].1))
        .await
        .assert_error(404);
    session
        .get(&format!("/ledger/collections/{}/", other[0].1))
        .await
        .assert_error(404);
    let own = session
        .get(&format!("/ledger/collections/{}/objects/", police[0].1))
        .await
        .json();
    assert_eq!(ids(&own), [indicator_json(1)["id"].as_str().unwrap()]);
    let theirs = taxii.session(&keys, Who::Cert("other-police"));
    let got = theirs
        .get(&format!("/ledger/collections/{}/objects/", other[0].1))
        .await
        .json();
    assert_eq!(ids(&got), [indicator_json(2)["id"].as_str().unwrap()]);
    taxii.stop().await;
    server.stop().await;

    // A node that lets auditors read payloads lets them read objects too.
    let mut config = NodeConfig::new(&keys, dir.path().join("data"));
    config.auditor_reads_payloads = true;
    let server = TestServer::start_config(config, Backend::Embedded).await;
    let taxii = Endpoint::ledger(&server).await;
    let auditor = taxii.session(&keys, Who::Cert(AUDITOR));
    let envelope = auditor
        .get(&format!("/ledger/collections/{}/objects/", police[0].1))
        .await
        .json();
    assert_eq!(ids(&envelope).len(), 1);
    taxii.stop().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_credentials_and_erased_items_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), Backend::Embedded).await;
    let index = disclose(&server, vec![indicator_json(1), indicator_json(2)]).await;
    let taxii = Endpoint::ledger(&server).await;
    let police = taxii.session(&server.keys, Who::Basic(RECIPIENT));
    let id = collection_id(&police).await;
    let objects = format!("/ledger/collections/{id}/objects/");
    assert_eq!(ids(&police.get(&objects).await.json()).len(), 2);

    // The owner erases item 0: it is no longer served, anywhere.
    let entry = server
        .client(SENDER)
        .await
        .get_entry(pb::GetEntryRequest { index })
        .await
        .unwrap()
        .into_inner();
    let commitment = hash_from_slice(&entry.items[0].commitment).unwrap();
    let key = load_signing_key(&server.keys, SENDER).unwrap();
    server
        .client(SENDER)
        .await
        .redact(client::sign_redaction(
            &key,
            LeafIndex(index),
            &commitment,
            "customer data",
        ))
        .await
        .unwrap();
    let erased = indicator_json(1)["id"].as_str().unwrap().to_owned();
    let left = police.get(&objects).await.json();
    assert_eq!(ids(&left), [indicator_json(2)["id"].as_str().unwrap()]);
    assert_eq!(left["x_borderlog_provenance"][0]["item"], 1);
    police
        .get(&format!("{objects}{erased}/"))
        .await
        .assert_error(404);
    let manifest = police
        .get(&format!("/ledger/collections/{id}/manifest/"))
        .await
        .json();
    assert_eq!(manifest["objects"].as_array().unwrap().len(), 1);

    // A revoked credential fails from the next request on; the certificate still works.
    assert!(borderlog::taxii::users::revoke(&server.keys, RECIPIENT).unwrap());
    police.get(&objects).await.assert_error(401);
    let by_cert = taxii.session(&server.keys, Who::Cert(RECIPIENT));
    assert_eq!(by_cert.get(&objects).await.status, 200);
    // A new password works at once.
    let password = borderlog::taxii::users::add(&server.keys, RECIPIENT).unwrap();
    let renewed = taxii.session(&server.keys, Who::BasicWith(RECIPIENT, &password));
    assert_eq!(renewed.get(&objects).await.status, 200);
    taxii.stop().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_envelope_proves_itself_against_the_ledger() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), Backend::Embedded).await;
    disclose(&server, vec![indicator_json(1), indicator_json(2)]).await;
    let taxii = Endpoint::ledger(&server).await;
    let police = taxii.session(&server.keys, Who::Basic(RECIPIENT));
    let id = collection_id(&police).await;
    let reply = police
        .get(&format!("/ledger/collections/{id}/objects/"))
        .await;
    let objects = provenance::parse_envelope(&reply.bytes).unwrap();
    assert_eq!(objects.len(), 2);
    let registry = identity::Registry::load(&server.keys).unwrap();
    let key = registry.party(SENDER).unwrap().public_key.unwrap();
    let mut api = server.client(RECIPIENT).await;
    for (raw, stated) in &objects {
        let entry = api
            .get_entry(pb::GetEntryRequest {
                index: stated.entry,
            })
            .await
            .unwrap()
            .into_inner();
        provenance::check_object(raw, stated, &entry.entry, &key).unwrap();
        // One changed byte of the object, or a provenance pointing at another item, fails.
        let text = String::from_utf8(raw.clone()).unwrap();
        let changed = text.replace("Emotet", "Emotes").into_bytes();
        assert!(provenance::check_object(&changed, stated, &entry.entry, &key).is_err());
        let mut elsewhere = stated.clone();
        elsewhere.item = 1 - elsewhere.item;
        assert!(provenance::check_object(raw, &elsewhere, &entry.entry, &key).is_err());
    }
    // The command proves the saved envelope over gRPC against the signed checkpoint.
    let file = dir.path().join("envelope.json");
    std::fs::write(&file, &reply.bytes).unwrap();
    let run = |path: &std::path::Path| {
        std::process::Command::new(env!("CARGO_BIN_EXE_borderlog"))
            .arg("verify-taxii")
            .arg(path)
            .args(["--as", RECIPIENT, "--addr", &server.addr])
            .arg("--keys")
            .arg(&server.keys)
            .output()
            .unwrap()
    };
    let ok = run(&file);
    let out = String::from_utf8_lossy(&ok.stdout);
    assert!(
        ok.status.success(),
        "{out} {}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(
        out.contains("2 object(s) verified against checkpoint"),
        "{out}"
    );
    let tampered = dir.path().join("tampered.json");
    let bytes = String::from_utf8(reply.bytes.clone()).unwrap();
    std::fs::write(&tampered, bytes.replacen("c2-1.badcdn", "c2-9.badcdn", 1)).unwrap();
    assert!(
        !run(&tampered).status.success(),
        "a changed object does not verify"
    );
    taxii.stop().await;
    server.stop().await;
}
