//! The index's one key-value engine: a fjall database under `index/fjall/`.
//!
//! fjall (an LSM tree: a journal, memtables, sorted tables compacted in the background) holds
//! every keyed part of the index; the per-entry columns stay plain files (`columns.rs`).
//! Three keyspaces, written through fjall's atomic write batches:
//!
//! | keyspace | key | value |
//! | --- | --- | --- |
//! | `lookups` | fingerprint (16) `\|\|` value (16), see `lookup.rs` | empty |
//! | `lookups` | `covered` | u64 BE: entries below it have all their lookup records here |
//! | `cosignatures` | u64 BE tree size `\|\|` key id (4) `\|\|` key name | the cosignature line |
//! | `meta` | `version` | u32 BE, written last when the index is built |
//!
//! Durability: batches go to fjall's journal without a sync (the segments are already durable,
//! and the index is rebuilt or caught up from them); [`Kv::persist`] fdatasyncs the journal,
//! once a second from the index's sync thread and on close. Whatever fjall recovers after a
//! crash is a prefix of the batches, each whole with its `covered` mark, so the store replays
//! the segments from that mark (`index.rs`).
//!
//! fjall's own `persist(SyncData)` holds its journal lock through the fdatasync, and every
//! write batch takes that lock, so the sequencer would wait out whole fsyncs (up to 0.4 s
//! measured under load). So [`Kv::persist`] only has fjall write its journal buffer out under
//! the lock (`PersistMode::Buffer`, one `write`), then fdatasyncs the journal files (`*.jnl` in
//! the database directory) through descriptors of its own, holding no lock of fjall's. (Writer
//! stalls of that size remained under load: README, "engines compared".)
//!
//! Tuning (README, "The index's keyed lookups"): the lookups are prefix scans, which no bloom
//! filter serves, so none is built; random fingerprints do not compress, so no block is
//! compressed; the block cache and memtables are small, because a lookup is one block read per
//! level from the page cache. (Memory still grew about 1.7 bytes per key at 1M entries: README.)

use std::path::Path;

use fjall::config::{CompressionPolicy, FilterPolicy};
use fjall::{Database, Keyspace, KeyspaceCreateOptions, PersistMode};

use super::{StoreError, io};

/// Names of the keyspaces, in a fixed order (tools and tests dump them).
pub(crate) const KEYSPACES: [&str; 3] = ["lookups", "cosignatures", "meta"];

/// fjall's block cache: index and data blocks of the tables. The kernel's page cache holds
/// the tables too, so a small one costs a copy per miss, not a disk read.
const CACHE_BYTES: u64 = 4 << 20;
/// Each memtable is written out as a table at this size. Every keyspace has one, and up to
/// four sealed ones may wait for the flush worker.
const MEMTABLE_BYTES: u64 = 8 << 20;
/// fjall flushes the keyspaces holding the oldest journal once the journals reach this (its
/// minimum): the cosignatures and meta keyspaces, written rarely, would otherwise keep
/// journals alive up to fjall's default of 512 MiB, all replayed on open.
const JOURNALS_BYTES: u64 = 64 << 20;

/// The open fjall database and its keyspaces.
pub(crate) struct Kv {
    db: Database,
    /// The database directory, where fjall keeps its journals.
    path: std::path::PathBuf,
    pub lookups: Keyspace,
    pub cosignatures: Keyspace,
    pub meta: Keyspace,
}

impl Kv {
    /// Opens (creating) the database at `path`. fjall's lock is held briefly by a database
    /// being dropped elsewhere in this process (its workers finish first), so a lock conflict
    /// is retried for a while, then reported as [`StoreError::Locked`], never as damage, which
    /// would delete an index that is merely in use. A panic inside fjall on damaged files is
    /// an error, so the caller can rebuild.
    pub fn open(path: &Path) -> Result<Kv, StoreError> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let p = path.to_owned();
            let opened = std::panic::catch_unwind(move || Self::open_once(&p));
            match opened {
                Err(_) => {
                    return Err(StoreError::IndexInconsistent(
                        "fjall panicked while opening the index".into(),
                    ));
                }
                Ok(Err(StoreError::Index(fjall::Error::Locked))) => {
                    if std::time::Instant::now() >= deadline {
                        return Err(StoreError::Locked {
                            path: path.to_owned(),
                        });
                    }
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                Ok(r) => return r,
            }
        }
    }

    fn open_once(path: &Path) -> Result<Kv, StoreError> {
        let db = Database::builder(path)
            .cache_size(CACHE_BYTES)
            .max_journaling_size(JOURNALS_BYTES)
            .open()?;
        // Options apply when a keyspace is created; fjall stores them with it.
        let options = || {
            KeyspaceCreateOptions::default()
                .max_memtable_size(MEMTABLE_BYTES)
                .filter_policy(FilterPolicy::disabled())
                .data_block_compression_policy(CompressionPolicy::disabled())
        };
        let [lookups, cosignatures, meta] = KEYSPACES.map(|name| db.keyspace(name, options));
        Ok(Kv {
            lookups: lookups?,
            cosignatures: cosignatures?,
            meta: meta?,
            db,
            path: path.to_owned(),
        })
    }

    /// A write batch over the keyspaces, applied atomically by [`fjall::OwnedWriteBatch::commit`]
    /// (written to the journal's OS buffers, not synced).
    pub fn batch(&self) -> fjall::OwnedWriteBatch {
        self.db.batch()
    }

    /// Makes every committed batch durable: fjall's journal buffer to the kernel, then an
    /// fdatasync of each journal file (sealed ones were synced by fjall when it sealed them,
    /// so theirs cost nothing). A journal fjall deletes meanwhile was flushed into tables.
    pub fn persist(&self) -> Result<(), StoreError> {
        self.db.persist(PersistMode::Buffer)?;
        let listing = std::fs::read_dir(&self.path)
            .map_err(io(format!("listing {}", self.path.display())))?;
        let mut journals = 0;
        for item in listing {
            let path = item
                .map_err(io(format!("listing {}", self.path.display())))?
                .path();
            if path.extension().is_none_or(|e| e != "jnl") {
                continue;
            }
            match std::fs::File::open(&path) {
                Ok(file) => {
                    file.sync_data()
                        .map_err(io(format!("syncing {}", path.display())))?;
                    journals += 1;
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io(format!("opening {}", path.display()))(e)),
            }
        }
        // fjall always has an active journal: none found means its layout changed, and
        // nothing would be made durable.
        if journals == 0 {
            return Err(StoreError::IndexInconsistent(format!(
                "no fjall journal (*.jnl) in {}",
                self.path.display()
            )));
        }
        Ok(())
    }
}
