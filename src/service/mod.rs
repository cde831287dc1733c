//! The gRPC service `borderlog.v1.Ledger`, plus `grpc.health.v1` and server reflection.
//!
//! Each call lives in its own file under `cmd/` and reads parse → apply → reply. Errors a
//! client can cause are [`RequestError`]s; `status.rs` maps every layer's errors to gRPC
//! statuses in one place. [`Node::run`] takes its listener and a shutdown future, so tests
//! start a real server on `127.0.0.1:0`.

mod access;
pub(crate) mod cmd; // get_entry::read is shared with the TAXII read side
mod error;
mod limits;
mod policies;
mod retention;
mod status;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use thiserror::Error;
use tokio::net::TcpListener;
use tokio_stream::Stream;
use tonic::transport::server::TcpIncoming;
use tonic::{Request, Response, Status};

pub use access::Caller;
pub use error::{Refused, RequestError};
pub use retention::RETENTION_REASON;

use crate::format::note::{Signer, Verifier};
use crate::format::signature::{self, Purpose};
use crate::format::{TreeSize, entry};
use crate::identity::{self, IdentityError, Registry};
use crate::metrics::Metrics;
use crate::pb;
use crate::pb::audit_server::{Audit, AuditServer};
use crate::pb::ledger_server::{Ledger, LedgerServer};
use crate::pb::reports_server::{Reports, ReportsServer};
use crate::pb::witness_server::WitnessServer;
use crate::sequencer::{Append, Sequencer, SequencerOptions};
use crate::store::postgres::PgStore;
use crate::store::{LogStore, Store, StoreError, StoreOptions};

/// Errors that stop the service from starting or running.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ServiceError {
    /// Keys, certificates or the party register could not be loaded.
    #[error(transparent)]
    Identity(#[from] IdentityError),
    /// The store could not be opened or recovered.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The log key does not fit the log's genesis, or the genesis entry is unreadable.
    #[error("{0}")]
    Genesis(String),
    /// The gRPC transport failed (bind, TLS setup, serving).
    #[error("transport: {0}")]
    Transport(#[from] tonic::transport::Error),
    /// Plaintext was asked for on an address other than loopback.
    #[error("plaintext is only served on a loopback address, not on {0}: use mutual TLS")]
    PlaintextNotLoopback(String),
    /// An owner's policy file could not be published on start.
    #[error("screening policy: {0}")]
    Policy(String),
    /// keys/witnesses.toml could not be read or is wrong.
    #[error("witnesses: {0}")]
    Witnesses(String),
    /// Building the reflection service failed.
    #[error("reflection: {0}")]
    Reflection(String),
}

/// Resource limits a request is held to; each exceeded limit is named in the error.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest gRPC message accepted, bytes.
    pub max_message_bytes: usize,
    /// Most items in one disclosure.
    pub max_items: usize,
    /// Largest single item, bytes of JSON.
    pub max_item_bytes: usize,
    /// Longest free-text field (purpose, legal basis, case reference), bytes.
    pub max_text_bytes: usize,
    /// How far a body's client time may be from the server's, milliseconds.
    pub max_clock_skew_ms: i64,
    /// Most entries one ListEntries call returns without `follow` (also the largest `limit`
    /// it accepts without `follow`; page with `from_index`).
    pub max_list: usize,
    /// Deepest nesting of objects and arrays in an item's JSON, checked before screening.
    pub max_json_depth: usize,
    /// Longest single JSON string (key or value) in an item, bytes as sent.
    pub max_json_string_bytes: usize,
    /// Server streams (ListEntries, Export) one caller may have open at once.
    pub max_streams_per_caller: usize,
    /// HTTP/2 streams (calls in flight) per connection, advertised to clients: further calls
    /// wait in the client until one finishes.
    pub max_concurrent_streams_per_connection: u32,
    /// Requests per second per authenticated caller, every call counted; 0: no limit.
    pub rate_per_second: u32,
    /// Requests a caller may make at once above its rate (0: as many as `rate_per_second`).
    pub rate_burst: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_message_bytes: 4 << 20,
            max_items: 256,
            max_item_bytes: 256 << 10,
            max_text_bytes: 1024,
            max_clock_skew_ms: 10 * 60 * 1000,
            max_list: 100_000,
            max_json_depth: 32,
            max_json_string_bytes: 64 << 10,
            max_streams_per_caller: 16,
            max_concurrent_streams_per_connection: 256,
            // Generous: `borderlog bench` (one sender, 64 connections) is far below it.
            rate_per_second: 50_000,
            rate_burst: 50_000,
        }
    }
}

/// Where a node keeps its state and how it behaves.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// Keys, certificates and partners.toml.
    pub keys_dir: PathBuf,
    /// Segments and indexes.
    pub data_dir: PathBuf,
    /// A PostgreSQL database for the log instead of `data_dir` (`postgres://user@host/db`);
    /// several nodes may share one, and one of them writes at a time.
    pub store_url: Option<String>,
    /// Request limits.
    pub limits: Limits,
    /// Store tuning.
    pub store: StoreOptions,
    /// Group-commit tuning.
    pub sequencer: SequencerOptions,
    /// How often the server erases expired payloads (only for owners whose partner key is in
    /// `keys_dir`); None: never, the owners run `borderlog retention run` themselves.
    pub retention_interval: Option<Duration>,
    /// On start, publish `keys/<owner>.policy.toml` for every sender that has no policy in
    /// force yet (signed with its key from keys/), so a fresh dev log can take disclosures.
    pub publish_default_policies: bool,
    /// Serve plaintext HTTP/2 instead of mutual TLS; only on a loopback address, for local
    /// tools. Callers name their party in the `borderlog-as` header; writes still need the
    /// partners' signatures.
    pub plaintext: bool,
    /// Auditors read item payloads too (GetEntry, ListEntries, Export); by default they see
    /// metadata and commitments only.
    pub auditor_reads_payloads: bool,
}

impl NodeConfig {
    /// Defaults for the given key and data directories.
    pub fn new(keys_dir: impl Into<PathBuf>, data_dir: impl Into<PathBuf>) -> Self {
        NodeConfig {
            keys_dir: keys_dir.into(),
            data_dir: data_dir.into(),
            store_url: None,
            limits: Limits::default(),
            store: StoreOptions::default(),
            sequencer: SequencerOptions::default(),
            retention_interval: Some(Duration::from_secs(3600)),
            publish_default_policies: true,
            plaintext: false,
            auditor_reads_payloads: false,
        }
    }
}

/// Everything a request handler needs, shared by all of them.
pub(crate) struct State {
    pub store: Arc<dyn LogStore>,
    pub sequencer: Sequencer,
    pub registry: Registry,
    pub log_verifier: Verifier,
    pub limits: Limits,
    pub policies: policies::Policies,
    /// Serving plaintext on loopback: callers name themselves in a header.
    pub plaintext: bool,
    pub metrics: Arc<Metrics>,
    /// Auditors read payloads ([`NodeConfig::auditor_reads_payloads`]).
    pub auditor_reads_payloads: bool,
    /// Requests per second per caller.
    pub rates: limits::Rates,
    /// Open server streams per caller.
    pub streams: limits::StreamSlots,
    /// Client certificates' party names, parsed once each.
    pub cert_names: access::CertNames,
}

impl State {
    /// Opens a stored checkpoint under the log key that signed it: the key in force, or an
    /// earlier one for checkpoints signed before a log key rotation.
    pub(crate) fn open_checkpoint(
        &self,
        note: &str,
    ) -> Result<
        (
            crate::format::checkpoint::Checkpoint,
            crate::format::note::Note,
        ),
        Status,
    > {
        let mut result = crate::format::checkpoint::Checkpoint::open(note, &self.log_verifier);
        if result.is_err() {
            let history = self.sequencer.with_keys(|k| k.log_history().to_vec());
            for key in history.iter().rev() {
                let Ok(v) = Verifier::new(
                    &self.log_verifier.name,
                    crate::format::note::KeyType::Ed25519,
                    *key,
                ) else {
                    continue;
                };
                if let Ok(opened) = crate::format::checkpoint::Checkpoint::open(note, &v) {
                    result = Ok(opened);
                    break;
                }
            }
        }
        result.map_err(|e| Status::internal(format!("stored checkpoint does not verify: {e}")))
    }
}

/// An opened ledger: store recovered, genesis in place, sequencer running. Serve it with
/// [`Node::run`].
#[derive(Clone)]
pub struct Node {
    state: Arc<State>,
    keys_dir: PathBuf,
    /// Witnesses the log submits its checkpoints to (`keys/witnesses.toml`).
    witnesses: crate::witness::config::Witnesses,
    /// Owners whose redactions the server may sign (their keys are in `keys_dir`).
    owner_keys: retention::OwnerKeys,
    retention_interval: Option<Duration>,
}

impl Node {
    /// Opens (and on first start, creates) the ledger under `config`.
    pub async fn open(config: NodeConfig) -> Result<Node, ServiceError> {
        let registry_file = Registry::load(&config.keys_dir)?;
        let log_key = identity::keys::load_log_key(&config.keys_dir)?;
        let signer = Signer::new(registry_file.origin(), log_key)
            .map_err(|e| ServiceError::Genesis(format!("log key: {e}")))?;
        // During a log key rotation the previous key signs every checkpoint too.
        let previous = identity::keys::load_previous_log_key(&config.keys_dir)?
            .map(|key| Signer::new(registry_file.origin(), key))
            .transpose()
            .map_err(|e| ServiceError::Genesis(format!("previous log key: {e}")))?;
        let store = open_store(&config).await?;
        // Before anything runs on the store: the log key must be the one in force in the log.
        if store.size() != TreeSize(0) {
            let keys = crate::keys_in_force::KeysInForce::rebuild(&*store)?;
            check_log_keys(&keys, &signer, previous.as_ref(), &config.keys_dir)?;
        } else if registry_file.log_public_key() != signer.verifier().key {
            return Err(ServiceError::Genesis(format!(
                "the log key in {} is not the log key in partners.toml",
                config.keys_dir.display()
            )));
        }
        let metrics = Arc::new(Metrics::new());
        metrics.log_size.set(store.size().0 as i64);
        let sequencer = Sequencer::start_signing(
            store.clone(),
            signer.clone(),
            previous.iter().cloned().collect(),
            config.sequencer.clone(),
            metrics.clone(),
        )?;

        let registry = if store.size() == TreeSize(0) {
            let genesis = registry_file.to_genesis();
            sequencer
                .append(Append {
                    kind: pb::entry::Kind::Genesis(genesis),
                    payloads: Vec::new(),
                    claims: Vec::new(),
                    screened_under: None,
                    signed_by: None,
                })
                .await
                .map_err(|e| ServiceError::Genesis(format!("writing the genesis entry: {e}")))?;
            tracing::info!(
                origin = registry_file.origin(),
                "new log: genesis entry written"
            );
            registry_file
        } else {
            genesis_registry(&*store)?
        };
        let owner_keys = owner_keys(&config.keys_dir, &registry, &sequencer);
        let policies = policies::Policies::load(&config.keys_dir, &registry)?;
        let state = State {
            store,
            sequencer,
            log_verifier: signer.verifier(),
            registry,
            rates: limits::Rates::new(&config.limits),
            streams: limits::StreamSlots::default(),
            cert_names: access::CertNames::default(),
            auditor_reads_payloads: config.auditor_reads_payloads,
            limits: config.limits,
            policies,
            plaintext: config.plaintext,
            metrics,
        };
        if config.publish_default_policies {
            publish_default_policies(&state, &config.keys_dir).await?;
        }
        let witnesses = crate::witness::config::Witnesses::load(&config.keys_dir)
            .map_err(|e| ServiceError::Witnesses(e.to_string()))?;
        Ok(Node {
            state: Arc::new(state),
            keys_dir: config.keys_dir,
            witnesses,
            owner_keys,
            retention_interval: config.retention_interval,
        })
    }

    /// Erases every payload expired at `now_ms` for the owners whose keys the server holds,
    /// as the schedule does with the wall clock; returns the Redaction entries' receipts.
    /// Tests pass their own `now_ms` to control expiry without waiting.
    pub async fn run_retention(&self, now_ms: i64) -> Result<Vec<pb::LogReceipt>, Status> {
        retention::run_once(&self.state, &self.owner_keys, now_ms).await
    }

    /// The log's checkpoint verifier key (for clients and tests).
    pub fn log_verifier(&self) -> &Verifier {
        &self.state.log_verifier
    }

    /// The sequencer's counters (for the load generator).
    pub fn sequencer(&self) -> &Sequencer {
        &self.state.sequencer
    }

    /// The node's metrics (served by [`crate::metrics::serve`]).
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.state.metrics
    }

    /// The handlers' shared state (for the TAXII read side, which reads as GetEntry does).
    pub(crate) fn state(&self) -> &Arc<State> {
        &self.state
    }

    /// The store (for tests and the load generator).
    pub fn store(&self) -> &Arc<dyn LogStore> {
        &self.state.store
    }

    /// Serves the ledger over mutual TLS on `listener` until `shutdown` completes.
    pub async fn run(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<(), ServiceError> {
        let limits = self.state.limits.clone();
        let ledger = LedgerServer::new(LedgerService {
            state: self.state.clone(),
        })
        .max_decoding_message_size(limits.max_message_bytes)
        .max_encoding_message_size(limits.max_message_bytes);
        let witness = WitnessServer::new(WitnessService {
            state: self.state.clone(),
        });
        // Submits new checkpoints to the witnesses in keys/witnesses.toml; stops with the server.
        let push = tokio::spawn(crate::witness::push::run(
            self.state.store.clone(),
            self.state.log_verifier.clone(),
            self.state.sequencer.size(),
            self.witnesses.clone(),
        ));
        let _stop_push = AbortOnDrop(push);
        // On a node that reads a shared log: keep up with the writer's appends.
        let _stop_follow = AbortOnDrop(tokio::spawn(follow_writer(self.state.sequencer.clone())));

        let audit = AuditServer::new(AuditService {
            state: self.state.clone(),
        })
        .max_encoding_message_size(limits.max_message_bytes);

        let reports = ReportsServer::new(ReportsService {
            state: self.state.clone(),
        })
        .max_encoding_message_size(REPORT_MAX_BYTES);

        let (health, health_service) = tonic_health::server::health_reporter();
        health.set_serving::<LedgerServer<LedgerService>>().await;
        health.set_serving::<WitnessServer<WitnessService>>().await;
        health.set_serving::<AuditServer<AuditService>>().await;
        health.set_serving::<ReportsServer<ReportsService>>().await;
        let reflection = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .build_v1()
            .map_err(|e| ServiceError::Reflection(e.to_string()))?;

        let local = listener.local_addr().ok();
        // One span per request; the caller's name is recorded once it is authenticated.
        let mut server = tonic::transport::Server::builder()
            .trace_fn(|request| {
                tracing::info_span!(
                    "grpc",
                    call = %request.uri().path(),
                    caller = tracing::field::Empty
                )
            })
            .max_concurrent_streams(Some(limits.max_concurrent_streams_per_connection))
            .layer(tower::util::MapResponseLayer::new(
                limits::name_message_limit(limits.max_message_bytes),
            ));
        if self.state.plaintext {
            if !local.is_some_and(|a| a.ip().is_loopback()) {
                return Err(ServiceError::PlaintextNotLoopback(format!("{local:?}")));
            }
            tracing::warn!(addr = ?local, "serving borderlog.v1.Ledger in PLAINTEXT on loopback: callers are trusted to name themselves; use mutual TLS for anything but local tools");
        } else {
            server = server.tls_config(identity::tls::server_tls(&self.keys_dir)?)?;
            tracing::info!(addr = ?local, "serving borderlog.v1.Ledger over mTLS");
        }
        // The schedule holds the state: it stops with the server, so the store can close.
        let schedule = match self.retention_interval {
            Some(every) if !self.owner_keys.0.is_empty() => {
                let owners: Vec<&str> = self.owner_keys.0.iter().map(|(n, _)| n.as_str()).collect();
                tracing::info!(
                    ?owners,
                    every = %humantime::format_duration(every),
                    "retention schedule on: erasing expired payloads with these owners' keys"
                );
                Some(tokio::spawn(retention::schedule(
                    self.state.clone(),
                    self.owner_keys.clone(),
                    every,
                )))
            }
            _ => {
                tracing::info!("retention schedule off: owners run `borderlog retention run`");
                None
            }
        };
        // No Nagle: a small reply held back for a delayed ACK costs 40 ms per call.
        let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
        let served = server
            .add_service(health_service)
            .add_service(reflection)
            .add_service(ledger)
            .add_service(witness)
            .add_service(audit)
            .add_service(reports)
            .serve_with_incoming_shutdown(incoming, shutdown)
            .await;
        if let Some(task) = schedule {
            task.abort();
            let _ = task.await;
        }
        served?;
        Ok(())
    }
}

/// Opens the store off the async runtime (recovery reads and may rebuild whole indexes; a
/// database may take a while to answer): the embedded store in `data_dir`, or the database
/// at `store_url`. A node that does not write an empty shared log waits for the writer's
/// genesis entry.
async fn open_store(config: &NodeConfig) -> Result<Arc<dyn LogStore>, ServiceError> {
    let (dir, opts, url) = (
        config.data_dir.clone(),
        config.store.clone(),
        config.store_url.clone(),
    );
    let store = tokio::task::spawn_blocking(move || -> Result<Arc<dyn LogStore>, StoreError> {
        Ok(match url {
            Some(url) => Arc::new(PgStore::open(&url, STORE_OPEN_WAIT)?),
            None => Arc::new(Store::open(&dir, opts)?),
        })
    })
    .await
    .map_err(|e| ServiceError::Genesis(format!("store recovery task failed: {e}")))??;
    let deadline = tokio::time::Instant::now() + STORE_OPEN_WAIT;
    while store.size() == TreeSize(0) && !store.is_writer() {
        if tokio::time::Instant::now() > deadline {
            return Err(ServiceError::Genesis(
                "the shared log is empty and no writer wrote its genesis entry".into(),
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(store)
}

/// Every [`FOLLOW_EVERY`], catches the sequencer's view (policies, keys, size) up with what
/// another node appended to a shared log; nothing to do on a node that writes.
async fn follow_writer(sequencer: Sequencer) {
    loop {
        tokio::time::sleep(FOLLOW_EVERY).await;
        let s = sequencer.clone();
        match tokio::task::spawn_blocking(move || s.follow()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "following the shared log's writer"),
            Err(_) => return,
        }
    }
}

/// How often a node that does not write looks for the writer's appends.
const FOLLOW_EVERY: Duration = Duration::from_millis(250);

/// How long opening a shared store waits for the database and for the writer's genesis.
const STORE_OPEN_WAIT: Duration = Duration::from_secs(30);

/// The sender parties whose partner keys are in `keys_dir`: the server can sign their
/// retention erasures. Others run retention from their own side.
fn owner_keys(keys_dir: &Path, registry: &Registry, sequencer: &Sequencer) -> retention::OwnerKeys {
    let mut keys = Vec::new();
    for party in registry.parties() {
        if party.role != pb::Role::Sender {
            continue;
        }
        match identity::keys::load_signing_key(keys_dir, &party.name) {
            // The owner's key in force, after any rotation (a rotation while the server runs
            // takes effect for the schedule at its next start).
            Ok(key)
                if sequencer
                    .with_keys(|k| k.party(&party.name))
                    .and_then(|p| p.key)
                    == Some(key.verifying_key()) =>
            {
                keys.push((party.name.clone(), key));
            }
            Ok(_) => tracing::warn!(
                owner = party.name,
                "the key in the keys directory is not this owner's key in force; retention schedule off for it"
            ),
            Err(_) => tracing::info!(
                owner = party.name,
                "no key for this owner here: it runs `borderlog retention run` itself"
            ),
        }
    }
    retention::OwnerKeys(keys)
}

/// Publishes each sender's policy file from `keys_dir` when the sender has no policy in force
/// and its signing key is at hand (the dev set-up `init` makes holds every key).
async fn publish_default_policies(state: &State, keys_dir: &Path) -> Result<(), ServiceError> {
    if !state.store.is_writer() {
        // A node serving reads of a shared log: the writer publishes them.
        return Ok(());
    }
    for party in state.registry.parties() {
        let owner = party.name.as_str();
        let path = identity::policy_path(keys_dir, owner);
        if party.role != pb::Role::Sender
            || state.sequencer.policy_in_force(owner).is_some()
            || !path.exists()
        {
            continue;
        }
        let key = identity::load_signing_key(keys_dir, owner)?;
        let policy = std::fs::read(&path)
            .map_err(|e| ServiceError::Policy(format!("reading {}: {e}", path.display())))?;
        let signature = signature::sign(&key, Purpose::Policy, &policy).to_vec();
        let request = pb::PublishPolicyRequest { policy, signature };
        let append = cmd::publish_policy::parse(state, owner, request)
            .map_err(|e| ServiceError::Policy(format!("{}: {e}", path.display())))?;
        let appended = state
            .sequencer
            .append(append)
            .await
            .map_err(|e| ServiceError::Policy(format!("publishing {}: {e}", path.display())))?;
        tracing::info!(owner, entry = appended.index.0, file = %path.display(), "published the owner's screening policy");
    }
    Ok(())
}

/// Refuses to serve unless keys/log.ed25519 is the log key in force in the log (genesis, then
/// log KeyChanges), and a previous key, if any, is one the log held before.
fn check_log_keys(
    keys: &crate::keys_in_force::KeysInForce,
    signer: &Signer,
    previous: Option<&Signer>,
    keys_dir: &Path,
) -> Result<(), ServiceError> {
    let (in_force, history) = (keys.log(), keys.log_history());
    let file = identity::keys::signing_key_path(keys_dir, identity::keys::LOG_KEY_NAME);
    let mine = signer.verifier().key;
    match in_force {
        Some(k) if k.key == Some(mine) => {}
        Some(k) if history.contains(&mine) => {
            return Err(ServiceError::Genesis(format!(
                "{} holds a retired log key: the log key in force was set by entry {}; put that key in {} (was `borderlog key rotate-log` interrupted? its new key is in {})",
                file.display(),
                k.index.0,
                file.display(),
                identity::keys::signing_key_path(keys_dir, identity::keys::NEXT_LOG_KEY_NAME)
                    .display(),
            )));
        }
        Some(k) => {
            return Err(ServiceError::Genesis(format!(
                "{} is not the log key in force in this log (set by entry {}{}); use the keys directory this log was made with",
                file.display(),
                k.index.0,
                if k.index.0 == 0 {
                    ", the genesis entry"
                } else {
                    ""
                }
            )));
        }
        None => return Err(ServiceError::Genesis("the log has no genesis entry".into())),
    }
    if let Some(previous) = previous {
        let key = previous.verifier().key;
        if key == mine || !history.contains(&key) {
            return Err(ServiceError::Genesis(format!(
                "{} is not a previous log key of this log; remove it, or run `borderlog key finish-log`",
                identity::keys::signing_key_path(keys_dir, identity::keys::PREVIOUS_LOG_KEY_NAME)
                    .display()
            )));
        }
    }
    Ok(())
}

/// The parties pinned in entry 0: once a log exists, they, not partners.toml, are the truth.
fn genesis_registry(store: &dyn LogStore) -> Result<Registry, ServiceError> {
    let bytes = store
        .entry(crate::format::LeafIndex(0))?
        .ok_or_else(|| ServiceError::Genesis("the log has no entry 0".into()))?;
    let entry = entry::decode(&bytes).map_err(|e| ServiceError::Genesis(e.to_string()))?;
    match entry.kind {
        Some(pb::entry::Kind::Genesis(g)) => Ok(Registry::from_genesis(&g)?),
        _ => Err(ServiceError::Genesis(
            "entry 0 is not a genesis entry".into(),
        )),
    }
}

/// The `borderlog.v1.Ledger` implementation: hands each call to its file in `cmd/`.
pub(crate) struct LedgerService {
    state: Arc<State>,
}

type EntryStream = Pin<Box<dyn Stream<Item = Result<pb::EntryResponse, Status>> + Send>>;

/// Counts a finished call by its status code and wraps its reply.
fn finish<T>(
    state: &State,
    call: &'static str,
    result: Result<T, Status>,
) -> Result<Response<T>, Status> {
    let code = result
        .as_ref()
        .map_or_else(Status::code, |_| tonic::Code::Ok);
    state.metrics.request(call, code);
    result.map(Response::new)
}

#[tonic::async_trait]
impl Ledger for LedgerService {
    async fn submit(
        &self,
        request: Request<pb::SubmitRequest>,
    ) -> Result<Response<pb::LogReceipt>, Status> {
        let result = async {
            let caller = Caller::authenticate(&self.state, &request)?;
            cmd::submit::handle(&self.state, &caller, request.into_inner()).await
        };
        finish(&self.state, "Submit", result.await)
    }

    type SubmitStreamStream = cmd::submit_stream::SubmitStream;

    async fn submit_stream(
        &self,
        request: Request<tonic::Streaming<pb::SubmitRequest>>,
    ) -> Result<Response<Self::SubmitStreamStream>, Status> {
        let result = Caller::authenticate(&self.state, &request)
            .map_err(Status::from)
            .and_then(|caller| {
                cmd::submit_stream::handle(self.state.clone(), caller, request.into_inner())
            });
        finish(&self.state, "SubmitStream", result)
    }

    async fn acknowledge(
        &self,
        request: Request<pb::AcknowledgeRequest>,
    ) -> Result<Response<pb::LogReceipt>, Status> {
        let result = async {
            let caller = Caller::authenticate(&self.state, &request)?;
            cmd::acknowledge::handle(&self.state, &caller, request.into_inner()).await
        };
        finish(&self.state, "Acknowledge", result.await)
    }

    async fn publish_policy(
        &self,
        request: Request<pb::PublishPolicyRequest>,
    ) -> Result<Response<pb::LogReceipt>, Status> {
        let result = async {
            let caller = Caller::authenticate(&self.state, &request)?;
            cmd::publish_policy::handle(&self.state, &caller, request.into_inner()).await
        };
        finish(&self.state, "PublishPolicy", result.await)
    }

    async fn get_entry(
        &self,
        request: Request<pb::GetEntryRequest>,
    ) -> Result<Response<pb::EntryResponse>, Status> {
        let result = async {
            let caller = Caller::authenticate(&self.state, &request)?;
            cmd::get_entry::handle(self.state.clone(), caller, request.into_inner()).await
        };
        finish(&self.state, "GetEntry", result.await)
    }

    type ListEntriesStream = EntryStream;

    async fn list_entries(
        &self,
        request: Request<pb::ListEntriesRequest>,
    ) -> Result<Response<Self::ListEntriesStream>, Status> {
        let result = Caller::authenticate(&self.state, &request)
            .map_err(Status::from)
            .and_then(|caller| {
                cmd::list_entries::handle(self.state.clone(), caller, request.into_inner())
            });
        finish(&self.state, "ListEntries", result)
    }

    async fn get_checkpoint(
        &self,
        request: Request<pb::GetCheckpointRequest>,
    ) -> Result<Response<pb::CheckpointResponse>, Status> {
        let result = Caller::authenticate(&self.state, &request)
            .map_err(Status::from)
            .and_then(|_| cmd::get_checkpoint::handle(&self.state, request.into_inner()));
        finish(&self.state, "GetCheckpoint", result)
    }

    async fn get_inclusion_proof(
        &self,
        request: Request<pb::GetInclusionProofRequest>,
    ) -> Result<Response<pb::InclusionProof>, Status> {
        let result = Caller::authenticate(&self.state, &request)
            .map_err(Status::from)
            .and_then(|_| cmd::get_inclusion_proof::handle(&self.state, request.into_inner()));
        finish(&self.state, "GetInclusionProof", result)
    }

    async fn redact(
        &self,
        request: Request<pb::RedactRequest>,
    ) -> Result<Response<pb::LogReceipt>, Status> {
        let result = async {
            let caller = Caller::authenticate(&self.state, &request)?;
            cmd::redact::handle(&self.state, &caller, request.into_inner()).await
        };
        finish(&self.state, "Redact", result.await)
    }

    async fn list_expired(
        &self,
        request: Request<pb::ListExpiredRequest>,
    ) -> Result<Response<pb::ListExpiredResponse>, Status> {
        let result = async {
            let caller = Caller::authenticate(&self.state, &request)?;
            cmd::list_expired::handle(self.state.clone(), &caller, request.into_inner()).await
        };
        finish(&self.state, "ListExpired", result.await)
    }

    async fn change_key(
        &self,
        request: Request<pb::ChangeKeyRequest>,
    ) -> Result<Response<pb::LogReceipt>, Status> {
        let result = async {
            let caller = Caller::authenticate(&self.state, &request)?;
            cmd::change_key::handle(&self.state, &caller, request.into_inner()).await
        };
        finish(&self.state, "ChangeKey", result.await)
    }

    async fn get_consistency_proof(
        &self,
        request: Request<pb::GetConsistencyProofRequest>,
    ) -> Result<Response<pb::ConsistencyProof>, Status> {
        let result = Caller::authenticate(&self.state, &request)
            .map_err(Status::from)
            .and_then(|_| cmd::get_consistency_proof::handle(&self.state, request.into_inner()));
        finish(&self.state, "GetConsistencyProof", result)
    }
}

/// The `borderlog.v1.Audit` implementation: exports for offline verification.
pub(crate) struct AuditService {
    state: Arc<State>,
}

type ExportStream = Pin<Box<dyn Stream<Item = Result<pb::ExportRecord, Status>> + Send>>;

#[tonic::async_trait]
impl Audit for AuditService {
    type ExportStream = ExportStream;

    async fn export(
        &self,
        request: Request<pb::ExportRequest>,
    ) -> Result<Response<Self::ExportStream>, Status> {
        let result = Caller::authenticate(&self.state, &request)
            .map_err(Status::from)
            .and_then(|caller| {
                cmd::export::handle(self.state.clone(), caller, request.into_inner())
            });
        finish(&self.state, "Export", result)
    }
}

/// `borderlog.v1.Witness`: partners hand in their cosignatures of checkpoints.
pub(crate) struct WitnessService {
    state: Arc<State>,
}

#[tonic::async_trait]
impl pb::witness_server::Witness for WitnessService {
    async fn add_cosignature(
        &self,
        request: Request<pb::AddCosignatureRequest>,
    ) -> Result<Response<pb::CheckpointResponse>, Status> {
        let result = async {
            let caller = Caller::authenticate(&self.state, &request)?;
            cmd::add_cosignature::handle(&self.state, &caller, request.into_inner()).await
        };
        finish(&self.state, "AddCosignature", result.await)
    }
}

/// Aborts a background task when the server that started it stops.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Largest report the server sends: it embeds every entry of its period with a proof.
const REPORT_MAX_BYTES: usize = 64 << 20;

/// The `borderlog.v1.Reports` implementation: compliance reports.
pub(crate) struct ReportsService {
    state: Arc<State>,
}

#[tonic::async_trait]
impl Reports for ReportsService {
    async fn get_report(
        &self,
        request: Request<pb::ReportRequest>,
    ) -> Result<Response<pb::ReportResponse>, Status> {
        let result = async {
            let caller = Caller::authenticate(&self.state, &request)?;
            cmd::report::handle(self.state.clone(), caller, request.into_inner()).await
        };
        finish(&self.state, "GetReport", result.await)
    }
}
