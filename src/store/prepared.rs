//! What [`Store::append`](super::Store::append) takes: entries and payloads with everything the
//! store derives from them computed once, by whoever made them.
//!
//! The sequencer builds each entry as a value, so it encodes it, hashes it and derives its index
//! keys from that value; Submit hashed every payload when it compared it with the signed body.
//! Before, the store decoded every entry again, derived its keys again, hashed it again and
//! hashed every payload again. Here each is done once, and the types make sure it was done:
//! a [`PreparedEntry`] is made only from its own bytes or value, a [`CheckedPayload`] only by
//! hashing its salt and content.

use bytes::Bytes;
use prost::Message;

use super::{Payload, StoreError};
use crate::format::FormatError;
use crate::format::entry::{self, IndexKeys, index_keys};
use crate::format::hash::{Hash, SALT_LEN, hash_from_slice, item_commitment, leaf_hash};
use crate::pb;

/// An encoded entry with its leaf hash, the leaf hash it chains to, and its index keys.
#[derive(Debug, Clone)]
pub struct PreparedEntry {
    bytes: Vec<u8>,
    leaf: Hash,
    prev: Option<Hash>,
    keys: IndexKeys,
}

impl PreparedEntry {
    /// Encodes `entry`, hashes the bytes and derives the index keys from the value (the keys
    /// are a function of the value, so they equal what a rebuild derives from the bytes).
    pub fn new(entry: &pb::Entry) -> Result<PreparedEntry, FormatError> {
        let keys = index_keys(entry)?;
        let bytes = entry.encode_to_vec();
        Ok(PreparedEntry {
            leaf: leaf_hash(&bytes),
            prev: chain_link(entry),
            bytes,
            keys,
        })
    }

    /// Decodes stored or received entry bytes and derives the rest from them.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<PreparedEntry, FormatError> {
        let entry = entry::decode(&bytes)?;
        Ok(PreparedEntry {
            leaf: leaf_hash(&bytes),
            prev: chain_link(&entry),
            keys: index_keys(&entry)?,
            bytes,
        })
    }

    /// The encoded entry.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The encoded entry, given up.
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }

    /// `leaf_hash(bytes)`.
    pub fn leaf_hash(&self) -> Hash {
        self.leaf
    }

    /// The previous entry's leaf hash, as this entry records it (None: not 32 bytes).
    pub fn prev_leaf_hash(&self) -> Option<Hash> {
        self.prev
    }

    /// The index keys (index, time, kind, parties, claims, STIX ids, commitments).
    pub fn keys(&self) -> &IndexKeys {
        &self.keys
    }
}

/// The entry's prev_leaf_hash, None when it is not 32 bytes (such an entry chains to nothing,
/// and the store says so).
fn chain_link(entry: &pb::Entry) -> Option<Hash> {
    hash_from_slice(&entry.prev_leaf_hash).ok()
}

/// A payload whose commitment is the hash of its salt and content: made only by hashing them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedPayload(Payload);

impl CheckedPayload {
    /// Hashes `salt` and `content` into their commitment.
    pub fn new(salt: [u8; SALT_LEN], content: Bytes) -> CheckedPayload {
        CheckedPayload(Payload {
            commitment: item_commitment(&salt, &content),
            salt,
            content,
        })
    }

    /// Checks a payload made elsewhere ([`StoreError::PayloadMismatch`] when it does not hash
    /// to its commitment).
    pub fn check(payload: Payload) -> Result<CheckedPayload, StoreError> {
        if item_commitment(&payload.salt, &payload.content) != payload.commitment {
            return Err(StoreError::PayloadMismatch {
                commitment: hex::encode(payload.commitment),
            });
        }
        Ok(CheckedPayload(payload))
    }

    /// The commitment, salt and content.
    pub fn payload(&self) -> &Payload {
        &self.0
    }
}

/// One batch for [`Store::append`](super::Store::append): entries in log order, and the
/// payloads of its disclosures.
#[derive(Debug, Clone, Default)]
pub struct PreparedBatch {
    /// The entries, which must continue the log.
    pub entries: Vec<PreparedEntry>,
    /// The payloads stored beside them.
    pub payloads: Vec<CheckedPayload>,
    /// The log size at which whoever made the batch looked every claim of it up in this same
    /// store and found none held (the sequencer does, to refuse one entry rather than the
    /// batch). While the store is still that size nothing was appended since, so the store
    /// does not look them up a second time; it still refuses a claim made twice in the batch.
    /// None: the store looks every claim up.
    pub claims_free_at: Option<crate::format::TreeSize>,
}

impl PreparedBatch {
    /// A batch of entry bytes and payloads from elsewhere (tools, tests): every entry decoded
    /// and every payload hashed here. `first` is the log position of the first entry, for
    /// errors.
    pub fn from_bytes(
        first: u64,
        entries: &[Vec<u8>],
        payloads: &[Payload],
    ) -> Result<PreparedBatch, StoreError> {
        let entries = entries
            .iter()
            .enumerate()
            .map(|(i, bytes)| {
                PreparedEntry::from_bytes(bytes.clone()).map_err(|source| {
                    StoreError::MalformedEntry {
                        position: first + i as u64,
                        source,
                    }
                })
            })
            .collect::<Result<_, _>>()?;
        let payloads = payloads
            .iter()
            .cloned()
            .map(CheckedPayload::check)
            .collect::<Result<_, _>>()?;
        Ok(PreparedBatch {
            entries,
            payloads,
            claims_free_at: None,
        })
    }
}
