//! Reading, altering and re-signing exports as an attacker or a dishonest operator would, for
//! the tests that check the auditor catches it.

use std::path::Path;

use borderlog::audit::export::RecordWriter;
use borderlog::audit::verify::{Report, VerifyError, VerifyOptions, verify_records};
use borderlog::format::checkpoint::Checkpoint;
use borderlog::format::hash::leaf_hash;
use borderlog::format::note::Signer;
use borderlog::format::signature::{self, Purpose};
use borderlog::format::tree::Frontier;
use borderlog::identity::Registry;
use borderlog::identity::keys::{load_log_key, load_signing_key};
use borderlog::pb::{self, entry::Kind, export_record::Record};
use prost::Message;

use super::SENDER;

/// Verifies with two worker threads and nothing held.
pub fn verify(records: Vec<pb::ExportRecord>) -> Result<Report, VerifyError> {
    verify_trusting(records, Vec::new())
}

/// Verifies against checkpoints the auditor already holds.
pub fn verify_trusting(
    records: Vec<pb::ExportRecord>,
    trusted: Vec<String>,
) -> Result<Report, VerifyError> {
    verify_records(
        records,
        VerifyOptions {
            trusted_checkpoints: trusted,
            threads: 2,
            ..Default::default()
        },
    )
}

/// The checkpoint that ends an export.
pub fn last_checkpoint(records: &[pb::ExportRecord]) -> String {
    match &records.last().unwrap().record {
        Some(Record::Checkpoint(n)) => n.clone(),
        other => panic!("export does not end with a checkpoint: {other:?}"),
    }
}

/// The entry record at `index`.
pub fn entry_mut(records: &mut [pb::ExportRecord], index: u64) -> &mut pb::EntryResponse {
    records
        .iter_mut()
        .find_map(|r| match &mut r.record {
            Some(Record::Entry(e)) if e.index == index => Some(e),
            _ => None,
        })
        .expect("entry in export")
}

/// Writes records as an export file.
pub fn write_export(path: &Path, records: &[pb::ExportRecord]) {
    let mut w = RecordWriter::new(std::fs::File::create(path).unwrap());
    for r in records {
        w.write(r).unwrap();
    }
    w.finish().unwrap();
}

/// Rewrites indexes, links and leaf hashes of every entry record in order, as anyone could;
/// with the operator's `keys`, also re-signs every checkpoint with the log key — what a
/// dishonest operator could do. Without them the checkpoints keep what the log signed.
pub fn rechain(records: &mut Vec<pb::ExportRecord>, keys: Option<&Path>) {
    let mut prev = [0u8; 32];
    let mut frontier = Frontier::new();
    let mut signer: Option<Signer> = None;
    let origin = match &records[0].record {
        Some(Record::Header(h)) => h.origin.clone(),
        _ => panic!("no header"),
    };
    let mut size = 0;
    for r in records.iter_mut() {
        match &mut r.record {
            Some(Record::Entry(e)) => {
                let mut decoded = pb::Entry::decode(e.entry.as_slice()).unwrap();
                decoded.index = size;
                decoded.prev_leaf_hash = prev.to_vec();
                e.index = size;
                e.entry = decoded.encode_to_vec();
                let leaf = leaf_hash(&e.entry);
                e.leaf_hash = leaf.to_vec();
                prev = leaf;
                frontier.push(leaf);
                size += 1;
            }
            Some(Record::Checkpoint(note)) => {
                let Some(keys) = keys else { continue };
                let s = signer.get_or_insert_with(|| log_signer(keys, &origin));
                *note = Checkpoint {
                    origin: origin.clone(),
                    size,
                    root: frontier.root(),
                    extensions: Vec::new(),
                }
                .sign(s)
                .unwrap();
            }
            _ => {}
        }
    }
    if let (Some(keys), false) = (
        keys,
        matches!(
            records.last().and_then(|r| r.record.as_ref()),
            Some(Record::Checkpoint(_))
        ),
    ) {
        let s = signer.get_or_insert_with(|| log_signer(keys, &origin));
        records.push(pb::ExportRecord {
            record: Some(Record::Checkpoint(
                Checkpoint {
                    origin: origin.clone(),
                    size,
                    root: frontier.root(),
                    extensions: Vec::new(),
                }
                .sign(s)
                .unwrap(),
            )),
        });
    }
    if let Some(Record::Header(h)) = &mut records[0].record {
        h.tree_size = size;
    }
}

/// The log's checkpoint signer, from the operator's keys directory.
pub fn log_signer(keys: &Path, origin: &str) -> Signer {
    let registry = Registry::load(keys).unwrap();
    assert_eq!(registry.origin(), origin);
    Signer::new(origin, load_log_key(keys).unwrap()).unwrap()
}

/// Re-signs the disclosure at `index` with the sender's key after `f` changed its body, then
/// re-chains and re-signs the export as the operator: everything but the changed field holds.
pub fn resign_body(
    records: &mut Vec<pb::ExportRecord>,
    keys: &Path,
    index: u64,
    f: impl FnOnce(&mut pb::DisclosureBody),
) {
    let e = entry_mut(records, index);
    let mut entry = pb::Entry::decode(e.entry.as_slice()).unwrap();
    let Some(Kind::Disclosure(d)) = &mut entry.kind else {
        panic!("entry {index} is not a disclosure")
    };
    let mut body = pb::DisclosureBody::decode(d.body.as_slice()).unwrap();
    f(&mut body);
    d.body = body.encode_to_vec();
    let key = load_signing_key(keys, SENDER).unwrap();
    d.signature = signature::sign(&key, Purpose::Disclosure, &d.body).to_vec();
    e.entry = entry.encode_to_vec();
    rechain(records, Some(keys));
}

/// Replaces the entry record at `index` by a `withheld_entry` with its index and leaf hash.
pub fn withhold(records: &mut [pb::ExportRecord], index: u64) {
    let at = records
        .iter()
        .position(|r| matches!(&r.record, Some(Record::Entry(e)) if e.index == index))
        .unwrap();
    let leaf_hash = entry_mut(records, index).leaf_hash.clone();
    records[at].record = Some(Record::WithheldEntry(pb::WithheldEntry {
        index,
        leaf_hash,
        reason: "not yours".into(),
    }));
}

/// Appends an entry of `kind` (with `items` beside it) after the last entry, as the operator
/// could, then re-chains and re-signs the export with the operator's `keys`; returns its index.
pub fn append_entry(
    records: &mut Vec<pb::ExportRecord>,
    keys: &Path,
    kind: Kind,
    items: Vec<pb::StoredItem>,
) -> u64 {
    records.pop(); // the checkpoint that ended the export; rechain signs a new one
    let last = records
        .iter()
        .rev()
        .find_map(|r| match &r.record {
            Some(Record::Entry(e)) => Some(e.clone()),
            _ => None,
        })
        .expect("an entry");
    let index = last.index + 1;
    let bytes = pb::Entry {
        index,
        time_ms: super::now_ms(),
        prev_leaf_hash: last.leaf_hash,
        kind: Some(kind),
    }
    .encode_to_vec();
    records.push(pb::ExportRecord {
        record: Some(Record::Entry(pb::EntryResponse {
            index,
            leaf_hash: leaf_hash(&bytes).to_vec(),
            entry: bytes,
            items,
        })),
    });
    rechain(records, Some(keys));
    index
}
