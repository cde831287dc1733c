//! Known-answer tests for the RFC 6962 tree and proofs: transparency-dev/merkle's proof
//! vectors (tests/vectors/merkle, Apache-2.0, see its LICENSE) and the 8-leaf reference tree's
//! roots (shared/vectors/README.md).

use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use borderlog::format::hash::{Hash, hash_from_slice, leaf_hash, sha256};
use borderlog::format::tree::{Frontier, MemoryTree, root};
use borderlog::format::{FormatError, LeafIndex, TreeSize, consistency, inclusion};
use serde::Deserialize;

/// JSON files copied into tests/vectors/merkle: if a directory goes missing, the counts
/// below fail rather than the test passing on nothing.
const INCLUSION_FILES: usize = 98;
const CONSISTENCY_FILES: usize = 98;

/// Vectors whose expected outcome cannot be expressed through a typed `Hash` API. Upstream
/// compares roots as byte strings, so two equal 12-byte "roots" verify; here a root is 32
/// bytes, so the bytes are refused when decoded. The rule the vector is about (equal sizes,
/// empty proof, equal roots ⇒ consistent) is still checked, on stand-in hashes (see `loose`).
const UNREPRESENTABLE_HAPPY: &[&str] =
    &["consistency/additional/sizes-are-equal-one-and-proof-is-empty.json"];

/// Rejected vectors whose only defect is a hash of the wrong length: on stand-in hashes they
/// become valid, so the stand-in run must accept them (keeping this list honest).
const LENGTH_ONLY: &[&str] = &["inclusion/single-entry/empty-root-and-leaf.json"];

fn vectors_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/merkle")
}

/// Every `.json` file under `dir`, at any depth (inclusion/additional nests one level more),
/// sorted so failures are reproducible.
fn json_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        let entries = std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display()));
        for entry in entries {
            let path = entry.expect("directory entry").path();
            if path.is_dir() {
                todo.push(path);
            } else if path.extension().is_some_and(|x| x == "json") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

fn rel(path: &Path) -> String {
    path.strip_prefix(vectors_dir())
        .expect("under vectors dir")
        .to_string_lossy()
        .replace('\\', "/")
}

fn b64(s: &str) -> Vec<u8> {
    STANDARD
        .decode(s)
        .unwrap_or_else(|e| panic!("bad base64 {s:?}: {e}"))
}

/// A hash from the vector's bytes through the library's own decoder: a wrong length is a
/// rejection by the library, as it would be for any caller.
fn hash(s: &str) -> Result<Hash, FormatError> {
    hash_from_slice(&b64(s))
}

fn hashes(v: &Option<Vec<String>>) -> Result<Vec<Hash>, FormatError> {
    v.iter().flatten().map(|s| hash(s)).collect()
}

/// A 32-byte stand-in for any byte string (itself if already 32 bytes; equal inputs, equal
/// stand-ins), so vectors built on placeholder "roots" like `don't care 1` still exercise
/// the size and proof rules rather than stopping at the length check.
fn loose(s: &str) -> Hash {
    let b = b64(s);
    hash_from_slice(&b).unwrap_or_else(|_| sha256(&[b"borderlog test stand-in\n", &b[..]].concat()))
}

fn loose_all(v: &Option<Vec<String>>) -> Vec<Hash> {
    v.iter().flatten().map(|s| loose(s)).collect()
}

/// Checks the stand-in verdict against `want_err`, honouring the two exception lists.
fn check_loose(name: &str, want_err: bool, verdict: Result<(), FormatError>, t: &mut Tally) {
    if LENGTH_ONLY.contains(&name) {
        assert!(want_err, "{name}");
        assert_eq!(verdict, Ok(()), "{name}: no longer length-only?");
        t.length_only += 1;
    } else {
        assert_eq!(
            verdict.is_err(),
            want_err,
            "{name} on stand-ins: {verdict:?}"
        );
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct InclusionCase {
    leaf_idx: u64,
    tree_size: u64,
    root: String,
    leaf_hash: String,
    proof: Option<Vec<String>>,
    #[allow(dead_code)] // Read by serde; only for humans.
    desc: String,
    want_err: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ConsistencyCase {
    size1: u64,
    size2: u64,
    root1: String,
    root2: String,
    proof: Option<Vec<String>>,
    #[allow(dead_code)] // Read by serde; only for humans.
    desc: String,
    want_err: bool,
}

fn load<T: for<'de> Deserialize<'de>>(path: &Path) -> T {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The 8-leaf reference tree of shared/vectors/README.md.
fn reference_tree() -> MemoryTree {
    let inputs = [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ];
    let mut t = MemoryTree::new();
    for i in inputs {
        t.push(leaf_hash(&hex::decode(i).expect("hex")));
    }
    t
}

/// Tallies, printed with `--nocapture` and asserted so nothing passes vacuously.
#[derive(Default, Debug)]
struct Tally {
    files: usize,
    happy: usize,
    rejected_at_decode: usize,
    rejected_by_verify: usize,
    unrepresentable_happy: usize,
    length_only: usize,
    proofs_rebuilt: usize,
}

/// Records a strict (decoded) verdict for a vector that wants an error.
fn tally_rejection<T>(
    name: &str,
    decoded: &Result<T, FormatError>,
    verdict: &Result<(), FormatError>,
    t: &mut Tally,
) {
    match (decoded, verdict) {
        (Err(_), _) => t.rejected_at_decode += 1,
        (Ok(_), Err(_)) => t.rejected_by_verify += 1,
        (Ok(_), Ok(())) => panic!("{name}: accepted, want an error"),
    }
}

#[test]
fn inclusion_vectors() {
    let reference = reference_tree();
    let files = json_files(&vectors_dir().join("inclusion"));
    let mut tally = Tally::default();
    for path in &files {
        let name = rel(path);
        let c: InclusionCase = load(path);
        tally.files += 1;
        let (index, size) = (LeafIndex(c.leaf_idx), TreeSize(c.tree_size));
        let run = |r: &Hash, leaf: &Hash, proof: &[Hash]| {
            let got = inclusion::verify(index, size, leaf, proof, r);
            // The two entry points must agree.
            let from = inclusion::root_from_proof(index, size, leaf, proof).map(|x| x == *r);
            assert_eq!(
                got.is_ok(),
                from == Ok(true),
                "{name}: verify vs root_from_proof"
            );
            got
        };
        let decoded =
            (|| Ok::<_, FormatError>((hash(&c.root)?, hash(&c.leaf_hash)?, hashes(&c.proof)?)))();
        let strict = decoded
            .clone()
            .and_then(|(r, leaf, proof)| run(&r, &leaf, &proof));
        let stand_in = run(&loose(&c.root), &loose(&c.leaf_hash), &loose_all(&c.proof));
        check_loose(&name, c.want_err, stand_in, &mut tally);
        if c.want_err {
            tally_rejection(&name, &decoded, &strict, &mut tally);
            continue;
        }
        assert_eq!(strict, Ok(()), "{name}");
        tally.happy += 1;
        // Where the vector is about the reference tree, our prover must give its proof.
        let (r, _, proof) = decoded.expect("decoded");
        if c.tree_size <= 8 && root(&reference, size) == Ok(r) {
            assert_eq!(
                inclusion::prove(&reference, index, size),
                Ok(proof),
                "{name}"
            );
            tally.proofs_rebuilt += 1;
        }
    }
    println!("inclusion: {tally:?}");
    assert_eq!(tally.files, INCLUSION_FILES, "inclusion vector files");
    assert_eq!(tally.happy, 6); // five happy-path.json and single-entry's matching root/leaf
    assert_eq!(tally.proofs_rebuilt, 5);
    assert_eq!(tally.length_only, LENGTH_ONLY.len());
    assert_eq!(
        tally.happy + tally.rejected_at_decode + tally.rejected_by_verify,
        tally.files
    );
}

#[test]
fn consistency_vectors() {
    let reference = reference_tree();
    let files = json_files(&vectors_dir().join("consistency"));
    let mut tally = Tally::default();
    for path in &files {
        let name = rel(path);
        let c: ConsistencyCase = load(path);
        tally.files += 1;
        let (old, new) = (TreeSize(c.size1), TreeSize(c.size2));
        let decoded =
            (|| Ok::<_, FormatError>((hash(&c.root1)?, hash(&c.root2)?, hashes(&c.proof)?)))();
        let strict = decoded
            .clone()
            .and_then(|(r1, r2, proof)| consistency::verify(old, new, &r1, &r2, &proof));
        let stand_in = consistency::verify(
            old,
            new,
            &loose(&c.root1),
            &loose(&c.root2),
            &loose_all(&c.proof),
        );
        check_loose(&name, c.want_err, stand_in, &mut tally);
        if UNREPRESENTABLE_HAPPY.contains(&name.as_str()) {
            assert!(!c.want_err, "{name}");
            assert!(
                matches!(strict, Err(FormatError::HashLength(_))),
                "{name}: {strict:?}"
            );
            tally.unrepresentable_happy += 1;
            continue;
        }
        if c.want_err {
            tally_rejection(&name, &decoded, &strict, &mut tally);
            continue;
        }
        assert_eq!(strict, Ok(()), "{name}");
        tally.happy += 1;
        let (r1, r2, proof) = decoded.expect("decoded");
        if c.size2 <= 8 && root(&reference, old) == Ok(r1) && root(&reference, new) == Ok(r2) {
            assert_eq!(
                consistency::prove(&reference, old, new),
                Ok(proof),
                "{name}"
            );
            tally.proofs_rebuilt += 1;
        }
    }
    println!("consistency: {tally:?}");
    assert_eq!(tally.files, CONSISTENCY_FILES, "consistency vector files");
    assert_eq!(tally.unrepresentable_happy, UNREPRESENTABLE_HAPPY.len());
    assert_eq!(tally.happy, 5); // the five happy-path.json
    assert_eq!(tally.proofs_rebuilt, 5);
    assert_eq!(
        tally.happy
            + tally.rejected_at_decode
            + tally.rejected_by_verify
            + tally.unrepresentable_happy,
        tally.files
    );
}

#[test]
fn reference_tree_roots() {
    let want = [
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];
    let t = reference_tree();
    let mut f = Frontier::new();
    assert_eq!(hex::encode(f.root()), want[0]);
    for (size, want) in want.iter().enumerate() {
        let size = TreeSize(size as u64);
        assert_eq!(
            hex::encode(root(&t, size).expect("root")),
            *want,
            "{size:?}"
        );
        let loaded = Frontier::load(&t, size).expect("load");
        assert_eq!(hex::encode(loaded.root()), *want, "load {size:?}");
        if size.0 > 0 {
            // Rebuild the frontier leaf by leaf from the stored level-0 nodes.
            let leaf = borderlog::format::tree::NodeSource::node(
                &t,
                borderlog::format::tree::NodeId {
                    level: 0,
                    index: size.0 - 1,
                },
            )
            .expect("leaf");
            f.push(leaf);
            assert_eq!(f, loaded, "{size:?}");
            assert_eq!(hex::encode(f.root()), *want, "push {size:?}");
        }
    }
}
