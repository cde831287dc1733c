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

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use ed25519_dalek::{Signature, VerifyingKey};
use prost::Message;
use serde::Serialize;
use thiserror::Error;

use super::export::FORMAT;
use super::spill::{self, Claim, Spill};
use crate::format::checkpoint::Checkpoint;
use crate::format::hash::{
    Hash, SALT_LEN, ZERO_HASH, hash_from_slice, item_commitment, leaf_hash, sha256,
};
use crate::format::note::{KeyType, Note, Verifier};
use crate::format::signature::{self, Purpose};
use crate::format::tree::Frontier;
use crate::format::{cosignature, entry};
use crate::guard::{self, Policy, Verdict};
use crate::pb::{self, Role, entry::Kind, export_record::Record};

/// The first thing wrong with an export, naming the entry (or checkpoint) and the check.
/// One variant per check, so scripts and tests can tell them apart.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// The first record is not a header, or its format is not one this verifier reads.
    #[error("not a borderlog export: {0}")]
    Header(String),
    /// Records after the last checkpoint, a second header, or an entry beyond the header's size.
    #[error("unexpected record after entry {after}: {what}")]
    UnexpectedRecord {
        /// Entries read before it.
        after: u64,
        /// What the record was.
        what: String,
    },
    /// The export ends before the tree size its header announces, or without that checkpoint.
    #[error(
        "the export ends after {entries} entries, without the checkpoint of size {tree_size} its header announces"
    )]
    Truncated {
        /// Entries read.
        entries: u64,
        /// Size announced by the header.
        tree_size: u64,
    },
    /// Entry bytes (or a disclosure body inside them) do not decode, or a field has the wrong
    /// length.
    #[error("entry {index} is malformed: {reason}")]
    Malformed {
        /// The entry's position.
        index: u64,
        /// What does not decode.
        reason: String,
    },
    /// An entry's `index` is not its position in the log.
    #[error("entry at position {position} says index {found}: indexes are not contiguous")]
    IndexGap {
        /// Where it is.
        position: u64,
        /// What it says.
        found: u64,
    },
    /// The record's leaf hash is not SHA-256(0x00 || entry bytes).
    #[error("entry {index}: the record's leaf hash is not the hash of the entry bytes")]
    LeafHash {
        /// The entry's position.
        index: u64,
    },
    /// `prev_leaf_hash` is not the leaf hash of the entry before (one of the two was altered,
    /// removed or moved).
    #[error("entry {index}: prev_leaf_hash {found} is not the leaf hash {expected} of entry {}", index.wrapping_sub(1))]
    ChainBroken {
        /// The entry whose link does not hold.
        index: u64,
        /// Hex of the link it carries.
        found: String,
        /// Hex of the previous entry's leaf hash.
        expected: String,
    },
    /// The server time went backwards.
    #[error("entry {index}: time {time_ms} ms is before the previous entry's {previous_ms} ms")]
    TimeWentBack {
        /// The entry's position.
        index: u64,
        /// Its time.
        time_ms: i64,
        /// The previous entry's time.
        previous_ms: i64,
    },
    /// Entry 0 is not a valid genesis, or a genesis entry appears later.
    #[error("entry {index}: {reason}")]
    Genesis {
        /// The entry's position.
        index: u64,
        /// What is wrong.
        reason: String,
    },
    /// A name that must be a partner with a key and a given role (sender, recipient, owner,
    /// signer) is not.
    #[error(
        "entry {index}: {name:?} as {field} is not a partner of this log with the {needs} role"
    )]
    UnknownParty {
        /// The entry's position.
        index: u64,
        /// The field naming it.
        field: &'static str,
        /// The name.
        name: String,
        /// The role the field needs ("partner" when any partner will do).
        needs: &'static str,
    },
    /// A signature does not verify under the key the log says its signer had.
    #[error("entry {index}: the {purpose} signature by {signer} does not verify")]
    BadSignature {
        /// The entry's position.
        index: u64,
        /// What was signed (disclosure, receipt, policy, redaction, key-change).
        purpose: &'static str,
        /// Who should have signed it.
        signer: String,
    },
    /// The record's items do not match the disclosure body's items.
    #[error("entry {index}: {reason}")]
    Items {
        /// The entry's position.
        index: u64,
        /// What does not match.
        reason: String,
    },
    /// A payload's salt and content do not hash to the item's commitment.
    #[error("entry {index}, item {item}: the payload does not match its commitment")]
    PayloadMismatch {
        /// The disclosure's position.
        index: u64,
        /// The item's position in the body.
        item: usize,
    },
    /// A payload the exporter may read is absent and no Redaction entry erased it.
    #[error(
        "entry {index}, item {item}: the payload is missing and no redaction covers it ({withheld})"
    )]
    PayloadMissing {
        /// The disclosure's position.
        index: u64,
        /// The item's position in the body.
        item: usize,
        /// The export's stated reason.
        withheld: String,
    },
    /// The same (sender, nonce) in two disclosures: a replayed submission.
    #[error("entry {index}: the sender's nonce was already used by entry {first}")]
    NonceReused {
        /// The later disclosure.
        index: u64,
        /// The disclosure that used it first.
        first: u64,
    },
    /// A receipt that does not acknowledge a real disclosure to its recipient.
    #[error("entry {index}: receipt for entry {disclosure_index}: {reason}")]
    Receipt {
        /// The receipt's position.
        index: u64,
        /// The disclosure it claims to acknowledge.
        disclosure_index: u64,
        /// What does not match.
        reason: String,
    },
    /// A second receipt for one disclosure.
    #[error(
        "entry {index}: disclosure {disclosure_index} was already acknowledged by entry {first}"
    )]
    DuplicateReceipt {
        /// The second receipt.
        index: u64,
        /// The disclosure.
        disclosure_index: u64,
        /// The first receipt.
        first: u64,
    },
    /// A refusal holding something beyond where and which rule.
    #[error("entry {index}: the refusal carries content: {reason}")]
    RefusalContent {
        /// The refusal's position.
        index: u64,
        /// What it carries.
        reason: String,
    },
    /// A disclosure or refusal whose policy_hash is not the policy in force for its sender.
    #[error("entry {index}: policy_hash {recorded} is not {sender}'s policy in force ({in_force})")]
    PolicyNotInForce {
        /// The entry's position.
        index: u64,
        /// The sender.
        sender: String,
        /// Hex of the recorded hash.
        recorded: String,
        /// Hex of the hash in force, or "none published".
        in_force: String,
    },
    /// A policy document that does not parse, or whose owner is not the entry's owner.
    #[error("entry {index}: policy: {reason}")]
    Policy {
        /// The PolicyChange's position.
        index: u64,
        /// What is wrong.
        reason: String,
    },
    /// The guard, replayed under the recorded policy, does not accept an item that crossed or
    /// summarises it differently from the signed body.
    #[error("entry {index}, item {item}: guard replay: {reason}")]
    GuardReplay {
        /// The disclosure's position.
        index: u64,
        /// The item's position in the body.
        item: usize,
        /// The verdict or the differing field.
        reason: String,
    },
    /// The guard, replayed under the recorded policy, refuses the free text of a disclosure
    /// body that crossed (its purpose, legal basis or case reference).
    #[error("entry {index}, body: guard replay: the recorded policy refuses {fields}")]
    GuardReplayBody {
        /// The disclosure's position.
        index: u64,
        /// The refused fields and rules, e.g. `$.case_reference (inside.ip/1)`.
        fields: String,
    },
    /// A redaction that does not name an item of an earlier disclosure by its owner.
    #[error("entry {index}: redaction of entry {disclosure_index}: {reason}")]
    Redaction {
        /// The redaction's position.
        index: u64,
        /// The disclosure it names.
        disclosure_index: u64,
        /// What does not match.
        reason: String,
    },
    /// A key change whose new key is not a valid, strong Ed25519 key.
    #[error("entry {index}: key change for {party}: {reason}")]
    KeyChange {
        /// The entry's position.
        index: u64,
        /// The party.
        party: String,
        /// What is wrong.
        reason: String,
    },
    /// An entry signed by a partner after a KeyChange revoked it.
    #[error("entry {index}: {party} signs as {field}, but it was revoked by entry {revoked_at}")]
    Revoked {
        /// The entry's position.
        index: u64,
        /// The field naming the signer.
        field: &'static str,
        /// The revoked partner.
        party: String,
        /// The KeyChange entry that revoked it.
        revoked_at: u64,
    },
    /// A checkpoint that does not parse or is not signed by the log key in force at its size.
    #[error("checkpoint after entry {}: {reason}", size.wrapping_sub(1))]
    Checkpoint {
        /// Entries before it.
        size: u64,
        /// What is wrong.
        reason: String,
    },
    /// A checkpoint whose tree size is not the number of entries before it in the export.
    #[error("checkpoint of size {claimed} placed after {size} entries")]
    CheckpointMisplaced {
        /// Entries before it.
        size: u64,
        /// The size it states.
        claimed: u64,
    },
    /// The signed root is not the Merkle root of the entries: history was altered.
    #[error(
        "checkpoint of size {size}: signed root {signed} is not the root {computed} of the exported entries"
    )]
    RootMismatch {
        /// The tree size.
        size: u64,
        /// Hex of the signed root.
        signed: String,
        /// Hex of the computed root.
        computed: String,
    },
    /// A cosignature by a partner that does not verify.
    #[error("checkpoint of size {size}: the cosignature by {cosigner} does not verify")]
    BadCosignature {
        /// The tree size.
        size: u64,
        /// The partner's name.
        cosigner: String,
    },
    /// The trusted checkpoint given to the verifier does not verify under the export's log key.
    #[error("the trusted checkpoint does not verify under this log's key: {0}")]
    TrustedCheckpoint(String),
    /// The export is smaller than a checkpoint the auditor already holds: a rollback.
    #[error(
        "rollback: the export has {export_size} entries, but a checkpoint of size {trusted_size} is already held"
    )]
    Rollback {
        /// The held checkpoint's size.
        trusted_size: u64,
        /// The export's size.
        export_size: u64,
    },
    /// The exported tree at a held checkpoint's size has another root: a forked history.
    #[error(
        "fork: at size {size} the exported entries give root {computed}, the held checkpoint says {trusted}"
    )]
    Fork {
        /// The held checkpoint's size.
        size: u64,
        /// Hex of its root.
        trusted: String,
        /// Hex of the root computed from the export.
        computed: String,
    },
    /// The verifier's temporary file (for checks past its memory budget) could not be written
    /// or read back: not a fault of the export, which was not fully checked.
    #[error(
        "the verifier's temporary file failed: {0} (TMPDIR names where it goes; it needs about 50 bytes per entry)"
    )]
    Scratch(String),
}

impl VerifyError {
    /// Where in the log the failure is, for picking the first one: (entry index, rank) with
    /// checkpoint checks just after the entry that completes them and whole-export checks last.
    pub(super) fn position(&self) -> (u64, u8) {
        use VerifyError::*;
        match self {
            Header(_) | Scratch(_) => (0, 0),
            Malformed { index, .. }
            | LeafHash { index }
            | ChainBroken { index, .. }
            | TimeWentBack { index, .. }
            | Genesis { index, .. }
            | UnknownParty { index, .. }
            | BadSignature { index, .. }
            | Items { index, .. }
            | PayloadMismatch { index, .. }
            | NonceReused { index, .. }
            | Receipt { index, .. }
            | DuplicateReceipt { index, .. }
            | RefusalContent { index, .. }
            | PolicyNotInForce { index, .. }
            | Policy { index, .. }
            | GuardReplay { index, .. }
            | GuardReplayBody { index, .. }
            | Redaction { index, .. }
            | Revoked { index, .. }
            | KeyChange { index, .. } => (*index, 1),
            IndexGap { position, .. } => (*position, 1),
            Checkpoint { size, .. }
            | CheckpointMisplaced { size, .. }
            | RootMismatch { size, .. }
            | BadCosignature { size, .. }
            | Fork { size, .. } => (size.saturating_sub(1), 2),
            PayloadMissing { index, .. } => (*index, 1),
            UnexpectedRecord { .. } | Truncated { .. } | TrustedCheckpoint(_) | Rollback { .. } => {
                (u64::MAX, 3)
            }
        }
    }

    /// The check that failed, as a stable snake_case name for `--json`.
    pub fn check(&self) -> &'static str {
        use VerifyError::*;
        match self {
            Header(_) => "header",
            UnexpectedRecord { .. } => "unexpected_record",
            Truncated { .. } => "truncated",
            Malformed { .. } => "malformed",
            IndexGap { .. } => "index_gap",
            LeafHash { .. } => "leaf_hash",
            ChainBroken { .. } => "chain_broken",
            TimeWentBack { .. } => "time_went_back",
            Genesis { .. } => "genesis",
            UnknownParty { .. } => "unknown_party",
            BadSignature { .. } => "bad_signature",
            Items { .. } => "items",
            PayloadMismatch { .. } => "payload_mismatch",
            PayloadMissing { .. } => "payload_missing",
            NonceReused { .. } => "nonce_reused",
            Receipt { .. } => "receipt",
            DuplicateReceipt { .. } => "duplicate_receipt",
            RefusalContent { .. } => "refusal_content",
            PolicyNotInForce { .. } => "policy_not_in_force",
            Policy { .. } => "policy",
            GuardReplay { .. } => "guard_replay",
            GuardReplayBody { .. } => "guard_replay_body",
            Redaction { .. } => "redaction",
            KeyChange { .. } => "key_change",
            Revoked { .. } => "revoked",
            Checkpoint { .. } => "checkpoint",
            CheckpointMisplaced { .. } => "checkpoint_misplaced",
            RootMismatch { .. } => "root_mismatch",
            BadCosignature { .. } => "bad_cosignature",
            TrustedCheckpoint(_) => "trusted_checkpoint",
            Rollback { .. } => "rollback",
            Fork { .. } => "fork",
            Scratch(_) => "scratch_file",
        }
    }

    /// The entry the failure is about, when it is about one.
    pub fn entry_index(&self) -> Option<u64> {
        match self.position() {
            (i, 1) => Some(i),
            _ => None,
        }
    }
}

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

/// A check deferred to the workers.
enum Job {
    Signature {
        index: u64,
        purpose: Purpose,
        signer: Arc<str>,
        key: VerifyingKey,
        message: Vec<u8>,
        signature: Signature,
    },
    /// The log's signature on the checkpoint of `size` (Ed25519 over the note text).
    CheckpointSignature {
        size: u64,
        key: VerifyingKey,
        message: Vec<u8>,
        signature: Signature,
    },
    Replay {
        index: u64,
        item: usize,
        policy: Arc<Policy>,
        context: Arc<ReplayContext>,
        content: Vec<u8>,
        expected: pb::ItemCommitment,
    },
    /// The guard over the disclosure body's own free text (purpose, legal basis, case
    /// reference), as the service screened it: it crosses with the items and is never erased.
    ReplayBody {
        index: u64,
        policy: Arc<Policy>,
        context: Arc<ReplayContext>,
        case_reference: String,
    },
}

/// What a disclosure body declares about the sharing, owned, so a worker thread can replay the
/// guard under it.
struct ReplayContext {
    sender: String,
    recipient: String,
    purpose: String,
    legal_basis: String,
}

impl ReplayContext {
    fn of(body: &pb::DisclosureBody) -> Arc<Self> {
        Arc::new(ReplayContext {
            sender: body.sender.clone(),
            recipient: body.recipient.clone(),
            purpose: body.purpose.clone(),
            legal_basis: body.legal_basis.clone(),
        })
    }

    fn guard(&self) -> guard::Context<'_> {
        guard::Context {
            sender: &self.sender,
            recipient: &self.recipient,
            purpose: &self.purpose,
            legal_basis: &self.legal_basis,
        }
    }
}

/// Jobs per batch: large enough for batch verification to pay off.
const BATCH: usize = 4096;

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
        self.withheld_seen = true;
        self.report.entries_withheld += 1;
        self.next_leaf(index, leaf)
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

    fn genesis(&mut self, index: u64, g: pb::Genesis) -> Result<(), VerifyError> {
        let bad = |reason: String| VerifyError::Genesis { index, reason };
        if index != 0 {
            return Err(bad("a second genesis entry".into()));
        }
        let header = self.header.as_ref().expect("header read first");
        if g.origin != header.origin {
            return Err(bad(format!(
                "origin {:?} is not the header's {:?}",
                g.origin, header.origin
            )));
        }
        let log_key = signature::public_key(&g.log_public_key)
            .map_err(|e| bad(format!("log public key: {e}")))?;
        let log = Verifier::new(&g.origin, KeyType::Ed25519, log_key)
            .map_err(|e| bad(format!("origin is not a key name: {e}")))?;
        for p in &g.parties {
            let role = Role::try_from(p.role).unwrap_or(Role::Unspecified);
            let key =
                if p.public_key.is_empty() {
                    None
                } else {
                    Some(signature::public_key(&p.public_key).map_err(|e| {
                        bad(format!("party {:?}: {e} (weak keys are refused)", p.name))
                    })?)
                };
            if self.parties.contains_key(&p.name) {
                return Err(bad(format!("party {:?} is pinned twice", p.name)));
            }
            self.report
                .partners
                .push((p.name.clone(), crate::identity::role_name(role).to_string()));
            self.parties.insert(
                p.name.clone(),
                Party {
                    role,
                    key,
                    revoked_at: None,
                },
            );
        }
        self.keys
            .apply(crate::format::LeafIndex(index), &Kind::Genesis(g.clone()));
        self.log = Some(log);
        // Held checkpoints are checked under the log key pinned here, or a later one.
        self.open_trusted(0)
    }

    /// Opens the held checkpoints the log key in force signed; the others wait for a later
    /// log key. A checkpoint signed by a key that came into force at entry `from` must be of a
    /// size after that entry.
    fn open_trusted(&mut self, from: u64) -> Result<(), VerifyError> {
        let header_size = self.header.as_ref().map_or(0, |h| h.tree_size);
        let log = self.log.clone().expect("the log key is known");
        for note in std::mem::take(&mut self.trusted_notes) {
            let Ok((c, _)) = Checkpoint::open(&note, &log) else {
                self.trusted_notes.push(note);
                continue;
            };
            if from > 0 && c.size <= from {
                return Err(VerifyError::TrustedCheckpoint(format!(
                    "the checkpoint of size {} is signed by the log key that entry {from} put in force, after that size",
                    c.size
                )));
            }
            if c.size > header_size {
                return Err(VerifyError::Rollback {
                    trusted_size: c.size,
                    export_size: header_size,
                });
            }
            self.trusted.push(c);
        }
        Ok(())
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

    /// Queues a signature check.
    #[allow(clippy::too_many_arguments)]
    fn signature(
        &mut self,
        index: u64,
        purpose: Purpose,
        signer: Arc<str>,
        key: VerifyingKey,
        payload: &[u8],
        sig: &[u8],
    ) -> Result<(), VerifyError> {
        let signature = Signature::from_slice(sig).map_err(|_| VerifyError::BadSignature {
            index,
            purpose: purpose_name(purpose),
            signer: signer.to_string(),
        })?;
        self.report.signatures += 1;
        self.defer(Job::Signature {
            index,
            purpose,
            signer,
            key,
            message: signature::message(purpose, payload),
            signature,
        });
        Ok(())
    }

    fn defer(&mut self, job: Job) {
        self.batch.push(job);
        if self.batch.len() >= BATCH {
            self.flush();
        }
    }

    /// Hands the queued batch to a worker (or runs it here without workers).
    fn flush(&mut self) {
        if self.batch.is_empty() {
            return;
        }
        let batch = std::mem::replace(&mut self.batch, Vec::with_capacity(BATCH));
        match &mut self.pool {
            Some(pool) => {
                pool.submit(batch);
                // Collect whatever is done, without waiting.
                let mut done = Vec::new();
                while let Some(r) = pool.try_result() {
                    done.push(r);
                }
                for r in done {
                    self.note_deferred(r);
                }
            }
            None => {
                let r = run_batch(batch);
                self.note_deferred(r);
            }
        }
    }

    /// Waits for every batch handed to the workers.
    fn drain(&mut self) {
        if let Some(pool) = &mut self.pool {
            let results = pool.wait_all();
            for r in results {
                self.note_deferred(r);
            }
        }
    }

    fn note_deferred(&mut self, r: BatchResult) {
        self.report.replays_passed += r.replays_passed;
        self.report.body_replays_passed += r.body_replays_passed;
        if let Some(e) = r.error {
            match &self.deferred_error {
                Some(d) if d.position() <= e.position() => {}
                _ => self.deferred_error = Some(e),
            }
        }
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

    fn disclosure(
        &mut self,
        index: u64,
        leaf: Hash,
        d: pb::Disclosure,
        items: Vec<pb::StoredItem>,
    ) -> Result<(), VerifyError> {
        let body = entry::disclosure_body(&d).map_err(|e| VerifyError::Malformed {
            index,
            reason: e.to_string(),
        })?;
        let (sender, key) = self.partner(index, "sender", &body.sender, Some(Role::Sender))?;
        let (recipient, _) =
            self.partner(index, "recipient", &body.recipient, Some(Role::Recipient))?;
        self.signature(
            index,
            Purpose::Disclosure,
            sender,
            key,
            &d.body,
            &d.signature,
        )?;
        self.spend_nonce(index, &body.sender, &body.nonce)?;
        let policy_hash = self.policy_in_force(index, &body.sender, &d.policy_hash)?;
        let policy = match policy_hash.and_then(|h| self.policies.get(&h)) {
            Some(PolicyState::Ready(p)) => Some(p.clone()),
            Some(PolicyState::NeedsRegisterKey) => None,
            None => None,
        };
        if items.len() != body.items.len() {
            return Err(VerifyError::Items {
                index,
                reason: format!(
                    "{} stored items for {} items in the signed body",
                    items.len(),
                    body.items.len()
                ),
            });
        }
        let exporter_sees = self
            .header
            .as_ref()
            .is_some_and(|h| h.exported_for == body.sender || h.exported_for == body.recipient)
            && self
                .header
                .as_ref()
                .and_then(|h| self.parties.get(&h.exported_for))
                .is_some_and(|p| p.key.is_some());
        self.report.disclosures += 1;
        let context = ReplayContext::of(&body);
        if let Some(p) = &policy {
            self.defer(Job::ReplayBody {
                index,
                policy: p.clone(),
                context: context.clone(),
                case_reference: body.case_reference.clone(),
            });
        }
        for (i, (stored, signed)) in items.into_iter().zip(&body.items).enumerate() {
            self.report.items += 1;
            let commitment =
                hash_from_slice(&signed.commitment).map_err(|e| VerifyError::Malformed {
                    index,
                    reason: format!("item {i} commitment: {e}"),
                })?;
            if stored.commitment != signed.commitment {
                return Err(VerifyError::Items {
                    index,
                    reason: format!("stored item {i} names another commitment than the body"),
                });
            }
            let item = fingerprint(&[body.sender.as_bytes(), &commitment]);
            match &mut self.spill {
                Some(spill) => spill.claim(Claim::item(index, item))?,
                None => {
                    self.items.insert((index, item));
                }
            }
            let Some(payload) = stored.payload else {
                if exporter_sees {
                    self.unexplained
                        .insert((index, commitment), (i, stored.withheld));
                } else {
                    self.report.payloads_not_visible += 1;
                }
                continue;
            };
            let salt: [u8; SALT_LEN] = payload
                .salt
                .as_slice()
                .try_into()
                .map_err(|_| VerifyError::PayloadMismatch { index, item: i })?;
            if item_commitment(&salt, &payload.content) != commitment {
                return Err(VerifyError::PayloadMismatch { index, item: i });
            }
            self.report.payloads_checked += 1;
            match &policy {
                Some(p) => self.defer(Job::Replay {
                    index,
                    item: i,
                    policy: p.clone(),
                    context: context.clone(),
                    content: payload.content,
                    expected: signed.clone(),
                }),
                None if policy_hash.is_some_and(|h| {
                    matches!(self.policies.get(&h), Some(PolicyState::NeedsRegisterKey))
                }) =>
                {
                    self.report.replays_skipped_register_key += 1
                }
                // The policy is in a withheld entry.
                None => self.report.checks_unverifiable += 1,
            }
        }
        if let Some(spill) = &mut self.spill {
            spill.claim(Claim::disclosed(index))?;
        }
        self.pending
            .insert(index, PendingDisclosure { leaf, recipient });
        Ok(())
    }

    fn receipt(&mut self, index: u64, r: pb::Receipt) -> Result<(), VerifyError> {
        let (recipient, key) =
            self.partner(index, "recipient", &r.recipient, Some(Role::Recipient))?;
        let bad = |reason: String| VerifyError::Receipt {
            index,
            disclosure_index: r.disclosure_index,
            reason,
        };
        let leaf = hash_from_slice(&r.disclosure_leaf_hash)
            .map_err(|e| bad(format!("disclosure leaf hash: {e}")))?;
        self.signature(
            index,
            Purpose::Receipt,
            recipient.clone(),
            key,
            &signature::index_and_hash(r.disclosure_index, &leaf),
            &r.signature,
        )?;
        self.report.receipts += 1;
        if let Some(&(first, acknowledged_leaf)) = self.acknowledged.get(&r.disclosure_index) {
            if leaf[..16] != acknowledged_leaf {
                return Err(bad(spill::NOT_THE_LEAF.into()));
            }
            return Err(VerifyError::DuplicateReceipt {
                index,
                disclosure_index: r.disclosure_index,
                first,
            });
        }
        match self.pending.get(&r.disclosure_index) {
            Some(d) => {
                if d.leaf != leaf {
                    return Err(bad(spill::NOT_THE_LEAF.into()));
                }
                if d.recipient != recipient {
                    return Err(bad(format!(
                        "signed by {}, but the disclosure is to {}",
                        recipient, d.recipient
                    )));
                }
                let leaf_prefix = d.leaf[..16].try_into().expect("16 bytes");
                self.pending.remove(&r.disclosure_index);
                match &mut self.spill {
                    Some(spill) => {
                        spill.claim(Claim::acknowledged(r.disclosure_index, index, leaf_prefix))
                    }
                    None => {
                        self.acknowledged
                            .insert(r.disclosure_index, (index, leaf_prefix));
                        Ok(())
                    }
                }
            }
            // Acknowledged before, or no disclosure: the merge tells (spill.rs).
            None if self.spill.is_some() => {
                let leaf_prefix = leaf[..16].try_into().expect("16 bytes");
                let claim =
                    Claim::receipt(r.disclosure_index, index, leaf_prefix, self.withheld_seen);
                self.spill.as_mut().expect("spilling").claim(claim)
            }
            None if r.disclosure_index < index && self.withheld_seen => {
                self.report.checks_unverifiable += 1;
                Ok(())
            }
            None => Err(bad(spill::NO_DISCLOSURE.into())),
        }
    }

    fn refusal(&mut self, index: u64, bytes: &[u8], r: pb::Refusal) -> Result<(), VerifyError> {
        self.partner(index, "sender", &r.sender, Some(Role::Sender))?;
        self.partner(index, "recipient", &r.recipient, Some(Role::Recipient))?;
        let content = |reason: String| VerifyError::RefusalContent { index, reason };
        if r.body_hash.len() != 32 {
            return Err(VerifyError::Malformed {
                index,
                reason: format!("refusal body_hash is {} bytes", r.body_hash.len()),
            });
        }
        // Bytes the schema does not define (unknown fields) could smuggle the refused content.
        let reencoded = pb::Entry {
            kind: Some(Kind::Refusal(r.clone())),
            ..entry::decode(bytes).expect("decoded before")
        }
        .encoded_len();
        if reencoded != bytes.len() {
            return Err(content(format!(
                "{} bytes beyond its defined fields",
                bytes.len().abs_diff(reencoded)
            )));
        }
        if r.findings.is_empty() {
            return Err(content("a refusal with no finding".into()));
        }
        for f in &r.findings {
            if !guard::rules::RULES.iter().any(|rule| rule.id == f.rule) {
                return Err(content(format!("{:?} is not a rule id", f.rule)));
            }
            if !f.path.starts_with('$') || f.path.len() > 512 {
                return Err(content(format!(
                    "finding path of {} bytes is not a JSON path",
                    f.path.len()
                )));
            }
        }
        self.policy_in_force(index, &r.sender, &r.policy_hash)?;
        self.spend_nonce(index, &r.sender, &r.nonce)?;
        self.report.refusals += 1;
        for f in r.findings {
            *self.report.refusals_by_rule.entry(f.rule).or_default() += 1;
        }
        Ok(())
    }

    fn policy_change(&mut self, index: u64, p: pb::PolicyChange) -> Result<(), VerifyError> {
        let (owner, key) = self.partner(index, "owner", &p.owner, Some(Role::Sender))?;
        self.signature(index, Purpose::Policy, owner, key, &p.policy, &p.signature)?;
        let bad = |reason: String| VerifyError::Policy { index, reason };
        let parsed = Policy::parse(&p.policy).map_err(|e| bad(e.to_string()))?;
        if parsed.owner() != p.owner {
            return Err(bad(format!(
                "the document's owner {:?} is not the entry's owner {:?}",
                parsed.owner(),
                p.owner
            )));
        }
        let state = match (&self.opts.register_key, parsed.register_needs_key()) {
            (_, false) => PolicyState::Ready(Arc::new(parsed)),
            (Some(k), true) => PolicyState::Ready(Arc::new(
                Policy::parse_keyed(&p.policy, k).map_err(|e| bad(e.to_string()))?,
            )),
            (None, true) => PolicyState::NeedsRegisterKey,
        };
        let hash = sha256(&p.policy);
        self.policies.insert(hash, state);
        self.policy_in_force.insert(p.owner, hash);
        self.report.policy_changes += 1;
        Ok(())
    }

    fn redaction(&mut self, index: u64, r: pb::Redaction) -> Result<(), VerifyError> {
        let (owner, key) = self.partner(index, "owner", &r.owner, Some(Role::Sender))?;
        let bad = |reason: String| VerifyError::Redaction {
            index,
            disclosure_index: r.disclosure_index,
            reason,
        };
        let commitment =
            hash_from_slice(&r.commitment).map_err(|e| bad(format!("commitment: {e}")))?;
        self.signature(
            index,
            Purpose::Redaction,
            owner.clone(),
            key,
            &signature::index_and_hash(r.disclosure_index, &commitment),
            &r.signature,
        )?;
        self.report.redactions += 1;
        // The sender is in the fingerprint: only the data owner can erase an item.
        let item = fingerprint(&[owner.as_bytes(), &commitment]);
        if let Some(spill) = &mut self.spill {
            let owner = spill.owner(&owner);
            let claim =
                Claim::redaction(r.disclosure_index, index, item, owner, self.withheld_seen);
            spill.claim(claim)?;
            self.redacted.insert((r.disclosure_index, commitment));
            return Ok(());
        }
        let is_disclosure = self.pending.contains_key(&r.disclosure_index)
            || self.acknowledged.contains_key(&r.disclosure_index);
        if !is_disclosure {
            if r.disclosure_index < index && self.withheld_seen {
                self.report.checks_unverifiable += 1;
                return Ok(());
            }
            return Err(bad(spill::NO_DISCLOSURE.into()));
        }
        if !self.items.contains(&(r.disclosure_index, item)) {
            return Err(bad(spill::not_an_item(&owner)));
        }
        self.redacted.insert((r.disclosure_index, commitment));
        Ok(())
    }

    /// A KeyChange, by the rules of `keys_in_force`: a partner's rotation signed by its key in
    /// force, a revocation signed by the partner's or the log's key in force, a log key
    /// rotation (party = the origin) signed by the old log key; every new key never held before.
    fn key_change(&mut self, index: u64, k: pb::KeyChange) -> Result<(), VerifyError> {
        use crate::keys_in_force::{Change, KeyError};
        let bad = |reason: String| VerifyError::KeyChange {
            index,
            party: k.party.clone(),
            reason,
        };
        let expected = match self.keys.expect(&k) {
            Ok(e) => e,
            Err(KeyError::Revoked { index: at, .. }) => {
                return Err(VerifyError::Revoked {
                    index,
                    field: "party",
                    party: k.party.clone(),
                    revoked_at: at.0,
                });
            }
            Err(KeyError::UnknownParty(name)) => {
                return Err(VerifyError::UnknownParty {
                    index,
                    field: "party",
                    name,
                    needs: "partner",
                });
            }
            Err(e) => return Err(bad(e.to_string())),
        };
        let signer: Arc<str> = self.intern(&k.party);
        let change = match expected.signers.as_slice() {
            [key] => {
                self.signature(
                    index,
                    Purpose::KeyChange,
                    signer,
                    *key,
                    &k.new_public_key,
                    &k.signature,
                )?;
                expected.change
            }
            // A revocation: by the partner's key or the log's; checked here (they are rare).
            _ => {
                self.report.signatures += 1;
                let signed_by = |key: &VerifyingKey| {
                    signature::verify(key, Purpose::KeyChange, &k.new_public_key, &k.signature)
                        .is_ok()
                };
                match expected.signers.iter().position(signed_by) {
                    Some(0) => Change::Revoke { by_log: false },
                    Some(_) => Change::Revoke { by_log: true },
                    None => {
                        return Err(VerifyError::BadSignature {
                            index,
                            purpose: purpose_name(Purpose::KeyChange),
                            signer: k.party.clone(),
                        });
                    }
                }
            }
        };
        match change {
            Change::Rotate(new) => {
                if let Some(p) = self.parties.get_mut(&k.party) {
                    p.key = Some(new);
                }
                self.report.key_rotations.push((k.party.clone(), index));
            }
            Change::Revoke { by_log } => {
                if let Some(p) = self.parties.get_mut(&k.party) {
                    p.key = None;
                    p.revoked_at = Some(index);
                }
                let by = if by_log { "log" } else { "partner" };
                self.report
                    .revocations
                    .push((k.party.clone(), index, by.to_owned()));
            }
            Change::RotateLog(new) => {
                let log = Verifier::new(&k.party, KeyType::Ed25519, new)
                    .map_err(|e| bad(format!("origin is not a key name: {e}")))?;
                self.log = Some(log);
                self.report.log_key_rotations.push(index);
            }
        }
        self.keys
            .apply(crate::format::LeafIndex(index), &Kind::KeyChange(k));
        self.report.key_changes += 1;
        if matches!(change, Change::RotateLog(_)) {
            self.open_trusted(index)?;
        }
        Ok(())
    }

    fn check_checkpoint(&mut self, note: &str) -> Result<(), VerifyError> {
        let size = self.size;
        let bad = |reason: String| VerifyError::Checkpoint { size, reason };
        let log = self
            .log
            .clone()
            .ok_or_else(|| bad("a checkpoint before the genesis entry".into()))?;
        // The signed-note rules of `Checkpoint::open`, with the log's signature itself queued
        // for batch verification like every other signature (one per checkpoint adds up).
        let parsed = Note::parse(note).map_err(|e| bad(e.to_string()))?;
        let mut signed = 0;
        for sig in parsed.signatures.iter().filter(|s| log.matches(s)) {
            let signature = Signature::from_slice(&sig.signature)
                .map_err(|_| bad("the log's signature is malformed".into()))?;
            self.defer(Job::CheckpointSignature {
                size,
                key: log.key,
                message: parsed.text.as_bytes().to_vec(),
                signature,
            });
            signed += 1;
        }
        if signed == 0 {
            return Err(bad("no signature by the log key".into()));
        }
        let c = Checkpoint::parse_body(&parsed.text).map_err(|e| bad(e.to_string()))?;
        if c.origin != log.name {
            return Err(bad("checkpoint origin is not the log key name".into()));
        }
        if c.size != size {
            return Err(VerifyError::CheckpointMisplaced {
                size,
                claimed: c.size,
            });
        }
        let root = self.frontier.root();
        if c.root != root {
            return Err(VerifyError::RootMismatch {
                size,
                signed: hex::encode(c.root),
                computed: hex::encode(root),
            });
        }
        // Cosignatures: partners' lines are checked; other names are counted, as signed-note
        // verifiers ignore unknown keys.
        for sig in parsed.signatures.iter().filter(|s| s.name != log.name) {
            let Some(key) = self.parties.get(&sig.name).and_then(|p| p.key) else {
                self.report.unknown_signatures += 1;
                continue;
            };
            let cosigner = Verifier::new(&sig.name, KeyType::Cosignature, key)
                .and_then(|v| cosignature::verify(sig, &v, &parsed.text));
            if cosigner.is_err() {
                return Err(VerifyError::BadCosignature {
                    size,
                    cosigner: sig.name.clone(),
                });
            }
            *self.report.cosigned.entry(sig.name.clone()).or_default() += 1;
        }
        self.report.checkpoints += 1;
        if self.report.checkpoints == 1 {
            self.report.checkpoint_sizes.0 = size;
        }
        self.report.checkpoint_sizes.1 = size;
        let header_size = self.header.as_ref().map_or(0, |h| h.tree_size);
        if size == header_size {
            self.ended = true;
        }
        Ok(())
    }

    /// Each held checkpoint must be on the exported history: the same root at its size,
    /// whether or not the export stores a checkpoint of that size.
    fn check_trusted_at_size(&self) -> Result<(), VerifyError> {
        let size = self.frontier.size().0;
        for t in self.trusted.iter().filter(|t| t.size == size) {
            let root = self.frontier.root();
            if t.root != root {
                return Err(VerifyError::Fork {
                    size,
                    trusted: hex::encode(t.root),
                    computed: hex::encode(root),
                });
            }
        }
        Ok(())
    }
}

fn purpose_name(p: Purpose) -> &'static str {
    match p {
        Purpose::Disclosure => "disclosure",
        Purpose::Receipt => "receipt",
        Purpose::Policy => "policy",
        Purpose::Redaction => "redaction",
        Purpose::KeyChange => "key-change",
    }
}

/// What one batch of deferred checks found.
struct BatchResult {
    /// Its first failure by position.
    error: Option<VerifyError>,
    /// Guard replays that accepted the item as recorded.
    replays_passed: u64,
    /// Guard replays that accepted a disclosure body's free text.
    body_replays_passed: u64,
}

/// Runs one batch of deferred checks.
fn run_batch(batch: Vec<Job>) -> BatchResult {
    let mut first: Option<VerifyError> = None;
    let mut replays_passed = 0;
    let mut body_replays_passed = 0;
    let mut note = |e: VerifyError| match &first {
        Some(f) if f.position() <= e.position() => {}
        _ => first = Some(e),
    };
    let mut messages: Vec<&[u8]> = Vec::with_capacity(batch.len());
    let mut signatures = Vec::with_capacity(batch.len());
    let mut keys = Vec::with_capacity(batch.len());
    for job in &batch {
        match job {
            Job::Signature {
                message,
                signature,
                key,
                ..
            }
            | Job::CheckpointSignature {
                message,
                signature,
                key,
                ..
            } => {
                messages.push(message);
                signatures.push(*signature);
                keys.push(*key);
            }
            Job::Replay { .. } | Job::ReplayBody { .. } => {}
        }
    }
    // One batch equation for all; only when it fails, find the culprit one by one.
    let batch_ok = super::batch::verify_batch(&messages, &signatures, &keys);
    for job in batch {
        match job {
            Job::Signature {
                index,
                purpose,
                signer,
                key,
                message,
                signature,
            } => {
                if !batch_ok && key.verify_strict(&message, &signature).is_err() {
                    note(VerifyError::BadSignature {
                        index,
                        purpose: purpose_name(purpose),
                        signer: signer.to_string(),
                    });
                }
            }
            Job::CheckpointSignature {
                size,
                key,
                message,
                signature,
            } => {
                if !batch_ok && key.verify_strict(&message, &signature).is_err() {
                    note(VerifyError::Checkpoint {
                        size,
                        reason: "the log's signature does not verify".into(),
                    });
                }
            }
            Job::Replay {
                index,
                item,
                policy,
                context,
                content,
                expected,
            } => {
                let bad = |reason: String| VerifyError::GuardReplay {
                    index,
                    item,
                    reason,
                };
                match policy.screen(&context.guard(), &content) {
                    Verdict::Refused(findings) => {
                        let rules: Vec<_> = findings.iter().map(|f| f.rule).collect();
                        note(bad(format!(
                            "the recorded policy refuses this item ({})",
                            rules.join(", ")
                        )))
                    }
                    Verdict::Accepted(s) => {
                        if s.stix_id != expected.stix_id
                            || s.stix_type != expected.stix_type
                            || s.tlp.as_str() != expected.tlp
                        {
                            note(bad(format!(
                                "accepted as {} {} TLP:{}, but the body says {} {} TLP:{}",
                                s.stix_type,
                                s.stix_id,
                                s.tlp.as_str(),
                                expected.stix_type,
                                expected.stix_id,
                                expected.tlp
                            )))
                        } else {
                            replays_passed += 1;
                        }
                    }
                }
            }
            Job::ReplayBody {
                index,
                policy,
                context,
                case_reference,
            } => {
                let findings = policy.screen_body(&context.guard(), &case_reference);
                if findings.is_empty() {
                    body_replays_passed += 1;
                } else {
                    let fields: Vec<_> = findings
                        .iter()
                        .map(|f| format!("{} ({})", f.path, f.rule))
                        .collect();
                    note(VerifyError::GuardReplayBody {
                        index,
                        fields: fields.join(", "),
                    });
                }
            }
        }
    }
    BatchResult {
        error: first,
        replays_passed,
        body_replays_passed,
    }
}

/// Worker threads for deferred checks, with a bounded queue so memory stays flat.
struct Pool {
    jobs: Option<SyncSender<Vec<Job>>>,
    results: Receiver<BatchResult>,
    outstanding: usize,
    workers: Vec<JoinHandle<()>>,
}

impl Pool {
    fn new(threads: usize) -> Pool {
        let (jobs, rx) = sync_channel::<Vec<Job>>(threads * 2);
        let rx = Arc::new(Mutex::new(rx));
        let (tx, results) = std::sync::mpsc::channel();
        let workers = (0..threads)
            .map(|_| {
                let rx = rx.clone();
                let tx = tx.clone();
                std::thread::spawn(move || {
                    loop {
                        let next = rx.lock().map(|r| r.recv());
                        let Ok(Ok(batch)) = next else { return };
                        if tx.send(run_batch(batch)).is_err() {
                            return;
                        }
                    }
                })
            })
            .collect();
        Pool {
            jobs: Some(jobs),
            results,
            outstanding: 0,
            workers,
        }
    }

    fn submit(&mut self, batch: Vec<Job>) {
        if let Some(jobs) = &self.jobs {
            // Blocks while the queue is full: backpressure on the reader.
            if jobs.send(batch).is_ok() {
                self.outstanding += 1;
            }
        }
    }

    fn try_result(&mut self) -> Option<BatchResult> {
        let r = self.results.try_recv().ok()?;
        self.outstanding -= 1;
        Some(r)
    }

    fn wait_all(&mut self) -> Vec<BatchResult> {
        let mut out = Vec::new();
        while self.outstanding > 0 {
            match self.results.recv() {
                Ok(r) => {
                    self.outstanding -= 1;
                    out.push(r);
                }
                Err(_) => break,
            }
        }
        out
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.jobs = None;
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::synthetic::{self, Builder};

    fn verify(records: Vec<pb::ExportRecord>, threads: usize) -> Result<Report, VerifyError> {
        verify_records(
            records,
            VerifyOptions {
                threads,
                ..Default::default()
            },
        )
    }

    fn entry_mut(records: &mut [pb::ExportRecord], index: u64) -> &mut pb::EntryResponse {
        records
            .iter_mut()
            .find_map(|r| match &mut r.record {
                Some(Record::Entry(e)) if e.index == index => Some(e),
                _ => None,
            })
            .expect("entry in export")
    }

    /// Rewrites an entry (keeping the record's leaf hash field consistent with its bytes).
    fn rewrite(records: &mut [pb::ExportRecord], index: u64, f: impl FnOnce(&mut pb::Entry)) {
        let e = entry_mut(records, index);
        let mut decoded = pb::Entry::decode(e.entry.as_slice()).unwrap();
        f(&mut decoded);
        e.entry = decoded.encode_to_vec();
        e.leaf_hash = leaf_hash(&e.entry).to_vec();
    }

    #[test]
    fn a_checkpoint_whose_log_signature_fails_is_named_with_and_without_workers() {
        for threads in [0, 2] {
            let mut records = synthetic::ledger(60, 7, false);
            // The second checkpoint, and the size its body names.
            let (at, size) = records
                .iter()
                .enumerate()
                .filter_map(|(i, r)| match &r.record {
                    Some(Record::Checkpoint(n)) => {
                        Some((i, n.lines().nth(1)?.parse::<u64>().ok()?))
                    }
                    _ => None,
                })
                .nth(1)
                .expect("two checkpoints");
            let Some(Record::Checkpoint(note)) = &mut records[at].record else {
                unreachable!()
            };
            // Another valid-looking signature: same key id, flipped signature bytes.
            let mut parsed = Note::parse(note).unwrap();
            parsed.signatures[0].signature[10] ^= 1;
            *note = parsed.to_text();
            let err = verify(records, threads).unwrap_err();
            assert!(
                matches!(&err, VerifyError::Checkpoint { size: s, .. } if *s == size),
                "{err}"
            );
        }
    }

    #[test]
    fn untouched_ledger_verifies_with_and_without_workers() {
        for (payloads, threads) in [(true, 0), (true, 2), (false, 2)] {
            let report = verify(synthetic::ledger(60, 7, payloads), threads).unwrap();
            assert_eq!(report.entries, 60);
            assert_eq!(report.disclosures, 29);
            assert_eq!(report.receipts, 29);
            assert_eq!(report.receipts_pending, 0);
            assert_eq!(report.policy_changes, 1);
            assert_eq!(report.signatures, 1 + 29 * 2);
            if payloads {
                assert_eq!(report.payloads_checked, 29);
                assert_eq!(report.replays_passed + report.payloads_checked, 58);
            } else {
                assert_eq!(report.payloads_not_visible, 29);
            }
        }
    }

    #[test]
    fn refusals_pending_receipts_and_rules_are_reported() {
        let mut b = Builder::new(true);
        b.disclosure(1, &[synthetic::indicator(1)]);
        b.refusal(100, "inside.ip/1");
        b.refusal(101, "inside.ip/1");
        b.checkpoint();
        let report = verify(b.finish(), 0).unwrap();
        assert_eq!(report.receipts_pending, 1);
        assert_eq!(report.refusals, 2);
        assert_eq!(report.refusals_by_rule.get("inside.ip/1"), Some(&2));
    }

    #[test]
    fn a_bad_signature_is_named_even_inside_a_large_batch() {
        for threads in [0, 2] {
            let mut records = synthetic::ledger(3000, 100, false);
            rewrite(&mut records, 1500, |e| {
                if let Some(Kind::Disclosure(d)) = &mut e.kind {
                    d.signature[5] ^= 1;
                }
            });
            // Entry 1501's link breaks too, but the signature error comes first by position.
            let err = verify(records, threads).unwrap_err();
            assert!(
                matches!(
                    &err,
                    VerifyError::BadSignature {
                        index: 1500,
                        purpose: "disclosure",
                        ..
                    }
                ),
                "{err}"
            );
        }
    }

    #[test]
    fn chain_time_index_and_root_checks() {
        // A receipt pointed at another disclosure: its own check fails before the chain.
        let mut records = synthetic::ledger(20, 5, false);
        rewrite(&mut records, 5, |e| {
            if let Some(Kind::Receipt(r)) = &mut e.kind {
                r.disclosure_index = 2;
            }
        });
        let err = verify(records, 0).unwrap_err();
        assert!(
            matches!(
                err,
                VerifyError::Receipt {
                    index: 5,
                    disclosure_index: 2,
                    ..
                }
            ),
            "{err}"
        );

        // A changed entry breaks the next entry's link.
        let mut records = synthetic::ledger(20, 5, false);
        rewrite(&mut records, 6, |e| e.time_ms += 1);
        assert!(matches!(
            verify(records, 0).unwrap_err(),
            VerifyError::ChainBroken { index: 7, .. }
        ));

        let mut records = synthetic::ledger(20, 5, false);
        rewrite(&mut records, 7, |e| e.time_ms = 0);
        assert!(matches!(
            verify(records, 0).unwrap_err(),
            VerifyError::TimeWentBack { index: 7, .. }
        ));

        let mut records = synthetic::ledger(20, 5, false);
        rewrite(&mut records, 7, |e| e.index = 8);
        assert!(matches!(
            verify(records, 0).unwrap_err(),
            VerifyError::IndexGap {
                position: 7,
                found: 8
            }
        ));

        let mut records = synthetic::ledger(20, 5, false);
        entry_mut(&mut records, 9).leaf_hash[0] ^= 1;
        assert!(matches!(
            verify(records, 0).unwrap_err(),
            VerifyError::LeafHash { index: 9 }
        ));
    }

    #[test]
    fn truncation_and_trailing_records_are_caught() {
        let mut records = synthetic::ledger(20, 5, false);
        records.pop();
        assert!(matches!(
            verify(records, 0).unwrap_err(),
            VerifyError::Truncated { .. }
        ));
        let mut records = synthetic::ledger(20, 5, false);
        let last = records.last().unwrap().clone();
        records.push(last);
        assert!(matches!(
            verify(records, 0).unwrap_err(),
            VerifyError::UnexpectedRecord { .. }
        ));
        assert!(matches!(
            verify(Vec::new(), 0).unwrap_err(),
            VerifyError::Header(_)
        ));
    }

    #[test]
    fn payload_and_guard_replay_checks() {
        // A payload swapped for other content no longer matches its commitment.
        let mut records = synthetic::ledger(20, 5, true);
        let e = entry_mut(&mut records, 2);
        e.items[0].payload.as_mut().unwrap().content = synthetic::indicator(99);
        assert!(matches!(
            verify(records, 0).unwrap_err(),
            VerifyError::PayloadMismatch { index: 2, item: 0 }
        ));

        // A payload the policy refuses, signed and committed to properly, fails the replay.
        let mut b = Builder::new(true);
        let leaky = String::from_utf8(synthetic::indicator(5))
            .unwrap()
            .replace("c2-5.badcdn.example", "10.0.0.7");
        b.disclosure(5, &[leaky.into_bytes()]);
        b.checkpoint();
        let err = verify(b.finish(), 2).unwrap_err();
        assert!(
            matches!(&err, VerifyError::GuardReplay { index: 2, item: 0, reason } if reason.contains("refuses")),
            "{err}"
        );

        // So does a body whose own text names an inside address, the items being clean.
        let second_case = |case_reference: &str| {
            let mut b = Builder::new(true);
            b.disclosure(4, &[synthetic::indicator(4)]);
            b.case_reference = case_reference.into();
            b.disclosure(5, &[synthetic::indicator(5)]);
            b.checkpoint();
            b.finish()
        };
        let err = verify(second_case("escalated from 10.0.0.7"), 2).unwrap_err();
        assert!(
            matches!(&err, VerifyError::GuardReplayBody { index: 3, fields } if fields.contains("$.case_reference (inside.ip")),
            "{err}"
        );
        // With a plain case number the same ledger passes, every body replayed.
        let report = verify(second_case("CASE-2026-118734"), 2).unwrap();
        assert_eq!(report.body_replays_passed, 2);

        // A payload missing with no redaction is caught; the exporter could see it.
        let mut records = synthetic::ledger(20, 5, true);
        let e = entry_mut(&mut records, 2);
        e.items[0].payload = None;
        e.items[0].withheld = "the payload is no longer stored".into();
        assert!(matches!(
            verify(records, 0).unwrap_err(),
            VerifyError::PayloadMissing {
                index: 2,
                item: 0,
                ..
            }
        ));
    }

    #[test]
    fn receipts_must_acknowledge_a_real_disclosure_once() {
        let mut b = Builder::new(false);
        let (i, leaf) = b.disclosure(1, &[synthetic::indicator(1)]);
        b.receipt(i, &leaf);
        b.receipt(i, &leaf);
        b.checkpoint();
        assert!(matches!(
            verify(b.finish(), 0).unwrap_err(),
            VerifyError::DuplicateReceipt {
                index: 4,
                disclosure_index: 2,
                first: 3
            }
        ));

        let mut b = Builder::new(false);
        let (i, _) = b.disclosure(1, &[synthetic::indicator(1)]);
        b.receipt(i, &[9; 32]);
        b.checkpoint();
        assert!(matches!(
            verify(b.finish(), 0).unwrap_err(),
            VerifyError::Receipt {
                index: 3,
                disclosure_index: 2,
                ..
            }
        ));
    }

    #[test]
    fn redactions_name_an_item_of_an_earlier_disclosure_acknowledged_or_not() {
        let mut b = Builder::new(false);
        let (acked, leaf) = b.disclosure(1, &[synthetic::indicator(1)]);
        b.receipt(acked, &leaf);
        let (open, _) = b.disclosure(2, &[synthetic::indicator(2)]);
        // Both kinds of disclosure are still known after the first's receipt was matched.
        let c_acked = first_commitment(&b.records, acked);
        let c_open = first_commitment(&b.records, open);
        b.redaction(acked, &c_acked);
        b.redaction(open, &c_open);
        b.checkpoint();
        let report = verify(b.finish(), 0).unwrap();
        assert_eq!((report.redactions, report.receipts_pending), (2, 1));

        // Another disclosure's item, and an index that is not a disclosure.
        for (target, reason) in [(open, "not an item"), (1, "no disclosure")] {
            let mut b = Builder::new(false);
            let (acked, leaf) = b.disclosure(1, &[synthetic::indicator(1)]);
            b.receipt(acked, &leaf);
            b.disclosure(2, &[synthetic::indicator(2)]);
            let c = first_commitment(&b.records, acked);
            let at = b.redaction(target, &c);
            b.checkpoint();
            let err = verify(b.finish(), 2).unwrap_err();
            assert!(
                matches!(&err, VerifyError::Redaction { index, disclosure_index, reason: r }
                    if *index == at && *disclosure_index == target && r.contains(reason)),
                "{err}"
            );
        }
    }

    #[test]
    fn policy_in_force_is_enforced() {
        let mut b = Builder::new(false);
        b.disclosure(1, &[synthetic::indicator(1)]);
        b.checkpoint();
        let mut records = b.finish();
        rewrite(&mut records, 2, |e| {
            if let Some(Kind::Disclosure(d)) = &mut e.kind {
                d.policy_hash = vec![0; 32];
            }
        });
        assert!(matches!(
            verify(records, 0).unwrap_err(),
            VerifyError::PolicyNotInForce { index: 2, .. }
        ));
    }

    #[test]
    fn refusal_with_smuggled_bytes_or_unknown_rule_is_content() {
        let mut b = Builder::new(false);
        b.refusal(100, "not-a-rule/1");
        b.checkpoint();
        assert!(matches!(
            verify(b.finish(), 0).unwrap_err(),
            VerifyError::RefusalContent { index: 2, .. }
        ));
        let mut b = Builder::new(false);
        b.refusal(100, "inside.ip/1");
        b.checkpoint();
        let mut records = b.finish();
        let e = entry_mut(&mut records, 2);
        // An unknown field (number 99, bytes) holding the refused value.
        let mut bytes = e.entry.clone();
        bytes.extend_from_slice(&[0x9a, 0x06, 5, b's', b'e', b'c', b'r', b't']);
        e.entry = bytes;
        e.leaf_hash = leaf_hash(&e.entry).to_vec();
        let err = verify(records, 0).unwrap_err();
        assert!(
            matches!(err, VerifyError::RefusalContent { index: 2, .. }),
            "{err}"
        );
    }

    #[test]
    fn trusted_checkpoints_catch_rollback_and_fork() {
        let full = synthetic::ledger(40, 10, false);
        let held = full
            .iter()
            .rev()
            .find_map(|r| match &r.record {
                Some(Record::Checkpoint(n)) => Some(n.clone()),
                _ => None,
            })
            .unwrap();
        let opts = |notes: Vec<String>| VerifyOptions {
            trusted_checkpoints: notes,
            ..Default::default()
        };
        verify_records(full.clone(), opts(vec![held.clone()])).unwrap();
        // A shorter export, itself fine, is a rollback against what is held.
        let short = synthetic::ledger(20, 10, false);
        verify_records(short.clone(), opts(vec![])).unwrap();
        assert!(matches!(
            verify_records(short, opts(vec![held.clone()])).unwrap_err(),
            VerifyError::Rollback {
                trusted_size: 40,
                export_size: 20
            }
        ));
        // A re-signed history (different entries, valid signatures) is a fork.
        let mut b = Builder::new(false);
        for n in 100..138 {
            b.disclosure(n, &[synthetic::indicator(n)]);
        }
        b.checkpoint();
        let forked = b.finish();
        verify_records(forked.clone(), opts(vec![])).unwrap();
        assert!(matches!(
            verify_records(forked, opts(vec![held])).unwrap_err(),
            VerifyError::Fork { size: 40, .. }
        ));
    }

    /// Memory budgets under which the same export is checked: the default (all in memory),
    /// spilling after the first disclosure, and spilling part-way through.
    const BUDGETS: [Option<usize>; 3] = [None, Some(0), Some(5)];

    fn verify_within(
        records: Vec<pb::ExportRecord>,
        spill_after: Option<usize>,
    ) -> Result<Report, VerifyError> {
        verify_records(
            records,
            VerifyOptions {
                threads: 2,
                spill_after,
                ..Default::default()
            },
        )
    }

    fn first_commitment(records: &[pb::ExportRecord], index: u64) -> Hash {
        let e = records
            .iter()
            .find_map(|r| match &r.record {
                Some(Record::Entry(e)) if e.index == index => Some(e),
                _ => None,
            })
            .unwrap();
        e.items[0].commitment.as_slice().try_into().unwrap()
    }

    #[test]
    fn past_the_budget_the_same_ledger_verifies_to_the_same_report() {
        let in_memory = verify_within(synthetic::ledger(60, 7, false), None).unwrap();
        assert_eq!(in_memory.claims_spilled, 0);
        for budget in [Some(0), Some(5)] {
            let mut spilled = verify_within(synthetic::ledger(60, 7, false), budget).unwrap();
            // 29 nonces, items and receipts, 29 disclosures (a handful counted at the switch).
            assert!(spilled.claims_spilled >= 4 * 29, "{budget:?}");
            spilled.claims_spilled = 0;
            assert_eq!(spilled, in_memory, "{budget:?}");
        }
        // Redactions of an acknowledged and of an open disclosure's items, after the switch.
        for budget in BUDGETS {
            let mut b = Builder::new(false);
            let (acked, leaf) = b.disclosure(1, &[synthetic::indicator(1)]);
            b.receipt(acked, &leaf);
            let (open, _) = b.disclosure(2, &[synthetic::indicator(2)]);
            for n in 3..8 {
                b.disclosure(n, &[synthetic::indicator(n)]);
            }
            let (c_acked, c_open) = (
                first_commitment(&b.records, acked),
                first_commitment(&b.records, open),
            );
            b.redaction(acked, &c_acked);
            b.redaction(open, &c_open);
            b.checkpoint();
            let report = verify_within(b.finish(), budget).unwrap();
            assert_eq!((report.redactions, report.receipts_pending), (2, 6));
        }
    }

    #[test]
    fn a_reused_nonce_is_named_at_its_entry_in_memory_and_spilled() {
        for budget in BUDGETS {
            let mut b = Builder::new(false);
            let (first, leaf) = b.disclosure(1, &[synthetic::indicator(1)]);
            b.receipt(first, &leaf);
            for n in 2..6 {
                b.disclosure(n, &[synthetic::indicator(n)]);
            }
            let (again, _) = b.disclosure(1, &[synthetic::indicator(1)]);
            // A later reuse, by a refusal (refusals spend nonces too): the first is named.
            let refused = b.refusal(3, "inside.ip/1");
            b.checkpoint();
            let err = verify_within(b.finish(), budget).unwrap_err();
            assert_eq!(
                err,
                VerifyError::NonceReused {
                    index: again,
                    first
                },
                "{budget:?}"
            );
            assert!(refused > again);
        }
    }

    #[test]
    fn a_second_receipt_is_named_in_memory_and_spilled() {
        for budget in BUDGETS {
            let mut b = Builder::new(false);
            let (i, leaf) = b.disclosure(1, &[synthetic::indicator(1)]);
            let first = b.receipt(i, &leaf);
            for n in 2..6 {
                b.disclosure(n, &[synthetic::indicator(n)]);
            }
            let second = b.receipt(i, &leaf);
            b.checkpoint();
            assert_eq!(
                verify_within(b.finish(), budget).unwrap_err(),
                VerifyError::DuplicateReceipt {
                    index: second,
                    disclosure_index: i,
                    first
                },
                "{budget:?}"
            );

            // A second receipt naming another leaf, and a receipt for an entry that is not a
            // disclosure.
            for (target, leaf, reason) in [
                (i, [9; 32], spill::NOT_THE_LEAF),
                (1, [9; 32], spill::NO_DISCLOSURE),
            ] {
                let mut b = Builder::new(false);
                let (i, ok) = b.disclosure(1, &[synthetic::indicator(1)]);
                b.receipt(i, &ok);
                for n in 2..6 {
                    b.disclosure(n, &[synthetic::indicator(n)]);
                }
                let at = b.receipt(target, &leaf);
                b.checkpoint();
                let err = verify_within(b.finish(), budget).unwrap_err();
                assert!(
                    matches!(&err, VerifyError::Receipt { index, disclosure_index, reason: r }
                        if *index == at && *disclosure_index == target && r == reason),
                    "{budget:?}: {err}"
                );
            }
        }
    }

    #[test]
    fn a_redaction_of_no_such_item_is_named_in_memory_and_spilled() {
        for budget in BUDGETS {
            // Another disclosure's item, and an index that is not a disclosure.
            let open = 4;
            for (target, reason) in [(open, "not an item"), (1, "no disclosure")] {
                let mut b = Builder::new(false);
                let (acked, leaf) = b.disclosure(1, &[synthetic::indicator(1)]);
                b.receipt(acked, &leaf);
                assert_eq!(b.disclosure(2, &[synthetic::indicator(2)]).0, open);
                for n in 3..7 {
                    b.disclosure(n, &[synthetic::indicator(n)]);
                }
                let c = first_commitment(&b.records, acked);
                let at = b.redaction(target, &c);
                b.checkpoint();
                let err = verify_within(b.finish(), budget).unwrap_err();
                assert!(
                    matches!(&err, VerifyError::Redaction { index, disclosure_index, reason: r }
                        if *index == at && *disclosure_index == target && r.contains(reason)),
                    "{budget:?}: {err}"
                );
            }
        }
    }

    #[test]
    fn a_spilled_failure_before_the_stream_stops_is_the_one_named() {
        for budget in BUDGETS {
            // A reused nonce at entry 8, found only by the merge when spilling; the stream
            // itself stops at a broken link at entry 13, or at the truncated end.
            let build = || {
                let mut b = Builder::new(false);
                let (first, leaf) = b.disclosure(1, &[synthetic::indicator(1)]);
                b.receipt(first, &leaf);
                for n in 2..6 {
                    b.disclosure(n, &[synthetic::indicator(n)]);
                }
                let (again, _) = b.disclosure(1, &[synthetic::indicator(1)]);
                for n in 6..12 {
                    b.disclosure(n, &[synthetic::indicator(n)]);
                }
                b.checkpoint();
                (b.finish(), first, again)
            };
            let (mut records, first, again) = build();
            assert_eq!(again, 8);
            rewrite(&mut records, 12, |e| e.time_ms += 1);
            let reused = VerifyError::NonceReused {
                index: again,
                first,
            };
            assert_eq!(verify_within(records, budget).unwrap_err(), reused);

            let (mut records, _, _) = build();
            records.pop();
            assert_eq!(verify_within(records, budget).unwrap_err(), reused);

            // And a failure before the reuse is still the one named.
            let (mut records, _, _) = build();
            rewrite(&mut records, 5, |e| e.time_ms += 1);
            assert!(matches!(
                verify_within(records, budget).unwrap_err(),
                VerifyError::ChainBroken { index: 6, .. }
            ));
        }
    }
}
