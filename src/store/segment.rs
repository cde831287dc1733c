//! Segment files: the log's source of truth.
//!
//! # On-disk format
//!
//! `<dir>/segments/` holds files named `00000000.seg`, `00000001.seg`, ... (segment id, eight
//! decimal digits), numbered without gaps. Each file is a sequence of records and nothing else:
//!
//! ```text
//! offset 0  len    u32 little-endian   length of `body` in bytes (not counting the 9-byte header)
//! offset 4  crc    u32 little-endian   CRC-32 (IEEE, crc32fast) of kind || body
//! offset 8  kind   u8                  record kind, below
//! offset 9  body   len bytes
//! ```
//!
//! | kind | name | body |
//! | --- | --- | --- |
//! | 1 | Entry | the `borderlog.v1.Entry` bytes exactly as hashed into the tree |
//! | 2 | Payload | commitment (32) `\|\|` salt (32) `\|\|` item content |
//! | 3 | Checkpoint | the signed checkpoint note, UTF-8; the batch's commit marker |
//! | 4 | Cosignature | u64 BE tree size `\|\|` one signed-note signature line (UTF-8, ending in a newline): a witness's cosignature of the checkpoint at that size |
//! | 5 | ErasedPayload | commitment (32) `\|\|` 32 zero bytes `\|\|` as many zero bytes as the content had |
//!
//! Kind 0 and kinds above 5 are invalid (a zeroed region never parses as a record).
//!
//! # Transactions
//!
//! One append is one batch: its Payload records, then its Entry records (indexes contiguous,
//! continuing the log), then exactly one Checkpoint record, then one `fdatasync`. The
//! Checkpoint record is the commit marker: a batch is in the log iff its Checkpoint record is
//! intact. The tree size a checkpoint commits is the number of Entry records before it, counted
//! from the first segment. A batch never spans two files: the writer starts a new segment
//! (and fsyncs the directory) before a batch that would take a non-empty file past the size
//! limit, so every file but the last ends with a Checkpoint or Cosignature record.
//!
//! A cosignature is a transaction of its own: one Cosignature record, written between batches
//! (under the same writer lock) and fdatasynced before the witness is told it is stored. It is
//! self-contained — it names the tree size it cosigns and carries the whole signature line,
//! under its own checksum — and it adds nothing to the tree, so it needs no commit marker: an
//! intact Cosignature record that directly follows committed data is itself committed. That is
//! the rule that keeps a durable cosignature written after the latest checkpoint from being cut
//! as an "uncommitted tail" on restart.
//!
//! # Recovery
//!
//! On open every segment is scanned. In the last segment, whatever follows the last intact
//! Checkpoint record or committed Cosignature record — a torn write, a short or checksum-failing record, or whole records of a
//! batch whose Checkpoint never made it — was never acknowledged, and is cut off (truncate and
//! fsync, with a warning naming the bytes). Damage anywhere else is committed data gone bad and
//! is an error, never silently dropped: a bad record in a non-final segment, a bad record
//! followed by an intact Checkpoint record, a gap in segment ids, entries whose `index` or
//! `prev_leaf_hash` do not continue the log.
//!
//! # Erasure in place
//!
//! A Payload record becomes an ErasedPayload record of the same length by rewriting its kind,
//! salt and content (zeroed) and its crc: nothing else in the file moves, so every location in
//! the index stays valid. The erasure is one positioned write (then fdatasync) made only after
//! the Redaction entry that orders it is durable. Its length field and commitment are rewritten
//! with the bytes they already hold, so a write torn by a crash leaves a record whose frame is
//! intact but whose checksum fails: recovery accepts such a payload record only when a
//! committed Redaction entry names its commitment, and finishes the erasure; anywhere else a
//! checksum failure is damage, as before.

use std::fs::{File, OpenOptions};
use std::io::{BufReader, ErrorKind, Read, Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use std::collections::HashSet;

use crate::format::entry;
use crate::format::hash::{Hash, SALT_LEN, ZERO_HASH, hash_from_slice, leaf_hash};
use crate::format::note::NoteSignature;
use crate::format::tree::Frontier;
use crate::pb;

use super::faults::Faults;
use super::{StoreError, io};

/// Bytes before a record's body: len (4), crc (4), kind (1).
pub(crate) const HEADER_LEN: u64 = 9;
/// Commitment and salt at the start of a payload record's body.
pub(crate) const PAYLOAD_PREFIX_LEN: usize = 32 + SALT_LEN;

/// What a record holds; the byte values are part of the on-disk format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum RecordKind {
    /// An encoded `borderlog.v1.Entry`.
    Entry = 1,
    /// An item's commitment, salt and content.
    Payload = 2,
    /// A signed checkpoint note: the commit marker of its batch.
    Checkpoint = 3,
    /// A witness's cosignature of a committed checkpoint: tree size and signature line.
    Cosignature = 4,
    /// A payload whose salt and content were overwritten with zeros.
    ErasedPayload = 5,
}

impl RecordKind {
    fn from_byte(b: u8) -> Option<Self> {
        Some(match b {
            1 => Self::Entry,
            2 => Self::Payload,
            3 => Self::Checkpoint,
            4 => Self::Cosignature,
            5 => Self::ErasedPayload,
            _ => return None,
        })
    }
}

/// CRC-32 of kind || body, as stored in the header.
fn checksum(kind: u8, body: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&[kind]);
    h.update(body);
    h.finalize()
}

/// Appends one framed record whose body is the concatenation of `parts` (so a payload's
/// commitment, salt and content need not be copied together first).
pub(crate) fn encode_record(
    out: &mut Vec<u8>,
    kind: RecordKind,
    parts: &[&[u8]],
) -> Result<(), StoreError> {
    let body_len: usize = parts.iter().map(|p| p.len()).sum();
    let len = u32::try_from(body_len).map_err(|_| StoreError::RecordTooLarge { len: body_len })?;
    let mut h = crc32fast::Hasher::new();
    h.update(&[kind as u8]);
    for p in parts {
        h.update(p);
    }
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&h.finalize().to_le_bytes());
    out.push(kind as u8);
    for p in parts {
        out.extend_from_slice(p);
    }
    Ok(())
}

/// File name of segment `id`.
pub(crate) fn file_name(id: u32) -> String {
    format!("{id:08}.seg")
}

/// Fsyncs a directory, so that a file created or removed in it survives a crash.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io(format!("syncing directory {}", dir.display())))
}

/// Opens a segment for positioned reads and writes; one handle per file is shared by the
/// writer and every reader.
fn open_segment(path: &Path, create: bool) -> Result<File, StoreError> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(create)
        .open(path)
        .map_err(io(format!(
            "{} segment {}",
            if create { "creating" } else { "opening" },
            path.display()
        )))
}

/// A record read from a segment.
#[derive(Debug)]
pub(crate) struct RawRecord {
    /// Offset of the record's header in its file.
    pub offset: u64,
    pub kind: RecordKind,
    pub body: Vec<u8>,
    /// False for a payload record whose checksum fails: possibly an erasure torn by a crash,
    /// which only [`recover`] may accept (every other reader treats it as damage).
    pub intact: bool,
}

impl RawRecord {
    /// Bytes the record takes in the file.
    pub fn framed_len(&self) -> u64 {
        HEADER_LEN + self.body.len() as u64
    }
}

/// How a sequential scan of one file ended.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ScanEnd {
    /// Every byte belonged to a valid record.
    Eof,
    /// The bytes at `offset` are not a valid record.
    Bad { offset: u64, reason: String },
}

/// Checks a header against the file length; returns body length and kind, or why not.
fn parse_header(header: &[u8; 9], offset: u64, file_len: u64) -> Result<(u32, u8), String> {
    let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
    let kind = header[8];
    if RecordKind::from_byte(kind).is_none() {
        return Err(format!("unknown record kind {kind}"));
    }
    if offset
        .saturating_add(HEADER_LEN)
        .saturating_add(u64::from(len))
        > file_len
    {
        return Err(format!(
            "record of {len} bytes runs past the end of the file ({file_len} bytes)"
        ));
    }
    Ok((len, kind))
}

/// Reads records in order from `start` until the end of the file or the first invalid one,
/// handing each valid record to `f`.
pub(crate) fn scan_file(
    file: &File,
    name: &str,
    start: u64,
    mut f: impl FnMut(RawRecord) -> Result<(), StoreError>,
) -> Result<ScanEnd, StoreError> {
    let file_len = file
        .metadata()
        .map_err(io(format!("reading the length of segment {name}")))?
        .len();
    let mut r = BufReader::with_capacity(1 << 20, file);
    r.seek(SeekFrom::Start(start))
        .map_err(io(format!("seeking in segment {name}")))?;
    let mut offset = start;
    loop {
        if offset == file_len {
            return Ok(ScanEnd::Eof);
        }
        if offset + HEADER_LEN > file_len {
            return Ok(ScanEnd::Bad {
                offset,
                reason: format!(
                    "short record header: {} of {HEADER_LEN} bytes",
                    file_len - offset
                ),
            });
        }
        let mut header = [0u8; 9];
        r.read_exact(&mut header)
            .map_err(io(format!("reading segment {name} at offset {offset}")))?;
        let (len, kind) = match parse_header(&header, offset, file_len) {
            Ok(v) => v,
            Err(reason) => return Ok(ScanEnd::Bad { offset, reason }),
        };
        let mut body = vec![0u8; len as usize];
        r.read_exact(&mut body)
            .map_err(io(format!("reading segment {name} at offset {offset}")))?;
        let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
        let intact = checksum(kind, &body) == crc;
        let Some(kind) = RecordKind::from_byte(kind) else {
            // parse_header checked the kind already.
            return Ok(ScanEnd::Bad {
                offset,
                reason: format!("unknown record kind {kind}"),
            });
        };
        let maybe_torn_erasure = matches!(kind, RecordKind::Payload | RecordKind::ErasedPayload)
            && body.len() >= PAYLOAD_PREFIX_LEN;
        if !intact && !maybe_torn_erasure {
            return Ok(ScanEnd::Bad {
                offset,
                reason: "checksum mismatch".into(),
            });
        }
        let rec = RawRecord {
            offset,
            kind,
            body,
            intact,
        };
        offset += rec.framed_len();
        f(rec)?;
    }
}

/// Offset of the first intact Checkpoint or Cosignature record (the records that commit) that
/// starts after `from`, if any: a sign that damage at `from` is inside committed data rather
/// than a torn tail.
fn checkpoint_after(file: &File, name: &str, from: u64) -> Result<Option<u64>, StoreError> {
    let mut rest = Vec::new();
    let mut f = file;
    f.seek(SeekFrom::Start(from))
        .and_then(|_| f.read_to_end(&mut rest))
        .map_err(io(format!("reading the tail of segment {name}")))?;
    let end = rest.len() as u64;
    for p in 1..rest.len() {
        let Some(header) = rest.get(p..p + 9) else {
            break;
        };
        if header[8] != RecordKind::Checkpoint as u8 && header[8] != RecordKind::Cosignature as u8 {
            continue;
        }
        let mut h = [0u8; 9];
        h.copy_from_slice(header);
        let Ok((len, kind)) = parse_header(&h, p as u64, end) else {
            continue;
        };
        let body = &rest[p + 9..p + 9 + len as usize];
        let crc = u32::from_le_bytes([h[4], h[5], h[6], h[7]]);
        let plausible = if kind == RecordKind::Checkpoint as u8 {
            std::str::from_utf8(body).is_ok()
        } else {
            parse_cosignature(body).is_ok()
        };
        if checksum(kind, body) == crc && plausible {
            return Ok(Some(from + p as u64));
        }
    }
    Ok(None)
}

/// Reads the record at `offset` of a segment, whose body the index says is `len` bytes,
/// checking its frame, checksum and kind: every read from disk is verified, not just the scan
/// on open (and a damaged length never makes us allocate more than the index expects).
pub(crate) fn read_record(
    file: &File,
    segment: u32,
    offset: u64,
    len: u32,
    kinds: &[RecordKind],
) -> Result<RawRecord, StoreError> {
    let corrupt = |reason: String| StoreError::Corrupt {
        segment,
        offset,
        reason,
    };
    let mut header = [0u8; 9];
    read_exact_at(file, &mut header, offset)
        .map_err(|e| corrupt(format!("cannot read record header: {e}")))?;
    let stored_len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
    if stored_len != len {
        return Err(corrupt(format!(
            "record length is {stored_len}, the index says {len}"
        )));
    }
    let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
    let kind = RecordKind::from_byte(header[8])
        .filter(|k| kinds.contains(k))
        .ok_or_else(|| {
            corrupt(format!(
                "record kind {} where one of {kinds:?} was expected",
                header[8]
            ))
        })?;
    // The length comes from the index, which may be damaged: nothing is allocated for a
    // record that would not fit in the file.
    let file_len = file
        .metadata()
        .map_err(|e| corrupt(format!("cannot read the segment's length: {e}")))?
        .len();
    let end = offset
        .checked_add(HEADER_LEN)
        .and_then(|o| o.checked_add(u64::from(len)))
        .filter(|end| *end <= file_len)
        .ok_or_else(|| {
            corrupt(format!(
                "a {len}-byte record here runs past the end of the segment ({file_len} bytes)"
            ))
        })?;
    let mut body = vec![0u8; len as usize];
    read_exact_at(file, &mut body, end - u64::from(len))
        .map_err(|e| corrupt(format!("cannot read {len}-byte record body: {e}")))?;
    if checksum(header[8], &body) != crc {
        return Err(corrupt("checksum mismatch".into()));
    }
    Ok(RawRecord {
        offset,
        kind,
        body,
        intact: true,
    })
}

/// The ErasedPayload record that replaces a payload record of body length `len` committing to
/// `commitment`: same length, so it is written over the original in place.
pub(crate) fn erased_record(commitment: &Hash, len: u32) -> Result<Vec<u8>, StoreError> {
    let zeros = (len as usize)
        .checked_sub(32)
        .filter(|n| *n >= SALT_LEN)
        .map(|n| vec![0u8; n])
        .ok_or(StoreError::Corrupt {
            segment: u32::MAX,
            offset: 0,
            reason: format!("a payload record of {len} bytes is shorter than commitment and salt"),
        })?;
    let mut out = Vec::with_capacity(HEADER_LEN as usize + len as usize);
    encode_record(&mut out, RecordKind::ErasedPayload, &[commitment, &zeros])?;
    Ok(out)
}

fn read_exact_at(file: &File, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    file.read_exact_at(buf, offset).map_err(|e| {
        if e.kind() == ErrorKind::UnexpectedEof {
            std::io::Error::new(ErrorKind::UnexpectedEof, "file ends first")
        } else {
            e
        }
    })
}

/// One segment file, open for positioned reads and writes.
#[derive(Debug, Clone)]
pub(crate) struct Segment {
    pub id: u32,
    pub file: Arc<File>,
    /// Committed length: everything before it is whole batches.
    pub len: u64,
}

/// The state of the segments after recovery.
#[derive(Debug)]
pub(crate) struct Recovered {
    /// Every segment, by id from 0; never empty.
    pub segments: Vec<Segment>,
    /// Entries committed.
    pub size: u64,
    /// Leaf hash of the last committed entry, ZERO_HASH when empty.
    pub tip: Hash,
    /// The committed tree's right edge, computed from the entries themselves.
    pub frontier: Frontier,
    /// Bytes of uncommitted tail cut off the last segment.
    pub cut_bytes: u64,
    /// Committed Cosignature records, so the index can tell whether it holds them all.
    pub cosignatures: u64,
    /// Payload records whose erasure a crash tore, rewritten as erased.
    pub torn_erasures: usize,
}

/// Lists segment ids in `seg_dir`, checking that they run from 0 without a gap.
fn list(seg_dir: &Path) -> Result<Vec<u32>, StoreError> {
    let mut ids = Vec::new();
    let rd = std::fs::read_dir(seg_dir).map_err(io(format!("listing {}", seg_dir.display())))?;
    for de in rd {
        let de = de.map_err(io(format!("listing {}", seg_dir.display())))?;
        let name = de.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(stem) = name.strip_suffix(".seg") else {
            continue;
        };
        match stem.parse::<u32>() {
            Ok(id) if stem.len() == 8 => ids.push(id),
            _ => {
                return Err(StoreError::Corrupt {
                    segment: u32::MAX,
                    offset: 0,
                    reason: format!(
                        "unexpected segment file name {name:?} in {}",
                        seg_dir.display()
                    ),
                });
            }
        }
    }
    ids.sort_unstable();
    for (want, &id) in ids.iter().enumerate() {
        if want as u64 != u64::from(id) {
            return Err(StoreError::Corrupt {
                segment: want as u32,
                offset: 0,
                reason: format!("segment file {} is missing", file_name(want as u32)),
            });
        }
    }
    Ok(ids)
}

/// Scans every segment, cuts the uncommitted tail of the last one, and checks that the
/// committed entries continue each other. Creates segment 0 if there is none.
pub(crate) fn recover(seg_dir: &Path) -> Result<Recovered, StoreError> {
    let ids = list(seg_dir)?;
    if ids.is_empty() {
        let path = seg_dir.join(file_name(0));
        let file = open_segment(&path, true)?;
        sync_dir(seg_dir)?;
        return Ok(Recovered {
            segments: vec![Segment {
                id: 0,
                file: Arc::new(file),
                len: 0,
            }],
            size: 0,
            tip: ZERO_HASH,
            frontier: Frontier::new(),
            cut_bytes: 0,
            cosignatures: 0,
            torn_erasures: 0,
        });
    }

    let mut segments = Vec::with_capacity(ids.len());
    let mut cut_bytes = 0;
    // Committed state, advanced at each Checkpoint record.
    let mut size = 0u64;
    let mut tip = ZERO_HASH;
    // The tree's right edge, so the index's Merkle nodes can be checked against the segments.
    let mut frontier = Frontier::new();
    let mut cosignatures = 0u64;
    // Commitments of committed Redaction entries, and committed payload records whose checksum
    // fails (segment, offset, body length, commitment): each must be a torn erasure.
    let mut redacted: HashSet<Hash> = HashSet::new();
    let mut torn: Vec<(usize, u64, u32, Hash)> = Vec::new();
    let last_id = ids.len() as u32 - 1;
    for id in ids {
        let name = file_name(id);
        let path = seg_dir.join(&name);
        let file = open_segment(&path, false)?;
        let file_len = file
            .metadata()
            .map_err(io(format!("reading the length of {}", path.display())))?
            .len();
        let is_last = id == last_id;
        if file_len == 0 && !is_last {
            return Err(StoreError::Corrupt {
                segment: id,
                offset: 0,
                reason: "empty segment before the last one".into(),
            });
        }

        // The batch being read: entries seen since the last Checkpoint record.
        let mut pending_size = size;
        let mut pending_tip = tip;
        let mut pending_frontier = frontier.clone();
        // Whether records of a batch without its Checkpoint record yet precede this point.
        let mut pending_records = false;
        let mut pending_redacted: Vec<Hash> = Vec::new();
        let mut pending_torn: Vec<(usize, u64, u32, Hash)> = Vec::new();
        let mut committed_end = 0u64;
        let end = scan_file(&file, &name, 0, |rec| {
            let corrupt = |reason: String| StoreError::Corrupt {
                segment: id,
                offset: rec.offset,
                reason,
            };
            match rec.kind {
                RecordKind::Entry => {
                    let e = entry::decode(&rec.body).map_err(|e| corrupt(e.to_string()))?;
                    if e.index != pending_size {
                        return Err(corrupt(format!(
                            "entry has index {} at log position {pending_size}",
                            e.index
                        )));
                    }
                    if e.prev_leaf_hash != pending_tip {
                        return Err(corrupt(format!(
                            "entry {} has prev_leaf_hash {} but entry {} has leaf hash {}",
                            e.index,
                            hex::encode(&e.prev_leaf_hash),
                            pending_size.wrapping_sub(1),
                            hex::encode(pending_tip)
                        )));
                    }
                    if let Some(pb::entry::Kind::Redaction(r)) = &e.kind
                        && let Ok(c) = hash_from_slice(&r.commitment)
                    {
                        pending_redacted.push(c);
                    }
                    pending_tip = leaf_hash(&rec.body);
                    pending_frontier.push(pending_tip);
                    pending_size += 1;
                    pending_records = true;
                }
                RecordKind::Payload | RecordKind::ErasedPayload => {
                    pending_records = true;
                    if rec.body.len() < PAYLOAD_PREFIX_LEN {
                        return Err(corrupt(format!(
                            "payload record of {} bytes is shorter than commitment and salt",
                            rec.body.len()
                        )));
                    }
                    if !rec.intact {
                        let c =
                            hash_from_slice(&rec.body[..32]).map_err(|e| corrupt(e.to_string()))?;
                        pending_torn.push((segments.len(), rec.offset, rec.body.len() as u32, c));
                    }
                }
                RecordKind::Checkpoint => {
                    if std::str::from_utf8(&rec.body).is_err() {
                        return Err(corrupt("checkpoint note is not UTF-8".into()));
                    }
                    size = pending_size;
                    tip = pending_tip;
                    frontier = pending_frontier.clone();
                    redacted.extend(pending_redacted.drain(..));
                    torn.append(&mut pending_torn);
                    committed_end = rec.offset + rec.framed_len();
                    pending_records = false;
                }
                RecordKind::Cosignature => {
                    let (cosigned, _) = parse_cosignature(&rec.body).map_err(corrupt)?;
                    if cosigned > size || cosigned == 0 {
                        return Err(corrupt(format!(
                            "cosignature of tree size {cosigned}, but the log held {size} entries when it was written"
                        )));
                    }
                    // Written only between batches: after committed data it is committed
                    // itself. After records of an unfinished batch (which a writer never
                    // produces) it belongs to that uncommitted tail.
                    if !pending_records {
                        committed_end = rec.offset + rec.framed_len();
                        cosignatures += 1;
                    }
                }
            }
            Ok(())
        })?;

        // A checksum-failing payload record after the last checkpoint is where the tail went
        // bad, if nothing went bad earlier.
        let end = match (pending_torn.first(), end) {
            (Some(&(_, at, _, _)), ScanEnd::Eof) => ScanEnd::Bad {
                offset: at,
                reason: "checksum mismatch".into(),
            },
            (Some(&(_, at, _, _)), ScanEnd::Bad { offset, reason }) if at < offset => {
                ScanEnd::Bad {
                    offset: at,
                    reason: format!("checksum mismatch (and {reason} at offset {offset})"),
                }
            }
            (_, end) => end,
        };
        if let ScanEnd::Bad { offset, reason } = &end {
            if !is_last {
                return Err(StoreError::Corrupt {
                    segment: id,
                    offset: *offset,
                    reason: format!("{reason} (in a segment before the last one)"),
                });
            }
            if let Some(cp) = checkpoint_after(&file, &name, *offset)? {
                return Err(StoreError::Corrupt {
                    segment: id,
                    offset: *offset,
                    reason: format!(
                        "{reason}, before a committed checkpoint record at offset {cp}"
                    ),
                });
            }
        }
        if committed_end < file_len {
            if !is_last {
                return Err(StoreError::Corrupt {
                    segment: id,
                    offset: committed_end,
                    reason: "segment before the last one ends with records of a batch \
                             that has no checkpoint record"
                        .into(),
                });
            }
            let why = match &end {
                ScanEnd::Bad { offset, reason } => format!("{reason} at offset {offset}"),
                ScanEnd::Eof => "records of a batch with no checkpoint record".into(),
            };
            tracing::warn!(
                segment = %name,
                from = committed_end,
                to = file_len,
                bytes = file_len - committed_end,
                "cutting the uncommitted tail of the log ({why}): bytes {committed_end}..{file_len} \
                 of {name} were never acknowledged"
            );
            cut_bytes = file_len - committed_end;
            file.set_len(committed_end)
                .and_then(|_| file.sync_all())
                .map_err(io(format!("cutting the tail of {}", path.display())))?;
        }
        segments.push(Segment {
            id,
            file: Arc::new(file),
            len: committed_end,
        });
    }

    // Finish the erasures a crash tore; any other checksum failure is damage.
    for &(seg, offset, len, commitment) in &torn {
        let segment = &segments[seg];
        if !redacted.contains(&commitment) {
            return Err(StoreError::Corrupt {
                segment: segment.id,
                offset,
                reason: "checksum mismatch in a payload record that no Redaction entry erases"
                    .into(),
            });
        }
        let name = file_name(segment.id);
        tracing::warn!(
            segment = %name,
            offset,
            "finishing the erasure of payload {} that a crash interrupted",
            hex::encode(commitment)
        );
        segment
            .file
            .write_all_at(&erased_record(&commitment, len)?, offset)
            .and_then(|_| segment.file.sync_data())
            .map_err(io(format!(
                "finishing an erasure in {name} at offset {offset}"
            )))?;
    }
    Ok(Recovered {
        segments,
        size,
        tip,
        frontier,
        cut_bytes,
        cosignatures,
        torn_erasures: torn.len(),
    })
}

/// Splits a Cosignature record's body into the tree size it cosigns and its signature line.
pub(crate) fn parse_cosignature(body: &[u8]) -> Result<(u64, NoteSignature), String> {
    let (size, line) = body.split_first_chunk::<8>().ok_or_else(|| {
        format!(
            "cosignature record of {} bytes has no tree size",
            body.len()
        )
    })?;
    let line = std::str::from_utf8(line)
        .ok()
        .and_then(|l| l.strip_suffix('\n'))
        .ok_or_else(|| "cosignature record's line is not UTF-8 ending in a newline".to_string())?;
    let sig = NoteSignature::parse_line(line).map_err(|e| format!("cosignature record: {e}"))?;
    Ok((u64::from_be_bytes(*size), sig))
}

/// The body of a Cosignature record: tree size, then the signature line.
pub(crate) fn cosignature_body(size: u64, sig: &NoteSignature) -> Vec<u8> {
    let mut body = size.to_be_bytes().to_vec();
    body.extend_from_slice(sig.line().as_bytes());
    body
}

/// The append side of the last segment; lives behind the store's writer lock.
#[derive(Debug)]
pub(crate) struct SegmentWriter {
    seg_dir: PathBuf,
    current: Segment,
    max_bytes: u64,
    faults: Faults,
    /// A failed batch was cut off but the cut is not yet synced; the next write syncs it first.
    cut_unsynced: bool,
}

impl SegmentWriter {
    /// Continues appending to `last` (a recovered, committed segment).
    pub fn new(seg_dir: PathBuf, last: Segment, max_bytes: u64, faults: Faults) -> Self {
        Self {
            seg_dir,
            current: last,
            max_bytes,
            faults,
            cut_unsynced: false,
        }
    }

    /// Starts a new segment file if a batch of `len` bytes would take a non-empty current one
    /// past the size limit; returns the new segment's handle (for the readers) if it did.
    pub fn roll_for(&mut self, len: usize) -> Result<Option<Segment>, StoreError> {
        if self.current.len == 0 || self.current.len + len as u64 <= self.max_bytes {
            return Ok(None);
        }
        let id = self.current.id.checked_add(1).ok_or(StoreError::Corrupt {
            segment: self.current.id,
            offset: self.current.len,
            reason: "no segment id left".into(),
        })?;
        let path = self.seg_dir.join(file_name(id));
        let file = open_segment(&path, true)?;
        // The new name must survive a crash before any batch in it is acknowledged.
        sync_dir(&self.seg_dir)?;
        self.current = Segment {
            id,
            file: Arc::new(file),
            len: 0,
        };
        Ok(Some(self.current.clone()))
    }

    /// Writes one framed batch at the end of the current segment and fdatasyncs it. Returns
    /// the segment and offset it starts at.
    ///
    /// On error the file may hold part of the batch: call [`SegmentWriter::roll_back`] before
    /// appending again.
    pub fn write(&mut self, buf: &[u8]) -> Result<(u32, u64), StoreError> {
        let name = file_name(self.current.id);
        let offset = self.current.len;
        if self.cut_unsynced {
            self.faults
                .sync_data(&self.current.file)
                .map_err(io(format!("syncing {name} after cutting a failed batch")))?;
            self.cut_unsynced = false;
        }
        self.faults
            .write_all_at(&self.current.file, buf, offset)
            .map_err(io(format!("writing a batch to {name} at offset {offset}")))?;
        self.faults
            .sync_data(&self.current.file)
            .map_err(io(format!("syncing {name}")))?;
        self.current.len += buf.len() as u64;
        Ok((self.current.id, offset))
    }

    /// Cuts whatever a failed [`SegmentWriter::write`] left after the last committed byte, so
    /// the segment ends with a committed batch again and appending can go on. The committed
    /// bytes were synced with their batch, so a failed sync of later bytes does not touch them.
    ///
    /// Fails only when the cut itself fails. When the cut cannot be synced yet (fdatasync still
    /// failing), the next write syncs it before writing; until then a crash may leave the failed
    /// batch on disk, never acknowledged, which recovery keeps or cuts like any other.
    pub fn roll_back(&mut self) -> Result<(), StoreError> {
        let name = file_name(self.current.id);
        let len = self.current.len;
        self.faults
            .set_len(&self.current.file, len)
            .map_err(io(format!("cutting {name} back to {len} bytes")))?;
        self.cut_unsynced = self.faults.sync_data(&self.current.file).is_err();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pb;
    use prost::Message;

    /// Encodes a test entry chained on `prev`.
    fn entry(index: u64, prev: &Hash) -> Vec<u8> {
        pb::Entry {
            index,
            time_ms: 1_000 + index as i64,
            prev_leaf_hash: prev.to_vec(),
            kind: Some(pb::entry::Kind::KeyChange(pb::KeyChange {
                party: "p".into(),
                ..Default::default()
            })),
        }
        .encode_to_vec()
    }

    /// Writes `batches` batches of `per` entries (each with one payload) to segment 0 and
    /// returns the file bytes and the offset each batch ends at.
    fn write_log(dir: &Path, batches: u64, per: u64) -> (Vec<u8>, Vec<u64>) {
        let seg_dir = dir.join("segments");
        std::fs::create_dir_all(&seg_dir).unwrap();
        let rec = recover(&seg_dir).unwrap();
        let mut w = SegmentWriter::new(
            seg_dir.clone(),
            rec.segments[0].clone(),
            u64::MAX,
            Faults::default(),
        );
        let mut tip = ZERO_HASH;
        let mut ends = Vec::new();
        let mut n = 0;
        for b in 0..batches {
            let mut buf = Vec::new();
            encode_record(&mut buf, RecordKind::Payload, &[&[7; 32], &[8; 32], b"{}"]).unwrap();
            for _ in 0..per {
                let e = entry(n, &tip);
                tip = leaf_hash(&e);
                n += 1;
                encode_record(&mut buf, RecordKind::Entry, &[&e]).unwrap();
            }
            encode_record(
                &mut buf,
                RecordKind::Checkpoint,
                &[format!("cp {b}").as_bytes()],
            )
            .unwrap();
            let (_, off) = w.write(&buf).unwrap();
            ends.push(off + buf.len() as u64);
        }
        (std::fs::read(seg_dir.join(file_name(0))).unwrap(), ends)
    }

    #[test]
    fn a_failed_batch_write_is_cut_off_and_appending_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let (committed, _) = write_log(dir.path(), 2, 3);
        let seg_dir = dir.path().join("segments");
        let rec = recover(&seg_dir).unwrap();
        let faults = Faults::default();
        let mut w = SegmentWriter::new(
            seg_dir.clone(),
            rec.segments[0].clone(),
            u64::MAX,
            faults.clone(),
        );
        let batch = vec![0x5a; 1000];
        for (fault, on) in [
            (&Faults::set_disk_full as &dyn Fn(&Faults, bool), true),
            (&Faults::set_fsync_fails, true),
        ] {
            fault(&faults, on);
            assert!(w.write(&batch).is_err());
            let on_disk = std::fs::read(seg_dir.join(file_name(0))).unwrap();
            assert!(
                on_disk.len() > committed.len(),
                "the fault left part of the batch"
            );
            w.roll_back().unwrap();
            let on_disk = std::fs::read(seg_dir.join(file_name(0))).unwrap();
            assert_eq!(
                on_disk, committed,
                "the cut leaves exactly the committed bytes"
            );
            fault(&faults, false);
        }
        faults.set_disk_full(true);
        faults.set_truncate_fails(true);
        assert!(w.write(&batch).is_err());
        assert!(w.roll_back().is_err(), "a failing cut is reported");
        faults.set_disk_full(false);
        faults.set_truncate_fails(false);
        w.roll_back().unwrap();
        let (_, offset) = w.write(&batch).unwrap();
        assert_eq!(
            offset,
            committed.len() as u64,
            "the next batch follows the last commit"
        );
    }

    #[test]
    fn record_framing() {
        let mut buf = Vec::new();
        encode_record(&mut buf, RecordKind::Checkpoint, &[b"ab", b"c"]).unwrap();
        assert_eq!(&buf[0..4], &3u32.to_le_bytes());
        assert_eq!(&buf[4..8], &crc32fast::hash(b"\x03abc").to_le_bytes());
        assert_eq!(buf[8], 3);
        assert_eq!(&buf[9..], b"abc");
    }

    #[test]
    fn recovers_clean_log() {
        let dir = tempfile::tempdir().unwrap();
        let (bytes, ends) = write_log(dir.path(), 3, 2);
        assert_eq!(bytes.len() as u64, ends[2]);
        let rec = recover(&dir.path().join("segments")).unwrap();
        assert_eq!(rec.size, 6);
        assert_eq!(rec.segments.len(), 1);
        assert_eq!(rec.segments[0].len, ends[2]);
    }

    #[test]
    fn every_torn_tail_is_cut_to_the_last_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let (bytes, ends) = write_log(dir.path(), 3, 2);
        let seg = dir.path().join("segments").join(file_name(0));
        for cut in ends[1]..ends[2] {
            std::fs::write(&seg, &bytes[..cut as usize]).unwrap();
            let rec = recover(&dir.path().join("segments")).unwrap();
            assert_eq!(rec.size, 4, "cut at {cut}");
            assert_eq!(rec.segments[0].len, ends[1]);
            assert_eq!(std::fs::metadata(&seg).unwrap().len(), ends[1]);
        }
        // Garbage after a whole log, including bytes that look like a header.
        let mut g = bytes.clone();
        g.extend_from_slice(&[5, 0, 0, 0, 1, 2, 3, 4, 3, b'x']);
        std::fs::write(&seg, &g).unwrap();
        let rec = recover(&dir.path().join("segments")).unwrap();
        assert_eq!(rec.size, 6);
        assert_eq!(std::fs::metadata(&seg).unwrap().len(), ends[2]);
    }

    #[test]
    fn damage_before_a_checkpoint_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let (mut bytes, ends) = write_log(dir.path(), 3, 2);
        let seg = dir.path().join("segments").join(file_name(0));
        // Inside the first batch's payload record body.
        bytes[20] ^= 0x40;
        std::fs::write(&seg, &bytes).unwrap();
        match recover(&dir.path().join("segments")) {
            Err(StoreError::Corrupt {
                segment: 0,
                offset: 0,
                reason,
            }) => assert!(reason.contains("checksum"), "{reason}"),
            other => panic!("expected Corrupt, got {other:?}"),
        }
        // Nothing was cut.
        assert_eq!(std::fs::metadata(&seg).unwrap().len(), ends[2]);
    }

    #[test]
    fn segment_gap_and_unterminated_middle_segment_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let (bytes, ends) = write_log(dir.path(), 2, 1);
        let seg_dir = dir.path().join("segments");
        std::fs::write(seg_dir.join(file_name(2)), b"").unwrap();
        assert!(matches!(
            recover(&seg_dir),
            Err(StoreError::Corrupt { segment: 1, .. })
        ));
        std::fs::rename(seg_dir.join(file_name(2)), seg_dir.join(file_name(1))).unwrap();
        // Segment 0 ends in the middle of its second batch, segment 1 follows.
        std::fs::write(seg_dir.join(file_name(0)), &bytes[..ends[1] as usize - 3]).unwrap();
        assert!(matches!(
            recover(&seg_dir),
            Err(StoreError::Corrupt { segment: 0, .. })
        ));
    }

    #[test]
    fn broken_chain_with_valid_checksums_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let (mut bytes, ends) = write_log(dir.path(), 2, 1);
        // Append a well-framed batch whose entry does not link to the last one.
        let mut buf = Vec::new();
        encode_record(&mut buf, RecordKind::Entry, &[&entry(2, &[9; 32])]).unwrap();
        encode_record(&mut buf, RecordKind::Checkpoint, &[b"cp"]).unwrap();
        bytes.extend_from_slice(&buf);
        let seg_dir = dir.path().join("segments");
        std::fs::write(seg_dir.join(file_name(0)), &bytes).unwrap();
        match recover(&seg_dir) {
            Err(StoreError::Corrupt { offset, reason, .. }) => {
                assert_eq!(offset, ends[1]);
                assert!(reason.contains("prev_leaf_hash"), "{reason}");
            }
            other => panic!("expected Corrupt, got {other:?}"),
        }
        // Same with a wrong index.
        let mut buf = Vec::new();
        let tip = leaf_hash(&entry(1, &leaf_hash(&entry(0, &ZERO_HASH))));
        encode_record(&mut buf, RecordKind::Entry, &[&entry(7, &tip)]).unwrap();
        encode_record(&mut buf, RecordKind::Checkpoint, &[b"cp"]).unwrap();
        bytes.truncate(ends[1] as usize);
        bytes.extend_from_slice(&buf);
        std::fs::write(seg_dir.join(file_name(0)), &bytes).unwrap();
        assert!(matches!(
            recover(&seg_dir),
            Err(StoreError::Corrupt { reason, .. }) if reason.contains("index 7 at log position 2")
        ));
    }

    /// A framed Cosignature record of the checkpoint at `size`.
    fn cosignature_record(size: u64) -> Vec<u8> {
        let sig = NoteSignature {
            name: "police-network".into(),
            key_id: [1, 2, 3, 4],
            signature: vec![7; 72],
        };
        let mut buf = Vec::new();
        encode_record(
            &mut buf,
            RecordKind::Cosignature,
            &[&cosignature_body(size, &sig)],
        )
        .unwrap();
        buf
    }

    #[test]
    fn a_cosignature_after_the_last_checkpoint_is_committed_and_a_torn_one_is_cut() {
        let dir = tempfile::tempdir().unwrap();
        let (mut bytes, ends) = write_log(dir.path(), 2, 2);
        let seg_dir = dir.path().join("segments");
        let seg = seg_dir.join(file_name(0));
        let cosig = cosignature_record(4);
        bytes.extend_from_slice(&cosig);
        std::fs::write(&seg, &bytes).unwrap();
        let rec = recover(&seg_dir).unwrap();
        assert_eq!((rec.size, rec.cosignatures, rec.cut_bytes), (4, 1, 0));
        assert_eq!(rec.segments[0].len, bytes.len() as u64);
        // Torn at every byte: cut back to the checkpoint, nothing else changes.
        for cut in ends[1] + 1..bytes.len() as u64 {
            std::fs::write(&seg, &bytes[..cut as usize]).unwrap();
            let rec = recover(&seg_dir).unwrap();
            assert_eq!((rec.size, rec.cosignatures), (4, 0), "cut at {cut}");
            assert_eq!(std::fs::metadata(&seg).unwrap().len(), ends[1]);
        }
        // Damage to the checkpoint record just before an intact cosignature record is damage
        // to committed data, not a tail to cut.
        let mut damaged = bytes.clone();
        damaged[ends[1] as usize - 2] ^= 1;
        std::fs::write(&seg, &damaged).unwrap();
        assert!(matches!(
            recover(&seg_dir),
            Err(StoreError::Corrupt { reason, .. }) if reason.contains("committed checkpoint")
        ));
    }

    #[test]
    fn a_cosignature_of_a_size_beyond_the_log_or_after_an_unfinished_batch() {
        let dir = tempfile::tempdir().unwrap();
        let (mut bytes, ends) = write_log(dir.path(), 1, 2);
        let seg_dir = dir.path().join("segments");
        let seg = seg_dir.join(file_name(0));
        std::fs::write(&seg, [&bytes[..], &cosignature_record(3)].concat()).unwrap();
        assert!(matches!(
            recover(&seg_dir),
            Err(StoreError::Corrupt { reason, .. }) if reason.contains("tree size 3")
        ));
        // Records of a batch with no checkpoint, then a cosignature: all of it is the tail.
        let mut tail = Vec::new();
        encode_record(&mut tail, RecordKind::Payload, &[&[7; 32], &[8; 32], b"{}"]).unwrap();
        tail.extend_from_slice(&cosignature_record(2));
        bytes.extend_from_slice(&tail);
        std::fs::write(&seg, &bytes).unwrap();
        let rec = recover(&seg_dir).unwrap();
        assert_eq!((rec.size, rec.cosignatures), (2, 0));
        assert_eq!(rec.cut_bytes, tail.len() as u64);
        assert_eq!(std::fs::metadata(&seg).unwrap().len(), ends[0]);
    }

    #[test]
    fn read_record_checks_kind_and_crc() {
        let dir = tempfile::tempdir().unwrap();
        write_log(dir.path(), 1, 1);
        let rec = recover(&dir.path().join("segments")).unwrap();
        let f = &rec.segments[0].file;
        let r = read_record(f, 0, 0, 66, &[RecordKind::Payload]).unwrap();
        assert_eq!(&r.body[..32], &[7; 32]);
        assert!(matches!(
            read_record(f, 0, 0, 66, &[RecordKind::Entry]),
            Err(StoreError::Corrupt { .. })
        ));
        assert!(matches!(
            read_record(f, 0, 0, 65, &[RecordKind::Payload]),
            Err(StoreError::Corrupt { reason, .. }) if reason.contains("index says 65")
        ));
        assert!(matches!(
            read_record(f, 0, 3, 66, &[RecordKind::Payload]),
            Err(StoreError::Corrupt { offset: 3, .. })
        ));
    }
}
