//! The one writer of the log.
//!
//! Concurrent submissions queue to a single sequencer thread (docs/DESIGN.md, "Storage"). It takes
//! whatever has queued — up to a batch limit — gives each entry its index, time and chain link,
//! writes the batch with one fdatasync and one signed checkpoint, and only then answers every
//! waiter. While one batch syncs the next one queues, so batches grow with load on their own
//! (group commit) and an idle log answers a lone submission at once.
//!
//! It is a plain thread, not a tokio task, because its work is blocking I/O and signing.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use thiserror::Error;
use tokio::sync::{mpsc, oneshot, watch};

use crate::format::checkpoint::Checkpoint;
use crate::format::entry::Claim;
use crate::format::hash::sha256;
use crate::format::note::Signer;
use crate::format::{Hash, LeafIndex, TreeSize};
use crate::keys_in_force::{KeyError, KeysInForce};
use crate::metrics::Metrics;
use crate::pb;
use crate::store::{CheckedPayload, LogStore, PreparedBatch, PreparedEntry, StoreError};

/// Errors of the append path, as the waiter sees them.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum SequencerError {
    /// Something that may be in the log once is there already (a nonce, a receipt).
    #[error("already in the log at entry {}: {claim:?}", index.0)]
    AlreadyClaimed {
        /// What was claimed twice.
        claim: Claim,
        /// The entry that holds it.
        index: LeafIndex,
    },
    /// The store failed while checking the entry (reading an index).
    #[error("the log could not check the entry: {0}")]
    Store(#[from] StoreError),
    /// The batch could not be made durable; nothing of it was acknowledged.
    #[error("the log could not make the batch durable: {0}")]
    Unavailable(String),
    /// The entry was screened under a policy that is no longer the one in force for its
    /// owner (a PolicyChange was sequenced first); screen again and resubmit.
    #[error("the policy in force for {owner} changed while the entry was screened")]
    PolicyChanged {
        /// The data owner whose policy changed.
        owner: String,
    },
    /// The entry was verified against a key that is no longer its signer's key in force (a
    /// KeyChange was sequenced first), or a KeyChange no longer fits the keys in force.
    #[error("{0}")]
    KeyNotInForce(KeyError),
    /// The sequencer has stopped (shutdown or a fatal store error); nothing was appended.
    #[error("the sequencer is not running")]
    Stopped,
    /// The log has failed ([`Sequencer::failure`]) and takes no writes until the server
    /// restarts; nothing was appended.
    #[error("the log takes no writes until the server restarts: {0}")]
    Failed(Arc<str>),
    /// The batch may or may not be in the log: it failed after it may have been made durable
    /// (indexing it, erasing in place, cutting off a failed write), or the sequencer died
    /// while writing it. Recovery on the next start settles it.
    #[error("the outcome is unknown: {0}")]
    OutcomeUnknown(String),
}

/// A published policy: what every Disclosure and Refusal of its owner records until the next
/// PolicyChange of that owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PolicyInForce {
    /// SHA-256 of the policy document's bytes.
    pub hash: Hash,
    /// The PolicyChange entry that published it.
    pub index: LeafIndex,
}

/// The policy an entry was screened under. The sequencer appends the entry only while that
/// policy is still the one in force for its owner, so every recorded `policy_hash` is exactly
/// the policy in force at its place in the log — a rule a verifier can check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScreenedUnder {
    /// The data owner (the disclosure's sender).
    pub owner: String,
    /// The policy's hash, as recorded in the entry.
    pub policy_hash: Hash,
}

/// Policies in force by owner, as of the last committed batch; shared with request handlers.
type PolicyMap = Arc<RwLock<HashMap<String, PolicyInForce>>>;

/// Keys in force, as of the last committed batch; shared with request handlers.
type KeyMap = Arc<RwLock<KeysInForce>>;

/// The signer an entry's signature was verified against. The sequencer appends the entry only
/// while that key is still the signer's key in force, so no entry signed by a retired or
/// revoked key slips in while a KeyChange is being sequenced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedBy {
    /// The signing party (for a log KeyChange: the log's origin).
    pub party: String,
    /// The key the signature verified under.
    pub key: ed25519_dalek::VerifyingKey,
}

impl SignedBy {
    /// `party`'s signature, verified under `key`.
    pub fn new(party: &str, key: ed25519_dalek::VerifyingKey) -> SignedBy {
        SignedBy {
            party: party.to_owned(),
            key,
        }
    }
}

/// An entry waiting for its place in the log: everything but its index, time and chain link,
/// which only the sequencer may assign.
#[derive(Debug, Clone)]
pub struct Append {
    /// What the entry records.
    pub kind: pb::entry::Kind,
    /// Item payloads stored beside the entry (disclosures only).
    pub payloads: Vec<CheckedPayload>,
    /// What this entry may be the only holder of (its nonce, the receipt it gives).
    pub claims: Vec<Claim>,
    /// The policy the entry was screened under, for Disclosures and Refusals.
    pub screened_under: Option<ScreenedUnder>,
    /// The key the entry's signature was verified against, for entries a party signs.
    pub signed_by: Option<SignedBy>,
}

/// An appended, durable entry and the checkpoint that covers it.
#[derive(Debug, Clone)]
pub struct Appended {
    /// Where the entry is.
    pub index: LeafIndex,
    /// Its leaf hash.
    pub leaf_hash: Hash,
    /// The entry's bytes as stored.
    pub entry: Vec<u8>,
    /// The checkpoint signed for the batch (signed-note text).
    pub checkpoint: Arc<str>,
    /// Size of the tree that checkpoint commits to.
    pub tree_size: TreeSize,
}

/// Group-commit tuning.
#[derive(Debug, Clone)]
pub struct SequencerOptions {
    /// Most entries in one batch.
    pub max_batch: usize,
    /// Most appends waiting in the queue before callers are told to back off.
    pub queue_depth: usize,
    /// Injected faults, for tests; off by default (see [`SequencerFaults`]).
    pub faults: SequencerFaults,
}

impl Default for SequencerOptions {
    fn default() -> Self {
        SequencerOptions {
            max_batch: 4096,
            queue_depth: 65_536,
            faults: SequencerFaults::default(),
        }
    }
}

/// Switches for faults injected into the sequencer thread, shared between a test and the
/// sequencer it started (as `store::Faults` are for the disk). Off by default; `serve` sets one
/// only in a debug build, from `BORDERLOG_INJECT_FAULT`, so that a test can watch a real
/// process fail.
#[derive(Debug, Clone, Default)]
pub struct SequencerFaults(Arc<AtomicBool>);

impl SequencerFaults {
    /// While on, signing the next batch's checkpoint panics, killing the sequencer thread.
    pub fn set_panic_while_signing(&self, on: bool) {
        self.0.store(on, Ordering::SeqCst);
    }

    fn panic_while_signing(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// Why the log takes no more writes until it restarts; None while it is healthy.
pub type Failure = Option<Arc<str>>;

/// Counters a load generator and metrics read.
#[derive(Debug, Default)]
pub struct SequencerStats {
    /// Batches written (one fdatasync and one checkpoint each).
    pub batches: AtomicU64,
    /// Entries appended.
    pub entries: AtomicU64,
    /// Total nanoseconds spent in store appends (write + sync + index).
    pub append_nanos: AtomicU64,
}

struct Job {
    append: Append,
    reply: Reply,
}

/// A waiter's answer. Dropped unanswered — the sequencer thread died — it answers for itself:
/// "outcome unknown" once its entry was handed to the store, "nothing appended" before.
struct Reply {
    tx: Option<oneshot::Sender<Result<Appended, SequencerError>>>,
    /// The entry's batch went to the store.
    in_store: bool,
}

impl Reply {
    fn send(mut self, answer: Result<Appended, SequencerError>) {
        if let Some(tx) = self.tx.take() {
            let _ = tx.send(answer);
        }
    }
}

impl Drop for Reply {
    fn drop(&mut self) {
        if let Some(tx) = self.tx.take() {
            let _ = tx.send(Err(if self.in_store {
                SequencerError::OutcomeUnknown(
                    "the log's writer stopped while writing this entry's batch".into(),
                )
            } else {
                SequencerError::Stopped
            }));
        }
    }
}

/// An entry in the sequencer's queue ([`Sequencer::enqueue`]).
#[derive(Debug)]
pub struct Queued(oneshot::Receiver<Result<Appended, SequencerError>>);

impl Queued {
    /// Waits until the entry is durable and covered by a signed checkpoint, or refused.
    pub async fn durable(self) -> Result<Appended, SequencerError> {
        self.0.await.map_err(|_| SequencerError::Stopped)?
    }
}

/// Handle to the sequencer thread: cheap to clone, shared by every request handler.
#[derive(Clone)]
pub struct Sequencer {
    queue: mpsc::Sender<Job>,
    size: watch::Receiver<u64>,
    /// Shared with the worker: [`Sequencer::follow`] moves it when another process appends.
    size_tx: Arc<watch::Sender<u64>>,
    stats: Arc<SequencerStats>,
    policies: PolicyMap,
    keys: KeyMap,
    failure: Arc<watch::Sender<Failure>>,
    store: Arc<dyn LogStore>,
}

impl Sequencer {
    /// Starts the sequencer thread over `store`, signing checkpoints with `log` (whose name is
    /// the log's origin).
    pub fn start(
        store: Arc<dyn LogStore>,
        log: Signer,
        opts: SequencerOptions,
        metrics: Arc<Metrics>,
    ) -> Result<Sequencer, StoreError> {
        Self::start_signing(store, log, Vec::new(), opts, metrics)
    }

    /// [`Sequencer::start`], with `also` signing every checkpoint beside `log`: during a log
    /// key rotation the previous log key keeps signing, so clients that pinned it still
    /// verify (C2SP signed notes carry several signatures; same key name, other key ids).
    pub fn start_signing(
        store: Arc<dyn LogStore>,
        log: Signer,
        also: Vec<Signer>,
        opts: SequencerOptions,
        metrics: Arc<Metrics>,
    ) -> Result<Sequencer, StoreError> {
        let (queue, rx) = mpsc::channel(opts.queue_depth.max(1));
        let (size_tx, size) = watch::channel(store.size().0);
        let size_tx = Arc::new(size_tx);
        let stats = Arc::new(SequencerStats::default());
        let policies: PolicyMap = Arc::new(RwLock::new(published_policies(&*store)?));
        let keys: KeyMap = Arc::new(RwLock::new(KeysInForce::rebuild(&*store)?));
        // Times never go back, across restarts too.
        let last_time_ms = last_entry_time(&*store);
        let failure = Arc::new(watch::channel(None).0);
        let worker = Worker {
            generation: store.writer_generation(),
            store: store.clone(),
            faults: opts.faults.clone(),
            failure: failure.clone(),
            log,
            also_sign: also,
            keys: keys.clone(),
            max_batch: opts.max_batch.max(1),
            last_time_ms,
            size: size_tx.clone(),
            stats: stats.clone(),
            policies: policies.clone(),
            metrics,
        };
        let died = failure.clone();
        std::thread::Builder::new()
            .name("borderlog-sequencer".into())
            .spawn(move || {
                // A panic must not leave a log that looks healthy and takes no writes: the
                // waiters of its batch hear "outcome unknown" (their `Reply`s drop), and the
                // failure is reported, so health says NOT_SERVING and `serve` exits.
                let run = std::panic::AssertUnwindSafe(|| worker.run(rx));
                if let Err(panic) = std::panic::catch_unwind(run) {
                    let what = panic
                        .downcast_ref::<&str>()
                        .map(|s| s.to_string())
                        .or_else(|| panic.downcast_ref::<String>().cloned())
                        .unwrap_or_default();
                    tracing::error!(panic = what, "the sequencer thread panicked");
                    died.send_replace(Some(
                        format!("the sequencer thread panicked: {what}").into(),
                    ));
                }
            })
            .expect("spawning the sequencer thread");
        Ok(Sequencer {
            queue,
            size,
            size_tx,
            stats,
            policies,
            keys,
            failure,
            store,
        })
    }

    /// Appends one entry; returns once it is durable and covered by a signed checkpoint. Fails
    /// at once, appending nothing, while the log has failed.
    pub async fn append(&self, append: Append) -> Result<Appended, SequencerError> {
        self.enqueue(append).await?.durable().await
    }

    /// Queues one entry and returns once it is queued (waiting while the queue is full):
    /// entries queued one after another by one task are sequenced in that order. Wait for
    /// [`Queued::durable`] for the outcome. Fails at once, queuing nothing, while the log has
    /// failed.
    pub async fn enqueue(&self, append: Append) -> Result<Queued, SequencerError> {
        self.writable()?;
        let (tx, answer) = oneshot::channel();
        let reply = Reply {
            tx: Some(tx),
            in_store: false,
        };
        self.queue
            .send(Job { append, reply })
            .await
            .map_err(|_| SequencerError::Stopped)?;
        Ok(Queued(answer))
    }

    /// Fails with [`SequencerError::Failed`] once the log has failed.
    pub fn writable(&self) -> Result<(), SequencerError> {
        match &*self.failure.borrow() {
            Some(why) => Err(SequencerError::Failed(why.clone())),
            None => Ok(()),
        }
    }

    /// Watches for the log's failure: the sequencer thread died, or the store is poisoned (an
    /// append failed part-way and could not be undone). Either lasts until a restart.
    pub fn failure(&self) -> watch::Receiver<Failure> {
        self.failure.subscribe()
    }

    /// After a store write outside the sequencer failed (a cosignature): if it left the store
    /// poisoned, the log has failed.
    pub fn check_store(&self) {
        if self.store.is_poisoned() {
            report_poisoned(&self.failure);
        }
    }

    /// Watches the log's size; changes after every batch (for `follow` streams).
    pub fn size(&self) -> watch::Receiver<u64> {
        self.size.clone()
    }

    /// On a node that does not write a shared log: catches up with what the writer appended
    /// since the last call — the policies and keys in force, and the size `follow` streams
    /// watch. Blocks on the store; a no-op while the log has not grown or this node writes.
    pub fn follow(&self) -> Result<(), StoreError> {
        let size = self.store.size().0;
        if self.store.is_writer() || size == *self.size.borrow() {
            return Ok(());
        }
        let policies = published_policies(&*self.store)?;
        let keys = KeysInForce::rebuild(&*self.store)?;
        *self.policies.write().unwrap_or_else(|e| e.into_inner()) = policies;
        *self.keys.write().unwrap_or_else(|e| e.into_inner()) = keys;
        self.size_tx.send_replace(size);
        Ok(())
    }

    /// Batch and entry counters.
    pub fn stats(&self) -> &SequencerStats {
        &self.stats
    }

    /// The policy in force for `owner` as of the last committed batch.
    pub fn policy_in_force(&self, owner: &str) -> Option<PolicyInForce> {
        in_force(&self.policies, owner)
    }

    /// Reads the keys in force as of the last committed batch.
    pub fn with_keys<R>(&self, f: impl FnOnce(&KeysInForce) -> R) -> R {
        f(&self.keys.read().unwrap_or_else(|e| e.into_inner()))
    }
}

fn in_force(policies: &PolicyMap, owner: &str) -> Option<PolicyInForce> {
    policies
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .get(owner)
        .copied()
}

/// The owner and policy hash a PolicyChange entry puts in force.
fn published(kind: &pb::entry::Kind) -> Option<(&str, Hash)> {
    match kind {
        pb::entry::Kind::PolicyChange(p) => Some((&p.owner, sha256(&p.policy))),
        _ => None,
    }
}

/// Every owner's latest published policy, read from the log at start-up.
pub fn published_policies(
    store: &dyn LogStore,
) -> Result<HashMap<String, PolicyInForce>, StoreError> {
    let mut map = HashMap::new();
    for index in store.scan(
        LeafIndex(0),
        None,
        &[pb::EntryKind::PolicyChange],
        usize::MAX,
    )? {
        let bytes = store.entry(index)?.ok_or_else(|| {
            StoreError::IndexInconsistent(format!("policy change entry {} is missing", index.0))
        })?;
        let entry = crate::format::entry::decode(&bytes).map_err(|e| {
            StoreError::IndexInconsistent(format!("entry {} does not decode: {e}", index.0))
        })?;
        if let Some((owner, hash)) = entry.kind.as_ref().and_then(published) {
            map.insert(owner.to_owned(), PolicyInForce { hash, index });
        }
    }
    Ok(map)
}

/// The recipient a Disclosure or Refusal names.
fn recipient_of(kind: &pb::entry::Kind) -> Option<String> {
    match kind {
        pb::entry::Kind::Disclosure(d) => crate::format::entry::disclosure_body(d)
            .ok()
            .map(|b| b.recipient),
        pb::entry::Kind::Refusal(r) => Some(r.recipient.clone()),
        _ => None,
    }
}

/// Server time of the last entry in the store (0 when empty or unreadable).
fn last_entry_time(store: &dyn LogStore) -> i64 {
    let TreeSize(size) = store.size();
    let Some(last) = size.checked_sub(1) else {
        return 0;
    };
    store
        .entry(LeafIndex(last))
        .ok()
        .flatten()
        .and_then(|bytes| crate::format::entry::decode(&bytes).ok())
        .map_or(0, |e| e.time_ms)
}

/// Records that the store is poisoned (the first failure reported stays).
fn report_poisoned(failure: &watch::Sender<Failure>) {
    failure.send_if_modified(|f| {
        if f.is_some() {
            return false;
        }
        tracing::error!("the store is poisoned: no more writes until the server restarts");
        *f = Some(
            "an append failed part-way and could not be undone, so the store is poisoned; restart the server to recover it"
                .into(),
        );
        true
    });
}

/// State owned by the sequencer thread alone.
struct Worker {
    store: Arc<dyn LogStore>,
    faults: SequencerFaults,
    failure: Arc<watch::Sender<Failure>>,
    log: Signer,
    /// Previous log keys that sign every checkpoint too, during a log key rotation.
    also_sign: Vec<Signer>,
    keys: KeyMap,
    max_batch: usize,
    last_time_ms: i64,
    /// The store's [`LogStore::writer_generation`] the state above was read at.
    generation: u64,
    size: Arc<watch::Sender<u64>>,
    stats: Arc<SequencerStats>,
    policies: PolicyMap,
    metrics: Arc<Metrics>,
}

impl Worker {
    fn run(mut self, mut rx: mpsc::Receiver<Job>) {
        while let Some(first) = rx.blocking_recv() {
            let mut jobs = vec![first];
            while jobs.len() < self.max_batch {
                match rx.try_recv() {
                    Ok(job) => jobs.push(job),
                    Err(_) => break,
                }
            }
            self.commit(jobs);
        }
        tracing::info!("sequencer stopped: every handle dropped");
    }

    /// Sequences, writes and answers one batch.
    fn commit(&mut self, jobs: Vec<Job>) {
        self.catch_up();
        let (TreeSize(mut next), mut prev) = self.store.tip();
        let time_ms = self.now_ms();
        let mut claimed_here = HashSet::new();
        // Policies published earlier in this batch, in force for the entries after them.
        let mut published_here: HashMap<String, PolicyInForce> = HashMap::new();
        // Keys changed earlier in this batch: a copy of the keys in force, made at the batch's
        // first KeyChange (rare), that the entries after it are checked against.
        let mut keys_here: Option<KeysInForce> = None;
        let mut accepted = Vec::with_capacity(jobs.len());
        // Kept apart from `accepted` so the store reads them in place, and each entry's bytes
        // move into its waiter's answer afterwards without a copy.
        let mut batch = PreparedBatch {
            // Every claim of every entry taken below is looked up in the store at this size
            // first (`first_conflict`): the store need not look them up again.
            claims_free_at: Some(TreeSize(next)),
            ..PreparedBatch::default()
        };

        for job in jobs {
            if let Some(err) = self.first_conflict(&job.append.claims, &claimed_here) {
                job.reply.send(Err(err));
                continue;
            }
            if let Some(under) = &job.append.screened_under {
                let in_force = published_here
                    .get(&under.owner)
                    .copied()
                    .or_else(|| in_force(&self.policies, &under.owner));
                if in_force.map(|p| p.hash) != Some(under.policy_hash) {
                    let owner = under.owner.clone();
                    job.reply.send(Err(SequencerError::PolicyChanged { owner }));
                    continue;
                }
            }
            if let Err(err) = self.check_keys(&job.append, LeafIndex(next), &mut keys_here) {
                job.reply.send(Err(SequencerError::KeyNotInForce(err)));
                continue;
            }
            if let Some((owner, hash)) = published(&job.append.kind) {
                let index = LeafIndex(next);
                published_here.insert(owner.to_owned(), PolicyInForce { hash, index });
            }
            let kind = crate::format::entry::kind_of(&job.append.kind);
            let entry = match PreparedEntry::new(&pb::Entry {
                index: next,
                time_ms,
                prev_leaf_hash: prev.to_vec(),
                kind: Some(job.append.kind),
            }) {
                Ok(entry) => entry,
                Err(e) => {
                    job.reply.send(Err(SequencerError::Store(e.into())));
                    continue;
                }
            };
            claimed_here.extend(job.append.claims);
            prev = entry.leaf_hash();
            next += 1;
            batch.payloads.extend(job.append.payloads);
            batch.entries.push(entry);
            let mut reply = job.reply;
            reply.in_store = true;
            accepted.push((reply, prev, kind));
        }
        if accepted.is_empty() {
            return;
        }

        let started = std::time::Instant::now();
        let mut checkpoint = String::new();
        let mut signed_size = TreeSize(0);
        let faults = &self.faults;
        let result = self.store.append(&batch, &mut |size, root| {
            assert!(
                !faults.panic_while_signing(),
                "injected fault: panic while signing a checkpoint"
            );
            let note = Checkpoint {
                origin: self.log.name().to_owned(),
                size: size.0,
                root,
                extensions: Vec::new(),
            }
            .sign_with_all(&self.log, &self.also_sign)
            // The origin was checked as a key name when the signer was made.
            .expect("signing a checkpoint with a validated log key");
            checkpoint = note.clone();
            signed_size = size;
            note
        });
        let elapsed = started.elapsed();
        self.stats
            .append_nanos
            .fetch_add(elapsed.as_nanos() as u64, Ordering::Relaxed);

        match result {
            Ok(hashes) => {
                self.last_time_ms = time_ms;
                // Before any waiter hears of the batch: a publisher's next call must see its
                // policy in force.
                if !published_here.is_empty() {
                    self.policies
                        .write()
                        .unwrap_or_else(|e| e.into_inner())
                        .extend(published_here);
                }
                if let Some(keys) = keys_here {
                    *self.keys.write().unwrap_or_else(|e| e.into_inner()) = keys;
                }
                self.stats.batches.fetch_add(1, Ordering::Relaxed);
                self.stats
                    .entries
                    .fetch_add(hashes.len() as u64, Ordering::Relaxed);
                self.metrics.batches.inc();
                self.metrics.batch_entries.observe(accepted.len() as f64);
                self.metrics.batch_seconds.observe(elapsed.as_secs_f64());
                self.metrics.log_size.set(signed_size.0 as i64);
                for (_, _, kind) in &accepted {
                    self.metrics
                        .appended
                        .get_or_create(&Metrics::label("kind", kind.as_str_name()))
                        .inc();
                }
                let checkpoint: Arc<str> = checkpoint.into();
                let first = signed_size.0 - accepted.len() as u64;
                for (i, ((reply, leaf, _), entry)) in
                    accepted.into_iter().zip(batch.entries).enumerate()
                {
                    reply.send(Ok(Appended {
                        index: LeafIndex(first + i as u64),
                        leaf_hash: leaf,
                        entry: entry.into_bytes(),
                        checkpoint: checkpoint.clone(),
                        tree_size: signed_size,
                    }));
                }
                self.size.send_replace(signed_size.0);
            }
            Err(err) => {
                self.metrics.batch_failures.inc();
                let msg = err.to_string();
                // Poisoned by this batch: it failed after its bytes reached the segment and
                // could not be undone (the index, the erasure, the cut of a failed write), so
                // recovery may find it whole; or the store says so itself (a database commit
                // whose outcome it could not learn). Refused up front (already poisoned, or
                // invalid), or cut off cleanly: nothing of it is in the log.
                let poisoned = self.store.is_poisoned();
                let unknown = matches!(err, StoreError::OutcomeUnknown(_))
                    || (poisoned && !matches!(err, StoreError::Poisoned));
                if poisoned {
                    report_poisoned(&self.failure);
                }
                if unknown {
                    tracing::error!(error = %err, "batch failed part-way; its {} submissions may be in the log", accepted.len());
                } else {
                    tracing::error!(error = %err, "batch not written; its {} submissions are refused", accepted.len());
                }
                for (reply, _, _) in accepted {
                    reply.send(Err(match &err {
                        _ if unknown => SequencerError::OutcomeUnknown(msg.clone()),
                        // Another node writes: the client goes there.
                        StoreError::NotWriter { writer } => {
                            SequencerError::Store(StoreError::NotWriter {
                                writer: writer.clone(),
                            })
                        }
                        _ => SequencerError::Unavailable(msg.clone()),
                    }));
                }
            }
        }
    }

    /// Checks that the entry's signer key is still in force, that its recipient (if any) was
    /// not revoked, and that a KeyChange still fits the keys in force; stages what genesis and KeyChanges change, for the entries after them.
    fn check_keys(
        &self,
        append: &Append,
        index: LeafIndex,
        keys_here: &mut Option<KeysInForce>,
    ) -> Result<(), KeyError> {
        let changes_keys = matches!(
            append.kind,
            pb::entry::Kind::KeyChange(_) | pb::entry::Kind::Genesis(_)
        );
        let names_recipient = matches!(
            append.kind,
            pb::entry::Kind::Disclosure(_) | pb::entry::Kind::Refusal(_)
        );
        if append.signed_by.is_none() && !changes_keys && !names_recipient {
            return Ok(());
        }
        let shared = self.keys.read().unwrap_or_else(|e| e.into_inner());
        let keys = keys_here.as_ref().unwrap_or(&shared);
        if let Some(by) = &append.signed_by {
            keys.still_in_force(&by.party, &by.key)?;
        }
        // A recipient revoked since the request was checked receives nothing (only looked at
        // once some partner was revoked: it costs a body decode).
        if keys.any_revoked()
            && let Some(recipient) = recipient_of(&append.kind)
        {
            keys.may_receive(&recipient)?;
        }
        if let pb::entry::Kind::KeyChange(k) = &append.kind {
            keys.check(k)?;
        }
        if changes_keys {
            let mut staged = keys_here.take().unwrap_or_else(|| shared.clone());
            staged.apply(index, &append.kind);
            *keys_here = Some(staged);
        }
        Ok(())
    }

    /// The first claim already held in the log or earlier in this batch.
    fn first_conflict(
        &self,
        claims: &[Claim],
        claimed_here: &HashSet<Claim>,
    ) -> Option<SequencerError> {
        for claim in claims {
            if claimed_here.contains(claim) {
                return Some(SequencerError::AlreadyClaimed {
                    claim: claim.clone(),
                    index: LeafIndex(self.store.size().0),
                });
            }
            match self.store.claimed(claim) {
                Ok(Some(index)) => {
                    return Some(SequencerError::AlreadyClaimed {
                        claim: claim.clone(),
                        index,
                    });
                }
                Ok(None) => {}
                Err(err) => return Some(SequencerError::Store(err)),
            }
        }
        None
    }

    /// After this process (re)took the writer role of a shared store: re-reads what the worker
    /// keeps in memory, which other writers may have moved on meanwhile.
    fn catch_up(&mut self) {
        let generation = self.store.writer_generation();
        if generation == self.generation {
            return;
        }
        let read = published_policies(&*self.store)
            .and_then(|policies| Ok((policies, KeysInForce::rebuild(&*self.store)?)));
        match read {
            Ok((policies, keys)) => {
                *self.policies.write().unwrap_or_else(|e| e.into_inner()) = policies;
                *self.keys.write().unwrap_or_else(|e| e.into_inner()) = keys;
                self.last_time_ms = last_entry_time(&*self.store);
                self.size.send_replace(self.store.size().0);
                self.generation = generation;
                tracing::info!(generation, "sequencer caught up with the shared log");
            }
            // The batch fails at the store as well; the next one tries again.
            Err(e) => tracing::error!(error = %e, "catching up with the shared log"),
        }
    }

    /// Server time for the batch: the wall clock, but never earlier than the last batch.
    fn now_ms(&self) -> i64 {
        crate::clock::now_ms().max(self.last_time_ms)
    }
}
