//! The PostgreSQL backend with real processes on throwaway clusters (tests/common/pg.rs): two
//! writers started at once, the writer SIGKILLed under load and a reader taking over,
//! PostgreSQL restarted under load, the primary killed and its synchronous standby promoted,
//! and a fenced old writer. After each, every receipt any client got is in the log and
//! `borderlog verify` passes.
//!
//! Without PostgreSQL's binaries each test prints a SKIPPED line and passes.

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use borderlog::client::{self, verify_receipt};
use borderlog::format::hash::ZERO_HASH;
use borderlog::format::tree::TreeSize;
use borderlog::pb;
use borderlog::store::postgres::PgStore;
use borderlog::store::{LogStore, StoreError};
use common::pg::Cluster;
use common::*;
use tokio::sync::Mutex;

/// A `borderlog serve --store postgres://...` child process.
struct Serve {
    child: Child,
    addr: String,
}

impl Serve {
    /// Starts one; does not wait for it.
    fn spawn(keys: &Path, data: &Path, url: &str) -> Serve {
        let addr = format!("127.0.0.1:{}", common::pg::free_port());
        let child = Command::new(env!("CARGO_BIN_EXE_borderlog"))
            .args(["serve", "--keys"])
            .arg(keys)
            .arg("--data")
            .arg(data)
            .args(["--store", url, "--addr", &addr, "--metrics-addr", "off"])
            .args(["--taxii-listen", "off"])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start borderlog serve");
        Serve { child, addr }
    }

    /// Waits until it answers reads.
    async fn ready(self, keys: &Path) -> Serve {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(mut api) = client::connect(&self.addr, keys, AUDITOR).await
                && api
                    .get_checkpoint(pb::GetCheckpointRequest { tree_size: 0 })
                    .await
                    .is_ok()
            {
                return self;
            }
            assert!(Instant::now() < deadline, "server did not come up");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn start(keys: &Path, data: &Path, url: &str) -> Serve {
        Serve::spawn(keys, data, url).ready(keys).await
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Receipts the load's clients got.
type Receipts = Arc<Mutex<Vec<pb::LogReceipt>>>;

/// `clients` clients submitting in a loop to whichever of `addrs` answers, until `stop`;
/// refusals (UNAVAILABLE while the writer is gone or the database is down) are retried
/// elsewhere after a short pause. Returns the tasks and counts refusals in `refused`.
fn load(
    keys: &Path,
    addrs: Vec<String>,
    clients: u64,
    receipts: Receipts,
    stop: Arc<std::sync::atomic::AtomicBool>,
) -> Vec<tokio::task::JoinHandle<u64>> {
    (0..clients)
        .map(|c| {
            let (keys, addrs, receipts, stop) = (
                keys.to_owned(),
                addrs.clone(),
                receipts.clone(),
                stop.clone(),
            );
            tokio::spawn(async move {
                let mut refused = 0;
                let mut n = 0u64;
                let mut at = c as usize;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let addr = &addrs[at % addrs.len()];
                    let Ok(mut api) = client::connect(addr, &keys, SENDER).await else {
                        at += 1;
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    };
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        n += 1;
                        match api.submit(submission(&keys, c * 1_000_000 + n)).await {
                            Ok(r) => receipts.lock().await.push(r.into_inner()),
                            // Not acknowledged: the server died mid-call, or refused
                            // (UNAVAILABLE) while there was no writer or no database.
                            Err(_) => {
                                refused += 1;
                                at += 1;
                                tokio::time::sleep(Duration::from_millis(50)).await;
                                break;
                            }
                        }
                    }
                }
                refused
            })
        })
        .collect()
}

/// Every receipt is in the log `addr` serves, which verifies as a whole (here and by
/// `borderlog verify --addr`).
async fn check_receipts(addr: &str, keys: &Path, receipts: &[pb::LogReceipt]) {
    let log = log_verifier(keys);
    let mut auditor = client::connect(addr, keys, AUDITOR).await.unwrap();
    let (checkpoint, leaves) = verify_chain(&mut auditor, &log).await;
    for receipt in receipts {
        verify_receipt(receipt, &log).unwrap();
        assert_eq!(
            leaves[receipt.index as usize].to_vec(),
            receipt.leaf_hash,
            "acknowledged entry {} is in the log",
            receipt.index
        );
    }
    assert!(checkpoint.size as usize > receipts.len());
    let verified = Command::new(env!("CARGO_BIN_EXE_borderlog"))
        .args(["verify", "--addr", addr, "--keys"])
        .arg(keys)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .status()
        .expect("run borderlog verify");
    assert!(verified.success(), "borderlog verify --addr failed");
}

/// Submits once; the status code of a refusal.
async fn try_submit(addr: &str, keys: &Path, n: u64) -> Result<pb::LogReceipt, tonic::Status> {
    let mut api = client::connect(addr, keys, SENDER).await.unwrap();
    api.submit(submission(keys, n))
        .await
        .map(|r| r.into_inner())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_writers_started_at_once_only_one_appends() {
    let Some(cluster) = Cluster::start("two_writers_started_at_once_only_one_appends") else {
        return;
    };
    let url = cluster.create_database("log");
    let dir = tempfile::tempdir().unwrap();
    let keys = init_keys(dir.path());
    let a = Serve::spawn(&keys, &dir.path().join("a"), &url);
    let b = Serve::spawn(&keys, &dir.path().join("b"), &url);
    let (a, b) = (a.ready(&keys).await, b.ready(&keys).await);

    let (on_a, on_b) = (
        try_submit(&a.addr, &keys, 1).await,
        try_submit(&b.addr, &keys, 2).await,
    );
    let (writer, reader, refusal) = match (on_a, on_b) {
        (Ok(_), Err(refusal)) => (&a, &b, refusal),
        (Err(refusal), Ok(_)) => (&b, &a, refusal),
        other => panic!("exactly one server appends: {other:?}"),
    };
    assert_eq!(
        refusal.code(),
        tonic::Code::Unavailable,
        "{}",
        refusal.message()
    );
    assert!(
        refusal
            .message()
            .contains("not the log's writer; the writer is"),
        "the refusal names the writer: {}",
        refusal.message()
    );
    // One genesis, one policy per sender, one disclosure: nothing from the second server.
    assert_eq!(
        cluster.psql(
            "log",
            &format!(
                "SELECT count(*) FROM entries WHERE kind = {}",
                pb::EntryKind::Genesis as i32
            )
        ),
        "1",
        "one genesis entry"
    );
    let receipt = try_submit(&writer.addr, &keys, 3).await.unwrap();
    // The reader serves what the writer appended, once it has followed it.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut api = client::connect(&reader.addr, &keys, AUDITOR).await.unwrap();
        let latest = api
            .get_checkpoint(pb::GetCheckpointRequest { tree_size: 0 })
            .await
            .unwrap()
            .into_inner();
        let size = verify_receipt(&receipt, &log_verifier(&keys)).unwrap().size;
        if borderlog::format::checkpoint::Checkpoint::open(&latest.checkpoint, &log_verifier(&keys))
            .unwrap()
            .0
            .size
            >= size
        {
            break;
        }
        assert!(Instant::now() < deadline, "the reader never caught up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    check_receipts(&reader.addr, &keys, &[receipt]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writer_sigkilled_under_load_a_reader_takes_over() {
    let Some(cluster) = Cluster::start("writer_sigkilled_under_load_a_reader_takes_over") else {
        return;
    };
    let url = cluster.create_database("log");
    let dir = tempfile::tempdir().unwrap();
    let keys = init_keys(dir.path());
    let mut writer = Serve::start(&keys, &dir.path().join("a"), &url).await;
    let reader = Serve::start(&keys, &dir.path().join("b"), &url).await;
    assert!(
        try_submit(&writer.addr, &keys, 0).await.is_ok(),
        "the first server writes"
    );

    let receipts: Receipts = Arc::default();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let tasks = load(
        &keys,
        vec![writer.addr.clone(), reader.addr.clone()],
        8,
        receipts.clone(),
        stop.clone(),
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let before = receipts.lock().await.len();
    assert!(
        before > 0,
        "the writer acknowledged entries before it was killed"
    );
    writer.kill();
    let killed = Instant::now();
    // The reader takes over: a submission to it succeeds within seconds.
    let took_over = loop {
        match try_submit(&reader.addr, &keys, 99_999_999).await {
            Ok(r) => {
                receipts.lock().await.push(r);
                break killed.elapsed();
            }
            Err(s) => assert_eq!(s.code(), tonic::Code::Unavailable, "{s:?}"),
        }
        assert!(killed.elapsed() < Duration::from_secs(30), "no take-over");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    eprintln!("fail-over: the reader appended {took_over:?} after the writer was SIGKILLed");
    tokio::time::sleep(Duration::from_millis(1000)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for t in tasks {
        t.await.unwrap();
    }
    let receipts = receipts.lock().await.clone();
    assert!(
        receipts.len() > before + 1,
        "the load went on at the new writer"
    );
    check_receipts(&reader.addr, &keys, &receipts).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_restarted_under_load_loses_nothing_acknowledged() {
    let Some(cluster) = Cluster::start("postgres_restarted_under_load_loses_nothing_acknowledged")
    else {
        return;
    };
    let url = cluster.create_database("log");
    let dir = tempfile::tempdir().unwrap();
    let keys = init_keys(dir.path());
    let server = Serve::start(&keys, &dir.path().join("a"), &url).await;
    let receipts: Receipts = Arc::default();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let tasks = load(
        &keys,
        vec![server.addr.clone()],
        8,
        receipts.clone(),
        stop.clone(),
    );
    tokio::time::sleep(Duration::from_millis(1000)).await;
    // A crash of the database, then its recovery.
    cluster.kill();
    let during = receipts.lock().await.len();
    let refused = try_submit(&server.addr, &keys, 88_888_888)
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unavailable, "{refused:?}");
    let mut reader = client::connect(&server.addr, &keys, AUDITOR).await.unwrap();
    let read = reader
        .get_entry(pb::GetEntryRequest { index: 0 })
        .await
        .unwrap_err();
    assert_eq!(read.code(), tonic::Code::Unavailable, "reads too: {read:?}");
    cluster.start_server();
    let deadline = Instant::now() + Duration::from_secs(30);
    while receipts.lock().await.len() <= during + 8 {
        assert!(Instant::now() < deadline, "appends did not resume");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for t in tasks {
        t.await.unwrap();
    }
    let receipts = receipts.lock().await.clone();
    check_receipts(&server.addr, &keys, &receipts).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn primary_killed_standby_promoted_nothing_acknowledged_lost() {
    let Some(primary) = Cluster::start("primary_killed_standby_promoted_nothing_acknowledged_lost")
    else {
        return;
    };
    primary.create_database("log");
    let standby = primary.standby(true);
    let dir = tempfile::tempdir().unwrap();
    let keys = init_keys(dir.path());
    let mut server = Serve::start(&keys, &dir.path().join("a"), &primary.url("log")).await;
    let receipts: Receipts = Arc::default();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let tasks = load(
        &keys,
        vec![server.addr.clone()],
        8,
        receipts.clone(),
        stop.clone(),
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    primary.kill();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    server.kill();
    for t in tasks {
        t.await.unwrap();
    }
    let receipts = receipts.lock().await.clone();
    assert!(!receipts.is_empty(), "the primary acknowledged entries");
    standby.promote();
    let server = Serve::start(&keys, &dir.path().join("b"), &standby.url("log")).await;
    check_receipts(&server.addr, &keys, &receipts).await;
    // And the promoted standby takes appends.
    try_submit(&server.addr, &keys, 77_777_777).await.unwrap();
}

/// An old writer whose lock session was lost (here: terminated by the operator) while a new
/// one took over cannot append: the epoch check in the transaction refuses it, and nothing of
/// its batch is in the log.
#[test]
fn a_fenced_old_writer_cannot_append() {
    let Some(cluster) = Cluster::start("a_fenced_old_writer_cannot_append") else {
        return;
    };
    let (old, new) = writer_and_reader(&cluster.create_database("log"));
    // The operator ends the old writer's lock session; the new store takes the role.
    end_lock_session_until_taken_over(&cluster, &new);
    let batch = genesis_batch();
    let refused = old.append(&batch, &mut |_, _| "note".into());
    // Refused whichever it notices first: its lost session (UNAVAILABLE, reconnecting) or the
    // new epoch in the transaction (not the writer).
    assert!(
        matches!(
            refused,
            Err(StoreError::NotWriter { .. } | StoreError::Unavailable(_))
        ),
        "the old writer is refused: {refused:?}"
    );
    assert_eq!(cluster.psql("log", "SELECT count(*) FROM entries"), "0");
    assert_eq!(new.size(), TreeSize(0));
}

/// The epoch fencing itself: a writer paused between validating its batch and sending it
/// (here, in its checkpoint signing) while its lock session is lost and another process takes
/// the role. Its pooled connection still works, so the lock cannot stop it; the epoch check
/// in its transaction refuses the batch, naming the new writer, and nothing of it is stored.
#[test]
fn a_writer_paused_mid_append_is_fenced_by_the_epoch() {
    let Some(cluster) = Cluster::start("a_writer_paused_mid_append_is_fenced_by_the_epoch") else {
        return;
    };
    let (old, new) = writer_and_reader(&cluster.create_database("log"));
    let batch = genesis_batch();
    let refused = old.append(&batch, &mut |_, _| {
        // The pause: the old writer's lock session ends (only it: its pooled connections
        // live on), and the other store takes the role and bumps the epoch.
        end_lock_session_until_taken_over(&cluster, &new);
        "note".into()
    });
    match refused {
        Err(StoreError::NotWriter { writer }) => assert_eq!(writer, new.writer_name()),
        other => panic!("the epoch check refuses the old writer's batch: {other:?}"),
    }
    assert!(!old.is_writer(), "the fenced writer gave up the role");
    assert_eq!(cluster.psql("log", "SELECT count(*) FROM entries"), "0");
    // The new writer appends from where the log is.
    let hashes = new.append(&batch, &mut |_, _| "note".into()).unwrap();
    assert_eq!(hashes.len(), 1);
    assert_eq!(cluster.psql("log", "SELECT count(*) FROM entries"), "1");
}

/// Two stores opened on one database, in turn: the first takes the writer role, the second
/// does not.
fn writer_and_reader(url: &str) -> (PgStore, PgStore) {
    let writer = PgStore::open(url, Duration::from_secs(30)).unwrap();
    assert!(writer.is_writer());
    let reader = PgStore::open(url, Duration::from_secs(30)).unwrap();
    assert!(!reader.is_writer(), "one writer at a time");
    (writer, reader)
}

/// A batch of the one entry a new log starts with.
fn genesis_batch() -> borderlog::store::PreparedBatch {
    let entry = pb::Entry {
        index: 0,
        time_ms: 1,
        prev_leaf_hash: ZERO_HASH.to_vec(),
        kind: Some(pb::entry::Kind::Genesis(pb::Genesis::default())),
    };
    borderlog::store::PreparedBatch {
        entries: vec![borderlog::store::PreparedEntry::new(&entry).unwrap()],
        payloads: Vec::new(),
        claims_free_at: None,
    }
}

/// Ends the advisory-lock session of the log's writer (as an operator's
/// `pg_terminate_backend` would), then waits until `new` holds the writer role.
fn end_lock_session_until_taken_over(cluster: &Cluster, new: &PgStore) {
    cluster.psql(
        "log",
        "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND granted",
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while !new.is_writer() {
        assert!(Instant::now() < deadline, "no take-over");
        std::thread::sleep(Duration::from_millis(20));
    }
}
