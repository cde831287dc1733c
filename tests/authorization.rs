//! The authorization matrix: every RPC × every kind of caller, over real mTLS on loopback.
//!
//! One table ([`MATRIX`]) says, for each call and caller, the status code and what the caller
//! gets to see; [`every_call_by_every_caller`] runs every cell against a real server and
//! asserts both, and [`readme_shows_the_matrix`] checks the README holds the same table
//! (rendered by [`render`]; on a mismatch it prints the table to paste).
//!
//! Each column gets a server of its own, with this log (every caller sees the same one), on
//! both backends (`every_call_by_every_caller::embedded` and `::postgres`):
//!
//! | entry | what |
//! | --- | --- |
//! | 0 | genesis |
//! | 1 | vendor-research's policy |
//! | 2 | disclosure vendor-research → police-network (one item) |
//! | 3 | disclosure vendor-research → cert-eu (one item) |
//! | 4 | police-network's receipt for 2 |
//! | 5 | disclosure vendor-research → police-network, not yet acknowledged |
//!
//! "Other partner" is cert-eu, a second recipient: a partner, but not party to 2, 4 or 5.
//! Read calls run first (GetEntry reads entry 2); then the writes: Submit a new disclosure,
//! Acknowledge entry 5, Redact entry 2's item, PublishPolicy vendor-research's policy, and last
//! ChangeKey (the caller rotates its own key; read-only roles present the sender's). Partners
//! sign with their own key; read-only roles and refused certificates present the rightful
//! signer's signature, so only who is calling is wrong.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use borderlog::client;
use borderlog::format::LeafIndex;
use borderlog::format::hash::hash_from_slice;
use borderlog::format::signature::{self, Purpose};
use borderlog::identity::{self, InitOptions, PartySpec};
use borderlog::pb::audit_client::AuditClient;
use borderlog::pb::export_record::Record;
use borderlog::pb::ledger_client::LedgerClient;
use borderlog::pb::{self, Role};
use borderlog::service::NodeConfig;
use common::*;
use tokio_stream::StreamExt;
use tonic::Code;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};

/// The second recipient: a partner of the log that takes no part in entries 2, 4 and 5.
const OTHER: &str = "cert-eu";
const COMPLIANCE: &str = "compliance";

/// Who calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    /// vendor-research, the disclosures' sender.
    Sender,
    /// police-network, the recipient of 2 and 5.
    Recipient,
    /// cert-eu, another partner (recipient of 3 only).
    OtherPartner,
    /// The auditor, on a default node.
    Auditor,
    /// The auditor, on a node with `auditor_reads_payloads`.
    AuditorWithPayloads,
    /// The compliance officer.
    Compliance,
    /// vendor-research's name on a certificate from another CA.
    OtherCa,
    /// vendor-research's certificate from the right CA, expired yesterday.
    Expired,
    /// TLS without a client certificate.
    NoCertificate,
}

/// The columns, in order.
const CALLERS: [(Who, &str); 9] = [
    (Who::Sender, "sender partner"),
    (Who::Recipient, "recipient partner"),
    (Who::OtherPartner, "other partner"),
    (Who::Auditor, "auditor"),
    (
        Who::AuditorWithPayloads,
        "auditor, `auditor_reads_payloads`",
    ),
    (Who::Compliance, "compliance"),
    (Who::OtherCa, "cert from another CA"),
    (Who::Expired, "expired cert"),
    (Who::NoCertificate, "no cert"),
];

/// What a cell expects.
#[derive(Debug, Clone, Copy)]
enum Cell {
    /// OK; a write appended an entry whose receipt verifies.
    Appended,
    /// OK; the answer holds nothing that is party-specific (checkpoints, proofs, an empty list).
    Answered,
    /// AddCosignature OK: the checkpoint comes back with the caller's cosignature on it (a
    /// statement about the log, not an entry: nothing is appended).
    Cosigned,
    /// GetEntry OK with the item's payload.
    Payload,
    /// GetEntry OK with the commitment only, the payload withheld.
    Withheld,
    /// ListEntries / Export OK: exactly these entries in full (Export: the rest as leaf hashes
    /// only), and payloads only of these disclosures.
    Entries {
        entries: &'static [u64],
        payloads: &'static [u64],
    },
    /// Refused with this status code; nothing appended.
    Refused(Code),
    /// Refused in the TLS handshake, for this reason (a rustls alert); nothing reaches the
    /// service.
    Tls(&'static str),
}

use Cell::*;

const DENIED: Cell = Refused(Code::PermissionDenied);
const UNAUTH: Cell = Refused(Code::Unauthenticated);
const UNKNOWN_CA: Cell = Tls("UnknownCA");
const EXPIRED: Cell = Tls("CertificateExpired");
const ALL: &[u64] = &[0, 1, 2, 3, 4, 5];

/// What ListEntries and Export show each caller: the same visibility rule, by design.
const LISTED: [Cell; 9] = [
    Entries {
        entries: ALL,
        payloads: &[2, 3, 5],
    },
    Entries {
        entries: &[0, 1, 2, 4, 5],
        payloads: &[2, 5],
    },
    Entries {
        entries: &[0, 1, 3],
        payloads: &[3],
    },
    Entries {
        entries: ALL,
        payloads: &[],
    },
    Entries {
        entries: ALL,
        payloads: &[2, 3, 5],
    },
    Entries {
        entries: ALL,
        payloads: &[],
    },
    UNKNOWN_CA,
    EXPIRED,
    UNAUTH,
];

/// The matrix: one row per RPC, one cell per caller in [`CALLERS`] order.
const MATRIX: &[(&str, [Cell; 9])] = &[
    (
        "Ledger/Submit",
        [
            Appended, DENIED, DENIED, DENIED, DENIED, DENIED, UNKNOWN_CA, EXPIRED, UNAUTH,
        ],
    ),
    (
        "Ledger/SubmitStream",
        [
            Appended, DENIED, DENIED, DENIED, DENIED, DENIED, UNKNOWN_CA, EXPIRED, UNAUTH,
        ],
    ),
    (
        "Ledger/Acknowledge",
        [
            DENIED, Appended, DENIED, DENIED, DENIED, DENIED, UNKNOWN_CA, EXPIRED, UNAUTH,
        ],
    ),
    (
        "Ledger/PublishPolicy",
        [
            Appended, DENIED, DENIED, DENIED, DENIED, DENIED, UNKNOWN_CA, EXPIRED, UNAUTH,
        ],
    ),
    (
        "Ledger/ChangeKey",
        [
            Appended, Appended, Appended, DENIED, DENIED, DENIED, UNKNOWN_CA, EXPIRED, UNAUTH,
        ],
    ),
    (
        "Ledger/Redact",
        [
            Appended, DENIED, DENIED, DENIED, DENIED, DENIED, UNKNOWN_CA, EXPIRED, UNAUTH,
        ],
    ),
    (
        "Ledger/ListExpired",
        [
            Answered, DENIED, DENIED, DENIED, DENIED, DENIED, UNKNOWN_CA, EXPIRED, UNAUTH,
        ],
    ),
    (
        "Ledger/GetEntry",
        [
            Payload, Payload, DENIED, Withheld, Payload, Withheld, UNKNOWN_CA, EXPIRED, UNAUTH,
        ],
    ),
    ("Ledger/ListEntries", LISTED),
    (
        "Ledger/GetCheckpoint",
        [
            Answered, Answered, Answered, Answered, Answered, Answered, UNKNOWN_CA, EXPIRED, UNAUTH,
        ],
    ),
    (
        "Ledger/GetInclusionProof",
        [
            Answered, Answered, Answered, Answered, Answered, Answered, UNKNOWN_CA, EXPIRED, UNAUTH,
        ],
    ),
    (
        "Ledger/GetConsistencyProof",
        [
            Answered, Answered, Answered, Answered, Answered, Answered, UNKNOWN_CA, EXPIRED, UNAUTH,
        ],
    ),
    (
        "Ledger/FindDisclosure",
        [
            Answered, DENIED, DENIED, DENIED, DENIED, DENIED, UNKNOWN_CA, EXPIRED, UNAUTH,
        ],
    ),
    (
        "Witness/AddCosignature",
        [
            Cosigned, Cosigned, Cosigned, DENIED, DENIED, DENIED, UNKNOWN_CA, EXPIRED, UNAUTH,
        ],
    ),
    ("Audit/Export", LISTED),
    (
        "Reports/GetReport",
        [
            DENIED, DENIED, DENIED, DENIED, DENIED, Answered, UNKNOWN_CA, EXPIRED, UNAUTH,
        ],
    ),
];

/// Rows run in this order: reads on the fixture, then writes.
const ORDER: [&str; 16] = [
    "Ledger/GetEntry",
    "Ledger/ListEntries",
    "Ledger/GetCheckpoint",
    "Ledger/GetInclusionProof",
    "Ledger/GetConsistencyProof",
    "Ledger/FindDisclosure",
    "Audit/Export",
    "Reports/GetReport",
    "Witness/AddCosignature",
    "Ledger/ListExpired",
    "Ledger/Submit",
    "Ledger/SubmitStream",
    "Ledger/Acknowledge",
    "Ledger/Redact",
    "Ledger/PublishPolicy",
    "Ledger/ChangeKey",
];

/// Renders a cell for the README.
fn cell_text(cell: &Cell) -> String {
    let list = |v: &[u64]| {
        if v.is_empty() {
            "none".to_owned()
        } else {
            v.iter().map(u64::to_string).collect::<Vec<_>>().join(",")
        }
    };
    match cell {
        Appended => "OK, appended".into(),
        Answered => "OK".into(),
        Cosigned => "OK, cosigned".into(),
        Payload => "OK, payload".into(),
        Withheld => "OK, commitment only".into(),
        Entries { entries, payloads } if *entries == ALL => {
            format!("OK: all; payloads {}", list(payloads))
        }
        Entries { entries, payloads } => {
            format!("OK: {}; payloads {}", list(entries), list(payloads))
        }
        Refused(code) => format!("{code:?}")
            .chars()
            .flat_map(|c| {
                let sep = c.is_uppercase().then_some('_');
                sep.into_iter()
                    .chain(std::iter::once(c.to_ascii_uppercase()))
            })
            .collect::<String>()
            .trim_start_matches('_')
            .to_owned(),
        Tls(reason) => format!("TLS: {reason}"),
    }
}

/// The matrix as a Markdown table.
fn render() -> String {
    let mut out = String::from("| call |");
    for (_, name) in CALLERS {
        out.push_str(&format!(" {name} |"));
    }
    out.push_str("\n| --- |");
    out.push_str(&" --- |".repeat(CALLERS.len()));
    out.push('\n');
    for (rpc, cells) in MATRIX {
        out.push_str(&format!("| {rpc} |"));
        for cell in cells {
            out.push_str(&format!(" {} |", cell_text(cell)));
        }
        out.push('\n');
    }
    out
}

#[test]
fn readme_shows_the_matrix() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let table = render();
    assert!(
        readme.contains(&table),
        "README.md must hold the authorization matrix exactly as tests/authorization.rs renders it:\n\n{table}"
    );
}

/// Every RPC in the proto is a row (a new call fails this until it has one), and the run
/// order covers every row once.
#[test]
fn the_matrix_covers_every_rpc() {
    let proto = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("proto/borderlog/v1/borderlog.proto"),
    )
    .unwrap();
    let mut service = "";
    let mut rpcs = Vec::new();
    for line in proto.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("service ") {
            service = rest.split_whitespace().next().unwrap();
        } else if let Some(rest) = line.strip_prefix("rpc ") {
            rpcs.push(format!(
                "{service}/{}",
                rest.split('(').next().unwrap().trim()
            ));
        }
    }
    let mut rows: Vec<String> = MATRIX.iter().map(|(rpc, _)| rpc.to_string()).collect();
    rows.sort();
    rpcs.sort();
    assert_eq!(rows, rpcs, "one row per RPC of the proto");
    let mut order: Vec<String> = ORDER.iter().map(|r| r.to_string()).collect();
    order.sort();
    assert_eq!(order, rows, "every row runs once");
}

/// The keys of a log with a second recipient.
fn init_parties(dir: &Path) -> PathBuf {
    let keys = dir.join("keys");
    let mut opts = InitOptions::default();
    opts.parties
        .insert(2, PartySpec::new(OTHER, Role::Recipient, "national CERT"));
    identity::init(&keys, &opts).unwrap();
    keys
}

/// Copies every file of `from` into `to`.
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            std::fs::copy(&path, to.join(path.file_name().unwrap())).unwrap();
        }
    }
}

/// A channel as `who`, or the error of trying to open one (as UNAVAILABLE with the detail).
async fn channel(server: &TestServer, tmp: &Path, who: Who) -> Result<Channel, tonic::Status> {
    let unavailable = |e: &dyn std::fmt::Debug| tonic::Status::unavailable(format!("{e:?}"));
    let named = |name: &str| (server.keys.clone(), name.to_owned());
    let (keys, name) = match who {
        Who::Sender => named(SENDER),
        Who::Recipient => named(RECIPIENT),
        Who::OtherPartner => named(OTHER),
        Who::Auditor | Who::AuditorWithPayloads => named(AUDITOR),
        Who::Compliance => named(COMPLIANCE),
        Who::OtherCa => {
            let other = tmp.join("other-ca");
            let forged = tmp.join("forged");
            if !forged.exists() {
                identity::init(&other, &InitOptions::default()).unwrap();
                copy_dir(&server.keys, &forged);
            }
            for ext in ["crt", "key"] {
                let file = format!("{SENDER}.{ext}");
                std::fs::copy(other.join(&file), forged.join(&file)).unwrap();
            }
            (forged, SENDER.to_owned())
        }
        Who::Expired => {
            let expired = tmp.join("expired");
            if !expired.exists() {
                copy_dir(&server.keys, &expired);
            }
            let now = SystemTime::now();
            let day = Duration::from_secs(24 * 60 * 60);
            identity::issue_client_cert(&expired, SENDER, now - 2 * day, now - day).unwrap();
            (expired, SENDER.to_owned())
        }
        Who::NoCertificate => {
            let ca = std::fs::read(server.keys.join("ca.crt")).unwrap();
            let tls = ClientTlsConfig::new()
                .ca_certificate(Certificate::from_pem(ca))
                .domain_name("localhost");
            return Endpoint::from_shared(format!("https://{}", server.addr))
                .unwrap()
                .tls_config(tls)
                .map_err(|e| unavailable(&e))?
                .connect()
                .await
                .map_err(|e| unavailable(&e));
        }
    };
    client::channel(&server.addr, &keys, &name)
        .await
        .map_err(|e| unavailable(&e))
}

/// The fixture log (see the module docs), on a fresh server keeping it on `backend`.
async fn fixture(dir: &Path, auditor_reads_payloads: bool, backend: Backend) -> TestServer {
    let keys = init_parties(dir);
    let mut config = NodeConfig::new(&keys, dir.join("data"));
    config.auditor_reads_payloads = auditor_reads_payloads;
    let server = TestServer::start_config(config, backend).await;
    let mut sender = server.client(SENDER).await;
    let key = identity::keys::load_signing_key(&keys, SENDER).unwrap();
    let to = |recipient: &str, n: u64| {
        let mut h = header();
        h.recipient = recipient.into();
        client::prepare_submission(&key, &h, vec![indicator(n)], now_ms()).unwrap()
    };
    let d1 = sender.submit(to(RECIPIENT, 1)).await.unwrap().into_inner();
    assert_eq!(d1.index, 2);
    let d2 = sender.submit(to(OTHER, 2)).await.unwrap().into_inner();
    assert_eq!(d2.index, 3);
    let police = identity::keys::load_signing_key(&keys, RECIPIENT).unwrap();
    let leaf = hash_from_slice(&d1.leaf_hash).unwrap();
    let receipt = server
        .client(RECIPIENT)
        .await
        .acknowledge(client::sign_receipt(&police, LeafIndex(2), &leaf))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(receipt.index, 4);
    let d3 = sender.submit(to(RECIPIENT, 3)).await.unwrap().into_inner();
    assert_eq!(d3.index, 5);
    server
}

/// The signing key a caller uses for writes: its own if it is a partner, else the rightful
/// signer's (`rightful`).
fn signer(keys: &Path, who: Who, rightful: &str) -> ed25519_dalek::SigningKey {
    let own = match who {
        Who::Sender => SENDER,
        Who::Recipient => RECIPIENT,
        Who::OtherPartner => OTHER,
        _ => rightful,
    };
    identity::keys::load_signing_key(keys, own).unwrap()
}

/// What one call returned, reduced to what the matrix asserts.
enum Got {
    /// An appended entry's receipt.
    Receipt(pb::LogReceipt),
    /// The checkpoint note AddCosignature returned.
    Checkpoint(String),
    /// A read whose content needs no check beyond success.
    Answer,
    /// GetEntry's items.
    Items(Vec<pb::StoredItem>),
    /// ListEntries / Export: entries in full (with whether their items carry payloads), and
    /// the indexes withheld.
    Listed {
        entries: Vec<(u64, bool)>,
        withheld: Vec<u64>,
    },
}

/// Runs `rpc` as the caller on `channel`.
async fn call(
    server: &TestServer,
    channel: Channel,
    who: Who,
    rpc: &str,
) -> Result<Got, tonic::Status> {
    let keys = &server.keys;
    let mut ledger = LedgerClient::new(channel.clone()).max_decoding_message_size(64 << 20);
    let entry2 = server.node.store().entry(LeafIndex(2)).unwrap().unwrap();
    Ok(match rpc {
        "Ledger/Submit" => {
            let key = signer(keys, who, SENDER);
            let request =
                client::prepare_submission(&key, &header(), vec![indicator(100)], now_ms())
                    .unwrap();
            Got::Receipt(ledger.submit(request).await?.into_inner())
        }
        "Ledger/SubmitStream" => {
            let key = signer(keys, who, SENDER);
            let request =
                client::prepare_submission(&key, &header(), vec![indicator(101)], now_ms())
                    .unwrap();
            let mut answers = ledger
                .submit_stream(tokio_stream::iter(vec![request]))
                .await?
                .into_inner();
            match answers.message().await?.and_then(|a| a.result) {
                Some(pb::submit_stream_response::Result::Receipt(receipt)) => Got::Receipt(receipt),
                other => panic!("the stream answered no receipt: {other:?}"),
            }
        }
        "Ledger/Acknowledge" => {
            let key = signer(keys, who, RECIPIENT);
            let leaf = server
                .node
                .store()
                .leaf_hash(LeafIndex(5))
                .unwrap()
                .unwrap();
            let request = client::sign_receipt(&key, LeafIndex(5), &leaf);
            Got::Receipt(ledger.acknowledge(request).await?.into_inner())
        }
        "Ledger/PublishPolicy" => {
            let key = signer(keys, who, SENDER);
            let policy = std::fs::read(identity::policy_path(keys, SENDER)).unwrap();
            let mut policy = String::from_utf8(policy).unwrap();
            policy.push_str("\n# republished by the authorization matrix\n");
            let signature = signature::sign(&key, Purpose::Policy, policy.as_bytes()).to_vec();
            let request = pb::PublishPolicyRequest {
                policy: policy.into_bytes(),
                signature,
            };
            Got::Receipt(ledger.publish_policy(request).await?.into_inner())
        }
        "Ledger/Redact" => {
            let key = signer(keys, who, SENDER);
            let commitment = item_commitment_of(&entry2);
            let request =
                client::sign_redaction(&key, LeafIndex(2), &commitment, "authorization matrix");
            Got::Receipt(ledger.redact(request).await?.into_inner())
        }
        "Ledger/ChangeKey" => {
            // Last: a partner's key changes. Read-only roles present the sender's own change.
            let (name, key) = match who {
                Who::Recipient => (RECIPIENT, signer(keys, who, RECIPIENT)),
                Who::OtherPartner => (OTHER, signer(keys, who, OTHER)),
                _ => (SENDER, signer(keys, who, SENDER)),
            };
            let new = ed25519_dalek::SigningKey::from_bytes(&client::random_bytes::<32>());
            let change = client::sign_key_change(&key, name, Some(&new.verifying_key()));
            let request = pb::ChangeKeyRequest {
                key_change: Some(change),
            };
            Got::Receipt(ledger.change_key(request).await?.into_inner())
        }
        "Witness/AddCosignature" => {
            let (name, key) = match who {
                Who::Sender => (SENDER, signer(keys, who, SENDER)),
                Who::Recipient => (RECIPIENT, signer(keys, who, RECIPIENT)),
                Who::OtherPartner => (OTHER, signer(keys, who, OTHER)),
                _ => (RECIPIENT, signer(keys, who, RECIPIENT)),
            };
            let note = server.node.store().checkpoint(None).unwrap().unwrap();
            let (checkpoint, opened) =
                borderlog::format::checkpoint::Checkpoint::open(&note, &server.log).unwrap();
            let now = now_ms() as u64 / 1000;
            let line =
                borderlog::format::cosignature::cosign(name, &key, now, &opened.text).unwrap();
            let request = pb::AddCosignatureRequest {
                tree_size: checkpoint.size,
                root_hash: checkpoint.root.to_vec(),
                cosignature: line.line(),
            };
            let mut witness = pb::witness_client::WitnessClient::new(channel);
            let response = witness.add_cosignature(request).await?.into_inner();
            Got::Checkpoint(response.checkpoint)
        }
        "Ledger/ListExpired" => {
            let response = ledger
                .list_expired(pb::ListExpiredRequest { as_of_ms: 0 })
                .await?
                .into_inner();
            assert!(
                response.items.is_empty(),
                "nothing expires under the default policy"
            );
            Got::Answer
        }
        "Ledger/GetEntry" => {
            let response = ledger
                .get_entry(pb::GetEntryRequest { index: 2 })
                .await?
                .into_inner();
            assert_eq!(response.entry, entry2);
            Got::Items(response.items)
        }
        "Ledger/ListEntries" => {
            let mut stream = ledger
                .list_entries(pb::ListEntriesRequest::default())
                .await?
                .into_inner();
            let mut entries = Vec::new();
            while let Some(response) = stream.next().await {
                let response = response?;
                entries.push((response.index, has_payloads(&response)));
            }
            Got::Listed {
                entries,
                withheld: Vec::new(),
            }
        }
        "Ledger/GetCheckpoint" => {
            let response = ledger
                .get_checkpoint(pb::GetCheckpointRequest { tree_size: 0 })
                .await?
                .into_inner();
            let (checkpoint, _) =
                borderlog::format::checkpoint::Checkpoint::open(&response.checkpoint, &server.log)
                    .unwrap();
            assert_eq!(checkpoint.size, 6);
            Got::Answer
        }
        "Ledger/GetInclusionProof" => {
            let proof = ledger
                .get_inclusion_proof(pb::GetInclusionProofRequest {
                    leaf: Some(pb::get_inclusion_proof_request::Leaf::Index(2)),
                    tree_size: 6,
                })
                .await?
                .into_inner();
            assert!(!proof.hashes.is_empty());
            Got::Answer
        }
        "Ledger/GetConsistencyProof" => {
            let proof = ledger
                .get_consistency_proof(pb::GetConsistencyProofRequest {
                    old_size: 3,
                    new_size: 6,
                })
                .await?
                .into_inner();
            assert!(!proof.hashes.is_empty());
            Got::Answer
        }
        "Ledger/FindDisclosure" => {
            use prost::Message;
            let e = borderlog::format::entry::decode(&entry2).unwrap();
            let Some(pb::entry::Kind::Disclosure(d)) = e.kind else {
                panic!("entry 2 is a disclosure")
            };
            let nonce = pb::DisclosureBody::decode(d.body.as_slice()).unwrap().nonce;
            let found = ledger
                .find_disclosure(pb::FindDisclosureRequest {
                    nonce,
                    ..Default::default()
                })
                .await?
                .into_inner();
            assert_eq!(found.receipt.unwrap().index, 2);
            Got::Answer
        }
        "Audit/Export" => {
            let mut audit = AuditClient::new(channel).max_decoding_message_size(64 << 20);
            let mut stream = audit
                .export(pb::ExportRequest::default())
                .await?
                .into_inner();
            let (mut entries, mut withheld) = (Vec::new(), Vec::new());
            while let Some(record) = stream.next().await {
                match record?.record {
                    Some(Record::Entry(e)) => entries.push((e.index, has_payloads(&e))),
                    Some(Record::WithheldEntry(w)) => withheld.push(w.index),
                    _ => {}
                }
            }
            Got::Listed { entries, withheld }
        }
        "Reports/GetReport" => {
            let mut reports =
                pb::reports_client::ReportsClient::new(channel).max_decoding_message_size(64 << 20);
            let response = reports
                .get_report(pb::ReportRequest {
                    from_ms: 0,
                    to_ms: now_ms() + 1,
                    ..Default::default()
                })
                .await?
                .into_inner();
            let report = borderlog::report::Report::from_json(&response.report_json).unwrap();
            borderlog::report::verify::verify(&report, &server.log).unwrap();
            assert_eq!(report.contents.summary.disclosures, 3);
            Got::Answer
        }
        other => panic!("no call for row {other}"),
    })
}

/// The commitment of the single item of a stored disclosure entry.
fn item_commitment_of(entry: &[u8]) -> borderlog::format::Hash {
    use prost::Message;
    let e = borderlog::format::entry::decode(entry).unwrap();
    let Some(pb::entry::Kind::Disclosure(d)) = e.kind else {
        panic!("entry 2 is a disclosure")
    };
    let body = pb::DisclosureBody::decode(d.body.as_slice()).unwrap();
    hash_from_slice(&body.items[0].commitment).unwrap()
}

/// Does this entry come with its items' payloads? (False for non-disclosures.)
fn has_payloads(response: &pb::EntryResponse) -> bool {
    !response.items.is_empty() && response.items.iter().all(|i| i.payload.is_some())
}

/// Asserts that `got` is what `cell` says, for `rpc` called by `who`.
fn check(server: &TestServer, rpc: &str, who: Who, cell: &Cell, got: Result<Got, tonic::Status>) {
    let at = format!("{rpc} by {who:?}");
    match (cell, got) {
        (Appended, Ok(Got::Receipt(receipt))) => {
            client::verify_receipt(&receipt, &server.log).unwrap();
        }
        (Answered, Ok(Got::Answer)) => {}
        (Cosigned, Ok(Got::Checkpoint(note))) => {
            let name = match who {
                Who::Sender => SENDER,
                Who::Recipient => RECIPIENT,
                _ => OTHER,
            };
            assert!(
                note.lines().any(|l| l.starts_with(&format!("— {name} "))),
                "{at}: the checkpoint carries the caller's cosignature: {note}"
            );
        }
        (Payload | Withheld, Ok(Got::Items(items))) => {
            assert_eq!(items.len(), 1, "{at}");
            let item = &items[0];
            assert_eq!(
                item.commitment.len(),
                32,
                "{at}: the commitment is always shown"
            );
            match cell {
                Payload => assert!(item.payload.is_some(), "{at}: payload visible"),
                _ => {
                    assert!(item.payload.is_none(), "{at}: payload withheld");
                    assert!(
                        item.withheld.contains("visible only"),
                        "{at}: {}",
                        item.withheld
                    );
                }
            }
        }
        (
            Entries { entries, payloads },
            Ok(Got::Listed {
                entries: got,
                withheld,
            }),
        ) => {
            let indexes: Vec<u64> = got.iter().map(|(i, _)| *i).collect();
            assert_eq!(&indexes, entries, "{at}: entries seen in full");
            let with: Vec<u64> = got.iter().filter(|(_, p)| *p).map(|(i, _)| *i).collect();
            assert_eq!(&with, payloads, "{at}: payloads seen");
            if rpc == "Audit/Export" {
                let hidden: Vec<u64> = ALL
                    .iter()
                    .copied()
                    .filter(|i| !entries.contains(i))
                    .collect();
                assert_eq!(withheld, hidden, "{at}: the rest as leaf hashes only");
            }
        }
        (Refused(code), Err(status)) => {
            assert_eq!(status.code(), *code, "{at}: {}", status.message());
            assert!(!status.message().is_empty(), "{at}: the refusal says why");
        }
        (Tls(reason), Err(status)) => {
            // TLS 1.3 finishes the client's side of the handshake before the server checks the
            // certificate, so the client sees either the server's alert or just a closed
            // connection; tests/identity.rs pins the alert itself. Either way it is the
            // transport that failed, not a service answer.
            let detail = format!("{status:?}");
            let transport = std::error::Error::source(&status)
                .is_some_and(|e| e.downcast_ref::<tonic::transport::Error>().is_some());
            assert!(
                detail.contains(reason) || transport,
                "{at}: refused by TLS ({reason}): {detail}"
            );
        }
        (cell, Ok(_)) => panic!("{at}: expected {cell:?}, the call succeeded"),
        (cell, Err(status)) => panic!("{at}: expected {cell:?}, got {status:?}"),
    }
}

both_backends!(every_call_by_every_caller);
async fn every_call_by_every_caller(backend: Backend) {
    for (column, (who, _)) in CALLERS.iter().enumerate() {
        let tmp = tempfile::tempdir().unwrap();
        let server = fixture(tmp.path(), *who == Who::AuditorWithPayloads, backend).await;
        for rpc in ORDER {
            let cell = &MATRIX.iter().find(|(r, _)| *r == rpc).unwrap().1[column];
            let before = server.node.store().size();
            let got = match channel(&server, tmp.path(), *who).await {
                Ok(channel) => call(&server, channel, *who, rpc).await,
                Err(status) => Err(status),
            };
            check(&server, rpc, *who, cell, got);
            let after = server.node.store().size();
            match cell {
                Appended => {
                    assert_eq!(after.0, before.0 + 1, "{rpc} by {who:?} appended one entry")
                }
                _ => assert_eq!(after, before, "{rpc} by {who:?} appended nothing"),
            }
        }
        server.stop().await;
    }
}
