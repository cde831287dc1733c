//! Per-entry index data in fixed-size records, read by position: what grows with the log and
//! is looked up by entry index, kept out of sled (which holds ~30 bytes of RAM per key for as
//! long as it runs, measured) so a long-running server's memory stays flat.
//!
//! Files, under the index directory:
//!
//! | file | record `i` | bytes |
//! | --- | --- | --- |
//! | `entries.col` | entry `i`: location (16) `\|\|` leaf hash (32) `\|\|` time_ms i64 BE (8) `\|\|` kind i32 BE (4) `\|\|` zero (4) `\|\|` two party fingerprints (16 each, zeros when absent) | 96 |
//! | `nodes-LL.col` | the Merkle node of level `LL` (decimal, >= 1) and index `i` | 32 |
//! | `checkpoints.col` | the `i`-th checkpoint: tree size u64 BE `\|\|` location (16) of its record in the segments | 24 |
//! | `columns.synced` | [`MARKER_MAGIC`] `\|\|` u64 BE size `\|\|` u64 BE checkpoint count: every record of entries below the size, and that many checkpoint records, are durable | 24 |
//!
//! Entry and node records are written at their fixed offsets without a sync, so rewriting one
//! is idempotent and a catch-up after a crash simply writes again from a size known to be
//! durable. Checkpoint records are appended in tree-size order, and appending one the file
//! already holds is a no-op. The durable point is the marker's: [`Columns::sync`] fdatasyncs
//! every column file and only then moves the marker. Reads never go past the store's visible
//! size (or the checkpoint count), so bytes beyond them are never trusted.
//!
//! Queries by party or kind scan `entries.col` forward from an index (96 bytes per entry, read
//! in large chunks); queries by time binary-search its time field, which never decreases along
//! the log because the store refuses an entry that goes back in time.

use std::fs::{File, OpenOptions};
use std::ops::ControlFlow;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use crate::format::hash::Hash;
use crate::format::tree::{NodeId, NodeSource};

use super::index::Location;
use super::lookup::{Fingerprint, LookupKind, fingerprint};
use super::{StoreError, io};

/// Bytes of one `entries.col` record.
const ENTRY_RECORD_LEN: u64 = 96;
/// Bytes of one node record.
const NODE_RECORD_LEN: u64 = 32;
/// Bytes of one `checkpoints.col` record.
const CHECKPOINT_RECORD_LEN: u64 = 24;
/// First bytes of `columns.synced` (its format version is the last byte).
const MARKER_MAGIC: &[u8; 8] = b"blcols\0\x02";
/// Bytes of `columns.synced`.
const MARKER_LEN: usize = 24;
/// Entries read per pread while scanning.
const SCAN_CHUNK: u64 = 1024;
/// A party's name as `entries.col` stores it: a fixed-size fingerprint whatever the name's
/// length.
pub(crate) type PartyFingerprint = Fingerprint;

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
    fn encode(&self) -> [u8; ENTRY_RECORD_LEN as usize] {
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
        b
    }

    fn decode(b: &[u8]) -> Option<Self> {
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

    /// Whether `party` is one of the entry's parties.
    pub fn involves(&self, party: &PartyFingerprint) -> bool {
        self.parties.iter().any(|p| p.as_ref() == Some(party))
    }
}

/// The column files of one index directory: one writer (the store's appender), any number of
/// readers.
pub(crate) struct Columns {
    dir: PathBuf,
    entries: File,
    /// `nodes[l - 1]` is the file of level `l`, opened on first use.
    nodes: RwLock<Vec<Arc<File>>>,
    checkpoints: File,
    /// How many records of `checkpoints.col` readers may use, and the last of them.
    checkpoint_tail: RwLock<CheckpointTail>,
    marker: File,
    synced: AtomicU64,
}

/// The usable length of `checkpoints.col` and its last record, kept together: nearly every
/// receipt and proof is to the latest checkpoint, which this finds without reading the file.
#[derive(Debug, Clone, Copy, Default)]
struct CheckpointTail {
    count: u64,
    last: Option<(u64, Location)>,
}

/// A `checkpoints.col` record, the `i`-th: tree size (u64 BE), then the record's location.
fn decode_checkpoint_record(b: &[u8], i: u64) -> Result<(u64, Location), StoreError> {
    let size = u64::from_be_bytes(b[..8].try_into().unwrap_or_default());
    let loc = Location::decode(&b[8..]).ok_or_else(|| {
        StoreError::IndexInconsistent(format!("checkpoints.col record {i} is malformed"))
    })?;
    Ok((size, loc))
}

impl Columns {
    /// Opens (creating) the column files in `dir` and reads the durable size from the marker;
    /// a marker that is not one is an error, so the caller rebuilds.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        let open = |name: &str| {
            let path = dir.join(name);
            OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)
                .map_err(io(format!("opening {}", path.display())))
        };
        let entries = open("entries.col")?;
        let checkpoints = open("checkpoints.col")?;
        let marker = open("columns.synced")?;
        let mut m = Vec::new();
        std::io::Read::read_to_end(&mut &marker, &mut m)
            .map_err(io(format!("reading {}/columns.synced", dir.display())))?;
        let be64 = |b: &[u8]| u64::from_be_bytes(b.try_into().unwrap_or_default());
        let (synced, checkpoint_count) = match m.len() {
            0 => (0, 0),
            MARKER_LEN if m[..8] == MARKER_MAGIC[..] => (be64(&m[8..16]), be64(&m[16..24])),
            _ => {
                return Err(StoreError::IndexInconsistent(
                    "columns.synced is not a column marker".into(),
                ));
            }
        };
        // Every checkpoint record the marker vouches for must be readable and in order.
        let mut vouched = vec![0u8; (checkpoint_count * CHECKPOINT_RECORD_LEN) as usize];
        checkpoints.read_exact_at(&mut vouched, 0).map_err(|e| {
            StoreError::IndexInconsistent(format!(
                "checkpoints.col is shorter than its {checkpoint_count} synced records: {e}"
            ))
        })?;
        let mut last = None;
        for (i, r) in vouched
            .chunks_exact(CHECKPOINT_RECORD_LEN as usize)
            .enumerate()
        {
            let (size, loc) = decode_checkpoint_record(r, i as u64)?;
            let after = last.map_or(0, |(at, _)| at);
            if size <= after || size > synced {
                return Err(StoreError::IndexInconsistent(format!(
                    "checkpoints.col record {i} is for tree size {size}, after {after} (synced {synced})"
                )));
            }
            last = Some((size, loc));
        }
        let columns = Self {
            dir: dir.to_owned(),
            entries,
            nodes: RwLock::new(Vec::new()),
            checkpoints,
            checkpoint_tail: RwLock::new(CheckpointTail {
                count: checkpoint_count,
                last,
            }),
            marker,
            synced: AtomicU64::new(synced),
        };
        let level_count = (u64::BITS - synced.leading_zeros()) as u8;
        for level in 1..level_count {
            columns.level_file(level)?;
        }
        Ok(columns)
    }

    /// Entries whose records are known to be durable.
    pub fn synced(&self) -> u64 {
        self.synced.load(Ordering::Acquire)
    }

    /// The file of node level `level` (>= 1), opened or created on first use.
    fn level_file(&self, level: u8) -> Result<Arc<File>, StoreError> {
        let i = usize::from(level) - 1;
        if let Some(f) = self.nodes.read().unwrap_or_else(|e| e.into_inner()).get(i) {
            return Ok(f.clone());
        }
        let mut nodes = self.nodes.write().unwrap_or_else(|e| e.into_inner());
        while nodes.len() <= i {
            let path = self.dir.join(format!("nodes-{:02}.col", nodes.len() + 1));
            let f = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)
                .map_err(io(format!("opening {}", path.display())))?;
            nodes.push(Arc::new(f));
        }
        Ok(nodes[i].clone())
    }

    /// Writes the records of consecutive entries starting at `first`.
    pub fn write_entries(&self, first: u64, records: &[EntryRecord]) -> Result<(), StoreError> {
        let mut buf = Vec::with_capacity(records.len() * ENTRY_RECORD_LEN as usize);
        for r in records {
            buf.extend_from_slice(&r.encode());
        }
        self.entries
            .write_all_at(&buf, first * ENTRY_RECORD_LEN)
            .map_err(io(format!("writing entries.col at entry {first}")))
    }

    /// Writes Merkle nodes of levels >= 1 (level 0 is the leaf in `entries.col`), as
    /// `Frontier::push` returns them: consecutive nodes of one level go out in one write.
    pub fn write_nodes<'a>(
        &self,
        nodes: impl IntoIterator<Item = &'a (NodeId, Hash)>,
    ) -> Result<(), StoreError> {
        let mut by_level: Vec<Vec<(u64, Hash)>> = Vec::new();
        for (id, hash) in nodes {
            if id.level == 0 {
                continue;
            }
            let l = usize::from(id.level);
            by_level.resize_with(by_level.len().max(l + 1), Vec::new);
            by_level[l].push((id.index, *hash));
        }
        for (level, mut nodes) in by_level.into_iter().enumerate() {
            nodes.sort_unstable_by_key(|(i, _)| *i);
            let mut start = 0;
            while start < nodes.len() {
                let mut end = start + 1;
                while end < nodes.len() && nodes[end].0 == nodes[end - 1].0 + 1 {
                    end += 1;
                }
                let buf: Vec<u8> = nodes[start..end].iter().flat_map(|(_, h)| *h).collect();
                let first = nodes[start].0;
                self.level_file(level as u8)?
                    .write_all_at(&buf, first * NODE_RECORD_LEN)
                    .map_err(io(format!("writing nodes-{level:02}.col at node {first}")))?;
                start = end;
            }
        }
        Ok(())
    }

    /// The record of entry `index`; an error if the file does not hold it.
    pub fn entry(&self, index: u64) -> Result<EntryRecord, StoreError> {
        let mut b = [0u8; ENTRY_RECORD_LEN as usize];
        self.entries
            .read_exact_at(&mut b, index * ENTRY_RECORD_LEN)
            .map_err(|e| {
                StoreError::IndexInconsistent(format!("entries.col has no entry {index}: {e}"))
            })?;
        EntryRecord::decode(&b).ok_or_else(|| {
            StoreError::IndexInconsistent(format!("entries.col record {index} is malformed"))
        })
    }

    /// Calls `f` on the records of entries `[from, to)` in order until it breaks.
    pub fn scan(
        &self,
        from: u64,
        to: u64,
        mut f: impl FnMut(u64, &EntryRecord) -> ControlFlow<()>,
    ) -> Result<(), StoreError> {
        let mut at = from;
        let mut buf = Vec::new();
        while at < to {
            let n = (to - at).min(SCAN_CHUNK);
            buf.resize((n * ENTRY_RECORD_LEN) as usize, 0);
            self.entries
                .read_exact_at(&mut buf, at * ENTRY_RECORD_LEN)
                .map_err(|e| {
                    StoreError::IndexInconsistent(format!(
                        "entries.col lacks entries {at}..{}: {e}",
                        at + n
                    ))
                })?;
            for (i, chunk) in buf.chunks_exact(ENTRY_RECORD_LEN as usize).enumerate() {
                let index = at + i as u64;
                let r = EntryRecord::decode(chunk).ok_or_else(|| {
                    StoreError::IndexInconsistent(format!(
                        "entries.col record {index} is malformed"
                    ))
                })?;
                if f(index, &r).is_break() {
                    return Ok(());
                }
            }
            at += n;
        }
        Ok(())
    }

    /// The first index below `size` whose entry's time is at least `ms` (`size` if none),
    /// by binary search: times never decrease along the log.
    pub fn first_at_or_after(&self, ms: i64, size: u64) -> Result<u64, StoreError> {
        let (mut lo, mut hi) = (0, size);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.entry(mid)?.time_ms < ms {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        Ok(lo)
    }

    /// Appends the record of the checkpoint signed at `size`, unless the file already holds
    /// it (a catch-up replays from a batch boundary whose checkpoint is kept).
    pub fn add_checkpoint(&self, size: u64, loc: Location) -> Result<(), StoreError> {
        let CheckpointTail { count, last } = self.tail();
        if last.is_some_and(|(at, _)| at >= size) {
            return Ok(());
        }
        let mut b = [0u8; CHECKPOINT_RECORD_LEN as usize];
        b[..8].copy_from_slice(&size.to_be_bytes());
        b[8..].copy_from_slice(&loc.encode());
        self.checkpoints
            .write_all_at(&b, count * CHECKPOINT_RECORD_LEN)
            .map_err(io(format!("writing checkpoints.col record {count}")))?;
        *self
            .checkpoint_tail
            .write()
            .unwrap_or_else(|e| e.into_inner()) = CheckpointTail {
            count: count + 1,
            last: Some((size, loc)),
        };
        Ok(())
    }

    fn tail(&self) -> CheckpointTail {
        *self
            .checkpoint_tail
            .read()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// The `i`-th checkpoint record: tree size and location.
    fn checkpoint_record(&self, i: u64) -> Result<(u64, Location), StoreError> {
        let mut b = [0u8; CHECKPOINT_RECORD_LEN as usize];
        self.checkpoints
            .read_exact_at(&mut b, i * CHECKPOINT_RECORD_LEN)
            .map_err(|e| {
                StoreError::IndexInconsistent(format!("checkpoints.col has no record {i}: {e}"))
            })?;
        decode_checkpoint_record(&b, i)
    }

    /// How many checkpoint records are for tree sizes up to `size` (binary search: sizes
    /// increase along the file).
    fn checkpoints_up_to(&self, size: u64) -> Result<u64, StoreError> {
        let tail = self.tail();
        if tail.last.is_some_and(|(at, _)| at <= size) {
            return Ok(tail.count);
        }
        let (mut lo, mut hi) = (0, tail.count);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.checkpoint_record(mid)?.0 <= size {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        Ok(lo)
    }

    /// The checkpoint signed at exactly `size` (`exact`), or the latest at or below it.
    pub fn checkpoint(
        &self,
        size: u64,
        exact: bool,
    ) -> Result<Option<(u64, Location)>, StoreError> {
        let tail = self.tail();
        let (at, loc) = match tail.last {
            None => return Ok(None),
            Some(last) if last.0 <= size => last,
            Some(_) => match self.checkpoints_up_to(size)? {
                0 => return Ok(None),
                n => self.checkpoint_record(n - 1)?,
            },
        };
        Ok((!exact || at == size).then_some((at, loc)))
    }

    /// The checkpoints signed at sizes in `[from, to]`, ascending, at most `limit`.
    pub fn checkpoints(
        &self,
        from: u64,
        to: u64,
        limit: usize,
    ) -> Result<Vec<(u64, Location)>, StoreError> {
        let first = match from {
            0 => 0,
            f => self.checkpoints_up_to(f - 1)?,
        };
        let end = self.checkpoints_up_to(to)?;
        (first..end)
            .take(limit)
            .map(|i| self.checkpoint_record(i))
            .collect()
    }

    /// The Merkle node `id` of level >= 1.
    fn stored_node(&self, id: NodeId) -> Result<Hash, StoreError> {
        let mut h = [0u8; 32];
        self.level_file(id.level)?
            .read_exact_at(&mut h, id.index * NODE_RECORD_LEN)
            .map_err(|e| {
                StoreError::IndexInconsistent(format!(
                    "Merkle node at level {} index {} is missing: {e}",
                    id.level, id.index
                ))
            })?;
        Ok(h)
    }

    /// Makes every record written so far durable, then records `size` as durable.
    pub fn sync(&self, size: u64) -> Result<(), StoreError> {
        self.entries
            .sync_data()
            .map_err(io("syncing entries.col"))?;
        self.checkpoints
            .sync_data()
            .map_err(io("syncing checkpoints.col"))?;
        let nodes = self.nodes.read().unwrap_or_else(|e| e.into_inner()).clone();
        for (i, f) in nodes.iter().enumerate() {
            f.sync_data()
                .map_err(io(format!("syncing nodes-{:02}.col", i + 1)))?;
        }
        let mut m = [0u8; MARKER_LEN];
        m[..8].copy_from_slice(MARKER_MAGIC);
        m[8..16].copy_from_slice(&size.to_be_bytes());
        m[16..].copy_from_slice(&self.checkpoints_up_to(size)?.to_be_bytes());
        self.marker
            .write_all_at(&m, 0)
            .and_then(|()| self.marker.sync_data())
            .map_err(io("writing columns.synced"))?;
        self.synced.store(size, Ordering::Release);
        Ok(())
    }

    /// Drops records of entries at or past `size` and of checkpoints past it (left by a batch
    /// a recovery cut off, or to be replayed from `size`), and moves the marker back to `size`
    /// if it was past it.
    pub fn truncate(&self, size: u64) -> Result<(), StoreError> {
        let keep = self.checkpoints_up_to(size)?;
        let last = match keep {
            0 => None,
            n => Some(self.checkpoint_record(n - 1)?),
        };
        self.checkpoints
            .set_len(keep * CHECKPOINT_RECORD_LEN)
            .map_err(io("truncating checkpoints.col"))?;
        *self
            .checkpoint_tail
            .write()
            .unwrap_or_else(|e| e.into_inner()) = CheckpointTail { count: keep, last };
        self.entries
            .set_len(size * ENTRY_RECORD_LEN)
            .map_err(io("truncating entries.col"))?;
        let nodes = self.nodes.read().unwrap_or_else(|e| e.into_inner()).clone();
        for (i, f) in nodes.iter().enumerate() {
            let level = i + 1;
            f.set_len((size >> level) * NODE_RECORD_LEN)
                .map_err(io(format!("truncating nodes-{level:02}.col")))?;
        }
        if self.synced() > size {
            self.sync(size)?;
        }
        Ok(())
    }
}

impl NodeSource for Columns {
    type Error = StoreError;

    fn node(&self, id: NodeId) -> Result<Hash, StoreError> {
        if id.level == 0 {
            return Ok(self.entry(id.index)?.leaf);
        }
        self.stored_node(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::tree::{Frontier, TreeSize, root};

    fn record(i: u64) -> EntryRecord {
        EntryRecord {
            loc: Location {
                segment: (i / 7) as u32,
                offset: i * 100,
                len: 50 + i as u32,
            },
            leaf: crate::format::hash::leaf_hash(&i.to_be_bytes()),
            time_ms: 1_000 + i as i64 / 3,
            kind: (i % 4) as i32,
            parties: [
                i.is_multiple_of(2).then(|| party_fingerprint("vendor")),
                i.is_multiple_of(3).then(|| party_fingerprint("police")),
            ],
        }
    }

    #[test]
    fn records_round_trip() {
        for i in 0..10 {
            let r = record(i);
            assert_eq!(EntryRecord::decode(&r.encode()), Some(r));
        }
        assert_eq!(EntryRecord::decode(&[0u8; 95]), None);
    }

    /// Writes `n` entries in batches of `batch`, with the nodes a frontier completes.
    fn fill(c: &Columns, n: u64, batch: u64) -> Frontier {
        let mut f = Frontier::new();
        let mut i = 0;
        while i < n {
            let end = (i + batch).min(n);
            let recs: Vec<_> = (i..end).map(record).collect();
            let nodes: Vec<_> = recs.iter().flat_map(|r| f.push(r.leaf)).collect();
            c.write_entries(i, &recs).unwrap();
            c.write_nodes(&nodes).unwrap();
            i = end;
        }
        f
    }

    #[test]
    fn nodes_give_the_frontier_root_and_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let c = Columns::open(dir.path()).unwrap();
        let f = fill(&c, 1000, 37);
        assert_eq!(root(&c, TreeSize(1000)).unwrap(), f.root());
        assert_eq!(Frontier::load(&c, TreeSize(1000)).unwrap(), f);
        c.sync(1000).unwrap();
        drop(c);
        let c = Columns::open(dir.path()).unwrap();
        assert_eq!(c.synced(), 1000);
        assert_eq!(root(&c, TreeSize(1000)).unwrap(), f.root());
        assert_eq!(c.entry(999).unwrap(), record(999));
        assert!(c.entry(1000).is_err());
    }

    #[test]
    fn scan_and_time_search() {
        let dir = tempfile::tempdir().unwrap();
        let c = Columns::open(dir.path()).unwrap();
        fill(&c, 3000, 500);
        let vendor = party_fingerprint("vendor");
        let mut seen = Vec::new();
        c.scan(10, 3000, |i, r| {
            if r.involves(&vendor) {
                seen.push(i);
            }
            if seen.len() == 600 {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })
        .unwrap();
        let want: Vec<u64> = (10..3000u64)
            .filter(|i| i.is_multiple_of(2))
            .take(600)
            .collect();
        assert_eq!(seen, want);
        // time_ms = 1000 + i/3: the first entry at 1100 is 300.
        assert_eq!(c.first_at_or_after(1100, 3000).unwrap(), 300);
        assert_eq!(c.first_at_or_after(0, 3000).unwrap(), 0);
        assert_eq!(c.first_at_or_after(i64::MAX, 3000).unwrap(), 3000);
    }

    #[test]
    fn truncate_cuts_records_and_marker() {
        let dir = tempfile::tempdir().unwrap();
        let c = Columns::open(dir.path()).unwrap();
        fill(&c, 100, 10);
        c.sync(100).unwrap();
        c.truncate(40).unwrap();
        assert_eq!(c.synced(), 40);
        assert!(c.entry(40).is_err());
        assert!(c.entry(39).is_ok());
        drop(c);
        assert_eq!(Columns::open(dir.path()).unwrap().synced(), 40);
    }

    #[test]
    fn checkpoints_are_found_by_size_and_appended_once() {
        let dir = tempfile::tempdir().unwrap();
        let c = Columns::open(dir.path()).unwrap();
        let loc = |i: u64| Location {
            segment: 0,
            offset: i * 10,
            len: 5,
        };
        for size in [1, 3, 7, 8, 20] {
            c.add_checkpoint(size, loc(size)).unwrap();
        }
        c.add_checkpoint(20, loc(99)).unwrap();
        c.add_checkpoint(8, loc(99)).unwrap();
        assert_eq!(c.checkpoint(7, true).unwrap(), Some((7, loc(7))));
        assert_eq!(c.checkpoint(6, true).unwrap(), None);
        assert_eq!(c.checkpoint(6, false).unwrap(), Some((3, loc(3))));
        assert_eq!(c.checkpoint(0, false).unwrap(), None);
        assert_eq!(c.checkpoint(100, false).unwrap(), Some((20, loc(20))));
        // The latest (kept in memory) and the ones before it (read from the file) agree.
        assert_eq!(c.checkpoint(20, true).unwrap(), Some((20, loc(20))));
        assert_eq!(c.checkpoint(19, true).unwrap(), None);
        assert_eq!(c.checkpoint(19, false).unwrap(), Some((8, loc(8))));
        let sizes = |v: Vec<(u64, Location)>| v.into_iter().map(|(s, _)| s).collect::<Vec<_>>();
        assert_eq!(sizes(c.checkpoints(3, 8, 10).unwrap()), [3, 7, 8]);
        assert_eq!(sizes(c.checkpoints(0, 100, 2).unwrap()), [1, 3]);
        assert_eq!(sizes(c.checkpoints(9, 19, 10).unwrap()), Vec::<u64>::new());
        // The marker vouches for the checkpoints up to the synced size only.
        c.sync(8).unwrap();
        drop(c);
        let c = Columns::open(dir.path()).unwrap();
        assert_eq!(c.checkpoint(100, false).unwrap(), Some((8, loc(8))));
        c.truncate(5).unwrap();
        assert_eq!(c.checkpoint(100, false).unwrap(), Some((3, loc(3))));
        assert_eq!(c.checkpoint(2, false).unwrap(), Some((1, loc(1))));
        c.add_checkpoint(8, loc(8)).unwrap();
        assert_eq!(c.checkpoint(8, true).unwrap(), Some((8, loc(8))));
        assert_eq!(sizes(c.checkpoints(0, 100, 10).unwrap()), [1, 3, 8]);
    }

    #[test]
    fn a_garbage_marker_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("columns.synced"), [0xa5; 24]).unwrap();
        assert!(matches!(
            Columns::open(dir.path()),
            Err(StoreError::IndexInconsistent(_))
        ));
    }
}
