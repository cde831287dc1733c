//! The log in PostgreSQL: [`PgStore`], the second implementation of [`LogStore`].
//!
//! Tables (`migrations/`, run on open under an advisory lock so concurrent starts do not race):
//! one-row `tree_state` (size, last leaf hash, last time, the writer's fencing epoch), the
//! Merkle tree as `subtree` tiles (256 node hashes of one level per row), `entries` with their
//! lookups (`entry_parties`, `claims`, `lookups`), `payloads`, `checkpoints` and
//! `cosignatures`.
//!
//! Several processes may open one database: exactly one holds the writer role (`lease.rs`: a
//! session-level advisory lock on a dedicated connection, plus the epoch it bumped in
//! `tree_state`, which every append transaction checks under a row lock, so an old writer
//! whose lock session was lost can never append after a new one took over). The others serve
//! reads and take the role when the lock is free. One batch is one transaction (`append.rs`),
//! committed before any receipt; when the connection fails during the commit, the outcome is
//! read back after reconnecting, and only if that fails too is it reported as unknown.
//!
//! The trait is synchronous and its callers may be on a tokio worker thread, so every call runs
//! on the store's own small runtime and is waited for through a channel (`block`).

mod append;
mod lease;
mod read;
mod tiles;

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio_postgres::NoTls;
use tokio_postgres::types::ToSql;

use crate::format::entry::Claim;
use crate::format::hash::{Hash, ZERO_HASH};
use crate::format::note::NoteSignature;
use crate::format::tree::{Frontier, LeafIndex, TreeSize};
use crate::pb;

use super::{LogStore, Payload, PreparedBatch, StoreError};

refinery::embed_migrations!("migrations");

/// Key of the session-level advisory lock the writer holds ("borderlg" in ASCII).
const WRITER_LOCK: i64 = 0x626f_7264_6572_6c67;
/// Key of the advisory lock held while migrations run.
const MIGRATION_LOCK: i64 = WRITER_LOCK + 1;
/// How often the lease task refreshes the visible size, checks its lock session and, when no
/// process writes, tries to take the role.
const TICK: Duration = Duration::from_millis(250);
/// How long a pooled connection may take to be made or handed out before the call answers
/// unavailable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// The writer's state, kept while this process holds the role.
struct Writing {
    /// The epoch this process set in `tree_state` when it took the role.
    epoch: i64,
    frontier: Frontier,
    tip: Hash,
    last_time_ms: i64,
}

/// What the lease task and the store share.
struct Shared {
    pool: Pool,
    /// Entries visible to readers: the database's size as last read, or as this writer
    /// committed it.
    size: AtomicU64,
    /// Some while this process is the writer.
    writing: Mutex<Option<Writing>>,
    /// Counts takeovers by this process ([`LogStore::writer_generation`]).
    generation: AtomicU64,
    /// The writer `tree_state` names, as last read.
    writer: RwLock<String>,
    /// This process's name in `tree_state.writer`.
    name: String,
    /// Whether the lease task's last round on its session succeeded.
    connected: AtomicBool,
}

impl Shared {
    fn writing(&self) -> std::sync::MutexGuard<'_, Option<Writing>> {
        self.writing.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Why this process may not append now.
    fn not_writer(&self) -> StoreError {
        if !self.connected.load(Ordering::Acquire) {
            return StoreError::Unavailable(
                "the database cannot be reached; reconnecting (the writer role is taken again once it answers)".into(),
            );
        }
        StoreError::NotWriter {
            writer: self
                .writer
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
        }
    }
}

/// The log's store in a PostgreSQL database. `Send + Sync`; share it as `Arc<dyn LogStore>`.
pub struct PgStore {
    shared: Arc<Shared>,
    /// Runs the pool's connections, every query and the lease task; shut down on drop.
    runtime: Option<tokio::runtime::Runtime>,
}

/// Maps a client error: lost connections and a server shutting down or starting up are
/// [`StoreError::Unavailable`], anything the server refused otherwise is a database error.
pub(super) fn db_err(e: tokio_postgres::Error) -> StoreError {
    match e.as_db_error() {
        Some(db) => {
            let class = &db.code().code()[..2];
            // 08: connection exception, 57: operator intervention (shutdown, starting up),
            // 25006: read-only transaction (a standby not yet promoted).
            if class == "08" || class == "57" || db.code().code() == "25006" {
                StoreError::Unavailable(db.to_string())
            } else {
                StoreError::Database(db.to_string())
            }
        }
        None => StoreError::Unavailable(e.to_string()),
    }
}

fn pool_err(e: deadpool_postgres::PoolError) -> StoreError {
    match e {
        deadpool_postgres::PoolError::Backend(e) => db_err(e),
        other => StoreError::Unavailable(other.to_string()),
    }
}

/// An owned query parameter, so a query can move to the store's runtime.
type Param = Box<dyn ToSql + Sync + Send>;

/// Borrows owned parameters as tokio-postgres takes them.
fn refs(params: &[Param]) -> Vec<&(dyn ToSql + Sync)> {
    params
        .iter()
        .map(|p| p.as_ref() as &(dyn ToSql + Sync))
        .collect()
}

impl PgStore {
    /// Connects to the database at `url` (`postgres://user@host:port/db`), runs the
    /// migrations, and starts the lease task; waits up to `wait` for this process to learn
    /// whether it is the writer (the first of several processes started at once becomes it).
    pub fn open(url: &str, wait: Duration) -> Result<PgStore, StoreError> {
        let mut config: tokio_postgres::Config = url
            .parse()
            .map_err(|e| StoreError::Database(format!("store URL: {e}")))?;
        config
            .application_name("borderlog")
            .connect_timeout(CONNECT_TIMEOUT)
            .keepalives(true)
            .keepalives_idle(Duration::from_secs(5));
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("borderlog-pg")
            .enable_all()
            .build()
            .map_err(|e| StoreError::Io {
                context: "starting the PostgreSQL runtime".into(),
                source: e,
            })?;
        let manager = Manager::from_config(
            config.clone(),
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(16)
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .wait_timeout(Some(CONNECT_TIMEOUT))
            .create_timeout(Some(CONNECT_TIMEOUT))
            .recycle_timeout(Some(CONNECT_TIMEOUT))
            .build()
            .map_err(|e| StoreError::Database(format!("connection pool: {e}")))?;
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_owned())
            .unwrap_or_else(|_| "localhost".into());
        let shared = Arc::new(Shared {
            pool,
            size: AtomicU64::new(0),
            writing: Mutex::new(None),
            generation: AtomicU64::new(0),
            writer: RwLock::new(String::new()),
            name: format!("{host} pid {}", std::process::id()),
            connected: AtomicBool::new(false),
        });
        let store = PgStore {
            shared: shared.clone(),
            runtime: Some(runtime),
        };
        store.block(migrate(config.clone()))?;
        let (decided_tx, decided) = std::sync::mpsc::sync_channel(1);
        store.rt().spawn(lease::run(shared, config, decided_tx));
        // The lease task's first round: the role is taken, or seen held by another process.
        match decided.recv_timeout(wait) {
            Ok(Ok(())) => Ok(store),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(StoreError::Unavailable(format!(
                "no answer from the database within {}",
                humantime::format_duration(wait)
            ))),
        }
    }

    fn rt(&self) -> &tokio::runtime::Runtime {
        self.runtime.as_ref().expect("the runtime lives until drop")
    }

    /// Runs `f` on the store's runtime and waits for it (callers may be on another runtime's
    /// worker, where blocking on a future directly would panic).
    fn block<T: Send + 'static>(
        &self,
        f: impl Future<Output = Result<T, StoreError>> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.rt().spawn(async move {
            let _ = tx.send(f.await);
        });
        rx.recv()
            .map_err(|_| StoreError::Unavailable("the database task stopped".into()))?
    }

    /// One query on a pooled connection: its rows.
    fn rows(
        &self,
        sql: &'static str,
        params: Vec<Param>,
    ) -> Result<Vec<tokio_postgres::Row>, StoreError> {
        let pool = self.shared.pool.clone();
        self.block(async move {
            let client = pool.get().await.map_err(pool_err)?;
            let stmt = client.prepare_cached(sql).await.map_err(db_err)?;
            client.query(&stmt, &refs(&params)).await.map_err(db_err)
        })
    }

    /// Indexes from the first column of a query's rows.
    fn indexes(&self, sql: &'static str, params: Vec<Param>) -> Result<Vec<LeafIndex>, StoreError> {
        self.rows(sql, params)?
            .iter()
            .map(|r| Ok(LeafIndex(r.try_get::<_, i64>(0).map_err(db_err)? as u64)))
            .collect()
    }

    /// The visible size as a query parameter.
    fn size_param(&self) -> i64 {
        self.size().0 as i64
    }

    /// The writer `tree_state` names, as last read (this process's own name while it writes),
    /// for tests and operators.
    pub fn writer_name(&self) -> String {
        self.shared
            .writer
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl Drop for PgStore {
    fn drop(&mut self) {
        // Dropping a runtime blocks; callers may be async. Its lock session closes with it,
        // so another process can take the writer role at once.
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

/// Runs the schema migrations, one process at a time.
async fn migrate(config: tokio_postgres::Config) -> Result<(), StoreError> {
    let (mut client, conn) = config.connect(NoTls).await.map_err(db_err)?;
    let conn = tokio::spawn(conn);
    client
        .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(db_err)?;
    let ran = migrations::runner().run_async(&mut client).await;
    // Closing the session releases the lock.
    drop(client);
    let _ = conn.await;
    ran.map_err(|e| StoreError::Database(format!("migrating the schema: {e}")))?;
    Ok(())
}

impl LogStore for PgStore {
    fn size(&self) -> TreeSize {
        TreeSize(self.shared.size.load(Ordering::Acquire))
    }

    fn tip(&self) -> (TreeSize, Hash) {
        match &*self.shared.writing() {
            Some(w) => (w.frontier.size(), w.tip),
            // Not the writer: append refuses whatever the sequencer builds.
            None => (self.size(), ZERO_HASH),
        }
    }

    fn append(
        &self,
        batch: &PreparedBatch,
        sign_checkpoint: &mut dyn FnMut(TreeSize, Hash) -> String,
    ) -> Result<Vec<Hash>, StoreError> {
        append::append(self, batch, sign_checkpoint)
    }

    fn add_cosignature(&self, size: TreeSize, sig: &NoteSignature) -> Result<bool, StoreError> {
        read::add_cosignature(self, size, sig)
    }

    fn cosignatures(&self, size: TreeSize) -> Result<Vec<NoteSignature>, StoreError> {
        read::cosignatures(self, size)
    }

    fn entry(&self, index: LeafIndex) -> Result<Option<Vec<u8>>, StoreError> {
        if index.0 >= self.size().0 {
            return Ok(None);
        }
        let rows = self.rows(
            "SELECT bytes FROM entries WHERE idx = $1",
            vec![Box::new(index.0 as i64)],
        )?;
        rows.first()
            .map(|r| r.try_get::<_, Vec<u8>>(0).map_err(db_err))
            .transpose()
    }

    fn leaf_hash(&self, index: LeafIndex) -> Result<Option<Hash>, StoreError> {
        if index.0 >= self.size().0 {
            return Ok(None);
        }
        let rows = self.rows(
            "SELECT leaf FROM entries WHERE idx = $1",
            vec![Box::new(index.0 as i64)],
        )?;
        rows.first().map(|r| read::hash_at(r, 0)).transpose()
    }

    fn find_leaf(&self, leaf_hash: &Hash) -> Result<Option<LeafIndex>, StoreError> {
        let found = self.indexes(
            "SELECT idx FROM entries WHERE leaf = $1 AND idx < $2 ORDER BY idx LIMIT 1",
            vec![Box::new(leaf_hash.to_vec()), Box::new(self.size_param())],
        )?;
        Ok(found.first().copied())
    }

    fn payload(&self, commitment: &Hash) -> Result<Option<Payload>, StoreError> {
        read::payload(self, commitment)
    }

    fn checkpoint(&self, size: Option<TreeSize>) -> Result<Option<String>, StoreError> {
        let current = self.size_param();
        let rows = match size {
            Some(s) if s.0 as i64 > current => return Ok(None),
            Some(s) => self.rows(
                "SELECT note FROM checkpoints WHERE size = $1",
                vec![Box::new(s.0 as i64)],
            )?,
            None => self.rows(
                "SELECT note FROM checkpoints WHERE size <= $1 ORDER BY size DESC LIMIT 1",
                vec![Box::new(current)],
            )?,
        };
        rows.first()
            .map(|r| r.try_get::<_, String>(0).map_err(db_err))
            .transpose()
    }

    fn checkpoints(
        &self,
        from: TreeSize,
        to: TreeSize,
        limit: usize,
    ) -> Result<Vec<(TreeSize, String)>, StoreError> {
        let to = to.0.min(self.size().0);
        if from.0 > to {
            return Ok(Vec::new());
        }
        self.rows(
            "SELECT size, note FROM checkpoints WHERE size >= $1 AND size <= $2 ORDER BY size LIMIT $3",
            vec![
                Box::new(from.0 as i64),
                Box::new(to as i64),
                Box::new(read::limit(limit)),
            ],
        )?
        .iter()
        .map(|r| {
            let size: i64 = r.try_get(0).map_err(db_err)?;
            Ok((TreeSize(size as u64), r.try_get(1).map_err(db_err)?))
        })
        .collect()
    }

    fn root(&self, size: TreeSize) -> Result<Hash, StoreError> {
        read::check_size(self, size)?;
        tiles::with_nodes(self, move |nodes| crate::format::tree::root(nodes, size))
    }

    fn inclusion_proof(&self, index: LeafIndex, size: TreeSize) -> Result<Vec<Hash>, StoreError> {
        read::check_size(self, size)?;
        if index.0 >= size.0 {
            return Err(StoreError::IndexOutOfRange {
                index: index.0,
                size: size.0,
            });
        }
        tiles::with_nodes(self, move |nodes| {
            crate::format::inclusion::prove(nodes, index, size)
        })
    }

    fn consistency_proof(&self, old: TreeSize, new: TreeSize) -> Result<Vec<Hash>, StoreError> {
        read::check_size(self, new)?;
        tiles::with_nodes(self, move |nodes| {
            crate::format::consistency::prove(nodes, old, new)
        })
    }

    fn claimed(&self, claim: &Claim) -> Result<Option<LeafIndex>, StoreError> {
        let found = self.indexes(
            "SELECT idx FROM claims WHERE claim = $1 AND idx < $2",
            vec![Box::new(claim.key()), Box::new(self.size_param())],
        )?;
        Ok(found.first().copied())
    }

    fn scan(
        &self,
        from: LeafIndex,
        party: Option<&str>,
        kinds: &[pb::EntryKind],
        limit: usize,
    ) -> Result<Vec<LeafIndex>, StoreError> {
        read::scan(self, from, party, kinds, limit)
    }

    fn by_time(&self, from_ms: i64, to_ms: i64) -> Result<Vec<LeafIndex>, StoreError> {
        if from_ms >= to_ms {
            return Ok(Vec::new());
        }
        self.indexes(
            "SELECT idx FROM entries WHERE time_ms >= $1 AND time_ms < $2 AND idx < $3 ORDER BY idx",
            vec![
                Box::new(from_ms),
                Box::new(to_ms),
                Box::new(self.size_param()),
            ],
        )
    }

    fn by_stix_id(&self, stix_id: &str) -> Result<Vec<LeafIndex>, StoreError> {
        read::looked_up(self, read::stix_key(stix_id))
    }

    fn by_commitment(&self, commitment: &Hash) -> Result<Vec<LeafIndex>, StoreError> {
        read::looked_up(self, read::commitment_key(commitment))
    }

    fn writer_generation(&self) -> u64 {
        self.shared.generation.load(Ordering::Acquire)
    }

    fn is_writer(&self) -> bool {
        self.shared.writing().is_some()
    }

    /// Never: every transaction commits or rolls back whole, and a commit whose outcome this
    /// process could not learn gives up the writer role (`OutcomeUnknown`) instead; the lease
    /// task takes it again, re-reading the log's tip, once the database answers.
    fn is_poisoned(&self) -> bool {
        false
    }
}

/// The store is shared between the sequencer thread and the gRPC handlers.
const _: () = {
    const fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<PgStore>();
};
