//! Compliance disclosure reports that carry their own proof.
//!
//! A report answers, for a period [from, to) of entry server times: what was disclosed, to
//! whom, under which purpose and legal basis, what was withheld and why, which disclosures are
//! acknowledged, and whether the log verifies. Its JSON form embeds the signed checkpoint, the
//! genesis entry and every entry of the contiguous index range covering the period (plus the
//! few earlier or later entries a line cites), each with its bytes and its inclusion proof; so
//! [`verify::verify`] can recompute every line and count offline from the log key alone.
//!
//! - [`build`]: a report from an export (the ledger up to a checkpoint). Pure, no I/O.
//! - [`verify`]: checks a report against the log key, and names the first thing wrong.
//! - [`render`]: HTML (self-contained, charts as inline SVG), CSV and Markdown forms.
//! - [`pdf`]: the HTML printed to PDF by a headless Chromium (the one part that runs a process).
//! - [`profile`]: the GDPR Art. 30 record-of-processing fields a report copies.

mod charts;
mod derive;
pub mod pdf;
pub mod profile;
pub mod render;
pub mod verify;

use std::collections::{BTreeMap, BTreeSet};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::audit::verify::{VerifyOptions, verify_records};
use crate::format::checkpoint::Checkpoint;
use crate::format::hash::leaf_hash;
use crate::format::note::{KeyType, Note, Verifier};
use crate::format::tree::MemoryTree;
use crate::format::{LeafIndex, TreeSize, cosignature, entry, inclusion};
use crate::keys_in_force::KeysInForce;
use crate::pb::{self, export_record::Record};
pub use profile::Profile;

/// The `format` string of a report's JSON form; a new layout gets a new version.
pub const FORMAT: &str = "borderlog-report/v1";

/// Why a report could not be built, rendered or verified. Verification failures name the entry
/// or the JSON path and what differs.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ReportError {
    /// The report profile does not parse.
    #[error("report profile: {0}")]
    Profile(String),
    /// The requested period, partner or bucket is not usable.
    #[error("report scope: {0}")]
    Scope(String),
    /// The export the report is built from lacks something it needs.
    #[error("cannot build the report from this export: {0}")]
    Export(String),
    /// The report file is not a borderlog report, or a field does not decode.
    #[error("not a valid report: {0}")]
    Malformed(String),
    /// The embedded checkpoint is not signed by the given log key.
    #[error("the report's checkpoint does not verify under the log key: {0}")]
    Checkpoint(String),
    /// The embedded genesis entry is not the genesis of the log the key names.
    #[error("the report's genesis entry: {0}")]
    Genesis(String),
    /// An embedded entry's inclusion proof does not lead to the checkpoint's root.
    #[error("entry {index}: {reason}")]
    Proof {
        /// The entry's index.
        index: u64,
        /// What does not hold.
        reason: String,
    },
    /// The embedded range is not contiguous, not chained, or out of order.
    #[error("evidence range: {0}")]
    Range(String),
    /// The embedded range does not reach past both ends of the period, so an entry of the
    /// period could be missing.
    #[error("the evidence does not cover the period: {0}")]
    Boundary(String),
    /// A disclosure's or receipt's signature does not verify under its signer's key.
    #[error("entry {index}: the {purpose} signature by {signer} does not verify")]
    Signature {
        /// The entry's index.
        index: u64,
        /// What was signed.
        purpose: &'static str,
        /// Who should have signed it.
        signer: String,
    },
    /// The report's list of cosigners is not what the checkpoint's cosignatures give.
    #[error("cosignatures: {0}")]
    Cosignature(String),
    /// A count, line or hash in the report differs from what the embedded entries give.
    #[error("{path}: the report says {stated}, the entries give {derived}")]
    Mismatch {
        /// JSON path of the first differing value, e.g. `summary.disclosures`.
        path: String,
        /// The report's value.
        stated: String,
        /// The value recomputed from the entries.
        derived: String,
    },
    /// A human form could not be rendered.
    #[error("rendering the report: {0}")]
    Render(String),
}

/// How disclosures are grouped over time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Bucket {
    /// ISO 8601 weeks, e.g. `2026-W45`.
    Week,
    /// Calendar months (UTC), e.g. `2026-11`.
    #[default]
    Month,
}

impl std::str::FromStr for Bucket {
    type Err = ReportError;

    fn from_str(s: &str) -> Result<Bucket, ReportError> {
        match s {
            "week" => Ok(Bucket::Week),
            "month" | "" => Ok(Bucket::Month),
            other => Err(ReportError::Scope(format!(
                "bucket {other:?}: use \"week\" or \"month\""
            ))),
        }
    }
}

/// What a report covers: the period of entry server times, the partner filter, the bucketing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scope {
    /// Start of the period, Unix milliseconds, inclusive.
    pub from_ms: i64,
    /// End of the period, Unix milliseconds, exclusive.
    pub to_ms: i64,
    /// Only disclosures, refusals and redactions that involve this partner.
    pub partner: Option<String>,
    /// Time buckets of the breakdown.
    pub bucket: Bucket,
}

impl Scope {
    /// Checks the period is not empty and lies within the dates a report can write
    /// (1970 to the end of 9999).
    pub fn check(&self) -> Result<(), ReportError> {
        for (name, ms) in [("from", self.from_ms), ("to", self.to_ms)] {
            if !crate::clock::in_rfc3339_range(ms) {
                return Err(ReportError::Scope(format!(
                    "{name} {ms} ms is not a date from 1970 to 9999 (0 to {} ms)",
                    crate::clock::MAX_RFC3339_MS
                )));
            }
        }
        if self.from_ms >= self.to_ms {
            return Err(ReportError::Scope(format!(
                "the period must end after it starts (from {} ms, to {} ms)",
                self.from_ms, self.to_ms
            )));
        }
        Ok(())
    }

    fn involves(&self, sender: &str, recipient: &str) -> bool {
        self.partner
            .as_deref()
            .is_none_or(|p| p == sender || p == recipient)
    }
}

/// A compliance report: the statements in it, and the evidence that proves them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// [`FORMAT`].
    pub format: String,
    /// What the report covers.
    pub scope: Scope,
    /// The log's origin line.
    pub origin: String,
    /// The party the report was built for.
    pub generated_for: String,
    /// When the report was built, Unix milliseconds and RFC 3339.
    pub generated_at_ms: i64,
    /// [`Report::generated_at_ms`] for people.
    pub generated_at: String,
    /// The signed checkpoint the report was built against.
    pub checkpoint: CheckpointView,
    /// The GDPR Art. 30 fields from the report profile (stated, not proven by the log).
    pub processing_record: Profile,
    /// The audit verifier's result over the whole log up to the checkpoint (stated by the
    /// builder; `borderlog verify` re-checks it from an export).
    pub integrity: Integrity,
    /// Everything recomputable from the evidence.
    #[serde(flatten)]
    pub contents: Contents,
    /// Entries with their inclusion proofs: what `report verify` recomputes the contents from.
    pub evidence: Evidence,
}

/// The checkpoint a report is proven against.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointView {
    /// The signed note text, with its cosignature lines.
    pub note: String,
    /// Tree size.
    pub size: u64,
    /// Hex of the root.
    pub root: String,
    /// Partners whose cosignature on it verifies.
    pub cosigned_by: Vec<String>,
}

/// The audit verifier's outcome over the log up to the checkpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Integrity {
    /// True when every check passed.
    pub verified: bool,
    /// The failed check's name, when one failed.
    pub check: Option<String>,
    /// The failure, when one failed.
    pub error: Option<String>,
    /// Entries verified.
    pub entries: u64,
    /// Signatures verified.
    pub signatures: u64,
    /// Checkpoints verified.
    pub checkpoints: u64,
    /// Checkpoints cosigned, by partner.
    pub cosigned: BTreeMap<String, u64>,
}

/// The report's statements, every one recomputable from the evidence.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contents {
    /// The period for people.
    pub period: PeriodView,
    /// The parties pinned in genesis, with their kind of organisation.
    pub parties: Vec<PartyView>,
    /// The headline numbers.
    pub summary: Summary,
    /// Disclosures by time bucket × sender × recipient × STIX type × TLP.
    pub disclosures_by: Vec<CountRow>,
    /// Disclosures by declared purpose.
    pub purposes: Vec<Counted>,
    /// Disclosures by declared legal basis.
    pub legal_bases: Vec<Counted>,
    /// Refusal findings by rule and policy version.
    pub refusals: Vec<RefusalRow>,
    /// Redaction entries of the period, with their reasons.
    pub redactions: Vec<RedactionLine>,
    /// Receipts of the period's disclosures.
    pub receipts: Receipts,
    /// One line per disclosure of the period.
    pub lines: Vec<Line>,
}

/// The period as RFC 3339 times.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeriodView {
    /// Start, inclusive.
    pub from: String,
    /// End, exclusive.
    pub to: String,
    /// The partner filter, if any.
    pub partner: Option<String>,
}

/// A party of the log as genesis pins it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartyView {
    /// Its name.
    pub name: String,
    /// Its role (sender, recipient, auditor, compliance).
    pub role: String,
    /// What kind of organisation it is, e.g. "international organisation".
    pub organisation_kind: String,
}

/// The headline numbers of a report.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// Entries of every kind whose time is in the period (no partner filter).
    pub entries_in_period: u64,
    /// Disclosure entries.
    pub disclosures: u64,
    /// Items across them.
    pub items: u64,
    /// Items whose STIX id was not disclosed before (in the report's scope).
    pub items_new: u64,
    /// Items whose STIX id was disclosed before: updates of a known object.
    pub items_updated: u64,
    /// Distinct recipients disclosed to.
    pub recipients: u64,
    /// Refusal entries: submissions the guard refused, nothing disclosed.
    pub refusals: u64,
    /// Findings across them.
    pub refusal_findings: u64,
    /// Redaction entries.
    pub redactions: u64,
    /// Disclosures acknowledged by their recipient (by the checkpoint).
    pub acknowledged: u64,
    /// Disclosures not acknowledged by the checkpoint.
    pub pending: u64,
}

/// One cell of the disclosure breakdown.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct CountRow {
    /// Week or month.
    pub bucket: String,
    /// Sending partner.
    pub sender: String,
    /// Receiving partner.
    pub recipient: String,
    /// STIX type.
    pub stix_type: String,
    /// TLP 2.0 marking.
    pub tlp: String,
    /// Disclosures with at least one such item.
    pub disclosures: u64,
    /// Such items.
    pub items: u64,
}

/// A declared value and how many disclosures declared it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counted {
    /// The purpose or legal basis as declared.
    pub value: String,
    /// Disclosures.
    pub disclosures: u64,
}

/// Refusals under one rule and policy.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefusalRow {
    /// Rule id, e.g. `inside.ip/1`.
    pub rule: String,
    /// The policy's own version, e.g. `2026.1` ("unknown" when its PolicyChange is not found).
    pub policy_version: String,
    /// Hex of the policy hash.
    pub policy_hash: String,
    /// Refusal entries with a finding under this rule.
    pub refusals: u64,
    /// Findings under this rule.
    pub findings: u64,
}

/// A Redaction entry of the period.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RedactionLine {
    /// The Redaction entry's index.
    pub index: u64,
    /// Its time.
    pub time: String,
    /// The data owner who erased.
    pub owner: String,
    /// The disclosure whose item was erased.
    pub disclosure_index: u64,
    /// The erased item's STIX type and TLP ("" when the disclosure names no such item).
    pub stix_type: String,
    /// The erased item's TLP.
    pub tlp: String,
    /// Why, as the owner signed it.
    pub reason: String,
}

/// Acknowledgement of the period's disclosures.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipts {
    /// Disclosures with a Receipt entry by the checkpoint.
    pub acknowledged: u64,
    /// Disclosures without.
    pub pending: u64,
    /// The oldest disclosure still pending: its index.
    pub oldest_pending_index: Option<u64>,
    /// Its time.
    pub oldest_pending_time: Option<String>,
}

/// One disclosure: who, when, what (types and markings, never content), and where its proof is.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Line {
    /// The entry's index; its bytes and inclusion proof are in the evidence.
    pub index: u64,
    /// The entry's server time, RFC 3339.
    pub time: String,
    /// Hex of the leaf hash.
    pub leaf_hash: String,
    /// Sending partner.
    pub sender: String,
    /// Receiving partner.
    pub recipient: String,
    /// Declared purpose.
    pub purpose: String,
    /// Declared legal basis.
    pub legal_basis: String,
    /// The recipient's case reference.
    pub case_reference: String,
    /// Hex of the policy the items were screened under.
    pub policy_hash: String,
    /// The items, in body order.
    pub items: Vec<LineItem>,
    /// The Receipt entry acknowledging it, if any by the checkpoint.
    pub receipt: Option<u64>,
}

/// One item of a line.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineItem {
    /// STIX id.
    pub stix_id: String,
    /// STIX type.
    pub stix_type: String,
    /// TLP 2.0 marking.
    pub tlp: String,
    /// The earlier disclosure of the same STIX id (an update), or none (a new object).
    pub first_seen: Option<u64>,
}

/// An entry with its inclusion proof in the checkpoint's tree.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Proven {
    /// The entry's index.
    pub index: u64,
    /// Base64 of the entry bytes as stored.
    pub entry: String,
    /// Hex of the proof hashes, nearest the leaf first.
    pub proof: Vec<String>,
}

/// The entries a report is proven from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    /// Entry 0: pins the parties and their keys.
    pub genesis: Proven,
    /// First index of the contiguous range: the last entry before the period (or 0).
    pub first: u64,
    /// Last index of the range: the first entry after the period (or the checkpoint's last).
    pub last: u64,
    /// Every entry of [first, last], in order.
    pub entries: Vec<Proven>,
    /// Entries outside the range that lines cite: earlier sightings of a STIX id, later
    /// receipts, policies, redacted disclosures.
    pub cited: Vec<Proven>,
}

/// An entry decoded, with its bytes and leaf hash.
pub(crate) struct Decoded {
    pub bytes: Vec<u8>,
    pub entry: pb::Entry,
}

/// Builds a report from an export of the whole ledger up to a checkpoint, made for a caller
/// who may read every entry (the compliance role). Runs the audit verifier over the export for
/// the integrity section, and proves every entry it embeds against the export's last checkpoint.
pub fn build(
    records: Vec<pb::ExportRecord>,
    scope: Scope,
    profile: Profile,
    generated_for: &str,
    now_ms: i64,
    verify: VerifyOptions,
) -> Result<Report, ReportError> {
    scope.check()?;
    let integrity = match verify_records(records.clone(), verify) {
        Ok(r) => Integrity {
            verified: true,
            check: None,
            error: None,
            entries: r.entries,
            signatures: r.signatures,
            checkpoints: r.checkpoints,
            cosigned: r.cosigned,
        },
        Err(e) => Integrity {
            verified: false,
            check: Some(e.check().to_owned()),
            error: Some(e.to_string()),
            ..Integrity::default()
        },
    };
    let mut view = BTreeMap::new();
    let mut note = None;
    for record in records {
        match record.record {
            Some(Record::Entry(e)) => {
                let entry = entry::decode(&e.entry)
                    .map_err(|err| ReportError::Export(format!("entry {}: {err}", e.index)))?;
                view.insert(
                    e.index,
                    Decoded {
                        bytes: e.entry,
                        entry,
                    },
                );
            }
            Some(Record::WithheldEntry(w)) => {
                return Err(ReportError::Export(format!(
                    "entry {} is withheld from this caller; a report needs every entry of the log",
                    w.index
                )));
            }
            Some(Record::Checkpoint(n)) => note = Some(n),
            _ => {}
        }
    }
    let note = note.ok_or_else(|| ReportError::Export("the export has no checkpoint".into()))?;
    let size = view.len() as u64;
    let genesis = genesis_of(&view)?;
    let keys = keys_in_force(&view);
    let log = log_verifier(&keys).map_err(ReportError::Genesis)?;
    let (checkpoint, parsed) =
        Checkpoint::open(&note, &log).map_err(|e| ReportError::Checkpoint(e.to_string()))?;
    if checkpoint.size != size || view.keys().next_back() != Some(&(size - 1)) {
        return Err(ReportError::Export(format!(
            "the last checkpoint is of size {}, the export holds {size} entries",
            checkpoint.size
        )));
    }
    let mut tree = MemoryTree::new();
    for d in view.values() {
        tree.push(leaf_hash(&d.bytes));
    }
    let (contents, mut cited) = derive::derive(&view, genesis, &scope)?;
    // Every KeyChange goes into the evidence, so a verifier follows the keys in force.
    cited.extend(view.iter().filter_map(|(i, d)| {
        matches!(d.entry.kind, Some(pb::entry::Kind::KeyChange(_))).then_some(*i)
    }));

    // The range: from the last entry before the period to the first after it, so a verifier
    // sees both ends; server times never go back, so every entry of the period lies inside.
    let times: Vec<i64> = view.values().map(|d| d.entry.time_ms).collect();
    let before = times.partition_point(|t| *t < scope.from_ms) as u64;
    let until = times.partition_point(|t| *t < scope.to_ms) as u64;
    let first = before.saturating_sub(1);
    let last = until.min(size - 1);
    let prove = |index: u64| -> Result<Proven, ReportError> {
        let proof = inclusion::prove(&tree, LeafIndex(index), TreeSize(size))
            .map_err(|e| ReportError::Export(format!("proof of entry {index}: {e}")))?;
        Ok(Proven {
            index,
            entry: BASE64.encode(&view[&index].bytes),
            proof: proof.iter().map(hex::encode).collect(),
        })
    };
    let evidence = Evidence {
        genesis: prove(0)?,
        first,
        last,
        entries: (first..=last).map(prove).collect::<Result<_, _>>()?,
        cited: cited
            .iter()
            .filter(|i| **i != 0 && !(first..=last).contains(*i))
            .map(|i| prove(*i))
            .collect::<Result<_, _>>()?,
    };
    Ok(Report {
        format: FORMAT.into(),
        origin: checkpoint.origin.clone(),
        generated_for: generated_for.into(),
        generated_at_ms: now_ms,
        generated_at: crate::clock::format_rfc3339(now_ms),
        checkpoint: CheckpointView {
            cosigned_by: cosigners(&parsed, &keys, &log)?,
            note,
            size,
            root: hex::encode(checkpoint.root),
        },
        scope,
        processing_record: profile,
        integrity,
        contents,
        evidence,
    })
}

/// The genesis entry among decoded entries.
pub(crate) fn genesis_of(view: &BTreeMap<u64, Decoded>) -> Result<&pb::Genesis, ReportError> {
    match view.get(&0).and_then(|d| d.entry.kind.as_ref()) {
        Some(pb::entry::Kind::Genesis(g)) => Ok(g),
        _ => Err(ReportError::Genesis(
            "entry 0 is not a genesis entry".into(),
        )),
    }
}

/// The keys in force after the genesis and KeyChange entries among `view` (a report embeds
/// every KeyChange of the log).
pub(crate) fn keys_in_force(view: &BTreeMap<u64, Decoded>) -> KeysInForce {
    let mut keys = KeysInForce::default();
    for (index, d) in view {
        if let Some(kind @ (pb::entry::Kind::Genesis(_) | pb::entry::Kind::KeyChange(_))) =
            &d.entry.kind
        {
            keys.apply(LeafIndex(*index), kind);
        }
    }
    keys
}

/// The log's checkpoint key in force (genesis, then log KeyChanges).
pub(crate) fn log_verifier(keys: &KeysInForce) -> Result<Verifier, String> {
    let key = keys
        .log()
        .and_then(|l| l.key)
        .ok_or_else(|| "the log has no valid log key".to_owned())?;
    Verifier::new(keys.origin(), KeyType::Ed25519, key).map_err(|e| e.to_string())
}

/// The partners whose cosignature lines on the checkpoint verify; a bad one is an error.
fn cosigners(note: &Note, keys: &KeysInForce, log: &Verifier) -> Result<Vec<String>, ReportError> {
    let mut names = BTreeSet::new();
    for sig in note.signatures.iter().filter(|s| s.name != log.name) {
        let Some(key) = keys.party(&sig.name).and_then(|p| p.key) else {
            continue; // a key this log does not know: ignored, as signed notes say
        };
        let verified = Verifier::new(&sig.name, KeyType::Cosignature, key)
            .and_then(|v| cosignature::verify(sig, &v, &note.text));
        if verified.is_err() {
            return Err(ReportError::Cosignature(format!(
                "the cosignature by {} does not verify",
                sig.name
            )));
        }
        names.insert(sig.name.clone());
    }
    Ok(names.into_iter().collect())
}

#[cfg(test)]
mod tests;
