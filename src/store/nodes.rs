//! The newest Merkle nodes of every level, in memory, in front of the node columns.
//!
//! A receipt's inclusion proof (one per submission) and every checkpoint's root read only
//! nodes on the tree's right edge, and any proof reads at most one node per level, most of
//! them high up where a level has few nodes. Keeping the last [`WINDOW`] nodes of each level
//! serves all of those from memory, leaving the files only the low-level nodes of old entries.
//! Memory is bounded by levels × WINDOW × 32 bytes (under 6 MiB for 2^20 entries) however
//! long the log grows. The cache is derived from the columns (filled on open, extended
//! after each batch is indexed), so it never holds anything the segments do not.

use std::collections::VecDeque;
use std::sync::{RwLock, RwLockReadGuard};

use crate::format::FormatError;
use crate::format::hash::Hash;
use crate::format::tree::{NodeId, NodeSource, TreeSize};

use super::StoreError;
use super::columns::Columns;

/// Nodes kept per level: the newest this many.
pub(crate) const WINDOW: usize = 8192;

/// One level's newest nodes: `hashes[i]` is node `first + i`.
#[derive(Default)]
struct Level {
    first: u64,
    hashes: VecDeque<Hash>,
}

/// The newest nodes of each level, shared by the writer (who extends it) and readers.
#[derive(Default)]
pub(crate) struct NodeCache {
    levels: RwLock<Vec<Level>>,
}

impl NodeCache {
    /// Fills the cache with the newest nodes of a tree of `size` leaves, read from the columns.
    pub fn load(columns: &Columns, size: TreeSize) -> Result<Self, StoreError> {
        let mut levels = Vec::new();
        for level in 0..64u8 {
            let count = size.0 >> level;
            if count == 0 {
                break;
            }
            let first = count.saturating_sub(WINDOW as u64);
            let mut hashes = VecDeque::with_capacity((count - first) as usize);
            for index in first..count {
                hashes.push_back(columns.node(NodeId { level, index })?);
            }
            levels.push(Level { first, hashes });
        }
        Ok(Self {
            levels: RwLock::new(levels),
        })
    }

    /// Adds the nodes a batch completed (as `Frontier::push` returned them, in order), once
    /// the columns hold them too.
    pub fn extend<'a>(&self, nodes: impl IntoIterator<Item = &'a (NodeId, Hash)>) {
        let mut levels = self.levels.write().unwrap_or_else(|e| e.into_inner());
        for (id, hash) in nodes {
            let l = usize::from(id.level);
            while levels.len() <= l {
                levels.push(Level::default());
            }
            let level = &mut levels[l];
            // Nodes arrive in index order per level; anything else means the cache no longer
            // matches the tree, so start this level afresh from the node given.
            if level.first + level.hashes.len() as u64 != id.index {
                level.first = id.index;
                level.hashes.clear();
            }
            level.hashes.push_back(*hash);
            if level.hashes.len() > WINDOW {
                level.hashes.pop_front();
                level.first += 1;
            }
        }
    }

    /// A node source reading this cache first and the columns for what it lacks.
    pub fn with<'a>(&'a self, columns: &'a Columns) -> CachedNodes<'a> {
        CachedNodes {
            levels: self.levels.read().unwrap_or_else(|e| e.into_inner()),
            columns,
        }
    }

    /// A node source reading this cache alone: it never touches a file, so it may be read
    /// on the async runtime.
    pub fn in_memory(&self) -> MemoryNodes<'_> {
        MemoryNodes(self.levels.read().unwrap_or_else(|e| e.into_inner()))
    }
}

/// Node `id` if the cache holds it.
fn cached(levels: &[Level], id: NodeId) -> Option<Hash> {
    let level = levels.get(usize::from(id.level))?;
    let offset = usize::try_from(id.index.checked_sub(level.first)?).ok()?;
    level.hashes.get(offset).copied()
}

/// The cache alone (read-locked for one root or proof).
pub(crate) struct MemoryNodes<'a>(RwLockReadGuard<'a, Vec<Level>>);

/// A node [`MemoryNodes`] does not hold (or a format error on the way): read the files.
#[derive(Debug)]
pub(crate) struct NotInMemory;

impl From<FormatError> for NotInMemory {
    fn from(_: FormatError) -> Self {
        NotInMemory
    }
}

impl NodeSource for MemoryNodes<'_> {
    type Error = NotInMemory;

    fn node(&self, id: NodeId) -> Result<Hash, NotInMemory> {
        cached(&self.0, id).ok_or(NotInMemory)
    }
}

/// The cache (read-locked for one root or proof) in front of the columns.
pub(crate) struct CachedNodes<'a> {
    levels: RwLockReadGuard<'a, Vec<Level>>,
    columns: &'a Columns,
}

impl NodeSource for CachedNodes<'_> {
    type Error = StoreError;

    fn node(&self, id: NodeId) -> Result<Hash, StoreError> {
        match cached(&self.levels, id) {
            Some(hash) => Ok(hash),
            None => self.columns.node(id),
        }
    }
}
