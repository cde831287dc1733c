//! Injected storage faults: a full disk, a failing fdatasync, a failing truncate.
//!
//! Tests need to see what the log does when the disk fails it, without a disk that really
//! fails. The segment writer performs its batch write, its fdatasync and its roll-back truncate
//! through [`Faults`]; a fault that is switched on makes that step fail the way the kernel
//! would (a full disk after writing part of the buffer). The handle is set only by the code that
//! opens the store ([`super::StoreOptions::faults`]): tests hold a clone and flip it; `serve`
//! never sets one, and no request can reach it.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Switches for injected storage faults, shared between a test and the store it opened.
/// The default has every fault off, and costs three relaxed atomic loads per batch.
#[derive(Debug, Clone, Default)]
pub struct Faults(Arc<Switches>);

/// The switches behind a [`Faults`] handle.
#[derive(Debug, Default)]
struct Switches {
    disk_full: AtomicBool,
    fsync_fails: AtomicBool,
    truncate_fails: AtomicBool,
}

impl Faults {
    /// While on, a batch write stores the first half of its bytes, then fails with
    /// "no space left on device" (ENOSPC), as a write that fills the disk does.
    pub fn set_disk_full(&self, on: bool) {
        self.0.disk_full.store(on, Ordering::SeqCst);
    }

    /// While on, fdatasync of a segment fails with an I/O error (EIO), after the write went
    /// into the page cache.
    pub fn set_fsync_fails(&self, on: bool) {
        self.0.fsync_fails.store(on, Ordering::SeqCst);
    }

    /// While on, cutting a failed batch off the segment fails too, so the store cannot undo it
    /// and stays poisoned until reopened.
    pub fn set_truncate_fails(&self, on: bool) {
        self.0.truncate_fails.store(on, Ordering::SeqCst);
    }

    /// `write_all_at`, unless the disk is "full".
    pub(crate) fn write_all_at(&self, file: &File, buf: &[u8], offset: u64) -> io::Result<()> {
        if self.0.disk_full.load(Ordering::Relaxed) {
            file.write_all_at(&buf[..buf.len() / 2], offset)?;
            return Err(io::Error::new(
                io::ErrorKind::StorageFull,
                "no space left on device (injected fault)",
            ));
        }
        file.write_all_at(buf, offset)
    }

    /// `sync_data`, unless fdatasync is failing.
    pub(crate) fn sync_data(&self, file: &File) -> io::Result<()> {
        if self.0.fsync_fails.load(Ordering::Relaxed) {
            return Err(io::Error::other(
                "fdatasync failed: input/output error (injected fault)",
            ));
        }
        file.sync_data()
    }

    /// `set_len`, unless truncation is failing.
    pub(crate) fn set_len(&self, file: &File, len: u64) -> io::Result<()> {
        if self.0.truncate_fails.load(Ordering::Relaxed) {
            return Err(io::Error::other(
                "truncate failed: input/output error (injected fault)",
            ));
        }
        file.set_len(len)
    }
}
