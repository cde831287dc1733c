use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use super::*;

/// Deterministic pseudo-random u64s: SHA-256 of a counter.
struct Prng(u64);

impl Prng {
    fn next(&mut self) -> u64 {
        self.0 += 1;
        let digest = Sha256::digest(self.0.to_be_bytes());
        u64::from_be_bytes(digest[..8].try_into().unwrap())
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

fn open(dir: &Path) -> Lookups {
    Lookups::new(Arc::new(Kv::open(dir).unwrap()))
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
fn records_and_the_covered_mark_round_trip_through_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let l = open(dir.path());
        assert_eq!(l.covered().unwrap(), 0);
        for i in 0..40u64 {
            // Commitments 0..5 each map to every fifth entry.
            let mut records = vec![
                (leaf(i), index_value(i)),
                (commitment(i % 5), index_value(i)),
            ];
            if i == 20 {
                // Already stored: still answered once.
                records.push((leaf(3), index_value(3)));
                records.push((commitment(1), index_value(1)));
            }
            l.write(records, i + 1).unwrap();
            assert_eq!(indexes(&l, &leaf(i)), [i]);
            assert_eq!(l.covered().unwrap(), i + 1);
        }
        // A mark of its own, never a record: no fingerprint's scan meets it.
        assert_eq!(l.verify().unwrap(), 40 * 2);
        l.kv.persist().unwrap();
    }
    let l = open(dir.path());
    assert_eq!(l.covered().unwrap(), 40);
    for i in 0..40 {
        assert_eq!(indexes(&l, &leaf(i)), [i]);
    }
    for c in 0..5 {
        let expected: Vec<u64> = (0..40).filter(|i| i % 5 == c).collect();
        assert_eq!(indexes(&l, &commitment(c)), expected);
    }
    assert!(l.get(&leaf(40)).unwrap().is_empty());
    assert!(l.get(&commitment(5)).unwrap().is_empty());
    assert_eq!(l.verify().unwrap(), 80);
}

#[test]
fn a_key_of_the_wrong_shape_is_damage() {
    let dir = tempfile::tempdir().unwrap();
    let l = open(dir.path());
    l.write([(leaf(1), index_value(1))], 1).unwrap();
    // A record cut short under leaf(2)'s fingerprint: found by the lookup and by verify.
    let empty: &[u8] = &[];
    l.kv.lookups.insert(&leaf(2)[..], empty).unwrap();
    assert!(matches!(
        l.get(&leaf(2)),
        Err(StoreError::IndexInconsistent(_))
    ));
    assert!(matches!(l.verify(), Err(StoreError::IndexInconsistent(_))));
    assert_eq!(indexes(&l, &leaf(1)), [1]);
}

/// Thousands of random records against a BTreeMap, across memtable flushes (fjall writes
/// tables and compacts them) and reopenings, the caller writing again what lies past the
/// recovered mark, as the store does.
#[test]
fn agrees_with_a_model_over_thousands_of_random_records() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Prng(0);
    let mut model: BTreeMap<Fingerprint, BTreeSet<Value>> = BTreeMap::new();
    let mut l = open(dir.path());
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
            model.entry(fp).or_default().insert(value);
        }
        let size = entry + 1;
        l.write(records, size).unwrap();
        if size % 1000 == 0 {
            check(&l, &model);
        }
        if size % 700 == 0 {
            l.kv.lookups.rotate_memtable_and_wait().unwrap();
            drop(l);
            l = open(dir.path());
            assert_eq!(l.covered().unwrap(), size);
        }
    }
    check(&l, &model);
    let records: u64 = model.values().map(|v| v.len() as u64).sum();
    assert_eq!(l.verify().unwrap(), records);
}

/// The measurement of `bench/engines` on the store's own lookups: ENTRIES entries (env
/// `LOOKUP_BENCH_ENTRIES`, default 1,000,000) of ten random fingerprints each, two entries
/// per write batch with the covered mark, the journal made durable once a second on another
/// thread (as the index's syncer does); then LOOKUP_BENCH_LOOKUPS (default 1,000,000) lookups
/// of a present and an absent key.
/// Run: `cargo test --release --lib store::lookup::tests::engine_pattern -- --ignored --nocapture`
#[test]
#[ignore = "a measurement: minutes, and prints numbers"]
fn engine_pattern() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::{Duration, Instant};
    fn rss_mib() -> f64 {
        let s = std::fs::read_to_string("/proc/self/status").unwrap();
        let kb: f64 = s
            .lines()
            .find(|l| l.starts_with("VmRSS"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap();
        kb / 1024.0
    }
    let env = |name: &str, default: u64| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let n = env("LOOKUP_BENCH_ENTRIES", 1_000_000);
    let rate = env("LOOKUP_BENCH_RATE", 0);
    let lookups = env("LOOKUP_BENCH_LOOKUPS", 1_000_000);
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
    let dir =
        tempfile::tempdir_in(std::env::var("LOOKUP_BENCH_DIR").unwrap_or("/tmp".into())).unwrap();
    let base = rss_mib();
    let kv = Arc::new(Kv::open(dir.path()).unwrap());
    let l = Lookups::new(kv.clone());
    let done = Arc::new(AtomicBool::new(false));
    let syncer = {
        let (kv, done) = (kv.clone(), done.clone());
        std::thread::spawn(move || {
            let mut worst = Duration::ZERO;
            while !done.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_secs(1));
                let t = Instant::now();
                kv.persist().unwrap();
                worst = worst.max(t.elapsed());
            }
            worst
        })
    };
    let start = Instant::now();
    let mut lat = Vec::with_capacity(n as usize / 2);
    let mut marks = Vec::new();
    let mut entry = 0;
    while entry < n {
        if rate > 0 {
            let due = start + Duration::from_secs_f64(entry as f64 / rate as f64);
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
        }
        let t = Instant::now();
        let end = (entry + 2).min(n);
        let records = (entry..end).flat_map(|i| (0..10).map(move |k| (key(i, k), index_value(i))));
        l.write(records, end).unwrap();
        lat.push(t.elapsed());
        entry = end;
        if entry % (n / 10).max(1) == 0 {
            marks.push(format!("{}k:{:.1}", entry / 1000, rss_mib()));
        }
    }
    let fill = start.elapsed();
    done.store(true, Ordering::Relaxed);
    let worst_persist = syncer.join().unwrap();
    lat.sort();
    let q = |f: f64| lat[((lat.len() - 1) as f64 * f) as usize].as_micros();
    let t = Instant::now();
    let mut found = 0;
    for i in 0..lookups {
        let e = mix(i) % n;
        found += l.get(&key(e, 0)).unwrap().len() as u64;
        found += l.get(&key(n + e, 0)).unwrap().len() as u64;
    }
    let look = t.elapsed();
    assert_eq!(found, lookups);
    let t = Instant::now();
    let records = l.verify().unwrap();
    let verify = t.elapsed();
    println!(
        "fjall lookups: {n} entries in {:.1} s = {:.0} entries/s; batch p50 {} us p99 {} us p99.9 {} us max {} us; worst persist {} ms; RSS MiB base {base:.1} {}; {:.0} hit+miss lookups/s; verify {records} records {:.1} s; tables {}",
        fill.as_secs_f64(),
        n as f64 / fill.as_secs_f64(),
        q(0.5),
        q(0.99),
        q(0.999),
        q(1.0),
        worst_persist.as_millis(),
        marks.join(" "),
        lookups as f64 / look.as_secs_f64(),
        verify.as_secs_f64(),
        kv.lookups.table_count(),
    );
}
