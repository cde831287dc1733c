//! Consistency proofs: that the tree of `new` leaves extends the tree of `old` leaves, i.e.
//! the log only appended (RFC 6962 §2.1.2 to build, RFC 9162 §2.1.4.2 to verify).

use super::FormatError;
use super::hash::Hash;
use super::inclusion::{chain_border_right, chain_inner, chain_inner_right, decompose};
use super::tree::{NodeSource, TreeSize, split_point, subtree_root};

/// RFC 6962 §2.1.2 PROOF(m, D[n]); empty when old == new or old == 0 (though [`verify`]
/// refuses old == 0: there is nothing to prove). O(log n) node reads.
pub fn prove<S: NodeSource + ?Sized>(
    src: &S,
    old: TreeSize,
    new: TreeSize,
) -> Result<Vec<Hash>, S::Error> {
    check_order(old, new)?;
    let m = old.0;
    if m == 0 || m == new.0 {
        return Ok(Vec::new());
    }
    // Walk SUBPROOF's recursion from the root down (invariant: start < m <= end); it lists
    // hashes bottom-up, so reverse at the end.
    let (mut start, mut end) = (0u64, new.0);
    // SUBPROOF's `b`: still on the old tree's left edge, whose root the verifier already has.
    let mut on_left_edge = true;
    let mut proof = Vec::new();
    loop {
        if m == end {
            if !on_left_edge {
                proof.push(subtree_root(src, start, end)?);
            }
            break;
        }
        let mid = start + split_point(end - start);
        if m <= mid {
            proof.push(subtree_root(src, mid, end)?);
            end = mid;
        } else {
            proof.push(subtree_root(src, start, mid)?);
            start = mid;
            on_left_edge = false;
        }
    }
    proof.reverse();
    Ok(proof)
}

/// RFC 9162 §2.1.4.2 verification: Ok(()) iff `proof` shows that the tree of `new` leaves with
/// root `new_root` extends the tree of `old` leaves with root `old_root`.
///
/// old == new takes an empty proof and equal roots. old == 0 is always an error
/// (`EmptyTreeConsistency`), as in transparency-dev/merkle and its vectors: every tree extends
/// the empty one, so a caller with no previous checkpoint has nothing to check and must say so
/// rather than get a meaningless Ok.
pub fn verify(
    old: TreeSize,
    new: TreeSize,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> Result<(), FormatError> {
    check_order(old, new)?;
    let (m, n) = (old.0, new.0);
    if m == 0 {
        return Err(FormatError::EmptyTreeConsistency);
    }
    if m == n {
        if !proof.is_empty() {
            return Err(FormatError::ProofLength {
                got: proof.len(),
                want: 0,
            });
        }
        return if old_root == new_root {
            Ok(())
        } else {
            Err(FormatError::RootMismatch)
        };
    }

    // Now 0 < m < n. The proof is the tail of leaf m-1's audit path in the new tree, above
    // the largest perfect subtree [m - 2^shift, m) the old tree ends with; that subtree's
    // hash (the seed) comes first unless it is the whole old tree, whose root we have.
    let (inner, border) = decompose(m - 1, n);
    let shift = m.trailing_zeros() as usize;
    // inner > shift: m-1 ends in `shift` one bits, so it and n-1 > m-1 differ higher up.
    let inner = inner - shift;
    let seeded = m != 1 << shift;
    let want = usize::from(seeded) + inner + border;
    if proof.len() != want {
        return Err(FormatError::ProofLength {
            got: proof.len(),
            want,
        });
    }
    let (seed, rest) = match proof.split_first() {
        Some((first, rest)) if seeded => (*first, rest),
        _ => (*old_root, proof),
    };
    let (inner_path, border_path) = rest.split_at(inner);
    let mask = (m - 1) >> shift;

    // The old root uses only the left siblings; the new root all of them.
    let old_got = chain_border_right(chain_inner_right(seed, inner_path, mask), border_path);
    if old_got != *old_root {
        return Err(FormatError::RootMismatch);
    }
    let new_got = chain_border_right(chain_inner(seed, inner_path, mask), border_path);
    if new_got != *new_root {
        return Err(FormatError::RootMismatch);
    }
    Ok(())
}

fn check_order(old: TreeSize, new: TreeSize) -> Result<(), FormatError> {
    if old > new {
        return Err(FormatError::SizesOutOfOrder {
            old: old.0,
            new: new.0,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::hash::empty_root;
    use crate::format::tree::root;
    use crate::format::tree::tests::{leaves, naive_mth, roots, tree};

    /// RFC 6962 SUBPROOF straight from the definition.
    fn naive_subproof(m: usize, d: &[Hash], b: bool) -> Vec<Hash> {
        let n = d.len();
        if m == n {
            return if b { Vec::new() } else { vec![naive_mth(d)] };
        }
        let k = split_point(n as u64) as usize;
        if m <= k {
            let mut p = naive_subproof(m, &d[..k], b);
            p.push(naive_mth(&d[k..]));
            p
        } else {
            let mut p = naive_subproof(m - k, &d[k..], false);
            p.push(naive_mth(&d[..k]));
            p
        }
    }

    const N: u64 = 64;

    #[test]
    fn prove_matches_naive_and_verifies() {
        let d = leaves(N);
        let t = tree(N);
        let roots = roots(&t, N);
        for new in 0..=N {
            for old in 0..=new {
                let proof = prove(&t, TreeSize(old), TreeSize(new)).expect("prove");
                if old > 0 && old < new {
                    let want = naive_subproof(old as usize, &d[..new as usize], true);
                    assert_eq!(proof, want, "{old}->{new}");
                } else {
                    assert!(proof.is_empty());
                }
                let (r1, r2) = (roots[old as usize], roots[new as usize]);
                let want = if old == 0 {
                    Err(FormatError::EmptyTreeConsistency)
                } else {
                    Ok(())
                };
                assert_eq!(
                    verify(TreeSize(old), TreeSize(new), &r1, &r2, &proof),
                    want,
                    "{old}->{new}"
                );
            }
        }
    }

    #[test]
    fn tampering_is_rejected() {
        let t = tree(N);
        let roots = roots(&t, N);
        for new in 1..=N {
            for old in 1..new {
                let (o, n) = (TreeSize(old), TreeSize(new));
                let (r1, r2) = (roots[old as usize], roots[new as usize]);
                let proof = prove(&t, o, n).expect("prove");
                for k in 0..proof.len() {
                    let mut bad = proof.clone();
                    bad[k][(k * 7) % 32] ^= 1 << (k % 8);
                    assert_eq!(
                        verify(o, n, &r1, &r2, &bad),
                        Err(FormatError::RootMismatch),
                        "{old}->{new} bit in {k}"
                    );
                }
                let mut bad1 = r1;
                bad1[5] ^= 4;
                assert!(verify(o, n, &bad1, &r2, &proof).is_err());
                let mut bad2 = r2;
                bad2[30] ^= 64;
                assert!(verify(o, n, &r1, &bad2, &proof).is_err());
                assert!(verify(o, n, &r2, &r1, &proof).is_err());
                // Other sizes, each with its own true root.
                for o2 in (1..new).filter(|&x| x != old) {
                    let r = roots[o2 as usize];
                    assert!(verify(TreeSize(o2), n, &r, &r2, &proof).is_err(), "{o2}");
                }
                for n2 in (old + 1..=N).filter(|&x| x != new) {
                    let r = roots[n2 as usize];
                    assert!(verify(o, TreeSize(n2), &r1, &r, &proof).is_err(), "{n2}");
                }
                // Too short, too long.
                assert!(matches!(
                    verify(o, n, &r1, &r2, &proof[1..]),
                    Err(FormatError::ProofLength { .. })
                ));
                let mut long = proof.clone();
                long.push(r2);
                assert!(matches!(
                    verify(o, n, &r1, &r2, &long),
                    Err(FormatError::ProofLength { .. })
                ));
            }
        }
    }

    #[test]
    fn degenerate_sizes() {
        let t = tree(8);
        let e = empty_root();
        let r3 = root(&t, TreeSize(3)).expect("root");
        let r5 = root(&t, TreeSize(5)).expect("root");
        let (z, three, five) = (TreeSize(0), TreeSize(3), TreeSize(5));
        // Out of order.
        let ooo = FormatError::SizesOutOfOrder { old: 5, new: 3 };
        assert_eq!(verify(five, three, &r5, &r3, &[]), Err(ooo.clone()));
        assert_eq!(prove(&t, five, three), Err(ooo));
        // Equal sizes: empty proof, equal roots.
        assert_eq!(verify(three, three, &r3, &r3, &[]), Ok(()));
        assert_eq!(
            verify(three, three, &r3, &r5, &[]),
            Err(FormatError::RootMismatch)
        );
        assert_eq!(
            verify(three, three, &r3, &r3, &[r3]),
            Err(FormatError::ProofLength { got: 1, want: 0 })
        );
        // From the empty tree: refused whatever the proof and roots.
        let empty = Err(FormatError::EmptyTreeConsistency);
        assert_eq!(verify(z, z, &e, &e, &[]), empty);
        assert_eq!(verify(z, z, &r3, &r3, &[]), empty);
        assert_eq!(verify(z, five, &e, &r5, &[]), empty);
        assert_eq!(verify(z, five, &e, &r5, &[e]), empty);
        assert_eq!(prove(&t, z, five), Ok(vec![]));
        assert_eq!(prove(&t, z, z), Ok(vec![]));
        // A real size pair with an empty proof.
        assert!(matches!(
            verify(three, five, &r3, &r5, &[]),
            Err(FormatError::ProofLength { got: 0, .. })
        ));
        // Beyond what the source holds: the source's error.
        assert!(prove(&t, three, TreeSize(9)).is_err());
    }

    #[test]
    fn huge_sizes_do_not_panic() {
        let h = [3u8; 32];
        for (m, n) in [(1, u64::MAX), (u64::MAX - 1, u64::MAX), (1 << 63, u64::MAX)] {
            let (o, nn) = (TreeSize(m), TreeSize(n));
            for len in 0..=130 {
                let proof = vec![h; len];
                assert!(verify(o, nn, &h, &h, &proof).is_err());
            }
        }
    }
}
