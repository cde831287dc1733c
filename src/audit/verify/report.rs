//! What the auditor brings ([`VerifyOptions`]) and what a verified export is found to hold
//! ([`Report`]): the verifier's inputs and outputs, apart from the checks that make them.

use std::collections::BTreeMap;

use serde::Serialize;

/// How to verify: what the auditor brings besides the export.
#[derive(Debug, Clone, Default)]
pub struct VerifyOptions {
    /// Signed checkpoint notes the auditor already holds (from an earlier audit or a witness):
    /// the export must extend each of them (same root at their size), else rollback or fork.
    pub trusted_checkpoints: Vec<String>,
    /// The data owner's customer-register key, to replay policies that have a register.
    pub register_key: Option<Vec<u8>>,
    /// Worker threads for signatures and guard replays; 0 runs them on the calling thread.
    pub threads: usize,
    /// Whole-life claims (nonces spent, items, receipts matched) held in memory; past it they go
    /// to a temporary file and are checked by a sort-merge at the end. None:
    /// [`DEFAULT_SPILL_AFTER`].
    pub spill_after: Option<usize>,
    /// Fail on any withheld entry, whoever the export says it was made for (`verify
    /// --complete`): an auditor's export must hold every entry, and the header naming whom it
    /// was made for is not signed.
    pub complete: bool,
}

/// The default memory budget of [`VerifyOptions::spill_after`]: 2^20 claims, about 60 MB of
/// hash tables (a 1,000,000-entry export of disclosures and receipts has 1.5 million).
pub const DEFAULT_SPILL_AFTER: usize = 1 << 20;

/// What a verified export holds, for the summary and `--json`.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Report {
    /// The log's origin.
    pub origin: String,
    /// Entries verified (= the last checkpoint's size).
    pub entries: u64,
    /// Hex of the root at that size.
    pub root: String,
    /// The party the export was made for.
    pub exported_for: String,
    /// Parties pinned in genesis: (name, role).
    pub partners: Vec<(String, String)>,
    /// Disclosure entries.
    pub disclosures: u64,
    /// Items across all disclosures.
    pub items: u64,
    /// Items whose payload was in the export and matched its commitment.
    pub payloads_checked: u64,
    /// Items whose payload the exporter may not see (so not checked beyond the signed body).
    pub payloads_not_visible: u64,
    /// Items whose payload was erased under a Redaction entry.
    pub payloads_erased: u64,
    /// Receipt entries.
    pub receipts: u64,
    /// Disclosures with no receipt yet.
    pub receipts_pending: u64,
    /// Refusal entries.
    pub refusals: u64,
    /// Refusal findings by rule id.
    pub refusals_by_rule: BTreeMap<String, u64>,
    /// PolicyChange entries.
    pub policy_changes: u64,
    /// Redaction entries.
    pub redactions: u64,
    /// KeyChange entries.
    pub key_changes: u64,
    /// Partner key rotations: (partner, KeyChange entry).
    pub key_rotations: Vec<(String, u64)>,
    /// Partner revocations: (partner, KeyChange entry, signed by "partner" or "log").
    pub revocations: Vec<(String, u64, String)>,
    /// Log key rotations: KeyChange entries.
    pub log_key_rotations: Vec<u64>,
    /// Signatures verified (entries' signatures; cosignatures are counted apart).
    pub signatures: u64,
    /// Payloads on which the guard was replayed and accepted them as recorded.
    pub replays_passed: u64,
    /// Disclosure bodies whose free text the guard, replayed, accepted.
    pub body_replays_passed: u64,
    /// Payloads not replayed because their policy has a customer register and no register key
    /// was given: skipped, not passed.
    pub replays_skipped_register_key: u64,
    /// Stored checkpoints verified.
    pub checkpoints: u64,
    /// Size of the first and last checkpoint.
    pub checkpoint_sizes: (u64, u64),
    /// Checkpoints cosigned, by partner.
    pub cosigned: BTreeMap<String, u64>,
    /// Signature lines on checkpoints by keys this log does not know (not checked).
    pub unknown_signatures: u64,
    /// Entries the exporter may not read: only their leaf hash is in the export, so they are
    /// bound by the tree but not checked inside.
    pub entries_withheld: u64,
    /// Checks that could not be made because an entry they depend on was withheld.
    pub checks_unverifiable: u64,
    /// Sizes of the held checkpoints the export was checked against.
    pub trusted_sizes: Vec<u64>,
    /// Whole-life claims checked by the sort-merge on a temporary file, past the memory budget
    /// (0: all were checked in memory).
    pub claims_spilled: u64,
}
