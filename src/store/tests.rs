use super::*;
use crate::format::hash::{ZERO_HASH, item_commitment, leaf_hash};
use prost::Message;
use std::os::unix::fs::FileExt;

fn note(size: TreeSize, root: Hash) -> String {
    format!("test\n{}\n{}\n", size.0, hex::encode(root))
}

/// A disclosure at `index` committing to one payload.
fn disclosure(index: u64, prev: &Hash, tag: u8) -> (Vec<u8>, Payload) {
    let salt = [tag; 32];
    let content = b"{\"type\":\"indicator\"}".to_vec();
    let p = Payload {
        commitment: item_commitment(&salt, &content),
        salt,
        content: content.into(),
    };
    let body = pb::DisclosureBody {
        sender: "vendor".into(),
        recipient: "police".into(),
        nonce: vec![tag; 16],
        items: vec![pb::ItemCommitment {
            commitment: p.commitment.to_vec(),
            stix_id: format!("indicator--{tag}"),
            ..Default::default()
        }],
        ..Default::default()
    };
    let e = pb::Entry {
        index,
        time_ms: 5,
        prev_leaf_hash: prev.to_vec(),
        kind: Some(pb::entry::Kind::Disclosure(pb::Disclosure {
            body: body.encode_to_vec(),
            ..Default::default()
        })),
    };
    (e.encode_to_vec(), p)
}

/// A redaction at `index` of the item with `commitment` (unsigned: the store does not
/// check signatures, the service does).
fn redaction(index: u64, prev: &Hash, commitment: &Hash) -> Vec<u8> {
    pb::Entry {
        index,
        time_ms: 6,
        prev_leaf_hash: prev.to_vec(),
        kind: Some(pb::entry::Kind::Redaction(pb::Redaction {
            disclosure_index: 0,
            commitment: commitment.to_vec(),
            owner: "vendor".into(),
            reason: "test".into(),
            ..Default::default()
        })),
    }
    .encode_to_vec()
}

#[test]
fn payload_erased_in_place_reads_as_gone_and_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let (e0, p0) = disclosure(0, &ZERO_HASH, 1);
    let l0 = leaf_hash(&e0);
    let (e1, p1) = disclosure(1, &l0, 2);
    {
        let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
        store
            .append_bytes(std::slice::from_ref(&e0), std::slice::from_ref(&p0), note)
            .unwrap();
        store
            .append_bytes(std::slice::from_ref(&e1), std::slice::from_ref(&p1), note)
            .unwrap();
        assert_eq!(store.payload(&p0.commitment).unwrap(), Some(p0.clone()));

        // A Redaction entry erases the payload it names, in place, as it is appended.
        let (loc, _, _) = store.payload_record(&p0.commitment).unwrap().unwrap();
        let red = redaction(2, &leaf_hash(&e1), &p0.commitment);
        store.append_bytes(&[red], &[], note).unwrap();
        assert_eq!(
            store.redaction_of(&p0.commitment).unwrap(),
            Some(LeafIndex(2))
        );
        let file = store.file(loc.segment).unwrap();
        let mut rec = vec![0u8; (loc.end() - loc.offset) as usize];
        file.read_exact_at(&mut rec, loc.offset).unwrap();
        assert_eq!(
            rec,
            segment::erased_record(&p0.commitment, loc.len).unwrap(),
            "same length, new kind, zeroed salt and content, new crc"
        );
        let (_, _, rec) = store.payload_record(&p0.commitment).unwrap().unwrap();
        assert_eq!(
            rec.kind,
            RecordKind::ErasedPayload,
            "the index finds the erasure"
        );

        assert_eq!(store.payload(&p0.commitment).unwrap(), None);
        assert_eq!(store.payload(&p1.commitment).unwrap(), Some(p1.clone()));
        assert_eq!(store.entry(LeafIndex(0)).unwrap(), Some(e0.clone()));
    }
    std::fs::remove_dir_all(dir.path().join("index")).unwrap();
    let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
    assert_eq!(store.size(), TreeSize(3));
    assert_eq!(store.open_report().erasures_finished, 0);
    assert_eq!(store.payload(&p0.commitment).unwrap(), None);
    assert_eq!(store.payload(&p1.commitment).unwrap(), Some(p1));
    assert_eq!(store.entry(LeafIndex(1)).unwrap(), Some(e1));
}

#[test]
fn panic_while_signing_writes_nothing_and_stops_appends() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
    assert!(!store.is_poisoned());
    let (e0, p0) = disclosure(0, &ZERO_HASH, 1);
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        store.append_bytes(
            std::slice::from_ref(&e0),
            std::slice::from_ref(&p0),
            |_, _| panic!("signer failed"),
        )
    }));
    assert!(r.is_err());
    assert_eq!(store.tip(), (TreeSize(0), ZERO_HASH));
    assert!(store.is_poisoned(), "the seam reports what append refuses");
    assert!(matches!(
        store.append_bytes(std::slice::from_ref(&e0), std::slice::from_ref(&p0), note),
        Err(StoreError::Poisoned)
    ));
    drop(store);
    let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
    assert!(!store.is_poisoned(), "reopening recovers");
    assert_eq!(store.size(), TreeSize(0));
    store.append_bytes(&[e0], &[p0], note).unwrap();
    assert_eq!(store.size(), TreeSize(1));
}

#[test]
fn cosignatures_are_stored_once_and_reindexed_from_the_segments() {
    let dir = tempfile::tempdir().unwrap();
    let sig = |name: &str, tag: u8| NoteSignature {
        name: name.into(),
        key_id: [tag; 4],
        signature: vec![tag; 72],
    };
    let (e0, p0) = disclosure(0, &ZERO_HASH, 1);
    {
        let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
        assert!(matches!(
            store.add_cosignature(TreeSize(1), &sig("w", 1)),
            Err(StoreError::NoCheckpoint { size: 1 })
        ));
        store.append_bytes(&[e0], &[p0], note).unwrap();
        assert!(store.add_cosignature(TreeSize(1), &sig("w", 1)).unwrap());
        assert!(!store.add_cosignature(TreeSize(1), &sig("w", 1)).unwrap());
        // Same key, another signature: the first stays.
        let mut again = sig("w", 1);
        again.signature[0] = 0;
        assert!(!store.add_cosignature(TreeSize(1), &again).unwrap());
        assert!(store.add_cosignature(TreeSize(1), &sig("v", 2)).unwrap());
        assert_eq!(
            store.cosignatures(TreeSize(1)).unwrap(),
            vec![sig("w", 1), sig("v", 2)]
        );
        assert!(store.cosignatures(TreeSize(0)).unwrap().is_empty());
        // Lose the index's copy, as a crash before fjall's journal reached the disk would.
        store.index.clear_cosignatures().unwrap();
    }
    let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
    assert_eq!(store.open_report().cut_bytes, 0);
    assert_eq!(
        store.cosignatures(TreeSize(1)).unwrap(),
        vec![sig("w", 1), sig("v", 2)]
    );
}

/// A disclosure at `index` with no items and a nonce of its own: entries for big logs.
fn bare_disclosure(index: u64, prev: &Hash) -> Vec<u8> {
    let body = pb::DisclosureBody {
        sender: "vendor".into(),
        recipient: "police".into(),
        nonce: [index.to_be_bytes(), index.to_be_bytes()].concat(),
        ..Default::default()
    };
    pb::Entry {
        index,
        time_ms: 5,
        prev_leaf_hash: prev.to_vec(),
        kind: Some(pb::entry::Kind::Disclosure(pb::Disclosure {
            body: body.encode_to_vec(),
            ..Default::default()
        })),
    }
    .encode_to_vec()
}

#[test]
fn proofs_and_roots_agree_with_the_tree_inside_and_beyond_the_node_cache() {
    let dir = tempfile::tempdir().unwrap();
    // Two windows and a bit: levels 0 and 1 have nodes only the column files hold.
    let n = 2 * nodes::WINDOW as u64 + 37;
    let mut tree = tree::MemoryTree::new();
    let check = |store: &Store, tree: &tree::MemoryTree| {
        for size in [n, n - 1, 5000, nodes::WINDOW as u64 + 1, 1] {
            let size = TreeSize(size);
            assert_eq!(store.root(size).unwrap(), tree::root(tree, size).unwrap());
            for index in [0, 1, 4097, n / 2, n - 2, size.0 - 1] {
                let index = LeafIndex(index);
                if index.0 < size.0 {
                    let proof = inclusion::prove(tree, index, size).unwrap();
                    assert_eq!(
                        store.inclusion_proof(index, size).unwrap(),
                        proof,
                        "index {} size {}",
                        index.0,
                        size.0
                    );
                    // From memory alone: the same proof, or none when it needs the files.
                    if let Some(in_memory) = store.inclusion_proof_in_memory(index, size) {
                        assert_eq!(in_memory, proof, "index {} size {}", index.0, size.0);
                    }
                }
            }
            // A receipt's proof (the newest entries) is served from memory; the first
            // entry's, whose low siblings left the cache, is not.
            assert!(
                store
                    .inclusion_proof_in_memory(LeafIndex(n - 2), TreeSize(n))
                    .is_some()
            );
            assert!(
                store
                    .inclusion_proof_in_memory(LeafIndex(0), TreeSize(n))
                    .is_none()
            );
            assert!(
                store
                    .inclusion_proof_in_memory(LeafIndex(0), TreeSize(n + 1))
                    .is_none()
            );
            assert_eq!(
                store.consistency_proof(TreeSize(3), size).ok(),
                consistency::prove(tree, TreeSize(3), size).ok()
            );
        }
    };
    {
        let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
        let mut prev = ZERO_HASH;
        let mut next = 0;
        while next < n {
            let mut batch = Vec::new();
            for _ in 0..1000.min(n - next) {
                let e = bare_disclosure(next, &prev);
                prev = leaf_hash(&e);
                tree.push(prev);
                batch.push(e);
                next += 1;
            }
            store.append_bytes(&batch, &[], note).unwrap();
        }
        check(&store, &tree);
    }
    // Reopened, the cache is filled from the columns alone.
    let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
    assert_eq!(store.open_report().index, IndexAction::Consistent);
    check(&store, &tree);
}

#[test]
fn claims_within_one_batch_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
    let (e0, p0) = disclosure(0, &ZERO_HASH, 1);
    // Same nonce (tag 1) again at index 1.
    let (e1, _) = disclosure(1, &leaf_hash(&e0), 1);
    assert!(matches!(
        store.append_bytes(&[e0, e1], &[p0], note),
        Err(StoreError::AlreadyClaimed { index: 0, .. })
    ));
    assert_eq!(store.size(), TreeSize(0));
}

#[test]
fn claims_looked_up_at_another_size_are_looked_up_again() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
    let (e0, p0) = disclosure(0, &ZERO_HASH, 1);
    store
        .append_bytes(std::slice::from_ref(&e0), &[p0], note)
        .unwrap();
    // The nonce of entry 0 again, "looked up" by the caller before entry 0 was appended.
    let (e1, p1) = disclosure(1, &leaf_hash(&e0), 1);
    let mut stale = PreparedBatch::from_bytes(1, &[e1], &[p1]).unwrap();
    stale.claims_free_at = Some(TreeSize(0));
    assert!(matches!(
        store.append(&stale, note),
        Err(StoreError::AlreadyClaimed { index: 0, .. })
    ));
    // Looked up at the current size, the batch's own claims are still checked against each
    // other.
    let (e1, p1) = disclosure(1, &leaf_hash(&e0), 2);
    let (e2, _) = disclosure(2, &leaf_hash(&e1), 2);
    let mut twice = PreparedBatch::from_bytes(1, &[e1, e2], &[p1]).unwrap();
    twice.claims_free_at = Some(TreeSize(1));
    assert!(matches!(
        store.append(&twice, note),
        Err(StoreError::AlreadyClaimed { index: 1, .. })
    ));
    assert_eq!(store.size(), TreeSize(1));
}
