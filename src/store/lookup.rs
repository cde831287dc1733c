//! Lookups by hash-like key (leaf hash, claim, commitment, STIX id → entry indexes or payload
//! locations) in a small log-structured store whose memory does not grow with the log.
//!
//! sled keeps tens of bytes of RAM per key for ever; here a key costs ~0.125 bytes of RAM once
//! it is on disk. Keys are never stored: each is reduced to a 16-byte [`Fingerprint`]
//! (SHA-256 over a domain-separated key), and a lookup returns every [`Value`] stored under the
//! fingerprint, so the caller confirms a hit against the log (two keys sharing a fingerprint
//! is a 2^-64 birthday event at 2^32 keys, and a confirmed miss is then only a wasted read).
//!
//! # On-disk format
//!
//! The lookup directory holds run files named `run-<from:016x>-<to:016x>.run`. A run holds the
//! records of the log entries `[from, to)`; the runs of a healthy directory cover one
//! contiguous range `[0, covered)`. Each file is:
//!
//! ```text
//! records  count × 32 bytes   fingerprint (16) || value (16), strictly ascending (bytewise)
//! footer   36 bytes:
//!   offset 0   magic  8 bytes          "BLLOOKUP"
//!   offset 8   count  u64 big-endian   number of records
//!   offset 16  from   u64 big-endian   first entry covered (equal to the name's)
//!   offset 24  to     u64 big-endian   entry after the last covered (equal to the name's)
//!   offset 32  crc    u32 big-endian   CRC-32 (IEEE, crc32fast) of records || footer[0..32]
//! ```
//!
//! A run may hold no record (see [`Lookups::flush`]): coverage lives only in run files, so an
//! empty run is how a stretch of entries without pending records is marked durable.
//!
//! A run is written to `<name>.tmp`, fdatasynced, renamed to `<name>`, and the directory is
//! fsynced; so a run file either is complete or does not exist, and any `.tmp` is debris.
//!
//! # Memory
//!
//! Per run only a sparse index stays in memory: the first fingerprint of every 4 KiB block
//! (128 records), 16 bytes per 128 records. A lookup binary-searches it and preads the block
//! or blocks that can hold the fingerprint. New records wait in a memtable of at most the
//! threshold plus one batch; [`Lookups::seal`] writes it out as a run.
//!
//! # Merging
//!
//! To keep the number of runs O(log n), a background thread merges two adjacent runs into
//! one covering both ranges while some run holds at least half as many records as the run
//! before it; so record counts at least halve from the oldest run to the newest. The merged
//! run is written like any run, swapped into the run list, and only then are its two inputs
//! deleted (a reader still holding an input keeps its open file). A crash in between leaves
//! the merged run beside one or both inputs: [`Lookups::open`] keeps the runs that cover the
//! most and deletes the ones they contain. Any other gap or overlap is damage.

use std::collections::BTreeSet;
use std::fs::{self, File, OpenOptions};
use std::io::{BufReader, BufWriter, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, RwLock};
use std::thread::JoinHandle;

use sha2::{Digest, Sha256};

use super::{StoreError, io};

/// 16 bytes of SHA-256 over a domain-separated key: what the lookup files store instead of keys.
pub(crate) type Fingerprint = [u8; 16];
/// What a key maps to: an entry index (u64 BE, zero-padded to 16) or a payload location (16 bytes).
pub(crate) type Value = [u8; 16];
/// One stored pair, fingerprint || value: sorting records sorts by fingerprint, then value.
type Record = [u8; 32];

/// Domain separation of fingerprints from every other SHA-256 in borderlog.
const FINGERPRINT_DOMAIN: &[u8] = b"borderlog/lookup/v1\n";
const RECORD_LEN: usize = 32;
/// Records per block of the sparse index: 4 KiB blocks.
const BLOCK_RECORDS: usize = 128;
const FOOTER_LEN: usize = 36;
const MAGIC: &[u8; 8] = b"BLLOOKUP";
/// Memtable threshold of [`Lookups::open`]: 2 MiB of records per freshly sealed run.
const DEFAULT_MEMTABLE_RECORDS: usize = 1 << 16;
/// Buffer of the sequential reads and writes (open checks, merges, run writes).
const IO_BUFFER: usize = 1 << 16;
/// How many merged records between checks of the stop flag, so dropping is prompt.
const STOP_CHECK_RECORDS: u64 = 1 << 14;

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

fn record(fp: &Fingerprint, value: &Value) -> Record {
    let mut r = [0; 32];
    r[..16].copy_from_slice(fp);
    r[16..].copy_from_slice(value);
    r
}

fn record_value(r: &[u8]) -> Value {
    let mut v = [0; 16];
    v.copy_from_slice(&r[16..32]);
    v
}

fn damaged(path: &Path, reason: impl std::fmt::Display) -> StoreError {
    StoreError::IndexInconsistent(format!("lookup run {}: {reason}", path.display()))
}

fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io(format!("syncing directory {}", dir.display())))
}

fn run_name(from: u64, to: u64) -> String {
    format!("run-{from:016x}-{to:016x}.run")
}

/// `(from, to)` of a run file name, or None when the name is not a run's.
fn parse_run_name(name: &str) -> Option<(u64, u64)> {
    let body = name.strip_prefix("run-")?.strip_suffix(".run")?;
    let (from, to) = body.split_once('-')?;
    if from.len() != 16 || to.len() != 16 {
        return None;
    }
    Some((
        u64::from_str_radix(from, 16).ok()?,
        u64::from_str_radix(to, 16).ok()?,
    ))
}

/// The footer of a run whose records hashed into `crc` (which it finishes).
fn footer(count: u64, from: u64, to: u64, mut crc: crc32fast::Hasher) -> [u8; FOOTER_LEN] {
    let mut f = [0; FOOTER_LEN];
    f[..8].copy_from_slice(MAGIC);
    f[8..16].copy_from_slice(&count.to_be_bytes());
    f[16..24].copy_from_slice(&from.to_be_bytes());
    f[24..32].copy_from_slice(&to.to_be_bytes());
    crc.update(&f[..32]);
    f[32..].copy_from_slice(&crc.finalize().to_be_bytes());
    f
}

fn be_u64(b: &[u8]) -> u64 {
    let mut a = [0; 8];
    a.copy_from_slice(&b[..8]);
    u64::from_be_bytes(a)
}

/// One run file, open for positioned reads; of its records only the sparse index is in memory.
struct Run {
    path: PathBuf,
    file: File,
    from: u64,
    to: u64,
    count: u64,
    /// First fingerprint of every block of [`BLOCK_RECORDS`] records.
    block_firsts: Vec<Fingerprint>,
}

impl Run {
    /// Opens and checks a run file (length, footer, checksum, strict order), building its
    /// sparse index in one sequential read.
    fn open(path: PathBuf, from: u64, to: u64) -> Result<Run, StoreError> {
        let file = File::open(&path).map_err(io(format!("opening {}", path.display())))?;
        let len = file
            .metadata()
            .map_err(io(format!("reading the length of {}", path.display())))?
            .len();
        if len < FOOTER_LEN as u64 {
            return Err(damaged(
                &path,
                format!("{len} bytes is shorter than a footer"),
            ));
        }
        let mut foot = [0; FOOTER_LEN];
        file.read_exact_at(&mut foot, len - FOOTER_LEN as u64)
            .map_err(io(format!("reading the footer of {}", path.display())))?;
        if &foot[..8] != MAGIC {
            return Err(damaged(&path, "footer magic is wrong"));
        }
        let count = be_u64(&foot[8..16]);
        if (be_u64(&foot[16..24]), be_u64(&foot[24..32])) != (from, to) {
            return Err(damaged(&path, "footer range differs from the file name"));
        }
        if count.checked_mul(RECORD_LEN as u64) != Some(len - FOOTER_LEN as u64) {
            return Err(damaged(
                &path,
                format!("{len} bytes do not hold the {count} records its footer counts"),
            ));
        }
        let mut crc = crc32fast::Hasher::new();
        let mut block_firsts = Vec::with_capacity(count.div_ceil(BLOCK_RECORDS as u64) as usize);
        let mut reader = BufReader::with_capacity(IO_BUFFER, &file);
        let mut prev: Option<Record> = None;
        for i in 0..count {
            let mut r = [0; RECORD_LEN];
            reader
                .read_exact(&mut r)
                .map_err(io(format!("reading {}", path.display())))?;
            crc.update(&r);
            if prev.is_some_and(|p| p >= r) {
                return Err(damaged(&path, format!("record {i} is out of order")));
            }
            if i % BLOCK_RECORDS as u64 == 0 {
                let mut fp = [0; 16];
                fp.copy_from_slice(&r[..16]);
                block_firsts.push(fp);
            }
            prev = Some(r);
        }
        crc.update(&foot[..32]);
        if crc.finalize().to_be_bytes() != foot[32..] {
            return Err(damaged(&path, "checksum does not match"));
        }
        Ok(Run {
            path,
            file,
            from,
            to,
            count,
            block_firsts,
        })
    }

    /// Appends to `out` the values of every record of `fp` in this run.
    fn get(&self, fp: &Fingerprint, out: &mut Vec<Value>) -> Result<(), StoreError> {
        // Blocks [start, end) can hold `fp`: the last block starting below it (its records may
        // run on into the next blocks) through every block starting at it.
        let end = self.block_firsts.partition_point(|f| f <= fp);
        if end == 0 {
            return Ok(());
        }
        let start = self
            .block_firsts
            .partition_point(|f| f < fp)
            .saturating_sub(1);
        let first = (start * BLOCK_RECORDS) as u64;
        let last = ((end * BLOCK_RECORDS) as u64).min(self.count);
        let mut buf = vec![0; (last - first) as usize * RECORD_LEN];
        self.file
            .read_exact_at(&mut buf, first * RECORD_LEN as u64)
            .map_err(io(format!("reading {}", self.path.display())))?;
        out.extend(
            buf.chunks_exact(RECORD_LEN)
                .filter(|r| r[..16] == fp[..])
                .map(record_value),
        );
        Ok(())
    }

    /// The run's records in order, read sequentially from a handle of their own.
    fn records(&self) -> Result<RunRecords, StoreError> {
        let file =
            File::open(&self.path).map_err(io(format!("opening {}", self.path.display())))?;
        Ok(RunRecords {
            reader: BufReader::with_capacity(IO_BUFFER, file),
            left: self.count,
            path: self.path.clone(),
        })
    }
}

/// Sequential reader of one run's records, for merging.
struct RunRecords {
    reader: BufReader<File>,
    left: u64,
    path: PathBuf,
}

impl RunRecords {
    fn next(&mut self) -> Result<Option<Record>, StoreError> {
        if self.left == 0 {
            return Ok(None);
        }
        self.left -= 1;
        let mut r = [0; RECORD_LEN];
        self.reader
            .read_exact(&mut r)
            .map_err(io(format!("reading {}", self.path.display())))?;
        Ok(Some(r))
    }
}

/// Writes one run: records streamed in ascending order (equal neighbours written once) to a
/// `.tmp` file that becomes the run on [`RunWriter::finish`]; dropped unfinished, it deletes
/// the `.tmp`.
struct RunWriter {
    dir: PathBuf,
    tmp: PathBuf,
    out: Option<BufWriter<File>>,
    crc: crc32fast::Hasher,
    from: u64,
    to: u64,
    count: u64,
    block_firsts: Vec<Fingerprint>,
    prev: Option<Record>,
}

impl RunWriter {
    fn create(dir: &Path, from: u64, to: u64) -> Result<RunWriter, StoreError> {
        let tmp = dir.join(format!("{}.tmp", run_name(from, to)));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)
            .map_err(io(format!("creating {}", tmp.display())))?;
        Ok(RunWriter {
            dir: dir.to_path_buf(),
            tmp,
            out: Some(BufWriter::with_capacity(IO_BUFFER, file)),
            crc: crc32fast::Hasher::new(),
            from,
            to,
            count: 0,
            block_firsts: Vec::new(),
            prev: None,
        })
    }

    fn push(&mut self, r: &Record) -> Result<(), StoreError> {
        match self.prev {
            Some(p) if p == *r => return Ok(()),
            Some(p) if p > *r => {
                return Err(StoreError::IndexInconsistent(format!(
                    "lookup run {} written out of order",
                    self.tmp.display()
                )));
            }
            _ => {}
        }
        if self.count.is_multiple_of(BLOCK_RECORDS as u64) {
            let mut fp = [0; 16];
            fp.copy_from_slice(&r[..16]);
            self.block_firsts.push(fp);
        }
        self.crc.update(r);
        self.out
            .as_mut()
            .expect("an unfinished writer has its file")
            .write_all(r)
            .map_err(io(format!("writing {}", self.tmp.display())))?;
        self.count += 1;
        self.prev = Some(*r);
        Ok(())
    }

    /// Footer, fdatasync, rename to the run's name, fsync the directory.
    fn finish(mut self) -> Result<Run, StoreError> {
        let mut out = self.out.take().expect("finished once");
        let foot = footer(self.count, self.from, self.to, self.crc.clone());
        let path = self.dir.join(run_name(self.from, self.to));
        let file = out
            .write_all(&foot)
            .and_then(|()| out.into_inner().map_err(|e| e.into_error()))
            .and_then(|file| file.sync_data().map(|()| file))
            .and_then(|file| fs::rename(&self.tmp, &path).map(|()| file));
        let file = match file {
            Ok(file) => file,
            Err(e) => {
                // Drop deletes the .tmp.
                return Err(io(format!("writing {}", self.tmp.display()))(e));
            }
        };
        // Renamed: nothing left for Drop to delete.
        self.tmp = PathBuf::new();
        sync_dir(&self.dir)?;
        Ok(Run {
            path,
            file,
            from: self.from,
            to: self.to,
            count: self.count,
            block_firsts: std::mem::take(&mut self.block_firsts),
        })
    }
}

impl Drop for RunWriter {
    fn drop(&mut self) {
        if !self.tmp.as_os_str().is_empty() {
            self.out = None;
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

/// Records not yet in a run: `active` takes inserts; `frozen` is the set being written out by
/// a seal, still visible to readers until its run is in the run list.
#[derive(Default)]
struct Memtable {
    active: BTreeSet<Record>,
    frozen: Option<Arc<BTreeSet<Record>>>,
}

/// What the merger thread is asked to do, and whether it is at it.
#[derive(Default)]
struct MergerState {
    /// A run was added since the merger last looked.
    wake: bool,
    /// The merger is merging.
    busy: bool,
}

/// State shared between [`Lookups`] and its merger thread.
struct Inner {
    dir: PathBuf,
    memtable_records: usize,
    memtable: Mutex<Memtable>,
    /// Runs in range order, covering `[0, covered)` without gap or overlap.
    runs: RwLock<Vec<Arc<Run>>>,
    covered: AtomicU64,
    /// One seal or flush at a time.
    sealing: Mutex<()>,
    merger: Mutex<MergerState>,
    merger_changed: Condvar,
    stop: AtomicBool,
}

/// Sorted runs of (fingerprint, value) records on disk plus one in-memory table of the newest:
/// the store's lookups by hash-like key, with RAM that does not grow with the log.
pub(crate) struct Lookups {
    inner: Arc<Inner>,
    merger: Option<JoinHandle<()>>,
}

impl Lookups {
    /// Opens (creating) the directory. Errors when a run is damaged — bad length, bad footer
    /// or checksum, unsorted records — or the runs do not cover one contiguous range
    /// `[0, covered)`; the caller then deletes the directory and rebuilds.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        Self::open_with(dir, DEFAULT_MEMTABLE_RECORDS)
    }

    /// [`Lookups::open`] with a memtable threshold of `memtable_records` (at least 1), for tests.
    pub fn open_with(dir: &Path, memtable_records: usize) -> Result<Self, StoreError> {
        fs::create_dir_all(dir).map_err(io(format!("creating {}", dir.display())))?;
        let listing = fs::read_dir(dir).map_err(io(format!("listing {}", dir.display())))?;
        let mut named = Vec::new();
        let mut debris = Vec::new();
        for item in listing {
            let item = item.map_err(io(format!("listing {}", dir.display())))?;
            let name = item.file_name();
            let Some(name) = name.to_str() else { continue };
            if name.ends_with(".tmp") {
                debris.push(item.path());
            } else if name.starts_with("run-") {
                let (from, to) = parse_run_name(name)
                    .filter(|(from, to)| from < to)
                    .ok_or_else(|| {
                        damaged(&item.path(), "not a run file name with a non-empty range")
                    })?;
                named.push((from, to, item.path()));
            }
        }
        // Widest first among runs starting together, so a merged run comes before its inputs.
        named.sort_by_key(|&(from, to, _)| (from, std::cmp::Reverse(to)));
        let mut kept: Vec<(u64, u64, PathBuf)> = Vec::new();
        let mut covered = 0;
        for (from, to, path) in named {
            match kept.last() {
                // Left by a crash between a merge's rename and the deletion of its inputs.
                Some(&(_, kept_to, _)) if to <= kept_to => debris.push(path),
                _ if from == covered => {
                    covered = to;
                    kept.push((from, to, path));
                }
                _ if from > covered => {
                    return Err(damaged(
                        &path,
                        format!("no run covers entries [{covered}, {from})"),
                    ));
                }
                _ => {
                    return Err(damaged(
                        &path,
                        format!("overlaps the run covering up to {covered}"),
                    ));
                }
            }
        }
        // Every kept run is checked before anything is deleted.
        let runs = kept
            .into_iter()
            .map(|(from, to, path)| Run::open(path, from, to).map(Arc::new))
            .collect::<Result<Vec<_>, _>>()?;
        if !debris.is_empty() {
            for path in &debris {
                fs::remove_file(path).map_err(io(format!("deleting {}", path.display())))?;
            }
            sync_dir(dir)?;
        }
        let inner = Arc::new(Inner {
            dir: dir.to_path_buf(),
            memtable_records: memtable_records.max(1),
            memtable: Mutex::default(),
            runs: RwLock::new(runs),
            covered: AtomicU64::new(covered),
            sealing: Mutex::default(),
            // A crash may have cut merging short: look at the runs once at start.
            merger: Mutex::new(MergerState {
                wake: true,
                busy: false,
            }),
            merger_changed: Condvar::new(),
            stop: AtomicBool::new(false),
        });
        let for_thread = Arc::clone(&inner);
        let merger = std::thread::Builder::new()
            .name("lookup-merge".into())
            .spawn(move || for_thread.merge_loop())
            .map_err(io("starting the lookup merge thread"))?;
        Ok(Lookups {
            inner,
            merger: Some(merger),
        })
    }

    /// Log size up to which every entry's records are durable in runs: after a crash the
    /// caller re-inserts the records of entries `[covered, log size)`.
    pub fn covered(&self) -> u64 {
        self.inner.covered.load(Ordering::Acquire)
    }

    /// Queues one record in the memtable (a set, so a repeated record is kept once).
    pub fn insert(&self, fp: Fingerprint, value: Value) {
        self.inner
            .lock_memtable()
            .active
            .insert(record(&fp, &value));
    }

    /// Every entry below `size` has been inserted. When the memtable holds at least the
    /// threshold, writes it out as the run covering `[covered, size)` and advances `covered`
    /// to `size`; otherwise does nothing (one lock, one length check). Merging that the new
    /// run calls for happens on the merger thread.
    pub fn seal(&self, size: u64) -> Result<(), StoreError> {
        let below = || self.inner.lock_memtable().active.len() < self.inner.memtable_records;
        // Checked before taking `sealing` too: a flush on the index's sync thread holds it
        // while it writes a run, and the sequencer seals after every batch.
        if below() {
            return Ok(());
        }
        let _sealing = self.inner.lock_sealing();
        if below() {
            return Ok(());
        }
        self.inner.write_memtable(size)
    }

    /// Writes the memtable out whatever its size (on close), advancing `covered` to `size`.
    /// An empty memtable with `size > covered` writes a run with no record, because coverage
    /// is recorded only by run files. `size == covered` does nothing.
    pub fn flush(&self, size: u64) -> Result<(), StoreError> {
        let _sealing = self.inner.lock_sealing();
        self.inner.write_memtable(size)
    }

    /// [`Lookups::flush`] unless the runs already cover `size` (a seal got there first): for
    /// a flush asked for earlier and done later, on another thread.
    pub fn flush_at_least(&self, size: u64) -> Result<(), StoreError> {
        let _sealing = self.inner.lock_sealing();
        if size <= self.inner.covered.load(Ordering::Acquire) {
            return Ok(());
        }
        self.inner.write_memtable(size)
    }

    /// Every value stored under `fp` (memtable and runs), ascending, deduplicated.
    pub fn get(&self, fp: &Fingerprint) -> Result<Vec<Value>, StoreError> {
        let lo = record(fp, &[0; 16]);
        let hi = record(fp, &[0xff; 16]);
        let mut out = Vec::new();
        {
            // Records leave the memtable (active → frozen → a run) under this lock or after
            // their run is listed, so reading the runs after it misses none.
            let mem = self.inner.lock_memtable();
            out.extend(mem.active.range(lo..=hi).map(|r| record_value(r)));
            if let Some(frozen) = &mem.frozen {
                out.extend(frozen.range(lo..=hi).map(|r| record_value(r)));
            }
        }
        let runs = self.inner.read_runs().clone();
        for run in &runs {
            run.get(fp, &mut out)?;
        }
        out.sort_unstable();
        out.dedup();
        Ok(out)
    }

    #[cfg(test)]
    /// Number of run files in use (O(log n) once merging has caught up).
    pub fn runs(&self) -> usize {
        self.inner.read_runs().len()
    }

    #[cfg(test)]
    /// Bytes of RAM the runs' sparse indexes take (not counting the memtable).
    pub fn sparse_index_bytes(&self) -> usize {
        self.inner
            .read_runs()
            .iter()
            .map(|r| r.block_firsts.len() * size_of::<Fingerprint>())
            .sum()
    }

    #[cfg(test)]
    /// Blocks until the merger thread has nothing left to do (tests; a tidy close).
    pub fn wait_for_merges(&self) {
        let mut state = self.inner.lock_merger();
        while state.wake || state.busy {
            state = self
                .inner
                .merger_changed
                .wait(state)
                .unwrap_or_else(|e| e.into_inner());
        }
    }
}

impl Drop for Lookups {
    fn drop(&mut self) {
        self.inner.stop.store(true, Ordering::Release);
        // Under the lock, so the merger cannot miss the flag between its check and its wait.
        drop(self.inner.lock_merger());
        self.inner.merger_changed.notify_all();
        if let Some(merger) = self.merger.take() {
            let _ = merger.join();
        }
    }
}

impl Inner {
    fn lock_memtable(&self) -> std::sync::MutexGuard<'_, Memtable> {
        self.memtable.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn lock_sealing(&self) -> std::sync::MutexGuard<'_, ()> {
        self.sealing.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn lock_merger(&self) -> std::sync::MutexGuard<'_, MergerState> {
        self.merger.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn read_runs(&self) -> std::sync::RwLockReadGuard<'_, Vec<Arc<Run>>> {
        self.runs.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write_runs(&self) -> std::sync::RwLockWriteGuard<'_, Vec<Arc<Run>>> {
        self.runs.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Writes the active memtable as the run `[covered, size)`; the caller holds `sealing`.
    /// Readers keep seeing the records (as `frozen`) while the run is written.
    fn write_memtable(&self, size: u64) -> Result<(), StoreError> {
        let covered = self.covered.load(Ordering::Acquire);
        if size < covered {
            return Err(StoreError::IndexInconsistent(format!(
                "lookups sealed at log size {size}, below the {covered} entries already covered"
            )));
        }
        if size == covered {
            return Ok(());
        }
        let frozen = {
            let mut mem = self.lock_memtable();
            let frozen = Arc::new(std::mem::take(&mut mem.active));
            mem.frozen = Some(Arc::clone(&frozen));
            frozen
        };
        let written = RunWriter::create(&self.dir, covered, size).and_then(|mut w| {
            for r in frozen.iter() {
                w.push(r)?;
            }
            w.finish()
        });
        match written {
            Ok(run) => {
                self.write_runs().push(Arc::new(run));
                self.covered.store(size, Ordering::Release);
                self.lock_memtable().frozen = None;
                self.lock_merger().wake = true;
                self.merger_changed.notify_all();
                Ok(())
            }
            Err(e) => {
                // Back into the memtable, for the next seal to retry.
                let mut mem = self.lock_memtable();
                mem.active.extend(frozen.iter());
                mem.frozen = None;
                Err(e)
            }
        }
    }

    fn merge_loop(&self) {
        loop {
            {
                let mut state = self.lock_merger();
                while !state.wake && !self.stop.load(Ordering::Acquire) {
                    state = self
                        .merger_changed
                        .wait(state)
                        .unwrap_or_else(|e| e.into_inner());
                }
                if self.stop.load(Ordering::Acquire) {
                    state.wake = false;
                    drop(state);
                    self.merger_changed.notify_all();
                    return;
                }
                state.wake = false;
                state.busy = true;
            }
            if let Err(e) = self.merge_until_balanced() {
                // The runs are intact, only more numerous; the next seal retries.
                tracing::warn!(error = %e, "merging lookup runs failed");
            }
            self.lock_merger().busy = false;
            self.merger_changed.notify_all();
        }
    }

    /// Merges adjacent runs, newest pair first, until every run holds fewer than half the
    /// records of the run before it.
    fn merge_until_balanced(&self) -> Result<(), StoreError> {
        while !self.stop.load(Ordering::Acquire) {
            let pair = {
                let runs = self.read_runs();
                (1..runs.len())
                    .rev()
                    .find(|&i| runs[i].count * 2 >= runs[i - 1].count)
                    .map(|i| (Arc::clone(&runs[i - 1]), Arc::clone(&runs[i])))
            };
            let Some((older, newer)) = pair else {
                return Ok(());
            };
            let Some(merged) = self.merge(&older, &newer)? else {
                return Ok(());
            };
            {
                let mut runs = self.write_runs();
                // Only this thread removes runs, and seals only append: the pair is still there.
                let i = runs
                    .iter()
                    .position(|r| Arc::ptr_eq(r, &older))
                    .expect("only the merger removes runs");
                runs.splice(i..i + 2, [Arc::new(merged)]);
            }
            for run in [&older, &newer] {
                fs::remove_file(&run.path)
                    .map_err(io(format!("deleting {}", run.path.display())))?;
            }
            sync_dir(&self.dir)?;
        }
        Ok(())
    }

    /// The run holding the records of two adjacent runs, or None when stopped part-way.
    fn merge(&self, older: &Run, newer: &Run) -> Result<Option<Run>, StoreError> {
        let mut out = RunWriter::create(&self.dir, older.from, newer.to)?;
        let mut a = older.records()?;
        let mut b = newer.records()?;
        let (mut next_a, mut next_b) = (a.next()?, b.next()?);
        let mut done = 0u64;
        loop {
            let r = match (next_a, next_b) {
                (Some(x), Some(y)) if x <= y => {
                    next_a = a.next()?;
                    x
                }
                (_, Some(y)) => {
                    next_b = b.next()?;
                    y
                }
                (Some(x), None) => {
                    next_a = a.next()?;
                    x
                }
                (None, None) => break,
            };
            out.push(&r)?;
            done += 1;
            if done.is_multiple_of(STOP_CHECK_RECORDS) && self.stop.load(Ordering::Acquire) {
                return Ok(None);
            }
        }
        out.finish().map(Some)
    }
}

#[cfg(test)]
mod tests;
