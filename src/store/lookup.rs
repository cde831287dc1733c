//! Lookups by hash-like key (leaf hash, claim, commitment, STIX id → entry indexes or payload
//! locations), kept in the index's fjall database (`kv.rs`), keyspace `lookups`.
//!
//! Keys are never stored: each is reduced to a 16-byte [`Fingerprint`] (SHA-256 over a
//! domain-separated key), and a lookup returns every [`Value`] stored under the fingerprint, so
//! the caller confirms a hit against the log (two keys sharing a fingerprint is a 2^-64
//! birthday event at 2^32 keys, and a confirmed miss is then only a wasted read).
//!
//! # In fjall
//!
//! One key per record, fingerprint (16) `||` value (16), with an empty value: a key maps to
//! several values (a STIX id to every disclosure carrying it) without a read before each
//! write, a record written twice is kept once, and a lookup is a prefix scan of the
//! fingerprint, whose keys come back in order, so the values ascend.
//!
//! Beside them the key [`COVERED`] (7 bytes, so no fingerprint's prefix scan meets it) holds
//! the log size, u64 BE, below which every entry's records are in the keyspace. It is written
//! in the same fjall batch as the records of the log batch that ends there, so whatever
//! fjall recovers after a crash holds the records up to the mark it recovers, and the store
//! feeds the entries from the mark on again.

use std::sync::Arc;

use sha2::{Digest, Sha256};

use super::StoreError;
use super::kv::Kv;

/// 16 bytes of SHA-256 over a domain-separated key: what the lookups store instead of keys.
pub(crate) type Fingerprint = [u8; 16];
/// What a key maps to: an entry index (u64 BE, zero-padded to 16) or a payload location (16 bytes).
pub(crate) type Value = [u8; 16];

/// Domain separation of fingerprints from every other SHA-256 in borderlog.
const FINGERPRINT_DOMAIN: &[u8] = b"borderlog/lookup/v1\n";
/// Key of the log size the records cover.
const COVERED: &[u8] = b"covered";
const RECORD_LEN: usize = 32;

/// Which lookup a key belongs to; its tag byte keeps the lookups' fingerprints apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LookupKind {
    /// Leaf hash → entry index.
    Leaf,
    /// Claim (something that may be in the log only once) → entry index.
    Claim,
    /// Payload commitment → payload location.
    Payload,
    /// STIX id → entry indexes.
    StixId,
    /// Commitment → entry indexes.
    Commitment,
    /// A party's name, as `entries.col` stores it (not a lookup of its own: the column is
    /// scanned), so one function makes every fingerprint.
    Party,
}

impl LookupKind {
    fn tag(self) -> u8 {
        match self {
            LookupKind::Leaf => 1,
            LookupKind::Claim => 2,
            LookupKind::Payload => 3,
            LookupKind::StixId => 4,
            LookupKind::Commitment => 5,
            LookupKind::Party => 6,
        }
    }
}

/// SHA-256("borderlog/lookup/v1\n" || tag byte || key)[..16].
pub(crate) fn fingerprint(kind: LookupKind, key: &[u8]) -> Fingerprint {
    let mut h = Sha256::new();
    h.update(FINGERPRINT_DOMAIN);
    h.update([kind.tag()]);
    h.update(key);
    let digest = h.finalize();
    let mut fp = [0; 16];
    fp.copy_from_slice(&digest[..16]);
    fp
}

/// An entry index as a [`Value`]: u64 BE in the first 8 bytes, zeros after.
pub(crate) fn index_value(index: u64) -> Value {
    let mut v = [0; 16];
    v[..8].copy_from_slice(&index.to_be_bytes());
    v
}

/// The entry index of a [`Value`] made by [`index_value`].
pub(crate) fn value_index(v: &Value) -> u64 {
    let mut b = [0; 8];
    b.copy_from_slice(&v[..8]);
    u64::from_be_bytes(b)
}

fn record(fp: &Fingerprint, value: &Value) -> [u8; RECORD_LEN] {
    let mut r = [0; RECORD_LEN];
    r[..16].copy_from_slice(fp);
    r[16..].copy_from_slice(value);
    r
}

fn damaged(reason: impl std::fmt::Display) -> StoreError {
    StoreError::IndexInconsistent(format!("lookups: {reason}"))
}

/// The `lookups` keyspace: records of (fingerprint, value) and the log size they cover.
pub(crate) struct Lookups {
    kv: Arc<Kv>,
}

impl Lookups {
    pub fn new(kv: Arc<Kv>) -> Self {
        Lookups { kv }
    }

    /// Log size below which every entry's records are stored: after a crash the caller writes
    /// the records of entries `[covered, log size)` again. 0 for a new keyspace.
    pub fn covered(&self) -> Result<u64, StoreError> {
        match self.kv.lookups.get(COVERED)? {
            None => Ok(0),
            Some(v) => <[u8; 8]>::try_from(&v[..])
                .map(u64::from_be_bytes)
                .map_err(|_| damaged(format!("the covered mark is {} bytes", v.len()))),
        }
    }

    /// Stores records and moves the covered mark to `covered`, in one fjall batch (atomic,
    /// not synced: see `kv.rs`). A record already stored is kept once.
    pub fn write(
        &self,
        records: impl IntoIterator<Item = (Fingerprint, Value)>,
        covered: u64,
    ) -> Result<(), StoreError> {
        let empty: &[u8] = &[];
        let mut batch = self.kv.batch();
        for (fp, value) in records {
            batch.insert(&self.kv.lookups, &record(&fp, &value)[..], empty);
        }
        batch.insert(&self.kv.lookups, COVERED, &covered.to_be_bytes()[..]);
        Ok(batch.commit()?)
    }

    /// Every value stored under `fp`, ascending.
    pub fn get(&self, fp: &Fingerprint) -> Result<Vec<Value>, StoreError> {
        let mut out = Vec::new();
        for kv in self.kv.lookups.prefix(fp) {
            let key = kv.key()?;
            let value = key
                .get(16..)
                .and_then(|v| Value::try_from(v).ok())
                .ok_or_else(|| damaged(format!("a key of {} bytes", key.len())))?;
            out.push(value);
        }
        Ok(out)
    }

    /// Reads every record, so fjall checks every block's checksum, and checks every key's
    /// shape. Returns the number of records.
    pub fn verify(&self) -> Result<u64, StoreError> {
        let mut records = 0;
        for kv in self.kv.lookups.iter() {
            let (key, value) = kv.into_inner()?;
            match (key.len(), value.len()) {
                (RECORD_LEN, 0) => records += 1,
                (_, 8) if &key[..] == COVERED => {}
                (k, v) => return Err(damaged(format!("a {k}-byte key with a {v}-byte value"))),
            }
        }
        Ok(records)
    }
}

#[cfg(test)]
mod tests;
