//! Side-by-side: the index's key pattern (16-byte fingerprint || 16-byte value, empty value,
//! ~10 keys per entry, small batches) on sled 0.34, fjall 3 and redb 4. One engine per run.
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const KEYS_PER_ENTRY: u64 = 10;
const BATCH: u64 = 2;
const CACHE: u64 = 8 << 20;

fn rss_mib() -> f64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    let kb: f64 = s
        .lines()
        .find(|l| l.starts_with("VmRSS"))
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    kb / 1024.0
}

fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e3779b97f4a7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d049bb133111eb);
    z ^ (z >> 31)
}

fn fp(entry: u64, k: u64) -> [u8; 16] {
    let mut f = [0; 16];
    f[..8].copy_from_slice(&mix(entry * 64 + k).to_be_bytes());
    f[8..].copy_from_slice(&mix(!(entry * 64 + k)).to_be_bytes());
    f
}

fn key(entry: u64, k: u64) -> [u8; 32] {
    let mut r = [0; 32];
    r[..16].copy_from_slice(&fp(entry, k));
    r[16..24].copy_from_slice(&entry.to_be_bytes());
    r
}

trait Engine: Send + Sync {
    fn apply(&self, keys: &[[u8; 32]]);
    fn persist(&self);
    fn get(&self, fp: &[u8; 16]) -> usize;
}

struct Sled(sled::Db);
impl Engine for Sled {
    fn apply(&self, keys: &[[u8; 32]]) {
        let mut b = sled::Batch::default();
        for k in keys {
            b.insert(&k[..], &[][..]);
        }
        self.0.apply_batch(b).unwrap();
    }
    fn persist(&self) {
        self.0.flush().unwrap();
    }
    fn get(&self, fp: &[u8; 16]) -> usize {
        self.0.scan_prefix(fp).count()
    }
}

struct Fjall(fjall::Database, fjall::Keyspace);
impl Engine for Fjall {
    fn apply(&self, keys: &[[u8; 32]]) {
        let mut b = self.0.batch();
        for k in keys {
            b.insert(&self.1, k.to_vec(), Vec::<u8>::new());
        }
        b.commit().unwrap();
    }
    fn persist(&self) {
        self.0.persist(fjall::PersistMode::SyncData).unwrap();
    }
    fn get(&self, fp: &[u8; 16]) -> usize {
        self.1.prefix(fp).count()
    }
}

const T: redb::TableDefinition<&[u8], ()> = redb::TableDefinition::new("lookups");
struct Redb(redb::Database);
impl Engine for Redb {
    fn apply(&self, keys: &[[u8; 32]]) {
        let mut tx = self.0.begin_write().unwrap();
        tx.set_durability(redb::Durability::None).unwrap();
        {
            let mut t = tx.open_table(T).unwrap();
            for k in keys {
                t.insert(&k[..], ()).unwrap();
            }
        }
        tx.commit().unwrap();
    }
    fn persist(&self) {
        let mut tx = self.0.begin_write().unwrap();
        tx.set_durability(redb::Durability::Immediate).unwrap();
        tx.commit().unwrap();
    }
    fn get(&self, fp: &[u8; 16]) -> usize {
        use redb::ReadableDatabase;
        let tx = self.0.begin_read().unwrap();
        let t = tx.open_table(T).unwrap();
        let mut hi = [0xffu8; 32];
        hi[..16].copy_from_slice(fp);
        let mut lo = [0u8; 32];
        lo[..16].copy_from_slice(fp);
        t.range(&lo[..]..=&hi[..]).unwrap().count()
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let which = args[1].as_str();
    let n: u64 = args[2].parse().unwrap();
    let dir = tempfile::tempdir_in(args.get(3).map(String::as_str).unwrap_or("/tmp")).unwrap();
    let base = rss_mib();
    let e: Arc<dyn Engine> = match which {
        "sled" => Arc::new(Sled(
            sled::Config::new()
                .path(dir.path())
                .cache_capacity(CACHE)
                .open()
                .unwrap(),
        )),
        "fjall" => {
            let db = fjall::Database::builder(dir.path())
                .cache_size(CACHE)
                .manual_journal_persist(true)
                .open()
                .unwrap();
            let ks = db
                .keyspace("lookups", || {
                    fjall::KeyspaceCreateOptions::default().max_memtable_size(4 << 20)
                })
                .unwrap();
            Arc::new(Fjall(db, ks))
        }
        "redb" => {
            let mut b = redb::Database::builder();
            b.set_cache_size(CACHE as usize);
            let db = b.create(dir.path().join("index.redb")).unwrap();
            {
                let tx = db.begin_write().unwrap();
                tx.open_table(T).unwrap();
                tx.commit().unwrap();
            }
            Arc::new(Redb(db))
        }
        _ => panic!("sled|fjall|redb"),
    };
    // Made durable once a second on a thread of its own, as the index's syncer does.
    let stop = Arc::new(AtomicBool::new(false));
    let syncer = {
        let (e, stop) = (e.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut worst = Duration::ZERO;
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_secs(1));
                let t = Instant::now();
                e.persist();
                worst = worst.max(t.elapsed());
            }
            worst
        })
    };
    // Optional pace (entries/s), as a soak runs: 0 is as fast as it goes.
    let rate: u64 = args.get(4).map_or(0, |r| r.parse().unwrap());
    let start = Instant::now();
    let mut lat = hdrhistogram::Histogram::<u64>::new(3).unwrap();
    let mut keys = Vec::new();
    let mut entry = 0;
    let mut marks = Vec::new();
    while entry < n {
        keys.clear();
        for i in entry..(entry + BATCH).min(n) {
            for k in 0..KEYS_PER_ENTRY {
                keys.push(key(i, k));
            }
        }
        if rate > 0 {
            let due = start + Duration::from_secs_f64(entry as f64 / rate as f64);
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
        }
        let t = Instant::now();
        e.apply(&keys);
        lat.record(t.elapsed().as_micros() as u64).unwrap();
        entry += BATCH;
        if entry % (n / 4) == 0 {
            marks.push(format!("{}k:{:.1}", entry / 1000, rss_mib()));
        }
    }
    let fill = start.elapsed();
    stop.store(true, Ordering::Relaxed);
    let worst_sync = syncer.join().unwrap();
    // 1M lookups of random existing entries' leaf fingerprints (and a miss each).
    let t = Instant::now();
    let lookups = 1_000_000u64;
    let mut found = 0;
    for i in 0..lookups {
        let entry = mix(i) % n;
        found += e.get(&fp(entry, 0));
        found += e.get(&fp(n + entry, 0));
    }
    let look = t.elapsed();
    assert_eq!(found as u64, lookups);
    let du = std::process::Command::new("du")
        .arg("-sm")
        .arg(dir.path())
        .output()
        .unwrap();
    println!(
        "{which}: {n} entries ({} keys) in {:.1} s = {:.0} entries/s; batch apply p50 {} us p99 {} us max {} us; worst persist {} ms; RSS MiB base {base:.1} {}; {} hit+miss lookups/s; on disk {} MiB",
        n * KEYS_PER_ENTRY,
        fill.as_secs_f64(),
        n as f64 / fill.as_secs_f64(),
        lat.value_at_quantile(0.5),
        lat.value_at_quantile(0.99),
        lat.max(),
        worst_sync.as_millis(),
        marks.join(" "),
        (lookups as f64 / look.as_secs_f64()) as u64,
        String::from_utf8_lossy(&du.stdout)
            .split_whitespace()
            .next()
            .unwrap_or("?")
    );
}
