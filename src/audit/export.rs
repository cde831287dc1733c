//! The export archive's framing (docs/FORMAT.md): a file is a sequence of `ExportRecord`s,
//! each prefixed by its length as a protobuf varint — the same framing as protobuf's
//! `writeDelimitedTo`, so any protobuf library can read it.

use std::io::{self, BufRead, Write};

use prost::Message;
use thiserror::Error;

use crate::pb;

/// The `format` string of an export's header record; a new layout gets a new version.
pub const FORMAT: &str = "borderlog-export/v1";

/// The largest record a reader accepts, so a corrupt length cannot make it allocate
/// gigabytes. Records are one entry with its payloads, far below this.
pub const MAX_RECORD_BYTES: u64 = 64 << 20;

/// Why an export file could not be read or written as records (not whether it verifies).
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ExportError {
    /// Reading or writing the file failed.
    #[error("export I/O: {0}")]
    Io(#[from] io::Error),
    /// The file ends inside a record (a truncated copy).
    #[error("export ends inside record {record}: a truncated file")]
    Truncated {
        /// Position of the incomplete record, from 0.
        record: u64,
    },
    /// A record's length prefix is not a varint or exceeds [`MAX_RECORD_BYTES`].
    #[error("record {record} has a bad length prefix: {reason}")]
    BadLength {
        /// Position of the record, from 0.
        record: u64,
        /// What is wrong with it.
        reason: String,
    },
    /// A record's bytes do not decode as `borderlog.v1.ExportRecord`.
    #[error("record {record} does not decode: {reason}")]
    Malformed {
        /// Position of the record, from 0.
        record: u64,
        /// The decoder's message.
        reason: String,
    },
}

/// Writes records with their length prefixes.
pub struct RecordWriter<W: Write> {
    out: W,
    buf: Vec<u8>,
}

impl<W: Write> RecordWriter<W> {
    /// A writer appending records to `out` (wrap files in a `BufWriter`).
    pub fn new(out: W) -> Self {
        RecordWriter {
            out,
            buf: Vec::new(),
        }
    }

    /// Writes one record.
    pub fn write(&mut self, record: &pb::ExportRecord) -> Result<(), ExportError> {
        self.buf.clear();
        record
            .encode_length_delimited(&mut self.buf)
            .map_err(|e| io::Error::other(e.to_string()))?;
        self.out.write_all(&self.buf)?;
        Ok(())
    }

    /// Flushes and hands back the underlying writer.
    pub fn finish(mut self) -> Result<W, ExportError> {
        self.out.flush()?;
        Ok(self.out)
    }
}

/// Reads records one by one; an iterator of `Result<ExportRecord, ExportError>` that stops
/// after the first error.
pub struct RecordReader<R: BufRead> {
    input: R,
    record: u64,
    failed: bool,
    buf: Vec<u8>,
}

impl<R: BufRead> RecordReader<R> {
    /// A reader over `input` (wrap files in a `BufReader`).
    pub fn new(input: R) -> Self {
        RecordReader {
            input,
            record: 0,
            failed: false,
            buf: Vec::new(),
        }
    }

    /// The next record, `None` at a clean end of file.
    pub fn next_record(&mut self) -> Result<Option<pb::ExportRecord>, ExportError> {
        let record = self.record;
        let Some(len) = self.read_varint()? else {
            return Ok(None);
        };
        if len > MAX_RECORD_BYTES {
            return Err(ExportError::BadLength {
                record,
                reason: format!("{len} bytes is over the {MAX_RECORD_BYTES}-byte limit"),
            });
        }
        self.buf.resize(len as usize, 0);
        self.input
            .read_exact(&mut self.buf)
            .map_err(|e| match e.kind() {
                io::ErrorKind::UnexpectedEof => ExportError::Truncated { record },
                _ => ExportError::Io(e),
            })?;
        let decoded =
            pb::ExportRecord::decode(self.buf.as_slice()).map_err(|e| ExportError::Malformed {
                record,
                reason: e.to_string(),
            })?;
        self.record += 1;
        Ok(Some(decoded))
    }

    /// A varint length, `None` at end of file before its first byte.
    fn read_varint(&mut self) -> Result<Option<u64>, ExportError> {
        let record = self.record;
        let mut value = 0u64;
        for i in 0..10 {
            let mut byte = [0u8; 1];
            match self.input.read_exact(&mut byte) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                    return if i == 0 {
                        Ok(None)
                    } else {
                        Err(ExportError::Truncated { record })
                    };
                }
                Err(e) => return Err(e.into()),
            }
            value |= u64::from(byte[0] & 0x7f) << (7 * i);
            if byte[0] & 0x80 == 0 {
                return Ok(Some(value));
            }
        }
        Err(ExportError::BadLength {
            record,
            reason: "varint longer than 10 bytes".into(),
        })
    }
}

impl<R: BufRead> Iterator for RecordReader<R> {
    type Item = Result<pb::ExportRecord, ExportError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let r = self.next_record().transpose();
        if matches!(r, Some(Err(_))) {
            self.failed = true;
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pb::export_record::Record;

    fn records() -> Vec<pb::ExportRecord> {
        vec![
            pb::ExportRecord {
                record: Some(Record::Header(pb::ExportHeader {
                    format: FORMAT.into(),
                    origin: "o".into(),
                    tree_size: 1,
                    ..Default::default()
                })),
            },
            pb::ExportRecord {
                record: Some(Record::Checkpoint("x".repeat(300))),
            },
        ]
    }

    #[test]
    fn records_round_trip() {
        let mut w = RecordWriter::new(Vec::new());
        for r in records() {
            w.write(&r).unwrap();
        }
        let bytes = w.finish().unwrap();
        let back: Vec<_> = RecordReader::new(bytes.as_slice())
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(back, records());
    }

    #[test]
    fn truncation_and_bad_lengths_are_named() {
        let mut w = RecordWriter::new(Vec::new());
        for r in records() {
            w.write(&r).unwrap();
        }
        let bytes = w.finish().unwrap();
        for cut in 1..bytes.len() {
            let got: Vec<_> = RecordReader::new(&bytes[..cut]).collect();
            let last = got.last().unwrap();
            // Cutting exactly between records is a clean (shorter) file.
            if got.len() == 1 && last.is_ok() {
                continue;
            }
            assert!(
                matches!(last, Err(ExportError::Truncated { .. })),
                "cut {cut}: {last:?}"
            );
        }
        let huge = [0xff, 0xff, 0xff, 0xff, 0x7f];
        assert!(matches!(
            RecordReader::new(&huge[..]).next(),
            Some(Err(ExportError::BadLength { record: 0, .. }))
        ));
        let garbage = [3u8, 0xff, 0xff, 0xff];
        assert!(matches!(
            RecordReader::new(&garbage[..]).next(),
            Some(Err(ExportError::Malformed { record: 0, .. }))
        ));
    }
}
