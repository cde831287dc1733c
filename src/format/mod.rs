//! The log format: everything other people's software must be able to check byte for byte
//! (docs/DESIGN.md). Pure: no I/O, no clocks, no randomness — callers pass time and keys in.
//!
//! - [`hash`]: leaf and node hashes, item commitments, the domain-separation constants.
//! - [`tree`], [`inclusion`], [`consistency`]: the RFC 6962 Merkle tree and its proofs.
//! - [`signature`]: domain-separated Ed25519 signatures by purpose.
//! - [`note`], [`checkpoint`], [`cosignature`]: C2SP signed notes, checkpoints, cosignatures.
//! - [`entry`]: reading and building `borderlog.v1.Entry` records.

pub mod checkpoint;
pub mod consistency;
pub mod cosignature;
pub mod entry;
mod error;
pub mod hash;
pub mod inclusion;
pub mod note;
pub mod signature;
pub mod tree;

pub use error::FormatError;
pub use hash::Hash;
pub use tree::{LeafIndex, TreeSize};
