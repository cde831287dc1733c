//! A synthetic but fully signed ledger as export records, built in memory: for the verifier's
//! unit tests, fuzzing and the speed benchmark (`examples/verify_bench.rs`), where running a
//! server for a million entries would measure the server, not the verifier.

use ed25519_dalek::SigningKey;
use prost::Message;

use super::export::FORMAT;
use crate::format::checkpoint::Checkpoint;
use crate::format::hash::{Hash, ZERO_HASH, item_commitment, leaf_hash, sha256};
use crate::format::note::Signer;
use crate::format::signature::{self, Purpose};
use crate::format::tree::Frontier;
use crate::guard::DEFAULT_POLICY;
use crate::pb::{self, Role, entry::Kind, export_record::Record};

/// The sender's name in synthetic ledgers (the default policy's owner).
pub const SENDER: &str = "vendor-research";
/// The recipient's name in synthetic ledgers.
pub const RECIPIENT: &str = "police-network";
/// The auditor's name in synthetic ledgers.
pub const AUDITOR: &str = "auditor";
/// The log's origin in synthetic ledgers.
pub const ORIGIN: &str = "borderlog.test/synthetic";

/// Keys of a synthetic ledger, fixed seeds so runs are reproducible.
pub struct Keys {
    /// Signs checkpoints.
    pub log: Signer,
    /// The sender's partner key.
    pub sender: SigningKey,
    /// The recipient's partner key.
    pub recipient: SigningKey,
}

impl Default for Keys {
    fn default() -> Self {
        Keys {
            log: Signer::new(ORIGIN, SigningKey::from_bytes(&[1; 32])).expect("valid origin"),
            sender: SigningKey::from_bytes(&[2; 32]),
            recipient: SigningKey::from_bytes(&[3; 32]),
        }
    }
}

/// A STIX 2.1 indicator marked TLP:GREEN that the default policy accepts, distinct per `n`.
pub fn indicator(n: u64) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "type": "indicator",
        "spec_version": "2.1",
        "id": format!("indicator--8e2e2d2b-17d4-4cbf-938f-{:012x}", n),
        "created": "2026-11-01T10:00:00.000Z",
        "modified": "2026-11-01T10:00:00.000Z",
        "name": "Emotet C2",
        "indicator_types": ["malicious-activity"],
        "pattern": format!("[domain-name:value = 'c2-{n}.badcdn.example']"),
        "pattern_type": "stix",
        "valid_from": "2026-11-01T10:00:00Z",
        "object_marking_refs": ["marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"]
    }))
    .expect("json")
}

/// Builds a ledger entry by entry, as export records, signing everything for real.
pub struct Builder {
    /// The keys everything is signed with.
    pub keys: Keys,
    /// The records so far (header first).
    pub records: Vec<pb::ExportRecord>,
    frontier: Frontier,
    prev: Hash,
    /// The time of the last entry; the next is a millisecond later (tests set extreme ones).
    pub time_ms: i64,
    policy_hash: Vec<u8>,
    /// Whether payloads go into the export (an export for a partner) or not (an auditor's).
    pub with_payloads: bool,
    /// The case reference of the disclosures built from now on.
    pub case_reference: String,
}

fn record(r: Record) -> pb::ExportRecord {
    pb::ExportRecord { record: Some(r) }
}

impl Builder {
    /// A ledger with its genesis entry and the sender's default policy, exported for the
    /// sender (`with_payloads`) or for the auditor.
    pub fn new(with_payloads: bool) -> Builder {
        let keys = Keys::default();
        let party = |name: &str, role: Role, key: Option<&SigningKey>| pb::Party {
            name: name.into(),
            role: role as i32,
            public_key: key
                .map(|k| k.verifying_key().to_bytes().to_vec())
                .unwrap_or_default(),
            organisation_kind: String::new(),
        };
        let genesis = pb::Genesis {
            origin: ORIGIN.into(),
            log_public_key: keys.log.verifier().key.to_bytes().to_vec(),
            parties: vec![
                party(SENDER, Role::Sender, Some(&keys.sender)),
                party(RECIPIENT, Role::Recipient, Some(&keys.recipient)),
                party(AUDITOR, Role::Auditor, None),
            ],
        };
        let mut b = Builder {
            keys,
            records: vec![record(Record::Header(pb::ExportHeader {
                format: FORMAT.into(),
                origin: ORIGIN.into(),
                tree_size: 0,
                exported_for: if with_payloads { SENDER } else { AUDITOR }.into(),
                exported_at_ms: 0,
            }))],
            frontier: Frontier::new(),
            prev: ZERO_HASH,
            time_ms: 1_780_000_000_000,
            policy_hash: Vec::new(),
            with_payloads,
            case_reference: String::new(),
        };
        b.push(Kind::Genesis(genesis), Vec::new());
        b.policy(DEFAULT_POLICY.as_bytes());
        b
    }

    /// Appends an entry of `kind` with the stored items beside it; returns its index and leaf.
    pub fn push(&mut self, kind: Kind, items: Vec<pb::StoredItem>) -> (u64, Hash) {
        let index = self.frontier.size().0;
        self.time_ms = self.time_ms.saturating_add(1);
        let bytes = pb::Entry {
            index,
            time_ms: self.time_ms,
            prev_leaf_hash: self.prev.to_vec(),
            kind: Some(kind),
        }
        .encode_to_vec();
        let leaf = leaf_hash(&bytes);
        self.frontier.push(leaf);
        self.prev = leaf;
        self.records.push(record(Record::Entry(pb::EntryResponse {
            index,
            leaf_hash: leaf.to_vec(),
            entry: bytes,
            items,
        })));
        (index, leaf)
    }

    /// Publishes a policy signed by the sender.
    pub fn policy(&mut self, policy: &[u8]) -> u64 {
        self.policy_hash = sha256(policy).to_vec();
        let signature = signature::sign(&self.keys.sender, Purpose::Policy, policy).to_vec();
        self.push(
            Kind::PolicyChange(pb::PolicyChange {
                owner: SENDER.into(),
                policy: policy.to_vec(),
                signature,
            }),
            Vec::new(),
        )
        .0
    }

    /// A signed disclosure of `items`, each with a salt derived from `n`.
    pub fn disclosure(&mut self, n: u64, items: &[Vec<u8>]) -> (u64, Hash) {
        let mut commitments = Vec::new();
        let mut stored = Vec::new();
        for (i, content) in items.iter().enumerate() {
            let salt: [u8; 32] = sha256(&[n.to_be_bytes(), (i as u64).to_be_bytes()].concat());
            let c = item_commitment(&salt, content);
            let json: serde_json::Value = serde_json::from_slice(content).unwrap_or_default();
            let text = |f: &str| {
                json.get(f)
                    .and_then(|v| v.as_str())
                    .unwrap_or("")
                    .to_owned()
            };
            commitments.push(pb::ItemCommitment {
                commitment: c.to_vec(),
                stix_id: text("id"),
                stix_type: text("type"),
                tlp: crate::client::tlp_of(&json).unwrap_or("").into(),
            });
            stored.push(pb::StoredItem {
                commitment: c.to_vec(),
                payload: self.with_payloads.then(|| pb::ItemPayload {
                    salt: salt.to_vec(),
                    content: content.clone(),
                }),
                withheld: if self.with_payloads {
                    String::new()
                } else {
                    "payloads are visible only to the disclosure's sender and recipient".into()
                },
                erased_by: 0,
            });
        }
        let body = pb::DisclosureBody {
            sender: SENDER.into(),
            recipient: RECIPIENT.into(),
            purpose: "cybercrime investigation support".into(),
            legal_basis: "data sharing agreement 2026-04".into(),
            case_reference: self.case_reference.clone(),
            client_time_ms: self.time_ms,
            nonce: sha256(&n.to_be_bytes())[..16].to_vec(),
            items: commitments,
        }
        .encode_to_vec();
        let signature = signature::sign(&self.keys.sender, Purpose::Disclosure, &body).to_vec();
        self.push(
            Kind::Disclosure(pb::Disclosure {
                body,
                signature,
                policy_hash: self.policy_hash.clone(),
            }),
            stored,
        )
    }

    /// The recipient's signed receipt for the disclosure at `index` with `leaf`.
    pub fn receipt(&mut self, index: u64, leaf: &Hash) -> u64 {
        let signature = signature::sign(
            &self.keys.recipient,
            Purpose::Receipt,
            &signature::index_and_hash(index, leaf),
        )
        .to_vec();
        self.push(
            Kind::Receipt(pb::Receipt {
                disclosure_index: index,
                disclosure_leaf_hash: leaf.to_vec(),
                recipient: RECIPIENT.into(),
                signature,
            }),
            Vec::new(),
        )
        .0
    }

    /// The sender's signed redaction of the item with `commitment` in the disclosure at
    /// `index` (its payload erased; the entry stays).
    pub fn redaction(&mut self, index: u64, commitment: &Hash) -> u64 {
        let signed = crate::client::sign_redaction(
            &self.keys.sender,
            crate::format::LeafIndex(index),
            commitment,
            "the data subject asked for erasure",
        );
        self.push(
            Kind::Redaction(pb::Redaction {
                owner: SENDER.into(),
                disclosure_index: signed.disclosure_index,
                commitment: signed.commitment,
                reason: signed.reason,
                signature: signed.signature,
            }),
            Vec::new(),
        )
        .0
    }

    /// A refusal of a submission by the sender under the policy in force; `n` makes its
    /// nonce (refusals spend nonces like disclosures).
    pub fn refusal(&mut self, n: u64, rule: &str) -> u64 {
        self.push(
            Kind::Refusal(pb::Refusal {
                nonce: sha256(&n.to_be_bytes())[..16].to_vec(),
                sender: SENDER.into(),
                recipient: RECIPIENT.into(),
                body_hash: vec![7; 32],
                policy_hash: self.policy_hash.clone(),
                findings: vec![pb::Finding {
                    item: 0,
                    path: "$.pattern".into(),
                    rule: rule.into(),
                    body: false,
                }],
            }),
            Vec::new(),
        )
        .0
    }

    /// The log's signed checkpoint of everything so far.
    pub fn checkpoint(&mut self) -> String {
        self.checkpoint_claiming(self.frontier.size().0)
    }

    /// A checkpoint the log key signs over the root so far, claiming tree size `size`.
    pub fn checkpoint_claiming(&mut self, size: u64) -> String {
        let note = Checkpoint {
            origin: ORIGIN.into(),
            size,
            root: self.frontier.root(),
            extensions: Vec::new(),
        }
        .sign(&self.keys.log)
        .expect("sign checkpoint");
        self.records.push(record(Record::Checkpoint(note.clone())));
        note
    }

    /// Ends the export at the last checkpoint: sets the header's size.
    pub fn finish(mut self) -> Vec<pb::ExportRecord> {
        let size = self.frontier.size().0;
        if let Some(Record::Header(h)) = &mut self.records[0].record {
            h.tree_size = size;
        }
        self.records
    }
}

/// A ledger of about `entries` entries: disclosures of one indicator, each acknowledged, a
/// checkpoint every `batch` entries, ending with one.
pub fn ledger(entries: u64, batch: u64, with_payloads: bool) -> Vec<pb::ExportRecord> {
    let mut b = Builder::new(with_payloads);
    b.checkpoint();
    let mut n = 0;
    let mut since = 0;
    while b.frontier.size().0 + 2 <= entries.max(4) {
        let (i, leaf) = b.disclosure(n, &[indicator(n)]);
        b.receipt(i, &leaf);
        n += 1;
        since += 2;
        if since >= batch {
            b.checkpoint();
            since = 0;
        }
    }
    if since > 0 {
        b.checkpoint();
    }
    b.finish()
}
