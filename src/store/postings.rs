//! Posting lists: for each party and entry kind, the indexes of the entries of that kind
//! involving that party, ascending; and for each kind, the indexes of all its entries. A
//! listing filtered by party or kind reads its lists from the first index asked for on, so a
//! rare party in a long log costs a few reads, not a scan of `entries.col`.
//!
//! Files, under the index directory's `postings/`, one per list:
//!
//! | file | record `i` | bytes |
//! | --- | --- | --- |
//! | `<party>-<kind>.col` | the `i`-th entry of kind `kind` (decimal) involving the party whose fingerprint is `<party>` (32 hex digits; `any` for every party): index u64 BE `\|\|` check (4) | 12 |
//!
//! The check is CRC-32 (IEEE) of the list's key (party fingerprint, zeros for `any`, then
//! kind i32 BE) and the index, u32 BE: a flipped bit, or a record in the wrong list, is damage.
//!
//! The lists are written with the entry column, by the same writer, and are durable up to
//! the column marker's size ([`super::columns::Columns::sync`] syncs them before moving it).
//! On open every list drops its tail of records past that size (or torn by a crash), and a
//! catch-up appends them again; appending an index a list already ends with is a no-op.
//! Lists are few (parties × kinds in use), so each stays open.

use std::collections::HashMap;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use super::column_records::{damaged, open_rw};
use super::columns::{EntryRecord, PartyFingerprint};
use super::{StoreError, io};

/// Bytes of one posting record.
const RECORD_LEN: u64 = 12;
/// Records read per pread when walking a list or its tail.
const CHUNK: u64 = 1024;
/// The party of the lists of every party's entries.
const ANY: PartyFingerprint = [0; 16];

/// Which list: a party's fingerprint ([`ANY`] for all) and an entry kind.
pub(crate) type ListKey = (PartyFingerprint, i32);

/// The lists an entry belongs in: its kind's, and its kind's of each party it involves (the
/// same party twice is listed once).
pub(crate) fn list_keys(r: &EntryRecord) -> Vec<ListKey> {
    let mut keys = vec![(ANY, r.kind)];
    for p in r.parties.iter().flatten() {
        if !keys.contains(&(*p, r.kind)) {
            keys.push((*p, r.kind));
        }
    }
    keys
}

/// One list's file and its record count (records past it are never read).
struct List {
    name: String,
    file: File,
    len: AtomicU64,
    /// Records read since open (binary-search probes included).
    reads: AtomicU64,
}

impl List {
    fn check(key: &ListKey, index: u64) -> [u8; 4] {
        let mut h = crc32fast::Hasher::new();
        h.update(&key.0);
        h.update(&key.1.to_be_bytes());
        h.update(&index.to_be_bytes());
        h.finalize().to_be_bytes()
    }

    fn encode(key: &ListKey, index: u64) -> [u8; RECORD_LEN as usize] {
        let mut b = [0u8; RECORD_LEN as usize];
        b[..8].copy_from_slice(&index.to_be_bytes());
        b[8..].copy_from_slice(&Self::check(key, index));
        b
    }

    /// The index a record holds, None when its check fails.
    fn decode(key: &ListKey, b: &[u8]) -> Option<u64> {
        let index = u64::from_be_bytes(b.get(..8)?.try_into().ok()?);
        (b.get(8..12)? == Self::check(key, index)).then_some(index)
    }

    /// Records `[first, first + n)`, decoded and checked.
    fn read(&self, key: &ListKey, first: u64, n: u64) -> Result<Vec<u64>, StoreError> {
        let bytes = n
            .checked_mul(RECORD_LEN)
            .ok_or_else(|| damaged(format!("{}: {n} records are too many", self.name)))?;
        let at = first
            .checked_mul(RECORD_LEN)
            .ok_or_else(|| damaged(format!("{}: record {first} lies past any file", self.name)))?;
        let mut buf = vec![0u8; bytes as usize];
        self.reads.fetch_add(n, Ordering::Relaxed);
        self.file
            .read_exact_at(&mut buf, at)
            .map_err(|e| damaged(format!("{} lacks records {first}..: {e}", self.name)))?;
        buf.chunks_exact(RECORD_LEN as usize)
            .zip(first..)
            .map(|(b, i)| {
                Self::decode(key, b)
                    .ok_or_else(|| damaged(format!("{} record {i} fails its check", self.name)))
            })
            .collect()
    }

    /// How many records hold indexes below `index` (binary search: they ascend).
    fn position(&self, key: &ListKey, index: u64) -> Result<u64, StoreError> {
        let (mut lo, mut hi) = (0, self.len.load(Ordering::Acquire));
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.read(key, mid, 1)?[0] < index {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        Ok(lo)
    }

    /// Cuts the list to `len` records.
    fn cut(&self, len: u64) -> Result<(), StoreError> {
        self.file
            .set_len(len * RECORD_LEN)
            .map_err(io(format!("truncating {}", self.name)))?;
        self.len.store(len, Ordering::Release);
        Ok(())
    }
}

/// The posting lists of one index directory: one writer, any number of readers.
pub(crate) struct Postings {
    dir: PathBuf,
    lists: RwLock<HashMap<ListKey, Arc<List>>>,
}

fn file_name(key: &ListKey) -> String {
    match key.0 {
        ANY => format!("any-{}.col", key.1),
        p => format!("{}-{}.col", hex::encode(p), key.1),
    }
}

/// The key of a list file's name, None when the name is not a list's.
fn parse_name(name: &str) -> Option<ListKey> {
    let (party, kind) = name.strip_suffix(".col")?.split_once('-')?;
    let kind: i32 = kind.parse().ok()?;
    if party == "any" {
        return Some((ANY, kind));
    }
    let mut p = [0u8; 16];
    hex::decode_to_slice(party, &mut p).ok()?;
    (p != ANY).then_some((p, kind))
}

impl Postings {
    /// Opens (creating) `dir/postings`, dropping from each list the records of entries at or
    /// past `durable` and any torn tail; a file whose name is not a list's is damage.
    pub fn open(dir: &Path, durable: u64) -> Result<Self, StoreError> {
        let dir = dir.join("postings");
        std::fs::create_dir_all(&dir).map_err(io(format!("creating {}", dir.display())))?;
        let mut lists = HashMap::new();
        for item in std::fs::read_dir(&dir).map_err(io(format!("listing {}", dir.display())))? {
            let item = item.map_err(io(format!("listing {}", dir.display())))?;
            let name = item.file_name().to_string_lossy().into_owned();
            let key = parse_name(&name)
                .ok_or_else(|| damaged(format!("postings/{name} is not a posting list")))?;
            let list = Self::open_list(&dir, &key)?;
            Self::drop_tail(&key, &list, durable)?;
            lists.insert(key, Arc::new(list));
        }
        Ok(Self {
            dir,
            lists: RwLock::new(lists),
        })
    }

    fn open_list(dir: &Path, key: &ListKey) -> Result<List, StoreError> {
        let name = file_name(key);
        let path = dir.join(&name);
        let file = open_rw(&path)?;
        let bytes = file
            .metadata()
            .map_err(io(format!("reading the length of {}", path.display())))?
            .len();
        Ok(List {
            name: format!("postings/{name}"),
            file,
            len: AtomicU64::new(bytes / RECORD_LEN),
            reads: AtomicU64::new(0),
        })
    }

    /// Drops the list's last records while they fail their check or are not below `durable`
    /// (written after the last sync, or torn by a crash), reading back a chunk at a time.
    fn drop_tail(key: &ListKey, list: &List, durable: u64) -> Result<(), StoreError> {
        let mut keep = list.len.load(Ordering::Acquire);
        'chunks: while keep > 0 {
            let n = keep.min(CHUNK);
            let mut buf = vec![0u8; (n * RECORD_LEN) as usize];
            list.file
                .read_exact_at(&mut buf, (keep - n) * RECORD_LEN)
                .map_err(io(format!("reading {}", list.name)))?;
            for b in buf.chunks_exact(RECORD_LEN as usize).rev() {
                if List::decode(key, b).is_some_and(|i| i < durable) {
                    break 'chunks;
                }
                keep -= 1;
            }
        }
        list.cut(keep)
    }

    fn list(&self, key: &ListKey) -> Option<Arc<List>> {
        self.lists
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(key)
            .cloned()
    }

    /// The list of `key`, created on first use.
    fn list_or_create(&self, key: &ListKey) -> Result<Arc<List>, StoreError> {
        if let Some(list) = self.list(key) {
            return Ok(list);
        }
        let mut lists = self.lists.write().unwrap_or_else(|e| e.into_inner());
        if let Some(list) = lists.get(key) {
            return Ok(list.clone());
        }
        let list = Arc::new(Self::open_list(&self.dir, key)?);
        lists.insert(*key, list.clone());
        Ok(list)
    }

    fn all(&self) -> Vec<(ListKey, Arc<List>)> {
        self.lists
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|(k, l)| (*k, l.clone()))
            .collect()
    }

    /// Appends the entries `first..` of `records` to their lists (each entry to its kind's
    /// list and to its parties' lists of that kind); an index a list already holds is skipped.
    pub fn append(&self, first: u64, records: &[EntryRecord]) -> Result<(), StoreError> {
        let mut by_list: HashMap<ListKey, Vec<u64>> = HashMap::new();
        for (index, r) in (first..).zip(records) {
            for key in list_keys(r) {
                by_list.entry(key).or_default().push(index);
            }
        }
        for (key, indexes) in by_list {
            let list = self.list_or_create(&key)?;
            let len = list.len.load(Ordering::Acquire);
            let last = match len {
                0 => None,
                n => Some(list.read(&key, n - 1, 1)?[0]),
            };
            let mut buf = Vec::with_capacity(indexes.len() * RECORD_LEN as usize);
            let mut added = 0;
            for i in indexes.into_iter().filter(|i| last.is_none_or(|l| *i > l)) {
                buf.extend_from_slice(&List::encode(&key, i));
                added += 1;
            }
            if added > 0 {
                list.file
                    .write_all_at(&buf, len * RECORD_LEN)
                    .map_err(io(format!("writing {}", list.name)))?;
                list.len.store(len + added, Ordering::Release);
            }
        }
        Ok(())
    }

    /// Indexes in `[from, to)`, ascending, of entries involving `party` (None: any) of one
    /// of `kinds` (empty: any kind), at most `limit` of them. Reads at most `limit` records
    /// from each list it merges, after a binary search for `from` in each.
    pub fn find(
        &self,
        party: Option<&PartyFingerprint>,
        kinds: &[i32],
        from: u64,
        to: u64,
        limit: usize,
    ) -> Result<Vec<u64>, StoreError> {
        let party = party.copied().unwrap_or(ANY);
        let lists: Vec<(ListKey, Arc<List>)> = match kinds {
            [] => self
                .all()
                .into_iter()
                .filter(|(k, _)| k.0 == party)
                .collect(),
            kinds => kinds
                .iter()
                .filter_map(|k| {
                    let key = (party, *k);
                    self.list(&key).map(|l| (key, l))
                })
                .collect(),
        };
        let mut out = Vec::new();
        for (key, list) in lists {
            let start = list.position(&key, from)?;
            let n = (list.len.load(Ordering::Acquire) - start).min(limit as u64);
            let found = list.read(&key, start, n)?;
            out.extend(found.into_iter().take_while(|i| *i < to));
        }
        out.sort_unstable();
        out.dedup();
        out.truncate(limit);
        Ok(out)
    }

    /// Checks every record of every list (its check, ascending order, below `size`) and
    /// that each list holds as many records as `expected` says (from `entries.col`, by
    /// [`list_keys`]): a list cut short or missing is damage too.
    pub fn verify(&self, size: u64, expected: &HashMap<ListKey, u64>) -> Result<(), StoreError> {
        let all = self.all();
        for (key, want) in expected {
            let have = all
                .iter()
                .find(|(k, _)| k == key)
                .map_or(0, |(_, l)| l.len.load(Ordering::Acquire));
            if have != *want {
                return Err(damaged(format!(
                    "{} holds {have} records where entries.col has {want}",
                    file_name(key)
                )));
            }
        }
        for (key, list) in all {
            let len = list.len.load(Ordering::Acquire);
            if len > 0 && !expected.contains_key(&key) {
                return Err(damaged(format!("{} lists entries no entry has", list.name)));
            }
            let mut prev = None;
            let mut at = 0;
            while at < len {
                let n = (len - at).min(CHUNK);
                for (i, index) in (at..).zip(list.read(&key, at, n)?) {
                    if prev.is_some_and(|p| p >= index) || index >= size {
                        return Err(damaged(format!(
                            "{} record {i} holds entry {index}, after {prev:?} (log size {size})",
                            list.name
                        )));
                    }
                    prev = Some(index);
                }
                at += n;
            }
        }
        Ok(())
    }

    /// Makes every list's records durable, and the directory (lists are created on use).
    pub fn sync(&self) -> Result<(), StoreError> {
        for (_, list) in self.all() {
            list.file
                .sync_data()
                .map_err(io(format!("syncing {}", list.name)))?;
        }
        File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(io(format!("syncing {}", self.dir.display())))
    }

    /// Drops the records of entries at or past `size`.
    pub fn truncate(&self, size: u64) -> Result<(), StoreError> {
        for (key, list) in self.all() {
            list.cut(list.position(&key, size)?)?;
        }
        Ok(())
    }

    /// Posting records read since the lists were opened (by every call: a listing's cost).
    pub fn reads(&self) -> u64 {
        self.all()
            .iter()
            .map(|(_, l)| l.reads.load(Ordering::Relaxed))
            .sum()
    }
}
