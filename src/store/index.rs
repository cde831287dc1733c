//! The index: state derived from the segments, never the only copy of anything.
//!
//! Every byte of it is a function of the segment records alone, applied in log order, so
//! deleting the `index/` directory and replaying the segments gives the same answers. It has
//! two parts, each kept where its kind of data costs the least memory:
//!
//! - **Columns** (`columns.rs`): per-entry records read by position — location, leaf hash,
//!   time, kind, parties — the Merkle nodes of every level >= 1, where each checkpoint
//!   record is, by tree size, and (`postings.rs`) the entries of each party and kind. Fixed-size
//!   records at fixed offsets, close to tlog tiles: no engine does them better.
//! - **fjall** (`kv.rs`, under `fjall/`): everything looked up by key — the lookups by hash or
//!   name (`lookup.rs`: leaf hash → index, [`Claim`] → index, commitment → payload location,
//!   STIX id → indexes, commitment → indexes), the cosignatures by tree size and witness, and
//!   the index's version.
//!
//! A location is segment id (u32 BE) `\|\|` record offset (u64 BE) `\|\|` body length (u32 BE).
//!
//! Crash safety: each part knows the log size up to which it holds every record — the
//! columns' synced marker, the lookups' covered mark — always at a batch boundary. On open the
//! index is caught up by replaying the segments from the smaller of the two; rewriting a
//! column record is idempotent, and lookups are fed only the entries past their mark (a record
//! fed twice is kept once). Both are made durable at least once a second on their own thread
//! ([`Syncer`]), never on the sequencer's.
//!
//! Cosignatures arrive between batches and are few, so they are not part of that scheme: on
//! open, when the `cosignatures` keyspace does not hold exactly the segments' committed
//! Cosignature records, it is cleared and refilled from them (`reindex_cosignatures`).

use std::path::Path;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

use crate::format::entry;
use crate::format::entry::{Claim, IndexKeys, index_keys};
use crate::format::hash::{Hash, hash_from_slice, leaf_hash};
use crate::format::note::NoteSignature;
use crate::format::tree::{Frontier, NodeId, TreeSize};

use super::columns::{Columns, EntryRecord, party_fingerprint};
use super::kv::Kv;
use super::lookup::{
    Fingerprint, LookupKind, Lookups, Value, fingerprint, index_value, value_index,
};
use super::segment::{
    self, PAYLOAD_PREFIX_LEN, RawRecord, RecordKind, Recovered, ScanEnd, Segment,
};
use super::{IndexAction, StoreError, io};

/// Bump when any layout changes: an index of another version is rebuilt.
/// 2: claims of redactions; `payloads` holds only payloads not erased.
/// 3: `nodes` holds only even levels >= 2.
/// 4: per-entry data and checkpoints in columns, keyed lookups in runs; sled keeps
///    cosignatures only.
/// 5: party fingerprints made by `lookup::fingerprint`.
/// 6: entry and checkpoint records and the column marker carry a CRC-32 check; posting
///    lists by party and kind (`postings.rs`).
/// 7: lookups, cosignatures and meta in fjall (`kv.rs`); no sled, no lookup runs.
const INDEX_VERSION: u32 = 7;
const META_VERSION: &[u8] = b"version";

/// The columns are synced (and their marker moved) once this many entries were written
/// since the last sync, and at least every [`DURABLE_EVERY`] with fjall's journal: a crash
/// costs at most that much replay on open, and a sync's cost is spread over many batches.
const COLUMN_SYNC_EVERY: u64 = 1 << 16;
/// The longest stretch of appends a crash can make the next open replay into the index.
const DURABLE_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// Where a record lives in the segments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Location {
    pub segment: u32,
    pub offset: u64,
    pub len: u32,
}

impl Location {
    pub(crate) fn encode(&self) -> [u8; 16] {
        let mut b = [0u8; 16];
        b[..4].copy_from_slice(&self.segment.to_be_bytes());
        b[4..12].copy_from_slice(&self.offset.to_be_bytes());
        b[12..].copy_from_slice(&self.len.to_be_bytes());
        b
    }

    pub(crate) fn decode(b: &[u8]) -> Option<Self> {
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

/// The lookup key of a STIX id.
pub(crate) fn stix_id_key(stix_id: &str) -> Fingerprint {
    fingerprint(LookupKind::StixId, stix_id.as_bytes())
}

/// The lookup key of a commitment's payload location.
pub(crate) fn payload_key(commitment: &Hash) -> Fingerprint {
    fingerprint(LookupKind::Payload, commitment)
}

/// The lookup key of the entries naming a commitment.
pub(crate) fn commitment_key(commitment: &Hash) -> Fingerprint {
    fingerprint(LookupKind::Commitment, commitment)
}

/// The lookup key of a leaf hash.
pub(crate) fn leaf_key(leaf: &Hash) -> Fingerprint {
    fingerprint(LookupKind::Leaf, leaf)
}

/// The lookup key of a claim.
pub(crate) fn claim_key(claim: &Claim) -> Fingerprint {
    fingerprint(LookupKind::Claim, &claim.key())
}

/// The derived writes of one batch.
#[derive(Default)]
pub(crate) struct IndexBatch {
    /// Index of the batch's first entry.
    first: u64,
    records: Vec<EntryRecord>,
    nodes: Vec<(NodeId, Hash)>,
    /// (entry index the record belongs to, key, value).
    lookups: Vec<(u64, Fingerprint, Value)>,
    /// The batch's checkpoint: tree size and where its record is.
    checkpoint: Option<(u64, Location)>,
}

impl IndexBatch {
    /// A batch whose first entry will be `first`.
    pub fn new(first: u64) -> Self {
        Self {
            first,
            ..Self::default()
        }
    }

    /// Records where a payload of this batch is.
    pub fn add_payload(&mut self, commitment: &Hash, loc: Location) {
        self.lookups
            .push((self.first, payload_key(commitment), loc.encode()));
    }

    /// Records an entry: its location, leaf, the Merkle nodes it completes, its keys.
    pub fn add_entry(
        &mut self,
        loc: Location,
        leaf: &Hash,
        keys: &IndexKeys,
        nodes: &[(NodeId, Hash)],
    ) -> Result<(), StoreError> {
        let mut parties = [None, None];
        if keys.parties.len() > parties.len() {
            return Err(StoreError::IndexInconsistent(format!(
                "entry {} involves {} parties; the index holds two",
                keys.index,
                keys.parties.len()
            )));
        }
        for (slot, p) in parties.iter_mut().zip(&keys.parties) {
            *slot = Some(party_fingerprint(p));
        }
        self.records.push(EntryRecord {
            loc,
            leaf: *leaf,
            time_ms: keys.time_ms,
            kind: keys.kind as i32,
            parties,
        });
        self.nodes.extend_from_slice(nodes);
        let i = keys.index;
        let v = index_value(i);
        self.lookups.push((i, leaf_key(leaf), v));
        for c in &keys.claims {
            self.lookups.push((i, claim_key(c), v));
        }
        for s in &keys.stix_ids {
            self.lookups.push((i, stix_id_key(s), v));
        }
        for c in &keys.commitments {
            self.lookups.push((i, commitment_key(c), v));
        }
        Ok(())
    }

    /// Records the batch's checkpoint, signed at `size`, whose record is at `loc`.
    pub fn commit(&mut self, size: u64, loc: Location) {
        self.checkpoint = Some((size, loc));
    }
}

/// The open index: columns, and fjall for the lookups, cosignatures and meta.
pub(crate) struct Index {
    kv: Arc<Kv>,
    pub columns: Arc<Columns>,
    pub lookups: Lookups,
    /// Entries below this had their lookup records stored when the index was opened: a
    /// replay does not feed them again.
    lookup_from: u64,
    /// When the index was last made durable up to a batch (see [`DURABLE_EVERY`]).
    last_durable: std::sync::Mutex<std::time::Instant>,
    syncer: Syncer,
}

/// Makes the index durable off the sequencer's thread. Syncing every column file and fjall's
/// journal takes milliseconds; done inline once a second, a sync held up every append behind
/// it and made Submit's p99 (27 ms at 2,000/s, 7–10 ms without). The segments are durable
/// before the index is written, so the index may lag them: an open replays whatever its
/// marks do not cover.
struct Syncer {
    shared: Arc<SyncShared>,
    thread: Option<JoinHandle<()>>,
}

struct SyncShared {
    state: Mutex<SyncState>,
    changed: Condvar,
    columns: Arc<Columns>,
    kv: Arc<Kv>,
}

#[derive(Default)]
struct SyncState {
    /// The largest log size asked for (a batch boundary), and whether fjall's journal is
    /// synced too or only the columns.
    wanted: Option<(u64, bool)>,
    busy: bool,
    stop: bool,
}

impl Syncer {
    fn start(columns: Arc<Columns>, kv: Arc<Kv>) -> Result<Self, StoreError> {
        let shared = Arc::new(SyncShared {
            state: Mutex::default(),
            changed: Condvar::new(),
            columns,
            kv,
        });
        let for_thread = shared.clone();
        let thread = std::thread::Builder::new()
            .name("index-sync".into())
            .spawn(move || for_thread.run())
            .map_err(io("starting the index sync thread"))?;
        Ok(Syncer {
            shared,
            thread: Some(thread),
        })
    }

    /// Asks for the index to be made durable up to `size`; returns at once.
    fn request(&self, size: u64, journal: bool) {
        let mut state = self.shared.lock();
        state.wanted = Some(match state.wanted {
            Some((s, j)) => (s.max(size), j || journal),
            None => (size, journal),
        });
        drop(state);
        self.shared.changed.notify_all();
    }

    /// Waits until every sync asked for is done (before a close's own sync, or a truncate).
    fn drain(&self) {
        let mut state = self.shared.lock();
        while state.wanted.is_some() || state.busy {
            state = self
                .shared
                .changed
                .wait(state)
                .unwrap_or_else(|e| e.into_inner());
        }
    }
}

impl SyncShared {
    fn lock(&self) -> std::sync::MutexGuard<'_, SyncState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn run(&self) {
        loop {
            let (size, journal) = {
                let mut state = self.lock();
                while state.wanted.is_none() && !state.stop {
                    state = self.changed.wait(state).unwrap_or_else(|e| e.into_inner());
                }
                match state.wanted.take() {
                    Some(wanted) => {
                        state.busy = true;
                        wanted
                    }
                    None => return,
                }
            };
            // Every record below `size` was written before it was asked for. The journal may
            // hold batches past it too; they are durable with their own covered mark.
            let synced = self.columns.sync(size).and_then(|()| match journal {
                true => self.kv.persist(),
                false => Ok(()),
            });
            if let Err(e) = synced {
                // The segments hold everything; an open replays what the index lacks.
                tracing::warn!(size, error = %e, "making the index durable failed; it lags the log");
            }
            self.lock().busy = false;
            self.changed.notify_all();
        }
    }
}

impl Drop for Syncer {
    fn drop(&mut self) {
        self.shared.lock().stop = true;
        self.shared.changed.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Index {
    /// Opens (creating) the index in `dir`.
    fn open(dir: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir).map_err(io(format!("creating {}", dir.display())))?;
        let kv = Arc::new(Kv::open(&dir.join("fjall"))?);
        let columns = Arc::new(Columns::open(dir)?);
        let lookups = Lookups::new(kv.clone());
        let lookup_from = lookups.covered()?;
        let syncer = Syncer::start(columns.clone(), kv.clone())?;
        Ok(Self {
            syncer,
            kv,
            columns,
            lookups,
            lookup_from,
            last_durable: std::sync::Mutex::new(std::time::Instant::now()),
        })
    }

    /// Writes one batch: entry and node columns, lookups, then the checkpoint.
    pub fn apply(&self, b: IndexBatch) -> Result<(), StoreError> {
        let Some((size, loc)) = b.checkpoint else {
            return Err(StoreError::IndexInconsistent(
                "a batch reached the index without its checkpoint".into(),
            ));
        };
        self.columns.write_entries(b.first, &b.records)?;
        self.columns.write_nodes(&b.nodes)?;
        // A replay from below the lookups' mark has nothing for them until it passes it.
        if size > self.lookup_from {
            let from = self.lookup_from;
            let records = b.lookups.into_iter().filter(|&(i, ..)| i >= from);
            self.lookups
                .write(records.map(|(_, fp, v)| (fp, v)), size)?;
        }
        self.columns.add_checkpoint(size, loc)?;
        let mut last = self.last_durable.lock().unwrap_or_else(|e| e.into_inner());
        if last.elapsed() >= DURABLE_EVERY {
            self.syncer.request(size, true);
            *last = std::time::Instant::now();
        } else if size.saturating_sub(self.columns.synced()) >= COLUMN_SYNC_EVERY {
            self.syncer.request(size, false);
        }
        Ok(())
    }

    /// Makes everything durable at `size` (on close, never per append: the segments are
    /// durable), so the next open finds the index consistent.
    pub fn flush(&self, size: u64) -> Result<(), StoreError> {
        self.syncer.drain();
        self.columns.sync(size)?;
        self.kv.persist()
    }

    /// The log size up to which every part of the index is durable, None if it was never
    /// completely built.
    fn applied_size(&self) -> Result<Option<u64>, StoreError> {
        match self.kv.meta.get(META_VERSION)? {
            None => Ok(None),
            Some(v) if v.as_ref() != INDEX_VERSION.to_be_bytes() => {
                Err(StoreError::IndexInconsistent(format!(
                    "index version {} is not {INDEX_VERSION}",
                    hex::encode(&v)
                )))
            }
            Some(_) => Ok(Some(self.columns.synced().min(self.lookups.covered()?))),
        }
    }

    /// The largest size any part of the index claims to cover.
    fn claimed_size(&self) -> Result<u64, StoreError> {
        Ok(self.columns.synced().max(self.lookups.covered()?))
    }

    /// Marks a newly built index as complete: until then, an open rebuilds it.
    fn mark_built(&self) -> Result<(), StoreError> {
        self.kv
            .meta
            .insert(META_VERSION, &INDEX_VERSION.to_be_bytes()[..])?;
        self.kv.persist()
    }

    /// Whether the cosignature under `key` (see [`cosignature_key`]) is stored.
    pub fn has_cosignature(&self, key: &[u8]) -> Result<bool, StoreError> {
        Ok(self.kv.cosignatures.contains_key(key)?)
    }

    /// Stores a cosignature line under `key` (not synced: the segments hold it).
    pub fn add_cosignature(&self, key: &[u8], line: &str) -> Result<(), StoreError> {
        Ok(self.kv.cosignatures.insert(key, line.as_bytes())?)
    }

    /// Deletes every stored cosignature (before [`reindex_cosignatures`] refills them).
    pub fn clear_cosignatures(&self) -> Result<(), StoreError> {
        Ok(self.kv.cosignatures.clear()?)
    }

    /// The cosignature lines stored for tree size `size`, by key.
    pub fn cosignature_lines(&self, size: u64) -> Result<Vec<fjall::UserValue>, StoreError> {
        self.kv
            .cosignatures
            .prefix(size.to_be_bytes())
            .map(|kv| kv.value().map_err(StoreError::from))
            .collect()
    }

    /// The entry indexes stored under `key`, ascending.
    pub fn indexes(&self, key: &Fingerprint) -> Result<Vec<u64>, StoreError> {
        Ok(self.lookups.get(key)?.iter().map(value_index).collect())
    }

    /// Locations the lookups give for `commitment`'s payload (one, unless fingerprints
    /// collide; the caller checks the record).
    pub fn payload_locations(&self, commitment: &Hash) -> Result<Vec<Location>, StoreError> {
        self.lookups
            .get(&payload_key(commitment))?
            .iter()
            .map(|v| {
                Location::decode(v).ok_or_else(|| {
                    StoreError::IndexInconsistent("a payload location is malformed".into())
                })
            })
            .collect()
    }
}

/// Key of a cosignature in the `cosignatures` keyspace: by tree size, then by signing key.
pub(crate) fn cosignature_key(size: u64, sig: &NoteSignature) -> Vec<u8> {
    let mut k = Vec::with_capacity(12 + sig.name.len());
    k.extend_from_slice(&size.to_be_bytes());
    k.extend_from_slice(&sig.key_id);
    k.extend_from_slice(sig.name.as_bytes());
    k
}

/// Clears the `cosignatures` keyspace and refills it from every Cosignature record in the
/// (recovered, so committed) segments.
fn reindex_cosignatures(index: &Index, segments: &[Segment]) -> Result<u64, StoreError> {
    index.clear_cosignatures()?;
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
                index.add_cosignature(&cosignature_key(size, &sig), &sig.line())?;
                n += 1;
            }
            Ok(())
        })?;
    }
    Ok(n)
}

/// Replays segment records into the index, one index write per batch at its checkpoint.
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
            if self.pending_records == 0 {
                self.pending = IndexBatch::new(self.frontier.size().0);
            }
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
                self.pending.add_entry(loc, &leaf, &keys, &nodes)?;
            }
            RecordKind::Checkpoint => {
                std::str::from_utf8(&rec.body)
                    .map_err(|_| corrupt("checkpoint note is not UTF-8".into()))?;
                let mut batch = std::mem::take(&mut self.pending);
                batch.commit(self.frontier.size().0, loc);
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

/// Why the index cannot be trusted and must be rebuilt, or the size it can be caught up from.
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
    let claimed = index.claimed_size()?;
    if claimed > size {
        return Ok(Err(format!(
            "the index covers {claimed} entries but the segments hold {size}"
        )));
    }
    if applied == 0 {
        return Ok(Ok(0));
    }
    let last = applied - 1;
    let info = match index.columns.entry(last) {
        Ok(info) => info,
        Err(e) => return Ok(Err(format!("the index has no record of entry {last}: {e}"))),
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
    match Frontier::load(&*index.columns, TreeSize(applied)) {
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
    // Every record and node below `applied`, not only the last: a flipped bit anywhere in the
    // columns means a rebuild, never a wrong answer later. Reading every lookup record has
    // fjall check every block of them.
    if let Err(e) = index.columns.verify(applied) {
        return Ok(Err(format!("the index's columns are damaged: {e}")));
    }
    if let Err(e) = index.lookups.verify() {
        return Ok(Err(format!("the index's lookups are damaged: {e}")));
    }
    Ok(Ok(applied))
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
    // An index of an older layout (sled, lookup runs) has no `fjall/`: it is rebuilt.
    let existed = path.join("fjall").exists();
    let verdict = if !existed && path.exists() {
        Err("the index has an older layout".to_string())
    } else {
        match Index::open(path) {
            // A new index is built by catching up from nothing: no need to delete and reopen it.
            Ok(index) if !existed => Ok((index, 0)),
            Ok(index) => {
                // Like opening, reading damaged fjall files may panic: that too means "rebuild".
                let checked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    check(&index, segments, size, &recovered.tip, &recovered.frontier)
                }));
                match checked {
                    Ok(Ok(Ok(applied))) => Ok((index, applied)),
                    Ok(Ok(Err(why))) => Err(why),
                    Ok(Err(e)) => Err(format!("reading it failed: {e}")),
                    Err(_) => Err("fjall panicked while reading it".into()),
                }
            }
            Err(e @ StoreError::Locked { .. }) => return Err(e),
            Err(e) => Err(format!("opening it failed: {e}")),
        }
    };
    let (index, frontier, action) = match verdict {
        Ok((index, applied)) if applied == size && existed => {
            let frontier = Frontier::load(&*index.columns, TreeSize(size))?;
            tracing::info!(size, "index is consistent with the segments");
            (index, frontier, IndexAction::Consistent)
        }
        Ok((index, applied)) => {
            let (first, offset, frontier) = if applied == 0 {
                (0, 0, Frontier::new())
            } else {
                let info = index.columns.entry(applied - 1)?;
                let frontier = Frontier::load(&*index.columns, TreeSize(applied))?;
                (info.loc.segment as usize, info.loc.end(), frontier)
            };
            // What lies past `applied` is not known to be durable: write it again.
            index.syncer.drain();
            index.columns.truncate(applied)?;
            let frontier = replay(&index, segments, first, offset, frontier)?;
            if !existed {
                index.mark_built()?;
            }
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
            index.mark_built()?;
            tracing::info!(size, "rebuilt the index from the segments");
            (index, frontier, IndexAction::Rebuilt { reason: why })
        }
    };
    // Records past the log (of a batch a recovery cut) must not outlive it.
    index.syncer.drain();
    index.columns.truncate(size)?;
    if index.kv.cosignatures.len()? as u64 != recovered.cosignatures {
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
    fn lookup_keys_keep_kinds_apart() {
        // The same 32 bytes as a leaf, a payload's commitment and an item's commitment are
        // three different keys.
        let h = [7u8; 32];
        let keys = [leaf_key(&h), payload_key(&h), commitment_key(&h)];
        assert_ne!(keys[0], keys[1]);
        assert_ne!(keys[1], keys[2]);
        assert_ne!(keys[0], keys[2]);
    }
}
