//! The durable store against real files: reopening, torn tails, corruption, index rebuild and
//! catch-up, segment rolling, queries.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use borderlog::format::entry::{self, Claim, index_keys};
use borderlog::format::hash::{Hash, ZERO_HASH, item_commitment, leaf_hash};
use borderlog::format::tree::{self, LeafIndex, MemoryTree, TreeSize};
use borderlog::format::{consistency, inclusion};
use borderlog::pb;
use borderlog::store::{INDEX_KEYSPACES, IndexAction, Payload, Store, StoreError, StoreOptions};
use prost::Message;

/// Builds a chain of real entries, mirroring what the store should hold.
struct Log {
    size: u64,
    tip: Hash,
    leaves: Vec<Hash>,
    entries: Vec<Vec<u8>>,
    nonce: u64,
}

/// A batch ready to append.
struct Batch {
    entries: Vec<Vec<u8>>,
    payloads: Vec<Payload>,
}

fn note(size: TreeSize, root: Hash) -> String {
    format!("test\n{}\n{}\n", size.0, hex::encode(root))
}

fn payload(tag: u64) -> Payload {
    let salt = [tag as u8; 32];
    let content = format!("{{\"type\":\"indicator\",\"id\":\"indicator--{tag}\"}}").into_bytes();
    Payload {
        commitment: item_commitment(&salt, &content),
        salt,
        content: content.into(),
    }
}

impl Log {
    fn new() -> Self {
        Self {
            size: 0,
            tip: ZERO_HASH,
            leaves: Vec::new(),
            entries: Vec::new(),
            nonce: 0,
        }
    }

    fn push(&mut self, time_ms: i64, kind: pb::entry::Kind) -> Vec<u8> {
        let bytes = pb::Entry {
            index: self.size,
            time_ms,
            prev_leaf_hash: self.tip.to_vec(),
            kind: Some(kind),
        }
        .encode_to_vec();
        self.tip = leaf_hash(&bytes);
        self.leaves.push(self.tip);
        self.entries.push(bytes.clone());
        self.size += 1;
        bytes
    }

    fn genesis(&mut self) -> Vec<u8> {
        self.push(
            1_000,
            pb::entry::Kind::Genesis(pb::Genesis {
                origin: "test/log".into(),
                ..Default::default()
            }),
        )
    }

    /// A disclosure from `sender` to `recipient` with one payload per item.
    fn disclosure(
        &mut self,
        time_ms: i64,
        sender: &str,
        recipient: &str,
        items: u64,
    ) -> (Vec<u8>, Vec<Payload>) {
        self.nonce += 1;
        let payloads: Vec<Payload> = (0..items).map(|i| payload(self.nonce * 100 + i)).collect();
        let body = pb::DisclosureBody {
            sender: sender.into(),
            recipient: recipient.into(),
            nonce: self.nonce.to_be_bytes().repeat(2),
            items: payloads
                .iter()
                .enumerate()
                .map(|(i, p)| pb::ItemCommitment {
                    commitment: p.commitment.to_vec(),
                    stix_id: format!("indicator--{}-{i}", self.nonce),
                    stix_type: "indicator".into(),
                    tlp: "green".into(),
                })
                .collect(),
            ..Default::default()
        };
        let e = self.push(
            time_ms,
            pb::entry::Kind::Disclosure(pb::Disclosure {
                body: body.encode_to_vec(),
                signature: vec![1; 64],
                policy_hash: vec![2; 32],
            }),
        );
        (e, payloads)
    }

    fn receipt(&mut self, time_ms: i64, disclosure_index: u64, recipient: &str) -> Vec<u8> {
        self.push(
            time_ms,
            pb::entry::Kind::Receipt(pb::Receipt {
                disclosure_index,
                disclosure_leaf_hash: vec![0; 32],
                recipient: recipient.into(),
                signature: vec![3; 64],
            }),
        )
    }

    /// A batch of `n` disclosures (two items each) at `time_ms`.
    fn disclosures(&mut self, n: usize, time_ms: i64) -> Batch {
        let mut b = Batch {
            entries: Vec::new(),
            payloads: Vec::new(),
        };
        for _ in 0..n {
            let (e, p) = self.disclosure(time_ms, "vendor", "police", 2);
            b.entries.push(e);
            b.payloads.extend(p);
        }
        b
    }

    fn memory_tree(&self, size: u64) -> MemoryTree {
        let mut t = MemoryTree::new();
        for l in &self.leaves[..size as usize] {
            t.push(*l);
        }
        t
    }
}

fn append(store: &Store, b: &Batch) -> Vec<Hash> {
    store.append_bytes(&b.entries, &b.payloads, note).unwrap()
}

fn opts() -> StoreOptions {
    // Show the store's recovery and index logs in failing tests' output.
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_env_filter("borderlog=info")
        .try_init();
    StoreOptions::default()
}

fn seg_path(dir: &Path, id: u32) -> PathBuf {
    dir.join("segments").join(format!("{id:08}.seg"))
}

/// Every fjall keyspace's (key, value) pairs by name, and every column file's bytes by file
/// name (one pair per file, keyed by its length).
type IndexDump = BTreeMap<String, Vec<(Vec<u8>, Vec<u8>)>>;

/// The index's fjall keyspaces, read with fjall directly after the store closed (their
/// contents, not their files: how fjall splits them into tables depends on when they were
/// written), and its column files.
fn dump_index(dir: &Path) -> IndexDump {
    let mut out = BTreeMap::new();
    for f in std::fs::read_dir(dir.join("index")).unwrap() {
        let p = f.unwrap().path();
        if p.extension().is_some_and(|e| e == "col") {
            let bytes = std::fs::read(&p).unwrap();
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            out.insert(name, vec![(bytes.len().to_be_bytes().to_vec(), bytes)]);
        }
    }
    let db = fjall::Database::builder(dir.join("index").join("fjall"))
        .open()
        .unwrap();
    for name in INDEX_KEYSPACES {
        let ks = db
            .keyspace(name, fjall::KeyspaceCreateOptions::default)
            .unwrap();
        let kv = ks
            .iter()
            .map(|g| {
                let (k, v) = g.into_inner().unwrap();
                (k.to_vec(), v.to_vec())
            })
            .collect();
        out.insert(name.to_string(), kv);
    }
    out
}

/// A store with three batches: genesis; two disclosures; a disclosure and a receipt.
/// Returns the model log and the segment length after each batch.
fn three_batches(dir: &Path) -> (Log, Vec<u64>) {
    let store = Store::open(dir, opts()).unwrap();
    let mut log = Log::new();
    let mut ends = Vec::new();
    let g = log.genesis();
    store.append_bytes(&[g], &[], note).unwrap();
    ends.push(std::fs::metadata(seg_path(dir, 0)).unwrap().len());
    let b = log.disclosures(2, 2_000);
    append(&store, &b);
    ends.push(std::fs::metadata(seg_path(dir, 0)).unwrap().len());
    let (d, p) = log.disclosure(3_000, "police", "vendor", 1);
    let r = log.receipt(3_000, 1, "police");
    store.append_bytes(&[d, r], &p, note).unwrap();
    ends.push(std::fs::metadata(seg_path(dir, 0)).unwrap().len());
    (log, ends)
}

fn assert_matches_log(store: &Store, log: &Log) {
    let size = TreeSize(log.size);
    assert_eq!(store.size(), size);
    assert_eq!(store.tip(), (size, log.tip));
    for (i, e) in log.entries.iter().enumerate() {
        let i = LeafIndex(i as u64);
        assert_eq!(store.entry(i).unwrap().as_ref(), Some(e));
        assert_eq!(store.leaf_hash(i).unwrap(), Some(log.leaves[i.0 as usize]));
        assert_eq!(store.find_leaf(&log.leaves[i.0 as usize]).unwrap(), Some(i));
        // Every lookup answers with this entry.
        let keys = index_keys(&entry::decode(e).unwrap()).unwrap();
        for c in &keys.claims {
            assert_eq!(store.claimed(c).unwrap(), Some(i), "claim {c}");
        }
        for c in &keys.commitments {
            assert!(store.by_commitment(c).unwrap().contains(&i));
            assert!(
                store.payload(c).unwrap().is_some(),
                "payload of entry {}",
                i.0
            );
        }
        for s in &keys.stix_ids {
            assert!(store.by_stix_id(s).unwrap().contains(&i));
        }
        for p in &keys.parties {
            assert_eq!(store.scan(i, Some(p), &[], 1).unwrap(), [i]);
        }
    }
    assert_eq!(store.entry(LeafIndex(log.size)).unwrap(), None);
    for n in 0..=log.size {
        let want = tree::root(&log.memory_tree(n), TreeSize(n)).unwrap();
        assert_eq!(store.root(TreeSize(n)).unwrap(), want, "root at {n}");
    }
}

#[test]
fn reopen_gives_same_entries_payloads_checkpoints_and_verifiable_proofs() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = three_batches(dir.path());
    let store = Store::open(dir.path(), opts()).unwrap();
    assert_eq!(store.open_report().index, IndexAction::Consistent);
    assert_eq!(store.open_report().cut_bytes, 0);
    assert_matches_log(&store, &log);

    let mem = log.memory_tree(log.size);
    let n = TreeSize(log.size);
    let root = tree::root(&mem, n).unwrap();
    for i in 0..log.size {
        let proof = store.inclusion_proof(LeafIndex(i), n).unwrap();
        inclusion::verify(LeafIndex(i), n, &log.leaves[i as usize], &proof, &root).unwrap();
    }
    // format::consistency::verify refuses proofs from the empty tree; the store just proves.
    assert_eq!(
        store.consistency_proof(TreeSize(0), n).unwrap(),
        Vec::<Hash>::new()
    );
    for old in 1..=log.size {
        let proof = store.consistency_proof(TreeSize(old), n).unwrap();
        let old_root = tree::root(&mem, TreeSize(old)).unwrap();
        consistency::verify(TreeSize(old), n, &old_root, &root, &proof).unwrap();
    }

    // Checkpoints exist at each batch's size only; latest is the last.
    for (size, want) in [(1u64, true), (2, false), (3, true), (4, false), (5, true)] {
        let cp = store.checkpoint(Some(TreeSize(size))).unwrap();
        assert_eq!(cp.is_some(), want, "checkpoint at {size}");
        if let Some(cp) = cp {
            let r = tree::root(&mem, TreeSize(size)).unwrap();
            assert_eq!(cp, note(TreeSize(size), r));
        }
    }
    assert_eq!(store.checkpoint(None).unwrap(), Some(note(n, root)));

    // Payloads of every disclosure.
    for tag in [100u64, 101, 200, 201, 300] {
        let p = payload(tag);
        assert_eq!(store.payload(&p.commitment).unwrap(), Some(p));
    }
    assert_eq!(store.payload(&[9; 32]).unwrap(), None);

    // Beyond the size.
    assert!(matches!(
        store.root(TreeSize(6)),
        Err(StoreError::TreeSize {
            size: 6,
            current: 5
        })
    ));
    assert!(matches!(
        store.inclusion_proof(LeafIndex(5), TreeSize(5)),
        Err(StoreError::IndexOutOfRange { index: 5, size: 5 })
    ));
    assert!(matches!(
        store.consistency_proof(TreeSize(2), TreeSize(9)),
        Err(StoreError::TreeSize { .. })
    ));
}

#[test]
fn store_is_locked_against_a_second_open() {
    let dir = tempfile::tempdir().unwrap();
    let a = Store::open(dir.path(), opts()).unwrap();
    assert_eq!(a.open_report().index, IndexAction::Built);
    assert_eq!(a.size(), TreeSize(0));
    assert_eq!(a.tip(), (TreeSize(0), ZERO_HASH));
    assert_eq!(a.checkpoint(None).unwrap(), None);
    assert!(matches!(
        Store::open(dir.path(), opts()),
        Err(StoreError::Locked { .. })
    ));
    drop(a);
    // An empty store reopens with its index as it was.
    let b = Store::open(dir.path(), opts()).unwrap();
    assert_eq!(b.open_report().index, IndexAction::Consistent);
}

#[test]
fn torn_tail_at_every_offset_is_cut_and_appending_continues() {
    // Three batches: genesis; two disclosures with payloads; one receipt. Each reopen of a cut
    // copy rebuilds the index (~20 ms), so the last batch is kept small; segment.rs's unit
    // tests cut a batch with payload records at every offset too.
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::new();
    let mut ends = Vec::new();
    {
        let store = Store::open(dir.path(), opts()).unwrap();
        let g = log.genesis();
        store.append_bytes(&[g], &[], note).unwrap();
        ends.push(std::fs::metadata(seg_path(dir.path(), 0)).unwrap().len());
        append(&store, &log.disclosures(2, 2_000));
        ends.push(std::fs::metadata(seg_path(dir.path(), 0)).unwrap().len());
        let r = log.receipt(3_000, 1, "police");
        store.append_bytes(&[r], &[], note).unwrap();
        ends.push(std::fs::metadata(seg_path(dir.path(), 0)).unwrap().len());
    }
    let full = std::fs::read(seg_path(dir.path(), 0)).unwrap();
    let cp2 = note(
        TreeSize(3),
        tree::root(&log.memory_tree(3), TreeSize(3)).unwrap(),
    );
    // What the sequencer appends after the cut, chained on the surviving tip.
    let mut next = Log {
        size: 3,
        tip: log.leaves[2],
        leaves: log.leaves[..3].to_vec(),
        entries: log.entries[..3].to_vec(),
        nonce: 50,
    };
    let next_batch = next.disclosures(1, 4_000);

    let mut cases: Vec<Vec<u8>> = (ends[1]..ends[2])
        .map(|cut| full[..cut as usize].to_vec())
        .collect();
    let mut garbage = full.clone();
    garbage.extend_from_slice(b"\x07\0\0\0garbage that is not a record");
    cases.push(garbage);
    let mut zeros = full.clone();
    zeros.extend_from_slice(&[0; 64]);
    cases.push(zeros);

    let work = tempfile::tempdir().unwrap();
    for (n, bytes) in cases.iter().enumerate() {
        let d = work.path().join(format!("c{n}"));
        std::fs::create_dir_all(d.join("segments")).unwrap();
        std::fs::write(seg_path(&d, 0), bytes).unwrap();
        let store = Store::open(&d, opts()).unwrap();
        if bytes.len() >= full.len() {
            // Garbage after a whole log: the whole log stays, the garbage goes.
            assert_matches_log(&store, &log);
            assert_eq!(std::fs::metadata(seg_path(&d, 0)).unwrap().len(), ends[2]);
            continue;
        }
        let cut = bytes.len();
        assert_eq!(store.size(), TreeSize(3), "cut at {cut}");
        assert_eq!(store.open_report().cut_bytes, (cut as u64) - ends[1]);
        assert_eq!(store.open_report().index, IndexAction::Built);
        assert_eq!(store.tip(), (TreeSize(3), log.leaves[2]), "cut at {cut}");
        assert_eq!(
            store.checkpoint(None).unwrap().as_deref(),
            Some(cp2.as_str())
        );
        assert_eq!(store.entry(LeafIndex(3)).unwrap(), None);
        assert_eq!(store.claimed(&Claim::ReceiptFor(1)).unwrap(), None);
        assert_eq!(std::fs::metadata(seg_path(&d, 0)).unwrap().len(), ends[1]);
        // Appending works after a cut (checked on every 8th: each costs an fsync and a reopen).
        if n % 8 == 0 {
            append(&store, &next_batch);
            drop(store);
            let store = Store::open(&d, opts()).unwrap();
            assert_matches_log(&store, &next);
        }
    }
}

#[test]
fn flipped_byte_in_committed_record_is_corruption_with_location() {
    let dir = tempfile::tempdir().unwrap();
    let (_, ends) = three_batches(dir.path());
    let path = seg_path(dir.path(), 0);
    let mut bytes = std::fs::read(&path).unwrap();
    // A byte in the body of the genesis entry record (first record of the file).
    bytes[12] ^= 1;
    std::fs::write(&path, &bytes).unwrap();
    match Store::open(dir.path(), opts()) {
        Err(
            e @ StoreError::Corrupt {
                segment: 0,
                offset: 0,
                ..
            },
        ) => {
            let msg = e.to_string();
            assert!(
                msg.contains("00000000.seg") && msg.contains("offset 0"),
                "{msg}"
            );
        }
        Err(e) => panic!("expected Corrupt at segment 0 offset 0, got {e}"),
        Ok(_) => panic!("expected Corrupt at segment 0 offset 0, opened fine"),
    }
    // Nothing was cut.
    assert_eq!(std::fs::metadata(&path).unwrap().len(), ends[2]);

    // A flip in the second batch (not the first record) names that record's offset.
    bytes[12] ^= 1;
    let at = ends[0] as usize + 20;
    bytes[at] ^= 0x80;
    std::fs::write(&path, &bytes).unwrap();
    match Store::open(dir.path(), opts()) {
        Err(StoreError::Corrupt {
            segment: 0, offset, ..
        }) => assert!(offset >= ends[0] && offset < ends[1], "offset {offset}"),
        Err(e) => panic!("expected Corrupt, got {e}"),
        Ok(_) => panic!("expected Corrupt, opened fine"),
    }
}

#[test]
fn deleted_index_is_rebuilt_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = three_batches(dir.path());
    let before = dump_index(dir.path());
    assert_eq!(before["entries.col"][0].1.len(), 5 * 96);
    assert_eq!(before["checkpoints.col"][0].1.len(), 3 * 32);
    std::fs::remove_dir_all(dir.path().join("index")).unwrap();
    {
        let store = Store::open(dir.path(), opts()).unwrap();
        assert_eq!(store.open_report().index, IndexAction::Built);
        assert_matches_log(&store, &log);
    }
    assert_eq!(dump_index(dir.path()), before);
}

#[test]
fn garbage_index_files_are_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = three_batches(dir.path());
    let before = dump_index(dir.path());
    for f in std::fs::read_dir(dir.path().join("index")).unwrap() {
        let p = f.unwrap().path();
        if p.is_file() {
            let len = std::fs::metadata(&p).unwrap().len().max(64) as usize;
            let junk: Vec<u8> = (0..len).map(|i| (i * 7 + 13) as u8).collect();
            std::fs::write(&p, junk).unwrap();
        }
    }
    {
        let store = Store::open(dir.path(), opts()).unwrap();
        assert!(
            matches!(store.open_report().index, IndexAction::Rebuilt { .. }),
            "{:?}",
            store.open_report()
        );
        assert_matches_log(&store, &log);
    }
    assert_eq!(dump_index(dir.path()), before);
}

/// Every file under `dir`, recursively, sorted.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out.sort();
    out
}

/// A flipped bit anywhere in a column file or the column marker is found when the store
/// opens, and the index is rebuilt from the segments: no abort, no wrong answer. A flip in
/// fjall's files must not abort or answer wrongly either: fjall checks its journal and
/// blocks, and the store reads every lookup record on open (or catches up what a cut
/// journal lost).
#[test]
fn a_flipped_bit_in_any_index_file_means_a_rebuild() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, _) = three_batches(dir.path());
    {
        let store = Store::open(dir.path(), opts()).unwrap();
        for t in 0..6 {
            append(&store, &log.disclosures(3, 10_000 + t * 1_000));
        }
    }
    let index = dir.path().join("index");
    let clean = tempfile::tempdir().unwrap();
    copy_dir(&index, clean.path());
    let restore = || {
        std::fs::remove_dir_all(&index).unwrap();
        copy_dir(clean.path(), &index);
    };
    let mut checked = 0;
    for path in files_under(clean.path()) {
        let rel = path.strip_prefix(clean.path()).unwrap().to_owned();
        let name = rel.to_string_lossy().into_owned();
        let bytes = std::fs::read(&path).unwrap();
        if bytes.is_empty() {
            continue;
        }
        let ours = name.ends_with(".col") || name == "columns.synced";
        let len = bytes.len();
        for at in [0, 1, len / 3, len / 2, len - 2, len - 1] {
            for bit in [0u8, 5] {
                restore();
                let mut flipped = bytes.clone();
                flipped[at.min(len - 1)] ^= 1 << bit;
                std::fs::write(index.join(&rel), &flipped).unwrap();
                let store = Store::open(dir.path(), opts()).unwrap();
                if ours {
                    assert!(
                        matches!(store.open_report().index, IndexAction::Rebuilt { .. }),
                        "{name} byte {at} bit {bit}: {:?}",
                        store.open_report()
                    );
                    checked += 1;
                }
                assert_matches_log(&store, &log);
            }
        }
    }
    // entries.col, checkpoints.col, the marker, five node levels.
    assert!(checked >= 8 * 12, "{checked}");
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

/// Appends three batches (entries 0–2, then 3, then 4–6), puts `part` of the store directory
/// back as it was after the first, lets `rolled_back(now, full)` check that state, then opens
/// the store: it catches up from entry 3, answers every lookup, and its index equals the full
/// one again.
fn caught_up_after_rolling_back(part: &[&str], rolled_back: impl FnOnce(&IndexDump, &IndexDump)) {
    let dir = tempfile::tempdir().unwrap();
    let saved = tempfile::tempdir().unwrap();
    let part = part
        .iter()
        .fold(dir.path().to_path_buf(), |p, name| p.join(name));
    let mut log = Log::new();
    {
        let store = Store::open(dir.path(), opts()).unwrap();
        let g = log.genesis();
        store.append_bytes(&[g], &[], note).unwrap();
        append(&store, &log.disclosures(2, 2_000));
    }
    copy_dir(&part, saved.path());
    {
        let store = Store::open(dir.path(), opts()).unwrap();
        append(&store, &log.disclosures(1, 3_000));
        append(&store, &log.disclosures(3, 4_000));
    }
    let full = dump_index(dir.path());
    std::fs::remove_dir_all(&part).unwrap();
    copy_dir(saved.path(), &part);
    rolled_back(&dump_index(dir.path()), &full);
    {
        let store = Store::open(dir.path(), opts()).unwrap();
        assert_eq!(
            store.open_report().index,
            IndexAction::CaughtUp { from: TreeSize(3) }
        );
        assert_matches_log(&store, &log);
    }
    assert_eq!(dump_index(dir.path()), full);
}

/// A crash after batches reached the segments and the columns were synced, but before fjall's
/// journal reached the disk: fjall's files from two appends earlier beside today's columns.
/// The lookups' covered mark is behind, so the open replays the segments from it, and every
/// lookup of the later entries answers again.
#[test]
fn lookups_behind_the_segments_are_caught_up() {
    caught_up_after_rolling_back(&["index", "fjall"], |now, full| {
        // The columns are whole; only the lookups lag.
        assert_eq!(now["entries.col"], full["entries.col"]);
        assert_ne!(now["lookups"], full["lookups"]);
    });
}

#[test]
fn index_behind_is_caught_up() {
    caught_up_after_rolling_back(&["index"], |now, _| {
        assert_eq!(now["entries.col"][0].1.len(), 3 * 96);
    });
}

#[test]
fn index_ahead_of_segments_is_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let (log, ends) = three_batches(dir.path());
    // Lose the last batch from the segments (as if restored from an older copy).
    let path = seg_path(dir.path(), 0);
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..ends[1] as usize]).unwrap();
    let store = Store::open(dir.path(), opts()).unwrap();
    match &store.open_report().index {
        IndexAction::Rebuilt { reason } => assert!(reason.contains("covers 5"), "{reason}"),
        other => panic!("expected a rebuild, got {other:?}"),
    }
    assert_eq!(store.size(), TreeSize(3));
    assert_eq!(store.tip(), (TreeSize(3), log.leaves[2]));
    assert_eq!(store.entry(LeafIndex(3)).unwrap(), None);
    assert_eq!(store.find_leaf(&log.leaves[3]).unwrap(), None);
    assert_eq!(store.claimed(&Claim::ReceiptFor(1)).unwrap(), None);
}

#[test]
fn segments_roll_at_the_size_limit() {
    let dir = tempfile::tempdir().unwrap();
    let small = StoreOptions {
        segment_max_bytes: 700,
        ..StoreOptions::default()
    };
    let mut log = Log::new();
    {
        let store = Store::open(dir.path(), small.clone()).unwrap();
        let g = log.genesis();
        store.append_bytes(&[g], &[], note).unwrap();
        for t in 0..8 {
            append(&store, &log.disclosures(1 + t % 2, 2_000 + t as i64));
            // Readers see entries in every segment while the writer rolls.
            assert_matches_log(&store, &log);
        }
    }
    let segs = std::fs::read_dir(dir.path().join("segments"))
        .unwrap()
        .count();
    assert!(segs >= 4, "only {segs} segments");
    for id in 0..segs as u32 {
        let len = std::fs::metadata(seg_path(dir.path(), id)).unwrap().len();
        assert!(len > 0, "segment {id} is empty");
    }
    let store = Store::open(dir.path(), small).unwrap();
    assert_matches_log(&store, &log);
    let last = log.size;
    drop(store);

    // A torn tail in the last segment is cut; damage in an earlier one is an error.
    let last_seg = seg_path(dir.path(), segs as u32 - 1);
    let bytes = std::fs::read(&last_seg).unwrap();
    std::fs::write(&last_seg, &bytes[..bytes.len() - 5]).unwrap();
    let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
    assert!(store.size().0 < last);
    drop(store);
    let first = seg_path(dir.path(), 1);
    let mut bytes = std::fs::read(&first).unwrap();
    let n = bytes.len();
    bytes[n - 2] ^= 1;
    std::fs::write(&first, &bytes).unwrap();
    assert!(matches!(
        Store::open(dir.path(), StoreOptions::default()),
        Err(StoreError::Corrupt { segment: 1, .. })
    ));
}

#[test]
fn claims_scan_and_time_queries() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = three_batches(dir.path());
    let store = Store::open(dir.path(), opts()).unwrap();
    // 0 genesis (t=1000), 1..=2 vendor->police (t=2000), 3 police->vendor (t=3000),
    // 4 receipt by police for 1 (t=3000).
    let nonce = |n: u64| Claim::Nonce {
        sender: "vendor".into(),
        nonce: n.to_be_bytes().repeat(2),
    };
    assert_eq!(store.claimed(&nonce(1)).unwrap(), Some(LeafIndex(1)));
    assert_eq!(store.claimed(&nonce(2)).unwrap(), Some(LeafIndex(2)));
    assert_eq!(store.claimed(&nonce(3)).unwrap(), None);
    assert_eq!(
        store.claimed(&Claim::ReceiptFor(1)).unwrap(),
        Some(LeafIndex(4))
    );
    assert_eq!(store.claimed(&Claim::ReceiptFor(2)).unwrap(), None);

    let ix = |v: &[u64]| v.iter().map(|i| LeafIndex(*i)).collect::<Vec<_>>();
    use pb::EntryKind as K;
    assert_eq!(
        store.scan(LeafIndex(0), None, &[], 100).unwrap(),
        ix(&[0, 1, 2, 3, 4])
    );
    assert_eq!(store.scan(LeafIndex(2), None, &[], 2).unwrap(), ix(&[2, 3]));
    assert_eq!(store.scan(LeafIndex(0), None, &[], 0).unwrap(), ix(&[]));
    assert_eq!(
        store.scan(LeafIndex(0), Some("police"), &[], 100).unwrap(),
        ix(&[1, 2, 3, 4])
    );
    assert_eq!(
        store.scan(LeafIndex(0), Some("vendor"), &[], 100).unwrap(),
        ix(&[1, 2, 3])
    );
    assert_eq!(
        store
            .scan(LeafIndex(2), Some("police"), &[K::Receipt], 100)
            .unwrap(),
        ix(&[4])
    );
    assert_eq!(
        store
            .scan(LeafIndex(0), Some("police"), &[K::Disclosure], 2)
            .unwrap(),
        ix(&[1, 2])
    );
    assert_eq!(
        store.scan(LeafIndex(0), Some("pol"), &[], 100).unwrap(),
        ix(&[])
    );
    assert_eq!(
        store
            .scan(LeafIndex(0), None, &[K::Receipt, K::Genesis], 100)
            .unwrap(),
        ix(&[0, 4])
    );
    assert_eq!(
        store
            .scan(LeafIndex(1), None, &[K::Disclosure, K::Receipt], 3)
            .unwrap(),
        ix(&[1, 2, 3])
    );

    assert_eq!(store.by_time(0, i64::MAX).unwrap(), ix(&[0, 1, 2, 3, 4]));
    assert_eq!(store.by_time(2_000, 3_000).unwrap(), ix(&[1, 2]));
    assert_eq!(store.by_time(2_001, 3_001).unwrap(), ix(&[3, 4]));
    assert_eq!(store.by_time(i64::MIN, 1_000).unwrap(), ix(&[]));
    assert_eq!(store.by_time(5, 5).unwrap(), ix(&[]));

    assert_eq!(store.by_stix_id("indicator--1-0").unwrap(), ix(&[1]));
    assert_eq!(store.by_stix_id("indicator--1").unwrap(), ix(&[]));
    assert_eq!(
        store.by_commitment(&payload(300).commitment).unwrap(),
        ix(&[3])
    );
    let _ = log;
}

/// A listing filtered by a party that appears once in 2,000 entries, or by a kind that
/// does, reads a handful of posting records, not the log; and answers as a scan would.
#[test]
fn a_filtered_listing_reads_postings_not_the_log() {
    use pb::EntryKind as K;
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::new();
    let rare;
    let receipt;
    {
        let store = Store::open(dir.path(), opts()).unwrap();
        store.append_bytes(&[log.genesis()], &[], note).unwrap();
        for t in 0..20 {
            append(&store, &log.disclosures(50, 2_000 + t));
        }
        rare = log.size;
        let (d, p) = log.disclosure(3_000, "rare", "vendor", 1);
        store.append_bytes(&[d], &p, note).unwrap();
        receipt = log.size;
        let r = log.receipt(3_000, 1, "police");
        store.append_bytes(&[r], &[], note).unwrap();
        for t in 0..20 {
            append(&store, &log.disclosures(50, 4_000 + t));
        }
    }
    // Reopened: the lists were made durable on close and are read back.
    let store = Store::open(dir.path(), opts()).unwrap();
    assert_eq!(store.open_report().index, IndexAction::Consistent);
    assert!(log.size > 2_000);
    let ix = |v: &[u64]| v.iter().map(|i| LeafIndex(*i)).collect::<Vec<_>>();
    let cost = |from: u64, party: Option<&str>, kinds: &[K], limit: usize| {
        let before = store.posting_reads();
        let found = store.scan(LeafIndex(from), party, kinds, limit).unwrap();
        (found, store.posting_reads() - before)
    };
    for from in [0, rare] {
        let (found, reads) = cost(from, Some("rare"), &[], 256);
        assert_eq!(found, ix(&[rare]));
        assert!(reads <= 4, "{reads} posting records read for one entry");
    }
    assert_eq!(cost(rare + 1, Some("rare"), &[], 256).0, ix(&[]));
    let (found, reads) = cost(0, None, &[K::Receipt], 256);
    assert_eq!(found, ix(&[receipt]));
    assert!(reads <= 4, "{reads}");
    let (found, reads) = cost(0, Some("police"), &[K::Receipt, K::Genesis], 256);
    assert_eq!(found, ix(&[receipt]));
    assert!(reads <= 8, "{reads}");
    // A common party: a page of 256 reads about a page per list, and agrees with the model.
    let (found, reads) = cost(700, Some("vendor"), &[], 256);
    let want: Vec<LeafIndex> = (700..log.size)
        .filter(|i| {
            let keys = index_keys(&entry::decode(&log.entries[*i as usize]).unwrap()).unwrap();
            keys.parties.iter().any(|p| p == "vendor")
        })
        .take(256)
        .map(LeafIndex)
        .collect();
    assert_eq!(found, want);
    assert!(reads <= 3 * (256 + 12), "{reads}");
}

#[test]
fn bad_batches_are_refused_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (log, ends) = three_batches(dir.path());
    let store = Store::open(dir.path(), opts()).unwrap();
    let seg_len = || std::fs::metadata(seg_path(dir.path(), 0)).unwrap().len();

    // Wrong index.
    let mut l = Log {
        size: 6,
        tip: log.tip,
        leaves: vec![],
        entries: vec![],
        nonce: 90,
    };
    let b = l.disclosures(1, 5_000);
    assert!(matches!(
        store.append_bytes(&b.entries, &b.payloads, note),
        Err(StoreError::NotContiguous { position: 5, .. })
    ));
    // Wrong prev_leaf_hash, second in the batch.
    let mut l = Log {
        size: 5,
        tip: log.tip,
        leaves: vec![],
        entries: vec![],
        nonce: 90,
    };
    let mut b = l.disclosures(2, 5_000);
    l.tip = [7; 32];
    l.size = 6;
    b.entries[1] = l.disclosures(1, 5_000).entries.remove(0);
    assert!(matches!(
        store.append_bytes(&b.entries, &b.payloads, note),
        Err(StoreError::NotContiguous { position: 6, .. })
    ));
    // A replayed nonce, and a second receipt.
    let mut l = Log {
        size: 5,
        tip: log.tip,
        leaves: vec![],
        entries: vec![],
        nonce: 0,
    };
    let b = l.disclosures(1, 5_000);
    assert!(matches!(
        store.append_bytes(&b.entries, &b.payloads, note),
        Err(StoreError::AlreadyClaimed { index: 1, .. })
    ));
    let mut l = Log {
        size: 5,
        tip: log.tip,
        leaves: vec![],
        entries: vec![],
        nonce: 0,
    };
    let r = l.receipt(5_000, 1, "police");
    assert!(matches!(
        store.append_bytes(&[r], &[], note),
        Err(StoreError::AlreadyClaimed { index: 4, .. })
    ));
    // A payload that does not match its commitment; an empty batch.
    let mut l = Log {
        size: 5,
        tip: log.tip,
        leaves: vec![],
        entries: vec![],
        nonce: 90,
    };
    let mut b = l.disclosures(1, 5_000);
    let content = b.payloads[0].content.clone();
    b.payloads[0].content = [&content[..], b" "].concat().into();
    assert!(matches!(
        store.append_bytes(&b.entries, &b.payloads, note),
        Err(StoreError::PayloadMismatch { .. })
    ));
    assert!(matches!(
        store.append_bytes(&[], &[], note),
        Err(StoreError::EmptyBatch)
    ));
    assert!(matches!(
        store.append_bytes(&[vec![0xff; 3]], &[], note),
        Err(StoreError::MalformedEntry { position: 5, .. })
    ));

    assert_eq!(seg_len(), ends[2]);
    assert_eq!(store.size(), TreeSize(5));
    assert_eq!(store.tip(), (TreeSize(5), log.tip));
    // And a good batch still goes in.
    b.payloads[0].content = content;
    append(&store, &b);
    assert_eq!(store.size(), TreeSize(6));
}

#[test]
fn readers_run_concurrently_with_the_writer() {
    let dir = tempfile::tempdir().unwrap();
    let store = std::sync::Arc::new(Store::open(dir.path(), opts()).unwrap());
    let mut log = Log::new();
    let g = log.genesis();
    store.append_bytes(&[g], &[], note).unwrap();
    let readers: Vec<_> = (0..3)
        .map(|_| {
            let store = store.clone();
            std::thread::spawn(move || {
                let mut seen = 0;
                while seen < 21 {
                    let size = store.size();
                    // Everything below the visible size is readable and provable.
                    let last = LeafIndex(size.0 - 1);
                    assert!(store.entry(last).unwrap().is_some());
                    store.inclusion_proof(last, size).unwrap();
                    store.root(size).unwrap();
                    seen = size.0;
                }
            })
        })
        .collect();
    for _ in 0..10 {
        append(&store, &log.disclosures(2, 2_000));
    }
    for r in readers {
        r.join().unwrap();
    }
    assert_matches_log(&store, &log);
}
