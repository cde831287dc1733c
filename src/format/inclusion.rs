//! Inclusion proofs: that a leaf is at a given index of the tree a root commits to
//! (RFC 6962 §2.1.1 to build, RFC 9162 §2.1.3.2 to verify).

use super::FormatError;
use super::hash::{Hash, node_hash};
use super::tree::{LeafIndex, NodeSource, TreeSize, split_point, subtree_root};

/// The audit path of leaf `index` in the tree of `size` leaves (RFC 6962 §2.1.1 PATH),
/// the sibling nearest the leaf first. O(log n) node reads.
pub fn prove<S: NodeSource + ?Sized>(
    src: &S,
    index: LeafIndex,
    size: TreeSize,
) -> Result<Vec<Hash>, S::Error> {
    check_index(index, size)?;
    // Walk PATH's recursion from the root down; it lists siblings bottom-up, so reverse.
    let (mut start, mut end) = (0u64, size.0);
    let mut path = Vec::new();
    while end - start > 1 {
        let mid = start + split_point(end - start);
        if index.0 < mid {
            path.push(subtree_root(src, mid, end)?);
            end = mid;
        } else {
            path.push(subtree_root(src, start, mid)?);
            start = mid;
        }
    }
    path.reverse();
    Ok(path)
}

/// RFC 9162 §2.1.3.2 verification: Ok(()) iff `proof` leads from `leaf_hash` to `root`.
pub fn verify(
    index: LeafIndex,
    size: TreeSize,
    leaf_hash: &Hash,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), FormatError> {
    if root_from_proof(index, size, leaf_hash, proof)? == *root {
        Ok(())
    } else {
        Err(FormatError::RootMismatch)
    }
}

/// The root that `proof` leads to (errors on bad index/length), for callers that compare it
/// with a root they hold in another form, or remember it.
pub fn root_from_proof(
    index: LeafIndex,
    size: TreeSize,
    leaf_hash: &Hash,
    proof: &[Hash],
) -> Result<Hash, FormatError> {
    check_index(index, size)?;
    let (inner, border) = decompose(index.0, size.0);
    if proof.len() != inner + border {
        return Err(FormatError::ProofLength {
            got: proof.len(),
            want: inner + border,
        });
    }
    let (inner_path, border_path) = proof.split_at(inner);
    let h = chain_inner(*leaf_hash, inner_path, index.0);
    Ok(chain_border_right(h, border_path))
}

fn check_index(index: LeafIndex, size: TreeSize) -> Result<(), FormatError> {
    if index.0 >= size.0 {
        return Err(FormatError::IndexOutOfRange {
            index: index.0,
            size: size.0,
        });
    }
    Ok(())
}

/// Splits the audit path of `index` in a tree of `size` (index < size) into its two parts:
/// `inner` levels below where the paths to `index` and to the last leaf part, where siblings
/// sit on either side as `index`'s bits say; then `border` levels on the tree's right edge,
/// where the node holding `index` is always a right child whose left siblings are proof
/// entries (levels where it is the lone rightmost node contribute nothing).
///
/// This is RFC 9162's `fn`/`sn` loop with the length known up front, so a proof of the wrong
/// length is a `ProofLength` error rather than a mismatch.
pub(crate) fn decompose(index: u64, size: u64) -> (usize, usize) {
    let inner = (64 - (index ^ (size - 1)).leading_zeros()) as usize;
    // inner <= 64; `checked_shr` keeps inner == 64 (impossible for index < size) panic-free.
    let border = index.checked_shr(inner as u32).unwrap_or(0).count_ones() as usize;
    (inner, border)
}

/// Hashes `seed` up through `proof`, bit i of `index` saying whether the seed is the right
/// (1) or left (0) child at level i.
pub(crate) fn chain_inner(seed: Hash, proof: &[Hash], index: u64) -> Hash {
    proof.iter().enumerate().fold(seed, |h, (i, p)| {
        if (index >> i) & 1 == 0 {
            node_hash(&h, p)
        } else {
            node_hash(p, &h)
        }
    })
}

/// Like [`chain_inner`] but skips levels where the seed is a left child: rebuilds the root of
/// the *old* tree in a consistency proof, whose right edge has nothing to its right.
pub(crate) fn chain_inner_right(seed: Hash, proof: &[Hash], index: u64) -> Hash {
    proof.iter().enumerate().fold(seed, |h, (i, p)| {
        if (index >> i) & 1 == 1 {
            node_hash(p, &h)
        } else {
            h
        }
    })
}

/// Hashes `seed` up the right border: every proof entry is a left sibling.
pub(crate) fn chain_border_right(seed: Hash, proof: &[Hash]) -> Hash {
    proof.iter().fold(seed, |h, p| node_hash(p, &h))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::tree::tests::{leaves, naive_mth, roots, tree};

    /// RFC 6962 PATH straight from the definition.
    fn naive_path(m: usize, d: &[Hash]) -> Vec<Hash> {
        if d.len() <= 1 {
            return Vec::new();
        }
        let k = split_point(d.len() as u64) as usize;
        if m < k {
            let mut p = naive_path(m, &d[..k]);
            p.push(naive_mth(&d[k..]));
            p
        } else {
            let mut p = naive_path(m - k, &d[k..]);
            p.push(naive_mth(&d[..k]));
            p
        }
    }

    const N: u64 = 64;

    #[test]
    fn prove_matches_naive_path_and_verifies() {
        let d = leaves(N);
        let t = tree(N);
        let roots = roots(&t, N);
        for size in 1..=N {
            for index in 0..size {
                let (i, n) = (LeafIndex(index), TreeSize(size));
                let proof = prove(&t, i, n).expect("prove");
                let li = index as usize;
                assert_eq!(proof, naive_path(li, &d[..size as usize]), "{index}/{size}");
                let want = roots[size as usize];
                assert_eq!(verify(i, n, &d[li], &proof, &want), Ok(()));
                assert_eq!(root_from_proof(i, n, &d[li], &proof), Ok(want));
            }
        }
    }

    #[test]
    fn tampering_is_rejected() {
        let d = leaves(N);
        let t = tree(N);
        let roots = roots(&t, N);
        for size in 1..=N {
            for index in 0..size {
                let (i, n) = (LeafIndex(index), TreeSize(size));
                let li = index as usize;
                let want = roots[size as usize];
                let proof = prove(&t, i, n).expect("prove");
                // A flipped bit anywhere in the proof.
                for k in 0..proof.len() {
                    let mut bad = proof.clone();
                    bad[k][k % 32] ^= 1 << (k % 8);
                    assert_eq!(
                        verify(i, n, &d[li], &bad, &want),
                        Err(FormatError::RootMismatch)
                    );
                }
                // A flipped bit in the leaf or the root.
                let mut leaf = d[li];
                leaf[31] ^= 0x80;
                assert!(verify(i, n, &leaf, &proof, &want).is_err());
                let mut bad_root = want;
                bad_root[0] ^= 1;
                assert!(verify(i, n, &d[li], &proof, &bad_root).is_err());
                // Another leaf of the same tree: a different position.
                for other in (0..size).filter(|&o| o != index) {
                    assert!(verify(LeafIndex(other), n, &d[li], &proof, &want).is_err());
                }
                // Another size, checked against that size's root.
                for other in (index + 1..=N).filter(|&o| o != size) {
                    let r = roots[other as usize];
                    assert!(verify(i, TreeSize(other), &d[li], &proof, &r).is_err());
                }
                // Too short, too long.
                if !proof.is_empty() {
                    assert!(matches!(
                        verify(i, n, &d[li], &proof[1..], &want),
                        Err(FormatError::ProofLength { .. })
                    ));
                }
                let mut long = proof.clone();
                long.push(want);
                assert_eq!(
                    verify(i, n, &d[li], &long, &want),
                    Err(FormatError::ProofLength {
                        got: proof.len() + 1,
                        want: proof.len()
                    })
                );
            }
        }
    }

    #[test]
    fn index_out_of_range() {
        let t = tree(5);
        let h = [0u8; 32];
        for (index, size) in [(0, 0), (5, 5), (6, 5), (u64::MAX, 1), (u64::MAX, u64::MAX)] {
            let e = FormatError::IndexOutOfRange { index, size };
            assert_eq!(
                verify(LeafIndex(index), TreeSize(size), &h, &[], &h),
                Err(e.clone())
            );
            if size <= 5 {
                assert_eq!(prove(&t, LeafIndex(index), TreeSize(size)), Err(e));
            }
        }
        // Inside the requested size but beyond what the source holds: the source's error.
        assert!(prove(&t, LeafIndex(2), TreeSize(9)).is_err());
    }

    #[test]
    fn huge_tree_arithmetic_does_not_panic() {
        let h = [7u8; 32];
        for (index, size) in [(u64::MAX - 1, u64::MAX), (0, u64::MAX), (1 << 63, u64::MAX)] {
            let (inner, border) = decompose(index, size);
            assert!(inner + border <= 64);
            let proof = vec![h; inner + border];
            assert!(root_from_proof(LeafIndex(index), TreeSize(size), &h, &proof).is_ok());
        }
    }
}
