//! Per-entry index data in fixed-size records, read by position: what grows with the log and
//! is looked up by entry index. Plain files at fixed offsets (close to tlog tiles) rather than
//! keys in the index's engine: a read is one `pread` with no lookup, and nothing of them is held
//! in memory per entry, so a long-running server's memory stays flat.
//!
//! Files, under the index directory:
//!
//! | file | record `i` | bytes |
//! | --- | --- | --- |
//! | `entries.col` | entry `i`: location (16) `\|\|` leaf hash (32) `\|\|` time_ms i64 BE (8) `\|\|` kind i32 BE (4) `\|\|` check (4) `\|\|` two party fingerprints (16 each, zeros when absent) | 96 |
//! | `nodes-LL.col` | the Merkle node of level `LL` (decimal, >= 1) and index `i` | 32 |
//! | `checkpoints.col` | the `i`-th checkpoint: tree size u64 BE `\|\|` location (16) of its record in the segments `\|\|` check (4) `\|\|` zero (4) | 32 |
//! | `columns.synced` | [`MARKER_MAGIC`] `\|\|` u64 BE size `\|\|` u64 BE checkpoint count `\|\|` check (4): every record of entries below the size, and that many checkpoint records, are durable | 28 |
//!
//! A *check* is CRC-32 (IEEE, crc32fast), u32 BE, of the record's position `i` (u64 BE; none
//! for the marker) followed by the record's other bytes in order: a flipped bit, or a record
//! written at the wrong place, reads as damage, never as a wrong answer. Node records carry
//! no check; [`Columns::verify`] recomputes every node from the leaves instead, and the
//! index's open compares the root with the segments'.
//!
//! Entry and node records are written at their fixed offsets without a sync, so rewriting one
//! is idempotent and a catch-up after a crash simply writes again from a size known to be
//! durable. Checkpoint records are appended in tree-size order, and appending one the file
//! already holds is a no-op. The durable point is the marker's: [`Columns::sync`] fdatasyncs
//! every column file and only then moves the marker. Reads never go past the store's visible
//! size (or the checkpoint count), so bytes beyond them are never trusted.
//!
//! Every length and count read from these files is bounded by the file's own length before
//! anything is allocated or read for it, and offsets are computed with checked arithmetic: a
//! damaged file is an [`StoreError::IndexInconsistent`], on which the index is rebuilt.
//!
//! Queries by party or kind read the posting lists (`postings.rs`), which are written, synced
//! and truncated with the columns; queries by time binary-search the time field of
//! `entries.col`, which never decreases along the log because the store refuses an entry that
//! goes back in time.

use std::fs::File;
use std::ops::ControlFlow;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use crate::format::hash::{Hash, node_hash};
use crate::format::tree::{NodeId, NodeSource};

use super::column_records::{
    CHECKPOINT_RECORD_LEN, ENTRY_RECORD_LEN, NODE_RECORD_LEN, damaged, decode_checkpoint_record,
    encode_checkpoint_record, encode_marker, offset_of, open_rw, read_marker,
};
pub(crate) use super::column_records::{EntryRecord, PartyFingerprint, party_fingerprint};
use super::index::Location;
use super::postings::{Postings, list_keys};
use super::{StoreError, io};

/// Nodes of one level recomputed per step of [`Columns::verify`].
const VERIFY_CHUNK: u64 = 4096;
/// Entries read per pread while scanning.
const SCAN_CHUNK: u64 = 1024;
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
    /// The entries by party and kind.
    postings: Postings,
}

/// The usable length of `checkpoints.col` and its last record, kept together: nearly every
/// receipt and proof is to the latest checkpoint, which this finds without reading the file.
#[derive(Debug, Clone, Copy, Default)]
struct CheckpointTail {
    count: u64,
    last: Option<(u64, Location)>,
}

impl Columns {
    /// Opens (creating) the column files in `dir` and reads the durable size from the marker;
    /// a marker that is not one is an error, so the caller rebuilds.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        let open = |name: &str| open_rw(&dir.join(name));
        let entries = open("entries.col")?;
        let checkpoints = open("checkpoints.col")?;
        let marker = open("columns.synced")?;
        let (synced, checkpoint_count) = read_marker(&marker)?;
        // Every checkpoint record the marker vouches for must be in the file, valid and in
        // order. The count is checked against the file before anything is read for it (sizes
        // increase, so there are at most `synced`), and the records are read a chunk at a time.
        let file_len = checkpoints
            .metadata()
            .map_err(io("reading the length of checkpoints.col"))?
            .len();
        if checkpoint_count > synced
            || checkpoint_count
                .checked_mul(CHECKPOINT_RECORD_LEN)
                .is_none_or(|need| need > file_len)
        {
            return Err(damaged(format!(
                "checkpoints.col ({file_len} bytes) does not hold the {checkpoint_count} records columns.synced vouches for (synced {synced})"
            )));
        }
        let mut last = None;
        let mut chunk = Vec::new();
        let mut i = 0;
        while i < checkpoint_count {
            let n = (checkpoint_count - i).min(SCAN_CHUNK);
            chunk.resize((n * CHECKPOINT_RECORD_LEN) as usize, 0);
            checkpoints
                .read_exact_at(&mut chunk, i * CHECKPOINT_RECORD_LEN)
                .map_err(io("reading checkpoints.col"))?;
            for r in chunk.chunks_exact(CHECKPOINT_RECORD_LEN as usize) {
                let (size, loc) = decode_checkpoint_record(r, i)?;
                let after = last.map_or(0, |(at, _)| at);
                if size <= after || size > synced {
                    return Err(damaged(format!(
                        "checkpoints.col record {i} is for tree size {size}, after {after} (synced {synced})"
                    )));
                }
                last = Some((size, loc));
                i += 1;
            }
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
            postings: Postings::open(dir, synced)?,
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
            nodes.push(Arc::new(open_rw(&path)?));
        }
        Ok(nodes[i].clone())
    }

    /// Writes the records of consecutive entries starting at `first`.
    pub fn write_entries(&self, first: u64, records: &[EntryRecord]) -> Result<(), StoreError> {
        let mut buf = Vec::with_capacity(records.len() * ENTRY_RECORD_LEN as usize);
        for (i, r) in (first..).zip(records) {
            buf.extend_from_slice(&r.encode(i));
        }
        self.entries
            .write_all_at(&buf, offset_of(first, ENTRY_RECORD_LEN, "entries.col")?)
            .map_err(io(format!("writing entries.col at entry {first}")))?;
        self.postings.append(first, records)
    }

    /// The entries by party and kind.
    pub fn postings(&self) -> &Postings {
        &self.postings
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
                    .write_all_at(&buf, offset_of(first, NODE_RECORD_LEN, "node")?)
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
            .read_exact_at(&mut b, offset_of(index, ENTRY_RECORD_LEN, "entries.col")?)
            .map_err(|e| {
                StoreError::IndexInconsistent(format!("entries.col has no entry {index}: {e}"))
            })?;
        EntryRecord::decode(&b, index).ok_or_else(|| {
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
                .read_exact_at(&mut buf, offset_of(at, ENTRY_RECORD_LEN, "entries.col")?)
                .map_err(|e| {
                    StoreError::IndexInconsistent(format!(
                        "entries.col lacks entries {at}..{}: {e}",
                        at + n
                    ))
                })?;
            for (i, chunk) in buf.chunks_exact(ENTRY_RECORD_LEN as usize).enumerate() {
                let index = at + i as u64;
                let r = EntryRecord::decode(chunk, index).ok_or_else(|| {
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

    /// Checks that `entries.col` holds a valid record of every entry below `size` and that
    /// every Merkle node of levels >= 1 below it is the hash of its two children: with the
    /// root compared to the segments' (the index's open does that), every leaf and node is
    /// then right. Reads each file once, in order, a chunk at a time; the error names the
    /// first damage found.
    pub fn verify(&self, size: u64) -> Result<(), StoreError> {
        for level in 1..64u8 {
            let count = size >> level;
            if count == 0 {
                break;
            }
            let mut i = 0;
            while i < count {
                let n = (count - i).min(VERIFY_CHUNK);
                let children = self.read_level(level - 1, 2 * i, 2 * n)?;
                let parents = self.read_level(level, i, n)?;
                for (k, (pair, parent)) in children.chunks_exact(2).zip(&parents).enumerate() {
                    if node_hash(&pair[0], &pair[1]) != *parent {
                        return Err(damaged(format!(
                            "Merkle node at level {level} index {} is not the hash of its children",
                            i + k as u64
                        )));
                    }
                }
                i += n;
            }
        }
        // Level 1 read every leaf but an odd last one.
        if size % 2 == 1 {
            self.entry(size - 1)?;
        }
        // Posting lists hold exactly the entries the marker vouches for (they were cut to it
        // on open): counted from entries.col, whose records' checks this reads too.
        let synced = self.synced();
        let mut expected = std::collections::HashMap::new();
        self.scan(0, synced, |_, r| {
            for key in list_keys(r) {
                *expected.entry(key).or_insert(0u64) += 1;
            }
            ControlFlow::Continue(())
        })?;
        self.postings.verify(synced, &expected)
    }

    /// `n` consecutive nodes of `level` from `first` (level 0: the leaves in `entries.col`).
    fn read_level(&self, level: u8, first: u64, n: u64) -> Result<Vec<Hash>, StoreError> {
        let mut out = Vec::with_capacity(n as usize);
        if level == 0 {
            self.scan(first, first.saturating_add(n), |_, r| {
                out.push(r.leaf);
                ControlFlow::Continue(())
            })?;
            return Ok(out);
        }
        let len = n
            .checked_mul(NODE_RECORD_LEN)
            .ok_or_else(|| damaged(format!("{n} nodes of level {level} are too many")))?;
        let mut buf = vec![0u8; len as usize];
        self.level_file(level)?
            .read_exact_at(&mut buf, offset_of(first, NODE_RECORD_LEN, "node")?)
            .map_err(|e| {
                damaged(format!(
                    "nodes-{level:02}.col lacks nodes {first}..{}: {e}",
                    first.saturating_add(n)
                ))
            })?;
        for c in buf.chunks_exact(NODE_RECORD_LEN as usize) {
            let mut h = [0u8; 32];
            h.copy_from_slice(c);
            out.push(h);
        }
        Ok(out)
    }

    /// Appends the record of the checkpoint signed at `size`, unless the file already holds
    /// it (a catch-up replays from a batch boundary whose checkpoint is kept).
    pub fn add_checkpoint(&self, size: u64, loc: Location) -> Result<(), StoreError> {
        let CheckpointTail { count, last } = self.tail();
        if last.is_some_and(|(at, _)| at >= size) {
            return Ok(());
        }
        let b = encode_checkpoint_record(size, loc, count);
        self.checkpoints
            .write_all_at(
                &b,
                offset_of(count, CHECKPOINT_RECORD_LEN, "checkpoints.col")?,
            )
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
            .read_exact_at(
                &mut b,
                offset_of(i, CHECKPOINT_RECORD_LEN, "checkpoints.col")?,
            )
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
            .read_exact_at(&mut h, offset_of(id.index, NODE_RECORD_LEN, "node")?)
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
        self.postings.sync()?;
        let m = encode_marker(size, self.checkpoints_up_to(size)?);
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
            .set_len(offset_of(keep, CHECKPOINT_RECORD_LEN, "checkpoints.col")?)
            .map_err(io("truncating checkpoints.col"))?;
        *self
            .checkpoint_tail
            .write()
            .unwrap_or_else(|e| e.into_inner()) = CheckpointTail { count: keep, last };
        self.entries
            .set_len(offset_of(size, ENTRY_RECORD_LEN, "entries.col")?)
            .map_err(io("truncating entries.col"))?;
        self.postings.truncate(size)?;
        let nodes = self.nodes.read().unwrap_or_else(|e| e.into_inner()).clone();
        for (i, f) in nodes.iter().enumerate() {
            let level = i + 1;
            f.set_len(offset_of(size >> level, NODE_RECORD_LEN, "node")?)
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
            assert_eq!(EntryRecord::decode(&r.encode(i), i), Some(r.clone()));
            // The check covers the record's bytes and its place.
            assert_eq!(EntryRecord::decode(&r.encode(i), i + 1), None);
            let mut flipped = r.encode(i);
            flipped[70] ^= 1;
            assert_eq!(EntryRecord::decode(&flipped, i), None);
        }
        assert_eq!(EntryRecord::decode(&[0u8; 95], 0), None);
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
            if r.parties.contains(&Some(vendor)) {
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

    /// A marker with a good check that vouches for more checkpoint records than the file
    /// holds (or than the synced size allows) is damage, found before anything is allocated
    /// for them.
    #[test]
    fn a_marker_vouching_for_absurd_counts_is_an_error_not_an_abort() {
        for (size, count) in [
            (u64::MAX, u64::MAX / 2),
            (u64::MAX, 1 << 40),
            (3, 4),
            (10, 1),
        ] {
            let dir = tempfile::tempdir().unwrap();
            std::fs::write(
                dir.path().join("columns.synced"),
                encode_marker(size, count),
            )
            .unwrap();
            match Columns::open(dir.path()) {
                Err(StoreError::IndexInconsistent(why)) => {
                    assert!(why.contains("vouches for"), "{why}")
                }
                other => panic!("{size} {count}: {:?}", other.map(|c| c.synced())),
            }
        }
    }

    #[test]
    fn verify_finds_a_wrong_node_and_a_damaged_entry() {
        let dir = tempfile::tempdir().unwrap();
        let c = Columns::open(dir.path()).unwrap();
        fill(&c, 1000, 37);
        // Posting lists are checked against the synced entries (as an open leaves them).
        c.sync(1000).unwrap();
        c.verify(1000).unwrap();
        let node = dir.path().join("nodes-03.col");
        let mut bytes = std::fs::read(&node).unwrap();
        bytes[32 * 50 + 3] ^= 0x10;
        std::fs::write(&node, &bytes).unwrap();
        let why = c.verify(1000).unwrap_err().to_string();
        assert!(
            why.contains("level 3 index 50") || why.contains("level 4 index 25"),
            "{why}"
        );
        bytes[32 * 50 + 3] ^= 0x10;
        std::fs::write(&node, &bytes).unwrap();
        c.verify(1000).unwrap();
        // A damaged entry record, the last of an odd-sized log (no node's child) included.
        let entries = dir.path().join("entries.col");
        let mut bytes = std::fs::read(&entries).unwrap();
        bytes[96 * 998 + 90] ^= 1;
        std::fs::write(&entries, &bytes).unwrap();
        let why = c.verify(999).unwrap_err().to_string();
        assert!(why.contains("record 998"), "{why}");
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
