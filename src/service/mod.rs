//! The gRPC service `borderlog.v1.Ledger`, plus `grpc.health.v1` and server reflection.
//!
//! Each call lives in its own file under `cmd/` and reads parse → apply → reply; the call
//! layer (`calls.rs`) authenticates its caller first and counts it after. Errors a client can
//! cause are [`RequestError`]s; `status.rs` maps every layer's errors to gRPC statuses in one
//! place. Connections are accepted under limits (`connections.rs`). [`Node::run`] takes its listener and a shutdown future, so tests
//! start a real server on `127.0.0.1:0`.

mod access;
mod calls;
pub(crate) mod cmd; // get_entry::read is shared with the TAXII read side
mod connections;
mod error;
mod limits;
mod policies;
mod retention;
mod startup;
mod status;

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use thiserror::Error;
use tokio::net::TcpListener;
use tokio_stream::Stream;
use tonic::server::NamedService;
use tonic::{Request, Response, Status};
use tonic_health::ServingStatus;
use tower::Layer;

pub use access::Caller;
pub use error::{Refused, RequestError};
pub use retention::RETENTION_REASON;

use crate::format::TreeSize;
use crate::format::note::{Signer, Verifier};
use crate::identity::{self, IdentityError, Registry};
use crate::metrics::Metrics;
use crate::pb;
use crate::pb::audit_server::{Audit, AuditServer};
use crate::pb::ledger_server::{Ledger, LedgerServer};
use crate::pb::reports_server::{Reports, ReportsServer};
use crate::pb::witness_server::WitnessServer;
use crate::sequencer::{Append, Sequencer, SequencerOptions};

use crate::store::{LogStore, StoreError, StoreOptions};

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
    /// The log failed while serving (the sequencer thread died, or the store is poisoned):
    /// the server stopped so that a supervisor restarts it, and recovery settles the store.
    #[error("the log failed and the server stopped; restart it to recover: {0}")]
    Failed(String),
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
    /// Connections open at once; past it, new ones wait in the kernel's backlog until one
    /// closes. Keep it below the process's descriptor limit (`ulimit -n`), which the store's
    /// files share.
    pub max_connections: usize,
    /// How long a connection may take to complete its TLS handshake before it is closed.
    pub tls_handshake_timeout: Duration,
    /// A connection from which nothing has been read for this long is closed. Clients that
    /// answer the server's HTTP/2 keepalive pings are never idle this long.
    pub idle_timeout: Duration,
    /// How often the server pings an HTTP/2 connection to see that its peer is still there.
    pub keepalive_interval: Duration,
    /// How long an unanswered keepalive ping waits before the connection is closed.
    pub keepalive_timeout: Duration,
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
            // Half the usual 1,024 descriptors: the rest stay for the store and the runtime.
            max_connections: 512,
            tls_handshake_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(300),
            keepalive_interval: Duration::from_secs(60),
            keepalive_timeout: Duration::from_secs(20),
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
    /// Once the log has failed (see [`ServiceError::Failed`]), how long the server keeps
    /// answering — health NOT_SERVING, writes UNAVAILABLE, reads as before — before it stops,
    /// so load balancers see the failure before the port closes.
    pub failure_grace: Duration,
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
            failure_grace: Duration::from_secs(5),
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
    /// Unary Submits' signatures waiting to be verified together.
    pub signatures: cmd::signatures::Waiting,
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
    failure_grace: Duration,
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
        let store = startup::open_store(&config).await?;
        // Before anything runs on the store: the log key must be the one in force in the log.
        if store.size() != TreeSize(0) {
            let keys = crate::keys_in_force::KeysInForce::rebuild(&*store)?;
            startup::check_log_keys(&keys, &signer, previous.as_ref(), &config.keys_dir)?;
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
            startup::genesis_registry(&*store)?
        };
        let owner_keys = startup::owner_keys(&config.keys_dir, &registry, &sequencer);
        let policies = policies::Policies::load(&config.keys_dir, &registry)?;
        let state = State {
            store,
            sequencer,
            log_verifier: signer.verifier(),
            registry,
            rates: limits::Rates::new(&config.limits),
            streams: limits::StreamSlots::default(),
            cert_names: access::CertNames::default(),
            signatures: cmd::signatures::Waiting::default(),
            auditor_reads_payloads: config.auditor_reads_payloads,
            limits: config.limits,
            policies,
            plaintext: config.plaintext,
            metrics,
        };
        if config.publish_default_policies {
            startup::publish_default_policies(&state, &config.keys_dir).await?;
        }
        let witnesses = crate::witness::config::Witnesses::load(&config.keys_dir)
            .map_err(|e| ServiceError::Witnesses(e.to_string()))?;
        Ok(Node {
            state: Arc::new(state),
            keys_dir: config.keys_dir,
            witnesses,
            owner_keys,
            retention_interval: config.retention_interval,
            failure_grace: config.failure_grace,
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
        let _stop_follow = AbortOnDrop(tokio::spawn(startup::follow_writer(
            self.state.sequencer.clone(),
        )));

        let audit = AuditServer::new(AuditService {
            state: self.state.clone(),
        })
        .max_encoding_message_size(limits.max_message_bytes);

        let reports = ReportsServer::new(ReportsService {
            state: self.state.clone(),
        })
        .max_encoding_message_size(REPORT_MAX_BYTES);

        let (health, health_service) = tonic_health::server::health_reporter();
        set_health(&health, ServingStatus::Serving).await;
        // Health follows the log: NOT_SERVING from its failure on; after the grace the server
        // stops, `run` returns the failure, and `serve` exits non-zero for its supervisor.
        let mut failure = self.state.sequencer.failure();
        let grace = self.failure_grace;
        let failed = async move {
            let Ok(why) = failure.wait_for(Option::is_some).await.map(|f| f.clone()) else {
                return std::future::pending().await;
            };
            tracing::error!(reason = why.as_deref(), grace = %humantime::format_duration(grace), "the log failed: health is NOT_SERVING, writes are refused, and the server stops after the grace");
            set_health(&health, ServingStatus::NotServing).await;
            tokio::time::sleep(grace).await;
        };
        let shutdown = async move {
            tokio::select! {
                () = shutdown => {}
                () = failed => {}
            }
        };
        // Both reflection protocols: v1, and v1alpha for older grpcurl and other tools.
        let reflection = || {
            tonic_reflection::server::Builder::configure()
                .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
                .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        };
        let reflection_v1 = reflection()
            .build_v1()
            .map_err(|e| ServiceError::Reflection(e.to_string()))?;
        let reflection_v1alpha = reflection()
            .build_v1alpha()
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
            .http2_keepalive_interval(Some(limits.keepalive_interval))
            .http2_keepalive_timeout(Some(limits.keepalive_timeout))
            .layer(tower::util::MapResponseLayer::new(
                status::transport_status(limits.max_message_bytes),
            ));
        if self.state.plaintext {
            if !local.is_some_and(|a| a.ip().is_loopback()) {
                return Err(ServiceError::PlaintextNotLoopback(format!("{local:?}")));
            }
            tracing::warn!(addr = ?local, "serving borderlog.v1.Ledger in PLAINTEXT on loopback: callers are trusted to name themselves; use mutual TLS for anything but local tools");
        } else {
            let tls = identity::tls::server_tls(&self.keys_dir)?;
            server = server.tls_config(tls.timeout(limits.tls_handshake_timeout))?;
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
        let incoming = connections::incoming(listener, &limits);
        let calls = calls::CallLayer::new(self.state.clone());
        let served = server
            .add_service(health_service)
            .add_service(reflection_v1)
            .add_service(reflection_v1alpha)
            .add_service(calls.layer(ledger))
            .add_service(calls.layer(witness))
            .add_service(calls.layer(audit))
            .add_service(calls.layer(reports))
            .serve_with_incoming_shutdown(incoming, shutdown)
            .await;
        if let Some(task) = schedule {
            task.abort();
            let _ = task.await;
        }
        served?;
        if let Some(why) = self.state.sequencer.failure().borrow().clone() {
            return Err(ServiceError::Failed(why.to_string()));
        }
        Ok(())
    }
}

/// Sets every service's health, and the server's as a whole (the empty name).
async fn set_health(health: &tonic_health::server::HealthReporter, status: ServingStatus) {
    health.set_service_status("", status).await;
    health
        .set_service_status(<LedgerServer<LedgerService> as NamedService>::NAME, status)
        .await;
    health
        .set_service_status(
            <WitnessServer<WitnessService> as NamedService>::NAME,
            status,
        )
        .await;
    health
        .set_service_status(<AuditServer<AuditService> as NamedService>::NAME, status)
        .await;
    health
        .set_service_status(
            <ReportsServer<ReportsService> as NamedService>::NAME,
            status,
        )
        .await;
}

/// The `borderlog.v1.Ledger` implementation: hands each call to its file in `cmd/`. The call
/// layer (`calls.rs`) has authenticated the caller and counts the call.
pub(crate) struct LedgerService {
    state: Arc<State>,
}

/// A server-streaming reply: what a handler hands tonic for a call that answers with a stream.
pub type ReplyStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

type EntryStream = ReplyStream<pb::EntryResponse>;

/// A handler's result as tonic's reply.
fn reply<T>(result: Result<T, Status>) -> Result<Response<T>, Status> {
    result.map(Response::new)
}

#[tonic::async_trait]
impl Ledger for LedgerService {
    async fn submit(
        &self,
        request: Request<pb::SubmitRequest>,
    ) -> Result<Response<pb::LogReceipt>, Status> {
        let caller = Caller::of(&request)?;
        reply(cmd::submit::handle(&self.state, &caller, request.into_inner()).await)
    }

    type SubmitStreamStream = cmd::submit_stream::SubmitStream;

    async fn submit_stream(
        &self,
        request: Request<tonic::Streaming<pb::SubmitRequest>>,
    ) -> Result<Response<Self::SubmitStreamStream>, Status> {
        let caller = Caller::of(&request)?;
        reply(cmd::submit_stream::handle(
            self.state.clone(),
            caller,
            request.into_inner(),
        ))
    }

    async fn acknowledge(
        &self,
        request: Request<pb::AcknowledgeRequest>,
    ) -> Result<Response<pb::LogReceipt>, Status> {
        let caller = Caller::of(&request)?;
        reply(cmd::acknowledge::handle(&self.state, &caller, request.into_inner()).await)
    }

    async fn publish_policy(
        &self,
        request: Request<pb::PublishPolicyRequest>,
    ) -> Result<Response<pb::LogReceipt>, Status> {
        let caller = Caller::of(&request)?;
        reply(cmd::publish_policy::handle(&self.state, &caller, request.into_inner()).await)
    }

    async fn get_entry(
        &self,
        request: Request<pb::GetEntryRequest>,
    ) -> Result<Response<pb::EntryResponse>, Status> {
        let caller = Caller::of(&request)?;
        reply(cmd::get_entry::handle(self.state.clone(), caller, request.into_inner()).await)
    }

    type ListEntriesStream = EntryStream;

    async fn list_entries(
        &self,
        request: Request<pb::ListEntriesRequest>,
    ) -> Result<Response<Self::ListEntriesStream>, Status> {
        let caller = Caller::of(&request)?;
        reply(cmd::list_entries::handle(
            self.state.clone(),
            caller,
            request.into_inner(),
        ))
    }

    async fn get_checkpoint(
        &self,
        request: Request<pb::GetCheckpointRequest>,
    ) -> Result<Response<pb::CheckpointResponse>, Status> {
        let (state, request) = (self.state.clone(), request.into_inner());
        reply(cmd::off_runtime(move || cmd::get_checkpoint::handle(&state, request)).await)
    }

    async fn get_inclusion_proof(
        &self,
        request: Request<pb::GetInclusionProofRequest>,
    ) -> Result<Response<pb::InclusionProof>, Status> {
        let (state, request) = (self.state.clone(), request.into_inner());
        reply(cmd::off_runtime(move || cmd::get_inclusion_proof::handle(&state, request)).await)
    }

    async fn redact(
        &self,
        request: Request<pb::RedactRequest>,
    ) -> Result<Response<pb::LogReceipt>, Status> {
        let caller = Caller::of(&request)?;
        reply(cmd::redact::handle(&self.state, &caller, request.into_inner()).await)
    }

    async fn list_expired(
        &self,
        request: Request<pb::ListExpiredRequest>,
    ) -> Result<Response<pb::ListExpiredResponse>, Status> {
        let caller = Caller::of(&request)?;
        reply(cmd::list_expired::handle(self.state.clone(), &caller, request.into_inner()).await)
    }

    async fn change_key(
        &self,
        request: Request<pb::ChangeKeyRequest>,
    ) -> Result<Response<pb::LogReceipt>, Status> {
        let caller = Caller::of(&request)?;
        reply(cmd::change_key::handle(&self.state, &caller, request.into_inner()).await)
    }

    async fn get_consistency_proof(
        &self,
        request: Request<pb::GetConsistencyProofRequest>,
    ) -> Result<Response<pb::ConsistencyProof>, Status> {
        let (state, request) = (self.state.clone(), request.into_inner());
        reply(cmd::off_runtime(move || cmd::get_consistency_proof::handle(&state, request)).await)
    }

    async fn find_disclosure(
        &self,
        request: Request<pb::FindDisclosureRequest>,
    ) -> Result<Response<pb::FindDisclosureResponse>, Status> {
        let caller = Caller::of(&request)?;
        let (state, request) = (self.state.clone(), request.into_inner());
        reply(
            cmd::off_runtime(move || cmd::find_disclosure::handle(&state, &caller, request)).await,
        )
    }
}

/// The `borderlog.v1.Audit` implementation: exports for offline verification.
pub(crate) struct AuditService {
    state: Arc<State>,
}

type ExportStream = ReplyStream<pb::ExportRecord>;

#[tonic::async_trait]
impl Audit for AuditService {
    type ExportStream = ExportStream;

    async fn export(
        &self,
        request: Request<pb::ExportRequest>,
    ) -> Result<Response<Self::ExportStream>, Status> {
        let caller = Caller::of(&request)?;
        reply(cmd::export::handle(self.state.clone(), caller, request.into_inner()).await)
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
        let caller = Caller::of(&request)?;
        reply(cmd::add_cosignature::handle(&self.state, &caller, request.into_inner()).await)
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
        let caller = Caller::of(&request)?;
        reply(cmd::report::handle(self.state.clone(), caller, request.into_inner()).await)
    }
}
