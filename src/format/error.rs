use thiserror::Error;

/// Everything that can be wrong with bytes claimed to be in the log format.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FormatError {
    /// A leaf index at or beyond the tree size it is claimed to be in.
    #[error("leaf index {index} is not inside a tree of size {size}")]
    IndexOutOfRange {
        /// The leaf index.
        index: u64,
        /// The tree size.
        size: u64,
    },
    /// Consistency asked between sizes that are not ordered old <= new.
    #[error("old tree size {old} is larger than new tree size {new}")]
    SizesOutOfOrder {
        /// The older size.
        old: u64,
        /// The newer size.
        new: u64,
    },
    /// A proof with the wrong number of hashes for its indexes and sizes.
    #[error("proof has {got} hashes, expected {want}")]
    ProofLength {
        /// Hashes in the proof.
        got: usize,
        /// Hashes the tree shape calls for.
        want: usize,
    },
    /// Consistency asked from the empty tree: every tree extends it, so there is nothing to
    /// prove, and accepting it would let a caller believe it checked something.
    #[error("consistency from an empty tree proves nothing")]
    EmptyTreeConsistency,
    /// A proof whose hashes do not lead to the claimed root.
    #[error("proof does not lead to the claimed root hash")]
    RootMismatch,
    /// A hash that is not 32 bytes.
    #[error("hash is {0} bytes, expected 32")]
    HashLength(usize),
    /// Text that does not follow the signed-note or checkpoint grammar.
    #[error("malformed note: {0}")]
    MalformedNote(&'static str),
    /// A verifier or signer key string that cannot be parsed.
    #[error("malformed key: {0}")]
    MalformedKey(&'static str),
    /// A signed note with no signature from any known key.
    #[error("no signature on the note is from a known key")]
    UnverifiedNote,
    /// A signature from a known key that does not verify.
    #[error("signature by {name} does not verify")]
    BadSignature {
        /// The key name on the signature line.
        name: String,
    },
    /// An Ed25519 public key that is not a valid, strong point.
    #[error("public key is not a canonical, strong Ed25519 key (RFC 8032)")]
    BadPublicKey,
    /// Entry bytes that do not decode as `borderlog.v1.Entry`, or lack a kind.
    #[error("entry does not decode: {0}")]
    MalformedEntry(String),
}
