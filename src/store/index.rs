//! The sled index: state derived from the segments, never the only copy of anything.
//!
//! Every key and value below is a function of the segment records alone, applied in log order,
//! so deleting the index and replaying the segments gives the same trees byte for byte.
//!
//! | tree | key | value |
//! | --- | --- | --- |
//! | `entries` | u64 BE index | location (16) `\|\|` leaf hash (32) |
//! | `nodes` | level u8 `\|\|` u64 BE node index | 32-byte hash of that perfect subtree, even levels >= 2 only |
//! | `leaves` | leaf hash (32) | u64 BE index |
//! | `payloads` | commitment (32) | location (16) of a payload not erased |
//! | `checkpoints` | u64 BE tree size | checkpoint note text |
//! | `claims` | [`Claim::key`] | u64 BE index |
//! | `by_party` | party `\|\|` 0x00 `\|\|` u64 BE index | i32 BE entry kind |
//! | `by_kind` | i32 BE entry kind `\|\|` u64 BE index | empty |
//! | `by_time` | u64 BE (time_ms with its sign bit flipped) `\|\|` u64 BE index | empty |
//! | `by_stix_id` | STIX id `\|\|` 0x00 `\|\|` u64 BE index | empty |
//! | `by_commitment` | commitment (32) `\|\|` u64 BE index | empty |
//! | `cosignatures` | u64 BE tree size `\|\|` key id (4) `\|\|` key name | the cosignature line |
//! | `meta` | `version`, `applied_size` | u32 BE, u64 BE |
//!
//! Merkle nodes of level 0 are the leaf hashes in `entries`, and a node of odd level is hashed
//! from its two children when read ([`SledNodes`]): that stores a third of a node per entry
//! instead of two, and a read costs at most two point reads.
//!
//! A location is segment id (u32 BE) `\|\|` record offset (u64 BE) `\|\|` body length (u32 BE).
//! Each append writes one sled batch per tree, `meta.applied_size` last, so a crash leaves
//! sled at most behind the segments, which catch-up repairs by replaying the missing batches
//! (every write is idempotent).
//!
//! Cosignatures arrive between batches and are few, so they are not part of that scheme: on
//! open, when the `cosignatures` tree does not hold exactly the segments' committed Cosignature
//! records, it is cleared and refilled from them (`reindex_cosignatures`).

use std::path::Path;

use crate::format::entry;
use crate::format::entry::{Claim, IndexKeys, index_keys};
use crate::format::hash::{Hash, hash_from_slice, leaf_hash, node_hash};
use crate::format::note::NoteSignature;
use crate::format::tree::{Frontier, NodeId, NodeSource, TreeSize};

use super::segment::{
    self, PAYLOAD_PREFIX_LEN, RawRecord, RecordKind, Recovered, ScanEnd, Segment,
};
use super::{IndexAction, StoreError};

/// Bump when any key or value layout changes: an index of another version is rebuilt.
/// 2: claims of redactions; `payloads` holds only payloads not erased.
/// 3: `nodes` holds only even levels >= 2.
const INDEX_VERSION: u32 = 3;
const META_VERSION: &[u8] = b"version";
const META_APPLIED: &[u8] = b"applied_size";

/// sled's page cache. It counts pages' on-disk size, and sled's resident memory levels off at
/// several times it (measured: ~250 MiB RSS with 64 MiB), so it is kept small: the index is
/// derived data whose files the OS caches anyway, and the hot Merkle nodes are in `nodes.rs`.
const SLED_CACHE_BYTES: u64 = 16 << 20;

/// Names of every sled tree the index uses, in a fixed order.
pub(crate) const TREE_NAMES: [&str; 13] = [
    "entries",
    "nodes",
    "leaves",
    "payloads",
    "checkpoints",
    "claims",
    "by_party",
    "by_kind",
    "by_time",
    "by_stix_id",
    "by_commitment",
    "cosignatures",
    "meta",
];

/// Where a record lives in the segments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Location {
    pub segment: u32,
    pub offset: u64,
    pub len: u32,
}

impl Location {
    fn encode(&self) -> [u8; 16] {
        let mut b = [0u8; 16];
        b[..4].copy_from_slice(&self.segment.to_be_bytes());
        b[4..12].copy_from_slice(&self.offset.to_be_bytes());
        b[12..].copy_from_slice(&self.len.to_be_bytes());
        b
    }

    fn decode(b: &[u8]) -> Option<Self> {
        Some(Self {
            segment: u32::from_be_bytes(b.get(..4)?.try_into().ok()?),
            offset: u64::from_be_bytes(b.get(4..12)?.try_into().ok()?),
            len: u32::from_be_bytes(b.get(12..16)?.try_into().ok()?),
        })
    }

    /// Offset just past the record (saturating: the location may come from a damaged index).
    pub fn end(&self) -> u64 {
        self.offset
            .saturating_add(segment::HEADER_LEN)
            .saturating_add(u64::from(self.len))
    }
}

fn be64(v: u64) -> [u8; 8] {
    v.to_be_bytes()
}

/// Reads a u64 BE value, or says which index value is malformed.
fn read_be64(v: &[u8], what: &str) -> Result<u64, StoreError> {
    v.try_into()
        .map(u64::from_be_bytes)
        .map_err(|_| StoreError::IndexInconsistent(format!("{what} is {} bytes, not 8", v.len())))
}

/// Sortable encoding of a signed time: flipping the sign bit orders i64 as u64.
pub(crate) fn time_key(ms: i64) -> [u8; 8] {
    ((ms as u64) ^ (1 << 63)).to_be_bytes()
}

fn kind_key(kind: i32) -> [u8; 4] {
    kind.to_be_bytes()
}

fn node_key(id: NodeId) -> [u8; 9] {
    let mut k = [0u8; 9];
    k[0] = id.level;
    k[1..].copy_from_slice(&id.index.to_be_bytes());
    k
}

/// `name || 0x00 || be64 index`: the key layout of the by-party and by-STIX-id trees.
pub(crate) fn named_key(name: &str, index: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(name.len() + 9);
    k.extend_from_slice(name.as_bytes());
    k.push(0);
    k.extend_from_slice(&be64(index));
    k
}

/// Key/value writes for one tree, applied as plain inserts.
///
/// Not `sled::Batch`: sled 0.34 makes every `apply_batch` stable with `sync_file_range` calls
/// (measured: about two per batch per tree, which capped group commit near 1,000 entries/s).
/// Atomicity across trees buys nothing here: the index is derived, `meta`'s applied size is
/// written last, and on open an index that is behind is caught up by replaying (inserts of
/// the same keys and values are idempotent) and one that disagrees is rebuilt.
#[derive(Default)]
pub(crate) struct Writes(Vec<(Vec<u8>, Vec<u8>)>);

impl Writes {
    /// Queues `key` = `value`.
    pub fn insert(&mut self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) {
        self.0
            .push((key.as_ref().to_vec(), value.as_ref().to_vec()));
    }

    fn apply_to(self, tree: &sled::Tree) -> Result<(), sled::Error> {
        for (k, v) in self.0 {
            tree.insert(k, v)?;
        }
        Ok(())
    }
}

/// The derived writes of one batch, one list per tree.
#[derive(Default)]
pub(crate) struct IndexBatch {
    entries: Writes,
    nodes: Writes,
    leaves: Writes,
    payloads: Writes,
    checkpoints: Writes,
    claims: Writes,
    by_party: Writes,
    by_kind: Writes,
    by_time: Writes,
    by_stix_id: Writes,
    by_commitment: Writes,
    meta: Writes,
}

impl IndexBatch {
    /// Records where a payload is.
    pub fn add_payload(&mut self, commitment: &Hash, loc: Location) {
        self.payloads.insert(&commitment[..], &loc.encode()[..]);
    }

    /// Records an entry: its location, leaf, the Merkle nodes it completes, its keys.
    pub fn add_entry(
        &mut self,
        loc: Location,
        leaf: &Hash,
        keys: &IndexKeys,
        nodes: &[(NodeId, Hash)],
    ) {
        let idx = be64(keys.index);
        let mut v = Vec::with_capacity(48);
        v.extend_from_slice(&loc.encode());
        v.extend_from_slice(leaf);
        self.entries.insert(&idx[..], v);
        for (id, h) in nodes.iter().filter(|(id, _)| stored_level(id.level)) {
            self.nodes.insert(&node_key(*id)[..], &h[..]);
        }
        self.leaves.insert(&leaf[..], &idx[..]);
        for c in &keys.claims {
            self.claims.insert(c.key(), &idx[..]);
        }
        let kind = keys.kind as i32;
        for p in &keys.parties {
            self.by_party
                .insert(named_key(p, keys.index), &kind_key(kind)[..]);
        }
        let mut k = kind_key(kind).to_vec();
        k.extend_from_slice(&idx);
        self.by_kind.insert(k, &[][..]);
        let mut k = time_key(keys.time_ms).to_vec();
        k.extend_from_slice(&idx);
        self.by_time.insert(k, &[][..]);
        for s in &keys.stix_ids {
            self.by_stix_id.insert(named_key(s, keys.index), &[][..]);
        }
        for c in &keys.commitments {
            let mut k = c.to_vec();
            k.extend_from_slice(&idx);
            self.by_commitment.insert(k, &[][..]);
        }
    }

    /// Records a checkpoint and that the index now covers `size` entries.
    pub fn commit(&mut self, size: u64, note: &str) {
        self.checkpoints.insert(&be64(size)[..], note.as_bytes());
        self.meta
            .insert(META_VERSION, &INDEX_VERSION.to_be_bytes()[..]);
        self.meta.insert(META_APPLIED, &be64(size)[..]);
    }
}

/// The open sled database and its trees.
pub(crate) struct Index {
    db: sled::Db,
    pub entries: sled::Tree,
    pub nodes: sled::Tree,
    pub leaves: sled::Tree,
    pub payloads: sled::Tree,
    pub checkpoints: sled::Tree,
    pub claims: sled::Tree,
    pub by_party: sled::Tree,
    pub by_kind: sled::Tree,
    pub by_time: sled::Tree,
    pub by_stix_id: sled::Tree,
    pub by_commitment: sled::Tree,
    pub cosignatures: sled::Tree,
    pub meta: sled::Tree,
}

/// Entry location and leaf hash as the index holds them.
pub(crate) struct EntryInfo {
    pub loc: Location,
    pub leaf: Hash,
}

impl Index {
    /// Opens (creating) the sled database at `path`. sled has been seen to panic on damaged
    /// files; that is caught and reported as an error so the caller can rebuild.
    ///
    /// sled's own file lock outlives a dropped `Db` for a moment (its I/O threads hold it), so a
    /// lock conflict is retried for a while and then reported as [`StoreError::Locked`] —
    /// never as damage, which would delete an index that is merely in use. The store's own
    /// directory lock already excludes other stores, so the wait is short in practice.
    fn open(path: &Path) -> Result<Self, StoreError> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            match Self::try_open(path) {
                Err(StoreError::Index(sled::Error::Io(e)))
                    if e.to_string().contains("could not acquire lock") =>
                {
                    if std::time::Instant::now() >= deadline {
                        return Err(StoreError::Locked {
                            path: path.to_owned(),
                        });
                    }
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                other => return other,
            }
        }
    }

    fn try_open(path: &Path) -> Result<Self, StoreError> {
        let path = path.to_owned();
        let opened = std::panic::catch_unwind(move || -> Result<Self, sled::Error> {
            let db = sled::Config::new()
                .path(&path)
                .cache_capacity(SLED_CACHE_BYTES)
                .open()?;
            let t = |name: &str| db.open_tree(name);
            Ok(Self {
                entries: t("entries")?,
                nodes: t("nodes")?,
                leaves: t("leaves")?,
                payloads: t("payloads")?,
                checkpoints: t("checkpoints")?,
                claims: t("claims")?,
                by_party: t("by_party")?,
                by_kind: t("by_kind")?,
                by_time: t("by_time")?,
                by_stix_id: t("by_stix_id")?,
                by_commitment: t("by_commitment")?,
                cosignatures: t("cosignatures")?,
                meta: t("meta")?,
                db,
            })
        });
        match opened {
            Ok(r) => Ok(r?),
            Err(_) => Err(StoreError::IndexInconsistent(
                "sled panicked while opening the index".into(),
            )),
        }
    }

    /// Writes one batch: one sled batch per tree, `meta` (the applied size) last.
    pub fn apply(&self, b: IndexBatch) -> Result<(), StoreError> {
        b.entries.apply_to(&self.entries)?;
        b.nodes.apply_to(&self.nodes)?;
        b.leaves.apply_to(&self.leaves)?;
        b.payloads.apply_to(&self.payloads)?;
        b.checkpoints.apply_to(&self.checkpoints)?;
        b.claims.apply_to(&self.claims)?;
        b.by_party.apply_to(&self.by_party)?;
        b.by_kind.apply_to(&self.by_kind)?;
        b.by_time.apply_to(&self.by_time)?;
        b.by_stix_id.apply_to(&self.by_stix_id)?;
        b.by_commitment.apply_to(&self.by_commitment)?;
        b.meta.apply_to(&self.meta)?;
        Ok(())
    }

    /// Forgets the locations of erased payloads. Called only once their erasure is durable,
    /// so a location in the index always means "check this record" to recovery.
    pub fn drop_payloads(&self, commitments: &[Hash]) -> Result<(), StoreError> {
        for c in commitments {
            self.payloads.remove(c)?;
        }
        Ok(())
    }

    /// Flushes sled's buffers; only on close, never per append (the segments are durable).
    pub fn flush(&self) -> Result<(), StoreError> {
        self.db.flush()?;
        Ok(())
    }

    /// Entries the index covers, None if it has never been written.
    fn applied_size(&self) -> Result<Option<u64>, StoreError> {
        let version = self.meta.get(META_VERSION)?;
        match version {
            None => return Ok(None),
            Some(v) if v.as_ref() != INDEX_VERSION.to_be_bytes() => {
                return Err(StoreError::IndexInconsistent(format!(
                    "index version {} is not {INDEX_VERSION}",
                    hex::encode(&v)
                )));
            }
            Some(_) => {}
        }
        match self.meta.get(META_APPLIED)? {
            None => Ok(None),
            Some(v) => Ok(Some(read_be64(&v, "meta.applied_size")?)),
        }
    }

    /// Location and leaf hash of entry `index`.
    pub fn entry(&self, index: u64) -> Result<Option<EntryInfo>, StoreError> {
        let Some(v) = self.entries.get(be64(index))? else {
            return Ok(None);
        };
        let bad = || StoreError::IndexInconsistent(format!("entries[{index}] is malformed"));
        let loc = Location::decode(&v).ok_or_else(bad)?;
        let leaf = v
            .get(16..48)
            .and_then(|s| s.try_into().ok())
            .ok_or_else(bad)?;
        Ok(Some(EntryInfo { loc, leaf }))
    }

    /// Location of the payload committed to by `commitment`.
    pub fn payload(&self, commitment: &Hash) -> Result<Option<Location>, StoreError> {
        let Some(v) = self.payloads.get(commitment)? else {
            return Ok(None);
        };
        Location::decode(&v).map(Some).ok_or_else(|| {
            StoreError::IndexInconsistent(format!(
                "payloads[{}] is malformed",
                hex::encode(commitment)
            ))
        })
    }

    /// The entry index stored under `key` in a tree whose values are u64 BE indexes.
    pub fn index_at(&self, tree: &sled::Tree, key: &[u8]) -> Result<Option<u64>, StoreError> {
        match tree.get(key)? {
            None => Ok(None),
            Some(v) => Ok(Some(read_be64(&v, "an index value")?)),
        }
    }

    /// The entry holding `claim`.
    pub fn claimed(&self, claim: &Claim) -> Result<Option<u64>, StoreError> {
        self.index_at(&self.claims, &claim.key())
    }
}

/// Key of a cosignature in the `cosignatures` tree: by tree size, then by signing key.
pub(crate) fn cosignature_key(size: u64, sig: &NoteSignature) -> Vec<u8> {
    let mut k = Vec::with_capacity(12 + sig.name.len());
    k.extend_from_slice(&be64(size));
    k.extend_from_slice(&sig.key_id);
    k.extend_from_slice(sig.name.as_bytes());
    k
}

/// Clears the `cosignatures` tree and refills it from every Cosignature record in the
/// (recovered, so committed) segments.
fn reindex_cosignatures(index: &Index, segments: &[Segment]) -> Result<u64, StoreError> {
    index.cosignatures.clear()?;
    let mut n = 0u64;
    for seg in segments {
        let name = segment::file_name(seg.id);
        segment::scan_file(&seg.file, &name, 0, |rec| {
            if rec.kind == RecordKind::Cosignature {
                let (size, sig) = segment::parse_cosignature(&rec.body).map_err(|reason| {
                    StoreError::Corrupt {
                        segment: seg.id,
                        offset: rec.offset,
                        reason,
                    }
                })?;
                index
                    .cosignatures
                    .insert(cosignature_key(size, &sig), sig.line().as_bytes())?;
                n += 1;
            }
            Ok(())
        })?;
    }
    Ok(n)
}

/// Whether the `nodes` tree holds the nodes of `level` (see the module doc).
fn stored_level(level: u8) -> bool {
    level >= 2 && level.is_multiple_of(2)
}

/// Merkle nodes read from sled, so roots and proofs take O(log n) point reads.
pub(crate) struct SledNodes<'a>(pub &'a Index);

impl SledNodes<'_> {
    /// A node of level 0 or an even level, as stored.
    fn stored(&self, id: NodeId) -> Result<Hash, StoreError> {
        if id.level == 0 {
            return self.0.entry(id.index)?.map(|e| e.leaf).ok_or_else(|| {
                StoreError::IndexInconsistent(format!(
                    "Merkle leaf {} is missing from entries",
                    id.index
                ))
            });
        }
        let v = self.0.nodes.get(node_key(id))?.ok_or_else(|| {
            StoreError::IndexInconsistent(format!(
                "Merkle node at level {} index {} is missing",
                id.level, id.index
            ))
        })?;
        hash_from_slice(&v).map_err(|e| {
            StoreError::IndexInconsistent(format!(
                "Merkle node at level {} index {}: {e}",
                id.level, id.index
            ))
        })
    }
}

impl NodeSource for SledNodes<'_> {
    type Error = StoreError;

    fn node(&self, id: NodeId) -> Result<Hash, StoreError> {
        if stored_level(id.level) || id.level == 0 {
            return self.stored(id);
        }
        // Odd levels are not stored: hash the two children, which are.
        let child = |index| NodeId {
            level: id.level - 1,
            index,
        };
        let left = self.stored(child(id.index << 1))?;
        let right = self.stored(child((id.index << 1) | 1))?;
        Ok(node_hash(&left, &right))
    }
}

/// Replays segment records into the index, one sled write per batch at its checkpoint.
struct Replayer<'a> {
    index: &'a Index,
    frontier: Frontier,
    pending: IndexBatch,
    pending_records: usize,
}

impl Replayer<'_> {
    fn record(&mut self, segment: u32, rec: RawRecord) -> Result<(), StoreError> {
        let corrupt = |reason: String| StoreError::Corrupt {
            segment,
            offset: rec.offset,
            reason,
        };
        let loc = Location {
            segment,
            offset: rec.offset,
            len: rec.body.len() as u32,
        };
        // A cosignature is committed on its own (segment.rs), never part of a batch.
        if rec.kind != RecordKind::Cosignature {
            self.pending_records += 1;
        }
        if !rec.intact {
            // Recovery finished every torn erasure before indexing.
            return Err(corrupt("checksum mismatch".into()));
        }
        match rec.kind {
            RecordKind::Payload => {
                let commitment = rec
                    .body
                    .get(..32)
                    .filter(|_| rec.body.len() >= PAYLOAD_PREFIX_LEN)
                    .and_then(|c| hash_from_slice(c).ok())
                    .ok_or_else(|| corrupt("payload record too short".into()))?;
                self.pending.add_payload(&commitment, loc);
            }
            // Nothing to find there any more; the Redaction entry says why.
            RecordKind::ErasedPayload => {}
            RecordKind::Entry => {
                let e = entry::decode(&rec.body).map_err(|e| corrupt(e.to_string()))?;
                if e.index != self.frontier.size().0 {
                    return Err(corrupt(format!(
                        "entry has index {} at log position {}",
                        e.index,
                        self.frontier.size().0
                    )));
                }
                let keys = index_keys(&e).map_err(|e| corrupt(e.to_string()))?;
                let leaf = leaf_hash(&rec.body);
                let nodes = self.frontier.push(leaf);
                self.pending.add_entry(loc, &leaf, &keys, &nodes);
            }
            RecordKind::Checkpoint => {
                let note = std::str::from_utf8(&rec.body)
                    .map_err(|_| corrupt("checkpoint note is not UTF-8".into()))?;
                let mut batch = std::mem::take(&mut self.pending);
                batch.commit(self.frontier.size().0, note);
                self.index.apply(batch)?;
                self.pending_records = 0;
            }
            // Indexed by reindex_cosignatures, whatever part of the log is replayed.
            RecordKind::Cosignature => {}
        }
        Ok(())
    }
}

/// Replays every record from `(segments[first], offset)` on into the index, starting from the
/// tree `frontier`. The segments were recovered, so every record must be valid.
fn replay(
    index: &Index,
    segments: &[Segment],
    first: usize,
    offset: u64,
    frontier: Frontier,
) -> Result<Frontier, StoreError> {
    let mut r = Replayer {
        index,
        frontier,
        pending: IndexBatch::default(),
        pending_records: 0,
    };
    for (i, seg) in segments.iter().enumerate().skip(first) {
        let start = if i == first { offset } else { 0 };
        let name = segment::file_name(seg.id);
        let end = segment::scan_file(&seg.file, &name, start, |rec| r.record(seg.id, rec))?;
        if let ScanEnd::Bad { offset, reason } = end {
            return Err(StoreError::Corrupt {
                segment: seg.id,
                offset,
                reason: format!("{reason} (found while indexing a recovered segment)"),
            });
        }
    }
    if r.pending_records > 0 {
        return Err(StoreError::IndexInconsistent(
            "records after the last checkpoint survived recovery".into(),
        ));
    }
    Ok(r.frontier)
}

/// Why the index cannot be trusted and must be rebuilt, or None if it can be caught up from
/// its applied size.
fn check(
    index: &Index,
    segments: &[Segment],
    size: u64,
    tip: &Hash,
    segments_frontier: &Frontier,
) -> Result<Result<u64, String>, StoreError> {
    let Some(applied) = index.applied_size()? else {
        return Ok(Err("the index is new or was never written".into()));
    };
    if applied > size {
        return Ok(Err(format!(
            "the index covers {applied} entries but the segments hold {size}"
        )));
    }
    if applied == 0 {
        return Ok(Ok(0));
    }
    let last = applied - 1;
    let Some(info) = index.entry(last)? else {
        return Ok(Err(format!("the index has no location for entry {last}")));
    };
    let Some(seg) = segments.get(info.loc.segment as usize) else {
        return Ok(Err(format!(
            "entry {last} is located in segment {} which does not exist",
            info.loc.segment
        )));
    };
    let rec = match segment::read_record(
        &seg.file,
        seg.id,
        info.loc.offset,
        info.loc.len,
        &[RecordKind::Entry],
    ) {
        Ok(r) if info.loc.end() <= seg.len => r,
        Ok(_) => return Ok(Err(format!("entry {last} is located past committed data"))),
        Err(e) => {
            return Ok(Err(format!(
                "entry {last} is not where the index says: {e}"
            )));
        }
    };
    let actual = leaf_hash(&rec.body);
    let index_ok = entry::decode(&rec.body).is_ok_and(|e| e.index == last);
    if !index_ok || actual != info.leaf {
        return Ok(Err(format!(
            "the index's leaf hash of entry {last} is {}, the segments' is {}",
            hex::encode(info.leaf),
            hex::encode(actual)
        )));
    }
    if applied == size && actual != *tip {
        return Ok(Err("the index's tip differs from the segments'".into()));
    }
    match Frontier::load(&SledNodes(index), TreeSize(applied)) {
        Err(e) => return Ok(Err(format!("the index's Merkle nodes are incomplete: {e}"))),
        Ok(f) if applied == size && f != *segments_frontier => {
            return Ok(Err(format!(
                "the index's root at size {size} is {}, the segments' is {}",
                hex::encode(f.root()),
                hex::encode(segments_frontier.root())
            )));
        }
        Ok(_) => {}
    }
    Ok(Ok(applied))
}

/// An empty log has no checkpoint record to commit the index at: mark it as built, so the
/// next open does not take it for a half-written one.
fn mark_empty(index: &Index, size: u64) -> Result<(), StoreError> {
    if size == 0 {
        let mut b = IndexBatch::default();
        b.meta
            .insert(META_VERSION, &INDEX_VERSION.to_be_bytes()[..]);
        b.meta.insert(META_APPLIED, &be64(0)[..]);
        index.apply(b)?;
    }
    Ok(())
}

/// Opens the index at `path` and brings it level with the recovered segments: catches up if
/// it is behind, deletes and rebuilds it if it is unreadable or disagrees with them.
/// Returns the index, the frontier of the whole log, and what was done.
pub(crate) fn open_consistent(
    path: &Path,
    recovered: &Recovered,
) -> Result<(Index, IndexAction), StoreError> {
    let segments = &recovered.segments[..];
    let size = recovered.size;
    let existed = path.exists();
    let verdict = match Index::open(path) {
        // A new index is built by catching up from nothing: no need to delete and reopen it.
        Ok(index) if !existed => Ok((index, 0)),
        Ok(index) => {
            // Like opening, reading a damaged sled may panic: that too means "rebuild".
            let checked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                check(&index, segments, size, &recovered.tip, &recovered.frontier)
            }));
            match checked {
                Ok(Ok(Ok(applied))) => Ok((index, applied)),
                Ok(Ok(Err(why))) => Err(why),
                Ok(Err(e)) => Err(format!("reading it failed: {e}")),
                Err(_) => Err("sled panicked while reading it".into()),
            }
        }
        Err(e @ StoreError::Locked { .. }) => return Err(e),
        Err(e) => Err(format!("opening it failed: {e}")),
    };
    let (index, frontier, action) = match verdict {
        Ok((index, applied)) if applied == size && existed => {
            let frontier = Frontier::load(&SledNodes(&index), TreeSize(size))?;
            tracing::info!(size, "index is consistent with the segments");
            (index, frontier, IndexAction::Consistent)
        }
        Ok((index, applied)) => {
            let (first, offset, frontier) = if applied == 0 {
                (0, 0, Frontier::new())
            } else {
                let info = index.entry(applied - 1)?.ok_or_else(|| {
                    StoreError::IndexInconsistent(format!("entry {} vanished", applied - 1))
                })?;
                let frontier = Frontier::load(&SledNodes(&index), TreeSize(applied))?;
                (info.loc.segment as usize, info.loc.end(), frontier)
            };
            let frontier = replay(&index, segments, first, offset, frontier)?;
            mark_empty(&index, size)?;
            let action = if existed {
                tracing::info!(
                    from = applied,
                    to = size,
                    "index was behind the segments; caught up by replaying {} entries",
                    size - applied
                );
                IndexAction::CaughtUp {
                    from: TreeSize(applied),
                }
            } else {
                tracing::info!(size, "built a new index from the segments");
                IndexAction::Built
            };
            (index, frontier, action)
        }
        Err(why) => {
            tracing::info!(
                path = %path.display(),
                "rebuilding the index from the segments: {why}"
            );
            if path.exists() {
                std::fs::remove_dir_all(path).map_err(|source| StoreError::Io {
                    context: format!("deleting the index at {}", path.display()),
                    source,
                })?;
            }
            let index = Index::open(path)?;
            let frontier = replay(&index, segments, 0, 0, Frontier::new())?;
            mark_empty(&index, size)?;
            tracing::info!(size, "rebuilt the index from the segments");
            (index, frontier, IndexAction::Rebuilt { reason: why })
        }
    };
    if index.cosignatures.len() as u64 != recovered.cosignatures {
        let n = reindex_cosignatures(&index, segments)?;
        tracing::info!(
            cosignatures = n,
            "re-indexed the cosignatures from the segments"
        );
    }
    if frontier != recovered.frontier {
        return Err(StoreError::IndexInconsistent(format!(
            "after opening, the index has {} entries with root {}, the segments {size} with root {}",
            frontier.size().0,
            hex::encode(frontier.root()),
            hex::encode(recovered.frontier.root())
        )));
    }
    Ok((index, action))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_keys_sort_like_times() {
        let times = [i64::MIN, -5, -1, 0, 1, 1_700_000_000_000, i64::MAX];
        for w in times.windows(2) {
            assert!(time_key(w[0]) < time_key(w[1]), "{} vs {}", w[0], w[1]);
        }
    }

    #[test]
    fn location_round_trips_and_rejects_short_values() {
        let loc = Location {
            segment: 3,
            offset: 1 << 40,
            len: 77,
        };
        assert_eq!(Location::decode(&loc.encode()), Some(loc));
        assert_eq!(Location::decode(&loc.encode()[..15]), None);
        assert_eq!(loc.end(), (1 << 40) + 9 + 77);
    }

    #[test]
    fn named_keys_keep_parties_apart() {
        // "a" at index i and "a\0..." never share a key: the length tells them apart.
        let a = named_key("a", 1);
        assert_eq!(a, [b'a', 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        assert_ne!(named_key("a\0", 1)[..10], a[..]);
        // Keys of one name sort by index.
        assert!(named_key("p", 2) < named_key("p", 10));
    }

    #[test]
    fn node_keys_sort_by_level_then_index() {
        let k = |level, index| node_key(NodeId { level, index });
        assert!(k(0, 5) < k(0, 6));
        assert!(k(0, u64::MAX) < k(1, 0));
    }
}
