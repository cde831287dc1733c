//! From an object fetched over TAXII to the ledger entry that disclosed it, trusting neither
//! the TAXII server nor the ledger's operator: only the sender's public key and the log's.
//!
//! An envelope from Get Objects (or Get an Object) carries `x_borderlog_provenance` beside its
//! `objects`, one record per object (also in every manifest record). [`check_object`] checks
//! one object against the entry bytes: the object's bytes and the salt hash to the commitment
//! the sender signed, in the body signed by the sender, in the entry at that index whose leaf
//! hash is the one given. `borderlog verify-taxii` then proves that leaf is in a checkpoint
//! signed by the log. docs/TAXII.md describes the steps for anyone to redo.

use ed25519_dalek::VerifyingKey;
use prost::Message;
use serde::Deserialize;
use serde_json::value::RawValue;
use thiserror::Error;

use crate::format::entry;
use crate::format::hash::{SALT_LEN, item_commitment, leaf_hash};
use crate::format::signature::{self, Purpose};
use crate::pb;

/// Why an envelope or object does not check out.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ProvenanceError {
    /// The file is not a TAXII envelope with `x_borderlog_provenance` for each object.
    #[error("not a borderlog TAXII envelope: {0}")]
    Envelope(String),
    /// The object does not match the ledger: it must not be trusted.
    #[error("{id}: {why}")]
    Mismatch {
        /// The object's STIX id.
        id: String,
        /// What does not match.
        why: String,
    },
}

/// Where one object is in the ledger, as the TAXII server states it (to be checked).
#[derive(Debug, Clone, Deserialize)]
pub struct Provenance {
    /// The object's STIX id.
    pub id: String,
    /// The object's version.
    pub version: String,
    /// Log index of the disclosure entry.
    pub entry: u64,
    /// Position of the item in the disclosure body.
    pub item: u32,
    /// The entry's leaf hash, hex.
    pub leaf_hash: String,
    /// The item's commitment, hex.
    pub commitment: String,
    /// The item's salt, hex.
    pub salt: String,
    /// The disclosing party.
    pub sender: String,
    /// The receiving party.
    pub recipient: String,
    /// The entry's time, RFC 3339.
    pub date_added: String,
    /// The item's TLP marking as signed.
    pub tlp: String,
}

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow, default)]
    objects: Vec<&'a RawValue>,
    #[serde(default)]
    x_borderlog_provenance: Vec<Provenance>,
}

/// The objects of an envelope, each as its exact bytes, with its provenance record.
pub fn parse_envelope(bytes: &[u8]) -> Result<Vec<(Vec<u8>, Provenance)>, ProvenanceError> {
    let envelope: Envelope<'_> =
        serde_json::from_slice(bytes).map_err(|e| ProvenanceError::Envelope(e.to_string()))?;
    if envelope.objects.len() != envelope.x_borderlog_provenance.len() {
        return Err(ProvenanceError::Envelope(format!(
            "{} objects but {} provenance records; save the envelope exactly as the server sent it",
            envelope.objects.len(),
            envelope.x_borderlog_provenance.len()
        )));
    }
    Ok(envelope
        .objects
        .iter()
        .map(|raw| raw.get().as_bytes().to_vec())
        .zip(envelope.x_borderlog_provenance)
        .collect())
}

/// What a checked object is: its entry and leaf, for the inclusion proof that follows.
#[derive(Debug, Clone)]
pub struct Checked {
    /// The provenance record, now matched against the signed entry.
    pub provenance: Provenance,
    /// The entry's leaf hash.
    pub leaf: crate::format::Hash,
}

/// Checks `object` (its exact bytes) against `entry_bytes`, the entry its provenance names,
/// with the sender's public key. Nothing in `provenance` is trusted until it has matched.
pub fn check_object(
    object: &[u8],
    provenance: &Provenance,
    entry_bytes: &[u8],
    sender_key: &VerifyingKey,
) -> Result<Checked, ProvenanceError> {
    let fail = |why: String| ProvenanceError::Mismatch {
        id: provenance.id.clone(),
        why,
    };
    let hex32 = |what: &str, text: &str| -> Result<[u8; 32], ProvenanceError> {
        hex::decode(text)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| fail(format!("{what} is not 32 bytes of hex")))
    };
    let leaf = leaf_hash(entry_bytes);
    if leaf != hex32("leaf_hash", &provenance.leaf_hash)? {
        return Err(fail(format!(
            "entry {} does not hash to the stated leaf hash",
            provenance.entry
        )));
    }
    let decoded = entry::decode(entry_bytes).map_err(|e| fail(e.to_string()))?;
    if decoded.index != provenance.entry {
        return Err(fail(format!(
            "the entry says index {}, not {}",
            decoded.index, provenance.entry
        )));
    }
    let Some(pb::entry::Kind::Disclosure(disclosure)) = &decoded.kind else {
        return Err(fail(format!("entry {} is not a disclosure", decoded.index)));
    };
    signature::verify(
        sender_key,
        Purpose::Disclosure,
        &disclosure.body,
        &disclosure.signature,
    )
    .map_err(|e| fail(format!("the sender's signature does not verify: {e}")))?;
    let body = pb::DisclosureBody::decode(disclosure.body.as_slice())
        .map_err(|e| fail(format!("the disclosure body does not decode: {e}")))?;
    let Some(signed) = body.items.get(provenance.item as usize) else {
        return Err(fail(format!(
            "the disclosure has {} items, no item {}",
            body.items.len(),
            provenance.item
        )));
    };
    let salt: [u8; SALT_LEN] = hex::decode(&provenance.salt)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| fail("salt is not hex of the right length".into()))?;
    if signed.commitment != item_commitment(&salt, object) {
        return Err(fail(
            "the object's bytes and salt do not hash to the commitment the sender signed (changed, or re-serialised: keep the bytes as served)".into(),
        ));
    }
    let checks = [
        ("sender", body.sender.as_str(), provenance.sender.as_str()),
        ("recipient", &body.recipient, &provenance.recipient),
        ("TLP", &signed.tlp, &provenance.tlp),
        ("STIX id", &signed.stix_id, &provenance.id),
    ];
    for (what, signed_value, stated) in checks {
        if signed_value != stated {
            return Err(fail(format!(
                "the signed {what} is {signed_value:?}, not {stated:?}"
            )));
        }
    }
    let time = crate::clock::format_rfc3339(decoded.time_ms);
    if time != provenance.date_added {
        return Err(fail(format!(
            "the entry's time is {time}, not {}",
            provenance.date_added
        )));
    }
    Ok(Checked {
        provenance: provenance.clone(),
        leaf,
    })
}
