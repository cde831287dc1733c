//! Verifying an export (docs/FORMAT.md, "What a verifier checks"): every check an auditor makes,
//! in one pass over the records, holding the ledger's open state (disclosures awaiting their
//! receipt, partners, policies) and an O(log n) Merkle frontier. What must grow with the log is
//! kept as fixed-size fingerprints (16 bytes per nonce and per item, 24 per receipt), in memory
//! up to [`VerifyOptions::spill_after`] of them and past it in a temporary file, checked by a
//! sort-merge at the end (spill.rs; README, "Verifying a million entries").
//!
//! No clock, and no I/O but that temporary file. Feed records to [`Auditor::push`] in file order, then call
//! [`Auditor::finish`]. Signature checks and guard replays are the expensive part; they are
//! queued and run in batches (Ed25519 batch verification) on worker threads, and the first
//! failure by log position is reported whatever order the workers finish in.
//!
//! - `error`: [`VerifyError`], one variant per check.
//! - `report`: [`VerifyOptions`] and the [`Report`] of a verified export.
//! - `kinds`: the rules of each entry kind.
//! - `fields`: the values the format fixes, checked on an entry alone, payloads or not.
//! - `checkpoints`: stored and held checkpoints.
//! - `deferred`: signature checks and guard replays, queued and run in batches.
//! - `pool`: the worker threads those batches run on.

mod checkpoints;
mod deferred;
mod error;
mod fields;
mod kinds;
mod pool;
mod report;
#[cfg(test)]
mod tests;

use deferred::{BATCH, Job};
pub use error::VerifyError;
use pool::Pool;
pub use report::{DEFAULT_SPILL_AFTER, Report, VerifyOptions};

use std::collections::{HashMap, HashSet};

use std::sync::Arc;

use ed25519_dalek::VerifyingKey;

use super::export::FORMAT;
use super::spill::{Claim, Spill};
use crate::format::checkpoint::Checkpoint;
use crate::format::hash::{Hash, ZERO_HASH, hash_from_slice, leaf_hash};
use crate::format::note::Verifier;

use crate::format::entry;
use crate::format::tree::Frontier;
use crate::guard::Policy;
use crate::pb::{self, Role, entry::Kind, export_record::Record};

/// A partner as the log knows it at the current entry.
struct Party {
    role: Role,
    key: Option<VerifyingKey>,
    /// The KeyChange entry that revoked the partner.
    revoked_at: Option<u64>,
}

/// What a receipt needs to know about a disclosure it has not seen acknowledged yet; forgotten
/// once its receipt arrives, so memory follows the disclosures pending, not the log's size.
struct PendingDisclosure {
    leaf: Hash,
    recipient: Arc<str>,
}

/// 16 bytes of a SHA-256 over length-prefixed parts: a fixed-size stand-in for a (sender,
/// nonce) or a disclosure's (sender, commitment) the verifier must remember for the log's whole
/// life. At 2^-128 per pair, a collision (a false "reused") is out of reach even by design.
pub(super) type Fingerprint = [u8; 16];

fn fingerprint(parts: &[&[u8]]) -> Fingerprint {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u32).to_be_bytes());
        h.update(p);
    }
    let digest: [u8; 32] = h.finalize().into();
    digest[..16].try_into().expect("16 bytes")
}

/// A parsed policy, or why it cannot be replayed.
enum PolicyState {
    Ready(Arc<Policy>),
    NeedsRegisterKey,
}

/// Verifies an export, record by record.
pub struct Auditor {
    opts: VerifyOptions,
    header: Option<pb::ExportHeader>,
    /// Entries read.
    size: u64,
    prev_leaf: Hash,
    prev_time: i64,
    frontier: Frontier,
    log: Option<Verifier>,
    parties: HashMap<String, Party>,
    names: HashMap<String, Arc<str>>,
    policy_in_force: HashMap<String, Hash>,
    policies: HashMap<Hash, PolicyState>,
    /// Disclosures awaiting their receipt, by index.
    pending: HashMap<u64, PendingDisclosure>,
    /// Disclosure index → the receipt that acknowledged it (for naming a second receipt) and
    /// 16 bytes of the disclosure's leaf hash (so a later receipt naming another leaf is still
    /// reported as not matching, as for a pending one).
    acknowledged: HashMap<u64, (u64, Fingerprint)>,
    /// Fingerprint of (sender, nonce) → the entry that spent it.
    nonces: HashMap<Fingerprint, u64>,
    /// Items with no payload that the exporter could have seen: (disclosure, commitment) →
    /// (item position, stated reason); each must be erased by a later Redaction.
    unexplained: HashMap<(u64, Hash), (usize, String)>,
    /// Disclosure index and fingerprint of (sender, item commitment), for checking redactions.
    items: HashSet<(u64, Fingerprint)>,
    redacted: HashSet<(u64, Hash)>,
    trusted: Vec<Checkpoint>,
    trusted_notes: Vec<String>,
    /// Past the budget, `nonces`, `items` and `acknowledged` are emptied into this and every
    /// later claim of theirs goes here (spill.rs).
    spill: Option<Spill>,
    spill_after: usize,
    /// Keys in force by the KeyChange rules, for checking KeyChanges (partners' keys and the
    /// log key in force are mirrored in `parties` and `log`).
    keys: crate::keys_in_force::KeysInForce,
    /// Partners' cosignatures waiting for a later key (checkpoints.rs).
    later_cosignatures: Vec<checkpoints::LaterCosignature>,
    withheld_seen: bool,
    ended: bool,
    batch: Vec<Job>,
    pool: Option<Pool>,
    /// The first failure found by the deferred checks run so far.
    deferred_error: Option<VerifyError>,
    report: Report,
}

impl Auditor {
    /// A verifier with nothing read yet.
    pub fn new(opts: VerifyOptions) -> Self {
        let pool = (opts.threads > 0).then(|| Pool::new(opts.threads));
        Auditor {
            trusted_notes: opts.trusted_checkpoints.clone(),
            spill: None,
            spill_after: opts.spill_after.unwrap_or(DEFAULT_SPILL_AFTER),
            opts,
            header: None,
            size: 0,
            prev_leaf: ZERO_HASH,
            prev_time: i64::MIN,
            frontier: Frontier::new(),
            log: None,
            parties: HashMap::new(),
            names: HashMap::new(),
            policy_in_force: HashMap::new(),
            policies: HashMap::new(),
            pending: HashMap::new(),
            acknowledged: HashMap::new(),
            nonces: HashMap::new(),
            unexplained: HashMap::new(),
            items: HashSet::new(),
            redacted: HashSet::new(),
            trusted: Vec::new(),
            keys: Default::default(),
            later_cosignatures: Vec::new(),
            withheld_seen: false,
            ended: false,
            batch: Vec::with_capacity(BATCH),
            pool,
            deferred_error: None,
            report: Report::default(),
        }
    }

    /// Entries read so far (for progress bars).
    pub fn entries(&self) -> u64 {
        self.size
    }

    /// The tree size the header announces, once read (for progress bars).
    pub fn announced_size(&self) -> Option<u64> {
        self.header.as_ref().map(|h| h.tree_size)
    }

    /// Checks one record. On error, the export fails: the error is the first failure by log
    /// position among everything checked so far (deferred checks included).
    pub fn push(&mut self, record: pb::ExportRecord) -> Result<(), VerifyError> {
        match self.check_record(record) {
            Ok(()) => {
                if let Some(e) = self.deferred_error.take() {
                    return Err(self.first_error(e));
                }
                Ok(())
            }
            Err(e) => Err(self.first_error(e)),
        }
    }

    /// Ends the export: runs every deferred check and the whole-export checks, and returns the
    /// report, or the first failure.
    pub fn finish(mut self) -> Result<Report, VerifyError> {
        let header = self
            .header
            .clone()
            .ok_or_else(|| VerifyError::Header("the export is empty".into()))?;
        if !self.ended {
            return Err(self.first_error(VerifyError::Truncated {
                entries: self.size,
                tree_size: header.tree_size,
            }));
        }
        if !self.trusted_notes.is_empty() {
            return Err(self.first_error(VerifyError::TrustedCheckpoint(
                "it is signed by no log key this log has held".into(),
            )));
        }
        self.flush();
        self.drain();
        if let Some(e) = self.earliest_deferred() {
            return Err(e);
        }
        // Items whose payload is gone must have been erased by a redaction.
        let mut missing: Vec<_> = self
            .unexplained
            .iter()
            .filter(|(k, _)| !self.redacted.contains(k))
            .map(|((index, _), (item, why))| (*index, *item, why.clone()))
            .collect();
        missing.sort();
        if let Some((index, item, withheld)) = missing.into_iter().next() {
            return Err(VerifyError::PayloadMissing {
                index,
                item,
                withheld,
            });
        }
        // Cosignatures under a key the partner never held within the export: unknown keys.
        self.report.unknown_signatures += self.later_cosignatures.len() as u64;
        self.report.payloads_erased = self.unexplained.len() as u64;
        self.report.receipts_pending = self.pending.len() as u64;
        self.report.entries = self.size;
        self.report.root = hex::encode(self.frontier.root());
        self.report.exported_for = header.exported_for;
        self.report.trusted_sizes = self.trusted.iter().map(|c| c.size).collect();
        Ok(self.report)
    }

    /// The earliest of `e` and any failure of checks still queued for entries before it.
    fn first_error(&mut self, e: VerifyError) -> VerifyError {
        self.flush();
        self.drain();
        match self.earliest_deferred() {
            Some(d) if d.position() < e.position() => d,
            _ => e,
        }
    }

    /// The first failure of the queued checks and of the spilled claims (merged now, so the
    /// spill is used up), after every batch was drained.
    fn earliest_deferred(&mut self) -> Option<VerifyError> {
        let queued = self.deferred_error.take();
        let spilled = match self.spill.take().map(Spill::merge) {
            None => None,
            Some(Ok(merged)) => {
                self.report.checks_unverifiable += merged.unverifiable;
                self.report.claims_spilled = merged.claims;
                merged.first
            }
            Some(Err(e)) => Some(e),
        };
        match (queued, spilled) {
            (Some(q), Some(s)) if s.position() < q.position() => Some(s),
            (Some(q), _) => Some(q),
            (None, s) => s,
        }
    }

    /// Past the budget, empties the whole-life sets into the spill, which takes every later
    /// claim; memory then holds only what is open (disclosures awaiting a receipt).
    fn within_budget(&mut self) -> Result<(), VerifyError> {
        let held = self.nonces.len() + self.items.len() + self.acknowledged.len();
        if self.spill.is_some() || held <= self.spill_after {
            return Ok(());
        }
        let mut spill = Spill::new();
        for (nonce, at) in std::mem::take(&mut self.nonces) {
            spill.claim(Claim::nonce(nonce, at))?;
        }
        for (index, item) in std::mem::take(&mut self.items) {
            spill.claim(Claim::item(index, item))?;
        }
        for (index, (receipt, leaf)) in std::mem::take(&mut self.acknowledged) {
            spill.claim(Claim::disclosed(index))?;
            spill.claim(Claim::acknowledged(index, receipt, leaf))?;
        }
        for &index in self.pending.keys() {
            spill.claim(Claim::disclosed(index))?;
        }
        self.spill = Some(spill);
        Ok(())
    }

    fn check_record(&mut self, record: pb::ExportRecord) -> Result<(), VerifyError> {
        let Some(record) = record.record else {
            return Err(VerifyError::UnexpectedRecord {
                after: self.size,
                what: "an empty record".into(),
            });
        };
        if self.ended {
            return Err(VerifyError::UnexpectedRecord {
                after: self.size,
                what: "a record after the checkpoint that ends the export".into(),
            });
        }
        match (record, &self.header) {
            (Record::Header(h), None) => self.check_header(h),
            (Record::Header(_), Some(_)) => Err(VerifyError::UnexpectedRecord {
                after: self.size,
                what: "a second header".into(),
            }),
            (_, None) => Err(VerifyError::Header(
                "the first record is not an ExportHeader".into(),
            )),
            (Record::Entry(e), Some(h)) => {
                if self.size >= h.tree_size {
                    return Err(VerifyError::UnexpectedRecord {
                        after: self.size,
                        what: "an entry beyond the size the header announces".into(),
                    });
                }
                self.check_entry(e)
            }
            (Record::WithheldEntry(w), Some(h)) => {
                if self.size >= h.tree_size {
                    return Err(VerifyError::UnexpectedRecord {
                        after: self.size,
                        what: "an entry beyond the size the header announces".into(),
                    });
                }
                self.check_withheld(w)
            }
            (Record::Checkpoint(note), Some(_)) => self.check_checkpoint(&note),
        }
    }

    fn check_header(&mut self, h: pb::ExportHeader) -> Result<(), VerifyError> {
        if h.format != FORMAT {
            return Err(VerifyError::Header(format!(
                "format {:?}, this verifier reads {FORMAT:?}",
                h.format
            )));
        }
        if h.tree_size == 0 {
            return Err(VerifyError::Header("tree size 0: nothing to verify".into()));
        }
        self.report.origin = h.origin.clone();
        self.header = Some(h);
        Ok(())
    }

    /// Position, link and time of the next leaf; pushes it into the tree.
    fn next_leaf(&mut self, index: u64, leaf: Hash) -> Result<(), VerifyError> {
        self.frontier.push(leaf);
        self.prev_leaf = leaf;
        self.size = index + 1;
        self.check_trusted_at_size()
    }

    fn check_withheld(&mut self, w: pb::WithheldEntry) -> Result<(), VerifyError> {
        let index = self.size;
        if w.index != index {
            return Err(VerifyError::IndexGap {
                position: index,
                found: w.index,
            });
        }
        if index == 0 {
            return Err(VerifyError::Genesis {
                index,
                reason: "the genesis entry is withheld: nothing can be verified".into(),
            });
        }
        let leaf = hash_from_slice(&w.leaf_hash).map_err(|e| VerifyError::Malformed {
            index,
            reason: format!("withheld entry's leaf hash: {e}"),
        })?;
        self.may_withhold(index)?;
        self.withheld_seen = true;
        self.report.entries_withheld += 1;
        self.next_leaf(index, leaf)
    }

    /// Only a partner's export may withhold entries (partners read the entries they take part
    /// in; every other role reads them all), and not one the auditor asked to be complete. The
    /// header's `exported_for` is unsigned, so an auditor who must see everything says so
    /// ([`VerifyOptions::complete`]) rather than trusting it.
    fn may_withhold(&self, index: u64) -> Result<(), VerifyError> {
        let exported_for = self.header.as_ref().map_or("", |h| h.exported_for.as_str());
        let incomplete = |why: &'static str| VerifyError::Incomplete {
            index,
            exported_for: exported_for.to_owned(),
            why,
        };
        if self.opts.complete {
            return Err(incomplete("a complete export was asked for"));
        }
        match self.parties.get(exported_for) {
            Some(p) if crate::identity::is_partner(p.role) => Ok(()),
            Some(_) => Err(incomplete("its role reads every entry")),
            None => Err(incomplete("it is not a party of this log")),
        }
    }

    fn check_entry(&mut self, r: pb::EntryResponse) -> Result<(), VerifyError> {
        let index = self.size;
        let leaf = leaf_hash(&r.entry);
        if r.leaf_hash != leaf {
            return Err(VerifyError::LeafHash { index });
        }
        let e = entry::decode(&r.entry).map_err(|e| VerifyError::Malformed {
            index,
            reason: e.to_string(),
        })?;
        if e.index != index || r.index != index {
            return Err(VerifyError::IndexGap {
                position: index,
                found: if e.index != index { e.index } else { r.index },
            });
        }
        // A withheld predecessor's link is its leaf hash, which the export carries.
        if e.prev_leaf_hash != self.prev_leaf {
            return Err(VerifyError::ChainBroken {
                index,
                found: hex::encode(&e.prev_leaf_hash),
                expected: hex::encode(self.prev_leaf),
            });
        }
        if e.time_ms < self.prev_time {
            return Err(VerifyError::TimeWentBack {
                index,
                time_ms: e.time_ms,
                previous_ms: self.prev_time,
            });
        }
        let kind = e.kind.expect("entry::decode refuses kindless entries");
        if !matches!(kind, Kind::Disclosure(_)) && !r.items.is_empty() {
            return Err(VerifyError::Items {
                index,
                reason: "items beside an entry that is not a disclosure".into(),
            });
        }
        match kind {
            Kind::Genesis(g) => self.genesis(index, g)?,
            _ if index == 0 => {
                return Err(VerifyError::Genesis {
                    index,
                    reason: "entry 0 is not a genesis entry".into(),
                });
            }
            Kind::Disclosure(d) => self.disclosure(index, leaf, d, r.items)?,
            Kind::Receipt(rc) => self.receipt(index, rc)?,
            Kind::Refusal(rf) => self.refusal(index, &r.entry, rf)?,
            Kind::PolicyChange(p) => self.policy_change(index, p)?,
            Kind::Redaction(rd) => self.redaction(index, rd)?,
            Kind::KeyChange(k) => self.key_change(index, k)?,
        }
        self.within_budget()?;
        self.prev_time = e.time_ms;
        self.next_leaf(index, leaf)
    }

    /// The interned name and current key of a partner named in `field`.
    fn partner(
        &mut self,
        index: u64,
        field: &'static str,
        name: &str,
        role: Option<Role>,
    ) -> Result<(Arc<str>, VerifyingKey), VerifyError> {
        if let Some(revoked_at) = self.parties.get(name).and_then(|p| p.revoked_at) {
            return Err(VerifyError::Revoked {
                index,
                field,
                party: name.to_owned(),
                revoked_at,
            });
        }
        let key = self
            .parties
            .get(name)
            .filter(|p| role.is_none_or(|r| r == p.role))
            .and_then(|p| p.key)
            .ok_or_else(|| VerifyError::UnknownParty {
                index,
                field,
                name: name.to_owned(),
                needs: role.map_or("partner", crate::identity::role_name),
            })?;
        Ok((self.intern(name), key))
    }

    fn intern(&mut self, name: &str) -> Arc<str> {
        if let Some(n) = self.names.get(name) {
            return n.clone();
        }
        let n: Arc<str> = Arc::from(name);
        self.names.insert(name.to_owned(), n.clone());
        n
    }

    /// Checks that `recorded` is the hash of `sender`'s policy in force; returns it.
    fn policy_in_force(
        &mut self,
        index: u64,
        sender: &str,
        recorded: &[u8],
    ) -> Result<Option<Hash>, VerifyError> {
        match self.policy_in_force.get(sender) {
            Some(h) if h.as_slice() == recorded => Ok(Some(*h)),
            // A withheld entry may be the policy change that explains it.
            _ if self.withheld_seen => {
                self.report.checks_unverifiable += 1;
                Ok(hash_from_slice(recorded).ok())
            }
            h => Err(VerifyError::PolicyNotInForce {
                index,
                sender: sender.to_owned(),
                recorded: hex::encode(recorded),
                in_force: h.map_or_else(|| "none published".into(), hex::encode),
            }),
        }
    }

    /// A (sender, nonce) pair may be in the log once, in a disclosure or a refusal. Kept as a
    /// fingerprint, so a million disclosures cost 24 MB, not their nonces' size.
    fn spend_nonce(&mut self, index: u64, sender: &str, nonce: &[u8]) -> Result<(), VerifyError> {
        let key = fingerprint(&[sender.as_bytes(), nonce]);
        if let Some(spill) = &mut self.spill {
            return spill.claim(Claim::nonce(key, index));
        }
        if let Some(first) = self.nonces.insert(key, index) {
            return Err(VerifyError::NonceReused { index, first });
        }
        Ok(())
    }
}

/// Verifies a whole export given as records (e.g. a [`super::export::RecordReader`]'s, with
/// read errors mapped by the caller).
pub fn verify_records(
    records: impl IntoIterator<Item = pb::ExportRecord>,
    opts: VerifyOptions,
) -> Result<Report, VerifyError> {
    let mut auditor = Auditor::new(opts);
    for r in records {
        auditor.push(r)?;
    }
    auditor.finish()
}
