//! The byte layout of the column files' records (`columns.rs` has the table): encoding,
//! decoding and the CRC-32 check every record but a node's carries, so a flipped bit or a
//! record at the wrong place reads as damage, never as a wrong answer.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::Path;

use crate::format::hash::Hash;

use super::index::Location;
use super::lookup::{Fingerprint, LookupKind, fingerprint};
use super::{StoreError, io};

/// Bytes of one `entries.col` record.
pub(super) const ENTRY_RECORD_LEN: u64 = 96;
/// Bytes of one node record.
pub(super) const NODE_RECORD_LEN: u64 = 32;
/// Bytes of one `checkpoints.col` record.
pub(super) const CHECKPOINT_RECORD_LEN: u64 = 32;
/// First bytes of `columns.synced` (its format version is the last byte).
const MARKER_MAGIC: &[u8; 8] = b"blcols\0\x03";
/// Bytes of `columns.synced`.
const MARKER_LEN: usize = 28;
/// Where an entry record's check is.
const ENTRY_CHECK: std::ops::Range<usize> = 60..64;
/// Where a checkpoint record's check is.
const CHECKPOINT_CHECK: std::ops::Range<usize> = 24..28;
/// A party's name as `entries.col` stores it: a fixed-size fingerprint whatever the name's
/// length.
pub(crate) type PartyFingerprint = Fingerprint;

/// The check of a record at position `at` (None: the marker) whose check bytes are `skip`.
fn check(at: Option<u64>, b: &[u8], skip: std::ops::Range<usize>) -> [u8; 4] {
    let mut h = crc32fast::Hasher::new();
    if let Some(at) = at {
        h.update(&at.to_be_bytes());
    }
    h.update(&b[..skip.start]);
    h.update(&b[skip.end..]);
    h.finalize().to_be_bytes()
}

/// Byte offset of record `index` of `len` bytes, or damage when it does not fit a file.
pub(super) fn offset_of(index: u64, len: u64, file: &str) -> Result<u64, StoreError> {
    index.checked_mul(len).ok_or_else(|| {
        StoreError::IndexInconsistent(format!("{file} record {index} lies past any file"))
    })
}

/// Opens (creating, never truncating) an index file for reading and writing.
pub(super) fn open_rw(path: &Path) -> Result<File, StoreError> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(io(format!("opening {}", path.display())))
}

pub(super) fn damaged(what: String) -> StoreError {
    StoreError::IndexInconsistent(what)
}

/// The fingerprint of `party`'s name.
pub(crate) fn party_fingerprint(party: &str) -> PartyFingerprint {
    fingerprint(LookupKind::Party, party.as_bytes())
}

/// One entry's record in `entries.col`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EntryRecord {
    /// Where the entry's bytes are in the segments.
    pub loc: Location,
    /// Its leaf hash (also the Merkle node of level 0).
    pub leaf: Hash,
    /// The server's time.
    pub time_ms: i64,
    /// Its `pb::EntryKind` as an i32.
    pub kind: i32,
    /// Fingerprints of the (at most two) parties it involves.
    pub parties: [Option<PartyFingerprint>; 2],
}

impl EntryRecord {
    /// The record as entry `index`'s bytes in `entries.col`.
    pub(super) fn encode(&self, index: u64) -> [u8; ENTRY_RECORD_LEN as usize] {
        let mut b = [0u8; ENTRY_RECORD_LEN as usize];
        b[..16].copy_from_slice(&self.loc.encode());
        b[16..48].copy_from_slice(&self.leaf);
        b[48..56].copy_from_slice(&self.time_ms.to_be_bytes());
        b[56..60].copy_from_slice(&self.kind.to_be_bytes());
        for (i, p) in self.parties.iter().enumerate() {
            if let Some(p) = p {
                b[64 + 16 * i..80 + 16 * i].copy_from_slice(p);
            }
        }
        let c = check(Some(index), &b, ENTRY_CHECK);
        b[ENTRY_CHECK].copy_from_slice(&c);
        b
    }

    /// Entry `index`'s record from its bytes; None when they are not one (or fail the check).
    pub(super) fn decode(b: &[u8], index: u64) -> Option<Self> {
        if b.len() != ENTRY_RECORD_LEN as usize
            || b[ENTRY_CHECK] != check(Some(index), b, ENTRY_CHECK)
        {
            return None;
        }
        let party = |i: usize| {
            let p: PartyFingerprint = b.get(64 + 16 * i..80 + 16 * i)?.try_into().ok()?;
            Some((p != [0u8; 16]).then_some(p))
        };
        Some(Self {
            loc: Location::decode(b.get(..16)?)?,
            leaf: b.get(16..48)?.try_into().ok()?,
            time_ms: i64::from_be_bytes(b.get(48..56)?.try_into().ok()?),
            kind: i32::from_be_bytes(b.get(56..60)?.try_into().ok()?),
            parties: [party(0)?, party(1)?],
        })
    }
}

/// The `i`-th `checkpoints.col` record: tree size (u64 BE), the record's location, check.
pub(super) fn encode_checkpoint_record(
    size: u64,
    loc: Location,
    i: u64,
) -> [u8; CHECKPOINT_RECORD_LEN as usize] {
    let mut b = [0u8; CHECKPOINT_RECORD_LEN as usize];
    b[..8].copy_from_slice(&size.to_be_bytes());
    b[8..24].copy_from_slice(&loc.encode());
    let c = check(Some(i), &b, CHECKPOINT_CHECK);
    b[CHECKPOINT_CHECK].copy_from_slice(&c);
    b
}

/// Decodes [`encode_checkpoint_record`]'s bytes.
pub(super) fn decode_checkpoint_record(b: &[u8], i: u64) -> Result<(u64, Location), StoreError> {
    let malformed = || damaged(format!("checkpoints.col record {i} is malformed"));
    if b.len() != CHECKPOINT_RECORD_LEN as usize
        || b[CHECKPOINT_CHECK] != check(Some(i), b, CHECKPOINT_CHECK)
    {
        return Err(malformed());
    }
    let size = u64::from_be_bytes(b[..8].try_into().map_err(|_| malformed())?);
    let loc = Location::decode(&b[8..24]).ok_or_else(malformed)?;
    Ok((size, loc))
}

/// Reads the durable size and checkpoint count from `columns.synced` (empty: nothing is).
pub(super) fn read_marker(marker: &File) -> Result<(u64, u64), StoreError> {
    let not_one = || damaged("columns.synced is not a column marker".into());
    let len = marker
        .metadata()
        .map_err(io("reading the length of columns.synced"))?
        .len();
    if len == 0 {
        return Ok((0, 0));
    }
    if len != MARKER_LEN as u64 {
        return Err(not_one());
    }
    let mut m = [0u8; MARKER_LEN];
    marker
        .read_exact_at(&mut m, 0)
        .map_err(io("reading columns.synced"))?;
    if m[..8] != MARKER_MAGIC[..] || m[24..] != check(None, &m, 24..MARKER_LEN) {
        return Err(not_one());
    }
    let be64 = |b: &[u8]| b.try_into().map(u64::from_be_bytes).map_err(|_| not_one());
    Ok((be64(&m[8..16])?, be64(&m[16..24])?))
}

/// The bytes of `columns.synced` for `size` and `checkpoints` records.
pub(super) fn encode_marker(size: u64, checkpoints: u64) -> [u8; MARKER_LEN] {
    let mut m = [0u8; MARKER_LEN];
    m[..8].copy_from_slice(MARKER_MAGIC);
    m[8..16].copy_from_slice(&size.to_be_bytes());
    m[16..24].copy_from_slice(&checkpoints.to_be_bytes());
    let c = check(None, &m, 24..MARKER_LEN);
    m[24..].copy_from_slice(&c);
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every bit of a checkpoint record and of the marker is covered by its check.
    #[test]
    fn checks_cover_every_bit_of_checkpoints_and_marker() {
        let loc = Location {
            segment: 1,
            offset: 99,
            len: 7,
        };
        let rec = encode_checkpoint_record(5, loc, 2);
        assert_eq!(decode_checkpoint_record(&rec, 2).unwrap(), (5, loc));
        assert!(decode_checkpoint_record(&rec, 3).is_err());
        for bit in 0..rec.len() * 8 {
            let mut r = rec;
            r[bit / 8] ^= 1 << (bit % 8);
            assert!(decode_checkpoint_record(&r, 2).is_err(), "bit {bit}");
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("columns.synced");
        let m = encode_marker(0, 0);
        for bit in 0..m.len() * 8 {
            let mut b = m;
            b[bit / 8] ^= 1 << (bit % 8);
            std::fs::write(&path, b).unwrap();
            assert!(
                read_marker(&File::open(&path).unwrap()).is_err(),
                "bit {bit}"
            );
        }
    }
}
