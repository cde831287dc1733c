//! Shared test scaffolding: a real server over real mTLS on 127.0.0.1:0, real keys and real
//! files in a temporary directory.
#![allow(dead_code)]

pub mod export;
pub mod pg;

use std::path::{Path, PathBuf};

use borderlog::client::{self, DisclosureHeader};
use borderlog::format::checkpoint::Checkpoint;
use borderlog::format::hash::leaf_hash;
use borderlog::format::note::{KeyType, Verifier};
use borderlog::format::tree::MemoryTree;
use borderlog::format::{TreeSize, entry, tree};
use borderlog::identity::{self, InitOptions, Registry};
use borderlog::pb::{self};
use borderlog::service::{Node, NodeConfig, ServiceError};
use borderlog::store::LogStore;
use tokio::sync::oneshot;
use tokio_stream::StreamExt;

// The parties `borderlog init` makes by default, named once in the library.
#[allow(unused_imports)] // each test binary uses some of them
pub use borderlog::audit::synthetic::{AUDITOR, RECIPIENT, SENDER};

/// Where a test server keeps its log. The behavioural suites run each test on both
/// ([`both_backends!`]); a test that reads or damages the embedded store's files runs on
/// [`Backend::Embedded`] only, and says so.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// The embedded store: segments and index in the data directory.
    Embedded,
    /// PostgreSQL: a database of its own for each data directory, on one throwaway cluster
    /// per test binary (`pg.rs`).
    Postgres,
}

impl Backend {
    /// The `--store` URL of the log in `data`: None for the embedded store.
    pub fn store_url(self, data: &Path) -> Option<String> {
        match self {
            Backend::Embedded => None,
            Backend::Postgres => Some(pg::store_url_for(data)),
        }
    }

    /// Runs `f` on the store of the log in `data`, opened directly as an operator with access
    /// to the files or the database could (its server stopped), and closes it again: with
    /// PostgreSQL, waits until its session has let go of the writer role.
    pub fn with_store<T>(self, data: &Path, f: impl FnOnce(&dyn LogStore) -> T) -> T {
        match self.store_url(data) {
            None => f(&borderlog::store::Store::open(data, Default::default()).unwrap()),
            Some(url) => {
                let wait = std::time::Duration::from_secs(30);
                let store = borderlog::store::postgres::PgStore::open(&url, wait).unwrap();
                assert!(store.is_writer(), "the log's server is stopped");
                let out = f(&store);
                drop(store);
                pg::wait_unlocked(&url);
                out
            }
        }
    }

    /// Copies the log in `from` (its server stopped) to `to`, as restoring a backup would:
    /// the segments (the index is rebuilt from them), or the database.
    pub fn copy_log(self, from: &Path, to: &Path) {
        match self {
            Backend::Embedded => {
                std::fs::create_dir_all(to.join("segments")).unwrap();
                for f in std::fs::read_dir(from.join("segments")).unwrap() {
                    let f = f.unwrap();
                    std::fs::copy(f.path(), to.join("segments").join(f.file_name())).unwrap();
                }
            }
            Backend::Postgres => pg::copy_database(from, to),
        }
    }
}

/// Runs each named `async fn name(backend: Backend)` as two tests, `name::embedded` and
/// `name::postgres`. Without PostgreSQL's binaries the second says SKIPPED and passes.
#[allow(unused_macros)] // each test binary that runs on both backends uses it
macro_rules! both_backends {
    ($($test:ident),+ $(,)?) => {$(
        mod $test {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn embedded() {
                super::$test($crate::common::Backend::Embedded).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if $crate::common::pg::available(concat!(module_path!(), "::postgres")) {
                    super::$test($crate::common::Backend::Postgres).await;
                }
            }
        }
    )+};
}
#[allow(unused_imports)] // each test binary that runs on both backends uses it
pub(crate) use both_backends;

/// A running in-process server on its own keys and data.
pub struct TestServer {
    pub addr: String,
    pub keys: PathBuf,
    pub data: PathBuf,
    pub log: Verifier,
    pub node: Node,
    /// Where the log is kept.
    pub backend: Backend,
    /// The PostgreSQL database holding the log, if not `data`.
    pub url: Option<String>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<Result<(), ServiceError>>>,
}

/// Keys made by `init` in `dir/keys`.
pub fn init_keys(dir: &Path) -> PathBuf {
    let keys = dir.join("keys");
    identity::init(&keys, &InitOptions::default()).expect("init keys");
    keys
}

/// The log's checkpoint verifier from keys/partners.toml.
pub fn log_verifier(keys: &Path) -> Verifier {
    let registry = Registry::load(keys).expect("registry");
    Verifier::new(
        registry.origin(),
        KeyType::Ed25519,
        registry.log_public_key(),
    )
    .expect("verifier")
}

impl TestServer {
    /// Starts a server on fresh keys in `dir`.
    pub async fn start(dir: &Path, backend: Backend) -> TestServer {
        let keys = init_keys(dir);
        Self::start_with(&keys, &dir.join("data"), backend).await
    }

    /// Starts a server on existing keys and data.
    pub async fn start_with(keys: &Path, data: &Path, backend: Backend) -> TestServer {
        Self::start_config(NodeConfig::new(keys, data), backend).await
    }

    /// Starts a server with the given configuration, its log on `backend` (with PostgreSQL,
    /// in the database that stands for the data directory, unless the configuration names
    /// one).
    pub async fn start_config(mut config: NodeConfig, backend: Backend) -> TestServer {
        if config.store_url.is_none() {
            config.store_url = backend.store_url(&config.data_dir);
        }
        let url = config.store_url.clone();
        let (keys, data) = (config.keys_dir.clone(), config.data_dir.clone());
        let (keys, data) = (keys.as_path(), data.as_path());
        let node = Node::open(config).await.expect("open node");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let (stop, stopped) = oneshot::channel::<()>();
        let runner = node.clone();
        let task = tokio::spawn(async move {
            runner
                .run(listener, async {
                    let _ = stopped.await;
                })
                .await
        });
        TestServer {
            addr,
            keys: keys.to_owned(),
            data: data.to_owned(),
            log: log_verifier(keys),
            node,
            backend,
            url,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// A client authenticated as `name`.
    pub async fn client(&self, name: &str) -> client::Api {
        client::connect(&self.addr, &self.keys, name)
            .await
            .expect("connect")
    }

    /// The export as `who` sees it, up to checkpoint `size` (0: the latest).
    pub async fn export(&self, who: &str, size: u64) -> Vec<pb::ExportRecord> {
        let channel = client::channel(&self.addr, &self.keys, who)
            .await
            .expect("connect");
        let mut stream = pb::audit_client::AuditClient::new(channel)
            .export(pb::ExportRequest { tree_size: size })
            .await
            .expect("export")
            .into_inner();
        let mut records = Vec::new();
        while let Some(r) = stream.next().await {
            records.push(r.expect("export record"));
        }
        records
    }

    /// Stops the server and waits until it has let go of its store: the sequencer thread
    /// drops the store once the last handle to the node is gone.
    pub async fn stop(self) {
        if let Err(e) = self.finish().await {
            panic!("server run: {e}");
        }
    }

    /// Stops a server whose log has failed; returns the error its run ended with.
    pub async fn stop_failed(self) -> ServiceError {
        self.finish()
            .await
            .expect_err("the server's run ends with the log's failure")
    }

    /// Stops the server, waits until it has let go of its store, and returns how its run
    /// ended.
    async fn finish(mut self) -> Result<(), ServiceError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let mut ended = Ok(());
        if let Some(task) = self.task.take() {
            ended = task.await.unwrap();
        }
        let data = self.data.clone();
        let url = self.url.clone();
        drop(self);
        if let Some(url) = url {
            // The database's writer lock is let go when the store's lease session closes.
            tokio::task::spawn_blocking(move || pg::wait_unlocked(&url))
                .await
                .unwrap();
            return ended;
        }
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            match borderlog::store::Store::open(&data, Default::default()) {
                Ok(_) => return ended,
                Err(e) if std::time::Instant::now() > deadline => panic!("store still held: {e}"),
                Err(_) => tokio::time::sleep(std::time::Duration::from_millis(20)).await,
            }
        }
    }
}

/// The header every test disclosure uses.
pub fn header() -> DisclosureHeader {
    DisclosureHeader {
        sender: SENDER.into(),
        recipient: RECIPIENT.into(),
        purpose: "cybercrime investigation support".into(),
        legal_basis: "data sharing agreement 2026-04; GDPR Art. 6(1)(f)".into(),
        case_reference: "CASE-2026-0042".into(),
    }
}

/// A small STIX 2.1 indicator marked TLP:GREEN, distinct per `n`.
pub fn indicator(n: u64) -> Vec<u8> {
    serde_json::to_vec(&indicator_json(n)).unwrap()
}

/// [`indicator`] as a JSON value, for tests that change a property.
pub fn indicator_json(n: u64) -> serde_json::Value {
    serde_json::json!({
        "type": "indicator",
        "spec_version": "2.1",
        "id": format!("indicator--8e2e2d2b-17d4-4cbf-938f-{:012x}", n),
        "created": "2026-11-01T10:00:00.000Z",
        "modified": "2026-11-01T10:00:00.000Z",
        "name": "Emotet C2",
        "indicator_types": ["malicious-activity"],
        "pattern": format!("[domain-name:value = 'c2-{n}.badcdn.example']"),
        "pattern_type": "stix",
        "valid_from": "2026-11-01T10:00:00Z",
        "object_marking_refs": ["marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"]
    })
}

/// A signed submission of one indicator by the sender.
pub fn submission(keys: &Path, n: u64) -> pb::SubmitRequest {
    let key = identity::keys::load_signing_key(keys, SENDER).unwrap();
    client::prepare_submission(&key, &header(), vec![indicator(n)], now_ms()).unwrap()
}

pub use borderlog::clock::now_ms;

/// Reads the whole log as `who` and checks it as an auditor would: contiguous indexes,
/// leaf hashes, the prev_leaf_hash chain, non-decreasing times, and the Merkle root against
/// the latest signed checkpoint. Returns the checkpoint and the leaf hashes.
pub async fn verify_chain(api: &mut client::Api, log: &Verifier) -> (Checkpoint, Vec<[u8; 32]>) {
    let latest = api
        .get_checkpoint(pb::GetCheckpointRequest { tree_size: 0 })
        .await
        .unwrap()
        .into_inner();
    let (checkpoint, _) = Checkpoint::open(&latest.checkpoint, log).expect("checkpoint verifies");
    let mut stream = api
        .list_entries(pb::ListEntriesRequest {
            from_index: 0,
            limit: checkpoint.size,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let mut tree = MemoryTree::new();
    let mut leaves = Vec::new();
    let mut prev = [0u8; 32];
    let mut last_time = 0;
    while let Some(item) = stream.next().await {
        let item = item.unwrap();
        let e = entry::decode(&item.entry).unwrap();
        assert_eq!(e.index, leaves.len() as u64, "indexes are contiguous");
        assert_eq!(
            e.prev_leaf_hash,
            prev.to_vec(),
            "entry {} links to its predecessor",
            e.index
        );
        assert!(
            e.time_ms >= last_time,
            "time never goes back at entry {}",
            e.index
        );
        let leaf = leaf_hash(&item.entry);
        assert_eq!(leaf.to_vec(), item.leaf_hash);
        tree.push(leaf);
        leaves.push(leaf);
        prev = leaf;
        last_time = e.time_ms;
    }
    assert_eq!(
        leaves.len() as u64,
        checkpoint.size,
        "every entry up to the checkpoint was listed"
    );
    assert_eq!(
        tree::root(&tree, TreeSize(checkpoint.size)).unwrap(),
        checkpoint.root
    );
    (checkpoint, leaves)
}

/// Waits (at most a minute) until a server at `addr` answers a read: for tests that start a
/// real `borderlog serve` process.
pub async fn wait_up(addr: &str, keys: &Path) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        if let Ok(mut api) = client::connect(addr, keys, AUDITOR).await
            && api
                .get_checkpoint(pb::GetCheckpointRequest { tree_size: 0 })
                .await
                .is_ok()
        {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "server did not come up"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
