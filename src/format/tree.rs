//! Tree arithmetic for the RFC 6962 Merkle tree (to be written).

/// Position of a leaf in the log, from 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LeafIndex(pub u64);

/// Number of leaves in a tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TreeSize(pub u64);
