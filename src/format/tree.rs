//! Tree arithmetic for the RFC 6962 Merkle tree: perfect subtrees ([`NodeId`]), where their
//! hashes come from ([`NodeSource`]), roots of arbitrary ranges, and the appender's right edge
//! ([`Frontier`]).
//!
//! Everything is expressed over *perfect* subtrees (2^level leaves, aligned) because those are
//! the only nodes that never change once written: a store can keep them forever, and every
//! root or proof of any tree size is a short fold over O(log n) of them.

use super::FormatError;
use super::hash::{Hash, empty_root, node_hash};

/// Position of a leaf in the log, from 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LeafIndex(pub u64);

/// Number of leaves in a tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TreeSize(pub u64);

/// A perfect subtree: 2^level leaves starting at leaf `index << level`. Level 0 = a leaf hash.
///
/// The immutable unit of storage: once all its leaves exist, its hash never changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeId {
    /// Height above the leaves: the subtree holds 2^level leaves.
    pub level: u8,
    /// Position among the nodes of this level, from the left.
    pub index: u64,
}

/// Where perfect-subtree hashes come from (the store implements this over its node columns; MemoryTree in
/// memory), so roots and proofs are computed the same way whatever holds the nodes.
pub trait NodeSource {
    /// The source's own failure (I/O, corruption...), able to carry a format error too.
    type Error: From<FormatError>;
    /// The hash of the perfect subtree `id`; an error if it is not (yet) known.
    fn node(&self, id: NodeId) -> Result<Hash, Self::Error>;
}

/// The largest power of two strictly below `n` (n >= 2): where RFC 6962 splits D[n].
pub(crate) fn split_point(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1 << (63 - (n - 1).leading_zeros())
}

/// MTH(D[start:end]) per RFC 6962, computed from O(log n) perfect nodes of `src`.
///
/// O(log n) reads holds whenever `start` is a multiple of the largest power of two below
/// `end - start` — true of every range RFC 6962 roots and proofs use. Other ranges are still
/// hashed exactly as RFC 6962 defines them, just from more (smaller) nodes. `start > end` is
/// `SizesOutOfOrder`; a node the source lacks is the source's error.
pub fn subtree_root<S: NodeSource + ?Sized>(
    src: &S,
    start: u64,
    end: u64,
) -> Result<Hash, S::Error> {
    if start > end {
        return Err(FormatError::SizesOutOfOrder {
            old: start,
            new: end,
        }
        .into());
    }
    if start == end {
        return Ok(empty_root());
    }
    mth(src, start, end - start)
}

/// MTH of the `n >= 1` leaves from `start`: a stored node if perfect and aligned, else the
/// RFC 6962 split. Recursion depth is at most 64 (n halves at least every step).
fn mth<S: NodeSource + ?Sized>(src: &S, start: u64, n: u64) -> Result<Hash, S::Error> {
    if n.is_power_of_two() && start.is_multiple_of(n) {
        let level = n.trailing_zeros();
        // level <= 63, so the cast is lossless.
        return src.node(NodeId {
            level: level as u8,
            index: start >> level,
        });
    }
    let k = split_point(n);
    let left = mth(src, start, k)?;
    let right = mth(src, start + k, n - k)?;
    Ok(node_hash(&left, &right))
}

/// Root of the tree of `size` leaves (empty_root() for 0).
pub fn root<S: NodeSource + ?Sized>(src: &S, size: TreeSize) -> Result<Hash, S::Error> {
    subtree_root(src, 0, size.0)
}

/// The right edge of the tree (compact range): the perfect subtrees that make up [0, size).
/// Lets an appender compute each new root and the nodes to store in O(log n), holding O(log n)
/// hashes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Frontier {
    /// Leaves covered.
    size: u64,
    /// One hash per set bit of `size`, largest (leftmost) subtree first.
    nodes: Vec<Hash>,
}

impl Frontier {
    /// The frontier of the empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Leaves covered so far.
    pub fn size(&self) -> TreeSize {
        TreeSize(self.size)
    }

    /// Appends a leaf hash; returns every perfect node this completes, the leaf (level 0)
    /// first, ascending levels — exactly what the store must write for this leaf.
    pub fn push(&mut self, leaf: Hash) -> Vec<(NodeId, Hash)> {
        let index = self.size;
        let mut carry = leaf;
        let mut level: u32 = 0;
        let mut done = vec![(NodeId { level: 0, index }, leaf)];
        // Each set low bit of the old size is a perfect subtree the new leaf now pairs with,
        // like a carry in binary addition.
        while (index >> level) & 1 == 1 {
            let Some(left) = self.nodes.pop() else {
                // Unreachable: `nodes` holds one hash per set bit of `size`.
                break;
            };
            carry = node_hash(&left, &carry);
            level += 1;
            done.push((
                NodeId {
                    level: level as u8,
                    index: index >> level,
                },
                carry,
            ));
        }
        self.nodes.push(carry);
        self.size += 1;
        done
    }

    /// The root hash of the tree of `size()` leaves.
    pub fn root(&self) -> Hash {
        // RFC 6962 hangs smaller subtrees off the right: fold from the smallest.
        let mut it = self.nodes.iter().rev();
        let Some(last) = it.next() else {
            return empty_root();
        };
        it.fold(*last, |acc, left| node_hash(left, &acc))
    }

    /// Rebuilds the frontier of a tree of `size` leaves from its stored nodes (O(log n) reads).
    pub fn load<S: NodeSource + ?Sized>(src: &S, size: TreeSize) -> Result<Self, S::Error> {
        let mut nodes = Vec::with_capacity(size.0.count_ones() as usize);
        let mut start = 0u64;
        for level in (0..64u32).rev() {
            let width = 1u64 << level;
            if size.0 & width != 0 {
                nodes.push(src.node(NodeId {
                    level: level as u8,
                    index: start >> level,
                })?);
                start += width;
            }
        }
        Ok(Self {
            size: size.0,
            nodes,
        })
    }
}

/// Every perfect node in memory: for tests, verifiers and small trees.
#[derive(Debug, Clone, Default)]
pub struct MemoryTree {
    /// `levels[l][i]` is the hash of `NodeId { level: l, index: i }`; `levels[0]` the leaves.
    levels: Vec<Vec<Hash>>,
}

impl MemoryTree {
    /// The empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a leaf hash and every perfect node it completes.
    pub fn push(&mut self, leaf: Hash) {
        let mut level = 0;
        let mut hash = leaf;
        loop {
            if self.levels.len() == level {
                self.levels.push(Vec::new());
            }
            let row = &mut self.levels[level];
            row.push(hash);
            // An even count means the node just written is a right child: its parent is done.
            if row.len() % 2 == 1 {
                break;
            }
            hash = node_hash(&row[row.len() - 2], &row[row.len() - 1]);
            level += 1;
        }
    }

    /// Leaves held.
    pub fn size(&self) -> TreeSize {
        TreeSize(self.levels.first().map_or(0, |l| l.len() as u64))
    }
}

impl NodeSource for MemoryTree {
    type Error = FormatError;

    /// A node not (yet) complete is `IndexOutOfRange`, naming its first leaf.
    fn node(&self, id: NodeId) -> Result<Hash, FormatError> {
        let usize_index = usize::try_from(id.index).ok();
        self.levels
            .get(usize::from(id.level))
            .zip(usize_index)
            .and_then(|(row, i)| row.get(i))
            .copied()
            .ok_or(FormatError::IndexOutOfRange {
                index: 1u64
                    .checked_shl(u32::from(id.level))
                    .and_then(|w| id.index.checked_mul(w))
                    .unwrap_or(u64::MAX),
                size: self.size().0,
            })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::format::hash::leaf_hash;

    /// Distinct, deterministic leaf hashes.
    pub(crate) fn leaves(n: u64) -> Vec<Hash> {
        (0..n).map(|i| leaf_hash(&i.to_be_bytes())).collect()
    }

    /// A MemoryTree of `n` leaves from [`leaves`].
    pub(crate) fn tree(n: u64) -> MemoryTree {
        let mut t = MemoryTree::new();
        for l in leaves(n) {
            t.push(l);
        }
        t
    }

    /// RFC 6962 MTH, straight from the definition.
    /// The root of every size 0..=n of `t`, for checking proofs against.
    pub(crate) fn roots(t: &MemoryTree, n: u64) -> Vec<Hash> {
        (0..=n)
            .map(|s| root(t, TreeSize(s)).expect("root"))
            .collect()
    }

    pub(crate) fn naive_mth(d: &[Hash]) -> Hash {
        match d.len() {
            0 => empty_root(),
            1 => d[0],
            n => {
                let k = split_point(n as u64) as usize;
                node_hash(&naive_mth(&d[..k]), &naive_mth(&d[k..]))
            }
        }
    }

    /// Counts reads, to check the O(log n) claims.
    struct Counting<'a>(&'a MemoryTree, std::cell::Cell<usize>);
    impl NodeSource for Counting<'_> {
        type Error = FormatError;
        fn node(&self, id: NodeId) -> Result<Hash, FormatError> {
            self.1.set(self.1.get() + 1);
            self.0.node(id)
        }
    }

    #[test]
    fn split_point_is_largest_power_below() {
        for n in 2..=1025u64 {
            let k = split_point(n);
            assert!(k.is_power_of_two() && k < n && 2 * k >= n, "n={n}");
        }
        assert_eq!(split_point(u64::MAX), 1 << 63);
    }

    #[test]
    fn subtree_root_matches_naive_for_every_range() {
        let d = leaves(64);
        let t = tree(64);
        for start in 0..=64u64 {
            for end in start..=64u64 {
                let want = naive_mth(&d[start as usize..end as usize]);
                assert_eq!(subtree_root(&t, start, end), Ok(want), "[{start},{end})");
            }
        }
    }

    #[test]
    fn root_matches_naive_and_reads_log_n_nodes() {
        let d = leaves(200);
        let t = tree(200);
        for n in 0..=200u64 {
            let c = Counting(&t, Default::default());
            assert_eq!(root(&c, TreeSize(n)), Ok(naive_mth(&d[..n as usize])));
            assert_eq!(c.1.get(), n.count_ones() as usize, "n={n}");
        }
    }

    #[test]
    fn subtree_root_errors() {
        let t = tree(5);
        assert_eq!(
            subtree_root(&t, 3, 2),
            Err(FormatError::SizesOutOfOrder { old: 3, new: 2 })
        );
        // Beyond the tree: the missing node surfaces as the source's error.
        assert!(matches!(
            root(&t, TreeSize(6)),
            Err(FormatError::IndexOutOfRange { .. })
        ));
        assert_eq!(subtree_root(&t, 4, 4), Ok(empty_root()));
    }

    #[test]
    fn memory_tree_missing_nodes() {
        let t = tree(5);
        assert_eq!(t.size(), TreeSize(5));
        // [4, 6) is not complete yet.
        assert_eq!(
            t.node(NodeId { level: 1, index: 2 }),
            Err(FormatError::IndexOutOfRange { index: 4, size: 5 })
        );
        assert!(
            t.node(NodeId {
                level: 200,
                index: u64::MAX
            })
            .is_err()
        );
        assert!(t.node(NodeId { level: 2, index: 0 }).is_ok());
        assert!(t.node(NodeId { level: 3, index: 0 }).is_err());
    }

    #[test]
    fn frontier_push_matches_memory_tree() {
        let d = leaves(300);
        let mut f = Frontier::new();
        let mut t = MemoryTree::new();
        assert_eq!(f.root(), empty_root());
        for (i, l) in d.iter().enumerate() {
            let done = f.push(*l);
            t.push(*l);
            assert_eq!(f.size(), TreeSize(i as u64 + 1));
            assert_eq!(f.size(), t.size());
            assert_eq!(f.root(), naive_mth(&d[..=i]), "size {}", i + 1);
            // Leaf first, then one node per trailing one bit of the old size.
            assert_eq!(done.len(), (i as u64).trailing_ones() as usize + 1);
            for (k, (id, h)) in done.iter().enumerate() {
                assert_eq!(usize::from(id.level), k);
                assert_eq!(id.index, (i as u64) >> k);
                assert_eq!(t.node(*id), Ok(*h));
            }
            assert_eq!(Frontier::load(&t, f.size()), Ok(f.clone()));
        }
    }

    #[test]
    fn frontier_load_reads_popcount_nodes() {
        let t = tree(77);
        let c = Counting(&t, Default::default());
        let f = Frontier::load(&c, TreeSize(77)).expect("load");
        assert_eq!(c.1.get(), 77u64.count_ones() as usize);
        assert_eq!(f.root(), root(&t, TreeSize(77)).expect("root"));
        assert_eq!(Frontier::load(&t, TreeSize(0)), Ok(Frontier::new()));
        assert!(Frontier::load(&t, TreeSize(78)).is_err());
    }
}
