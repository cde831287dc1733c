use std::collections::{BTreeMap, BTreeSet};

use super::*;

/// Deterministic pseudo-random u64s: SHA-256 of a counter.
struct Prng(u64);

impl Prng {
    fn next(&mut self) -> u64 {
        self.0 += 1;
        be_u64(&Sha256::digest(self.0.to_be_bytes())[..8])
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn leaf(n: u64) -> Fingerprint {
    fingerprint(LookupKind::Leaf, &n.to_be_bytes())
}

fn commitment(n: u64) -> Fingerprint {
    fingerprint(LookupKind::Commitment, &n.to_be_bytes())
}

fn indexes(l: &Lookups, fp: &Fingerprint) -> Vec<u64> {
    l.get(fp).unwrap().iter().map(value_index).collect()
}

/// Names of the files in `dir`, sorted.
fn files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

/// Writes the run `[from, to)` holding `leaf(n) → n` for each n in `ns` (sorted here).
fn write_run(dir: &Path, from: u64, to: u64, ns: impl IntoIterator<Item = u64>) {
    let records: BTreeSet<Record> = ns
        .into_iter()
        .map(|n| record(&leaf(n), &index_value(n)))
        .collect();
    let mut w = RunWriter::create(dir, from, to).unwrap();
    for r in &records {
        w.push(r).unwrap();
    }
    w.finish().unwrap();
}

/// Runs of 40, 10 and 2 records covering [0, 30): each under half the one before, so
/// none is merged.
fn three_runs(dir: &Path) {
    write_run(dir, 0, 10, 0..40);
    write_run(dir, 10, 20, 40..50);
    write_run(dir, 20, 30, 50..52);
}

fn damage_of(dir: &Path) -> String {
    match Lookups::open(dir) {
        Err(StoreError::IndexInconsistent(reason)) => reason,
        Err(e) => panic!("expected damage, got {e}"),
        Ok(_) => panic!("a damaged directory opened"),
    }
}

#[test]
fn fingerprints_keep_kinds_apart_and_values_round_trip() {
    let kinds = [
        LookupKind::Leaf,
        LookupKind::Claim,
        LookupKind::Payload,
        LookupKind::StixId,
        LookupKind::Commitment,
    ];
    let fps: BTreeSet<Fingerprint> = kinds.iter().map(|&k| fingerprint(k, b"key")).collect();
    assert_eq!(fps.len(), kinds.len());
    let mut h = Sha256::new();
    h.update(b"borderlog/lookup/v1\n\x01key");
    assert_eq!(
        fingerprint(LookupKind::Leaf, b"key")[..],
        h.finalize()[..16]
    );
    for i in [0, 1, 255, u64::MAX] {
        assert_eq!(value_index(&index_value(i)), i);
        assert_eq!(index_value(i)[8..], [0; 8]);
    }
}

#[test]
fn records_round_trip_through_memtable_runs_and_merges() {
    let dir = tempfile::tempdir().unwrap();
    let l = Lookups::open_with(dir.path(), 4).unwrap();
    assert_eq!(l.covered(), 0);
    for i in 0..40u64 {
        l.insert(leaf(i), index_value(i));
        // Commitments 0..5 each map to every fifth entry: values spread over many runs.
        l.insert(commitment(i % 5), index_value(i));
        if i == 20 {
            // Already in a run: still answered once.
            l.insert(leaf(3), index_value(3));
            l.insert(commitment(1), index_value(1));
        }
        // Answered at once, from the memtable or a run being merged.
        assert_eq!(indexes(&l, &leaf(i)), [i]);
        l.seal(i + 1).unwrap();
        assert_eq!(indexes(&l, &leaf(i)), [i]);
    }
    // Seals every four records: after entries 1, 3, .., 19, then (entry 20 adding four) 20,
    // 22, .., 38; entry 39's records are still in the memtable.
    assert_eq!(l.covered(), 39);
    l.wait_for_merges();
    for i in 0..40 {
        assert_eq!(indexes(&l, &leaf(i)), [i]);
    }
    for c in 0..5 {
        let expected: Vec<u64> = (0..40).filter(|i| i % 5 == c).collect();
        assert_eq!(indexes(&l, &commitment(c)), expected);
    }
    assert!(l.get(&leaf(40)).unwrap().is_empty());
    assert!(l.get(&commitment(5)).unwrap().is_empty());
    // 20 seals; record counts halve from run to run, so at most log2(80) + 1 runs remain.
    assert!(l.runs() <= 7, "{} runs", l.runs());
    let on_disk = files(dir.path());
    assert_eq!(on_disk.len(), l.runs(), "{on_disk:?}");
    assert!(on_disk.iter().all(|f| f.ends_with(".run")));
    let mut end = 0;
    for name in &on_disk {
        let (from, to) = parse_run_name(name).unwrap();
        assert_eq!(from, end, "{on_disk:?}");
        end = to;
    }
    assert_eq!(end, 39);
    l.flush(40).unwrap();
    assert_eq!(l.covered(), 40);
    assert_eq!(indexes(&l, &leaf(39)), [39]);
}

/// Lookups with a memtable of 8 that got entries 0..n one per batch, a leaf each.
fn sealed_one_by_one(dir: &Path, n: u64) -> Lookups {
    let l = Lookups::open_with(dir, 8).unwrap();
    for i in 0..n {
        l.insert(leaf(i), index_value(i));
        l.seal(i + 1).unwrap();
    }
    l
}

#[test]
fn reopen_after_flush_answers_the_same_and_covers_the_log() {
    let dir = tempfile::tempdir().unwrap();
    {
        let l = sealed_one_by_one(dir.path(), 21);
        assert_eq!(l.covered(), 16);
        l.flush(21).unwrap();
        assert_eq!(l.covered(), 21);
        // Nothing pending: an empty run records that entries [21, 25) are covered.
        l.flush(25).unwrap();
        assert_eq!(l.covered(), 25);
        l.flush(25).unwrap();
        assert!(matches!(l.flush(24), Err(StoreError::IndexInconsistent(_))));
    }
    let l = Lookups::open_with(dir.path(), 8).unwrap();
    assert_eq!(l.covered(), 25);
    for i in 0..21 {
        assert_eq!(indexes(&l, &leaf(i)), [i]);
    }
    assert!(l.get(&leaf(21)).unwrap().is_empty());
}

#[test]
fn a_late_flush_is_a_no_op_or_keeps_what_came_after() {
    let dir = tempfile::tempdir().unwrap();
    {
        let l = sealed_one_by_one(dir.path(), 21);
        // A flush asked for at 10 but done after a seal covered 16: nothing to do.
        l.flush_at_least(10).unwrap();
        assert_eq!(l.covered(), 16);
        // One asked for at 18, done when entries up to 21 are inserted: the run says
        // 18 and holds 18..21 too; a replay from 18 inserts them again, answered once.
        l.flush_at_least(18).unwrap();
        assert_eq!(l.covered(), 18);
    }
    let l = Lookups::open_with(dir.path(), 8).unwrap();
    assert_eq!(l.covered(), 18);
    for i in 18..21 {
        l.insert(leaf(i), index_value(i));
    }
    l.flush(21).unwrap();
    for i in 0..21 {
        assert_eq!(indexes(&l, &leaf(i)), [i]);
    }
}

#[test]
fn reopen_without_flush_loses_only_the_memtable() {
    let dir = tempfile::tempdir().unwrap();
    {
        let l = sealed_one_by_one(dir.path(), 21);
        assert_eq!(l.covered(), 16);
    }
    let l = Lookups::open_with(dir.path(), 8).unwrap();
    assert_eq!(l.covered(), 16);
    for i in 0..16 {
        assert_eq!(indexes(&l, &leaf(i)), [i]);
    }
    for i in 16..21 {
        assert!(l.get(&leaf(i)).unwrap().is_empty());
    }
    // The caller re-inserts entries [covered, size), and sealing goes on from there.
    for i in 16..24 {
        l.insert(leaf(i), index_value(i));
    }
    l.seal(24).unwrap();
    assert_eq!(l.covered(), 24);
    assert_eq!(indexes(&l, &leaf(20)), [20]);
}

#[test]
fn a_crash_mid_merge_keeps_the_merged_run() {
    let dir = tempfile::tempdir().unwrap();
    write_run(dir.path(), 0, 3, 0..4);
    write_run(dir.path(), 3, 5, 4..7);
    let inputs: Vec<(PathBuf, Vec<u8>)> = files(dir.path())
        .into_iter()
        .map(|f| dir.path().join(f))
        .map(|p| {
            let bytes = fs::read(&p).unwrap();
            (p, bytes)
        })
        .collect();
    assert_eq!(inputs.len(), 2);
    {
        let l = Lookups::open(dir.path()).unwrap();
        l.wait_for_merges();
        assert_eq!(l.runs(), 1);
    }
    assert_eq!(files(dir.path()), [run_name(0, 5)]);
    // As if the crash came after the merged run's rename, before its inputs were deleted
    // (both, or only the first), with a half-written run beside them.
    for keep in [2, 1] {
        for (path, bytes) in &inputs[..keep] {
            fs::write(path, bytes).unwrap();
        }
        fs::write(dir.path().join(format!("{}.tmp", run_name(5, 9))), b"torn").unwrap();
        let l = Lookups::open(dir.path()).unwrap();
        assert_eq!((l.runs(), l.covered()), (1, 5));
        assert_eq!(files(dir.path()), [run_name(0, 5)]);
        for i in 0..7 {
            assert_eq!(indexes(&l, &leaf(i)), [i]);
        }
    }
}

#[test]
fn a_truncated_run_is_damage() {
    let dir = tempfile::tempdir().unwrap();
    three_runs(dir.path());
    let path = dir.path().join(run_name(10, 20));
    let len = fs::metadata(&path).unwrap().len();
    for cut in [len - 1, len - 32, 10, 0] {
        File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(cut)
            .unwrap();
        let reason = damage_of(dir.path());
        assert!(reason.contains(&run_name(10, 20)), "{reason}");
    }
    // Nothing was deleted.
    assert_eq!(files(dir.path()).len(), 3);
}

#[test]
fn a_flipped_byte_is_damage() {
    let dir = tempfile::tempdir().unwrap();
    three_runs(dir.path());
    let path = dir.path().join(run_name(0, 10));
    let clean = fs::read(&path).unwrap();
    // A record byte, the count, the range, the checksum.
    for at in [5, clean.len() - 30, clean.len() - 15, clean.len() - 1] {
        let mut bytes = clean.clone();
        bytes[at] ^= 0x40;
        fs::write(&path, &bytes).unwrap();
        let reason = damage_of(dir.path());
        assert!(reason.contains(&run_name(0, 10)), "{reason}");
    }
    fs::write(&path, &clean).unwrap();
    assert_eq!(Lookups::open(dir.path()).unwrap().covered(), 30);
}

#[test]
fn unsorted_records_are_damage_even_with_a_good_checksum() {
    let dir = tempfile::tempdir().unwrap();
    let mut records: Vec<Record> = (0..3).map(|n| record(&leaf(n), &index_value(n))).collect();
    records.sort();
    records.swap(0, 2);
    let mut crc = crc32fast::Hasher::new();
    let mut bytes = records.concat();
    crc.update(&bytes);
    bytes.extend(footer(3, 0, 1, crc));
    fs::write(dir.path().join(run_name(0, 1)), bytes).unwrap();
    let reason = damage_of(dir.path());
    assert!(reason.contains("out of order"), "{reason}");
}

#[test]
fn a_gap_or_overlap_in_coverage_is_damage() {
    let dir = tempfile::tempdir().unwrap();
    three_runs(dir.path());
    let middle = dir.path().join(run_name(10, 20));
    let bytes = fs::read(&middle).unwrap();
    fs::remove_file(&middle).unwrap();
    let reason = damage_of(dir.path());
    assert!(
        reason.contains("no run covers entries [10, 20)"),
        "{reason}"
    );
    fs::write(&middle, bytes).unwrap();

    write_run(dir.path(), 15, 25, [7]);
    let reason = damage_of(dir.path());
    assert!(reason.contains("overlaps"), "{reason}");
    fs::remove_file(dir.path().join(run_name(15, 25))).unwrap();

    // Coverage must start at entry 0.
    let other = tempfile::tempdir().unwrap();
    write_run(other.path(), 1, 2, [1]);
    let reason = damage_of(other.path());
    assert!(reason.contains("no run covers entries [0, 1)"), "{reason}");

    fs::write(dir.path().join("run-12-zz.run"), b"").unwrap();
    let reason = damage_of(dir.path());
    assert!(reason.contains("not a run file name"), "{reason}");
    fs::remove_file(dir.path().join("run-12-zz.run")).unwrap();
    assert_eq!(Lookups::open(dir.path()).unwrap().covered(), 30);
}

#[test]
fn keys_whose_records_span_blocks_are_read_whole() {
    let dir = tempfile::tempdir().unwrap();
    let l = Lookups::open_with(dir.path(), usize::MAX).unwrap();
    // Six keys of 1, 127, 128, 129, 300 and 5 values: runs of records that start
    // mid-block, end on a block edge, and cover whole blocks.
    let spans = [1u64, 127, 128, 129, 300, 5];
    for (key, &n) in spans.iter().enumerate() {
        for v in 0..n {
            l.insert(commitment(key as u64), index_value(v * 7));
        }
    }
    l.flush(1).unwrap();
    assert_eq!(l.runs(), 1);
    for (key, &n) in spans.iter().enumerate() {
        let expected: Vec<u64> = (0..n).map(|v| v * 7).collect();
        assert_eq!(indexes(&l, &commitment(key as u64)), expected);
    }
    assert!(l.get(&commitment(6)).unwrap().is_empty());
    assert!(l.get(&[0; 16]).unwrap().is_empty());
    assert!(l.get(&[0xff; 16]).unwrap().is_empty());
}

/// A record inserted before a lookup starts is found, whatever seals and merges do
/// meanwhile (memtable → frozen → run → merged run).
#[test]
fn readers_never_miss_a_record_while_runs_are_sealed_and_merged() {
    fn shared<T: Send + Sync>(_: &T) {}
    let dir = tempfile::tempdir().unwrap();
    let l = Lookups::open_with(dir.path(), 8).unwrap();
    shared(&l);
    let inserted = AtomicU64::new(0);
    std::thread::scope(|s| {
        for reader in 0..2u64 {
            let (l, inserted) = (&l, &inserted);
            s.spawn(move || {
                let mut rng = Prng(1000 + reader);
                loop {
                    let n = inserted.load(Ordering::Acquire);
                    if n > 0 {
                        let i = rng.below(n);
                        assert_eq!(indexes(l, &leaf(i)), [i]);
                    }
                    if n == 2000 {
                        return;
                    }
                }
            });
        }
        for i in 0..2000 {
            l.insert(leaf(i), index_value(i));
            inserted.store(i + 1, Ordering::Release);
            l.seal(i + 1).unwrap();
        }
    });
    l.wait_for_merges();
    assert_eq!(l.covered(), 2000);
    assert!(l.runs() <= 9, "{} runs", l.runs());
}

/// The side-by-side measurement of `bench/engines` on these runs: ENTRIES entries (env
/// `LOOKUP_BENCH_ENTRIES`, default 1,000,000) of ten random fingerprints each, two entries
/// per batch, a seal after each batch and a flush once a second on another thread (as
/// the index's syncer does); then 1,000,000 lookups of a present and an absent key. Run:
/// `cargo test --release --lib store::lookup::tests::engine_pattern -- --ignored --nocapture`
#[test]
#[ignore = "a measurement: minutes, and prints numbers"]
fn engine_pattern() {
    fn rss_mib() -> f64 {
        let s = fs::read_to_string("/proc/self/status").unwrap();
        let kb: f64 = s
            .lines()
            .find(|l| l.starts_with("VmRSS"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap();
        kb / 1024.0
    }
    let n: u64 = std::env::var("LOOKUP_BENCH_ENTRIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let rate: u64 = std::env::var("LOOKUP_BENCH_RATE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    // The engines bench's keys: splitmix64, cheaper than SHA-256, so only the store is timed.
    fn mix(mut z: u64) -> u64 {
        z = z.wrapping_add(0x9e3779b97f4a7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58476d1ce4e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d049bb133111eb);
        z ^ (z >> 31)
    }
    let key = |entry: u64, k: u64| {
        let mut f = [0; 16];
        f[..8].copy_from_slice(&mix(entry * 64 + k).to_be_bytes());
        f[8..].copy_from_slice(&mix(!(entry * 64 + k)).to_be_bytes());
        f
    };
    let dir = tempfile::tempdir().unwrap();
    let l = Arc::new(Lookups::open(dir.path()).unwrap());
    let done = Arc::new(AtomicBool::new(false));
    let size = Arc::new(AtomicU64::new(0));
    let syncer = {
        let (l, done, size) = (l.clone(), done.clone(), size.clone());
        std::thread::spawn(move || {
            let mut worst = std::time::Duration::ZERO;
            while !done.load(Ordering::Relaxed) {
                std::thread::sleep(std::time::Duration::from_secs(1));
                let t = std::time::Instant::now();
                l.flush_at_least(size.load(Ordering::Acquire)).unwrap();
                worst = worst.max(t.elapsed());
            }
            worst
        })
    };
    let start = std::time::Instant::now();
    let mut worst_apply = std::time::Duration::ZERO;
    let mut marks = Vec::new();
    let mut entry = 0;
    while entry < n {
        if rate > 0 {
            let due = start + std::time::Duration::from_secs_f64(entry as f64 / rate as f64);
            if let Some(wait) = due.checked_duration_since(std::time::Instant::now()) {
                std::thread::sleep(wait);
            }
        }
        let t = std::time::Instant::now();
        for i in entry..(entry + 2).min(n) {
            for k in 0..10 {
                l.insert(key(i, k), index_value(i));
            }
        }
        entry += 2;
        l.seal(entry.min(n)).unwrap();
        size.store(entry.min(n), Ordering::Release);
        worst_apply = worst_apply.max(t.elapsed());
        if entry % (n / 4) == 0 {
            marks.push(format!("{}k:{:.1}", entry / 1000, rss_mib()));
        }
    }
    let fill = start.elapsed();
    done.store(true, Ordering::Relaxed);
    let worst_flush = syncer.join().unwrap();
    let t = std::time::Instant::now();
    let mut found = 0;
    for i in 0..1_000_000u64 {
        let e = mix(i) % n;
        found += l.get(&key(e, 0)).unwrap().len();
        found += l.get(&key(n + e, 0)).unwrap().len();
    }
    let look = t.elapsed();
    assert_eq!(found, 1_000_000);
    println!(
        "lookup.rs: {n} entries in {:.1} s = {:.0} entries/s; worst batch {} us; worst flush {} ms; RSS MiB {}; {:.0} hit+miss lookups/s; {} runs",
        fill.as_secs_f64(),
        n as f64 / fill.as_secs_f64(),
        worst_apply.as_micros(),
        worst_flush.as_millis(),
        marks.join(" "),
        1_000_000.0 / look.as_secs_f64(),
        l.runs()
    );
}

/// Thousands of random records against a BTreeMap, with a tiny memtable (many runs and
/// merges) and reopenings with and without a flush (the caller re-inserting what the
/// lost memtable held, as the store will).
#[test]
fn agrees_with_a_model_over_thousands_of_random_records() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Prng(0);
    let mut model: BTreeMap<Fingerprint, BTreeSet<Value>> = BTreeMap::new();
    // Each entry's records, to re-insert after a crash.
    let mut entries: Vec<Vec<(Fingerprint, Value)>> = Vec::new();
    let mut l = Lookups::open_with(dir.path(), 16).unwrap();
    let check = |l: &Lookups, model: &BTreeMap<Fingerprint, BTreeSet<Value>>| {
        for (fp, values) in model {
            let got = l.get(fp).unwrap();
            assert_eq!(got, values.iter().copied().collect::<Vec<_>>());
        }
        for n in 0..50 {
            assert!(
                l.get(&fingerprint(LookupKind::Claim, &[n]))
                    .unwrap()
                    .is_empty()
            );
        }
    };
    for entry in 0..3000u64 {
        let mut records = Vec::new();
        for _ in 0..1 + rng.below(3) {
            // 500 keys, so most hold several values; few values, so some repeat.
            let fp = fingerprint(LookupKind::StixId, &rng.below(500).to_be_bytes());
            let value = index_value(rng.below(2000));
            records.push((fp, value));
        }
        for &(fp, value) in &records {
            l.insert(fp, value);
            model.entry(fp).or_default().insert(value);
        }
        entries.push(records);
        let size = entry + 1;
        l.seal(size).unwrap();
        if size % 1000 == 0 {
            check(&l, &model);
        }
        if size % 700 == 0 {
            let flush = size % 1400 == 0;
            if flush {
                l.flush(size).unwrap();
            }
            drop(l);
            l = Lookups::open_with(dir.path(), 16).unwrap();
            if flush {
                assert_eq!(l.covered(), size);
            }
            for records in &entries[l.covered() as usize..] {
                for &(fp, value) in records {
                    l.insert(fp, value);
                }
            }
        }
    }
    l.wait_for_merges();
    check(&l, &model);
    let records: usize = model.values().map(BTreeSet::len).sum();
    let bound = (records / 16).ilog2() as usize + 2;
    assert!(l.runs() <= bound, "{} runs for {records} records", l.runs());
    assert!(l.sparse_index_bytes() <= records.div_ceil(128) * 16 + 16 * l.runs());
}
