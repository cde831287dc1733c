//! What can be wrong with an export: one variant per check, with where in the log it is (for
//! picking the first failure) and a stable name for `--json`.

use thiserror::Error;

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
    /// A withheld entry in an export that must hold every entry: one made for a party that
    /// reads every entry (an auditor, a compliance officer) or for no party of the log, or one
    /// the auditor asked to be complete.
    #[error(
        "entry {index} is withheld, but an export for {exported_for:?} must hold every entry: {why}"
    )]
    Incomplete {
        /// The withheld entry's position.
        index: u64,
        /// Whom the header says the export was made for.
        exported_for: String,
        /// Why it must be complete.
        why: &'static str,
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
    pub(in crate::audit) fn position(&self) -> (u64, u8) {
        use VerifyError::*;
        match self {
            Header(_) | Scratch(_) => (0, 0),
            Malformed { index, .. }
            | LeafHash { index }
            | Incomplete { index, .. }
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
            Incomplete { .. } => "incomplete",
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
