//! Hashes of the log format (RFC 6962 §2.1, docs/DESIGN.md) and the domain-separation constants,
//! each named once.

use sha2::{Digest, Sha256};

/// A SHA-256 output: leaf hashes, node hashes, roots, commitments.
pub type Hash = [u8; 32];

/// Prefix of a leaf hash input (RFC 6962 §2.1).
pub const LEAF_PREFIX: u8 = 0x00;
/// Prefix of an interior node hash input (RFC 6962 §2.1).
pub const NODE_PREFIX: u8 = 0x01;
/// Domain of item commitments: `SHA-256(ITEM_DOMAIN || salt || item_json_bytes)`.
pub const ITEM_DOMAIN: &[u8] = b"borderlog/item/v1\n";
/// Length of an item commitment's salt.
pub const SALT_LEN: usize = 32;

/// `prev_leaf_hash` of the genesis entry.
pub const ZERO_HASH: Hash = [0; 32];

/// SHA-256 of `data`.
pub fn sha256(data: &[u8]) -> Hash {
    Sha256::digest(data).into()
}

/// `SHA-256(0x00 || entry_bytes)`: the leaf hash of an entry as stored.
pub fn leaf_hash(entry_bytes: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([LEAF_PREFIX]);
    h.update(entry_bytes);
    h.finalize().into()
}

/// `SHA-256(0x01 || left || right)`: an interior node of the tree.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([NODE_PREFIX]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The root of the empty tree: SHA-256 of nothing.
pub fn empty_root() -> Hash {
    sha256(b"")
}

/// `SHA-256("borderlog/item/v1\n" || salt || item_json_bytes)`: what a disclosure body commits
/// to for one item, so the content can later be erased without breaking any signature.
pub fn item_commitment(salt: &[u8; SALT_LEN], item_json: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update(ITEM_DOMAIN);
    h.update(salt);
    h.update(item_json);
    h.finalize().into()
}

/// A 32-byte hash from a slice, or the error that names its length.
pub fn hash_from_slice(bytes: &[u8]) -> Result<Hash, super::FormatError> {
    bytes
        .try_into()
        .map_err(|_| super::FormatError::HashLength(bytes.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leaf_hash_known_answer() {
        // shared/vectors/README.md
        assert_eq!(
            hex::encode(leaf_hash(b"L123456")),
            "395aa064aa4c29f7010acfe3f25db9485bbd4b91897b6ad7ad547639252b4d56"
        );
    }

    #[test]
    fn empty_root_known_answer() {
        assert_eq!(
            hex::encode(empty_root()),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn commitment_depends_on_salt() {
        let a = item_commitment(&[1; 32], b"{}");
        let b = item_commitment(&[2; 32], b"{}");
        assert_ne!(a, b);
        assert_ne!(a, sha256(b"{}"));
    }
}
