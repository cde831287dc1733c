//! Reading `borderlog.v1.Entry` records: decoding stored bytes and deriving what the store's
//! indexes need from them.
//!
//! Everything here is a function of the entry bytes alone, so that rebuilding the indexes from
//! the segment files gives the same keys as indexing at append time (docs/DESIGN.md, "Storage").

use prost::Message;

use super::FormatError;
use super::hash::{Hash, hash_from_slice};
use crate::pb;

/// Decodes stored entry bytes; an entry with no kind is malformed.
///
/// The bytes are never re-encoded from the result (docs/DESIGN.md, "The log"): callers hash the
/// bytes they decoded, not this value.
pub fn decode(bytes: &[u8]) -> Result<pb::Entry, FormatError> {
    let entry = pb::Entry::decode(bytes).map_err(|e| FormatError::MalformedEntry(e.to_string()))?;
    if entry.kind.is_none() {
        return Err(FormatError::MalformedEntry(format!(
            "entry {} has no kind",
            entry.index
        )));
    }
    Ok(entry)
}

/// The kind of an entry as the API's filter enum, so callers can filter without matching on
/// the oneof; `Unspecified` when the entry has no kind.
pub fn kind(entry: &pb::Entry) -> pb::EntryKind {
    entry
        .kind
        .as_ref()
        .map_or(pb::EntryKind::Unspecified, kind_of)
}

/// The filter enum of an entry's kind.
pub fn kind_of(kind: &pb::entry::Kind) -> pb::EntryKind {
    use pb::entry::Kind;
    match kind {
        Kind::Genesis(_) => pb::EntryKind::Genesis,
        Kind::Disclosure(_) => pb::EntryKind::Disclosure,
        Kind::Receipt(_) => pb::EntryKind::Receipt,
        Kind::Refusal(_) => pb::EntryKind::Refusal,
        Kind::PolicyChange(_) => pb::EntryKind::PolicyChange,
        Kind::Redaction(_) => pb::EntryKind::Redaction,
        Kind::KeyChange(_) => pb::EntryKind::KeyChange,
    }
}

/// Bytes in a disclosure body's nonce: 16 to 64 (the proto says so; the service refuses others
/// and a verifier fails a log that holds others).
pub const NONCE_LEN: std::ops::RangeInclusive<usize> = 16..=64;

/// Decodes the signed `DisclosureBody` inside a disclosure entry, since the entry carries it as
/// the exact bytes the sender signed.
pub fn disclosure_body(disclosure: &pb::Disclosure) -> Result<pb::DisclosureBody, FormatError> {
    pb::DisclosureBody::decode(disclosure.body.as_slice())
        .map_err(|e| FormatError::MalformedEntry(format!("disclosure body does not decode: {e}")))
}

/// What the indexes need from one entry, derived only from its bytes (so a rebuild gives the
/// same indexes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexKeys {
    /// The entry's position in the log.
    pub index: u64,
    /// Its kind, for filtering by kind.
    pub kind: pb::EntryKind,
    /// The server's time, for queries by time.
    pub time_ms: i64,
    /// Parties the entry involves (sender, recipient, signer, as applicable), deduplicated, in
    /// order of first appearance, empty names left out.
    pub parties: Vec<String>,
    /// What this entry claims once and for all (a disclosure's nonce, a receipt's disclosure).
    pub claims: Vec<Claim>,
    /// STIX ids of the items a disclosure commits to, deduplicated.
    pub stix_ids: Vec<String>,
    /// Item commitments the entry names: every item of a disclosure, the erased item of a
    /// redaction; deduplicated. Finds the entries that concern one payload.
    pub commitments: Vec<Hash>,
}

/// Something that may be in the log only once: (sender, nonce) of a disclosure; the receipt
/// for a disclosure index; the erasure of an item.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Claim {
    /// A sender's nonce: a disclosure is accepted once (replay protection).
    Nonce {
        /// The disclosing party.
        sender: String,
        /// The nonce from its signed body.
        nonce: Vec<u8>,
    },
    /// The receipt for the disclosure at this index: it is acknowledged once.
    ReceiptFor(u64),
    /// The redaction of the item with this commitment: a payload is erased once, so the first
    /// Redaction entry is the one that says why.
    RedactionOf(Hash),
}

impl Claim {
    /// An unambiguous byte key for the claim, the key of the store's claims index:
    /// `b"n" || u32 BE sender length || sender || nonce`, `b"r" || u64 BE index`, or
    /// `b"x" || commitment`.
    pub fn key(&self) -> Vec<u8> {
        match self {
            Claim::Nonce { sender, nonce } => {
                let mut k = Vec::with_capacity(5 + sender.len() + nonce.len());
                k.push(b'n');
                // Sender names are short; a u32 length is plenty and keeps the key unambiguous.
                k.extend_from_slice(&(sender.len() as u32).to_be_bytes());
                k.extend_from_slice(sender.as_bytes());
                k.extend_from_slice(nonce);
                k
            }
            Claim::ReceiptFor(index) => {
                let mut k = Vec::with_capacity(9);
                k.push(b'r');
                k.extend_from_slice(&index.to_be_bytes());
                k
            }
            Claim::RedactionOf(commitment) => {
                let mut k = Vec::with_capacity(33);
                k.push(b'x');
                k.extend_from_slice(commitment);
                k
            }
        }
    }
}

impl std::fmt::Display for Claim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Claim::Nonce { sender, nonce } => {
                write!(f, "nonce {} of sender {sender:?}", hex::encode(nonce))
            }
            Claim::ReceiptFor(index) => write!(f, "receipt for entry {index}"),
            Claim::RedactionOf(c) => write!(f, "redaction of item {}", hex::encode(c)),
        }
    }
}

/// Derives the index keys of an entry; decodes the `DisclosureBody` inside disclosure entries
/// for sender, recipient, nonce and items.
pub fn index_keys(entry: &pb::Entry) -> Result<IndexKeys, FormatError> {
    use pb::entry::Kind;
    let mut parties: Vec<String> = Vec::new();
    let mut claims = Vec::new();
    let mut stix_ids: Vec<String> = Vec::new();
    let mut commitments: Vec<Hash> = Vec::new();

    fn push_unique<T: PartialEq>(list: &mut Vec<T>, value: T) {
        if !list.contains(&value) {
            list.push(value);
        }
    }
    let mut party = |name: &str| {
        if !name.is_empty() {
            push_unique(&mut parties, name.to_owned());
        }
    };
    let commitment = |bytes: &[u8]| {
        hash_from_slice(bytes).map_err(|_| {
            FormatError::MalformedEntry(format!(
                "entry {}: item commitment is {} bytes, expected 32",
                entry.index,
                bytes.len()
            ))
        })
    };

    match &entry.kind {
        None => {
            return Err(FormatError::MalformedEntry(format!(
                "entry {} has no kind",
                entry.index
            )));
        }
        // The genesis entry pins every party but is an action of none of them.
        Some(Kind::Genesis(_)) => {}
        Some(Kind::Disclosure(d)) => {
            let body = disclosure_body(d)?;
            party(&body.sender);
            party(&body.recipient);
            claims.push(Claim::Nonce {
                sender: body.sender.clone(),
                nonce: body.nonce.clone(),
            });
            for item in &body.items {
                if !item.stix_id.is_empty() {
                    push_unique(&mut stix_ids, item.stix_id.clone());
                }
                push_unique(&mut commitments, commitment(&item.commitment)?);
            }
        }
        Some(Kind::Receipt(r)) => {
            party(&r.recipient);
            claims.push(Claim::ReceiptFor(r.disclosure_index));
        }
        Some(Kind::Refusal(r)) => {
            party(&r.sender);
            party(&r.recipient);
            if !r.nonce.is_empty() {
                claims.push(Claim::Nonce {
                    sender: r.sender.clone(),
                    nonce: r.nonce.clone(),
                });
            }
        }
        Some(Kind::PolicyChange(p)) => party(&p.owner),
        Some(Kind::Redaction(r)) => {
            party(&r.owner);
            let c = commitment(&r.commitment)?;
            claims.push(Claim::RedactionOf(c));
            push_unique(&mut commitments, c);
        }
        Some(Kind::KeyChange(k)) => party(&k.party),
    }

    Ok(IndexKeys {
        index: entry.index,
        kind: kind(entry),
        time_ms: entry.time_ms,
        parties,
        claims,
        stix_ids,
        commitments,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use pb::entry::Kind;

    fn disclosure_entry(index: u64, sender: &str, recipient: &str, nonce: &[u8]) -> pb::Entry {
        let body = pb::DisclosureBody {
            sender: sender.into(),
            recipient: recipient.into(),
            nonce: nonce.to_vec(),
            items: vec![
                pb::ItemCommitment {
                    commitment: vec![1; 32],
                    stix_id: "indicator--1".into(),
                    stix_type: "indicator".into(),
                    tlp: "green".into(),
                },
                pb::ItemCommitment {
                    commitment: vec![2; 32],
                    stix_id: "indicator--1".into(),
                    stix_type: "indicator".into(),
                    tlp: "green".into(),
                },
            ],
            ..Default::default()
        };
        pb::Entry {
            index,
            time_ms: 1000,
            prev_leaf_hash: vec![0; 32],
            kind: Some(Kind::Disclosure(pb::Disclosure {
                body: body.encode_to_vec(),
                signature: vec![9; 64],
                policy_hash: vec![7; 32],
            })),
        }
    }

    #[test]
    fn decode_round_trips_and_rejects_kindless() {
        let e = disclosure_entry(3, "vendor", "police", b"nonce-0123456789");
        let bytes = e.encode_to_vec();
        assert_eq!(decode(&bytes).unwrap(), e);

        let kindless = pb::Entry {
            index: 1,
            ..Default::default()
        }
        .encode_to_vec();
        assert!(matches!(
            decode(&kindless),
            Err(FormatError::MalformedEntry(m)) if m.contains("no kind")
        ));
        assert!(matches!(
            decode(&[0xff, 0xff, 0xff]),
            Err(FormatError::MalformedEntry(_))
        ));
    }

    #[test]
    fn kind_maps_every_oneof_case() {
        let mut e = pb::Entry::default();
        assert_eq!(kind(&e), pb::EntryKind::Unspecified);
        e.kind = Some(Kind::Genesis(Default::default()));
        assert_eq!(kind(&e), pb::EntryKind::Genesis);
        e.kind = Some(Kind::Receipt(Default::default()));
        assert_eq!(kind(&e), pb::EntryKind::Receipt);
        e.kind = Some(Kind::Refusal(Default::default()));
        assert_eq!(kind(&e), pb::EntryKind::Refusal);
        e.kind = Some(Kind::PolicyChange(Default::default()));
        assert_eq!(kind(&e), pb::EntryKind::PolicyChange);
        e.kind = Some(Kind::Redaction(Default::default()));
        assert_eq!(kind(&e), pb::EntryKind::Redaction);
        e.kind = Some(Kind::KeyChange(Default::default()));
        assert_eq!(kind(&e), pb::EntryKind::KeyChange);
    }

    #[test]
    fn disclosure_keys() {
        let e = disclosure_entry(5, "vendor", "police", b"n1");
        let k = index_keys(&e).unwrap();
        assert_eq!(k.index, 5);
        assert_eq!(k.kind, pb::EntryKind::Disclosure);
        assert_eq!(k.time_ms, 1000);
        assert_eq!(k.parties, vec!["vendor".to_string(), "police".to_string()]);
        assert_eq!(
            k.claims,
            vec![Claim::Nonce {
                sender: "vendor".into(),
                nonce: b"n1".to_vec()
            }]
        );
        assert_eq!(k.stix_ids, vec!["indicator--1".to_string()]);
        assert_eq!(k.commitments, vec![[1; 32], [2; 32]]);
    }

    #[test]
    fn self_disclosure_party_is_deduplicated() {
        let e = disclosure_entry(5, "vendor", "vendor", b"n1");
        assert_eq!(index_keys(&e).unwrap().parties, vec!["vendor".to_string()]);
    }

    #[test]
    fn receipt_and_redaction_keys() {
        let r = pb::Entry {
            index: 8,
            kind: Some(Kind::Receipt(pb::Receipt {
                disclosure_index: 5,
                recipient: "police".into(),
                ..Default::default()
            })),
            ..Default::default()
        };
        let k = index_keys(&r).unwrap();
        assert_eq!(k.parties, vec!["police".to_string()]);
        assert_eq!(k.claims, vec![Claim::ReceiptFor(5)]);

        let red = pb::Entry {
            index: 9,
            kind: Some(Kind::Redaction(pb::Redaction {
                disclosure_index: 5,
                commitment: vec![2; 32],
                owner: "vendor".into(),
                ..Default::default()
            })),
            ..Default::default()
        };
        let k = index_keys(&red).unwrap();
        assert_eq!(k.parties, vec!["vendor".to_string()]);
        assert_eq!(k.claims, vec![Claim::RedactionOf([2; 32])]);
        assert_eq!(k.commitments, vec![[2; 32]]);
        let mut key = vec![b'x'];
        key.extend_from_slice(&[2; 32]);
        assert_eq!(Claim::RedactionOf([2; 32]).key(), key);
    }

    #[test]
    fn genesis_involves_no_party() {
        let g = pb::Entry {
            kind: Some(Kind::Genesis(pb::Genesis {
                origin: "o".into(),
                parties: vec![pb::Party {
                    name: "vendor".into(),
                    ..Default::default()
                }],
                ..Default::default()
            })),
            ..Default::default()
        };
        let k = index_keys(&g).unwrap();
        assert!(k.parties.is_empty() && k.claims.is_empty());
    }

    #[test]
    fn malformed_inner_data_is_an_error() {
        let mut e = disclosure_entry(1, "a", "b", b"n");
        if let Some(Kind::Disclosure(d)) = &mut e.kind {
            d.body = vec![0xff, 0xff];
        }
        assert!(matches!(
            index_keys(&e),
            Err(FormatError::MalformedEntry(_))
        ));

        let red = pb::Entry {
            kind: Some(Kind::Redaction(pb::Redaction {
                commitment: vec![2; 31],
                ..Default::default()
            })),
            ..Default::default()
        };
        assert!(matches!(
            index_keys(&red),
            Err(FormatError::MalformedEntry(m)) if m.contains("31 bytes")
        ));
        assert!(index_keys(&pb::Entry::default()).is_err());
    }

    #[test]
    fn claim_keys_are_unambiguous() {
        // Same concatenation of sender and nonce, different split: different keys.
        let a = Claim::Nonce {
            sender: "ab".into(),
            nonce: b"c".to_vec(),
        };
        let b = Claim::Nonce {
            sender: "a".into(),
            nonce: b"bc".to_vec(),
        };
        assert_ne!(a.key(), b.key());
        assert_eq!(Claim::ReceiptFor(1).key(), [b'r', 0, 0, 0, 0, 0, 0, 0, 1]);
        assert_ne!(Claim::ReceiptFor(1).key(), Claim::ReceiptFor(256).key());
        assert_eq!(a.key()[0], b'n');
    }
}
