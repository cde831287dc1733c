//! The storage seam: the calls the sequencer and the read paths make on the log's store, with
//! two implementations — the embedded [`Store`] (segments and index in a data directory) and
//! [`PgStore`](super::postgres::PgStore) (tables in PostgreSQL). Nothing above this trait knows
//! which one runs; the log format, proofs and exports are the same for both.
//!
//! Every call is synchronous: the embedded store blocks on disk, the PostgreSQL store on its
//! own runtime's round trip, both short. The writer (one sequencer) calls `append` and
//! `add_cosignature`; any number of readers call the rest concurrently.

use crate::format::entry::Claim;
use crate::format::hash::Hash;
use crate::format::note::NoteSignature;
use crate::format::tree::{LeafIndex, TreeSize};
use crate::pb;

use super::{Payload, PreparedBatch, Store, StoreError};

/// The log's durable store, as the layers above it see it. Shared as `Arc<dyn LogStore>`.
pub trait LogStore: Send + Sync {
    /// Entries visible to readers.
    fn size(&self) -> TreeSize;

    /// Size and leaf hash of the last entry (ZERO_HASH when empty): the sequencer's next index
    /// and prev_leaf_hash.
    fn tip(&self) -> (TreeSize, Hash);

    /// Appends one batch as one transaction, durable before this returns; `sign_checkpoint`
    /// is called once with the new size and root and returns the signed note stored as the
    /// batch's checkpoint. Returns each entry's leaf hash. See [`Store::append`].
    fn append(
        &self,
        batch: &PreparedBatch,
        sign_checkpoint: &mut dyn FnMut(TreeSize, Hash) -> String,
    ) -> Result<Vec<Hash>, StoreError>;

    /// Stores a witness's cosignature of the checkpoint at `size`; false when that key already
    /// cosigned it. See [`Store::add_cosignature`].
    fn add_cosignature(&self, size: TreeSize, sig: &NoteSignature) -> Result<bool, StoreError>;

    /// The cosignatures stored for the checkpoint at `size`, ordered by key id then name.
    fn cosignatures(&self, size: TreeSize) -> Result<Vec<NoteSignature>, StoreError>;

    /// The bytes of entry `index` exactly as stored, None beyond the log's size.
    fn entry(&self, index: LeafIndex) -> Result<Option<Vec<u8>>, StoreError>;

    /// Leaf hash of entry `index`, None beyond the log's size.
    fn leaf_hash(&self, index: LeafIndex) -> Result<Option<Hash>, StoreError>;

    /// The index of the entry with this leaf hash.
    fn find_leaf(&self, leaf_hash: &Hash) -> Result<Option<LeafIndex>, StoreError>;

    /// The payload committed to by `commitment`; None if unknown or erased.
    fn payload(&self, commitment: &Hash) -> Result<Option<Payload>, StoreError>;

    /// The latest checkpoint note (`size` None), or the one signed at exactly `size`.
    fn checkpoint(&self, size: Option<TreeSize>) -> Result<Option<String>, StoreError>;

    /// The checkpoints stored at sizes in `[from, to]`, ascending, at most `limit` of them.
    fn checkpoints(
        &self,
        from: TreeSize,
        to: TreeSize,
        limit: usize,
    ) -> Result<Vec<(TreeSize, String)>, StoreError>;

    /// Root hash of the tree of the first `size` entries.
    fn root(&self, size: TreeSize) -> Result<Hash, StoreError>;

    /// Inclusion proof of entry `index` in the tree of `size` entries (RFC 6962 PATH).
    fn inclusion_proof(&self, index: LeafIndex, size: TreeSize) -> Result<Vec<Hash>, StoreError>;

    /// [`LogStore::inclusion_proof`] without blocking, from what the store holds in memory:
    /// a recent entry's proof (a receipt's) usually is. None: ask `inclusion_proof`, off the
    /// async runtime.
    fn inclusion_proof_in_memory(&self, _index: LeafIndex, _size: TreeSize) -> Option<Vec<Hash>> {
        None
    }

    /// Consistency proof from the tree of `old` entries to that of `new` (RFC 6962 PROOF).
    fn consistency_proof(&self, old: TreeSize, new: TreeSize) -> Result<Vec<Hash>, StoreError>;

    /// The entry that holds `claim`, if any: a replayed nonce, a second receipt.
    fn claimed(&self, claim: &Claim) -> Result<Option<LeafIndex>, StoreError>;

    /// The Redaction entry that erased the item with this commitment, if any.
    fn redaction_of(&self, commitment: &Hash) -> Result<Option<LeafIndex>, StoreError> {
        self.claimed(&Claim::RedactionOf(*commitment))
    }

    /// Indexes >= `from`, ascending, of entries involving `party` (None: any) and of one of
    /// `kinds` (empty: any); at most `limit` of them.
    fn scan(
        &self,
        from: LeafIndex,
        party: Option<&str>,
        kinds: &[pb::EntryKind],
        limit: usize,
    ) -> Result<Vec<LeafIndex>, StoreError>;

    /// Indexes of entries whose server time is in `[from_ms, to_ms)`, ascending.
    fn by_time(&self, from_ms: i64, to_ms: i64) -> Result<Vec<LeafIndex>, StoreError>;

    /// Indexes of disclosures carrying an item with this STIX id, ascending.
    fn by_stix_id(&self, stix_id: &str) -> Result<Vec<LeafIndex>, StoreError>;

    /// Indexes of entries naming this item commitment (its disclosure, any redaction of it).
    fn by_commitment(&self, commitment: &Hash) -> Result<Vec<LeafIndex>, StoreError>;

    /// Makes derived state durable for a clean stop (the embedded index); a no-op where every
    /// write is already in the database.
    fn flush(&self) -> Result<(), StoreError> {
        Ok(())
    }

    /// Counts the times this process became the log's writer: the sequencer re-reads what it
    /// keeps in memory (policies, keys, last time) when it changes. Always 1 for a store only
    /// this process can write.
    fn writer_generation(&self) -> u64 {
        1
    }

    /// Whether this process may append now (false: another process holds the writer role, or
    /// the database cannot be reached).
    fn is_writer(&self) -> bool {
        true
    }

    /// Whether the store refuses every append until it is reopened, because an append failed
    /// part-way and could not be undone: the log has failed. No default, so each backend says
    /// when it is.
    fn is_poisoned(&self) -> bool;
}

impl LogStore for Store {
    fn size(&self) -> TreeSize {
        Store::size(self)
    }
    fn tip(&self) -> (TreeSize, Hash) {
        Store::tip(self)
    }
    fn append(
        &self,
        batch: &PreparedBatch,
        sign_checkpoint: &mut dyn FnMut(TreeSize, Hash) -> String,
    ) -> Result<Vec<Hash>, StoreError> {
        Store::append(self, batch, sign_checkpoint)
    }
    fn add_cosignature(&self, size: TreeSize, sig: &NoteSignature) -> Result<bool, StoreError> {
        Store::add_cosignature(self, size, sig)
    }
    fn cosignatures(&self, size: TreeSize) -> Result<Vec<NoteSignature>, StoreError> {
        Store::cosignatures(self, size)
    }
    fn entry(&self, index: LeafIndex) -> Result<Option<Vec<u8>>, StoreError> {
        Store::entry(self, index)
    }
    fn leaf_hash(&self, index: LeafIndex) -> Result<Option<Hash>, StoreError> {
        Store::leaf_hash(self, index)
    }
    fn find_leaf(&self, leaf_hash: &Hash) -> Result<Option<LeafIndex>, StoreError> {
        Store::find_leaf(self, leaf_hash)
    }
    fn payload(&self, commitment: &Hash) -> Result<Option<Payload>, StoreError> {
        Store::payload(self, commitment)
    }
    fn checkpoint(&self, size: Option<TreeSize>) -> Result<Option<String>, StoreError> {
        Store::checkpoint(self, size)
    }
    fn checkpoints(
        &self,
        from: TreeSize,
        to: TreeSize,
        limit: usize,
    ) -> Result<Vec<(TreeSize, String)>, StoreError> {
        Store::checkpoints(self, from, to, limit)
    }
    fn root(&self, size: TreeSize) -> Result<Hash, StoreError> {
        Store::root(self, size)
    }
    fn inclusion_proof(&self, index: LeafIndex, size: TreeSize) -> Result<Vec<Hash>, StoreError> {
        Store::inclusion_proof(self, index, size)
    }
    fn inclusion_proof_in_memory(&self, index: LeafIndex, size: TreeSize) -> Option<Vec<Hash>> {
        Store::inclusion_proof_in_memory(self, index, size)
    }
    fn consistency_proof(&self, old: TreeSize, new: TreeSize) -> Result<Vec<Hash>, StoreError> {
        Store::consistency_proof(self, old, new)
    }
    fn claimed(&self, claim: &Claim) -> Result<Option<LeafIndex>, StoreError> {
        Store::claimed(self, claim)
    }
    fn redaction_of(&self, commitment: &Hash) -> Result<Option<LeafIndex>, StoreError> {
        Store::redaction_of(self, commitment)
    }
    fn scan(
        &self,
        from: LeafIndex,
        party: Option<&str>,
        kinds: &[pb::EntryKind],
        limit: usize,
    ) -> Result<Vec<LeafIndex>, StoreError> {
        Store::scan(self, from, party, kinds, limit)
    }
    fn by_time(&self, from_ms: i64, to_ms: i64) -> Result<Vec<LeafIndex>, StoreError> {
        Store::by_time(self, from_ms, to_ms)
    }
    fn by_stix_id(&self, stix_id: &str) -> Result<Vec<LeafIndex>, StoreError> {
        Store::by_stix_id(self, stix_id)
    }
    fn by_commitment(&self, commitment: &Hash) -> Result<Vec<LeafIndex>, StoreError> {
        Store::by_commitment(self, commitment)
    }
    fn flush(&self) -> Result<(), StoreError> {
        Store::flush_index(self)
    }
    fn is_poisoned(&self) -> bool {
        Store::is_poisoned(self)
    }
}
