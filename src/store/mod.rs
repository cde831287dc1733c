//! Durable storage of the log: checksummed, append-only segment files are the truth; the index
//! (column files and a fjall database) holds only what is derived from them (docs/DESIGN.md,
//! "Storage"; `store/index.rs` says what lives where).
//!
//! Layout of a store directory:
//!
//! - `segments/00000000.seg`, ...: records of entries, payloads and checkpoints, one
//!   fdatasync per batch; the batch's checkpoint record is its commit marker. Witnesses'
//!   cosignatures are records of their own between batches, each synced as it is stored. The byte format
//!   is documented in `store/segment.rs`.
//! - `index/`: state derived from the segments (`store/index.rs` documents it): entry and
//!   payload locations, Merkle nodes for O(log n) proofs, checkpoints, claims, and lookups by
//!   party, kind, time, STIX id and commitment — per-entry column files, and fjall for
//!   everything looked up by key. Deleting it is always safe.
//! - `LOCK`: held (flock) by the open store, so no second store recovers, truncates or
//!   rebuilds under it.
//!
//! On [`Store::open`] the segments are recovered (an unacknowledged torn tail is cut, damage to
//! committed data is an error), then the index is checked against them and caught up, or
//! deleted and rebuilt when it is unreadable or disagrees.
//!
//! Erasure: a Redaction entry and the erasure of the payload it names are one promise the
//! store keeps itself. [`Store::append`] erases (overwrites in place, fdatasync) the payload of
//! every Redaction entry in the batch before the batch becomes visible; [`Store::open`]
//! finishes any erasure a crash interrupted, so on every open each Redaction entry's payload
//! is gone from the segments, and the index never held content to begin with.
//!
//! One writer (the sequencer) calls [`Store::append`]; any number of readers call the other
//! methods concurrently. A batch becomes visible to readers only once it is synced to the
//! segments and indexed.
//!
//! The interface is deliberately narrow — append a batch, read entries, payloads, checkpoints
//! and proofs, look up claims, scan — and knows nothing of gRPC, so that a backend on a
//! replicated engine (PostgreSQL with synchronous standbys, as docs/DESIGN.md plans) can
//! implement the same calls.

mod column_records;
mod columns;
mod faults;
#[doc(hidden)]
pub mod fuzzing;
mod index;
mod kv;
mod lookup;
mod nodes;
pub mod postgres;
mod postings;
mod prepared;
mod seam;
mod segment;

pub use faults::Faults;
pub use prepared::{CheckedPayload, PreparedBatch, PreparedEntry};
pub use seam::LogStore;

use std::fs::File;
use std::ops::ControlFlow;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use crate::format::entry::{self, Claim, index_keys};
use crate::format::hash::{Hash, SALT_LEN};
use crate::format::note::NoteSignature;
use crate::format::tree::{self, Frontier, LeafIndex, TreeSize};
use crate::format::{FormatError, consistency, inclusion};
use crate::pb;

use columns::party_fingerprint;
use index::{Index, IndexBatch, Location};
use nodes::NodeCache;
use segment::{RecordKind, SegmentWriter};

/// Everything that can go wrong storing or reading the log.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A file-system operation failed; `context` says which and on what file.
    #[error("{context}: {source}")]
    Io {
        /// What was being done, on which path.
        context: String,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// Committed data in a segment is damaged or out of order; never repaired silently.
    #[error("segment {segment:08}.seg is corrupt at offset {offset}: {reason}")]
    Corrupt {
        /// Segment id (file `<id:08>.seg`).
        segment: u32,
        /// Byte offset of the bad record in that file.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
    /// The index's key-value engine (fjall) failed.
    #[error("index engine: {0}")]
    Index(#[from] fjall::Error),
    /// The index disagrees with itself or the segments while running; reopening the store
    /// checks it and rebuilds it.
    #[error("index is inconsistent: {0}")]
    IndexInconsistent(String),
    /// A batch entry does not continue the log (wrong index or prev_leaf_hash); nothing of the
    /// batch was written.
    #[error("entry at log position {position} does not continue the log: {reason}")]
    NotContiguous {
        /// The index the entry should have had.
        position: u64,
        /// What does not match.
        reason: String,
    },
    /// Entry bytes of a batch that do not decode (or lack a kind, or hold a malformed
    /// disclosure body); nothing of the batch was written.
    #[error("entry at log position {position}: {source}")]
    MalformedEntry {
        /// The index the entry would have had.
        position: u64,
        /// What the decoder found.
        source: FormatError,
    },
    /// A tree computation refused its arguments (e.g. consistency from a larger to a smaller
    /// tree).
    #[error(transparent)]
    Format(#[from] FormatError),
    /// A batch with no entry: there is nothing to checkpoint.
    #[error("a batch must hold at least one entry")]
    EmptyBatch,
    /// A payload whose salt and content do not hash to its commitment; nothing was written.
    #[error("payload content and salt do not match commitment {commitment}")]
    PayloadMismatch {
        /// Hex of the claimed commitment.
        commitment: String,
    },
    /// Something that may be in the log only once is already there; nothing was written.
    #[error("{claim} is already held by entry {index}")]
    AlreadyClaimed {
        /// The claim, in words.
        claim: String,
        /// The entry that holds it (possibly earlier in the same batch).
        index: u64,
    },
    /// A tree size beyond what the log holds.
    #[error("tree size {size} is beyond the log's size {current}")]
    TreeSize {
        /// The size asked for.
        size: u64,
        /// The log's size.
        current: u64,
    },
    /// A leaf index not inside the tree size it was asked in.
    #[error("leaf index {index} is not inside a tree of size {size}")]
    IndexOutOfRange {
        /// The leaf index.
        index: u64,
        /// The tree size.
        size: u64,
    },
    /// A record too large for the u32 length field of the segment format.
    #[error("record of {len} bytes exceeds the 4 GiB record limit")]
    RecordTooLarge {
        /// Body length.
        len: usize,
    },
    /// An earlier append failed part-way and could not be undone in place (the cut of a failed
    /// write failed, or the index update did); further appends are refused until the store is
    /// reopened (recovery then cuts or indexes what that append left).
    #[error(
        "an earlier append failed part-way and could not be undone; restart the server to recover the store"
    )]
    Poisoned,
    /// A cosignature for a tree size at which no checkpoint was signed; nothing was written.
    #[error("no checkpoint was signed at tree size {size}")]
    NoCheckpoint {
        /// The tree size asked for.
        size: u64,
    },
    /// The database cannot be reached (or is restarting, or read-only during a fail-over); the
    /// call may be tried again. Nothing was appended.
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    /// Another process holds the writer role of this log; this one serves reads only. Nothing
    /// was appended.
    #[error("this server is not the log's writer; the writer is {writer}")]
    NotWriter {
        /// Host and process id of the writer the database names (empty: none yet).
        writer: String,
    },
    /// The connection failed while a batch's commit was under way and the database could not
    /// be asked afterwards whether it was committed: it may or may not be in the log.
    #[error(
        "the database connection failed during the commit and the outcome is unknown: {0}; look the entries up before submitting again"
    )]
    OutcomeUnknown(String),
    /// The database refused a statement for a reason other than unavailability (a schema
    /// mismatch, a constraint broken by a bug).
    #[error("database error: {0}")]
    Database(String),
    /// Another store (in this process or another) has the directory or its index open, or
    /// one that was dropped has not let go of its fjall database yet.
    #[error("{path} is locked by another store")]
    Locked {
        /// The lock file or the index directory.
        path: PathBuf,
    },
}

/// Names of the fjall keyspaces under `<dir>/index/fjall`, for tools and tests that inspect
/// the derived state (their layout is documented in `store/kv.rs`).
pub const INDEX_KEYSPACES: &[&str] = &kv::KEYSPACES;

/// Tuning for a [`Store`]; the default suits production.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// A new segment file is started before a batch that would take the current one past this
    /// size (a single larger batch still goes whole into one file).
    pub segment_max_bytes: u64,
    /// Injected disk faults, for tests; off by default (see [`Faults`]).
    pub faults: Faults,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            segment_max_bytes: 128 << 20,
            faults: Faults::default(),
        }
    }
}

/// One item's content beside its commitment, kept apart from the entry so it can be erased
/// without touching the chain (docs/DESIGN.md, "Disclosures and payloads").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payload {
    /// `SHA-256("borderlog/item/v1\n" || salt || content)`.
    pub commitment: Hash,
    /// The commitment's salt.
    pub salt: [u8; SALT_LEN],
    /// The item's STIX JSON bytes (shared, not copied, on their way from the request to the
    /// segment).
    pub content: bytes::Bytes,
}

/// What [`Store::open`] found and did, for operators' logs and for tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenReport {
    /// Entries in the log after recovery.
    pub size: TreeSize,
    /// Bytes of an unacknowledged tail (torn write, batch without checkpoint) cut off the last
    /// segment; 0 after a clean shutdown.
    pub cut_bytes: u64,
    /// What was done to bring the index level with the segments.
    pub index: IndexAction,
    /// Payloads named by a Redaction entry but still in the segments (a crash came between
    /// the entry and the overwrite, or during the overwrite), erased on open.
    pub erasures_finished: usize,
}

/// How the index was brought level with the segments on open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IndexAction {
    /// It already matched the segments.
    Consistent,
    /// There was none; it was built from the segments.
    Built,
    /// It was behind (lost its last writes); the missing batches were replayed.
    CaughtUp {
        /// The size it had covered.
        from: TreeSize,
    },
    /// It was unreadable or disagreed with the segments; it was deleted and rebuilt.
    Rebuilt {
        /// Why it could not be used.
        reason: String,
    },
}

/// State only the writer touches.
struct Writer {
    segments: SegmentWriter,
    frontier: Frontier,
    tip: Hash,
    /// Server time of the last entry: the next may not be earlier (queries by time
    /// binary-search the log).
    last_time_ms: i64,
    poisoned: bool,
}

/// The log's durable store: segments plus the index derived from them.
/// `Send + Sync`: share it (e.g. in an `Arc`) between the sequencer and the readers.
pub struct Store {
    index: Index,
    /// The newest Merkle nodes of each level, so receipts' proofs and roots read no file.
    nodes: NodeCache,
    /// Segment handles by id, for positioned reads; grows when the writer rolls.
    files: RwLock<Vec<Arc<File>>>,
    writer: Mutex<Writer>,
    /// Entries visible to readers: advanced only after the batch is synced and indexed.
    size: AtomicU64,
    /// Payload reads hold it shared and erasures exclusively, so no reader sees a record
    /// half overwritten.
    erasure: RwLock<()>,
    /// The checkpoint note read last, by where it lies: nearly every receipt and proof asks
    /// for the latest one, and a note never changes once written.
    last_note: RwLock<Option<(Location, Arc<str>)>>,
    report: OpenReport,
    /// Held (flock) for the store's lifetime so no second store recovers or rebuilds under us.
    _lock: File,
}

/// Maps an I/O error to [`StoreError::Io`] with what was being done: the one helper of the
/// store's modules.
pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> StoreError {
    let context = context.into();
    move |source| StoreError::Io { context, source }
}

impl Store {
    /// Opens (creating if needed) the store in `dir`: recovers the segments, then checks the
    /// index against them and catches it up or rebuilds it.
    pub fn open(dir: &Path, opts: StoreOptions) -> Result<Store, StoreError> {
        let seg_dir = dir.join("segments");
        let created = !seg_dir.exists();
        std::fs::create_dir_all(&seg_dir).map_err(io(format!("creating {}", seg_dir.display())))?;
        if created {
            segment::sync_dir(dir)?;
            if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
                segment::sync_dir(parent)?;
            }
        }
        let lock_path = dir.join("LOCK");
        let lock = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&lock_path)
            .map_err(io(format!("opening {}", lock_path.display())))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(StoreError::Locked { path: lock_path });
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(io(format!("locking {}", lock_path.display()))(e));
            }
        }

        let recovered = segment::recover(&seg_dir)?;
        let (index, action) = index::open_consistent(&dir.join("index"), &recovered)?;
        let last = recovered
            .segments
            .last()
            .cloned()
            .ok_or_else(|| StoreError::IndexInconsistent("no segment after recovery".into()))?;
        let files = recovered.segments.iter().map(|s| s.file.clone()).collect();
        let nodes = NodeCache::load(&index.columns, TreeSize(recovered.size))?;
        let last_time_ms = match recovered.size {
            0 => i64::MIN,
            n => index.columns.entry(n - 1)?.time_ms,
        };
        let mut store = Store {
            index,
            nodes,
            last_note: RwLock::new(None),
            files: RwLock::new(files),
            writer: Mutex::new(Writer {
                segments: SegmentWriter::new(
                    seg_dir,
                    last,
                    opts.segment_max_bytes,
                    opts.faults.clone(),
                ),
                frontier: recovered.frontier,
                tip: recovered.tip,
                last_time_ms,
                poisoned: false,
            }),
            size: AtomicU64::new(recovered.size),
            erasure: RwLock::new(()),
            report: OpenReport {
                size: TreeSize(recovered.size),
                cut_bytes: recovered.cut_bytes,
                index: action,
                erasures_finished: recovered.torn_erasures,
            },
            _lock: lock,
        };
        store.report.erasures_finished += store.finish_erasures()?;
        Ok(store)
    }

    /// Erases the payload of every Redaction entry whose payload is still stored: the crash
    /// recovery of an append that wrote its Redaction entries but not (all of) their erasure.
    /// Returns how many payloads it erased.
    fn finish_erasures(&self) -> Result<usize, StoreError> {
        let redactions = self.scan(LeafIndex(0), None, &[pb::EntryKind::Redaction], usize::MAX)?;
        let mut commitments = Vec::new();
        for index in redactions {
            let bytes = self.entry(index)?.ok_or_else(|| {
                StoreError::IndexInconsistent(format!("redaction entry {} vanished", index.0))
            })?;
            let e = entry::decode(&bytes)?;
            commitments.extend(index_keys(&e)?.commitments);
        }
        let erased = self.erase(&commitments)?;
        if erased > 0 {
            tracing::warn!(
                erased,
                "finished erasing payloads whose Redaction entries were written before a crash"
            );
        }
        Ok(erased)
    }

    /// Overwrites the stored payloads of `commitments` in place — same length, kind
    /// ErasedPayload, salt and content zeroed, new checksum — and fdatasyncs every file
    /// touched. The index keeps the location: reading it finds the ErasedPayload record, and a
    /// crash before the sync is found and finished on open. Already erased or unknown
    /// commitments are skipped. Returns how many were erased.
    fn erase(&self, commitments: &[Hash]) -> Result<usize, StoreError> {
        let mut touched: Vec<u32> = Vec::new();
        let mut erased_count = 0;
        {
            let _guard = self.erasure.write().unwrap_or_else(|e| e.into_inner());
            for commitment in commitments {
                let Some((loc, file, rec)) = self.payload_record(commitment)? else {
                    continue;
                };
                if rec.kind == RecordKind::Payload {
                    let erased = segment::erased_record(commitment, loc.len)?;
                    file.write_all_at(&erased, loc.offset).map_err(io(format!(
                        "erasing a payload in segment {} at offset {}",
                        loc.segment, loc.offset
                    )))?;
                    if !touched.contains(&loc.segment) {
                        touched.push(loc.segment);
                    }
                    erased_count += 1;
                }
            }
            for id in &touched {
                self.file(*id)?
                    .sync_data()
                    .map_err(io(format!("syncing segment {id} after an erasure")))?;
            }
        }
        Ok(erased_count)
    }

    /// What opening this store found and did (tail cut, index caught up or rebuilt).
    pub fn open_report(&self) -> &OpenReport {
        &self.report
    }

    /// Makes the index durable at the log's size, so the next open finds it consistent
    /// instead of catching up. Not needed for durability (the segments are): for a clean
    /// stop, where other holders of the store may outlive the server.
    pub fn flush_index(&self) -> Result<(), StoreError> {
        let _writer = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        self.index.flush(self.size().0)
    }

    /// Entries visible to readers.
    pub fn size(&self) -> TreeSize {
        TreeSize(self.size.load(Ordering::Acquire))
    }

    /// Size and leaf hash of the last entry (ZERO_HASH when empty) — the sequencer's next
    /// index and prev_leaf_hash. Waits for an append in progress.
    pub fn tip(&self) -> (TreeSize, Hash) {
        // After a panic inside append the state is still the last committed one (it changes
        // only at the very end); append itself refuses to continue.
        let w = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        (w.frontier.size(), w.tip)
    }

    /// Appends one batch as a transaction: payload records, entry records, one checkpoint
    /// record, one fdatasync, then the index; nothing is visible before all of that is done.
    ///
    /// The batch's entries must continue the log: their indexes follow on, their
    /// prev_leaf_hash chains and their times do not go back (else
    /// [`StoreError::NotContiguous`], nothing written); their claims must be new. Leaf hashes,
    /// index keys and payload commitments come computed with the batch ([`PreparedBatch`]).
    /// `sign_checkpoint` is called once with the new size and root and returns the signed
    /// checkpoint note, written as the batch's commit record. Returns the leaf hash of each
    /// entry.
    ///
    /// When writing or syncing the batch fails (a full disk, a failing fdatasync), the bytes it
    /// left are cut off the segment and the cut is synced: the batch is not in the log, its
    /// claims are free again, and the next append may succeed as soon as the disk does. When
    /// that cut fails, or the index update fails after the batch is durable, or
    /// `sign_checkpoint` panics, the store refuses further appends ([`StoreError::Poisoned`])
    /// until it is reopened; reopening cuts or indexes what the failed append left.
    pub fn append(
        &self,
        batch: &PreparedBatch,
        sign_checkpoint: impl FnOnce(TreeSize, Hash) -> String,
    ) -> Result<Vec<Hash>, StoreError> {
        let mut w = self.writer.lock().map_err(|_| StoreError::Poisoned)?;
        if w.poisoned {
            return Err(StoreError::Poisoned);
        }
        let (entries, payloads) = (&batch.entries, &batch.payloads);
        if entries.is_empty() {
            return Err(StoreError::EmptyBatch);
        }

        // Validate everything before writing a byte.
        let base = w.frontier.size().0;
        let mut prev = w.tip;
        let mut prev_time = w.last_time_ms;
        let mut leaves = Vec::with_capacity(entries.len());
        let mut batch_claims: Vec<(Vec<u8>, u64)> = Vec::new();
        let mut redacted: Vec<Hash> = Vec::new();
        // Looked up already at this very size (nothing appended since): only the batch's own
        // claims can clash.
        let claims_looked_up = batch.claims_free_at == Some(w.frontier.size());
        for (i, e) in entries.iter().enumerate() {
            let position = base + i as u64;
            let k = e.keys();
            if k.index != position {
                return Err(StoreError::NotContiguous {
                    position,
                    reason: format!("the entry says index {}", k.index),
                });
            }
            if e.prev_leaf_hash() != Some(prev) {
                return Err(StoreError::NotContiguous {
                    position,
                    reason: format!(
                        "prev_leaf_hash is {}, the previous leaf hash is {}",
                        e.prev_leaf_hash()
                            .map_or_else(|| "not 32 bytes".into(), hex::encode),
                        hex::encode(prev)
                    ),
                });
            }
            if k.time_ms < prev_time {
                return Err(StoreError::NotContiguous {
                    position,
                    reason: format!(
                        "time_ms {} is before the previous entry's {prev_time}",
                        k.time_ms
                    ),
                });
            }
            prev_time = k.time_ms;
            if k.kind == pb::EntryKind::Redaction {
                redacted.extend_from_slice(&k.commitments);
            }
            for c in &k.claims {
                let key = c.key();
                let held = match batch_claims.iter().find(|(k2, _)| *k2 == key) {
                    Some((_, i)) => Some(*i),
                    None if claims_looked_up => None,
                    None => self.claimed(c)?.map(|i| i.0),
                };
                if let Some(index) = held {
                    return Err(StoreError::AlreadyClaimed {
                        claim: c.to_string(),
                        index,
                    });
                }
                batch_claims.push((key, position));
            }
            prev = e.leaf_hash();
            leaves.push(prev);
        }

        let mut frontier = w.frontier.clone();
        let nodes: Vec<_> = leaves.iter().map(|l| frontier.push(*l)).collect();
        let new_size = frontier.size();
        let note = sign_checkpoint(new_size, frontier.root());

        // Frame the batch: payloads, entries, then the checkpoint as commit marker.
        let mut buf = Vec::new();
        let mut payload_at = Vec::with_capacity(payloads.len());
        for p in payloads.iter().map(CheckedPayload::payload) {
            payload_at.push(buf.len() as u64);
            segment::encode_record(
                &mut buf,
                RecordKind::Payload,
                &[&p.commitment, &p.salt, &p.content],
            )?;
        }
        let mut entry_at = Vec::with_capacity(entries.len());
        for e in entries {
            entry_at.push(buf.len() as u64);
            segment::encode_record(&mut buf, RecordKind::Entry, &[e.bytes()])?;
        }
        let checkpoint_at = buf.len() as u64;
        segment::encode_record(&mut buf, RecordKind::Checkpoint, &[note.as_bytes()])?;

        let (seg_id, offset) = self.write_transaction(&mut w, &buf)?;

        let mut batch = IndexBatch::new(base);
        for (p, at) in payloads
            .iter()
            .map(CheckedPayload::payload)
            .zip(&payload_at)
        {
            let loc = Location {
                segment: seg_id,
                offset: offset + at,
                len: (segment::PAYLOAD_PREFIX_LEN + p.content.len()) as u32,
            };
            batch.add_payload(&p.commitment, loc);
        }
        for (i, e) in entries.iter().enumerate() {
            let loc = Location {
                segment: seg_id,
                offset: offset + entry_at[i],
                len: e.bytes().len() as u32,
            };
            if let Err(e) = batch.add_entry(loc, &leaves[i], e.keys(), &nodes[i]) {
                w.poisoned = true;
                return Err(e);
            }
        }
        batch.commit(
            new_size.0,
            Location {
                segment: seg_id,
                offset: offset + checkpoint_at,
                len: note.len() as u32,
            },
        );
        if let Err(e) = self.index.apply(batch) {
            // The batch is durable but not indexed: reopening catches the index up.
            w.poisoned = true;
            return Err(e);
        }
        self.nodes.extend(nodes.iter().flatten());
        // The Redaction entries are durable: now erase what they name, before anyone sees them.
        if let Err(e) = self.erase(&redacted) {
            // Reopening finishes the erasure (`finish_erasures`).
            w.poisoned = true;
            return Err(e);
        }

        w.frontier = frontier;
        w.tip = prev;
        w.last_time_ms = prev_time;
        self.size.store(new_size.0, Ordering::Release);
        Ok(leaves)
    }

    /// Whether appends are refused until the store is reopened ([`StoreError::Poisoned`]): an
    /// append or a cosignature failed after its bytes may have reached the segment and could
    /// not be undone, or a writer panicked holding the lock.
    pub fn is_poisoned(&self) -> bool {
        self.writer.lock().map_or(true, |w| w.poisoned)
    }

    /// [`Store::append`] for entry bytes and payloads made elsewhere (tools, tests): decodes
    /// and hashes them first ([`PreparedBatch::from_bytes`]).
    pub fn append_bytes(
        &self,
        entries: &[Vec<u8>],
        payloads: &[Payload],
        sign_checkpoint: impl FnOnce(TreeSize, Hash) -> String,
    ) -> Result<Vec<Hash>, StoreError> {
        let batch = PreparedBatch::from_bytes(self.tip().0.0, entries, payloads)?;
        self.append(&batch, sign_checkpoint)
    }

    /// Stores a witness's cosignature of the checkpoint signed at `size`, durably: one
    /// Cosignature record and one fdatasync (a transaction of its own, see `store/segment.rs`),
    /// then the index. Returns false, writing nothing, when the same key (name and key id) has
    /// already cosigned that size: the first cosignature stays, so storing is idempotent.
    ///
    /// The store does not check signatures (it cannot know the witnesses' keys); the caller
    /// verifies the cosignature against the checkpoint first. It does check that a checkpoint
    /// was signed at `size`.
    pub fn add_cosignature(&self, size: TreeSize, sig: &NoteSignature) -> Result<bool, StoreError> {
        let mut w = self.writer.lock().map_err(|_| StoreError::Poisoned)?;
        if w.poisoned {
            return Err(StoreError::Poisoned);
        }
        if self.checkpoint(Some(size))?.is_none() || size.0 == 0 {
            return Err(StoreError::NoCheckpoint { size: size.0 });
        }
        let key = index::cosignature_key(size.0, sig);
        if self.index.has_cosignature(&key)? {
            return Ok(false);
        }
        let mut buf = Vec::new();
        segment::encode_record(
            &mut buf,
            RecordKind::Cosignature,
            &[&segment::cosignature_body(size.0, sig)],
        )?;
        self.write_transaction(&mut w, &buf)?;
        if let Err(e) = self.index.add_cosignature(&key, &sig.line()) {
            // Durable but not indexed: reopening re-indexes the cosignatures.
            w.poisoned = true;
            return Err(e);
        }
        Ok(true)
    }

    /// The cosignatures stored for the checkpoint at `size`, ordered by key id then name.
    pub fn cosignatures(&self, size: TreeSize) -> Result<Vec<NoteSignature>, StoreError> {
        let mut out = Vec::new();
        for line in self.index.cosignature_lines(size.0)? {
            let sig = std::str::from_utf8(&line)
                .ok()
                .and_then(|l| l.strip_suffix('\n'))
                .and_then(|l| NoteSignature::parse_line(l).ok())
                .ok_or_else(|| {
                    StoreError::IndexInconsistent(format!(
                        "a cosignature of tree size {} in the index is malformed",
                        size.0
                    ))
                })?;
            out.push(sig);
        }
        Ok(out)
    }

    /// Writes one framed transaction (a batch, or a cosignature record) and fdatasyncs it,
    /// starting a new segment first if it would overfill the current one; returns the segment
    /// and offset it starts at. When the write or the sync fails, whatever it left is cut off
    /// the segment, so nothing of it is ever read or recovered, and later transactions may
    /// succeed once the disk works again; only if the cut fails too (or a new segment could not
    /// be started) is the store poisoned until it is reopened.
    fn write_transaction(&self, w: &mut Writer, buf: &[u8]) -> Result<(u32, u64), StoreError> {
        match w.segments.roll_for(buf.len()) {
            Ok(Some(seg)) => {
                let mut files = self.files.write().unwrap_or_else(|e| e.into_inner());
                files.push(seg.file);
            }
            Ok(None) => {}
            Err(e) => {
                // A segment file may have been created without its directory entry synced:
                // recovery on reopen sorts that out.
                w.poisoned = true;
                return Err(e);
            }
        }
        w.segments.write(buf).inspect_err(|_| {
            if let Err(cut) = w.segments.roll_back() {
                tracing::error!(error = %cut, "a failed write could not be cut off; no more appends until the store is reopened");
                w.poisoned = true;
            }
        })
    }

    fn file(&self, segment: u32) -> Result<Arc<File>, StoreError> {
        let files = self.files.read().unwrap_or_else(|e| e.into_inner());
        files.get(segment as usize).cloned().ok_or_else(|| {
            StoreError::IndexInconsistent(format!(
                "the index points into missing segment {segment}"
            ))
        })
    }

    /// Entry `index`'s location, or an error if the index lacks an entry below the size.
    fn entry_info(&self, index: LeafIndex) -> Result<Option<columns::EntryRecord>, StoreError> {
        if index.0 >= self.size().0 {
            return Ok(None);
        }
        self.index.columns.entry(index.0).map(Some)
    }

    /// The bytes of entry `index` exactly as stored, None beyond the log's size.
    pub fn entry(&self, index: LeafIndex) -> Result<Option<Vec<u8>>, StoreError> {
        let Some(info) = self.entry_info(index)? else {
            return Ok(None);
        };
        Ok(Some(self.record_at(info.loc, &[RecordKind::Entry])?.1.body))
    }

    /// The record at `loc`, which must be of one of `kinds`, and its segment file.
    fn record_at(
        &self,
        loc: Location,
        kinds: &[RecordKind],
    ) -> Result<(Arc<File>, segment::RawRecord), StoreError> {
        let file = self.file(loc.segment)?;
        let rec = segment::read_record(&file, loc.segment, loc.offset, loc.len, kinds)?;
        Ok((file, rec))
    }

    /// Leaf hash of entry `index`, None beyond the log's size.
    pub fn leaf_hash(&self, index: LeafIndex) -> Result<Option<Hash>, StoreError> {
        Ok(self.entry_info(index)?.map(|i| i.leaf))
    }

    /// The index of the entry with this leaf hash.
    pub fn find_leaf(&self, leaf_hash: &Hash) -> Result<Option<LeafIndex>, StoreError> {
        // The lookup holds a fingerprint: confirm the leaf itself.
        for i in self.index.indexes(&index::leaf_key(leaf_hash))? {
            if let Some(found) = self.visible(Some(i))
                && self.leaf_hash(found)? == Some(*leaf_hash)
            {
                return Ok(Some(found));
            }
        }
        Ok(None)
    }

    /// Keeps an index only if readers may see it yet.
    fn visible(&self, index: Option<u64>) -> Option<LeafIndex> {
        index.filter(|i| *i < self.size().0).map(LeafIndex)
    }

    /// Where the index places `commitment`'s payload, its segment file, and the record there
    /// (a Payload, or an ErasedPayload whose index entry is not dropped yet).
    fn payload_record(
        &self,
        commitment: &Hash,
    ) -> Result<Option<(Location, Arc<File>, segment::RawRecord)>, StoreError> {
        // The lookup holds a fingerprint: the record must name the commitment itself.
        for loc in self.index.payload_locations(commitment)? {
            let (file, rec) =
                self.record_at(loc, &[RecordKind::Payload, RecordKind::ErasedPayload])?;
            if rec.body.get(..32) == Some(&commitment[..]) {
                return Ok(Some((loc, file, rec)));
            }
        }
        Ok(None)
    }

    /// The payload committed to by `commitment`; None if unknown or erased.
    pub fn payload(&self, commitment: &Hash) -> Result<Option<Payload>, StoreError> {
        let _guard = self.erasure.read().unwrap_or_else(|e| e.into_inner());
        let Some((loc, _, rec)) = self.payload_record(commitment)? else {
            return Ok(None);
        };
        if rec.kind == RecordKind::ErasedPayload {
            return Ok(None);
        }
        let corrupt = |reason: &str| StoreError::Corrupt {
            segment: loc.segment,
            offset: loc.offset,
            reason: reason.into(),
        };
        let (head, content) = rec
            .body
            .split_at_checked(segment::PAYLOAD_PREFIX_LEN)
            .ok_or_else(|| corrupt("payload record too short"))?;
        let (c, s) = head.split_at(32);
        if c != commitment {
            return Err(corrupt("payload record holds another commitment"));
        }
        let mut salt = [0u8; SALT_LEN];
        salt.copy_from_slice(s);
        Ok(Some(Payload {
            commitment: *commitment,
            salt,
            content: bytes::Bytes::copy_from_slice(content),
        }))
    }

    /// The latest checkpoint note (`size` None), or the one signed at exactly `size`.
    pub fn checkpoint(&self, size: Option<TreeSize>) -> Result<Option<String>, StoreError> {
        let current = self.size().0;
        let found = match size {
            Some(s) if s.0 > current => return Ok(None),
            Some(s) => self.index.columns.checkpoint(s.0, true)?,
            None => self.index.columns.checkpoint(current, false)?,
        };
        found.map(|(_, loc)| self.checkpoint_note(loc)).transpose()
    }

    /// The checkpoints stored at sizes in `[from, to]`, ascending, at most `limit` of them:
    /// every signed tree head, for exports and audits.
    pub fn checkpoints(
        &self,
        from: TreeSize,
        to: TreeSize,
        limit: usize,
    ) -> Result<Vec<(TreeSize, String)>, StoreError> {
        let to = to.0.min(self.size().0);
        if from.0 > to {
            return Ok(Vec::new());
        }
        self.index
            .columns
            .checkpoints(from.0, to, limit)?
            .into_iter()
            .map(|(size, loc)| Ok((TreeSize(size), self.checkpoint_note(loc)?)))
            .collect()
    }

    /// The note text of the Checkpoint record at `loc`.
    fn checkpoint_note(&self, loc: Location) -> Result<String, StoreError> {
        if let Some((at, note)) = &*self.last_note.read().unwrap_or_else(|e| e.into_inner())
            && *at == loc
        {
            return Ok(note.to_string());
        }
        let (_, rec) = self.record_at(loc, &[RecordKind::Checkpoint])?;
        let note = String::from_utf8(rec.body).map_err(|_| StoreError::Corrupt {
            segment: loc.segment,
            offset: loc.offset,
            reason: "checkpoint note is not UTF-8".into(),
        })?;
        *self.last_note.write().unwrap_or_else(|e| e.into_inner()) =
            Some((loc, note.as_str().into()));
        Ok(note)
    }

    fn check_size(&self, size: TreeSize) -> Result<(), StoreError> {
        let current = self.size().0;
        if size.0 > current {
            return Err(StoreError::TreeSize {
                size: size.0,
                current,
            });
        }
        Ok(())
    }

    /// Merkle nodes from memory where the cache has them, else from the columns.
    fn node_source(&self) -> nodes::CachedNodes<'_> {
        self.nodes.with(&self.index.columns)
    }

    /// Root hash of the tree of the first `size` entries.
    pub fn root(&self, size: TreeSize) -> Result<Hash, StoreError> {
        self.check_size(size)?;
        tree::root(&self.node_source(), size)
    }

    /// Inclusion proof of entry `index` in the tree of `size` entries (RFC 6962 PATH).
    pub fn inclusion_proof(
        &self,
        index: LeafIndex,
        size: TreeSize,
    ) -> Result<Vec<Hash>, StoreError> {
        self.check_size(size)?;
        if index.0 >= size.0 {
            return Err(StoreError::IndexOutOfRange {
                index: index.0,
                size: size.0,
            });
        }
        inclusion::prove(&self.node_source(), index, size)
    }

    /// [`Store::inclusion_proof`] from the nodes in memory alone; None when it needs one from
    /// the files (an old entry's proof) or does not exist.
    pub fn inclusion_proof_in_memory(&self, index: LeafIndex, size: TreeSize) -> Option<Vec<Hash>> {
        self.check_size(size).ok()?;
        inclusion::prove(&self.nodes.in_memory(), index, size).ok()
    }

    /// Consistency proof from the tree of `old` entries to that of `new` (RFC 6962 PROOF).
    pub fn consistency_proof(&self, old: TreeSize, new: TreeSize) -> Result<Vec<Hash>, StoreError> {
        self.check_size(new)?;
        consistency::prove(&self.node_source(), old, new)
    }

    /// The Redaction entry that erased the item with this commitment, if any.
    pub fn redaction_of(&self, commitment: &Hash) -> Result<Option<LeafIndex>, StoreError> {
        self.claimed(&Claim::RedactionOf(*commitment))
    }

    /// The entry that holds `claim`, if any: a replayed nonce, a second receipt.
    pub fn claimed(&self, claim: &Claim) -> Result<Option<LeafIndex>, StoreError> {
        let found = self.looked_up(&index::claim_key(claim), |keys| keys.claims.contains(claim))?;
        Ok(found.first().copied())
    }

    /// Indexes >= `from`, ascending, of entries involving `party` (None: any) and of one of
    /// `kinds` (empty: any); at most `limit` of them. Filtered queries read the posting lists
    /// by party and kind from `from` on (`store/postings.rs`): no scan of the log.
    pub fn scan(
        &self,
        from: LeafIndex,
        party: Option<&str>,
        kinds: &[pb::EntryKind],
        limit: usize,
    ) -> Result<Vec<LeafIndex>, StoreError> {
        let size = self.size().0;
        if limit == 0 || from.0 >= size {
            return Ok(Vec::new());
        }
        if party.is_none() && kinds.is_empty() {
            let end = size.min(from.0.saturating_add(limit as u64));
            return Ok((from.0..end).map(LeafIndex).collect());
        }
        let party = party.map(party_fingerprint);
        let kinds: Vec<i32> = kinds.iter().map(|k| *k as i32).collect();
        let found =
            self.index
                .columns
                .postings()
                .find(party.as_ref(), &kinds, from.0, size, limit)?;
        Ok(found.into_iter().map(LeafIndex).collect())
    }

    /// Posting-list records the filtered listings ([`Store::scan`]) have read since the store
    /// opened: what a listing costs, for tests.
    pub fn posting_reads(&self) -> u64 {
        self.index.columns.postings().reads()
    }

    /// Indexes of entries whose server time is in `[from_ms, to_ms)`, ascending (times never
    /// decrease along the log).
    pub fn by_time(&self, from_ms: i64, to_ms: i64) -> Result<Vec<LeafIndex>, StoreError> {
        let size = self.size().0;
        let mut out = Vec::new();
        if from_ms >= to_ms {
            return Ok(out);
        }
        let first = self.index.columns.first_at_or_after(from_ms, size)?;
        self.index.columns.scan(first, size, |i, r| {
            if r.time_ms >= to_ms {
                return ControlFlow::Break(());
            }
            out.push(LeafIndex(i));
            ControlFlow::Continue(())
        })?;
        Ok(out)
    }

    /// Indexes of disclosures carrying an item with this STIX id, ascending.
    pub fn by_stix_id(&self, stix_id: &str) -> Result<Vec<LeafIndex>, StoreError> {
        self.looked_up(&index::stix_id_key(stix_id), |keys| {
            keys.stix_ids.iter().any(|s| s == stix_id)
        })
    }

    /// Indexes of entries naming this item commitment (its disclosure, any redaction of it).
    pub fn by_commitment(&self, commitment: &Hash) -> Result<Vec<LeafIndex>, StoreError> {
        self.looked_up(&index::commitment_key(commitment), |keys| {
            keys.commitments.contains(commitment)
        })
    }

    /// Visible indexes stored under a lookup key, each confirmed by `names_it` on the entry's
    /// own index keys (the lookup holds only a fingerprint of the key).
    fn looked_up(
        &self,
        key: &lookup::Fingerprint,
        names_it: impl Fn(&entry::IndexKeys) -> bool,
    ) -> Result<Vec<LeafIndex>, StoreError> {
        let mut out = Vec::new();
        for i in self.index.indexes(key)? {
            let Some(found) = self.visible(Some(i)) else {
                continue;
            };
            let bytes = self
                .entry(found)?
                .ok_or_else(|| StoreError::IndexInconsistent(format!("entry {i} vanished")))?;
            if names_it(&index_keys(&entry::decode(&bytes)?)?) {
                out.push(found);
            }
        }
        Ok(out)
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        if let Err(e) = self.flush_index() {
            tracing::warn!("flushing the index on close failed: {e}");
        }
    }
}

/// The store is shared between the sequencer thread and the gRPC handlers.
const _: () = {
    const fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Store>();
};

#[cfg(test)]
mod tests;
