//! The fuzz harnesses: one function per target, each taking arbitrary bytes. The targets in
//! `fuzz_targets/` call them under libFuzzer; `tests/fuzz_regressions.rs` includes this file
//! and replays the committed crash inputs and seeds on stable, so a fixed crash stays fixed.
//!
//! The contract under test: hostile input gets an error, never a panic. Where a cheap
//! property must also hold (a round trip, two readers agreeing, replay determinism), the
//! harness asserts it, so the fuzzer reports the violation like a crash.
#![forbid(unsafe_code)]

use std::path::Path;
use std::sync::OnceLock;

use borderlog::audit::export::RecordReader;
use borderlog::audit::verify::{Auditor, VerifyOptions};
use borderlog::format::checkpoint::Checkpoint;
use borderlog::format::hash::Hash;
use borderlog::format::note::{self, KeyType, Note, NoteSignature, Signer, Verifier};
use borderlog::format::{LeafIndex, TreeSize, consistency, cosignature, entry, inclusion};
use borderlog::guard::{self, Context, Policy, Verdict};
use borderlog::pb;
use borderlog::store::fuzzing;
use prost::Message;

/// `entry`: entry decoding and everything the indexes derive from an entry.
pub fn entry(data: &[u8]) {
    let Ok(e) = entry::decode(data) else { return };
    let _ = entry::kind(&e);
    if let Ok(keys) = entry::index_keys(&e) {
        for claim in &keys.claims {
            let _ = claim.key();
        }
    }
    if let Some(pb::entry::Kind::Disclosure(d)) = &e.kind {
        let _ = entry::disclosure_body(d);
    }
    // What decodes re-encodes to bytes that decode to the same entry.
    let again = entry::decode(&e.encode_to_vec()).expect("a re-encoded entry decodes");
    assert_eq!(again, e, "entry changed in a decode/encode round trip");
}

/// The log key the checkpoint harness signs with and opens under (the signed-note spec's
/// PeterNeumann key, from tests/note_vectors.rs).
const LOG_SKEY: &str =
    "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
/// Verifier keys from the published vectors: a note key and a cosignature/v1 key.
const VKEYS: [&str; 3] = [
    "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
    "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
    "PeterNeumann+18b9780b+BBpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
];

fn verifiers() -> &'static [Verifier] {
    static V: OnceLock<Vec<Verifier>> = OnceLock::new();
    V.get_or_init(|| {
        VKEYS
            .iter()
            .map(|k| Verifier::parse(k).expect("vector key parses"))
            .collect()
    })
}

fn log_signer() -> &'static Signer {
    static S: OnceLock<Signer> = OnceLock::new();
    S.get_or_init(|| Signer::parse(LOG_SKEY).expect("vector key parses"))
}

/// `note`: signed notes, signature lines and key strings.
pub fn note(data: &[u8]) {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(n) = Note::parse(s) {
        let _ = note::verify(&n, verifiers());
        assert_eq!(
            Note::parse(&n.to_text()).as_ref(),
            Ok(&n),
            "note changed in a print/parse round trip"
        );
    }
    for line in s.lines().take(64) {
        if let Ok(sig) = NoteSignature::parse_line(line) {
            let printed = sig.line();
            assert_eq!(
                NoteSignature::parse_line(printed.trim_end_matches('\n')),
                Ok(sig),
                "signature line changed in a print/parse round trip"
            );
        }
        if let Ok(v) = Verifier::parse(line) {
            assert_eq!(Verifier::parse(&v.to_string()), Ok(v));
        }
        if let Ok(k) = Signer::parse(line) {
            assert_eq!(
                Signer::parse(&k.to_private_key_string()).map(|k2| k2.verifier()),
                Ok(k.verifier())
            );
        }
    }
}

/// `checkpoint`: checkpoint bodies, signed checkpoints and cosignatures.
pub fn checkpoint(data: &[u8]) {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let log = log_signer();
    // As a body: strict parsing is canonical, so printing gives back the same text.
    let body = Checkpoint::parse_body(s);
    if let Ok(cp) = &body {
        assert_eq!(cp.body(), s, "checkpoint body is not canonical");
    }
    // As a whole signed note under the log key, and each line as a cosignature.
    if let Ok((cp, n)) = Checkpoint::open(s, &log.verifier()) {
        assert_eq!(cp.origin, log.name());
        assert_eq!(Checkpoint::parse_body(&n.text), Ok(cp));
    }
    if let Ok(n) = Note::parse(s) {
        for sig in &n.signatures {
            let _ = cosignature::verify(sig, &verifiers()[2], &n.text);
        }
    }
    // As a body the log signs: opening the signed note agrees with parsing the body.
    if let Ok(sig) = log.sign(s) {
        let text = Note {
            text: s.to_owned(),
            signatures: vec![sig],
        }
        .to_text();
        let opened = Checkpoint::open(&text, &log.verifier());
        match &body {
            Ok(cp) if cp.origin == log.name() => {
                assert_eq!(opened.map(|(c, _)| c).as_ref(), Ok(cp));
            }
            _ => assert!(
                opened.is_err(),
                "opened a checkpoint whose body does not parse"
            ),
        }
    }
    // Cosigning accepts only checkpoint bodies, and its line verifies.
    let key = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
    if let Ok(sig) = cosignature::cosign("witness", &key, 1_700_000_000, s) {
        assert!(body.is_ok(), "cosigned a body that does not parse");
        let v = Verifier::new("witness", KeyType::Cosignature, key.verifying_key())
            .expect("valid name");
        assert_eq!(cosignature::verify(&sig, &v, s), Ok(1_700_000_000));
    }
}

/// Input layout of the `proof` target: mode byte (even: inclusion, odd: consistency), two
/// u64 LE (index and size, or old and new size), two hashes (leaf and root, or old and new
/// root), then the proof's hashes; a trailing partial hash is ignored.
pub fn proof(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let Some((a, rest)) = rest.split_first_chunk::<8>() else {
        return;
    };
    let Some((b, rest)) = rest.split_first_chunk::<8>() else {
        return;
    };
    let (a, b) = (u64::from_le_bytes(*a), u64::from_le_bytes(*b));
    let mut hashes = rest.chunks_exact(32).map(|c| {
        let mut h: Hash = [0; 32];
        h.copy_from_slice(c);
        h
    });
    let (Some(h1), Some(h2)) = (hashes.next(), hashes.next()) else {
        return;
    };
    let proof: Vec<Hash> = hashes.collect();
    if mode % 2 == 0 {
        let verified = inclusion::verify(LeafIndex(a), TreeSize(b), &h1, &proof, &h2);
        // The two entry points agree: verify is root_from_proof plus a comparison.
        match inclusion::root_from_proof(LeafIndex(a), TreeSize(b), &h1, &proof) {
            Ok(root) => assert_eq!(verified.is_ok(), root == h2),
            Err(e) => assert_eq!(verified, Err(e)),
        }
    } else {
        let _ = consistency::verify(TreeSize(a), TreeSize(b), &h1, &h2, &proof);
    }
}

/// The declared context every guard harness screens under (tests/corpus/expected.toml's
/// "investigation").
const CONTEXT: Context<'static> = Context {
    sender: "vendor-research",
    recipient: "police-network",
    purpose: "cybercrime investigation support",
    legal_basis: "data sharing agreement 2026-04; GDPR Art. 6(1)(f)",
};
/// The guard corpus's register key and the customer list it screens against.
const REGISTER_KEY: &str = "borderlog-test-register-key-2026";
const CUSTOMERS: &str = include_str!("../../tests/corpus/customers.csv");

/// The default policy, and the default policy with the corpus's customer register in force.
fn policies() -> &'static [Policy; 2] {
    static P: OnceLock<[Policy; 2]> = OnceLock::new();
    P.get_or_init(|| {
        let plain = Policy::parse(guard::DEFAULT_POLICY.as_bytes()).expect("default policy");
        let frag = guard::build_register(REGISTER_KEY.as_bytes(), "test-2026", CUSTOMERS)
            .expect("register builds");
        let text = guard::customer::with_register(guard::DEFAULT_POLICY, &frag);
        let keyed =
            Policy::parse_keyed(text.as_bytes(), REGISTER_KEY.as_bytes()).expect("keyed policy");
        [plain, keyed]
    })
}

/// Screens `item` under `policy`, checking the verdict's own promises and determinism.
fn screen(policy: &Policy, item: &[u8]) {
    let v = policy.screen(&CONTEXT, item);
    if let Verdict::Refused(findings) = &v {
        assert!(!findings.is_empty(), "refused without a finding");
    }
    assert_eq!(
        policy.screen(&CONTEXT, item),
        v,
        "screening is not deterministic"
    );
}

/// `guard`: screening arbitrary bytes as one item, and unwrapping them as a bundle.
pub fn guard(data: &[u8]) {
    for p in policies() {
        screen(p, data);
    }
    if let Ok(items) = guard::unwrap_bundle(data) {
        for item in items.iter().take(32) {
            for p in policies() {
                screen(p, item);
            }
        }
    }
}

/// A real item the `policy` harness screens under every policy that parses.
const ITEM: &[u8] = include_bytes!("../../examples/indicator-for-c2-ip-address.json");

/// `policy`: arbitrary bytes as a policy document.
pub fn policy(data: &[u8]) {
    let Ok(p) = Policy::parse(data) else { return };
    let expected: [u8; 32] = borderlog::format::hash::sha256(data);
    assert_eq!(
        p.hash(),
        expected,
        "policy hash is not SHA-256 of its bytes"
    );
    let _ = Policy::parse_keyed(data, REGISTER_KEY.as_bytes());
    if let Ok(items) = guard::unwrap_bundle(ITEM) {
        for item in &items {
            let _ = p.screen(&CONTEXT, item);
        }
    }
}

/// Input layout of the `segment` target: the first byte's low two bits say how many segment
/// files (1 to 4); each but the last is preceded by its u16 LE length; the last takes the rest.
pub fn segment(data: &[u8]) {
    thread_local! {
        static DIR: tempfile::TempDir = tempfile::tempdir().expect("scratch directory");
    }
    DIR.with(|d| segment_in(d.path(), data));
}

/// [`segment`] in a given scratch directory (emptied first).
pub fn segment_in(dir: &Path, data: &[u8]) {
    let Some((&first, mut rest)) = data.split_first() else {
        return;
    };
    let mut files: Vec<&[u8]> = Vec::new();
    for _ in 0..first & 3 {
        let Some((len, tail)) = rest.split_first_chunk::<2>() else {
            break;
        };
        let len = usize::from(u16::from_le_bytes(*len)).min(tail.len());
        let (file, tail) = tail.split_at(len);
        files.push(file);
        rest = tail;
    }
    files.push(rest);

    let seg_dir = dir.join("segments");
    let _ = std::fs::remove_dir_all(&seg_dir);
    std::fs::create_dir_all(&seg_dir).expect("scratch segments directory");
    for (i, f) in files.iter().enumerate() {
        std::fs::write(seg_dir.join(format!("{i:08}.seg")), f).expect("scratch segment");
    }

    // The positioned reader accepts the intact records the sequential scan accepted.
    for i in 0..files.len() {
        let file = std::fs::File::open(seg_dir.join(format!("{i:08}.seg"))).expect("segment");
        let Ok(scan) = fuzzing::scan(&file) else {
            continue;
        };
        for r in scan.records.into_iter().filter(|r| r.intact) {
            let len = u32::try_from(r.body.len()).expect("a scanned body fits its u32 length");
            let read = fuzzing::read_record(&file, r.offset, len).expect("scanned record reads");
            assert_eq!(read, r, "positioned read differs from the scan");
        }
    }

    // Recovery cuts only the last file (and finishes torn erasures), and what it leaves
    // recovers again unchanged.
    let Ok(first) = fuzzing::recover(&seg_dir) else {
        return;
    };
    assert_eq!(first.segment_lens.len(), files.len());
    for (i, (&len, f)) in first.segment_lens.iter().zip(&files).enumerate() {
        let on_disk = std::fs::metadata(seg_dir.join(format!("{i:08}.seg")))
            .expect("segment")
            .len();
        assert_eq!(on_disk, len, "segment {i} length after recovery");
        if i + 1 < files.len() {
            assert_eq!(
                len,
                f.len() as u64,
                "recovery cut a segment before the last"
            );
        }
    }
    let last = files.last().expect("at least one file").len() as u64;
    assert_eq!(
        first.cut_bytes,
        last - first.segment_lens.last().copied().unwrap_or(0)
    );
    let second = fuzzing::recover(&seg_dir).expect("a recovered log recovers again");
    assert_eq!(second.cut_bytes, 0);
    assert_eq!(second.torn_erasures, 0, "an erasure finished twice");
    assert_eq!(second.size, first.size);
    assert_eq!(second.segment_lens, first.segment_lens);
}

/// `export`: an export archive, read and verified as `borderlog verify FILE` does.
pub fn export(data: &[u8]) {
    let mut reader = RecordReader::new(data);
    let mut auditor = Auditor::new(VerifyOptions::default());
    loop {
        match reader.next_record() {
            Ok(Some(record)) => {
                if auditor.push(record).is_err() {
                    return;
                }
            }
            Ok(None) => break,
            Err(_) => return,
        }
    }
    let _ = auditor.finish();
}

/// `index`: a real store's derived index files (columns, column marker, posting lists)
/// damaged by the input — one file picked by the first byte, then replaced by, XORed with,
/// or cut at a place given by the rest — and the store opened on them. The store must open
/// (rebuilding what it cannot trust) and answer exactly as before: every entry, leaf lookup,
/// filtered listing and root. fjall's own files (lookups, cosignatures) are left to fjall,
/// whose journal and blocks carry their own checksums.
pub fn index(data: &[u8]) {
    thread_local! {
        static FIXTURE: IndexFixture = IndexFixture::new();
    }
    FIXTURE.with(|f| f.run(data));
}

/// A store of a few dozen entries written once per thread, and its clean index.
struct IndexFixture {
    dir: tempfile::TempDir,
    clean: tempfile::TempDir,
    /// Index files the harness damages, relative to the index directory.
    files: Vec<std::path::PathBuf>,
    entries: Vec<Vec<u8>>,
    leaves: Vec<Hash>,
    /// Indexes of the entries involving the party `rare`.
    rare: Vec<LeafIndex>,
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("scratch directory");
    for e in std::fs::read_dir(from).expect("directory") {
        let e = e.expect("directory entry");
        let target = to.join(e.file_name());
        if e.file_type().expect("file type").is_dir() {
            copy_tree(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).expect("copy");
        }
    }
}

fn files_of(root: &Path, dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).expect("directory") {
        let p = e.expect("directory entry").path();
        if p.is_dir() {
            if !p.ends_with("fjall") {
                files_of(root, &p, out);
            }
        } else {
            out.push(p.strip_prefix(root).expect("under root").to_owned());
        }
    }
}

impl IndexFixture {
    fn new() -> Self {
        use borderlog::format::hash::{ZERO_HASH, item_commitment, leaf_hash};
        use borderlog::store::{Payload, Store, StoreOptions};
        let dir = tempfile::tempdir().expect("scratch directory");
        let (mut entries, mut leaves, mut rare) = (Vec::new(), Vec::new(), Vec::new());
        {
            let store = Store::open(dir.path(), StoreOptions::default()).expect("store");
            let mut tip = ZERO_HASH;
            let mut push = |kind: pb::entry::Kind| {
                let bytes = pb::Entry {
                    index: entries.len() as u64,
                    time_ms: 1_000 + entries.len() as i64,
                    prev_leaf_hash: tip.to_vec(),
                    kind: Some(kind),
                }
                .encode_to_vec();
                tip = leaf_hash(&bytes);
                leaves.push(tip);
                entries.push(bytes.clone());
                (entries.len() as u64 - 1, bytes)
            };
            let note = |size: TreeSize, root: Hash| format!("fuzz\n{}\n{}\n", size.0, hex(&root));
            let genesis = push(pb::entry::Kind::Genesis(pb::Genesis {
                origin: "fuzz/index".into(),
                ..Default::default()
            }));
            store
                .append_bytes(&[genesis.1], &[], note)
                .expect("genesis");
            for batch in 0..12u64 {
                let (mut batch_entries, mut payloads) = (Vec::new(), Vec::new());
                for n in 0..1 + batch % 4 {
                    let tag = batch * 10 + n;
                    let sender = if tag % 7 == 3 { "rare" } else { "vendor" };
                    let salt = [tag as u8; 32];
                    let content = format!("{{\"type\":\"indicator\",\"id\":\"indicator--{tag}\"}}");
                    let commitment = item_commitment(&salt, content.as_bytes());
                    let body = pb::DisclosureBody {
                        sender: sender.into(),
                        recipient: "police".into(),
                        nonce: tag.to_be_bytes().repeat(2),
                        items: vec![pb::ItemCommitment {
                            commitment: commitment.to_vec(),
                            stix_id: format!("indicator--{tag}"),
                            stix_type: "indicator".into(),
                            tlp: "green".into(),
                        }],
                        ..Default::default()
                    };
                    let (at, bytes) = push(pb::entry::Kind::Disclosure(pb::Disclosure {
                        body: body.encode_to_vec(),
                        signature: vec![1; 64],
                        policy_hash: vec![2; 32],
                    }));
                    if sender == "rare" {
                        rare.push(LeafIndex(at));
                    }
                    batch_entries.push(bytes);
                    payloads.push(Payload {
                        commitment,
                        salt,
                        content: content.into_bytes().into(),
                    });
                }
                store
                    .append_bytes(&batch_entries, &payloads, note)
                    .expect("batch");
            }
        }
        let clean = tempfile::tempdir().expect("scratch directory");
        copy_tree(&dir.path().join("index"), clean.path());
        let mut files = Vec::new();
        files_of(clean.path(), clean.path(), &mut files);
        files.sort();
        Self {
            dir,
            clean,
            files,
            entries,
            leaves,
            rare,
        }
    }

    fn run(&self, data: &[u8]) {
        use borderlog::store::{Store, StoreOptions};
        let Some((&[pick, mode], rest)) = data.split_first_chunk::<2>() else {
            return;
        };
        let Some((at, rest)) = rest.split_first_chunk::<2>() else {
            return;
        };
        let at = usize::from(u16::from_le_bytes(*at));
        let index = self.dir.path().join("index");
        let _ = std::fs::remove_dir_all(&index);
        copy_tree(self.clean.path(), &index);
        let path = index.join(&self.files[usize::from(pick) % self.files.len()]);
        let mut bytes = std::fs::read(&path).expect("index file");
        match mode % 3 {
            0 => bytes = rest.to_vec(),
            1 => {
                for (b, x) in bytes.iter_mut().skip(at).zip(rest) {
                    *b ^= x;
                }
            }
            _ => bytes.truncate(at),
        }
        std::fs::write(&path, bytes).expect("index file");

        let store = Store::open(self.dir.path(), StoreOptions::default())
            .expect("damaged index files never stop the store opening");
        let size = self.entries.len() as u64;
        assert_eq!(
            store.tip(),
            (TreeSize(size), self.leaves[size as usize - 1])
        );
        for (i, (e, leaf)) in self.entries.iter().zip(&self.leaves).enumerate() {
            let i = LeafIndex(i as u64);
            assert_eq!(
                store.entry(i).expect("entry").as_ref(),
                Some(e),
                "entry {}",
                i.0
            );
            assert_eq!(store.find_leaf(leaf).expect("leaf lookup"), Some(i));
        }
        assert_eq!(
            store
                .scan(LeafIndex(0), Some("rare"), &[], 100)
                .expect("listing"),
            self.rare
        );
        let mut tree = borderlog::format::tree::MemoryTree::new();
        for l in &self.leaves {
            tree.push(*l);
        }
        assert_eq!(
            store.root(TreeSize(size)).expect("root"),
            borderlog::format::tree::root(&tree, TreeSize(size)).expect("model root")
        );
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
