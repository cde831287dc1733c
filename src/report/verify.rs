//! Checking a report offline, from the log's key alone (`borderlog report verify`).
//!
//! What it proves: the checkpoint is signed by the log key (and cosigned by whom it says); the
//! genesis entry is entry 0 of that tree and pins that key and the partners' keys; every
//! embedded entry is in the tree at its index; the range entries are contiguous and chained and
//! reach from before the period's start to after its end, so no entry of the period is missing
//! (server times never go back, which `borderlog verify` checks over the whole log); every
//! disclosure and receipt is signed by its partner; and every line, count and total is what
//! those entries give. What it cannot prove from a slice of the log: absences outside the
//! range — that an object called new was never disclosed before, or that a pending disclosure
//! has no receipt after the range. Those rest on the builder's pass over the whole log.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::Value;

use super::{Decoded, Proven, Report, ReportError, derive, genesis_of};
use crate::format::checkpoint::Checkpoint;
use crate::format::hash::{ZERO_HASH, hash_from_slice, leaf_hash};
use crate::format::note::Verifier;
use crate::format::signature::{self, Purpose};
use crate::format::{LeafIndex, TreeSize, entry, inclusion};
use crate::keys_in_force::KeysInForce;
use crate::pb::entry::Kind;

/// What a verified report rests on, for the summary `report verify` prints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The checkpoint's tree size.
    pub checkpoint_size: u64,
    /// Partners whose cosignatures on it verified.
    pub cosigned_by: Vec<String>,
    /// Entries of the range, each proven.
    pub range: (u64, u64),
    /// Cited entries outside the range, each proven.
    pub cited: usize,
    /// Disclosure lines recomputed.
    pub lines: usize,
    /// Signatures verified (disclosures and receipts).
    pub signatures: usize,
}

impl Report {
    /// Parses a report's JSON form.
    pub fn from_json(text: &str) -> Result<Report, ReportError> {
        let report: Report =
            serde_json::from_str(text).map_err(|e| ReportError::Malformed(e.to_string()))?;
        if report.format != super::FORMAT {
            return Err(ReportError::Malformed(format!(
                "format {:?} is not {}",
                report.format,
                super::FORMAT
            )));
        }
        Ok(report)
    }
}

/// Verifies a report against the log key `log` (from keys/partners.toml or given by hand).
pub fn verify(report: &Report, log: &Verifier) -> Result<Verified, ReportError> {
    report.scope.check()?;
    let (checkpoint, note) = Checkpoint::open(&report.checkpoint.note, log)
        .map_err(|e| ReportError::Checkpoint(e.to_string()))?;
    let size = checkpoint.size;
    mismatch("checkpoint.size", &report.checkpoint.size, &size)?;
    mismatch(
        "checkpoint.root",
        &report.checkpoint.root,
        &hex::encode(checkpoint.root),
    )?;
    mismatch("origin", &report.origin, &checkpoint.origin)?;

    // Every embedded entry, proven in the checkpoint's tree.
    let ev = &report.evidence;
    let mut view: BTreeMap<u64, Decoded> = BTreeMap::new();
    let mut prove = |p: &Proven| -> Result<(), ReportError> {
        let bad = |reason: String| ReportError::Proof {
            index: p.index,
            reason,
        };
        let bytes = BASE64
            .decode(&p.entry)
            .map_err(|e| bad(format!("entry bytes are not base64: {e}")))?;
        let proof = p
            .proof
            .iter()
            .map(|h| {
                hex::decode(h)
                    .ok()
                    .and_then(|b| hash_from_slice(&b).ok())
                    .ok_or_else(|| bad(format!("proof hash {h:?} is not 32 bytes of hex")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        inclusion::verify(
            LeafIndex(p.index),
            TreeSize(size),
            &leaf_hash(&bytes),
            &proof,
            &checkpoint.root,
        )
        .map_err(|e| {
            bad(format!(
                "the inclusion proof does not lead to the checkpoint's root ({e}): the entry or its proof was altered"
            ))
        })?;
        let decoded = entry::decode(&bytes).map_err(|e| bad(e.to_string()))?;
        if decoded.index != p.index {
            return Err(bad(format!("the entry says index {}", decoded.index)));
        }
        view.insert(
            p.index,
            Decoded {
                bytes,
                entry: decoded,
            },
        );
        Ok(())
    };
    if ev.genesis.index != 0 {
        return Err(ReportError::Genesis("it is not entry 0".into()));
    }
    prove(&ev.genesis)?;
    for p in ev.entries.iter().chain(&ev.cited) {
        prove(p)?;
    }
    let genesis = genesis_of(&view)?.clone();
    // The given key must be one the log has held (genesis, or a log KeyChange embedded in the
    // report), and the checkpoint must also carry the log key in force at its size.
    let (signatures, keys) = check_signatures(&view)?;
    if genesis.origin != log.name || !keys.log_history().contains(&log.key) {
        return Err(ReportError::Genesis(
            "it pins another origin, and no log key change gives the log key given".into(),
        ));
    }
    let in_force = super::log_verifier(&keys).map_err(ReportError::Genesis)?;
    Checkpoint::open(&report.checkpoint.note, &in_force)
        .map_err(|e| ReportError::Checkpoint(format!("not signed by the log key in force: {e}")))?;

    check_range(report, &view, size)?;

    let cosigned_by = super::cosigners(&note, &keys, &in_force)?;
    if cosigned_by != report.checkpoint.cosigned_by {
        return Err(ReportError::Cosignature(format!(
            "the report names {:?}, the checkpoint's verified cosignatures are {:?}",
            report.checkpoint.cosigned_by, cosigned_by
        )));
    }

    let (derived, _) = derive::derive(&view, &genesis, &report.scope)?;
    let stated = serde_json::to_value(&report.contents).expect("contents serialise");
    let derived_value = serde_json::to_value(&derived).expect("contents serialise");
    if let Some((path, s, d)) = first_difference(&stated, &derived_value, String::new()) {
        return Err(ReportError::Mismatch {
            path,
            stated: s,
            derived: d,
        });
    }
    Ok(Verified {
        checkpoint_size: size,
        cosigned_by,
        range: (ev.first, ev.last),
        cited: ev.cited.len(),
        lines: derived.lines.len(),
        signatures,
    })
}

/// The range [first, last] is every entry in order, chained, with times that never go back,
/// and it reaches past both ends of the period.
fn check_range(
    report: &Report,
    view: &BTreeMap<u64, Decoded>,
    size: u64,
) -> Result<(), ReportError> {
    let ev = &report.evidence;
    if ev.first > ev.last || ev.last >= size {
        return Err(ReportError::Range(format!(
            "[{}, {}] is not a range of the checkpoint's {size} entries",
            ev.first, ev.last
        )));
    }
    let indexes: Vec<u64> = ev.entries.iter().map(|p| p.index).collect();
    if let Some((k, i)) = (ev.first..=ev.last)
        .enumerate()
        .find(|(k, i)| indexes.get(*k) != Some(i))
    {
        return Err(ReportError::Range(format!(
            "entry {i} of the range [{}, {}] is missing (position {k} holds {:?}): a dropped or reordered entry",
            ev.first,
            ev.last,
            indexes.get(k)
        )));
    }
    if indexes.len() as u64 != ev.last - ev.first + 1 {
        return Err(ReportError::Range(format!(
            "{} entries for a range of {}",
            indexes.len(),
            ev.last - ev.first + 1
        )));
    }
    let mut prev: Option<(&[u8], i64)> = None;
    for i in ev.first..=ev.last {
        let d = &view[&i];
        if let Some((prev_bytes, prev_time)) = prev {
            if d.entry.prev_leaf_hash != leaf_hash(prev_bytes) {
                return Err(ReportError::Range(format!(
                    "entry {i} does not link to entry {}",
                    i - 1
                )));
            }
            if d.entry.time_ms < prev_time {
                return Err(ReportError::Range(format!(
                    "entry {i}'s time is before entry {}'s",
                    i - 1
                )));
            }
        } else if i == 0 && d.entry.prev_leaf_hash != ZERO_HASH {
            return Err(ReportError::Range("entry 0 links to something".into()));
        }
        prev = Some((&d.bytes, d.entry.time_ms));
    }
    let (from, to) = (report.scope.from_ms, report.scope.to_ms);
    let first_time = view[&ev.first].entry.time_ms;
    if ev.first != 0 && first_time >= from {
        return Err(ReportError::Boundary(format!(
            "the range starts at entry {} whose time {} is not before the period's start {}: earlier entries of the period may be left out",
            ev.first,
            crate::clock::format_rfc3339(first_time),
            crate::clock::format_rfc3339(from)
        )));
    }
    let last_time = view[&ev.last].entry.time_ms;
    if ev.last != size - 1 && last_time < to {
        return Err(ReportError::Boundary(format!(
            "the range ends at entry {} whose time {} is inside the period (ends {}) and is not the checkpoint's last entry: later entries of the period may be left out",
            ev.last,
            crate::clock::format_rfc3339(last_time),
            crate::clock::format_rfc3339(to)
        )));
    }
    Ok(())
}

/// Every embedded disclosure is signed by its sender and every receipt by its recipient, under
/// the signer's key in force at that entry (genesis keys, then the embedded KeyChanges, each
/// checked by the KeyChange rules); returns the count and the keys in force at the end.
fn check_signatures(view: &BTreeMap<u64, Decoded>) -> Result<(usize, KeysInForce), ReportError> {
    let mut keys = KeysInForce::default();
    let mut checked = 0;
    for (index, d) in view {
        let (purpose, signer, message, sig) = match &d.entry.kind {
            Some(kind @ Kind::Genesis(_)) => {
                keys.apply(LeafIndex(*index), kind);
                continue;
            }
            Some(kind @ Kind::KeyChange(k)) => {
                keys.check(k).map_err(|_| ReportError::Signature {
                    index: *index,
                    purpose: "key-change",
                    signer: k.party.clone(),
                })?;
                keys.apply(LeafIndex(*index), kind);
                checked += 1;
                continue;
            }
            Some(Kind::Disclosure(x)) => {
                let body = entry::disclosure_body(x)
                    .map_err(|e| ReportError::Malformed(format!("entry {index}: {e}")))?;
                (
                    Purpose::Disclosure,
                    body.sender,
                    x.body.clone(),
                    &x.signature,
                )
            }
            Some(Kind::Receipt(r)) => {
                let leaf = hash_from_slice(&r.disclosure_leaf_hash)
                    .map_err(|e| ReportError::Malformed(format!("entry {index}: {e}")))?;
                let message = signature::index_and_hash(r.disclosure_index, &leaf).to_vec();
                (Purpose::Receipt, r.recipient.clone(), message, &r.signature)
            }
            _ => continue,
        };
        let bad = || ReportError::Signature {
            index: *index,
            purpose: purpose_name(purpose),
            signer: signer.clone(),
        };
        let key = keys.signing_key(&signer).map_err(|_| bad())?;
        signature::verify(&key, purpose, &message, sig).map_err(|_| bad())?;
        checked += 1;
    }
    Ok((checked, keys))
}

fn purpose_name(p: Purpose) -> &'static str {
    match p {
        Purpose::Disclosure => "disclosure",
        Purpose::Receipt => "receipt",
        _ => "other",
    }
}

/// Fails with a mismatch when a stated header field differs from the checkpoint's.
fn mismatch<T: PartialEq + std::fmt::Debug>(
    path: &str,
    stated: &T,
    derived: &T,
) -> Result<(), ReportError> {
    if stated == derived {
        return Ok(());
    }
    Err(ReportError::Mismatch {
        path: path.into(),
        stated: format!("{stated:?}"),
        derived: format!("{derived:?}"),
    })
}

/// The first path where two JSON values differ, with both values there.
fn first_difference(
    stated: &Value,
    derived: &Value,
    path: String,
) -> Option<(String, String, String)> {
    let show = |v: Option<&Value>| v.map_or_else(|| "nothing".to_owned(), Value::to_string);
    match (stated, derived) {
        (Value::Object(a), Value::Object(b)) => {
            let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            keys.into_iter().find_map(|k| {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                match (a.get(k), b.get(k)) {
                    (Some(x), Some(y)) => first_difference(x, y, p),
                    (x, y) => Some((p, show(x), show(y))),
                }
            })
        }
        (Value::Array(a), Value::Array(b)) => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                if let Some(d) = first_difference(x, y, format!("{path}[{i}]")) {
                    return Some(d);
                }
            }
            (a.len() != b.len()).then(|| {
                let i = a.len().min(b.len());
                (
                    format!("{path}[{i}]"),
                    format!("{} entries ({})", a.len(), show(a.get(i))),
                    format!("{} entries ({})", b.len(), show(b.get(i))),
                )
            })
        }
        (a, b) if a != b => Some((path, a.to_string(), b.to_string())),
        _ => None,
    }
}
