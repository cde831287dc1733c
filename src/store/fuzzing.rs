//! The segment reader, reachable from the fuzz targets in `fuzz/` (not part of the store's
//! API: hidden from the docs, and nothing in the crate uses it).
//!
//! Recovery is what reads hostile bytes in practice (a damaged disk, a copied-in file), so the
//! fuzzer drives exactly the code `Store::open` runs, plus the positioned reader every later
//! read goes through.

use std::fs::File;
use std::path::Path;

use super::StoreError;
use super::segment::{self, RecordKind, ScanEnd};

/// What recovery made of a segment directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recovery {
    /// Entries committed.
    pub size: u64,
    /// Committed length of each segment, by id.
    pub segment_lens: Vec<u64>,
    /// Bytes of uncommitted tail cut off the last segment.
    pub cut_bytes: u64,
    /// Payload records whose erasure a crash tore, rewritten as erased.
    pub torn_erasures: usize,
}

/// Runs the store's recovery on `seg_dir` (cutting an uncommitted tail, as on open).
pub fn recover(seg_dir: &Path) -> Result<Recovery, StoreError> {
    let r = segment::recover(seg_dir)?;
    Ok(Recovery {
        size: r.size,
        segment_lens: r.segments.iter().map(|s| s.len).collect(),
        cut_bytes: r.cut_bytes,
        torn_erasures: r.torn_erasures,
    })
}

/// One record as the sequential scan saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Offset of the record's header in its file.
    pub offset: u64,
    /// The kind byte (1 entry, 2 payload, 3 checkpoint, 4 cosignature, 5 erased payload).
    pub kind: u8,
    /// The record's body.
    pub body: Vec<u8>,
    /// False for a payload record whose checksum fails (a possibly torn erasure, which only
    /// recovery may accept).
    pub intact: bool,
}

/// What a sequential scan of one file found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scan {
    /// The records read, in order.
    pub records: Vec<Record>,
    /// Where and why the scan stopped early; None when every byte belonged to a record.
    pub stopped: Option<(u64, String)>,
}

/// Scans `file` from the start, as recovery does.
pub fn scan(file: &File) -> Result<Scan, StoreError> {
    let mut records = Vec::new();
    let end = segment::scan_file(file, "fuzz", 0, |r| {
        records.push(Record {
            offset: r.offset,
            kind: r.kind as u8,
            body: r.body,
            intact: r.intact,
        });
        Ok(())
    })?;
    let stopped = match end {
        ScanEnd::Eof => None,
        ScanEnd::Bad { offset, reason } => Some((offset, reason)),
    };
    Ok(Scan { records, stopped })
}

/// Reads the record at `offset` with the positioned reader the store uses after open, which
/// must accept exactly the intact records the scan accepted (`len` is the body length the index would hold).
pub fn read_record(file: &File, offset: u64, len: u32) -> Result<Record, StoreError> {
    const ANY: [RecordKind; 5] = [
        RecordKind::Entry,
        RecordKind::Payload,
        RecordKind::Checkpoint,
        RecordKind::Cosignature,
        RecordKind::ErasedPayload,
    ];
    let r = segment::read_record(file, 0, offset, len, &ANY)?;
    Ok(Record {
        offset: r.offset,
        kind: r.kind as u8,
        body: r.body,
        intact: r.intact,
    })
}
