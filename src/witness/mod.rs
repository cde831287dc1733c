//! Witnessing the log: each partner (and anyone else the log lists) checks that every
//! checkpoint it is shown extends the last one it cosigned, and only then cosigns it
//! (C2SP tlog-cosignature, `cosignature/v1`). A witness that never cosigns two inconsistent
//! checkpoints of one origin turns a split view or a rollback into a loud refusal.
//!
//! - [`Witness`]: the decision and the state behind it — one per process, shared by the gRPC
//!   round (`borderlog witness --as NAME`) and the C2SP tlog-witness HTTP endpoint
//!   (`borderlog witness --serve ADDR`), so both keep one promise per origin.
//! - [`state`]: the witness's durable record of the last checkpoint it cosigned per origin.
//! - [`protocol`]: the tlog-witness `add-checkpoint` request body.
//! - [`http`]: the tlog-witness endpoint (server) and the client the log uses to ask witnesses.
//! - [`push`]: the log's background task submitting new checkpoints to configured witnesses.
//! - [`config`]: `keys/witnesses.toml`, the witnesses a log submits to.
//!
//! A partner's witness key is its partner key in force (pinned in genesis, or set by its latest
//! KeyChange) used as a cosignature/v1 key (note key type 0x04) under the key name = the
//! partner's name; docs/DESIGN.md, "Checkpoints", says which key checks a cosignature. The cosignature message starts
//! with `cosignature/v1\n`, so it can never be confused with a `borderlog/<purpose>/v1` signature.

pub mod config;
pub mod http;
pub mod protocol;
pub mod push;
pub mod state;

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use ed25519_dalek::{SigningKey, VerifyingKey};
use thiserror::Error;

use crate::format::checkpoint::Checkpoint;
use crate::format::note::{KeyType, Note, NoteSignature, Verifier};
use crate::format::{FormatError, Hash, TreeSize, consistency, cosignature};

pub use state::{Held, WitnessState};

/// Most consistency-proof lines tlog-witness allows in one request.
pub const MAX_PROOF_LINES: usize = 63;

/// Why a witness will not cosign, or could not keep its record. The variants follow the
/// tlog-witness status codes ([`WitnessError::http_status`]).
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum WitnessError {
    /// The request or checkpoint is not well formed (HTTP 400).
    #[error("malformed request: {0}")]
    Malformed(String),
    /// No trusted log key has this origin (HTTP 404).
    #[error("unknown log origin {0:?}: this witness holds no key for it")]
    UnknownLog(String),
    /// The checkpoint is not signed by the log's trusted key (HTTP 403).
    #[error("the checkpoint of {origin} does not verify under the log's key: {why}")]
    Unverified {
        /// The checkpoint's origin.
        origin: String,
        /// What failed.
        why: FormatError,
    },
    /// A checkpoint smaller than one already cosigned: the log went back (HTTP 400).
    #[error(
        "ROLLBACK REFUSED: the log offers {offered}, smaller than {held}, which this witness already cosigned"
    )]
    Rollback {
        /// What the witness cosigned before.
        held: Box<Summary>,
        /// What it was offered.
        offered: Box<Summary>,
    },
    /// The request's old size is not the size the witness last cosigned (HTTP 409).
    #[error("old size {old} is not the size this witness last cosigned for {origin}: {held}")]
    Conflict {
        /// The checkpoint's origin.
        origin: String,
        /// The size the request claimed.
        old: u64,
        /// The size the witness holds (0 if none).
        held: u64,
    },
    /// Same size, different root, or a proof that does not lead from what was cosigned to
    /// what is offered: two views of one log (HTTP 409 for equal sizes, 422 for a bad proof).
    #[error(
        "SPLIT VIEW REFUSED: {offered} is not consistent with {held}, which this witness already cosigned: {why}"
    )]
    SplitView {
        /// What the witness cosigned before.
        held: Box<Summary>,
        /// What it was offered.
        offered: Box<Summary>,
        /// How they disagree.
        why: String,
    },
    /// The consistency proof is malformed for the sizes given (HTTP 422).
    #[error("bad consistency proof: {0}")]
    BadProof(String),
    /// The state file could not be read or written; nothing was cosigned.
    #[error("witness state {path}: {why}")]
    State {
        /// The state file.
        path: PathBuf,
        /// What failed.
        why: String,
    },
    /// The log's witness list (`keys/witnesses.toml`) is unreadable or wrong.
    #[error("{path}: {why}")]
    Config {
        /// The file.
        path: PathBuf,
        /// What is wrong and how to fix it.
        why: String,
    },
    /// A witness could not be reached, or answered with something other than tlog-witness.
    #[error("witness {url}: {why}")]
    Remote {
        /// The witness's submission prefix.
        url: String,
        /// What happened.
        why: String,
    },
    /// A format operation failed (e.g. signing a cosignature).
    #[error(transparent)]
    Format(#[from] FormatError),
}

impl WitnessError {
    /// The tlog-witness HTTP status for this refusal.
    pub fn http_status(&self) -> u16 {
        match self {
            WitnessError::Malformed(_) | WitnessError::Rollback { .. } => 400,
            WitnessError::UnknownLog(_) => 404,
            WitnessError::Unverified { .. } => 403,
            WitnessError::Conflict { .. } => 409,
            WitnessError::SplitView { why, .. } if why.starts_with(SAME_SIZE) => 409,
            WitnessError::SplitView { .. } | WitnessError::BadProof(_) => 422,
            WitnessError::State { .. }
            | WitnessError::Config { .. }
            | WitnessError::Remote { .. }
            | WitnessError::Format(_) => 500,
        }
    }

    /// For a 409: the size this witness holds for the origin (what tlog-witness answers with).
    pub fn held_size(&self) -> Option<u64> {
        match self {
            WitnessError::Conflict { held, .. } => Some(*held),
            WitnessError::SplitView { held, .. } => Some(held.size),
            _ => None,
        }
    }

    /// True for the refusals that mean the log misbehaved (rollback, split view): what a
    /// witness must shout about, not retry.
    pub fn is_misbehaviour(&self) -> bool {
        matches!(
            self,
            WitnessError::Rollback { .. } | WitnessError::SplitView { .. }
        )
    }
}

const SAME_SIZE: &str = "same size, different root";

/// A checkpoint in one line, for messages that must name both sides of a disagreement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// The log's origin.
    pub origin: String,
    /// Tree size.
    pub size: u64,
    /// Root hash.
    pub root: Hash,
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "checkpoint {} size {} root {}",
            self.origin,
            self.size,
            hex::encode(self.root)
        )
    }
}

impl From<&Checkpoint> for Summary {
    fn from(c: &Checkpoint) -> Self {
        Summary {
            origin: c.origin.clone(),
            size: c.size,
            root: c.root,
        }
    }
}

/// The cosignature/v1 verifier of a key under `name` (a partner's name for partners).
pub fn cosigner_verifier(name: &str, key: VerifyingKey) -> Result<Verifier, FormatError> {
    Verifier::new(name, KeyType::Cosignature, key)
}

/// The timestamp a cosignature/v1 line carries (Unix seconds), if it has the right length.
pub fn cosignature_time(sig: &NoteSignature) -> Option<u64> {
    (sig.signature.len() == 72)
        .then(|| sig.signature[..8].try_into().ok().map(u64::from_be_bytes))
        .flatten()
}

/// A witness: a cosigning key, the logs it trusts, and its record of what it cosigned.
/// `add_checkpoint` checks, records and cosigns under one lock, so two concurrent requests
/// can never both pass the check against the same old state (the race tlog-witness warns of).
pub struct Witness {
    name: String,
    key: SigningKey,
    logs: Vec<Verifier>,
    state: Mutex<WitnessState>,
}

impl std::fmt::Debug for Witness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Witness")
            .field("name", &self.name)
            .field("logs", &self.logs)
            .finish_non_exhaustive()
    }
}

impl Witness {
    /// A witness cosigning as `name` with `key`, trusting `logs` (Ed25519 note keys, named by
    /// origin), keeping its record in `state_path` (created on the first cosignature). Holds
    /// the state file's lock for its lifetime.
    pub fn open(
        name: &str,
        key: SigningKey,
        logs: Vec<Verifier>,
        state_path: &Path,
    ) -> Result<Witness, WitnessError> {
        cosigner_verifier(name, key.verifying_key())?;
        let state = WitnessState::open(state_path)?;
        Ok(Witness {
            name: name.to_owned(),
            key,
            logs,
            state: Mutex::new(state),
        })
    }

    /// This witness's cosignature/v1 verifier key: what a log configures to trust it.
    pub fn verifier(&self) -> Verifier {
        cosigner_verifier(&self.name, self.key.verifying_key())
            .expect("checked when the witness was opened")
    }

    /// What the witness last cosigned for `origin`.
    pub fn held(&self, origin: &str) -> Option<Held> {
        self.lock().get(origin).cloned()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, WitnessState> {
        // The state is only replaced after a successful write, so it is sound after a panic.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The tlog-witness `add-checkpoint` decision: verify the log's signature, check `old`
    /// against what was cosigned for the origin and the proof from there to the offered
    /// checkpoint, record the new checkpoint durably, then cosign it at `now_secs`.
    pub fn add_checkpoint(
        &self,
        old: u64,
        proof: &[Hash],
        note_text: &str,
        now_secs: u64,
    ) -> Result<NoteSignature, WitnessError> {
        let note = Note::parse(note_text)
            .map_err(|e| WitnessError::Malformed(format!("checkpoint note: {e}")))?;
        let origin = note.text.split('\n').next().unwrap_or_default().to_owned();
        // Several keys of one origin may be trusted (a log key rotation): any one will do.
        let mut keys = self.logs.iter().filter(|v| v.name == origin).peekable();
        if keys.peek().is_none() {
            return Err(WitnessError::UnknownLog(origin.clone()));
        }
        let opened = keys
            .map(|log| Checkpoint::open(note_text, log))
            .reduce(|first, next| first.or(next))
            .expect("at least one key");
        let (offered, _) = opened.map_err(|why| match why {
            FormatError::UnverifiedNote | FormatError::BadSignature { .. } => {
                WitnessError::Unverified {
                    origin: origin.clone(),
                    why,
                }
            }
            other => WitnessError::Malformed(format!("checkpoint: {other}")),
        })?;
        if proof.len() > MAX_PROOF_LINES {
            return Err(WitnessError::Malformed(format!(
                "{} consistency proof lines, more than {MAX_PROOF_LINES}",
                proof.len()
            )));
        }
        let mut state = self.lock();
        let held = state.get(&origin).cloned();
        let held_size = held.as_ref().map_or(0, |h| h.size);
        if old > offered.size {
            return Err(match held {
                Some(h) if h.size == old => WitnessError::Rollback {
                    held: Box::new(h.summary(&origin)),
                    offered: Box::new(Summary::from(&offered)),
                },
                _ => WitnessError::Malformed(format!(
                    "old size {old} is larger than the checkpoint's size {}",
                    offered.size
                )),
            });
        }
        if old != held_size {
            return Err(WitnessError::Conflict {
                origin,
                old,
                held: held_size,
            });
        }
        match &held {
            Some(h) if old == offered.size => {
                if !proof.is_empty() {
                    return Err(WitnessError::BadProof(
                        "a proof between equal sizes must be empty".into(),
                    ));
                }
                if h.root != offered.root {
                    return Err(WitnessError::SplitView {
                        held: Box::new(h.summary(&origin)),
                        offered: Box::new(Summary::from(&offered)),
                        why: SAME_SIZE.to_string(),
                    });
                }
            }
            Some(h) => consistency::verify(
                TreeSize(old),
                TreeSize(offered.size),
                &h.root,
                &offered.root,
                proof,
            )
            .map_err(|e| WitnessError::SplitView {
                held: Box::new(h.summary(&origin)),
                offered: Box::new(Summary::from(&offered)),
                why: format!("the consistency proof does not verify: {e}"),
            })?,
            // Nothing cosigned yet: the first checkpoint is taken on trust, as tlog-witness does.
            None if !proof.is_empty() => {
                return Err(WitnessError::BadProof(
                    "the proof from old size 0 must be empty".into(),
                ));
            }
            None => {}
        }
        let sig = cosignature::cosign(&self.name, &self.key, now_secs, &note.text)?;
        state.record(
            &origin,
            Held {
                size: offered.size,
                root: offered.root,
                checkpoint: note_text.to_owned(),
                cosignature: sig.line(),
            },
        )?;
        Ok(sig)
    }
}

/// Seconds since the Unix epoch, for cosignature timestamps.
pub fn now_secs() -> u64 {
    (crate::clock::now_ms().max(0) as u64) / 1000
}
